//! The express walk: the common received tunnel frame recognised in straight-line code,
//! recorded as the general walk records it.
//!
//! Nearly every frame a VTEP receives has one shape: an untagged outer Ethernet header,
//! IPv4 without options and not a fragment, then VXLAN with a zero UDP checksum, NVGRE, or
//! Geneve carrying Ethernet, and an untagged inner Ethernet frame carrying IPv4 without
//! options. For that shape the general walk's generality (tags, options, IPv6, IP payloads,
//! each error named and placed) costs more than the checks themselves. This walk tests the
//! outer stack and tunnel header with fixed-offset compares (Geneve's common header, no
//! options or the receiver's first declared option alone, in two compares of words; any
//! other options area walked once for the decoder's checks and the receiver's) and, when
//! every check the general path would make passes, fills the same [`Received`] the
//! general walk fills, through the same recorders: the common inner frame in
//! straight-line code too, any other by the general walk of the inner stack alone, so no
//! frame pays for its outer stack twice. Anything else
//! (an outer check that fails, a rarer outer shape) returns `None` and the general walk
//! runs: errors of the outer stack and tunnel header are named by the general path, so the
//! two cannot disagree about one, except a Geneve header's once the outer stack passed,
//! named here by the same parser and checks the general walk runs (`geneve_refusal`).
//! `tests` runs both on mutated frames and asserts identical results. Decapsulation uses
//! [`Decoder::express`]; translation its own walk of the outer stack with these helpers
//! (`translate::express`), which first probes where the inner IPv4 header would be and
//! takes other inner shapes in its cold path; encapsulation's inner walk
//! [`express_inner`]. The decoder has an express decode of its own
//! (`packet::express`), with no receiver's checks.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::net::Ipv4Addr;

use super::config::{check_source_v4, check_vsid};
use super::geneve::{UnderstoodOptions, common_options_len, options_taken};
use super::layout::{Inner, Outer, OuterIp};
use super::receive::{Accepted, Checksums, GeneveChecks, ReceivePolicy, Received};
use crate::packet::{Decoder, Depth, Record, ReservedPolicy, Tunnel, ip_payload};
use crate::wire::ethernet::EtherType;
use crate::wire::geneve::{self, GeneveHeader};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::nvgre;
use crate::wire::udp::UdpDatagram;
use crate::wire::vxlan::VxlanHeader;
use crate::{AddressField, Error};

/// Outer Ethernet and IPv4 without options: where UDP or GRE starts.
const OUTER: usize = 34;
/// UDP and VXLAN.
pub(in crate::tunnel) const UDP_VXLAN: usize = 16;

/// The big-endian u16 at the start of `b`.
#[inline(always)]
pub(in crate::tunnel) fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

/// The first `N` bytes of `b`, if it has them.
#[inline(always)]
pub(in crate::tunnel) fn head<const N: usize>(b: &[u8]) -> Option<&[u8; N]> {
    b.first_chunk::<N>()
}

/// The common outer stack's IP part, as both express walks (decapsulation's and
/// translation's) take it: untagged Ethernet carrying IPv4 without options, not a
/// fragment (a fragment carries no tunnel the walk decodes), its header checksum
/// verified when the policy asks, from a source that can be a VTEP. The header, and the
/// packet cut at its total length.
#[inline(always)]
// Cannot overflow or index out of range: fixed offsets inside the 34-byte head just
// taken, the payload inside the rest.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
pub(in crate::tunnel) fn outer_ipv4(
    bytes: &[u8],
    policy: ReceivePolicy,
) -> Option<(&[u8; 20], &[u8])> {
    // Both headers' length in one test, then their fixed fields; the total length last,
    // in one compare (decap 127 -> 120, geneve_decap 165 -> 157, translate+mixed 332 ->
    // 326 instructions per packet; translate 283 -> 284).
    let (front, rest) = bytes.split_first_chunk::<OUTER>()?;
    let header: &[u8; 20] = front.last_chunk()?;
    if be16([front[12], front[13]]) != 0x0800 || header[0] != 0x45 {
        return None;
    }
    if be16([header[6], header[7]]) & 0x3fff != 0 {
        return None;
    }
    if policy.checksums == Checksums::Verify && !ipv4_checksum_ok(header) {
        return None;
    }
    let src = Ipv4Addr::from([header[12], header[13], header[14], header[15]]);
    check_source_v4(AddressField::OuterSource, src, policy.sources).ok()?;
    // 20 <= total length <= what follows Ethernet: the payload's range, one compare (a
    // total under 20 wraps past any frame).
    let total = usize::from(be16([header[2], header[3]]));
    let payload = rest.get(..total.wrapping_sub(20))?;
    let packet = &bytes[14..OUTER + payload.len()];
    Some((header, packet))
}

