//! VXLAN <-> NVGRE translation in place.
//!
//! The inner frame stays where it is. VXLAN's outer headers are 8 bytes longer than
//! NVGRE's (UDP), so only the outer Ethernet and IPv4 headers move: 8 bytes towards the
//! inner frame for VXLAN -> NVGRE, 8 bytes into headroom for NVGRE -> VXLAN.

use core::ops::Range;

use super::TunnelKind;
use super::flow::{FlowKey, PortRange};
use crate::checksum;
use crate::packet::{Decoder, Frame, Tunnel};
use crate::wire::ipv4::{IpProtocol, Ipv4Packet};
use crate::wire::nvgre::{self, NvgreRepr, Vsid};
use crate::wire::udp::{self, UdpDatagram, UdpRepr};
use crate::wire::vxlan::{self, Vni, VxlanRepr};
use crate::{Error, ErrorKind, Layer, Result};

/// Bytes VXLAN's outer headers add over NVGRE's: the UDP header.
const GROWTH: usize = udp::HEADER_LEN;

/// Translation settings: the VXLAN side's ports and checksum, and the flow hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translator {
    /// Recognises tunnel frames: VXLAN ports, reserved-bits policy.
    pub decoder: Decoder,
    /// VXLAN destination port of translated frames. Default 4789.
    pub vxlan_port: u16,
    /// VXLAN source ports, by flow hash. Default 49152-65535.
    pub source_ports: PortRange,
    /// Compute the UDP checksum of new VXLAN frames. Default off.
    pub udp_checksum: bool,
    /// Hash both directions of a flow alike. Default off.
    pub symmetric_hash: bool,
    /// Underlay MTU: NVGRE -> VXLAN fails when the packet would exceed it. Default 1500.
    pub mtu: u16,
}

impl Default for Translator {
    fn default() -> Self {
        Translator {
            decoder: Decoder::default(),
            vxlan_port: vxlan::PORT,
            source_ports: PortRange::DYNAMIC,
            udp_checksum: false,
            symmetric_hash: false,
            mtu: 1500,
        }
    }
}

impl Translator {
    /// Rewrites the VXLAN or NVGRE frame at `buf[frame]` as the `to` encapsulation, in
    /// place, and returns its new range. Outer addresses, TTL, DSCP/ECN and options are
    /// kept; VNI = VSID; the FlowID or source port comes from the inner flow's hash.
    /// NVGRE -> VXLAN needs 8 bytes of headroom before `frame.start`. Ethernet padding
    /// after the outer IPv4 packet is dropped.
    ///
    /// # Errors
    /// A malformed outer or tunnel header; `NotTunnel`; `Headroom`; `ExceedsMtu`.
    #[inline]
    pub fn translate(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
        to: TunnelKind,
    ) -> Result<Range<usize>> {
        let Some(bytes) = buf.get(frame.clone()) else {
            return Err(Error::truncated(Layer::Tunnel, frame.end, buf.len()));
        };
        let mut decoded = Frame::default();
        let error = self.decoder.fill(bytes, &mut decoded).err();
        let (Some(tunnel), Some(ip)) = (decoded.tunnel, decoded.outer.ipv4) else {
            return Err(super::no_tunnel(&decoded, error));
        };
        let key = FlowKey::from_stack(&decoded.inner);
        let hash = if self.symmetric_hash {
            key.symmetric()
        } else {
            key
        }
        .hash();
        let segment = tunnel.segment();
        let (from, inner_len, l4) = match tunnel {
            Tunnel::Vxlan(h) => (
                TunnelKind::Vxlan,
                h.payload().len(),
                decoded.tunnel_offset - udp::HEADER_LEN,
            ),
            Tunnel::Nvgre(h) => (TunnelKind::Nvgre, h.payload().len(), decoded.tunnel_offset),
        };
        let header_len = ip.header_len();
        let ip_at = l4 - header_len;
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let end = frame.start + decoded.inner.offset + inner_len;
        let l4 = frame.start + l4;
        match (from, to) {
            (TunnelKind::Vxlan, TunnelKind::Vxlan) | (TunnelKind::Nvgre, TunnelKind::Nvgre) => {
                Ok(frame.start..end)
            }
            (TunnelKind::Vxlan, TunnelKind::Nvgre) => {
                let start = frame.start + GROWTH;
                let total = header_len + nvgre::HEADER_LEN + inner_len;
                let rewrite = Ipv4Rewrite::new(&ip, IpProtocol::GRE, total);
                buf.copy_within(frame.start..l4, start);
                rewrite.apply(&mut buf[start + ip_at..]);
                // Checked at decode: the VNI has 24 bits, as a VSID does.
                let vsid = Vsid::new(segment)?;
                NvgreRepr::new(vsid, hash.flow_id()).emit(&mut buf[l4 + GROWTH..])?;
                Ok(start..end)
            }
            (TunnelKind::Nvgre, TunnelKind::Vxlan) => {
                let start = frame.start.checked_sub(GROWTH).ok_or(Error::new(
                    Layer::Tunnel,
                    ErrorKind::Headroom {
                        needed: GROWTH,
                        available: frame.start,
                    },
                ))?;
                let total = header_len + udp::HEADER_LEN + vxlan::HEADER_LEN + inner_len;
                if total > usize::from(self.mtu) {
                    return Err(Error::new(
                        Layer::Tunnel,
                        ErrorKind::ExceedsMtu {
                            len: total,
                            mtu: self.mtu,
                        },
                    ));
                }
                let rewrite = Ipv4Rewrite::new(&ip, IpProtocol::UDP, total);
                buf.copy_within(frame.start..l4, start);
                rewrite.apply(&mut buf[start + ip_at..]);
                let udp_at = l4 - GROWTH;
                let udp_len = (udp::HEADER_LEN + vxlan::HEADER_LEN + inner_len) as u16;
                let port = hash.source_port(self.source_ports);
                UdpRepr::new(port, self.vxlan_port, udp_len - udp::HEADER_LEN as u16)
                    .emit(&mut buf[udp_at..])?;
                VxlanRepr::new(Vni::new(segment)?).emit(&mut buf[l4..])?;
                if self.udp_checksum {
                    UdpDatagram::new_unchecked(&mut buf[udp_at..end]).fill_checksum(src, dst);
                }
                Ok(start..end)
            }
        }
    }
}

/// The new protocol, total length and checksum of the outer IPv4 header, worked out from
/// the header before it moves. The checksum is updated incrementally (RFC 1624), so a
/// wrong checksum stays exactly as wrong.
struct Ipv4Rewrite {
    protocol: IpProtocol,
    total_len: u16,
    checksum: u16,
}

impl Ipv4Rewrite {
    #[inline]
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
        }
    }

    /// Writes the fields into the moved header, without reading it back: a load right
    /// after the block move would stall on store forwarding.
    #[inline]
    fn apply(&self, ip: &mut [u8]) {
        let mut packet = Ipv4Packet::new_unchecked(ip);
        packet.set_total_len(self.total_len);
        packet.set_protocol(self.protocol);
        packet.set_checksum(self.checksum);
    }
}
