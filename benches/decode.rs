//! Whole-stack decode: tunnelwire against its peers on the same frames.
//!
//! Each arm decodes the same 64 varied frames (outer Ethernet/IPv4/UDP/VXLAN or
//! Ethernet/IPv4/NVGRE, inner Ethernet/IPv4/UDP; benches/paths) and extracts the same
//! values: the segment ID, the outer source address, the inner addresses and ports.
//! etherparse, pnet_packet and ingot decode the outer stack, the tunnel header by hand
//! (none of them has VXLAN or NVGRE), then the inner stack; packet-strata walks the
//! whole stack itself, tunnel included; `tunnelwire_recorder` is tunnelwire's
//! `Decoder::decode_with` into plain values (benches/paths/values.rs); `hand_written` is
//! the floor of benches/paths/floors/decode.rs. Every arm must agree with tunnelwire on every frame before
//! anything is timed or counted.
//!
//! They agree on these well-formed frames, but do not check alike. tunnelwire and its
//! floor check IPv4's version, IHL and total length, refuse fragments, want UDP port
//! 4789 and a UDP length within the packet; etherparse checks the IP and UDP lengths;
//! packet-strata IPv4's version and IHL, a UDP length of at least 8, the tunnel headers'
//! flags; pnet_packet and ingot only that each header fits (ingot also the EtherType
//! and the protocol, which the arm asks of it). So fewer instructions is not a faster
//! decoder of the same thing.
//!
//! ```text
//! cargo bench --bench decode                      # criterion, then:
//! python3 benches/summary.py vxlan_stack nvgre_stack   # ns per frame and ratios
//! cargo bench --bench decode -- --test            # the agreement checks, each arm once
//! decode --count vxlan_stack|nvgre_stack ARM PASSES    # one arm's passes, for callgrind
//! ```
//!
//! Instructions per frame: run `--count` under `valgrind --tool=callgrind` with 4 and
//! 12 passes; the difference of the totals over 8 * 64 frames leaves out the setup (as
//! benches/instructions.sh does for the paths).

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pnet_packet::Packet;
use tunnelwire::packet::Decoder;

#[path = "paths/mod.rs"]
mod paths;

use paths::{FRAMES, floors, tunnel_frames as frames};

/// tunnelwire's values, folded as the peers' are.
fn tunnelwire(decoder: &Decoder, frame: &[u8]) -> Option<u64> {
    paths::decode_tunnelwire(decoder, frame).map(|v| paths::values_digest(&v) ^ u64::from(v.0))
}

/// The same values by tunnelwire's recorder API (`Decoder::decode_with`, the recorders of
/// benches/paths/values.rs).
fn tunnelwire_recorder(decoder: &Decoder, frame: &[u8]) -> Option<u64> {
    paths::values::decode_values_tunnelwire(decoder, frame)
        .map(|v| paths::values_digest(&v) ^ u64::from(v.0))
}

/// The benchmark's values from the peers' addresses.
fn digest(
    segment: u32,
    outer_src: Ipv4Addr,
    inner_src: Ipv4Addr,
    inner_dst: Ipv4Addr,
    ports: (u16, u16),
) -> u64 {
    paths::digest(
        segment,
        u32::from(outer_src),
        u32::from(inner_src),
        u32::from(inner_dst),
        ports,
    )
}

/// The VNI of a VXLAN header, by hand: 8 bytes, I flag set.
fn vxlan_by_hand(payload: &[u8]) -> Option<(u32, &[u8])> {
    let header = payload.get(..8)?;
    (header[0] & 0x08 != 0).then(|| {
        (
            u32::from_be_bytes([0, header[4], header[5], header[6]]),
            &payload[8..],
        )
    })
}

/// The VSID of an NVGRE header, by hand: K set, C/S clear, version 0, 0x6558.
fn nvgre_by_hand(payload: &[u8]) -> Option<(u32, &[u8])> {
    let header = payload.get(..8)?;
    (header[0..4] == [0x20, 0x00, 0x65, 0x58]).then(|| {
        (
            u32::from_be_bytes([0, header[4], header[5], header[6]]),
            &payload[8..],
        )
    })
}

