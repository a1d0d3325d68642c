//! The IPv6 underlay: encapsulation, decapsulation and translation over IPv6 (RFC 8200),
//! by the same rules as over IPv4.

use super::*;

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
pub(super) fn martian6(src: u128) -> bool {
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
