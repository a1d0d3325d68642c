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

use super::decap::{ReceivePolicy, accept};
use super::ecn::Ecn;
use super::inner_vlan::InnerTags;
use crate::packet::{self, Record, RecordFrame, Transport, Tunnel};
use crate::wire::ethernet::EthernetFrame;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::udp::UdpDatagram;
use crate::wire::vlan::VlanTag;
use crate::{Error, Result};

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

/// Where a received tunnel header's outer packet is described: the outer stack the walk
/// recorded (whole frames), or the socket's report (payloads). Each runs its own checks
/// of the outer packet; the tunnel's and the inner frame's are shared.
pub(crate) trait Underlay<'a>: Record<'a> {
    /// What translation keeps of its header once accepted (nothing for a payload).
    type Header: Copy;
    /// The checks of the outer packet, for a tunnel header `at` bytes in, in the order
    /// a receiver trusts its headers; its header and what decapsulation reports of it.
    ///
    /// # Errors
    /// The first check that fails.
    fn accept(&self, at: usize, policy: ReceivePolicy) -> Result<(Self::Header, OuterFacts)>;
    /// Why the walk found no tunnel header in it (an outer fragment, an IPv6 extension
    /// header, no tunnel at all), said where the walk ends without one.
    fn no_tunnel(&self) -> Error;
}

/// A tunnel header whose outer packet passed the receiver's checks
/// ([`accept`](super::decap::accept)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted<'a, H> {
    /// The tunnel header.
    pub tunnel: Tunnel<'a>,
    /// The outer header, for translation.
    pub header: H,
    /// What decapsulation reports of the outer packet.
    pub outer: OuterFacts,
    /// Length of the inner frame: the tunnel header's payload.
    pub inner_len: usize,
    /// Offset of the tunnel header in the frame (or payload).
    pub at: usize,
}

/// A received tunnel packet: outer packet, accepted tunnel, inner stack.
///
/// The outer packet is checked when the walk reaches the tunnel header, before the
/// inner stack is walked: a packet the receiver refuses ends there, and what the later
/// steps need of the outer packet is one value (`accepted`), not the views it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received<'a, K, U: Underlay<'a> = Outer<'a>> {
    /// What the receiver accepts.
    pub policy: ReceivePolicy,
    /// The outer packet.
    pub outer: U,
    /// The tunnel, once its outer packet is accepted.
    pub accepted: Option<Accepted<'a, U::Header>>,
    /// The inner stack.
    pub inner: Inner<K>,
}

impl<'a, K: Default, U: Underlay<'a>> Received<'a, K, U> {
    /// Nothing received yet from `outer`.
    #[inline(always)]
    pub fn new(policy: ReceivePolicy, outer: U) -> Self {
        Received {
            policy,
            outer,
            accepted: None,
            inner: Inner::default(),
        }
    }
}

impl<'a, K: Record<'a>, U: Underlay<'a>> RecordFrame<'a> for Received<'a, K, U> {
    type Outer = U;
    type Inner = Inner<K>;
    #[inline(always)]
    fn outer(&mut self) -> &mut U {
        &mut self.outer
    }
    #[inline(always)]
    fn tunnel(&mut self, at: usize, tunnel: Tunnel<'a>) -> Result<()> {
        self.accepted = Some(accept(&self.outer, at, tunnel, self.policy)?);
        Ok(())
    }
    #[inline(always)]
    fn no_tunnel(&mut self) -> Result<()> {
        Err(self.outer.no_tunnel())
    }
    #[inline(always)]
    fn inner(&mut self) -> &mut Inner<K> {
        &mut self.inner
    }
}
