//! Whole-frame decode: outer stack -> tunnel -> inner stack, composed from the headers'
//! parsers.
//!
//! A [`Frame`] is a `Copy` value of validated views that borrow the input: nothing is
//! copied or allocated. Decoding goes
//!
//! ```text
//! Ethernet -> up to 2 VLAN tags -> IPv4 or IPv6 -> UDP (VXLAN or Geneve on their ports)
//!          or GRE (NVGRE) -> inner Ethernet -> up to 2 VLAN tags -> IPv4 or IPv6 -> UDP,
//!          or TCP ports
//! ```
//!
//! where a Geneve payload of protocol type 0x0800 or 0x86DD is an inner stack that
//! starts at IP, without Ethernet, as the outer stack does for
//! [`Decoder::decode_ip`] (a capture's record after a link header of another kind, at IP
//! or at a VLAN tag). It stops quietly at a payload it does not decode
//! (ARP, ICMP, an IPv6 extension header, a third VLAN tag, a nested tunnel, a Geneve
//! payload of another protocol type, an IEEE 802.3 frame: a type field below 1536 is a
//! length, see [`EtherType::is_length`]) and after the IPv4 header of any fragment (MF
//! set or offset > 0), since only the first fragment carries transport ports. A
//! malformed header is an [`Error`](crate::Error) whose offset counts from the frame's first byte.
//!
//! The files split by job: this one holds the decoded frame, `decoder` the [`Decoder`]
//! and its ways to decode, `walk` the walk they run (`express` its straight-line take of the
//! common frame), `record` what the walk hands each header to ([`Record`],
//! [`RecordFrame`]), `ports` the [`TunnelPorts`].
//!
//! ## Example: decode a VXLAN frame and read its layers
//!
//! ```
//! use core::net::Ipv4Addr;
//! use tunnelwire::packet::{Decoder, TunnelKind};
//! use tunnelwire::tunnel::{Encapsulator, HEADROOM, TunnelConfig};
//! use tunnelwire::wire::{EtherType, EthernetRepr, MacAddr, Vni};
//!
//! // A VXLAN frame as a VTEP sends it: a broadcast ARP frame, encapsulated.
//! let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! let mut buf = [0u8; HEADROOM + 60];
//! EthernetRepr {
//!     dst_addr: MacAddr::BROADCAST,
//!     src_addr: MacAddr([0x02, 0, 0, 0, 0, 1]),
//!     ethertype: EtherType::ARP,
//! }
//! .emit(&mut buf[HEADROOM..])?;
//! let mut encap = Encapsulator::new(TunnelConfig::vxlan(Vni::new(42)?, src, dst))?;
//! let range = encap.encapsulate(&mut buf, HEADROOM..HEADROOM + 60)?;
//! let bytes = &buf[range];
//!
//! let frame = Decoder::new().decode(bytes)?;
//! assert_eq!(frame.outer.ipv4.map(|ip| ip.dst_addr()), Some(dst));
//! let tunnel = frame.tunnel.expect("a VXLAN header");
//! assert_eq!((tunnel.kind(), tunnel.segment()), (TunnelKind::Vxlan, 42));
//! let inner = frame.inner.ethernet.expect("an inner Ethernet header");
//! assert_eq!(inner.ethertype(), EtherType::ARP);
//! assert_eq!(&bytes[frame.inner.offset..], &buf[HEADROOM..]); // the inner frame, in place
//! assert!(frame.inner.ipv4.is_none()); // ARP: decoding stopped quietly
//! # Ok::<(), tunnelwire::Error>(())
//! ```

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

mod decoder;
mod express;
mod ports;
mod record;
#[cfg(test)]
mod tests;
// The decoder and the walk own what decodes and records a stack (`Stack::decode`, the
// recorders): this file holds the decoded values and imports nothing from them.
mod walk;

pub use decoder::Decoder;
pub use ports::{TunnelPorts, VxlanPorts};
pub use record::{Record, RecordFrame};
pub(crate) use walk::{Depth, ip_payload, walk, walk_at, walk_from_ip};

use crate::wire::ethernet::{self, EtherType, EthernetFrame};
use crate::wire::geneve::GeneveHeader;
use crate::wire::ipv4::{IpProtocol, Ipv4Packet};
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::nvgre::{NvgreHeader, Vsid};
use crate::wire::udp::UdpDatagram;
use crate::wire::vlan::{self, VlanTag};
use crate::wire::vxlan::{Vni, VxlanHeader};

pub use crate::wire::vxlan::ReservedPolicy;

/// Most VLAN tags decoded per stack (QinQ: an S-tag then a C-tag).
pub const MAX_VLAN_TAGS: usize = 2;

/// The transport header of a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A validated UDP datagram.
    Udp(UdpDatagram<&'a [u8]>),
    /// TCP: only the ports are read (TCP is not otherwise decoded).
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
}

