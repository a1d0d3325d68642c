//! The vtep configuration: the contract's example, and every mistake named by its key.

use super::*;
use crate::switch::{Ingress, Reason};

const GOOD: &str = r#"
[underlay]
local_ip = "10.99.0.2"
nvgre = true

[[port]]
mac_limit = 2
name = "tap0"
vni = 42

[[port]]
name = "trunk0"
mtu = 1400
isolated = true
[[port.vlan]]
vid = 100
vni = 42
[[port.vlan]]
vid = 200
vni = 4100

[[segment]]
vni = 42
mac_limit = 10
ageing_secs = 60
[[segment.remote]]
ip = "10.99.0.1"
[[segment.static]]
mac = "02:00:00:00:00:09"
remote = "10.99.0.1"
[[segment.static]]
mac = "02:00:00:00:00:0a"
port = "tap0"

[[segment]]
vni = 4100
[[segment.remote]]
ip = "10.99.0.3"
encap = "nvgre"
"#;

#[test]
fn the_contract_example_builds_its_switch() {
    let config = VtepConfig::parse(GOOD).unwrap();
    assert_eq!(config.underlay.vxlan_port, 4789);
    assert_eq!(
        config.devices(),
        [
            PortDevice {
                name: "tap0".into(),
                mtu: 1450
            },
            PortDevice {
                name: "trunk0".into(),
                mtu: 1400
            }
        ]
    );
    let mut switch = config.build(1).unwrap();
    assert_eq!(switch.port_count(), 2);
    assert_eq!(switch.remotes().count(), 2);
    assert_eq!(
        switch.fdb(Duration::ZERO).filter(|e| e.is_static).count(),
        2
    );
    // tap0 learns two addresses, then no more.
    let tap0 = switch.ports().next().unwrap();
    let mut frame = [0u8; 60];
    for n in 1..=3 {
        frame[..6].fill(0xff);
        frame[6..12].copy_from_slice(&[2, 0, 0, 0, 1, n]);
        switch.receive(Duration::ZERO, Ingress::Port(tap0), &mut frame, 0..60);
    }
    assert_eq!(switch.mac_table().port_len(tap0), 2);
    assert_eq!(switch.port_counters(tap0).get(Reason::MacLimit), 1);
}

/// The error for GOOD with `from` replaced by `to`.
fn mistake(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    VtepConfig::parse(&GOOD.replacen(from, to, 1))
        .unwrap_err()
        .to_string()
}

#[test]
fn every_mistake_names_its_key() {
    let cases = [
        ("nvgre = true", "nvgre = true\nflood = 1", "flood"),
        ("local_ip = \"10.99.0.2\"", "", "local_ip"),
        (
            "[[segment]]\nvni = 4100",
            "[[segment]]\nvni = 16777216",
            "segment[1].vni: 16777216 is over 24 bits",
        ),
        (
            "vid = 200\nvni = 4100",
            "vid = 200\nvni = 16777216",
            "port[1].vlan[1].vni: 16777216 is over",
        ),
        (
            "vni = 42\nmac_limit",
            "mac_limit",
            "segment[0].vni: missing",
        ),
        (
            "vid = 200",
            "vid = 4095",
            "port[1].vlan[1].vid: 4095 is outside 1..=4094",
        ),
        ("vid = 100", "vid = 0", "port[1].vlan[0].vid: 0 is outside"),
        (
            "name = \"tap0\"\nvni = 42",
            "name = \"tap0\"\nvni = 44",
            "port[0].vni: no [[segment]] has VNI 44",
        ),
        (
            "vid = 200\nvni = 4100",
            "vid = 200\nvni = 45",
            "port[1].vlan[1].vni: no [[segment]]",
        ),
        (
            "port = \"tap0\"",
            "port = \"tap9\"",
            "segment[0].static[1].port: no [[port]] is named \"tap9\"",
        ),
        (
            "remote = \"10.99.0.1\"",
            "remote = \"10.99.0.7\"",
            "segment[0].static[0].remote: 10.99.0.7 is not",
        ),
        (
            "mac = \"02:00:00:00:00:09\"",
            "mac = \"nope\"",
            "segment[0].static[0].mac",
        ),
        (
            "nvgre = true",
            "nvgre = false",
            "segment[1].remote[0].encap: nvgre needs",
        ),
        (
            "encap = \"nvgre\"",
            "encap = \"gre\"",
            "unknown variant `gre`",
        ),
        (
            "name = \"trunk0\"",
            "name = \"tap0\"",
            "port[1].name: \"tap0\" is used twice",
        ),
        (
            "[[segment]]\nvni = 4100",
            "[[segment]]\nvni = 42",
            "segment[1].vni: segment 42 is defined twice",
        ),
        (
            "ageing_secs = 60",
            "ageing_secs = 0",
            "segment[0].ageing_secs: 0 would age every address out",
        ),
        (
            "mac = \"02:00:00:00:00:0a\"",
            "mac = \"02:00:00:00:00:09\"",
            "segment[0].static[1].mac: 02:00:00:00:00:09 is pinned already, by segment[0].static[0]",
        ),
    ];
    for (from, to, expected) in cases {
        let message = mistake(from, to);
        assert!(message.contains(expected), "{to:?}: {message}");
    }
}

