//! Every forwarding rule, on a fake clock.

use core::net::{Ipv4Addr, Ipv6Addr};
use std::vec::Vec;

use super::*;
use crate::packet::Decoder;
use crate::tunnel::{HEADROOM, TunnelConfig};
use crate::wire::nvgre::Vsid;

mod control_plane;
mod dual_stack;
mod geneve;

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const VX1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const VX2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const NV1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

fn vni(n: u32) -> Vni {
    Vni::new(n).unwrap()
}

fn vid(n: u16) -> VlanId {
    VlanId::usable(n).unwrap()
}

fn mac(n: u32) -> MacAddr {
    let [a, b, c, d] = n.to_be_bytes();
    MacAddr([0x02, 0, a, b, c, d])
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// An untagged Ethernet frame of `len` bytes.
fn frame(dst: MacAddr, src: MacAddr, len: usize) -> Vec<u8> {
    let mut bytes = std::vec![0u8; len];
    bytes[..6].copy_from_slice(&dst.0);
    bytes[6..12].copy_from_slice(&src.0);
    bytes[12..14].copy_from_slice(&[0x08, 0x06]);
    for (i, b) in bytes[14..].iter_mut().enumerate() {
        *b = i as u8;
    }
    bytes
}

/// The frame with an 802.1Q tag.
fn tagged(bytes: &[u8], vid: u16) -> Vec<u8> {
    let mut out = bytes[..12].to_vec();
    out.extend_from_slice(&[0x81, 0x00]);
    out.extend_from_slice(&vid.to_be_bytes());
    out.extend_from_slice(&bytes[12..]);
    out
}

/// A switch at 10.0.0.100 with segments 5042 and 5043 (NVGRE reserves VSIDs below 4096):
/// - ports 0 and 1: access 5042; 2 and 3: access 5042, isolated; 4: trunk 100->5042, 200->5043;
/// - remotes of 5042: VXLAN 10.0.0.1, VXLAN 10.0.0.2, NVGRE 10.0.0.3; of 5043: VXLAN 10.0.0.1.
struct Lab {
    switch: Switch,
    ports: Vec<PortId>,
    vx1: RemoteId,
    vx2: RemoteId,
    nv1: RemoteId,
    vx1_43: RemoteId,
}

impl Lab {
    fn new() -> Self {
        Self::with_segment(|_| {})
    }

    fn with_segment(adjust: impl Fn(&mut SegmentConfig)) -> Self {
        let mut switch = Switch::new(SwitchConfig::new(LOCAL));
        for n in [5042, 5043] {
            let mut segment = SegmentConfig::new(vni(n));
            adjust(&mut segment);
            switch.add_segment(segment).unwrap();
        }
        let mut ports = Vec::new();
        for isolated in [false, false, true, true] {
            let mut port = PortConfig::access(vni(5042));
            port.isolated = isolated;
            ports.push(switch.add_port(port).unwrap());
        }
        let trunk = PortConfig::trunk(std::vec![(vid(200), vni(5043)), (vid(100), vni(5042))]);
        ports.push(switch.add_port(trunk).unwrap());
        let remote = |ip, kind| RemoteConfig::new(ip, kind);
        let vx1 = switch
            .add_remote(vni(5042), remote(VX1, TunnelKind::Vxlan))
            .unwrap();
        let vx2 = switch
            .add_remote(vni(5042), remote(VX2, TunnelKind::Vxlan))
            .unwrap();
        let nv1 = switch
            .add_remote(vni(5042), remote(NV1, TunnelKind::Nvgre))
            .unwrap();
        let vx1_43 = switch
            .add_remote(vni(5043), remote(VX1, TunnelKind::Vxlan))
            .unwrap();
        Lab {
            switch,
            ports,
            vx1,
            vx2,
            nv1,
            vx1_43,
        }
    }

    /// Sends `bytes` in from `ingress` at `now`; returns the verdict and each copy sent.
    fn send(
        &mut self,
        now: u64,
        ingress: Ingress,
        bytes: &[u8],
    ) -> (Verdict, Vec<(Egress, Vec<u8>)>) {
        let mut buf = std::vec![0u8; HEADROOM + bytes.len()];
        buf[HEADROOM..].copy_from_slice(bytes);
        let whole = HEADROOM..buf.len();
        let verdict = self.switch.receive(secs(now), ingress, &mut buf, whole);
        let mut out = Vec::new();
        if let Verdict::Forward(forward) = &verdict {
            for egress in self.switch.targets().to_vec() {
                let mut copy = std::vec![0u8; HEADROOM + 2048];
                let inner = &buf[forward.frame.clone()];
                if let Ok(range) = self.switch.emit_copy(forward, egress, inner, &mut copy) {
                    // The test's sends never fail.
                    self.switch.count_sent(forward, egress, range.len());
                    out.push((egress, copy[range].to_vec()));
                }
            }
        }
        (verdict, out)
    }

    fn send_port(
        &mut self,
        now: u64,
        port: usize,
        bytes: &[u8],
    ) -> (Verdict, Vec<(Egress, Vec<u8>)>) {
        self.send(now, Ingress::Port(self.ports[port]), bytes)
    }

    /// Encapsulates `inner` as remote `from` would towards this switch, then sends it in.
    fn send_tunnel(
        &mut self,
        now: u64,
        from: Ipv4Addr,
        kind: TunnelKind,
        segment: u32,
        inner: &[u8],
    ) -> (Verdict, Vec<(Egress, Vec<u8>)>) {
        let wire = encapsulate(from.into(), LOCAL.into(), kind, segment, inner);
        self.send(now, Ingress::Underlay, &wire)
    }

    fn targets_of(&self, out: &[(Egress, Vec<u8>)]) -> Vec<Egress> {
        out.iter().map(|(egress, _)| *egress).collect()
    }

    fn port(&self, n: usize) -> Egress {
        Location::Port(self.ports[n])
    }
}

/// `inner` as a whole tunnel frame from `from` to `to` (both IPv4 or both IPv6).
fn encapsulate(from: IpAddr, to: IpAddr, kind: TunnelKind, segment: u32, inner: &[u8]) -> Vec<u8> {
    let mut config = match kind {
        TunnelKind::Vxlan => TunnelConfig::vxlan(vni(segment), from, to),
        TunnelKind::Nvgre => TunnelConfig::nvgre(Vsid::new(segment).unwrap(), from, to),
        TunnelKind::Geneve => TunnelConfig::geneve(vni(segment), from, to),
    };
    config.mtu = 9000;
    // Send tagged inner frames as they are, to see the switch refuse them.
    if kind == TunnelKind::Vxlan {
        config.inner_vlan = crate::tunnel::InnerVlanPolicy::Keep;
    }
    let mut buf = std::vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(inner);
    let whole = HEADROOM..buf.len();
    let range = Encapsulator::new(config)
        .unwrap()
        .encapsulate(&mut buf, whole)
        .unwrap();
    buf[range].to_vec()
}

/// The remote address, encapsulation, segment and inner frame of a tunnel frame from
/// the IPv4 switch at LOCAL.
fn open_tunnel(bytes: &[u8]) -> (Ipv4Addr, TunnelKind, u32, Vec<u8>) {
    let (from, to, kind, segment, inner) = open_tunnel_of_either_family(bytes);
    assert_eq!(from, LOCAL);
    let IpAddr::V4(to) = to else {
        panic!("sent over IPv6")
    };
    (to, kind, segment, inner)
}

/// The outer source and destination, encapsulation, segment and inner frame of a tunnel
/// frame over IPv4 or IPv6.
fn open_tunnel_of_either_family(bytes: &[u8]) -> (IpAddr, IpAddr, TunnelKind, u32, Vec<u8>) {
    let frame = Decoder::new().decode(bytes).unwrap();
    let (from, to) = match (frame.outer.ipv4, frame.outer.ipv6) {
        (Some(ip), None) => (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr())),
        (None, Some(ip)) => (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr())),
        _ => panic!("one outer IP header"),
    };
    let tunnel = frame.tunnel.unwrap();
    let kind = tunnel.kind();
    (
        from,
        to,
        kind,
        tunnel.segment(),
        bytes[frame.inner.offset..].to_vec(),
    )
}

