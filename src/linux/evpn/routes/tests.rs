//! Routes to gobgpd's API form and back, without a daemon.

use super::*;

const ASN: u16 = 65000;

fn vni(n: u32) -> Vni {
    Vni::new(n).unwrap()
}

fn multicast(nexthop: &str, vni_: u32) -> Route {
    let nexthop: IpAddr = nexthop.parse().unwrap();
    Route {
        rd: Rd::Ip("10.99.0.2".parse().unwrap(), 1),
        vni: vni(vni_),
        nexthop,
        encaps: vec![TunnelKind::Vxlan],
        kind: Kind::Multicast {
            originator: nexthop,
        },
    }
}

fn mac_route(seq: u32) -> Route {
    Route {
        rd: Rd::Ip("10.99.0.3".parse().unwrap(), 7),
        vni: vni(100),
        nexthop: "10.99.0.3".parse().unwrap(),
        encaps: vec![TunnelKind::Nvgre, TunnelKind::Geneve],
        kind: Kind::Mac {
            mac: "02:00:00:00:00:09".parse().unwrap(),
            seq,
        },
    }
}

/// The attribute named `name` of a path, decoded.
fn attribute<M: prost::Message + Default>(path: &api::Path, name: &str) -> Option<M> {
    path.pattrs
        .iter()
        .find_map(|a| a.decode_as::<M>(name))
        .map(Result::unwrap)
}

fn communities(path: &api::Path) -> Vec<Any> {
    attribute::<api::ExtendedCommunities>(path, "ExtendedCommunitiesAttribute")
        .unwrap()
        .communities
}

