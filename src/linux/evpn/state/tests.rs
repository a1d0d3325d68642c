//! What routes do to a switch, and what a switch's local MACs make vtep advertise.

use super::*;
use crate::linux::VtepConfig;

const CONFIG: &str = r#"
[underlay]
local_ip = "10.99.0.2"

[[port]]
name = "tap0"
vni = 100

[[segment]]
vni = 100

[[segment]]
vni = 200
[[segment.remote]]
ip = "10.99.0.7"

[evpn]
gobgp = "127.0.0.1:50051"
asn = 65000
"#;

fn setup() -> (State, Switch) {
    let config = VtepConfig::parse(CONFIG).unwrap();
    let state = State::new(config.evpn().unwrap().unwrap());
    (state, config.build(1).unwrap())
}

fn vni(n: u32) -> Vni {
    Vni::new(n).unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn mac(last: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, last])
}

fn remote_route(nexthop: &str, vni_: u32, kind: Kind) -> Route {
    let IpAddr::V4(v4) = ip(nexthop) else {
        panic!("IPv4")
    };
    Route {
        rd: Rd::Ip(v4, 1),
        vni: vni(vni_),
        nexthop: ip(nexthop),
        encaps: vec![],
        kind,
    }
}

fn multicast(nexthop: &str, vni_: u32) -> Route {
    remote_route(
        nexthop,
        vni_,
        Kind::Multicast {
            originator: ip(nexthop),
        },
    )
}

fn mac_route(nexthop: &str, last: u8, seq: u32) -> Route {
    remote_route(
        nexthop,
        100,
        Kind::Mac {
            mac: mac(last),
            seq,
        },
    )
}

/// Where the switch sends frames for `mac` in segment 100, and the entry's origin.
fn entry(switch: &Switch, last: u8) -> Option<(Location, Origin)> {
    switch
        .fdb(Duration::ZERO)
        .find(|e| e.vni == vni(100) && e.mac == mac(last))
        .map(|e| (e.location, e.origin))
}

/// Learns `mac` on the port by a frame from it.
fn learn(switch: &mut Switch, last: u8) {
    let port = switch.ports().next().unwrap();
    let mut frame = [0u8; crate::tunnel::HEADROOM + 60];
    let start = crate::tunnel::HEADROOM;
    frame[start..start + 6].copy_from_slice(&[0xff; 6]);
    frame[start + 6..start + 12].copy_from_slice(&mac(last).0);
    let len = frame.len();
    switch.receive(
        Duration::ZERO,
        crate::switch::Ingress::Port(port),
        &mut frame,
        start..len,
    );
}

#[test]
fn start_advertises_a_type_3_route_per_segment() {
    let (mut state, _) = setup();
    let orders = state.start();
    let routes: Vec<_> = orders
        .iter()
        .map(|o| match o {
            ToBgp::Advertise(route) => (route.rd.to_string(), route.vni.get(), route.kind),
            ToBgp::Withdraw(key) => panic!("withdrawal {key:?}"),
        })
        .collect();
    let originator = Kind::Multicast {
        originator: ip("10.99.0.2"),
    };
    assert_eq!(
        routes,
        [
            ("10.99.0.2:1".to_string(), 100, originator),
            ("10.99.0.2:2".to_string(), 200, originator)
        ]
    );
}

#[test]
fn a_type_3_route_makes_a_flooding_remote_until_withdrawn() {
    let (mut state, mut switch) = setup();
    let route = multicast("10.99.0.9", 100);
    state.apply(&mut switch, FromBgp::Add(route.clone()));
    assert!(state.take_remotes_changed());
    let remote = switch
        .find_remote(vni(100), ip("10.99.0.9"), TunnelKind::Vxlan)
        .unwrap();
    assert_eq!(switch.floods_to(remote), Some(true));
    // Seen again: nothing changes.
    state.apply(&mut switch, FromBgp::Add(route.clone()));
    assert!(!state.take_remotes_changed());
    state.apply(&mut switch, FromBgp::Withdraw(route.key()));
    assert!(state.take_remotes_changed());
    assert_eq!(switch.floods_to(remote), None);
}

#[test]
fn a_remote_from_the_file_stays_when_its_routes_go() {
    let (mut state, mut switch) = setup();
    let route = multicast("10.99.0.7", 200);
    state.apply(&mut switch, FromBgp::Add(route.clone()));
    state.apply(&mut switch, FromBgp::Withdraw(route.key()));
    let remote = switch
        .find_remote(vni(200), ip("10.99.0.7"), TunnelKind::Vxlan)
        .unwrap();
    assert_eq!(switch.floods_to(remote), Some(true));
    assert!(!state.take_remotes_changed());
}