/// The outer UDP header as both express walks take it: a zero checksum (nothing to
/// verify; a non-zero one is the general walk's) and a length that leaves room for
/// VXLAN's header, or Geneve's fixed one, inside the packet. Its first 16 bytes, the
/// datagram and its destination port.
#[inline(always)]
pub(in crate::tunnel) fn udp_zero_checksum(
    payload: &[u8],
) -> Option<(&[u8; UDP_VXLAN], &[u8], u16)> {
    let udp_vxlan: &[u8; UDP_VXLAN] = head(payload)?;
    let udp_len = usize::from(be16([udp_vxlan[4], udp_vxlan[5]]));
    if udp_vxlan[6..8] != [0, 0] || udp_len < UDP_VXLAN {
        return None;
    }
    let datagram = payload.get(..udp_len)?;
    Some((udp_vxlan, datagram, be16([udp_vxlan[2], udp_vxlan[3]])))
}

/// True when the IPv4 header's checksum verifies (or the fuzzer asks every checksum to
/// pass, as `Ipv4Packet::verify_checksum`). RFC 1071: the one's-complement sum of the
/// header is 0xffff exactly when the plain sum of its words, in either byte order, is a
/// non-zero multiple of 0xffff; it is non-zero, the first byte being 0x45. Beside
/// `Ipv4Packet::verify_checksum` (options and all) for a reason: the view's check here
/// cost decapsulation 17 and translation 19 instructions per packet more.
#[inline(always)]
// Cannot overflow or index out of range: fixed offsets inside the 20-byte array, five
// 32-bit words summed in 64 bits.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
pub(in crate::tunnel) fn ipv4_checksum_ok(header: &[u8; 20]) -> bool {
    if cfg!(fuzzing) {
        return true;
    }
    let word = |i: usize| {
        let at = i * 4;
        u64::from(u32::from_ne_bytes([
            header[at],
            header[at + 1],
            header[at + 2],
            header[at + 3],
        ]))
    };
    (word(0) + word(1) + word(2) + word(3) + word(4)) % 0xffff == 0
}

/// A tunnel header of the common outer stack, as both express walks take it: the
/// header, the UDP datagram around it (VXLAN), the inner frame, and the offsets of the
/// tunnel header and of the inner frame in the whole frame.
pub(in crate::tunnel) struct Found<'a> {
    pub tunnel: Tunnel<'a>,
    pub udp: Option<UdpDatagram<&'a [u8]>>,
    pub inner: &'a [u8],
    pub at: usize,
    pub offset: usize,
}

/// NVGRE in the IP payload `payload` of the common outer stack, its VSID not reserved.
#[inline(always)]
pub(in crate::tunnel) fn express_nvgre(payload: &[u8]) -> Option<Found<'_>> {
    // The header's own check is two compares when it passes.
    let (inner, nvgre) = nvgre::parse(payload).ok()?;
    check_vsid(nvgre.vsid()).ok()?;
    Some(Found {
        tunnel: Tunnel::Nvgre(nvgre),
        udp: None,
        inner,
        at: OUTER,
        offset: OUTER + nvgre::HEADER_LEN,
    })
}

