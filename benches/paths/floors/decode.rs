//! The decode floor: the values the decode benchmark extracts, by hand.

use super::*;

/// What the decode benchmark extracts: the tunnel (NVGRE or not) and its segment, the
/// outer source, the inner source and destination, the inner ports.
pub type Values = (bool, u32, u32, u32, u32, (u16, u16));

/// The decode benchmark's values by hand: outer Ethernet/IPv4 (options allowed; an
/// outer tag is a shape no workload has: `None`), VXLAN on UDP port 4789 or NVGRE, then
/// the inner stack through up to two tags to IPv4 that is not a fragment, and its UDP or
/// TCP ports.
///
/// The outer IPv4 header without options (every workload's) is walked by its own copy
/// of `decode_from`, every offset a constant: the EtherType and the first byte (0x45)
/// in one masked compare of a native-order word; a header with options by another.
#[inline(always)]
pub fn decode(frame: &[u8]) -> Option<Values> {
    // Ethernet, IPv4, NVGRE and the inner Ethernet header: 56 bytes at least (VXLAN's
    // 64), under which nothing decodes.
    let head: &[u8; 56] = frame.first_chunk()?;
    let ne = u32::from_ne_bytes;
    if ne32(head, 12) & ne([0xff, 0xff, 0xff, 0]) == ne([0x08, 0, 0x45, 0]) {
        return decode_from(frame, 20);
    }
    // Else version 4, IHL >= 5 (then over 5), as `ipv4` checks them.
    if head[12..14] != [0x08, 0x00] || head[14] >> 4 != 4 || head[14] & 0x0f < 5 {
        return None;
    }
    decode_from(frame, usize::from(head[14] & 0x0f) * 4)
}

/// `decode` past the outer IPv4 header's first byte, the header `ip_len` bytes long
/// (checked as `ipv4` checks it: `ip_len` <= total length, here with the tunnel's
/// headers inside it): not a fragment and the protocol in one compare of a
/// native-order word; each length check one range (a length under its floor wraps
/// past it).
#[inline(always)]
fn decode_from(frame: &[u8], ip_len: usize) -> Option<Values> {
    let total = usize::from(be16(frame, 16));
    let protocol = ne32(frame, 20) & FRAGMENT_PROTOCOL;
    if protocol == UDP {
        // ip_len + 16 <= total length <= what follows the Ethernet header (UDP and
        // VXLAN inside the packet), then 16 <= UDP length <= what follows them.
        let (outer, rest) = frame.split_at_checked(14 + ip_len + 16)?;
        let header: &[u8; 16] = outer[14 + ip_len..].try_into().unwrap();
        let packet = rest.get(..total.wrapping_sub(ip_len + 16))?;
        let inner = packet.get(..usize::from(be16(header, 4)).wrapping_sub(16))?;
        if be16(header, 2) != 4789 || header[8] & 0x08 == 0 {
            return None;
        }
        let (inner_src, inner_dst, ports) = inner_ethernet_values(inner)?;
        Some((
            false,
            be32(header, 12) >> 8,
            be32(frame, 26),
            inner_src,
            inner_dst,
            ports,
        ))
    } else if protocol == GRE {
        // ip_len + 8 <= total length <= what follows the Ethernet header (NVGRE
        // inside the packet); `nvgre`'s checks in one compare of a native-order word.
        let (outer, rest) = frame.split_at_checked(14 + ip_len + 8)?;
        let header: &[u8; 8] = outer[14 + ip_len..].try_into().unwrap();
        let inner = rest.get(..total.wrapping_sub(ip_len + 8))?;
        let ne = u32::from_ne_bytes;
        if ne32(header, 0) & ne([0xfc, 0x07, 0xff, 0xff]) != ne([0x20, 0, 0x65, 0x58]) {
            return None;
        }
        let (inner_src, inner_dst, ports) = inner_ethernet_values(inner)?;
        Some((
            true,
            be32(header, 4) >> 8,
            be32(frame, 26),
            inner_src,
            inner_dst,
            ports,
        ))
    } else {
        None
    }
}

/// `decode`'s inner stack: an IPv4 header without options (the common frame), untagged
/// or after one 802.1Q tag, on a fixed-size head, its EtherTypes and first byte in
/// masked compares of native-order words; any other frame by the walk as it was.
#[inline(always)]
fn inner_ethernet_values(inner: &[u8]) -> Option<(u32, u32, (u16, u16))> {
    let ne = u32::from_ne_bytes;
    if let Some((g, rest)) = inner.split_first_chunk::<42>() {
        let word = ne32(g, 12);
        if word & ne([0xff, 0xff, 0xff, 0]) == ne([0x08, 0, 0x45, 0]) {
            return ip_head_values(g[14..].try_into().unwrap(), rest.len());
        }
        // One 802.1Q tag (as `tagged_ipv4` walks it: the tag's EtherType IPv4, not a
        // TPID, ends the walk) before the same header.
        if word & ne([0xff, 0xff, 0, 0]) == ne([0x81, 0, 0, 0]) {
            if let Some((g, rest)) = inner.split_first_chunk::<46>() {
                if ne32(g, 16) & ne([0xff, 0xff, 0xff, 0]) == ne([0x08, 0, 0x45, 0]) {
                    return ip_head_values(g[18..].try_into().unwrap(), rest.len());
                }
            }
        }
    }
    let eth: &[u8; 14] = inner.first_chunk()?;
    let ip = if be16(eth, 12) == 0x0800 {
        &inner[14..]
    } else {
        tagged_ipv4(inner)?
    };
    inner_values(ip)
}

/// `inner_values` for an IPv4 header without options (its first byte 0x45) whose first
/// 28 bytes are `h` and `after` bytes follow them: not a fragment and the protocol in
/// one compare, every length one range, the ports one word (UDP and TCP; any other
/// protocol, or a fragment, takes nothing).
#[inline(always)]
fn ip_head_values(h: &[u8; 28], after: usize) -> Option<(u32, u32, (u16, u16))> {
    let protocol = ne32(h, 6) & FRAGMENT_PROTOCOL;
    let total = usize::from(be16(h, 2));
    if protocol == UDP {
        // 28 <= total length <= what follows the Ethernet header, 8 <= UDP length <=
        // the IP payload.
        let after_udp = total.wrapping_sub(28);
        if after_udp > after || usize::from(be16(h, 24)).wrapping_sub(8) > after_udp {
            return None;
        }
    } else if protocol == TCP {
        // 24 <= total length <= what follows the Ethernet header (the ports inside the
        // packet).
        if total.wrapping_sub(24) > after + 4 {
            return None;
        }
    } else {
        return None;
    }
    let ports = be32(h, 20);
    Some((
        be32(h, 12),
        be32(h, 16),
        ((ports >> 16) as u16, ports as u16),
    ))
}

/// The decode benchmark's inner values from the inner IPv4 packet at the start of `ip`:
/// its source and destination, its UDP or TCP ports (`None`: malformed, a fragment,
/// another protocol).
#[inline(always)]
pub(crate) fn inner_values(ip: &[u8]) -> Option<(u32, u32, (u16, u16))> {
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
pub(crate) fn tagged_ipv4(frame: &[u8]) -> Option<&[u8]> {
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
