//! IPv4 header ([RFC 791]), options included.
//!
//! [`Ipv4Packet::check_len`] validates version 4, IHL >= 5 and
//! `IHL * 4 <= total length <= buffer`; the payload ends at the total length, so Ethernet
//! padding after it is not payload.
//!
//! [RFC 791]: https://www.rfc-editor.org/rfc/rfc791

// Reached by untrusted bytes: no arithmetic that could overflow but where an `allow`
// says why it cannot. Indexing is the views' design: accessors index the field ranges
// `check_len` proved present (or that a `new_unchecked` caller vouches for).
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::net::Ipv4Addr;

pub use super::ip_protocol::IpProtocol;
use super::{get_u16, require_announced, set_u16};
use crate::checksum;
use crate::error::{Error, ErrorKind, Layer, Result};
pub use repr::{Ipv4Options, Ipv4Repr};

/// Field ranges of the IPv4 header (RFC 791 section 3.1).
mod field {
    use core::ops::Range;
    pub const VERSION_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_FRAG_OFFSET: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
    pub const OPTIONS: usize = DST_ADDR.end;
}

/// Length of the IPv4 header without options.
pub const HEADER_LEN: usize = field::OPTIONS;
/// Longest IPv4 header: IHL 15, 60 bytes.
pub const MAX_HEADER_LEN: usize = 60;
/// Longest options field: 40 bytes.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