#[test]
fn a_type_3_route_carries_rd_rt_pmsi_label_nexthop_and_encapsulation() {
    let path = path(&multicast("10.99.0.2", 100), ASN);
    assert_eq!(path.family, Some(api::Family::EVPN));
    let nlri: api::MulticastRoute = path
        .nlri
        .as_ref()
        .unwrap()
        .decode_as("EVPNInclusiveMulticastEthernetTagRoute")
        .unwrap()
        .unwrap();
    assert_eq!(nlri.ip_address, "10.99.0.2");
    let rd: api::RdIpAddress = nlri
        .rd
        .unwrap()
        .decode_as("RouteDistinguisherIPAddress")
        .unwrap()
        .unwrap();
    assert_eq!((rd.admin.as_str(), rd.assigned), ("10.99.0.2", 1));
    let pmsi: api::PmsiTunnel = attribute(&path, "PmsiTunnelAttribute").unwrap();
    assert_eq!(
        (pmsi.r#type, pmsi.label, pmsi.id),
        (6, 100, vec![10, 99, 0, 2])
    );
    let reach: api::MpReachAttribute = attribute(&path, "MpReachNLRIAttribute").unwrap();
    assert_eq!(reach.next_hops, ["10.99.0.2"]);
    assert_eq!(reach.nlris, [path.nlri.clone().unwrap()]);
    let communities = communities(&path);
    let rt: api::TwoOctetAsSpecific = communities[0]
        .decode_as("TwoOctetAsSpecificExtended")
        .unwrap()
        .unwrap();
    assert_eq!((rt.sub_type, rt.asn, rt.local_admin), (2, 65000, 100));
    assert!(rt.is_transitive);
    let encap: api::EncapExtended = communities[1].decode_as("EncapExtended").unwrap().unwrap();
    assert_eq!(encap.tunnel_type, 8);
    assert_eq!(communities.len(), 2);
}

#[test]
fn a_type_2_route_has_a_mobility_community_only_once_moved() {
    for (seq, expected) in [(0, None), (3, Some(3))] {
        let path = path(&mac_route(seq), ASN);
        let found = communities(&path)
            .iter()
            .find_map(|c| c.decode_as::<api::MacMobility>("MacMobilityExtended"))
            .map(|m| m.unwrap().sequence_num);
        assert_eq!(found, expected, "seq {seq}");
        assert!(attribute::<api::PmsiTunnel>(&path, "PmsiTunnelAttribute").is_none());
        let nlri: api::MacIpRoute = path
            .nlri
            .unwrap()
            .decode_as("EVPNMACIPAdvertisementRoute")
            .unwrap()
            .unwrap();
        assert_eq!(nlri.mac_address, "02:00:00:00:00:09");
        assert_eq!(nlri.labels, [100]);
    }
}

#[test]
fn what_is_built_parses_back_to_the_same_route() {
    for route in [
        multicast("10.99.0.2", 100),
        multicast("fd00:99::2", 16_777_215),
        mac_route(0),
        mac_route(41),
    ] {
        assert_eq!(parse(&path(&route, ASN), ASN), Ok(Parsed::Add(route)));
    }
}

#[test]
fn a_withdrawal_names_its_route_by_nlri_alone() {
    let route = mac_route(5);
    let mut withdrawn = path(&route, ASN);
    withdrawn.is_withdraw = true;
    withdrawn.pattrs.clear();
    assert_eq!(parse(&withdrawn, ASN), Ok(Parsed::Withdraw(route.key())));
}

#[test]
fn routes_of_another_route_target_or_family_are_ignored() {
    let route = multicast("10.99.0.2", 100);
    assert_eq!(parse(&path(&route, 65001), ASN), Ok(Parsed::Ignored));
    let mut other_family = path(&route, ASN);
    other_family.family = Some(api::Family { afi: 1, safi: 1 });
    assert_eq!(parse(&other_family, ASN), Ok(Parsed::Ignored));
    let mut other_type = path(&route, ASN);
    other_type.nlri = Some(api::any("EVPNEthernetSegmentRoute", &api::Empty {}));
    assert_eq!(parse(&other_type, ASN), Ok(Parsed::Ignored));
}

#[test]
fn a_type_3_route_floods_to_its_pmsi_endpoint() {
    let route = multicast("10.99.0.2", 100);
    let mut sent = path(&route, ASN);
    for attribute in &mut sent.pattrs {
        if attribute.name() == Some("PmsiTunnelAttribute") {
            let mut pmsi: api::PmsiTunnel =
                attribute.decode_as("PmsiTunnelAttribute").unwrap().unwrap();
            pmsi.id = vec![10, 99, 0, 5];
            *attribute = api::any("PmsiTunnelAttribute", &pmsi);
        }
    }
    let Ok(Parsed::Add(parsed)) = parse(&sent, ASN) else {
        panic!("parsed")
    };
    assert_eq!(parsed.nexthop, "10.99.0.5".parse::<IpAddr>().unwrap());
    // Still named by its originator: its withdrawal matches.
    assert_eq!(parsed.key(), route.key());
}

#[test]
fn unreadable_fields_are_errors_naming_them() {
    let route = mac_route(0);
    let mut bad_mac = path(&route, ASN);
    let mut nlri: api::MacIpRoute = bad_mac
        .nlri
        .as_ref()
        .unwrap()
        .decode_as("EVPNMACIPAdvertisementRoute")
        .unwrap()
        .unwrap();
    nlri.mac_address = "02:00".into();
    bad_mac.nlri = Some(api::any("EVPNMACIPAdvertisementRoute", &nlri));
    let error = parse(&bad_mac, ASN).unwrap_err();
    assert!(error.0.starts_with("MAC address"), "{error}");

    let mut bad_rd = path(&route, ASN);
    nlri.mac_address = "02:00:00:00:00:09".into();
    nlri.rd = Some(api::any(
        "RouteDistinguisherIPAddress",
        &api::RdIpAddress {
            admin: "10.99.0.3".into(),
            assigned: 70_000,
        },
    ));
    bad_rd.nlri = Some(api::any("EVPNMACIPAdvertisementRoute", &nlri));
    let error = parse(&bad_rd, ASN).unwrap_err();
    assert!(error.0.contains("over 16 bits"), "{error}");

    let mut garbage = path(&route, ASN);
    garbage.nlri.as_mut().unwrap().value = vec![0xff; 3];
    let error = parse(&garbage, ASN).unwrap_err();
    assert!(
        error.0.starts_with("EVPNMACIPAdvertisementRoute"),
        "{error}"
    );
}

#[test]
fn a_route_is_reached_with_vxlan_else_a_kind_this_vtep_receives() {
    let all = [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve];
    let vxlan_only = [TunnelKind::Vxlan];
    // Speaks NVGRE and Geneve.
    let route = mac_route(0);
    assert_eq!(route.remote_kind(&all), TunnelKind::Nvgre);
    assert_eq!(
        route.remote_kind(&[TunnelKind::Vxlan, TunnelKind::Geneve]),
        TunnelKind::Geneve
    );
    assert_eq!(
        route.remote_kind(&vxlan_only),
        TunnelKind::Nvgre,
        "its own first"
    );
    let mut silent = mac_route(0);
    silent.encaps.clear();
    assert_eq!(silent.remote_kind(&vxlan_only), TunnelKind::Vxlan);
    silent.encaps = vec![TunnelKind::Geneve, TunnelKind::Vxlan];
    assert_eq!(silent.remote_kind(&all), TunnelKind::Vxlan);
}

#[test]
fn route_distinguishers_of_every_type_read_back() {
    for rd in [
        Rd::Ip("192.0.2.1".parse().unwrap(), 65535),
        Rd::Asn(65000, 100),
        Rd::Asn(4_200_000_000, 7),
    ] {
        assert_eq!(parse_rd(Some(&rd_any(rd))), Ok(rd));
    }
    assert_eq!(Rd::Asn(65000, 100).to_string(), "65000:100");
}
