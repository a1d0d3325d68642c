//! What learning may cost: the per-segment and per-port MAC limits, and MAC moves and
//! their events.

use super::*;

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
