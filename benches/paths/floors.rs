//! The floors: each path written by hand, as tight as we can, doing exactly what
//! tunnelwire does on the benchmark's frames and nothing more.
//!
//! "Exactly" means the same checks with the same outcome (a frame tunnelwire refuses,
//! the floor refuses), the same flow hash (tunnelwire flow hash v2, computed here from
//! its documented definition), the same RFC 6040 rules, and byte-identical output; the
//! benches assert that before timing. Every helper is `#[inline(always)]` and nothing
//! just written is read back. Where tunnelwire handles shapes the benchmark frames do not
//! have (VLAN tags, IPv6, IPv4 options), the floor checks for them as tunnelwire does,
//! and leaves them to tunnelwire's general code, which they never reach here.

use std::ops::Range;

/// Big-endian u16 at `at`; callers have checked the length.
#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Big-endian u32 at `at`.
#[inline(always)]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Big-endian u64 at `at`.
#[inline(always)]
fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// An Ethernet frame carrying IPv4, checked as tunnelwire's decoder checks it: 14 bytes
/// of Ethernet, EtherType 0x0800 (tags and IPv6 are other shapes: `None` here), version
/// 4, IHL >= 5, IHL * 4 <= total length <= what follows. Returns the IPv4 packet cut at
/// its total length and its header length; `None` also for a fragment, after which
/// tunnelwire decodes nothing.
#[inline(always)]
fn ipv4(frame: &[u8]) -> Option<(&[u8], usize)> {
    if frame.len() < 34 || be16(frame, 12) != 0x0800 {
        return None;
    }
    let ip = &frame[14..];
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(ip, 2));
    if ip[0] >> 4 != 4 || header_len < 20 || total < header_len || total > ip.len() {
        return None;
    }
    if be16(ip, 6) & 0x3fff != 0 {
        return None;
    }
    // `total >= header_len >= 20`, but the optimiser does not chain the two: cut at no
    // less than 20, so the address reads after need no bounds checks (same slice).
    Some((&ip[..total.max(20)], header_len))
}

/// A UDP header checked as tunnelwire checks it (8 <= length <= what follows): the
/// payload up to the length, and the ports.
#[inline(always)]
fn udp(bytes: &[u8]) -> Option<(&[u8], u16, u16)> {
    if bytes.len() < 8 {
        return None;
    }
    let len = usize::from(be16(bytes, 4));
    if len < 8 || len > bytes.len() {
        return None;
    }
    Some((&bytes[8..len], be16(bytes, 0), be16(bytes, 2)))
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

/// A tunnel header found in an outer IPv4 packet.
struct Tunnel<'a> {
    nvgre: bool,
    segment: u32,
    /// The tunnel's payload: the inner frame.
    inner: &'a [u8],
    /// VXLAN: the UDP checksum field, the flags byte and VXLAN-GPE's next protocol (all
    /// zero for NVGRE).
    udp_checksum: u16,
    flags: u8,
    next_protocol: u8,
}

/// The tunnel of an outer IPv4 packet: VXLAN on UDP port 4789, or NVGRE.
#[inline(always)]
fn tunnel(ip: &[u8], header_len: usize) -> Option<Tunnel<'_>> {
    let payload = &ip[header_len..];
    match ip[9] {
        17 => {
            let (datagram, _, dst) = udp(payload)?;
            if dst != 4789 {
                return None;
            }
            let (segment, flags, next_protocol, inner) = vxlan(datagram)?;
            Some(Tunnel {
                nvgre: false,
                segment,
                inner,
                // `udp` saw 8 bytes.
                udp_checksum: be16(payload, 6),
                flags,
                next_protocol,
            })
        }
        47 => {
            let (segment, inner) = nvgre(payload)?;
            Some(Tunnel {
                nvgre: true,
                segment,
                inner,
                udp_checksum: 0,
                flags: 0,
                next_protocol: 0,
            })
        }
        _ => None,
    }
}

