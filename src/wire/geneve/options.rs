//! Geneve options (RFC 8926 section 3.5): one read in place ([`GeneveOption`]), the
//! options of an area in order ([`GeneveOptionIter`]), and [`GeneveOptions`], the
//! fixed-capacity builder that writes them.

use core::fmt;

use super::{
    MAX_OPTION_DATA_LEN, MAX_OPTIONS_LEN, OPTION_CRITICAL, OPTION_HEADER_LEN, OPTION_LEN_MASK,
    OPTION_RESERVED_SHIFT, check_options, option_field, words,
};
use crate::error::{Error, ErrorKind, Layer, Result};
use crate::wire::{get_u16, set_u16};

/// One option, read in place (RFC 8926 section 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveOption<'a> {
    /// The whole option: its 4-byte header and its data.
    bytes: &'a [u8],
}

impl<'a> GeneveOption<'a> {
    /// The option class (the namespace of the type: 0x0102 is OVN's, 0x0108 AWS's).
    #[inline]
    pub fn class(&self) -> u16 {
        get_u16(&self.bytes[option_field::CLASS])
    }

    /// The type, its high bit the critical bit.
    #[inline]
    pub fn option_type(&self) -> u8 {
        self.bytes[option_field::TYPE]
    }

    /// True when the type's high bit is set: an endpoint that does not understand the
    /// option must drop the packet.
    #[inline]
    pub fn is_critical(&self) -> bool {
        self.option_type() & OPTION_CRITICAL != 0
    }

    /// The three reserved bits before the length.
    #[inline]
    pub fn reserved(&self) -> u8 {
        self.bytes[option_field::LENGTH] >> OPTION_RESERVED_SHIFT
    }

    /// The option's data (its Length times 4 bytes).
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.bytes[option_field::DATA..]
    }

    /// The whole option, header and data, as on the wire.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// The options of an options area, in order. It ends at the first option that does not
/// fit, which a checked header or [`GeneveOptions`] never holds.
#[derive(Debug, Clone)]
pub struct GeneveOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> GeneveOptionIter<'a> {
    /// The options of an options area (checked or not: the iteration ends at an option
    /// that runs past the area).
    #[inline]
    pub fn new(area: &'a [u8]) -> Self {
        GeneveOptionIter { rest: area }
    }
}

impl<'a> Iterator for GeneveOptionIter<'a> {
    type Item = GeneveOption<'a>;

    #[inline]
    fn next(&mut self) -> Option<GeneveOption<'a>> {
        let length = *self.rest.get(option_field::LENGTH)?;
        let option_len = OPTION_HEADER_LEN.saturating_add(words(length & OPTION_LEN_MASK));
        let Some((bytes, rest)) = self.rest.split_at_checked(option_len) else {
            self.rest = &[];
            return None;
        };
        self.rest = rest;
        Some(GeneveOption { bytes })
    }
}

/// An options area, owned, built option by option or taken from bytes: what an
/// encapsulator writes after each header. Fixed capacity (252 bytes), no allocation.
///
/// ```
/// use tunnelwire::wire::GeneveOptions;
///
/// let mut options = GeneveOptions::new();
/// options.push(0x0102, 0x80, &[0, 1, 0, 2])?; // OVN's, critical
/// options.push(0x0108, 0x01, &[0; 8])?;
/// assert_eq!(options.len(), 8 + 12);
/// assert!(options.has_critical());
/// assert_eq!(options.iter().map(|o| o.class()).collect::<Vec<_>>(), [0x0102, 0x0108]);
/// // Data is a whole number of 4-byte words.
/// assert!(options.push(0x0102, 1, &[1, 2, 3]).is_err());
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GeneveOptions {
    bytes: [u8; MAX_OPTIONS_LEN],
    len: u8,
}

impl GeneveOptions {
    /// No options.
    #[inline]
    pub const fn new() -> Self {
        GeneveOptions {
            bytes: [0; MAX_OPTIONS_LEN],
            len: 0,
        }
    }

    /// The options of an options area, as on the wire.
    ///
    /// # Errors
    /// `OutOfRange` for an area over 252 bytes or not a multiple of 4; as
    /// [`check_options`] for an option that runs past it.
    pub fn from_bytes(area: &[u8]) -> Result<Self> {
        let mut options = Self::new();
        let Some(slot) = options
            .bytes
            .get_mut(..area.len())
            .filter(|_| area.len() % 4 == 0)
        else {
            return Err(options_len_error(area.len()));
        };
        check_options(area)?;
        slot.copy_from_slice(area);
        options.len = area.len() as u8;
        Ok(options)
    }

    /// Appends an option: `class`, `option_type` (bit 0x80 critical) and `data`, a whole
    /// number of 4-byte words, at most 124 bytes; the three reserved bits are zero.
    ///
    /// # Errors
    /// `OutOfRange` for data that is not a multiple of 4 bytes or over 124, or when the
    /// options would pass 252 bytes.
    pub fn push(&mut self, class: u16, option_type: u8, data: &[u8]) -> Result<()> {
        if data.len() % 4 != 0 || data.len() > MAX_OPTION_DATA_LEN {
            return Err(Error::new(
                Layer::Geneve,
                ErrorKind::OutOfRange {
                    field: "option data length (whole 4-byte words, at most 124 bytes)",
                    value: u32::try_from(data.len()).unwrap_or(u32::MAX),
                },
            ));
        }
        let start = usize::from(self.len);
        // At most 252 + 4 + 124: no overflow.
        #[allow(clippy::arithmetic_side_effects)]
        let end = start + OPTION_HEADER_LEN + data.len();
        let Some(slot) = self.bytes.get_mut(start..end) else {
            return Err(options_len_error(end));
        };
        let (header, rest) = slot.split_at_mut(OPTION_HEADER_LEN);
        set_u16(&mut header[option_field::CLASS], class);
        header[option_field::TYPE] = option_type;
        header[option_field::LENGTH] = (data.len() >> 2) as u8;
        rest.copy_from_slice(data);
        self.len = end as u8;
        Ok(())
    }

    /// The options area, as on the wire.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Bytes of options (a multiple of 4, at most 252).
    #[inline]
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// True without options.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The options, in order.
    #[inline]
    pub fn iter(&self) -> GeneveOptionIter<'_> {
        GeneveOptionIter::new(self.as_bytes())
    }

    /// True when an option is critical: the header's C bit.
    #[inline]
    pub fn has_critical(&self) -> bool {
        self.iter().any(|option| option.is_critical())
    }
}

impl Default for GeneveOptions {
    #[inline]
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for GeneveOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The error for an options area over 252 bytes or not a multiple of 4.
#[cold]
fn options_len_error(len: usize) -> Error {
    Error::new(
        Layer::Geneve,
        ErrorKind::OutOfRange {
            field: "options length (whole 4-byte words, at most 252 bytes)",
            value: u32::try_from(len).unwrap_or(u32::MAX),
        },
    )
}
