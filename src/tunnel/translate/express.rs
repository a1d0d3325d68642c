//! Translation of the common frame in straight-line code: VXLAN and NVGRE over IPv4
//! without options, an untagged inner frame (the express walk's shape), to VXLAN or
//! NVGRE. The outer Ethernet and IPv4 headers and the new tunnel header are built in one
//! array and land in one store; everything the general path checks is checked first, and
//! where anything would fail (or the shape or settings are rarer) nothing is written and
//! the general path runs, naming the error. `tests` holds the two to the same bytes.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ops::Range;

use super::{Ipv4Rewrite, Translator, fill_udp_checksum};
use crate::checksum;
use crate::packet::{Depth, Tunnel};
use crate::tunnel::TunnelKind;
use crate::tunnel::config::check_vsid;
use crate::tunnel::decap::ReceivePolicy;
use crate::tunnel::flow::FlowKey;
use crate::tunnel::layout::{Accepted, OuterIp};
use crate::wire::ipv4::{IpProtocol, Ipv4Packet};
use crate::wire::nvgre::{NvgreRepr, Vsid};
use crate::wire::udp::UdpRepr;
use crate::wire::vxlan::{Vni, VxlanRepr};

/// Outer Ethernet and IPv4 without options.
const OUTER: usize = 34;
/// The outer headers and NVGRE.
const TO_NVGRE: usize = OUTER + 8;
/// The outer headers, UDP and VXLAN.
const TO_VXLAN: usize = OUTER + 16;

