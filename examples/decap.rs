//! Writes the inner frame of every VXLAN, NVGRE or Geneve frame of a pcap, unchanged.
//!
//! ```text
//! decap IN.pcap OUT.pcap
//! ```
//!
//! Frames that are not tunnels (or whose tunnel headers are malformed, or that carry a
//! critical Geneve option, or a Geneve IP payload, which is no Ethernet frame for the
//! output) are skipped and counted by reason. Inner frames are written byte for byte as carried: inner VLAN tags
//! are kept and RFC 6040 ECN is not applied. Besides Ethernet captures, it reads those
//! whose link header names the packet's protocol (Linux's cooked captures of
//! `tcpdump -i any`, raw IP, BSD loopback): their packets are decapsulated from IP.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tunnelwire::pcap::Content;
use tunnelwire::tunnel::{DecapConfig, Decapsulator, InnerVlanPolicy};
use tunnelwire::wire::EtherType;
use tunnelwire::{Error, ErrorKind, Layer};

#[allow(dead_code)] // decap reads every record by its content, not as an Ethernet-only tool
#[path = "common/pcap_io.rs"]
mod pcap_io;

/// Writes the inner frame of every VXLAN, NVGRE or Geneve frame of a pcap or pcapng to a pcap,
/// unchanged; other frames are skipped and counted by reason.
#[derive(Parser)]
#[command(name = "decap", version)]
struct Args {
    /// The capture to read (pcap or pcapng: Ethernet, Linux cooked, raw IP, loopback)
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// The pcap to write
    #[arg(value_name = "OUT")]
    output: PathBuf,
}

fn run(input: &Path, output: &Path) -> Result<pcap_io::Summary, String> {
    let input = pcap_io::Capture::open_decodable(input)?;
    let mut out = pcap_io::Output::create(output, input.output_header(), false)?;
    let decap = Decapsulator::new(DecapConfig {
        inner_vlan: InnerVlanPolicy::Keep,
        apply_ecn: false,
        ..DecapConfig::default()
    });
    let mut summary = pcap_io::Summary::default();
    // Nothing is rewritten, so the read-only path: no copy of the record.
    input.try_for_each_record(|record| {
        let found = match summary.take_content(&record) {
            Some(Content::Ethernet { bytes, .. }) => {
                decap.inspect(bytes).map(|found| (bytes, found))
            }
            Some(Content::Packet {
                ethertype, bytes, ..
            }) => decap
                .inspect_ip(bytes, ethertype)
                .map(|found| (bytes, found)),
            _ => return Ok(()),
        };
        let made = found.and_then(|(frame, found)| {
            // The output's link type is Ethernet: an IP packet has no place there.
            if found.protocol != EtherType::TRANSPARENT_ETHERNET_BRIDGING {
                return Err(Error::new(
                    Layer::Geneve,
                    ErrorKind::UnsupportedFrame("an IP payload"),
                ));
            }
            Ok(&frame[found.inner])
        });
        out.write_made(&mut summary, &record, made)
    })?;
    out.finish()?;
    Ok(summary)
}

fn main() -> ExitCode {
    let args = Args::parse();
    pcap_io::refuse_output_that_is_input::<Args>(&args.input, &args.output);
    pcap_io::exit("decap", run(&args.input, &args.output))
}
