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
//! `"cut_by_capture":true`. A record of Linux's cooked captures (`tcpdump -i any`), raw
//! IP or BSD loopback is decoded from its IP header, with no `ethernet` layer (as tshark
//! shows no `eth` fields for it); a pcapng record of another link type gets a line with
//! no layers and an `error` that says so, and a pcap of one is refused.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tunnelwire::packet::Decoder;

#[allow(dead_code)] // dissect reads captures and writes none
#[path = "../common/pcap_io.rs"]
mod pcap_io;
mod render;

/// Prints one JSON object per frame of a pcap or pcapng: the layers tunnelwire decodes,
/// outermost first, and the first error.
#[derive(Parser)]
#[command(name = "dissect", version)]
struct Args {
    /// The capture to read (pcap or pcapng: Ethernet, Linux cooked, raw IP, loopback)
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// Why a run stopped before the end of the capture.
enum Stop {
    /// Standard output was closed (`dissect FILE | head`): nobody reads any more, which
    /// is not a failure.
    Closed,
    /// A failure to report.
    Failed(String),
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::Failed(message)
    }
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::BrokenPipe => Stop::Closed,
            _ => Stop::Failed(format!("standard output: {e}")),
        }
    }
}

fn main() -> ExitCode {
    match run(&Args::parse().file) {
        Ok(()) | Err(Stop::Closed) => ExitCode::SUCCESS,
        Err(Stop::Failed(message)) => {
            eprintln!("dissect: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &Path) -> Result<(), Stop> {
    let input = pcap_io::Capture::open_decodable(path)?;
    let decoder = Decoder::new();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut scratch = render::Scratch::default();
    input.try_for_each_record(|record| {
        render::write_record(&mut out, &decoder, &record, &mut scratch).map_err(Stop::from)
    })?;
    Ok(out.flush()?)
}