impl Decoder {
    /// VXLAN's header (at the start of `header`, 8 bytes or more, its flags `flags`) as
    /// the express walks take it: the I flag set and VXLAN-GPE's P bit clear (a P bit
    /// has its own rules), the reserved fields as the decoder's policy wants them.
    #[inline(always)]
    pub(in crate::tunnel) fn express_vxlan<'a>(
        &self,
        flags: u8,
        header: &'a [u8],
    ) -> Option<VxlanHeader<&'a [u8]>> {
        if flags & 0x0c != 0x08 {
            return None;
        }
        let vxlan = VxlanHeader::new_unchecked(header);
        if self.vxlan_reserved == ReservedPolicy::Reject
            && vxlan.check_reserved(ReservedPolicy::Reject).is_err()
        {
            return None;
        }
        Some(vxlan)
    }

    /// VXLAN after UDP (its first 16 bytes `udp_vxlan`, the whole `datagram`) in the
    /// common outer stack, as both express walks take it.
    #[inline(always)]
    // Cannot index out of range: the datagram holds UDP and VXLAN (`udp_zero_checksum`).
    #[allow(clippy::indexing_slicing)]
    pub(in crate::tunnel) fn express_vxlan_found<'a>(
        &self,
        udp_vxlan: &[u8; UDP_VXLAN],
        datagram: &'a [u8],
    ) -> Option<Found<'a>> {
        let vxlan = self.express_vxlan(udp_vxlan[8], &datagram[8..])?;
        Some(Found {
            tunnel: Tunnel::Vxlan(vxlan),
            udp: Some(UdpDatagram::new_unchecked(datagram)),
            inner: &datagram[UDP_VXLAN..],
            at: OUTER + 8,
            offset: OUTER + UDP_VXLAN,
        })
    }

    /// The express walk of a whole frame for a receiver with `policy`: when the outer
    /// stack has the common shape and passes every check, the record the general walk
    /// would make and the error its inner walk would end with, handed to `conclude`
    /// (whose result is returned); `None` otherwise (the general walk then decides). The
    /// inner stack is recorded down to its IP header, a decapsulator's depth
    /// ([`Taken::conclude`]), except that an untagged Ethernet payload is recorded to its
    /// Ethernet header alone unless `apply_ecn` and the outer ECN is not Not-ECT:
    /// decapsulation reads its IP header for RFC 6040 only, where such an outer ECN
    /// changes nothing. VXLAN and NVGRE,
    /// and with `geneve` (the receiver's understood critical options) Geneve, its
    /// receive checks made in the walk ([`GeneveChecks::Made`]).
    ///
    /// Geneve concludes in its own arm: what follows it then knows the tunnel, and
    /// neither path tests it again (one walk whose conclusion took all three made the
    /// VXLAN and NVGRE paths longer: decapsulation 128 -> 151 instructions per packet).
    #[inline(always)]
    // Cannot overflow or index out of range: fixed offsets inside arrays and slices
    // whose lengths were just tested.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(crate) fn express<'a, K: Record<'a> + Default, T>(
        &self,
        bytes: &'a [u8],
        policy: ReceivePolicy,
        geneve: Option<&UnderstoodOptions>,
        tags_refused: bool,
        apply_ecn: bool,
        conclude: impl FnOnce(Received<'a, K>, Option<Error>, GeneveChecks<'_>) -> T,
    ) -> Option<T> {
        let (header, packet) = outer_ipv4(bytes, policy)?;
        let outer_ip = OuterIp::V4(Ipv4Packet::new_unchecked(packet));
        let payload = &packet[20..];
        let Found {
            tunnel,
            udp,
            inner,
            at,
            offset,
        } = match header[9] {
            17 => {
                let (udp_vxlan, datagram, port) = udp_zero_checksum(payload)?;
                // VXLAN first, as the general walk: a port in both sets is VXLAN.
                if self.vxlan_ports.contains(port) {
                    self.express_vxlan_found(udp_vxlan, datagram)?
                } else {
                    let udp = UdpDatagram::new_unchecked(datagram);
                    let understood = geneve?;
                    if !self.geneve_ports.contains(port) {
                        return None;
                    }
                    // The common header (an Ethernet payload, no options or the
                    // receiver's first declared option alone) by a few compares of words,
                    // concluded in an arm of its own, before the general walk of the
                    // options: geneve_decap 128.3 -> 118.3 instructions per packet, its
                    // mixed workload 177.3 -> 179.0, VXLAN's rows the same; in time
                    // 1.52-1.53 -> 1.40-1.42 of the floor's, mixed the same. (Its result
                    // merged with the other headers' before one conclusion: 128.3; the
                    // other headers out of line: 118.3 but mixed 191.3.) An options area
                    // past the packet is declined, for the general walk to name.
                    let header = &datagram[8..];
                    if let Some(options_len) = header
                        .first_chunk()
                        .and_then(|head| common_options_len(head, understood))
                    {
                        let inner = header.get(geneve::HEADER_LEN + options_len..)?;
                        let taken = Taken {
                            policy,
                            ip: outer_ip,
                            udp: Some(udp),
                            tunnel: Tunnel::Geneve(GeneveHeader::new_unchecked(header)),
                            at: OUTER + 8,
                            inner,
                            offset: OUTER + UDP_VXLAN + options_len,
                            first: None,
                            tags_refused,
                            apply_ecn,
                        };
                        return Some(taken.conclude(conclude));
                    }
                    let Some((tunnel, inner, offset, first)) = express_geneve(header, understood)
                    else {
                        // A header the receiver refuses, its outer stack accepted: the
                        // general walk's error for it without walking the frame again
                        // (geneve_decap+mixed 225 -> 203 instructions per packet; the
                        // third conclusion costs the clean paths registers: decap 118 ->
                        // 122, geneve_decap 153 -> 155).
                        let error = geneve_refusal(&datagram[8..], understood)?;
                        let received = Received::new(policy, Outer::default());
                        return Some(conclude(received, Some(error), GeneveChecks::Made));
                    };
                    let taken = Taken {
                        policy,
                        ip: outer_ip,
                        udp: Some(udp),
                        tunnel,
                        at: OUTER + 8,
                        inner,
                        offset,
                        first,
                        tags_refused,
                        apply_ecn,
                    };
                    return Some(taken.conclude(conclude));
                }
            }
            47 => express_nvgre(payload)?,
            _ => return None,
        };
        let taken = Taken {
            policy,
            ip: outer_ip,
            udp,
            tunnel,
            at,
            inner,
            offset,
            first: None,
            tags_refused,
            apply_ecn,
        };
        Some(taken.conclude(conclude))
    }
}

