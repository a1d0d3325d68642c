//! IEEE 802.1Q (TPID 0x8100) and 802.1ad (TPID 0x88a8) VLAN tags.
//!
//! The TPID is the EtherType field of the header before the tag, so a tag view covers the
//! 4 bytes after it: the tag control information (PCP, DEI, VID) and the EtherType of what
//! follows. Stacked tags (QinQ) are successive views.

// Reached by untrusted bytes: no arithmetic that could overflow but where an `allow`
// says why it cannot. Indexing is the views' design: accessors index the field ranges
// `check_len` proved present (or that a `new_unchecked` caller vouches for).
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::fmt;

use super::ethernet::EtherType;
use super::{get_u16, require, require_room, set_u16};
use crate::error::{Error, ErrorKind, Layer, Result};

/// Field ranges of a VLAN tag after its TPID.
mod field {
    use core::ops::Range;
    pub const TCI: Range<usize> = 0..2;
    pub const ETHERTYPE: Range<usize> = 2..4;
    pub const PAYLOAD: usize = ETHERTYPE.end;
}

/// Length of a tag after its TPID.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A 12-bit VLAN identifier (IEEE 802.1Q 9.6): 0 marks a priority tag, 4095 is reserved,
/// 1..=4094 name VLANs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct VlanId(u16);

impl VlanId {
    /// Largest value of the 12-bit field.
    pub const MAX: u16 = 0x0fff;

    /// A VLAN ID from any 12-bit value, 0 and 4095 included.
    ///
    /// # Errors
    /// `OutOfRange` above 4095.
    #[inline]
    pub const fn new(value: u16) -> Result<Self> {
        if value > Self::MAX {
            Err(Error::new(
                Layer::Vlan,
                ErrorKind::OutOfRange {
                    field: "VLAN ID",
                    value: value as u32,
                },
            ))
        } else {
            Ok(VlanId(value))
        }
    }

    /// A VLAN ID that names a VLAN: 1..=4094.
    ///
    /// # Errors
    /// `OutOfRange` for 0 (priority tag), 4095 (reserved) and above.
    #[inline]
    pub const fn usable(value: u16) -> Result<Self> {
        match Self::new(value) {
            Ok(id) if id.is_usable() => Ok(id),
            _ => Err(Error::new(
                Layer::Vlan,
                ErrorKind::OutOfRange {
                    field: "usable VLAN ID",
                    value: value as u32,
                },
            )),
        }
    }

    /// The 12-bit value.
    #[inline]
    pub const fn get(self) -> u16 {
        self.0
    }

    /// True for 0: the tag carries a priority only.
    #[inline]
    pub const fn is_priority_tag(self) -> bool {
        self.0 == 0
    }

    /// True for 4095, reserved by IEEE 802.1Q.
    #[inline]
    pub const fn is_reserved(self) -> bool {
        self.0 == Self::MAX
    }

    /// True for 1..=4094.
    #[inline]
    pub const fn is_usable(self) -> bool {
        !self.is_priority_tag() && !self.is_reserved()
    }
}

impl fmt::Display for VlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A view of one VLAN tag (the 4 bytes after its TPID) and what follows it.
///
/// ```
/// use tunnelwire::wire::{EtherType, VlanTag};
///
/// // PCP 5, VID 100, then IPv4.
/// let bytes = [0xa0, 0x64, 0x08, 0x00];
/// let tag = VlanTag::new_checked(&bytes[..])?;
/// assert_eq!((tag.pcp(), tag.vid().get()), (5, 100));
/// assert_eq!(tag.ethertype(), EtherType::IPV4);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Wraps a buffer without checking it; accessors may panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanTag { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    ///
    /// # Errors
    /// `Truncated` when the buffer is shorter than 4 bytes.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let tag = Self::new_unchecked(buffer);
        tag.check_len()?;
        Ok(tag)
    }

    /// Checks that the buffer holds the whole tag.
    ///
    /// # Errors
    /// `Truncated` when the buffer is shorter than 4 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        require(Layer::Vlan, self.buffer.as_ref(), HEADER_LEN)
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn tci(&self) -> u16 {
        get_u16(&self.buffer.as_ref()[field::TCI])
    }

    /// Priority code point (3 bits).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier.
    #[inline]
    pub fn vid(&self) -> VlanId {
        VlanId(self.tci() & VlanId::MAX)
    }

    /// EtherType of what follows the tag (or the TPID of a further tag).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType(get_u16(&self.buffer.as_ref()[field::ETHERTYPE]))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> VlanTag<&'a T> {
    /// What follows the tag, borrowed from the original buffer.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    #[inline]
    fn set_tci(&mut self, tci: u16) {
        set_u16(&mut self.buffer.as_mut()[field::TCI], tci);
    }

    /// Sets the priority code point; only its low 3 bits are used.
    #[inline]
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & 0x1fff) | (u16::from(pcp & 0x07) << 13);
        self.set_tci(tci);
    }

    /// Sets the drop eligible indicator.
    #[inline]
    pub fn set_dei(&mut self, dei: bool) {
        let tci = (self.tci() & !0x1000) | if dei { 0x1000 } else { 0 };
        self.set_tci(tci);
    }

    /// Sets the VLAN identifier.
    #[inline]
    pub fn set_vid(&mut self, vid: VlanId) {
        let tci = (self.tci() & !VlanId::MAX) | vid.0;
        self.set_tci(tci);
    }

    /// Sets the EtherType of what follows.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        set_u16(&mut self.buffer.as_mut()[field::ETHERTYPE], ethertype.0);
    }

    /// What follows the tag, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// Parses one tag after its TPID; the rest is what follows it.