#[test]
fn a_type_2_route_pins_its_mac_to_a_remote_off_the_flood_list() {
    let (mut state, mut switch) = setup();
    let route = mac_route("10.99.0.9", 9, 0);
    state.apply(&mut switch, FromBgp::Add(route.clone()));
    let remote = switch
        .find_remote(vni(100), ip("10.99.0.9"), TunnelKind::Vxlan)
        .unwrap();
    assert_eq!(
        entry(&switch, 9),
        Some((Location::Remote(remote), Origin::Evpn))
    );
    assert_eq!(switch.floods_to(remote), Some(false));
    // A type 3 from the same VTEP puts it on the list; its withdrawal takes it off.
    let flood = multicast("10.99.0.9", 100);
    state.apply(&mut switch, FromBgp::Add(flood.clone()));
    assert_eq!(switch.floods_to(remote), Some(true));
    state.apply(&mut switch, FromBgp::Withdraw(flood.key()));
    assert_eq!(switch.floods_to(remote), Some(false));
    state.apply(&mut switch, FromBgp::Withdraw(route.key()));
    assert_eq!(entry(&switch, 9), None);
    assert_eq!(switch.floods_to(remote), None);
}

#[test]
fn own_routes_and_routes_of_unknown_segments_change_nothing() {
    let (mut state, mut switch) = setup();
    let before: Vec<_> = switch.remotes().collect();
    state.apply(&mut switch, FromBgp::Add(multicast("10.99.0.2", 100)));
    state.apply(&mut switch, FromBgp::Add(multicast("10.99.0.9", 300)));
    assert_eq!(switch.remotes().collect::<Vec<_>>(), before);
    assert_eq!(state.lines(), "");
}

#[test]
fn after_a_resync_missing_routes_stay_stale_for_a_grace_then_go() {
    let (mut state, mut switch) = setup();
    state.reconcile(&mut switch, Duration::from_secs(10));
    for (nexthop, last) in [("10.99.0.9", 9), ("10.99.0.10", 10), ("10.99.0.11", 11)] {
        state.apply(&mut switch, FromBgp::Add(mac_route(nexthop, last, 0)));
    }
    // A restarted gobgpd knows one route so far.
    state.apply(
        &mut switch,
        FromBgp::Resync(vec![mac_route("10.99.0.10", 10, 0)]),
    );
    assert!(
        entry(&switch, 9).is_some() && entry(&switch, 11).is_some(),
        "kept"
    );
    // Its peers announce one of the others again: no longer stale.
    state.apply(&mut switch, FromBgp::Add(mac_route("10.99.0.11", 11, 0)));
    let deadline = Duration::from_secs(10) + STALE_GRACE;
    state.reconcile(&mut switch, deadline - Duration::from_secs(1));
    assert!(entry(&switch, 9).is_some(), "within the grace");
    state.reconcile(&mut switch, deadline);
    assert_eq!(entry(&switch, 9), None);
    assert!(entry(&switch, 10).is_some() && entry(&switch, 11).is_some());
    assert!(
        switch
            .find_remote(vni(100), ip("10.99.0.9"), TunnelKind::Vxlan)
            .is_none()
    );
    assert!(state.take_remotes_changed());
    // A withdrawal of a stale route takes it at once.
    state.apply(&mut switch, FromBgp::Resync(vec![]));
    state.apply(
        &mut switch,
        FromBgp::Withdraw(mac_route("10.99.0.10", 10, 0).key()),
    );
    assert_eq!(entry(&switch, 10), None);
    assert!(entry(&switch, 11).is_some());
}

#[test]
fn a_move_counts_up_from_a_route_withdrawn_a_moment_before() {
    let (mut state, mut switch) = setup();
    state.reconcile(&mut switch, Duration::from_secs(1));
    state.apply(&mut switch, FromBgp::Add(mac_route("10.99.0.9", 9, 3)));
    // The old VTEP saw the host's frames come through the tunnel and withdrew first.
    state.apply(
        &mut switch,
        FromBgp::Withdraw(mac_route("10.99.0.9", 9, 3).key()),
    );
    learn(&mut switch, 9);
    let orders = state.reconcile(&mut switch, Duration::from_secs(2));
    let [ToBgp::Advertise(route)] = orders.as_slice() else {
        panic!("one advertisement: {orders:?}")
    };
    assert_eq!(
        route.kind,
        Kind::Mac {
            mac: mac(9),
            seq: 4
        }
    );
    // Forgotten after a while: a host new here starts from 0.
    state.apply(&mut switch, FromBgp::Add(mac_route("10.99.0.9", 8, 6)));
    state.apply(
        &mut switch,
        FromBgp::Withdraw(mac_route("10.99.0.9", 8, 6).key()),
    );
    let later = Duration::from_secs(2) + SEQ_MEMORY;
    switch.age(later);
    state.reconcile(&mut switch, later);
    learn(&mut switch, 8);
    let orders = state.reconcile(&mut switch, later);
    assert!(
        orders.contains(&ToBgp::Advertise(Route {
            kind: Kind::Mac {
                mac: mac(8),
                seq: 0
            },
            ..route.clone()
        })),
        "{orders:?}"
    );
}

