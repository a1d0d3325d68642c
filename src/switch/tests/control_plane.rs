//! The API a control plane (EVPN) drives while frames flow: remotes added and removed,
//! entries by origin, flood lists from type-3 routes.

use super::*;

/// A fourth VXLAN remote of 5042, added at run time.
const VX3: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);

fn vxlan(ip: Ipv4Addr) -> RemoteConfig {
    RemoteConfig::new(ip, TunnelKind::Vxlan)
}

fn origin_of(lab: &Lab, mac: MacAddr) -> Option<(Location, Origin)> {
    lab.switch
        .fdb(secs(0))
        .find(|e| e.vni == vni(5042) && e.mac == mac)
        .map(|e| (e.location, e.origin))
}

fn flooded_to(lab: &mut Lab, now: u64) -> Vec<Egress> {
    let (_, out) = lab.send_port(now, 0, &frame(MacAddr::BROADCAST, mac(1), 60));
    lab.targets_of(&out)
}

#[test]
fn remotes_come_and_go_while_frames_flow_and_the_others_keep_their_ids() {
    let mut lab = Lab::new();
    lab.send_tunnel(0, VX2, TunnelKind::Vxlan, 5042, &frame(mac(1), mac(7), 60));
    lab.send_tunnel(0, VX1, TunnelKind::Vxlan, 5042, &frame(mac(1), mac(8), 60));
    let before: Vec<_> = lab.switch.remotes().collect();

    // Added after frames flowed: flooded to, heard from, learned behind.
    let vx3 = lab.switch.add_remote(vni(5042), vxlan(VX3)).unwrap();
    assert!(flooded_to(&mut lab, 1).contains(&Location::Remote(vx3)));
    let (verdict, _) = lab.send_tunnel(1, VX3, TunnelKind::Vxlan, 5042, &frame(mac(1), mac(9), 60));
    assert!(matches!(verdict, Verdict::Forward(_)));
    let (_, out) = lab.send_port(1, 0, &frame(mac(9), mac(1), 60));
    assert_eq!(lab.targets_of(&out), [Location::Remote(vx3)]);
    assert_eq!(open_tunnel(&out[0].1).0, VX3);

    assert!(lab.switch.remove_remote(lab.vx2));
    let after: Vec<_> = lab.switch.remotes().collect();
    let mut expected: Vec<_> = before.iter().filter(|r| r.0 != lab.vx2).copied().collect();
    expected.push((vx3, vni(5042), VX3.into(), TunnelKind::Vxlan));
    assert_eq!(
        after, expected,
        "the others keep their ids, slots and order"
    );
    assert!(!flooded_to(&mut lab, 2).contains(&Location::Remote(lab.vx2)));
    assert_eq!(origin_of(&lab, mac(7)), None, "its learned entry went");
    assert_eq!(
        origin_of(&lab, mac(8)),
        Some((Location::Remote(lab.vx1), Origin::Learned))
    );
    let (verdict, _) = lab.send_tunnel(2, VX2, TunnelKind::Vxlan, 5042, &frame(mac(1), mac(7), 60));
    assert_eq!(verdict, Verdict::Drop(Reason::UnknownSource));
    assert_eq!(
        lab.switch
            .find_remote(vni(5042), VX2.into(), TunnelKind::Vxlan),
        None
    );
    assert_eq!(
        lab.switch
            .find_remote(vni(5042), VX3.into(), TunnelKind::Vxlan),
        Some(vx3)
    );
    // A withdrawal seen twice is no error; using a removed id is.
    assert!(!lab.switch.remove_remote(lab.vx2));
    assert_eq!(
        lab.switch.set_flood(lab.vx2, true),
        Err(ConfigError::UnknownRemote(lab.vx2))
    );
    assert_eq!(
        lab.switch
            .add_entry(vni(5042), mac(7), Location::Remote(lab.vx2), Origin::Evpn),
        Err(ConfigError::NotInSegment)
    );

    // Back again: it takes its old slot under a new id; the old id still names nothing.
    let slots = lab.switch.remote_slots();
    let again = lab.switch.add_remote(vni(5042), vxlan(VX2)).unwrap();
    assert_eq!(again.index(), lab.vx2.index());
    assert_ne!(again, lab.vx2);
    assert_eq!(lab.switch.remote_slots(), slots, "no slot grown");
    assert_eq!(lab.switch.floods_to(lab.vx2), None);
    assert_eq!(lab.switch.floods_to(again), Some(true));
    assert_eq!(lab.switch.remote_counters(again).frames_in, 0);
    assert!(lab.switch.remotes().all(|(id, ..)| id.index() < slots));
    let (verdict, _) = lab.send_tunnel(3, VX2, TunnelKind::Vxlan, 5042, &frame(mac(1), mac(7), 60));
    assert!(matches!(verdict, Verdict::Forward(_)));
    assert_eq!(
        origin_of(&lab, mac(7)),
        Some((Location::Remote(again), Origin::Learned))
    );
    assert_eq!(lab.switch.remote_counters(again).frames_in, 1);
}

