//! Ethernet II header (IEEE 802.3 clause 3.1.1): destination, source, EtherType.

// Reached by untrusted bytes: no arithmetic that could overflow but where an `allow`
// says why it cannot. Indexing is the views' design: accessors index the field ranges
// `check_len` proved present (or that a `new_unchecked` caller vouches for).
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::fmt;
use core::str::FromStr;

use super::{get_u16, require, require_room, set_u16};
use crate::error::{Error, ErrorKind, Layer, Result};

/// Field ranges of the Ethernet II header.
mod field {
    use core::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = ETHERTYPE.end;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Length of the destination and source addresses that open the header.
pub const ADDRS_LEN: usize = field::ETHERTYPE.start;

/// A 48-bit IEEE MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// The address from its six bytes.
    #[inline]
    pub const fn new(bytes: [u8; 6]) -> Self {
        MacAddr(bytes)
    }

    /// The six bytes, in wire order.
    #[inline]
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// True for ff:ff:ff:ff:ff:ff.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// True when the I/G bit is set: multicast, broadcast included.
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// True for an individual (unicast) address.
    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// True when the U/L bit is set: a locally administered address.
    #[inline]
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// A string that is not six hexadecimal bytes separated by `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address: expected six hex bytes separated by ':'")]
pub struct MacAddrParseError;

/// So `?` works on MAC address text in a function returning this crate's `Result`.
impl From<MacAddrParseError> for Error {
    fn from(_: MacAddrParseError) -> Self {
        Error::new(
            Layer::Ethernet,
            ErrorKind::Unsupported("MAC address text other than aa:bb:cc:dd:ee:ff"),
        )
    }
}

impl FromStr for MacAddr {
    type Err = MacAddrParseError;

    fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
        let mut bytes = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut bytes {
            let part = parts.next().ok_or(MacAddrParseError)?;
            if part.is_empty() || part.len() > 2 {
                return Err(MacAddrParseError);
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| MacAddrParseError)?;
        }
        match parts.next() {
            Some(_) => Err(MacAddrParseError),
            None => Ok(MacAddr(bytes)),
        }
    }
}

/// The protocol that follows an Ethernet header or VLAN tag. An open set: any value is
/// representable, the constants name the ones this crate knows. `Debug` prints the
/// constant's name (`EtherType::IPV4`) or the hex value (`EtherType(0x1234)`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl From<u16> for EtherType {
    #[inline]
    fn from(value: u16) -> Self {
        EtherType(value)
    }
}

impl From<EtherType> for u16 {
    #[inline]
    fn from(value: EtherType) -> Self {
        value.0
    }
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::IPV4 => "IPV4",
            Self::ARP => "ARP",
            Self::VLAN => "VLAN",
            Self::QINQ => "QINQ",
            Self::QINQ_LEGACY => "QINQ_LEGACY",
            Self::IPV6 => "IPV6",
            Self::TRANSPARENT_ETHERNET_BRIDGING => "TRANSPARENT_ETHERNET_BRIDGING",
            EtherType(other) => return write!(f, "EtherType({other:#06x})"),
        };
        write!(f, "EtherType::{name}")
    }
}

impl EtherType {
    /// Internet Protocol version 4.
    pub const IPV4: EtherType = EtherType(0x0800);
    /// Address Resolution Protocol.
    pub const ARP: EtherType = EtherType(0x0806);
    /// IEEE 802.1Q customer VLAN tag (C-tag).
    pub const VLAN: EtherType = EtherType(0x8100);
    /// IEEE 802.1ad service VLAN tag (S-tag, QinQ).
    pub const QINQ: EtherType = EtherType(0x88a8);
    /// Pre-standard QinQ S-tag, still sent by some switches (Wireshark decodes it too).
    pub const QINQ_LEGACY: EtherType = EtherType(0x9100);
    /// Internet Protocol version 6.
    pub const IPV6: EtherType = EtherType(0x86dd);
    /// Transparent Ethernet Bridging: the GRE protocol type of NVGRE (RFC 7637 section 3.2)
    /// and the Geneve protocol type of an Ethernet payload (RFC 8926 section 3.4).
    pub const TRANSPARENT_ETHERNET_BRIDGING: EtherType = EtherType(0x6558);
    /// The smallest EtherType: IEEE 802.3 reads a smaller value in the type field as the
    /// frame's length (an 802.3 frame, LLC after it: STP, CDP, DTP).
    pub const MIN: EtherType = EtherType(1536);

    /// True for the TPIDs of a VLAN tag: 802.1Q (0x8100), 802.1ad (0x88a8) and the
    /// pre-standard QinQ 0x9100.
    #[inline]
    pub const fn is_vlan_tpid(self) -> bool {
        matches!(self, Self::VLAN | Self::QINQ | Self::QINQ_LEGACY)
    }

