//! Whole-stack decode: tunnelwire against etherparse and pnet_packet on the same frames.
//!
//! Each function decodes the same 64 varied frames (outer Ethernet/IPv4/UDP/VXLAN or
//! Ethernet/IPv4/NVGRE, inner Ethernet/IPv4/UDP) and extracts the same values: the
//! segment ID, the outer source address, the inner addresses and ports. etherparse and
//! pnet_packet decode the outer stack, the tunnel header by hand, then the inner stack.
//!
//! `cargo bench --bench decode`, then `python3 benches/summary.py` for ns per frame and
//! ratios.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pnet_packet::Packet;
use tunnelwire::packet::Decoder;
use tunnelwire::wire::{
    EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr, NvgreRepr, UdpRepr, Vni,
    Vsid, VxlanRepr,
};

const FRAMES: usize = 64;

/// The values every decoder extracts, folded into one number so nothing is optimised
/// away and the three decoders can be checked to agree.
fn digest(
    segment: u32,
    outer_src: Ipv4Addr,
    inner_src: Ipv4Addr,
    inner_dst: Ipv4Addr,
    ports: (u16, u16),
) -> u64 {
    u64::from(segment)
        ^ u64::from(u32::from(outer_src)).rotate_left(7)
        ^ u64::from(u32::from(inner_src)).rotate_left(19)
        ^ u64::from(u32::from(inner_dst)).rotate_left(31)
        ^ (u64::from(ports.0) << 40)
        ^ (u64::from(ports.1) << 24)
}

/// Deterministic pseudo-random numbers (xorshift), so every run measures the same frames.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
}

fn emit_eth_ipv4(out: &mut Vec<u8>, rng: &mut Rng, protocol: IpProtocol, payload_len: usize) {
    let mut bytes = [0u8; 34];
    let mac = |rng: &mut Rng| {
        let v = rng.next().to_be_bytes();
        MacAddr([0x02, 0, v[0], v[1], v[2], v[3]])
    };
    EthernetRepr {
        dst_addr: mac(rng),
        src_addr: mac(rng),
        ethertype: EtherType::IPV4,
    }
    .emit(&mut bytes)
    .unwrap();
    let mut ip = Ipv4Repr::new(
        Ipv4Addr::from(rng.next()),
        Ipv4Addr::from(rng.next()),
        protocol,
        payload_len as u16,
    );
    ip.ident = rng.next() as u16;
    ip.emit(&mut bytes[14..]).unwrap();
    Ipv4Packet::new_unchecked(&mut bytes[14..]).fill_checksum();
    out.extend_from_slice(&bytes);
}

fn emit_udp(out: &mut Vec<u8>, rng: &mut Rng, dst_port: u16, payload_len: usize) {
    let mut bytes = [0u8; 8];
    UdpRepr::new(rng.next() as u16 | 0xc000, dst_port, payload_len as u16)
        .emit(&mut bytes)
        .unwrap();
    out.extend_from_slice(&bytes);
}

/// 64 frames: inner UDP payloads of 0 to ~1400 bytes, random addresses and ports.
fn frames(nvgre: bool) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x7348_7637);
    (0..FRAMES)
        .map(|i| {
            let payload = (i * 997) % 1400;
            let mut inner = Vec::new();
            emit_eth_ipv4(&mut inner, &mut rng, IpProtocol::UDP, 8 + payload);
            let inner_port = rng.next() as u16;
            emit_udp(&mut inner, &mut rng, inner_port, payload);
            inner.resize(inner.len() + payload, 0xa5);
            let mut tunnel = [0u8; 8];
            let segment = rng.next() & 0xff_ffff;
            let mut frame = Vec::new();
            if nvgre {
                NvgreRepr::new(Vsid::new(segment).unwrap(), rng.next() as u8)
                    .emit(&mut tunnel)
                    .unwrap();
                emit_eth_ipv4(&mut frame, &mut rng, IpProtocol::GRE, 8 + inner.len());
            } else {
                VxlanRepr::new(Vni::new(segment).unwrap())
                    .emit(&mut tunnel)
                    .unwrap();
                emit_eth_ipv4(&mut frame, &mut rng, IpProtocol::UDP, 16 + inner.len());
                emit_udp(&mut frame, &mut rng, 4789, 8 + inner.len());
            }
            frame.extend_from_slice(&tunnel);
            frame.extend_from_slice(&inner);
            frame
        })
        .collect()
}

fn tunnelwire(decoder: &Decoder, frame: &[u8]) -> Option<u64> {
    let f = decoder.decode(frame).ok()?;
    let inner = f.inner.ipv4?;
    Some(digest(
        f.tunnel?.segment(),
        f.outer.ipv4?.src_addr(),
        inner.src_addr(),
        inner.dst_addr(),
        f.inner.ports()?,
    ))
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

/// The floor: a minimal hand-written decoder that checks every length it relies on and
/// nothing else, keeping no views.
fn hand_written(frame: &[u8], nvgre: bool) -> Option<u64> {
    fn ipv4(frame: &[u8]) -> Option<(u8, Ipv4Addr, Ipv4Addr, &[u8])> {
        if frame.get(12..14)? != [0x08, 0x00] {
            return None;
        }
        let ip = frame.get(14..)?;
        let header_len = usize::from(*ip.first()? & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
        if ip[0] >> 4 != 4 || header_len < 20 || total < header_len || total > ip.len() {
            return None;
        }
        let addr = |at: usize| Ipv4Addr::new(ip[at], ip[at + 1], ip[at + 2], ip[at + 3]);
        Some((ip[9], addr(12), addr(16), &ip[header_len..total]))
    }
    fn udp(payload: &[u8]) -> Option<((u16, u16), &[u8])> {
        let len = usize::from(u16::from_be_bytes([*payload.get(4)?, *payload.get(5)?]));
        if len < 8 || len > payload.len() {
            return None;
        }
        let port = |at: usize| u16::from_be_bytes([payload[at], payload[at + 1]]);
        Some(((port(0), port(2)), &payload[8..len]))
    }
    let (_, outer_src, _, payload) = ipv4(frame)?;
    let payload = if nvgre { payload } else { udp(payload)?.1 };
    let (segment, inner) = if nvgre {
        nvgre_by_hand(payload)?
    } else {
        vxlan_by_hand(payload)?
    };
    let (_, src, dst, payload) = ipv4(inner)?;
    let (ports, _) = udp(payload)?;
    Some(digest(segment, outer_src, src, dst, ports))
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
