//! Prints one JSON object per frame of a pcap: the layers tunnelwire decodes, outermost
//! first, and the first error.
//!
//! ```text
//! cargo run --release --example dissect -- FILE.pcap
//! {"frame":1,"layers":[{"layer":"ethernet",...},...],"error":null}
//! ```
//!
//! The output format is fixed by CONTRACTS.md; wrong checksums are not errors but show
//! as `checksum_ok: false`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use tunnelwire::packet::Decoder;

mod render;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: dissect FILE.pcap");
        return ExitCode::from(2);
    };
    match run(path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dissect: {path}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &str) -> Result<(), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut reader = PcapReader::new(file).map_err(|e| e.to_string())?;
    let datalink = reader.header().datalink;
    if datalink != DataLink::ETHERNET {
        return Err(format!("link type {datalink:?} is not Ethernet"));
    }
    let decoder = Decoder::new();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut index = 0;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(|e| format!("frame {}: {e}", index + 1))?;
        index += 1;
        let line = render::frame(&decoder, index, &packet.data);
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
