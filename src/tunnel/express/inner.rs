//! The express walk of the inner stack: the common inner frame (untagged Ethernet, then
//! IPv4 without options, or IPv6) recorded in straight-line code, as the general walk
//! records it; any other by the general walk of the inner stack alone (`walk_general`),
//! out of line.

use super::{be16, head};
use crate::Error;
use crate::packet::{self, Depth, Record, Transport};
use crate::tunnel::layout::{Inner, InnerIp};
use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::udp::UdpDatagram;
use crate::wire::vlan::VlanTag;

/// The Ethernet header of an untagged inner frame at the start of `frame`, `offset`
/// bytes into the whole frame, recorded as the general walk records it; false, with
/// nothing recorded, for a tagged frame or one shorter than the header.
#[inline(always)]
// Cannot index out of range: fixed offsets inside the 14 bytes just tested.
#[allow(clippy::indexing_slicing)]
pub(in crate::tunnel) fn untagged<'a, K: Record<'a>>(
    frame: &'a [u8],
    offset: usize,
    inner: &mut Inner<K>,
) -> bool {
    let Some(eth) = head::<14>(frame) else {
        return false;
    };
    let ethertype = EtherType(be16([eth[12], eth[13]]));
    // IPv4 first, the common case: one compare.
    if ethertype != EtherType::IPV4 && ethertype.is_vlan_tpid() {
        return false;
    }
    inner.start(offset);
    inner.ethernet(EthernetFrame::new_unchecked(frame));
    true
}

/// The Ethernet header of an untagged inner frame carrying IPv4 with ECN `ecn` (the
/// outer ECN, not Not-ECT), recorded as [`untagged`] records it; false, with nothing
/// recorded, for any other frame. RFC 6040: equal ECN changes nothing and raises no
/// alarm, whatever the rest of the inner header (one the walk would refuse goes unread,
/// as without ECN to combine), so the header is not checked.
#[inline(always)]
pub(super) fn untagged_ipv4_ecn<'a, K: Record<'a>>(
    frame: &'a [u8],
    ecn: u8,
    offset: usize,
    inner: &mut Inner<K>,
) -> bool {
    match head::<16>(frame) {
        Some(&[.., 0x08, 0x00, _, tos]) if tos & 0x03 == ecn => {
            inner.start(offset);
            inner.ethernet(EthernetFrame::new_unchecked(frame));
            true
        }
        _ => false,
    }
}

/// The Ethernet header and first VLAN tag of the inner frame at the start of `frame`,
/// `offset` bytes into the whole frame, recorded as the general walk records them; false,
/// with nothing recorded, for a frame without a whole tag there. For a receiver that
/// refuses tagged frames: nothing past the tag changes its verdict.
#[inline(always)]
// Cannot index out of range: fixed offsets inside the 18 bytes just tested.
#[allow(clippy::indexing_slicing)]
pub(super) fn first_tag<'a, K: Record<'a>>(
    frame: &'a [u8],
    offset: usize,
    inner: &mut Inner<K>,
) -> bool {
    let Some(head) = head::<18>(frame) else {
        return false;
    };
    if !EtherType(be16([head[12], head[13]])).is_vlan_tpid() {
        return false;
    }
    inner.start(offset);
    inner.ethernet(EthernetFrame::new_unchecked(frame));
    inner.tag_follows();
    inner.vlan(0, VlanTag::new_unchecked(&frame[14..]));
    true
}

