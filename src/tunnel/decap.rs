//! Decapsulation: validate the outer layers, apply RFC 6040 to ECN, find the inner frame.

use core::net::Ipv4Addr;
use core::ops::Range;

use super::TunnelKind;
use super::ecn::{self, Ecn};
use crate::checksum;
use crate::packet::{Decoder, Frame, Tunnel};
use crate::wire::ipv4::Ipv4Packet;
use crate::{Error, ErrorKind, Layer, Result};

/// What to do with an inner frame that carries an 802.1Q tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InnerVlanPolicy {
    /// Drop it: RFC 7348 section 6.1 ("SHOULD discard") and RFC 7637 section 3.2 (inner
    /// frames carry no tag). The default.
    #[default]
    Drop,
    /// Keep it and pass it on.
    Keep,
}

/// Decapsulation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decapsulator {
    /// VXLAN ports and the reserved-bits policy. Default: port 4789, reserved bits ignored.
    pub decoder: Decoder,
    /// Verify non-zero VXLAN UDP checksums. Default on: a non-zero checksum must be
    /// correct (RFC 7348 section 5); zero is always accepted.
    pub verify_udp_checksum: bool,
    /// Inner 802.1Q tags. Default: drop.
    pub inner_vlan: InnerVlanPolicy,
    /// Combine the outer ECN into the inner IPv4 header (RFC 6040). Default on; off
    /// leaves the inner frame byte for byte as received, for tools that must not change
    /// it.
    pub apply_ecn: bool,
}

impl Default for Decapsulator {
    fn default() -> Self {
        Decapsulator {
            decoder: Decoder::default(),
            verify_udp_checksum: true,
            inner_vlan: InnerVlanPolicy::Drop,
            apply_ecn: true,
        }
    }
}

/// What decapsulation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapsulated {
    /// VXLAN or NVGRE.
    pub kind: TunnelKind,
    /// VNI or VSID.
    pub segment: u32,
    /// Outer source address: the sending VTEP.
    pub outer_src: Ipv4Addr,
    /// Outer destination address.
    pub outer_dst: Ipv4Addr,
    /// Where the inner Ethernet frame sits in the buffer handed to `decapsulate`.
    pub inner: Range<usize>,
}

impl Decapsulator {
    /// Validates a VXLAN or NVGRE frame and finds its inner frame. Per RFC 6040 the
    /// outer ECN is combined into an inner IPv4 header in place (with an incremental
    /// checksum update) unless [`apply_ecn`](Self::apply_ecn) is off; an inner frame
    /// that is not IPv4 passes unchanged. Inner headers past Ethernet are not
    /// validated: a VTEP forwards what it was given.
    ///
    /// # Errors
    /// A malformed outer header, VXLAN or NVGRE header, or inner Ethernet header;
    /// `NotTunnel`; `BadChecksum` for a wrong non-zero UDP checksum; `InnerVlanTag`
    /// under [`InnerVlanPolicy::Drop`]; `EcnDrop` for CE over Not-ECT.
    #[inline]
    pub fn decapsulate(&self, frame: &mut [u8]) -> Result<Decapsulated> {
        let mut decoded = Frame::default();
        let error = self.decoder.fill(frame, &mut decoded).err();
        let (Some(tunnel), Some(outer), Some(_)) =
            (decoded.tunnel, decoded.outer.ipv4, decoded.inner.ethernet)
        else {
            return Err(super::no_tunnel(&decoded, error));
        };
        if let Some(udp) = decoded.outer.udp() {
            if self.verify_udp_checksum && !udp.verify_checksum(outer.src_addr(), outer.dst_addr())
            {
                return Err(
                    Error::new(Layer::Udp, ErrorKind::BadChecksum(udp.checksum()))
                        .at(decoded.tunnel_offset - crate::wire::udp::HEADER_LEN),
                );
            }
        }
        if decoded.inner.vlans[0].is_some() && self.inner_vlan == InnerVlanPolicy::Drop {
            return Err(Error::new(Layer::Tunnel, ErrorKind::InnerVlanTag));
        }
        let (kind, inner_len) = match tunnel {
            Tunnel::Vxlan(h) => (TunnelKind::Vxlan, h.payload().len()),
            Tunnel::Nvgre(h) => (TunnelKind::Nvgre, h.payload().len()),
        };
        let result = Decapsulated {
            kind,
            segment: tunnel.segment(),
            outer_src: outer.src_addr(),
            outer_dst: outer.dst_addr(),
            inner: decoded.inner.offset..decoded.inner.offset + inner_len,
        };
        let outer_ecn = Ecn::from_bits(outer.ecn());
        if let Some(inner_ip) = decoded.inner.ipv4.filter(|_| self.apply_ecn) {
            let inner_ecn = Ecn::from_bits(inner_ip.ecn());
            let combined = ecn::decapsulate(inner_ecn, outer_ecn)?;
            if combined != inner_ecn {
                let at = decoded.inner.l3_offset();
                set_ecn(&mut frame[at..], combined);
            }
        }
        Ok(result)
    }

    /// Decapsulates a whole frame and returns the inner frame as a `Bytes` that shares
    /// the frame's memory: no copy.
    ///
    /// # Errors
    /// As [`decapsulate`](Self::decapsulate).
    #[cfg(feature = "bytes")]
    pub fn decapsulate_bytes(
        &self,
        mut frame: bytes::BytesMut,
    ) -> Result<(Decapsulated, bytes::Bytes)> {
        let result = self.decapsulate(&mut frame)?;
        let inner = frame.freeze().slice(result.inner.clone());
        Ok((result, inner))
    }
}

/// Rewrites the ECN bits of the IPv4 header at the start of `ip`, updating its checksum
/// incrementally (RFC 1624) so a checksum that was wrong stays exactly as wrong.
fn set_ecn(ip: &mut [u8], ecn: Ecn) {
    let mut packet = Ipv4Packet::new_unchecked(ip);
    let old_word = u16::from_be_bytes([0x40 | packet.ihl(), packet.dscp() << 2 | packet.ecn()]);
    packet.set_dscp_ecn(packet.dscp(), ecn.bits());
    let new_word = old_word & !0x03 | u16::from(ecn.bits());
    let updated = checksum::update(packet.checksum(), old_word, new_word);
    packet.set_checksum(updated);
}
