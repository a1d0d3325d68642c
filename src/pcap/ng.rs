//! The pcapng format (draft-ietf-opsawg-pcapng): sections, each opened by a Section Header
//! Block that sets its byte order, holding Interface Description Blocks (link type, snap
//! length, `if_tsresol`) and packet blocks naming them. Enhanced, Simple and the obsolete
//! Packet Blocks are read; every other block is skipped unread.

use core::num::NonZeroU64;
use std::io::Read;
use std::time::Duration;
use std::vec::Vec;

use super::error::{Error, Problem, Unrecognised};
use super::input::{Buffer, ByteOrder, Input, Region};
use super::{Found, LinkType};

/// The Section Header Block's type: the same bytes in either byte order, so it can be
/// recognised before the byte order is known.
pub(super) const SECTION_HEADER: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const INTERFACE_DESCRIPTION: u32 = 1;
const PACKET: u32 = 2;
const SIMPLE_PACKET: u32 = 3;
const ENHANCED_PACKET: u32 = 6;

/// A block's type, length and the length repeated at its end.
const BLOCK_OVERHEAD: u32 = 12;
/// A Section Header Block's byte-order magic, major and minor version and section length.
const SECTION_HEADER_FIELDS: u32 = 16;
/// The byte-order magic, as a big-endian section writes it.
const BYTE_ORDER_MAGIC: [u8; 4] = [0x1a, 0x2b, 0x3c, 0x4d];

/// The option that ends an option list.
const OPT_ENDOFOPT: u16 = 0;
/// The Interface Description Block option giving the timestamps' resolution.
const IF_TSRESOL: u16 = 9;
/// Timestamps' resolution without `if_tsresol`: microseconds.
const DEFAULT_TSRESOL: u8 = 6;

/// The most interfaces one section may describe: each costs the reader a few bytes kept
/// until the section ends, so a file of nothing but descriptions must not grow it for ever.
const MAX_INTERFACES: usize = 65_536;

/// The section being read.
pub(super) struct Section {
    order: ByteOrder,
    /// Described so far, numbered from 0 in the order of their blocks.
    interfaces: Vec<Interface>,
}

/// What an Interface Description Block says about the records that name it.
struct Interface {
    link_type: LinkType,
    /// The most bytes kept of a frame; `u32::MAX` for no limit (0 in the file).
    snaplen: u32,
    /// Timestamp units per second (`if_tsresol`).
    units_per_second: NonZeroU64,
}

impl Section {
    /// Reads the rest of the input's first block, which began with [`SECTION_HEADER`]:
    /// anything wrong with it means the input is not pcapng after all.
    pub(super) fn first<R: Read>(input: &mut Input<R>) -> Result<Self, Error> {
        let order = section_header(input, 0).map_err(|e| match e {
            Error::Truncated { .. } => Error::NotACapture(Unrecognised::ShortHeader),
            Error::Malformed { problem, .. } => Error::NotACapture(Unrecognised::Section(problem)),
            e => e,
        })?;
        Ok(Section {
            order,
            interfaces: Vec::new(),
        })
    }