#[test]
fn unknown_unicast_floods_everywhere_but_the_ingress_then_replies_go_straight_back() {
    let mut lab = Lab::new();
    let request = frame(mac(2), mac(1), 60);
    let (verdict, out) = lab.send_port(0, 0, &request);
    assert!(matches!(
        verdict,
        Verdict::Forward(Forward { flood: true, .. })
    ));
    let expected = [
        lab.port(1),
        lab.port(2),
        lab.port(3),
        lab.port(4),
        Location::Remote(lab.vx1),
        Location::Remote(lab.vx2),
        Location::Remote(lab.nv1),
    ];
    assert_eq!(lab.targets_of(&out), expected);
    for (egress, bytes) in &out {
        match egress {
            Location::Port(p) if *p == lab.ports[4] => assert_eq!(*bytes, tagged(&request, 100)),
            Location::Port(_) => assert_eq!(*bytes, request),
            Location::Remote(r) => {
                let (ip, kind, segment, inner) = open_tunnel(bytes);
                let want = [
                    (lab.vx1, VX1, TunnelKind::Vxlan),
                    (lab.vx2, VX2, TunnelKind::Vxlan),
                    (lab.nv1, NV1, TunnelKind::Nvgre),
                ];
                let &(_, want_ip, want_kind) = want.iter().find(|w| w.0 == *r).unwrap();
                assert_eq!(
                    (ip, kind, segment, &inner),
                    (want_ip, want_kind, 5042, &request)
                );
            }
        }
    }
    let (verdict, out) = lab.send_port(1, 1, &frame(mac(1), mac(2), 60));
    assert!(matches!(
        verdict,
        Verdict::Forward(Forward { flood: false, .. })
    ));
    assert_eq!(lab.targets_of(&out), [lab.port(0)]);
    let counters = lab.switch.port_counters(lab.ports[0]);
    assert_eq!(
        (
            counters.frames_in,
            counters.bytes_in,
            counters.frames_out,
            counters.bytes_out
        ),
        (1, 60, 1, 60)
    );
    // The segment counts inner frames: 2 in; 7 flooded copies and 1 unicast out.
    let segment = lab
        .switch
        .segment_counters(lab.switch.segment_id(vni(5042)).unwrap());
    assert_eq!(
        (
            segment.frames_in,
            segment.bytes_in,
            segment.frames_out,
            segment.bytes_out
        ),
        (2, 120, 8, 480)
    );
    // The trunk port counts its tagged copy.
    assert_eq!(lab.switch.port_counters(lab.ports[4]).bytes_out, 64);
}