/// What the decode benchmark extracts, folded into one number (as `digest` there).
#[inline(always)]
pub fn decode(frame: &[u8], want_nvgre: bool) -> Option<u64> {
    let (outer, outer_len) = ipv4(frame)?;
    let Tunnel {
        nvgre,
        segment,
        inner,
        ..
    } = tunnel(outer, outer_len)?;
    debug_assert_eq!(nvgre, want_nvgre);
    let (ip, header_len) = ipv4(inner)?;
    let (_, src_port, dst_port) = match ip[9] {
        17 => udp(&ip[header_len..])?,
        _ => return None,
    };
    Some(super::digest(
        segment,
        be32(outer, 12),
        be32(ip, 12),
        be32(ip, 16),
        (src_port, dst_port),
    ))
}

const K0: u64 = 0x9e37_79b9_7f4a_7c15;
const K1: u64 = 0xbf58_476d_1ce4_e5b9;
const K2: u64 = 0x94d0_49bb_1331_11eb;
const K3: u64 = 0xd6e8_feb8_6659_fd93;
const K4: u64 = 0xa076_1d64_78bd_642f;

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Flow hash v2 of an untagged Ethernet/IPv4 frame (`None` for other shapes), and the
/// inner IPv4 TOS byte.
#[inline(always)]
fn flow_hash(frame: &[u8]) -> Option<(u64, u8)> {
    let (ip, header_len) = ipv4(frame)?;
    let w0 = be64(frame, 0) >> 16 | 0x0800 << 48;
    let w1 = be64(frame, 4) & 0xffff_ffff_ffff;
    let w2 = be64(ip, 12);
    let protocol = u64::from(ip[9]) << 32;
    let ports = match ip[9] {
        17 => udp(&ip[header_len..]).map(|(_, s, d)| u64::from(s) << 16 | u64::from(d)),
        6 => ip
            .get(header_len..header_len + 4)
            .map(|p| u64::from(be32(p, 0))),
        _ => None,
    };
    let w3 = protocol | ports.unwrap_or(0);
    let hash = fold(fold(w0 ^ K0, w1 ^ K1) ^ fold(w2 ^ K2, w3 ^ K3), K4);
    Some((hash, ip[1]))
}

/// The source port for a hash in 49152-65535 (tunnelwire's reduction).
#[inline(always)]
fn source_port(hash: u64) -> u16 {
    49152 + (((hash >> 32) * 16384) >> 32) as u16
}

/// A hand-written encapsulator: the outer headers tunnelwire writes for the benchmark's
/// settings (no outer tag, DF set so ID 0, DSCP 0, ECN copied, no UDP checksum), as a
/// template with its IPv4 header's sum.
#[derive(Clone)]
pub struct Encap<const LEN: usize> {
    template: [u8; LEN],
    ip_sum: u16,
    mtu: usize,
}

impl<const LEN: usize> Encap<LEN> {
    /// From the header bytes tunnelwire wrote for one frame: lengths, TOS, checksum,
    /// port and FlowID zeroed.
    pub fn new(written: &[u8], mtu: u16) -> Self {
        let mut template: [u8; LEN] = written.try_into().unwrap();
        template[15] = 0;
        template[16..18].fill(0);
        template[24..26].fill(0);
        if LEN == 50 {
            template[34..36].fill(0);
            template[38..40].fill(0);
        } else {
            template[41] = 0;
        }
        let ip_sum = tunnelwire::checksum::sum(&template[14..34]);
        Encap {
            template,
            ip_sum,
            mtu: usize::from(mtu),
        }
    }

    /// Encapsulates `buf[inner]` in place; `None` where tunnelwire fails.
    #[inline(always)]
    pub fn encapsulate(&self, buf: &mut [u8], inner: Range<usize>) -> Option<Range<usize>> {
        let frame = buf.get(inner.clone())?;
        let (hash, tos) = flow_hash(frame)?;
        let start = inner.start.checked_sub(LEN)?;
        let ip_len = LEN - 14 + frame.len();
        if ip_len > self.mtu {
            return None;
        }
        let ecn = u16::from(tos & 0x03);
        let header: &mut [u8; LEN] = (&mut buf[start..inner.start]).try_into().unwrap();
        *header = self.template;
        header[15] = ecn as u8;
        header[16..18].copy_from_slice(&(ip_len as u16).to_be_bytes());
        let sum = tunnelwire::checksum::combine(self.ip_sum, ip_len as u16);
        let sum = tunnelwire::checksum::combine(sum, ecn);
        header[24..26].copy_from_slice(&(!sum).to_be_bytes());
        if LEN == 50 {
            header[34..36].copy_from_slice(&source_port(hash).to_be_bytes());
            header[38..40].copy_from_slice(&((ip_len - 20) as u16).to_be_bytes());
        } else {
            header[41] = (hash >> 24) as u8;
        }
        Some(start..inner.end)
    }
}

