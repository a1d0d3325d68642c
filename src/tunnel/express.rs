//! The express walk: the common received tunnel frame recognised in straight-line code,
//! recorded as the general walk records it.
//!
//! Nearly every frame a VTEP receives has one shape: an untagged outer Ethernet header,
//! IPv4 without options and not a fragment, then VXLAN with a zero UDP checksum or NVGRE,
//! and an untagged inner Ethernet frame carrying IPv4 without options. For that shape the
//! general walk's generality (tags, options, IPv6, Geneve, each error named and placed)
//! costs more than the checks themselves. This walk tests the shape with a few fixed-offset
//! compares and, when every check the general path would make passes, fills the same
//! [`Received`] the general walk fills, through the same recorders. Anything else (a
//! check that fails, a rarer shape) returns `None` and the general walk runs: errors are
//! always named by the general path, never here, so the two cannot disagree about one.
//! `tests` runs both on mutated frames and asserts identical records.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::config::{check_source_v4, check_vsid};
use super::decap::{Checksums, ReceivePolicy};
use super::inner_vlan::InnerTags;
use super::layout::{Accepted, Inner, InnerIp, Outer, OuterIp, Received};
use crate::AddressField;
use crate::packet::{Decoder, Depth, Record, ReservedPolicy, Transport, Tunnel};
use crate::wire::ethernet::EthernetFrame;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::nvgre;
use crate::wire::udp::UdpDatagram;
use crate::wire::vxlan::VxlanHeader;

/// Outer Ethernet and IPv4 without options: where UDP or GRE starts.
const OUTER: usize = 34;
/// UDP and VXLAN.
const UDP_VXLAN: usize = 16;

/// The big-endian u16 at the start of `b`.
#[inline(always)]
fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

/// The first `N` bytes of `b`, if it has them.
#[inline(always)]
fn head<const N: usize>(b: &[u8]) -> Option<&[u8; N]> {
    b.first_chunk::<N>()
}

/// An IPv4 header without options at the start of `bytes` whose total length fits:
/// the packet cut at that length. The general walk takes it whole (`ipv4::parse`).
#[inline(always)]
fn ipv4_plain(bytes: &[u8]) -> Option<(&[u8; 20], &[u8])> {
    let header: &[u8; 20] = head(bytes)?;
    if header[0] != 0x45 {
        return None;
    }
    // 20 <= total length <= what there is, in one range (a total under 20 wraps).
    let total = usize::from(be16([header[2], header[3]]));
    let packet = bytes.get(..total)?;
    let _: &[u8; 20] = head(packet)?;
    Some((header, packet))
}

/// True when the IPv4 header's checksum verifies (or the fuzzer asks every checksum to
/// pass, as `Ipv4Packet::verify_checksum`). RFC 1071: the one's-complement sum of the
/// header is 0xffff exactly when the plain sum of its words, in either byte order, is a
/// non-zero multiple of 0xffff; it is non-zero, the first byte being 0x45.
#[inline(always)]
// Cannot overflow or index out of range: fixed offsets inside the 20-byte array, five
// 32-bit words summed in 64 bits.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn ipv4_checksum_ok(header: &[u8; 20]) -> bool {
    if cfg!(fuzzing) {
        return true;
    }
    let word = |i: usize| {
        let at = i * 4;
        u64::from(u32::from_ne_bytes([
            header[at],
            header[at + 1],
            header[at + 2],
            header[at + 3],
        ]))
    };
    (word(0) + word(1) + word(2) + word(3) + word(4)) % 0xffff == 0
}