/// One stack (the outer one, or the one inside a tunnel): each layer that was decoded,
/// as a validated view. A stack inside Geneve of protocol type 0x0800 or 0x86DD starts
/// at IP and has no Ethernet header; so does a capture's record after a link header that
/// names its protocol, which may be a VLAN tag's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stack<'a> {
    /// Offset of the stack's first header (Ethernet, or a VLAN tag or IP without it)
    /// from the frame's first byte.
    pub offset: usize,
    /// Ethernet header and everything after it.
    pub ethernet: Option<EthernetFrame<&'a [u8]>>,
    /// For a stack without an Ethernet header, the EtherType that what carried it gave
    /// its first header (a Geneve protocol type, a capture's link header): IPv4's,
    /// IPv6's, a VLAN TPID, or one not decoded. `None` after an Ethernet header, which
    /// gives it itself.
    pub first_ethertype: Option<EtherType>,
    /// VLAN tags, outermost first; the TPID of each is the EtherType before it.
    pub vlans: [Option<VlanTag<&'a [u8]>>; MAX_VLAN_TAGS],
    /// IPv4 packet, cut at its total length.
    pub ipv4: Option<Ipv4Packet<&'a [u8]>>,
    /// IPv6 packet, cut at its payload length (at most one of `ipv4` and `ipv6` is set).
    pub ipv6: Option<Ipv6Packet<&'a [u8]>>,
    /// Transport header, when IP carried UDP or TCP right after its header and was not
    /// an IPv4 fragment.
    pub transport: Option<Transport<'a>>,
}

impl<'a> Stack<'a> {
    /// The VLAN tags with their TPIDs, outermost first.
    #[inline]
    pub fn vlan_tags(&self) -> impl Iterator<Item = (EtherType, VlanTag<&'a [u8]>)> + '_ {
        let tpids = self
            .first_type()
            .into_iter()
            .chain(self.vlans.iter().flatten().map(|tag| tag.ethertype()));
        tpids.zip(self.vlans.iter().flatten().copied())
    }

    /// The EtherType of the stack's first header after Ethernet's: the Ethernet header's,
    /// or [`first_ethertype`](Self::first_ethertype) without one.
    #[inline]
    fn first_type(&self) -> Option<EtherType> {
        match self.ethernet {
            Some(eth) => Some(eth.ethertype()),
            None => self.first_ethertype,
        }
    }

    /// The UDP datagram, if the transport is UDP.
    #[inline]
    pub fn udp(&self) -> Option<UdpDatagram<&'a [u8]>> {
        match self.transport {
            Some(Transport::Udp(udp)) => Some(udp),
            _ => None,
        }
    }

    /// Source and destination ports of UDP or TCP.
    #[inline]
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport? {
            Transport::Udp(udp) => Some((udp.src_port(), udp.dst_port())),
            Transport::Tcp { src_port, dst_port } => Some((src_port, dst_port)),
        }
    }

    /// Offset, from the frame's first byte, of what follows the Ethernet header (if the
    /// stack has one) and the tags: the IPv4 or IPv6 header when there is one.
    #[inline]
    #[allow(clippy::arithmetic_side_effects)] // offsets inside the input: no overflow
    pub fn l3_offset(&self) -> usize {
        let ethernet = if self.ethernet.is_some() {
            ethernet::HEADER_LEN
        } else {
            0
        };
        self.offset + ethernet + vlan::HEADER_LEN * self.vlans.iter().flatten().count()
    }

    /// The IPv4 TOS byte or the IPv6 traffic class: DSCP in the high 6 bits, ECN in the
    /// low 2; `None` when the stack holds no IP header.
    #[inline]
    pub fn traffic_class(&self) -> Option<u8> {
        match (self.ipv4, self.ipv6) {
            (Some(ip), _) => Some(ip.dscp() << 2 | ip.ecn()),
            (_, Some(ip)) => Some(ip.traffic_class()),
            (None, None) => None,
        }
    }

    /// The EtherType after the last VLAN tag (or the Ethernet header, or without one
    /// [`first_ethertype`](Self::first_ethertype)); `None` for a stack that has neither.
    /// Below 1536 it is an IEEE 802.3 length ([`EtherType::is_length`]).
    #[inline]
    pub fn ethertype(&self) -> Option<EtherType> {
        match self.vlans.iter().flatten().last() {
            Some(tag) => Some(tag.ethertype()),
            None => self.first_type(),
        }
    }
}

/// The tunnel header between the outer and inner stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tunnel<'a> {
    /// VXLAN over UDP.
    Vxlan(VxlanHeader<&'a [u8]>),
    /// NVGRE over IPv4 protocol 47.
    Nvgre(NvgreHeader<&'a [u8]>),
    /// Geneve over UDP, with its options.
    Geneve(GeneveHeader<&'a [u8]>),
}

/// Which tunnel a frame uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// VXLAN (RFC 7348).
    Vxlan,
    /// NVGRE (RFC 7637).
    Nvgre,
    /// Geneve (RFC 8926).
    Geneve,
}

/// A tunnel and its segment: the VNI or VSID a frame carries or is to carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    /// VXLAN with this VNI.
    Vxlan(Vni),
    /// NVGRE with this VSID.
    Nvgre(Vsid),
    /// Geneve with this VNI.
    Geneve(Vni),
}

