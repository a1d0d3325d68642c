//! VXLAN header ([RFC 7348] section 5): flags with the I bit, a 24-bit VNI, reserved bits.
//!
//! RFC 7348 says reserved bits "MUST be set to zero on transmission and ignored on
//! receipt", so a checked view accepts them and decodes the VNI all the same. Linux drops
//! such packets; [`ReservedPolicy::Reject`] offers that strict behaviour. Headers built by
//! [`VxlanRepr::new`] have them zero.
//!
//! [RFC 7348]: https://www.rfc-editor.org/rfc/rfc7348

// Reached by untrusted bytes: no arithmetic that could overflow but where an `allow`
// says why it cannot. Indexing is the views' design: accessors index the field ranges
// `check_len` proved present (or that a `new_unchecked` caller vouches for).
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::fmt;

use super::{get_u24, get_u32, require, require_room, segment_id, set_u24};
use crate::error::{Error, ErrorKind, Layer, Result};

/// Field ranges of the VXLAN header.
mod field {
    use core::ops::Range;
    pub const FLAGS: usize = 0;
    pub const RESERVED1: Range<usize> = 1..4;
    pub const VNI: Range<usize> = 4..7;
    pub const RESERVED2: usize = 7;
    /// The VNI and the reserved byte after it: one 32-bit word.
    pub const VNI_WORD: Range<usize> = VNI.start..RESERVED2 + 1;
    pub const PAYLOAD: usize = RESERVED2 + 1;
}

/// Length of the VXLAN header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// IANA-assigned UDP destination port for VXLAN (RFC 7348 section 5).
pub const PORT: u16 = 4789;
/// The I flag: the VNI is valid (RFC 7348 section 5). It must be set.
pub const FLAG_I: u8 = 0x08;

/// What to do with non-zero reserved bits on receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReservedPolicy {
    /// Ignore them, as RFC 7348 section 5 requires. The default.
    #[default]
    Ignore,
    /// Reject the packet, as the Linux kernel does.
    Reject,
}

segment_id!(
    /// A 24-bit VXLAN network identifier (RFC 7348 section 5).
    Vni,
    Layer::Vxlan,
    "VNI"
);

/// A view of a VXLAN header and the inner frame after it.
///
/// ```
/// use tunnelwire::wire::VxlanHeader;
///
/// let bytes = [0x08, 0, 0, 0, 0, 0x10, 0x92, 0, 0xaa];
/// let header = VxlanHeader::new_checked(&bytes[..])?;
/// assert_eq!(header.vni().get(), 4242);
/// assert_eq!(header.payload(), &[0xaa]);
/// // Without the I flag it is not VXLAN.
/// assert!(VxlanHeader::new_checked(&[0u8; 8][..]).is_err());
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VxlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VxlanHeader<T> {
    /// Wraps a buffer without checking it; accessors may panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        VxlanHeader { buffer }
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

    /// Checks that the buffer holds the header and that the I flag is set. Reserved bits
    /// are not checked (see [`check_reserved`](Self::check_reserved)).
    ///
    /// # Errors
    /// `Truncated` below 8 bytes; `FlagClear("I")` when the I flag is clear.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        require(Layer::Vxlan, self.buffer.as_ref(), HEADER_LEN)?;
        if self.flags() & FLAG_I == 0 {
            return Err(Error::new(Layer::Vxlan, ErrorKind::FlagClear("I")));
        }
        Ok(())
    }

    /// Applies a reserved-bits policy to a checked header.
    ///
    /// # Errors
    /// Under [`ReservedPolicy::Reject`], `Reserved` naming the first non-zero field.
    // The policy test always inlined, the default policy costing one compare; the
    // checks of the strict one left to the optimiser.
    #[inline(always)]
    pub fn check_reserved(&self, policy: ReservedPolicy) -> Result<()> {
        if policy == ReservedPolicy::Ignore {
            return Ok(());
        }
        self.check_reserved_zero()
    }

    /// `Reserved` naming the first non-zero reserved field.
    #[inline]
    fn check_reserved_zero(&self) -> Result<()> {
        let fields = [
            ("flag bits", u32::from(self.flags() & !FLAG_I)),
            ("bits 8-31", self.reserved1()),
            ("bits 56-63", u32::from(self.reserved2())),
        ];
        match fields.into_iter().find(|&(_, value)| value != 0) {
            Some((field, value)) => Err(Error::new(
                Layer::Vxlan,
                ErrorKind::Reserved { field, value },
            )),
            None => Ok(()),
        }
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole flags byte (I is 0x08; the others are reserved).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The 24 reserved bits after the flags.
    // Always inlined, like `vni`: a load, and large callers otherwise call it.
    #[inline(always)]
    pub fn reserved1(&self) -> u32 {
        get_u24(&self.buffer.as_ref()[field::RESERVED1])
    }

    /// The VXLAN network identifier.
    #[inline(always)]
    pub fn vni(&self) -> Vni {
        // One 32-bit load whose high 24 bits are the VNI: three byte loads cost four
        // more instructions.
        Vni(get_u32(&self.buffer.as_ref()[field::VNI_WORD]) >> 8)
    }

    /// The 8 reserved bits after the VNI.
    #[inline]
    pub fn reserved2(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED2]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> VxlanHeader<&'a T> {
    /// The inner Ethernet frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VxlanHeader<T> {
    /// Sets the whole flags byte.
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[field::FLAGS] = flags;
    }

    /// Sets the 24 reserved bits after the flags (the high byte is ignored).
    #[inline]
    pub fn set_reserved1(&mut self, value: u32) {
        set_u24(&mut self.buffer.as_mut()[field::RESERVED1], value);
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

    /// The inner frame, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// Parses a VXLAN header; the rest is the inner frame.
///
/// # Errors
/// As [`VxlanHeader::check_len`].
#[inline]
pub fn parse(input: &[u8]) -> Result<(&[u8], VxlanHeader<&[u8]>)> {
    let header = VxlanHeader::new_checked(input)?;
    Ok((header.payload(), header))
}

/// A VXLAN header's fields, owned and lossless (reserved bits kept).
///
/// ```
/// use tunnelwire::wire::{Vni, VxlanHeader, VxlanRepr};
///
/// let mut bytes = [0u8; 8];
/// VxlanRepr::new(Vni::new(4242)?).emit(&mut bytes)?;
/// assert_eq!(bytes, [0x08, 0, 0, 0, 0, 0x10, 0x92, 0]);
/// bytes[7] = 0x5a; // a reserved byte, kept by parse then emit
/// let repr = VxlanRepr::parse(&VxlanHeader::new_checked(&bytes[..])?);
/// let mut again = [0u8; 8];
/// repr.emit(&mut again)?;
/// assert_eq!(again, bytes);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VxlanRepr {
    /// The whole flags byte.
    pub flags: u8,
    /// The 24 reserved bits after the flags.
    pub reserved1: u32,
    /// The VNI.
    pub vni: Vni,
    /// The 8 reserved bits after the VNI.
    pub reserved2: u8,
}