    /// Reads blocks up to the next record, read into `buffer`; `None` at the end of the
    /// input.
    pub(super) fn next<R: Read>(
        &mut self,
        input: &mut Input<R>,
        buffer: &mut Buffer,
        limit: usize,
    ) -> Result<Option<Found>, Error> {
        loop {
            let start = input.offset();
            let mut kind = [0; 4];
            match input.fill(&mut kind)? {
                0 => return Ok(None),
                4 => {}
                _ => return Err(cut("pcapng block", start)),
            }
            if kind == SECTION_HEADER {
                // Interfaces are numbered afresh in each section, in its own byte order.
                self.order = section_header(input, start)?;
                self.interfaces.clear();
                continue;
            }
            let kind = self.order.u32(kind);
            let what = block_name(kind);
            let mut len = [0; 4];
            if input.fill(&mut len)? < len.len() {
                return Err(cut(what, start));
            }
            let len = self.order.u32(len);
            let Some(body) = len.checked_sub(BLOCK_OVERHEAD).filter(|_| len % 4 == 0) else {
                return Err(malformed(what, start, Problem::BlockLength(len)));
            };
            let mut block = Region::new(input, what, start, body.into(), self.order);
            let found = match kind {
                INTERFACE_DESCRIPTION => {
                    self.describe(&mut block)?;
                    None
                }
                ENHANCED_PACKET => {
                    Some(self.packet(&mut block, buffer, limit, Layout::Enhanced)?)
                }
                PACKET => Some(self.packet(&mut block, buffer, limit, Layout::Obsolete)?),
                SIMPLE_PACKET => Some(self.simple_packet(&mut block, buffer, limit)?),
                _ => None,
            };
            block.finish(len)?;
            if found.is_some() {
                return Ok(found);
            }
        }
    }

    /// Reads an Interface Description Block: link type, snap length and `if_tsresol`;
    /// other options are skipped.
    fn describe<R: Read>(&mut self, block: &mut Region<'_, R>) -> Result<(), Error> {
        if self.interfaces.len() >= MAX_INTERFACES {
            return Err(block.malformed(Problem::TooManyInterfaces(MAX_INTERFACES)));
        }
        let link_type = LinkType(block.u16()?);
        block.skip(2)?; // reserved
        let snaplen = block.u32()?;
        let mut tsresol = DEFAULT_TSRESOL;
        while block.left() > 0 {
            let code = block.u16()?;
            let len = block.u16()?;
            if code == OPT_ENDOFOPT {
                break;
            }
            if code == IF_TSRESOL && len == 1 {
                [tsresol] = block.array()?;
                block.skip(3)?; // padding to 32 bits
            } else {
                block.skip(u64::from(len).next_multiple_of(4))?;
            }
        }
        let units_per_second = units_per_second(tsresol)
            .ok_or_else(|| block.malformed(Problem::Resolution(tsresol)))?;
        self.interfaces.push(Interface {
            link_type,
            snaplen: match snaplen {
                0 => u32::MAX,
                n => n,
            },
            units_per_second,
        });
        Ok(())
    }

    fn interface<R: Read>(&self, block: &Region<'_, R>, number: u32) -> Result<&Interface, Error> {
        usize::try_from(number)
            .ok()
            .and_then(|n| self.interfaces.get(n))
            .ok_or_else(|| block.malformed(Problem::UnknownInterface(number)))
    }

    /// Reads an Enhanced Packet Block, or the obsolete Packet Block it replaced, whose
    /// fields are the same but for a 16-bit interface number and a drop count.
    fn packet<R: Read>(
        &self,
        block: &mut Region<'_, R>,
        buffer: &mut Buffer,
        limit: usize,
        layout: Layout,
    ) -> Result<Found, Error> {
        let number = match layout {
            Layout::Enhanced => block.u32()?,
            Layout::Obsolete => {
                let number = block.u16()?;
                block.skip(2)?; // drops count
                number.into()
            }
        };
        let high = block.u32()?;
        let low = block.u32()?;
        let captured = block.u32()?;
        let orig_len = block.u32()?;
        let interface = self.interface(block, number)?;
        block.data(buffer, captured, limit)?;
        Ok(Found {
            timestamp: interface.timestamp((u64::from(high) << 32) | u64::from(low)),
            orig_len,
            interface: number,
            link_type: interface.link_type,
        })
    }

    /// Reads a Simple Packet Block: interface 0, no timestamp, and no captured length:
    /// the frame cut to the interface's snap length fills the body, then padding.
    fn simple_packet<R: Read>(
        &self,
        block: &mut Region<'_, R>,
        buffer: &mut Buffer,
        limit: usize,
    ) -> Result<Found, Error> {
        let interface = self.interface(block, 0)?;
        let orig_len = block.u32()?;
        let captured = orig_len.min(interface.snaplen);
        let captured = u32::try_from(block.left()).map_or(captured, |body| captured.min(body));
        block.data(buffer, captured, limit)?;
        Ok(Found {
            timestamp: Duration::ZERO,
            orig_len,
            interface: 0,
            link_type: interface.link_type,
        })
    }
}

