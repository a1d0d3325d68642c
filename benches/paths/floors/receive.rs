//! The receiving floors over IPv4: the outer checks every received tunnel frame passes,
//! RFC 6040, decapsulation and VXLAN <-> NVGRE translation.

use super::*;

/// True for an outer source that cannot be a VTEP, as tunnelwire's check: 0/8, 127/8,
/// and 224/3 (multicast, the reserved 240/4 and broadcast).
#[inline(always)]
pub(crate) fn martian(src: u32) -> bool {
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
pub(super) fn vxlan_gpe_refused(flags: u8, next_protocol: u8) -> bool {
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
pub(crate) fn outer_ipv4(frame: &mut [u8]) -> Option<(&[u8; 34], &mut [u8])> {
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
pub(crate) fn ecn_ipv4<const AT: usize>(inner: &mut [u8], outer: u8) -> Option<u8> {
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
pub(crate) fn ecn_ipv6<const AT: usize>(inner: &mut [u8], outer: u8) -> Option<u8> {
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

/// Hand-written decapsulation with tunnelwire's defaults (tagged inner frames refused):
/// `checked`'s checks for either kind on a fixed-size head, every offset a constant (the
/// EtherType and the first byte 0x45 in one masked compare of a native-order word, not a
/// fragment and the protocol in another, each length check one range), then RFC 6040.
#[inline(always)]
pub fn decapsulate(frame: &mut [u8]) -> Option<Found> {
    // Ethernet, IPv4 without options, NVGRE and the inner Ethernet header: 56 bytes
    // (VXLAN's 64), under which nothing is taken.
    let head: &[u8; 56] = frame.first_chunk()?;
    let ne = u32::from_ne_bytes;
    // `outer_ipv4`'s checks: EtherType IPv4 and a header without options in one
    // compare; not a fragment and the protocol in another.
    if ne32(head, 12) & ne([0xff, 0xff, 0xff, 0]) != ne([0x08, 0, 0x45, 0]) {
        return None;
    }
    let protocol = ne32(head, 20) & FRAGMENT_PROTOCOL;
    // RFC 1071, as `outer_ipv4` verifies it: the plain sum of the header's words a
    // non-zero multiple of 0xffff, whatever their byte order.
    let word = |at: usize| u64::from(ne32(head, at));
    let sum = word(14) + word(18) + word(22) + word(26) + word(30);
    if sum % 0xffff != 0 || martian(be32(head, 26)) {
        return None;
    }
    let total = usize::from(be16(head, 16));
    let (ecn, src, dst) = (head[15] & 0x03, be32(head, 26), be32(head, 30));
    if protocol == UDP {
        // Port 4789 and a zero UDP checksum, each compared as bytes (no swap); the I
        // flag set and VXLAN-GPE's P bit clear in one compare, else the I flag and what
        // the P bit announces.
        if head[36..38] != [0x12, 0xb5] || head[40..42] != [0, 0] {
            return None;
        }
        if head[42] & 0x0c != 0x08
            && (head[42] & 0x08 == 0 || vxlan_gpe_refused(head[42], head[45]))
        {
            return None;
        }
        let segment = be32(head, 46) >> 8;
        let udp_len = usize::from(be16(head, 38));
        // 36 <= total length <= what follows the Ethernet header (UDP and VXLAN inside
        // the packet), then 16 <= UDP length <= what follows them: each one range (a
        // length under its floor wraps past it).
        let inner = frame[50..]
            .get_mut(..total.wrapping_sub(36))?
            .get_mut(..udp_len.wrapping_sub(16))?;
        decapsulated(inner, 50, 0, segment, src, dst, ecn)
    } else if protocol == GRE {
        // `nvgre`'s checks in one compare of a native-order word; 28 <= total length
        // <= what follows the Ethernet header, one range.
        if ne32(head, 34) & ne([0xfc, 0x07, 0xff, 0xff]) != ne([0x20, 0, 0x65, 0x58]) {
            return None;
        }
        let segment = be32(head, 38) >> 8;
        if reserved_vsid(segment) {
            return None;
        }
        let inner = frame[42..].get_mut(..total.wrapping_sub(28))?;
        decapsulated(inner, 42, 1, segment, src, dst, ecn)
    } else {
        None
    }
}

/// `decapsulate` once the outer and tunnel headers are checked: the inner Ethernet
/// header whole (at `at` in the frame), RFC 6040. IPv4's EtherType compared as bytes:
/// no byte swap on the common path. Outer Not-ECT changes nothing and raises no alarm,
/// whatever the inner header; nor does an inner IPv4 header whose ECN is the outer one
/// already, or one cut short (`ecn_ipv4` returns 0 for either, writing nothing),
/// tested before the header is.
#[inline(always)]
fn decapsulated(
    inner: &mut [u8],
    at: usize,
    kind: u8,
    segment: u32,
    src: u32,
    dst: u32,
    ecn: u8,
) -> Option<Found> {
    let range = at..at + inner.len();
    let alarm = ethernet_alarm(inner, ecn)?;
    let options = range.start..range.start;
    Some((kind, segment, src, dst, range, alarm, 0x6558, options))
}

/// Decapsulation's Ethernet payload: its header whole, untagged (tags refused); RFC
/// 6040 into an IPv4 or IPv6 header after it, as `decapsulate` applies it
/// (`None`: a drop). Outer Not-ECT changes nothing and raises no alarm, whatever the
/// inner header; nor does an inner IPv4 header whose ECN is the outer one already, or
/// one cut short (`ecn_ipv4` returns 0 for either, writing nothing), tested here before
/// the header is.
#[inline(always)]
pub fn ethernet_alarm(inner: &mut [u8], ecn: u8) -> Option<u8> {
    if inner.len() < 14 {
        return None;
    }
    // IPv4, the common EtherType, compared as bytes (no swap); the others after.
    Some(if inner[12..14] == [0x08, 0x00] {
        if ecn == 0 || inner.len() < 34 || inner[15] & 0x03 == ecn {
            0
        } else {
            ecn_ipv4::<14>(inner, ecn)?
        }
    } else if tpid(be16(inner, 12)) {
        return None;
    } else if be16(inner, 12) == 0x86dd && ecn != 0 {
        ecn_ipv6::<14>(inner, ecn)?
    } else {
        0
    })
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
