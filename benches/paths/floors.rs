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

const K0: u64 = 0x9e37_79b9_7f4a_7c15;
const K1: u64 = 0xbf58_476d_1ce4_e5b9;
const K2: u64 = 0x94d0_49bb_1331_11eb;
const K3: u64 = 0xd6e8_feb8_6659_fd93;
const K4: u64 = 0xa076_1d64_78bd_642f;
const K5: u64 = 0xe703_7ed1_a0b4_28db;
const K6: u64 = 0x8ebc_6af0_9c88_c6e3;
const MAC: u64 = 0xffff_ffff_ffff;

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// The 32 bits standing for an IPv6 address in the flow key.
#[inline(always)]
fn address_digest(ip: &[u8], at: usize) -> u64 {
    let d = fold(be64(ip, at) ^ K5, be64(ip, at + 8) ^ K6);
    (d ^ d >> 32) & 0xffff_ffff
}

/// What tunnelwire's walk of an inner frame records: its tags, its IP header's offset
/// and TOS (traffic class), and the flow key's four words.
#[derive(Clone, Copy)]
struct Walked {
    /// Tags decoded (at most two).
    tags: usize,
    /// A further tag follows the decoded ones (or one could not be decoded).
    more: bool,
    /// The IP header's TOS (IPv6: traffic class); 0 without one.
    tos: u8,
    key: [u64; 4],
}

impl Walked {
    /// Flow hash v2 of the key.
    #[inline(always)]
    fn hash(&self) -> u64 {
        let [w0, w1, w2, w3] = self.key;
        fold(fold(w0 ^ K0, w1 ^ K1) ^ fold(w2 ^ K2, w3 ^ K3), K4)
    }

    /// The bytes of tags to strip: `None` when tags cannot all be stripped.
    #[inline(always)]
    fn strip_len(&self) -> Option<usize> {
        (!self.more).then_some(self.tags * 4)
    }
}

/// An inner Ethernet frame walked as tunnelwire's decoder walks it (`transport`: down to
/// the TCP/UDP ports, as the flow hash needs; else to the IP header), recording what it
/// found until the first malformed header. `None` without a whole Ethernet header. The
/// common frame (untagged IPv4 without options) straight through, the key's words
/// loaded after the ports' branch; every other shape in `walk_other`.
#[inline(always)]
fn walk(frame: &[u8], transport: bool) -> Option<Walked> {
    match walk_common(frame, transport) {
        Some(walked) => Some(walked),
        None if frame.len() >= 14 => Some(walk_other(frame, transport)),
        None => None,
    }
}

/// `walk` of a frame `walk_common` declined: not the common one again.
#[inline(always)]
fn walk_declined(frame: &[u8], transport: bool) -> Option<Walked> {
    (frame.len() >= 14).then(|| walk_other(frame, transport))
}

/// `walk` of the common frame (untagged IPv4 without options, its header sound): `None`
/// for every other shape. Callers take the two apart, so that what follows the walk is
/// compiled once for the common frame (no tags to strip) and once for the others.
#[inline(always)]
fn walk_common(frame: &[u8], transport: bool) -> Option<Walked> {
    let eth: &[u8; 14] = frame.first_chunk()?;
    let ip = &frame[14..];
    let common = match ip.first_chunk::<20>() {
        Some(header) if be16(eth, 12) == 0x0800 && header[0] == 0x45 => ip
            .get(20..usize::from(be16(header, 2)))
            .map(|p| (header, p)),
        _ => None,
    };
    let (header, payload) = common?;
    let protocol = header[9];
    let mut ports = 0;
    if transport && be16(header, 6) & 0x3fff == 0 {
        ports = match protocol {
            17 => match udp(payload) {
                Some(_) => be32(payload, 0),
                None => 0,
            },
            6 => payload
                .first_chunk::<4>()
                .map_or(0, |p| u32::from_be_bytes(*p)),
            _ => 0,
        };
    }
    Some(Walked {
        tags: 0,
        more: false,
        tos: header[1],
        key: [
            be64(eth, 0) >> 16 | 0x0800 << 48,
            be64(eth, 4) & MAC,
            be64(header, 12),
            u64::from(protocol) << 32 | u64::from(ports),
        ],
    })
}

/// The EtherType as the flow key holds it: 0 for an IEEE 802.3 length (below 1536).
#[inline(always)]
fn ethertype_key(ethertype: u16) -> u64 {
    if ethertype < 0x0600 {
        0
    } else {
        u64::from(ethertype)
    }
}