/// The inner frames of the next shapes after the common one, walked down to the IP
/// header (a decapsulator's depth): untagged IPv6, or one VLAN tag before IPv4 without
/// options or IPv6, or either before an EtherType that is not IP. Recorded into `inner`
/// as the general walk records them, `offset` bytes into the whole frame; false, with
/// nothing recorded, for any other frame (the general walk's).
#[inline(always)]
// Cannot overflow or index out of range: fixed offsets inside arrays and slices whose
// lengths were just tested.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn express_inner_ip<'a, K: Record<'a>>(
    frame: &'a [u8],
    offset: usize,
    inner: &mut Inner<K>,
) -> bool {
    let Some((eth, after_eth)) = frame.split_first_chunk::<14>() else {
        return false;
    };
    let mut ethertype = EtherType(be16([eth[12], eth[13]]));
    let mut tag = None;
    if ethertype.is_vlan_tpid() {
        let Some(fields) = head::<4>(after_eth) else {
            return false;
        };
        ethertype = EtherType(be16([fields[2], fields[3]]));
        // A second tag is the general walk's.
        if ethertype.is_vlan_tpid() {
            return false;
        }
        tag = Some(VlanTag::new_unchecked(after_eth));
    }
    let ip_at = if tag.is_some() { 18 } else { 14 };
    // Another EtherType ends the general walk there, quietly: taken here too
    // (geneve_decap+mixed's frame whose options area was zeroed, an option then read as
    // the inner Ethernet header: 245 -> 211 instructions; its IPv6 frames 2 more each).
    let ip = if ethertype == EtherType::IPV4 || ethertype == EtherType::IPV6 {
        let Some(ip) = ip_header(ethertype, &frame[ip_at..]) else {
            return false;
        };
        Some(ip)
    } else {
        None
    };
    inner.start(offset);
    inner.ethernet(EthernetFrame::new_unchecked(frame));
    if let Some(tag) = tag {
        inner.tag_follows();
        inner.vlan(0, tag);
    }
    if let Some(ip) = ip {
        ip.record(offset + ip_at, inner);
    }
    true
}

/// The IP header of EtherType `ethertype` at the start of `bytes`, as the general walk
/// takes it at a decapsulator's depth (`ipv4::parse` of a header without options,
/// `ipv6::parse`); `None` for any other (the general walk's).
#[inline(always)]
// Cannot overflow or index out of range: fixed offsets inside arrays whose lengths were
// just tested.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn ip_header(ethertype: EtherType, bytes: &[u8]) -> Option<IpHeader<'_>> {
    if ethertype == EtherType::IPV4 {
        let (_, _, packet) = ipv4::split_common(bytes)?;
        Some(IpHeader::V4(Ipv4Packet::new_unchecked(packet)))
    } else if ethertype == EtherType::IPV6 {
        let (_, _, packet) = ipv6::split(bytes)?;
        Some(IpHeader::V6(Ipv6Packet::new_unchecked(packet)))
    } else {
        None
    }
}

/// An inner IP header of either family, checked before anything is recorded.
enum IpHeader<'a> {
    V4(Ipv4Packet<&'a [u8]>),
    V6(Ipv6Packet<&'a [u8]>),
}

impl<'a> IpHeader<'a> {
    /// Recorded into `inner`, `at` bytes into the whole frame.
    #[inline(always)]
    fn record<K: Record<'a>>(self, at: usize, inner: &mut Inner<K>) {
        match self {
            IpHeader::V4(v4) => inner.ipv4(at, v4),
            IpHeader::V6(v6) => inner.ipv6(at, v6),
        }
    }
}

/// [`Taken::conclude`](super::Taken::conclude)'s walk of the inner frames of other
/// shapes, walked down to the IP header: the general walk of the inner stack at the
/// start of `frame`, `offset` bytes into the whole frame (an IP packet of EtherType
/// `first`, or Ethernet), its record and error as the whole frame's walk would give
/// them. The general walk goes on to the transport ports: a decapsulator's recorder
/// keeps nothing of them, and a malformed transport header ends the walk after the
/// Ethernet or IP header that decides whether its error counts.
// Out of line and cold, handed values: a reference to the express walk's state put that
// state in memory for every frame (decapsulation 143 -> 181 instructions per packet),
// and not marked cold it lengthened the common frame's path (147 -> 152).
#[cold]
#[inline(never)]
pub(super) fn walk_general<'a, K: Record<'a> + Default>(
    frame: &'a [u8],
    offset: usize,
    first: Option<EtherType>,
) -> (Inner<K>, Option<Error>) {
    // The next shapes a decapsulator meets (IPv6, tags it strips or keeps) in
    // straight-line code first: the general walk of one cost 100 instructions. (Inlined
    // in the express walk, this lengthened the common frame's path: decapsulation 143 ->
    // 158 instructions per packet.)
    let mut inner = Inner::<K>::default();
    match first {
        None if express_inner_ip(frame, offset, &mut inner) => return (inner, None),
        // Geneve's IP payloads likewise (geneve_decap+mixed 276 -> 275 instructions per
        // packet; few of its frames are IP payloads).
        Some(ethertype) => {
            if let Some(ip) = ip_header(ethertype, frame) {
                inner.start(offset);
                inner.no_ethernet(ethertype);
                ip.record(offset, &mut inner);
                return (inner, None);
            }
        }
        None => {}
    }
    walk_inner_stack(frame, offset, first)
}

