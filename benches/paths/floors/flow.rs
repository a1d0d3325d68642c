//! What the floors compute of an inner frame: its walk as tunnelwire's decoder walks it
//! (tags, IP, ports) and flow hash v2 from its documented definition, with the source port
//! it gives.

use super::*;

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
pub(super) struct Walked {
    /// Tags decoded (at most two).
    tags: usize,
    /// A further tag follows the decoded ones (or one could not be decoded).
    more: bool,
    /// The IP header's TOS (IPv6: traffic class); 0 without one.
    pub(super) tos: u8,
    key: [u64; 4],
}

impl Walked {
    /// Flow hash v2 of the key.
    #[inline(always)]
    pub(super) fn hash(&self) -> u64 {
        let [w0, w1, w2, w3] = self.key;
        fold(fold(w0 ^ K0, w1 ^ K1) ^ fold(w2 ^ K2, w3 ^ K3), K4)
    }

    /// The bytes of tags to strip: `None` when tags cannot all be stripped.
    #[inline(always)]
    pub(super) fn strip_len(&self) -> Option<usize> {
        (!self.more).then_some(self.tags * 4)
    }
}

/// An inner Ethernet frame walked as tunnelwire's decoder walks it (`transport`: down to
/// the TCP/UDP ports, as the flow hash needs; else to the IP header), recording what it
/// found until the first malformed header. `None` without a whole Ethernet header. The
/// common frame (untagged IPv4 without options) straight through, the key's words
/// loaded after the ports' branch; every other shape in `walk_other`.
#[inline(always)]
pub(super) fn walk(frame: &[u8], transport: bool) -> Option<Walked> {
    match walk_common(frame, transport) {
        Some(walked) => Some(walked),
        None if frame.len() >= 14 => Some(walk_other(frame, transport)),
        None => None,
    }
}

/// `walk` of a frame `walk_common` declined: not the common one again.
#[inline(always)]
pub(super) fn walk_declined(frame: &[u8], transport: bool) -> Option<Walked> {
    (frame.len() >= 14).then(|| walk_other(frame, transport))
}

/// Translation's walk of an inner frame `walk_common` declined, with the bytes of tags
/// to strip: one tag stripped on the way to NVGRE (`to_nvgre`) and refused in NVGRE,
/// untagged IPv6, then every other shape by `walk_declined` (tags refused likewise).
#[inline(always)]
pub(super) fn walk_translated_other(frame: &[u8], to_nvgre: bool) -> Option<(Walked, usize)> {
    match walk_tagged(frame, true) {
        Some(walked) if to_nvgre => Some((walked, 4)),
        Some(_) => None,
        None => match walk_ipv6(frame) {
            Some(walked) => Some((walked, 0)),
            None => {
                let walked = walk_declined(frame, true)?;
                let strip = walked.strip_len()?;
                if strip != 0 && !to_nvgre {
                    return None;
                }
                Some((walked, strip))
            }
        },
    }
}

/// `walk` of the common frame (untagged IPv4 without options, its header sound): `None`
/// for every other shape. Callers take the two apart, so that what follows the walk is
/// compiled once for the common frame (no tags to strip) and once for the others.
///
/// Over a fixed-size head, every offset a constant: Ethernet, IPv4 without options and
/// a UDP header, 42 bytes (a shorter frame, rare, is walked by `walk_other` to the same
/// result), so the transport's first 8 bytes are there to read whatever the total
/// length says. The EtherType and the first byte 0x45 in one masked compare of a
/// native-order word.
#[inline(always)]
pub(super) fn walk_common(frame: &[u8], transport: bool) -> Option<Walked> {
    let head: &[u8; 42] = frame.first_chunk()?;
    let ne = u32::from_ne_bytes;
    if ne32(head, 12) & ne([0xff, 0xff, 0xff, 0]) != ne([0x08, 0, 0x45, 0]) {
        return None;
    }
    // The source MAC address (bytes 6-11) by a shift rather than a mask.
    let macs = [be64(head, 0) >> 16 | 0x0800 << 48, be64(head, 6) >> 16];
    walk_ipv4::<14, 42>(frame, transport, 0, macs)
}

/// `walk_common` for the frame with one 802.1Q tag (then untagged IPv4 without options),
/// which `walk_other` walks to the same result: the TPID, the EtherType and the first
/// byte 0x45 in one masked compare of a native-order 64-bit word; the VLAN ID in the
/// key's second word, as the first tag's.
#[inline(always)]
pub(super) fn walk_tagged(frame: &[u8], transport: bool) -> Option<Walked> {
    let head: &[u8; 46] = frame.first_chunk()?;
    let ne = u64::from_ne_bytes;
    let tagged = u64::from_ne_bytes(head[12..20].try_into().unwrap());
    if tagged & ne([0xff, 0xff, 0, 0, 0xff, 0xff, 0xff, 0]) != ne([0x81, 0, 0, 0, 0x08, 0, 0x45, 0])
    {
        return None;
    }
    let vlan = u64::from(be16(head, 14) & 0x0fff) << 48;
    let macs = [
        be64(head, 0) >> 16 | 0x0800 << 48,
        be64(head, 6) >> 16 | vlan,
    ];
    walk_ipv4::<18, 46>(frame, transport, 1, macs)
}

