//! UDP header ([RFC 768]) and its checksum over the IPv4 or IPv6 pseudo-header.
//!
//! A checksum of 0 means "none" and always verifies; a computed checksum of 0 is sent as
//! 0xffff.
//!
//! [RFC 768]: https://www.rfc-editor.org/rfc/rfc768

// Reached by untrusted bytes: no arithmetic that could overflow but where an `allow`
// says why it cannot. Indexing is the views' design: accessors index the field ranges
// `check_len` proved present (or that a `new_unchecked` caller vouches for).
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::ipv4::IpProtocol;
use super::{get_u16, require_announced, require_room, set_u16};
use crate::checksum;
use crate::error::{Error, ErrorKind, Layer, Result};

/// Field ranges of the UDP header.
mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const PAYLOAD: usize = CHECKSUM.end;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of a UDP datagram: header and payload up to the length field.
///
/// ```
/// use core::net::Ipv4Addr;
/// use tunnelwire::wire::UdpDatagram;
///
/// // 49152 -> 4789, length 9: one byte of payload, then a byte past the datagram.
/// let mut bytes = [0xc0, 0x00, 0x12, 0xb5, 0x00, 0x09, 0x00, 0x00, 0xaa, 0xff];
/// let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
/// UdpDatagram::new_checked(&mut bytes[..])?.fill_checksum(src, dst);
/// let datagram = UdpDatagram::new_checked(&bytes[..])?;
/// assert_eq!((datagram.src_port(), datagram.dst_port()), (49152, 4789));
/// assert_eq!(datagram.payload(), &[0xaa]);
/// assert!(datagram.verify_checksum(src, dst));
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpDatagram<T> {
    /// Wraps a buffer without checking it; accessors may panic on a short buffer or bad
    /// length field.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpDatagram { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    ///
    /// # Errors
    /// As [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let datagram = Self::new_unchecked(buffer);
        datagram.check_len()?;
        Ok(datagram)
    }

    /// Validates the buffer and the length field: `8 <= length <= buffer length` (the
    /// buffer being the IP payload).
    ///
    /// # Errors
    /// `Truncated` when the buffer ends before the header or the length; `UdpLength`
    /// below 8.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        checked_len(self.buffer.as_ref()).map(|_| ())
    }

    /// The fixed header. Every field accessor reads through it, so the fields of one
    /// view cost one bounds check between them, not one each, where the optimiser has
    /// lost what `check_len` proved (a view kept in a decoded frame, for instance).
    #[inline(always)]
    fn fixed(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN]
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        get_u16(&self.fixed()[field::SRC_PORT])
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_u16(&self.fixed()[field::DST_PORT])
    }

    /// Destination port as the wire holds it: its two big-endian bytes read in the
    /// machine's order, for a compare with ports put in that order once.
    #[inline(always)]
    pub(crate) fn dst_port_wire(&self) -> u16 {
        let field = &self.fixed()[field::DST_PORT];
        u16::from_ne_bytes([field[0], field[1]])
    }

    /// Length field: header plus payload.
    #[inline]
    pub fn len(&self) -> u16 {
        get_u16(&self.fixed()[field::LENGTH])
    }

    /// True when the datagram carries no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == HEADER_LEN
    }

    /// Checksum field as received (0: none).
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(&self.fixed()[field::CHECKSUM])
    }

    /// Sum of header and payload (up to the length field) with a pseudo-header's sum.
    #[inline]
    fn full_sum(&self, pseudo_header: u16) -> u16 {
        let len = usize::from(self.len());
        checksum::combine(pseudo_header, checksum::sum(&self.buffer.as_ref()[..len]))
    }

    /// True when the checksum is 0 (none) or correct for the given IPv4 addresses.
    /// Under `cfg(fuzzing)` always true.
    // The zero test always inlined (tunnels send zero, RFC 7348 section 5), the sum left
    // to the optimiser: a large caller that could not inline all of it spilled its
    // registers around a call even for the zero checksum.
    #[inline(always)]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        cfg!(fuzzing) || self.checksum() == 0 || self.sum_is_right(src, dst)
    }

    /// True when the (non-zero) checksum is correct for the given IPv4 addresses.
    #[inline]
    fn sum_is_right(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let pseudo = checksum::pseudo_header_ipv4(src, dst, IpProtocol::UDP.0, self.len());
        self.full_sum(pseudo) == 0xffff
    }

    /// True when the checksum is correct for the given IPv6 addresses. Zero is not:
    /// RFC 8200 section 8.1 says IPv6 receivers MUST by default discard UDP with a zero
    /// checksum; a tunnel endpoint that enables RFC 6935's zero-checksum mode for its
    /// port checks `checksum() == 0` itself. Under `cfg(fuzzing)` always true.
    #[inline]
    pub fn verify_checksum_ipv6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        cfg!(fuzzing)
            || self.checksum() != 0 && {
                let length = u32::from(self.len());
                let pseudo = checksum::pseudo_header_ipv6(src, dst, IpProtocol::UDP.0, length);
                self.full_sum(pseudo) == 0xffff
            }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> UdpDatagram<&'a T> {
    /// The payload, up to the length field.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpDatagram<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        set_u16(&mut self.buffer.as_mut()[field::SRC_PORT], port);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        set_u16(&mut self.buffer.as_mut()[field::DST_PORT], port);
    }

    /// Sets the length field.
    ///
    /// What [`check_len`](Self::check_len) proved no longer holds: `payload`,
    /// `payload_mut`, the checksum methods may panic until `check_len` passes again.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        set_u16(&mut self.buffer.as_mut()[field::LENGTH], len);
    }

    /// Sets the checksum field as given.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(&mut self.buffer.as_mut()[field::CHECKSUM], checksum);
    }

    /// Computes the checksum over the pseudo-header, header and payload and writes it;
    /// a computed 0 is written as 0xffff (RFC 768).
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let pseudo = checksum::pseudo_header_ipv4(src, dst, IpProtocol::UDP.0, self.len());
        self.fill_checksum_with(pseudo);
    }

    /// As [`fill_checksum`](Self::fill_checksum), over the IPv6 pseudo-header
    /// (RFC 8200 section 8.1).
    #[inline]
    pub fn fill_checksum_ipv6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        let length = u32::from(self.len());
        let pseudo = checksum::pseudo_header_ipv6(src, dst, IpProtocol::UDP.0, length);
        self.fill_checksum_with(pseudo);
    }

    /// As [`fill_checksum`](Self::fill_checksum), with the pseudo-header's folded sum
    /// (of either family) given.
    #[inline]
    pub(crate) fn fill_checksum_with(&mut self, pseudo_header: u16) {
        self.set_checksum(0);
        let value = checksum::finish(self.full_sum(pseudo_header));
        self.set_checksum(if value == 0 { 0xffff } else { value });
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[field::PAYLOAD..end]
    }
}

