//! A switch on both underlay families: remotes of each in one segment, each reached from
//! the local address of its family, and tunnel frames coming in whole or as socket
//! payloads.

use std::vec::Vec;

use super::*;
use crate::tunnel::ecn::Ecn;
use crate::tunnel::{NVGRE6_OVERHEAD, VXLAN_OVERHEAD, VXLAN6_OVERHEAD};

const LOCAL6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 0x64);
const VX6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 1);
const VX6B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 2);
const NV6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 3);

/// A dual-stack switch (LOCAL and LOCAL6) with segment 5042: port 0, and the remotes
/// VXLAN VX1 (IPv4), VXLAN VX6 and VX6B, NVGRE NV6 (IPv6), in that order.
struct DualLab {
    lab: Lab,
    remotes: [RemoteId; 4],
}

impl DualLab {
    fn new() -> Self {
        let mut config = SwitchConfig::new(LOCAL);
        config.local_ipv6 = Some(LOCAL6);
        let mut switch = Switch::new(config);
        switch.add_segment(SegmentConfig::new(vni(5042))).unwrap();
        let port = switch.add_port(PortConfig::access(vni(5042))).unwrap();
        let mut add = |ip: IpAddr, kind| {
            switch
                .add_remote(vni(5042), RemoteConfig::new(ip, kind))
                .unwrap()
        };
        let remotes = [
            add(VX1.into(), TunnelKind::Vxlan),
            add(VX6.into(), TunnelKind::Vxlan),
            add(VX6B.into(), TunnelKind::Vxlan),
            add(NV6.into(), TunnelKind::Nvgre),
        ];
        let lab = Lab {
            switch,
            ports: std::vec![port],
            vx1: remotes[0],
            vx2: remotes[1],
            nv1: remotes[3],
            vx1_43: remotes[0],
        };
        DualLab { lab, remotes }
    }

    fn remote(&self, n: usize) -> Egress {
        Location::Remote(self.remotes[n])
    }

    /// `inner` from remote `from` as a whole tunnel frame.
    fn send_whole(&mut self, now: u64, from: IpAddr, kind: TunnelKind, inner: &[u8]) -> Sent {
        let local = self.lab.switch.config().local_ip_for(from).unwrap();
        let wire = encapsulate(from, local, kind, 5042, inner);
        self.lab.send(now, Ingress::Underlay, &wire)
    }

    /// `inner` from remote `from` as the socket payload a UDP or raw GRE socket gives,
    /// with outer ECN `ecn`.
    fn send_payload(
        &mut self,
        now: u64,
        from: IpAddr,
        kind: TunnelKind,
        ecn: Ecn,
        inner: &[u8],
    ) -> Sent {
        let local = self.lab.switch.config().local_ip_for(from).unwrap();
        let payload = socket_payload(from, local, kind, inner);
        let outer = SocketOuter {
            src: from,
            dst: local,
            ecn,
        };
        self.lab
            .send(now, Ingress::Socket { kind, outer }, &payload)
    }
}

type Sent = (Verdict, Vec<(Egress, Vec<u8>)>);

/// `inner` as the tunnel header onward, as `from` sends it towards `to`.
fn socket_payload(from: IpAddr, to: IpAddr, kind: TunnelKind, inner: &[u8]) -> Vec<u8> {
    let config = match kind {
        TunnelKind::Vxlan => TunnelConfig::vxlan(vni(5042), from, to),
        TunnelKind::Nvgre => TunnelConfig::nvgre(Vsid::new(5042).unwrap(), from, to),
        TunnelKind::Geneve => unreachable!("the switch has no Geneve remotes yet"),
    };
    let mut buf = std::vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(inner);
    let whole = HEADROOM..buf.len();
    let sent = Encapsulator::new(config)
        .unwrap()
        .encapsulate_payload(&mut buf, whole)
        .unwrap();
    buf[sent.payload].to_vec()
}