/// `walk_common` for an untagged IPv6 packet whose header is sound, carrying UDP or TCP
/// (the mixed workloads' other inner shape), which `walk_other` walks to the same
/// result: `None` for every other shape (a header cut short, another next header).
/// Over a fixed-size head: Ethernet, IPv6 and a UDP header, 62 bytes.
#[inline(always)]
pub(super) fn walk_ipv6(frame: &[u8]) -> Option<Walked> {
    let head: &[u8; 62] = frame.first_chunk()?;
    let first = be32(head, 14);
    if be16(head, 12) != 0x86dd || first >> 28 != 6 {
        return None;
    }
    // The payload length within the frame; then the transport's ports where its header
    // (UDP's length: 8 <= length <= the payload's) or its first four bytes (TCP) are
    // within the payload.
    let payload_len = usize::from(be16(head, 18));
    if payload_len > frame.len() - 54 {
        return None;
    }
    let ports = match head[20] {
        17 => {
            let udp_len = usize::from(be16(head, 58));
            if udp_len >= 8 && udp_len <= payload_len {
                be32(head, 54)
            } else {
                0
            }
        }
        6 if payload_len >= 4 => be32(head, 54),
        6 => 0,
        _ => return None,
    };
    Some(Walked {
        tags: 0,
        more: false,
        tos: (first >> 20) as u8,
        key: [
            be64(head, 0) >> 16 | 0x86dd << 48,
            be64(head, 6) >> 16,
            address_digest(head, 22) << 32 | address_digest(head, 38),
            u64::from(head[20]) << 32 | u64::from(first & 0xf_ffff) << 40 | u64::from(ports),
        ],
    })
}

/// `walk` of an untagged frame whose IP header does not decode (IPv4 cut short of its
/// header; IPv6 cut short of its header, of another version or with a payload length
/// past the frame) or that has none (an EtherType neither IPv4, IPv6 nor a tag's), which
/// `walk_other` walks to the same result, out of line: the addresses and the EtherType
/// only. `None` for every other frame (an IPv4 header whole but malformed among them).
#[inline(always)]
pub(super) fn walk_bare(frame: &[u8]) -> Option<Walked> {
    let eth: &[u8; 14] = frame.first_chunk()?;
    let ethertype = be16(eth, 12);
    let bare = match ethertype {
        0x0800 => frame.len() < 34,
        0x86dd => match frame.get(14..54) {
            Some(ip) => ip[0] >> 4 != 6 || 40 + usize::from(be16(ip, 4)) > frame.len() - 14,
            None => true,
        },
        other => !tpid(other),
    };
    bare.then(|| link_only(eth, ethertype))
}

/// What the walks record of a frame whose walk ends at its Ethernet header `eth`
/// (EtherType `ethertype`): no tags, no TOS, the key of its addresses and EtherType.
#[inline(always)]
fn link_only(eth: &[u8; 14], ethertype: u16) -> Walked {
    Walked {
        tags: 0,
        more: false,
        tos: 0,
        key: [
            be64(eth, 0) >> 16 | ethertype_key(ethertype) << 48,
            be64(eth, 4) & MAC,
            0,
            0,
        ],
    }
}

/// The common walk's IPv4 header without options at `AT` (its first byte checked), its
/// transport's first 8 bytes inside the frame's first `HEAD` bytes (checked): not a
/// fragment and the protocol in one compare of a native-order word, each length one
/// range or compare.
#[inline(always)]
fn walk_ipv4<const AT: usize, const HEAD: usize>(
    frame: &[u8],
    transport: bool,
    tags: usize,
    macs: [u64; 2],
) -> Option<Walked> {
    let head: &[u8; HEAD] = frame.first_chunk()?;
    // 20 <= total length <= what follows the IP header's start, one range (a total
    // under 20 wraps past any frame).
    let total = usize::from(be16(head, AT + 2));
    if total.wrapping_sub(20) > frame.len() - (AT + 20) {
        return None;
    }
    // The key's last word (the protocol above the ports), made whole in each branch.
    let ports = |at: usize| u64::from(be32(head, at));
    let last = match ne32(head, AT + 6) & FRAGMENT_PROTOCOL {
        // `udp`: 8 <= UDP length <= the IP payload's (which is then at least 8).
        UDP if transport => {
            let udp_len = usize::from(be16(head, AT + 24));
            if udp_len >= 8 && udp_len <= total - 20 {
                17 << 32 | ports(AT + 20)
            } else {
                17 << 32
            }
        }
        // TCP's ports, where the IP payload holds them.
        TCP if transport && total >= 24 => 6 << 32 | ports(AT + 20),
        _ => u64::from(head[AT + 9]) << 32,
    };
    Some(Walked {
        tags,
        more: false,
        tos: head[AT + 1],
        key: [macs[0], macs[1], be64(head, AT + 12), last],
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
    let mut walked = link_only(eth, ethertype);
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
pub(super) fn strip_tags(buf: &mut [u8], from: usize, to: usize) {
    let macs: [u8; 12] = buf[from..from + 12].try_into().unwrap();
    buf[to..to + 12].copy_from_slice(&macs);
}

/// Flow hash v2 of an inner frame and its IP TOS (0 without IP): the key as far as the
/// frame decodes, tags included (`None` without an Ethernet header).
#[inline(always)]
pub(super) fn flow_hash(frame: &[u8]) -> Option<(u64, u8)> {
    let walked = walk(frame, true)?;
    Some((walked.hash(), walked.tos))
}

/// The source port for a hash in 49152-65535 (tunnelwire's reduction).
#[inline(always)]
pub(super) fn source_port(hash: u64) -> u16 {
    49152 + (((hash >> 32) * 16384) >> 32) as u16
}
