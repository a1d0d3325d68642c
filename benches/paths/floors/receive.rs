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
/// translation's outer and tunnel checks (`outer_received`, `vxlan_received`,
/// `nvgre_received`) for either kind on a fixed-size head, every offset a constant (the
/// EtherType and the first byte 0x45 in one masked compare of a native-order word, not a
/// fragment and the protocol in another, each length check one range), then RFC 6040.
#[inline(always)]
pub fn decapsulate(frame: &mut [u8]) -> Option<Found> {
    // Ethernet, IPv4 without options, NVGRE and the inner Ethernet header: 56 bytes
    // (VXLAN's 64), under which nothing is taken.
    let head: &[u8; 56] = frame.first_chunk()?;
    let ne = u32::from_ne_bytes;
    // `outer_received`'s checks: EtherType IPv4 and a header without options in one
    // compare; not a fragment and the protocol in another.
    if ne32(head, 12) & ne([0xff, 0xff, 0xff, 0]) != ne([0x08, 0, 0x45, 0]) {
        return None;
    }
    let protocol = ne32(head, 20) & FRAGMENT_PROTOCOL;
    // RFC 1071, as `outer_received` verifies it: the plain sum of the header's words a
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
///
/// The outer checks tunnelwire's translation makes (on an outer IPv4 header without
/// options: options and outer tags are other shapes here) over a fixed-size head, every
/// offset a constant, as `decapsulate` makes them; then the inner frame's walk: the common
/// one (untagged IPv4 without options) inline, every other shape out of line
/// (`translated_other`). Everything is read and written through one slice of the buffer,
/// from where the new headers may begin (8 bytes before the frame towards VXLAN, whose
/// headers are 8 bytes longer; the frame's start towards NVGRE), so that no write needs a
/// bounds check of its own.
#[inline(always)]
pub fn translate(
    buf: &mut [u8],
    frame: Range<usize>,
    to_nvgre: bool,
    mtu: usize,
) -> Option<Range<usize>> {
    let back = if to_nvgre { 0 } else { 8 };
    let region = buf.get_mut(frame.start.checked_sub(back)?..frame.end)?;
    // The frame itself (`None` where its range is reversed).
    let bytes = region.get(back..)?;
    let (vni, inner_frame) = if to_nvgre {
        vxlan_received(bytes)?
    } else {
        nvgre_received(bytes)?
    };
    let inner_len = inner_frame.len();
    let translated = if let Some(walked) = walk_common(inner_frame, true) {
        translated(region, to_nvgre, mtu, vni, inner_len, &walked, 0)
    } else if to_nvgre {
        translated_other::<true>(region, mtu, vni, inner_len)
    } else {
        translated_other::<false>(region, mtu, vni, inner_len)
    }?;
    let at = frame.start - back;
    Some(at + translated.start..at + translated.end)
}

/// `translated` of an inner frame the common walk declined: `region` the frame from where
/// the new headers may begin, the inner frame (`inner_len` bytes) 50 bytes in either way;
/// the new range in `region`. The other shapes by their EtherType: untagged IPv6 and,
/// towards NVGRE, one 802.1Q tag each by a walk and a write of its own (the tags to strip
/// a constant); more than two tags refused at once; a frame whose IP header does not
/// decode, or that has none, by the walk of its Ethernet header alone; every other shape
/// by the general walk.
///
/// Out of line, so that the common frame's loop keeps its registers (inline, these
/// shapes' walks and writes cost the common frame spills and moves: translate 188.4 with
/// them inline as before, 180.4 out of line; the IPv6 walk and write alone kept inline,
/// translate 182.4 and translate+mixed 174.4 against 178.9 and 180.6). The call costs the
/// IPv6 inner frames about 6 instructions per packet. Cold only for the layout, the
/// loop's blocks for the common frame kept together: translate 178.9 -> 177.9,
/// translate+mixed 180.6 -> 179.0.
#[cold]
#[inline(never)]
fn translated_other<const TO_NVGRE: bool>(
    region: &mut [u8],
    mtu: usize,
    vni: u32,
    inner_len: usize,
) -> Option<Range<usize>> {
    // The region up to the inner frame's end, whose length the writes then know.
    let region = region.get_mut(..50 + inner_len)?;
    let inner_frame = region.get(50..)?;
    let ethertype = be16(inner_frame.first_chunk::<14>()?, 12);
    if ethertype == 0x86dd {
        if let Some(walked) = walk_ipv6(inner_frame) {
            return translated(region, TO_NVGRE, mtu, vni, inner_len, &walked, 0);
        }
    } else if tpid(ethertype) {
        // NVGRE carries no inner tags: towards VXLAN, a tagged inner frame is refused
        // (a tag cut short too).
        if !TO_NVGRE {
            return None;
        }
        if let Some(walked) = walk_tagged(inner_frame, true) {
            return translated(region, true, mtu, vni, inner_len, &walked, 4);
        }
        // A third tag after two: not all can be stripped.
        if inner_len >= 22 && tpid(be16(inner_frame, 16)) && tpid(be16(inner_frame, 20)) {
            return None;
        }
    }
    if let Some(walked) = walk_bare(inner_frame) {
        return translated(region, TO_NVGRE, mtu, vni, inner_len, &walked, 0);
    }
    let walked = walk_declined(inner_frame, true)?;
    let strip = walked.strip_len()?;
    if strip != 0 && !TO_NVGRE {
        return None;
    }
    translated(region, TO_NVGRE, mtu, vni, inner_len, &walked, strip)
}

/// The checks of the outer Ethernet and IPv4 headers every received tunnel frame passes,
/// on a head of `HEAD` bytes (`None` under it): EtherType IPv4 and a header without
/// options in one compare of a native-order word, not a fragment and the protocol
/// (`UDP` or `GRE`) in another, the header checksum, a VTEP source. The total length
/// is the caller's, with its tunnel's lengths.
#[inline(always)]
fn outer_received<const HEAD: usize>(bytes: &[u8], protocol: u32) -> Option<&[u8; HEAD]> {
    let head: &[u8; HEAD] = bytes.first_chunk()?;
    let ne = u32::from_ne_bytes;
    if ne32(head, 12) & ne([0xff, 0xff, 0xff, 0]) != ne([0x08, 0, 0x45, 0]) {
        return None;
    }
    if ne32(head, 20) & FRAGMENT_PROTOCOL != protocol {
        return None;
    }
    // RFC 1071: the header verifies when the plain sum of its words is a non-zero
    // multiple of 0xffff, whatever their byte order (the first byte is 0x45: non-zero).
    let word = |at: usize| u64::from(ne32(head, at));
    let sum = word(14) + word(18) + word(22) + word(26) + word(30);
    if sum % 0xffff != 0 || martian(be32(head, 26)) {
        return None;
    }
    Some(head)
}

/// A received VXLAN frame as translation to NVGRE takes it: the outer checks, port 4789
/// and a zero UDP checksum (a non-zero one, verified by tunnelwire, is another shape
/// here), the I flag and what VXLAN-GPE's P bit announces, lengths holding UDP, VXLAN
/// and a whole inner Ethernet header (64 bytes at least: nothing shorter is taken), a
/// VNI that is a VSID NVGRE can carry. The segment's three bytes as the header holds
/// them (the fourth 0) and the inner frame (50 bytes in).
#[inline(always)]
fn vxlan_received(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let head: &[u8; 64] = bytes.first_chunk()?;
    // A reserved VSID first, refused whatever else the frame holds: the checks are
    // independent and none writes, so their order changes no verdict, and the one in
    // eight segments of the mixed workload that NVGRE cannot carry costs 7 instructions
    // rather than the outer checks'.
    let segment = be32(head, 46) >> 8;
    if reserved_vsid(segment) {
        return None;
    }
    let head = outer_received::<64>(bytes, UDP)?;
    // Port 4789, a zero UDP checksum, the I flag set and VXLAN-GPE's P bit clear in one
    // masked compare of a native-order word (bytes 36-43, the UDP length masked out);
    // else each again, the I flag and what the P bit announces.
    let ne64 = u64::from_ne_bytes;
    let udp_vxlan = ne64(head[36..44].try_into().unwrap());
    if udp_vxlan & ne64([0xff, 0xff, 0, 0, 0xff, 0xff, 0x0c, 0])
        != ne64([0x12, 0xb5, 0, 0, 0, 0, 0x08, 0])
        && (head[36..38] != [0x12, 0xb5]
            || head[40..42] != [0, 0]
            || head[42] & 0x08 == 0
            || vxlan_gpe_refused(head[42], head[45]))
    {
        return None;
    }
    // 20 <= total length <= what follows the Ethernet header (a total under 20 wraps
    // past any frame), UDP length <= the IP payload's, each one range; then the UDP
    // datagram holds VXLAN and a whole inner Ethernet header.
    let total = usize::from(be16(head, 16));
    let udp_len = usize::from(be16(head, 38));
    let udp = bytes[34..].get(..total.wrapping_sub(20))?.get(..udp_len)?;
    if udp.len() < 30 {
        return None;
    }
    let ne = u32::from_ne_bytes;
    Some((ne32(head, 46) & ne([0xff, 0xff, 0xff, 0]), &udp[16..]))
}

/// A received NVGRE frame as translation to VXLAN takes it: the outer checks, `nvgre`'s
/// checks in one compare of a native-order word, a VSID that is not reserved, lengths
/// holding NVGRE and a whole inner Ethernet header (56 bytes at least). The segment's
/// three bytes as the header holds them (the fourth 0) and the inner frame (42 bytes
/// in).
#[inline(always)]
fn nvgre_received(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let head = outer_received::<56>(bytes, GRE)?;
    let ne = u32::from_ne_bytes;
    if ne32(head, 34) & ne([0xfc, 0x07, 0xff, 0xff]) != ne([0x20, 0, 0x65, 0x58]) {
        return None;
    }
    let segment = be32(head, 38) >> 8;
    if reserved_vsid(segment) {
        return None;
    }
    // 28 <= total length <= what follows the Ethernet header, one range (a total under
    // 28 wraps past any frame); then the inner Ethernet header whole.
    let total = usize::from(be16(head, 16));
    let inner = bytes[42..].get(..total.wrapping_sub(28))?;
    if inner.len() < 14 {
        return None;
    }
    Some((ne32(head, 38) & ne([0xff, 0xff, 0xff, 0]), inner))
}

/// `translate` once the frame is checked and its inner frame (`inner_len` bytes) walked,
/// on `region`, the frame from where the new headers may begin: the new headers, the
/// inner tags (`strip` bytes) stripped; their range in `region`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn translated(
    region: &mut [u8],
    to_nvgre: bool,
    mtu: usize,
    vni: u32,
    inner_len: usize,
    walked: &Walked,
    strip: usize,
) -> Option<Range<usize>> {
    let hash = walked.hash();
    // The frame's start in the region, its inner frame's, and where the new headers
    // begin: towards NVGRE 42 bytes before the inner frame, 50 after the frame's start;
    // towards VXLAN 50 before it, 42 after the frame's start (never tags to strip).
    let (at, inner_at, start) = if to_nvgre {
        (0, 50, 8 + strip)
    } else {
        (8, 50, 0)
    };
    let inner_start = inner_at + strip;
    let end = inner_at + inner_len;
    let len = end - inner_start;
    let total = if to_nvgre {
        20 + 8 + len
    } else {
        20 + 16 + len
    };
    if total > mtu {
        return None;
    }
    // The old header's parts kept, each one load before anything is written (the new
    // header overlaps the old): bytes 0-15, 16-23 (the total length and the protocol
    // replaced: ID, flags and fragment offset, TTL kept), the checksum and length
    // words, the addresses.
    let outer: &[u8; 34] = region[at..at + 34].try_into().unwrap();
    let first: [u8; 16] = outer[..16].try_into().unwrap();
    let ne64 = u64::from_ne_bytes;
    let kept =
        ne64(outer[16..24].try_into().unwrap()) & ne64([0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0]);
    let addresses: [u8; 8] = outer[26..34].try_into().unwrap();
    let (old_checksum, old_total) = ([outer[24], outer[25]], [outer[16], outer[17]]);
    let total = (total as u16).to_be_bytes();
    // RFC 1624: !checksum + !old + new for the total length and for the TTL/protocol
    // word, whose change is the protocol's, 47 - 17 = 30 either way (-30 is 0xffe1 in
    // one's complement). In the machine's byte order, as the words lie in memory, so
    // that neither the old words nor the checksum are swapped (RFC 1071: the same sum,
    // its bytes swapped). At most 4 * 0xffff, within 32 bits: folded in one add of the
    // sum and its halves swapped, whose upper half is then high + low + the carry out
    // of low + high (the end-around carry), as two folds give it.
    let word = |bytes: [u8; 2]| u32::from(u16::from_ne_bytes(bytes));
    let protocol_change = word(if to_nvgre { [0, 30] } else { [0xff, 0xe1] });
    let sum =
        (word(old_checksum) ^ 0xffff) + (word(old_total) ^ 0xffff) + word(total) + protocol_change;
    let sum = sum.wrapping_add(sum.rotate_left(16)) >> 16;
    let checksum = (!(sum as u16)).to_ne_bytes();
    if strip != 0 {
        strip_tags(region, inner_at, inner_start);
    }
    let protocol = if to_nvgre { 47 } else { 17 };
    let middle =
        kept | ne64([total[0], total[1], 0, 0, 0, 0, 0, 0]) | ne64([0, 0, 0, 0, 0, 0, 0, protocol]);
    // The segment's three bytes as the received header held them, the fourth byte
    // NVGRE's FlowID or VXLAN's reserved 0.
    let ne = u32::from_ne_bytes;
    let ip: &mut [u8; 34] = (&mut region[start..start + 34]).try_into().unwrap();
    ip[..16].copy_from_slice(&first);
    ip[16..24].copy_from_slice(&middle.to_ne_bytes());
    ip[24..26].copy_from_slice(&checksum);
    ip[26..34].copy_from_slice(&addresses);
    if to_nvgre {
        let flow = ne([0, 0, 0, (hash >> 24) as u8]);
        let gre: &mut [u8; 8] = (&mut region[start + 34..inner_start]).try_into().unwrap();
        gre[..4].copy_from_slice(&[0x20, 0, 0x65, 0x58]);
        gre[4..].copy_from_slice(&(vni | flow).to_ne_bytes());
    } else {
        let port = source_port(hash).to_be_bytes();
        let udp_len = ((16 + len) as u16).to_be_bytes();
        let udp: &mut [u8; 16] = (&mut region[start + 34..inner_start]).try_into().unwrap();
        udp[..12].copy_from_slice(&[
            port[0], port[1], 0x12, 0xb5, udp_len[0], udp_len[1], 0, 0, 0x08, 0, 0, 0,
        ]);
        udp[12..].copy_from_slice(&vni.to_ne_bytes());
    }
    Some(start..end)
}
