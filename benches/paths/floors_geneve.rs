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
    Found, be16, be32, be64, ecn_ipv4, ecn_ipv6, inner_values, ipv4, outer_ipv4, tagged_ipv4, tpid,
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
#[inline(always)]
pub fn decode(frame: &[u8]) -> Option<Values> {
    if frame.len() < 34 || be16(frame, 12) != 0x0800 {
        return None;
    }
    let (ip, payload) = ipv4(&frame[14..])?;
    if be16(ip, 6) & 0x3fff != 0 || ip[9] != 17 {
        return None;
    }
    // UDP and Geneve's fixed header whole, then 16 <= UDP length <= what follows in one
    // range (a length under 16 wraps past it).
    let (header, rest) = payload.split_first_chunk::<16>()?;
    let geneve = rest.get(..usize::from(be16(header, 4)).wrapping_sub(16))?;
    // Version 0 is the first byte's top two bits clear: the byte is then the options'
    // length in words.
    if be16(header, 2) != PORT || header[8] > 0x3f {
        return None;
    }
    let options_len = usize::from(header[8]) * 4;
    let area = geneve.get(..options_len)?;
    if !options_whole(area) {
        return None;
    }
    let inner = &geneve[options_len..];
    let protocol = be16(header, 10);
    // Ethernet, the common payload, tested first.
    let inner_ip = if protocol == 0x6558 {
        let eth: &[u8; 14] = inner.first_chunk()?;
        if be16(eth, 12) == 0x0800 {
            &inner[14..]
        } else {
            tagged_ipv4(inner)?
        }
    } else if protocol == 0x0800 {
        inner
    } else {
        return None;
    };
    let (inner_src, inner_dst, ports) = inner_values(inner_ip)?;
    let at = area.as_ptr() as usize - frame.as_ptr() as usize;
    Some((
        be32(header, 12) >> 8,
        be32(ip, 12),
        inner_src,
        inner_dst,
        ports,
        header[9] & 0xc0,
        protocol,
        at..at + options_len,
    ))
}

/// Hand-written Geneve decapsulation with tunnelwire's defaults and OVN's option
/// understood: `outer_ipv4`'s checks, UDP to port 6081 with a zero checksum, the Geneve
/// checks, an inner Ethernet header (untagged: tags refused) or IP header, RFC 6040 as
/// `floors::decapsulate` applies it. The UDP and Geneve headers are split off the rest
/// (`&mut` to each): what is read of them after the options' walk is loaded there, not
/// before it and kept across.
#[inline(always)]
pub fn decapsulate(frame: &mut [u8]) -> Option<Found> {
    let (outer, payload) = outer_ipv4(frame)?;
    let (header, rest) = payload.split_first_chunk_mut::<16>()?;
    let header: &[u8; 16] = header;
    // UDP, port 6081 and a zero UDP checksum in one compare.
    if outer[23] != 17 || be64(header, 0) & 0xffff_0000_ffff != u64::from(PORT) << 32 {
        return None;
    }
    // Version 0 and the O bit clear in one test, of the bytes as the machine orders
    // them (the mask ordered alike): no swap.
    if u16::from_ne_bytes([header[8], header[9]]) & u16::from_ne_bytes([0xc0, 0x80]) != 0 {
        return None;
    }
    // 16 <= UDP length <= what follows, one range (a length under 16 wraps past it).
    let geneve = rest.get_mut(..usize::from(be16(header, 4)).wrapping_sub(16))?;
    let options_len = usize::from(header[8]) * 4;
    let (area, inner) = geneve.split_at_mut_checked(options_len)?;
    if !options_taken(area) {
        return None;
    }
    let protocol = be16(header, 10);
    let ecn = outer[15] & 0x03;
    let alarm = if protocol == 0x6558 {
        if inner.len() < 14 {
            return None;
        }
        // Outer Not-ECT changes nothing and raises no alarm, whatever the inner header.
        // IPv4, the common EtherType, compared as bytes (no swap); the others after.
        if inner[12..14] == [0x08, 0x00] {
            if ecn == 0 {
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
        }
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
        start..34 + usize::from(be16(header, 4)),
        alarm,
        protocol,
        50..start,
    ))
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
