//! Prints one JSON object per frame of a capture (pcap or pcapng): the layers tunnelwire
//! decodes, outermost first, and the first error.
//!
//! ```text
//! cargo run --release --example dissect -- FILE.pcap
//! {"frame":1,"layers":[{"layer":"ethernet",...},...],"error":null}
//! ```
//!
//! The output format is fixed by CONTRACTS.md; wrong checksums are not errors but show
//! as `checksum_ok: false`, and a frame cut by the capture's snap length carries
//! `"cut_by_capture":true`.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use tunnelwire::packet::Decoder;

#[allow(dead_code)] // dissect reads captures and writes none
#[path = "../common/pcap_io.rs"]
mod pcap_io;
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
            eprintln!("dissect: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &str) -> Result<(), String> {
    let input = pcap_io::Reader::open(path)?;
    let decoder = Decoder::new();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let stdout_error = |e: std::io::Error| format!("standard output: {e}");
    let mut scratch = render::Scratch::default();
    input.for_each(|record| {
        render::write_frame(
            &mut out,
            &decoder,
            record.index,
            record.data,
            record.orig_len as usize,
            &mut scratch,
        )
        .map_err(stdout_error)
    })?;
    out.flush().map_err(stdout_error)
}