#[test]
fn sources_behind_remotes_are_learned_and_reached_through_their_tunnel() {
    let mut lab = Lab::new();
    let (verdict, out) = lab.send_tunnel(
        0,
        VX1,
        TunnelKind::Vxlan,
        5042,
        &frame(MacAddr::BROADCAST, mac(7), 60),
    );
    assert!(matches!(verdict, Verdict::Forward(_)));
    assert_eq!(
        out.len(),
        5 + 1,
        "ports and the NVGRE remote, not the other VXLAN remote"
    );
    let reply = frame(mac(7), mac(1), 100);
    let (_, out) = lab.send_port(1, 0, &reply);
    assert_eq!(lab.targets_of(&out), [Location::Remote(lab.vx1)]);
    assert_eq!(
        open_tunnel(&out[0].1),
        (VX1, TunnelKind::Vxlan, 5042, reply)
    );
    assert_eq!(lab.switch.remote_counters(lab.vx1).frames_in, 1);
    assert_eq!(lab.switch.remote_counters(lab.vx1).bytes_out, 150);
    let entry = lab.switch.fdb(secs(5)).find(|e| e.mac == mac(7)).unwrap();
    assert_eq!(
        (entry.location, entry.is_static, entry.age),
        (Location::Remote(lab.vx1), false, secs(5))
    );
}

#[test]
fn entries_age_out_at_the_segment_ageing_time_and_leave_the_fdb_at_once() {
    let mut lab = Lab::with_segment(|s| s.ageing = secs(300));
    lab.send_port(0, 0, &frame(MacAddr::BROADCAST, mac(1), 60));
    let (_, out) = lab.send_port(299, 1, &frame(mac(1), mac(2), 60));
    assert_eq!(lab.targets_of(&out), [lab.port(0)]);
    assert_eq!(lab.switch.fdb(secs(299)).count(), 2);
    // mac(1) was last seen at 0: gone at 300, so frames to it flood again.
    assert_eq!(
        lab.switch.fdb(secs(300)).map(|e| e.mac).collect::<Vec<_>>(),
        [mac(2)]
    );
    let (verdict, _) = lab.send_port(300, 1, &frame(mac(1), mac(2), 60));
    assert!(matches!(
        verdict,
        Verdict::Forward(Forward { flood: true, .. })
    ));
    assert_eq!(lab.switch.mac_table().len(), 2);
    assert_eq!(lab.switch.age(secs(300)), 1);
    assert_eq!(lab.switch.mac_table().len(), 1);
    assert_eq!(lab.switch.age(secs(600)), 1);
    assert!(lab.switch.mac_table().is_empty());
}

#[test]
fn static_entries_never_age_and_never_move() {
    let mut lab = Lab::new();
    let pinned = Location::Remote(lab.vx2);
    lab.switch.add_static(vni(5042), mac(9), pinned).unwrap();
    // The same address shows up on a port: forwarded, not learned there.
    let (verdict, _) = lab.send_port(0, 0, &frame(MacAddr::BROADCAST, mac(9), 60));
    assert!(matches!(verdict, Verdict::Forward(_)));
    let (_, out) = lab.send_port(1_000_000, 1, &frame(mac(9), mac(2), 60));
    assert_eq!(lab.targets_of(&out), [pinned]);
    let entry = lab
        .switch
        .fdb(secs(1_000_000))
        .find(|e| e.mac == mac(9))
        .unwrap();
    assert!(entry.is_static && entry.age == Duration::ZERO);
    assert_eq!(
        lab.switch.age(secs(1_000_300)),
        1,
        "only the learned mac(2) ages"
    );
    assert!(lab.switch.fdb(secs(9_000_000)).any(|e| e.mac == mac(9)));
    assert_eq!(lab.switch.take_event(), None);
    // A static entry must name a port or remote of its own segment.
    assert_eq!(
        lab.switch.add_static(vni(5043), mac(9), lab.port(0)),
        Err(ConfigError::NotInSegment)
    );
    assert_eq!(
        lab.switch
            .add_static(vni(5043), mac(9), Location::Remote(lab.vx1)),
        Err(ConfigError::NotInSegment)
    );
    assert_eq!(
        lab.switch.add_static(vni(5044), mac(9), lab.port(0)),
        Err(ConfigError::UnknownSegment(5044))
    );
    assert!(lab.switch.remove_mac(vni(5042), mac(9)));
    assert!(lab.switch.fdb(secs(1_000_000)).all(|e| e.mac != mac(9)));
}

#[test]
fn flood_lists_choose_which_remotes_get_flooded_frames() {
    let mut lab = Lab::new();
    lab.switch.set_flood(lab.vx2, false).unwrap();
    lab.switch
        .add_static(vni(5042), mac(9), Location::Remote(lab.vx2))
        .unwrap();
    let (_, out) = lab.send_port(0, 0, &frame(MacAddr::BROADCAST, mac(1), 60));
    let targets = lab.targets_of(&out);
    assert!(targets.contains(&Location::Remote(lab.vx1)));
    assert!(!targets.contains(&Location::Remote(lab.vx2)));
    let (_, out) = lab.send_port(0, 0, &frame(mac(9), mac(1), 60));
    assert_eq!(lab.targets_of(&out), [Location::Remote(lab.vx2)]);
    lab.switch.set_flood(lab.vx2, true).unwrap();
    let (_, out) = lab.send_port(0, 0, &frame(MacAddr::BROADCAST, mac(1), 60));
    assert!(lab.targets_of(&out).contains(&Location::Remote(lab.vx2)));
}