/// What one stack yields: source and destination addresses, UDP ports, the payload.
type StackValues<'a> = (Ipv4Addr, Ipv4Addr, Option<(u16, u16)>, &'a [u8]);

fn etherparse_stack(frame: &[u8]) -> Option<StackValues<'_>> {
    let sliced = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
        return None;
    };
    let header = ip.header();
    let (ports, payload) = match &sliced.transport {
        Some(TransportSlice::Udp(udp)) => (
            Some((udp.source_port(), udp.destination_port())),
            udp.payload(),
        ),
        _ => (None, ip.payload().payload),
    };
    Some((
        header.source_addr(),
        header.destination_addr(),
        ports,
        payload,
    ))
}

fn etherparse(frame: &[u8], nvgre: bool) -> Option<u64> {
    let (outer_src, _, _, payload) = etherparse_stack(frame)?;
    let (segment, inner) = if nvgre {
        nvgre_by_hand(payload)?
    } else {
        vxlan_by_hand(payload)?
    };
    let (src, dst, ports, _) = etherparse_stack(inner)?;
    Some(digest(segment, outer_src, src, dst, ports?))
}

fn pnet(frame: &[u8], nvgre: bool) -> Option<u64> {
    use pnet_packet::ethernet::EthernetPacket;
    use pnet_packet::ipv4::Ipv4Packet;
    use pnet_packet::udp::UdpPacket;
    let eth = EthernetPacket::new(frame)?;
    let ip = Ipv4Packet::new(eth.payload())?;
    let outer_src = ip.get_source();
    let ip_payload = ip.payload();
    let udp;
    let payload = if nvgre {
        ip_payload
    } else {
        udp = UdpPacket::new(ip_payload)?;
        udp.payload()
    };
    let (segment, inner) = if nvgre {
        nvgre_by_hand(payload)?
    } else {
        vxlan_by_hand(payload)?
    };
    let eth = EthernetPacket::new(inner)?;
    let ip = Ipv4Packet::new(eth.payload())?;
    let udp = UdpPacket::new(ip.payload())?;
    Some(digest(
        segment,
        outer_src,
        ip.get_source(),
        ip.get_destination(),
        (udp.get_source(), udp.get_destination()),
    ))
}

/// ingot's way: its zero-copy views (`ValidEthernet`, `ValidIpv4`, `ValidUdp`, generated
/// by its `Ingot` derive), each parsed from the bytes the one before left, the next layer
/// chosen by the hint each parse returns. That is the code ingot's `Parse` derive
/// generates for a declared stack; the derive itself (ingot-macros 0.1.1) fails to infer
/// its types (E0282) in any build that links toml, as this crate's `linux` feature does.
mod ingot_stack {
    use ingot::ethernet::{Ethertype, ValidEthernet};
    use ingot::ip::{IpProtocol, ValidIpv4};
    use ingot::types::HeaderParse;
    use ingot::udp::ValidUdp;

    /// ingot's views over a frame's bytes.
    pub type Ipv4View<'a> = ValidIpv4<&'a [u8]>;
    pub type UdpView<'a> = ValidUdp<&'a [u8]>;

    /// Ethernet, then IPv4: the IPv4 view, its protocol, the bytes after it.
    pub fn ipv4(frame: &[u8]) -> Option<(Ipv4View<'_>, IpProtocol, &[u8])> {
        let (_, next, rest) = ValidEthernet::parse(frame).ok()?;
        (next == Some(Ethertype::IPV4)).then_some(())?;
        let (ip, next, rest) = ValidIpv4::parse(rest).ok()?;
        Some((ip, next?, rest))
    }

    /// Ethernet, IPv4, then UDP.
    pub fn udp(frame: &[u8]) -> Option<(Ipv4View<'_>, UdpView<'_>, &[u8])> {
        let (ip, protocol, rest) = ipv4(frame)?;
        (protocol == IpProtocol::UDP).then_some(())?;
        let (udp, _, rest) = ValidUdp::parse(rest).ok()?;
        Some((ip, udp, rest))
    }

