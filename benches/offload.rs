//! The offloads on a 64 KiB TCP/IPv4 super-frame (65535 bytes of IP, MSS 1448, 46
//! segments): segmentation into one reused buffer (headers copied, payload copied and
//! summed once, every checksum written), and coalescing of those 46 segments back (each
//! verified, its payload copied into the slot).
//!
//! No baseline: nothing else in Rust does both. Before timing, the segments are checked
//! to coalesce back to the super-frame's bytes, so what is timed is the real work.
//!
//! `cargo bench --bench offload`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tunnelwire::offload::{
    Coalescer, Flags, GsoType, MAX_SUPER_FRAME_LEN, Segmenter, VirtioNetHdr,
};
use tunnelwire::wire::Ipv4Packet;

const PAYLOAD: usize = 65535 - 40;
const MSS: u16 = 1448;

/// The super-frame as a TAP device hands it over: the TCP checksum field holds the
/// pseudo-header's sum.
fn super_frame() -> (Vec<u8>, VirtioNetHdr) {
    let mut f = vec![0u8; 54 + PAYLOAD];
    f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14..24].copy_from_slice(&[0x45, 0, 0xff, 0xff, 0x12, 0x34, 0x40, 0, 64, 6]);
    f[26..34].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    f[34..38].copy_from_slice(&[0xc0, 0x00, 0x01, 0xbb]);
    f[46..48].copy_from_slice(&[0x50, 0x10]);
    for (i, b) in f[54..].iter_mut().enumerate() {
        *b = (i * 31) as u8;
    }
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    let pseudo = tunnelwire::checksum::pseudo_header_ipv4(
        [10, 0, 0, 1].into(),
        [10, 0, 0, 2].into(),
        6,
        (20 + PAYLOAD) as u16,
    );
    f[50..52].copy_from_slice(&pseudo.to_be_bytes());
    let hdr = VirtioNetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type: GsoType::TCPV4,
        hdr_len: 54,
        gso_size: MSS,
        csum_start: 34,
        csum_offset: 16,
    };
    (f, hdr)
}

fn segments(frame: &[u8], hdr: &VirtioNetHdr) -> Vec<Vec<u8>> {
    let mut segmenter = Segmenter::new(frame, hdr).unwrap();
    let mut out = vec![0u8; segmenter.max_segment_len()];
    let mut all = Vec::new();
    while let Some(len) = segmenter.next_into(&mut out) {
        all.push(out[..len.unwrap()].to_vec());
    }
    all
}

fn offload(c: &mut Criterion) {
    let (frame, hdr) = super_frame();
    let all = segments(&frame, &hdr);
    assert_eq!(all.len(), 46);
    let mut storage = vec![0u8; MAX_SUPER_FRAME_LEN];
    let mut back = Vec::new();
    let mut coalescer = Coalescer::<1>::new(&mut storage);
    for s in &all {
        coalescer.push(s, |e| back.push((e.hdr, e.frame.to_vec())));
    }
    coalescer.flush(|e| back.push((e.hdr, e.frame.to_vec())));
    assert_eq!(back, [(hdr, frame.clone())], "the segments coalesce back");

    let mut group = c.benchmark_group("offload_64k");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    let mut out = vec![0u8; 54 + usize::from(MSS)];
    group.bench_function("segment", |b| {
        b.iter(|| {
            let mut segmenter = Segmenter::new(black_box(&frame), &hdr).unwrap();
            let mut total = 0;
            while let Some(len) = segmenter.next_into(&mut out) {
                total += len.unwrap();
            }
            black_box(total)
        })
    });
    group.bench_function("coalesce", |b| {
        let mut coalescer = Coalescer::<1>::new(&mut storage);
        b.iter(|| {
            let mut total = 0;
            for s in &all {
                coalescer.push(black_box(s), |e| total += e.frame.len());
            }
            coalescer.flush(|e| total += e.frame.len());
            black_box(total)
        })
    });
    group.finish();
}

criterion_group!(benches, offload);
criterion_main!(benches);
