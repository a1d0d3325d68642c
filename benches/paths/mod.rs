//! The paths the benchmarks measure, shared by the criterion benches, the interleaved
//! timer and the instruction counter (`benches/interleaved.rs`,
//! `benches/instructions.sh`), so all three measure the same code on the same frames.
//!
//! Each path has a tunnelwire arm and a hand-written floor (`floors.rs`; Geneve's in
//! `floors_geneve.rs`) doing the same thing; [`Path::arms_on`] asserts they agree (every
//! value, whole buffers) on the workload before anything is timed or counted, and
//! `differential.rs` on mutated frames. Workloads: the clean one here, the mixed one in
//! `mixed.rs`, Geneve's both in `geneve.rs`. An arm's `pass` runs every frame of the
//! workload once.

#![allow(dead_code)] // each bench binary uses part of it

pub mod differential;
pub mod floors;
pub mod floors_geneve;
pub mod geneve;
pub mod mixed;
pub mod values;

use differential::Outcome;
use geneve::{geneve_buffers, geneve_config, geneve_decapsulator, geneve_frames};
use mixed::{mixed_decap_buffers, mixed_inner_buffers, mixed_tunnel_frames, mixed_vxlan_buffers};
use values::decode_values_tunnelwire;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use tunnelwire::packet::Decoder;
use tunnelwire::tunnel::ecn::{Ecn, EcnAlarm};
use tunnelwire::tunnel::{
    Decapsulated, Decapsulator, Encapsulator, HEADROOM, PayloadHeaders, SocketOuter,
    TranslateConfig, Translator, TunnelConfig, TunnelKind,
};
use tunnelwire::wire::{
    EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr, NvgreRepr, UdpDatagram,
    UdpRepr, Vni, Vsid, VxlanRepr,
};

/// Frames per workload.
pub const FRAMES: usize = 64;
/// A jumbo underlay, so 1500-byte inner frames fit with their outer headers.
pub const MTU: u16 = 9000;
pub const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
pub const DST: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
/// The IPv6 underlay's VTEPs.
pub const SRC6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 1);
pub const DST6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 2);
/// Where the payload path's frames go next, and in which segment.
pub const NEXT: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 3);
pub const NEXT_VNI: u32 = 4343;
/// The VXLAN header of that segment.
pub const NEXT_VXLAN: [u8; 8] = [
    0x08,
    0,
    0,
    0,
    (NEXT_VNI >> 16) as u8,
    (NEXT_VNI >> 8) as u8,
    NEXT_VNI as u8,
    0,
];

/// An IPv4 address's 32 bits, as the IPv4 floors report them (0 for IPv6).
fn ipv4_bits(address: IpAddr) -> u32 {
    match address {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(_) => 0,
    }
}

/// An IPv6 address's 128 bits, as the IPv6 floors report them (0 for IPv4).
fn ipv6_bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(_) => 0,
        IpAddr::V6(v6) => u128::from(v6),
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

/// The same settings over the IPv6 underlay (flow label from the flow hash, UDP checksum
/// computed: the defaults).
pub fn config6(nvgre: bool) -> TunnelConfig {
    TunnelConfig {
        src_ip: SRC6.into(),
        dst_ip: DST6.into(),
        ..config(nvgre)
    }
}

/// The inner buffers, VXLAN-encapsulated once: (buffer, frame range).
pub fn vxlan_buffers() -> Vec<(Vec<u8>, Range<usize>)> {
    encapsulated(config(false))
}

/// The inner buffers, VXLAN-encapsulated once over IPv6.
pub fn vxlan6_buffers() -> Vec<(Vec<u8>, Range<usize>)> {
    encapsulated(config6(false))
}

fn encapsulated(config: TunnelConfig) -> Vec<(Vec<u8>, Range<usize>)> {
    let mut encapsulator = Encapsulator::new(config).unwrap();
    inner_buffers()
        .into_iter()
        .map(|(mut buf, inner)| {
            let frame = encapsulator.encapsulate(&mut buf, inner).unwrap();
            (buf, frame)
        })
        .collect()
}

/// The VXLAN frames' socket payloads (the VXLAN header onward) and what a UDP socket
/// reports with each: the peer, the local address, the outer ECN.
pub fn vxlan_payloads() -> Vec<(Vec<u8>, Range<usize>, SocketOuter)> {
    payloads_of(vxlan_buffers())
}