/// A Geneve header at the start of `payload` (a UDP payload at least 8 bytes long) as
/// the express walk takes it: every check of the decoder's (version 0, the options
/// inside the payload and each option inside them) and the receiver's
/// ([`geneve::check`](super::geneve::check): the O bit clear, no critical option but
/// `understood` ones, a protocol type carried), the options walked once for both. Its
/// tunnel, the inner frame after it, the inner frame's offset in a whole frame, and for
/// an IP payload its EtherType; `None` for any header that fails one (the general walk
/// names why).
#[inline(always)]
// Cannot overflow or index out of range: the fixed header was just tested, offsets
// below 50 + 252.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn express_geneve<'a>(
    payload: &'a [u8],
    understood: &UnderstoodOptions,
) -> Option<(Tunnel<'a>, &'a [u8], usize, Option<EtherType>)> {
    let (fixed, rest) = payload.split_first_chunk::<{ geneve::HEADER_LEN }>()?;
    // Version 0 and the O bit clear in one test of the first two bytes; the first is
    // then the options' length in words.
    if be16([fixed[0], fixed[1]]) & 0xc080 != 0 {
        return None;
    }
    let options_len = usize::from(fixed[0]) * 4;
    let (area, inner) = rest.split_at_checked(options_len)?;
    if !options_taken(area, understood) {
        return None;
    }
    // Ethernet's protocol type compared as it lies in memory, first and alone (IP's
    // types behind a cold call, as the decoder's walk has them): geneve_decap 129.3 ->
    // 128.3, mixed 178.5 -> 177.3 instructions per packet (benches/instructions.sh).
    let protocol = [fixed[2], fixed[3]];
    let first = if protocol == EtherType::TRANSPARENT_ETHERNET_BRIDGING.0.to_be_bytes() {
        None
    } else {
        Some(ip_payload(EtherType(be16(protocol)))?)
    };
    let tunnel = Tunnel::Geneve(GeneveHeader::new_unchecked(payload));
    Some((tunnel, inner, OUTER + UDP_VXLAN + options_len, first))
}

