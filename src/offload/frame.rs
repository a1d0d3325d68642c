//! Where the layers of a TCP or UDP frame are, for the offloads: Ethernet, at most one
//! VLAN tag, IPv4 or IPv6 without extension headers, then TCP or UDP. Also the TCP
//! header's field ranges (the crate's `wire` has no TCP view: only the offloads read TCP,
//! and they read just these fields) and the checksum arithmetic both offloads share.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::error::{Error, ErrorKind, Layer, Result, Truncation};
use crate::wire::{EtherType, IpProtocol, Ipv4Packet, Ipv6Packet, ethernet, ipv6, udp, vlan};

/// Field ranges and flag bits of the TCP header (RFC 9293 section 3.1).
pub(crate) mod tcp {
    use core::ops::Range;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Length of the header without options.
    pub const HEADER_LEN: usize = 20;

    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK_FLAG: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// Field ranges of the UDP header the offloads rewrite (RFC 768).
pub(crate) mod udp_field {
    use core::ops::Range;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// The IP version of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
}

/// The transport of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    /// Offset of the checksum inside the transport header: `csum_offset`.
    pub(crate) const fn checksum_offset(self) -> usize {
        match self {
            Transport::Tcp => tcp::CHECKSUM.start,
            Transport::Udp => udp_field::CHECKSUM.start,
        }
    }

    /// The IP protocol number.
    pub(crate) const fn protocol(self) -> IpProtocol {
        match self {
            Transport::Tcp => IpProtocol::TCP,
            Transport::Udp => IpProtocol::UDP,
        }
    }
}

/// Where a frame's layers start, from its first byte. `l3 < l4 < payload <= end <=` the
/// frame's length: every offset was checked against the frame by [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub family: Family,
    pub transport: Transport,
    /// The IP header.
    pub l3: usize,
    /// The TCP or UDP header.
    pub l4: usize,
    /// The transport payload.
    pub payload: usize,
    /// The end of the IP packet (bytes after it are Ethernet padding).
    pub end: usize,
}

impl Layout {
    /// Payload bytes in the frame.
    pub(crate) fn payload_len(&self) -> usize {
        self.end.saturating_sub(self.payload)
    }
}

