//! VXLAN <-> NVGRE translation in place.
//!
//! The inner frame stays where it is. Only the outer Ethernet and IPv4 headers move, by
//! the difference between the two tunnel headers (VXLAN's UDP header: 8 bytes), plus
//! the inner VLAN tags when they are stripped. Translating to the same encapsulation
//! rewrites the outer headers the same way, so every output is a frame built by the
//! same rules (lengths consistent, source port or FlowID from the flow hash).

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ops::Range;

use super::config::{FlowId, check_vsid, check_vxlan_ports};
use super::decap::{Checksums, validate};
use super::flow::{FlowKey, PortRange};
use super::inner_vlan::{self, InnerVlanPolicy};
use super::layout::{Accepted, Received};
use super::{Encapsulation, TunnelKind};
use crate::checksum;
use crate::packet::{Decoder, Depth};
use crate::wire::ethernet;
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet};
use crate::wire::nvgre::{self, NvgreRepr, Vsid};
use crate::wire::udp::{self, UdpDatagram, UdpRepr};
use crate::wire::vxlan::{self, Vni, VxlanRepr};
use crate::{Error, ErrorKind, Layer, Result};

/// Translation settings: the VXLAN side's ports and checksum, the flow hash, and the
/// policies shared with encapsulation and decapsulation.
///
/// ```
/// use core::net::Ipv4Addr;
/// use tunnelwire::packet::{Decoder, TunnelKind};
/// use tunnelwire::tunnel::{Encapsulator, FlowId, Translator, TunnelConfig, HEADROOM};
/// use tunnelwire::wire::Vni;
///
/// let mut buf = [0u8; HEADROOM + 60];
/// let config = TunnelConfig::vxlan(Vni::new(4242)?, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
/// let vxlan = Encapsulator::new(config)?.encapsulate(&mut buf, HEADROOM..HEADROOM + 60)?;
///
/// // To a Linux gretap peer with `key 0x109200`: VSID 4242, FlowID 0.
/// let translator = Translator { flow_id: FlowId::Fixed(0), ..Translator::default() };
/// let nvgre = translator.translate(&mut buf, vxlan, TunnelKind::Nvgre)?;
/// assert_eq!(nvgre.len(), 42 + 60);
/// let decoded = Decoder::new().decode(&buf[nvgre])?;
/// assert_eq!(decoded.tunnel.map(|t| t.segment()), Some(4242));
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translator {
    /// Recognises tunnel frames: VXLAN ports, reserved-bits policy.
    pub decoder: Decoder,
    /// Checksum verification of received frames, as for decapsulation: a frame whose
    /// outer IPv4 or non-zero UDP checksum is wrong is refused, so translating to NVGRE
    /// (which has no checksum) cannot launder corruption. Default: verify.
    pub checksums: Checksums,
    /// VXLAN destination port of translated frames. Default 4789.
    pub vxlan_port: u16,
    /// VXLAN source ports, by flow hash. Default 49152-65535.
    pub source_ports: PortRange,
    /// Compute the UDP checksum of new VXLAN frames. Default off.
    pub udp_checksum: bool,
    /// Hash both directions of a flow alike. Default off.
    pub symmetric_hash: bool,
    /// NVGRE FlowID of translated frames. Default from the flow hash.
    pub flow_id: FlowId,
    /// Inner VLAN tags. Default strip (RFC 7637 section 3.2, RFC 7348 section 6.1);
    /// `Keep` is refused towards NVGRE.
    pub inner_vlan: InnerVlanPolicy,
    /// Underlay MTU: translation fails when the packet would exceed it. Default 1500.
    pub mtu: u16,
}

impl Default for Translator {
    fn default() -> Self {
        Translator {
            decoder: Decoder::default(),
            checksums: Checksums::Verify,
            vxlan_port: vxlan::PORT,
            source_ports: PortRange::DYNAMIC,
            udp_checksum: false,
            symmetric_hash: false,
            flow_id: FlowId::Hash,
            inner_vlan: InnerVlanPolicy::Strip,
            mtu: 1500,
        }
    }
}

/// Bytes of the tunnel header (and UDP for VXLAN) between the outer IPv4 header and the
/// inner frame.
const fn tunnel_len(kind: TunnelKind) -> usize {
    match kind {
        TunnelKind::Vxlan => udp::HEADER_LEN + vxlan::HEADER_LEN,
        TunnelKind::Nvgre => nvgre::HEADER_LEN,
    }
}

