//! A segment with remotes of all three kinds: a VXLAN / NVGRE / Geneve gateway, split
//! horizon per encapsulation, and the Geneve frames a switch must refuse.

use std::vec::Vec;

use super::*;
use crate::tunnel::Encapsulator;
use crate::wire::geneve::GeneveOptions;

const GE1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 4);
const GE2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);

/// The lab's switch with two Geneve remotes in segment 5042 beside its VXLAN and NVGRE ones.
fn three_way() -> (Lab, RemoteId, RemoteId) {
    let mut lab = Lab::new();
    let mut add = |ip| {
        lab.switch
            .add_remote(vni(5042), RemoteConfig::new(ip, TunnelKind::Geneve))
            .unwrap()
    };
    let (ge1, ge2) = (add(GE1), add(GE2));
    (lab, ge1, ge2)
}

/// `inner` in Geneve from `from` with `options`, protocol type `protocol` and the O bit
/// as `oam` says.
fn geneve_from(from: Ipv4Addr, inner: &[u8], options: &GeneveOptions, oam: bool) -> Vec<u8> {
    let mut config = TunnelConfig::geneve(vni(5042), from, LOCAL);
    config.geneve_options = *options;
    let mut buf = std::vec![0u8; 400 + inner.len()];
    buf[400..].copy_from_slice(inner);
    let whole = 400..buf.len();
    let range = Encapsulator::new(config)
        .unwrap()
        .encapsulate(&mut buf, whole)
        .unwrap();
    let mut wire = buf[range].to_vec();
    if oam {
        // Geneve's second byte: O (0x80) and C (0x40); after Ethernet, IPv4 and UDP.
        wire[14 + 20 + 8 + 1] |= 0x80;
    }
    wire
}

#[test]
fn a_segment_of_three_kinds_relays_among_them_and_never_geneve_to_geneve() {
    let (mut lab, ge1, ge2) = three_way();
    let from_geneve = frame(MacAddr::BROADCAST, mac(7), 60);
    let wire = geneve_from(GE1, &from_geneve, &GeneveOptions::new(), false);
    let (_, out) = lab.send(0, Ingress::Underlay, &wire);
    let mut targets = lab.targets_of(&out);
    targets.sort_by_key(|t| std::format!("{t:?}"));
    let mut expected = std::vec![
        Location::Port(lab.ports[0]),
        Location::Port(lab.ports[1]),
        Location::Port(lab.ports[2]),
        Location::Port(lab.ports[3]),
        Location::Port(lab.ports[4]),
        Location::Remote(lab.vx1),
        Location::Remote(lab.vx2),
        Location::Remote(lab.nv1),
    ];
    expected.sort_by_key(|t| std::format!("{t:?}"));
    assert_eq!(
        targets, expected,
        "to every port and the other kinds, not to {ge2:?}"
    );
    for (egress, bytes) in &out {
        if let Location::Remote(_) = egress {
            let (_, kind, segment, inner) = open_tunnel(bytes);
            assert_ne!(kind, TunnelKind::Geneve);
            assert_eq!((segment, inner.as_slice()), (5042, &from_geneve[..]));
        }
    }
    // From VXLAN: to both Geneve remotes, in Geneve to each, without options.
    let from_vxlan = frame(MacAddr::BROADCAST, mac(8), 60);
    let (_, out) = lab.send_tunnel(0, VX1, TunnelKind::Vxlan, 5042, &from_vxlan);
    let geneve: Vec<_> = out
        .iter()
        .filter(|(egress, _)| matches!(egress, Location::Remote(r) if *r == ge1 || *r == ge2))
        .map(|(_, bytes)| open_tunnel(bytes))
        .collect();
    assert_eq!(geneve.len(), 2, "both Geneve remotes");
    for (to, kind, segment, inner) in geneve {
        assert!(to == GE1 || to == GE2);
        assert_eq!(
            (kind, segment, inner),
            (TunnelKind::Geneve, 5042, from_vxlan.clone())
        );
    }
    // The Geneve remote's MAC is learned; a reply from a Geneve peer to it is split
    // horizon, a reply from a port goes to it alone.
    let known = frame(mac(7), mac(9), 60);
    let wire = geneve_from(GE2, &known, &GeneveOptions::new(), false);
    let (verdict, _) = lab.send(1, Ingress::Underlay, &wire);
    assert!(
        matches!(verdict, Verdict::Drop(Reason::SplitHorizon)),
        "{verdict:?}"
    );
    let (_, out) = lab.send_port(1, 0, &known);
    assert_eq!(lab.targets_of(&out), [Location::Remote(ge1)]);
}

#[test]
fn critical_options_oam_and_ip_payloads_are_refused_and_counted() {
    let (mut lab, ..) = three_way();
    let inner = frame(MacAddr::BROADCAST, mac(7), 60);
    let mut critical = GeneveOptions::new();
    critical.push(0x0102, 0x80, &[1, 2, 3, 4]).unwrap();
    let wire = geneve_from(GE1, &inner, &critical, false);
    let (verdict, out) = lab.send(0, Ingress::Underlay, &wire);
    assert!(
        matches!(verdict, Verdict::Drop(Reason::CriticalOption)),
        "{verdict:?}"
    );
    assert!(out.is_empty());
    assert_eq!(
        lab.switch.underlay_counters().get(Reason::CriticalOption),
        1
    );

    // An option not marked critical is skipped: the frame is forwarded.
    let mut plain = GeneveOptions::new();
    plain.push(0x0102, 0x01, &[1, 2, 3, 4]).unwrap();
    let wire = geneve_from(GE1, &inner, &plain, false);
    let (verdict, _) = lab.send(0, Ingress::Underlay, &wire);
    assert!(matches!(verdict, Verdict::Forward(_)), "{verdict:?}");

    // The O bit: a control message, never a tenant frame.
    let wire = geneve_from(GE1, &inner, &GeneveOptions::new(), true);
    let (verdict, _) = lab.send(0, Ingress::Underlay, &wire);
    assert!(
        matches!(verdict, Verdict::Drop(Reason::Malformed)),
        "{verdict:?}"
    );

    // An IP packet (protocol type 0x0800, AWS GWLB's kind): no Ethernet frame to switch.
    let mut packet = std::vec![0u8; 28];
    packet[..4].copy_from_slice(&[0x45, 0, 0, 28]);
    packet[8..10].copy_from_slice(&[64, 17]);
    packet[12..20].copy_from_slice(&[192, 168, 0, 1, 192, 168, 0, 2]);
    let sum = crate::checksum::sum(&packet[..20]);
    packet[10..12].copy_from_slice(&(!sum).to_be_bytes());
    let mut buf = std::vec![0u8; 400 + packet.len()];
    buf[400..].copy_from_slice(&packet);
    let whole = 400..buf.len();
    let range = Encapsulator::new(TunnelConfig::geneve(vni(5042), GE1, LOCAL))
        .unwrap()
        .encapsulate_ip(&mut buf, whole, &[])
        .unwrap();
    let (verdict, _) = lab.send(0, Ingress::Underlay, &buf[range]);
    assert!(
        matches!(verdict, Verdict::Drop(Reason::Malformed)),
        "{verdict:?}"
    );
}