/// GOOD on a dual-stack underlay, with IPv6 remotes beside the IPv4 ones.
const DUAL: &str = r#"
[underlay]
local_ip = "10.99.0.2"
local_ip6 = "fd00:99::2"
nvgre = true

[[port]]
name = "tap0"
vni = 4100

[[segment]]
vni = 4100
[[segment.remote]]
ip = "10.99.0.1"
[[segment.remote]]
ip = "fd00:99:0:0::1"
[[segment.remote]]
ip = "fd00:99::3"
encap = "nvgre"
[[segment.static]]
mac = "02:00:00:00:00:09"
remote = "fd00:99::1"
"#;

#[test]
fn a_dual_stack_underlay_takes_remotes_of_both_families() {
    let config = VtepConfig::parse(DUAL).unwrap();
    assert_eq!(
        config.underlay.local_ip6,
        Some("fd00:99::2".parse().unwrap())
    );
    let switch = config.build(1).unwrap();
    let settings = switch.config();
    assert_eq!(
        (settings.local_ipv4, settings.local_ipv6),
        (
            Some("10.99.0.2".parse().unwrap()),
            Some("fd00:99::2".parse().unwrap())
        )
    );
    let remotes: Vec<_> = switch
        .remotes()
        .map(|(_, _, ip, kind)| (ip.to_string(), kind))
        .collect();
    assert_eq!(
        remotes,
        [
            ("10.99.0.1".to_owned(), TunnelKind::Vxlan),
            ("fd00:99::1".to_owned(), TunnelKind::Vxlan),
            ("fd00:99::3".to_owned(), TunnelKind::Nvgre)
        ]
    );
    // The remote written fd00:99:0:0::1 is the one the static entry's fd00:99::1 names.
    let pinned = switch.fdb(Duration::ZERO).next().unwrap();
    let second = switch.remotes().nth(1).unwrap().0;
    assert_eq!(pinned.location, Location::Remote(second));
    // IPv6 only.
    let v6_only = DUAL
        .replacen("local_ip = \"10.99.0.2\"\nlocal_ip6", "local_ip", 1)
        .replacen("[[segment.remote]]\nip = \"10.99.0.1\"\n", "", 1);
    let switch = VtepConfig::parse(&v6_only).unwrap().build(1).unwrap();
    assert_eq!(switch.config().local_ipv4, None);
    assert_eq!(switch.remotes().count(), 2);
}

