//! The running VTEP forwarding over IPv4: between a TAP and VXLAN, NVGRE and Geneve
//! remotes, flooding to a trunk and an access port, and holding frames to both MTUs.

use std::net::{IpAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use tunnelwire::linux::{Vtep, control};
use tunnelwire::switch::Reason;

use crate::namespace::{if_index, interface_mtu, isolated};
use crate::packets::{BROADCAST, carries, check_nvgre, check_vxlan, frame, mac, nvgre, vxlan};
use crate::peers::{Host, RawPeer};
use crate::running::{
    Running, config, control_path, dropped, fdb, gateway, mac_text, signalfd_flags,
};
use crate::{ARRIVES, NVGRE_PEER, QUIET, VNI, VTEP, VXLAN_PEER};

/// A Geneve header (RFC 8926: version 0, no options, protocol 0x6558, VNI), the
/// options given (their length in 4-byte words goes in the header) and the inner frame.
fn geneve(vni: u32, options: &[u8], inner: &[u8]) -> Vec<u8> {
    let vni = vni.to_be_bytes();
    let words = (options.len() / 4) as u8;
    let mut packet = vec![words, 0, 0x65, 0x58, vni[1], vni[2], vni[3], 0];
    packet.extend_from_slice(options);
    packet.extend_from_slice(inner);
    packet
}

#[test]
fn the_vtep_forwards_between_a_tap_and_a_geneve_remote() {
    isolated("vtep-geneve", || {
        let path = control_path("vtep-geneve");
        let text = format!(
            r#"
[underlay]
local_ip = "{VTEP}"
geneve_port = 6081

[[port]]
name = "twg0"
vni = {VNI}

[[segment]]
vni = {VNI}

[[segment.remote]]
ip = "{VXLAN_PEER}"
encap = "geneve"
"#
        );
        let vtep = Vtep::new(&config(&text), Some(&path)).unwrap();
        let host = Host::on("twg0");
        let peer = UdpSocket::bind(SocketAddrV4::new(VXLAN_PEER, 6081)).unwrap();
        peer.set_read_timeout(Some(ARRIVES)).unwrap();
        let running = Running::start(vtep);
        let (local, remote) = (mac(0x10), mac(0x40));

        // Geneve in, with an option not marked critical: to the TAP.
        let hello = frame(BROADCAST, remote, 1, 60);
        let option = [0x01, 0x02, 0x01, 0x01, 0xaa, 0xbb, 0xcc, 0xdd];
        peer.send_to(&geneve(VNI, &option, &hello), SocketAddrV4::new(VTEP, 6081))
            .unwrap();
        host.expect(&hello, "Geneve in, to the TAP");

        // TAP in, to the learned address: Geneve out, from the flow-hash source port.
        let reply = frame(remote, local, 2, 200);
        host.send(&reply);
        let mut received = [0u8; 2048];
        let (len, from) = peer.recv_from(&mut received).expect("Geneve out");
        assert_eq!(from.ip(), IpAddr::V4(VTEP));
        assert!((49152..=65535).contains(&from.port()), "{from}");
        assert_eq!(&received[..len], &geneve(VNI, &[], &reply)[..]);

        // A critical option vtep does not process: dropped and counted.
        let critical = [0x01, 0x02, 0x81, 0x01, 0xaa, 0xbb, 0xcc, 0xdd];
        let refused = frame(BROADCAST, remote, 3, 60);
        peer.send_to(
            &geneve(VNI, &critical, &refused),
            SocketAddrV4::new(VTEP, 6081),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let stats = control::request(&path, "stats").unwrap();
        assert!(stats.contains("\"critical_option\":1"), "{stats}");
        drop(running);
    });
}

#[test]
fn the_vtep_forwards_between_a_tap_and_both_tunnels() {
    isolated("vtep-forward", || {
        let path = control_path("vtep-forward");
        let vtep = Vtep::new(&gateway("twv0", ""), Some(&path)).unwrap();
        assert_eq!(interface_mtu("twv0"), 1500);
        let host = Host::on("twv0");
        let vxlan_peer = UdpSocket::bind(SocketAddrV4::new(VXLAN_PEER, 4789)).unwrap();
        let vxlan_raw = RawPeer::open(libc::IPPROTO_UDP, VXLAN_PEER);
        let gre_peer = RawPeer::open(libc::IPPROTO_GRE, NVGRE_PEER);
        let running = Running::start(vtep);
        let (local, behind_vxlan, behind_nvgre) = (mac(0x10), mac(0x20), mac(0x30));

        // VXLAN in: a broadcast reaches the TAP and, translated, the NVGRE remote.
        let hello = frame(BROADCAST, behind_vxlan, 1, 60);
        vxlan_peer
            .send_to(&vxlan(VNI, &hello), SocketAddrV4::new(VTEP, 4789))
            .unwrap();
        host.expect(&hello, "VXLAN in, to the TAP");
        // The loop is running: its signalfd leaks into no child a library user spawns,
        // and never blocks it.
        let flags = signalfd_flags();
        assert!(!flags.is_empty(), "no signalfd");
        for flags in flags {
            let wanted = (libc::O_CLOEXEC | libc::O_NONBLOCK) as u32;
            assert_eq!(flags & wanted, wanted, "signalfd flags {flags:o}");
        }
        let packet = gre_peer
            .recv(ARRIVES, carries(&hello))
            .expect("VXLAN in, to NVGRE");
        assert_eq!(check_nvgre(&packet, VTEP, NVGRE_PEER, VNI), hello);

        // NVGRE in: unknown unicast to the TAP and the VXLAN remote.
        let unknown = frame(local, behind_nvgre, 2, 60);
        gre_peer.send_to(&nvgre(VNI, 0, &unknown), VTEP);
        host.expect(&unknown, "NVGRE in, to the TAP");
        let packet = vxlan_raw
            .recv(ARRIVES, carries(&unknown))
            .expect("NVGRE in, to VXLAN");
        assert_eq!(check_vxlan(&packet, VTEP, VXLAN_PEER, VNI).1, unknown);

        // TAP in, to a learned VXLAN address: one copy, nothing to NVGRE.
        let to_vxlan = frame(behind_vxlan, local, 3, 964);
        host.send(&to_vxlan);
        let packet = vxlan_raw
            .recv(ARRIVES, carries(&to_vxlan))
            .expect("TAP in, to VXLAN");
        let (port, inner) = check_vxlan(&packet, VTEP, VXLAN_PEER, VNI);
        assert_eq!(inner, to_vxlan, "the largest frame the underlay MTU allows");
        // The same flow again: the same source port.
        let again = frame(behind_vxlan, local, 4, 80);
        host.send(&again);
        let packet = vxlan_raw.recv(ARRIVES, carries(&again)).expect("again");
        assert_eq!(check_vxlan(&packet, VTEP, VXLAN_PEER, VNI), (port, again));

        // TAP in, to a learned NVGRE address.
        let to_nvgre = frame(behind_nvgre, local, 5, 90);
        host.send(&to_nvgre);
        let packet = gre_peer
            .recv(ARRIVES, carries(&to_nvgre))
            .expect("TAP in, to NVGRE");
        assert_eq!(check_nvgre(&packet, VTEP, NVGRE_PEER, VNI), to_nvgre);

        // TAP in, broadcast: one copy to each remote.
        let flood = frame(BROADCAST, local, 6, 70);
        host.send(&flood);
        let packet = vxlan_raw
            .recv(ARRIVES, carries(&flood))
            .expect("flood to VXLAN");
        assert_eq!(check_vxlan(&packet, VTEP, VXLAN_PEER, VNI).1, flood);
        let packet = gre_peer
            .recv(ARRIVES, carries(&flood))
            .expect("flood to NVGRE");
        assert_eq!(check_nvgre(&packet, VTEP, NVGRE_PEER, VNI), flood);

        // One byte over the underlay MTU: refused, not fragmented.
        let too_big = frame(behind_vxlan, local, 7, 965);
        host.send(&too_big);
        assert!(
            vxlan_raw.recv(QUIET, carries(&too_big)).is_none(),
            "over the MTU"
        );
        assert!(
            gre_peer.recv(QUIET, |_| true).is_none(),
            "unicast goes to one remote"
        );

        // The control socket answers while the loop runs.
        let entries = fdb(&path);
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert_eq!(entries[&mac_text(local)]["port"], "twv0");
        assert_eq!(
            entries[&mac_text(behind_vxlan)]["remote"],
            VXLAN_PEER.to_string()
        );
        assert_eq!(
            entries[&mac_text(behind_nvgre)]["remote"],
            NVGRE_PEER.to_string()
        );
        let stats: serde_json::Value =
            serde_json::from_str(&control::request(&path, "stats").unwrap()).unwrap();
        assert_eq!(stats["ports"]["twv0"]["frames_in"], 5);
        assert_eq!(stats["ports"]["twv0"]["frames_out"], 2);

        let vtep = running.stop();
        let switch = vtep.switch();
        let port = switch.port_counters(switch.ports().next().unwrap());
        assert_eq!((port.frames_in, port.frames_out), (5, 2));
        assert_eq!(dropped(switch, Reason::Mtu), 1);
        let remotes: Vec<_> = switch
            .remotes()
            .map(|(id, _, ip, _)| {
                (
                    ip,
                    switch.remote_counters(id).frames_in,
                    switch.remote_counters(id).frames_out,
                )
            })
            .collect();
        // VXLAN: in hello, out unknown, to_vxlan, again, flood. NVGRE: in unknown, out
        // hello, to_nvgre, flood.
        assert_eq!(
            remotes,
            [(VXLAN_PEER.into(), 1, 4), (NVGRE_PEER.into(), 1, 3)]
        );
        drop(vtep);
        assert_eq!(if_index("twv0"), 0, "the TAP goes with the Vtep");
        assert!(!path.exists(), "the control socket too");
    });
}

#[test]
fn the_vtep_floods_an_intact_copy_to_each_of_a_trunk_and_an_access_port() {
    isolated("vtep-trunk", || {
        let config = config(&format!(
            r#"
[underlay]
local_ip = "{VTEP}"

[[port]]
name = "twt0"
[[port.vlan]]
vid = 100
vni = {VNI}

[[port]]
name = "twt1"
vni = {VNI}

[[segment]]
vni = {VNI}

[[segment.remote]]
ip = "{VXLAN_PEER}"
"#
        ));
        let vtep = Vtep::new(&config, None).unwrap();
        let (trunk, access) = (Host::on("twt0"), Host::on("twt1"));
        let vxlan_peer = UdpSocket::bind(SocketAddrV4::new(VXLAN_PEER, 4789)).unwrap();
        let vxlan_raw = RawPeer::open(libc::IPPROTO_UDP, VXLAN_PEER);
        let running = Running::start(vtep);
        let tagged = |untagged: &[u8]| {
            let mut frame = untagged[..12].to_vec();
            frame.extend_from_slice(&[0x81, 0x00, 0x00, 100]);
            frame.extend_from_slice(&untagged[12..]);
            frame
        };

        // Each copy of a flood is built apart: the trunk's copy gains a tag, the access
        // port's must not see it.
        let hello = frame(BROADCAST, mac(0x20), 1, 60);
        vxlan_peer
            .send_to(&vxlan(VNI, &hello), SocketAddrV4::new(VTEP, 4789))
            .unwrap();
        trunk.expect(&tagged(&hello), "VXLAN in, to the trunk port, tagged");
        access.expect(&hello, "VXLAN in, to the access port, untagged");

        // And from the trunk: the tag comes off for the access port and the remote.
        let from_trunk = frame(BROADCAST, mac(0x10), 2, 70);
        trunk.send(&tagged(&from_trunk));
        access.expect(&from_trunk, "trunk in, to the access port");
        let packet = vxlan_raw
            .recv(ARRIVES, carries(&from_trunk))
            .expect("trunk in, to VXLAN");
        assert_eq!(check_vxlan(&packet, VTEP, VXLAN_PEER, VNI).1, from_trunk);
        running.stop();
    });
}

#[test]
fn the_vtep_holds_frames_to_a_taps_mtu() {
    isolated("vtep-tap-mtu", || {
        // The kernel would deliver a longer frame written to the TAP.
        let vtep = Vtep::new(&gateway("twm0", ""), None).unwrap();
        assert_eq!(interface_mtu("twm0"), 1500);
        let host = Host::on("twm0");
        let vxlan_peer = UdpSocket::bind(SocketAddrV4::new(VXLAN_PEER, 4789)).unwrap();
        let running = Running::start(vtep);
        let largest = frame(BROADCAST, mac(0x20), 1, 1514);
        vxlan_peer
            .send_to(&vxlan(VNI, &largest), SocketAddrV4::new(VTEP, 4789))
            .unwrap();
        host.expect(&largest, "the largest frame the TAP's MTU allows");
        let over = frame(BROADCAST, mac(0x20), 2, 1515);
        vxlan_peer
            .send_to(&vxlan(VNI, &over), SocketAddrV4::new(VTEP, 4789))
            .unwrap();
        assert!(host.recv(QUIET).is_none(), "one byte over the TAP's MTU");
        let vtep = running.stop();
        let switch = vtep.switch();
        let port = switch.port_counters(switch.ports().next().unwrap());
        assert_eq!((port.frames_out, port.get(Reason::Mtu)), (1, 1));
    });
}
