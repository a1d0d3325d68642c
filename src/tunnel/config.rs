//! Tunnel settings: what the outer headers carry.

use core::net::Ipv4Addr;

use super::ecn::EcnMode;
use super::flow::PortRange;
use super::inner_vlan::{InnerVlanPolicy, NVGRE_KEEPS_NO_TAGS};
use crate::packet::Encapsulation;
use crate::wire::ethernet::MacAddr;
use crate::wire::ipv4::Ipv4Repr;
use crate::wire::nvgre::{self, Vsid};
use crate::wire::vlan::VlanId;
use crate::wire::vxlan::{self, Vni};
use crate::wire::{ethernet, ipv4, udp};
use crate::{Error, ErrorKind, Layer, Result};

/// The NVGRE FlowID (RFC 7637 section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FlowId {
    /// From the inner flow's hash, for ECMP in the underlay. The default.
    #[default]
    Hash,
    /// Always this value. RFC 7637 section 3.2: a FlowID that is not generated MUST be
    /// zero, so `Fixed(0)` is the RFC's choice; any other value is a deliberate
    /// deviation, for peers that need it. Linux's `gretap` device compares the whole
    /// 32-bit GRE key: to talk to `ip link add NAME type gretap key K` use VSID `K >> 8`
    /// and `Fixed(K & 0xff)` (best, a key whose low byte is 0).
    Fixed(u8),
}

impl FlowId {
    /// The FlowID for a flow with this hash.
    #[inline]
    pub const fn for_hash(self, hash: super::FlowHash) -> u8 {
        match self {
            FlowId::Hash => hash.flow_id(),
            FlowId::Fixed(id) => id,
        }
    }
}

/// How the outer DSCP is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dscp {
    /// Always this value (6 bits).
    Fixed(u8),
    /// The inner IPv4 or IPv6 packet's DSCP (0 when the inner frame is not IP).
    CopyInner,
}

/// An 802.1Q tag on the outer Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OuterVlan {
    /// VLAN ID.
    pub vid: VlanId,
    /// Priority code point (0..=7).
    pub pcp: u8,
}

/// Everything the outer headers carry. Build with [`TunnelConfig::vxlan`] or
/// [`TunnelConfig::nvgre`], then adjust the public fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelConfig {
    /// VXLAN VNI or NVGRE VSID.
    pub encapsulation: Encapsulation,
    /// Outer source MAC. Default 00:00:00:00:00:00: set it (a VTEP's own address).
    pub src_mac: MacAddr,
    /// Outer destination MAC (the next hop). Default 00:00:00:00:00:00.
    pub dst_mac: MacAddr,
    /// An outer 802.1Q tag. Default none.
    pub outer_vlan: Option<OuterVlan>,
    /// Outer source address: this VTEP.
    pub src_ip: Ipv4Addr,
    /// Outer destination address: the remote VTEP.
    pub dst_ip: Ipv4Addr,
    /// Outer TTL. Default 64.
    pub ttl: u8,
    /// Outer DF bit. Default set: VTEPs must not fragment (RFC 7348 section 4.3).
    pub dont_frag: bool,
    /// Outer DSCP. Default `Fixed(0)`.
    pub dscp: Dscp,
    /// Outer ECN (RFC 6040). Default normal mode: copied from the inner packet.
    pub ecn: EcnMode,
    /// NVGRE FlowID. Default from the flow hash.
    pub flow_id: FlowId,
    /// Inner 802.1Q/802.1ad tags. Default strip: RFC 7637 section 3.2 (MUST remove) and
    /// RFC 7348 section 6.1 (SHOULD NOT include). `Keep` is refused for NVGRE.
    pub inner_vlan: InnerVlanPolicy,
    /// VXLAN UDP destination port. Default 4789.
    pub vxlan_port: u16,
    /// VXLAN UDP source ports, chosen by flow hash. Default 49152-65535.
    pub source_ports: PortRange,
    /// Compute the VXLAN UDP checksum. Default off: sent as zero (RFC 7348 section 5).
    pub udp_checksum: bool,
    /// Hash both directions of a flow alike. Default off.
    pub symmetric_hash: bool,
    /// Underlay MTU: the largest outer IPv4 packet. Default 1500.
    pub mtu: u16,
}

impl TunnelConfig {
    /// VXLAN from `src_ip` to `dst_ip` with the documented defaults.
    pub const fn vxlan(vni: Vni, src_ip: Ipv4Addr, dst_ip: Ipv4Addr) -> Self {
        Self::new(Encapsulation::Vxlan(vni), src_ip, dst_ip)
    }

    /// NVGRE from `src_ip` to `dst_ip` with the documented defaults.
    pub const fn nvgre(vsid: Vsid, src_ip: Ipv4Addr, dst_ip: Ipv4Addr) -> Self {
        Self::new(Encapsulation::Nvgre(vsid), src_ip, dst_ip)
    }