#[test]
fn split_horizon_keeps_remotes_of_one_encapsulation_apart() {
    let mut lab = Lab::new();
    lab.send_tunnel(
        0,
        VX2,
        TunnelKind::Vxlan,
        5042,
        &frame(MacAddr::BROADCAST, mac(8), 60),
    );
    let (_, out) = lab.send_tunnel(
        0,
        VX1,
        TunnelKind::Vxlan,
        5042,
        &frame(MacAddr::BROADCAST, mac(7), 60),
    );
    let targets = lab.targets_of(&out);
    assert!(
        !targets.contains(&Location::Remote(lab.vx2))
            && !targets.contains(&Location::Remote(lab.vx1))
    );
    let (verdict, out) =
        lab.send_tunnel(1, VX1, TunnelKind::Vxlan, 5042, &frame(mac(8), mac(7), 60));
    assert_eq!(
        (verdict, out.len()),
        (Verdict::Drop(Reason::SplitHorizon), 0)
    );
    assert_eq!(
        lab.switch
            .remote_counters(lab.vx1)
            .get(Reason::SplitHorizon),
        1
    );
    let segment = lab.switch.segment_id(vni(5042)).unwrap();
    assert_eq!(
        lab.switch
            .segment_counters(segment)
            .get(Reason::SplitHorizon),
        1
    );
    // The flood copies left out are not counted.
    assert_eq!(
        lab.switch
            .remote_counters(lab.vx2)
            .get(Reason::SplitHorizon),
        0
    );
}

#[test]
fn a_segment_with_both_encapsulations_is_a_vxlan_nvgre_gateway() {
    let mut lab = Lab::new();
    let hello = frame(MacAddr::BROADCAST, mac(5), 80);
    let (_, out) = lab.send_tunnel(0, NV1, TunnelKind::Nvgre, 5042, &hello);
    let remotes: Vec<_> = out
        .iter()
        .filter(|(e, _)| matches!(e, Location::Remote(_)))
        .map(|(_, bytes)| open_tunnel(bytes))
        .collect();
    assert_eq!(
        remotes,
        [
            (VX1, TunnelKind::Vxlan, 5042, hello.clone()),
            (VX2, TunnelKind::Vxlan, 5042, hello)
        ]
    );
    let answer = frame(mac(5), mac(6), 80);
    let (_, out) = lab.send_tunnel(1, VX2, TunnelKind::Vxlan, 5042, &answer);
    assert_eq!(lab.targets_of(&out), [Location::Remote(lab.nv1)]);
    assert_eq!(
        open_tunnel(&out[0].1),
        (NV1, TunnelKind::Nvgre, 5042, answer)
    );
}

#[test]
fn trunk_ports_map_vids_to_segments_untagging_on_entry_and_tagging_on_exit() {
    let mut lab = Lab::new();
    let untagged = frame(MacAddr::BROADCAST, mac(4), 60);
    let (_, out) = lab.send_port(0, 4, &tagged(&untagged, 100));
    for (egress, bytes) in &out {
        let inner = match egress {
            Location::Remote(_) => open_tunnel(bytes).3,
            Location::Port(_) => bytes.clone(),
        };
        assert_eq!(
            inner, untagged,
            "{egress:?}: the tag is removed before encapsulation"
        );
    }
    assert_eq!(out.len(), 4 + 3);
    // VID 200 is segment 5043, whose only other member is VXLAN 10.0.0.1 (VNI 5043).
    let (_, out) = lab.send_port(0, 4, &tagged(&frame(MacAddr::BROADCAST, mac(4), 60), 200));
    assert_eq!(lab.targets_of(&out), [Location::Remote(lab.vx1_43)]);
    assert_eq!(open_tunnel(&out[0].1).2, 5043);
    // Back from the tunnel: the tag of the segment's VID is restored.
    let reply = frame(mac(4), mac(3), 70);
    let (_, out) = lab.send_tunnel(1, VX1, TunnelKind::Vxlan, 5043, &reply);
    assert_eq!(out, [(lab.port(4), tagged(&reply, 200))]);
    let (_, out) = lab.send_port(1, 0, &frame(mac(4), mac(3), 70));
    assert_eq!(
        out,
        [(lab.port(4), tagged(&frame(mac(4), mac(3), 70), 100))]
    );
    // What a trunk or access port may not carry.
    for (port, bytes) in [
        (4, untagged.clone()),
        (4, tagged(&untagged, 300)),
        (0, tagged(&untagged, 100)),
    ] {
        assert_eq!(
            lab.send_port(2, port, &bytes).0,
            Verdict::Drop(Reason::Vlan)
        );
    }
    assert_eq!(lab.switch.port_counters(lab.ports[4]).get(Reason::Vlan), 2);
    assert_eq!(lab.switch.port_counters(lab.ports[0]).get(Reason::Vlan), 1);
    // A tagged inner frame from a tunnel is refused too.
    let (verdict, _) = lab.send_tunnel(2, VX1, TunnelKind::Vxlan, 5042, &tagged(&untagged, 100));
    assert_eq!(verdict, Verdict::Drop(Reason::Vlan));
}

