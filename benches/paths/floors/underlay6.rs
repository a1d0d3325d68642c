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

/// `martian6` of the address at `at` in `bytes`, by its first byte where that is not 0
/// (one compare: then it is neither unspecified, loopback nor IPv4-mapped, only
/// multicast if 0xff), else by `martian6`.
#[inline(always)]
fn martian6_at(bytes: &[u8], at: usize) -> bool {
    match bytes[at] {
        0 => martian6(be128(bytes, at)),
        first => first == 0xff,
    }
}

/// A received tunnel frame over IPv6 that passed the checks.
struct Checked6 {
    nvgre: bool,
    segment: u32,
    /// Where the inner frame is in the frame.
    inner: Range<usize>,
    /// The outer ECN.
    ecn: u8,
}

/// The checks tunnelwire's decapsulation and translation make on a frame over IPv6
/// (tags and extension headers are other shapes here: `None`): 40 + payload length
/// within the frame, a VTEP source, then for VXLAN (next header UDP, port 4789) a
/// non-zero UDP checksum that verifies and the VXLAN-GPE payload, for NVGRE (next header
/// GRE) a non-reserved VSID; an inner Ethernet header. Only the kinds asked for
/// (`vxlan`, `nvgre`; the other `None`).
///
/// Over a fixed-size head, every offset a constant: Ethernet, IPv6, NVGRE and the inner
/// Ethernet header, 76 bytes (VXLAN's 84), under which nothing is taken; the EtherType
/// and the version in one masked compare of a native-order word; the lengths as ranges.
#[inline(always)]
fn checked6(frame: &[u8], vxlan: bool, nvgre: bool) -> Option<Checked6> {
    let head: &[u8; 76] = frame.first_chunk()?;
    let ne = u32::from_ne_bytes;
    if ne32(head, 12) & ne([0xff, 0xff, 0xf0, 0]) != ne([0x86, 0xdd, 0x60, 0]) {
        return None;
    }
    // 40 + payload length <= what follows the Ethernet header.
    let payload_len = usize::from(be16(head, 18));
    if payload_len > frame.len() - 54 {
        return None;
    }
    let ecn = head[15] >> 4 & 0x03;
    if vxlan && head[20] == 17 {
        let head: &[u8; 84] = frame.first_chunk()?;
        // `udp`'s, `vxlan`'s and the inner header's lengths: 30 <= UDP length <= the
        // payload's.
        let udp_len = usize::from(be16(head, 58));
        if udp_len < 30 || udp_len > payload_len {
            return None;
        }
        // Port 4789 and the I flag; the UDP checks the walk makes come before the
        // source: a malformed datagram is refused for that first (the same outcome
        // here).
        if head[56..58] != [0x12, 0xb5] || head[62] & 0x08 == 0 {
            return None;
        }
        if martian6_at(head, 22) || head[60..62] == [0, 0] {
            return None;
        }
        let pseudo = add(add(address_sum(&head[22..54]), 17), udp_len as u16);
        if add(pseudo, sum(&frame[54..54 + udp_len])) != 0xffff {
            return None;
        }
        if vxlan_gpe_refused(head[62], head[65]) {
            return None;
        }
        return Some(Checked6 {
            nvgre: false,
            segment: be32(head, 66) >> 8,
            inner: 70..54 + udp_len,
            ecn,
        });
    }
    if nvgre && head[20] == 47 {
        // `nvgre`'s checks in one compare of a native-order word; NVGRE and the inner
        // Ethernet header within the payload.
        if ne32(head, 54) & ne([0xfc, 0x07, 0xff, 0xff]) != ne([0x20, 0, 0x65, 0x58])
            || payload_len < 22
        {
            return None;
        }
        let segment = be32(head, 58) >> 8;
        if martian6_at(head, 22) || reserved_vsid(segment) {
            return None;
        }
        return Some(Checked6 {
            nvgre: true,
            segment,
            inner: 62..54 + payload_len,
            ecn,
        });
    }
    None
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
    } = checked6(frame, true, true)?;
    let (src, dst) = (be128(frame, 22), be128(frame, 38));
    // RFC 6040 as over IPv4 (tags refused), by decapsulation's own tail.
    let alarm = ethernet_alarm(&mut frame[range.clone()], ecn)?;
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
/// new VXLAN UDP checksum computed), in place: the new range. As over IPv4: the inner
/// frame's common shapes by walks of their own, everything read and written through one
/// slice of the buffer from where the new headers may begin (8 bytes before the frame
/// towards VXLAN), the segment written as the received header's three bytes.
#[inline(always)]
pub fn translate6(
    buf: &mut [u8],
    frame: Range<usize>,
    to_nvgre: bool,
    mtu: usize,
) -> Option<Range<usize>> {
    let back = if to_nvgre { 0 } else { 8 };
    let region = buf.get_mut(frame.start.checked_sub(back)?..frame.end)?;
    // The frame itself (`None` where its range is reversed).
    let bytes = region.get(back..)?;
    // A same-kind translation is another shape here: only the other kind checked.
    let Checked6 { segment, inner, .. } = checked6(bytes, to_nvgre, !to_nvgre)?;
    if to_nvgre && reserved_vsid(segment) {
        return None;
    }
    // The segment's three bytes as the received header holds them, the fourth 0.
    let ne = u32::from_ne_bytes;
    let vni = ne32(bytes, inner.start - 4) & ne([0xff, 0xff, 0xff, 0]);
    let inner_frame = &bytes[inner.clone()];
    let translated = if let Some(walked) = walk_common(inner_frame, true) {
        translated6(region, to_nvgre, mtu, vni, inner, &walked, 0)
    } else {
        // Inner tags: stripped on the way to NVGRE, refused in NVGRE.
        let (walked, strip) = walk_translated_other(inner_frame, to_nvgre)?;
        translated6(region, to_nvgre, mtu, vni, inner, &walked, strip)
    }?;
    let at = frame.start - back;
    Some(at + translated.start..at + translated.end)
}

