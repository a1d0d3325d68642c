//! The running VTEP over both families at once: one segment whose remotes are VXLAN over
//! IPv4, VXLAN over IPv6 and NVGRE over IPv6, the outer ECN carried in from IPv6.

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsFd;

use tunnelwire::linux::{Vtep, VtepConfig, control};
use tunnelwire::switch::Reason;

use crate::namespace::{isolated6, set_int_option};
use crate::packets::{
    BROADCAST, carries, check_vxlan, frame, internet_checksum, mac, nvgre, vxlan,
};
use crate::peers::{Host, RawPeer};
use crate::running::{Running, config, control_path, dropped, fdb, mac_text};
use crate::{ARRIVES, NVGRE_PEER6, VNI, VTEP, VTEP6, VXLAN_PEER, VXLAN_PEER6};

/// An Ethernet frame of `len` bytes carrying an IPv4 packet (protocol 253, RFC 3692's
/// experimental one) whose ECN field is `ecn`, with the header checksum to match.
fn ipv4_frame(dst: [u8; 6], src: [u8; 6], tag: u8, len: usize, ecn: u8) -> Vec<u8> {
    let mut frame = frame(dst, src, tag, len);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let total = ((len - 14) as u16).to_be_bytes();
    frame[14..34].copy_from_slice(&[
        0x45, ecn, total[0], total[1], 0, 0, 0x40, 0, 64, 253, 0, 0, 192, 168, 60, 1, 192, 168, 60,
        2,
    ]);
    let checksum = internet_checksum(&frame[14..34]);
    frame[24..26].copy_from_slice(&checksum.to_be_bytes());
    frame
}

/// One access port on segment 5000, whose remotes are a VXLAN VTEP over IPv4, a VXLAN
/// VTEP over IPv6 and an NVGRE VTEP over IPv6: a dual-stack VTEP relaying between them.
fn dual_stack(port: &str) -> VtepConfig {
    config(&format!(
        r#"
[underlay]
local_ip = "{VTEP}"
local_ip6 = "{VTEP6}"
nvgre = true
mtu = 1000

[[port]]
name = "{port}"
vni = {VNI}
mtu = 1500

[[segment]]
vni = {VNI}

[[segment.remote]]
ip = "{VXLAN_PEER}"

[[segment.remote]]
ip = "{VXLAN_PEER6}"

[[segment.remote]]
ip = "{NVGRE_PEER6}"
encap = "nvgre"
"#
    ))
}

