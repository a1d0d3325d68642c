//! Shared by the pcap examples: captures read with `tunnelwire::pcap` by the tools' rules
//! (Ethernet only; a file cut short is kept up to the cut, with a warning), a record's
//! packet decoded as far as it goes, their pcap output, the one-line summary on standard
//! error, and the argument helpers several tools share.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tunnelwire::ErrorKind;
use tunnelwire::packet::{Decoder, Frame};
use tunnelwire::pcap::{
    self, Content, Format, LinkType, PcapHeader, Record, Resolution, Undecoded,
};
use tunnelwire::wire::EtherType;

/// The snap length written for grown frames: libpcap's and Wireshark's largest.
const MAX_SNAPLEN: u32 = 262_144;

/// Largest frame a cut record is padded back to; a corrupt original length is not
/// believed beyond it.
const MAX_FRAME: usize = MAX_SNAPLEN as usize;

/// A record's packet decoded as far as it goes (`Decoder::decode_partial`): `bytes` as
/// captured, from its Ethernet header or, with `ethertype`, from a header of that
/// EtherType (`decode_partial_ip`: a record after a link header that is not Ethernet's).
/// A record the capture cut (`orig_len` longer than `bytes`) is decoded as if its missing
/// bytes were zeros, written into `padded`, so that the headers it kept are found; the
/// caller believes only those inside the captured bytes.
#[allow(dead_code)] // the tools that decode records: dissect, vni_stats
pub fn decode_record<'a>(
    decoder: &Decoder,
    bytes: &'a [u8],
    ethertype: Option<EtherType>,
    orig_len: usize,
    padded: &'a mut Vec<u8>,
) -> (Frame<'a>, Option<tunnelwire::Error>) {
    let whole = if orig_len > bytes.len() {
        padded.clear();
        padded.extend_from_slice(bytes);
        padded.resize(orig_len.min(MAX_FRAME).max(bytes.len()), 0);
        &padded[..]
    } else {
        bytes
    };
    match ethertype {
        None => decoder.decode_partial(whole),
        Some(ethertype) => decoder.decode_partial_ip(whole, ethertype),
    }
}

/// A capture being read one record at a time: memory stays bounded by the largest
/// record, whatever the file's size.
pub struct Capture {
    path: String,
    reader: pcap::Reader<File>,
}

impl Capture {
    /// Opens a pcap or pcapng for a tool that takes Ethernet frames; anything else (a
    /// text file, an image, a file cut inside its file header) is "not a pcap or pcapng
    /// file".
    ///
    /// A pcap of another link type than Ethernet is refused here, for the whole file: its
    /// header gives every record's. A pcapng says it per interface, so its records of
    /// other link types come to the tool one by one (see [`try_for_each`](Self::try_for_each)).
    pub fn open(path: &Path) -> Result<Self, String> {
        Self::open_if(
            path,
            |link_type| link_type == LinkType::ETHERNET,
            "Ethernet (this tool reads Ethernet captures)",
        )
    }

    /// [`open`](Self::open) for a tool that decodes what it reads (`Record::content`):
    /// besides Ethernet, a link type whose header names the packet's protocol (Linux's
    /// cooked captures of `tcpdump -i any`, raw IP, BSD loopback).
    #[allow(dead_code)] // dissect, vni_stats, decap and encap decode other link types
    pub fn open_decodable(path: &Path) -> Result<Self, String> {
        Self::open_if(
            path,
            LinkType::is_read,
            "Ethernet, nor one whose link header names the packet's protocol",
        )
    }

    /// Opens `path`, refusing a pcap whose link type is not `accepted`, as "link type
    /// N is not `what`".
    fn open_if(path: &Path, accepted: fn(LinkType) -> bool, what: &str) -> Result<Self, String> {
        let path = path.display().to_string();
        let file = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        let reader = pcap::Reader::new(file).map_err(|e| format!("{path}: {e}"))?;
        if let Format::Pcap(header) = reader.format() {
            if !accepted(header.link_type) {
                return Err(format!(
                    "{path}: link type {} is not {what}",
                    header.link_type
                ));
            }
        }
        Ok(Capture { path, reader })
    }

    /// The header to write the tool's pcap with: an Ethernet pcap input's own, so that
    /// a frame copied through is copied byte for byte; for a pcap of another link type,
    /// Ethernet at its resolution; for pcapng, Ethernet with nanosecond timestamps so
    /// that no precision is lost.
    pub fn output_header(&self) -> PcapHeader {
        match self.reader.format() {
            Format::Pcap(header) if header.link_type == LinkType::ETHERNET => header,
            Format::Pcap(header) => PcapHeader::new(LinkType::ETHERNET, header.resolution),
            Format::PcapNg => PcapHeader::new(LinkType::ETHERNET, Resolution::Nanosecond),
        }
    }

