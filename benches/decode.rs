//! Whole-stack decode: tunnelwire against etherparse and pnet_packet on the same frames.
//!
//! Each function decodes the same 64 varied frames (outer Ethernet/IPv4/UDP/VXLAN or
//! Ethernet/IPv4/NVGRE, inner Ethernet/IPv4/UDP; benches/paths) and extracts the same
//! values: the segment ID, the outer source address, the inner addresses and ports.
//! etherparse and pnet_packet decode the outer stack, the tunnel header by hand, then the
//! inner stack; `hand_written` is the floor of benches/paths/floors.rs.
//!
//! `cargo bench --bench decode`, then `python3 benches/summary.py` for ns per frame and
//! ratios.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pnet_packet::Packet;
use tunnelwire::packet::Decoder;

#[path = "paths/mod.rs"]
mod paths;

use paths::{FRAMES, floors, tunnel_frames as frames};

/// tunnelwire's values, folded as etherparse's and pnet_packet's are.
fn tunnelwire(decoder: &Decoder, frame: &[u8]) -> Option<u64> {
    paths::decode_tunnelwire(decoder, frame).map(|v| paths::values_digest(&v) ^ u64::from(v.0))
}

/// The benchmark's values from etherparse's and pnet_packet's addresses.
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

/// The floor (benches/paths/floors.rs): the same checks as tunnelwire's decoder, by
/// hand, keeping no views.
fn hand_written(frame: &[u8], _nvgre: bool) -> Option<u64> {
    floors::decode(frame).map(|v| paths::values_digest(&v) ^ u64::from(v.0))
}

fn bench_stack(c: &mut Criterion, name: &str, nvgre: bool) {
    let frames = frames(nvgre);
    let decoder = Decoder::new();
    // All three must extract the same values from every frame before they are timed.
    for frame in &frames {
        let ours = tunnelwire(&decoder, frame).expect("tunnelwire decodes");
        assert_eq!(etherparse(frame, nvgre), Some(ours), "etherparse agrees");
        assert_eq!(pnet(frame, nvgre), Some(ours), "pnet_packet agrees");
        assert_eq!(
            hand_written(frame, nvgre),
            Some(ours),
            "the hand-written floor agrees"
        );
    }
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("tunnelwire", |b| {
        b.iter(|| {
            frames.iter().fold(0u64, |acc, f| {
                acc ^ tunnelwire(&decoder, black_box(f)).unwrap_or(0)
            })
        })
    });
    group.bench_function("etherparse", |b| {
        b.iter(|| {
            frames.iter().fold(0u64, |acc, f| {
                acc ^ etherparse(black_box(f), nvgre).unwrap_or(0)
            })
        })
    });
    group.bench_function("pnet_packet", |b| {
        b.iter(|| {
            frames
                .iter()
                .fold(0u64, |acc, f| acc ^ pnet(black_box(f), nvgre).unwrap_or(0))
        })
    });
    group.bench_function("hand_written", |b| {
        b.iter(|| {
            frames.iter().fold(0u64, |acc, f| {
                acc ^ hand_written(black_box(f), nvgre).unwrap_or(0)
            })
        })
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    bench_stack(c, "vxlan_stack", false);
    bench_stack(c, "nvgre_stack", true);
}

criterion_group!(benches, decode);
criterion_main!(benches);