#[test]
fn the_vtep_joins_remotes_of_both_families_in_one_segment() {
    isolated6("vtep-dual-stack", || {
        let path = control_path("vtep-dual-stack");
        let vtep = Vtep::new(&dual_stack("tw60"), Some(&path)).unwrap();
        let host = Host::on("tw60");
        let _vxlan_peer = UdpSocket::bind(SocketAddrV4::new(VXLAN_PEER, 4789)).unwrap();
        let vxlan_raw = RawPeer::open(libc::IPPROTO_UDP, VXLAN_PEER);
        let vxlan_peer6 = UdpSocket::bind(SocketAddrV6::new(VXLAN_PEER6, 4789, 0, 0)).unwrap();
        vxlan_peer6.set_read_timeout(Some(ARRIVES)).unwrap();
        let gre_peer6 = RawPeer::open(libc::IPPROTO_GRE, NVGRE_PEER6);
        let running = Running::start(vtep);
        let (local, behind_vxlan6, behind_nvgre6) = (mac(0x10), mac(0x60), mac(0x61));
        let recv_vxlan6 = |inner: &[u8]| {
            let mut datagram = [0u8; 2048];
            loop {
                let (len, from) = vxlan_peer6
                    .recv_from(&mut datagram)
                    .expect("VXLAN over IPv6");
                if datagram[..len].ends_with(inner) {
                    let SocketAddr::V6(from) = from else {
                        panic!("{from}")
                    };
                    assert_eq!(*from.ip(), VTEP6);
                    assert_eq!(&datagram[..8], &vxlan(VNI, &[])[..], "VXLAN header");
                    assert_eq!(len, 8 + inner.len());
                    return from.port();
                }
            }
        };

        // VXLAN over IPv6 in, marked CE around an ECT(0) packet: to the TAP marked CE
        // (RFC 6040, from the traffic class the socket reported), relayed to the IPv4
        // VXLAN remote and to NVGRE.
        let sender6 = UdpSocket::bind(SocketAddrV6::new(VXLAN_PEER6, 0, 0, 0)).unwrap();
        set_int_option(sender6.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 0x03);
        let hello = ipv4_frame(BROADCAST, behind_vxlan6, 1, 60, 0x02);
        sender6
            .send_to(&vxlan(VNI, &hello), SocketAddrV6::new(VTEP6, 4789, 0, 0))
            .unwrap();
        let marked = ipv4_frame(BROADCAST, behind_vxlan6, 1, 60, 0x03);
        host.expect(&marked, "VXLAN over IPv6 in, to the TAP, marked CE");
        let packet = vxlan_raw
            .recv(ARRIVES, carries(&marked))
            .expect("relayed to the IPv4 VXLAN remote");
        assert_eq!(check_vxlan(&packet, VTEP, VXLAN_PEER, VNI).1, marked);
        let gre = gre_peer6
            .recv_bytes(ARRIVES, |gre| gre.ends_with(&marked))
            .expect("relayed to NVGRE over IPv6");
        assert_eq!(&gre[..7], &nvgre(VNI, 0, &[])[..7], "NVGRE header");
        assert_eq!(gre.len(), 8 + marked.len());

        // NVGRE over IPv6 in, unknown unicast: to the TAP and both VXLAN remotes.
        let unknown = frame(local, behind_nvgre6, 2, 60);
        gre_peer6.send_to(&nvgre(VNI, 0, &unknown), VTEP6);
        host.expect(&unknown, "NVGRE over IPv6 in, to the TAP");
        recv_vxlan6(&unknown);
        let packet = vxlan_raw
            .recv(ARRIVES, carries(&unknown))
            .expect("NVGRE in, to IPv4 VXLAN");
        assert_eq!(check_vxlan(&packet, VTEP, VXLAN_PEER, VNI).1, unknown);

        // TAP in, to the learned addresses: one copy each, from the flow hash's port.
        let to_vxlan6 = frame(behind_vxlan6, local, 3, 944);
        host.send(&to_vxlan6);
        let port = recv_vxlan6(&to_vxlan6);
        assert!((49152..=65535).contains(&port), "source port {port}");
        let again = frame(behind_vxlan6, local, 4, 80);
        host.send(&again);
        assert_eq!(recv_vxlan6(&again), port, "one flow, one source port");
        let to_nvgre6 = frame(behind_nvgre6, local, 5, 952);
        host.send(&to_nvgre6);
        gre_peer6
            .recv_bytes(ARRIVES, |gre| gre.ends_with(&to_nvgre6))
            .expect("TAP in, to NVGRE over IPv6");
        // One byte over what the underlay MTU leaves over IPv6 (40 + 8 + 8, 40 + 8).
        host.send(&frame(behind_vxlan6, local, 6, 945));
        host.send(&frame(behind_nvgre6, local, 7, 953));

        let entries = fdb(&path);
        assert_eq!(entries[&mac_text(behind_vxlan6)]["remote"], "fd00:99::2");
        assert_eq!(entries[&mac_text(behind_nvgre6)]["remote"], "fd00:99::3");
        let stats: serde_json::Value =
            serde_json::from_str(&control::request(&path, "stats").unwrap()).unwrap();
        let remotes: Vec<_> = stats["segments"][VNI.to_string()]["remotes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["ip"].as_str().unwrap().to_owned(), r["encap"].clone()))
            .collect();
        assert_eq!(
            remotes,
            [
                ("10.99.0.2".to_owned(), "vxlan".into()),
                ("fd00:99::2".to_owned(), "vxlan".into()),
                ("fd00:99::3".to_owned(), "nvgre".into())
            ]
        );

        let vtep = running.stop();
        let switch = vtep.switch();
        assert_eq!(dropped(switch, Reason::Mtu), 2);
        let counters: Vec<_> = switch
            .remotes()
            .map(|(id, _, ip, _)| {
                let counters = switch.remote_counters(id);
                (ip, counters.frames_in, counters.frames_out)
            })
            .collect();
        // IPv4 VXLAN: out hello, unknown. IPv6 VXLAN: in hello; out unknown, to_vxlan6,
        // again. NVGRE: in unknown; out hello, to_nvgre6.
        assert_eq!(
            counters,
            [
                (VXLAN_PEER.into(), 0, 2),
                (VXLAN_PEER6.into(), 1, 3),
                (NVGRE_PEER6.into(), 1, 2)
            ]
        );
    });
}