impl Translator {
    /// Rewrites the VXLAN or NVGRE frame at `buf[frame]` as the `to` encapsulation, in
    /// place, and returns its new range. Outer addresses, TTL, DSCP/ECN, ID and options
    /// are kept; VNI = VSID; the FlowID or source port comes from the inner flow's hash.
    /// NVGRE -> VXLAN needs 8 bytes of headroom before `frame.start`. Ethernet padding
    /// after the outer IPv4 packet is dropped. The frame passes the same checks as for
    /// decapsulation first.
    ///
    /// # Errors
    /// As [`Decapsulator::decapsulate`](super::Decapsulator::decapsulate) for the frame's
    /// checks; `ReservedVsid` for a VNI that is a reserved VSID when translating to NVGRE
    /// (RFC 7637 section 3.2: such a frame is dropped, not given a made-up VSID);
    /// `InnerVlanTag` for inner tags the policy refuses (or `Keep` towards NVGRE);
    /// `OutOfRange` for settings that cannot be sent (VXLAN port 0, a source port range
    /// containing 0); `Headroom`; `ExceedsMtu`.
    // Always inlined, like `Decoder::decode`: a per-packet entry point belongs in the
    // caller's loop, where its result stays in registers and the caller's constants fold
    // (measured: 37 to 98 fewer instructions per packet than a call). A caller that wants
    // one copy of it wraps it in a function of its own.
    #[inline(always)]
    // Cannot overflow or index out of range: offsets of headers inside the checked frame
    // and its headroom.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub fn translate(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
        to: TunnelKind,
    ) -> Result<Range<usize>> {
        check_vxlan_ports(self.vxlan_port, self.source_ports)?;
        let Some(bytes) = buf.get(frame.clone()) else {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::RangeOutsideBuffer {
                    end: frame.end,
                    len: buf.len(),
                },
            ));
        };
        let mut received = Received::<FlowKey> {
            checksums: self.checksums,
            ..Received::default()
        };
        let error = self
            .decoder
            .walk(bytes, &mut received, Depth::InnerTransport)
            .err();
        let Accepted {
            tunnel,
            ip,
            inner_len,
        } = validate(&received, error)?;
        let inner = received.inner;
        let key = inner.also;
        let hash = key.hash_as(self.symmetric_hash);
        // The segment as both kinds name it (the same 24 bits, no check needed).
        let (vni, vsid) = match tunnel.encapsulation() {
            Encapsulation::Vxlan(vni) => (vni, Vsid::from(vni)),
            Encapsulation::Nvgre(vsid) => (Vni::from(vsid), vsid),
        };
        if to == TunnelKind::Nvgre {
            check_vsid(vsid)?;
            // RFC 7637 section 3.2: NVGRE carries no inner tags; a frame that would keep
            // them is refused, as decapsulation refuses a tagged NVGRE payload.
            // A TPID whose tag is cut short counts: the far end would drop it as tagged.
            let tagged = inner.tags.any();
            if self.inner_vlan == InnerVlanPolicy::Keep && tagged {
                return Err(Error::new(Layer::Tunnel, ErrorKind::InnerVlanTag));
            }
        }
        let strip_len = self.inner_vlan.strip_len(inner.tags)?;
        let header_len = ip.header_len();
        let inner_at = frame.start + inner.offset;
        let l4 = inner.offset - tunnel_len(tunnel.kind());
        let end = inner_at + inner_len;

        // Everything is checked before the first byte moves: an error leaves the frame
        // as it was.
        let inner_start = inner_at + strip_len;
        let new_l4 = inner_start - tunnel_len(to);
        let total = header_len + tunnel_len(to) + (end - inner_start);
        if total > usize::from(self.mtu) {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::ExceedsMtu {
                    len: total,
                    mtu: self.mtu,
                },
            ));
        }
        let Some(start) = new_l4.checked_sub(l4) else {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::Headroom {
                    needed: frame.start + l4 - new_l4,
                    available: frame.start,
                },
            ));
        };
        let protocol = match to {
            TunnelKind::Vxlan => IpProtocol::UDP,
            TunnelKind::Nvgre => IpProtocol::GRE,
        };
        let rewrite = Ipv4Rewrite::new(&ip, protocol, total);
        let (src, dst) = (rewrite.src, rewrite.dst);
        inner_vlan::strip(buf, inner_at, strip_len);
        move_outer_headers(buf, frame.start, start, l4);
        rewrite.apply(&mut buf[start + l4 - header_len..]);
        match to {
            TunnelKind::Nvgre => {
                let flow_id = self.flow_id.for_hash(hash);
                put::<{ nvgre::HEADER_LEN }>(buf, new_l4, |h| {
                    NvgreRepr::new(vsid, flow_id).emit(h)
                })?;
            }
            TunnelKind::Vxlan => {
                let payload_len = (vxlan::HEADER_LEN + end - inner_start) as u16;
                let port = hash.source_port(self.source_ports);
                put::<{ udp::HEADER_LEN + vxlan::HEADER_LEN }>(buf, new_l4, |h| {
                    let (udp_header, vxlan_header) = h.split_at_mut(udp::HEADER_LEN);
                    UdpRepr::new(port, self.vxlan_port, payload_len).emit(udp_header)?;
                    VxlanRepr::new(vni).emit(vxlan_header)
                })?;
                if self.udp_checksum {
                    UdpDatagram::new_unchecked(&mut buf[new_l4..end]).fill_checksum(src, dst);
                }
            }
        }
        Ok(start..end)
    }
}