/// An Ethernet frame carrying an IPv4 header with ECN field `ecn`, `len` bytes long.
fn ipv4_frame(dst: MacAddr, src: MacAddr, ecn: Ecn, len: usize) -> Vec<u8> {
    let mut bytes = frame(dst, src, len);
    bytes[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (len - 14) as u16;
    let mut ip = crate::wire::Ipv4Repr::new(
        Ipv4Addr::new(192, 168, 0, 1),
        Ipv4Addr::new(192, 168, 0, 2),
        crate::wire::IpProtocol::UDP,
        ip_len - 20,
    );
    ip.ecn = ecn.bits();
    ip.emit(&mut bytes[14..]).unwrap();
    crate::wire::Ipv4Packet::new_unchecked(&mut bytes[14..]).fill_checksum();
    bytes
}

#[test]
fn each_remote_is_reached_from_the_local_address_of_its_family() {
    let mut dual = DualLab::new();
    let request = frame(MacAddr::BROADCAST, mac(1), 60);
    let (_, out) = dual.lab.send_port(0, 0, &request);
    let sent: Vec<_> = out
        .iter()
        .map(|(egress, bytes)| {
            let (from, to, kind, segment, inner) = open_tunnel_of_either_family(bytes);
            assert_eq!((segment, &inner), (5042, &request));
            (*egress, from, to, kind, bytes.len() - inner.len())
        })
        .collect();
    let (v4, v6) = (IpAddr::V4(LOCAL), IpAddr::V6(LOCAL6));
    assert_eq!(
        sent,
        [
            (
                dual.remote(0),
                v4,
                VX1.into(),
                TunnelKind::Vxlan,
                VXLAN_OVERHEAD
            ),
            (
                dual.remote(1),
                v6,
                VX6.into(),
                TunnelKind::Vxlan,
                VXLAN6_OVERHEAD
            ),
            (
                dual.remote(2),
                v6,
                VX6B.into(),
                TunnelKind::Vxlan,
                VXLAN6_OVERHEAD
            ),
            (
                dual.remote(3),
                v6,
                NV6.into(),
                TunnelKind::Nvgre,
                NVGRE6_OVERHEAD
            ),
        ]
    );
    let remotes: Vec<_> = dual.lab.switch.remotes().map(|(_, _, ip, _)| ip).collect();
    assert_eq!(
        remotes,
        [
            IpAddr::V4(VX1),
            IpAddr::V6(VX6),
            IpAddr::V6(VX6B),
            IpAddr::V6(NV6)
        ]
    );
}

#[test]
fn a_dual_stack_switch_relays_between_families_but_not_within_one() {
    let mut dual = DualLab::new();
    // From the IPv6 VXLAN remote VX6: to the port, the IPv4 VXLAN remote and NVGRE; not
    // to VX6B, which VX6 reaches itself (one encapsulation, one family: one mesh).
    let hello = frame(MacAddr::BROADCAST, mac(6), 60);
    let (_, out) = dual.send_whole(0, VX6.into(), TunnelKind::Vxlan, &hello);
    assert_eq!(
        dual.lab.targets_of(&out),
        [dual.lab.port(0), dual.remote(0), dual.remote(3)]
    );
    // From the IPv4 one: the IPv6 VXLAN remotes get it too.
    let (_, out) = dual.send_whole(0, VX1.into(), TunnelKind::Vxlan, &frame(mac(6), mac(4), 60));
    assert_eq!(dual.lab.targets_of(&out), [dual.remote(1)]);
    assert_eq!(
        open_tunnel_of_either_family(&out[0].1).0,
        IpAddr::V6(LOCAL6)
    );
    // Known unicast within the IPv6 VXLAN mesh: split horizon.
    let (verdict, out) = dual.send_whole(
        0,
        VX6B.into(),
        TunnelKind::Vxlan,
        &frame(mac(6), mac(7), 60),
    );
    assert_eq!(
        (verdict, out.len()),
        (Verdict::Drop(Reason::SplitHorizon), 0)
    );
}

#[test]
fn the_underlay_mtu_leaves_20_bytes_less_for_ipv6_remotes() {
    let mut dual = DualLab::new();
    dual.send_whole(
        0,
        VX1.into(),
        TunnelKind::Vxlan,
        &frame(MacAddr::BROADCAST, mac(4), 60),
    );
    dual.send_whole(
        0,
        VX6.into(),
        TunnelKind::Vxlan,
        &frame(MacAddr::BROADCAST, mac(6), 60),
    );
    // IPv4: 20 + 8 + 8 + inner <= 1500; IPv6: 40 + 8 + 8 + inner <= 1500.
    for (dst, fits, remote) in [(mac(4), 1464, 0), (mac(6), 1444, 1)] {
        let (_, out) = dual.lab.send_port(1, 0, &frame(dst, mac(1), fits));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.len(), 14 + 1500);
        let (verdict, out) = dual.lab.send_port(1, 0, &frame(dst, mac(1), fits + 1));
        assert!(matches!(verdict, Verdict::Forward(_)) && out.is_empty());
        let counters = dual.lab.switch.remote_counters(dual.remotes[remote]);
        assert_eq!(counters.get(Reason::Mtu), 1);
    }
}

