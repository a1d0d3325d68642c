//! Decapsulation: validate the outer layers, apply RFC 6040 to ECN, find the inner frame.

use core::net::Ipv4Addr;
use core::ops::Range;

use super::config::{check_endpoint, check_vsid};
use super::ecn::{self, Ecn, EcnAlarm};
use super::inner_vlan::{self, InnerTags, InnerVlanPolicy};
use super::{Encapsulation, TunnelKind};
use crate::checksum;
use crate::packet::{Decoder, Frame, Stack, Tunnel};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::udp;
use crate::{Error, ErrorKind, Layer, Result};

/// Who verifies the checksums of received tunnel frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Checksums {
    /// Verify the outer IPv4 header checksum (RFC 1122 section 3.2.1.2) and a non-zero
    /// UDP checksum (RFC 7348 section 5). The default.
    #[default]
    Verify,
    /// Trust them: the NIC already verified them (receive checksum offload) and dropped
    /// what failed. Nothing is summed per packet.
    OffloadedByNic,
}

/// Decapsulation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decapsulator {
    /// VXLAN ports and the reserved-bits policy. Default: port 4789, reserved bits ignored.
    pub decoder: Decoder,
    /// Checksum verification. Default: verify.
    pub checksums: Checksums,
    /// Inner 802.1Q tags. Default: reject (RFC 7348 section 6.1, RFC 7637 section 3.2).
    pub inner_vlan: InnerVlanPolicy,
    /// Combine the outer ECN into the inner IPv4 or IPv6 header (RFC 6040). Default on;
    /// off leaves the inner frame byte for byte as received, for tools that must not
    /// change it.
    pub apply_ecn: bool,
}

impl Default for Decapsulator {
    fn default() -> Self {
        Decapsulator {
            decoder: Decoder::default(),
            checksums: Checksums::Verify,
            inner_vlan: InnerVlanPolicy::Reject,
            apply_ecn: true,
        }
    }
}

/// What decapsulation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapsulated {
    /// The tunnel and its segment (VNI or VSID).
    pub encapsulation: Encapsulation,
    /// Outer source address: the sending VTEP.
    pub outer_src: Ipv4Addr,
    /// Outer destination address.
    pub outer_dst: Ipv4Addr,
    /// Where the inner Ethernet frame sits in the buffer handed to `decapsulate`.
    pub inner: Range<usize>,
    /// An inner/outer ECN combination RFC 6040 section 4.2 says to log, for the caller
    /// to count (`None` when ECN was not combined).
    pub ecn_alarm: Option<EcnAlarm>,
}

impl Decapsulated {
    /// VXLAN or NVGRE.
    #[inline]
    pub fn kind(&self) -> TunnelKind {
        self.encapsulation.kind()
    }

    /// The VNI or VSID.
    #[inline]
    pub fn segment(&self) -> u32 {
        self.encapsulation.segment()
    }
}

/// The VXLAN-GPE P bit: a next-protocol byte says what follows the header.
const VXLAN_GPE_P: u8 = 0x04;
/// VXLAN-GPE's next protocol for Ethernet.
const VXLAN_GPE_ETHERNET: u8 = 3;

impl Decapsulator {
    /// Validates a VXLAN or NVGRE frame and finds its inner frame. Per RFC 6040 the
    /// outer ECN is combined into an inner IPv4 header (with an incremental checksum
    /// update) or IPv6 traffic class in place, unless [`apply_ecn`](Self::apply_ecn) is
    /// off; an inner frame that is not IP passes unchanged. Inner headers past Ethernet
    /// are not validated: a VTEP forwards what it was given.
    ///
    /// # Errors
    /// A malformed outer header, VXLAN or NVGRE header, or inner Ethernet header;
    /// `NotTunnel`; `Unsupported` for an IPv6 underlay; `BadChecksum` for a wrong outer
    /// IPv4 header checksum or non-zero UDP checksum; `BadAddress` for an outer source
    /// that cannot be a VTEP (zero, loopback, multicast, broadcast); `ReservedVsid`;
    /// `NotEthernet` for VXLAN-GPE carrying something else; `InnerVlanTag` under
    /// [`InnerVlanPolicy::Reject`]; `EcnDrop` for CE over Not-ECT.
    #[inline]
    pub fn decapsulate(&self, frame: &mut [u8]) -> Result<Decapsulated> {
        let mut decoded = Frame::default();
        let error = self.decoder.fill(frame, &mut decoded).err();
        let (tunnel, outer, inner_len) = validate(&decoded, error, self.checksums)?;
        let strip_len = self.inner_vlan.strip_len(InnerTags::of(&decoded.inner))?;
        let inner_ip = InnerIp::of(&decoded.inner).filter(|_| self.apply_ecn);
        let encapsulation = tunnel.encapsulation();
        let (outer_src, outer_dst) = (outer.src_addr(), outer.dst_addr());
        let outer_ecn = Ecn::from_bits(outer.ecn());
        let inner_start = decoded.inner.offset;
        let mut ecn_alarm = None;
        if let Some(ip) = inner_ip {
            let combined = ecn::decapsulate(ip.ecn, outer_ecn)?;
            ecn_alarm = ecn::alarm(ip.ecn, outer_ecn);
            if combined != ip.ecn {
                ip.set_ecn(frame, combined);
            }
        }
        let start = inner_vlan::strip(frame, inner_start, strip_len);
        Ok(Decapsulated {
            encapsulation,
            outer_src,
            outer_dst,
            inner: start..inner_start + inner_len,
            ecn_alarm,
        })
    }