/// One's-complement sum of a 20-byte IPv4 header (no options), folded.
#[inline(always)]
fn sum20(ip: &[u8]) -> u16 {
    let a = u64::from(be32(ip, 0)) + u64::from(be32(ip, 4)) + u64::from(be32(ip, 8));
    let b = u64::from(be32(ip, 12)) + u64::from(be32(ip, 16));
    let s = a + b;
    let s = (s >> 32) + (s & 0xffff_ffff);
    let s = (s >> 16) + (s & 0xffff);
    let s = (s >> 16) + (s & 0xffff);
    ((s >> 16) + (s & 0xffff)) as u16
}

/// True for an outer source that cannot be a VTEP, as tunnelwire's check: 0/8, 127/8,
/// and 224/3 (multicast, the reserved 240/4 and broadcast).
#[inline(always)]
fn martian(src: u32) -> bool {
    let first = (src >> 24) as u8;
    // 0 and 224..=255 are one range once 1 is taken away (0 wraps to 255).
    first.wrapping_sub(1) >= 223 || first == 127
}

/// True for a VXLAN header whose VXLAN-GPE P bit announces what tunnelwire refuses: a
/// version other than 0, OAM, or a next protocol other than Ethernet (3).
#[inline(always)]
fn vxlan_gpe_refused(flags: u8, next_protocol: u8) -> bool {
    flags & 0x04 != 0 && (flags & 0x31 != 0 || next_protocol != 3)
}

/// What decapsulation found, as the bench compares it.
pub type Found = (u32, u32, Range<usize>);

/// A received tunnel frame that passed the checks, and the outer fields the paths use.
struct Checked {
    nvgre: bool,
    segment: u32,
    /// Where the inner frame is in the frame.
    inner: Range<usize>,
    /// The outer Ethernet and IPv4 headers (no options).
    outer: [u8; 34],
}

/// The checks tunnelwire's decapsulation and translation make, on an outer IPv4 header
/// without options (other shapes are `None` here): the outer header checksum, a VTEP
/// source, a zero UDP checksum (non-zero ones are other shapes here), the VXLAN-GPE
/// payload, a non-reserved VSID, an inner Ethernet header without tags.
#[inline(always)]
fn checked(frame: &[u8]) -> Option<Checked> {
    let (ip, header_len) = ipv4(frame)?;
    if header_len != 20 || sum20(ip) != 0xffff || martian(be32(ip, 12)) {
        return None;
    }
    let tunnel = tunnel(ip, header_len)?;
    if tunnel.nvgre {
        if tunnel.segment <= 0xfff || tunnel.segment == 0xff_ffff {
            return None;
        }
    } else if tunnel.udp_checksum != 0 || vxlan_gpe_refused(tunnel.flags, tunnel.next_protocol) {
        return None;
    }
    let inner = tunnel.inner;
    if inner.len() < 14 || matches!(be16(inner, 12), 0x8100 | 0x88a8 | 0x9100) {
        return None;
    }
    let start = inner.as_ptr() as usize - frame.as_ptr() as usize;
    Some(Checked {
        nvgre: tunnel.nvgre,
        segment: tunnel.segment,
        inner: start..start + inner.len(),
        // `ipv4` saw 34 bytes.
        outer: frame[..34].try_into().unwrap(),
    })
}

/// RFC 6040 section 4.2 for the inner ECN (`None`: drop), as tunnelwire reads it: one
/// load from Figure 4 as a table (inner << 2 | outer; 4 is a drop), no branch on the
/// ECN values, which vary from packet to packet.
#[inline(always)]
fn combine_ecn(inner: u8, outer: u8) -> Option<u8> {
    const FIGURE_4: [u8; 16] = [0, 0, 0, 4, 1, 1, 1, 3, 2, 1, 2, 3, 3, 3, 3, 3];
    let combined = FIGURE_4[usize::from(inner << 2 | outer) & 15];
    (combined != 4).then_some(combined)
}

