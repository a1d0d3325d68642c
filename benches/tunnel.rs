//! The tunnel engine: in-place encapsulation, decapsulation, translation, the flow hash,
//! the checksum, and a VTEP's receive-to-send path.
//!
//! The workloads and the hand-written floors are benches/paths (64 inner
//! Ethernet/IPv4/UDP frames of 64 to 1500 bytes, each with its own flow, behind
//! `HEADROOM` bytes); each floor does what tunnelwire does, asserted byte for byte before
//! timing. etherparse builds the same VXLAN outer headers with its header types.
//!
//! `cargo bench --bench tunnel`, then `python3 benches/summary.py vxlan_encap nvgre_encap
//! decap translate receive_to_send flow_hash checksum`. Criterion times each function
//! for seconds, one after another; `cargo bench --bench interleaved` gives ratios that a
//! noisy machine does not skew.

use std::hint::black_box;
use std::ops::Range;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tunnelwire::checksum;
use tunnelwire::tunnel::flow::FlowKey;
use tunnelwire::tunnel::{Decapsulator, Encapsulator, PortRange, TunnelConfig};
use tunnelwire::wire::Vni;

#[path = "paths/mod.rs"]
mod paths;

use paths::{DST, FRAMES, Path, SRC};

/// The outer headers etherparse writes for VXLAN, serialised into the headroom.
fn etherparse_encap(buf: &mut [u8], inner: Range<usize>, vni: u32) -> Range<usize> {
    use etherparse::{EtherType as EpEtherType, Ethernet2Header, IpNumber, Ipv4Header, UdpHeader};
    let key = FlowKey::from_frame(&buf[inner.clone()]);
    let port = key.hash().source_port(PortRange::DYNAMIC);
    let start = inner.start - 50;
    let udp_len = 16 + inner.len();
    let eth = Ethernet2Header {
        source: [0x02, 0, 0, 0, 0, 1],
        destination: [0x02, 0, 0, 0, 0, 2],
        ether_type: EpEtherType::IPV4,
    };
    let mut ip = Ipv4Header::new(
        udp_len as u16,
        64,
        IpNumber::UDP,
        SRC.octets(),
        DST.octets(),
    )
    .unwrap();
    ip.dont_fragment = true;
    ip.header_checksum = ip.calc_header_checksum();
    let udp = UdpHeader::without_ipv4_checksum(port, 4789, udp_len - 8).unwrap();
    let header = &mut buf[start..inner.start];
    header[..14].copy_from_slice(&eth.to_bytes());
    header[14..34].copy_from_slice(&ip.to_bytes());
    header[34..42].copy_from_slice(&udp.to_bytes());
    header[42..50].copy_from_slice(&[
        0x08,
        0,
        0,
        0,
        (vni >> 16) as u8,
        (vni >> 8) as u8,
        vni as u8,
        0,
    ]);
    start..inner.end
}

/// Each path's tunnelwire arm and floor, and etherparse for VXLAN encapsulation.
fn paths(c: &mut Criterion) {
    for path in [
        Path::EncapVxlan,
        Path::EncapNvgre,
        Path::Decap,
        Path::Translate,
    ] {
        let (mut ours, mut floor) = path.arms();
        let mut g = c.benchmark_group(path.name());
        g.throughput(Throughput::Elements(path.packets_per_pass() as u64));
        g.bench_function("tunnelwire", |b| b.iter(|| ours.pass()));
        g.bench_function("hand_written", |b| b.iter(|| floor.pass()));
        if path == Path::EncapVxlan {
            let mut bufs = paths::inner_buffers();
            g.bench_function("etherparse", |b| {
                b.iter(|| {
                    for (buf, inner) in &mut bufs {
                        black_box(etherparse_encap(black_box(buf), inner.clone(), 4242));
                    }
                })
            });
        }
        g.finish();
    }
}

/// A VTEP's receive-to-send path, per packet: decapsulate a VXLAN frame from one remote,
/// then encapsulate its inner frame towards another, in the same buffer (the outer
/// headers' room is the new headroom). Packets per second per core is 1000 / ns.
fn receive_to_send(c: &mut Criterion) {
    let mut frames = paths::vxlan_buffers();
    let decapsulator = Decapsulator::default();
    let mut to_next = Encapsulator::new(TunnelConfig {
        mtu: paths::MTU,
        ..TunnelConfig::vxlan(
            Vni::new(4343).unwrap(),
            SRC,
            std::net::Ipv4Addr::new(10, 99, 0, 3),
        )
    })
    .unwrap();
    let mut g = c.benchmark_group("receive_to_send");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.bench_function("tunnelwire", |b| {
        b.iter(|| {
            for (buf, frame) in &mut frames {
                let found = decapsulator
                    .decapsulate(black_box(&mut buf[frame.clone()]))
                    .unwrap();
                let inner = frame.start + found.inner.start..frame.start + found.inner.end;
                *frame = to_next.encapsulate(buf, inner).unwrap();
            }
        })
    });
    g.finish();
}

fn flow_hash(c: &mut Criterion) {
    let bufs = paths::inner_buffers();
    let mut g = c.benchmark_group("flow_hash");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.bench_function("tunnelwire", |b| {
        b.iter(|| {
            bufs.iter().fold(0u64, |acc, (buf, inner)| {
                acc ^ FlowKey::from_frame(black_box(&buf[inner.clone()])).hash().0
            })
        })
    });
    g.finish();
}

fn checksum_speed(c: &mut Criterion) {
    let payload: Vec<u8> = (0..1500u32).map(|i| (i * 7) as u8).collect();
    let mut g = c.benchmark_group("checksum");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("tunnelwire", |b| {
        b.iter(|| checksum::sum(black_box(&payload)))
    });
    g.bench_function("etherparse", |b| {
        b.iter(|| {
            etherparse::checksum::Sum16BitWords::new()
                .add_slice(black_box(&payload))
                .ones_complement()
        })
    });
    g.finish();
}

criterion_group!(benches, paths, receive_to_send, flow_hash, checksum_speed);
criterion_main!(benches);