impl Encapsulation {
    /// VXLAN, NVGRE or Geneve.
    #[inline]
    pub const fn kind(self) -> TunnelKind {
        match self {
            Encapsulation::Vxlan(_) => TunnelKind::Vxlan,
            Encapsulation::Nvgre(_) => TunnelKind::Nvgre,
            Encapsulation::Geneve(_) => TunnelKind::Geneve,
        }
    }

    /// The 24-bit VNI or VSID.
    #[inline]
    pub const fn segment(self) -> u32 {
        match self {
            Encapsulation::Vxlan(vni) | Encapsulation::Geneve(vni) => vni.get(),
            Encapsulation::Nvgre(vsid) => vsid.get(),
        }
    }
}

impl core::fmt::Display for TunnelKind {
    /// `VXLAN`, `NVGRE` or `Geneve`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TunnelKind::Vxlan => "VXLAN",
            TunnelKind::Nvgre => "NVGRE",
            TunnelKind::Geneve => "Geneve",
        })
    }
}

impl core::fmt::Display for Encapsulation {
    /// `VXLAN VNI 42`, `NVGRE VSID 4242` or `Geneve VNI 42`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Encapsulation::Vxlan(vni) => write!(f, "VXLAN VNI {vni}"),
            Encapsulation::Nvgre(vsid) => write!(f, "NVGRE VSID {vsid}"),
            Encapsulation::Geneve(vni) => write!(f, "Geneve VNI {vni}"),
        }
    }
}

impl<'a> Tunnel<'a> {
    /// VXLAN, NVGRE or Geneve.
    #[inline]
    pub fn kind(&self) -> TunnelKind {
        self.encapsulation().kind()
    }

    /// The tunnel and its segment.
    #[inline]
    pub fn encapsulation(&self) -> Encapsulation {
        match self {
            Tunnel::Vxlan(header) => Encapsulation::Vxlan(header.vni()),
            Tunnel::Nvgre(header) => Encapsulation::Nvgre(header.vsid()),
            Tunnel::Geneve(header) => Encapsulation::Geneve(header.vni()),
        }
    }

    /// What the tunnel header carries: the inner frame (after Geneve's options; an IP
    /// packet for Geneve protocol types 0x0800 and 0x86DD).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        match self {
            Tunnel::Vxlan(header) => header.payload(),
            Tunnel::Nvgre(header) => header.payload(),
            Tunnel::Geneve(header) => header.payload(),
        }
    }

    /// Length of the tunnel header: 8, or 8 plus Geneve's options.
    #[inline]
    pub fn header_len(&self) -> usize {
        match self {
            Tunnel::Vxlan(_) => crate::wire::vxlan::HEADER_LEN,
            Tunnel::Nvgre(_) => crate::wire::nvgre::HEADER_LEN,
            Tunnel::Geneve(header) => header.header_len(),
        }
    }

    /// The segment: VNI for VXLAN and Geneve, VSID for NVGRE (all 24 bits).
    #[inline]
    pub fn segment(&self) -> u32 {
        self.encapsulation().segment()
    }
}

/// A decoded frame: the outer stack, the tunnel header if any, and the inner stack
/// (empty without a tunnel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Frame<'a> {
    /// The outer (or only) stack.
    pub outer: Stack<'a>,
    /// The tunnel header, if the outer stack carried VXLAN, NVGRE or Geneve.
    pub tunnel: Option<Tunnel<'a>>,
    /// Offset of the tunnel header from the frame's first byte (0 without a tunnel).
    pub tunnel_offset: usize,
    /// The stack inside the tunnel; its `offset` is where the inner frame begins.
    pub inner: Stack<'a>,
}

impl Frame<'_> {
    /// True when decoding stopped at an outer fragment (IPv4 with MF set or an offset,
    /// or IPv6 with a fragment header next): whatever tunnel it carries is only found
    /// after reassembly, so a counter can count it as "fragmented, not decoded" rather
    /// than lose it.
    #[inline]
    pub fn outer_fragment(&self) -> bool {
        fragmented(self.outer.ipv4, self.outer.ipv6.map(|ip| ip.next_header()))
    }
}

/// True when an IP header is a fragment's: IPv4 with MF set or an offset, or IPv6 whose
/// next header is a fragment header.
#[inline(always)]
pub(crate) fn fragmented(ipv4: Option<Ipv4Packet<&[u8]>>, ipv6_next: Option<IpProtocol>) -> bool {
    ipv4.is_some_and(|ip| ip.is_fragment()) || ipv6_next == Some(IpProtocol::IPV6_FRAGMENT)
}