    /// Hands every record to `visit`, in file order, until the end of the file or the
    /// first error (`visit`'s own, returned as is): an Ethernet record as `Ok`, one of
    /// another link type (a pcapng interface that is not Ethernet: a capture of
    /// `eth0` and `tun0` at once) as `Err`, for the tool to count or report and go on,
    /// since a frame a tool cannot take never stops its run. A file that ends inside a
    /// record (a capture still being written, or copied short) is read up to that record
    /// and reported as a warning on standard error; any other read error names the file
    /// and the record.
    pub fn for_each(
        self,
        visit: impl FnMut(Result<Record<'_>, NotEthernet>) -> Result<(), String>,
    ) -> Result<(), String> {
        self.try_for_each(visit)
    }

    /// As [`for_each`](Self::for_each), for a visitor that stops the run with an error
    /// of its own type (`dissect` stops quietly when its standard output is closed);
    /// read errors become that type.
    pub fn try_for_each<E: From<String>>(
        self,
        mut visit: impl FnMut(Result<Record<'_>, NotEthernet>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.try_for_each_record(|record| {
            if record.link_type == LinkType::ETHERNET {
                visit(Ok(record))
            } else {
                visit(Err(NotEthernet {
                    index: record.index,
                    interface: record.interface,
                    link_type: record.link_type,
                    orig_len: record.orig_len,
                }))
            }
        })
    }

    /// Hands every record, whatever its link type, to `visit`, as
    /// [`try_for_each`](Self::try_for_each) does.
    pub fn try_for_each_record<E: From<String>>(
        mut self,
        mut visit: impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let path = &self.path;
        // Records handed to `visit` so far.
        let mut done = 0;
        loop {
            match self.reader.next_record() {
                Ok(Some(record)) => {
                    done = record.index;
                    visit(record)?;
                }
                Ok(None) => return Ok(()),
                Err(cut @ pcap::Error::Truncated { .. }) => {
                    eprintln!("warning: {path}: {cut}; the {done} records before it were read");
                    return Ok(());
                }
                Err(e) => return Err(format!("{path}: record {}: {e}", done + 1).into()),
            }
        }
    }
}

/// A record of a pcapng interface whose link type is not Ethernet: no tool decodes it.
#[derive(Clone, Copy, Debug)]
pub struct NotEthernet {
    /// The record's position in the file, from 1.
    pub index: u64,
    /// The pcapng interface it was captured on.
    pub interface: u32,
    /// That interface's link type.
    pub link_type: LinkType,
    /// The frame's length on the wire.
    #[allow(dead_code)] // vni_stats counts its bytes
    pub orig_len: u32,
}

impl std::fmt::Display for NotEthernet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record {}: interface {}: link type {} is not Ethernet: not decoded",
            self.index, self.interface, self.link_type
        )
    }
}

/// A pcap being written, frame by frame.
pub struct Output {
    writer: pcap::Writer<BufWriter<File>>,
    path: String,
}

impl Output {
    /// Creates `path` with `header` (the snapshot length raised to fit grown frames).
    pub fn create(path: &Path, mut header: PcapHeader, grown: bool) -> Result<Self, String> {
        if grown {
            header.snaplen = header.snaplen.max(MAX_SNAPLEN);
        }
        let path = path.display().to_string();
        let file = File::create(&path).map_err(|e| format!("{path}: {e}"))?;
        let writer =
            pcap::Writer::new(BufWriter::new(file), header).map_err(|e| format!("{path}: {e}"))?;
        Ok(Output { writer, path })
    }

    /// Writes a frame; `orig_len` is kept when the bytes are the input's, else the new length.
    pub fn write(&mut self, timestamp: Duration, orig_len: u32, data: &[u8]) -> Result<(), String> {
        self.writer
            .write(timestamp, orig_len, data)
            .map_err(|e| format!("{}: {e}", self.path))
    }

    /// Writes the frame a tool made of `record`, or counts why it made none, in
    /// `summary`. What the capture cut off the record is still on the wire behind the
    /// frame's new or removed headers: its original length counts it.
    #[allow(dead_code)] // pcap_roundtrip writes copies, of the records' own lengths
    pub fn write_made(
        &mut self,
        summary: &mut Summary,
        record: &Record<'_>,
        made: tunnelwire::Result<&[u8]>,
    ) -> Result<(), String> {
        match made {
            Ok(frame) => {
                self.write(
                    record.timestamp,
                    frame.len() as u32 + record.missing(),
                    frame,
                )?;
                summary.frames_out += 1;
            }
            Err(e) => summary.skip(e),
        }
        Ok(())
    }