const FLAG_RESERVED: u16 = 0x8000;
const FLAG_DONT_FRAG: u16 = 0x4000;
const FLAG_MORE_FRAGS: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet: header, options and payload up to the total length.
///
/// ```
/// use core::net::Ipv4Addr;
/// use tunnelwire::wire::{IpProtocol, Ipv4Packet, Ipv4Repr};
///
/// let mut bytes = [0u8; 24];
/// Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), IpProtocol::UDP, 2)
///     .emit(&mut bytes)?;
/// Ipv4Packet::new_checked(&mut bytes[..])?.fill_checksum();
/// let packet = Ipv4Packet::new_checked(&bytes[..])?;
/// assert_eq!(packet.total_len(), 22);
/// assert!(packet.verify_checksum());
/// assert_eq!(packet.payload().len(), 2, "the last two bytes are padding, not payload");
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic on a short buffer or bad
    /// length fields.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    ///
    /// # Errors
    /// As [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the buffer and the length fields: version 4, IHL >= 5, and
    /// `IHL * 4 <= total length <= buffer length`.
    ///
    /// # Errors
    /// `Truncated` when the buffer ends before the header or the total length;
    /// `Version`, `HeaderLength` or `TotalLength` for a bad field.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        lengths(self.buffer.as_ref()).map(|_| ())
    }

    /// The fixed header. Every field accessor reads through it, so the fields of one
    /// view cost one bounds check between them, not one each, where the optimiser has
    /// lost what `check_len` proved (a view kept in a decoded frame, for instance).
    #[inline(always)]
    fn fixed(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN]
    }

    /// The fixed header as an array, for reading its fields where they lie in memory
    /// (several at once, or in the machine's byte order).
    #[inline(always)]
    pub(crate) fn header(&self) -> &[u8; HEADER_LEN] {
        // `fixed` is HEADER_LEN bytes long: the conversion never fails.
        self.fixed().try_into().unwrap_or(&[0; HEADER_LEN])
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field (4 for a checked packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.fixed()[field::VERSION_IHL] >> 4
    }

    /// Internet header length, in 32-bit words.
    #[inline]
    pub fn ihl(&self) -> u8 {
        self.fixed()[field::VERSION_IHL] & 0x0f
    }

    /// Header length in bytes, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    /// Differentiated services code point (6 bits).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.fixed()[field::DSCP_ECN] >> 2
    }

    /// Explicit congestion notification (2 bits, RFC 3168).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.fixed()[field::DSCP_ECN] & 0x03
    }

    /// Total length: header plus payload, in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        get_u16(&self.fixed()[field::TOTAL_LEN])
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        get_u16(&self.fixed()[field::IDENT])
    }

    #[inline]
    fn flags_frag_offset(&self) -> u16 {
        get_u16(&self.fixed()[field::FLAGS_FRAG_OFFSET])
    }

    /// The reserved flag bit (must be zero on send; kept as received).
    #[inline]
    pub fn reserved_flag(&self) -> bool {
        self.flags_frag_offset() & FLAG_RESERVED != 0
    }

    /// Don't fragment.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag_offset() & FLAG_DONT_FRAG != 0
    }

    /// More fragments.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag_offset() & FLAG_MORE_FRAGS != 0
    }

    /// Fragment offset, in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        self.flags_frag_offset() & FRAG_OFFSET_MASK
    }

    /// True for any fragment: MF set or a non-zero offset.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag_offset() & (FLAG_MORE_FRAGS | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.fixed()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.fixed()[field::PROTOCOL])
    }

    /// Header checksum as received.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(&self.fixed()[field::CHECKSUM])
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.fixed()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.fixed()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The options, as raw bytes (empty when IHL is 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// True when the header checksum is correct. Under `cfg(fuzzing)` always true, so
    /// fuzzers reach the layers behind it.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        cfg!(fuzzing) || self.header_sum() == 0xffff
    }

    /// The one's-complement sum of the header, checksum included (0xffff when correct).
    #[inline(always)]
    fn header_sum(&self) -> u16 {
        let buffer = self.buffer.as_ref();
        match buffer.first_chunk::<HEADER_LEN>() {
            // The common header, without options: five 32-bit words, no loop.
            Some(header) if self.ihl() == 5 => checksum::sum_words(header),
            _ => checksum::sum_short(&buffer[..self.header_len()]),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// The payload, from the end of the header to the total length.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let buffer = self.buffer.as_ref();
        &buffer[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version (4) and IHL.
    ///
    /// This changes a length field: what [`check_len`](Self::check_len) proved no
    /// longer holds, and `options`, `payload`, `verify_checksum` and `fill_checksum` may
    /// panic until `check_len` passes again.
    #[inline]
    pub fn set_version_ihl(&mut self, ihl: u8) {
        self.buffer.as_mut()[field::VERSION_IHL] = 0x40 | (ihl & 0x0f);
    }

    /// Sets DSCP (low 6 bits used) and ECN (low 2 bits used).
    #[inline]
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = (dscp << 2) | (ecn & 0x03);
    }

    /// Sets the total length.
    ///
    /// This changes a length field: what [`check_len`](Self::check_len) proved no
    /// longer holds, and `payload` and `payload_mut` may panic until `check_len` passes
    /// again.
    #[inline]
    pub fn set_total_len(&mut self, total_len: u16) {
        set_u16(&mut self.buffer.as_mut()[field::TOTAL_LEN], total_len);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        set_u16(&mut self.buffer.as_mut()[field::IDENT], ident);
    }

    /// Sets the three flag bits and the fragment offset (8-byte units, 13 bits used).
    #[inline]
    pub fn set_flags_frag_offset(
        &mut self,
        reserved: bool,
        dont_frag: bool,
        more_frags: bool,
        frag_offset: u16,
    ) {
        let mut value = frag_offset & FRAG_OFFSET_MASK;
        for (set, bit) in [
            (reserved, FLAG_RESERVED),
            (dont_frag, FLAG_DONT_FRAG),
            (more_frags, FLAG_MORE_FRAGS),
        ] {
            if set {
                value |= bit;
            }
        }
        set_u16(&mut self.buffer.as_mut()[field::FLAGS_FRAG_OFFSET], value);
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, protocol: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol.0;
    }

    /// Sets the checksum field as given.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(&mut self.buffer.as_mut()[field::CHECKSUM], checksum);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// Options, mutable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    /// Computes the header checksum and writes it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::sum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(checksum::finish(sum));
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// The checks of [`Ipv4Packet::check_len`]; returns the header length and the total
/// length. The first 20 bytes are read once, so what follows needs no bounds checks.
#[inline(always)]
fn lengths(buffer: &[u8]) -> Result<(usize, usize)> {
    let Some(head) = buffer.first_chunk::<HEADER_LEN>() else {
        return Err(Error::truncated(
            Layer::Ipv4,
            HEADER_LEN,
            buffer.len(),
            crate::error::Truncation::Buffer,
        ));
    };
    let version_ihl = head[field::VERSION_IHL];
    // Version 4 with IHL >= 5 is a first byte in 0x45..=0x4f: one compare. Which of the
    // two is wrong is worked out off the per-packet path.
    if version_ihl.wrapping_sub(0x45) > 0x0a {
        return Err(version_ihl_error(version_ihl));
    }
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    let total_len = get_u16(&head[field::TOTAL_LEN]);
    // The header inside the total length inside the buffer implies the header inside the
    // buffer, so that is tested only to name the error.
    if usize::from(total_len) < header_len || usize::from(total_len) > buffer.len() {
        return Err(length_error(buffer, header_len, total_len));
    }
    // `max` changes nothing (the total length holds the header, at least 20 bytes) but
    // carries the fact with the value, which the optimiser does not chain through two
    // compares: a view cut at this length shows it a whole fixed header wherever it is
    // read, so its accessors need no bounds checks.
    Ok((header_len, usize::from(total_len).max(HEADER_LEN)))
}

/// The error for lengths [`lengths`] refused, naming the first rule broken in the order a
/// reader checks them: the announced header inside the buffer, the total length at least
/// the header, the announced packet inside the buffer.
#[cold]
fn length_error(buffer: &[u8], header_len: usize, total_len: u16) -> Error {
    if let Err(error) = require_announced(Layer::Ipv4, buffer, header_len) {
        return error;
    }
    if usize::from(total_len) < header_len {
        return Error::new(
            Layer::Ipv4,
            ErrorKind::TotalLength {
                total_len,
                header_len: header_len as u8,
            },
        );
    }
    Error::truncated(
        Layer::Ipv4,
        usize::from(total_len),
        buffer.len(),
        crate::error::Truncation::LengthField,
    )
}

/// The error for a first byte other than version 4 with IHL >= 5.
#[cold]
fn version_ihl_error(version_ihl: u8) -> Error {
    let (version, ihl) = (version_ihl >> 4, version_ihl & 0x0f);
    if version != 4 {
        return Error::new(
            Layer::Ipv4,
            ErrorKind::Version {
                found: version,
                expected: 4,
            },
        );
    }
    Error::new(Layer::Ipv4, ErrorKind::HeaderLength(ihl))
}

/// Parses an IPv4 packet (cut at its total length); the rest is its payload.
///
/// # Errors
/// As [`Ipv4Packet::check_len`].
#[inline(always)]
pub fn parse(input: &[u8]) -> Result<(&[u8], Ipv4Packet<&[u8]>)> {
    // The common header, version 4 without options, first: the first byte 0x45 and
    // 20 <= total length <= input, after which both slices are cut without a check and
    // no header length is worked out. Any other header, and every error, goes through
    // `lengths` as before. Measured in instructions per packet (benches/instructions.sh):
    // decode VXLAN 177 -> 174, NVGRE 163 -> 159, Geneve 223 -> 219, mixed 165 -> 162.
    // With the general parser outlined (`#[cold]`), VXLAN decode measured 158 but Geneve
    // 226 and decapsulation 146 -> 159: a call in the per-packet loop, even one never
    // made, costs the registers live across it.
    if let Some(parsed) = parse_common(input) {
        return Ok(parsed);
    }
    parse_other(input)
}

/// [`parse`] of the common header alone (version 4 without options, its lengths sound):
/// `None` for every other header, valid or not.
#[inline(always)]
pub(crate) fn parse_common(input: &[u8]) -> Option<(&[u8], Ipv4Packet<&[u8]>)> {
    let (_, payload, packet) = split_common(input)?;
    Some((payload, Ipv4Packet::new_unchecked(packet)))
}

/// The common header (version 4 without options, its lengths sound) at the start of
/// `input`: its 20 bytes, its payload and the packet (both cut at its total length), for
/// the walks that read its fields in place ([`parse_common`]; the engine's express walks);
/// `None` for every other header, valid or not.
#[inline(always)]
// The payload's range is the length check: 20 <= total length <= what there is in one
// compare (a total under 20 wraps past any input), the packet then cut inside what was
// tested, and the first byte tested after it. Measured in instructions per packet
// (benches/instructions.sh) against `(20..=len).contains(&total)` with the byte first:
// decode by `Frame` VXLAN 144 -> 137, NVGRE 139 -> 130, Geneve 195 -> 182 (mixed 133 ->
// 126, 131 -> 123, 175 -> 166); by recorder 133 -> 125, 123 -> 112, 168 -> 163 (mixed
// 124 -> 117, 119 -> 110, 159 -> 153); Geneve decapsulation 145 -> 144 (mixed 179 ->
// 177); in the engine's express walks, translation 269 -> 263, encapsulation's mixed
// workloads 189 -> 184, decapsulation 111.5 -> 110.8. The first byte tested before the
// range (returning early, or the two tests nested): decapsulation 111 -> 114 (registers
// moved in its loop), by recorder 127, 114-115, 166. `checked_sub` in place of the
// wrapping range: decode 5 to 7 more. UDP's length checked the same way in `udp::parse`
// (its errors after): decode VXLAN 142, Geneve 196.
#[allow(clippy::arithmetic_side_effects)] // 20 plus a payload inside the input
pub(crate) fn split_common(input: &[u8]) -> Option<(&[u8; HEADER_LEN], &[u8], &[u8])> {
    let (head, rest) = input.split_first_chunk::<HEADER_LEN>()?;
    let total_len = usize::from(get_u16(&head[field::TOTAL_LEN]));
    let payload = rest.get(..total_len.wrapping_sub(HEADER_LEN))?;
    if head[field::VERSION_IHL] != 0x45 {
        return None;
    }
    let packet = &input[..HEADER_LEN + payload.len()];
    Some((head, payload, packet))
}

/// [`parse`] of any header but by [`parse_common`]'s shortcut.
///
/// # Errors
/// As [`Ipv4Packet::check_len`].
#[inline(always)]
pub(crate) fn parse_other(input: &[u8]) -> Result<(&[u8], Ipv4Packet<&[u8]>)> {
    let (header_len, total_len) = lengths(input)?;
    let packet = &input[..total_len];
    Ok((&packet[header_len..], Ipv4Packet::new_unchecked(packet)))
}

// The owned, lossless header (`Ipv4Repr`) and its options, beside this file's view.
mod repr;
#[cfg(test)]
mod tests;
