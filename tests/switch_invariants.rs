//! The switch's invariants under arbitrary input, as a fuzzer would drive it: sequences
//! of (time step, ingress, bytes), the bytes either raw or built from a small pool of
//! addresses, tags, tunnels and senders and then mutated. After every frame:
//! - nothing panics;
//! - no segment's MAC table grows past its limit;
//! - nothing leaves by its ingress port or goes back to the remote that sent it;
//! - nothing crosses between two remotes of one encapsulation;
//! - nothing reaches an isolated port from another isolated port;
//! - every copy to a remote is a tunnel frame of the right kind and segment to its address.
#![cfg(feature = "switch")]

use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;
use tunnelwire::packet::{Decoder, Tunnel};
use tunnelwire::switch::{
    Ingress, Location, PortConfig, PortId, RemoteConfig, SegmentConfig, Switch, SwitchConfig,
    Verdict,
};
use tunnelwire::tunnel::{Encapsulator, HEADROOM, TunnelConfig, TunnelKind};
use tunnelwire::wire::{MacAddr, VlanId, Vni, Vsid};

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const MAC_LIMIT: usize = 6;
/// Remote addresses: three known ones and a stranger.
const SENDERS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(10, 0, 0, 1),
    Ipv4Addr::new(10, 0, 0, 2),
    Ipv4Addr::new(10, 0, 0, 3),
    Ipv4Addr::new(10, 0, 0, 9),
];

/// The switch under test: segments 5001 and 5002; ports 0-1 access 5001, 2-3 access 5001
/// isolated, 4 trunk (VID 10 -> 5001, 20 -> 5002), 5 access 5002 isolated; in both segments VXLAN remotes
/// 10.0.0.1 and 10.0.0.2 and NVGRE remote 10.0.0.3.
fn switch() -> (Switch, Vec<bool>, Vec<(Ipv4Addr, TunnelKind, u32)>) {
    let mut switch = Switch::new(SwitchConfig::new(LOCAL));
    // NVGRE reserves VSIDs below 4096: the segments are 5001 and 5002.
    let vni = |n| Vni::new(5000 + n).unwrap();
    for n in [1, 2] {
        let mut segment = SegmentConfig::new(vni(n));
        segment.mac_limit = MAC_LIMIT;
        segment.ageing = Duration::from_secs(5);
        switch.add_segment(segment).unwrap();
    }
    let mut isolated = Vec::new();
    for (segment, private) in [(1, false), (1, false), (1, true), (1, true)] {
        let mut port = PortConfig::access(vni(segment));
        port.isolated = private;
        switch.add_port(port).unwrap();
        isolated.push(private);
    }
    let vid = |n| VlanId::usable(n).unwrap();
    switch
        .add_port(PortConfig::trunk(vec![
            (vid(10), vni(1)),
            (vid(20), vni(2)),
        ]))
        .unwrap();
    isolated.push(false);
    let mut port = PortConfig::access(vni(2));
    port.isolated = true;
    switch.add_port(port).unwrap();
    isolated.push(true);
    let mut remotes = Vec::new();
    for n in [1, 2] {
        for (ip, kind) in [
            (SENDERS[0], TunnelKind::Vxlan),
            (SENDERS[1], TunnelKind::Vxlan),
            (SENDERS[2], TunnelKind::Nvgre),
        ] {
            let id = switch
                .add_remote(vni(n), RemoteConfig::new(ip, kind))
                .unwrap();
            assert_eq!(id.index(), remotes.len());
            remotes.push((ip, kind, 5000 + n));
        }
    }
    (switch, isolated, remotes)
}

/// One input: how far the clock moves, where the frame enters (a port's index, or the
/// underlay), and its bytes.
#[derive(Debug, Clone)]
struct Input {
    step_ms: u64,
    port: Option<usize>,
    bytes: Vec<u8>,
}

fn mac_pool() -> impl Strategy<Value = MacAddr> {
    prop_oneof![
        8 => (0u8..10).prop_map(|n| MacAddr([0x02, 0, 0, 0, 0, n])),
        1 => Just(MacAddr::BROADCAST),
        1 => Just(MacAddr([0x01, 0x00, 0x5e, 0, 0, 1])),
    ]
}

/// An Ethernet frame from the pool, maybe tagged.
fn inner_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        mac_pool(),
        mac_pool(),
        prop::option::of(prop::sample::select(vec![10u16, 20, 30])),
        0usize..80,
    )
        .prop_map(|(dst, src, vid, extra)| {
            let mut bytes = [&dst.0[..], &src.0[..]].concat();
            if let Some(vid) = vid {
                bytes.extend_from_slice(&[0x81, 0x00]);
                bytes.extend_from_slice(&vid.to_be_bytes());
            }
            bytes.extend_from_slice(&[0x08, 0x06]);
            bytes.resize(bytes.len() + 46 + extra, 0x5a);
            bytes
        })
}