/// [`walk_general`]'s general walk of the inner stack. Out of line: in `walk_general`,
/// its registers were saved and restored for every frame the shapes before it take
/// (geneve_decap+mixed's tagged inner frames 196 -> 182 instructions each, IPv6 234 ->
/// 225, the workload 188 -> 185 per packet; decap+mixed's tagged 146 -> 132, IPv6 206
/// -> 196, the workload 143 -> 139). The tag refused in `express_inner_ip`, its
/// EtherType read once, measured no better (185.5 and 140.2 against 185.4 and 139.5).
#[inline(never)]
fn walk_inner_stack<'a, K: Record<'a> + Default>(
    frame: &'a [u8],
    offset: usize,
    first: Option<EtherType>,
) -> (Inner<K>, Option<Error>) {
    let mut rebased = Rebased {
        offset,
        inner: Inner::<K>::default(),
    };
    let walked = match first {
        None => packet::walk(frame, &mut rebased),
        Some(ethertype) => packet::walk_from_ip(frame, ethertype, &mut rebased),
    };
    (rebased.inner, walked.err().map(|e| e.at(offset)))
}

/// An inner stack's recorder for a walk of the inner frame alone: the offsets it is
/// handed count from the inner frame, those recorded from the whole frame's start.
struct Rebased<K> {
    /// Where the inner frame starts in the whole frame.
    offset: usize,
    /// The record.
    inner: Inner<K>,
}

// Offsets inside the whole frame: no overflow.
#[allow(clippy::arithmetic_side_effects)]
impl<'a, K: Record<'a>> Record<'a> for Rebased<K> {
    #[inline(always)]
    fn start(&mut self, at: usize) {
        self.inner.start(self.offset + at);
    }
    #[inline(always)]
    fn ethernet(&mut self, eth: EthernetFrame<&'a [u8]>) {
        self.inner.ethernet(eth);
    }
    #[inline(always)]
    fn no_ethernet(&mut self, ethertype: EtherType) {
        self.inner.no_ethernet(ethertype);
    }
    #[inline(always)]
    fn tag_follows(&mut self) {
        self.inner.tag_follows();
    }
    #[inline(always)]
    fn vlan(&mut self, index: usize, tag: VlanTag<&'a [u8]>) {
        self.inner.vlan(index, tag);
    }
    #[inline(always)]
    fn ipv4(&mut self, at: usize, ip: Ipv4Packet<&'a [u8]>) {
        self.inner.ipv4(self.offset + at, ip);
    }
    #[inline(always)]
    fn ipv6(&mut self, at: usize, ip: Ipv6Packet<&'a [u8]>) {
        self.inner.ipv6(self.offset + at, ip);
    }
    #[inline(always)]
    fn transport(&mut self, transport: Transport<'a>) {
        self.inner.transport(transport);
    }
}