/// `walk` for every shape but the common one: tags, IPv4 options, IPv6, other
/// EtherTypes, malformed headers.
#[inline(never)]
fn walk_other(frame: &[u8], transport: bool) -> Walked {
    let eth: &[u8; 14] = frame.first_chunk().unwrap();
    let mut ethertype = be16(eth, 12);
    let mut walked = Walked {
        tags: 0,
        more: false,
        tos: 0,
        key: [
            be64(eth, 0) >> 16 | ethertype_key(ethertype) << 48,
            be64(eth, 4) & MAC,
            0,
            0,
        ],
    };
    let mut at = 14;
    while tpid(ethertype) {
        walked.more = true;
        if walked.tags == 2 {
            return walked;
        }
        let Some(tag) = frame.get(at..at + 4) else {
            return walked;
        };
        ethertype = be16(tag, 2);
        walked.key[0] = walked.key[0] & MAC | ethertype_key(ethertype) << 48;
        if walked.tags == 0 {
            walked.key[1] |= u64::from(be16(tag, 0) & 0x0fff) << 48;
        }
        walked.more = false;
        walked.tags += 1;
        at += 4;
    }
    let rest = &frame[at..];
    let (payload, protocol) = if ethertype == 0x0800 {
        let Some((header, payload)) = ipv4(rest) else {
            return walked;
        };
        walked.tos = header[1];
        walked.key[2] = be64(header, 12);
        walked.key[3] = u64::from(header[9]) << 32;
        if be16(header, 6) & 0x3fff != 0 || !transport {
            return walked;
        }
        (payload, header[9])
    } else if ethertype == 0x86dd {
        let Some(header) = rest.get(..40) else {
            return walked;
        };
        let first = be32(header, 0);
        let payload_len = usize::from(be16(header, 4));
        if first >> 28 != 6 || 40 + payload_len > rest.len() {
            return walked;
        }
        walked.tos = (first >> 20) as u8;
        walked.key[2] = address_digest(header, 8) << 32 | address_digest(header, 24);
        walked.key[3] = u64::from(header[6]) << 32 | u64::from(first & 0xf_ffff) << 40;
        if !transport {
            return walked;
        }
        (&rest[40..40 + payload_len], header[6])
    } else {
        return walked;
    };
    let ports = match protocol {
        17 => udp(payload).map(|_| be32(payload, 0)),
        6 => payload.first_chunk::<4>().map(|p| u32::from_be_bytes(*p)),
        _ => None,
    };
    walked.key[3] |= u64::from(ports.unwrap_or(0));
    walked
}

/// Strips the tags of the inner frame at `from` by moving its MAC addresses to `to`:
/// 12 bytes through registers (a call to `memmove` would cost every path registers).
#[inline(always)]
fn strip_tags(buf: &mut [u8], from: usize, to: usize) {
    let macs: [u8; 12] = buf[from..from + 12].try_into().unwrap();
    buf[to..to + 12].copy_from_slice(&macs);
}

/// Flow hash v2 of an inner frame and its IP TOS (0 without IP): the key as far as the
/// frame decodes, tags included (`None` without an Ethernet header).
#[inline(always)]
fn flow_hash(frame: &[u8]) -> Option<(u64, u8)> {
    let walked = walk(frame, true)?;
    Some((walked.hash(), walked.tos))
}

/// The source port for a hash in 49152-65535 (tunnelwire's reduction).
#[inline(always)]
fn source_port(hash: u64) -> u16 {
    49152 + (((hash >> 32) * 16384) >> 32) as u16
}

/// What the decode benchmark extracts: the tunnel (NVGRE or not) and its segment, the
/// outer source, the inner source and destination, the inner ports.
pub type Values = (bool, u32, u32, u32, u32, (u16, u16));