    const fn new(encapsulation: Encapsulation, src_ip: Ipv4Addr, dst_ip: Ipv4Addr) -> Self {
        TunnelConfig {
            encapsulation,
            src_mac: MacAddr([0; 6]),
            dst_mac: MacAddr([0; 6]),
            outer_vlan: None,
            src_ip,
            dst_ip,
            ttl: Ipv4Repr::DEFAULT_TTL,
            dont_frag: true,
            dscp: Dscp::Fixed(0),
            ecn: EcnMode::Normal,
            flow_id: FlowId::Hash,
            inner_vlan: InnerVlanPolicy::Strip,
            vxlan_port: vxlan::PORT,
            source_ports: PortRange::DYNAMIC,
            udp_checksum: false,
            symmetric_hash: false,
            mtu: 1500,
        }
    }
}

/// Fails unless `address` can be the source of tunnel packets (RFC 1122 section
/// 3.2.1.3): not in 0/8 ("this network"), 127/8 (loopback), 224/4 (multicast) or 240/4
/// (reserved, with the limited broadcast address).
#[inline]
pub(crate) fn check_endpoint(field: &'static str, address: Ipv4Addr) -> Result<()> {
    let first_octet = address.octets()[0];
    // 0 and 224..=255 are one range once 1 is taken away (0 wraps to 255): one compare.
    if first_octet.wrapping_sub(1) >= 223 || first_octet == 127 {
        return Err(Error::new(
            Layer::Tunnel,
            ErrorKind::BadAddress { field, address },
        ));
    }
    Ok(())
}

/// Fails for VXLAN port 0 or a source port range that contains 0.
pub(crate) const fn check_vxlan_ports(port: u16, source_ports: PortRange) -> Result<()> {
    if port == 0 {
        return Err(out_of_range("VXLAN port", 0));
    }
    if source_ports.lo() == 0 {
        return Err(out_of_range("source port range low end", 0));
    }
    Ok(())
}

/// An `OutOfRange` error of the tunnel settings.
pub(crate) const fn out_of_range(field: &'static str, value: u32) -> Error {
    Error::new(Layer::Tunnel, ErrorKind::OutOfRange { field, value })
}

/// Fails for a VSID RFC 7637 reserves: it names no tenant's virtual subnet.
pub(crate) const fn check_vsid(vsid: Vsid) -> Result<()> {
    if vsid.is_reserved() {
        return Err(Error::new(
            Layer::Tunnel,
            ErrorKind::ReservedVsid(vsid.get()),
        ));
    }
    Ok(())
}

impl TunnelConfig {
    /// Checks every setting a packet would carry.
    ///
    /// # Errors
    /// `OutOfRange` naming the field: TTL 0, a fixed DSCP over 63, an outer VID of 0 or
    /// 4095, an outer PCP over 7, VXLAN port 0, a source port range containing 0, an MTU
    /// too small for the outer headers and an Ethernet header; `Unsupported` for `Keep`
    /// on NVGRE's inner tags; `BadAddress` for a source in 0/8, 127/8, multicast or
    /// 240/4, or a destination in 0/8 (a multicast destination is fine: RFC 7348 section
    /// 4.2 floods to a group); `ReservedVsid` for a reserved VSID.
    pub fn validate(&self) -> Result<()> {
        check_endpoint("source address", self.src_ip)?;
        if u32::from(self.dst_ip) >> 24 == 0 {
            return Err(Error::new(
                Layer::Tunnel,
                ErrorKind::BadAddress {
                    field: "destination address",
                    address: self.dst_ip,
                },
            ));
        }
        if self.ttl == 0 {
            return Err(out_of_range("TTL", 0));
        }
        if let Dscp::Fixed(dscp @ 64..) = self.dscp {
            return Err(out_of_range("DSCP", u32::from(dscp)));
        }
        if let Some(tag) = self.outer_vlan {
            if !tag.vid.is_usable() {
                return Err(out_of_range("outer VLAN ID", u32::from(tag.vid.get())));
            }
            if tag.pcp > 7 {
                return Err(out_of_range("outer VLAN PCP", u32::from(tag.pcp)));
            }
        }
        let tunnel_len = match self.encapsulation {
            Encapsulation::Vxlan(_) => udp::HEADER_LEN + vxlan::HEADER_LEN,
            Encapsulation::Nvgre(_) => nvgre::HEADER_LEN,
        };
        if usize::from(self.mtu) < ipv4::HEADER_LEN + tunnel_len + ethernet::HEADER_LEN {
            return Err(out_of_range("MTU", u32::from(self.mtu)));
        }
        match self.encapsulation {
            Encapsulation::Vxlan(_) => check_vxlan_ports(self.vxlan_port, self.source_ports)?,
            Encapsulation::Nvgre(vsid) => {
                check_vsid(vsid)?;
                if self.inner_vlan == InnerVlanPolicy::Keep {
                    return Err(NVGRE_KEEPS_NO_TAGS);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_refused_exactly_in_0_127_and_224_to_255() {
        for first in 0..=u8::MAX {
            let martian = first == 0 || first == 127 || first >= 224;
            let address = Ipv4Addr::new(first, 1, 2, 3);
            assert_eq!(
                check_endpoint("test", address).is_err(),
                martian,
                "{address}"
            );
        }
    }
}
