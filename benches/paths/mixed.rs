//! The mixed workload: the shapes a VTEP meets besides the clean one (tags, TCP, IPv6,
//! ECN marks, several segments and VTEPs, malformed frames).

use std::net::Ipv4Addr;
use std::ops::Range;

use tunnelwire::tunnel::{Encapsulator, HEADROOM, TunnelConfig};
use tunnelwire::wire::{IpProtocol, Ipv4Packet, Vni};

use super::{DST6, FRAMES, MTU, Rng, SRC, SRC6, emit_eth_ipv4, emit_udp, inner_frame, outer_stack};

/// The mixed workload's segments (one of them, 100, a reserved VSID: translation to
/// NVGRE refuses it) and remote VTEPs.
pub(super) const MIXED_SEGMENTS: [u32; 8] = [
    0x1000, 4242, 100, 0x2_0000, 0x7f_ffff, 0xab_cdef, 0xff_fffe, 0x5555,
];
const MIXED_SOURCES: [Ipv4Addr; 4] = [
    SRC,
    Ipv4Addr::new(10, 99, 1, 7),
    Ipv4Addr::new(192, 0, 2, 10),
    Ipv4Addr::new(172, 16, 5, 5),
];

/// Sets the ECN of an inner frame's IP header (IPv4: checksum filled again), when it
/// has one at `at`.
fn set_inner_ecn(frame: &mut [u8], at: usize, ecn: u8) {
    match u16::from_be_bytes([frame[at - 2], frame[at - 1]]) {
        0x0800 => {
            let mut ip = Ipv4Packet::new_unchecked(&mut frame[at..]);
            let dscp = ip.dscp();
            ip.set_dscp_ecn(dscp, ecn);
            ip.fill_checksum();
        }
        0x86dd => frame[at + 1] = frame[at + 1] & !0x30 | ecn << 4,
        _ => {}
    }
}