impl Decoder {
    /// The express walk of a whole frame for a receiver with `policy`: `Some` with what
    /// the general walk would record, when the frame has the common shape and passes
    /// every check; `None` otherwise (the general walk then decides). The inner stack is
    /// recorded as deep as `depth`.
    #[inline(always)]
    // Cannot overflow or index out of range: fixed offsets inside arrays and slices
    // whose lengths were just tested.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(crate) fn express<'a, K: Record<'a> + Default>(
        &self,
        bytes: &'a [u8],
        policy: ReceivePolicy,
        depth: Depth,
    ) -> Option<Received<'a, K>> {
        let eth: &[u8; 14] = head(bytes)?;
        if be16([eth[12], eth[13]]) != 0x0800 {
            return None;
        }
        let (header, packet) = ipv4_plain(&bytes[14..])?;
        // A fragment carries no tunnel the walk decodes.
        if be16([header[6], header[7]]) & 0x3fff != 0 {
            return None;
        }
        if policy.checksums == Checksums::Verify && !ipv4_checksum_ok(header) {
            return None;
        }
        let ip = Ipv4Packet::new_unchecked(packet);
        check_source_v4(AddressField::OuterSource, ip.src_addr(), policy.sources).ok()?;
        let payload = &packet[20..];
        let (tunnel, udp, inner, at) = match header[9] {
            17 => {
                let udp_vxlan: &[u8; UDP_VXLAN] = head(payload)?;
                // A zero checksum: nothing to verify (a non-zero one is the general
                // walk's). The length: room for VXLAN, inside the packet.
                let udp_len = usize::from(be16([udp_vxlan[4], udp_vxlan[5]]));
                if udp_vxlan[6..8] != [0, 0] || udp_len < UDP_VXLAN {
                    return None;
                }
                let datagram = payload.get(..udp_len)?;
                if !self
                    .vxlan_ports
                    .contains(be16([udp_vxlan[2], udp_vxlan[3]]))
                {
                    return None;
                }
                // The I flag set and VXLAN-GPE's P bit clear (a P bit has its own rules).
                let flags = udp_vxlan[8];
                if flags & 0x0c != 0x08 {
                    return None;
                }
                let vxlan = VxlanHeader::new_unchecked(&datagram[8..]);
                if self.vxlan_reserved == ReservedPolicy::Reject
                    && vxlan.check_reserved(ReservedPolicy::Reject).is_err()
                {
                    return None;
                }
                let udp = UdpDatagram::new_unchecked(datagram);
                (
                    Tunnel::Vxlan(vxlan),
                    Some(udp),
                    &datagram[UDP_VXLAN..],
                    OUTER + 8,
                )
            }
            47 => {
                // The header's own check is two compares when it passes.
                let (inner, nvgre) = nvgre::parse(payload).ok()?;
                check_vsid(nvgre.vsid()).ok()?;
                (Tunnel::Nvgre(nvgre), None, inner, OUTER)
            }
            _ => return None,
        };
        // The inner frame follows the tunnel header (VXLAN and NVGRE: 8 bytes).
        let offset = at + 8;
        let mut inner_stack = Inner::<K> {
            offset,
            ethernet: true,
            tags: InnerTags::default(),
            ip: None,
            also: K::default(),
        };
        self.express_inner(inner, offset, depth, &mut inner_stack)?;
        let header = OuterIp::V4(ip);
        Some(Received {
            policy,
            outer: Outer {
                l3: 14,
                ip: Some(header),
                udp,
            },
            accepted: Some(Accepted {
                tunnel,
                header,
                outer: header.facts(),
                inner_len: inner.len(),
                at,
            }),
            inner: inner_stack,
        })
    }

    /// The inner frame of the common shape (untagged Ethernet, IPv4 without options,
    /// its ports unless a fragment), recorded as the general walk records it.
    #[inline(always)]
    // Cannot overflow or index out of range: fixed offsets inside arrays and slices
    // whose lengths were just tested.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    fn express_inner<'a, K: Record<'a>>(
        &self,
        frame: &'a [u8],
        offset: usize,
        depth: Depth,
        inner: &mut Inner<K>,
    ) -> Option<()> {
        let eth: &[u8; 14] = head(frame)?;
        if be16([eth[12], eth[13]]) != 0x0800 {
            return None;
        }
        let (header, packet) = ipv4_plain(&frame[14..])?;
        let ip = Ipv4Packet::new_unchecked(packet);
        let ip_at = offset + 14;
        inner.also.start(offset);
        inner.also.ethernet(EthernetFrame::new_unchecked(frame));
        inner.ip = Some(InnerIp {
            at: ip_at,
            v6: false,
            tos: header[1],
        });
        inner.also.ipv4(ip_at, ip);
        if depth == Depth::InnerIp || be16([header[6], header[7]]) & 0x3fff != 0 {
            return Some(());
        }
        let payload = &packet[20..];
        match header[9] {
            17 => {
                // A UDP length that does not fit is the general walk's to report.
                let udp: &[u8; 8] = head(payload)?;
                let len = usize::from(be16([udp[4], udp[5]]));
                if len < 8 {
                    return None;
                }
                let datagram = payload.get(..len)?;
                inner
                    .also
                    .transport(Transport::Udp(UdpDatagram::new_unchecked(datagram)));
            }
            6 => {
                if let Some(ports) = head::<4>(payload) {
                    inner.also.transport(Transport::Tcp {
                        src_port: be16([ports[0], ports[1]]),
                        dst_port: be16([ports[2], ports[3]]),
                    });
                }
            }
            _ => {}
        }
        Some(())
    }
}
