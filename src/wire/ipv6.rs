//! IPv6 fixed header ([RFC 8200]).
//!
//! [`Ipv6Packet::check_len`] validates version 6 and `40 + payload length <= buffer`; the
//! payload ends at the payload length, so Ethernet padding after it is not payload.
//! Extension headers are not parsed: the payload starts right after the fixed header,
//! and [`Ipv6Packet::next_header`] says what it is. A payload length of 0 is taken as
//! written (a jumbogram's real length sits in a hop-by-hop option this crate does not
//! read).
//!
//! [RFC 8200]: https://www.rfc-editor.org/rfc/rfc8200

// Reached by untrusted bytes: no arithmetic that could overflow but where an `allow`
// says why it cannot. Indexing is the views' design: accessors index the field ranges
// `check_len` proved present (or that a `new_unchecked` caller vouches for).
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::fmt;
use core::net::Ipv6Addr;

use super::ipv4::IpProtocol;
use super::{get_u16, require, require_announced, require_room, set_u16};
use crate::error::{Error, ErrorKind, Layer, Result};

/// Field ranges of the IPv6 fixed header (RFC 8200 section 3).
mod field {
    use core::ops::Range;
    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the IPv6 fixed header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

const FLOW_LABEL_MASK: u32 = 0x000f_ffff;

/// A view of an IPv6 packet: the fixed header and the payload up to the payload length.
///
/// ```
/// use tunnelwire::wire::{IpProtocol, Ipv6Packet, Ipv6Repr};
///
/// let mut repr = Ipv6Repr::new("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), IpProtocol::UDP, 0);
/// repr.flow_label = 0x12345;
/// let mut bytes = [0u8; 40];
/// repr.emit(&mut bytes)?;
/// let packet = Ipv6Packet::new_checked(&bytes[..])?;
/// assert_eq!((packet.flow_label(), packet.next_header()), (0x12345, IpProtocol::UDP));
/// assert_eq!(Ipv6Repr::parse(&packet), repr);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic on a short buffer or a bad
    /// payload length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
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

