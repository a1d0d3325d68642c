//! The paths the benchmarks measure, shared by the criterion benches, the interleaved
//! timer and the instruction counter (`benches/interleaved.rs`,
//! `benches/instructions.sh`), so all three measure the same code on the same frames.
//!
//! Each path has a tunnelwire arm and a hand-written floor (`floors.rs`) doing the same
//! thing; [`Path::check`] asserts they agree (same values, byte-identical output) before
//! anything is timed. An arm's `pass` runs every frame of the workload once.

#![allow(dead_code)] // each bench binary uses part of it

pub mod floors;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;

use tunnelwire::packet::Decoder;
use tunnelwire::tunnel::{
    Decapsulator, Encapsulator, HEADROOM, Translator, TunnelConfig, TunnelKind,
};
use tunnelwire::wire::{
    EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr, NvgreRepr, UdpRepr, Vni,
    Vsid, VxlanRepr,
};

/// Frames per workload.
pub const FRAMES: usize = 64;
/// A jumbo underlay, so 1500-byte inner frames fit with their outer headers.
pub const MTU: u16 = 9000;
pub const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
pub const DST: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

/// An IPv4 address's 32 bits, as the IPv4 floors report them (0 for IPv6).
fn ipv4_bits(address: IpAddr) -> u32 {
    match address {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(_) => 0,
    }
}

/// The values the decode benchmark extracts, folded into one number so nothing is
/// optimised away and the decoders can be checked to agree.
#[inline(always)]
pub fn digest(
    segment: u32,
    outer_src: u32,
    inner_src: u32,
    inner_dst: u32,
    ports: (u16, u16),
) -> u64 {
    u64::from(segment)
        ^ u64::from(outer_src).rotate_left(7)
        ^ u64::from(inner_src).rotate_left(19)
        ^ u64::from(inner_dst).rotate_left(31)
        ^ (u64::from(ports.0) << 40)
        ^ (u64::from(ports.1) << 24)
}

/// Deterministic pseudo-random numbers (xorshift), so every run measures the same frames.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u32 {
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
    // Addresses that can be VTEPs (10.x.y.z).
    let addr = |rng: &mut Rng| Ipv4Addr::from(0x0a00_0000 | rng.next() & 0x00ff_fffe | 1);
    let mut ip = Ipv4Repr::new(addr(rng), addr(rng), protocol, payload_len as u16);
    ip.ident = rng.next() as u16;
    ip.ecn = (rng.next() % 3) as u8;
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

/// An inner Ethernet/IPv4/UDP frame with `payload` bytes of UDP payload.
fn inner_frame(rng: &mut Rng, payload: usize) -> Vec<u8> {
    let mut inner = Vec::new();
    emit_eth_ipv4(&mut inner, rng, IpProtocol::UDP, 8 + payload);
    let port = rng.next() as u16;
    emit_udp(&mut inner, rng, port, payload);
    inner.resize(inner.len() + payload, 0xa5);
    inner
}

