//! The Geneve floors (RFC 8926), under the rules of `floors/`: decode, and
//! decapsulation with OVN's option (class 0x0102, type 0x80: critical) declared
//! understood, as the benches' decapsulator declares it. Encapsulation needs no code of
//! its own: `floors::Encap` with Geneve's template (50 bytes without options, 58 with
//! OVN's option fixed in it) does exactly what tunnelwire does.
//!
//! What tunnelwire checks of a Geneve header, and so these: version 0, the options area
//! inside the UDP payload and every option inside the area (the decoder); for
//! decapsulation besides, the O bit clear (a control message is no tenant's frame), no
//! critical option but the understood one (whatever the C bit says), and a payload of
//! protocol type 0x6558 (Ethernet), 0x0800 or 0x86DD (an IP packet whose header must
//! decode). Shapes no workload has are left to tunnelwire as in `floors/`: an outer
//! tag, outer IPv4 options (decapsulation), a non-zero UDP checksum.

use std::ops::Range;

use super::floors::{
    FRAGMENT_PROTOCOL, Found, UDP, be16, be32, ecn_ipv4, ecn_ipv6, ethernet_alarm, inner_values,
    ipv4, martian, ne32, tagged_ipv4, tpid,
};

/// Geneve's UDP destination port.
const PORT: u16 = 6081;

/// What the Geneve decode benchmark extracts: the VNI, the outer source, the inner
/// source and destination, the inner ports, the O and C bits (as the header's second
/// byte has them, its reserved bits cleared), the protocol type and where the options
/// area is in the frame.
pub type Values = (u32, u32, u32, u32, (u16, u16), u8, u16, Range<usize>);

/// True when an options area (whole 4-byte words) is a sequence of whole options: each
/// option's header read once, its length (5 bits, in words) skipped; a word-aligned
/// area leaves no option header cut short, so what remains after each option is the
/// one check.
#[inline(always)]
fn options_whole(area: &[u8]) -> bool {
    // One option filling the area (the clean frames' OVN option): its length tested
    // once, in place of the walk.
    if let Some(&length) = area.get(3) {
        if 4 + usize::from(length & 0x1f) * 4 == area.len() {
            return true;
        }
    }
    let mut rest = area;
    while let Some(option) = rest.first_chunk::<4>() {
        let Some(after) = rest.get(4 + usize::from(option[3] & 0x1f) * 4..) else {
            return false;
        };
        rest = after;
    }
    true
}

/// `options_whole`, and no critical option (its type's high bit) but OVN's. An option
/// header's first word is compared in the machine's byte order, as are the constants
/// (`ne`): no swap.
#[inline(always)]
fn options_taken(area: &[u8]) -> bool {
    let ne = u32::from_ne_bytes;
    // OVN's option alone (the area of every clean frame): its header tested once, in
    // place of the walk (its length 1 word, its reserved bits ignored).
    if let Some((ovn, [_, _, _, _])) = area.split_first_chunk::<4>() {
        if ne(*ovn) & ne([0xff, 0xff, 0xff, 0x1f]) == ne([0x01, 0x02, 0x80, 0x01]) {
            return true;
        }
    }
    let mut rest = area;
    while let Some((option, _)) = rest.split_first_chunk::<4>() {
        let critical = option[2] & 0x80 != 0;
        if critical && ne(*option) & ne([0xff, 0xff, 0xff, 0]) != ne([0x01, 0x02, 0x80, 0]) {
            return false;
        }
        let Some(after) = rest.get(4 + usize::from(option[3] & 0x1f) * 4..) else {
            return false;
        };
        rest = after;
    }
    true
}

/// The Geneve decode benchmark's values by hand: outer Ethernet/IPv4 (options allowed),
/// UDP to port 6081, a Geneve header tunnelwire's decoder takes, then for an Ethernet
/// payload the inner stack as `floors::decode` walks it, for an IPv4 payload the same
/// from its IP header; an IPv6 payload, or another, has no inner IPv4 values.
///
/// The outer IPv4 header without options (every workload's) is walked by its own copy
/// of `decode_from`, every offset a constant; a header with options by another.
#[inline(always)]
pub fn decode(frame: &[u8]) -> Option<Values> {
    // Ethernet, IPv4, UDP and Geneve's fixed header: 50 bytes at least, under which
    // nothing decodes.
    let head: &[u8; 50] = frame.first_chunk()?;
    // EtherType IPv4 and an IPv4 header without options in one compare.
    if ne32(head, 12) & u32::from_ne_bytes([0xff, 0xff, 0xff, 0])
        == u32::from_ne_bytes([8, 0, 0x45, 0])
    {
        return decode_from(frame, 20);
    }
    // Else version 4, IHL >= 5 (then over 5).
    if head[12..14] != [0x08, 0x00] || head[14] >> 4 != 4 || head[14] & 0x0f < 5 {
        return None;
    }
    decode_from(frame, usize::from(head[14] & 0x0f) * 4)
}