#[test]
fn socket_payloads_are_learned_forwarded_and_counted_as_whole_frames() {
    let mut dual = DualLab::new();
    let hello = frame(MacAddr::BROADCAST, mac(6), 60);
    let whole = dual.send_whole(0, VX6.into(), TunnelKind::Vxlan, &hello);
    let mut again = DualLab::new();
    let payload = again.send_payload(0, VX6.into(), TunnelKind::Vxlan, Ecn::NotEct, &hello);
    assert_eq!(payload.1, whole.1, "the same copies");
    let (Verdict::Forward(by_payload), Verdict::Forward(by_frame)) = (payload.0, whole.0) else {
        panic!("both forwarded")
    };
    assert_eq!(
        (by_payload.source, by_payload.flood, by_payload.frame.len()),
        (by_frame.source, by_frame.flood, by_frame.frame.len())
    );
    for lab in [&dual.lab, &again.lab] {
        let counters = lab.switch.remote_counters(lab.vx2);
        assert_eq!(
            (counters.frames_in, counters.bytes_in),
            (1, (VXLAN6_OVERHEAD + 60) as u64)
        );
        let entry = lab.switch.fdb(secs(0)).next().unwrap();
        assert_eq!(
            (entry.mac, entry.location),
            (mac(6), Location::Remote(lab.vx2))
        );
    }
    // NVGRE over IPv6 and VXLAN over IPv4 come in as payloads too.
    let (_, out) = again.send_payload(
        1,
        NV6.into(),
        TunnelKind::Nvgre,
        Ecn::NotEct,
        &frame(mac(6), mac(3), 60),
    );
    assert_eq!(again.lab.targets_of(&out), [again.remote(1)]);
    let (_, out) = again.send_payload(
        1,
        VX1.into(),
        TunnelKind::Vxlan,
        Ecn::NotEct,
        &frame(mac(3), mac(4), 60),
    );
    assert_eq!(again.lab.targets_of(&out), [again.remote(3)]);
    let counters = again.lab.switch.remote_counters(again.remotes[0]);
    assert_eq!(counters.bytes_in, (VXLAN_OVERHEAD + 60) as u64);
}

#[test]
fn a_socket_payload_is_checked_as_a_whole_frame_is() {
    let mut dual = DualLab::new();
    let hello = frame(MacAddr::BROADCAST, mac(6), 60);
    // From an address that is no remote of the segment, or the wrong family's twin.
    let stranger = IpAddr::V6(Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 9));
    let (verdict, _) = dual.send_payload(0, stranger, TunnelKind::Vxlan, Ecn::NotEct, &hello);
    assert_eq!(verdict, Verdict::Drop(Reason::UnknownSource));
    // A sender no VTEP can be: never a remote.
    let multicast = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1));
    let payload = socket_payload(VX6.into(), LOCAL6.into(), TunnelKind::Vxlan, &hello);
    let outer = SocketOuter {
        src: multicast,
        dst: LOCAL6.into(),
        ecn: Ecn::NotEct,
    };
    let ingress = Ingress::Socket {
        kind: TunnelKind::Vxlan,
        outer,
    };
    assert_eq!(
        dual.lab.send(0, ingress, &payload).0,
        Verdict::Drop(Reason::UnknownSource)
    );
    // VXLAN without the I flag; GRE read as VXLAN.
    let mut bad = payload.clone();
    bad[0] = 0;
    let from_vx6 = Ingress::Socket {
        kind: TunnelKind::Vxlan,
        outer: SocketOuter {
            src: VX6.into(),
            ..outer
        },
    };
    assert_eq!(
        dual.lab.send(0, from_vx6, &bad).0,
        Verdict::Drop(Reason::Malformed)
    );
    let gre = socket_payload(NV6.into(), LOCAL6.into(), TunnelKind::Nvgre, &hello);
    assert_eq!(
        dual.lab.send(0, from_vx6, &gre).0,
        Verdict::Drop(Reason::Malformed)
    );
    let underlay = dual.lab.switch.underlay_counters();
    assert_eq!(
        (
            underlay.get(Reason::UnknownSource),
            underlay.get(Reason::Malformed)
        ),
        (2, 2)
    );
    assert_eq!(
        underlay.bytes_in,
        4 * (VXLAN6_OVERHEAD + 60) as u64,
        "counted with the headers the socket took off"
    );
    assert!(
        dual.lab.switch.fdb(secs(0)).next().is_none(),
        "nothing learned"
    );
}

