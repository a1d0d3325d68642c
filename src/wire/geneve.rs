//! Geneve header ([RFC 8926] section 3.4): version, options length, the O and C bits, a
//! protocol type, a 24-bit VNI, then variable-length options (section 3.5).
//!
//! A checked view has version 0, its options inside the packet and every option inside
//! the options area, so the option iterator never meets a malformed option. Reserved
//! bits are ignored on receipt (section 3.4: "MUST be ignored by receivers") and kept by
//! [`GeneveRepr`], as are each option's three reserved bits.
//!
//! Options are read in place by [`GeneveHeader::options`] and written by
//! [`GeneveOptions`], a fixed-capacity builder (no allocation: the options area holds at
//! most 252 bytes).
//!
//! [RFC 8926]: https://www.rfc-editor.org/rfc/rfc8926

// Reached by untrusted bytes: no arithmetic that could overflow but where an `allow`
// says why it cannot. Indexing is the views' design: accessors index the field ranges
// `check_len` proved present (or that a `new_unchecked` caller vouches for).
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::fmt;

use super::ethernet::EtherType;
use super::vxlan::Vni;
use super::{get_u16, get_u32, require, require_room, set_u16, set_u24};
use crate::error::{Error, ErrorKind, Layer, Result};

// Options read in place (one, and the iterator) and the builder that writes them.
mod options;
pub use options::{GeneveOption, GeneveOptionIter, GeneveOptions};

/// Field ranges of the Geneve header's fixed part.
mod field {
    use core::ops::Range;
    /// Version (2 bits) and options length in 4-byte words (6 bits).
    pub const VER_OPT_LEN: usize = 0;
    /// O, C, then 6 reserved bits.
    pub const FLAGS: usize = 1;
    pub const PROTOCOL: Range<usize> = 2..4;
    pub const VNI: Range<usize> = 4..7;
    pub const RESERVED2: usize = 7;
    /// The VNI and the reserved byte after it: one 32-bit word.
    pub const VNI_WORD: Range<usize> = VNI.start..RESERVED2 + 1;
    pub const OPTIONS: usize = RESERVED2 + 1;
}

/// Field ranges of one option (RFC 8926 section 3.5), from the option's first byte.
mod option_field {
    use core::ops::Range;
    pub const CLASS: Range<usize> = 0..2;
    pub const TYPE: usize = 2;
    /// Three reserved bits, then the data length in 4-byte words (5 bits).
    pub const LENGTH: usize = 3;
    pub const DATA: usize = LENGTH + 1;
}

/// Length of the Geneve header's fixed part, without options.
pub const HEADER_LEN: usize = field::OPTIONS;
/// IANA-assigned UDP destination port for Geneve (RFC 8926 section 3.3).
pub const PORT: u16 = 6081;
/// Largest options area: the 6-bit Opt Len counts up to 63 four-byte words.
pub const MAX_OPTIONS_LEN: usize = 63 * 4;
/// Length of an option's header: class, type and length.
pub const OPTION_HEADER_LEN: usize = option_field::DATA;
/// Largest option data: the 5-bit Length counts up to 31 four-byte words.
pub const MAX_OPTION_DATA_LEN: usize = 31 * 4;
/// The O bit: a control message, not a tenant's frame (RFC 8926 section 3.4).
pub const FLAG_O: u8 = 0x80;
/// The C bit: critical options are present (RFC 8926 section 3.4).
pub const FLAG_C: u8 = 0x40;
/// Option type bit marking a critical option (RFC 8926 section 3.5): a tunnel endpoint
/// that does not understand it MUST drop the packet.
pub const OPTION_CRITICAL: u8 = 0x80;

const VERSION_SHIFT: u32 = 6;
const OPT_LEN_MASK: u8 = 0x3f;
const RESERVED1_MASK: u8 = 0x3f;
const OPTION_LEN_MASK: u8 = 0x1f;
const OPTION_RESERVED_SHIFT: u32 = 5;

/// Bytes a 4-byte-word count stands for; at most 63 words, so no overflow.
#[inline]
const fn words(count: u8) -> usize {
    (count as usize) << 2
}

/// Checks an options area: a sequence of whole options, each inside the area.
///
/// # Errors
/// `LengthOverrun("option Length")` for an option whose data runs past the area or whose
/// header does not fit in it.
#[inline]
pub fn check_options(area: &[u8]) -> Result<()> {
    // One option filling the area (the common area: OVN's option alone) tested in place
    // of the walk, its length read once and the loop's state not set up: 6 instructions
    // fewer per such header (benches/profile.sh geneve_stack: 13 for the walk's one
    // round, 7 for this).
    if let Some(&length) = area.get(option_field::LENGTH) {
        if OPTION_HEADER_LEN.saturating_add(words(length & OPTION_LEN_MASK)) == area.len() {
            return Ok(());
        }
    }
    let mut rest = area;
    while !rest.is_empty() {
        let option_len = match rest.get(option_field::LENGTH) {
            Some(&length) => OPTION_HEADER_LEN.saturating_add(words(length & OPTION_LEN_MASK)),
            None => OPTION_HEADER_LEN,
        };
        match rest.get(option_len..) {
            Some(after) => rest = after,
            None => {
                return Err(Error::new(
                    Layer::Geneve,
                    // Both below 260: an option's 4 + 124 bytes, in at most 252.
                    ErrorKind::LengthOverrun {
                        field: "option Length",
                        needed: option_len as u16,
                        available: rest.len() as u16,
                    },
                ));
            }
        }
    }
    Ok(())
}

