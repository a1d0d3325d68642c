//! The Geneve paths (RFC 8926): their workloads, their tunnelwire decode arm and the
//! loops each arm runs; the floors are in `floors_geneve.rs` (and `floors::Encap`).
//!
//! OVN is the common Geneve user: its one option (class 0x0102, type 0x80, critical, 4
//! bytes of data) is fixed in the OVN encapsulator's template, carried by the clean
//! frames decoded and decapsulated, and declared understood by the decapsulator. The
//! mixed frames add what a receiver meets besides (`geneve_frames`).

use std::hint::black_box;
use std::ops::Range;

use tunnelwire::packet::{Decoder, Tunnel};
use tunnelwire::tunnel::{DecapConfig, Decapsulator, TunnelConfig, UnderstoodOptions};
use tunnelwire::wire::{EtherType, GeneveOptions, GeneveRepr, IpProtocol, Vni};

use super::mixed::{MIXED_SEGMENTS, as_received, mixed_inner};
use super::values::decode_geneve_values_tunnelwire;
use super::{
    Arm, DST, FRAMES, Rng, SRC, config, digest, emit_eth_ipv4, emit_udp, encapsulated,
    floors_geneve, inner_frame,
};

/// OVN's option: class 0x0102, type 0x80 (critical), `data`.
fn ovn_options(data: [u8; 4]) -> GeneveOptions {
    let mut options = GeneveOptions::new();
    options.push(0x0102, 0x80, &data).unwrap();
    options
}

/// The benchmark's Geneve settings (outer MACs, a jumbo underlay, as `config`), without
/// options or with OVN's (`ovn`) fixed in the template.
pub fn geneve_config(ovn: bool) -> TunnelConfig {
    let mut geneve = TunnelConfig::geneve(Vni::new(4242).unwrap(), SRC, DST);
    let vxlan = config(false);
    (geneve.src_mac, geneve.dst_mac, geneve.mtu) = (vxlan.src_mac, vxlan.dst_mac, vxlan.mtu);
    if ovn {
        geneve.geneve_options = ovn_options([0, 1, 0, 2]);
    }
    geneve
}

/// The decapsulator of the Geneve paths: the defaults, OVN's option understood.
pub fn geneve_decapsulator() -> Decapsulator {
    Decapsulator::new(DecapConfig {
        geneve_understood: UnderstoodOptions::from_slice(&[(0x0102, 0x80)]).unwrap(),
        ..DecapConfig::default()
    })
}

/// The inner buffers, Geneve-encapsulated once with OVN's option: (buffer, frame range).
pub fn geneve_buffers() -> Vec<(Vec<u8>, Range<usize>)> {
    encapsulated(geneve_config(true))
}

/// The mixed Geneve frames as a VTEP receives them (`mixed::as_received`).
pub fn mixed_geneve_decap_buffers() -> Vec<(Vec<u8>, Range<usize>)> {
    let frames = geneve_frames(true).into_iter().map(|f| {
        let len = f.len();
        (f, 0..len)
    });
    as_received(frames.collect(), Rng(0x6081_0003))
}

/// 64 Geneve frames over IPv4 as `tunnel_frames` (random outer addresses and VNIs), with
/// OVN's option (its data random). Mixed (`mixed`): mixed inner frames, and of the
/// Geneve headers, one in two OVN's as clean, then (one in twenty each) no options, an
/// IP payload (protocol type 0x0800 or 0x86DD, two: where the inner frame is untagged
/// IP), OVN's and a non-critical option (two), an unknown critical option, the O bit,
/// an unknown protocol type, OVN's with the C bit clear, and malformed: version 1 or an
/// option running past the options area.
pub fn geneve_frames(mixed: bool) -> Vec<Vec<u8>> {
    let mut rng = Rng(if mixed { 0x6081_0021 } else { 0x6081_7348 });
    (0..FRAMES)
        .map(|i| {
            let (inner, segment) = if mixed {
                let inner = mixed_inner(&mut rng, 64 + (i * 997) % 1436);
                (inner, MIXED_SEGMENTS[i % 8])
            } else {
                let inner = inner_frame(&mut rng, (i * 997) % 1400);
                (inner, 0x1000 + rng.next() % 0xfe_e000)
            };
            let shape = if mixed { rng.next() % 20 } else { 0 };
            let (header, payload) = geneve_header(&mut rng, shape, segment, inner);
            let udp_payload = header.len() + payload.len();
            let mut frame = Vec::new();
            emit_eth_ipv4(&mut frame, &mut rng, IpProtocol::UDP, 8 + udp_payload);
            emit_udp(&mut frame, &mut rng, 6081, udp_payload);
            frame.extend_from_slice(&header);
            frame.extend_from_slice(&payload);
            frame
        })
        .collect()
}

