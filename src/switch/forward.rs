//! Forwarding: what happens to a frame, and writing each copy out.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::net::IpAddr;
use core::ops::Range;
use core::time::Duration;

use super::{
    Egress, Ingress, Learned, Limits, Location, MacMove, PortId, Reason, SegmentId, Switch, nanos,
};
use crate::tunnel::{
    Decapsulated, Decapsulator, HEADROOM, NVGRE_OVERHEAD, NVGRE6_OVERHEAD, SocketOuter,
    TUNNEL_HEADER_LEN, TunnelKind, VXLAN_OVERHEAD, VXLAN6_OVERHEAD,
};
use crate::wire::ethernet::{self, EtherType, EthernetFrame};
use crate::wire::vlan::{self, VlanRepr, VlanTag};
use crate::{AddressField, ErrorKind};

/// The destination and source addresses that open an Ethernet header.
const ADDRESSES_LEN: usize = 12;

/// What the switch decided for a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Dropped and counted.
    Drop(Reason),
    /// Nothing to send: the destination lies behind the ingress itself, or the segment
    /// has nowhere else to flood to.
    Filtered,
    /// Send a copy to each of [`Switch::targets`].
    Forward(Forward),
}

/// A frame to forward: its segment and where its untagged Ethernet frame now lies in
/// the buffer given to [`Switch::receive`] (tunnel headers and trunk tags removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The segment.
    pub segment: SegmentId,
    /// Where it came from: the ingress port, or the remote that sent it.
    pub source: Location,
    /// The Ethernet frame, untagged.
    pub frame: Range<usize>,
    /// True when flooded (broadcast, multicast or unknown unicast).
    pub flood: bool,
}

/// A frame's segment, its source and its untagged frame; or why it was refused and
/// whom to charge (nobody for an unattributable tunnel frame).
type Classified = Result<(SegmentId, Location, Range<usize>), (Reason, Option<Location>)>;

impl Switch {
    /// Decides what to do with the frame at `buf[frame]`, which arrived at `now` from
    /// `ingress`: learns its source, then drops it, filters it, or picks the ports and
    /// remotes it goes to ([`targets`](Self::targets)). Decapsulation and the removal of
    /// a trunk's tag happen in place in `buf`; a socket payload needs no headroom in
    /// front of it, but the copy sent back out in place does (see [`emit`](Self::emit)).
    ///
    /// Bytes in count whole frames: a socket payload counts with the outer headers the
    /// socket took off, as the tunnel engine writes them (see [`Counters`](super::Counters)).
    ///
    /// # Panics
    /// If `ingress` names a port that does not belong to this switch.
    pub fn receive(
        &mut self,
        now: Duration,
        ingress: Ingress,
        buf: &mut [u8],
        frame: Range<usize>,
    ) -> Verdict {
        self.targets.clear();
        let now = nanos(now);
        let Some(bytes) = buf.get(frame.clone()) else {
            match ingress {
                Ingress::Port(port) => port
                    .of_mut(&mut self.ports)
                    .counters
                    .count(Reason::NoBuffer),
                Ingress::Underlay | Ingress::Socket { .. } => {
                    self.underlay.count(Reason::NoBuffer);
                }
            }
            return Verdict::Drop(Reason::NoBuffer);
        };
        let len = match ingress {
            Ingress::Socket { kind, outer } => bytes.len().saturating_add(taken_off(kind, outer)),
            Ingress::Port(_) | Ingress::Underlay => bytes.len(),
        };
        let found = match ingress {
            Ingress::Port(port) => self.classify_port(port, buf, frame),
            Ingress::Underlay => self.classify_tunnel(buf, frame, |decapsulator, bytes| {
                decapsulator.decapsulate(bytes)
            }),
            Ingress::Socket { kind, outer } => {
                self.classify_tunnel(buf, frame, |decapsulator, bytes| {
                    decapsulator.decapsulate_payload(bytes, kind, &outer)
                })
            }
        };
        let (segment, source, frame) = match found {
            Ok(found) => found,
            Err((reason, source)) => {
                match source {
                    Some(Location::Port(port)) => {
                        let counters = &mut port.of_mut(&mut self.ports).counters;
                        counters.received(len);
                        counters.count(reason);
                    }
                    Some(Location::Remote(remote)) => {
                        let remote = remote.of_mut(&mut self.remotes);
                        remote.counters.received(len);
                        remote.counters.count(reason);
                        remote
                            .segment
                            .of_mut(&mut self.segments)
                            .counters
                            .count(reason);
                    }
                    None => {
                        self.underlay.received(len);
                        self.underlay.count(reason);
                    }
                }
                return Verdict::Drop(reason);
            }
        };
        match source {
            Location::Port(port) => port.of_mut(&mut self.ports).counters.received(len),
            Location::Remote(remote) => remote.of_mut(&mut self.remotes).counters.received(len),
        }
        self.forward(now, segment, source, buf, frame)
    }