#[test]
fn local_macs_are_advertised_once_and_withdrawn_when_they_age_out() {
    let (mut state, mut switch) = setup();
    learn(&mut switch, 1);
    let orders = state.reconcile(&mut switch, Duration::ZERO);
    let [ToBgp::Advertise(route)] = orders.as_slice() else {
        panic!("one advertisement: {orders:?}")
    };
    assert_eq!(
        route.kind,
        Kind::Mac {
            mac: mac(1),
            seq: 0
        }
    );
    assert_eq!(route.nexthop, ip("10.99.0.2"));
    assert!(state.reconcile(&mut switch, Duration::ZERO).is_empty());
    // Segment 100 ages after 300 s by default.
    let later = Duration::from_secs(301);
    switch.age(later);
    let orders = state.reconcile(&mut switch, later);
    assert_eq!(orders, [ToBgp::Withdraw(route.key())]);
}

#[test]
fn a_mac_moving_here_is_advertised_with_the_next_sequence_number() {
    let (mut state, mut switch) = setup();
    state.apply(&mut switch, FromBgp::Add(mac_route("10.99.0.9", 9, 4)));
    learn(&mut switch, 9);
    let port = switch.ports().next().unwrap();
    assert_eq!(
        entry(&switch, 9),
        Some((Location::Port(port), Origin::Learned))
    );
    let orders = state.reconcile(&mut switch, Duration::ZERO);
    let [ToBgp::Advertise(route)] = orders.as_slice() else {
        panic!("one advertisement: {orders:?}")
    };
    assert_eq!(
        route.kind,
        Kind::Mac {
            mac: mac(9),
            seq: 5
        }
    );
    // The other VTEP withdraws its older route: the local entry stays.
    state.apply(
        &mut switch,
        FromBgp::Withdraw(mac_route("10.99.0.9", 9, 4).key()),
    );
    assert_eq!(
        entry(&switch, 9),
        Some((Location::Port(port), Origin::Learned))
    );
    // A stale route (lower sequence number) does not take it back.
    state.apply(&mut switch, FromBgp::Add(mac_route("10.99.0.10", 9, 3)));
    assert_eq!(
        entry(&switch, 9),
        Some((Location::Port(port), Origin::Learned))
    );
    assert!(state.reconcile(&mut switch, Duration::ZERO).is_empty());
}

#[test]
fn a_later_route_moves_a_local_mac_away_and_ours_is_withdrawn() {
    let (mut state, mut switch) = setup();
    learn(&mut switch, 9);
    let orders = state.reconcile(&mut switch, Duration::ZERO);
    let [ToBgp::Advertise(ours)] = orders.as_slice() else {
        panic!("one advertisement: {orders:?}")
    };
    state.apply(&mut switch, FromBgp::Add(mac_route("10.99.0.9", 9, 1)));
    let remote = switch
        .find_remote(vni(100), ip("10.99.0.9"), TunnelKind::Vxlan)
        .unwrap();
    assert_eq!(
        entry(&switch, 9),
        Some((Location::Remote(remote), Origin::Evpn))
    );
    let orders = state.reconcile(&mut switch, Duration::ZERO);
    assert_eq!(orders, [ToBgp::Withdraw(ours.key())]);
    // Of two routes for one MAC, the higher sequence number wins, then the lower next hop.
    state.apply(&mut switch, FromBgp::Add(mac_route("10.99.0.8", 9, 1)));
    let lower = switch
        .find_remote(vni(100), ip("10.99.0.8"), TunnelKind::Vxlan)
        .unwrap();
    assert_eq!(
        entry(&switch, 9),
        Some((Location::Remote(lower), Origin::Evpn))
    );
    state.apply(&mut switch, FromBgp::Add(mac_route("10.99.0.9", 9, 2)));
    assert_eq!(
        entry(&switch, 9).map(|e| e.0),
        switch
            .find_remote(vni(100), ip("10.99.0.9"), TunnelKind::Vxlan)
            .map(Location::Remote)
    );
}

#[test]
fn the_listing_shows_both_directions() {
    let (mut state, mut switch) = setup();
    state.start();
    state.apply(&mut switch, FromBgp::Add(mac_route("10.99.0.9", 9, 2)));
    let lines: Vec<serde_json::Value> = state
        .lines()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0],
        json!({"dir":"out","type":3,"vni":100,"mac":null,"nexthop":"10.99.0.2","seq":0})
    );
    assert_eq!(
        lines[2],
        json!({"dir":"in","type":2,"vni":100,"mac":"02:00:00:00:00:09","nexthop":"10.99.0.9","seq":2})
    );
}