/// `translate6` once the frame is checked and its inner frame (at `inner` in the frame)
/// walked, on `region`, the frame from where the new headers may begin: the new
/// headers, the inner tags (`strip` bytes) stripped; their range in `region`.
#[inline(always)]
fn translated6(
    region: &mut [u8],
    to_nvgre: bool,
    mtu: usize,
    vni: u32,
    inner: Range<usize>,
    walked: &Walked,
    strip: usize,
) -> Option<Range<usize>> {
    let hash = walked.hash();
    // The frame's start in the region and where the new headers begin: towards NVGRE
    // 8 bytes after the frame's start (the tags after them), towards VXLAN 8 before it.
    let (at, start) = if to_nvgre { (0, 8 + strip) } else { (8, 0) };
    let inner_at = at + inner.start;
    let inner_start = inner_at + strip;
    let end = at + inner.end;
    let inner_len = end - inner_start;
    let payload_len = if to_nvgre {
        8 + inner_len
    } else {
        16 + inner_len
    };
    if 40 + payload_len > mtu {
        return None;
    }
    // VXLAN: the inner frame's share of the new UDP checksum, read before anything moves.
    let inner_sum = if to_nvgre {
        0
    } else {
        sum(&region[inner_at..end])
    };
    let outer: [u8; 54] = region[at..at + 54].try_into().unwrap();
    if strip != 0 {
        strip_tags(region, inner_at, inner_start);
    }
    let len = payload_len as u16;
    let moved: &mut [u8; 54] = (&mut region[start..start + 54]).try_into().unwrap();
    *moved = outer;
    moved[18..20].copy_from_slice(&len.to_be_bytes());
    let l4 = start + 54;
    let ne = u32::from_ne_bytes;
    if to_nvgre {
        moved[20] = 47;
        let flow = ne([0, 0, 0, (hash >> 24) as u8]);
        let gre: &mut [u8; 8] = (&mut region[l4..l4 + 8]).try_into().unwrap();
        gre[..4].copy_from_slice(&[0x20, 0, 0x65, 0x58]);
        gre[4..].copy_from_slice(&(vni | flow).to_ne_bytes());
    } else {
        moved[20] = 17;
        let port = source_port(hash).to_be_bytes();
        let len = len.to_be_bytes();
        // The pseudo-header (addresses, next header, length) and the UDP and VXLAN
        // headers' fields (port 4789, flags 0x08, the segment) and the inner frame's
        // sum, in the machine's byte order as the words lie in memory (RFC 1071: the
        // same sum, its bytes swapped), so that the segment's bytes, the port and the
        // length as written and the checksum need no swap: one plain sum of 16-bit
        // terms, at most 10 * 0xffff, folded in one add of the sum and its halves
        // swapped (the upper half is then high + low + the carry out of low + high), as
        // their one's-complement additions give it.
        let word = |bytes: [u8; 2]| u32::from(u16::from_ne_bytes(bytes));
        let [s0, s1, s2, _] = vni.to_ne_bytes();
        let sum = word(address_sum(&outer[22..54]).to_be_bytes())
            + word((17u16 + 4789).to_be_bytes())
            + 2 * word(len)
            + word(port)
            + word([0x08, 0])
            + word([s0, s1])
            + word([s2, 0])
            + word(inner_sum.to_be_bytes());
        let sum = (sum.wrapping_add(sum.rotate_left(16)) >> 16) as u16;
        let checksum = match !sum {
            0 => 0xffff,
            checksum => checksum,
        }
        .to_ne_bytes();
        let udp: &mut [u8; 16] = (&mut region[l4..l4 + 16]).try_into().unwrap();
        udp[..12].copy_from_slice(&[
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
        ]);
        udp[12..].copy_from_slice(&vni.to_ne_bytes());
    }
    debug_assert_eq!(l4 + if to_nvgre { 8 } else { 16 }, inner_start);
    Some(start..end)
}