    /// Where the frame of the last [`Forward`] verdict goes, in port-then-remote order.
    pub fn targets(&self) -> &[Egress] {
        &self.targets
    }

    /// Writes the copy for `egress` in place: the untagged frame at `buf[frame]` gets a
    /// trunk port's tag or a remote's outer headers in the headroom in front of it.
    /// Returns where the frame to send now lies in `buf`. It counts as sent once the
    /// caller says the operating system took it ([`count_sent`](Self::count_sent)), or
    /// as `write_failed` when it did not ([`count_write_failed`](Self::count_write_failed)).
    ///
    /// # Errors
    /// The reason it was dropped (counted): `mtu` when the outer packet would exceed the
    /// underlay MTU, or the frame a port's MTU; `no_buffer` when `frame` has too little
    /// headroom in `buf`; `write_failed` (for the segment) when `egress` is a remote
    /// removed since [`receive`](Self::receive) chose it.
    ///
    /// # Panics
    /// If `egress` or `forward` does not come from this switch.
    pub fn emit(
        &mut self,
        forward: &Forward,
        egress: Egress,
        buf: &mut [u8],
        frame: Range<usize>,
    ) -> Result<Range<usize>, Reason> {
        let segment = forward.segment;
        let written = match egress {
            Location::Port(port) => {
                // A trunk port's tag rides outside the MTU, as on any 802.1Q link.
                let payload = frame.len().saturating_sub(ethernet::HEADER_LEN);
                match port.of(&self.ports).mtu {
                    Some(mtu) if payload > usize::from(mtu) => Err(Reason::Mtu),
                    _ => self.tag_for_port(port, segment, buf, frame),
                }
            }
            Location::Remote(id) => match self.remote_mut(id) {
                // Gone since `receive` chose it: there is nobody to write the copy for.
                None => Err(Reason::WriteFailed),
                Some(remote) => remote
                    .encapsulator
                    .encapsulate(buf, frame)
                    .map_err(|error| match error.kind {
                        ErrorKind::ExceedsMtu { .. } => Reason::Mtu,
                        _ => Reason::NoBuffer,
                    }),
            },
        };
        if let Err(reason) = written {
            if let Some(counters) = self.counters_of(egress) {
                counters.count(reason);
            }
            segment.of_mut(&mut self.segments).counters.count(reason);
        }
        written
    }

    /// Counts a copy [`emit`](Self::emit) or [`emit_copy`](Self::emit_copy) wrote as
    /// sent: `len` bytes for `egress` (what they returned), the inner frame for the
    /// segment. A driver calls it once the operating system has taken the copy; a copy
    /// to a remote removed since counts for the segment only.
    ///
    /// # Panics
    /// If `egress` or `forward` does not come from this switch.
    pub fn count_sent(&mut self, forward: &Forward, egress: Egress, len: usize) {
        if let Some(counters) = self.counters_of(egress) {
            counters.sent(len);
        }
        forward
            .segment
            .of_mut(&mut self.segments)
            .counters
            .sent(forward.frame.len());
    }

    /// Counts a frame from `port` that the driver refused before handing it over, for
    /// `reason` (a TAP's offload header that does not fit its frame is `Malformed`).
    pub fn count_port_drop(&mut self, port: PortId, reason: Reason) {
        port.of_mut(&mut self.ports).counters.count(reason);
    }