/// Parses a UDP datagram (cut at its length field); the rest is its payload.
///
/// # Errors
/// As [`UdpDatagram::check_len`].
#[inline(always)]
pub fn parse(input: &[u8]) -> Result<(&[u8], UdpDatagram<&[u8]>)> {
    let len = checked_len(input)?;
    let datagram = &input[..len];
    Ok((
        &datagram[HEADER_LEN..],
        UdpDatagram::new_unchecked(datagram),
    ))
}

/// The checks of [`UdpDatagram::check_len`]; returns the length field.
#[inline(always)]
fn checked_len(buffer: &[u8]) -> Result<usize> {
    let Some(head) = buffer.first_chunk::<HEADER_LEN>() else {
        return Err(Error::truncated(
            Layer::Udp,
            HEADER_LEN,
            buffer.len(),
            crate::error::Truncation::Buffer,
        ));
    };
    let len = get_u16(&head[field::LENGTH]);
    if usize::from(len) < HEADER_LEN {
        return Err(Error::new(Layer::Udp, ErrorKind::UdpLength(len)));
    }
    require_announced(Layer::Udp, buffer, usize::from(len))?;
    Ok(usize::from(len))
}

/// A UDP header's fields, owned and lossless.
///
/// ```
/// use tunnelwire::wire::{UdpDatagram, UdpRepr};
///
/// let repr = UdpRepr::new(49152, 4789, 0); // no payload
/// let mut bytes = [0u8; 8];
/// repr.emit(&mut bytes)?;
/// assert_eq!(UdpRepr::parse(&UdpDatagram::new_checked(&bytes[..])?), repr);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Checksum, written as is by `emit`.
    pub checksum: u16,
    /// Payload length: the length field minus 8.
    pub payload_len: u16,
}

impl UdpRepr {
    /// A new header with checksum 0 (none); fill it with
    /// [`UdpDatagram::fill_checksum`] once the payload is in place.
    #[inline]
    pub const fn new(src_port: u16, dst_port: u16, payload_len: u16) -> Self {
        UdpRepr {
            src_port,
            dst_port,
            checksum: 0,
            payload_len,
        }
    }