/// Finds the layers of a TCP or UDP frame. IPv4 options are allowed (segmentation copies
/// them; coalescing refuses them by its own rule); IPv4 fragments and IPv6 extension
/// headers are not.
///
/// # Errors
/// The header parsers' errors (`Truncated`, `Version`, `HeaderLength`, `TotalLength`) at
/// the header's offset; `Fragment` for an IPv4 fragment; `NotSegmentable` for an EtherType
/// other than IPv4 and IPv6 after at most one tag, an IPv6 extension header or a
/// transport other than TCP and UDP; for TCP `Invalid` naming the data offset when below
/// 5 and `Truncated` when the header passes the IP packet's end; for UDP `Truncated`
/// when the 8-byte header does.
pub(crate) fn parse(frame: &[u8]) -> Result<Layout> {
    let (mut rest, eth) = ethernet::parse(frame)?;
    let mut ethertype = eth.ethertype();
    let mut l3 = ethernet::HEADER_LEN;
    if ethertype.is_vlan_tpid() {
        let (inner, tag) = vlan::parse(rest).map_err(|e| e.at(l3))?;
        ethertype = tag.ethertype();
        rest = inner;
        l3 = ethernet::HEADER_LEN + vlan::HEADER_LEN;
    }
    let (family, protocol, l4, ip_len) = match ethertype {
        EtherType::IPV4 => {
            let packet = Ipv4Packet::new_checked(rest).map_err(|e| e.at(l3))?;
            if packet.is_fragment() {
                return Err(Error::new(Layer::Ipv4, ErrorKind::Fragment).at(l3));
            }
            let header_len = packet.header_len();
            (
                Family::V4,
                packet.protocol(),
                header_len,
                usize::from(packet.total_len()),
            )
        }
        EtherType::IPV6 => {
            let packet = Ipv6Packet::new_checked(rest).map_err(|e| e.at(l3))?;
            (
                Family::V6,
                packet.next_header(),
                ipv6::HEADER_LEN,
                packet.total_len(),
            )
        }
        _ => {
            let layer = if l3 == ethernet::HEADER_LEN {
                Layer::Ethernet
            } else {
                Layer::Vlan
            };
            return Err(Error::new(
                layer,
                ErrorKind::NotSegmentable("a frame other than IPv4 or IPv6 after at most one tag"),
            ));
        }
    };
    let layer = if family == Family::V4 {
        Layer::Ipv4
    } else {
        Layer::Ipv6
    };
    let transport = match protocol {
        IpProtocol::TCP => Transport::Tcp,
        IpProtocol::UDP => Transport::Udp,
        _ => {
            return Err(Error::new(
                layer,
                ErrorKind::NotSegmentable(
                    "an IPv6 extension header or a transport other than TCP and UDP",
                ),
            )
            .at(l3));
        }
    };
    // The IP checks above proved l4 <= ip_len <= rest.len(): these sums stay in the frame.
    let (l4, end) = (l3.saturating_add(l4), l3.saturating_add(ip_len));
    let segment = frame.get(l4..end).unwrap_or_default();
    let header_len = match transport {
        Transport::Tcp => {
            let data_offset = segment.get(tcp::DATA_OFFSET).map_or(0, |b| b >> 4);
            if segment.len() > tcp::DATA_OFFSET && data_offset < 5 {
                return Err(Error::new(
                    Layer::Tcp,
                    ErrorKind::Invalid {
                        field: "data offset",
                        value: u32::from(data_offset),
                    },
                )
                .at(l4));
            }
            usize::from(data_offset.max(5)).saturating_mul(4)
        }
        Transport::Udp => udp::HEADER_LEN,
    };
    if segment.len() < header_len {
        let (layer, by) = match (transport, segment.len() > tcp::DATA_OFFSET) {
            (Transport::Tcp, true) => (Layer::Tcp, Truncation::LengthField),
            (Transport::Tcp, false) => (Layer::Tcp, Truncation::Buffer),
            (Transport::Udp, _) => (Layer::Udp, Truncation::Buffer),
        };
        return Err(Error::truncated(layer, header_len, segment.len(), by).at(l4));
    }
    Ok(Layout {
        family,
        transport,
        l3,
        l4,
        payload: l4.saturating_add(header_len),
        end,
    })
}

/// The folded sum of the pseudo-header of the transport segment `layout` finds in
/// `frame`, for a transport length of `length` bytes.
pub(crate) fn pseudo_header_sum(frame: &[u8], layout: &Layout, length: usize) -> u16 {
    let ip = frame.get(layout.l3..).unwrap_or_default();
    let protocol = layout.transport.protocol().0;
    match layout.family {
        Family::V4 => {
            let addr = |at: usize| {
                ip.get(at..at.saturating_add(4))
                    .and_then(|b| b.first_chunk::<4>())
                    .map_or(Ipv4Addr::UNSPECIFIED, |b| Ipv4Addr::from(*b))
            };
            // An IPv4 transport length fits 16 bits: the total length does.
            let length = u16::try_from(length).unwrap_or(u16::MAX);
            checksum::pseudo_header_ipv4(addr(12), addr(16), protocol, length)
        }
        Family::V6 => {
            let addr = |at: usize| {
                ip.get(at..at.saturating_add(16))
                    .and_then(|b| b.first_chunk::<16>())
                    .map_or(Ipv6Addr::UNSPECIFIED, |b| Ipv6Addr::from(*b))
            };
            let length = u32::try_from(length).unwrap_or(u32::MAX);
            checksum::pseudo_header_ipv6(addr(8), addr(24), protocol, length)
        }
    }
}

/// Reads a big-endian u16 from a two-byte range of `bytes` (0 when the range is not in
/// `bytes`: callers pass ranges [`parse`] proved present).
pub(crate) fn get_u16(bytes: &[u8], range: core::ops::Range<usize>) -> u16 {
    bytes
        .get(range)
        .and_then(|b| b.first_chunk::<2>())
        .map_or(0, |b| u16::from_be_bytes(*b))
}