/// The two packet blocks with timestamps.
#[derive(Clone, Copy)]
enum Layout {
    Enhanced,
    Obsolete,
}

impl Interface {
    /// The time `units` since 1970 stand for.
    fn timestamp(&self, units: u64) -> Duration {
        let per_second = self.units_per_second;
        let (seconds, rest) = (units / per_second, units % per_second);
        // `rest` is below `per_second`, so `rest` times 10^9 fits in 128 bits and the
        // nanoseconds are below 10^9.
        #[allow(clippy::arithmetic_side_effects)]
        let nanos = u128::from(rest) * 1_000_000_000 / u128::from(per_second.get());
        Duration::new(seconds, nanos as u32)
    }
}

/// Units per second for an `if_tsresol`: its top bit picks a power of two, else a power of
/// ten; `None` past what 64 bits count.
fn units_per_second(tsresol: u8) -> Option<NonZeroU64> {
    let exponent = u32::from(tsresol & 0x7f);
    let units = if tsresol & 0x80 == 0 {
        10u64.checked_pow(exponent)
    } else {
        1u64.checked_shl(exponent)
    };
    units.and_then(NonZeroU64::new)
}

/// Reads the rest of a Section Header Block that began at `start` with its type; returns
/// the section's byte order.
fn section_header<R: Read>(input: &mut Input<R>, start: u64) -> Result<ByteOrder, Error> {
    const WHAT: &str = "pcapng Section Header Block";
    let mut head = [0; 8];
    if input.fill(&mut head)? < head.len() {
        return Err(cut(WHAT, start));
    }
    let [l0, l1, l2, l3, magic @ ..] = head;
    let order = if magic == BYTE_ORDER_MAGIC {
        ByteOrder::Big
    } else if magic == [0x4d, 0x3c, 0x2b, 0x1a] {
        ByteOrder::Little
    } else {
        let problem = Problem::ByteOrderMagic(u32::from_be_bytes(magic));
        return Err(malformed(WHAT, start, problem));
    };
    let len = order.u32([l0, l1, l2, l3]);
    if len % 4 != 0 || len < BLOCK_OVERHEAD + SECTION_HEADER_FIELDS {
        return Err(malformed(WHAT, start, Problem::BlockLength(len)));
    }
    // The body after the byte-order magic, read above.
    let body = len.saturating_sub(BLOCK_OVERHEAD + 4);
    let mut block = Region::new(input, WHAT, start, body.into(), order);
    let major = block.u16()?;
    let minor = block.u16()?;
    if major != 1 {
        return Err(block.malformed(Problem::Version { major, minor }));
    }
    // The section length, and options: nothing a reader of records needs.
    block.finish(len)?;
    Ok(order)
}

/// The error for an input that ends inside the block that began at `start`.
fn cut(what: &'static str, start: u64) -> Error {
    Error::Truncated {
        what,
        offset: start,
    }
}

/// The error for a block that began at `start` and breaks the format's rules.
fn malformed(what: &'static str, start: u64, problem: Problem) -> Error {
    Error::Malformed {
        what,
        offset: start,
        problem,
    }
}

/// The name of a block type, for errors.
fn block_name(kind: u32) -> &'static str {
    match kind {
        INTERFACE_DESCRIPTION => "pcapng Interface Description Block",
        PACKET => "pcapng Packet Block",
        SIMPLE_PACKET => "pcapng Simple Packet Block",
        4 => "pcapng Name Resolution Block",
        5 => "pcapng Interface Statistics Block",
        ENHANCED_PACKET => "pcapng Enhanced Packet Block",
        10 => "pcapng Decryption Secrets Block",
        _ => "pcapng block",
    }
}