/// The socket payloads of whole VXLAN-over-IPv4 frames, and what the socket reports.
pub fn payloads_of(
    frames: Vec<(Vec<u8>, Range<usize>)>,
) -> Vec<(Vec<u8>, Range<usize>, SocketOuter)> {
    frames
        .into_iter()
        .map(|(buf, frame)| {
            let ip = Ipv4Packet::new_checked(&buf[frame.start + 14..frame.end]).unwrap();
            let outer = SocketOuter {
                src: ip.src_addr().into(),
                dst: ip.dst_addr().into(),
                ecn: Ecn::from_bits(ip.ecn()),
            };
            let payload = frame.start + 42..frame.end;
            (buf, payload, outer)
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
    EncapVxlan6,
    EncapNvgre6,
    Decap6,
    Translate6,
    /// Receive to send through socket payloads: `decapsulate_payload` of a VXLAN payload,
    /// then `encapsulate_payload` of its inner frame towards another VTEP.
    Payload,
    /// Geneve over IPv4 (`geneve.rs`): decode, encapsulation without options and with
    /// OVN's option, decapsulation (OVN's option understood).
    DecodeGeneve,
    EncapGeneve,
    EncapGeneveOvn,
    DecapGeneve,
    /// The decode paths again, tunnelwire's values read by a recorder of the bench's own
    /// (`values.rs`, by `Decoder::decode_with`) instead of from a `Frame`; the same
    /// floors.
    ValuesVxlan,
    ValuesNvgre,
    ValuesGeneve,
}

impl Path {
    pub const ALL: [Path; 18] = [
        Path::DecodeVxlan,
        Path::DecodeNvgre,
        Path::EncapVxlan,
        Path::EncapNvgre,
        Path::Decap,
        Path::Translate,
        Path::EncapVxlan6,
        Path::EncapNvgre6,
        Path::Decap6,
        Path::Translate6,
        Path::Payload,
        Path::DecodeGeneve,
        Path::EncapGeneve,
        Path::EncapGeneveOvn,
        Path::DecapGeneve,
        Path::ValuesVxlan,
        Path::ValuesNvgre,
        Path::ValuesGeneve,
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
            Path::EncapVxlan6 => "vxlan6_encap",
            Path::EncapNvgre6 => "nvgre6_encap",
            Path::Decap6 => "decap6",
            Path::Translate6 => "translate6",
            Path::Payload => "payload",
            Path::DecodeGeneve => "geneve_stack",
            Path::EncapGeneve => "geneve_encap",
            Path::EncapGeneveOvn => "geneve_ovn_encap",
            Path::DecapGeneve => "geneve_decap",
            Path::ValuesVxlan => "vxlan_values",
            Path::ValuesNvgre => "nvgre_values",
            Path::ValuesGeneve => "geneve_values",
        }
    }

    pub fn from_name(name: &str) -> Option<Path> {
        Path::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Packets one pass handles (translation counts each direction).
    pub fn packets_per_pass(self) -> usize {
        match self {
            Path::Translate | Path::Translate6 => 2 * FRAMES,
            _ => FRAMES,
        }
    }

    /// The tunnelwire arm and the floor on the clean workload, checked to agree.
    pub fn arms(self) -> (Arm, Arm) {
        self.arms_on(false)
    }

    /// The tunnelwire arm and the floor on the clean or the mixed workload, checked to
    /// agree.
    pub fn arms_on(self, mixed: bool) -> (Arm, Arm) {
        let (ours, floor) = (Arm::with(self, true, mixed), Arm::with(self, false, mixed));
        ours.clone().check_against(&mut floor.clone());
        (ours, floor)
    }

    /// True for the paths with a differential run on mutated frames: all but the
    /// decode paths by recorder, whose values the decode paths' run compares already.
    pub fn has_differential(self) -> bool {
        !matches!(
            self,
            Path::ValuesVxlan | Path::ValuesNvgre | Path::ValuesGeneve
        )
    }

    /// True for the paths with a mixed workload (the IPv4 underlay's).
    pub fn has_mixed(self) -> bool {
        matches!(
            self,
            Path::DecodeVxlan
                | Path::DecodeNvgre
                | Path::EncapVxlan
                | Path::EncapNvgre
                | Path::Decap
                | Path::Translate
                | Path::DecodeGeneve
                | Path::EncapGeneve
                | Path::EncapGeneveOvn
                | Path::DecapGeneve
                | Path::ValuesVxlan
                | Path::ValuesNvgre
                | Path::ValuesGeneve
        )
    }

    /// True for the decode paths, by `Frame` or by recorder.
    pub fn decodes(self) -> bool {
        matches!(
            self,
            Path::DecodeVxlan
                | Path::DecodeNvgre
                | Path::DecodeGeneve
                | Path::ValuesVxlan
                | Path::ValuesNvgre
                | Path::ValuesGeneve
        )
    }
}

/// A path and its workload from a name: `decap` (the clean workload) or `decap+mixed`.
pub fn parse_bench(name: &str) -> Option<(Path, bool)> {
    match name.strip_suffix("+mixed") {
        Some(path) => Path::from_name(path)
            .filter(|p| p.has_mixed())
            .map(|p| (p, true)),
        None => Path::from_name(name).map(|p| (p, false)),
    }
}

/// The bytes a pass changes in a workload item, as they were: put back before the item
/// is handled again (both arms alike), so every pass handles the same shapes.
#[derive(Clone, Debug)]
pub struct Restore {
    at: usize,
    bytes: Vec<u8>,
    range: Range<usize>,
}

impl Restore {
    #[inline(always)]
    fn apply(&self, buf: &mut [u8], range: &mut Range<usize>) {
        buf[self.at..self.at + self.bytes.len()].copy_from_slice(&self.bytes);
        *range = self.range.clone();
    }
}

/// One side of a comparison: the workload's state and which code runs over it.
#[derive(Clone)]
pub struct Arm {
    path: Path,
    ours: bool,
    frames: Vec<Vec<u8>>,
    buffers: Vec<(Vec<u8>, Range<usize>)>,
    payloads: Vec<(Vec<u8>, Range<usize>, SocketOuter)>,
    decoder: Decoder,
    encapsulator: Encapsulator,
    decapsulator: Decapsulator,
    translator: Translator,
    floor50: floors::Encap<50>,
    floor42: floors::Encap<42>,
    floor70: floors::Encap6<70>,
    floor62: floors::Encap6<62>,
    /// Geneve with OVN's option (`floor50` is Geneve's without options on that path).
    floor58: floors::Encap<58>,
    mixed: bool,
    restores: Vec<Option<Restore>>,
}

impl Arm {
    pub fn new(path: Path, ours: bool) -> Self {
        Self::with(path, ours, false)
    }

    pub fn with(path: Path, ours: bool, mixed: bool) -> Self {
        let nvgre = matches!(
            path,
            Path::EncapNvgre | Path::DecodeNvgre | Path::ValuesNvgre | Path::EncapNvgre6
        );
        let frames = match path {
            Path::DecodeVxlan | Path::DecodeNvgre | Path::ValuesVxlan | Path::ValuesNvgre
                if mixed =>
            {
                mixed_tunnel_frames(nvgre)
            }
            Path::DecodeVxlan | Path::DecodeNvgre | Path::ValuesVxlan | Path::ValuesNvgre => {
                tunnel_frames(nvgre)
            }
            Path::DecodeGeneve | Path::ValuesGeneve => geneve_frames(mixed),
            _ => Vec::new(),
        };
        let buffers = match path {
            Path::EncapVxlan | Path::EncapNvgre | Path::EncapGeneve | Path::EncapGeneveOvn
                if mixed =>
            {
                mixed_inner_buffers()
            }
            Path::Decap if mixed => mixed_decap_buffers(),
            Path::DecapGeneve if mixed => geneve::mixed_geneve_decap_buffers(),
            Path::Translate if mixed => mixed_vxlan_buffers(),
            Path::EncapVxlan
            | Path::EncapNvgre
            | Path::EncapVxlan6
            | Path::EncapNvgre6
            | Path::EncapGeneve
            | Path::EncapGeneveOvn => inner_buffers(),
            Path::Decap | Path::Translate => vxlan_buffers(),
            Path::DecapGeneve => geneve_buffers(),
            Path::Decap6 | Path::Translate6 => vxlan6_buffers(),
            _ => Vec::new(),
        };
        let payloads = match path {
            Path::Payload => vxlan_payloads(),
            _ => Vec::new(),
        };
        let encapsulator = Encapsulator::new(match path {
            Path::EncapVxlan6 | Path::EncapNvgre6 => config6(nvgre),
            Path::Payload => TunnelConfig {
                mtu: MTU,
                ..TunnelConfig::vxlan(Vni::new(NEXT_VNI).unwrap(), SRC, NEXT)
            },
            Path::EncapGeneve => geneve_config(false),
            Path::EncapGeneveOvn => geneve_config(true),
            _ => config(nvgre),
        })
        .unwrap();
        let templates = |config: TunnelConfig| {
            let mut encap = Encapsulator::new(config).unwrap();
            let (mut buf, inner) = inner_buffers().swap_remove(0);
            let frame = encap.encapsulate(&mut buf, inner.clone()).unwrap();
            buf[frame.start..inner.start].to_vec()
        };
        Arm {
            path,
            ours,
            frames,
            buffers,
            payloads,
            decoder: Decoder::new(),
            encapsulator,
            decapsulator: match path {
                Path::DecapGeneve => geneve_decapsulator(),
                _ => Decapsulator::default(),
            },
            translator: Translator::new(TranslateConfig {
                mtu: MTU,
                ..TranslateConfig::default()
            })
            .unwrap(),
            floor50: floors::Encap::new(
                &templates(match path {
                    Path::EncapGeneve => geneve_config(false),
                    _ => config(false),
                }),
                MTU,
            ),
            floor42: floors::Encap::new(&templates(config(true)), MTU),
            floor70: floors::Encap6::new(&templates(config6(false)), MTU),
            floor62: floors::Encap6::new(&templates(config6(true)), MTU),
            floor58: floors::Encap::new(&templates(geneve_config(true)), MTU),
            mixed,
            restores: Vec::new(),
        }
        .with_restores()
    }

    /// On the mixed workload, what each item's pass changes (found by running
    /// tunnelwire once on a copy): put back before each pass, by both arms.
    fn with_restores(mut self) -> Self {
        if !self.mixed || self.buffers.is_empty() {
            return self;
        }
        let mut copy = self.clone();
        copy.ours = true;
        copy.mixed = false;
        copy.pass();
        self.restores = self
            .buffers
            .iter()
            .zip(&copy.buffers)
            .map(|((before, range), (after, _))| {
                // Encapsulation rewrites the headroom alike each pass: only a change to
                // the inner frame (tags stripped) needs putting back.
                let from = match self.path {
                    Path::EncapVxlan
                    | Path::EncapNvgre
                    | Path::EncapGeneve
                    | Path::EncapGeneveOvn => range.start,
                    _ => 0,
                };
                let lo = (from..before.len()).find(|&i| before[i] != after[i])?;
                let hi = (lo..before.len()).rfind(|&i| before[i] != after[i])? + 1;
                Some(Restore {
                    at: lo,
                    bytes: before[lo..hi].to_vec(),
                    range: range.clone(),
                })
            })
            .collect();
        self
    }

    /// Runs every frame once; returns a digest of the results.
    pub fn pass(&mut self) -> u64 {
        match (self.path, self.ours) {
            (Path::DecodeVxlan | Path::DecodeNvgre, true) => self.run_decode_ours(),
            (Path::ValuesVxlan | Path::ValuesNvgre, true) => self.run_values_ours(),
            (
                Path::DecodeVxlan | Path::DecodeNvgre | Path::ValuesVxlan | Path::ValuesNvgre,
                false,
            ) => self.run_decode_floor(),
            (Path::EncapVxlan | Path::EncapNvgre, true) if self.mixed => {
                self.run_encap_ours::<true>()
            }
            (Path::EncapVxlan, false) if self.mixed => self.run_encap_floor_vxlan::<true>(),
            (Path::EncapNvgre, false) if self.mixed => self.run_encap_floor_nvgre::<true>(),
            (Path::Decap, true) if self.mixed => self.run_decap_ours::<true>(),
            (Path::Decap, false) if self.mixed => self.run_decap_floor::<true>(),
            (Path::Translate, true) if self.mixed => self.run_translate_ours::<true>(),
            (Path::Translate, false) if self.mixed => self.run_translate_floor::<true>(),
            (Path::EncapVxlan | Path::EncapNvgre, true) => self.run_encap_ours::<false>(),
            (Path::EncapVxlan, false) => self.run_encap_floor_vxlan::<false>(),
            (Path::EncapNvgre, false) => self.run_encap_floor_nvgre::<false>(),
            // IPv4 or IPv6, tunnelwire's code is the same: so is its loop.
            (Path::Decap, true) => self.run_decap_ours::<false>(),
            (Path::Decap, false) => self.run_decap_floor::<false>(),
            (Path::Translate, true) => self.run_translate_ours::<false>(),
            (Path::Translate, false) => self.run_translate_floor::<false>(),
            (Path::EncapVxlan6 | Path::EncapNvgre6, true) => self.run_encap_ours::<false>(),
            (Path::EncapVxlan6, false) => self.run_encap_floor_vxlan6(),
            (Path::EncapNvgre6, false) => self.run_encap_floor_nvgre6(),
            (Path::Decap6, true) => self.run_decap_ours::<false>(),
            (Path::Decap6, false) => self.run_decap6_floor(),
            (Path::Translate6, true) => self.run_translate_ours::<false>(),
            (Path::Translate6, false) => self.run_translate6_floor(),
            (Path::Payload, true) => self.run_payload_ours(),
            (Path::Payload, false) => self.run_payload_floor(),
            (Path::DecodeGeneve, true) => self.run_geneve_decode_ours(),
            (Path::ValuesGeneve, true) => self.run_geneve_values_ours(),
            (Path::DecodeGeneve | Path::ValuesGeneve, false) => self.run_geneve_decode_floor(),
            // Geneve without options is written by VXLAN's layout in both arms.
            (Path::EncapGeneve | Path::EncapGeneveOvn, true) if self.mixed => {
                self.run_encap_ours::<true>()
            }
            (Path::EncapGeneve, false) if self.mixed => self.run_encap_floor_vxlan::<true>(),
            (Path::EncapGeneveOvn, false) if self.mixed => self.run_encap_floor_ovn::<true>(),
            (Path::EncapGeneve | Path::EncapGeneveOvn, true) => self.run_encap_ours::<false>(),
            (Path::EncapGeneve, false) => self.run_encap_floor_vxlan::<false>(),
            (Path::EncapGeneveOvn, false) => self.run_encap_floor_ovn::<false>(),
            (Path::DecapGeneve, true) if self.mixed => self.run_decap_ours::<true>(),
            (Path::DecapGeneve, false) if self.mixed => self.run_geneve_decap_floor::<true>(),
            (Path::DecapGeneve, true) => self.run_decap_ours::<false>(),
            (Path::DecapGeneve, false) => self.run_geneve_decap_floor::<false>(),
        }
    }

    // One function per path and arm, never inlined, so each is compiled on its own: in
    // one function, the register allocation of one path's loop moved with changes to
    // another's (benches/profile.sh lists these `run_` functions).

    #[inline(never)]
    fn run_decode_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for frame in &self.frames {
            acc ^=
                decode_tunnelwire(&self.decoder, black_box(frame)).map_or(0, |v| values_digest(&v));
        }
        acc
    }

    #[inline(never)]
    fn run_values_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for frame in &self.frames {
            acc ^= decode_values_tunnelwire(&self.decoder, black_box(frame))
                .map_or(0, |v| values_digest(&v));
        }
        acc
    }

    #[inline(never)]
    fn run_decode_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        for frame in &self.frames {
            acc ^= floors::decode(black_box(frame)).map_or(0, |v| values_digest(&v));
        }
        acc
    }

    #[inline(never)]
    fn run_encap_ours<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        for (i, (buf, inner)) in self.buffers.iter_mut().enumerate() {
            if MIXED {
                if let Some(restore) = &self.restores[i] {
                    restore.apply(buf, inner);
                }
            }
            let out = self.encapsulator.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    #[inline(never)]
    fn run_encap_floor_vxlan<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        for (i, (buf, inner)) in self.buffers.iter_mut().enumerate() {
            if MIXED {
                if let Some(restore) = &self.restores[i] {
                    restore.apply(buf, inner);
                }
            }
            let out = self.floor50.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    #[inline(never)]
    fn run_encap_floor_nvgre<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        for (i, (buf, inner)) in self.buffers.iter_mut().enumerate() {
            if MIXED {
                if let Some(restore) = &self.restores[i] {
                    restore.apply(buf, inner);
                }
            }
            let out = self.floor42.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    /// Puts back what the last pass changed in every item, before a pass: the
    /// decapsulation loops' restores, apart from the loop, as `decapsulate_each` takes
    /// its frames from an iterator that it compiles into one loop per settings' code
    /// (the restores inside it, its `next` was called out of line: 184 -> 191
    /// instructions per packet on the mixed workload). Both arms alike.
    #[inline(always)]
    pub(super) fn restore_all(&mut self) {
        for ((buf, range), restore) in self.buffers.iter_mut().zip(&self.restores) {
            if let Some(restore) = restore {
                restore.apply(buf, range);
            }
        }
    }

    #[inline(never)]
    fn run_decap_ours<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        if MIXED {
            self.restore_all();
        }
        let frames = self
            .buffers
            .iter_mut()
            .map(|(buf, frame)| black_box(&mut buf[frame.clone()]));
        self.decapsulator.decapsulate_each(frames, |_, out| {
            acc ^= out.map_or(0, |d| u64::from(d.segment()) ^ d.inner.start as u64);
        });
        acc
    }

    #[inline(never)]
    fn run_decap_floor<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        if MIXED {
            self.restore_all();
        }
        for (buf, frame) in &mut self.buffers {
            let out = floors::decapsulate(black_box(&mut buf[frame.clone()]));
            acc ^= out.map_or(0, |(_, segment, _, _, inner, ..)| {
                u64::from(segment) ^ inner.start as u64
            });
        }
        acc
    }

    #[inline(never)]
    fn run_translate_ours<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        for (i, (buf, frame)) in self.buffers.iter_mut().enumerate() {
            if MIXED {
                if let Some(restore) = &self.restores[i] {
                    restore.apply(buf, frame);
                }
            }
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
    fn run_translate_floor<const MIXED: bool>(&mut self) -> u64 {
        let mut acc = 0u64;
        let mtu = usize::from(MTU);
        for (i, (buf, frame)) in self.buffers.iter_mut().enumerate() {
            if MIXED {
                if let Some(restore) = &self.restores[i] {
                    restore.apply(buf, frame);
                }
            }
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

    #[inline(never)]
    fn run_encap_floor_vxlan6(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, inner) in &mut self.buffers {
            let out = self.floor70.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    #[inline(never)]
    fn run_encap_floor_nvgre6(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, inner) in &mut self.buffers {
            let out = self.floor62.encapsulate(black_box(buf), inner.clone());
            acc ^= out.map_or(0, |r| r.start as u64);
        }
        acc
    }

    #[inline(never)]
    fn run_decap6_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, frame) in &mut self.buffers {
            let out = floors::decapsulate6(black_box(&mut buf[frame.clone()]));
            acc ^= out.map_or(0, |(_, segment, _, _, inner, ..)| {
                u64::from(segment) ^ inner.start as u64
            });
        }
        acc
    }

    #[inline(never)]
    fn run_translate6_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        let mtu = usize::from(MTU);
        for (buf, frame) in &mut self.buffers {
            let nvgre = floors::translate6(black_box(buf), frame.clone(), true, mtu);
            if let Some(nvgre) = nvgre {
                if let Some(back) = floors::translate6(buf, nvgre, false, mtu) {
                    acc ^= back.start as u64;
                    *frame = back;
                }
            }
        }
        acc
    }

    #[inline(never)]
    fn run_payload_ours(&mut self) -> u64 {
        let mut acc = 0u64;
        for (buf, payload, outer) in &mut self.payloads {
            if let Ok(sent) = payload_tunnelwire(
                &self.decapsulator,
                &mut self.encapsulator,
                black_box(buf),
                payload.clone(),
                *outer,
            ) {
                acc ^= payload_digest(&sent);
            }
        }
        acc
    }

    #[inline(never)]
    fn run_payload_floor(&mut self) -> u64 {
        let mut acc = 0u64;
        let mtu = usize::from(MTU);
        for (buf, payload, outer) in &mut self.payloads {
            let (src, dst, ecn) = (&outer.src, &outer.dst, outer.ecn.bits());
            let sent = floors::payload(
                black_box(buf),
                payload.clone(),
                src,
                dst,
                ecn,
                &NEXT_VXLAN,
                mtu,
            );
            if let Some((payload, port, traffic_class)) = sent {
                acc ^= payload_digest(&PayloadHeaders {
                    payload,
                    source_port: Some(port),
                    traffic_class,
                    flow_label: 0,
                });
            }
        }
        acc
    }

    /// Asserts that this arm (tunnelwire) and `floor` compute the same results and
    /// leave byte-identical buffers, frame by frame, on fresh copies of the workload.
    fn check_against(mut self, floor: &mut Arm) {
        let clean = !self.mixed;
        match self.path {
            Path::DecodeVxlan
            | Path::DecodeNvgre
            | Path::DecodeGeneve
            | Path::ValuesVxlan
            | Path::ValuesNvgre
            | Path::ValuesGeneve => {
                for frame in &self.frames {
                    let outcome = self.compare_decode(frame);
                    assert!(
                        outcome == Outcome::Accepted || self.mixed && outcome == Outcome::Refused
                    );
                }
            }
            Path::EncapVxlan | Path::EncapNvgre | Path::EncapGeneve | Path::EncapGeneveOvn => {
                for (buf, inner) in self.buffers.clone() {
                    let (outcome, _) = self.compare_encap(&buf, inner);
                    assert!(
                        outcome == Outcome::Accepted || self.mixed && outcome == Outcome::Refused
                    );
                }
            }
            Path::Decap | Path::DecapGeneve => {
                for (buf, frame) in &self.buffers {
                    let mut buf = buf.clone();
                    // Clean workload: CE on the outer header for some frames, so RFC 6040
                    // rewrites here (the mixed workload has its own).
                    let at = frame.start + 14;
                    if clean && buf[at + 5] % 4 == 0 {
                        let mut ip = Ipv4Packet::new_unchecked(&mut buf[at..]);
                        ip.set_dscp_ecn(0, 3);
                        ip.fill_checksum();
                    }
                    let (outcome, _) = self.compare_decap(&buf[frame.clone()]);
                    assert!(outcome == Outcome::Accepted || outcome == Outcome::Refused);
                }
            }
            Path::Translate => {
                for (buf, frame) in &self.buffers {
                    let (outcome, _) = self.compare_translate(buf, frame.clone(), true);
                    assert!(
                        outcome == Outcome::Accepted || self.mixed && outcome == Outcome::Refused
                    );
                }
            }
            Path::EncapVxlan6 | Path::EncapNvgre6 => {
                for ((a, inner), (b, _)) in self.buffers.iter_mut().zip(&mut floor.buffers) {
                    let ours = self.encapsulator.encapsulate(a, inner.clone()).unwrap();
                    let theirs = if self.path == Path::EncapVxlan6 {
                        floor.floor70.encapsulate(b, inner.clone())
                    } else {
                        floor.floor62.encapsulate(b, inner.clone())
                    };
                    assert_eq!(Some(ours.clone()), theirs);
                    assert!(a == b, "byte-identical encapsulation (whole buffer)");
                }
            }
            Path::Decap6 => {
                for ((a, frame), (b, _)) in self.buffers.iter_mut().zip(&mut floor.buffers) {
                    // CE on the outer header for some frames, so RFC 6040 rewrites.
                    for buf in [&mut *a, &mut *b] {
                        if buf[frame.start + 14 + 3] % 4 == 0 {
                            buf[frame.start + 15] |= 0x30;
                        }
                    }
                    let ours = self.decapsulator.decapsulate(&mut a[frame.clone()]);
                    let theirs = floors::decapsulate6(&mut b[frame.clone()]);
                    let ours = ours.ok().map(|d| found6(&d));
                    assert_eq!(ours, theirs);
                    assert_eq!(a, b, "byte-identical decapsulation");
                }
                let frames: Vec<Vec<u8>> = vxlan6_buffers()
                    .into_iter()
                    .map(|(buf, frame)| buf[frame].to_vec())
                    .collect();
                for frame in frames.iter().flat_map(|f| mutations6(f)) {
                    let (mut a, mut b) = (frame.clone(), frame.clone());
                    let ours = self.decapsulator.decapsulate(&mut a);
                    let theirs = floors::decapsulate6(&mut b);
                    if let Some(found) = theirs {
                        let ours = ours.expect("tunnelwire takes what the floor takes");
                        let ours = found6(&ours);
                        assert_eq!(ours, found);
                        assert_eq!(a, b, "byte-identical decapsulation");
                    } else {
                        // Refused alike.
                        assert!(ours.is_err(), "the floor refused");
                    }
                }
            }
            Path::Translate6 => {
                let mtu = usize::from(MTU);
                for ((a, frame), (b, _)) in self.buffers.iter_mut().zip(&mut floor.buffers) {
                    let t = &self.translator;
                    let ours = t.translate(a, frame.clone(), TunnelKind::Nvgre).unwrap();
                    let theirs = floors::translate6(b, frame.clone(), true, mtu);
                    assert_eq!(Some(ours.clone()), theirs);
                    assert!(a == b, "byte-identical to NVGRE (whole buffer)");
                    let back = t.translate(a, ours.clone(), TunnelKind::Vxlan).unwrap();
                    assert_eq!(Some(back.clone()), floors::translate6(b, ours, false, mtu));
                    assert!(a == b, "byte-identical back to VXLAN (whole buffer)");
                }
                let frames: Vec<Vec<u8>> = vxlan6_buffers()
                    .into_iter()
                    .map(|(buf, frame)| buf[frame].to_vec())
                    .collect();
                for frame in frames.iter().flat_map(|f| mutations6(f)) {
                    let (mut a, mut b, len) = (frame.clone(), frame.clone(), frame.len());
                    let ours = self.translator.translate(&mut a, 0..len, TunnelKind::Nvgre);
                    let theirs = floors::translate6(&mut b, 0..len, true, mtu);
                    if let Some(range) = theirs {
                        let ours = ours.expect("tunnelwire takes what the floor takes");
                        assert_eq!(ours, range);
                        assert_eq!(a, b, "byte-identical translation");
                    } else {
                        assert!(ours.is_err(), "the floor refused");
                    }
                }
            }
            Path::Payload => {
                let mtu = usize::from(MTU);
                for ((a, payload, outer), (b, _, _)) in
                    self.payloads.iter_mut().zip(&mut floor.payloads)
                {
                    // CE from the socket for some payloads, so RFC 6040 rewrites.
                    let outer = match a[payload.start + 8 + 14 + 3] % 4 {
                        0 => SocketOuter {
                            ecn: Ecn::Ce,
                            ..*outer
                        },
                        _ => *outer,
                    };
                    let ours = payload_tunnelwire(
                        &self.decapsulator,
                        &mut self.encapsulator,
                        a,
                        payload.clone(),
                        outer,
                    )
                    .ok();
                    let (src, dst, ecn) = (&outer.src, &outer.dst, outer.ecn.bits());
                    let theirs =
                        floors::payload(b, payload.clone(), src, dst, ecn, &NEXT_VXLAN, mtu);
                    let theirs = theirs.map(|(payload, port, traffic_class)| PayloadHeaders {
                        payload,
                        source_port: Some(port),
                        traffic_class,
                        flow_label: 0,
                    });
                    assert_eq!(ours, theirs);
                    assert_eq!(a, b, "byte-identical payloads");
                }
                // And each payload's result against tunnelwire's whole-frame paths on the
                // same frame.
                let frames = vxlan_buffers();
                for ((mut buf, payload, outer), (mut whole, frame)) in
                    vxlan_payloads().into_iter().zip(frames)
                {
                    let sent = payload_tunnelwire(
                        &self.decapsulator,
                        &mut self.encapsulator,
                        &mut buf,
                        payload,
                        outer,
                    )
                    .unwrap();
                    let found = self
                        .decapsulator
                        .decapsulate(&mut whole[frame.clone()])
                        .unwrap();
                    let inner = frame.start + found.inner.start..frame.start + found.inner.end;
                    let resent = self.encapsulator.encapsulate(&mut whole, inner).unwrap();
                    assert_eq!(sent.payload.end, resent.end);
                    assert_eq!(
                        buf[sent.payload.clone()],
                        whole[resent.start + 42..resent.end]
                    );
                    let ip =
                        Ipv4Packet::new_checked(&whole[resent.start + 14..resent.end]).unwrap();
                    let udp =
                        UdpDatagram::new_checked(&whole[resent.start + 34..resent.end]).unwrap();
                    assert_eq!(sent.source_port, Some(udp.src_port()));
                    assert_eq!(sent.traffic_class, ip.dscp() << 2 | ip.ecn());
                    assert_eq!(sent.flow_label, 0);
                }
            }
        }
    }
}

