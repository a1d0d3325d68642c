//! Forwarding: flooding and learning, ageing, static entries, flood lists, split horizon,
//! the VXLAN / NVGRE gateway, trunk ports, port MTUs and isolated ports.

use super::*;

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
