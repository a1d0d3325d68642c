//! Translation of the common frame over IPv6 in straight-line code: VXLAN or NVGRE
//! right after the fixed IPv6 header (no extension header), an untagged inner frame
//! carrying IPv4 without options, to VXLAN or NVGRE. As over IPv4 (`translate::express`),
//! everything the general path checks is checked first (the UDP checksum verified over
//! the pseudo-header, or zero where allowed), nothing is written where anything would
//! fail or the shape is rarer, and the general path then runs, naming the error. The
//! tests below hold the two to the same bytes on mutated frames (and the express paths
//! over IPv4 of the next shapes and of a reserved VSID). (translate6: 1085 -> 875
//! instructions per packet; the general walk of an IPv6 frame costs about 200 more.)
//!
//! Out of the common frame's path over IPv4: it runs in the out-of-line path of the
//! frames translation's IPv4 express path declines (`Translator::translate_other`).

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ops::Range;

use super::express::header_at;
use super::{TranslateConfig, fill_udp_checksum};
use crate::packet::{Depth, ReservedPolicy};
use crate::tunnel::TunnelKind;
use crate::tunnel::config::{check_source_v6, check_vsid};
use crate::tunnel::express::{UDP_VXLAN, be16, express_inner, head};
use crate::tunnel::flow::FlowKey;
use crate::tunnel::layout::Inner;
use crate::tunnel::receive::{Checksums, ReceivePolicy};
use crate::wire::ipv4::IpProtocol;
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::nvgre::{self, NvgreRepr, Vsid};
use crate::wire::udp::{UdpDatagram, UdpRepr};
use crate::wire::vxlan::{Vni, VxlanHeader, VxlanRepr};
use crate::{AddressField, checksum};

/// Outer Ethernet and IPv6: where UDP or GRE starts.
const OUTER: usize = 54;

/// The tunnel header the express walk took over IPv6, its segment as both kinds name it.
struct Taken {
    vni: Vni,
    vsid: Vsid,
    /// Offset of the inner frame in the whole frame.
    offset: usize,
}