/// Hand-written decapsulation with tunnelwire's defaults.
#[inline(always)]
pub fn decapsulate(frame: &mut [u8]) -> Option<Found> {
    let Checked {
        segment,
        inner: range,
        outer,
        ..
    } = checked(frame)?;
    let outer_ecn = outer[15] & 0x03;
    let src = be32(&outer, 26);
    let inner = frame.get_mut(range.clone())?;
    if be16(inner, 12) == 0x86dd {
        return None; // inner IPv6: another shape
    }
    // The inner IPv4 header, when it is one that tunnelwire's decoder accepts.
    if ipv4_header_ok(inner) {
        let ip: &mut [u8; 20] = (&mut inner[14..34]).try_into().unwrap();
        let tos = ip[1];
        let ecn = combine_ecn(tos & 0x03, outer_ecn)?;
        if ecn != tos & 0x03 {
            let old = u16::from_be_bytes([ip[0], tos]);
            let new = old & !0x03 | u16::from(ecn);
            ip[1] = tos & !0x03 | ecn;
            let checksum = be16(ip, 10);
            let updated =
                !tunnelwire::checksum::combine(tunnelwire::checksum::combine(!checksum, !old), new);
            ip[10..12].copy_from_slice(&updated.to_be_bytes());
        }
    }
    Some((segment, src, range))
}

/// An Ethernet/IPv4 header that tunnelwire's decoder accepts, fragment or not.
#[inline(always)]
fn ipv4_header_ok(frame: &[u8]) -> bool {
    if frame.len() < 34 || be16(frame, 12) != 0x0800 {
        return false;
    }
    let ip = &frame[14..];
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(ip, 2));
    ip[0] >> 4 == 4 && header_len >= 20 && total >= header_len && total <= ip.len()
}

/// Hand-written VXLAN <-> NVGRE translation with tunnelwire's defaults, in place: the
/// new range.
#[inline(always)]
pub fn translate(
    buf: &mut [u8],
    frame: Range<usize>,
    to_nvgre: bool,
    mtu: usize,
) -> Option<Range<usize>> {
    let bytes = buf.get(frame.clone())?;
    let Checked {
        nvgre,
        segment,
        inner,
        ..
    } = checked(bytes)?;
    if nvgre == to_nvgre {
        return None; // same-kind translation is another shape here
    }
    if to_nvgre && (segment <= 0xfff || segment == 0xff_ffff) {
        return None;
    }
    let (hash, _) = flow_hash(&bytes[inner.clone()])?;
    let inner_len = inner.end - inner.start;
    let old_total = be16(bytes, 16);
    let checksum = be16(bytes, 24);
    let ttl = bytes[22];
    let end = frame.start + inner.end;
    let inner_at = frame.start + inner.start;
    let (total, protocol, start) = if to_nvgre {
        (20 + 8 + inner_len, 47u8, frame.start + 8)
    } else {
        (20 + 16 + inner_len, 17u8, frame.start.checked_sub(8)?)
    };
    if total > mtu {
        return None;
    }
    let old_proto = bytes[23];
    let sum = !tunnelwire::checksum::combine(
        tunnelwire::checksum::combine(!checksum, !old_total),
        total as u16,
    );
    let sum = !tunnelwire::checksum::combine(
        tunnelwire::checksum::combine(!sum, !u16::from_be_bytes([ttl, old_proto])),
        u16::from_be_bytes([ttl, protocol]),
    );
    let outer: [u8; 34] = bytes[..34].try_into().unwrap();
    let moved: &mut [u8; 34] = (&mut buf[start..start + 34]).try_into().unwrap();
    *moved = outer;
    moved[16..18].copy_from_slice(&(total as u16).to_be_bytes());
    moved[23] = protocol;
    moved[24..26].copy_from_slice(&sum.to_be_bytes());
    let l4 = start + 34;
    if to_nvgre {
        let gre: [u8; 8] = [
            0x20,
            0,
            0x65,
            0x58,
            (segment >> 16) as u8,
            (segment >> 8) as u8,
            segment as u8,
            (hash >> 24) as u8,
        ];
        buf[l4..l4 + 8].copy_from_slice(&gre);
    } else {
        let port = source_port(hash).to_be_bytes();
        let len = ((16 + inner_len) as u16).to_be_bytes();
        let header: [u8; 16] = [
            port[0],
            port[1],
            0x12,
            0xb5,
            len[0],
            len[1],
            0,
            0,
            0x08,
            0,
            0,
            0,
            (segment >> 16) as u8,
            (segment >> 8) as u8,
            segment as u8,
            0,
        ];
        buf[l4..l4 + 16].copy_from_slice(&header);
    }
    debug_assert_eq!(l4 + if to_nvgre { 8 } else { 16 }, inner_at);
    Some(start..end)
}