/// `decode` past the outer IPv4 header's first byte, the header `ip_len` bytes long
/// (checked as `floors::ipv4` checks it: `ip_len` <= total length, here with UDP's and
/// Geneve's fixed headers inside it).
#[inline(always)]
fn decode_from(frame: &[u8], ip_len: usize) -> Option<Values> {
    let (outer, rest) = frame.split_at_checked(14 + ip_len + 16)?;
    let ip = &outer[14..];
    if ne32(ip, 6) & FRAGMENT_PROTOCOL != UDP {
        return None;
    }
    // IP header + 16 <= total length <= what follows the Ethernet header (UDP and
    // Geneve's fixed header inside the packet), then 16 <= UDP length <= what follows
    // them in the packet: each one range (a length under its floor wraps past it).
    let packet = rest.get(..usize::from(be16(ip, 2)).wrapping_sub(ip_len + 16))?;
    let header: &[u8; 16] = outer[14 + ip_len..].try_into().unwrap();
    let geneve = packet.get(..usize::from(be16(header, 4)).wrapping_sub(16))?;
    if be16(header, 2) != PORT {
        return None;
    }
    let at = 14 + ip_len + 16;
    // The clean frames' Geneve header, every offset a constant: Opt Len 2 (version 0)
    // and an Ethernet payload in one compare, room for OVN's option, an Ethernet
    // header and the IPv4 and UDP headers, OVN's option alone (its length 1 word). A
    // datagram too short for that shape, or another shape, by the general walk below.
    let ne = u32::from_ne_bytes;
    if ne32(header, 8) & ne([0xff, 0, 0xff, 0xff]) == ne([2, 0, 0x65, 0x58]) {
        if let Some(g) = geneve.first_chunk::<50>() {
            if g[3] & 0x1f == 1 {
                // The clean frames' inner packet, each test one compare: untagged IPv4
                // without options, UDP, not a fragment; then 28 <= total length <= what
                // follows the Ethernet header, 8 <= UDP length <= the IP payload.
                if ne32(g, 20) & ne([0xff, 0xff, 0xff, 0]) == ne([0x08, 0, 0x45, 0])
                    && ne32(g, 28) & FRAGMENT_PROTOCOL == UDP
                {
                    let after_udp = usize::from(be16(g, 24)).wrapping_sub(28);
                    if after_udp > geneve.len() - 50
                        || usize::from(be16(g, 46)).wrapping_sub(8) > after_udp
                    {
                        return None;
                    }
                    let ports = be32(g, 42);
                    return Some((
                        be32(header, 12) >> 8,
                        be32(ip, 12),
                        be32(g, 34),
                        be32(g, 38),
                        ((ports >> 16) as u16, ports as u16),
                        header[9] & 0xc0,
                        0x6558,
                        at..at + 8,
                    ));
                }
                let inner = &geneve[8..];
                let (inner_src, inner_dst, ports) = if g[20..22] == [0x08, 0x00] {
                    inner_values(&inner[14..])?
                } else {
                    inner_values(tagged_ipv4(inner)?)?
                };
                return Some((
                    be32(header, 12) >> 8,
                    be32(ip, 12),
                    inner_src,
                    inner_dst,
                    ports,
                    header[9] & 0xc0,
                    0x6558,
                    at..at + 8,
                ));
            }
        }
    }
    // Version 0 is the first byte's top two bits clear: the byte is then the options'
    // length in words.
    if header[8] > 0x3f {
        return None;
    }
    let options_len = usize::from(header[8]) * 4;
    if !options_whole(geneve.get(..options_len)?) {
        return None;
    }
    let inner = &geneve[options_len..];
    // Ethernet, the common payload, tested first, as bytes (no swap); IPv4 after.
    let (inner_src, inner_dst, ports) = if header[10..12] == [0x65, 0x58] {
        let eth: &[u8; 14] = inner.first_chunk()?;
        if eth[12..14] == [0x08, 0x00] {
            inner_udp_values(&inner[14..])?
        } else {
            inner_values(tagged_ipv4(inner)?)?
        }
    } else if header[10..12] == [0x08, 0x00] {
        inner_values(inner)?
    } else {
        return None;
    };
    Some((
        be32(header, 12) >> 8,
        be32(ip, 12),
        inner_src,
        inner_dst,
        ports,
        header[9] & 0xc0,
        be16(header, 10),
        at..at + options_len,
    ))
}

