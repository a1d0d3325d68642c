//! Tunnel settings: what the outer headers carry.

use core::net::Ipv4Addr;

use super::TunnelKind;
use super::ecn::EcnMode;
use super::flow::PortRange;
use crate::wire::ethernet::MacAddr;
use crate::wire::ipv4::Ipv4Repr;
use crate::wire::nvgre::Vsid;
use crate::wire::vlan::VlanId;
use crate::wire::vxlan::{self, Vni};

/// The tunnel and its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    /// VXLAN with this VNI.
    Vxlan(Vni),
    /// NVGRE with this VSID.
    Nvgre(Vsid),
}

impl Encapsulation {
    /// VXLAN or NVGRE.
    pub const fn kind(self) -> TunnelKind {
        match self {
            Encapsulation::Vxlan(_) => TunnelKind::Vxlan,
            Encapsulation::Nvgre(_) => TunnelKind::Nvgre,
        }
    }
}

/// How the outer DSCP is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dscp {
    /// Always this value (6 bits).
    Fixed(u8),
    /// The inner IPv4 packet's DSCP (0 when the inner frame is not IPv4).
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
            vxlan_port: vxlan::PORT,
            source_ports: PortRange::DYNAMIC,
            udp_checksum: false,
            symmetric_hash: false,
            mtu: 1500,
        }
    }
}
