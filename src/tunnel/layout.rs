//! What the tunnel engine keeps of a walk over a frame: where each layer it reads is, and
//! little else.
//!
//! The decoder validates every header and hands it to a recorder (`packet::Record`).
//! [`Frame`](crate::packet::Frame) keeps all the views, about 250 bytes; a per-packet path
//! that kept them would store and reload them through memory for every packet. These
//! recorders keep the few values encapsulation, decapsulation and translation read, so
//! they stay in registers.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::net::IpAddr;

use super::ecn::Ecn;
use super::inner_vlan::InnerTags;
use crate::packet::{self, Record, Transport};
use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::udp::UdpDatagram;
use crate::wire::vlan::VlanTag;

/// The outer stack of a received tunnel frame: its IP header and UDP datagram.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Outer<'a> {
    /// Offset of the IP header (0 when there is none).
    pub l3: usize,
    /// The IP header: IPv4 or IPv6.
    pub ip: Option<OuterIp<'a>>,
    /// The UDP datagram.
    pub udp: Option<UdpDatagram<&'a [u8]>>,
}

impl Outer<'_> {
    /// True when the IP header is a fragment (IPv4 with MF or an offset, IPv6 with a
    /// fragment header next), as [`Frame::outer_fragment`](crate::packet::Frame::outer_fragment).
    #[inline(always)]
    pub fn fragment(&self) -> bool {
        match self.ip {
            Some(OuterIp::V4(ip)) => ip.is_fragment(),
            Some(OuterIp::V6(ip)) => packet::fragmented(None, Some(ip.next_header())),
            None => false,
        }
    }
}

impl<'a> Record<'a> for Outer<'a> {
    #[inline(always)]
    fn ipv4(&mut self, at: usize, ip: Ipv4Packet<&'a [u8]>) {
        self.l3 = at;
        self.ip = Some(OuterIp::V4(ip));
    }
    #[inline(always)]
    fn ipv6(&mut self, at: usize, ip: Ipv6Packet<&'a [u8]>) {
        self.l3 = at;
        self.ip = Some(OuterIp::V6(ip));
    }
    #[inline(always)]
    fn transport(&mut self, transport: Transport<'a>) {
        if let Transport::Udp(udp) = transport {
            self.udp = Some(udp);
        }
    }
}

/// The inner IP header: where it is and its traffic class.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InnerIp {
    /// Offset of the IP header in the frame.
    pub at: usize,
    /// IPv6 (no header checksum) rather than IPv4.
    pub v6: bool,
    /// The IPv4 TOS byte or the IPv6 traffic class: DSCP, then ECN in the low 2 bits.
    pub tos: u8,
}

impl InnerIp {
    /// Its ECN field.
    #[inline(always)]
    pub fn ecn(self) -> Ecn {
        Ecn::from_bits(self.tos)
    }
}

/// The inner stack: where it starts, its tags and IP header, and whatever `K` keeps
/// besides (the flow key, or nothing).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Inner<K> {
    /// Offset of the inner Ethernet header.
    pub offset: usize,
    /// The Ethernet header is valid.
    pub ethernet: bool,
    /// Its VLAN tags.
    pub tags: InnerTags,
    /// Its IP header.
    pub ip: Option<InnerIp>,
    /// What else is kept.
    pub also: K,
}

impl<'a, K: Record<'a>> Record<'a> for Inner<K> {
    #[inline(always)]
    fn start(&mut self, at: usize) {
        self.offset = at;
        self.also.start(at);
    }
    #[inline(always)]
    fn ethernet(&mut self, eth: EthernetFrame<&'a [u8]>) {
        self.ethernet = true;
        self.also.ethernet(eth);
    }
    #[inline(always)]
    fn no_ethernet(&mut self, ethertype: EtherType) {
        self.also.no_ethernet(ethertype);
    }
    #[inline(always)]
    fn tag_follows(&mut self) {
        self.tags = self.tags.and_more();
        self.also.tag_follows();
    }
    #[inline(always)]
    fn vlan(&mut self, index: usize, tag: VlanTag<&'a [u8]>) {
        // At most two tags: no overflow.
        #[allow(clippy::arithmetic_side_effects)]
        let count = index + 1;
        self.tags = InnerTags::decoded(count);
        self.also.vlan(index, tag);
    }
    #[inline(always)]
    fn ipv4(&mut self, at: usize, ip: Ipv4Packet<&'a [u8]>) {
        self.ip = Some(InnerIp {
            at,
            v6: false,
            tos: ip.dscp() << 2 | ip.ecn(),
        });
        self.also.ipv4(at, ip);
    }
    #[inline(always)]
    fn ipv6(&mut self, at: usize, ip: Ipv6Packet<&'a [u8]>) {
        self.ip = Some(InnerIp {
            at,
            v6: true,
            tos: ip.traffic_class(),
        });
        self.also.ipv6(at, ip);
    }
    #[inline(always)]
    fn transport(&mut self, transport: Transport<'a>) {
        self.also.transport(transport);
    }
}

/// The outer IP header of a tunnel frame, as the walk recorded it ([`Outer::ip`]) and,
/// once accepted, as translation keeps it ([`Accepted::header`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum OuterIp<'a> {
    /// An IPv4 underlay.
    V4(Ipv4Packet<&'a [u8]>),
    /// An IPv6 underlay.
    V6(Ipv6Packet<&'a [u8]>),
}

/// What decapsulation reports of the outer packet, wherever it comes from: the outer IP
/// header of a whole frame, or what a socket reported with a payload. Read where the
/// outer packet is accepted, so no view of it, and no test of its family, is kept across
/// the inner walk for them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OuterFacts {
    /// The sending VTEP.
    pub src: IpAddr,
    /// The address the packet was sent to.
    pub dst: IpAddr,
    /// The outer ECN field.
    pub ecn: Ecn,
}

impl OuterIp<'_> {
    /// The outer ECN field's two bits.
    #[inline(always)]
    pub fn ecn_bits(self) -> u8 {
        match self {
            OuterIp::V4(ip) => ip.ecn(),
            OuterIp::V6(ip) => ip.ecn(),
        }
    }

    /// What decapsulation reports of it.
    #[inline(always)]
    pub fn facts(self) -> OuterFacts {
        match self {
            OuterIp::V4(ip) => OuterFacts {
                src: IpAddr::V4(ip.src_addr()),
                dst: IpAddr::V4(ip.dst_addr()),
                ecn: Ecn::from_bits(ip.ecn()),
            },
            OuterIp::V6(ip) => OuterFacts {
                src: IpAddr::V6(ip.src_addr()),
                dst: IpAddr::V6(ip.dst_addr()),
                ecn: Ecn::from_bits(ip.ecn()),
            },
        }
    }
}
