//! Writing the outer headers: the template copied and patched per layout, and what
//! follows it when the settings ask (the IPv4 ID, the UDP checksum).

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ops::Range;

use super::{Encapsulator, GENEVE_ONE_OPTION, Patch};
use crate::checksum;
use crate::tunnel::outer_rules::Rules;
use crate::tunnel::{NVGRE_OVERHEAD, NVGRE6_OVERHEAD, VXLAN_OVERHEAD, VXLAN6_OVERHEAD};
use crate::wire::ethernet;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::nvgre::NvgreHeader;
use crate::wire::udp::{self, UdpDatagram};
use crate::wire::vlan;

impl Encapsulator {
    /// The template's bytes `range` (inside it: the bounds of a layout).
    #[inline(always)]
    pub(in crate::tunnel) fn template(&self, range: Range<usize>) -> &[u8] {
        self.template.get(range).unwrap_or_default()
    }

    /// What follows the outer headers when the settings ask for it: without DF (IPv4
    /// only), the IPv4 ID (with its share of the checksum, `sum` being the rest of it;
    /// with DF the ID is the template's 0), and the VXLAN UDP checksum, over the
    /// encapsulated `frame`; under the rules of [`rules`](Self::rules).
    #[inline(always)]
    // Cannot overflow or index out of range: offsets of headers inside the encapsulated
    // frame.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(in crate::tunnel) fn finish<const N: usize, const DEFAULTS: bool>(
        &mut self,
        buf: &mut [u8],
        frame: Range<usize>,
        sum: u16,
    ) {
        let rules = self.rules::<N, DEFAULTS>();
        if rules.ident {
            let ip_at = frame.start + self.ip_offset;
            let mut ip = Ipv4Packet::new_unchecked(&mut buf[ip_at..ip_at + ipv4::HEADER_LEN]);
            let ident = self.ident.next();
            ip.set_ident(ident);
            ip.set_checksum(checksum::finish(checksum::combine(sum, ident)));
        }
        if rules.udp_checksum {
            let inner_at = frame.start + self.overhead;
            let l4 = frame.start + self.tunnel_at - udp::HEADER_LEN;
            let (headers, inner) = buf[..frame.end].split_at_mut(inner_at);
            let mut udp = UdpDatagram::new_unchecked(&mut headers[l4..]);
            let value = self.udp_checksum_for(udp.src_port(), udp.len(), inner);
            udp.set_checksum(value);
        }
    }

    /// The VXLAN UDP checksum of a packet from this source port, of this UDP length,
    /// around the `inner` frame: the template's share (summed once), the packet's fields
    /// (its length twice: in the pseudo-header and the UDP header) and the inner frame,
    /// which starts at an even offset from the UDP header. A computed 0 is sent as all
    /// ones (RFC 768).
    #[inline(always)]
    fn udp_checksum_for(&self, port: u16, udp_len: u16, inner: &[u8]) -> u16 {
        let fields = checksum::combine(port, checksum::combine(udp_len, udp_len));
        let sum = checksum::combine(self.udp_sum, fields);
        match checksum::finish(checksum::combine(sum, checksum::sum(inner))) {
            0 => 0xffff,
            value => value,
        }
    }

    /// Writes the `N`-byte outer headers just before `buf[inner_start..]`: the template,
    /// patched, under the rules of [`rules`](Self::rules).
    #[inline(always)]
    // Cannot overflow or index out of range: offsets of headers inside the template (74
    // bytes) or the checked buffer.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(super) fn write<const N: usize, const DEFAULTS: bool>(
        &self,
        buf: &mut [u8],
        inner_start: usize,
        patch: &Patch,
    ) {
        let rules = self.rules::<N, DEFAULTS>();
        // The N bytes before the inner frame's start, inside `buf`, and N is at most the
        // template's length: the early returns cannot happen. (Taken as the end of the
        // buffer before `inner_start`, they cost one bounds check: the headroom was
        // checked already.)
        let Some(header) = buf
            .get_mut(..inner_start)
            .and_then(|before| before.last_chunk_mut::<N>())
        else {
            return;
        };
        let Some(template) = self.template.first_chunk::<N>() else {
            return;
        };
        *header = *template;
        // N names the layout: IPv6 makes it 20 bytes longer, an outer tag 4, VXLAN 8.
        let v6 = N >= NVGRE6_OVERHEAD;
        let tagged = N == VXLAN_OVERHEAD + vlan::HEADER_LEN
            || N == NVGRE_OVERHEAD + vlan::HEADER_LEN
            || N == VXLAN6_OVERHEAD + vlan::HEADER_LEN
            || N == NVGRE6_OVERHEAD + vlan::HEADER_LEN;
        let vxlan = N == VXLAN_OVERHEAD
            || N == GENEVE_ONE_OPTION
            || N == VXLAN_OVERHEAD + vlan::HEADER_LEN
            || N == VXLAN6_OVERHEAD
            || N == VXLAN6_OVERHEAD + vlan::HEADER_LEN;
        let ip_at = if tagged {
            ethernet::HEADER_LEN + vlan::HEADER_LEN
        } else {
            ethernet::HEADER_LEN
        };
        let ip_header_len = if v6 {
            ipv6::HEADER_LEN
        } else {
            ipv4::HEADER_LEN
        };
        let (_, rest) = header.split_at_mut(ip_at);
        let (ip_header, l4) = rest.split_at_mut(ip_header_len);
        patch_ip(ip_header, v6, patch, &rules);
        if vxlan {
            let mut udp = UdpDatagram::new_unchecked(l4);
            udp.set_src_port(patch.hash.source_port(rules.source_ports));
            udp.set_len((patch.ip_len - ip_header_len) as u16);
        } else {
            NvgreHeader::new_unchecked(l4).set_flow_id(rules.flow_id.for_hash(patch.hash));
        }
    }

    /// Writes the outer headers at `buf[start..]`, the template patched, for any layout:
    /// Geneve with options, whose length no constant names.
    #[inline]
    // Cannot overflow or index out of range: offsets of headers inside the template and
    // the checked buffer.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(in crate::tunnel) fn write_any(&self, buf: &mut [u8], start: usize, patch: Patch) {
        let header = &mut buf[start..start + self.overhead];
        header.copy_from_slice(&self.template[..self.overhead]);
        let (ip_header, l4) = header[self.ip_offset..].split_at_mut(self.config.ip_header_len());
        patch_ip(ip_header, self.config.dst_ip.is_ipv6(), &patch, &self.rules);
        let mut udp = UdpDatagram::new_unchecked(l4);
        udp.set_src_port(patch.hash.source_port(self.rules.source_ports));
        udp.set_len((patch.ip_len - self.config.ip_header_len()) as u16);
    }
}

/// Patches the template's outer IP header `ip_header` (IPv6 if `v6`) with the packet's
/// fields: every layout's, fixed or not.
#[inline(always)]
// Cannot overflow: the IP length counts the IP header.
#[allow(clippy::arithmetic_side_effects)]
fn patch_ip(ip_header: &mut [u8], v6: bool, patch: &Patch, rules: &Rules) {
    if v6 {
        let label = rules.flow_label.for_hash(patch.hash);
        let mut ip = Ipv6Packet::new_unchecked(ip_header);
        ip.set_ver_tc_flow(6 << 28 | u32::from(patch.tos) << 20 | label);
        ip.set_payload_len((patch.ip_len - ipv6::HEADER_LEN) as u16);
    } else {
        let mut ip = Ipv4Packet::new_unchecked(ip_header);
        ip.set_dscp_ecn(patch.tos >> 2, patch.tos);
        ip.set_total_len(patch.ip_len as u16);
        ip.set_checksum(patch.checksum);
    }
}