/// 64 tunnel frames (VXLAN or NVGRE over IPv4, inner Ethernet/IPv4/UDP with 0 to ~1400
/// payload bytes), random addresses, ports and segments (VSIDs not reserved).
pub fn tunnel_frames(nvgre: bool) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x7348_7637);
    (0..FRAMES)
        .map(|i| {
            let inner = inner_frame(&mut rng, (i * 997) % 1400);
            let mut tunnel = [0u8; 8];
            let segment = 0x1000 + rng.next() % 0xfe_e000;
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

/// 64 buffers, each `HEADROOM` bytes then an inner frame of 64 to 1500 bytes with its
/// own flow.
pub fn inner_buffers() -> Vec<(Vec<u8>, Range<usize>)> {
    let mut rng = Rng(0x0664_0050);
    (0..FRAMES)
        .map(|i| {
            let len = 64 + i * (1500 - 64) / (FRAMES - 1);
            let inner = inner_frame(&mut rng, len - 42);
            let mut buf = vec![0u8; HEADROOM];
            buf.extend_from_slice(&inner);
            (buf, HEADROOM..HEADROOM + len)
        })
        .collect()
}

/// The benchmark's tunnel settings: outer MACs set, a jumbo underlay.
pub fn config(nvgre: bool) -> TunnelConfig {
    let mut config = if nvgre {
        TunnelConfig::nvgre(Vsid::new(4242).unwrap(), SRC, DST)
    } else {
        TunnelConfig::vxlan(Vni::new(4242).unwrap(), SRC, DST)
    };
    config.src_mac = MacAddr([0x02, 0, 0, 0, 0, 1]);
    config.dst_mac = MacAddr([0x02, 0, 0, 0, 0, 2]);
    config.mtu = MTU;
    config
}

/// The inner buffers, VXLAN-encapsulated once: (buffer, frame range).
pub fn vxlan_buffers() -> Vec<(Vec<u8>, Range<usize>)> {
    let mut encapsulator = Encapsulator::new(config(false)).unwrap();
    inner_buffers()
        .into_iter()
        .map(|(mut buf, inner)| {
            let frame = encapsulator.encapsulate(&mut buf, inner).unwrap();
            (buf, frame)
        })
        .collect()
}

/// What a path measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    DecodeVxlan,
    DecodeNvgre,
    EncapVxlan,
    EncapNvgre,
    Decap,
    Translate,
}

impl Path {
    pub const ALL: [Path; 6] = [
        Path::DecodeVxlan,
        Path::DecodeNvgre,
        Path::EncapVxlan,
        Path::EncapNvgre,
        Path::Decap,
        Path::Translate,
    ];

    /// The criterion group's name.
    pub fn name(self) -> &'static str {
        match self {
            Path::DecodeVxlan => "vxlan_stack",
            Path::DecodeNvgre => "nvgre_stack",
            Path::EncapVxlan => "vxlan_encap",
            Path::EncapNvgre => "nvgre_encap",
            Path::Decap => "decap",
            Path::Translate => "translate",
        }
    }

    pub fn from_name(name: &str) -> Option<Path> {
        Path::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Packets one pass handles (translation counts each direction).
    pub fn packets_per_pass(self) -> usize {
        match self {
            Path::Translate => 2 * FRAMES,
            _ => FRAMES,
        }
    }

    /// The tunnelwire arm and the floor, checked to agree.
    pub fn arms(self) -> (Arm, Arm) {
        let (ours, floor) = (Arm::new(self, true), Arm::new(self, false));
        ours.clone().check_against(&mut floor.clone());
        (ours, floor)
    }
}

/// One side of a comparison: the workload's state and which code runs over it.
#[derive(Clone)]
pub struct Arm {
    path: Path,
    ours: bool,
    frames: Vec<Vec<u8>>,
    buffers: Vec<(Vec<u8>, Range<usize>)>,
    decoder: Decoder,
    encapsulator: Encapsulator,
    decapsulator: Decapsulator,
    translator: Translator,
    floor50: floors::Encap<50>,
    floor42: floors::Encap<42>,
}

impl Arm {
    pub fn new(path: Path, ours: bool) -> Self {
        let nvgre = path == Path::EncapNvgre || path == Path::DecodeNvgre;
        let frames = match path {
            Path::DecodeVxlan | Path::DecodeNvgre => tunnel_frames(nvgre),
            _ => Vec::new(),
        };
        let buffers = match path {
            Path::EncapVxlan | Path::EncapNvgre => inner_buffers(),
            Path::Decap | Path::Translate => vxlan_buffers(),
            _ => Vec::new(),
        };
        let encapsulator = Encapsulator::new(config(nvgre)).unwrap();
        let templates = |nvgre: bool| {
            let mut encap = Encapsulator::new(config(nvgre)).unwrap();
            let (mut buf, inner) = inner_buffers().swap_remove(0);
            let frame = encap.encapsulate(&mut buf, inner.clone()).unwrap();
            buf[frame.start..inner.start].to_vec()
        };
        Arm {
            path,
            ours,
            frames,
            buffers,
            decoder: Decoder::new(),
            encapsulator,
            decapsulator: Decapsulator::default(),
            translator: Translator {
                mtu: MTU,
                ..Translator::default()
            },
            floor50: floors::Encap::new(&templates(false), MTU),
            floor42: floors::Encap::new(&templates(true), MTU),
        }
    }

    /// Runs every frame once; returns a digest of the results.
    pub fn pass(&mut self) -> u64 {
        match (self.path, self.ours) {
            (Path::DecodeVxlan | Path::DecodeNvgre, true) => self.run_decode_ours(),
            (Path::DecodeVxlan | Path::DecodeNvgre, false) => self.run_decode_floor(),
            (Path::EncapVxlan | Path::EncapNvgre, true) => self.run_encap_ours(),
            (Path::EncapVxlan, false) => self.run_encap_floor_vxlan(),
            (Path::EncapNvgre, false) => self.run_encap_floor_nvgre(),
            (Path::Decap, true) => self.run_decap_ours(),
            (Path::Decap, false) => self.run_decap_floor(),
            (Path::Translate, true) => self.run_translate_ours(),
            (Path::Translate, false) => self.run_translate_floor(),
        }
    }

    // One function per path and arm, never inlined, so each is compiled on its own: in
    // one function, the register allocation of one path's loop moved with changes to
    // another's (benches/profile.sh lists these `run_` functions).

    #[inline(never)]
    fn run_decode_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for frame in &self.frames {
            acc ^= decode_tunnelwire(&self.decoder, black_box(frame)).unwrap_or(0);
        }
        acc
    }

    #[inline(never)]
    fn run_decode_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        let nvgre = self.path == Path::DecodeNvgre;
        for frame in &self.frames {
            acc ^= floors::decode(black_box(frame), nvgre).unwrap_or(0);
        }
        acc
    }

    #[inline(never)]
    fn run_encap_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, inner) in &mut self.buffers {
            let out = self.encapsulator.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    #[inline(never)]
    fn run_encap_floor_vxlan(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, inner) in &mut self.buffers {
            let out = self.floor50.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    #[inline(never)]
    fn run_encap_floor_nvgre(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, inner) in &mut self.buffers {
            let out = self.floor42.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    #[inline(never)]
    fn run_decap_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, frame) in &mut self.buffers {
            let out = self
                .decapsulator
                .decapsulate(black_box(&mut buf[frame.clone()]));
            acc ^= out.map_or(0, |d| u64::from(d.segment()) ^ d.inner.start as u64);
        }
        acc
    }

    #[inline(never)]
    fn run_decap_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, frame) in &mut self.buffers {
            let out = floors::decapsulate(black_box(&mut buf[frame.clone()]));
            acc ^= out.map_or(0, |(segment, _, inner)| {
                u64::from(segment) ^ inner.start as u64
            });
        }
        acc
    }

    #[inline(never)]
    fn run_translate_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, frame) in &mut self.buffers {
            let t = &self.translator;
            let nvgre = t.translate(black_box(buf), frame.clone(), TunnelKind::Nvgre);
            if let Ok(nvgre) = nvgre {
                if let Ok(back) = t.translate(buf, nvgre, TunnelKind::Vxlan) {
                    acc ^= back.start as u64;
                    *frame = back;
                }
            }
        }
        acc
    }

    #[inline(never)]
    fn run_translate_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        let mtu = usize::from(MTU);
        for (buf, frame) in &mut self.buffers {
            let nvgre = floors::translate(black_box(buf), frame.clone(), true, mtu);
            if let Some(nvgre) = nvgre {
                if let Some(back) = floors::translate(buf, nvgre, false, mtu) {
                    acc ^= back.start as u64;
                    *frame = back;
                }
            }
        }
        acc
    }

    /// Asserts that this arm (tunnelwire) and `floor` compute the same results and
    /// leave byte-identical buffers, frame by frame, on fresh copies of the workload.
    fn check_against(mut self, floor: &mut Arm) {
        match self.path {
            Path::DecodeVxlan | Path::DecodeNvgre => {
                let nvgre = self.path == Path::DecodeNvgre;
                for frame in &self.frames {
                    let ours = decode_tunnelwire(&self.decoder, frame);
                    assert!(ours.is_some(), "tunnelwire decodes");
                    assert_eq!(floors::decode(frame, nvgre), ours, "the floor agrees");
                }
            }
            Path::EncapVxlan | Path::EncapNvgre => {
                for ((a, inner), (b, _)) in self.buffers.iter_mut().zip(&mut floor.buffers) {
                    let ours = self.encapsulator.encapsulate(a, inner.clone()).unwrap();
                    let theirs = if self.path == Path::EncapVxlan {
                        floor.floor50.encapsulate(b, inner.clone())
                    } else {
                        floor.floor42.encapsulate(b, inner.clone())
                    };
                    assert_eq!(Some(ours.clone()), theirs);
                    assert_eq!(a[ours.clone()], b[ours], "byte-identical encapsulation");
                }
            }
            Path::Decap => {
                for ((a, frame), (b, _)) in self.buffers.iter_mut().zip(&mut floor.buffers) {
                    // CE on the outer header for some frames, so RFC 6040 rewrites.
                    for buf in [&mut *a, &mut *b] {
                        let at = frame.start + 14;
                        if buf[at + 5] % 4 == 0 {
                            let mut ip = Ipv4Packet::new_unchecked(&mut buf[at..]);
                            ip.set_dscp_ecn(0, 3);
                            ip.fill_checksum();
                        }
                    }
                    let ours = self.decapsulator.decapsulate(&mut a[frame.clone()]);
                    let theirs = floors::decapsulate(&mut b[frame.clone()]);
                    let ours = ours
                        .ok()
                        .map(|d| (d.segment(), ipv4_bits(d.outer_src), d.inner.clone()));
                    assert_eq!(ours, theirs);
                    assert_eq!(a, b, "byte-identical decapsulation");
                }
            }
            Path::Translate => {
                let mtu = usize::from(MTU);
                for ((a, frame), (b, _)) in self.buffers.iter_mut().zip(&mut floor.buffers) {
                    let t = &self.translator;
                    let ours = t.translate(a, frame.clone(), TunnelKind::Nvgre).unwrap();
                    let theirs = floors::translate(b, frame.clone(), true, mtu);
                    assert_eq!(Some(ours.clone()), theirs);
                    assert_eq!(a[ours.clone()], b[ours.clone()], "byte-identical to NVGRE");
                    let back = t.translate(a, ours.clone(), TunnelKind::Vxlan).unwrap();
                    assert_eq!(Some(back.clone()), floors::translate(b, ours, false, mtu));
                    assert_eq!(a[back.clone()], b[back], "byte-identical back to VXLAN");
                }
            }
        }
    }
}

/// The decode benchmark's values, by tunnelwire.
#[inline(always)]
pub fn decode_tunnelwire(decoder: &Decoder, frame: &[u8]) -> Option<u64> {
    let f = decoder.decode(frame).ok()?;
    let inner = f.inner.ipv4?;
    Some(digest(
        f.tunnel?.segment(),
        u32::from(f.outer.ipv4?.src_addr()),
        u32::from(inner.src_addr()),
        u32::from(inner.dst_addr()),
        f.inner.ports()?,
    ))
}