/// Why the general walk refuses a frame whose outer stack the express walk accepted and
/// whose Geneve header at the start of `payload` (a UDP payload) it declined: the
/// decoder's error of the header, else the receiver's ([`check`](super::geneve::check));
/// `None` for a header that passes both (the general walk then decides, as for any frame
/// the express walk declines). Out of line and cold: the refusals' path. (Out of line
/// with the conclusion handed to it, the closure's code left every path's loop:
/// decap 122 -> 219 instructions per packet.) The receiver's checks inlined here
/// ([`refusal`](super::geneve::refusal)), not called: geneve_decap+mixed's frames with a
/// critical option not understood 339 -> 303 instructions each, the O bit 175 -> 143, an
/// unknown protocol type 259 -> 217, but version 1 129 -> 141 (registers saved for a
/// walk it never reaches); the workload 201 -> 196 instructions per packet.
#[cold]
#[inline(never)]
fn geneve_refusal(payload: &[u8], understood: &UnderstoodOptions) -> Option<Error> {
    let error = match geneve::parse(payload) {
        Err(error) => error,
        Ok((_, header)) => super::geneve::refusal(&header, understood)?,
    };
    Some(error.at(OUTER + 8))
}

/// A tunnel header the express walk took, with its outer stack (the IPv4 header
/// without options 14 bytes in, UDP for VXLAN and Geneve): what the walk records of the
/// frame besides the inner stack.
struct Taken<'a> {
    /// What the receiver accepts.
    policy: ReceivePolicy,
    /// The outer IP header.
    ip: OuterIp<'a>,
    /// The UDP datagram.
    udp: Option<UdpDatagram<&'a [u8]>>,
    /// The tunnel header, all its checks passed.
    tunnel: Tunnel<'a>,
    /// Offset of the tunnel header.
    at: usize,
    /// The inner frame: Ethernet, or an IP packet of EtherType `first`.
    inner: &'a [u8],
    /// Offset of the inner frame.
    offset: usize,
    /// The EtherType of a Geneve IP payload.
    first: Option<EtherType>,
    /// The receiver refuses tagged inner frames (for their tag, whatever follows it).
    tags_refused: bool,
    /// The receiver combines the outer ECN into the inner IP header.
    apply_ecn: bool,
}