#[test]
fn a_frame_longer_than_its_port_mtu_allows_is_not_sent_out_of_it() {
    let mut switch = Switch::new(SwitchConfig::new(LOCAL));
    switch.add_segment(SegmentConfig::new(vni(5042))).unwrap();
    let source = switch.add_port(PortConfig::access(vni(5042))).unwrap();
    let mut access = PortConfig::access(vni(5042));
    access.mtu = Some(100);
    let access = switch.add_port(access).unwrap();
    let mut trunk = PortConfig::trunk(std::vec![(vid(100), vni(5042))]);
    trunk.mtu = Some(100);
    let trunk = switch.add_port(trunk).unwrap();
    // 100 bytes after the Ethernet header go, and the trunk's tag rides outside them.
    for (len, access_gets, trunk_gets) in [
        (114, Ok(114), Ok(118)),
        (115, Err(Reason::Mtu), Err(Reason::Mtu)),
    ] {
        let mut buf = std::vec![0u8; HEADROOM + len];
        buf[HEADROOM..].copy_from_slice(&frame(MacAddr::BROADCAST, mac(1), len));
        let whole = HEADROOM..buf.len();
        let Verdict::Forward(forward) =
            switch.receive(secs(0), Ingress::Port(source), &mut buf, whole)
        else {
            panic!("flooded");
        };
        let inner = buf[forward.frame.clone()].to_vec();
        let mut out = std::vec![0u8; HEADROOM + 2048];
        let mut sent = |egress| {
            switch
                .emit_copy(&forward, Location::Port(egress), &inner, &mut out)
                .map(|range| range.len())
        };
        assert_eq!(
            (sent(access), sent(trunk)),
            (access_gets, trunk_gets),
            "{len}"
        );
    }
    for port in [access, trunk] {
        assert_eq!(switch.port_counters(port).get(Reason::Mtu), 1);
    }
    let segment = switch.segment_id(vni(5042)).unwrap();
    assert_eq!(switch.segment_counters(segment).get(Reason::Mtu), 2);
}

#[test]
fn isolated_ports_never_reach_each_other() {
    let mut lab = Lab::new();
    let (_, out) = lab.send_port(0, 2, &frame(MacAddr::BROADCAST, mac(2), 60));
    let targets = lab.targets_of(&out);
    assert!(!targets.contains(&lab.port(3)));
    assert!(targets.contains(&lab.port(0)) && targets.contains(&Location::Remote(lab.vx1)));
    assert_eq!(
        lab.switch.port_counters(lab.ports[3]).get(Reason::Isolated),
        0
    );
    let (verdict, _) = lab.send_port(1, 3, &frame(mac(2), mac(3), 60));
    assert_eq!(verdict, Verdict::Drop(Reason::Isolated));
    assert_eq!(
        lab.switch.port_counters(lab.ports[3]).get(Reason::Isolated),
        1
    );
    // Non-isolated ports and remotes reach isolated ones.
    let (_, out) = lab.send_port(1, 1, &frame(mac(2), mac(1), 60));
    assert_eq!(lab.targets_of(&out), [lab.port(2)]);
    let (_, out) = lab.send_tunnel(1, VX1, TunnelKind::Vxlan, 5042, &frame(mac(3), mac(7), 60));
    assert_eq!(lab.targets_of(&out), [lab.port(3)]);
}

#[test]
fn a_flood_of_100k_random_source_macs_stops_at_the_limit_with_memory_flat() {
    let mut lab = Lab::with_segment(|s| s.mac_limit = 1000);
    let mut buf = std::vec![0u8; HEADROOM + 60];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut capacity_at_limit = None;
    let segment = lab.switch.segment_id(vni(5042)).unwrap();
    for n in 0..100_000u64 {
        // xorshift64: a different random unicast source every frame.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let src = MacAddr(core::array::from_fn(|i| {
            (state >> (8 * i)) as u8 & if i == 0 { 0xfe } else { 0xff }
        }));
        buf[HEADROOM..].copy_from_slice(&frame(mac(1), src, 60));
        let verdict = lab.switch.receive(
            Duration::from_millis(n),
            Ingress::Port(lab.ports[0]),
            &mut buf,
            HEADROOM..HEADROOM + 60,
        );
        assert!(
            matches!(verdict, Verdict::Forward(Forward { flood: true, .. })),
            "still forwarded"
        );
        if lab.switch.mac_table().segment_len(segment) == 1000 && capacity_at_limit.is_none() {
            capacity_at_limit = Some(lab.switch.mac_table().capacity());
        }
    }
    assert_eq!(lab.switch.mac_table().segment_len(segment), 1000);
    assert_eq!(
        Some(lab.switch.mac_table().capacity()),
        capacity_at_limit,
        "memory flat"
    );
    assert!(lab.switch.mac_table().capacity() <= 4096);
    let refused = lab.switch.segment_counters(segment).get(Reason::MacLimit);
    assert_eq!(refused, 99_000);
    assert_eq!(
        lab.switch.port_counters(lab.ports[0]).get(Reason::MacLimit),
        99_000
    );
    // Another segment still learns.
    lab.send_port(0, 4, &tagged(&frame(MacAddr::BROADCAST, mac(1), 60), 200));
    assert_eq!(
        lab.switch
            .mac_table()
            .segment_len(lab.switch.segment_id(vni(5043)).unwrap()),
        1
    );
}

