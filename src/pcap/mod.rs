//! Packet captures, streamed: pcap and pcapng as tcpdump, dumpcap and Wireshark write them
//! (feature `pcap`).
//!
//! [`Reader`] tells the two formats apart by their first bytes and reads either from any
//! [`std::io::Read`]:
//!
//! - pcap in either byte order, with micro- or nanosecond timestamps;
//! - pcapng: sections in either byte order, Interface Description Blocks (link type, snap
//!   length, `if_tsresol` in powers of ten or two), Enhanced, Simple and the obsolete
//!   Packet Blocks; every other block is skipped unread.
//!
//! Each [`Record`] borrows one buffer that the reader reuses: reading allocates nothing per
//! record, and memory stays flat however long the file, since the buffer grows to the
//! longest record and no further. A record announcing more captured bytes than the
//! reader's limit ([`DEFAULT_MAX_RECORD_LEN`], or
//! [`with_max_record_len`](Reader::with_max_record_len)) is refused before anything is
//! allocated for it. A record keeps its length on the wire, so a frame the capture's snap
//! length cut (`tcpdump -s 96`) shows it: `orig_len` is above `data.len()`.
//!
//! A file that ends inside a record (a capture still being written, a copy cut short)
//! gives every record before it, then [`Error::Truncated`] naming the record or block and
//! the byte it began at: a caller may keep what it read. After any error the reader
//! returns no more records.
//!
//! [`Record::content`] says what a record holds by its link type: an Ethernet frame, or
//! the packet after a link header that names its protocol (Linux's cooked captures of
//! `tcpdump -i any`, raw IP, BSD loopback), for
//! [`Decoder::decode_ip`](crate::packet::Decoder::decode_ip).
//!
//! [`Writer`] writes pcap, as the crate's pcap tools do.
//!
//! ## Example: count a capture's VXLAN frames, keeping what a cut file holds
//!
//! ```
//! use std::io::Read;
//! use std::time::Duration;
//! use tunnelwire::packet::{Decoder, TunnelKind};
//! use tunnelwire::pcap::{self, Content, LinkType, PcapHeader, Reader, Resolution, Writer};
//!
//! /// VXLAN frames among the records (Ethernet frames, or IP packets after a cooked or
//! /// loopback header), and records in all.
//! fn count_vxlan(capture: impl Read) -> Result<(u64, u64), pcap::Error> {
//!     let decoder = Decoder::new();
//!     let mut reader = Reader::new(capture)?;
//!     let (mut vxlan, mut records) = (0, 0);
//!     loop {
//!         let record = match reader.next_record() {
//!             Ok(Some(record)) => record,
//!             Ok(None) => break,
//!             // The records before the cut are whole: keep them.
//!             Err(cut @ pcap::Error::Truncated { .. }) => {
//!                 eprintln!("warning: {cut}");
//!                 break;
//!             }
//!             Err(e) => return Err(e),
//!         };
//!         records += 1;
//!         let (frame, _) = match record.content() {
//!             Content::Ethernet { bytes, .. } => decoder.decode_partial(bytes),
//!             Content::Packet { ethertype, bytes, .. } => decoder.decode_partial_ip(bytes, ethertype),
//!             Content::Undecoded(_) => continue,
//!         };
//!         vxlan += u64::from(frame.tunnel.is_some_and(|t| t.kind() == TunnelKind::Vxlan));
//!     }
//!     Ok((vxlan, records))
//! }
//!
//! // Two frames of an ARP broadcast, written to memory.
//! let header = PcapHeader::new(LinkType::ETHERNET, Resolution::Nanosecond);
//! let mut writer = Writer::new(Vec::new(), header)?;
//! let arp = [[0xff; 12].as_slice(), &[0x08, 0x06], &[0; 46]].concat();
//! writer.write(Duration::new(1_700_000_000, 5), 60, &arp)?;
//! writer.write(Duration::new(1_700_000_001, 0), 60, &arp)?;
//! let file = writer.into_inner();
//!
//! assert_eq!(count_vxlan(&file[..])?, (0, 2));
//! // Cut inside its second record, the file still gives the first.
//! assert_eq!(count_vxlan(&file[..file.len() - 1])?, (0, 1));
//!
//! let mut reader = Reader::new(&file[..])?;
//! let first = reader.next_record()?.expect("a record");
//! assert_eq!((first.index, first.timestamp), (1, Duration::new(1_700_000_000, 5)));
//! assert_eq!((first.orig_len, first.data), (60, &arp[..]));
//! # Ok::<(), tunnelwire::pcap::Error>(())
//! ```

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

mod classic;
mod error;
mod input;
mod link;
mod ng;
#[cfg(test)]
mod tests;
mod writer;