    /// True below 1536 ([`MIN`](Self::MIN)): not an EtherType but an IEEE 802.3 length.
    #[inline]
    pub const fn is_length(self) -> bool {
        self.0 < Self::MIN.0
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}

/// A view of an Ethernet II frame: the 14-byte header and everything after it.
///
/// ```
/// use tunnelwire::wire::{EtherType, EthernetFrame, MacAddr};
///
/// let bytes = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45];
/// let frame = EthernetFrame::new_checked(&bytes[..])?;
/// assert_eq!(frame.src_addr(), MacAddr([2, 0, 0, 0, 0, 1]));
/// assert_eq!(frame.ethertype(), EtherType::IPV4);
/// assert_eq!(frame.payload(), &[0x45]);
/// assert!(EthernetFrame::new_checked(&bytes[..13]).is_err());
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking it; accessors may panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    ///
    /// # Errors
    /// `Truncated` when the buffer is shorter than the header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the buffer holds the whole header.
    ///
    /// # Errors
    /// `Truncated` when the buffer is shorter than 14 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        require(Layer::Ethernet, self.buffer.as_ref(), HEADER_LEN)
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        let mut bytes = [0; 6];
        bytes.copy_from_slice(&self.buffer.as_ref()[field::DESTINATION]);
        MacAddr(bytes)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        let mut bytes = [0; 6];
        bytes.copy_from_slice(&self.buffer.as_ref()[field::SOURCE]);
        MacAddr(bytes)
    }

    /// The EtherType, or the TPID of a VLAN tag that follows.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType(get_u16(&self.buffer.as_ref()[field::ETHERTYPE]))
    }

    /// Header length: always 14.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> EthernetFrame<&'a T> {
    /// Everything after the header (tags included), borrowed from the original buffer.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        set_u16(&mut self.buffer.as_mut()[field::ETHERTYPE], ethertype.0);
    }

    /// Everything after the header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// Parses an Ethernet header; the rest is its payload.
///
/// # Errors
/// `Truncated` when fewer than 14 bytes remain.
#[inline]
pub fn parse(input: &[u8]) -> Result<(&[u8], EthernetFrame<&[u8]>)> {
    let frame = EthernetFrame::new_checked(input)?;
    Ok((frame.payload(), frame))
}

/// The Ethernet II header's fields, owned.
///
/// ```
/// use tunnelwire::wire::{EtherType, EthernetFrame, EthernetRepr, MacAddr};
///
/// let repr = EthernetRepr {
///     dst_addr: MacAddr::BROADCAST,
///     src_addr: "02:00:00:00:00:01".parse().unwrap(),
///     ethertype: EtherType::ARP,
/// };
/// let mut bytes = [0u8; 14];
/// repr.emit(&mut bytes)?;
/// assert_eq!(EthernetRepr::parse(&EthernetFrame::new_checked(&bytes[..])?), repr);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Destination address.
    pub dst_addr: MacAddr,
    /// Source address.
    pub src_addr: MacAddr,
    /// EtherType (or TPID of a following tag).
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a checked view.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Self {
        EthernetRepr {
            dst_addr: frame.dst_addr(),
            src_addr: frame.src_addr(),
            ethertype: frame.ethertype(),
        }
    }

    /// Bytes the header occupies: 14.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 14 bytes of `buffer`.
    ///
    /// # Errors
    /// `BufferTooSmall` when `buffer` is shorter than 14 bytes.
    #[inline]
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        require_room(Layer::Ethernet, buffer, HEADER_LEN)?;
        let mut frame = EthernetFrame::new_unchecked(buffer);
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
        Ok(())
    }
}

impl fmt::Display for EthernetRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Ethernet {} > {} type {}",
            self.src_addr, self.dst_addr, self.ethertype
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    static FRAME: [u8; 18] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // src
        0x08, 0x00, // IPv4
        0xaa, 0xbb, 0xcc, 0xdd, // payload
    ];

    #[test]
    fn deconstruct() {
        let frame = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(frame.dst_addr(), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(frame.src_addr(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(frame.ethertype(), EtherType::IPV4);
        assert_eq!(frame.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn construct_and_emit_round_trip() {
        let repr = EthernetRepr::parse(&EthernetFrame::new_checked(&FRAME[..]).unwrap());
        let mut bytes = [0u8; 18];
        repr.emit(&mut bytes).unwrap();
        bytes[14..].copy_from_slice(&FRAME[14..]);
        assert_eq!(bytes, FRAME);
    }

    #[test]
    fn truncated_header_is_an_error() {
        let err = EthernetFrame::new_checked(&FRAME[..13]).unwrap_err();
        assert_eq!(err.layer, Layer::Ethernet);
        assert_eq!(
            err.kind,
            ErrorKind::Truncated {
                needed: 14,
                available: 13,
                by: crate::error::Truncation::Buffer
            }
        );
    }

    #[test]
    fn emit_into_short_buffer_is_an_error() {
        let repr = EthernetRepr::parse(&EthernetFrame::new_checked(&FRAME[..]).unwrap());
        assert!(repr.emit(&mut [0u8; 10]).is_err());
    }

    #[test]
    fn nom_parser_yields_payload_as_rest() {
        let (rest, frame) = parse(&FRAME).unwrap();
        assert_eq!(rest, &FRAME[14..]);
        assert_eq!(frame.ethertype(), EtherType::IPV4);
    }

    #[test]
    fn mac_addr_text_round_trip_and_classes() {
        let mac: MacAddr = "01:00:5E:0a:0b:0c".parse().unwrap();
        assert_eq!(mac.to_string(), "01:00:5e:0a:0b:0c");
        assert!(mac.is_multicast() && !mac.is_broadcast() && !mac.is_local());
        // A group address is not unicast (pins `is_unicast` against `true`).
        assert!(!mac.is_unicast());
        assert!(MacAddr::BROADCAST.is_broadcast() && MacAddr::BROADCAST.is_multicast());
        assert!(MacAddr([0x02, 0, 0, 0, 0, 1]).is_local());
        assert!(MacAddr([0x02, 0, 0, 0, 0, 1]).is_unicast());
        for bad in [
            "",
            "01:02:03:04:05",
            "01:02:03:04:05:06:07",
            "001:02:03:04:05:06",
            "zz:02:03:04:05:06",
            "01:02:03:04:05:",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(MacAddrParseError), "{bad}");
        }
    }
}