/// A view of a Geneve header, its options and the payload after them.
///
/// ```
/// use tunnelwire::wire::GeneveHeader;
///
/// // Version 0, 8 bytes of options, C set, Ethernet payload, VNI 42, then OVN's option
/// // (class 0x0102, type 0x80: critical, 4 bytes of data).
/// let bytes = [
///     0x02, 0x40, 0x65, 0x58, 0, 0, 42, 0,
///     0x01, 0x02, 0x80, 0x01, 0, 1, 0, 2,
///     0xaa,
/// ];
/// let header = GeneveHeader::new_checked(&bytes[..])?;
/// assert_eq!((header.vni().get(), header.critical()), (42, true));
/// let option = header.options().next().expect("one option");
/// assert_eq!((option.class(), option.option_type(), option.data()), (0x0102, 0x80, &[0, 1, 0, 2][..]));
/// assert!(option.is_critical());
/// assert_eq!(header.payload(), &[0xaa]);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GeneveHeader<T> {
    /// Wraps a buffer without checking it; accessors may panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        GeneveHeader { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    ///
    /// # Errors
    /// As [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Checks that the buffer holds the fixed header and the options it announces, that
    /// the version is 0 and that every option lies inside the options area. Reserved
    /// bits are not checked.
    ///
    /// # Errors
    /// `Truncated` below 8 bytes; `Version` unless 0; `LengthOverrun("Opt Len")` when the
    /// options run past the buffer; `LengthOverrun("option Length")` when an option runs
    /// past the options area.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let buffer = self.buffer.as_ref();
        require(Layer::Geneve, buffer, HEADER_LEN)?;
        if self.version() != 0 {
            return Err(Error::new(
                Layer::Geneve,
                ErrorKind::Version {
                    found: self.version(),
                    expected: 0,
                },
            ));
        }
        let Some(area) = buffer.get(field::OPTIONS..self.header_len()) else {
            return Err(Error::new(
                Layer::Geneve,
                // Both at most 260: the buffer is shorter than the header's length.
                ErrorKind::LengthOverrun {
                    field: "Opt Len",
                    needed: self.header_len() as u16,
                    available: buffer.len() as u16,
                },
            ));
        };
        check_options(area)
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version (0 for a checked header).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPT_LEN] >> VERSION_SHIFT
    }

    /// Length of the options in bytes (Opt Len times 4).
    #[inline]
    pub fn options_len(&self) -> usize {
        words(self.buffer.as_ref()[field::VER_OPT_LEN] & OPT_LEN_MASK)
    }

    /// Length of the header with its options: 8 plus the options length.
    #[inline]
    #[allow(clippy::arithmetic_side_effects)] // at most 8 + 252
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// The O bit: a control message (RFC 8926 section 3.4).
    #[inline]
    pub fn oam(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_O != 0
    }

    /// The C bit: the sender says critical options are present.
    #[inline]
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_C != 0
    }

    /// The 6 reserved bits after O and C.
    #[inline]
    pub fn reserved1(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS] & RESERVED1_MASK
    }

    /// The protocol type of the payload: 0x6558 for Ethernet, 0x0800 or 0x86DD for IP.
    #[inline]
    pub fn protocol(&self) -> EtherType {
        EtherType(get_u16(&self.buffer.as_ref()[field::PROTOCOL]))
    }

    /// The virtual network identifier.
    #[inline(always)]
    pub fn vni(&self) -> Vni {
        // One 32-bit load whose high 24 bits are the VNI, as VXLAN's.
        Vni::new(get_u32(&self.buffer.as_ref()[field::VNI_WORD]) >> 8).unwrap_or_default()
    }

    /// The 8 reserved bits after the VNI.
    #[inline]
    pub fn reserved2(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED2]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> GeneveHeader<&'a T> {
    /// The options area, raw.
    #[inline]
    pub fn options_bytes(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// The options, in order, read in place.
    #[inline]
    pub fn options(&self) -> GeneveOptionIter<'a> {
        GeneveOptionIter::new(self.options_bytes())
    }

    /// What follows the options: an Ethernet frame or an IP packet, by
    /// [`protocol`](GeneveHeader::protocol).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GeneveHeader<T> {
    /// Sets version 0 and the options length in bytes (a multiple of 4, at most 252;
    /// other bits are dropped).
    #[inline]
    pub fn set_options_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::VER_OPT_LEN] = (len >> 2) as u8 & OPT_LEN_MASK;
    }

    /// Sets the O and C bits and the 6 reserved bits after them.
    #[inline]
    pub fn set_flags(&mut self, oam: bool, critical: bool, reserved1: u8) {
        let o = if oam { FLAG_O } else { 0 };
        let c = if critical { FLAG_C } else { 0 };
        self.buffer.as_mut()[field::FLAGS] = o | c | (reserved1 & RESERVED1_MASK);
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol(&mut self, protocol: EtherType) {
        set_u16(&mut self.buffer.as_mut()[field::PROTOCOL], protocol.0);
    }

    /// Sets the VNI.
    #[inline]
    pub fn set_vni(&mut self, vni: Vni) {
        set_u24(&mut self.buffer.as_mut()[field::VNI], vni.get());
    }

    /// Sets the 8 reserved bits after the VNI.
    #[inline]
    pub fn set_reserved2(&mut self, value: u8) {
        self.buffer.as_mut()[field::RESERVED2] = value;
    }

    /// The options area, mutable (as long as the options length says).
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    /// The payload after the options, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// Parses a Geneve header and its options; the rest is the payload.
///
/// # Errors
/// As [`GeneveHeader::check_len`].
#[inline]
pub fn parse(input: &[u8]) -> Result<(&[u8], GeneveHeader<&[u8]>)> {
    let header = GeneveHeader::new_checked(input)?;
    Ok((header.payload(), header))
}

/// A Geneve header's fields and options, owned and lossless (reserved bits kept).
///
/// ```
/// use tunnelwire::wire::{EtherType, GeneveHeader, GeneveOptions, GeneveRepr, Vni};
///
/// let mut options = GeneveOptions::new();
/// options.push(0x0102, 0x80, &[0, 1, 0, 2])?;
/// let repr = GeneveRepr::new(Vni::new(42)?, EtherType::TRANSPARENT_ETHERNET_BRIDGING)
///     .with_options(options);
/// let mut bytes = [0u8; 16];
/// repr.emit(&mut bytes)?;
/// assert_eq!(bytes[..8], [0x02, 0x40, 0x65, 0x58, 0, 0, 42, 0]); // C set by the option
/// assert_eq!(GeneveRepr::parse(&GeneveHeader::new_checked(&bytes[..])?), repr);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GeneveRepr {
    /// The O bit: a control message.
    pub oam: bool,
    /// The C bit: critical options present.
    pub critical: bool,
    /// The 6 reserved bits after O and C.
    pub reserved1: u8,
    /// The protocol type of the payload.
    pub protocol: EtherType,
    /// The VNI.
    pub vni: Vni,
    /// The 8 reserved bits after the VNI.
    pub reserved2: u8,
    /// The options, as on the wire.
    pub options: GeneveOptions,
}