/// A tunnel frame from one of the senders, VNI 5001 to 5003, VXLAN or NVGRE.
fn tunnel_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        inner_frame(),
        0..SENDERS.len(),
        5001u32..=5003,
        any::<bool>(),
    )
        .prop_map(|(mut inner, sender, segment, nvgre)| {
            // A tunnel's inner frame carries no tag: drop it half the time we made one.
            if inner[12..14] == [0x81, 0x00] && segment != 5003 {
                inner.drain(12..16);
            }
            let config = if nvgre {
                TunnelConfig::nvgre(Vsid::new(segment).unwrap(), SENDERS[sender], LOCAL)
            } else {
                TunnelConfig::vxlan(Vni::new(segment).unwrap(), SENDERS[sender], LOCAL)
            };
            let mut buf = vec![0u8; HEADROOM + inner.len()];
            buf[HEADROOM..].copy_from_slice(&inner);
            let whole = HEADROOM..buf.len();
            let range = Encapsulator::new(config)
                .unwrap()
                .encapsulate(&mut buf, whole)
                .unwrap();
            buf[range].to_vec()
        })
}

/// Flips a few bytes, or cuts the frame short, now and then.
fn mutated(frame: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (
        frame,
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        prop::option::weighted(0.1, any::<usize>()),
    )
        .prop_map(|(mut bytes, flips, cut)| {
            // Mostly leave frames whole, so they go deep; flip only one time in four.
            for (at, value) in flips.into_iter().filter(|&(at, _)| at % 4 == 0) {
                let at = at / 4 % bytes.len();
                bytes[at] = value;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            bytes
        })
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => (0u64..2000, 0usize..6, mutated(inner_frame()))
            .prop_map(|(step_ms, port, bytes)| Input { step_ms, port: Some(port), bytes }),
        4 => (0u64..2000, mutated(tunnel_frame()))
            .prop_map(|(step_ms, bytes)| Input { step_ms, port: None, bytes }),
        1 => (0u64..2000, prop::collection::vec(any::<u8>(), 0..120))
            .prop_map(|(step_ms, bytes)| Input { step_ms, port: None, bytes }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_arbitrary_input(inputs in prop::collection::vec(input(), 1..60)) {
        let (mut switch, isolated, remotes) = switch();
        let ports: Vec<PortId> = switch.ports().collect();
        let mut now = Duration::ZERO;
        let mut buf = vec![0u8; HEADROOM + 256];
        let mut out = vec![0u8; HEADROOM + 256];
        for input in inputs {
            now += Duration::from_millis(input.step_ms);
            let range = HEADROOM..HEADROOM + input.bytes.len();
            buf[range.clone()].copy_from_slice(&input.bytes);
            let ingress = match input.port {
                Some(index) => Ingress::Port(ports[index]),
                None => Ingress::Underlay,
            };
            let verdict = switch.receive(now, ingress, &mut buf, range);
            for (segment, _) in switch.segments() {
                prop_assert!(switch.mac_table().segment_len(segment) <= MAC_LIMIT);
            }
            let Verdict::Forward(forward) = verdict else { continue };
            if let Ingress::Port(port) = ingress {
                prop_assert_eq!(forward.source, Location::Port(port));
            }
            for egress in switch.targets().to_vec() {
                prop_assert_ne!(egress, forward.source, "left by its ingress");
                match (forward.source, egress) {
                    (Location::Remote(a), Location::Remote(b)) => {
                        prop_assert_ne!(remotes[a.index()].1, remotes[b.index()].1, "split horizon");
                    }
                    (Location::Port(a), Location::Port(b)) => {
                        prop_assert!(!(isolated[a.index()] && isolated[b.index()]), "isolated");
                    }
                    _ => {}
                }
                let inner = &buf[forward.frame.clone()];
                let Ok(sent) = switch.emit_copy(&forward, egress, inner, &mut out) else { continue };
                if let Location::Remote(remote) = egress {
                    let (ip, kind, segment) = remotes[remote.index()];
                    let (frame, _) = Decoder::new().decode_partial(&out[sent]);
                    prop_assert_eq!(frame.outer.ipv4.map(|ip| ip.dst_addr()), Some(ip));
                    let tunnel = frame.tunnel.unwrap();
                    prop_assert_eq!(tunnel.segment(), segment);
                    prop_assert_eq!(matches!(tunnel, Tunnel::Nvgre(_)), kind == TunnelKind::Nvgre);
                }
            }
        }
    }
}
