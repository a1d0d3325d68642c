//! The switch core's invariants under arbitrary input, for a fuzz target (`switch`, which
//! hands its raw input to [`switch`]) and for `tests/switch_invariants.rs`, which drives
//! [`run`] from proptest on stable. One switch is fed a sequence of (time step, ingress,
//! bytes); after every frame:
//! - nothing panics;
//! - no segment's MAC table grows past its limit;
//! - nothing leaves by its ingress port or goes back to the remote that sent it;
//! - nothing crosses between two remotes of one encapsulation;
//! - nothing reaches an isolated port from another isolated port;
//! - every copy to a remote is a tunnel frame of the right kind and segment to its address.

use std::net::Ipv4Addr;
use std::time::Duration;

use tunnelwire::packet::Decoder;
use tunnelwire::switch::{
    Ingress, Location, PortConfig, PortId, RemoteConfig, SegmentConfig, Switch, SwitchConfig,
    Verdict,
};
use tunnelwire::tunnel::{Encapsulator, HEADROOM, TunnelConfig, TunnelKind};
use tunnelwire::wire::{VlanId, Vni, Vsid};

/// The switch's own underlay address.
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
/// Most addresses each segment learns.
pub const MAC_LIMIT: usize = 6;
/// How long learned addresses live.
pub const AGEING: Duration = Duration::from_secs(5);
/// Local ports of the switch under test.
pub const PORTS: usize = 6;
/// Segments: NVGRE reserves VSIDs below 4096. 5003 has no segment.
pub const SEGMENTS: [u32; 3] = [5001, 5002, 5003];
/// Tunnel senders: the four remotes of both segments and a stranger.
pub const SENDERS: [Ipv4Addr; 5] = [
    Ipv4Addr::new(10, 0, 0, 1),
    Ipv4Addr::new(10, 0, 0, 2),
    Ipv4Addr::new(10, 0, 0, 3),
    Ipv4Addr::new(10, 0, 0, 4),
    Ipv4Addr::new(10, 0, 0, 9),
];
/// The encapsulations a tunnel frame may be sent in, by a record's choice.
pub const KINDS: [TunnelKind; 3] = [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve];

/// One frame of a run: how far the clock moves first, where the frame enters (a port's
/// index below [`PORTS`], or `None` for the underlay), and its bytes.
#[derive(Debug, Clone)]
pub struct Input {
    /// Milliseconds the clock moves before the frame.
    pub step_ms: u64,
    /// The ingress port's index, or `None` for a tunnel frame.
    pub port: Option<usize>,
    /// The frame.
    pub bytes: Vec<u8>,
}

/// What the checks know of the switch: whether each port is isolated, and each remote's
/// address, encapsulation and segment.
struct Layout {
    isolated: Vec<bool>,
    remotes: Vec<(Ipv4Addr, TunnelKind, u32)>,
}

/// Segments 5001 and 5002; ports 0-1 access 5001, 2-3 access 5001 isolated, 4 trunk
/// (VID 10 -> 5001, 20 -> 5002), 5 access 5002 isolated; in both segments VXLAN remotes
/// 10.0.0.1 and 10.0.0.2, the NVGRE remote 10.0.0.3 and the Geneve remote 10.0.0.4: a
/// three-way gateway.
fn build() -> (Switch, Layout) {
    let mut switch = Switch::new(SwitchConfig::new(LOCAL));
    let vni = |n: u32| Vni::new(n).unwrap();
    let [a, b, _] = SEGMENTS;
    for n in [a, b] {
        let mut segment = SegmentConfig::new(vni(n));
        segment.mac_limit = MAC_LIMIT;
        segment.ageing = AGEING;
        switch.add_segment(segment).unwrap();
    }
    let mut isolated = Vec::new();
    let vid = |n| VlanId::usable(n).unwrap();
    let ports = [
        (PortConfig::access(vni(a)), false),
        (PortConfig::access(vni(a)), false),
        (PortConfig::access(vni(a)), true),
        (PortConfig::access(vni(a)), true),
        (
            PortConfig::trunk(vec![(vid(10), vni(a)), (vid(20), vni(b))]),
            false,
        ),
        (PortConfig::access(vni(b)), true),
    ];
    for (mut port, private) in ports {
        port.isolated = private;
        switch.add_port(port).unwrap();
        isolated.push(private);
    }
    let mut remotes = Vec::new();
    for n in [a, b] {
        for (ip, kind) in [
            (SENDERS[0], TunnelKind::Vxlan),
            (SENDERS[1], TunnelKind::Vxlan),
            (SENDERS[2], TunnelKind::Nvgre),
            (SENDERS[3], TunnelKind::Geneve),
        ] {
            let id = switch
                .add_remote(vni(n), RemoteConfig::new(ip, kind))
                .unwrap();
            assert_eq!(id.index(), remotes.len());
            remotes.push((ip, kind, n));
        }
    }
    (switch, Layout { isolated, remotes })
}