impl GeneveRepr {
    /// A new header for `vni` carrying `protocol`: O and C clear, reserved bits zero, no
    /// options.
    #[inline]
    pub const fn new(vni: Vni, protocol: EtherType) -> Self {
        GeneveRepr {
            oam: false,
            critical: false,
            reserved1: 0,
            protocol,
            vni,
            reserved2: 0,
            options: GeneveOptions::new(),
        }
    }

    /// The same header with `options`, the C bit set when one of them is critical.
    #[must_use]
    #[inline]
    pub fn with_options(mut self, options: GeneveOptions) -> Self {
        self.critical = options.has_critical();
        self.options = options;
        self
    }

    /// Reads a checked header.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(header: &GeneveHeader<T>) -> Self {
        let area = header
            .buffer
            .as_ref()
            .get(field::OPTIONS..header.header_len());
        GeneveRepr {
            oam: header.oam(),
            critical: header.critical(),
            reserved1: header.reserved1(),
            protocol: header.protocol(),
            vni: header.vni(),
            reserved2: header.reserved2(),
            // A checked header's options always fit.
            options: area
                .and_then(|area| GeneveOptions::from_bytes(area).ok())
                .unwrap_or_default(),
        }
    }

    /// Bytes the header occupies: 8 plus the options.
    #[inline]
    #[allow(clippy::arithmetic_side_effects)] // at most 8 + 252
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.options.len()
    }

    /// Writes the header and its options into the start of `buffer`.
    ///
    /// # Errors
    /// `BufferTooSmall` when `buffer` is shorter than [`buffer_len`](Self::buffer_len).
    #[inline]
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        require_room(Layer::Geneve, buffer, self.buffer_len())?;
        let mut header = GeneveHeader::new_unchecked(buffer);
        header.set_options_len(self.options.len());
        header.set_flags(self.oam, self.critical, self.reserved1);
        header.set_protocol(self.protocol);
        header.set_vni(self.vni);
        header.set_reserved2(self.reserved2);
        header
            .options_mut()
            .copy_from_slice(self.options.as_bytes());
        Ok(())
    }
}

impl fmt::Display for GeneveRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Geneve vni {} protocol {:#06x} options {} bytes",
            self.vni,
            self.protocol.0,
            self.options.len()
        )?;
        if self.oam {
            f.write_str(" O")?;
        }
        if self.critical {
            f.write_str(" C")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