#[test]
fn a_port_learns_no_more_than_its_own_mac_limit_and_still_forwards() {
    let mut switch = Switch::new(SwitchConfig::new(LOCAL));
    switch.add_segment(SegmentConfig::new(vni(5042))).unwrap();
    let mut tenant = PortConfig::access(vni(5042));
    tenant.mac_limit = Some(3);
    let tenant = switch.add_port(tenant).unwrap();
    let other = switch.add_port(PortConfig::access(vni(5042))).unwrap();
    let mut buf = std::vec![0u8; 60];
    for n in 0..10 {
        buf.copy_from_slice(&frame(MacAddr::BROADCAST, mac(n), 60));
        let verdict = switch.receive(secs(0), Ingress::Port(tenant), &mut buf, 0..60);
        assert!(matches!(verdict, Verdict::Forward(_)), "still flooded");
    }
    buf.copy_from_slice(&frame(MacAddr::BROADCAST, mac(100), 60));
    switch.receive(secs(0), Ingress::Port(other), &mut buf, 0..60);
    let segment = switch.segment_id(vni(5042)).unwrap();
    assert_eq!(
        switch.mac_table().segment_len(segment),
        4,
        "3 + the other port's"
    );
    assert_eq!(switch.port_counters(tenant).get(Reason::MacLimit), 7);
    assert_eq!(switch.segment_counters(segment).get(Reason::MacLimit), 7);
    assert_eq!(switch.port_counters(other).get(Reason::MacLimit), 0);
}

#[test]
fn mac_moves_are_relearned_counted_and_reported() {
    let mut lab = Lab::new();
    lab.send_port(0, 0, &frame(MacAddr::BROADCAST, mac(1), 60));
    lab.send_tunnel(
        1,
        NV1,
        TunnelKind::Nvgre,
        5042,
        &frame(MacAddr::BROADCAST, mac(1), 60),
    );
    let event = lab.switch.take_event().unwrap();
    assert_eq!(
        event,
        MacMove {
            vni: vni(5042),
            mac: mac(1),
            from: lab.port(0),
            to: Location::Remote(lab.nv1)
        }
    );
    assert_eq!(lab.switch.take_event(), None);
    let segment = lab.switch.segment_id(vni(5042)).unwrap();
    assert_eq!(lab.switch.segment_counters(segment).mac_moves, 1);
    assert_eq!(lab.switch.remote_counters(lab.nv1).mac_moves, 1);
    let (_, out) = lab.send_port(2, 1, &frame(mac(1), mac(2), 60));
    assert_eq!(lab.targets_of(&out), [Location::Remote(lab.nv1)]);
}

#[test]
fn move_events_beyond_capacity_drop_the_oldest() {
    let mut config = SwitchConfig::new(LOCAL);
    config.event_capacity = 2;
    let mut switch = Switch::new(config);
    switch.add_segment(SegmentConfig::new(vni(1))).unwrap();
    let a = switch.add_port(PortConfig::access(vni(1))).unwrap();
    let b = switch.add_port(PortConfig::access(vni(1))).unwrap();
    let mut buf = std::vec![0u8; 60];
    // Learned, then three moves: two fit, the third loses the oldest (pins
    // `events_lost` to its count).
    for (n, (port, lost)) in [(a, 0), (b, 0), (a, 0), (b, 1)].into_iter().enumerate() {
        buf.copy_from_slice(&frame(MacAddr::BROADCAST, mac(1), 60));
        switch.receive(secs(n as u64), Ingress::Port(port), &mut buf, 0..60);
        assert_eq!(switch.events_lost(), lost);
    }
    assert_eq!(switch.events_lost(), 1);
    assert_eq!(switch.take_event().map(|e| e.to), Some(Location::Port(a)));
    assert_eq!(switch.take_event().map(|e| e.to), Some(Location::Port(b)));
}

#[test]
fn no_move_event_is_kept_with_no_capacity() {
    // Pins the capacity check in `push_event`: zero keeps nothing and counts each loss.
    let mut config = SwitchConfig::new(LOCAL);
    config.event_capacity = 0;
    let mut switch = Switch::new(config);
    switch.add_segment(SegmentConfig::new(vni(1))).unwrap();
    let a = switch.add_port(PortConfig::access(vni(1))).unwrap();
    let b = switch.add_port(PortConfig::access(vni(1))).unwrap();
    let mut buf = std::vec![0u8; 60];
    for (n, port) in [a, b, a].into_iter().enumerate() {
        buf.copy_from_slice(&frame(MacAddr::BROADCAST, mac(1), 60));
        switch.receive(secs(n as u64), Ingress::Port(port), &mut buf, 0..60);
    }
    assert_eq!(switch.take_event(), None);
    assert_eq!(switch.events_lost(), 2);
}

#[test]
fn tunnel_frames_from_anyone_but_the_segment_remotes_are_dropped() {
    let mut lab = Lab::new();
    let hello = frame(MacAddr::BROADCAST, mac(7), 60);
    let stranger = Ipv4Addr::new(10, 0, 0, 9);
    for (from, kind, segment) in [
        (stranger, TunnelKind::Vxlan, 5042),
        (NV1, TunnelKind::Nvgre, 5043), // a remote of 5042 only
        (VX1, TunnelKind::Nvgre, 5042), // the right address, the wrong encapsulation
    ] {
        let (verdict, out) = lab.send_tunnel(0, from, kind, segment, &hello);
        assert_eq!(
            (verdict, out.len()),
            (Verdict::Drop(Reason::UnknownSource), 0)
        );
    }
    let (verdict, _) = lab.send_tunnel(0, VX1, TunnelKind::Vxlan, 5044, &hello);
    assert_eq!(verdict, Verdict::Drop(Reason::UnknownSource));
    assert_eq!(lab.switch.underlay_counters().get(Reason::UnknownSource), 4);
    assert!(
        lab.switch.fdb(secs(0)).next().is_none(),
        "nothing learned from them"
    );
    assert!(matches!(
        lab.send_tunnel(0, VX1, TunnelKind::Vxlan, 5043, &hello).0,
        Verdict::Forward(_)
    ));
}