impl TranslateConfig {
    /// [`translate`](Translator::translate) of the common frame over IPv6 to VXLAN or
    /// NVGRE: `None`, with nothing written, for any other frame or target, or where the
    /// general path would fail. The new frame may have `mtu` bytes (the translator's,
    /// where `self` holds the defaults as constants).
    #[inline(always)]
    // Cannot overflow or index out of range: fixed offsets inside arrays and slices whose
    // lengths were just tested; offsets inside the checked frame and its headroom.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(super) fn translate_express6(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
        to: TunnelKind,
        policy: ReceivePolicy,
        mtu: u16,
    ) -> Option<Range<usize>> {
        let bytes = buf.get(frame.clone())?;
        let eth: &[u8; 14] = head(bytes)?;
        if be16([eth[12], eth[13]]) != 0x86dd {
            return None;
        }
        let (header, payload, packet) = ipv6::split(&bytes[14..])?;
        let ip = Ipv6Packet::new_unchecked(packet);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        check_source_v6(AddressField::OuterSource, src, policy.sources).ok()?;
        let (taken, inner) = match header[6] {
            17 => {
                let udp_vxlan: &[u8; UDP_VXLAN] = head(payload)?;
                let udp_len = usize::from(be16([udp_vxlan[4], udp_vxlan[5]]));
                if udp_len < UDP_VXLAN {
                    return None;
                }
                let datagram = payload.get(..udp_len)?;
                let port = be16([udp_vxlan[2], udp_vxlan[3]]);
                // VXLAN first, as the general walk: a port in both sets is VXLAN; Geneve
                // is the general path's.
                if !self.decoder.vxlan_ports.contains(port) {
                    return None;
                }
                // The I flag set and VXLAN-GPE's P bit clear (a P bit has its own rules).
                if udp_vxlan[8] & 0x0c != 0x08 {
                    return None;
                }
                let vxlan = VxlanHeader::new_unchecked(&datagram[8..]);
                if self.decoder.vxlan_reserved == ReservedPolicy::Reject
                    && vxlan.check_reserved(ReservedPolicy::Reject).is_err()
                {
                    return None;
                }
                // RFC 6936 section 5: zero only where configured; any other verified
                // unless offloaded (the one sum over the datagram the receiver makes).
                let udp = UdpDatagram::new_unchecked(datagram);
                let checked = match udp.checksum() {
                    0 => policy.udp6_zero_checksum,
                    _ => {
                        policy.checksums != Checksums::Verify || udp.verify_checksum_ipv6(src, dst)
                    }
                };
                if !checked {
                    return None;
                }
                let vni = vxlan.vni();
                let taken = Taken {
                    vni,
                    vsid: Vsid::from(vni),
                    offset: OUTER + UDP_VXLAN,
                };
                (taken, &datagram[UDP_VXLAN..])
            }
            47 => {
                let (inner, nvgre) = nvgre::parse(payload).ok()?;
                let vsid = nvgre.vsid();
                check_vsid(vsid).ok()?;
                let taken = Taken {
                    vni: Vni::from(vsid),
                    vsid,
                    offset: OUTER + nvgre::HEADER_LEN,
                };
                (taken, inner)
            }
            _ => return None,
        };
        let mut walked = Inner::<FlowKey> {
            offset: taken.offset,
            ..Inner::default()
        };
        if !express_inner(inner, taken.offset, Depth::InnerTransport, &mut walked) {
            return None;
        }
        let hash = walked.also.hash_as(self.symmetric_hash);
        let inner_len = inner.len();
        let inner_start = frame.start + taken.offset;
        let end = inner_start + inner_len;
        let outer: [u8; OUTER] = *bytes.first_chunk()?;
        // The addresses' share of a new UDP checksum, read before anything moves.
        let addresses = (to == TunnelKind::Vxlan && !self.udp6_zero_checksum_tx)
            .then(|| checksum::pseudo_header_ipv6(src, dst, 0, 0));
        match to {
            TunnelKind::Nvgre => {
                check_vsid(taken.vsid).ok()?;
                let mut header = [0u8; OUTER + 8];
                let start = Self::room6(&mut header, outer, inner_start, inner_len, 47, mtu)?;
                let flow_id = self.flow_id.for_hash(hash);
                let (_, gre) = header.split_last_chunk_mut::<8>()?;
                NvgreRepr::new(taken.vsid, flow_id).emit(gre).ok()?;
                *header_at(buf, start, inner_start)? = header;
                Some(start..end)
            }
            TunnelKind::Vxlan => {
                let mut header = [0u8; OUTER + UDP_VXLAN];
                let start = Self::room6(&mut header, outer, inner_start, inner_len, 17, mtu)?;
                let port = hash.source_port(self.source_ports);
                let (_, udp_vxlan) = header.split_last_chunk_mut::<UDP_VXLAN>()?;
                let (udp, vxlan) = udp_vxlan.split_at_mut(8);
                UdpRepr::new(port, self.vxlan_port, (8 + inner_len) as u16)
                    .emit(udp)
                    .ok()?;
                VxlanRepr::new(taken.vni).emit(vxlan).ok()?;
                *header_at(buf, start, inner_start)? = header;
                if let Some(addresses) = addresses {
                    fill_udp_checksum(&mut buf[start + OUTER..end], addresses);
                }
                Some(start..end)
            }
            TunnelKind::Geneve => None,
        }
    }

    /// The received outer Ethernet and IPv6 headers into the front of `header`, whose
    /// `N - 54` bytes of tunnel header (`next_header`) go before an inner frame of
    /// `inner_len` bytes at `inner_start`: where `header` starts, `None` past `mtu` or
    /// the headroom.
    #[inline(always)]
    // Cannot overflow: lengths of a frame in memory, and a payload length the MTU (a
    // u16) bounds.
    #[allow(clippy::arithmetic_side_effects)]
    fn room6<const N: usize>(
        header: &mut [u8; N],
        outer: [u8; OUTER],
        inner_start: usize,
        inner_len: usize,
        next_header: u8,
        mtu: u16,
    ) -> Option<usize> {
        let payload_len = N - OUTER + inner_len;
        if 40 + payload_len > usize::from(mtu) {
            return None;
        }
        let start = inner_start.checked_sub(N)?;
        let front = header.first_chunk_mut::<OUTER>()?;
        *front = outer;
        let (_, ip) = front.split_first_chunk_mut::<14>()?;
        let mut ip = Ipv6Packet::new_unchecked(&mut ip[..]);
        ip.set_payload_len(payload_len as u16);
        ip.set_next_header(IpProtocol(next_header));
        Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Decoder;
    use crate::test_rng::Rng;
    use crate::tunnel::flow::PortRange;
    use crate::tunnel::inner_vlan::InnerVlanPolicy;
    use crate::tunnel::{Encapsulator, FlowId, HEADROOM, SourcePolicy, TunnelConfig};
    use crate::wire::Vsid;
    use core::net::IpAddr;
    use std::vec::Vec;

    /// A VXLAN or NVGRE frame over IPv6 (or IPv4) as an encapsulator writes it (the UDP checksum
    /// computed, or zero), in a segment that is now and then a reserved VSID, its inner
    /// frame IPv4 with UDP or TCP, tagged now and then, or IPv6.
    fn frame(rng: &mut Rng, v6: bool) -> (Vec<u8>, Range<usize>) {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap())
        } else {
            ("10.99.0.1".parse().unwrap(), "10.99.0.2".parse().unwrap())
        };
        let mut inner = Vec::from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        let shape = rng.next() % 8;
        if shape == 0 {
            inner.extend_from_slice(&[0x81, 0, 0, 7]);
        }
        let payload = 8 + (rng.next() % 300) as usize;
        if shape == 1 {
            inner.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, payload as u8, 17, 64]);
            inner.extend((0..32 + payload).map(|_| rng.next() as u8));
        } else {
            let total = (20 + payload) as u16;
            let protocol = [17, 6][(rng.next() % 2) as usize];
            inner.extend_from_slice(&[8, 0, 0x45, 0]);
            inner.extend_from_slice(&total.to_be_bytes());
            inner.extend_from_slice(&[0, 1, 0x40, 0, 64, protocol, 0, 0, 10, 0, 0, 1, 10, 0, 0]);
            inner.push(rng.next() as u8);
            let mut l4: Vec<u8> = (0..payload).map(|_| rng.next() as u8).collect();
            l4[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
            inner.extend_from_slice(&l4);
        }
        let segment = [4242, 100, 0xff_ffff, 0x12_3456][(rng.next() % 4) as usize];
        let config = if rng.next() % 2 == 0 {
            TunnelConfig::nvgre(Vsid::new(4242).unwrap(), src, dst)
        } else {
            TunnelConfig {
                inner_vlan: InnerVlanPolicy::Keep,
                udp6_zero_checksum_tx: rng.next() % 4 == 0,
                ..TunnelConfig::vxlan(Vni::new(segment).unwrap(), src, dst)
            }
        };
        let mut buf = std::vec![0u8; HEADROOM + inner.len()];
        buf[HEADROOM..].copy_from_slice(&inner);
        let end = buf.len();
        let range = Encapsulator::new(config)
            .unwrap()
            .encapsulate(&mut buf, HEADROOM..end)
            .unwrap();
        (buf, range)
    }

    /// Wherever the IPv6 express path, or over IPv4 the express path of the next inner
    /// shapes (`translate_express_or_refused::<true>`), translates or refuses a frame,
    /// the general path gives the same range or error and the same buffer, byte for
    /// byte; where it declines, it wrote nothing. Half the frames have up to three bits
    /// of their first 120 bytes flipped, one in ten is cut short.
    #[test]
    fn express6_translation_is_the_general_one() {
        let base = TranslateConfig::default();
        let translators = [
            base,
            TranslateConfig {
                checksums: Checksums::OffloadedByNic,
                udp6_zero_checksum_rx: true,
                ..base
            },
            TranslateConfig {
                sources: SourcePolicy::AllowLoopback,
                udp6_zero_checksum_tx: true,
                symmetric_hash: true,
                ..base
            },
            TranslateConfig {
                decoder: Decoder {
                    vxlan_reserved: ReservedPolicy::Reject,
                    ..Decoder::default()
                },
                flow_id: FlowId::Fixed(9),
                vxlan_port: 8472,
                ..base
            },
            TranslateConfig {
                source_ports: PortRange::new(1000, 1003).unwrap(),
                mtu: 200,
                ..base
            },
        ];
        let mut rng = Rng(0x6e57_0000_0000_0006);
        let (mut taken, mut tried) = (0, 0);
        for _ in 0..20_000 {
            let v6 = rng.next() % 2 == 0;
            let (mut buf, mut range) = frame(&mut rng, v6);
            if rng.next() % 2 == 0 {
                for _ in 0..1 + rng.next() % 3 {
                    let at = range.start + (rng.next() as usize) % range.len().min(120);
                    buf[at] ^= 1 << (rng.next() % 8);
                }
            }
            if rng.next() % 10 == 0 {
                range.end -= (rng.next() as usize) % range.len();
            }
            for translator in &translators {
                let policy = ReceivePolicy {
                    checksums: translator.checksums,
                    sources: translator.sources,
                    udp6_zero_checksum: translator.udp6_zero_checksum_rx,
                };
                for to in [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve] {
                    tried += 1;
                    let (mut express, mut general) = (buf.clone(), buf.clone());
                    let fast = if v6 {
                        translator
                            .translate_express6(
                                &mut express,
                                range.clone(),
                                to,
                                policy,
                                translator.mtu,
                            )
                            .map(Ok)
                    } else {
                        translator.translate_express_or_refused::<true>(
                            &mut express,
                            range.clone(),
                            to,
                            policy,
                            translator.mtu,
                        )
                    };
                    let Some(fast) = fast else {
                        assert_eq!(express, buf, "declined, the express path wrote nothing");
                        continue;
                    };
                    taken += 1;
                    let slow =
                        translator.translate_general(&mut general, range.clone(), to, policy);
                    assert_eq!(
                        fast,
                        slow,
                        "{translator:?} to {to:?}: {:02x?}",
                        &buf[range.clone()]
                    );
                    assert_eq!(express, general, "{translator:?} to {to:?}");
                    // And `translate` gives the same.
                    let mut whole = buf.clone();
                    assert_eq!(
                        translator.translate::<false>(&mut whole, range.clone(), to),
                        slow
                    );
                    assert_eq!(whole, general);
                }
            }
        }
        assert!(
            taken > tried / 10,
            "{taken} of {tried} taken by the express path"
        );
    }

    /// A VXLAN frame whose VNI is a reserved VSID is refused toward NVGRE with the error
    /// of the general path, by the express path too (its refusal taken without a second
    /// walk), the frame left as it was; another VNI is translated.
    #[test]
    fn reserved_vsid_refusal_is_the_general_one() {
        use core::net::Ipv4Addr;
        let inner: std::vec::Vec<u8> = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0, 0x45, 0, 0, 28]
            .into_iter()
            .chain([0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
            .chain([0x30, 0x39, 0, 53, 0, 8, 0, 0])
            .collect();
        let translator = TranslateConfig::default();
        let policy = ReceivePolicy {
            checksums: translator.checksums,
            sources: translator.sources,
            udp6_zero_checksum: translator.udp6_zero_checksum_rx,
        };
        for (vni, reserved) in [
            (0, true),
            (100, true),
            (0xfff, true),
            (0xff_ffff, true),
            (0x1000, false),
            (0xff_fffe, false),
        ] {
            let config = TunnelConfig::vxlan(
                Vni::new(vni).unwrap(),
                Ipv4Addr::new(10, 99, 0, 1),
                Ipv4Addr::new(10, 99, 0, 2),
            );
            let mut buf = vec![0u8; HEADROOM + inner.len()];
            buf[HEADROOM..].copy_from_slice(&inner);
            let vxlan = Encapsulator::new(config)
                .unwrap()
                .encapsulate(&mut buf, HEADROOM..HEADROOM + inner.len())
                .unwrap();
            let (mut general, sent) = (buf.clone(), buf.clone());
            let ours = translator.translate::<false>(&mut buf, vxlan.clone(), TunnelKind::Nvgre);
            let theirs = translator.translate_general(
                &mut general,
                vxlan.clone(),
                TunnelKind::Nvgre,
                policy,
            );
            assert_eq!(ours, theirs, "VNI {vni}");
            assert_eq!(buf, general, "VNI {vni}");
            assert_eq!(ours.is_err(), reserved, "VNI {vni}");
            if reserved {
                assert_eq!(buf, sent, "VNI {vni}: refused, nothing written");
            }
        }
    }
}