///
/// # Errors
/// `Truncated` when fewer than 4 bytes remain.
#[inline]
pub fn parse(input: &[u8]) -> Result<(&[u8], VlanTag<&[u8]>)> {
    let tag = VlanTag::new_checked(input)?;
    Ok((tag.payload(), tag))
}

/// A VLAN tag's fields, owned (the TPID belongs to the header before it).
///
/// ```
/// use tunnelwire::wire::{EtherType, VlanId, VlanRepr, VlanTag};
///
/// let repr = VlanRepr { pcp: 5, dei: false, vid: VlanId::usable(100)?, ethertype: EtherType::IPV4 };
/// let mut bytes = [0u8; 4];
/// repr.emit(&mut bytes)?;
/// assert_eq!(bytes, [0xa0, 0x64, 0x08, 0x00]);
/// assert_eq!(VlanRepr::parse(&VlanTag::new_checked(&bytes[..])?), repr);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanRepr {
    /// Priority code point (0..=7).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier.
    pub vid: VlanId,
    /// EtherType of what follows.
    pub ethertype: EtherType,
}

impl VlanRepr {
    /// Reads a checked tag.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(tag: &VlanTag<T>) -> Self {
        VlanRepr {
            pcp: tag.pcp(),
            dei: tag.dei(),
            vid: tag.vid(),
            ethertype: tag.ethertype(),
        }
    }

    /// Bytes the tag occupies after its TPID: 4.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the tag into the first 4 bytes of `buffer`.
    ///
    /// # Errors
    /// `BufferTooSmall` when `buffer` is shorter than 4 bytes.
    #[inline]
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        require_room(Layer::Vlan, buffer, HEADER_LEN)?;
        let mut tag = VlanTag::new_unchecked(buffer);
        tag.set_tci(0);
        tag.set_pcp(self.pcp);
        tag.set_dei(self.dei);
        tag.set_vid(self.vid);
        tag.set_ethertype(self.ethertype);
        Ok(())
    }
}

impl fmt::Display for VlanRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VLAN vid {} pcp {}{} type {}",
            self.vid,
            self.pcp,
            if self.dei { " dei" } else { "" },
            self.ethertype
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // PCP 5, DEI set, VID 0x123; then IPv4.
    static TAG: [u8; 6] = [0xb1, 0x23, 0x08, 0x00, 0x45, 0x00];

    #[test]
    fn deconstruct() {
        let tag = VlanTag::new_checked(&TAG[..]).unwrap();
        assert_eq!(tag.pcp(), 5);
        assert!(tag.dei());
        assert_eq!(tag.vid().get(), 0x123);
        assert_eq!(tag.ethertype(), EtherType::IPV4);
        assert_eq!(tag.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn construct_round_trip() {
        let repr = VlanRepr::parse(&VlanTag::new_checked(&TAG[..]).unwrap());
        let mut bytes = [0u8; 4];
        repr.emit(&mut bytes).unwrap();
        assert_eq!(bytes, TAG[..4]);
    }

    #[test]
    fn stacked_tags_parse_in_order() {
        // S-tag VID 100 carrying a C-tag (0x8100) VID 200 carrying IPv4.
        let bytes = [0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00];
        let (rest, outer) = parse(&bytes).unwrap();
        let (rest, inner) = parse(rest).unwrap();
        assert_eq!(outer.vid().get(), 100);
        assert_eq!(outer.ethertype(), EtherType::VLAN);
        assert_eq!(inner.vid().get(), 200);
        assert_eq!(inner.ethertype(), EtherType::IPV4);
        assert!(rest.is_empty());
    }

    #[test]
    fn vlan_id_ranges() {
        assert!(VlanId::new(0).unwrap().is_priority_tag());
        assert!(VlanId::new(4095).unwrap().is_reserved());
        assert!(VlanId::new(4096).is_err());
        assert!(VlanId::usable(0).is_err());
        assert!(VlanId::usable(4095).is_err());
        assert_eq!(VlanId::usable(4094).unwrap().get(), 4094);
    }

    #[test]
    fn truncated_tag_is_an_error() {
        assert_eq!(
            VlanTag::new_checked(&TAG[..3]).unwrap_err().layer,
            Layer::Vlan
        );
    }
}