#[test]
fn removing_a_remote_drops_its_entries_of_every_origin_and_its_flood_membership() {
    let mut lab = Lab::new();
    let (vx1, vx2) = (Location::Remote(lab.vx1), Location::Remote(lab.vx2));
    lab.send_tunnel(0, VX2, TunnelKind::Vxlan, 5042, &frame(mac(1), mac(7), 60));
    lab.send_tunnel(0, VX1, TunnelKind::Vxlan, 5042, &frame(mac(1), mac(10), 60));
    for (n, at, origin) in [
        (8, vx2, Origin::Evpn),
        (9, vx2, Origin::Static),
        (11, vx1, Origin::Evpn),
    ] {
        assert_eq!(
            lab.switch.add_entry(vni(5042), mac(n), at, origin),
            Ok(true)
        );
    }
    assert_eq!(lab.switch.fdb(secs(0)).count(), 5);
    assert!(lab.switch.remove_remote(lab.vx2));
    let mut left: Vec<_> = lab.switch.fdb(secs(0)).map(|e| e.mac).collect();
    left.sort_by_key(|m| m.0);
    assert_eq!(left, [mac(10), mac(11)]);
    assert!(lab.switch.mac_table().iter().all(|e| e.location != vx2));
    let segment = lab.switch.segment_id(vni(5042)).unwrap();
    assert_eq!(lab.switch.mac_table().segment_len(segment), 2);
    // Its MACs are unknown again: flooded, and not to it.
    let (verdict, out) = lab.send_port(1, 0, &frame(mac(8), mac(1), 60));
    assert!(matches!(
        verdict,
        Verdict::Forward(Forward { flood: true, .. })
    ));
    assert!(lab.targets_of(&out).contains(&vx1));
    assert!(!lab.targets_of(&out).contains(&vx2));
}

#[test]
fn a_removed_remotes_counters_go_with_it_and_its_segment_keeps_the_count() {
    let mut lab = Lab::new();
    let vx2 = Location::Remote(lab.vx2);
    lab.send_tunnel(0, VX2, TunnelKind::Vxlan, 5042, &frame(mac(1), mac(7), 60));
    assert_eq!(lab.switch.remote_counters(lab.vx2).frames_in, 1);
    // A copy written for it, reported by the driver after the removal.
    let mut buf = std::vec![0u8; HEADROOM + 60];
    buf[HEADROOM..].copy_from_slice(&frame(mac(7), mac(1), 60));
    let whole = HEADROOM..buf.len();
    let Verdict::Forward(forward) =
        lab.switch
            .receive(secs(1), Ingress::Port(lab.ports[0]), &mut buf, whole)
    else {
        panic!("forwarded")
    };
    assert_eq!(lab.switch.targets(), [vx2]);
    let sent = lab
        .switch
        .emit(&forward, vx2, &mut buf, forward.frame.clone())
        .unwrap();
    let segment = lab.switch.segment_id(vni(5042)).unwrap();
    let counted = *lab.switch.segment_counters(segment);
    assert!(lab.switch.remove_remote(lab.vx2));
    lab.switch.count_sent(&forward, vx2, sent.len());
    lab.switch.count_write_failed(vx2);
    let now = lab.switch.segment_counters(segment);
    assert_eq!(now.frames_in, counted.frames_in, "its frames stay counted");
    assert_eq!(now.frames_out, counted.frames_out + 1, "the late copy too");
    assert_eq!(now.get(Reason::WriteFailed), 0, "a failure it cannot own");
    // A copy not yet written when it went: refused, and counted for the segment.
    let refused = lab
        .switch
        .emit(&forward, vx2, &mut buf, forward.frame.clone());
    assert_eq!(refused, Err(Reason::WriteFailed));
    let now = lab.switch.segment_counters(segment);
    assert_eq!(now.get(Reason::WriteFailed), 1);
    assert_eq!(*lab.switch.remote_counters(lab.vx2), Counters::default());
    // Whoever takes the slot starts from zero.
    let again = lab.switch.add_remote(vni(5042), vxlan(VX2)).unwrap();
    assert_eq!(*lab.switch.remote_counters(again), Counters::default());
}