    /// Counts a copy the driver failed to write out (`write_failed`); a copy to a
    /// remote removed since is not counted (its counters went with it).
    ///
    /// # Panics
    /// If `egress` is a port that does not belong to this switch.
    pub fn count_write_failed(&mut self, egress: Egress) {
        match egress {
            Location::Port(port) => port
                .of_mut(&mut self.ports)
                .counters
                .count(Reason::WriteFailed),
            Location::Remote(remote) => {
                let Some(remote) = self.remote_mut(remote) else {
                    return;
                };
                remote.counters.count(Reason::WriteFailed);
                remote
                    .segment
                    .of_mut(&mut self.segments)
                    .counters
                    .count(Reason::WriteFailed);
            }
        }
    }

    /// Copies the untagged frame `frame` into `out` after [`HEADROOM`] bytes and writes
    /// the copy for `egress` there, as [`emit`](Self::emit) does: for floods, where each
    /// copy differs. Returns where the frame to send lies in `out`.
    ///
    /// # Errors
    /// As [`emit`](Self::emit); `no_buffer` when `out` cannot hold the frame after the
    /// headroom.
    pub fn emit_copy(
        &mut self,
        forward: &Forward,
        egress: Egress,
        frame: &[u8],
        out: &mut [u8],
    ) -> Result<Range<usize>, Reason> {
        // Saturates past usize::MAX: no buffer has room for that.
        let range = HEADROOM..HEADROOM.saturating_add(frame.len());
        match out.get_mut(range.clone()) {
            Some(room) => room.copy_from_slice(frame),
            None => {
                // Counted like any copy without room: emit finds none in an empty buffer.
                return self.emit(forward, egress, &mut [], range);
            }
        }
        self.emit(forward, egress, out, range)
    }

    /// Finds the segment of a frame from a local port, removing a trunk's tag in place.
    fn classify_port(&self, port: PortId, buf: &mut [u8], mut frame: Range<usize>) -> Classified {
        let source = Location::Port(port);
        let refuse = |reason| Err((reason, Some(source)));
        let Some(Ok(eth)) = buf.get(frame.clone()).map(EthernetFrame::new_checked) else {
            return refuse(Reason::Malformed);
        };
        let vlans = &port.of(&self.ports).vlans;
        if !eth.ethertype().is_vlan_tpid() {
            return match vlans.as_slice() {
                [(None, segment)] => Ok((*segment, source, frame)),
                _ => refuse(Reason::Vlan),
            };
        }
        let Ok(tag) = VlanTag::new_checked(eth.payload()) else {
            return refuse(Reason::Malformed);
        };
        let vid = Some(tag.vid());
        let found = vlans.binary_search_by_key(&vid, |&(v, _)| v);
        let Some(&(_, segment)) = found.ok().and_then(|at| vlans.get(at)) else {
            return refuse(Reason::Vlan);
        };
        // Untag: the addresses move forward over the 4-byte tag, whose EtherType
        // becomes the frame's. The frame holds an Ethernet header and a tag: 18 bytes.
        let (Some(addresses_end), Some(start)) = (
            frame.start.checked_add(ADDRESSES_LEN),
            frame.start.checked_add(vlan::HEADER_LEN),
        ) else {
            return refuse(Reason::Malformed);
        };
        buf.copy_within(frame.start..addresses_end, start);
        frame.start = start;
        Ok((segment, source, frame))
    }