/// The payload path by tunnelwire: decapsulate a VXLAN socket payload, then encapsulate
/// its inner frame as a payload towards the next VTEP, in the same buffer.
#[inline(always)]
pub fn payload_tunnelwire(
    decapsulator: &Decapsulator,
    encapsulator: &mut Encapsulator,
    buf: &mut [u8],
    payload: Range<usize>,
    outer: SocketOuter,
) -> tunnelwire::Result<PayloadHeaders> {
    let found =
        decapsulator.decapsulate_payload(&mut buf[payload.clone()], TunnelKind::Vxlan, outer)?;
    let inner = payload.start + found.inner.start..payload.start + found.inner.end;
    encapsulator.encapsulate_payload(buf, inner)
}

/// What the payload path returns, folded into one number.
#[inline(always)]
pub fn payload_digest(sent: &PayloadHeaders) -> u64 {
    sent.payload.start as u64
        ^ u64::from(sent.source_port.unwrap_or(0)) << 16
        ^ u64::from(sent.traffic_class) << 32
        ^ u64::from(sent.flow_label) << 40
}

/// Copies of a VXLAN-over-IPv6 frame, each changed where the receiver's checks look: every
/// byte of the outer headers flipped in its low or high bit (mostly a UDP checksum that
/// no longer verifies), and, with the checksum made right again, every kind of source
/// that cannot be a VTEP and one that can, a zero checksum, the outer ECN codepoints,
/// VXLAN-GPE payloads and an inner tag.
pub fn mutations6(frame: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for at in 0..70 {
        for bit in [0x01, 0x80] {
            let mut m = frame.to_vec();
            m[at] ^= bit;
            out.push(m);
        }
    }
    let fixed = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut m = frame.to_vec();
        change(&mut m);
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&m[22..38]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&m[38..54]).unwrap());
        let len = usize::from(u16::from_be_bytes([m[58], m[59]]));
        UdpDatagram::new_unchecked(&mut m[54..54 + len]).fill_checksum_ipv6(src, dst);
        m
    };
    for source in [
        "::",
        "::1",
        "ff02::1",
        "ff0e::5",
        "::ffff:10.0.0.1",
        "fe80::1",
        "::2",
    ] {
        let source: Ipv6Addr = source.parse().unwrap();
        out.push(fixed(&|m| m[22..38].copy_from_slice(&source.octets())));
    }
    let mut zero = frame.to_vec();
    zero[60..62].fill(0);
    out.push(zero);
    for ecn in 0..4u8 {
        let mut m = frame.to_vec();
        m[15] = m[15] & !0x30 | ecn << 4;
        out.push(m);
    }
    for (flags, next_protocol) in [(0x0c, 3), (0x0c, 1), (0x2c, 3), (0x0d, 3)] {
        out.push(fixed(&|m| {
            m[62] = flags;
            m[65] = next_protocol;
        }));
    }
    out.push(fixed(&|m| {
        m[70 + 12..70 + 14].copy_from_slice(&[0x81, 0x00])
    }));
    out
}