/// `inner_values`, the common packet first: an IPv4 header without options, UDP, not a
/// fragment, in one load and compare; then 28 <= total length <= what follows and 8 <=
/// UDP length <= the IP payload, each one range; the ports as one word. Any other packet
/// by `inner_values`.
#[inline(always)]
fn inner_udp_values(ip: &[u8]) -> Option<(u32, u32, (u16, u16))> {
    if let Some((h, rest)) = ip.split_first_chunk::<28>() {
        if h[0] == 0x45 && ne32(h, 6) & FRAGMENT_PROTOCOL == UDP {
            let after_udp = usize::from(be16(h, 2)).wrapping_sub(28);
            if after_udp > rest.len() || usize::from(be16(h, 24)).wrapping_sub(8) > after_udp {
                return None;
            }
            let ports = be32(h, 20);
            return Some((
                be32(h, 12),
                be32(h, 16),
                ((ports >> 16) as u16, ports as u16),
            ));
        }
    }
    inner_values(ip)
}

/// Hand-written Geneve decapsulation with tunnelwire's defaults and OVN's option
/// understood: the outer checks of `floors::translate` (`outer_received`), UDP to port 6081
/// with a zero checksum, the Geneve checks, an inner Ethernet header (untagged: tags
/// refused) or IP header, RFC 6040 as `floors::decapsulate` applies it. The outer headers,
/// UDP's and Geneve's fixed one are split off the rest as one 50-byte array (an outer IPv4
/// header with options is a shape left to tunnelwire), so every offset into them is a
/// constant; the clean frames' Geneve header (OVN's option alone before an Ethernet
/// payload) is recognised in one compare and walked on constant offsets, any other by the
/// general walk.
#[inline(always)]
pub fn decapsulate(frame: &mut [u8]) -> Option<Found> {
    // Ethernet, IPv4 without options, UDP and Geneve's fixed header: 50 bytes, under
    // which nothing is taken.
    let (outer, rest) = frame.split_first_chunk_mut::<50>()?;
    let outer: &[u8; 50] = outer;
    let ne = u32::from_ne_bytes;
    // The outer checks, with UDP's: EtherType IPv4 and an IPv4 header without
    // options in one compare, not a fragment and UDP in another (the bytes as the
    // machine orders them, no swap).
    if ne32(outer, 12) & ne([0xff, 0xff, 0xff, 0]) != ne([0x08, 0, 0x45, 0])
        || ne32(outer, 20) & FRAGMENT_PROTOCOL != UDP
    {
        return None;
    }
    // RFC 1071, as `floors::translate` verifies it: the plain sum of the header's words a
    // non-zero multiple of 0xffff (2^16 = 1 mod 0xffff), whatever their byte order.
    let word = |at: usize| u64::from(ne32(outer, at));
    let sum = word(14) + word(18) + word(22) + word(26) + word(30);
    if sum % 0xffff != 0 || martian(be32(outer, 26)) {
        return None;
    }
    // 36 <= total length <= what follows the Ethernet header (UDP and Geneve's fixed
    // header inside the packet), one range (a length under 36 wraps past it).
    let payload = rest.get_mut(..usize::from(be16(outer, 16)).wrapping_sub(36))?;
    let header: &[u8; 16] = outer[34..].try_into().unwrap();
    // Port 6081 and a zero UDP checksum, each compared as bytes (no swap): 1 fewer per
    // packet than one masked 64-bit compare (3 in the VXLAN floor).
    if header[2..4] != PORT.to_be_bytes() || header[6..8] != [0, 0] {
        return None;
    }
    let udp_len = usize::from(be16(header, 4));
    let ecn = outer[15] & 0x03;
    // The clean frames' Geneve header, every offset a constant: version 0, Opt Len 2,
    // the O bit clear and an Ethernet payload in one compare (the bytes as the machine
    // orders them, the mask and constant alike: no swap), then the general walk's
    // checks with the options' length known.
    let flags = ne32(header, 8);
    if flags & ne([0xff, 0x80, 0xff, 0xff]) == ne([2, 0, 0x65, 0x58]) {
        // 16 <= UDP length <= what follows, one range (a length under 16 wraps past
        // it).
        let geneve = payload.get_mut(..udp_len.wrapping_sub(16))?;
        // OVN's option alone (its header in one compare, its length 1 word, its
        // reserved bits ignored) and an untagged inner IPv4 frame, its IP header whole:
        // the checks on constant offsets after one length check. Else (or a datagram
        // too short for these headers) the options' walk and `ethernet_alarm`.
        let alarm = match geneve.first_chunk::<42>() {
            Some(g)
                if ne32(g, 0) & ne([0xff, 0xff, 0xff, 0x1f]) == ne([0x01, 0x02, 0x80, 0x01]) =>
            {
                if g[20..22] == [0x08, 0x00] {
                    if ecn == 0 || g[23] & 0x03 == ecn {
                        0
                    } else {
                        ecn_ipv4::<14>(&mut geneve[8..], ecn)?
                    }
                } else if tpid(be16(g, 20)) {
                    return None;
                } else if be16(g, 20) == 0x86dd && ecn != 0 {
                    ecn_ipv6::<14>(&mut geneve[8..], ecn)?
                } else {
                    0
                }
            }
            _ => ovn_header_alarm(geneve, ecn)?,
        };
        return Some((
            2,
            be32(header, 12) >> 8,
            be32(outer, 26),
            be32(outer, 30),
            58..34 + udp_len,
            alarm,
            0x6558,
            50..58,
        ));
    }
    // Version 0 and the O bit clear in one test.
    if flags & ne([0xc0, 0x80, 0, 0]) != 0 {
        return None;
    }
    let geneve = payload.get_mut(..udp_len.wrapping_sub(16))?;
    let options_len = usize::from(header[8]) * 4;
    let (area, inner) = geneve.split_at_mut_checked(options_len)?;
    if !options_taken(area) {
        return None;
    }
    let protocol = be16(header, 10);
    let alarm = if protocol == 0x6558 {
        ethernet_alarm(inner, ecn)?
    } else {
        ip_payload(inner, protocol, ecn)?
    };
    // The options follow Geneve's fixed header (42 + 8); the inner frame, them.
    let start = 50 + options_len;
    Some((
        2,
        be32(header, 12) >> 8,
        be32(outer, 26),
        be32(outer, 30),
        start..34 + udp_len,
        alarm,
        protocol,
        50..start,
    ))
}