    /// Decapsulates a tunnel frame or socket payload in place with `decapsulate`, and
    /// finds its segment and remote.
    fn classify_tunnel(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
        decapsulate: impl FnOnce(&Decapsulator, &mut [u8]) -> crate::Result<Decapsulated>,
    ) -> Classified {
        let Some(bytes) = buf.get_mut(frame.clone()) else {
            return Err((Reason::Malformed, None));
        };
        let decapsulated = match decapsulate(&self.decapsulator, bytes) {
            Ok(decapsulated) => decapsulated,
            Err(error) => {
                let reason = match error.kind {
                    ErrorKind::InnerVlanTag => Reason::Vlan,
                    ErrorKind::CriticalOption { .. } => Reason::CriticalOption,
                    // A sender no VTEP can be (multicast, loopback...): never a remote.
                    ErrorKind::BadAddress {
                        field: AddressField::OuterSource,
                        ..
                    } => Reason::UnknownSource,
                    _ => Reason::Malformed,
                };
                return Err((reason, None));
            }
        };
        // A Geneve IP payload (AWS GWLB's kind) is no Ethernet frame for a switch.
        if decapsulated.protocol != EtherType::TRANSPARENT_ETHERNET_BRIDGING {
            return Err((Reason::Malformed, None));
        }
        let Some(&segment) = self.by_vni.get(&decapsulated.segment()) else {
            return Err((Reason::UnknownSource, None));
        };
        let remote = segment
            .of(&self.segments)
            .remotes
            .iter()
            .copied()
            .find(|r| {
                let remote = r.of(&self.remotes);
                remote.ip == decapsulated.outer_src && remote.kind == decapsulated.kind()
            });
        let Some(remote) = remote else {
            return Err((Reason::UnknownSource, None));
        };
        // The inner frame lies inside `frame`, itself inside `buf`: no overflow.
        let (Some(start), Some(end)) = (
            frame.start.checked_add(decapsulated.inner.start),
            frame.start.checked_add(decapsulated.inner.end),
        ) else {
            return Err((Reason::Malformed, None));
        };
        Ok((segment, Location::Remote(remote), start..end))
    }

    /// Learns the source, then picks the targets.
    fn forward(
        &mut self,
        now: u64,
        segment_id: SegmentId,
        source: Location,
        buf: &[u8],
        frame: Range<usize>,
    ) -> Verdict {
        // Classification proved an Ethernet header there.
        let Some(Ok(eth)) = buf.get(frame.clone()).map(EthernetFrame::new_checked) else {
            return self.refuse(segment_id, source, Reason::Malformed);
        };
        let (src, dst) = (eth.src_addr(), eth.dst_addr());
        let segment = segment_id.of_mut(&mut self.segments);
        segment.counters.received(frame.len());
        if src.is_multicast() {
            return self.refuse(segment_id, source, Reason::Malformed);
        }
        let (ageing, vni) = (segment.ageing, segment.vni);
        let limits = Limits {
            segment: segment.mac_limit,
            port: match source {
                Location::Port(port) => port.of(&self.ports).mac_limit,
                Location::Remote(_) => usize::MAX,
            },
        };
        match self
            .table
            .learn(segment_id, src, source, now, ageing, limits)
        {
            Learned::Refreshed | Learned::New | Learned::Pinned => {}
            Learned::Moved { from } => {
                segment_id.of_mut(&mut self.segments).counters.moved();
                if let Some(counters) = self.counters_of(source) {
                    counters.moved();
                }
                self.push_event(MacMove {
                    vni,
                    mac: src,
                    from,
                    to: source,
                });
            }
            Learned::Refused => {
                segment_id
                    .of_mut(&mut self.segments)
                    .counters
                    .count(Reason::MacLimit);
                if let Some(counters) = self.counters_of(source) {
                    counters.count(Reason::MacLimit);
                }
            }
        }
        let known = if dst.is_unicast() {
            self.table
                .lookup(segment_id, dst, now, ageing)
                .map(|entry| entry.location)
        } else {
            None
        };
        if let Some(target) = known {
            if target == source {
                return Verdict::Filtered;
            }
            if let Some(reason) = self.barrier(source, target) {
                return self.refuse(segment_id, source, reason);
            }
            self.targets.push(target);
        } else {
            let segment = segment_id.of(&self.segments);
            for &(port, _) in &segment.members {
                let target = Location::Port(port);
                if target != source && self.barrier(source, target).is_none() {
                    self.targets.push(target);
                }
            }
            for &remote in &segment.remotes {
                let target = Location::Remote(remote);
                if remote.of(&self.remotes).flood
                    && target != source
                    && self.barrier(source, target).is_none()
                {
                    self.targets.push(target);
                }
            }
        }
        if self.targets.is_empty() {
            return Verdict::Filtered;
        }
        Verdict::Forward(Forward {
            segment: segment_id,
            source,
            frame,
            flood: known.is_none(),
        })
    }

