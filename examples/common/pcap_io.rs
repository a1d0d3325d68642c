//! Shared by the pcap examples: reading captures (pcap or pcapng) record by record,
//! writing Ethernet pcaps, the one-line summary on standard error, and the `--flow-id`
//! parser two tools share.
//!
//! Captures are read with pcap-file 2, a pure-Rust reader of pcap (both byte orders,
//! micro- and nanosecond timestamps) and pcapng, in its latest release (3.0 is only a
//! release candidate). Its checked pcap records refuse an original length above the
//! file's snap length, which is what `tcpdump -s N` writes for every frame it cuts; its
//! raw records do not check that, and they are what this reader uses, so the tools read
//! what tcpdump and Wireshark write.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

/// One record (frame) of an input capture, borrowed from the reader's buffer.
pub struct Record<'a> {
    /// 1-based position among the capture's records.
    #[allow(dead_code)] // read by dissect and pcap_roundtrip, which name frames
    pub index: usize,
    /// Capture time.
    pub timestamp: Duration,
    /// Length on the wire; more than `data.len()` when the capture's snap length cut it.
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

impl Record<'_> {
    /// Bytes of the frame that the capture did not keep (0 for a whole frame): a tool
    /// that rewrites the frame adds them to the new frame's original length.
    #[allow(dead_code)] // read by the tools that rewrite frames, not by dissect
    pub fn missing(&self) -> u32 {
        self.orig_len.saturating_sub(self.data.len() as u32)
    }
}

/// The first bytes of a pcapng file: the Section Header Block type, the same in both
/// byte orders.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// The first bytes of a pcap file: microsecond and nanosecond timestamps, each in both
/// byte orders.
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];

/// The snap length written for pcapng input (whose interfaces may each have their own)
/// and for grown frames: libpcap's and Wireshark's largest.
const MAX_SNAPLEN: u32 = 262_144;

/// The file behind its magic number, which was read to tell the formats apart and is
/// put back in front so that pcap-file sees the whole file. No `BufReader`: pcap-file's
/// readers buffer on their own.
type Input = io::Chain<io::Cursor<[u8; 4]>, File>;

/// A capture being read one record at a time: memory stays bounded by the largest
/// record, whatever the file's size.
pub struct Reader {
    path: String,
    format: Format,
}

enum Format {
    Pcap(PcapReader<Input>),
    PcapNg(PcapNgReader<Input>),
}

