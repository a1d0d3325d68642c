//! NVGRE ([RFC 7637]): a GRE header ([RFC 2784], [RFC 2890]) with C=0, K=1, S=0, version
//! 0 and protocol type 0x6558, whose key holds a 24-bit VSID and an 8-bit FlowID.
//!
//! Anything else is an error naming the offending bit or field. Bits 1 (R), 4 (s) and 5
//! of the GRE flags are rejected too: RFC 2784 section 2.3 says a receiver that does not
//! implement RFC 1701 MUST discard packets with any of bits 1-5 set. Bits 6-12 are
//! ignored on receipt and kept by [`NvgreRepr`].
//!
//! [RFC 7637]: https://www.rfc-editor.org/rfc/rfc7637
//! [RFC 2784]: https://www.rfc-editor.org/rfc/rfc2784
//! [RFC 2890]: https://www.rfc-editor.org/rfc/rfc2890

// Reached by untrusted bytes: no arithmetic that could overflow but where an `allow`
// says why it cannot. Indexing is the views' design: accessors index the field ranges
// `check_len` proved present (or that a `new_unchecked` caller vouches for).
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::fmt;

use super::ethernet::EtherType;
use super::vxlan::Vni;
use super::{get_u16, get_u32, require, require_room, segment_id, set_u16, set_u24};
use crate::error::{Error, ErrorKind, Layer, Result};

/// Field ranges of the NVGRE header.
mod field {
    use core::ops::Range;
    pub const FLAGS_VERSION: Range<usize> = 0..2;
    pub const PROTOCOL: Range<usize> = 2..4;
    pub const VSID: Range<usize> = 4..7;
    pub const FLOW_ID: usize = 7;
    /// The GRE key: VSID and FlowID.
    pub const KEY: Range<usize> = VSID.start..FLOW_ID + 1;
    pub const PAYLOAD: usize = FLOW_ID + 1;
}

/// Length of the NVGRE header (GRE with a key).
pub const HEADER_LEN: usize = field::PAYLOAD;

const FLAG_C: u16 = 0x8000;
const FLAG_R: u16 = 0x4000;
const FLAG_K: u16 = 0x2000;
const FLAG_S: u16 = 0x1000;
const FLAG_STRICT_ROUTE: u16 = 0x0800;
/// The GRE flags NVGRE has clear, named in the order a refused header's are tested.
/// A constant: the same array built in `name_the_difference` was stored to the stack on
/// every call (12 stores per refused header).
const FLAGS_CLEAR: [(u16, &str); 4] = [
    (FLAG_C, "C (checksum present)"),
    (FLAG_S, "S (sequence number present)"),
    (FLAG_R, "R (routing present)"),
    (FLAG_STRICT_ROUTE, "s (strict source route)"),
];
const BIT_5: u16 = 0x0400;
/// Bits 6-12: reserved, ignored on receipt (RFC 2784 section 2.3).
const RESERVED_IGNORED: u16 = 0x03f8;
const VERSION_MASK: u16 = 0x0007;
/// The first 32 bits of an NVGRE header, flags and version then protocol...
const NVGRE_WORD: u32 = (FLAG_K as u32) << 16 | EtherType::TRANSPARENT_ETHERNET_BRIDGING.0 as u32;
/// ...once the bits ignored on receipt are masked off.
const NVGRE_MASK: u32 = !((RESERVED_IGNORED as u32) << 16);

segment_id!(
    /// A 24-bit NVGRE virtual subnet identifier (RFC 7637 section 3.2).
    Vsid,
    Layer::Nvgre,
    "VSID"
);

/// VNI = VSID: both are 24 bits, so a VXLAN segment maps onto an NVGRE one and back
/// (whether the VSID is [reserved](Vsid::is_reserved) is for the caller to check).
impl From<Vni> for Vsid {
    #[inline]
    fn from(vni: Vni) -> Self {
        Vsid(vni.get())
    }
}

impl From<Vsid> for Vni {
    #[inline]
    fn from(vsid: Vsid) -> Self {
        Vni::new(vsid.0).unwrap_or_default()
    }
}

impl Vsid {
    /// Highest VSID of the range RFC 7637 section 3.2 reserves for future use (0-0xFFF).
    pub const RESERVED_MAX: u32 = 0x0fff;
    /// The VSID RFC 7637 section 3.2 reserves for vendor-specific NVE-to-NVE
    /// communication.
    pub const VENDOR: u32 = 0x00ff_ffff;