#[test]
fn ipv6_mistakes_name_their_key() {
    let mistake = |from: &str, to: &str| {
        assert!(DUAL.contains(from), "{from}");
        VtepConfig::parse(&DUAL.replacen(from, to, 1))
            .unwrap_err()
            .to_string()
    };
    let cases = [
        (
            "local_ip6 = \"fd00:99::2\"",
            "",
            "segment[0].remote[1].ip: fd00:99::1 is IPv6 but [underlay] has no IPv6 address: \
             give local_ip6",
        ),
        (
            "local_ip = \"10.99.0.2\"",
            "local_ip = \"fd00:99::5\"",
            "underlay.local_ip6: local_ip is IPv6 already; for dual stack give local_ip an IPv4 address",
        ),
        (
            "local_ip = \"10.99.0.2\"\nlocal_ip6 = \"fd00:99::2\"",
            "local_ip = \"fd00:99::2\"",
            "segment[0].remote[0].ip: 10.99.0.1 is IPv4 but [underlay] has no IPv4 address: \
             give local_ip an IPv4 address, and local_ip6 the IPv6 one",
        ),
        (
            "ip = \"fd00:99::3\"",
            "ip = \"fd00:99::2\"",
            "segment[0].remote[2].ip: fd00:99::2 is this VTEP's own address in [underlay]",
        ),
        (
            "ip = \"10.99.0.1\"",
            "ip = \"10.99.0.2\"",
            "segment[0].remote[0].ip: 10.99.0.2 is this VTEP's own address in [underlay]",
        ),
        (
            "ip = \"fd00:99::3\"",
            "ip = \"ff05::1\"",
            "segment[0].remote[2].ip: remote ff05::1 is not a unicast address a VTEP can have",
        ),
        (
            "ip = \"10.99.0.1\"",
            "ip = \"255.255.255.255\"",
            "segment[0].remote[0].ip: remote 255.255.255.255 is not a unicast address",
        ),
        (
            "ip = \"10.99.0.1\"",
            "ip = \"::ffff:10.99.0.1\"",
            "segment[0].remote[0].ip: remote ::ffff:10.99.0.1 is not a unicast address",
        ),
        (
            "local_ip = \"10.99.0.2\"",
            "local_ip = \"127.0.0.1\"",
            "underlay.local_ip: 127.0.0.1 is not a unicast address a VTEP can have",
        ),
        (
            "local_ip6 = \"fd00:99::2\"",
            "local_ip6 = \"::\"",
            "underlay.local_ip6: :: is not a unicast address",
        ),
        (
            "local_ip6 = \"fd00:99::2\"",
            "local_ip6 = \"10.99.0.5\"",
            "invalid IPv6 address syntax",
        ),
        (
            "remote = \"fd00:99::1\"",
            "remote = \"fd00:99::7\"",
            "segment[0].static[0].remote: fd00:99::7 is not a [[segment.remote]]",
        ),
    ];
    for (from, to, expected) in cases {
        let message = mistake(from, to);
        assert!(message.contains(expected), "{to:?}: {message}");
    }
}

#[test]
fn the_underlay_mtu_starts_at_68() {
    // Pins the bound: IPv4's minimum MTU is accepted, one below it is refused.
    let with_mtu = |mtu: u16| {
        VtepConfig::parse(&GOOD.replacen("nvgre = true", &format!("nvgre = true\nmtu = {mtu}"), 1))
    };
    assert_eq!(with_mtu(68).map(|c| c.underlay.mtu), Ok(68));
    assert_eq!(
        with_mtu(67).unwrap_err().to_string(),
        "underlay.mtu: 67 is below 68"
    );
}

#[test]
fn a_port_name_has_1_to_15_bytes() {
    // Pins both ends of the Linux IFNAMSIZ bound on TAP device names.
    let named =
        |name: &str| VtepConfig::parse(&GOOD.replacen("\"trunk0\"", &format!("{name:?}"), 1));
    assert!(named("trunk0123456789").is_ok());
    for refused in ["", "trunk01234567890"] {
        assert_eq!(
            named(refused).unwrap_err().to_string(),
            "port[1].name: must be 1 to 15 bytes",
            "{refused:?}"
        );
    }
}