/// `inner` encapsulated in `kind` as `sender` would send it to the switch, in segment
/// `segment`.
pub fn tunnel_frame(inner: &[u8], sender: Ipv4Addr, segment: u32, kind: TunnelKind) -> Vec<u8> {
    let config = match kind {
        TunnelKind::Nvgre => TunnelConfig::nvgre(Vsid::new(segment).unwrap(), sender, LOCAL),
        TunnelKind::Vxlan => TunnelConfig::vxlan(Vni::new(segment).unwrap(), sender, LOCAL),
        TunnelKind::Geneve => TunnelConfig::geneve(Vni::new(segment).unwrap(), sender, LOCAL),
    };
    let mut buf = vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(inner);
    let whole = HEADROOM..buf.len();
    // Frames the encapsulator refuses (shorter than Ethernet, say) go in unwrapped.
    match Encapsulator::new(config)
        .unwrap()
        .encapsulate(&mut buf, whole)
    {
        Ok(range) => buf[range].to_vec(),
        Err(_) => inner.to_vec(),
    }
}

/// The fuzz target: reads `data` as records of four head bytes and a body, then [`run`]s
/// them. Head: the time step (in 50 ms units; 255 jumps past the ageing time), where the
/// frame enters (low 3 bits: a port below [`PORTS`], else the underlay), how the body is
/// sent (bit 0: as is; else encapsulated, bits 1 and 6 the kind (VXLAN, NVGRE, Geneve,
/// modulo 3), bits 2-3 and 7 the sender, bits 4-5 the segment), and the body's length.
pub fn switch(data: &[u8]) {
    let mut inputs = Vec::new();
    let mut rest = data;
    while let [step, at, how, len, tail @ ..] = rest {
        let (body, next) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = next;
        let step_ms = match step {
            255 => AGEING.as_millis() as u64 + 1,
            n => u64::from(*n) * 50,
        };
        let port = Some(usize::from(at & 7)).filter(|&p| p < PORTS);
        let bytes = if port.is_some() || how & 1 == 1 {
            body.to_vec()
        } else {
            let sender = SENDERS[usize::from(how >> 2 & 3 | how >> 5 & 4) % SENDERS.len()];
            let segment = SEGMENTS[usize::from(how >> 4 & 3) % SEGMENTS.len()];
            let kind = KINDS[usize::from(how >> 1 & 1 | how >> 5 & 2) % KINDS.len()];
            tunnel_frame(body, sender, segment, kind)
        };
        inputs.push(Input {
            step_ms,
            port,
            bytes,
        });
    }
    run(&inputs);
}

/// Feeds `inputs` to a fresh switch, checking every invariant after each frame.
///
/// # Panics
/// When an invariant fails.
pub fn run(inputs: &[Input]) {
    let (mut switch, layout) = build();
    let ports: Vec<PortId> = switch.ports().collect();
    let mut now = Duration::ZERO;
    let mut buf = vec![0u8; HEADROOM + 2048];
    let mut out = vec![0u8; HEADROOM + 2048];
    for input in inputs {
        now += Duration::from_millis(input.step_ms);
        let len = input.bytes.len().min(2048);
        let range = HEADROOM..HEADROOM + len;
        buf[range.clone()].copy_from_slice(&input.bytes[..len]);
        let ingress = match input.port {
            Some(index) => Ingress::Port(ports[index]),
            None => Ingress::Underlay,
        };
        let verdict = switch.receive(now, ingress, &mut buf, range);
        for (segment, _) in switch.segments() {
            assert!(
                switch.mac_table().segment_len(segment) <= MAC_LIMIT,
                "MAC limit"
            );
        }
        let Verdict::Forward(forward) = verdict else {
            continue;
        };
        if let Ingress::Port(port) = ingress {
            assert_eq!(forward.source, Location::Port(port));
        }
        for egress in switch.targets().to_vec() {
            assert_ne!(egress, forward.source, "left by its ingress");
            match (forward.source, egress) {
                (Location::Remote(a), Location::Remote(b)) => {
                    let (from, to) = (layout.remotes[a.index()].1, layout.remotes[b.index()].1);
                    assert_ne!(from, to, "split horizon");
                }
                (Location::Port(a), Location::Port(b)) => {
                    let both = layout.isolated[a.index()] && layout.isolated[b.index()];
                    assert!(!both, "isolated port to isolated port");
                }
                _ => {}
            }
            let inner = &buf[forward.frame.clone()];
            let Ok(sent) = switch.emit_copy(&forward, egress, inner, &mut out) else {
                continue;
            };
            if let Location::Remote(remote) = egress {
                let (ip, kind, segment) = layout.remotes[remote.index()];
                let (frame, _) = Decoder::new().decode_partial(&out[sent]);
                assert_eq!(frame.outer.ipv4.map(|ip| ip.dst_addr()), Some(ip));
                let tunnel = frame.tunnel.expect("a tunnel frame");
                assert_eq!(tunnel.segment(), segment);
                assert_eq!(tunnel.kind(), kind, "the remote's own encapsulation");
            }
        }
    }
}