impl Translator {
    /// [`translate`](Translator::translate) of the common frame to VXLAN or NVGRE:
    /// `None`, with nothing written, for any other frame or target, or where the general
    /// path would fail.
    #[inline(always)]
    // Cannot overflow or index out of range: offsets inside the frame the express walk
    // checked, and its headroom, tested before use.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(super) fn translate_express(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
        to: TunnelKind,
        policy: ReceivePolicy,
    ) -> Option<Range<usize>> {
        let bytes = buf.get(frame.clone())?;
        let received = self
            .decoder
            .express::<FlowKey>(bytes, policy, Depth::InnerTransport)?;
        let Accepted {
            tunnel,
            header: OuterIp::V4(ip),
            inner_len,
            ..
        } = received.accepted?
        else {
            return None;
        };
        // The segment as both kinds name it (the same 24 bits).
        let (vni, vsid) = match tunnel {
            Tunnel::Vxlan(h) => (h.vni(), Vsid::from(h.vni())),
            Tunnel::Nvgre(h) => (Vni::from(h.vsid()), h.vsid()),
            Tunnel::Geneve(_) => return None,
        };
        let hash = received.inner.also.hash_as(self.symmetric_hash);
        let inner_start = frame.start + received.inner.offset;
        let end = inner_start + inner_len;
        let outer: [u8; OUTER] = *bytes.first_chunk()?;
        match to {
            TunnelKind::Nvgre => {
                check_vsid(vsid).ok()?;
                let total = TO_NVGRE - 14 + inner_len;
                let start = self.room::<TO_NVGRE>(inner_start, total)?;
                let mut header = [0u8; TO_NVGRE];
                self.outer_into(&mut header, outer, &ip, IpProtocol::GRE, total);
                let flow_id = self.flow_id.for_hash(hash);
                let (_, nvgre) = header.split_last_chunk_mut::<8>()?;
                NvgreRepr::new(vsid, flow_id).emit(nvgre).ok()?;
                *buf.get_mut(start..)?.first_chunk_mut()? = header;
                Some(start..end)
            }
            TunnelKind::Vxlan => {
                let total = TO_VXLAN - 14 + inner_len;
                let start = self.room::<TO_VXLAN>(inner_start, total)?;
                let mut header = [0u8; TO_VXLAN];
                self.outer_into(&mut header, outer, &ip, IpProtocol::UDP, total);
                let port = hash.source_port(self.source_ports);
                let (_, udp_vxlan) = header.split_last_chunk_mut::<16>()?;
                let (udp, vxlan) = udp_vxlan.split_at_mut(8);
                let payload_len = (total - 28) as u16;
                UdpRepr::new(port, self.vxlan_port, payload_len)
                    .emit(udp)
                    .ok()?;
                VxlanRepr::new(vni).emit(vxlan).ok()?;
                // The addresses' share of a UDP checksum, read before the header moves.
                let addresses = self
                    .udp_checksum
                    .then(|| checksum::pseudo_header_ipv4(ip.src_addr(), ip.dst_addr(), 0, 0));
                *buf.get_mut(start..)?.first_chunk_mut()? = header;
                if let Some(addresses) = addresses {
                    fill_udp_checksum(&mut buf[start + OUTER..end], addresses);
                }
                Some(start..end)
            }
            TunnelKind::Geneve => None,
        }
    }

    /// Where `N` bytes of new headers start before the inner frame at `inner_start`,
    /// for an outer IP packet of `total` bytes: `None` past the MTU or the headroom.
    #[inline(always)]
    fn room<const N: usize>(&self, inner_start: usize, total: usize) -> Option<usize> {
        if total > usize::from(self.mtu) {
            return None;
        }
        inner_start.checked_sub(N)
    }

    /// The received outer Ethernet and IPv4 headers into the front of `header`, the IPv4
    /// header carrying `protocol` and `total` bytes (its checksum updated).
    #[inline(always)]
    fn outer_into<const N: usize>(
        &self,
        header: &mut [u8; N],
        outer: [u8; OUTER],
        ip: &Ipv4Packet<&[u8]>,
        protocol: IpProtocol,
        total: usize,
    ) {
        let rewrite = Ipv4Rewrite::new(ip, protocol, total);
        if let Some(front) = header.first_chunk_mut::<OUTER>() {
            *front = outer;
            if let Some((_, ip)) = front.split_first_chunk_mut::<14>() {
                rewrite.apply(ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Decoder, ReservedPolicy, TunnelPorts};
    use crate::tunnel::flow::PortRange;
    use crate::tunnel::inner_vlan::InnerVlanPolicy;
    use crate::tunnel::{Checksums, Encapsulator, FlowId, HEADROOM, SourcePolicy, TunnelConfig};
    use core::net::Ipv4Addr;
    use std::vec::Vec;

    /// xorshift64*: the test's frames and mutations, the same on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// An inner Ethernet frame: untagged or tagged, IPv4 (a fragment now and then) with
    /// UDP, TCP or ICMP, or IPv6, its lengths consistent.
    fn inner_frame(rng: &mut Rng) -> Vec<u8> {
        let mut frame = Vec::from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        frame[5] = rng.next() as u8;
        if rng.below(5) == 0 {
            frame.extend_from_slice(&[0x81, 0x00, 0, rng.below(200) as u8 + 1]);
        }
        let payload = 8 + rng.below(60);
        if rng.below(6) == 0 {
            frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, payload as u8, 17, 64]);
            frame.extend((0..32 + payload).map(|_| rng.next() as u8));
            return frame;
        }
        let protocol = [17, 6, 1][rng.below(3)];
        let total = (20 + payload) as u16;
        frame.extend_from_slice(&[0x08, 0x00, 0x45, rng.next() as u8]);
        frame.extend_from_slice(&total.to_be_bytes());
        let fragment = if rng.below(8) == 0 { 0x20 } else { 0x40 };
        frame.extend_from_slice(&[0, 1, fragment, 0, 64, protocol, 0, 0]);
        frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, rng.next() as u8]);
        let mut l4: Vec<u8> = (0..payload).map(|_| rng.next() as u8).collect();
        if protocol == 17 {
            l4[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
        }
        frame.extend_from_slice(&l4);
        frame
    }

    /// A tunnel frame an encapsulator wrote, in a buffer with headroom for any
    /// translation.
    fn tunnel_frame(rng: &mut Rng) -> (Vec<u8>, Range<usize>) {
        let src = Ipv4Addr::new([10, 127, 0, 224][rng.below(4)], 99, 0, 1);
        let dst = Ipv4Addr::new(10, 99, 0, 2);
        let segment = [4242, 1, 0xff_ffff, 0xff_fffe][rng.below(4)];
        let config = if rng.below(2) == 0 {
            TunnelConfig::vxlan(Vni::new(segment).unwrap(), src, dst)
        } else {
            TunnelConfig::nvgre(Vsid::new(segment).unwrap(), src, dst)
        };
        let inner = inner_frame(rng);
        let mut buf = std::vec![0u8; HEADROOM + inner.len()];
        buf[HEADROOM..].copy_from_slice(&inner);
        let encapsulator = Encapsulator::new(TunnelConfig {
            inner_vlan: InnerVlanPolicy::Keep,
            ..config
        });
        // Tagged NVGRE or a loopback source may be refused: send the frame anyway,
        // from VXLAN with tags kept (the translator must decide).
        let end = buf.len();
        let range = match encapsulator.and_then(|mut e| e.encapsulate(&mut buf, HEADROOM..end)) {
            Ok(range) => range,
            Err(_) => {
                let mut e = Encapsulator::new(TunnelConfig::vxlan(
                    Vni::new(7).unwrap(),
                    Ipv4Addr::new(10, 0, 0, 1),
                    dst,
                ))
                .unwrap();
                buf[HEADROOM..].copy_from_slice(&inner);
                e.encapsulate(&mut buf, HEADROOM..end).unwrap()
            }
        };
        (buf, range)
    }

    /// The translators the frames meet: the defaults and each setting moved.
    fn translators() -> Vec<Translator> {
        let base = Translator::default();
        Vec::from([
            base,
            Translator {
                checksums: Checksums::OffloadedByNic,
                ..base
            },
            Translator {
                sources: SourcePolicy::AllowLoopback,
                ..base
            },
            Translator {
                decoder: Decoder {
                    vxlan_reserved: ReservedPolicy::Reject,
                    vxlan_ports: TunnelPorts::from_slice(&[8472, 4789]).unwrap(),
                    ..Decoder::default()
                },
                ..base
            },
            Translator {
                udp_checksum: true,
                symmetric_hash: true,
                ..base
            },
            Translator {
                flow_id: FlowId::Fixed(9),
                vxlan_port: 8472,
                ..base
            },
            Translator {
                source_ports: PortRange::new(1000, 1003).unwrap(),
                mtu: 100,
                ..base
            },
            Translator {
                inner_vlan: InnerVlanPolicy::Keep,
                ..base
            },
        ])
    }

    /// Wherever the express path translates a frame, the general path gives the same
    /// range and the same buffer, byte for byte; on frames as written and mutated.
    #[test]
    fn express_translation_is_the_general_one() {
        let mut rng = Rng(0x7e57_1234_abcd_0001);
        let translators = translators();
        let (mut taken, mut frames) = (0, 0);
        for _ in 0..20_000 {
            let (mut buf, range) = tunnel_frame(&mut rng);
            // Half the frames as written; the others with up to three bytes changed
            // in their headers, or cut short.
            if rng.below(2) == 0 {
                for _ in 0..1 + rng.below(3) {
                    let at = range.start + rng.below(100.min(range.len()));
                    buf[at] ^= 1 << rng.below(8);
                }
            }
            let range = if rng.below(10) == 0 {
                range.start..range.end - rng.below(range.len())
            } else {
                range
            };
            for translator in &translators {
                for to in [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve] {
                    frames += usize::from(to != TunnelKind::Geneve);
                    let (mut express, mut general) = (buf.clone(), buf.clone());
                    let policy = ReceivePolicy {
                        checksums: translator.checksums,
                        sources: translator.sources,
                        udp6_zero_checksum: translator.udp6_zero_checksum_rx,
                    };
                    let Some(fast) =
                        translator.translate_express(&mut express, range.clone(), to, policy)
                    else {
                        assert_eq!(express, buf, "refused, the express path wrote nothing");
                        continue;
                    };
                    assert_ne!(to, TunnelKind::Geneve, "Geneve is the general path's");
                    taken += 1;
                    let slow =
                        translator.translate_general(&mut general, range.clone(), to, policy);
                    assert_eq!(
                        Ok(fast),
                        slow,
                        "{translator:?} to {to:?}: {:02x?}",
                        &buf[range.clone()]
                    );
                    assert_eq!(express, general, "{translator:?} to {to:?}");
                }
            }
        }
        // A good share of the frames (half are mutated, a fifth tagged, some sources
        // refused, one translator's MTU too small) take the express path: the comparison
        // is not vacuous.
        assert!(
            taken > frames / 4,
            "{taken} of {frames} taken by the express path"
        );
    }
}
