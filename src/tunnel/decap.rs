//! Decapsulation: validate the outer layers, apply RFC 6040 to ECN, find the inner frame.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::net::Ipv4Addr;
use core::ops::Range;

use super::config::{check_endpoint, check_vsid};
use super::ecn::{self, Ecn, EcnAlarm};
use super::inner_vlan::{self, InnerVlanPolicy};
use super::layout::{Accepted, InnerIp, Outer, Received};
use super::{Encapsulation, TunnelKind};
use crate::checksum;
use crate::packet::{Decoder, Depth, Tunnel};
use crate::wire::ipv4::{self, Ipv4Packet};
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
///
/// ```
/// use core::net::Ipv4Addr;
/// use tunnelwire::tunnel::{Checksums, Decapsulator, Encapsulator, TunnelConfig, HEADROOM};
/// use tunnelwire::wire::Vsid;
///
/// let mut buf = [0u8; HEADROOM + 60];
/// buf[HEADROOM..HEADROOM + 12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
/// let config = TunnelConfig::nvgre(Vsid::new(4242)?, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
/// let frame = Encapsulator::new(config)?.encapsulate(&mut buf, HEADROOM..HEADROOM + 60)?;
///
/// // A NIC that verified the checksums already: skip them.
/// let decap = Decapsulator { checksums: Checksums::OffloadedByNic, ..Decapsulator::default() };
/// let found = decap.inspect(&buf[frame.clone()])?; // read-only
/// assert_eq!((found.segment(), found.outer_src), (4242, Ipv4Addr::new(10, 0, 0, 1)));
/// assert_eq!(buf[frame][found.inner].len(), 60);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
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
/// The VXLAN-GPE version bits (only version 0 is defined).
const VXLAN_GPE_VERSION: u8 = 0x30;
/// The VXLAN-GPE O bit: an OAM packet.
const VXLAN_GPE_OAM: u8 = 0x01;
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
    /// `NotTunnel`; `UnsupportedFrame` for an IPv6 underlay; `BadChecksum` for a wrong outer
    /// IPv4 header checksum or non-zero UDP checksum; `BadAddress` for an outer source
    /// that cannot be a VTEP (zero, loopback, multicast, broadcast); `ReservedVsid`;
    /// `NotEthernet` or `NotTenantFrame` for VXLAN-GPE carrying something else, OAM or
    /// an unknown version; `InnerVlanTag` under [`InnerVlanPolicy::Reject`], and for any
    /// tagged NVGRE payload (RFC 7637 section 3.2); `EcnDrop` for CE over Not-ECT.
    // Always inlined, like `Decoder::decode`: a per-packet entry point belongs in the
    // caller's loop, where its result stays in registers and the caller's constants fold
    // (measured: 37 to 98 fewer instructions per packet than a call). A caller that wants
    // one copy of it wraps it in a function of its own.
    #[inline(always)]
    pub fn decapsulate(&self, frame: &mut [u8]) -> Result<Decapsulated> {
        let (mut found, rewrite) = self.examine(frame)?;
        if let Some((ip, ecn)) = rewrite.ecn {
            ip.set_ecn(frame, ecn);
        }
        let start = inner_vlan::strip(frame, found.inner.start, rewrite.strip_len);
        found.inner.start = start;
        Ok(found)
    }

    /// Decapsulates without changing a byte: the same checks and result as
    /// [`decapsulate`](Self::decapsulate), for callers that only read (counters,
    /// monitors), except that nothing is rewritten: the inner range covers the frame as
    /// received, with any tags the policy would strip, and RFC 6040's combined ECN is the
    /// caller's to apply ([`ecn::decapsulate`]; `ecn_alarm` is reported as usual).
    ///
    /// # Errors
    /// As [`decapsulate`](Self::decapsulate).
    #[inline]
    pub fn inspect(&self, frame: &[u8]) -> Result<Decapsulated> {
        self.examine(frame).map(|(found, _)| found)
    }

    /// Everything both paths decide, from the bytes alone: what was found, and what
    /// `decapsulate` is to rewrite.
    #[inline(always)]
    #[allow(clippy::arithmetic_side_effects)] // the inner frame's end, inside the frame
    fn examine(&self, frame: &[u8]) -> Result<(Decapsulated, Rewrite)> {
        let mut received = Received::<()> {
            checksums: self.checksums,
            ..Received::default()
        };
        // The inner transport is not needed: ECN lives in the IP header.
        let error = self
            .decoder
            .walk(frame, &mut received, Depth::InnerIp)
            .err();
        let Accepted {
            tunnel,
            ip: outer,
            inner_len,
        } = validate(&received, error)?;
        let inner = received.inner;
        let strip_len = self.inner_vlan.strip_len(inner.tags)?;
        let outer_ecn = Ecn::from_bits(outer.ecn());
        let (mut ecn_alarm, mut ecn) = (None, None);
        if let Some(ip) = inner.ip.filter(|_| self.apply_ecn) {
            let combined = ecn::decapsulate(ip.ecn(), outer_ecn)?;
            ecn_alarm = ecn::alarm(ip.ecn(), outer_ecn);
            ecn = (combined != ip.ecn()).then_some((ip, combined));
        }
        let found = Decapsulated {
            encapsulation: tunnel.encapsulation(),
            outer_src: outer.src_addr(),
            outer_dst: outer.dst_addr(),
            inner: inner.offset..inner.offset + inner_len,
            ecn_alarm,
        };
        Ok((found, Rewrite { strip_len, ecn }))
    }

    /// Decapsulates a whole frame and returns the inner frame as a `Bytes` that shares
    /// the frame's memory: no copy.
    ///
    /// # Errors
    /// As [`decapsulate`](Self::decapsulate).
    #[cfg(feature = "bytes")]
    #[cfg_attr(docsrs, doc(cfg(feature = "bytes")))]
    pub fn decapsulate_bytes(
        &self,
        mut frame: bytes::BytesMut,
    ) -> Result<(Decapsulated, bytes::Bytes)> {
        let result = self.decapsulate(&mut frame)?;
        let inner = frame.freeze().slice(result.inner.clone());
        Ok((result, inner))
    }
}