/// Reads a big-endian u32 from a four-byte range of `bytes` (0 when the range is not in
/// `bytes`, as [`get_u16`]).
pub(crate) fn get_u32(bytes: &[u8], range: core::ops::Range<usize>) -> u32 {
    bytes
        .get(range)
        .and_then(|b| b.first_chunk::<4>())
        .map_or(0, |b| u32::from_be_bytes(*b))
}

/// Writes a big-endian u16 into a two-byte range of `bytes` (nothing when the range is
/// not in `bytes`, as [`get_u16`]).
pub(crate) fn set_u16(bytes: &mut [u8], range: core::ops::Range<usize>, value: u16) {
    if let Some(field) = bytes.get_mut(range).and_then(|b| b.first_chunk_mut::<2>()) {
        *field = value.to_be_bytes();
    }
}

/// Writes a big-endian u32 into a four-byte range of `bytes` (as [`set_u16`]).
pub(crate) fn set_u32(bytes: &mut [u8], range: core::ops::Range<usize>, value: u32) {
    if let Some(field) = bytes.get_mut(range).and_then(|b| b.first_chunk_mut::<4>()) {
        *field = value.to_be_bytes();
    }
}

/// A range moved forward by `base` bytes (a header's field inside a frame).
pub(crate) fn shift(range: core::ops::Range<usize>, base: usize) -> core::ops::Range<usize> {
    range.start.saturating_add(base)..range.end.saturating_add(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet, a VLAN tag, IPv4 with one option word, TCP with 12 bytes of options, 3
    /// payload bytes and 2 bytes of padding.
    fn tagged_ipv4_tcp() -> std::vec::Vec<u8> {
        let mut f = std::vec![0u8; 14 + 4 + 24 + 32 + 3 + 2];
        f[12..14].copy_from_slice(&[0x81, 0x00]);
        f[16..18].copy_from_slice(&[0x08, 0x00]);
        f[18] = 0x46;
        f[20..22].copy_from_slice(&(24u16 + 32 + 3).to_be_bytes());
        f[27] = 6;
        f[42 + 12] = 8 << 4;
        f
    }

    #[test]
    fn finds_each_layer_past_a_tag_and_options() {
        let f = tagged_ipv4_tcp();
        let layout = parse(&f).unwrap();
        assert_eq!(
            layout,
            Layout {
                family: Family::V4,
                transport: Transport::Tcp,
                l3: 18,
                l4: 42,
                payload: 74,
                end: 77
            }
        );
        assert_eq!(layout.payload_len(), 3);
    }

    #[test]
    fn refusals_name_layer_and_offset() {
        let mut f = tagged_ipv4_tcp();
        f[42 + 12] = 4 << 4;
        let e = parse(&f).unwrap_err();
        assert_eq!((e.layer, e.offset), (Layer::Tcp, 42));
        assert_eq!(
            e.kind,
            ErrorKind::Invalid {
                field: "data offset",
                value: 4
            }
        );
        f[42 + 12] = 15 << 4;
        assert_eq!(parse(&f).unwrap_err().kind.name(), "truncated");
        f[42 + 12] = 8 << 4;
        f[24] = 0x20; // MF
        assert_eq!(parse(&f).unwrap_err().kind, ErrorKind::Fragment);
        f[24] = 0;
        f[27] = 1; // ICMP
        assert_eq!(parse(&f).unwrap_err().kind.name(), "not_segmentable");
        let mut v6 = std::vec![0u8; 14 + 40 + 8];
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        v6[14] = 0x60;
        v6[18..20].copy_from_slice(&8u16.to_be_bytes());
        v6[20] = 0; // hop-by-hop options
        let e = parse(&v6).unwrap_err();
        assert_eq!(
            (e.layer, e.offset, e.kind.name()),
            (Layer::Ipv6, 14, "not_segmentable")
        );
        v6[20] = 17;
        assert_eq!(parse(&v6).unwrap().payload, 62);
        let mut arp = std::vec![0u8; 60];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse(&arp).unwrap_err().layer, Layer::Ethernet);
    }
}