    /// IP protocol 47, which ingot does not name.
    pub const GRE: IpProtocol = IpProtocol(47);
}

fn ingot(frame: &[u8], nvgre: bool) -> Option<u64> {
    use ingot::ip::Ipv4Ref;
    use ingot::udp::UdpRef;
    let (outer_src, payload) = if nvgre {
        let (ip, protocol, rest) = ingot_stack::ipv4(frame)?;
        (protocol == ingot_stack::GRE).then_some((ip.source(), rest))?
    } else {
        let (ip, _, rest) = ingot_stack::udp(frame)?;
        (ip.source(), rest)
    };
    let (segment, inner) = if nvgre {
        nvgre_by_hand(payload)?
    } else {
        vxlan_by_hand(payload)?
    };
    let (ip, udp, _) = ingot_stack::udp(inner)?;
    Some(digest(
        segment,
        outer_src.into(),
        ip.source().into(),
        ip.destination().into(),
        (udp.source(), udp.destination()),
    ))
}

/// packet-strata's way: one call walks the whole stack through the tunnel (its
/// Innermost mode), keeping the outer IP header and the tunnel header beside the inner
/// layers; its own VXLAN and NVGRE headers give the segment.
fn packet_strata(frame: &[u8], nvgre: bool) -> Option<u64> {
    use packet_strata::packet::header::{NetworkLayer, TransportLayer, TunnelLayer};
    use packet_strata::packet::iter::LinkType;
    use packet_strata::packet::{Packet as Strata, ParseMode};
    let packet = Strata::from_bytes(frame, LinkType::Ethernet, ParseMode::Innermost).ok()?;
    let [tunnel] = packet.tunnels() else {
        return None;
    };
    let Some(NetworkLayer::Ipv4(outer)) = &tunnel.outer else {
        return None;
    };
    let segment = match (&tunnel.tunnel, nvgre) {
        (TunnelLayer::Vxlan(vxlan), false) => vxlan.vni(),
        (TunnelLayer::Nvgre(nvgre), true) => nvgre.vsid(),
        _ => return None,
    };
    let (Some(NetworkLayer::Ipv4(ip)), Some(TransportLayer::Udp(udp))) =
        (packet.network(), packet.transport())
    else {
        return None;
    };
    Some(digest(
        segment,
        outer.header.src_ip(),
        ip.header.src_ip(),
        ip.header.dst_ip(),
        (udp.src_port(), udp.dst_port()),
    ))
}

/// The floor (benches/paths/floors/decode.rs): the same checks as tunnelwire's decoder, by
/// hand, keeping no views.
fn hand_written(frame: &[u8]) -> Option<u64> {
    floors::decode(frame).map(|v| paths::values_digest(&v) ^ u64::from(v.0))
}

/// The decoders compared, in the order they are timed and listed.
#[derive(Clone, Copy)]
enum Arm {
    Tunnelwire,
    TunnelwireRecorder,
    HandWritten,
    Etherparse,
    Pnet,
    Ingot,
    PacketStrata,
}

impl Arm {
    const ALL: [Arm; 7] = [
        Arm::Tunnelwire,
        Arm::TunnelwireRecorder,
        Arm::HandWritten,
        Arm::Etherparse,
        Arm::Pnet,
        Arm::Ingot,
        Arm::PacketStrata,
    ];