/// The checks a received tunnel frame's outer stack passes when the walk reaches its
/// tunnel header `at` bytes in, in the order a receiver trusts its headers: IPv4
/// underlay, outer IPv4 checksum, a source that can be a VTEP, UDP checksum, a tenant
/// segment and payload (VSID, VXLAN-GPE). [`validate`] finishes them after the walk.
// Always inlined, with everything it calls on the frame: a frame passed by reference to
// a function left out of line lives in memory, 250 bytes of stores and loads per packet.
#[inline(always)]
#[allow(clippy::arithmetic_side_effects)] // UDP, when decoded, is 8 bytes before VXLAN
pub(crate) fn accept<'a>(
    outer: &Outer<'a>,
    at: usize,
    tunnel: Tunnel<'a>,
    checksums: Checksums,
) -> Result<Accepted<'a>> {
    let Some(ip) = outer.ipv4 else {
        return Err(Error::new(
            Layer::Tunnel,
            ErrorKind::UnsupportedFrame("an IPv6 underlay"),
        )
        .at(outer.l3));
    };
    let verify = checksums == Checksums::Verify;
    if verify && !ip.verify_checksum() {
        return Err(Error::new(Layer::Ipv4, ErrorKind::BadChecksum(ip.checksum())).at(outer.l3));
    }
    check_endpoint("outer source address", ip.src_addr())?;
    if let Some(udp) = outer.udp {
        if verify && !udp.verify_checksum(ip.src_addr(), ip.dst_addr()) {
            return Err(
                Error::new(Layer::Udp, ErrorKind::BadChecksum(udp.checksum()))
                    .at(at - udp::HEADER_LEN),
            );
        }
    }
    let inner_len = match tunnel {
        Tunnel::Vxlan(h) => {
            check_vxlan_gpe(h.flags(), (h.reserved1() & 0xff) as u8).map_err(|e| e.at(at))?;
            h.payload().len()
        }
        Tunnel::Nvgre(h) => {
            check_vsid(h.vsid()).map_err(|e| e.at(at))?;
            h.payload().len()
        }
    };
    Ok(Accepted {
        tunnel,
        ip,
        inner_len,
    })
}