    /// Validates the buffer and the length field: version 6 and
    /// `40 + payload length <= buffer length`.
    ///
    /// # Errors
    /// `Truncated` when the buffer ends before the fixed header or the payload length;
    /// `Version` when the version field is not 6.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let buffer = self.buffer.as_ref();
        require(Layer::Ipv6, buffer, HEADER_LEN)?;
        if self.version() != 6 {
            return Err(Error::new(
                Layer::Ipv6,
                ErrorKind::Version {
                    found: self.version(),
                    expected: 6,
                },
            ));
        }
        require_announced(Layer::Ipv6, buffer, self.total_len())
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The fixed header. Every field accessor reads through it, so the fields of one
    /// view cost one bounds check between them, not one each, where the optimiser has
    /// lost what `check_len` proved (as IPv4's).
    #[inline(always)]
    fn fixed(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN]
    }

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        let b = &self.fixed()[field::VER_TC_FLOW];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Version field (6 for a checked packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.fixed()[field::VER_TC_FLOW.start] >> 4
    }

    /// Traffic class: DSCP in the high 6 bits, ECN in the low 2.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Differentiated services code point (6 bits).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// Explicit congestion notification (2 bits, RFC 3168).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// Flow label (20 bits, RFC 6437).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & FLOW_LABEL_MASK
    }

    /// Payload length: bytes after the fixed header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        get_u16(&self.fixed()[field::PAYLOAD_LEN])
    }

    /// Fixed header plus payload, in bytes.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// The header after the fixed one: a transport protocol or an extension header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.fixed()[field::NEXT_HEADER])
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.fixed()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr_bytes(field::SRC_ADDR.start))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr_bytes(field::DST_ADDR.start))
    }

    #[inline]
    #[allow(clippy::arithmetic_side_effects)] // `at` is 8 or 24: the address fields
    fn addr_bytes(&self, at: usize) -> [u8; 16] {
        let mut octets = [0; 16];
        octets.copy_from_slice(&self.fixed()[at..at + 16]);
        octets
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv6Packet<&'a T> {
    /// The payload, from the end of the fixed header to the payload length.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets the first 32-bit word at once: version (high 4 bits), traffic class and
    /// flow label (low 20 bits).
    #[inline]
    pub fn set_ver_tc_flow(&mut self, value: u32) {
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the version field to 6.
    #[inline]
    pub fn set_version(&mut self) {
        let value = self.ver_tc_flow() & 0x0fff_ffff | 6 << 28;
        self.set_ver_tc_flow(value);
    }

    /// Sets the traffic class (DSCP in the high 6 bits, ECN in the low 2).
    #[inline]
    pub fn set_traffic_class(&mut self, traffic_class: u8) {
        let value = self.ver_tc_flow() & 0xf00f_ffff | u32::from(traffic_class) << 20;
        self.set_ver_tc_flow(value);
    }

    /// Sets DSCP (low 6 bits used) and ECN (low 2 bits used).
    #[inline]
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.set_traffic_class(dscp << 2 | (ecn & 0x03));
    }

    /// Sets the flow label (low 20 bits used).
    #[inline]
    pub fn set_flow_label(&mut self, flow_label: u32) {
        let value = self.ver_tc_flow() & !FLOW_LABEL_MASK | flow_label & FLOW_LABEL_MASK;
        self.set_ver_tc_flow(value);
    }

    /// Sets the payload length.
    ///
    /// This changes the length field: what [`check_len`](Self::check_len) proved no
    /// longer holds, and `payload` and `payload_mut` may panic until `check_len` passes
    /// again.
    #[inline]
    pub fn set_payload_len(&mut self, payload_len: u16) {
        set_u16(&mut self.buffer.as_mut()[field::PAYLOAD_LEN], payload_len);
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, next_header: IpProtocol) {
        self.buffer.as_mut()[field::NEXT_HEADER] = next_header.0;
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hop_limit;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// Parses an IPv6 packet (cut at its payload length); the rest is its payload.
///
/// # Errors
/// As [`Ipv6Packet::check_len`].
#[inline(always)]
pub fn parse(input: &[u8]) -> Result<(&[u8], Ipv6Packet<&[u8]>)> {
    let packet = Ipv6Packet::new_checked(input)?;
    let packet = Ipv6Packet::new_unchecked(&input[..packet.total_len()]);
    Ok((packet.payload(), packet))
}

/// [`parse`]'s verdict on a sound header at the start of `input`, without naming why
/// another is not: its 40 bytes, its payload and the packet (both cut at its payload
/// length), for the walks that read its fields in place (the engine's express walks,
/// the decoder's IPv6 step); `None` for a header cut short, a version other than 6, or a
/// payload past the input.
#[inline(always)]
#[allow(clippy::arithmetic_side_effects)] // 40 plus a 16-bit length
pub(crate) fn split(input: &[u8]) -> Option<(&[u8; HEADER_LEN], &[u8], &[u8])> {
    let head = input.first_chunk::<HEADER_LEN>()?;
    let total = HEADER_LEN + usize::from(get_u16(&head[field::PAYLOAD_LEN]));
    match input.get(..total) {
        Some(packet) if head[0] >> 4 == 6 => Some((head, &packet[HEADER_LEN..], packet)),
        _ => None,
    }
}

/// An IPv6 fixed header's fields, owned and lossless: `parse` then `emit` gives back the
/// same 40 bytes.
///
/// ```
/// use tunnelwire::wire::{IpProtocol, Ipv6Packet, Ipv6Repr};
///
/// let mut repr = Ipv6Repr::new("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), IpProtocol::TCP, 0);
/// (repr.dscp, repr.ecn, repr.hop_limit) = (46, 1, 255);
/// let mut bytes = [0u8; 40];
/// repr.emit(&mut bytes)?;
/// assert_eq!(Ipv6Repr::parse(&Ipv6Packet::new_checked(&bytes[..])?), repr);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Differentiated services code point (6 bits).
    pub dscp: u8,
    /// Explicit congestion notification (2 bits).
    pub ecn: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Payload length: bytes after the fixed header.
    pub payload_len: u16,
    /// The header after the fixed one.
    pub next_header: IpProtocol,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
}

impl Ipv6Repr {
    /// Default hop limit for new headers (Linux's default, as IPv4's TTL).
    pub const DEFAULT_HOP_LIMIT: u8 = 64;

    /// A new header: traffic class 0, flow label 0, hop limit 64.
    #[inline]
    pub fn new(
        src_addr: Ipv6Addr,
        dst_addr: Ipv6Addr,
        next_header: IpProtocol,
        payload_len: u16,
    ) -> Self {
        Ipv6Repr {
            dscp: 0,
            ecn: 0,
            flow_label: 0,
            payload_len,
            next_header,
            hop_limit: Self::DEFAULT_HOP_LIMIT,
            src_addr,
            dst_addr,
        }
    }

    /// Reads a checked packet's header.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Self {
        Ipv6Repr {
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            flow_label: packet.flow_label(),
            payload_len: packet.payload_len(),
            next_header: packet.next_header(),
            hop_limit: packet.hop_limit(),
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
        }
    }

    /// Header length in bytes: 40.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header (not the payload) into the start of `buffer`.
    ///
    /// # Errors
    /// `BufferTooSmall` when `buffer` is shorter than 40 bytes; `OutOfRange` for a DSCP
    /// over 63, an ECN over 3 or a flow label over 20 bits.
    #[inline]
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        require_room(Layer::Ipv6, buffer, HEADER_LEN)?;
        for (field, value, max) in [
            ("DSCP", u32::from(self.dscp), 63),
            ("ECN", u32::from(self.ecn), 3),
            ("flow label", self.flow_label, FLOW_LABEL_MASK),
        ] {
            if value > max {
                return Err(Error::new(
                    Layer::Ipv6,
                    ErrorKind::OutOfRange { field, value },
                ));
            }
        }
        let word = 6 << 28 | u32::from(self.dscp << 2 | self.ecn) << 20 | self.flow_label;
        let mut packet = Ipv6Packet::new_unchecked(buffer);
        packet.set_ver_tc_flow(word);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        Ok(())
    }
}