/// The Geneve header of `shape` (as `geneve_frames` lists them, 0 the clean one) for
/// the frame `inner` in `segment`, and the payload after it.
fn geneve_header(rng: &mut Rng, shape: u32, segment: u32, inner: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let mut options = match shape {
        10 => GeneveOptions::new(),
        _ => ovn_options(rng.next().to_be_bytes()),
    };
    match shape {
        12 | 18 => options.push(0x0108, 0x01, &[7; 8]).unwrap(),
        13 => options.push(0x0108, 0x81, &[9; 4]).unwrap(),
        _ => {}
    }
    let ethertype = u16::from_be_bytes([inner[12], inner[13]]);
    let (protocol, payload) = match shape {
        11 | 15 if ethertype == 0x0800 || ethertype == 0x86dd => {
            (EtherType(ethertype), &inner[14..])
        }
        16 => (EtherType(0x88b5), &inner[..]),
        _ => (EtherType::TRANSPARENT_ETHERNET_BRIDGING, &inner[..]),
    };
    let mut repr = GeneveRepr::new(Vni::new(segment).unwrap(), protocol).with_options(options);
    repr.oam = shape == 14;
    repr.critical &= shape != 17;
    let mut header = vec![0; repr.buffer_len()];
    repr.emit(&mut header).unwrap();
    if shape == 19 {
        match rng.next() % 2 {
            0 => header[0] |= 0x40,
            // OVN's option claims two words of data in a one-word area.
            _ => header[8 + 3] = 2,
        }
    }
    (header, payload.to_vec())
}

/// The Geneve decode benchmark's values, by tunnelwire: the VNI, the outer source, the
/// inner addresses and ports, and of the Geneve header what a user reads beside them:
/// the O and C bits, the protocol type, the options area (its place in the frame).
#[inline(always)]
pub fn decode_geneve_tunnelwire(decoder: &Decoder, frame: &[u8]) -> Option<floors_geneve::Values> {
    let f = decoder.decode(frame).ok()?;
    let inner = f.inner.ipv4?;
    let Some(Tunnel::Geneve(header)) = f.tunnel else {
        return None;
    };
    let options = header.options_bytes();
    let at = options.as_ptr() as usize - frame.as_ptr() as usize;
    Some((
        header.vni().get(),
        u32::from(f.outer.ipv4?.src_addr()),
        u32::from(inner.src_addr()),
        u32::from(inner.dst_addr()),
        f.inner.ports()?,
        u8::from(header.oam()) << 7 | u8::from(header.critical()) << 6,
        header.protocol().0,
        at..at + options.len(),
    ))
}

/// The Geneve decode values folded into one number, as the timed loops keep them.
#[inline(always)]
pub fn geneve_digest(v: &floors_geneve::Values) -> u64 {
    digest(v.0, v.1, v.2, v.3, v.4)
        ^ u64::from(v.5) << 56
        ^ u64::from(v.6) << 8
        ^ (v.7.start as u64) << 48
        ^ v.7.end as u64
}

impl Arm {
    #[inline(never)]
    pub(super) fn run_geneve_decode_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for frame in &self.frames {
            acc ^= decode_geneve_tunnelwire(&self.decoder, black_box(frame))
                .map_or(0, |v| geneve_digest(&v));
        }
        acc
    }

    #[inline(never)]
    pub(super) fn run_geneve_values_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for frame in &self.frames {
            acc ^= decode_geneve_values_tunnelwire(&self.decoder, black_box(frame))
                .map_or(0, |v| geneve_digest(&v));
        }
        acc
    }

    #[inline(never)]
    pub(super) fn run_geneve_decode_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        for frame in &self.frames {
            acc ^= floors_geneve::decode(black_box(frame)).map_or(0, |v| geneve_digest(&v));
        }
        acc
    }

    #[inline(never)]
    pub(super) fn run_encap_floor_ovn<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        if MIXED {
            self.restore_all();
        }
        for (buf, inner) in &mut self.buffers {
            let out = self.floor58.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    #[inline(never)]
    pub(super) fn run_geneve_decap_floor<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        if MIXED {
            self.restore_all();
        }
        for (buf, frame) in &mut self.buffers {
            let out = floors_geneve::decapsulate(black_box(&mut buf[frame.clone()]));
            acc ^= out.map_or(0, |(_, segment, _, _, inner, ..)| {
                u64::from(segment) ^ inner.start as u64
            });
        }
        acc
    }
}