    /// Decapsulates without changing a byte: the same checks and result as
    /// [`decapsulate`](Self::decapsulate), for callers that only read (counters,
    /// monitors). Inner tags are not stripped: under `Strip` the inner range still starts
    /// at the tags (a frame with more tags than can be stripped is refused, as by
    /// `decapsulate`), and the ECN combination is left to the caller (`ecn_alarm` is
    /// still reported).
    ///
    /// # Errors
    /// As [`decapsulate`](Self::decapsulate).
    #[inline]
    pub fn inspect(&self, frame: &[u8]) -> Result<Decapsulated> {
        let mut decoded = Frame::default();
        let error = self.decoder.fill(frame, &mut decoded).err();
        let (tunnel, outer, inner_len) = validate(&decoded, error, self.checksums)?;
        // The same policy check as `decapsulate`, its length unused: `Strip` also refuses
        // more tags than can be stripped, and a reader must not accept what a rewriter
        // drops.
        self.inner_vlan.strip_len(InnerTags::of(&decoded.inner))?;
        let outer_ecn = Ecn::from_bits(outer.ecn());
        let mut ecn_alarm = None;
        if let Some(ip) = InnerIp::of(&decoded.inner).filter(|_| self.apply_ecn) {
            ecn::decapsulate(ip.ecn, outer_ecn)?;
            ecn_alarm = ecn::alarm(ip.ecn, outer_ecn);
        }
        Ok(Decapsulated {
            encapsulation: tunnel.encapsulation(),
            outer_src: outer.src_addr(),
            outer_dst: outer.dst_addr(),
            inner: decoded.inner.offset..decoded.inner.offset + inner_len,
            ecn_alarm,
        })
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

/// The checks every received tunnel frame passes, in the order a receiver trusts
/// its headers: decoded, IPv4 underlay, outer IPv4 checksum, a source that can be a
/// VTEP, UDP checksum, a tenant segment, an Ethernet payload. Returns the tunnel,
/// the outer IPv4 header and the inner frame's length.
#[inline]
pub(crate) fn validate<'a>(
    decoded: &Frame<'a>,
    error: Option<Error>,
    checksums: Checksums,
) -> Result<(Tunnel<'a>, Ipv4Packet<&'a [u8]>, usize)> {
    let (Some(tunnel), Some(_)) = (decoded.tunnel, decoded.inner.ethernet) else {
        return Err(super::no_tunnel(decoded, error));
    };
    let Some(outer) = decoded.outer.ipv4 else {
        return Err(Error::new(
            Layer::Tunnel,
            ErrorKind::Unsupported("an IPv6 underlay in the tunnel engine"),
        ));
    };
    let verify = checksums == Checksums::Verify;
    if verify && !outer.verify_checksum() {
        return Err(
            Error::new(Layer::Ipv4, ErrorKind::BadChecksum(outer.checksum()))
                .at(decoded.outer.l3_offset()),
        );
    }
    check_endpoint("outer source address", outer.src_addr())?;
    if let Some(udp) = decoded.outer.udp() {
        if verify && !udp.verify_checksum(outer.src_addr(), outer.dst_addr()) {
            return Err(
                Error::new(Layer::Udp, ErrorKind::BadChecksum(udp.checksum()))
                    .at(decoded.tunnel_offset - udp::HEADER_LEN),
            );
        }
    }
    let inner_len = match tunnel {
        Tunnel::Vxlan(h) => {
            let next_protocol = (h.reserved1() & 0xff) as u8;
            if h.flags() & VXLAN_GPE_P != 0 && next_protocol != VXLAN_GPE_ETHERNET {
                return Err(
                    Error::new(Layer::Vxlan, ErrorKind::NotEthernet(next_protocol))
                        .at(decoded.tunnel_offset),
                );
            }
            h.payload().len()
        }
        Tunnel::Nvgre(h) => {
            check_vsid(h.vsid()).map_err(|e| e.at(decoded.tunnel_offset))?;
            h.payload().len()
        }
    };
    Ok((tunnel, outer, inner_len))
}

/// The inner IP header whose ECN field decapsulation combines.
#[derive(Debug, Clone, Copy)]
struct InnerIp {
    /// Offset of the IP header in the frame.
    at: usize,
    /// IPv6 (no header checksum) rather than IPv4.
    v6: bool,
    /// Its ECN field.
    ecn: Ecn,
}

impl InnerIp {
    #[inline]
    fn of(stack: &Stack<'_>) -> Option<Self> {
        let tos = stack.traffic_class()?;
        Some(InnerIp {
            at: stack.l3_offset(),
            v6: stack.ipv6.is_some(),
            ecn: Ecn::from_bits(tos),
        })
    }

    /// Rewrites the ECN bits: in IPv6's traffic class (no checksum covers it), or in the
    /// IPv4 header with an incremental checksum update (RFC 1624), so a checksum that was
    /// wrong stays exactly as wrong.
    #[inline]
    fn set_ecn(self, frame: &mut [u8], ecn: Ecn) {
        if self.v6 {
            let mut packet = Ipv6Packet::new_unchecked(&mut frame[self.at..]);
            packet.set_dscp_ecn(packet.dscp(), ecn.bits());
            return;
        }
        let mut packet = Ipv4Packet::new_unchecked(&mut frame[self.at..]);
        let old_word = u16::from_be_bytes([0x40 | packet.ihl(), packet.dscp() << 2 | packet.ecn()]);
        packet.set_dscp_ecn(packet.dscp(), ecn.bits());
        let new_word = old_word & !0x03 | u16::from(ecn.bits());
        let updated = checksum::update(packet.checksum(), old_word, new_word);
        packet.set_checksum(updated);
    }
}
