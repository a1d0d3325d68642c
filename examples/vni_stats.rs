//! Counts the traffic of each VXLAN VNI and NVGRE VSID in a capture (pcap or pcapng):
//! frames and bytes per segment, outer fragments whose tunnel header is only found after
//! reassembly, and malformed frames counted by layer and reason.
//!
//! ```text
//! vni_stats FILE
//! ```
//!
//! A monitoring tool must not lose a frame because one header is bad, so frames are
//! decoded with `Decoder::decode_partial`: a tunnel frame whose inner frame is malformed
//! still counts for its segment, and its error is counted too. Errors are counted by
//! their value-free reason (`ErrorKind::name`), so a capture of many broken frames gives
//! a few lines, not one per frame. Bytes are bytes on the wire (a record's original
//! length; for a record of Linux's cooked captures (`tcpdump -i any`), raw IP or BSD
//! loopback, decoded from its IP header or the VLAN tag before it: the packet's, without
//! the link header). A
//! record cut by the capture's snap length (`tcpdump -s N`) still counts for
//! its segment when the tunnel header was captured; what the capture left out is not
//! counted as an error.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tunnelwire::Layer;
use tunnelwire::packet::{Decoder, Frame, TunnelKind};
use tunnelwire::pcap::{Content, Record};
use tunnelwire::wire::{EtherType, nvgre, vxlan};

#[allow(dead_code)] // vni_stats reads captures and writes none
#[path = "common/pcap_io.rs"]
mod pcap_io;

