//! Shared by the pcap examples: reading and writing Ethernet pcaps, the one-line summary
//! on standard error, and small argument parsers.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::process::ExitCode;
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};

/// One record (frame) of an input pcap.
pub struct Record {
    /// Capture time.
    pub timestamp: Duration,
    /// Length on the wire, as recorded.
    #[allow(dead_code)] // read by encap and pcap_roundtrip, not by every example
    pub orig_len: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
}

/// Reads a whole pcap with link type Ethernet.
pub fn read(path: &str) -> Result<(PcapHeader, Vec<Record>), String> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut reader = PcapReader::new(BufReader::new(file)).map_err(|e| format!("{path}: {e}"))?;
    let header = reader.header();
    if header.datalink != DataLink::ETHERNET {
        return Err(format!(
            "{path}: link type {:?} is not Ethernet",
            header.datalink
        ));
    }
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(|e| format!("{path}: frame {}: {e}", frames.len() + 1))?;
        frames.push(Record {
            timestamp: packet.timestamp,
            orig_len: packet.orig_len,
            data: packet.data.into_owned(),
        });
    }
    Ok((header, frames))
}

/// A pcap being written with the input's header.
pub struct Writer {
    inner: PcapWriter<BufWriter<File>>,
    path: String,
}

impl Writer {
    /// Creates `path` with `header` (the snapshot length raised to fit grown frames).
    pub fn create(path: &str, mut header: PcapHeader, grown: bool) -> Result<Self, String> {
        if grown {
            header.snaplen = header.snaplen.max(262_144);
        }
        let file = File::create(path).map_err(|e| format!("{path}: {e}"))?;
        let inner = PcapWriter::with_header(BufWriter::new(file), header)
            .map_err(|e| format!("{path}: {e}"))?;
        Ok(Writer {
            inner,
            path: path.to_string(),
        })
    }

    /// Writes a frame; `orig_len` is kept when the bytes are the input's, else the new length.
    pub fn write(&mut self, timestamp: Duration, orig_len: u32, data: &[u8]) -> Result<(), String> {
        self.inner
            .write_packet(&PcapPacket::new(timestamp, orig_len, data))
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", self.path))
    }
}

/// Frames in, out, and skipped with their reasons.
#[derive(Default)]
pub struct Summary {
    pub frames_in: usize,
    pub frames_out: usize,
    pub skipped: BTreeMap<String, usize>,
}

impl Summary {
    /// Counts a skipped frame under `reason`.
    #[allow(dead_code)] // pcap_roundtrip skips nothing
    pub fn skip(&mut self, reason: impl ToString) {
        *self.skipped.entry(reason.to_string()).or_default() += 1;
    }

    /// The one-line summary for standard error.
    pub fn line(&self, tool: &str) -> String {
        let skipped: usize = self.skipped.values().sum();
        let mut line = format!(
            "{tool}: {} frames in, {} out, {skipped} skipped",
            self.frames_in, self.frames_out
        );
        if skipped > 0 {
            let reasons: Vec<String> = self
                .skipped
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect();
            line.push_str(&format!(" ({})", reasons.join("; ")));
        }
        line
    }
}

/// Reports a tool's run on standard error: the summary line and success, or the error
/// and failure.
#[allow(dead_code)] // pcap_roundtrip reports differing frames its own way
pub fn exit(tool: &str, result: Result<Summary, String>) -> ExitCode {
    match result {
        Ok(summary) => {
            eprintln!("{}", summary.line(tool));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{tool}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Puts `data` behind `headroom` bytes in `buf` (reused from frame to frame, grown only
/// for a larger frame) and returns where it landed.
#[allow(dead_code)] // encap and translate need headroom, not every example
pub fn place(buf: &mut Vec<u8>, headroom: usize, data: &[u8]) -> std::ops::Range<usize> {
    buf.resize(headroom + data.len(), 0);
    buf[headroom..].copy_from_slice(data);
    headroom..buf.len()
}

/// Parses `LO-HI`.
#[allow(dead_code)] // only encap takes a port range
pub fn parse_range(text: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = text
        .split_once('-')
        .ok_or_else(|| format!("port range {text:?} is not LO-HI"))?;
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("port {p:?} in {text:?} is not 0-65535"))
    };
    Ok((port(lo)?, port(hi)?))
}