/// An inner frame of the mixed workload, about `len` bytes: IPv4/UDP (most), IPv4/TCP,
/// IPv6/UDP or TCP, 802.1Q-tagged IPv4/UDP, and one in twenty malformed (an IPv4 or
/// IPv6 length past the frame, a UDP length past the packet, three tags, a frame cut
/// inside its IP header); every ECN codepoint.
pub(super) fn mixed_inner(rng: &mut Rng, len: usize) -> Vec<u8> {
    let payload = len.saturating_sub(62);
    let shape = rng.next() % 20;
    let mut frame = match shape {
        9..=11 => {
            let mut f = Vec::new();
            emit_eth_ipv4(&mut f, rng, IpProtocol::TCP, 20 + payload);
            let (src, dst) = (rng.next() as u16, rng.next() as u16);
            f.extend_from_slice(&src.to_be_bytes());
            f.extend_from_slice(&dst.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
            f.resize(f.len() + payload, 0x5a);
            f
        }
        12..=14 => {
            let mut f = vec![0x02, 0, 0, 0, 0, 9, 0x02, 0, 0, 0, 0, 8, 0x86, 0xdd];
            f[4] = rng.next() as u8;
            let tcp = rng.next() % 2 == 0;
            let l4 = if tcp { 20 } else { 8 };
            let label = rng.next() & 0xf_ffff;
            f.extend_from_slice(&(6 << 28 | label).to_be_bytes());
            f.extend_from_slice(&((l4 + payload) as u16).to_be_bytes());
            f.extend_from_slice(&[if tcp { 6 } else { 17 }, 64]);
            for _ in 0..2 {
                f.extend_from_slice(&[0xfd, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0]);
                f.extend_from_slice(&rng.next().to_be_bytes());
            }
            if tcp {
                f.extend_from_slice(&rng.next().to_be_bytes());
                f.extend_from_slice(&[0; 8]);
                f.extend_from_slice(&[0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
            } else {
                emit_udp(&mut f, rng, 53, payload);
            }
            f.resize(f.len() + payload, 0x66);
            f
        }
        15..=18 => {
            let mut f = inner_frame(rng, payload);
            let vid = (rng.next() % 4094 + 1) as u16;
            f.splice(12..12, [0x81, 0x00, (vid >> 8) as u8, vid as u8]);
            f
        }
        _ => inner_frame(rng, payload),
    };
    let ip_at = if (15..=18).contains(&shape) { 18 } else { 14 };
    set_inner_ecn(&mut frame, ip_at, (rng.next() % 4) as u8);
    if shape == 19 {
        match rng.next() % 5 {
            0 => frame[16..18].copy_from_slice(&[0xff, 0xf0]),
            1 => frame[38..40].copy_from_slice(&[0xff, 0xf0]),
            2 => frame
                .splice(12..12, [0x81, 0, 0, 7, 0x88, 0xa8, 0, 8, 0x81, 0, 0, 9])
                .for_each(drop),
            3 => frame.truncate(30),
            _ => frame[12..14].copy_from_slice(&[0x86, 0xdd]),
        }
    }
    frame
}

/// 64 buffers as `inner_buffers`, with mixed inner frames.
pub fn mixed_inner_buffers() -> Vec<(Vec<u8>, Range<usize>)> {
    let mut rng = Rng(0x6040_8021);
    (0..FRAMES)
        .map(|i| {
            let inner = mixed_inner(&mut rng, 64 + i * (1500 - 64) / (FRAMES - 1));
            let mut buf = vec![0u8; HEADROOM];
            buf.extend_from_slice(&inner);
            let len = buf.len();
            (buf, HEADROOM..len)
        })
        .collect()
}

/// The mixed inner buffers in VXLAN (tags kept), to several VTEPs from several, in
/// several segments, each frame's outer ECN its inner one's.
pub fn mixed_vxlan_buffers() -> Vec<(Vec<u8>, Range<usize>)> {
    mixed_inner_buffers()
        .into_iter()
        .enumerate()
        .map(|(i, (mut buf, inner))| {
            let mut config = TunnelConfig::vxlan(
                Vni::new(MIXED_SEGMENTS[i % 8]).unwrap(),
                MIXED_SOURCES[i % 4],
                MIXED_SOURCES[(i + 1) % 4],
            );
            config.mtu = MTU;
            config.inner_vlan = tunnelwire::tunnel::InnerVlanPolicy::Keep;
            let mut encapsulator = Encapsulator::new(config).unwrap();
            let frame = encapsulator.encapsulate(&mut buf, inner).unwrap();
            (buf, frame)
        })
        .collect()
}

/// The mixed inner buffers in VXLAN over IPv6 (tags kept), in several segments.
pub fn mixed_vxlan6_buffers() -> Vec<(Vec<u8>, Range<usize>)> {
    mixed_inner_buffers()
        .into_iter()
        .enumerate()
        .map(|(i, (mut buf, inner))| {
            let mut config =
                TunnelConfig::vxlan(Vni::new(MIXED_SEGMENTS[i % 8]).unwrap(), SRC6, DST6);
            config.mtu = MTU;
            config.inner_vlan = tunnelwire::tunnel::InnerVlanPolicy::Keep;
            let mut encapsulator = Encapsulator::new(config).unwrap();
            let frame = encapsulator.encapsulate(&mut buf, inner).unwrap();
            (buf, frame)
        })
        .collect()
}

/// The outer IPv4 header of a whole frame at `buf[frame]`, changed by `change`, its
/// checksum filled again.
fn with_outer(
    buf: &mut [u8],
    frame: &Range<usize>,
    change: impl FnOnce(&mut Ipv4Packet<&mut [u8]>),
) {
    let mut ip = Ipv4Packet::new_unchecked(&mut buf[frame.start + 14..frame.end]);
    change(&mut ip);
    ip.fill_checksum();
}

/// The mixed VXLAN frames as a VTEP receives them (`as_received`).
pub fn mixed_decap_buffers() -> Vec<(Vec<u8>, Range<usize>)> {
    as_received(mixed_vxlan_buffers(), Rng(0x6040_0003))
}

/// Tunnel frames over IPv4 as a VTEP receives them: the outer ECN as sent (two in
/// five), CE (one in four: RFC 6040 rewrites, or drops Not-ECT), ECT(1) or Not-ECT; one
/// in twenty malformed (a bad header checksum, a martian source, a UDP length past the
/// packet, the tunnel header's first byte zero: VXLAN's I flag clear, Geneve's options
/// gone).
pub(super) fn as_received(
    mut buffers: Vec<(Vec<u8>, Range<usize>)>,
    mut rng: Rng,
) -> Vec<(Vec<u8>, Range<usize>)> {
    for (buf, frame) in &mut buffers {
        match rng.next() % 20 {
            0..=7 => {}
            8..=12 => with_outer(buf, frame, |ip| ip.set_dscp_ecn(0, 3)),
            13..=15 => with_outer(buf, frame, |ip| ip.set_dscp_ecn(0, 1)),
            16..=18 => with_outer(buf, frame, |ip| ip.set_dscp_ecn(0, 0)),
            _ => match rng.next() % 4 {
                0 => buf[frame.start + 22] ^= 1,
                1 => with_outer(buf, frame, |ip| {
                    ip.set_src_addr(Ipv4Addr::new(127, 0, 0, 1))
                }),
                2 => buf[frame.start + 38] ^= 0x40,
                _ => buf[frame.start + 42] = 0,
            },
        }
    }
    buffers
}

/// 64 tunnel frames as `tunnel_frames`, with mixed inner frames, and one in twenty
/// outer stacks malformed (the I flag clear or not NVGRE; a port other than 4789).
pub fn mixed_tunnel_frames(nvgre: bool) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x7348_0021);
    (0..FRAMES)
        .map(|i| {
            let inner = mixed_inner(&mut rng, 64 + (i * 997) % 1436);
            let segment = MIXED_SEGMENTS[i % 8].max(0x1000);
            let (mut frame, mut tunnel) = outer_stack(&mut rng, nvgre, segment, inner.len());
            if rng.next() % 20 == 0 {
                tunnel[0] ^= 0x08;
                if !nvgre {
                    frame[37] ^= 1;
                }
            }
            frame.extend_from_slice(&tunnel);
            frame.extend_from_slice(&inner);
            frame
        })
        .collect()
}