#[test]
fn the_outer_ecn_a_socket_reports_is_combined_into_the_inner_packet() {
    let mut dual = DualLab::new();
    // RFC 6040: CE outside, ECT(0) inside: the inner packet leaves marked CE.
    let ect = ipv4_frame(MacAddr::BROADCAST, mac(6), Ecn::Ect0, 60);
    let (verdict, out) = dual.send_payload(0, VX6.into(), TunnelKind::Vxlan, Ecn::Ce, &ect);
    assert!(matches!(verdict, Verdict::Forward(_)));
    let (_, to_port) = out.iter().find(|(e, _)| *e == dual.lab.port(0)).unwrap();
    assert_eq!(Ecn::from_bits(to_port[15]), Ecn::Ce);
    assert_eq!(
        (&to_port[..15], &to_port[16..24], &to_port[26..]),
        (&ect[..15], &ect[16..24], &ect[26..]),
        "nothing else changed but the checksum"
    );
    let ip = crate::wire::Ipv4Packet::new_checked(&to_port[14..]).unwrap();
    assert!(ip.verify_checksum());
    // CE outside, Not-ECT inside: dropped.
    let not_ect = ipv4_frame(MacAddr::BROADCAST, mac(6), Ecn::NotEct, 60);
    let (verdict, out) = dual.send_payload(0, VX6.into(), TunnelKind::Vxlan, Ecn::Ce, &not_ect);
    assert_eq!((verdict, out.len()), (Verdict::Drop(Reason::Malformed), 0));
}

#[test]
fn a_remote_needs_a_unicast_address_other_than_ours_and_a_local_address_of_its_family() {
    let mut v4_only = Switch::new(SwitchConfig::new(LOCAL));
    v4_only.add_segment(SegmentConfig::new(vni(5042))).unwrap();
    let mut v6_only = Switch::new(SwitchConfig::new(LOCAL6));
    v6_only.add_segment(SegmentConfig::new(vni(5042))).unwrap();
    let vxlan = |ip: IpAddr| RemoteConfig::new(ip, TunnelKind::Vxlan);
    assert_eq!(
        v4_only.add_remote(vni(5042), vxlan(VX6.into())),
        Err(ConfigError::NoLocalAddress(VX6.into()))
    );
    assert_eq!(
        v6_only.add_remote(vni(5042), vxlan(VX1.into())),
        Err(ConfigError::NoLocalAddress(VX1.into()))
    );
    assert_eq!(
        v4_only.add_remote(vni(5042), vxlan(LOCAL.into())),
        Err(ConfigError::LocalAddress(LOCAL.into()))
    );
    assert_eq!(
        v6_only.add_remote(vni(5042), vxlan(LOCAL6.into())),
        Err(ConfigError::LocalAddress(LOCAL6.into()))
    );
    for text in [
        "0.0.0.0",
        "0.1.2.3",
        "127.0.0.1",
        "224.0.0.1",
        "239.1.2.3",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:10.0.0.1",
    ] {
        let ip: IpAddr = text.parse().unwrap();
        let switch = if ip.is_ipv4() {
            &mut v4_only
        } else {
            &mut v6_only
        };
        assert_eq!(
            switch.add_remote(vni(5042), vxlan(ip)),
            Err(ConfigError::NotUnicast(ip)),
            "{ip}"
        );
        assert!(!is_vtep_address(ip), "{ip}");
    }
    for text in [
        "10.0.0.1",
        "1.2.3.4",
        "223.255.255.254",
        "fd00::1",
        "2001:db8::1",
        "fe80::1",
    ] {
        let ip: IpAddr = text.parse().unwrap();
        assert!(is_vtep_address(ip), "{ip}");
    }
    // Both checks pass; the same address twice with one encapsulation does not.
    v6_only.add_remote(vni(5042), vxlan(VX6.into())).unwrap();
    assert_eq!(
        v6_only.add_remote(vni(5042), vxlan(VX6.into())),
        Err(ConfigError::DuplicateRemote(VX6.into()))
    );
}