// The IPv6 underlay: VXLAN and NVGRE over IPv6 (RFC 8200), by the same rules.

/// Big-endian u128 at `at`.
#[inline(always)]
fn be128(b: &[u8], at: usize) -> u128 {
    u128::from_be_bytes(b[at..at + 16].try_into().unwrap())
}

/// The one's-complement sum of a datagram: tunnelwire's own `checksum::sum`, 64-bit
/// words as 32-bit halves in independent lanes (vector additions), the fastest we have
/// written. Both sides pay the same for it; a slower one here would flatter tunnelwire.
#[inline(always)]
fn sum(bytes: &[u8]) -> u16 {
    tunnelwire::checksum::sum(bytes)
}

/// One's-complement addition of folded sums.
#[inline(always)]
fn add(a: u16, b: u16) -> u16 {
    tunnelwire::checksum::combine(a, b)
}

/// The folded sum of two IPv6 addresses (the pseudo-header's share of them): four
/// 64-bit words in the machine's byte order (the sum does not depend on it), folded,
/// swapped once.
#[inline(always)]
fn address_sum(addresses: &[u8]) -> u16 {
    let a: &[u8; 32] = addresses[..32].try_into().unwrap();
    let word = |i: usize| u128::from(u64::from_ne_bytes(a[i..i + 8].try_into().unwrap()));
    let acc = word(0) + word(8) + word(16) + word(24);
    let (s, carry) = (acc as u64).overflowing_add((acc >> 64) as u64);
    let s = (s >> 32) + (s & 0xffff_ffff) + u64::from(carry);
    let s = (s >> 16) + (s & 0xffff);
    let s = (s >> 16) + (s & 0xffff);
    u16::from_be((s + (s >> 16)) as u16)
}

/// The IPv6 flow label tunnelwire derives from a flow hash (RFC 6438): its low 20 bits,
/// never 0.
#[inline(always)]
fn flow_label(hash: u64) -> u32 {
    let label = hash as u32 & 0xf_ffff;
    label | (label == 0) as u32
}

/// A hand-written encapsulator over IPv6: the outer headers tunnelwire writes for the
/// benchmark's settings (no outer tag, traffic class DSCP 0 with the inner ECN copied,
/// the flow label from the flow hash, the VXLAN UDP checksum computed over the IPv6
/// pseudo-header), as a template with the constant part of that checksum.
#[derive(Clone)]
pub struct Encap6<const LEN: usize> {
    template: [u8; LEN],
    /// VXLAN: the folded sum of what the UDP checksum covers that never changes: the
    /// addresses, the next header, the destination port, the VXLAN header.
    fixed_sum: u16,
    mtu: usize,
}

impl<const LEN: usize> Encap6<LEN> {
    /// From the header bytes tunnelwire wrote for one frame: traffic class, flow label,
    /// payload length, source port, UDP length and checksum, FlowID zeroed.
    pub fn new(written: &[u8], mtu: u16) -> Self {
        let mut template: [u8; LEN] = written.try_into().unwrap();
        template[14..18].copy_from_slice(&[0x60, 0, 0, 0]);
        template[18..20].fill(0);
        if LEN == 70 {
            template[54..56].fill(0);
            template[58..62].fill(0);
        } else {
            template[61] = 0;
        }
        let fixed_sum = add(
            add(address_sum(&template[22..54]), 17),
            sum(&template[54..]),
        );
        Encap6 {
            template,
            fixed_sum,
            mtu: usize::from(mtu),
        }
    }