/// The inner frame of the common shape (untagged Ethernet, IPv4 without options, its
/// ports unless a fragment or only the IP header is asked for), recorded into `inner` as
/// the general walk records it, `offset` bytes into the whole frame; false, with nothing
/// recorded, for any other frame (or a UDP length the general walk refuses). Tags and
/// IPv6 are the general walk's: taken here, they cost the common frame more than they
/// saved the others (measured on the mixed workload: nothing saved, 60 to 80
/// instructions per packet more on the clean one).
#[inline(always)]
// Cannot overflow or index out of range: fixed offsets inside arrays and slices whose
// lengths were just tested.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
pub(crate) fn express_inner<'a, K: Record<'a>>(
    frame: &'a [u8],
    offset: usize,
    depth: Depth,
    inner: &mut Inner<K>,
) -> bool {
    // Both headers' fixed length in one test (decap 120 -> 118, geneve_decap 157 -> 153,
    // vxlan_encap 150 -> 148, nvgre_encap 141 -> 138 instructions per packet), then the
    // IPv4 header's lengths as every walk tests them (`ipv4::split_common`).
    let Some(eth) = head::<{ 14 + 20 }>(frame) else {
        return false;
    };
    if be16([eth[12], eth[13]]) != 0x0800 {
        return false;
    }
    let Some((header, payload, packet)) = ipv4::split_common(&frame[14..]) else {
        return false;
    };
    let ports = depth != Depth::InnerIp && be16([header[6], header[7]]) & 0x3fff == 0;
    // The link and IP layers recorded (`record_ipv4`) once nothing can send the frame to
    // the general walk any more, and each transport in the branch that checked it: an
    // `Option` of the UDP datagram matched again afterwards cost a test of it per
    // packet, and an `Option<Transport>` two more tests, a second dispatch on the
    // protocol and the UDP length checked anew (11 instructions per encapsulated packet).
    match (ports, header[9]) {
        (true, 17) => {
            // The one check that can still send the frame to the general walk, before
            // anything is recorded: a UDP length that does not fit is the general
            // walk's to report.
            let Some(udp) = head::<8>(payload) else {
                return false;
            };
            let len = usize::from(be16([udp[4], udp[5]]));
            let Some(datagram) = payload.get(..len).filter(|_| len >= 8) else {
                return false;
            };
            record_ipv4(inner, offset, frame, packet, header[1]);
            inner
                .also
                .transport(Transport::Udp(UdpDatagram::new_unchecked(datagram)));
        }
        (true, 6) => {
            record_ipv4(inner, offset, frame, packet, header[1]);
            if let Some(ports) = head::<4>(payload) {
                inner.also.transport(Transport::Tcp {
                    src_port: be16([ports[0], ports[1]]),
                    dst_port: be16([ports[2], ports[3]]),
                });
            }
        }
        _ => record_ipv4(inner, offset, frame, packet, header[1]),
    }
    true
}

/// Records the inner frame's link and IP layers, `frame` `offset` bytes into the whole
/// frame and its IPv4 `packet` (without options) of DSCP and ECN `tos`, as the general
/// walk records them. A function always inlined, where it was a closure: in the six
/// loops of `Encapsulator::encapsulate_each` LLVM called the closure out of line
/// (vxlan_encap 130.7 -> 200.7 instructions per packet). Inlined this early, it costs
/// translation's express path registers (translate 225.3 -> 229.3, translate+mixed
/// 246.6 -> 249.1; the closure marked `#[inline(always)]` measured the same).
#[inline(always)]
// An offset inside the frame: no overflow.
#[allow(clippy::arithmetic_side_effects)]
fn record_ipv4<'a, K: Record<'a>>(
    inner: &mut Inner<K>,
    offset: usize,
    frame: &'a [u8],
    packet: &'a [u8],
    tos: u8,
) {
    let ip_at = offset + 14;
    inner.offset = offset;
    inner.ethernet = true;
    inner.ip = Some(InnerIp {
        at: ip_at,
        v6: false,
        tos,
    });
    inner.also.start(offset);
    inner.also.ethernet(EthernetFrame::new_unchecked(frame));
    inner.also.ipv4(ip_at, Ipv4Packet::new_unchecked(packet));
}