/// The checks every received tunnel frame passes, after the walk that ended with
/// `error`: a tunnel whose outer stack was accepted ([`accept`]), then the inner Ethernet
/// header (untagged for NVGRE).
#[inline(always)]
pub(crate) fn validate<'a, K>(
    received: &Received<'a, K>,
    error: Option<Error>,
) -> Result<Accepted<'a>> {
    let outer = &received.outer;
    let Some(accepted) = received.accepted else {
        // Not accepted: `accept`'s error, a malformed outer stack, a fragment or no
        // tunnel at all.
        let fragment = outer.fragment().then_some(match outer.ipv6_next {
            Some(_) => Layer::Ipv6,
            None => Layer::Ipv4,
        });
        return Err(super::no_tunnel(error, fragment, outer.l3));
    };
    // The payload is a tenant's Ethernet frame: its header must decode.
    if !received.inner.ethernet {
        return Err(super::no_tunnel(error, None, 0));
    }
    // RFC 7637 section 3.2: "A decapsulating NVE MUST drop the frame if the inner
    // Ethernet frame contains an 802.1Q tag", whatever the policy says for VXLAN.
    if matches!(accepted.tunnel, Tunnel::Nvgre(_)) && received.inner.tags.any() {
        return Err(Error::new(Layer::Tunnel, ErrorKind::InnerVlanTag));
    }
    Ok(accepted)
}

/// VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe): with the P bit set, the header says what it
/// carries. RFC 7348 calls these bits reserved, so without P they are ignored; with it,
/// only version 0 and a next protocol of Ethernet, outside OAM, are a tenant's frame.
#[inline(always)]
fn check_vxlan_gpe(flags: u8, next_protocol: u8) -> Result<()> {
    if flags & VXLAN_GPE_P == 0 {
        return Ok(());
    }
    let not_tenant = |what| Err(Error::new(Layer::Vxlan, ErrorKind::NotTenantFrame(what)));
    if flags & VXLAN_GPE_VERSION != 0 {
        return not_tenant("VXLAN-GPE version other than 0");
    }
    if flags & VXLAN_GPE_OAM != 0 {
        return not_tenant("VXLAN-GPE OAM packet");
    }
    if next_protocol != VXLAN_GPE_ETHERNET {
        return Err(Error::new(
            Layer::Vxlan,
            ErrorKind::NotEthernet(next_protocol),
        ));
    }
    Ok(())
}

/// What decapsulation rewrites in place.
struct Rewrite {
    /// Bytes of inner VLAN tags to strip.
    strip_len: usize,
    /// The inner IP header's new ECN, when it changes.
    ecn: Option<(InnerIp, Ecn)>,
}

impl InnerIp {
    /// Rewrites the ECN bits: in IPv6's traffic class (no checksum covers it), or in the
    /// IPv4 header with an incremental checksum update (RFC 1624), so a checksum that was
    /// wrong stays exactly as wrong.
    #[inline]
    fn set_ecn(self, frame: &mut [u8], ecn: Ecn) {
        // The header was validated where the decode found it: `get_mut` cannot fail.
        let Some(header) = frame.get_mut(self.at..) else {
            return;
        };
        if self.v6 {
            let mut packet = Ipv6Packet::new_unchecked(header);
            packet.set_dscp_ecn(packet.dscp(), ecn.bits());
            return;
        }
        // The fixed header as an array: its fields need no bounds checks.
        let Some(header) = header.first_chunk_mut::<{ ipv4::HEADER_LEN }>() else {
            return;
        };
        let mut packet = Ipv4Packet::new_unchecked(header);
        let old_word = u16::from_be_bytes([0x40 | packet.ihl(), packet.dscp() << 2 | packet.ecn()]);
        packet.set_dscp_ecn(packet.dscp(), ecn.bits());
        let new_word = old_word & !0x03 | u16::from(ecn.bits());
        let updated = checksum::update(packet.checksum(), old_word, new_word);
        packet.set_checksum(updated);
    }
}