/// The decode benchmark's values by hand: outer Ethernet/IPv4 (options allowed; an
/// outer tag is a shape no workload has: `None`), VXLAN on UDP port 4789 or NVGRE, then
/// the inner stack through up to two tags to IPv4 that is not a fragment, and its UDP or
/// TCP ports.
#[inline(always)]
pub fn decode(frame: &[u8]) -> Option<Values> {
    if frame.len() < 34 || be16(frame, 12) != 0x0800 {
        return None;
    }
    let (ip, payload) = ipv4(&frame[14..])?;
    if be16(ip, 6) & 0x3fff != 0 {
        return None;
    }
    let outer_src = be32(ip, 12);
    let (nvgre, segment, inner) = match ip[9] {
        17 => {
            // UDP and VXLAN whole, then 16 <= UDP length <= what follows in one range (a
            // length under 16 wraps past it).
            let (header, rest) = payload.split_first_chunk::<16>()?;
            let inner = rest.get(..usize::from(be16(header, 4)).wrapping_sub(16))?;
            if be16(header, 2) != 4789 || header[8] & 0x08 == 0 {
                return None;
            }
            (false, be32(header, 12) >> 8, inner)
        }
        47 => {
            let (segment, inner) = nvgre(payload)?;
            (true, segment, inner)
        }
        _ => return None,
    };
    let eth: &[u8; 14] = inner.first_chunk()?;
    let ip = if be16(eth, 12) == 0x0800 {
        &inner[14..]
    } else {
        tagged_ipv4(inner)?
    };
    let (inner_src, inner_dst, ports) = inner_values(ip)?;
    Some((nvgre, segment, outer_src, inner_src, inner_dst, ports))
}

/// The decode benchmark's inner values from the inner IPv4 packet at the start of `ip`:
/// its source and destination, its UDP or TCP ports (`None`: malformed, a fragment,
/// another protocol).
#[inline(always)]
pub(super) fn inner_values(ip: &[u8]) -> Option<(u32, u32, (u16, u16))> {
    let (ip, payload) = ipv4(ip)?;
    if be16(ip, 6) & 0x3fff != 0 {
        return None;
    }
    let ports = match ip[9] {
        17 => udp(payload).map(|(_, s, d)| (s, d))?,
        6 => {
            let p = payload.first_chunk::<4>()?;
            (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            )
        }
        _ => return None,
    };
    Some((be32(ip, 12), be32(ip, 16), ports))
}

/// The IPv4 packet after up to two VLAN tags in an Ethernet frame, as the decoder walks
/// them (`None`: not IPv4, or a tag cut short).
#[inline(never)]
pub(super) fn tagged_ipv4(frame: &[u8]) -> Option<&[u8]> {
    let mut ethertype = be16(frame, 12);
    let mut at = 14;
    let mut tags = 0;
    while tpid(ethertype) && tags < 2 {
        ethertype = be16(frame.get(at..at + 4)?, 2);
        at += 4;
        tags += 1;
    }
    (ethertype == 0x0800).then(|| &frame[at..])
}

/// A hand-written encapsulator: the outer headers tunnelwire writes for the benchmark's
/// settings (no outer tag, DF set so ID 0, DSCP 0, ECN copied, no UDP checksum, inner
/// tags stripped), as a template with its IPv4 header's sum: VXLAN and Geneve without
/// options (`LEN` 50), NVGRE (42), Geneve with options fixed in the template (50 plus
/// their length: OVN's one option, 58).
#[derive(Clone)]
pub struct Encap<const LEN: usize> {
    template: [u8; LEN],
    /// The template IPv4 header's sum, unfolded.
    ip_sum: u32,
    mtu: usize,
}

impl<const LEN: usize> Encap<LEN> {
    /// The layout has UDP (VXLAN, Geneve with or without options): every length but
    /// NVGRE's 42, whose GRE header takes the FlowID instead.
    const UDP: bool = LEN != 42;

    /// From the header bytes tunnelwire wrote for one frame: lengths, TOS, checksum,
    /// port and FlowID zeroed.
    pub fn new(written: &[u8], mtu: u16) -> Self {
        let mut template: [u8; LEN] = written.try_into().unwrap();
        template[15] = 0;
        template[16..18].fill(0);
        template[24..26].fill(0);
        if Self::UDP {
            template[34..36].fill(0);
            template[38..40].fill(0);
        } else {
            template[41] = 0;
        }
        let ip_sum = template[14..34]
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
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
        if let Some(walked) = walk_common(frame, true) {
            return self.write(buf, inner, &walked, 0);
        }
        let walked = walk_declined(frame, true)?;
        let strip = walked.strip_len()?;
        self.write(buf, inner, &walked, strip)
    }