    /// Writes out what is still buffered: dropping the writer would lose the error of
    /// that last write (a full disk).
    pub fn finish(self) -> Result<(), String> {
        self.writer
            .into_inner()
            .flush()
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
    /// Counts a frame skipped for `error`.
    #[allow(dead_code)] // pcap_roundtrip skips no frame for an error (`take` counts other link types)
    pub fn skip(&mut self, error: tunnelwire::Error) {
        // By layer and value-free reason: one bucket per kind of problem, not per frame.
        // The kinds that carry only a fixed description of their cause name it too: two
        // causes of one kind (an IP packet that VXLAN cannot carry, a packet that is
        // neither Ethernet nor IP) are then two buckets, each saying why.
        let reason = match error.kind {
            ErrorKind::Unsupported(why)
            | ErrorKind::UnsupportedFrame(why)
            | ErrorKind::NotTenantFrame(why) => {
                format!("{} {}: {why}", error.layer, error.kind.name())
            }
            _ => format!("{} {}", error.layer, error.kind.name()),
        };
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// Counts a record in, and the Ethernet frame it holds; one of another link type is
    /// counted skipped, by its link type, and gives `None`.
    #[allow(dead_code)] // vni_stats counts its own way
    pub fn take<'a>(&mut self, record: Result<Record<'a>, NotEthernet>) -> Option<Record<'a>> {
        self.frames_in += 1;
        record
            .map_err(|other| {
                let reason = format!("link type {}", other.link_type);
                *self.skipped.entry(reason).or_default() += 1;
            })
            .ok()
    }

    /// Counts a record in, and gives what it holds that a tool can decode; a record of a
    /// link type not decoded is counted skipped, by why, and gives `None`.
    #[allow(dead_code)] // only decap and encap take other link types
    pub fn take_content<'a>(&mut self, record: &Record<'a>) -> Option<Content<'a>> {
        self.frames_in += 1;
        let content = record.content();
        if let Content::Undecoded(why) = content {
            let reason = match why {
                Undecoded::LinkType(link_type) => format!("link type {link_type}"),
                Undecoded::HeaderCut { link_type, .. } => {
                    format!("link type {link_type} header cut short")
                }
                Undecoded::Protocol { link_type, .. } => {
                    format!("link type {link_type} protocol not decoded")
                }
            };
            *self.skipped.entry(reason).or_default() += 1;
            return None;
        }
        Some(content)
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

/// Exits as clap does for bad arguments (status 2) when `output` is the file `input`
/// is: the same path, a hard or symbolic link to it, or any other name of the same file.
/// Called before either is opened, since creating the output truncates it: `decap
/// big.pcap big.pcap` would read an empty file and write nothing back.
pub fn refuse_output_that_is_input<Args: clap::CommandFactory>(input: &Path, output: &Path) {
    // Both looked up through any symbolic links. An output that does not exist yet is
    // not the input, and an input that cannot be read is the reader's to report.
    let (Ok(input_meta), Ok(output_meta)) = (std::fs::metadata(input), std::fs::metadata(output))
    else {
        return;
    };
    if same_file(input, &input_meta, output, &output_meta) {
        let message = format!(
            "the output {} is the input {} (the same file): writing it would destroy the input",
            output.display(),
            input.display()
        );
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
}

/// One file on one device: the same device and inode number, whatever the names.
#[cfg(unix)]
fn same_file(_: &Path, a: &std::fs::Metadata, _: &Path, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Elsewhere std gives no file identity, so the names are compared once resolved
/// (symbolic links and `..` followed); a hard link then goes unnoticed.
#[cfg(not(unix))]
fn same_file(a: &Path, _: &std::fs::Metadata, b: &Path, _: &std::fs::Metadata) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Parses `--flow-id N` (clap's value parser): a fixed NVGRE FlowID, 0-255.
#[allow(dead_code)] // encap and translate take it
pub fn parse_flow_id(text: &str) -> Result<tunnelwire::tunnel::FlowId, String> {
    let id = text
        .parse::<u8>()
        .map_err(|_| "a FlowID is 8 bits: 0-255".to_string())?;
    Ok(tunnelwire::tunnel::FlowId::Fixed(id))
}
