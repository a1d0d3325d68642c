//! The switch allocates nothing per forwarded frame once its MAC table is warm: a
//! counting global allocator watches unicast and flooded traffic between ports and
//! VXLAN and NVGRE remotes over IPv4 and IPv6, whole tunnel frames and socket payloads,
//! decapsulation, encapsulation, learning and ageing.
#![cfg(feature = "switch")]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use tunnelwire::switch::{
    Ingress, Location, PortConfig, RemoteConfig, SegmentConfig, Switch, SwitchConfig, Verdict,
};
use tunnelwire::tunnel::ecn::Ecn;
use tunnelwire::tunnel::{Encapsulator, HEADROOM, SocketOuter, TunnelConfig, TunnelKind};
use tunnelwire::wire::{MacAddr, Vni, Vsid};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const VX: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const NV: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const LOCAL6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x64);
const VX6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

fn mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, n])
}

/// An ARP-sized Ethernet frame from `src` to `dst`, written at `buf[HEADROOM..]`.
fn write_frame(buf: &mut [u8], dst: MacAddr, src: MacAddr) -> std::ops::Range<usize> {
    let frame = &mut buf[HEADROOM..HEADROOM + 98];
    frame[..6].copy_from_slice(&dst.0);
    frame[6..12].copy_from_slice(&src.0);
    frame[12..14].copy_from_slice(&[0x08, 0x06]);
    HEADROOM..HEADROOM + 98
}

/// Writes the frame from `src` to `dst` as the remote `from` would send it.
fn write_tunnel_frame(
    encap: &mut Encapsulator,
    buf: &mut [u8],
    dst: MacAddr,
    src: MacAddr,
) -> std::ops::Range<usize> {
    let inner = write_frame(buf, dst, src);
    encap.encapsulate(buf, inner).unwrap()
}

/// Writes the frame from `src` to `dst` as a UDP socket hands over what the remote VX6
/// sent: the VXLAN header onward.
fn write_vxlan6_payload(
    encap: &mut Encapsulator,
    buf: &mut [u8],
    dst: MacAddr,
    src: MacAddr,
) -> std::ops::Range<usize> {
    let inner = write_frame(buf, dst, src);
    encap.encapsulate_payload(buf, inner).unwrap().payload
}

/// Receives one frame and sends every copy, in place for one target, copied for floods.
fn forward(
    switch: &mut Switch,
    now: Duration,
    ingress: Ingress,
    buf: &mut [u8],
    frame: std::ops::Range<usize>,
    scratch: &mut [u8],
) -> usize {
    let Verdict::Forward(forward) = switch.receive(now, ingress, buf, frame) else {
        panic!("forwarded");
    };
    let count = switch.targets().len();
    let mut sent = 0;
    for i in 0..count {
        let egress = switch.targets()[i];
        let range = if count == 1 {
            switch.emit(&forward, egress, buf, forward.frame.clone())
        } else {
            switch.emit_copy(&forward, egress, &buf[forward.frame.clone()], scratch)
        };
        sent += range.unwrap().len();
    }
    sent
}

#[test]
fn forwarding_allocates_nothing_once_the_mac_table_is_warm() {
    let vni = Vni::new(5042).unwrap();
    let mut config = SwitchConfig::new(LOCAL);
    config.local_ipv6 = Some(LOCAL6);
    let mut switch = Switch::new(config);
    switch.add_segment(SegmentConfig::new(vni)).unwrap();
    let ports = [
        switch.add_port(PortConfig::access(vni)).unwrap(),
        switch.add_port(PortConfig::access(vni)).unwrap(),
    ];
    switch
        .add_remote(vni, RemoteConfig::new(VX, TunnelKind::Vxlan))
        .unwrap();
    let nvgre = switch
        .add_remote(vni, RemoteConfig::new(NV, TunnelKind::Nvgre))
        .unwrap();
    switch
        .add_remote(vni, RemoteConfig::new(VX6, TunnelKind::Vxlan))
        .unwrap();
    let mut from_vx = Encapsulator::new(TunnelConfig::vxlan(vni, VX, LOCAL)).unwrap();
    let mut from_vx6 = Encapsulator::new(TunnelConfig::vxlan(vni, VX6, LOCAL6)).unwrap();
    let from_vx6_socket = Ingress::Socket {
        kind: TunnelKind::Vxlan,
        outer: SocketOuter {
            src: VX6.into(),
            dst: LOCAL6.into(),
            ecn: Ecn::NotEct,
        },
    };
    let vsid = Vsid::new(5042).unwrap();
    let mut from_nv = Encapsulator::new(TunnelConfig::nvgre(vsid, NV, LOCAL)).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut scratch = vec![0u8; 2048];
    // hosts 1, 2 behind the ports; 3 behind VXLAN, 4 behind NVGRE, 6 behind VXLAN over
    // IPv6; 5 static on NVGRE.
    switch
        .add_static(vni, mac(5), Location::Remote(nvgre))
        .unwrap();

    let mut round = |switch: &mut Switch, t: u64| {
        let now = Duration::from_millis(t);
        let mut sent = 0;
        for (port, src) in [(0, 1), (1, 2)] {
            let frame = write_frame(&mut buf, MacAddr::BROADCAST, mac(src));
            sent += forward(
                switch,
                now,
                Ingress::Port(ports[port]),
                &mut buf,
                frame,
                &mut scratch,
            );
        }
        let frame = write_tunnel_frame(&mut from_vx, &mut buf, MacAddr::BROADCAST, mac(3));
        sent += forward(
            switch,
            now,
            Ingress::Underlay,
            &mut buf,
            frame,
            &mut scratch,
        );
        let frame = write_tunnel_frame(&mut from_nv, &mut buf, mac(1), mac(4));
        sent += forward(
            switch,
            now,
            Ingress::Underlay,
            &mut buf,
            frame,
            &mut scratch,
        );
        let frame = write_vxlan6_payload(&mut from_vx6, &mut buf, MacAddr::BROADCAST, mac(6));
        sent += forward(switch, now, from_vx6_socket, &mut buf, frame, &mut scratch);
        for dst in [2, 3, 4, 5, 6] {
            let frame = write_frame(&mut buf, mac(dst), mac(1));
            sent += forward(
                switch,
                now,
                Ingress::Port(ports[0]),
                &mut buf,
                frame,
                &mut scratch,
            );
        }
        let frame = write_tunnel_frame(&mut from_vx, &mut buf, mac(4), mac(3));
        sent += forward(
            switch,
            now,
            Ingress::Underlay,
            &mut buf,
            frame,
            &mut scratch,
        );
        switch.age(now);
        sent
    };
    round(&mut switch, 0);
    let before = allocations();
    let mut bytes = 0;
    for t in 1..10_000 {
        bytes += round(&mut switch, t);
    }
    assert_eq!(allocations() - before, 0, "forwarding allocated");
    assert_eq!(switch.fdb(Duration::from_secs(10)).count(), 6);
    assert!(
        bytes > 10_000 * 1000,
        "the frames were really forwarded: {bytes} bytes"
    );
}