#[test]
fn nvgre_on_a_reserved_vsid_is_an_error() {
    let text = "[underlay]\nlocal_ip = \"10.0.0.1\"\nnvgre = true\n[[segment]]\nvni = 42\n\
                [[segment.remote]]\nip = \"10.0.0.2\"\nencap = \"nvgre\"\n";
    let message = VtepConfig::parse(text).unwrap_err().to_string();
    assert!(
        message.starts_with("segment[0].remote[0].encap: nvgre: VSID 42 is reserved"),
        "{message}"
    );
}

#[test]
fn a_remote_or_static_entry_without_a_segment_is_an_error() {
    let orphan = "[underlay]\nlocal_ip = \"10.0.0.1\"\n[[segment.remote]]\nip = \"10.0.0.2\"\n";
    let message = VtepConfig::parse(orphan).unwrap_err().to_string();
    assert!(
        message.contains("segment: [[segment.remote]] or [[segment.static]] without a [[segment]]"),
        "{message}"
    );
    let orphan = "[underlay]\nlocal_ip = \"10.0.0.1\"\n[[segment.static]]\nmac = \"02:00:00:00:00:01\"\nport = \"x\"\n";
    let message = VtepConfig::parse(orphan).unwrap_err().to_string();
    assert!(message.contains("without a [[segment]]"), "{message}");
    let orphan = "[underlay]\nlocal_ip = \"10.0.0.1\"\n[[port.vlan]]\nvid = 1\nvni = 1\n";
    let message = VtepConfig::parse(orphan).unwrap_err().to_string();
    assert!(
        message.contains("port: [[port.vlan]] without a [[port]]"),
        "{message}"
    );
}

#[test]
fn one_address_may_be_pinned_once_in_each_segment() {
    // The refusal of a second pin is per segment: segment 4100 may pin what 42 pins.
    let text =
        format!("{GOOD}[[segment.static]]\nmac = \"02:00:00:00:00:09\"\nremote = \"10.99.0.3\"\n");
    let switch = VtepConfig::parse(&text).unwrap().build(1).unwrap();
    assert_eq!(
        switch.fdb(Duration::ZERO).filter(|e| e.is_static).count(),
        3
    );
}

#[test]
fn geneve_remotes_join_a_segment_beside_vxlan_and_nvgre() {
    let three = GOOD.replacen(
        "ip = \"10.99.0.3\"\nencap = \"nvgre\"",
        "ip = \"10.99.0.3\"\nencap = \"nvgre\"\n[[segment.remote]]\nip = \"10.99.0.4\"\n\
         encap = \"geneve\"\n[[segment.remote]]\nip = \"10.99.0.1\"",
        1,
    );
    let config = VtepConfig::parse(&three).unwrap();
    assert_eq!(config.underlay.geneve_port, 6081, "the default");
    let switch = config.build(1).unwrap();
    let kinds: Vec<_> = switch.remotes().map(|(.., kind)| kind).collect();
    assert_eq!(
        kinds,
        [
            TunnelKind::Vxlan,
            TunnelKind::Nvgre,
            TunnelKind::Geneve,
            TunnelKind::Vxlan
        ]
    );
    let moved = three.replacen("nvgre = true", "nvgre = true\ngeneve_port = 7000", 1);
    let config = VtepConfig::parse(&moved).unwrap();
    assert_eq!(config.build(1).unwrap().config().geneve_port, 7000);
    let clash = three.replacen("nvgre = true", "nvgre = true\ngeneve_port = 4789", 1);
    let error = VtepConfig::parse(&clash).unwrap_err().to_string();
    assert!(
        error.contains("underlay.geneve_port: 4789 is the VXLAN port too"),
        "{error}"
    );
    let unknown = three.replacen("encap = \"geneve\"", "encap = \"stt\"", 1);
    let error = VtepConfig::parse(&unknown).unwrap_err().to_string();
    assert!(error.contains("encap"), "{error}");
}