/// Writes the `N`-byte header that `emit` builds at `buf[at..]`. It is built in a local
/// array first: its length is a constant, so the field writes need no bounds checks, and
/// it lands in one move.
#[inline(always)]
fn put<const N: usize>(
    buf: &mut [u8],
    at: usize,
    emit: impl FnOnce(&mut [u8; N]) -> Result<()>,
) -> Result<()> {
    let mut header = [0u8; N];
    emit(&mut header)?;
    let room = buf.len().saturating_sub(at);
    let Some(target) = buf
        .get_mut(at..)
        .and_then(|rest| rest.first_chunk_mut::<N>())
    else {
        return Err(Error::new(
            Layer::Tunnel,
            ErrorKind::BufferTooSmall {
                needed: N,
                available: room,
            },
        ));
    };
    *target = header;
    Ok(())
}

/// Moves the `len` bytes of outer Ethernet and IPv4 headers at `buf[from..]` to
/// `buf[to..]`. The common shape (untagged, no IPv4 options: 34 bytes) is a move of a
/// constant size, a few register copies instead of a `memmove` call.
#[inline(always)]
// Cannot overflow or index out of range: offsets of headers inside the checked frame and
// its headroom.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn move_outer_headers(buf: &mut [u8], from: usize, to: usize, len: usize) {
    const COMMON: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
    if len == COMMON {
        // Taken as the first 34 bytes from each offset: no sum to overflow-check.
        if let Some(&headers) = buf.get(from..).and_then(|b| b.first_chunk::<COMMON>()) {
            if let Some(moved) = buf.get_mut(to..).and_then(|b| b.first_chunk_mut()) {
                *moved = headers;
                return;
            }
        }
    }
    buf.copy_within(from..from + len, to);
}

/// The new protocol, total length and checksum of the outer IPv4 header, worked out from
/// the header before it moves. The checksum is updated incrementally (RFC 1624), so a
/// wrong checksum stays exactly as wrong.
struct Ipv4Rewrite {
    protocol: IpProtocol,
    total_len: u16,
    checksum: u16,
    src: core::net::Ipv4Addr,
    dst: core::net::Ipv4Addr,
}

impl Ipv4Rewrite {
    #[inline(always)]
    fn new(ip: &Ipv4Packet<&[u8]>, protocol: IpProtocol, total_len: usize) -> Self {
        let total_len = total_len as u16;
        let ttl = ip.ttl();
        let sum = checksum::update(ip.checksum(), ip.total_len(), total_len);
        let old_word = u16::from_be_bytes([ttl, ip.protocol().0]);
        let checksum = checksum::update(sum, old_word, u16::from_be_bytes([ttl, protocol.0]));
        Ipv4Rewrite {
            protocol,
            total_len,
            checksum,
            src: ip.src_addr(),
            dst: ip.dst_addr(),
        }
    }

    /// Writes the fields into the moved header, without reading it back: a load right
    /// after the block move would stall on store forwarding.
    #[inline(always)]
    fn apply(&self, ip: &mut [u8]) {
        // The fixed header as an array: its fields' offsets need no bounds checks. The
        // header was moved there whole, so it is always there.
        let Some(header) = ip.first_chunk_mut::<{ ipv4::HEADER_LEN }>() else {
            return;
        };
        let mut packet = Ipv4Packet::new_unchecked(header);
        packet.set_total_len(self.total_len);
        packet.set_protocol(self.protocol);
        packet.set_checksum(self.checksum);
    }
}
