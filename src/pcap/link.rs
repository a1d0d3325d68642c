//! Link types, and what a record of each holds: an Ethernet frame, or a network-layer
//! packet after a link header that says which (Linux's cooked headers of
//! `tcpdump -i any`, raw IP, BSD loopback), for [`Decoder::decode_ip`].
//!
//! [`Decoder::decode_ip`]: crate::packet::Decoder::decode_ip

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::fmt;

use super::Record;
use crate::wire::EtherType;

/// A link-layer header type (tcpdump.org's LINKTYPE_ values): what the bytes of a record
/// begin with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u16);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order, then
    /// the packet (LINKTYPE_NULL).
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II (and 802.3) frames: LINKTYPE_ETHERNET.
    pub const ETHERNET: LinkType = LinkType(1);
    /// An IPv4 or IPv6 packet, without a link header (LINKTYPE_RAW).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: LINKTYPE_NULL's header in network byte order (LINKTYPE_LOOP).
    pub const LOOP: LinkType = LinkType(108);
    /// Linux's cooked header of a capture on every interface (`tcpdump -i any` before
    /// libpcap 1.10): 16 bytes, the packet's EtherType last (LINKTYPE_LINUX_SLL).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// An IPv4 packet, without a link header (LINKTYPE_IPV4).
    pub const IPV4: LinkType = LinkType(228);
    /// An IPv6 packet, without a link header (LINKTYPE_IPV6).
    pub const IPV6: LinkType = LinkType(229);
    /// Linux's cooked header, version 2 (`tcpdump -i any` since libpcap 1.10): 20 bytes,
    /// the packet's EtherType first (LINKTYPE_LINUX_SLL2).
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// True for the link types whose records [`Record::content`] reads: Ethernet, and
    /// those whose header names the network protocol.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Self::NULL
                | Self::ETHERNET
                | Self::RAW
                | Self::LOOP
                | Self::LINUX_SLL
                | Self::IPV4
                | Self::IPV6
                | Self::LINUX_SLL2
        )
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a record's bytes hold, by its link type ([`Record::content`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content<'a> {
    /// An Ethernet frame, `offset` bytes into the record: the whole record
    /// (LINKTYPE_ETHERNET), or what follows a cooked header whose protocol says an
    /// Ethernet frame follows (0x0003, or GRE's 0x6558).
    Ethernet {
        /// Bytes of link header before the frame.
        offset: usize,
        /// The frame, as captured.
        bytes: &'a [u8],
    },
    /// A network-layer packet after a link header that names its protocol: `bytes`, the
    /// rest of the record from `offset` on, of EtherType `ethertype`. IPv4, IPv6 and a
    /// VLAN TPID (the tag libpcap puts back after Linux's cooked header, as on the parent
    /// of VLAN sub-interfaces) are what
    /// [`Decoder::decode_ip`](crate::packet::Decoder::decode_ip) decodes; ARP and others
    /// it leaves undecoded.
    Packet {
        /// The protocol the link header names, as an EtherType.
        ethertype: EtherType,
        /// Bytes of link header before the packet.
        offset: usize,
        /// The packet, as captured.
        bytes: &'a [u8],
    },
    /// Neither: why not.
    Undecoded(Undecoded),
}

/// Why a record's content is not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecoded {
    /// A link type whose header this crate does not read ([`LinkType::is_read`]).
    LinkType(LinkType),
    /// The record ends inside its link header: `len` bytes of the `needed` (for raw IP,
    /// which has none, an empty record: 0 of 1).
    HeaderCut {
        /// The record's link type.
        link_type: LinkType,
        /// The link header's length.
        needed: usize,
        /// The record's length.
        len: usize,
    },
    /// The link header names a protocol this crate does not decode: a cooked header's
    /// protocol that is no EtherType (an IEEE 802.2 frame, a netlink message), a
    /// loopback header's address family, or raw IP's version, neither 4 nor 6: its
    /// value.
    Protocol {
        /// The record's link type.
        link_type: LinkType,
        /// The protocol field's value.
        value: u32,
    },
}

impl fmt::Display for Undecoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Undecoded::LinkType(link_type) => write!(f, "link type {link_type} is not Ethernet"),
            Undecoded::HeaderCut {
                link_type, len: 0, ..
            } if link_type == LinkType::RAW => {
                write!(f, "link type {link_type}: the record is empty")
            }
            Undecoded::HeaderCut {
                link_type,
                needed,
                len,
            } => write!(
                f,
                "link type {link_type}: the record ends inside its {needed}-byte link header \
                 ({len} bytes)"
            ),
            Undecoded::Protocol { link_type, value } => match link_type {
                LinkType::RAW => write!(
                    f,
                    "link type {link_type}: IP version {value} is neither 4 nor 6"
                ),
                LinkType::NULL | LinkType::LOOP => write!(
                    f,
                    "link type {link_type}: address family {value} is neither IPv4's nor IPv6's"
                ),
                _ => write!(
                    f,
                    "link type {link_type}: protocol {value:#06x} of the cooked header is not an \
                     EtherType"
                ),
            },
        }
    }
}

/// Linux's hardware type of netlink monitoring (`nlmon`): the cooked header's protocol
/// is then a netlink family.
const ARPHRD_NETLINK: u16 = 824;