#[test]
fn frames_whose_outer_packet_exceeds_the_underlay_mtu_are_dropped() {
    let mut lab = Lab::new();
    lab.send_tunnel(
        0,
        VX1,
        TunnelKind::Vxlan,
        5042,
        &frame(MacAddr::BROADCAST, mac(7), 60),
    );
    lab.send_tunnel(
        0,
        NV1,
        TunnelKind::Nvgre,
        5042,
        &frame(MacAddr::BROADCAST, mac(8), 60),
    );
    // VXLAN: 20 + 8 + 8 + inner <= 1500; NVGRE: 20 + 8 + inner <= 1500.
    let (_, out) = lab.send_port(1, 0, &frame(mac(7), mac(1), 1464));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.len(), 14 + 1500);
    let (verdict, out) = lab.send_port(1, 0, &frame(mac(7), mac(1), 1465));
    assert!(matches!(verdict, Verdict::Forward(_)) && out.is_empty());
    assert_eq!(lab.switch.remote_counters(lab.vx1).get(Reason::Mtu), 1);
    assert_eq!(lab.send_port(1, 0, &frame(mac(8), mac(1), 1472)).1.len(), 1);
    assert_eq!(lab.send_port(1, 0, &frame(mac(8), mac(1), 1473)).1.len(), 0);
    assert_eq!(lab.switch.remote_counters(lab.nv1).get(Reason::Mtu), 1);
    let segment = lab.switch.segment_id(vni(5042)).unwrap();
    assert_eq!(lab.switch.segment_counters(segment).get(Reason::Mtu), 2);
}

#[test]
fn malformed_frames_are_dropped_and_counted() {
    let mut lab = Lab::new();
    assert_eq!(
        lab.send_port(0, 0, &[0u8; 13]).0,
        Verdict::Drop(Reason::Malformed)
    );
    assert_eq!(
        lab.send_port(
            0,
            4,
            &[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x81, 0, 0]
        )
        .0,
        Verdict::Drop(Reason::Malformed)
    );
    let multicast_source = frame(MacAddr::BROADCAST, MacAddr([0x01, 0, 0x5e, 0, 0, 1]), 60);
    assert_eq!(
        lab.send_port(0, 0, &multicast_source).0,
        Verdict::Drop(Reason::Malformed)
    );
    assert_eq!(
        lab.switch
            .port_counters(lab.ports[0])
            .get(Reason::Malformed),
        2
    );
    let mut wire = encapsulate(
        VX1.into(),
        LOCAL.into(),
        TunnelKind::Vxlan,
        5042,
        &frame(MacAddr::BROADCAST, mac(7), 60),
    );
    wire[42] = 0; // VXLAN without the I flag
    assert_eq!(
        lab.send(0, Ingress::Underlay, &wire).0,
        Verdict::Drop(Reason::Malformed)
    );
    // Encapsulation refuses a 10-byte inner frame: a 14-byte one, cut to 10 with the
    // outer lengths and checksum to match.
    let mut short = encapsulate(
        VX1.into(),
        LOCAL.into(),
        TunnelKind::Vxlan,
        5042,
        &[0u8; 14],
    );
    short.truncate(short.len() - 4);
    let mut ip = crate::wire::Ipv4Packet::new_unchecked(&mut short[14..]);
    ip.set_total_len(ip.total_len() - 4);
    ip.fill_checksum();
    let mut udp = crate::wire::UdpDatagram::new_unchecked(&mut short[34..]);
    udp.set_len(udp.len() - 4);
    assert_eq!(
        lab.send(0, Ingress::Underlay, &short).0,
        Verdict::Drop(Reason::Malformed)
    );
    assert_eq!(lab.switch.underlay_counters().get(Reason::Malformed), 2);
    assert_eq!(lab.switch.underlay_counters().frames_in, 2);
}

#[test]
fn nothing_goes_back_out_of_its_ingress() {
    let mut lab = Lab::new();
    lab.send_port(0, 0, &frame(MacAddr::BROADCAST, mac(1), 60));
    lab.send_port(0, 0, &frame(MacAddr::BROADCAST, mac(2), 60));
    assert_eq!(
        lab.send_port(0, 0, &frame(mac(2), mac(1), 60)),
        (Verdict::Filtered, Vec::new())
    );
    lab.send_tunnel(
        0,
        VX1,
        TunnelKind::Vxlan,
        5042,
        &frame(MacAddr::BROADCAST, mac(7), 60),
    );
    assert_eq!(
        lab.send_tunnel(
            0,
            VX1,
            TunnelKind::Vxlan,
            5042,
            &frame(MacAddr::BROADCAST, mac(7), 60)
        )
        .1
        .iter()
        .filter(|(e, _)| *e == Location::Remote(lab.vx1))
        .count(),
        0
    );
    // A segment with one port and no remote has nowhere to flood.
    let mut switch = Switch::new(SwitchConfig::new(LOCAL));
    switch.add_segment(SegmentConfig::new(vni(1))).unwrap();
    let port = switch.add_port(PortConfig::access(vni(1))).unwrap();
    let mut buf = frame(MacAddr::BROADCAST, mac(1), 60);
    assert_eq!(
        switch.receive(secs(0), Ingress::Port(port), &mut buf, 0..60),
        Verdict::Filtered
    );
}