/// Counts frames and bytes per VXLAN VNI and NVGRE VSID in a pcap or pcapng, and
/// malformed frames by layer and reason.
#[derive(Parser)]
#[command(name = "vni_stats", version)]
struct Args {
    /// The capture to read (pcap or pcapng: Ethernet, Linux cooked, raw IP, loopback)
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// Frames and their bytes on the wire.
#[derive(Default, Clone, Copy)]
struct Count {
    frames: u64,
    bytes: u64,
}

impl Count {
    fn add(&mut self, bytes: u32) {
        self.frames += 1;
        self.bytes += u64::from(bytes);
    }
}

/// What a capture holds. Every frame is counted in exactly one of `segments`,
/// `fragmented`, `malformed`, `cut` and `not_tunnel`; `errors` counts the errors of
/// all frames, those inside a segment's inner frames included.
#[derive(Default)]
struct Stats {
    all: Count,
    /// By segment number, then "vxlan" or "nvgre": the same number in both
    /// encapsulations (a VXLAN <-> NVGRE gateway's segment) sorts together.
    segments: BTreeMap<(u32, &'static str), Count>,
    /// Outer IPv4 or IPv6 fragments: the tunnel header, if any, is found only after
    /// reassembly.
    fragmented: Count,
    /// Frames malformed before any tunnel header.
    malformed: Count,
    /// Frames whose tunnel header, if any, the capture's snap length cut off.
    cut: Count,
    /// Whole frames that carry no tunnel (ARP, plain IP...).
    not_tunnel: Count,
    /// Records whose content is not decoded (`Content::Undecoded`: a link type not read,
    /// a link header cut short, a protocol no EtherType, a VLAN tag after a cooked header).
    undecoded: Count,
    /// Errors by layer and reason.
    errors: HashMap<(Layer, &'static str), u64>,
}

impl Stats {
    /// Counts one record: its frame (an Ethernet frame, or a packet after a link header
    /// of another kind, counted from what follows it), or, for a record not decoded, its
    /// bytes.
    fn count_record(&mut self, decoder: &Decoder, record: &Record<'_>, padded: &mut Vec<u8>) {
        let to_packet = |offset: usize| record.orig_len.saturating_sub(offset as u32);
        match record.content() {
            Content::Ethernet { offset, bytes } => {
                self.count(decoder, bytes, None, to_packet(offset), padded)
            }
            Content::Packet {
                ethertype,
                offset,
                bytes,
            } => self.count(decoder, bytes, Some(ethertype), to_packet(offset), padded),
            Content::Undecoded(_) => {
                self.all.add(record.orig_len);
                self.undecoded.add(record.orig_len);
            }
        }
    }

    /// Counts one frame: `bytes` as captured, starting at Ethernet or, with `ip`, at IP
    /// of that EtherType; `orig_len` its length on the wire.
    fn count(
        &mut self,
        decoder: &Decoder,
        bytes: &[u8],
        ip: Option<EtherType>,
        orig_len: u32,
        padded: &mut Vec<u8>,
    ) {
        self.all.add(orig_len);
        let captured = bytes.len();
        let cut = orig_len as usize > captured;
        // Of a record the capture cut, only the headers it kept are believed.
        let (frame, error) = pcap_io::decode_record(decoder, bytes, ip, orig_len as usize, padded);
        let kept = |offset: usize, len: usize| offset + len <= captured;
        let error = error.filter(|e| !cut || kept(e.offset, e.layer.header_len().unwrap_or(0)));
        if let Some(error) = error {
            *self
                .errors
                .entry((error.layer, error.kind.name()))
                .or_default() += 1;
        }
        let count = match segment(&frame) {
            Some((kind, number, len)) if kept(frame.tunnel_offset, len) => {
                self.segments.entry((number, kind)).or_default()
            }
            _ if frame.outer_fragment() => &mut self.fragmented,
            _ if error.is_some() => &mut self.malformed,
            _ if cut => &mut self.cut,
            _ => &mut self.not_tunnel,
        };
        count.add(orig_len);
    }

    /// The report, one line per segment and per reason.
    fn report(&self, path: &Path) -> String {
        let mut out = String::new();
        let Count { frames, bytes } = self.all;
        // Writing into a String cannot fail.
        let _ = writeln!(out, "{}: {frames} frames, {bytes} bytes", path.display());
        if !self.segments.is_empty() {
            let _ = writeln!(out, "{:<20} {:>10} {:>14}", "segment", "frames", "bytes");
        }
        for (&(number, kind), count) in &self.segments {
            let segment = format!("{kind} {number}");
            let _ = writeln!(
                out,
                "{segment:<20} {:>10} {:>14}",
                count.frames, count.bytes
            );
        }
        for (what, count) in [
            ("fragmented, not decoded", self.fragmented),
            ("malformed before the tunnel", self.malformed),
            ("cut by the capture", self.cut),
            ("not a tunnel", self.not_tunnel),
            ("link type not decoded", self.undecoded),
        ] {
            if count.frames > 0 {
                let _ = writeln!(
                    out,
                    "{what}: {} frames, {} bytes",
                    count.frames, count.bytes
                );
            }
        }
        if !self.errors.is_empty() {
            let total: u64 = self.errors.values().sum();
            let _ = writeln!(out, "errors by layer and reason: {total}");
            let mut errors: Vec<(String, u64)> = self
                .errors
                .iter()
                .map(|((layer, reason), &n)| (format!("{layer} {reason}"), n))
                .collect();
            errors.sort();
            for (reason, n) in errors {
                let _ = writeln!(out, "  {reason}: {n}");
            }
        }
        out
    }
}

/// The frame's tunnel, segment number and tunnel header length.
fn segment(frame: &Frame<'_>) -> Option<(&'static str, u32, usize)> {
    let tunnel = frame.tunnel?;
    Some(match tunnel.kind() {
        TunnelKind::Vxlan => ("vxlan", tunnel.segment(), vxlan::HEADER_LEN),
        TunnelKind::Nvgre => ("nvgre", tunnel.segment(), nvgre::HEADER_LEN),
        TunnelKind::Geneve => ("geneve", tunnel.segment(), tunnel.header_len()),
    })
}

fn run(path: &Path) -> Result<String, String> {
    let input = pcap_io::Capture::open_decodable(path)?;
    let decoder = Decoder::new();
    let mut stats = Stats::default();
    let mut padded = Vec::new();
    input.try_for_each_record(|record| {
        stats.count_record(&decoder, &record, &mut padded);
        Ok::<(), String>(())
    })?;
    Ok(stats.report(path))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let report = match run(&args.file) {
        Ok(report) => report,
        Err(message) => {
            eprintln!("vni_stats: {message}");
            return ExitCode::FAILURE;
        }
    };
    match io::stdout().write_all(report.as_bytes()) {
        // `vni_stats FILE | head -1` closes the pipe early: nobody reads any more.
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("vni_stats: standard output: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}