    /// Encapsulates `buf[inner]` in place; `None` where tunnelwire fails.
    #[inline(always)]
    pub fn encapsulate(&self, buf: &mut [u8], inner: Range<usize>) -> Option<Range<usize>> {
        let frame = buf.get(inner.clone())?;
        let (hash, tos) = flow_hash(frame)?;
        let start = inner.start.checked_sub(LEN)?;
        let payload_len = LEN - 54 + frame.len();
        if 40 + payload_len > self.mtu {
            return None;
        }
        // VXLAN: the inner frame's share of the UDP checksum, read before the header
        // is written in front of it.
        let inner_sum = if LEN == 70 { sum(frame) } else { 0 };
        let header: &mut [u8; LEN] = (&mut buf[start..inner.start]).try_into().unwrap();
        *header = self.template;
        let first = 6 << 28 | u32::from(tos & 0x03) << 20 | flow_label(hash);
        header[14..18].copy_from_slice(&first.to_be_bytes());
        header[18..20].copy_from_slice(&(payload_len as u16).to_be_bytes());
        if LEN == 70 {
            let port = source_port(hash);
            let len = payload_len as u16;
            header[54..56].copy_from_slice(&port.to_be_bytes());
            header[58..60].copy_from_slice(&len.to_be_bytes());
            // The pseudo-header's length and the UDP header's: the same value twice.
            let sum = add(add(add(self.fixed_sum, port), add(len, len)), inner_sum);
            let checksum = match !sum {
                0 => 0xffff,
                checksum => checksum,
            };
            header[60..62].copy_from_slice(&checksum.to_be_bytes());
        } else {
            header[61] = (hash >> 24) as u8;
        }
        Some(start..inner.end)
    }
}

/// True for an IPv6 outer source that cannot be a VTEP, as tunnelwire's check:
/// unspecified, loopback, multicast (ff00::/8), IPv4-mapped (::ffff:0:0/96).
#[inline(always)]
fn martian6(src: u128) -> bool {
    src <= 1 || src >> 120 == 0xff || src >> 32 == 0xffff
}

/// A received tunnel frame over IPv6 that passed the checks.
struct Checked6 {
    nvgre: bool,
    segment: u32,
    /// Where the inner frame is in the frame.
    inner: Range<usize>,
    /// The outer ECN.
    ecn: u8,
    /// The folded sum of the outer addresses.
    addresses: u16,
}

/// The checks tunnelwire's decapsulation and translation make on a frame over IPv6
/// (tags and extension headers are other shapes here: `None`): 40 + payload length
/// within the frame, a VTEP source, then for VXLAN (next header UDP, port 4789) a
/// non-zero UDP checksum that verifies and the VXLAN-GPE payload, for NVGRE (next header
/// GRE) a non-reserved VSID; an inner Ethernet header without tags.
#[inline(always)]
fn checked6(frame: &[u8]) -> Option<Checked6> {
    if frame.len() < 54 || be16(frame, 12) != 0x86dd {
        return None;
    }
    let ip = &frame[14..];
    let first = be32(ip, 0);
    let payload_len = usize::from(be16(ip, 4));
    if first >> 28 != 6 || 40 + payload_len > ip.len() {
        return None;
    }
    let payload = &ip[40..40 + payload_len];
    let addresses = address_sum(&ip[8..40]);
    let nvgre = match ip[6] {
        17 => false,
        47 => true,
        _ => return None,
    };
    // The UDP checks the walk makes come before the source: a malformed datagram is
    // refused for that first (the same outcome here).
    let (segment, inner) = if nvgre {
        let (segment, inner) = self::nvgre(payload)?;
        if martian6(be128(ip, 8)) || segment <= 0xfff || segment == 0xff_ffff {
            return None;
        }
        (segment, inner)
    } else {
        let (datagram, _, dst) = udp(payload)?;
        if dst != 4789 {
            return None;
        }
        let (segment, flags, next_protocol, inner) = vxlan(datagram)?;
        let checksum = be16(payload, 6);
        if martian6(be128(ip, 8)) || checksum == 0 {
            return None;
        }
        // `udp` cut the datagram at its length: the pseudo-header's length is its own.
        let len = datagram.len() as u16 + 8;
        let pseudo = add(add(addresses, 17), len);
        if add(pseudo, sum(&payload[..usize::from(len)])) != 0xffff {
            return None;
        }
        if vxlan_gpe_refused(flags, next_protocol) {
            return None;
        }
        (segment, inner)
    };
    if inner.len() < 14 || matches!(be16(inner, 12), 0x8100 | 0x88a8 | 0x9100) {
        return None;
    }
    let start = inner.as_ptr() as usize - frame.as_ptr() as usize;
    Some(Checked6 {
        nvgre,
        segment,
        inner: start..start + inner.len(),
        ecn: (first >> 20) as u8 & 0x03,
        addresses,
    })
}

