//! The clean workload: its frames, buffers and socket payloads, built from deterministic
//! pseudo-random numbers, and the settings every path's arms share.

use super::*;

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

pub(super) fn emit_eth_ipv4(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    protocol: IpProtocol,
    payload_len: usize,
) {
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

pub(super) fn emit_udp(out: &mut Vec<u8>, rng: &mut Rng, dst_port: u16, payload_len: usize) {
    let mut bytes = [0u8; 8];
    UdpRepr::new(rng.next() as u16 | 0xc000, dst_port, payload_len as u16)
        .emit(&mut bytes)
        .unwrap();
    out.extend_from_slice(&bytes);
}

/// An inner Ethernet/IPv4/UDP frame with `payload` bytes of UDP payload.
pub(super) fn inner_frame(rng: &mut Rng, payload: usize) -> Vec<u8> {
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
            let segment = 0x1000 + rng.next() % 0xfe_e000;
            let (mut frame, tunnel) = outer_stack(&mut rng, nvgre, segment, inner.len());
            frame.extend_from_slice(&tunnel);
            frame.extend_from_slice(&inner);
            frame
        })
        .collect()
}

/// The outer Ethernet, IPv4 and (VXLAN) UDP headers of a tunnel frame whose inner frame
/// is `inner_len` bytes, random addresses and ports, and its VXLAN or NVGRE header in
/// `segment` (NVGRE's FlowID random).
pub fn outer_stack(
    rng: &mut Rng,
    nvgre: bool,
    segment: u32,
    inner_len: usize,
) -> (Vec<u8>, [u8; 8]) {
    let mut tunnel = [0u8; 8];
    let mut frame = Vec::new();
    if nvgre {
        NvgreRepr::new(Vsid::new(segment).unwrap(), rng.next() as u8)
            .emit(&mut tunnel)
            .unwrap();
        emit_eth_ipv4(&mut frame, rng, IpProtocol::GRE, 8 + inner_len);
    } else {
        VxlanRepr::new(Vni::new(segment).unwrap())
            .emit(&mut tunnel)
            .unwrap();
        emit_eth_ipv4(&mut frame, rng, IpProtocol::UDP, 16 + inner_len);
        emit_udp(&mut frame, rng, 4789, 8 + inner_len);
    }
    (frame, tunnel)
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

pub(super) fn encapsulated(config: TunnelConfig) -> Vec<(Vec<u8>, Range<usize>)> {
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