use std::io::Read;
use std::time::Duration;

pub use classic::{PcapHeader, Resolution};
pub use error::{Error, Problem, Unrecognised};
pub use input::ByteOrder;
pub use link::{Content, LinkType, Undecoded};
pub use writer::Writer;

use input::{Buffer, Input};

/// The most captured bytes a [`Reader`] takes in one record unless told otherwise:
/// libpcap's and Wireshark's largest snap length.
pub const DEFAULT_MAX_RECORD_LEN: usize = 262_144;

/// Which format a capture is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// pcap, with its file header.
    Pcap(PcapHeader),
    /// pcapng.
    PcapNg,
}

/// One record of a capture: a frame as captured, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Position among the file's records, from 1 (Wireshark's frame number).
    pub index: u64,
    /// Capture time since 1970-01-01 UTC; zero for a pcapng Simple Packet Block, which
    /// has none.
    pub timestamp: Duration,
    /// Length of the frame on the wire: more than `data.len()` when the capture's snap
    /// length cut it.
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
    /// The pcapng interface the frame was captured on; 0 in pcap, which has one.
    pub interface: u32,
    /// What `data` begins with.
    pub link_type: LinkType,
}

impl Record<'_> {
    /// Bytes of the frame the capture did not keep: 0 for a whole frame.
    pub fn missing(&self) -> u32 {
        self.orig_len
            .saturating_sub(u32::try_from(self.data.len()).unwrap_or(u32::MAX))
    }
}

/// A record found by a format's reader, its bytes left in the buffer.
struct Found {
    timestamp: Duration,
    orig_len: u32,
    interface: u32,
    link_type: LinkType,
}

/// Reads a capture, pcap or pcapng, record by record (see the [module](self) docs).
pub struct Reader<R> {
    input: Input<R>,
    state: State,
    buffer: Buffer,
    max_record_len: usize,
    records: u64,
    /// Set by an error: a reader that lost its place reads nothing more.
    failed: bool,
}

/// The format and what reading it needs.
enum State {
    Pcap(PcapHeader),
    PcapNg(ng::Section),
}

impl<R: Read> Reader<R> {
    /// Reads the file header (pcap) or the first Section Header Block (pcapng). The
    /// reader buffers its input: a `BufReader` around `input` is not needed.
    ///
    /// # Errors
    /// [`Error::NotACapture`] when the input begins as neither format does, or ends
    /// inside its header; [`Error::Io`] when reading fails.
    pub fn new(input: R) -> Result<Self, Error> {
        let mut input = Input::new(input);
        let mut magic = [0; 4];
        if input.fill(&mut magic)? < magic.len() {
            return Err(Error::NotACapture(Unrecognised::NoMagic));
        }
        let state = if magic == ng::SECTION_HEADER {
            State::PcapNg(ng::Section::first(&mut input)?)
        } else {
            State::Pcap(classic::header(&mut input, magic)?)
        };
        Ok(Reader {
            input,
            state,
            buffer: Buffer::default(),
            max_record_len: DEFAULT_MAX_RECORD_LEN,
            records: 0,
            failed: false,
        })
    }

    /// Takes records of up to `max` captured bytes (the default is
    /// [`DEFAULT_MAX_RECORD_LEN`]); a longer one is [`Error::TooLong`]. The reader's
    /// memory grows to its longest record, so this bounds it.
    pub fn with_max_record_len(mut self, max: usize) -> Self {
        self.max_record_len = max;
        self
    }

    /// The capture's format, with the pcap file header.
    pub fn format(&self) -> Format {
        match &self.state {
            State::Pcap(header) => Format::Pcap(*header),
            State::PcapNg(_) => Format::PcapNg,
        }
    }

    /// The next record, or `None` at the end of the input (or after an error).
    ///
    /// # Errors
    /// [`Error::Truncated`] when the input ends inside a record or block (the records
    /// before it were whole), [`Error::TooLong`], [`Error::Malformed`] for a pcapng block
    /// that breaks the format's rules, [`Error::Io`] when reading fails.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, Error> {
        if self.failed {
            return Ok(None);
        }
        let (input, buffer, limit) = (&mut self.input, &mut self.buffer, self.max_record_len);
        let found = match &mut self.state {
            State::Pcap(header) => classic::next(input, header, buffer, limit),
            State::PcapNg(section) => section.next(input, buffer, limit),
        };
        let found = match found {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.failed = true;
                return Err(e);
            }
        };
        self.records = self.records.saturating_add(1);
        Ok(Some(Record {
            index: self.records,
            timestamp: found.timestamp,
            orig_len: found.orig_len,
            data: self.buffer.filled(),
            interface: found.interface,
            link_type: found.link_type,
        }))
    }
}