impl Reader {
    /// Opens a pcap (either byte order, micro- or nanosecond timestamps, link type
    /// Ethernet) or a pcapng, telling them apart by the magic number. Anything else
    /// (a text file, an image, a file cut inside its file header) is "not a pcap or
    /// pcapng file".
    pub fn open(path: &Path) -> Result<Self, String> {
        let path = path.display().to_string();
        let mut file = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        let mut magic = [0; 4];
        file.read_exact(&mut magic).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                format!("{path}: not a pcap or pcapng file (shorter than a magic number)")
            }
            _ => format!("{path}: {e}"),
        })?;
        let input = io::Cursor::new(magic).chain(file);
        let header_error = |e| {
            format!(
                "{path}: not a pcap or pcapng file (file header: {})",
                describe(e)
            )
        };
        let format = if magic == PCAPNG_MAGIC {
            Format::PcapNg(PcapNgReader::new(input).map_err(header_error)?)
        } else if PCAP_MAGICS.contains(&magic) {
            let reader = PcapReader::new(input).map_err(header_error)?;
            let datalink = reader.header().datalink;
            if datalink != DataLink::ETHERNET {
                return Err(format!("{path}: link type {datalink:?} is not Ethernet"));
            }
            Format::Pcap(reader)
        } else {
            return Err(format!(
                "{path}: not a pcap or pcapng file (magic number {:#010x})",
                u32::from_be_bytes(magic)
            ));
        };
        Ok(Reader { path, format })
    }

    /// The header to write the tool's pcap with: a pcap input's own, so that a frame
    /// copied through is copied byte for byte; for pcapng, Ethernet with nanosecond
    /// timestamps so that no precision is lost.
    pub fn pcap_header(&self) -> PcapHeader {
        match &self.format {
            Format::Pcap(reader) => reader.header(),
            Format::PcapNg(_) => PcapHeader {
                snaplen: MAX_SNAPLEN,
                ts_resolution: TsResolution::NanoSecond,
                endianness: Endianness::native(),
                ..PcapHeader::default()
            },
        }
    }

    /// Hands every record to `visit`, in file order, until the end of the file or the
    /// first error (`visit`'s own, returned as is). A file that ends inside a record
    /// (a capture still being written, or copied short) is read up to that record and
    /// reported as a warning on standard error; any other read error names the file and
    /// the record.
    ///
    /// A visitor rather than an iterator: records borrow the reader's buffer, and a
    /// function that skips pcapng's other blocks in a loop cannot return such a borrow
    /// under today's borrow checker without copying the frame.
    pub fn for_each(
        self,
        visit: impl FnMut(Record<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        self.try_for_each(visit)
    }

    /// As [`for_each`](Self::for_each), for a visitor that stops the run with an error
    /// of its own type (`dissect` stops quietly when its standard output is closed);
    /// read errors become that type.
    pub fn try_for_each<E: From<String>>(
        self,
        mut visit: impl FnMut(Record<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        // Records handed to `visit` so far: the one being read is the next.
        let mut done = 0;
        let pcapng = matches!(self.format, Format::PcapNg(_));
        let read = match self.format {
            Format::Pcap(reader) => pcap_records(reader, &mut done, &mut visit),
            Format::PcapNg(reader) => pcapng_records(reader, &mut done, &mut visit),
        };
        let (path, record) = (&self.path, done + 1);
        match read {
            Ok(()) => Ok(()),
            Err(Stop::Visit(message)) => Err(message),
            // pcap-file's only way of saying that the file ended inside a record.
            Err(Stop::Read(PcapError::IoError(e))) if e.kind() == io::ErrorKind::UnexpectedEof => {
                // A pcapng file may end in a block that holds no frame (dumpcap ends
                // with interface statistics): a cut there cuts no record.
                let cut = if pcapng {
                    format!("the block after record {done}")
                } else {
                    format!("record {record}")
                };
                eprintln!(
                    "warning: {path}: the file ends inside {cut}, which is left out; \
                     the {done} records before it were read"
                );
                Ok(())
            }
            Err(Stop::Read(e)) => Err(format!("{path}: record {record}: {}", describe(e)).into()),
            Err(Stop::Interface(message)) => Err(format!("{path}: {message}").into()),
        }
    }
}

/// Why reading stopped early.
enum Stop<E> {
    /// The file could not be parsed at the current record.
    Read(PcapError),
    /// A pcapng interface the tools cannot read.
    Interface(String),
    /// The visitor's own error.
    Visit(E),
}

/// pcap-file's message, with the I/O error it wraps (its `Display` leaves that out).
fn describe(e: PcapError) -> String {
    match e {
        PcapError::IoError(e) => e.to_string(),
        e => e.to_string(),
    }
}

fn pcap_records<E>(
    mut reader: PcapReader<Input>,
    done: &mut usize,
    visit: &mut impl FnMut(Record<'_>) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let nanos_per_unit = match reader.header().ts_resolution {
        TsResolution::MicroSecond => 1_000,
        TsResolution::NanoSecond => 1,
    };
    // Raw packets: pcap-file 2.0's checked ones reject an original length above the snap
    // length, which is exactly what a record cut by `tcpdump -s N` has.
    while let Some(packet) = reader.next_raw_packet() {
        let packet = packet.map_err(Stop::Read)?;
        *done += 1;
        visit(Record {
            index: *done,
            timestamp: Duration::from_secs(packet.ts_sec.into())
                + Duration::from_nanos(u64::from(packet.ts_frac) * nanos_per_unit),
            orig_len: packet.orig_len,
            data: &packet.data,
        })
        .map_err(Stop::Visit)?;
    }
    Ok(())
}

fn pcapng_records<E>(
    mut reader: PcapNgReader<Input>,
    done: &mut usize,
    visit: &mut impl FnMut(Record<'_>) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    // Kept here, not read from the reader: a block borrows the reader while it lives.
    let mut interfaces: Vec<Interface> = Vec::new();
    while let Some(block) = reader.next_block() {
        let (interface, units, orig_len, captured, data) = match block.map_err(Stop::Read)? {
            // Interface numbers start again in each section.
            Block::SectionHeader(_) => {
                interfaces.clear();
                continue;
            }
            Block::InterfaceDescription(idb) => {
                let number = interfaces.len();
                interfaces.push(Interface::new(number, &idb).map_err(Stop::Interface)?);
                continue;
            }
            // pcap-file stores the timestamp's units as nanoseconds whatever the
            // interface's resolution; as_nanos() gives the units back.
            Block::EnhancedPacket(p) => (
                p.interface_id as usize,
                Some(p.timestamp.as_nanos()),
                p.original_len,
                p.data.len(),
                p.data,
            ),
            // Obsolete since 2007, but old files still hold it.
            Block::Packet(p) => (
                usize::from(p.interface_id),
                Some(u128::from(p.timestamp)),
                p.original_len,
                p.data.len(),
                p.data,
            ),
            // No timestamp, always interface 0, and no captured length: the body is the
            // frame cut to the snap length, then padding to 32 bits.
            Block::SimplePacket(p) => {
                let snaplen = interfaces.first().map_or(u32::MAX, |i| i.snaplen);
                let captured = p.data.len().min(p.original_len.min(snaplen) as usize);
                (0, None, p.original_len, captured, p.data)
            }
            _ => continue,
        };
        let Some(interface) = interfaces.get(interface) else {
            return Err(Stop::Interface(format!(
                "record {}: interface {interface} has no description block",
                *done + 1
            )));
        };
        *done += 1;
        visit(Record {
            index: *done,
            timestamp: units.map_or(Duration::ZERO, |units| interface.timestamp(units)),
            orig_len,
            data: &data[..captured],
        })
        .map_err(Stop::Visit)?;
    }
    Ok(())
}

/// What a pcapng Interface Description Block says about its records.
struct Interface {
    /// Timestamp units per second (`if_tsresol`).
    units_per_second: u128,
    /// The most bytes kept of a frame.
    snaplen: u32,
}

impl Interface {
    fn new(number: usize, idb: &InterfaceDescriptionBlock<'_>) -> Result<Self, String> {
        if idb.linktype != DataLink::ETHERNET {
            return Err(format!(
                "interface {number}: link type {:?} is not Ethernet",
                idb.linktype
            ));
        }
        // Without the option, microseconds (pcapng's default).
        let tsresol = idb
            .options
            .iter()
            .find_map(|option| match option {
                InterfaceDescriptionOption::IfTsResol(v) => Some(*v),
                _ => None,
            })
            .unwrap_or(6);
        // The top bit picks a power of two, else a power of ten.
        let units_per_second = if tsresol & 0x80 == 0 {
            10u128.checked_pow(tsresol.into())
        } else {
            1u128.checked_shl((tsresol & 0x7f).into())
        }
        .ok_or_else(|| format!("interface {number}: if_tsresol {tsresol} is not supported"))?;
        Ok(Interface {
            units_per_second,
            // 0 means no limit.
            snaplen: match idb.snaplen {
                0 => u32::MAX,
                n => n,
            },
        })
    }

    /// The time `units` (since 1970) stand for.
    fn timestamp(&self, units: u128) -> Duration {
        let per_second = self.units_per_second;
        let fraction = (units % per_second) * 1_000_000_000 / per_second;
        Duration::from_secs((units / per_second) as u64) + Duration::from_nanos(fraction as u64)
    }
}

/// A pcap being written, frame by frame.
pub struct Writer {
    inner: PcapWriter<BufWriter<File>>,
    path: String,
}

impl Writer {
    /// Creates `path` with `header` (the snapshot length raised to fit grown frames).
    pub fn create(path: &Path, mut header: PcapHeader, grown: bool) -> Result<Self, String> {
        if grown {
            header.snaplen = header.snaplen.max(MAX_SNAPLEN);
        }
        let path = path.display().to_string();
        let file = File::create(&path).map_err(|e| format!("{path}: {e}"))?;
        let inner = PcapWriter::with_header(BufWriter::new(file), header)
            .map_err(|e| format!("{path}: {}", describe(e)))?;
        Ok(Writer { inner, path })
    }

    /// Writes a frame; `orig_len` is kept when the bytes are the input's, else the new length.
    pub fn write(&mut self, timestamp: Duration, orig_len: u32, data: &[u8]) -> Result<(), String> {
        self.inner
            .write_packet(&PcapPacket::new(timestamp, orig_len, data))
            .map(|_| ())
            .map_err(|e| format!("{}: {}", self.path, describe(e)))
    }

    /// Writes out what is still buffered: dropping the writer would lose the error of
    /// that last write (a full disk).
    pub fn finish(self) -> Result<(), String> {
        self.inner
            .into_writer()
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
    #[allow(dead_code)] // pcap_roundtrip skips nothing
    pub fn skip(&mut self, error: tunnelwire::Error) {
        // By layer and value-free reason: one bucket per kind of problem, not per frame.
        let reason = format!("{} {}", error.layer, error.kind.name());
        *self.skipped.entry(reason).or_default() += 1;
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