    /// Reads a checked datagram's header.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(datagram: &UdpDatagram<T>) -> Self {
        UdpRepr {
            src_port: datagram.src_port(),
            dst_port: datagram.dst_port(),
            checksum: datagram.checksum(),
            // Never saturates for a checked datagram (length >= 8).
            payload_len: datagram.len().saturating_sub(HEADER_LEN as u16),
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
    /// `BufferTooSmall` when `buffer` is shorter than 8 bytes; `OutOfRange` when the
    /// length would exceed 65535.
    #[inline]
    #[allow(clippy::arithmetic_side_effects)] // a u16 plus 8, in u32: no overflow
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        require_room(Layer::Udp, buffer, HEADER_LEN)?;
        let len = self
            .payload_len
            .checked_add(HEADER_LEN as u16)
            .ok_or(Error::new(
                Layer::Udp,
                ErrorKind::OutOfRange {
                    field: "length",
                    value: u32::from(self.payload_len) + HEADER_LEN as u32,
                },
            ))?;
        let mut datagram = UdpDatagram::new_unchecked(buffer);
        datagram.set_src_port(self.src_port);
        datagram.set_dst_port(self.dst_port);
        datagram.set_len(len);
        datagram.set_checksum(self.checksum);
        Ok(())
    }
}

impl fmt::Display for UdpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UDP {} > {} len {}",
            self.src_port, self.dst_port, self.payload_len
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

    // 49152 > 4789, length 12, checksum 0, payload 01 02 03 04, then 2 stray bytes.
    static DATAGRAM: [u8; 14] = [
        0xc0, 0x00, 0x12, 0xb5, 0x00, 0x0c, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0xff, 0xff,
    ];

    #[test]
    fn deconstruct() {
        let udp = UdpDatagram::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(udp.src_port(), 49152);
        assert_eq!(udp.dst_port(), 4789);
        assert_eq!(udp.len(), 12);
        assert_eq!(udp.checksum(), 0);
        assert!(udp.verify_checksum(SRC, DST), "checksum 0 means none");
        assert_eq!(udp.payload(), &[1, 2, 3, 4]);
    }

    #[test]
    fn checksum_fill_and_verify() {
        let mut bytes = DATAGRAM;
        let mut udp = UdpDatagram::new_unchecked(&mut bytes[..]);
        udp.fill_checksum(SRC, DST);
        assert_ne!(udp.checksum(), 0);
        assert!(udp.verify_checksum(SRC, DST));
        assert!(!udp.verify_checksum(SRC, Ipv4Addr::new(192, 168, 1, 3)));
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Choose the payload so the one's-complement sum is 0xffff: the checksum computes
        // to 0 and must go on the wire as 0xffff.
        let mut bytes = [0u8; 10];
        bytes[5] = 10;
        let partial = checksum::combine(
            checksum::pseudo_header_ipv4(SRC, DST, 17, 10),
            checksum::sum(&bytes),
        );
        bytes[8..10].copy_from_slice(&(!partial).to_be_bytes());
        let mut udp = UdpDatagram::new_unchecked(&mut bytes[..]);
        udp.fill_checksum(SRC, DST);
        assert_eq!(udp.checksum(), 0xffff);
        assert!(udp.verify_checksum(SRC, DST));
    }

    #[test]
    fn repr_round_trip() {
        let mut bytes = DATAGRAM;
        bytes[6..8].copy_from_slice(&[0x12, 0x34]);
        let repr = UdpRepr::parse(&UdpDatagram::new_checked(&bytes[..]).unwrap());
        assert_eq!(
            repr,
            UdpRepr {
                src_port: 49152,
                dst_port: 4789,
                checksum: 0x1234,
                payload_len: 4
            }
        );
        let mut out = [0u8; 8];
        repr.emit(&mut out).unwrap();
        assert_eq!(out, bytes[..8]);
    }

    #[test]
    fn length_field_is_validated() {
        let mut bytes = DATAGRAM;
        bytes[5] = 7;
        assert_eq!(
            UdpDatagram::new_checked(&bytes[..]).unwrap_err().kind,
            ErrorKind::UdpLength(7)
        );
        bytes[5] = 15;
        assert_eq!(
            UdpDatagram::new_checked(&bytes[..]).unwrap_err().kind,
            ErrorKind::Truncated {
                needed: 15,
                available: 14,
                by: crate::error::Truncation::LengthField
            }
        );
        assert!(UdpDatagram::new_checked(&bytes[..7]).is_err());
    }

    #[test]
    fn nom_parser_stops_at_length() {
        let (rest, udp) = parse(&DATAGRAM).unwrap();
        assert_eq!(rest, &[1, 2, 3, 4]);
        assert_eq!(udp.into_inner().len(), 12);
    }
}
