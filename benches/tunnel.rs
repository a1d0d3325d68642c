//! The tunnel engine: in-place encapsulation, decapsulation, translation, the flow hash
//! and the checksum.
//!
//! 64 inner Ethernet/IPv4/UDP frames of 64 to 1500 bytes, each behind `HEADROOM` bytes.
//! Encapsulation is measured in place, flow hash and IPv4 checksum included, beside
//! etherparse writing the same outer headers (its header structs, serialised into the
//! headroom) and a minimal hand-written encapsulation (a fixed 50-byte header, full IPv4
//! checksum, the same flow hash).
//!
//! `cargo bench --bench tunnel`, then `python3 benches/summary.py vxlan_encap nvgre_encap
//! decap translate flow_hash checksum`.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::ops::Range;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tunnelwire::checksum;
use tunnelwire::tunnel::flow::FlowKey;
use tunnelwire::tunnel::{
    Decapsulator, Encapsulator, HEADROOM, PortRange, Translator, TunnelConfig, TunnelKind,
};
use tunnelwire::wire::{
    EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr, UdpRepr, Vni, Vsid,
};

const FRAMES: usize = 64;
/// A jumbo underlay, so 1500-byte inner frames fit with their outer headers.
const MTU: u16 = 9000;
const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

/// 64 buffers, each `HEADROOM` bytes then an inner frame of 64 to 1500 bytes with its
/// own flow.
fn buffers() -> Vec<(Vec<u8>, Range<usize>)> {
    (0..FRAMES)
        .map(|i| {
            let len = 64 + i * (1500 - 64) / (FRAMES - 1);
            let mut buf = vec![0u8; HEADROOM + len];
            let frame = &mut buf[HEADROOM..];
            EthernetRepr {
                dst_addr: MacAddr([0x02, 0, 0, 0, 1, i as u8]),
                src_addr: MacAddr([0x02, 0, 0, 0, 2, i as u8]),
                ethertype: EtherType::IPV4,
            }
            .emit(frame)
            .unwrap();
            let ip_payload = (len - 34) as u16;
            let mut ip = Ipv4Repr::new(
                Ipv4Addr::new(172, 16, i as u8, 1),
                Ipv4Addr::new(172, 17, 0, i as u8),
                IpProtocol::UDP,
                ip_payload,
            );
            ip.ecn = (i % 3) as u8;
            ip.emit(&mut frame[14..]).unwrap();
            Ipv4Packet::new_unchecked(&mut frame[14..]).fill_checksum();
            UdpRepr::new(40000 + i as u16, 443, ip_payload - 8)
                .emit(&mut frame[34..])
                .unwrap();
            (buf, HEADROOM..HEADROOM + len)
        })
        .collect()
}

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

/// The floor: a fixed 50-byte header, lengths and port patched, IPv4 checksum summed.
fn hand_written_encap(template: &[u8; 50], buf: &mut [u8], inner: Range<usize>) -> Range<usize> {
    let port = FlowKey::from_frame(&buf[inner.clone()])
        .hash()
        .source_port(PortRange::DYNAMIC);
    let start = inner.start - 50;
    let header = &mut buf[start..inner.start];
    header.copy_from_slice(template);
    header[16..18].copy_from_slice(&((36 + inner.len()) as u16).to_be_bytes());
    header[34..36].copy_from_slice(&port.to_be_bytes());
    header[38..40].copy_from_slice(&((16 + inner.len()) as u16).to_be_bytes());
    let sum = checksum::finish(checksum::sum(&header[14..34]));
    header[24..26].copy_from_slice(&sum.to_be_bytes());
    start..inner.end
}

fn encap(c: &mut Criterion) {
    let config = |nvgre: bool| {
        let mut config = if nvgre {
            TunnelConfig::nvgre(Vsid::new(4242).unwrap(), SRC, DST)
        } else {
            TunnelConfig::vxlan(Vni::new(42).unwrap(), SRC, DST)
        };
        config.src_mac = MacAddr([0x02, 0, 0, 0, 0, 1]);
        config.dst_mac = MacAddr([0x02, 0, 0, 0, 0, 2]);
        config.mtu = MTU;
        config
    };
    for (group, nvgre) in [("vxlan_encap", false), ("nvgre_encap", true)] {
        let mut bufs = buffers();
        let mut encapsulator = Encapsulator::new(config(nvgre)).unwrap();
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(FRAMES as u64));
        g.bench_function("tunnelwire", |b| {
            b.iter(|| {
                for (buf, inner) in &mut bufs {
                    black_box(
                        encapsulator
                            .encapsulate(black_box(buf), inner.clone())
                            .unwrap(),
                    );
                }
            })
        });
        if !nvgre {
            // The template the hand-written floor copies: what tunnelwire writes, port 0.
            let mut template = [0u8; 50];
            let (buf, inner) = &mut bufs[0];
            let frame = encapsulator.encapsulate(buf, inner.clone()).unwrap();
            template.copy_from_slice(&buf[frame.start..inner.start]);
            template[24..26].fill(0);
            g.bench_function("hand_written", |b| {
                b.iter(|| {
                    for (buf, inner) in &mut bufs {
                        black_box(hand_written_encap(&template, black_box(buf), inner.clone()));
                    }
                })
            });
            g.bench_function("etherparse", |b| {
                b.iter(|| {
                    for (buf, inner) in &mut bufs {
                        black_box(etherparse_encap(black_box(buf), inner.clone(), 42));
                    }
                })
            });
        }
        g.finish();
    }
}

/// The 64 frames, VXLAN-encapsulated once.
fn vxlan_frames() -> Vec<(Vec<u8>, Range<usize>)> {
    let config = TunnelConfig {
        mtu: MTU,
        ..TunnelConfig::vxlan(Vni::new(42).unwrap(), SRC, DST)
    };
    let mut encapsulator = Encapsulator::new(config).unwrap();
    buffers()
        .into_iter()
        .map(|(mut buf, inner)| {
            let frame = encapsulator.encapsulate(&mut buf, inner).unwrap();
            (buf, frame)
        })
        .collect()
}

fn decap(c: &mut Criterion) {
    let mut frames = vxlan_frames();
    let decapsulator = Decapsulator::default();
    let mut g = c.benchmark_group("decap");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.bench_function("tunnelwire", |b| {
        b.iter(|| {
            for (buf, frame) in &mut frames {
                black_box(
                    decapsulator
                        .decapsulate(black_box(&mut buf[frame.clone()]))
                        .unwrap(),
                );
            }
        })
    });
    g.finish();
}

fn translate(c: &mut Criterion) {
    let mut frames = vxlan_frames();
    let translator = Translator {
        mtu: MTU,
        ..Translator::default()
    };
    let mut g = c.benchmark_group("translate");
    // Each frame goes to NVGRE and back: two translations.
    g.throughput(Throughput::Elements(2 * FRAMES as u64));
    g.bench_function("tunnelwire", |b| {
        b.iter(|| {
            for (buf, frame) in &mut frames {
                let nvgre = translator
                    .translate(black_box(buf), frame.clone(), TunnelKind::Nvgre)
                    .unwrap();
                *frame = translator.translate(buf, nvgre, TunnelKind::Vxlan).unwrap();
            }
        })
    });
    g.finish();
}

fn flow_hash(c: &mut Criterion) {
    let bufs = buffers();
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

criterion_group!(benches, encap, decap, translate, flow_hash, checksum_speed);
criterion_main!(benches);
