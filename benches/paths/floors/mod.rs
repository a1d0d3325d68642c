//! The floors: each path written by hand, as tight as we can, doing exactly what
//! tunnelwire does and nothing more.
//!
//! "Exactly" means the same checks with the same outcome (a frame tunnelwire refuses,
//! the floor refuses), the same flow hash (tunnelwire flow hash v2, computed here from
//! its documented definition, over every inner shape: tags, IPv4, IPv6, UDP, TCP,
//! truncated headers), the same inner-tag policy, the same RFC 6040 rules, and
//! byte-identical output; the benches assert that before timing and counting, and
//! `benches/differential.rs` (and `tests/floors.rs`) on mutated frames. Every helper is
//! `#[inline(always)]` and nothing just written is read back. Shapes no workload has are
//! left to tunnelwire's general code (`None` here) and named where they are: an outer
//! VLAN tag, outer IPv4 options, a non-zero VXLAN UDP checksum over IPv4, a same-kind
//! translation.
//!
//! The files split by job: this one holds the header checks every floor shares, `flow`
//! the inner walk and flow hash, `decode`, `encap` and `receive` (decapsulation and
//! translation) the paths over IPv4, `underlay6` over IPv6, `payload` on socket
//! payloads; Geneve's are in `floors_geneve.rs`.

mod decode;
mod encap;
mod flow;
mod payload;
mod receive;
mod underlay6;

pub use self::{decode::*, encap::*, payload::*, receive::*, underlay6::*};
use flow::*;

use std::net::IpAddr;
use std::ops::Range;

/// Big-endian u16 at `at`; callers have checked the length.
#[inline(always)]
pub(super) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Big-endian u32 at `at`.
#[inline(always)]
pub(super) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A 32-bit word at `at` as the machine orders its bytes (one load): compared against
/// constants ordered alike, it needs no swap.
#[inline(always)]
pub(super) fn ne32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

/// An IPv4 header's bytes 6-9 (flags and fragment offset, TTL, protocol) masked to the
/// fragment bits and the protocol: `UDP`, `GRE` or `TCP` for a packet of that protocol
/// that is not a fragment, one compare in the machine's byte order.
pub(super) const FRAGMENT_PROTOCOL: u32 = u32::from_ne_bytes([0x3f, 0xff, 0, 0xff]);
pub(super) const UDP: u32 = u32::from_ne_bytes([0, 0, 0, 17]);
pub(super) const GRE: u32 = u32::from_ne_bytes([0, 0, 0, 47]);
pub(super) const TCP: u32 = u32::from_ne_bytes([0, 0, 0, 6]);

/// Big-endian u64 at `at`.
#[inline(always)]
pub(super) fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// True for the VLAN TPIDs tunnelwire walks (802.1Q, 802.1ad, the legacy 0x9100).
#[inline(always)]
pub(super) fn tpid(ethertype: u16) -> bool {
    matches!(ethertype, 0x8100 | 0x88a8 | 0x9100)
}

/// An IPv4 packet as tunnelwire's decoder accepts it at the start of `ip`: version 4,
/// IHL >= 5, IHL * 4 <= total length <= what follows. Its fixed header and its payload
/// (up to the total length). The common header (no options): 20 bytes, the first byte
/// 0x45, and the payload's range is the length check.
#[inline(always)]
pub(super) fn ipv4(ip: &[u8]) -> Option<(&[u8; 20], &[u8])> {
    let header: &[u8; 20] = ip.first_chunk()?;
    if header[0] == 0x45 {
        return Some((header, ip.get(20..usize::from(be16(header, 2)))?));
    }
    ipv4_with_options(ip)
}

/// `ipv4` past the common header: options, or refused.
#[cold]
#[inline(never)]
fn ipv4_with_options(ip: &[u8]) -> Option<(&[u8; 20], &[u8])> {
    let header: &[u8; 20] = ip.first_chunk()?;
    let header_len = usize::from(header[0] & 0x0f) * 4;
    if header[0] >> 4 != 4 || header_len < 20 {
        return None;
    }
    Some((header, ip.get(header_len..usize::from(be16(header, 2)))?))
}

/// A UDP header checked as tunnelwire checks it (8 <= length <= what follows): the
/// payload up to the length, and the ports.
#[inline(always)]
pub(super) fn udp(bytes: &[u8]) -> Option<(&[u8], u16, u16)> {
    let len = usize::from(be16(bytes.get(..8)?, 4));
    let payload = bytes.get(8..len)?;
    Some((payload, be16(bytes, 0), be16(bytes, 2)))
}

/// A VXLAN header: 8 bytes, I flag set. Its segment, its flags byte and the byte
/// VXLAN-GPE reads as the next protocol, and its payload.
#[inline(always)]
fn vxlan(payload: &[u8]) -> Option<(u32, u8, u8, &[u8])> {
    if payload.len() < 8 || payload[0] & 0x08 == 0 {
        return None;
    }
    Some((be32(payload, 4) >> 8, payload[0], payload[3], &payload[8..]))
}

/// The segment and payload of an NVGRE header: C, R, K, S, s and bit 5, version 0 and
/// protocol 0x6558 in one compare (bits 6-12 are ignored, as tunnelwire ignores them).
#[inline(always)]
fn nvgre(payload: &[u8]) -> Option<(u32, &[u8])> {
    if payload.len() < 8 || be32(payload, 0) & 0xfc07_ffff != 0x2000_6558 {
        return None;
    }
    Some((be32(payload, 4) >> 8, &payload[8..]))
}

/// A VSID tunnelwire refuses (RFC 7637 section 3.2: 0-0xfff and 0xffffff are
/// reserved), in one compare.
#[inline(always)]
fn reserved_vsid(segment: u32) -> bool {
    segment.wrapping_sub(0x1000) > 0xff_effe
}