    /// The criterion function's name (benches/summary.py lists them by it).
    fn name(self) -> &'static str {
        match self {
            Arm::Tunnelwire => "tunnelwire",
            Arm::TunnelwireRecorder => "tunnelwire_recorder",
            Arm::HandWritten => "hand_written",
            Arm::Etherparse => "etherparse",
            Arm::Pnet => "pnet_packet",
            Arm::Ingot => "ingot",
            Arm::PacketStrata => "packet_strata",
        }
    }

    /// One frame's values, folded.
    fn decode(self, decoder: &Decoder, frame: &[u8], nvgre: bool) -> Option<u64> {
        match self {
            Arm::Tunnelwire => tunnelwire(decoder, frame),
            Arm::TunnelwireRecorder => tunnelwire_recorder(decoder, frame),
            Arm::HandWritten => hand_written(frame),
            Arm::Etherparse => etherparse(frame, nvgre),
            Arm::Pnet => pnet(frame, nvgre),
            Arm::Ingot => ingot(frame, nvgre),
            Arm::PacketStrata => packet_strata(frame, nvgre),
        }
    }

    /// One pass over the frames, folded. The arm is chosen once per pass, so each
    /// arm's loop is compiled for it alone, as if written out.
    fn pass(self, decoder: &Decoder, frames: &[Vec<u8>], nvgre: bool) -> u64 {
        match self {
            Arm::Tunnelwire => fold(frames, |f| tunnelwire(decoder, f)),
            Arm::TunnelwireRecorder => fold(frames, |f| tunnelwire_recorder(decoder, f)),
            Arm::HandWritten => fold(frames, hand_written),
            Arm::Etherparse => fold(frames, |f| etherparse(f, nvgre)),
            Arm::Pnet => fold(frames, |f| pnet(f, nvgre)),
            Arm::Ingot => fold(frames, |f| ingot(f, nvgre)),
            Arm::PacketStrata => fold(frames, |f| packet_strata(f, nvgre)),
        }
    }
}

fn fold(frames: &[Vec<u8>], arm: impl Fn(&[u8]) -> Option<u64>) -> u64 {
    frames
        .iter()
        .fold(0u64, |acc, f| acc ^ arm(black_box(f)).unwrap_or(0))
}

/// A group's frames, once every arm has extracted tunnelwire's values from each.
fn checked_frames(decoder: &Decoder, nvgre: bool) -> Vec<Vec<u8>> {
    let frames = frames(nvgre);
    for (i, frame) in frames.iter().enumerate() {
        let ours = tunnelwire(decoder, frame).expect("tunnelwire decodes");
        for arm in &Arm::ALL[1..] {
            assert_eq!(
                arm.decode(decoder, frame, nvgre),
                Some(ours),
                "{} agrees with tunnelwire on frame {i}",
                arm.name()
            );
        }
    }
    frames
}

/// The group's name and whether its frames are NVGRE.
const GROUPS: [(&str, bool); 2] = [("vxlan_stack", false), ("nvgre_stack", true)];

fn bench_stack(c: &mut Criterion, name: &str, nvgre: bool) {
    let decoder = Decoder::new();
    let frames = checked_frames(&decoder, nvgre);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(FRAMES as u64));
    for arm in Arm::ALL {
        group.bench_function(arm.name(), |b| {
            b.iter(|| arm.pass(&decoder, &frames, nvgre))
        });
    }
    group.finish();
}

/// `--count GROUP ARM PASSES`: the checks, then that many passes of one arm and nothing
/// else, for valgrind to count.
fn count(group: &str, arm: &str, passes: &str) {
    let (_, nvgre) = *GROUPS
        .iter()
        .find(|(name, _)| *name == group)
        .unwrap_or_else(|| panic!("unknown group {group}: vxlan_stack or nvgre_stack"));
    let arm = *Arm::ALL
        .iter()
        .find(|a| a.name() == arm)
        .unwrap_or_else(|| {
            let names: Vec<_> = Arm::ALL.iter().map(|a| a.name()).collect();
            panic!("unknown arm {arm}: one of {}", names.join(", "))
        });
    let passes: usize = passes.parse().expect("a number of passes");
    let decoder = Decoder::new();
    let frames = checked_frames(&decoder, nvgre);
    let mut acc = 0;
    for _ in 0..passes {
        acc ^= arm.pass(&decoder, &frames, nvgre);
    }
    black_box(acc);
}

fn main() {
    // `cargo bench` adds --bench to whatever follows `--`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let [flag, group, arm, passes] = args.as_slice() {
        if flag == "--count" {
            return count(group, arm, passes);
        }
    }
    // What criterion_main! does, with the groups above.
    let mut c = Criterion::default().configure_from_args();
    for (name, nvgre) in GROUPS {
        bench_stack(&mut c, name, nvgre);
    }
    c.final_summary();
}