    /// The outer headers for a walked inner frame, its tags (`strip` bytes) stripped.
    #[inline(always)]
    fn write(
        &self,
        buf: &mut [u8],
        inner: Range<usize>,
        walked: &Walked,
        strip: usize,
    ) -> Option<Range<usize>> {
        let inner_start = inner.start + strip;
        let start = inner_start.checked_sub(LEN)?;
        let ip_len = LEN - 14 + (inner.end - inner_start);
        if ip_len > self.mtu {
            return None;
        }
        let hash = walked.hash();
        let ecn = walked.tos & 0x03;
        if strip != 0 {
            strip_tags(buf, inner.start, inner_start);
        }
        let header: &mut [u8; LEN] = buf.get_mut(start..inner_start)?.try_into().unwrap();
        *header = self.template;
        header[15] = ecn;
        header[16..18].copy_from_slice(&(ip_len as u16).to_be_bytes());
        // At most 10 * 0xffff + 0xffff + 3: two folds.
        let sum = self.ip_sum + ip_len as u32 + u32::from(ecn);
        let sum = (sum & 0xffff) + (sum >> 16);
        let sum = (sum & 0xffff) + (sum >> 16);
        header[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        if Self::UDP {
            header[34..36].copy_from_slice(&source_port(hash).to_be_bytes());
            header[38..40].copy_from_slice(&((ip_len - 20) as u16).to_be_bytes());
        } else {
            header[41] = (hash >> 24) as u8;
        }
        Some(start..inner.end)
    }
}

/// True for an outer source that cannot be a VTEP, as tunnelwire's check: 0/8, 127/8,
/// and 224/3 (multicast, the reserved 240/4 and broadcast).
#[inline(always)]
pub(super) fn martian(src: u32) -> bool {
    MARTIAN[usize::from((src >> 24) as u8)]
}

/// `martian` by first octet: one load.
const MARTIAN: [bool; 256] = {
    let mut table = [false; 256];
    let mut first = 0;
    while first < 256 {
        table[first] = first == 0 || first == 127 || first >= 224;
        first += 1;
    }
    table
};

/// True for a VXLAN header whose VXLAN-GPE P bit announces what tunnelwire refuses: a
/// version other than 0, OAM, or a next protocol other than Ethernet (3).
#[inline(always)]
fn vxlan_gpe_refused(flags: u8, next_protocol: u8) -> bool {
    flags & 0x04 != 0 && (flags & 0x31 != 0 || next_protocol != 3)
}

/// What decapsulation found, as the bench compares it with `Decapsulated`: the tunnel
/// kind (0 VXLAN, 1 NVGRE, 2 Geneve), the segment, the outer source and destination,
/// the inner range, the RFC 6040 alarm (0 none, 1 unexpected, 2 questionable), the
/// inner protocol (0x6558, Ethernet, for VXLAN and NVGRE; Geneve's protocol type) and
/// where the options are (Geneve's area; else an empty range at the inner frame).
pub type Found = (u8, u32, u32, u32, Range<usize>, u8, u16, Range<usize>);

/// The tunnel kind a path takes.
#[derive(Clone, Copy)]
enum Kind {
    Vxlan,
    Nvgre,
    Either,
}

/// A received tunnel frame that passed the outer checks.
struct Checked {
    nvgre: bool,
    segment: u32,
    /// Where the inner frame is in the frame.
    inner: Range<usize>,
    /// The outer header checksum, ECN, source and destination.
    checksum: u16,
    ecn: u8,
    src: u32,
    dst: u32,
}

/// The outer checks tunnelwire's decapsulation and translation make, for the tunnel
/// kind asked for (`nvgre`), on an outer IPv4 header without options (options and outer
/// tags are other shapes here: `None`): `outer_ipv4`'s, then VXLAN on port 4789 with a zero UDP checksum (a non-zero one, verified by
/// tunnelwire, is another shape here) and a VXLAN-GPE payload, or NVGRE with a VSID
/// that is not reserved; an inner Ethernet header.
#[inline(always)]
fn checked(frame: &mut [u8], kind: Kind) -> Option<(Checked, &mut [u8])> {
    let base = frame.as_ptr() as usize;
    let (outer, payload) = outer_ipv4(frame)?;
    let nvgre = match kind {
        Kind::Vxlan => false,
        Kind::Nvgre => true,
        Kind::Either => outer[23] == 47,
    };
    let (segment, inner) = if nvgre {
        if outer[23] != 47 {
            return None;
        }
        let (segment, _) = self::nvgre(payload)?;
        if reserved_vsid(segment) {
            return None;
        }
        (segment, &mut payload[8..])
    } else {
        if outer[23] != 17 {
            return None;
        }
        let header: &[u8; 16] = payload.first_chunk()?;
        let len = usize::from(be16(header, 4));
        let ports_checksum = be64(header, 0);
        if ports_checksum & 0xffff_0000_ffff != 4789 << 32 {
            return None;
        }
        // The I flag set and VXLAN-GPE's P bit clear in one compare; else the I flag
        // and what the P bit announces.
        if header[8] & 0x0c != 0x08
            && (header[8] & 0x08 == 0 || vxlan_gpe_refused(header[8], header[11]))
        {
            return None;
        }
        let segment = be32(header, 12) >> 8;
        // The UDP length within the packet and room for VXLAN, in one range.
        (segment, payload.get_mut(16..len)?)
    };
    if inner.len() < 14 {
        return None;
    }
    let at = inner.as_ptr() as usize - base;
    let checked = Checked {
        nvgre,
        segment,
        inner: at..at + inner.len(),
        checksum: be16(outer, 24),
        ecn: outer[15] & 0x03,
        src: be32(outer, 26),
        dst: be32(outer, 30),
    };
    Some((checked, inner))
}

/// The checks of the outer Ethernet and IPv4 headers every received tunnel frame passes
/// (an IPv4 header without options: options and outer tags are other shapes here):
/// not a fragment, the header checksum, a VTEP source, 20 <= total length <= what
/// follows. The two headers, and the IP payload.
#[inline(always)]
pub(super) fn outer_ipv4(frame: &mut [u8]) -> Option<(&[u8; 34], &mut [u8])> {
    let (outer, rest) = frame.split_first_chunk_mut::<34>()?;
    let outer: &[u8; 34] = outer;
    if be16(outer, 12) != 0x0800 || outer[14] != 0x45 {
        return None;
    }
    if be16(outer, 20) & 0x3fff != 0 {
        return None;
    }
    // RFC 1071: the header verifies when its one's-complement sum is 0xffff, that is
    // when the plain sum of its words is a non-zero multiple of 0xffff (2^16 = 1 mod
    // 0xffff), whatever their byte order; it is non-zero (the first byte is 0x45).
    let word = |at: usize| u64::from(u32::from_ne_bytes(outer[at..at + 4].try_into().unwrap()));
    let sum = word(14) + word(18) + word(22) + word(26) + word(30);
    if sum % 0xffff != 0 || martian(be32(outer, 26)) {
        return None;
    }
    // 20 <= total <= what follows the Ethernet header: the payload's range, one compare
    // (a total under 20 wraps past any frame).
    let total = usize::from(be16(outer, 16));
    let payload = rest.get_mut(..total.wrapping_sub(20))?;
    Some((outer, payload))
}

/// RFC 6040 section 4.2, Figure 4, as one table (inner << 2 | outer): the combined ECN
/// in bits 0-1, the alarm in bits 2-3 (1 unexpected, 2 questionable), 0x10 a drop.
const FIGURE_4: [u8; 16] = [0, 4, 4, 0x14, 1, 1, 9, 3, 2, 1, 2, 3, 3, 7, 3, 3];

/// RFC 6040 on the inner IPv4 header `AT` bytes into `inner` (14: an untagged Ethernet
/// frame; 0: Geneve's IP payload), the outer ECN `outer` non-zero: `None` to drop, else
/// the alarm; the header rewritten where the ECN changes.
#[inline(always)]
pub(super) fn ecn_ipv4<const AT: usize>(inner: &mut [u8], outer: u8) -> Option<u8> {
    if ipv4(&inner[AT..]).is_none() {
        return Some(0);
    }
    let ip: &mut [u8; 20] = (&mut inner[AT..AT + 20]).try_into().unwrap();
    let tos = ip[1];
    let inner_ecn = tos & 0x03;
    if inner_ecn == outer {
        return Some(0);
    }
    let entry = FIGURE_4[usize::from(inner_ecn << 2 | outer) & 15];
    if entry & 0x10 != 0 {
        return None;
    }
    let ecn = entry & 0x03;
    if ecn != inner_ecn {
        let old = u16::from_be_bytes([ip[0], tos]);
        ip[1] = tos & !0x03 | ecn;
        let new = old & !0x03 | u16::from(ecn);
        // RFC 1624, one sum of three 16-bit terms, two folds.
        let sum = u32::from(!be16(ip, 10)) + u32::from(!old) + u32::from(new);
        let sum = (sum & 0xffff) + (sum >> 16);
        let sum = (sum & 0xffff) + (sum >> 16);
        ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    }
    Some(entry >> 2 & 0x03)
}

/// `ecn_ipv4` for an inner IPv6 header (the traffic class; no checksum).
#[inline(never)]
pub(super) fn ecn_ipv6<const AT: usize>(inner: &mut [u8], outer: u8) -> Option<u8> {
    let Some(header) = inner.get_mut(AT..AT + 40) else {
        return Some(0);
    };
    if header[0] >> 4 != 6 || 40 + usize::from(be16(header, 4)) > inner.len() - AT {
        return Some(0);
    }
    let inner_ecn = (inner[AT + 1] >> 4) & 0x03;
    let entry = FIGURE_4[usize::from(inner_ecn << 2 | outer) & 15];
    if entry & 0x10 != 0 {
        return None;
    }
    inner[AT + 1] = inner[AT + 1] & !0x30 | (entry & 0x03) << 4;
    Some(entry >> 2 & 0x03)
}

/// Hand-written decapsulation with tunnelwire's defaults (tagged inner frames refused).
#[inline(always)]
pub fn decapsulate(frame: &mut [u8]) -> Option<Found> {
    let (
        Checked {
            nvgre,
            segment,
            inner: range,
            ecn,
            src,
            dst,
            ..
        },
        inner,
    ) = checked(frame, Kind::Either)?;
    // IPv4's EtherType compared as bytes: no byte swap on the common path.
    let ethertype = be16(inner, 12);
    // Outer Not-ECT changes nothing and raises no alarm, whatever the inner header.
    let alarm = if inner[12..14] == [0x08, 0x00] {
        if ecn == 0 {
            0
        } else {
            ecn_ipv4::<14>(inner, ecn)?
        }
    } else if tpid(ethertype) {
        return None;
    } else if ethertype == 0x86dd && ecn != 0 {
        ecn_ipv6::<14>(inner, ecn)?
    } else {
        0
    };
    let options = range.start..range.start;
    Some((
        u8::from(nvgre),
        segment,
        src,
        dst,
        range,
        alarm,
        0x6558,
        options,
    ))
}

/// Hand-written translation with tunnelwire's defaults (inner tags stripped), in place:
/// VXLAN to NVGRE (`to_nvgre`) or NVGRE to VXLAN; the new range. A frame already of the
/// kind asked for is another shape here.
#[inline(always)]
pub fn translate(
    buf: &mut [u8],
    frame: Range<usize>,
    to_nvgre: bool,
    mtu: usize,
) -> Option<Range<usize>> {
    let bytes = buf.get_mut(frame.clone())?;
    let (
        Checked {
            segment,
            inner,
            checksum,
            ..
        },
        inner_frame,
    ) = checked(bytes, if to_nvgre { Kind::Vxlan } else { Kind::Nvgre })?;
    if to_nvgre && reserved_vsid(segment) {
        return None;
    }
    let inner_frame: &[u8] = inner_frame;
    if let Some(walked) = walk_common(inner_frame, true) {
        return translated(
            buf, frame, to_nvgre, mtu, segment, inner, checksum, &walked, 0,
        );
    }
    let walked = walk_declined(inner_frame, true)?;
    let strip = walked.strip_len()?;
    if strip != 0 && !to_nvgre {
        return None; // NVGRE carries no inner tags
    }
    translated(
        buf, frame, to_nvgre, mtu, segment, inner, checksum, &walked, strip,
    )
}

/// `translate` once the frame is checked and its inner frame walked: the new headers,
/// the inner tags (`strip` bytes) stripped.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn translated(
    buf: &mut [u8],
    frame: Range<usize>,
    to_nvgre: bool,
    mtu: usize,
    segment: u32,
    inner: Range<usize>,
    checksum: u16,
    walked: &Walked,
    strip: usize,
) -> Option<Range<usize>> {
    let bytes = &buf[frame.clone()];
    let hash = walked.hash();
    let inner_at = frame.start + inner.start;
    let inner_start = inner_at + strip;
    let end = frame.start + inner.end;
    let len = end - inner_start;
    let (total, start) = if to_nvgre {
        (20 + 8 + len, inner_start - 42)
    } else {
        (20 + 16 + len, inner_start.checked_sub(50)?)
    };
    if total > mtu {
        return None;
    }
    let old_total = be16(bytes, 16);
    let outer: [u8; 34] = bytes[..34].try_into().unwrap();
    // RFC 1624: !checksum + !old + new for the total length and for the TTL/protocol
    // word, whose change is the protocol's, 47 - 17 = 30 either way (-30 is 0xffe1 in
    // one's complement); one sum, two folds (it is at most 4 * 0xffff).
    let protocol_change: u32 = if to_nvgre { 30 } else { 0xffe1 };
    let sum = u32::from(!checksum) + u32::from(!old_total) + total as u32 + protocol_change;
    let sum = (sum & 0xffff) + (sum >> 16);
    let checksum = !((sum & 0xffff) + (sum >> 16)) as u16;
    if strip != 0 {
        strip_tags(buf, inner_at, inner_start);
    }
    let (total, checksum) = ((total as u16).to_be_bytes(), checksum.to_be_bytes());
    let mut ip = outer;
    ip[16..18].copy_from_slice(&total);
    ip[24..26].copy_from_slice(&checksum);
    let [s0, s1, s2] = [(segment >> 16) as u8, (segment >> 8) as u8, segment as u8];
    if to_nvgre {
        ip[23] = 47;
        let mut header = [0u8; 42];
        header[..34].copy_from_slice(&ip);
        header[34..].copy_from_slice(&[0x20, 0, 0x65, 0x58, s0, s1, s2, (hash >> 24) as u8]);
        let at: &mut [u8; 42] = buf.get_mut(start..inner_start)?.try_into().unwrap();
        *at = header;
    } else {
        ip[23] = 17;
        let port = source_port(hash).to_be_bytes();
        let udp_len = ((16 + len) as u16).to_be_bytes();
        let mut header = [0u8; 50];
        header[..34].copy_from_slice(&ip);
        header[34..].copy_from_slice(&[
            port[0], port[1], 0x12, 0xb5, udp_len[0], udp_len[1], 0, 0, 0x08, 0, 0, 0, s0, s1, s2,
            0,
        ]);
        let at: &mut [u8; 50] = buf.get_mut(start..inner_start)?.try_into().unwrap();
        *at = header;
    }
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
        if let Some(walked) = walk_common(frame, true) {
            return self.write(buf, inner, &walked, 0);
        }
        let walked = walk_declined(frame, true)?;
        let strip = walked.strip_len()?;
        self.write(buf, inner, &walked, strip)
    }

    /// The outer headers for a walked inner frame, its tags (`strip` bytes) stripped.
    #[inline(always)]
    fn write(
        &self,
        buf: &mut [u8],
        inner: Range<usize>,
        walked: &Walked,
        strip: usize,
    ) -> Option<Range<usize>> {
        let inner_start = inner.start + strip;
        let start = inner_start.checked_sub(LEN)?;
        let payload_len = LEN - 54 + (inner.end - inner_start);
        if 40 + payload_len > self.mtu {
            return None;
        }
        let (hash, tos) = (walked.hash(), walked.tos);
        if strip != 0 {
            strip_tags(buf, inner.start, inner_start);
        }
        // VXLAN: the inner frame's share of the UDP checksum, read before the header
        // is written in front of it.
        let (headroom, frame) = buf.split_at_mut(inner_start);
        let inner_sum = if LEN == 70 {
            sum(frame.get(..inner.end - inner_start)?)
        } else {
            0
        };
        let header: &mut [u8; LEN] = headroom.get_mut(start..)?.try_into().ok()?;
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
/// GRE) a non-reserved VSID; an inner Ethernet header.
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
    if inner.len() < 14 {
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
pub type Found6 = (u8, u32, u128, u128, Range<usize>, u8, u16, Range<usize>);

/// Hand-written decapsulation over IPv6 with tunnelwire's defaults (tagged inner frames
/// refused; RFC 6040 as over IPv4).
#[inline(always)]
pub fn decapsulate6(frame: &mut [u8]) -> Option<Found6> {
    let Checked6 {
        nvgre,
        segment,
        inner: range,
        ecn,
        ..
    } = checked6(frame)?;
    let (src, dst) = (be128(frame, 22), be128(frame, 38));
    let inner = frame.get_mut(range.clone())?;
    let ethertype = be16(inner, 12);
    let alarm = if ethertype == 0x0800 {
        if ecn == 0 {
            0
        } else {
            ecn_ipv4::<14>(inner, ecn)?
        }
    } else if tpid(ethertype) {
        return None;
    } else if ethertype == 0x86dd && ecn != 0 {
        ecn_ipv6::<14>(inner, ecn)?
    } else {
        0
    };
    let options = range.start..range.start;
    Some((
        u8::from(nvgre),
        segment,
        src,
        dst,
        range,
        alarm,
        0x6558,
        options,
    ))
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
    let walked = walk(inner_frame, true)?;
    // Inner tags: stripped on the way to NVGRE, refused in NVGRE.
    let strip = walked.strip_len()?;
    if strip != 0 && nvgre {
        return None;
    }
    let hash = walked.hash();
    let inner_len = inner.end - inner.start - strip;
    let end = frame.start + inner.end;
    let (payload_len, next_header, start) = if to_nvgre {
        (8 + inner_len, 47u8, frame.start + 8 + strip)
    } else {
        (16 + inner_len, 17u8, frame.start.checked_sub(8)?)
    };
    if 40 + payload_len > mtu {
        return None;
    }
    // VXLAN: the inner frame's share of the new UDP checksum, read before anything moves.
    let inner_sum = if to_nvgre { 0 } else { sum(inner_frame) };
    let outer: [u8; 54] = bytes[..54].try_into().unwrap();
    if strip != 0 {
        let inner_at = frame.start + inner.start;
        strip_tags(buf, inner_at, inner_at + strip);
    }
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
        frame.start + inner.start + strip
    );
    Some(start..end)
}

// Socket payloads: the tunnel header onward, with what the socket reported.

/// Whether a socket's report other than two IPv4 addresses is refused: IPv4-mapped
/// addresses (a socket of both families) as the IPv4 ones they stand for, one family, a
/// VTEP source.
#[cold]
#[inline(never)]
fn other_report_refused(src: &IpAddr, dst: &IpAddr) -> bool {
    let (src, dst) = (src.to_canonical(), dst.to_canonical());
    src.is_ipv4() != dst.is_ipv4()
        || match src {
            IpAddr::V4(v4) => martian(u32::from(v4)),
            IpAddr::V6(v6) => martian6(u128::from(v6)),
        }
}

/// What the payload floor returns, as the bench compares it: the payload sent, its UDP
/// source port, its traffic class.
pub type Sent = (Range<usize>, u16, u8);

/// Hand-written receive-to-send through socket payloads with tunnelwire's defaults: the
/// VXLAN payload at `buf[payload]` from `src` to `dst` with outer ECN `ecn` checked as
/// tunnelwire checks it (IPv4-mapped addresses as the IPv4 ones they stand for, one
/// family, a VTEP source; I flag, VXLAN-GPE, an untagged inner Ethernet header; RFC 6040
/// into an inner IPv4 header), then its inner frame given the VXLAN header `header`
/// towards the next VTEP over IPv4 (headroom, the MTU of the whole outer packet, the flow
/// hash for the source port, the inner ECN copied; no flow label over IPv4).
#[inline(always)]
pub fn payload(
    buf: &mut [u8],
    payload: Range<usize>,
    src: &IpAddr,
    dst: &IpAddr,
    ecn: u8,
    header: &[u8; 8],
    mtu: usize,
) -> Option<Sent> {
    // Both addresses IPv4 (what most sockets report) in line, any other report apart,
    // first: the cold call then clobbers no header value. By reference: the cold path
    // reads the addresses where they are, not from copies.
    let martian_source = match (src, dst) {
        (IpAddr::V4(v4), IpAddr::V4(_)) => martian(u32::from(*v4)),
        _ => other_report_refused(src, dst),
    };
    let bytes = buf.get(payload.clone())?;
    let (_, flags, next_protocol, inner) = vxlan(bytes)?;
    if martian_source || vxlan_gpe_refused(flags, next_protocol) {
        return None;
    }
    if inner.len() < 14 {
        return None;
    }
    let inner_at = payload.start + 8;
    let inner = &mut buf[inner_at..payload.end];
    // RFC 6040 into the inner IP header as decapsulation does; tags refused.
    let ethertype = be16(inner, 12);
    if ethertype == 0x0800 {
        if ecn != 0 {
            ecn_ipv4::<14>(inner, ecn)?;
        }
    } else if tpid(ethertype) {
        return None;
    } else if ethertype == 0x86dd && ecn != 0 {
        ecn_ipv6::<14>(inner, ecn)?;
    }
    let (hash, tos) = flow_hash(inner)?;
    if 20 + 16 + inner.len() > mtu {
        return None;
    }
    let at: &mut [u8; 8] = (&mut buf[payload.start..inner_at]).try_into().unwrap();
    *at = *header;
    Some((payload, source_port(hash), tos & 0x03))
}