    /// True for VSIDs that do not name a tenant's virtual subnet: 0-0xFFF (reserved for
    /// future use) and 0xFFFFFF (vendor-specific). Encapsulation refuses them and
    /// decapsulation does not deliver them as tenant frames.
    #[inline]
    pub const fn is_reserved(self) -> bool {
        self.0 <= Self::RESERVED_MAX || self.0 == Self::VENDOR
    }
}

/// A view of an NVGRE header and the inner frame after it.
///
/// ```
/// use tunnelwire::wire::NvgreHeader;
///
/// // K set, protocol 0x6558, VSID 4242, FlowID 7.
/// let bytes = [0x20, 0x00, 0x65, 0x58, 0x00, 0x10, 0x92, 0x07];
/// let header = NvgreHeader::new_checked(&bytes[..])?;
/// assert_eq!((header.vsid().get(), header.flow_id()), (4242, 7));
/// // GRE with the checksum bit set is not NVGRE.
/// let mut gre = bytes;
/// gre[0] |= 0x80;
/// assert!(NvgreHeader::new_checked(&gre[..]).is_err());
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvgreHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NvgreHeader<T> {
    /// Wraps a buffer without checking it; accessors may panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        NvgreHeader { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    ///
    /// # Errors
    /// As [`check_len`](Self::check_len).
    #[inline(always)]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Checks the length and that the GRE header is NVGRE.
    ///
    /// # Errors
    /// `Truncated`; `FlagSet` for C, S, R, s; `FlagClear("K")`; `Reserved` for bit 5;
    /// `GreVersion` unless 0; `GreProtocol` unless 0x6558.
    #[inline(always)]
    pub fn check_len(&self) -> Result<()> {
        // The common case in two compares: a whole header, and its flags, version and
        // protocol together, the ignored bits masked off. Anything else goes on to name
        // the offending field.
        if let Some(head) = self.buffer.as_ref().first_chunk::<HEADER_LEN>() {
            if get_u32(&head[field::FLAGS_VERSION.start..field::PROTOCOL.end]) & NVGRE_MASK
                == NVGRE_WORD
            {
                return Ok(());
            }
        }
        NvgreHeader::new_unchecked(self.buffer.as_ref()).name_the_difference()
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn flags_version(&self) -> u16 {
        get_u16(&self.buffer.as_ref()[field::FLAGS_VERSION])
    }

    /// GRE reserved bits 6-12 (mask 0x03f8 of the first 16 bits), ignored on receipt.
    #[inline]
    pub fn reserved0(&self) -> u16 {
        self.flags_version() & RESERVED_IGNORED
    }

    /// GRE version (0 for a checked header).
    #[inline]
    pub fn version(&self) -> u8 {
        (self.flags_version() & VERSION_MASK) as u8
    }

    /// GRE protocol type (0x6558 for a checked header).
    #[inline]
    pub fn protocol(&self) -> EtherType {
        EtherType(get_u16(&self.buffer.as_ref()[field::PROTOCOL]))
    }

    /// Virtual subnet identifier: the key's high 24 bits.
    // Always inlined: a load, and large callers otherwise call it.
    #[inline(always)]
    pub fn vsid(&self) -> Vsid {
        // One 32-bit load whose high 24 bits are the VSID: three byte loads cost four
        // more instructions.
        Vsid(self.key() >> 8)
    }

    /// FlowID: the key's low 8 bits, per-flow entropy (RFC 7637 section 3.2).
    #[inline]
    pub fn flow_id(&self) -> u8 {
        self.buffer.as_ref()[field::FLOW_ID]
    }

    /// The whole 32-bit GRE key.
    #[inline]
    pub fn key(&self) -> u32 {
        get_u32(&self.buffer.as_ref()[field::KEY])
    }
}

impl NvgreHeader<&[u8]> {
    /// The error for a header [`check_len`](Self::check_len) refused: too short for its
    /// flags and protocol, or not NVGRE (naming the first offending field), or cut short.
    /// The fields named one by one, the length last: the NVGRE word tested again first
    /// cost a header that is not NVGRE 9 instructions more (37 -> 28).
    // The view by value, its slice in two registers: by reference, every NVGRE frame's
    // path stored the slice to the stack for a call it does not make (instructions per
    // packet, benches/instructions.sh: decode NVGRE 115.1 -> 113.1, mixed 111.6 ->
    // 109.6, by recorder 102.1 -> 99.1 and 102.1 -> 99.0, translation 229.3 -> 227.8;
    // Geneve's by recorder 145.1 -> 148.1 and 140.3 -> 142.7, its loop's registers
    // allocated anew). Returning the `Error` itself rather than a `Result` measured
    // decode VXLAN 125.1 -> 128.1.
    #[cold]
    fn name_the_difference(self) -> Result<()> {
        let buffer = self.buffer;
        require(Layer::Nvgre, buffer, field::PROTOCOL.end)?;
        let bits = self.flags_version();
        let fail = |kind| Err(Error::new(Layer::Nvgre, kind));
        for &(flag, name) in &FLAGS_CLEAR {
            if bits & flag != 0 {
                return fail(ErrorKind::FlagSet(name));
            }
        }
        if bits & FLAG_K == 0 {
            return fail(ErrorKind::FlagClear("K (key present)"));
        }
        if bits & BIT_5 != 0 {
            return fail(ErrorKind::Reserved {
                field: "GRE bit 5",
                value: 1,
            });
        }
        if self.version() != 0 {
            return fail(ErrorKind::GreVersion(self.version()));
        }
        if self.protocol() != EtherType::TRANSPARENT_ETHERNET_BRIDGING {
            return fail(ErrorKind::GreProtocol(self.protocol().0));
        }
        // NVGRE in every field: the header is cut short.
        require(Layer::Nvgre, buffer, HEADER_LEN)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> NvgreHeader<&'a T> {
    /// The inner Ethernet frame.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NvgreHeader<T> {
    /// Writes the fixed NVGRE words: K set, C/S/R/s clear, version 0, protocol 0x6558,
    /// with the given reserved bits 6-12 (others in `reserved0` are dropped).
    #[inline]
    pub fn set_fixed_fields(&mut self, reserved0: u16) {
        let buffer = self.buffer.as_mut();
        set_u16(
            &mut buffer[field::FLAGS_VERSION],
            FLAG_K | (reserved0 & RESERVED_IGNORED),
        );
        set_u16(
            &mut buffer[field::PROTOCOL],
            EtherType::TRANSPARENT_ETHERNET_BRIDGING.0,
        );
    }

    /// Sets the VSID.
    #[inline]
    pub fn set_vsid(&mut self, vsid: Vsid) {
        set_u24(&mut self.buffer.as_mut()[field::VSID], vsid.get());
    }

    /// Sets the FlowID.
    #[inline]
    pub fn set_flow_id(&mut self, flow_id: u8) {
        self.buffer.as_mut()[field::FLOW_ID] = flow_id;
    }

    /// The inner frame, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// Parses an NVGRE header; the rest is the inner frame.
///
/// # Errors
/// As [`NvgreHeader::check_len`].
// Always inlined, as its check: two compares on a per-packet path, the errors named out
// of line.
#[inline(always)]
pub fn parse(input: &[u8]) -> Result<(&[u8], NvgreHeader<&[u8]>)> {
    let header = NvgreHeader::new_checked(input)?;
    Ok((header.payload(), header))
}

/// An NVGRE header's fields, owned and lossless.
///
/// ```
/// use tunnelwire::wire::{NvgreHeader, NvgreRepr, Vsid};
///
/// let repr = NvgreRepr::new(Vsid::new(4242)?, 7);
/// let mut bytes = [0u8; 8];
/// repr.emit(&mut bytes)?;
/// assert_eq!(bytes, [0x20, 0x00, 0x65, 0x58, 0x00, 0x10, 0x92, 0x07]);
/// assert_eq!(NvgreRepr::parse(&NvgreHeader::new_checked(&bytes[..])?), repr);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NvgreRepr {
    /// GRE reserved bits 6-12 (mask 0x03f8), zero in new headers.
    pub reserved0: u16,
    /// Virtual subnet identifier.
    pub vsid: Vsid,
    /// FlowID.
    pub flow_id: u8,
}

impl NvgreRepr {
    /// A new header: reserved bits zero.
    #[inline]
    pub const fn new(vsid: Vsid, flow_id: u8) -> Self {
        NvgreRepr {
            reserved0: 0,
            vsid,
            flow_id,
        }
    }

    /// Reads a checked header.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(header: &NvgreHeader<T>) -> Self {
        NvgreRepr {
            reserved0: header.reserved0(),
            vsid: header.vsid(),
            flow_id: header.flow_id(),
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
        require_room(Layer::Nvgre, buffer, HEADER_LEN)?;
        // The header as one big-endian word, one store: field by field, the VSID's
        // three bytes were stored apart from the FlowID's, and the optimiser kept them
        // so.
        let fixed = FLAG_K | (self.reserved0 & RESERVED_IGNORED);
        let word = u64::from(fixed) << 48
            | u64::from(EtherType::TRANSPARENT_ETHERNET_BRIDGING.0) << 32
            | u64::from(self.vsid.get()) << 8
            | u64::from(self.flow_id);
        buffer[..HEADER_LEN].copy_from_slice(&word.to_be_bytes());
        Ok(())
    }
}

impl fmt::Display for NvgreRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NVGRE vsid {} flow {}", self.vsid, self.flow_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static HEADER: [u8; 10] = [0x20, 0x00, 0x65, 0x58, 0x12, 0x34, 0x56, 0x78, 0xaa, 0xbb];

    #[test]
    fn every_flag_word_and_length_gets_the_rfc_verdict_and_a_named_error() {
        let mut bytes = HEADER;
        for flags in 0..=u16::MAX {
            for protocol in [0x6558u16, 0x0800] {
                bytes[..2].copy_from_slice(&flags.to_be_bytes());
                bytes[2..4].copy_from_slice(&protocol.to_be_bytes());
                for len in [3, 4, 7, 8] {
                    // RFC 7637: C, R, S, s, bit 5 clear, K set, version 0, protocol
                    // 0x6558, 8 bytes; bits 6-12 ignored.
                    let nvgre = flags & 0xfc07 == 0x2000 && protocol == 0x6558 && len >= 8;
                    let header = NvgreHeader::new_unchecked(&bytes[..len]);
                    let verdict = header.check_len();
                    assert_eq!(verdict.is_ok(), nvgre, "{flags:#06x} {protocol:#06x} {len}");
                    if !nvgre {
                        assert_eq!(verdict, header.name_the_difference());
                    }
                }
            }
        }
    }

    #[test]
    fn deconstruct() {
        let header = NvgreHeader::new_checked(&HEADER[..]).unwrap();
        assert_eq!(header.vsid().get(), 0x123456);
        assert_eq!(header.flow_id(), 0x78);
        assert_eq!(header.key(), 0x12345678);
        assert_eq!(header.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn construct() {
        let mut out = [0u8; 8];
        NvgreRepr::new(Vsid::new(0x123456).unwrap(), 0x78)
            .emit(&mut out)
            .unwrap();
        assert_eq!(out, HEADER[..8]);
    }

    #[test]
    fn ignored_reserved_bits_round_trip() {
        let mut bytes = HEADER;
        bytes[0..2].copy_from_slice(&(0x2000u16 | 0x0208).to_be_bytes());
        let header = NvgreHeader::new_checked(&bytes[..]).unwrap();
        let mut out = [0u8; 8];
        NvgreRepr::parse(&header).emit(&mut out).unwrap();
        assert_eq!(out, bytes[..8]);
    }

    #[test]
    fn non_nvgre_gre_is_an_error_naming_the_field() {
        let cases: [(u16, u16, ErrorKind); 7] = [
            (0xa000, 0x6558, ErrorKind::FlagSet("C (checksum present)")),
            (
                0x3000,
                0x6558,
                ErrorKind::FlagSet("S (sequence number present)"),
            ),
            (0x6000, 0x6558, ErrorKind::FlagSet("R (routing present)")),
            (
                0x2800,
                0x6558,
                ErrorKind::FlagSet("s (strict source route)"),
            ),
            (0x0000, 0x6558, ErrorKind::FlagClear("K (key present)")),
            (0x2001, 0x6558, ErrorKind::GreVersion(1)),
            (0x2000, 0x0800, ErrorKind::GreProtocol(0x0800)),
        ];
        for (flags, protocol, kind) in cases {
            let mut bytes = HEADER;
            bytes[0..2].copy_from_slice(&flags.to_be_bytes());
            bytes[2..4].copy_from_slice(&protocol.to_be_bytes());
            let err = NvgreHeader::new_checked(&bytes[..]).unwrap_err();
            assert_eq!((err.layer, err.kind), (Layer::Nvgre, kind));
        }
    }

    #[test]
    fn truncated_key_is_an_error() {
        // With the reserved bits GRE lets a receiver ignore set, too: the fields are
        // NVGRE's, the header is cut short.
        for reserved in [0x0000, 0x03f8] {
            let mut bytes = HEADER;
            bytes[0..2].copy_from_slice(&(0x2000u16 | reserved).to_be_bytes());
            assert!(matches!(
                NvgreHeader::new_checked(&bytes[..6]).unwrap_err().kind,
                ErrorKind::Truncated {
                    needed: 8,
                    available: 6,
                    by: crate::error::Truncation::Buffer
                }
            ));
        }
    }
}
