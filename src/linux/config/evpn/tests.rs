//! `[evpn]`: the settings it gives, and every mistake named by its key.

use super::*;

const BASE: &str = r#"
[underlay]
local_ip = "10.99.0.2"
nvgre = true

[[segment]]
vni = 100

[[segment]]
vni = 5000
[[segment.remote]]
ip = "10.99.0.7"
encap = "nvgre"
[[segment.remote]]
ip = "10.99.0.8"
[[segment.remote]]
ip = "10.99.0.9"
encap = "nvgre"
"#;

fn with_evpn(section: &str) -> String {
    format!("{BASE}\n[evpn]\n{section}")
}

#[cfg(feature = "evpn")]
#[test]
fn the_settings_default_the_router_id_and_list_each_segments_kinds() {
    let config =
        VtepConfig::parse(&with_evpn("gobgp = \"127.0.0.1:50051\"\nasn = 65000\n")).unwrap();
    let settings = config.evpn().unwrap().unwrap();
    assert_eq!(settings.gobgp, "127.0.0.1:50051".parse().unwrap());
    assert_eq!(settings.asn, 65000);
    assert_eq!(settings.router_id, Ipv4Addr::new(10, 99, 0, 2));
    assert_eq!(settings.nexthop, IpAddr::from([10, 99, 0, 2]));
    let segments: Vec<_> = settings
        .segments
        .iter()
        .map(|s| (s.vni.get(), s.rd_number, s.encaps.clone()))
        .collect();
    assert_eq!(
        segments,
        [
            (100, 1, vec![TunnelKind::Vxlan]),
            (5000, 2, vec![TunnelKind::Nvgre, TunnelKind::Vxlan])
        ]
    );
    assert_eq!(settings.receives, [TunnelKind::Vxlan, TunnelKind::Nvgre]);
    // MAC mobility is on with EVPN, off without.
    assert!(config.build(0).unwrap().config().local_moves_evpn);
    let plain = VtepConfig::parse(BASE).unwrap();
    assert_eq!(plain.evpn(), Ok(None));
    assert!(!plain.build(0).unwrap().config().local_moves_evpn);

    let given = VtepConfig::parse(&with_evpn(
        "gobgp = \"[::1]:50051\"\nasn = 1\nrouter_id = \"192.0.2.1\"\n",
    ))
    .unwrap();
    let settings = given.evpn().unwrap().unwrap();
    assert_eq!(settings.router_id, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(settings.gobgp.port(), 50051);
}

#[cfg(feature = "evpn")]
#[test]
fn every_mistake_names_its_key() {
    for (section, expected) in [
        ("asn = 65000\n", "missing field `gobgp`"),
        ("gobgp = \"127.0.0.1:50051\"\n", "missing field `asn`"),
        (
            "gobgp = \"127.0.0.1:50051\"\nasn = 65000\npeer = \"10.0.0.1\"\n",
            "unknown field `peer`",
        ),
        (
            "gobgp = \"localhost\"\nasn = 65000\n",
            "evpn.gobgp: \"localhost\" is not an address and port",
        ),
        (
            "gobgp = \"127.0.0.1:50051\"\nasn = 0\n",
            "evpn.asn: 0 is outside 1..=65535",
        ),
        (
            "gobgp = \"127.0.0.1:50051\"\nasn = 4200000000\n",
            "evpn.asn: 4200000000 is outside 1..=65535",
        ),
        ("gobgp = \"127.0.0.1:50051\"\nasn = -1\n", "asn"),
        (
            "gobgp = \"127.0.0.1:50051\"\nasn = 65000\nrouter_id = \"0.0.0.0\"\n",
            "evpn.router_id: 0.0.0.0 is not a unicast IPv4 address",
        ),
        (
            "gobgp = \"127.0.0.1:50051\"\nasn = 65000\nrouter_id = \"fd00::1\"\n",
            "router_id",
        ),
    ] {
        let error = VtepConfig::parse(&with_evpn(section))
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{section:?}: {error}");
    }
    let v6 = "[underlay]\nlocal_ip = \"fd00:99::2\"\n[[segment]]\nvni = 1\n\
              [evpn]\ngobgp = \"127.0.0.1:50051\"\nasn = 65000\n";
    let error = VtepConfig::parse(v6).unwrap_err().to_string();
    assert!(
        error.starts_with("evpn.router_id: missing: local_ip is IPv6"),
        "{error}"
    );
}

#[cfg(not(feature = "evpn"))]
#[test]
fn evpn_without_the_feature_is_refused_by_name() {
    let error =
        VtepConfig::parse(&with_evpn("gobgp = \"127.0.0.1:50051\"\nasn = 65000\n")).unwrap_err();
    assert_eq!(error.key, "evpn");
    assert!(error.message.contains("feature `evpn`"), "{error}");
}
