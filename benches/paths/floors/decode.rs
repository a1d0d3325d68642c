//! The decode floor: the values the decode benchmark extracts, by hand.

use super::*;

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