/// What decapsulation over IPv6 found, as the bench compares it: the segment, the
/// outer source, the inner range.
pub type Found6 = (u32, u128, Range<usize>);

/// Hand-written decapsulation over IPv6 with tunnelwire's defaults.
#[inline(always)]
pub fn decapsulate6(frame: &mut [u8]) -> Option<Found6> {
    let Checked6 {
        segment,
        inner: range,
        ecn: outer_ecn,
        ..
    } = checked6(frame)?;
    let src = be128(frame, 22);
    let inner = frame.get_mut(range.clone())?;
    if be16(inner, 12) == 0x86dd {
        return None; // inner IPv6: another shape
    }
    if ipv4_header_ok(inner) {
        let ip: &mut [u8; 20] = (&mut inner[14..34]).try_into().unwrap();
        let tos = ip[1];
        let ecn = combine_ecn(tos & 0x03, outer_ecn)?;
        if ecn != tos & 0x03 {
            let old = u16::from_be_bytes([ip[0], tos]);
            let new = old & !0x03 | u16::from(ecn);
            ip[1] = tos & !0x03 | ecn;
            let checksum = be16(ip, 10);
            let updated = !add(add(!checksum, !old), new);
            ip[10..12].copy_from_slice(&updated.to_be_bytes());
        }
    }
    Some((segment, src, range))
}

/// Hand-written VXLAN <-> NVGRE translation over IPv6 with tunnelwire's defaults (the
/// new VXLAN UDP checksum computed), in place: the new range.
#[inline(always)]
pub fn translate6(
    buf: &mut [u8],
    frame: Range<usize>,
    to_nvgre: bool,
    mtu: usize,
) -> Option<Range<usize>> {
    let bytes = buf.get(frame.clone())?;
    let Checked6 {
        nvgre,
        segment,
        inner,
        addresses,
        ..
    } = checked6(bytes)?;
    if nvgre == to_nvgre {
        return None; // same-kind translation is another shape here
    }
    if to_nvgre && (segment <= 0xfff || segment == 0xff_ffff) {
        return None;
    }
    let inner_frame = &bytes[inner.clone()];
    let (hash, _) = flow_hash(inner_frame)?;
    let inner_len = inner.end - inner.start;
    let end = frame.start + inner.end;
    let (payload_len, next_header, start) = if to_nvgre {
        (8 + inner_len, 47u8, frame.start + 8)
    } else {
        (16 + inner_len, 17u8, frame.start.checked_sub(8)?)
    };
    if 40 + payload_len > mtu {
        return None;
    }
    // VXLAN: the inner frame's share of the new UDP checksum, read before anything moves.
    let inner_sum = if to_nvgre { 0 } else { sum(inner_frame) };
    let outer: [u8; 54] = bytes[..54].try_into().unwrap();
    let moved: &mut [u8; 54] = (&mut buf[start..start + 54]).try_into().unwrap();
    *moved = outer;
    moved[18..20].copy_from_slice(&(payload_len as u16).to_be_bytes());
    moved[20] = next_header;
    let l4 = start + 54;
    if to_nvgre {
        let gre: [u8; 8] = [
            0x20,
            0,
            0x65,
            0x58,
            (segment >> 16) as u8,
            (segment >> 8) as u8,
            segment as u8,
            (hash >> 24) as u8,
        ];
        buf[l4..l4 + 8].copy_from_slice(&gre);
    } else {
        let port = source_port(hash);
        let len = payload_len as u16;
        // The pseudo-header (addresses, next header, length) and the UDP and VXLAN
        // headers' fields: port 4789, flags 0x08, the segment.
        let fields = add(
            add(add(addresses, 17 + 4789), add(len, len)),
            add(
                add(port, 0x0800),
                add((segment >> 8) as u16, (segment as u16) << 8),
            ),
        );
        let checksum = match !add(fields, inner_sum) {
            0 => 0xffff,
            checksum => checksum,
        };
        let (port, len, checksum) = (
            port.to_be_bytes(),
            len.to_be_bytes(),
            checksum.to_be_bytes(),
        );
        let header: [u8; 16] = [
            port[0],
            port[1],
            0x12,
            0xb5,
            len[0],
            len[1],
            checksum[0],
            checksum[1],
            0x08,
            0,
            0,
            0,
            (segment >> 16) as u8,
            (segment >> 8) as u8,
            segment as u8,
            0,
        ];
        buf[l4..l4 + 16].copy_from_slice(&header);
    }
    debug_assert_eq!(
        l4 + if to_nvgre { 8 } else { 16 },
        frame.start + inner.start
    );
    Some(start..end)
}

