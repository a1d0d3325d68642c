//! The bytes under both formats: a buffered input that counts its offset and tells a clean
//! end from a cut one, the reused record buffer, and a bounded region (a record, a pcapng
//! block's body) whose fields are read in the file's byte order.

use std::io::{self, BufReader, Read};
use std::vec::Vec;

use super::error::{Error, Problem};

/// The byte order of a pcap file or of a pcapng section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Most significant byte first.
    Big,
    /// Least significant byte first (what x86 and most ARM machines write).
    Little,
}

impl ByteOrder {
    pub(super) fn u16(self, bytes: [u8; 2]) -> u16 {
        match self {
            ByteOrder::Big => u16::from_be_bytes(bytes),
            ByteOrder::Little => u16::from_le_bytes(bytes),
        }
    }

    pub(super) fn u32(self, bytes: [u8; 4]) -> u32 {
        match self {
            ByteOrder::Big => u32::from_be_bytes(bytes),
            ByteOrder::Little => u32::from_le_bytes(bytes),
        }
    }

    pub(super) fn u16_bytes(self, value: u16) -> [u8; 2] {
        match self {
            ByteOrder::Big => value.to_be_bytes(),
            ByteOrder::Little => value.to_le_bytes(),
        }
    }

    pub(super) fn u32_bytes(self, value: u32) -> [u8; 4] {
        match self {
            ByteOrder::Big => value.to_be_bytes(),
            ByteOrder::Little => value.to_le_bytes(),
        }
    }
}

/// The input, buffered (a record header is a few bytes: one system call each would cost
/// more than the record), with the offset of the next byte for error messages.
pub(super) struct Input<R> {
    reader: BufReader<R>,
    offset: u64,
}

impl<R: Read> Input<R> {
    pub(super) fn new(reader: R) -> Self {
        Input {
            reader: BufReader::new(reader),
            offset: 0,
        }
    }

    /// Offset of the next byte from the first byte of the input.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads until `buf` is full or the input ends; returns how many bytes it read (fewer
    /// than `buf.len()` only at the end of the input).
    pub(super) fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0;
        while let Some(rest) = buf.get_mut(done..).filter(|rest| !rest.is_empty()) {
            match self.reader.read(rest) {
                Ok(0) => break,
                // `read` returns at most `rest.len()`: `done` stays within `buf.len()`.
                #[allow(clippy::arithmetic_side_effects)]
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.advance(done as u64);
        Ok(done)
    }

    /// Reads and drops up to `n` bytes, without buffering them; returns how many (fewer
    /// than `n` only at the end of the input).
    pub(super) fn skip(&mut self, n: u64) -> io::Result<u64> {
        let skipped = io::copy(&mut (&mut self.reader).take(n), &mut io::sink())?;
        self.advance(skipped);
        Ok(skipped)
    }

    fn advance(&mut self, n: u64) {
        // An offset counts bytes read from one input: it does not reach 2^64.
        self.offset = self.offset.saturating_add(n);
    }
}

/// The buffer every record is read into, reused: it grows to the longest record read and
/// no further, so reading allocates nothing per record and memory stays flat however long
/// the file.
#[derive(Default)]
pub(super) struct Buffer {
    bytes: Vec<u8>,
    len: usize,
}

impl Buffer {
    /// The bytes of the last record read.
    pub(super) fn filled(&self) -> &[u8] {
        // `len` is at most `bytes.len()`: `read` grows `bytes` before it sets `len`.
        #[allow(clippy::indexing_slicing)]
        &self.bytes[..self.len]
    }

    /// Reads `len` bytes from `input`; returns how many it got (fewer only at the end of
    /// the input).
    fn read<R: Read>(&mut self, input: &mut Input<R>, len: usize) -> io::Result<usize> {
        if self.bytes.len() < len {
            self.bytes.resize(len, 0);
        }
        // Just grown to `len` if it was shorter.
        #[allow(clippy::indexing_slicing)]
        let got = input.fill(&mut self.bytes[..len])?;
        self.len = got;
        Ok(got)
    }
}

/// A bounded stretch of the input: a pcap record, or the body of a pcapng block (between
/// its length and the length repeated at its end). Every read is checked against what is
/// left of it, and a read the input cannot complete is a cut named after the region.
pub(super) struct Region<'i, R> {
    input: &'i mut Input<R>,
    /// What the region is, for errors ("pcapng Enhanced Packet Block").
    what: &'static str,
    /// Where its record or block begins.
    start: u64,
    /// Bytes of the region not yet read.
    left: u64,
    order: ByteOrder,
}

impl<'i, R: Read> Region<'i, R> {
    pub(super) fn new(
        input: &'i mut Input<R>,
        what: &'static str,
        start: u64,
        left: u64,
        order: ByteOrder,
    ) -> Self {
        Region {
            input,
            what,
            start,
            left,
            order,
        }
    }

    pub(super) fn left(&self) -> u64 {
        self.left
    }

    /// The error for a region the input ends inside.
    pub(super) fn cut(&self) -> Error {
        Error::Truncated {
            what: self.what,
            offset: self.start,
        }
    }

    /// The error for a region that breaks the format's rules.
    pub(super) fn malformed(&self, problem: Problem) -> Error {
        Error::Malformed {
            what: self.what,
            offset: self.start,
            problem,
        }
    }

    /// Counts `n` bytes as read, refusing to run past the region.
    fn take(&mut self, n: u64) -> Result<(), Error> {
        self.left = self
            .left
            .checked_sub(n)
            .ok_or_else(|| self.malformed(Problem::PastBlock))?;
        Ok(())
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        self.take(N as u64)?;
        let mut bytes = [0; N];
        if self.input.fill(&mut bytes)? < N {
            return Err(self.cut());
        }
        Ok(bytes)
    }

    pub(super) fn u16(&mut self) -> Result<u16, Error> {
        Ok(self.order.u16(self.array()?))
    }

    pub(super) fn u32(&mut self) -> Result<u32, Error> {
        Ok(self.order.u32(self.array()?))
    }

    pub(super) fn skip(&mut self, n: u64) -> Result<(), Error> {
        self.take(n)?;
        if self.input.skip(n)? < n {
            return Err(self.cut());
        }
        Ok(())
    }

    /// Reads `len` captured bytes into `buffer`, unless they are more than `limit`: then
    /// nothing is read and nothing allocated.
    pub(super) fn data(
        &mut self,
        buffer: &mut Buffer,
        len: u32,
        limit: usize,
    ) -> Result<(), Error> {
        let Some(wanted) = usize::try_from(len).ok().filter(|&n| n <= limit) else {
            return Err(Error::TooLong {
                what: self.what,
                offset: self.start,
                len,
                limit,
            });
        };
        self.take(u64::from(len))?;
        if buffer.read(self.input, wanted)? < wanted {
            return Err(self.cut());
        }
        Ok(())
    }

    /// Ends a pcapng block: skips what is left of its body (padding, options, a block this
    /// reader does not read) and checks the length repeated at its end against `len`.
    pub(super) fn finish(mut self, len: u32) -> Result<(), Error> {
        self.skip(self.left)?;
        let mut trailing = [0; 4];
        if self.input.fill(&mut trailing)? < trailing.len() {
            return Err(self.cut());
        }
        let trailing = self.order.u32(trailing);
        if trailing != len {
            return Err(self.malformed(Problem::TrailingLength {
                leading: len,
                trailing,
            }));
        }
        Ok(())
    }
}