/// `decapsulate`'s walk after the clean frames' Geneve header (Opt Len 2, an Ethernet
/// payload) where the rest is not theirs: the options' walk, `ethernet_alarm`.
#[inline(never)]
fn ovn_header_alarm(geneve: &mut [u8], ecn: u8) -> Option<u8> {
    let (area, inner) = geneve.split_at_mut_checked(8)?;
    if !options_taken(area) {
        return None;
    }
    ethernet_alarm(inner, ecn)
}

/// Decapsulation's IP payloads (protocol types 0x0800, 0x86DD: no workload's common
/// shape): the IP header must decode, as tunnelwire's walk decodes it; RFC 6040 into it.
/// `None` for another protocol type, or a drop.
#[cold]
#[inline(never)]
fn ip_payload(inner: &mut [u8], protocol: u16, ecn: u8) -> Option<u8> {
    match protocol {
        0x0800 => {
            ipv4(inner)?;
            if ecn == 0 {
                Some(0)
            } else {
                ecn_ipv4::<0>(inner, ecn)
            }
        }
        0x86dd => {
            let header = inner.get(..40)?;
            if header[0] >> 4 != 6 || 40 + usize::from(be16(header, 4)) > inner.len() {
                return None;
            }
            if ecn == 0 {
                Some(0)
            } else {
                ecn_ipv6::<0>(inner, ecn)
            }
        }
        _ => None,
    }
}