/// The cooked header's protocol of an Ethernet frame (libpcap's `LINUX_SLL_P_ETHERNET`).
const LINUX_SLL_P_ETHERNET: u16 = 0x0003;

/// BSD address families of IPv4 and IPv6 (IPv6's differs by system: NetBSD and OpenBSD
/// 24, FreeBSD 28, macOS 30; Linux, whose is 10, writes no loopback header), as
/// EtherTypes.
fn address_family(family: u32) -> Option<EtherType> {
    match family {
        2 => Some(EtherType::IPV4),
        24 | 28 | 30 => Some(EtherType::IPV6),
        _ => None,
    }
}

impl<'a> Record<'a> {
    /// What the record holds, by its link type: an Ethernet frame, a network-layer
    /// packet after a link header that names its protocol, or why neither.
    ///
    /// ```
    /// use tunnelwire::pcap::{Content, LinkType, Record, Undecoded};
    /// use tunnelwire::wire::EtherType;
    ///
    /// // Linux's cooked header (`tcpdump -i any`): sent by us, Ethernet's hardware type,
    /// // a 6-byte address, then EtherType IPv4.
    /// let mut data = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    /// data.extend_from_slice(&[0x45, 0, 0, 20]);
    /// let record = Record {
    ///     index: 1,
    ///     timestamp: Default::default(),
    ///     orig_len: 20,
    ///     data: &data,
    ///     interface: 0,
    ///     link_type: LinkType::LINUX_SLL,
    /// };
    /// let Content::Packet { ethertype, offset, bytes } = record.content() else {
    ///     panic!("a packet");
    /// };
    /// assert_eq!((ethertype, offset, bytes), (EtherType::IPV4, 16, &data[16..]));
    ///
    /// let cut = Record { data: &data[..10], ..record };
    /// assert!(matches!(cut.content(), Content::Undecoded(Undecoded::HeaderCut { .. })));
    /// ```
    pub fn content(&self) -> Content<'a> {
        let (link_type, data) = (self.link_type, self.data);
        let packet = |offset: usize, protocol: Option<EtherType>, value: u32| {
            let cut = Content::Undecoded(Undecoded::HeaderCut {
                link_type,
                needed: offset,
                len: data.len(),
            });
            match (data.get(offset..), protocol) {
                (None, _) => cut,
                (Some(bytes), Some(ethertype)) => Content::Packet {
                    ethertype,
                    offset,
                    bytes,
                },
                (Some(_), None) => Content::Undecoded(Undecoded::Protocol { link_type, value }),
            }
        };
        let be16 = |at: usize| {
            let bytes = data.get(at..)?.first_chunk::<2>()?;
            Some(u16::from_be_bytes(*bytes))
        };
        // A cooked header of `len` bytes, its hardware type and protocol: the protocol is
        // an EtherType but for a few values below 1536 (IEEE 802.2 and 802.3 frames,
        // CAN) and netlink's families; 0x0003, and GRE's 0x6558, say an Ethernet frame
        // follows.
        let cooked = |len: usize, hardware: Option<u16>, protocol: Option<u16>| {
            let value = protocol.map_or(0, u32::from);
            let Some(protocol) = protocol.filter(|_| hardware != Some(ARPHRD_NETLINK)) else {
                return packet(len, None, value);
            };
            let ethertype = EtherType(protocol);
            match data.get(len..) {
                Some(bytes)
                    if protocol == LINUX_SLL_P_ETHERNET
                        || ethertype == EtherType::TRANSPARENT_ETHERNET_BRIDGING =>
                {
                    Content::Ethernet { offset: len, bytes }
                }
                _ => packet(len, Some(ethertype).filter(|t| !t.is_length()), value),
            }
        };
        match link_type {
            LinkType::ETHERNET => Content::Ethernet {
                offset: 0,
                bytes: data,
            },
            LinkType::LINUX_SLL => cooked(16, be16(2), be16(14)),
            LinkType::LINUX_SLL2 => cooked(20, be16(8), be16(0)),
            LinkType::RAW => {
                let Some(&first) = data.first() else {
                    // Cut before the packet's first byte, which says its version.
                    return packet(1, None, 0);
                };
                let ethertype = match first >> 4 {
                    4 => Some(EtherType::IPV4),
                    6 => Some(EtherType::IPV6),
                    _ => None,
                };
                packet(0, ethertype, u32::from(first >> 4))
            }
            LinkType::IPV4 => packet(0, Some(EtherType::IPV4), 0),
            LinkType::IPV6 => packet(0, Some(EtherType::IPV6), 0),
            LinkType::NULL | LinkType::LOOP => {
                let Some(header) = data.first_chunk::<4>() else {
                    return packet(4, None, 0);
                };
                // NULL's family is in the capturing host's byte order, unknown here: a
                // family is below 65536, so the order that leaves the high half zero.
                let family = match (link_type, u32::from_le_bytes(*header)) {
                    (LinkType::NULL, little) if little <= 0xffff => little,
                    _ => u32::from_be_bytes(*header),
                };
                packet(4, address_family(family), family)
            }
            other => Content::Undecoded(Undecoded::LinkType(other)),
        }
    }
}