#[test]
fn short_output_buffers_are_counted_as_no_buffer() {
    let mut lab = Lab::new();
    let mut buf = frame(MacAddr::BROADCAST, mac(1), 60);
    let Verdict::Forward(forward) =
        lab.switch
            .receive(secs(0), Ingress::Port(lab.ports[0]), &mut buf, 0..60)
    else {
        panic!("forwarded");
    };
    // No headroom in front of the frame: neither a tag nor outer headers fit.
    let vx1 = Location::Remote(lab.vx1);
    assert_eq!(
        lab.switch.emit(&forward, vx1, &mut buf, 0..60),
        Err(Reason::NoBuffer)
    );
    assert_eq!(
        lab.switch.emit(&forward, lab.port(4), &mut buf, 0..60),
        Err(Reason::NoBuffer)
    );
    let mut small = [0u8; HEADROOM + 59];
    assert_eq!(
        lab.switch.emit_copy(
            &forward,
            lab.port(1),
            &frame(MacAddr::BROADCAST, mac(1), 60),
            &mut small
        ),
        Err(Reason::NoBuffer)
    );
    assert_eq!(lab.switch.remote_counters(lab.vx1).get(Reason::NoBuffer), 1);
    assert_eq!(
        lab.switch.port_counters(lab.ports[4]).get(Reason::NoBuffer),
        1
    );
    // A frame range the receive buffer does not hold.
    let mut tiny = [0u8; 10];
    let verdict = lab
        .switch
        .receive(secs(0), Ingress::Port(lab.ports[2]), &mut tiny, 0..60);
    assert_eq!(verdict, Verdict::Drop(Reason::NoBuffer));
    assert_eq!(
        lab.switch.port_counters(lab.ports[2]).get(Reason::NoBuffer),
        1
    );
    lab.switch.count_write_failed(lab.port(1));
    assert_eq!(
        lab.switch
            .port_counters(lab.ports[1])
            .get(Reason::WriteFailed),
        1
    );
}

#[test]
fn a_copy_counts_as_sent_only_once_the_caller_says_it_left() {
    let mut lab = Lab::new();
    let mut buf = std::vec![0u8; HEADROOM + 60];
    buf[HEADROOM..].copy_from_slice(&frame(MacAddr::BROADCAST, mac(1), 60));
    let whole = HEADROOM..buf.len();
    let Verdict::Forward(forward) =
        lab.switch
            .receive(secs(0), Ingress::Port(lab.ports[0]), &mut buf, whole)
    else {
        panic!("forwarded");
    };
    let (vx1, vx2) = (Location::Remote(lab.vx1), Location::Remote(lab.vx2));
    let mut out = std::vec![0u8; HEADROOM + 2048];
    let inner = buf[forward.frame.clone()].to_vec();
    let sent = lab
        .switch
        .emit_copy(&forward, vx1, &inner, &mut out)
        .unwrap();
    lab.switch.count_sent(&forward, vx1, sent.len());
    // Written, but the operating system refused it.
    lab.switch
        .emit_copy(&forward, vx2, &inner, &mut out)
        .unwrap();
    lab.switch.count_write_failed(vx2);
    let sent_by = |c: &Counters| (c.frames_out, c.bytes_out, c.get(Reason::WriteFailed));
    assert_eq!(sent_by(lab.switch.remote_counters(lab.vx1)), (1, 110, 0));
    assert_eq!(sent_by(lab.switch.remote_counters(lab.vx2)), (0, 0, 1));
    let segment = lab.switch.segment_id(vni(5042)).unwrap();
    assert_eq!(sent_by(lab.switch.segment_counters(segment)), (1, 60, 1));
}

#[test]
fn bad_settings_are_refused() {
    let mut switch = Switch::new(SwitchConfig::new(LOCAL));
    switch.add_segment(SegmentConfig::new(vni(5001))).unwrap();
    assert_eq!(
        switch.add_segment(SegmentConfig::new(vni(5001))),
        Err(ConfigError::DuplicateSegment(5001))
    );
    assert_eq!(
        switch.add_port(PortConfig::access(vni(5002))),
        Err(ConfigError::UnknownSegment(5002))
    );
    let twice = PortConfig::trunk(std::vec![(vid(5), vni(5001)), (vid(6), vni(5001))]);
    assert_eq!(switch.add_port(twice), Err(ConfigError::DuplicateVlan(6)));
    let remote = RemoteConfig::new(VX1, TunnelKind::Vxlan);
    switch.add_remote(vni(5001), remote).unwrap();
    assert_eq!(
        switch.add_remote(vni(5001), remote),
        Err(ConfigError::DuplicateRemote(VX1.into()))
    );
    assert_eq!(
        switch.add_remote(vni(5002), remote),
        Err(ConfigError::UnknownSegment(5002))
    );
    switch
        .add_remote(vni(5001), RemoteConfig::new(VX1, TunnelKind::Nvgre))
        .unwrap();
}
