//! Translation of the common frame in straight-line code: VXLAN and NVGRE over IPv4
//! without options, an untagged inner frame (the express walk's shape), to VXLAN or
//! NVGRE. The outer Ethernet and IPv4 headers and the new tunnel header are built in one
//! array and land in one store; everything the general path checks is checked first, and
//! where anything would fail (or the shape or settings are rarer) nothing is written and
//! the general path runs, naming the error. The express walk's tests (`tunnel::express`)
//! hold the two to the same bytes.

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
    pub(in crate::tunnel) fn translate_express(
        &self,
        buf: &mut [u8],
        frame: Range<usize>,
        to: TunnelKind,
        policy: ReceivePolicy,
    ) -> Option<Range<usize>> {
        let bytes = buf.get(frame.clone())?;
        let received =
            self.decoder
                .express_common::<FlowKey>(bytes, policy, Depth::InnerTransport)?;
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