/// The decode benchmark's values, by tunnelwire: the tunnel kind and segment, the outer
/// source, the inner addresses and ports.
#[inline(always)]
pub fn decode_tunnelwire(decoder: &Decoder, frame: &[u8]) -> Option<floors::Values> {
    let f = decoder.decode(frame).ok()?;
    let inner = f.inner.ipv4?;
    let tunnel = f.tunnel?;
    Some((
        tunnel.kind() == TunnelKind::Nvgre,
        tunnel.segment(),
        u32::from(f.outer.ipv4?.src_addr()),
        u32::from(inner.src_addr()),
        u32::from(inner.dst_addr()),
        f.inner.ports()?,
    ))
}

/// The decode values folded into one number, as the timed loops keep them.
#[inline(always)]
pub fn values_digest(v: &floors::Values) -> u64 {
    digest(v.1, v.2, v.3, v.4, v.5) ^ u64::from(v.0)
}

/// Everything a `Decapsulated` holds, as the IPv6 floor reports it.
pub fn found6(d: &Decapsulated) -> floors::Found6 {
    let (kind, segment, _, _, inner, alarm, protocol, options) = found(d);
    let (src, dst) = (ipv6_bits(d.outer_src), ipv6_bits(d.outer_dst));
    (kind, segment, src, dst, inner, alarm, protocol, options)
}

/// Everything a `Decapsulated` holds, as the IPv4 floor reports it: the tunnel kind,
/// the segment, the outer addresses, the inner range, the RFC 6040 alarm, the inner
/// protocol and the options' range.
pub fn found(d: &Decapsulated) -> floors::Found {
    let alarm = match d.ecn_alarm {
        None => 0,
        Some(EcnAlarm::Unexpected) => 1,
        Some(EcnAlarm::Questionable) => 2,
    };
    let kind = match d.kind() {
        TunnelKind::Vxlan => 0,
        TunnelKind::Nvgre => 1,
        _ => 2,
    };
    (
        kind,
        d.segment(),
        ipv4_bits(d.outer_src),
        ipv4_bits(d.outer_dst),
        d.inner.clone(),
        alarm,
        d.protocol.0,
        d.options.clone(),
    )
}
