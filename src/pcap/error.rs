//! What can go wrong reading a capture: an input that is no capture, a file cut short, a
//! record over the reader's limit, a malformed pcapng block, or the input itself failing.

use std::io;

/// Why a capture could not be read (further).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input does not begin as a pcap or pcapng file: only [`Reader::new`] says this.
    ///
    /// [`Reader::new`]: super::Reader::new
    #[error("not a pcap or pcapng file ({0})")]
    NotACapture(Unrecognised),
    /// The input ends inside a record or block. Every record read before it is whole: a
    /// capture still being written, or copied short, can be kept up to there.
    #[error("the file ends inside the {what} at byte {offset}")]
    Truncated {
        /// The record or block the input ends in ("pcap record", "pcapng Enhanced Packet
        /// Block").
        what: &'static str,
        /// Where that record or block begins, from the first byte of the input.
        offset: u64,
    },
    /// A record announces more captured bytes than the reader takes (see
    /// [`Reader::with_max_record_len`]); nothing was allocated for it.
    ///
    /// [`Reader::with_max_record_len`]: super::Reader::with_max_record_len
    #[error(
        "{what} at byte {offset}: {len} bytes captured, more than the {limit} this reader takes"
    )]
    TooLong {
        /// The record or block.
        what: &'static str,
        /// Where it begins.
        offset: u64,
        /// The captured length it announces.
        len: u32,
        /// The reader's limit.
        limit: usize,
    },
    /// A pcapng block breaks the format's rules.
    #[error("{what} at byte {offset}: {problem}")]
    Malformed {
        /// The block.
        what: &'static str,
        /// Where it begins.
        offset: u64,
        /// What is wrong with it.
        problem: Problem,
    },
    /// Reading the input failed (other than by ending, which is [`Error::Truncated`]).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Why an input is not taken for a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unrecognised {
    /// The input holds fewer than the four bytes of a magic number (it may be empty).
    NoMagic,
    /// The first four bytes, big-endian, are no magic number of pcap or pcapng.
    Magic(u32),
    /// The input ends inside its pcap file header or its first Section Header Block.
    ShortHeader,
    /// The first block has pcapng's Section Header Block type but is not one.
    Section(Problem),
}

impl core::fmt::Display for Unrecognised {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Unrecognised::NoMagic => f.write_str("shorter than a magic number"),
            Unrecognised::Magic(magic) => write!(f, "magic number {magic:#010x}"),
            Unrecognised::ShortHeader => f.write_str("it ends inside its file header"),
            Unrecognised::Section(problem) => write!(f, "Section Header Block: {problem}"),
        }
    }
}

/// What is wrong with a pcapng block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A block length below the block's fixed fields or not a multiple of 4.
    #[error("block length {0} is too short for the block or not a multiple of 4")]
    BlockLength(u32),
    /// The length repeated at the end of a block differs from the one at its start.
    #[error("the block length at its end, {trailing}, differs from the {leading} at its start")]
    TrailingLength {
        /// The length at the start.
        leading: u32,
        /// The length at the end.
        trailing: u32,
    },
    /// A Section Header Block whose byte-order magic (read big-endian) is neither byte
    /// order of 0x1a2b3c4d.
    #[error("byte-order magic {0:#010x} is not 0x1a2b3c4d in either byte order")]
    ByteOrderMagic(u32),
    /// A Section Header Block of a major version other than 1.
    #[error("version {major}.{minor}, where this reader knows 1.x")]
    Version {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A field, an option or the captured bytes run past the end of the block.
    #[error("its fields run past the end of the block")]
    PastBlock,
    /// A packet block names an interface no Interface Description Block of its section
    /// described.
    #[error("interface {0} has no Interface Description Block")]
    UnknownInterface(u32),
    /// An `if_tsresol` of more than 2^63 or 10^19 units per second.
    #[error(
        "if_tsresol {0:#04x} is finer than this reader counts (10^19 or 2^63 units per second)"
    )]
    Resolution(u8),
    /// More Interface Description Blocks in one section than the reader keeps (a file
    /// must not grow the reader's memory without bound).
    #[error("more than {0} interfaces in one section")]
    TooManyInterfaces(usize),
}