// Socket payloads: the tunnel header onward, with what the socket reported.

/// What the payload floor returns, as the bench compares it: the payload sent, its UDP
/// source port, its traffic class.
pub type Sent = (Range<usize>, u16, u8);

/// Hand-written receive-to-send through socket payloads with tunnelwire's defaults: the
/// VXLAN payload at `buf[payload]` from `src` with outer ECN `ecn` checked as tunnelwire
/// checks it (I flag, VXLAN-GPE, a VTEP source, an untagged inner Ethernet header; RFC
/// 6040 into an inner IPv4 header), then its inner frame given the VXLAN header `header`
/// towards the next VTEP over IPv4 (headroom, the MTU of the whole outer packet, the flow
/// hash for the source port, the inner ECN copied; no flow label over IPv4).
#[inline(always)]
pub fn payload(
    buf: &mut [u8],
    payload: Range<usize>,
    src: std::net::IpAddr,
    ecn: u8,
    header: &[u8; 8],
    mtu: usize,
) -> Option<Sent> {
    let bytes = buf.get(payload.clone())?;
    let (_, flags, next_protocol, inner) = vxlan(bytes)?;
    let martian_source = match src {
        std::net::IpAddr::V4(v4) => martian(u32::from(v4)),
        std::net::IpAddr::V6(v6) => martian6(u128::from(v6)),
    };
    if martian_source || vxlan_gpe_refused(flags, next_protocol) {
        return None;
    }
    if inner.len() < 14 || matches!(be16(inner, 12), 0x8100 | 0x88a8 | 0x9100 | 0x86dd) {
        return None; // tagged (refused), or inner IPv6 (another shape)
    }
    let inner_at = payload.start + 8;
    let inner = &mut buf[inner_at..payload.end];
    if ipv4_header_ok(inner) {
        let ip: &mut [u8; 20] = (&mut inner[14..34]).try_into().unwrap();
        let tos = ip[1];
        let combined = combine_ecn(tos & 0x03, ecn)?;
        if combined != tos & 0x03 {
            let old = u16::from_be_bytes([ip[0], tos]);
            let new = old & !0x03 | u16::from(combined);
            ip[1] = tos & !0x03 | combined;
            let checksum = be16(ip, 10);
            let updated = !add(add(!checksum, !old), new);
            ip[10..12].copy_from_slice(&updated.to_be_bytes());
        }
    }
    let (hash, tos) = flow_hash(inner)?;
    if 20 + 16 + inner.len() > mtu {
        return None;
    }
    let at: &mut [u8; 8] = (&mut buf[payload.start..inner_at]).try_into().unwrap();
    *at = *header;
    Some((payload, source_port(hash), tos & 0x03))
}