impl fmt::Display for Ipv6Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IPv6 {} > {} next {} hlim {} len {}",
            self.src_addr, self.dst_addr, self.next_header, self.hop_limit, self.payload_len
        )?;
        if self.flow_label != 0 {
            write!(f, " flow {:#07x}", self.flow_label)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Traffic class 0xb9 (DSCP 46, ECN 1), flow label 0x12345, payload 4 bytes, UDP,
    // hop limit 64, fd00::1 > fd00::2, then 2 bytes of Ethernet padding.
    static PACKET: [u8; 46] = [
        0x6b, 0x91, 0x23, 0x45, 0x00, 0x04, 0x11, 0x40, //
        0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, //
        0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, //
        0xde, 0xad, 0xbe, 0xef, 0x00, 0x00,
    ];

    fn addr(last: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last)
    }

    #[test]
    fn deconstruct() {
        let packet = Ipv6Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(packet.version(), 6);
        assert_eq!(packet.traffic_class(), 0xb9);
        assert_eq!((packet.dscp(), packet.ecn()), (46, 1));
        assert_eq!(packet.flow_label(), 0x12345);
        assert_eq!(packet.payload_len(), 4);
        assert_eq!(packet.next_header(), IpProtocol::UDP);
        assert_eq!(packet.hop_limit(), 64);
        assert_eq!((packet.src_addr(), packet.dst_addr()), (addr(1), addr(2)));
        assert_eq!(
            packet.payload(),
            &[0xde, 0xad, 0xbe, 0xef],
            "padding is not payload"
        );
    }

    #[test]
    fn construct_and_round_trip() {
        let mut repr = Ipv6Repr::new(addr(1), addr(2), IpProtocol::UDP, 4);
        repr.dscp = 46;
        repr.ecn = 1;
        repr.flow_label = 0x12345;
        let mut out = [0u8; 40];
        repr.emit(&mut out).unwrap();
        assert_eq!(out, PACKET[..40]);
        let parsed = Ipv6Repr::parse(&Ipv6Packet::new_checked(&PACKET[..]).unwrap());
        assert_eq!(parsed, repr);
        assert_eq!(repr.buffer_len(), 40);
    }

    #[test]
    fn setters_touch_only_their_bits() {
        let mut bytes = PACKET;
        let mut packet = Ipv6Packet::new_unchecked(&mut bytes[..]);
        packet.set_dscp_ecn(46, 3);
        assert_eq!(
            (packet.traffic_class(), packet.flow_label()),
            (0xbb, 0x12345)
        );
        packet.set_flow_label(0xfffff);
        assert_eq!((packet.version(), packet.traffic_class()), (6, 0xbb));
        packet.set_version();
        assert_eq!(packet.flow_label(), 0xfffff);
    }

    #[test]
    fn emit_rejects_fields_too_wide() {
        let mut repr = Ipv6Repr::new(addr(1), addr(2), IpProtocol::UDP, 0);
        repr.flow_label = 0x10_0000;
        assert!(repr.emit(&mut [0u8; 40]).is_err());
        repr.flow_label = 0;
        repr.ecn = 4;
        assert!(repr.emit(&mut [0u8; 40]).is_err());
        assert!(
            Ipv6Repr::new(addr(1), addr(2), IpProtocol::UDP, 0)
                .emit(&mut [0u8; 39])
                .is_err()
        );
    }

    #[test]
    fn length_and_version_are_validated() {
        assert_eq!(
            Ipv6Packet::new_checked(&PACKET[..39]).unwrap_err().kind,
            ErrorKind::Truncated {
                needed: 40,
                available: 39,
                by: crate::error::Truncation::Buffer
            }
        );
        assert_eq!(
            Ipv6Packet::new_checked(&PACKET[..43]).unwrap_err().kind,
            ErrorKind::Truncated {
                needed: 44,
                available: 43,
                by: crate::error::Truncation::LengthField
            }
        );
        let mut bytes = PACKET;
        bytes[0] = 0x4b;
        let error = Ipv6Packet::new_checked(&bytes[..]).unwrap_err();
        assert_eq!(error.layer, Layer::Ipv6);
        assert_eq!(
            error.kind,
            ErrorKind::Version {
                found: 4,
                expected: 6
            }
        );
    }

    #[test]
    fn nom_parser_cuts_padding() {
        let (rest, packet) = parse(&PACKET).unwrap();
        assert_eq!(rest, &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(packet.into_inner().len(), 44);
    }
}