#[test]
fn evpn_entries_are_never_moved_by_learning_nor_aged_and_go_with_their_route() {
    let mut lab = Lab::new();
    let (vx1, vx2) = (Location::Remote(lab.vx1), Location::Remote(lab.vx2));
    assert_eq!(
        lab.switch.add_entry(vni(5042), mac(9), vx1, Origin::Evpn),
        Ok(true)
    );
    let entry = lab.switch.fdb(secs(0)).find(|e| e.mac == mac(9)).unwrap();
    assert_eq!(
        (entry.origin, entry.is_static, entry.age),
        (Origin::Evpn, true, Duration::ZERO)
    );
    // The address shows up on a port and behind another remote: nothing moves.
    lab.send_port(0, 0, &frame(MacAddr::BROADCAST, mac(9), 60));
    lab.send_tunnel(
        0,
        VX2,
        TunnelKind::Vxlan,
        5042,
        &frame(MacAddr::BROADCAST, mac(9), 60),
    );
    assert_eq!(lab.switch.take_event(), None);
    let segment = lab.switch.segment_id(vni(5042)).unwrap();
    assert_eq!(lab.switch.segment_counters(segment).mac_moves, 0);
    let (_, out) = lab.send_port(1_000_000, 1, &frame(mac(9), mac(2), 60));
    assert_eq!(lab.targets_of(&out), [vx1]);
    assert_eq!(
        lab.switch.age(secs(9_000_000)),
        1,
        "only the learned mac(2)"
    );
    assert_eq!(origin_of(&lab, mac(9)), Some((vx1, Origin::Evpn)));

    // A learned entry gives way to a route, and frees its place at the port.
    lab.send_port(0, 1, &frame(MacAddr::BROADCAST, mac(2), 60));
    assert_eq!(lab.switch.mac_table().port_len(lab.ports[1]), 1);
    assert_eq!(
        lab.switch.add_entry(vni(5042), mac(2), vx2, Origin::Evpn),
        Ok(true)
    );
    assert_eq!(origin_of(&lab, mac(2)), Some((vx2, Origin::Evpn)));
    assert_eq!(lab.switch.mac_table().port_len(lab.ports[1]), 0);
    // A route for a MAC that moved between VTEPs moves its entry.
    assert_eq!(
        lab.switch.add_entry(vni(5042), mac(9), vx2, Origin::Evpn),
        Ok(true)
    );
    assert_eq!(origin_of(&lab, mac(9)), Some((vx2, Origin::Evpn)));

    // Withdrawn: only an entry of that origin goes.
    assert!(!lab.switch.remove_entry(vni(5042), mac(9), Origin::Learned));
    assert!(!lab.switch.remove_entry(vni(5043), mac(9), Origin::Evpn));
    assert!(lab.switch.remove_entry(vni(5042), mac(9), Origin::Evpn));
    assert!(!lab.switch.remove_entry(vni(5042), mac(9), Origin::Evpn));
    let (verdict, _) = lab.send_port(1, 1, &frame(mac(9), mac(2), 60));
    assert!(matches!(
        verdict,
        Verdict::Forward(Forward { flood: true, .. })
    ));
    // Learning may now take the address again.
    lab.send_tunnel(2, VX1, TunnelKind::Vxlan, 5042, &frame(mac(1), mac(9), 60));
    assert_eq!(origin_of(&lab, mac(9)), Some((vx1, Origin::Learned)));
}

#[test]
fn entries_by_hand_are_static_or_evpn_in_their_own_segment() {
    let mut lab = Lab::new();
    assert_eq!(
        lab.switch
            .add_entry(vni(5042), mac(9), lab.port(0), Origin::Learned),
        Err(ConfigError::LearnedOrigin)
    );
    assert_eq!(
        lab.switch
            .add_entry(vni(5043), mac(9), Location::Remote(lab.vx2), Origin::Evpn),
        Err(ConfigError::NotInSegment)
    );
    assert_eq!(
        lab.switch
            .add_entry(vni(5044), mac(9), Location::Remote(lab.vx2), Origin::Evpn),
        Err(ConfigError::UnknownSegment(5044))
    );
    assert_eq!(lab.switch.fdb(secs(0)).count(), 0);
    // Errors name what is wrong.
    assert_eq!(
        ConfigError::UnknownRemote(lab.vx2).to_string(),
        "remote 1 is not a remote of this switch: removed, or from another switch"
    );
    assert!(ConfigError::LearnedOrigin.to_string().contains("learned"));
}