impl<'a> Taken<'a> {
    /// `conclude` of the frame, its inner stack walked down to its IP header as the
    /// general walk records it, or, without ECN to combine, an untagged Ethernet payload
    /// to its Ethernet header alone, as the floor does. The common inner frame by
    /// [`express_inner`] (or [`untagged`]), a tagged frame the receiver refuses by
    /// [`first_tag`]; any other (tags kept or stripped, IPv6, IPv4 options, a Geneve IP
    /// payload, a malformed header) by the general walk of the inner stack alone
    /// ([`walk_general`]): walking only the inner stack generally, instead of the whole
    /// frame again, lets the express walk take every inner shape. Each way
    /// concludes on its own: the express walks' records merged before one conclusion
    /// cost the common frame's (untagged: decapsulation 134 -> 137, Geneve 168 -> 184
    /// instructions per packet; `express_inner`'s: decap 115 -> 110, mixed 137 -> 135,
    /// geneve_decap 146 -> 144, mixed 184 -> 182, the error known to be none where it
    /// was a merged value tested again).
    #[inline(always)]
    // Each way concludes on its own, identical blocks included (see the ECN test).
    #[allow(clippy::if_same_then_else)]
    fn conclude<T, K: Record<'a> + Default>(
        self,
        conclude: impl FnOnce(Received<'a, K>, Option<Error>, GeneveChecks<'_>) -> T,
    ) -> T {
        if self.first.is_none() {
            let mut inner = Inner::<K>::default();
            // RFC 6040: an outer Not-ECT changes no inner ECN and raises no alarm,
            // whatever the inner header; without ECN to combine, an Ethernet payload's IP
            // header counts for nothing. The outer ECN read here, not worked out before
            // the tunnel header's checks and carried across them (a byte spilled to the
            // stack): instructions per packet (benches/instructions.sh) decap 110.8 ->
            // 109.4, mixed 129.4 -> 128.6, of Geneve 143.5 -> 141.0, mixed 178.1 ->
            // 176.1; Geneve decapsulation's time 1.24-1.28 -> 1.20-1.23 of its floor's
            // (four interleaved runs each, alternated). An outer ECN equal to an untagged
            // inner IPv4 header's (what encapsulators that copy it send) likewise, tested
            // before that header's checks, as the floors test it: decap 109.4 -> 101.3,
            // of Geneve 141.0 -> 133.3, for 0.6 and 1.9 more on their mixed workloads
            // (128.6 -> 129.2, 176.1 -> 178.0), whose outer ECN mostly differs. The
            // payload path the same way measured 200.2 -> 202.0: not taken there. Its
            // conclusion apart from `express_inner`'s, not one `||` of the two: 104.8,
            // 137.1, mixed 130.5, 179.1.
            let outer_ecn = if self.apply_ecn {
                self.ip.ecn_bits()
            } else {
                0
            };
            if outer_ecn == 0 {
                if untagged(self.inner, self.offset, &mut inner) {
                    return conclude(self.received(inner), None, GeneveChecks::Made);
                }
            } else if untagged_ipv4_ecn(self.inner, outer_ecn, self.offset, &mut inner) {
                return conclude(self.received(inner), None, GeneveChecks::Made);
            } else if express_inner(self.inner, self.offset, Depth::InnerIp, &mut inner) {
                return conclude(self.received(inner), None, GeneveChecks::Made);
            }
            // A tagged frame the receiver refuses for its tag, recorded to the tag
            // (`walk_general` recorded it so, after a call): decap+mixed 135 -> 129,
            // geneve_decap+mixed 182 -> 179 instructions per packet, at 1 more on their
            // clean workloads (1.15 -> 1.09 of the floor's time on decap+mixed).
            if self.tags_refused && first_tag(self.inner, self.offset, &mut inner) {
                return conclude(self.received(inner), None, GeneveChecks::Made);
            }
        }
        let (inner, error) = walk_general(self.inner, self.offset, self.first);
        conclude(self.received(inner), error, GeneveChecks::Made)
    }

    /// What the general walk records of the frame, with this inner stack.
    #[inline(always)]
    fn received<K>(self, inner: Inner<K>) -> Received<'a, K> {
        Received {
            policy: self.policy,
            outer: Outer {
                l3: 14,
                ip: Some(self.ip),
                udp: self.udp,
            },
            accepted: Some(Accepted {
                tunnel: self.tunnel,
                header: self.ip,
                outer: self.ip.facts(),
                inner_len: self.inner.len(),
                at: self.at,
            }),
            inner,
        }
    }
}

// The inner stack's express walk, and the general walk it falls back to.
mod inner;
pub(crate) use inner::express_inner;
pub(in crate::tunnel) use inner::untagged;
use inner::{first_tag, untagged_ipv4_ecn, walk_general};

#[cfg(test)]
mod tests;