    /// Why a frame from `source` may never go to `target`, if it may not.
    fn barrier(&self, source: Location, target: Location) -> Option<Reason> {
        match (source, target) {
            (Location::Port(a), Location::Port(b))
                if a.of(&self.ports).isolated && b.of(&self.ports).isolated =>
            {
                Some(Reason::Isolated)
            }
            (Location::Remote(a), Location::Remote(b)) if self.one_mesh(a, b) => {
                Some(Reason::SplitHorizon)
            }
            _ => None,
        }
    }

    /// Whether two remotes belong to one full mesh: one encapsulation over one address
    /// family. An IPv4 remote and an IPv6 one cannot reach each other (neither has an
    /// address of the other's family), so a dual-stack switch relays between them, as
    /// it relays between VXLAN and NVGRE.
    fn one_mesh(&self, a: super::RemoteId, b: super::RemoteId) -> bool {
        let (a, b) = (a.of(&self.remotes), b.of(&self.remotes));
        a.kind == b.kind && a.ip.is_ipv4() == b.ip.is_ipv4()
    }

    /// The counters of a port or of a remote not removed (a driver may report copies
    /// after their remote went).
    fn counters_of(&mut self, location: Location) -> Option<&mut super::Counters> {
        match location {
            Location::Port(port) => Some(&mut port.of_mut(&mut self.ports).counters),
            Location::Remote(remote) => self.remote_mut(remote).map(|r| &mut r.counters),
        }
    }

    fn refuse(&mut self, segment: SegmentId, source: Location, reason: Reason) -> Verdict {
        segment.of_mut(&mut self.segments).counters.count(reason);
        if let Some(counters) = self.counters_of(source) {
            counters.count(reason);
        }
        Verdict::Drop(reason)
    }

    /// Adds a trunk port's tag for `segment` in front of the frame, if it has one.
    fn tag_for_port(
        &self,
        port: PortId,
        segment: SegmentId,
        buf: &mut [u8],
        frame: Range<usize>,
    ) -> Result<Range<usize>, Reason> {
        let Some(Ok(eth)) = buf.get(frame.clone()).map(EthernetFrame::new_checked) else {
            return Err(Reason::NoBuffer);
        };
        let ethertype = eth.ethertype();
        let vid = port
            .of(&self.ports)
            .vlans
            .iter()
            .find(|&&(_, s)| s == segment)
            .and_then(|&(vid, _)| vid);
        let Some(vid) = vid else {
            return Ok(frame);
        };
        let Some(start) = frame.start.checked_sub(vlan::HEADER_LEN) else {
            return Err(Reason::NoBuffer);
        };
        // The frame holds an Ethernet header: its addresses end inside it.
        let Some(addresses_end) = frame.start.checked_add(ADDRESSES_LEN) else {
            return Err(Reason::NoBuffer);
        };
        buf.copy_within(frame.start..addresses_end, start);
        let Some(tagged) = buf.get_mut(start..frame.end) else {
            return Err(Reason::NoBuffer);
        };
        let mut eth = EthernetFrame::new_unchecked(tagged);
        eth.set_ethertype(EtherType::VLAN);
        VlanRepr {
            pcp: 0,
            dei: false,
            vid,
            ethertype,
        }
        .emit(eth.payload_mut())
        .map_err(|_| Reason::NoBuffer)?;
        Ok(start..frame.end)
    }
}

/// The outer headers a socket took off a payload of `kind` from `outer.src`, as the
/// tunnel engine writes them (Ethernet, IPv4 or IPv6, UDP for VXLAN; no tag, options or
/// extension headers): what whole-frame counters add to the payload.
fn taken_off(kind: TunnelKind, outer: SocketOuter) -> usize {
    let overhead = match (kind, outer.src) {
        // Geneve's options are in the payload: the socket took what VXLAN's does.
        (TunnelKind::Vxlan | TunnelKind::Geneve, IpAddr::V4(_)) => VXLAN_OVERHEAD,
        (TunnelKind::Nvgre, IpAddr::V4(_)) => NVGRE_OVERHEAD,
        (TunnelKind::Vxlan | TunnelKind::Geneve, IpAddr::V6(_)) => VXLAN6_OVERHEAD,
        (TunnelKind::Nvgre, IpAddr::V6(_)) => NVGRE6_OVERHEAD,
    };
    // The payload starts with the tunnel header, which each overhead includes.
    overhead.saturating_sub(TUNNEL_HEADER_LEN)
}