#[test]
fn static_entries_outrank_evpn_ones_and_outlive_their_withdrawal() {
    let mut lab = Lab::new();
    let (vx1, port) = (Location::Remote(lab.vx1), lab.port(0));
    // A route for a pinned address changes nothing.
    lab.switch.add_static(vni(5042), mac(5), port).unwrap();
    assert_eq!(
        lab.switch.add_entry(vni(5042), mac(5), vx1, Origin::Evpn),
        Ok(false)
    );
    assert_eq!(origin_of(&lab, mac(5)), Some((port, Origin::Static)));
    assert!(!lab.switch.remove_entry(vni(5042), mac(5), Origin::Evpn));
    assert_eq!(origin_of(&lab, mac(5)), Some((port, Origin::Static)));
    // A pin over a route replaces it; the route's withdrawal leaves the pin.
    lab.switch
        .add_entry(vni(5042), mac(6), vx1, Origin::Evpn)
        .unwrap();
    lab.switch.add_static(vni(5042), mac(6), port).unwrap();
    assert!(!lab.switch.remove_entry(vni(5042), mac(6), Origin::Evpn));
    assert_eq!(origin_of(&lab, mac(6)), Some((port, Origin::Static)));
    let (_, out) = lab.send_port(0, 1, &frame(mac(6), mac(2), 60));
    assert_eq!(lab.targets_of(&out), [port]);
}

#[test]
fn flood_membership_follows_inclusive_multicast_routes_at_run_time() {
    let mut lab = Lab::new();
    let mut quiet = vxlan(VX3);
    quiet.flood = false;
    let vx3 = lab.switch.add_remote(vni(5042), quiet).unwrap();
    assert_eq!(lab.switch.floods_to(vx3), Some(false));
    assert!(!flooded_to(&mut lab, 0).contains(&Location::Remote(vx3)));
    // Known unicast reaches it all the same.
    lab.switch
        .add_entry(vni(5042), mac(9), Location::Remote(vx3), Origin::Evpn)
        .unwrap();
    let (_, out) = lab.send_port(0, 0, &frame(mac(9), mac(1), 60));
    assert_eq!(lab.targets_of(&out), [Location::Remote(vx3)]);
    // The type-3 route arrives, then is withdrawn.
    lab.switch.set_flood(vx3, true).unwrap();
    assert!(flooded_to(&mut lab, 1).contains(&Location::Remote(vx3)));
    lab.switch.set_flood(vx3, false).unwrap();
    assert!(!flooded_to(&mut lab, 2).contains(&Location::Remote(vx3)));
    assert!(flooded_to(&mut lab, 3).contains(&Location::Remote(lab.vx1)));
}

#[test]
fn mac_limit_neither_counts_nor_refuses_evpn_entries() {
    let mut lab = Lab::with_segment(|s| s.mac_limit = 3);
    let vx1 = Location::Remote(lab.vx1);
    for n in 100..110 {
        assert_eq!(
            lab.switch.add_entry(vni(5042), mac(n), vx1, Origin::Evpn),
            Ok(true)
        );
    }
    // Remote routes leave the segment's learning as it was: three learned, then refusals.
    for n in 0..5 {
        lab.send_port(0, 0, &frame(MacAddr::BROADCAST, mac(n), 60));
    }
    let segment = lab.switch.segment_id(vni(5042)).unwrap();
    let table = lab.switch.mac_table();
    assert_eq!(table.origin_len(segment, Origin::Learned), 3);
    assert_eq!(table.origin_len(segment, Origin::Evpn), 10);
    assert_eq!(table.segment_len(segment), 13);
    assert_eq!(
        lab.switch.segment_counters(segment).get(Reason::MacLimit),
        2
    );
    // Static entries still count, as before origins.
    lab.switch
        .add_static(vni(5042), mac(50), lab.port(1))
        .unwrap();
    assert!(lab.switch.remove_mac(vni(5042), mac(0)));
    lab.send_port(1, 0, &frame(MacAddr::BROADCAST, mac(3), 60));
    assert_eq!(
        lab.switch.mac_table().origin_len(segment, Origin::Learned),
        2
    );
}