impl VxlanRepr {
    /// A new header for `vni`: I flag set, reserved bits zero.
    #[inline]
    pub const fn new(vni: Vni) -> Self {
        VxlanRepr {
            flags: FLAG_I,
            reserved1: 0,
            vni,
            reserved2: 0,
        }
    }

    /// Reads a checked header.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(header: &VxlanHeader<T>) -> Self {
        VxlanRepr {
            flags: header.flags(),
            reserved1: header.reserved1(),
            vni: header.vni(),
            reserved2: header.reserved2(),
        }
    }

    /// Bytes the header occupies: 8.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 8 bytes of `buffer`.
    ///
    /// # Errors
    /// `BufferTooSmall` when `buffer` is shorter than 8 bytes.
    #[inline]
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        require_room(Layer::Vxlan, buffer, HEADER_LEN)?;
        // The header as one big-endian word, one store: field by field, the 24-bit
        // fields were stored a byte and two apart, and the optimiser kept them so
        // (translation's VXLAN header, 10 stores).
        let word = u64::from(self.flags) << 56
            | u64::from(self.reserved1 & 0xff_ffff) << 32
            | u64::from(self.vni.get()) << 8
            | u64::from(self.reserved2);
        buffer[..HEADER_LEN].copy_from_slice(&word.to_be_bytes());
        Ok(())
    }
}

impl fmt::Display for VxlanRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VXLAN vni {} flags {:#04x}", self.vni, self.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static HEADER: [u8; 10] = [0x08, 0, 0, 0, 0x00, 0x00, 0x2a, 0, 0xaa, 0xbb];

    #[test]
    fn deconstruct() {
        let header = VxlanHeader::new_checked(&HEADER[..]).unwrap();
        assert_eq!(header.flags(), FLAG_I);
        assert_eq!(header.vni(), Vni::new(42).unwrap());
        assert_eq!(header.payload(), &[0xaa, 0xbb]);
        assert!(header.check_reserved(ReservedPolicy::Reject).is_ok());
    }

    #[test]
    fn new_header_has_i_flag_and_zero_reserved_bits() {
        let mut out = [0xffu8; 8];
        VxlanRepr::new(Vni::new(0x123456).unwrap())
            .emit(&mut out)
            .unwrap();
        assert_eq!(out, [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
    }

    #[test]
    fn reserved_bits_ignored_by_default_rejected_when_strict() {
        let bytes = [0x0c, 0x01, 0x02, 0x03, 0xff, 0xff, 0xff, 0x44];
        let header = VxlanHeader::new_checked(&bytes[..]).unwrap();
        assert_eq!(header.vni().get(), Vni::MAX);
        assert!(header.check_reserved(ReservedPolicy::Ignore).is_ok());
        assert_eq!(
            header
                .check_reserved(ReservedPolicy::Reject)
                .unwrap_err()
                .kind,
            ErrorKind::Reserved {
                field: "flag bits",
                value: 0x04
            }
        );
        // Lossless: reserved bits survive parse and emit.
        let mut out = [0u8; 8];
        VxlanRepr::parse(&header).emit(&mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn missing_i_flag_is_an_error() {
        let mut bytes = HEADER;
        bytes[0] = 0;
        assert_eq!(
            VxlanHeader::new_checked(&bytes[..]).unwrap_err().kind,
            ErrorKind::FlagClear("I")
        );
        assert!(VxlanHeader::new_checked(&HEADER[..7]).is_err());
    }

    #[test]
    fn vni_is_24_bits() {
        assert!(Vni::new(Vni::MAX).is_ok());
        assert!(Vni::new(Vni::MAX + 1).is_err());
    }
}
