//! The settings that make per-packet outer fields, each settled once into a rule that
//! costs a mask and an OR per packet: the TOS byte (or IPv6 traffic class), the NVGRE
//! FlowID and the IPv6 flow label; and [`Rules`], every setting encapsulation reads per
//! packet, settled together so that the default ones can be compiled in as constants.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::config::{Dscp, FlowId, FlowLabel, TunnelConfig};
use super::ecn::EcnMode;
use super::flow::{FlowHash, PortRange};
use super::inner_vlan::InnerVlanPolicy;
use crate::packet::Encapsulation;
use crate::wire::Vni;
use crate::wire::nvgre::Vsid;

/// Every setting encapsulation reads per packet, settled: what the outer fields are made
/// of, how the flow is hashed, what becomes of inner tags, and the work after the headers
/// are written. Two encapsulators with equal rules run the same per-packet code for the
/// same layout; the addresses, MACs, segment, TTL, ports and MTU live in the template
/// and the bounds, read per packet whatever the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rules {
    /// The outer TOS byte or IPv6 traffic class.
    pub tos: OuterTos,
    /// The NVGRE FlowID.
    pub flow_id: FlowIdRule,
    /// The IPv6 flow label.
    pub flow_label: FlowLabelRule,
    /// The VXLAN and Geneve UDP source ports.
    pub source_ports: PortRange,
    /// Both directions of a flow hash alike.
    pub symmetric_hash: bool,
    /// Inner tags.
    pub inner_vlan: InnerVlanPolicy,
    /// Each packet takes an IPv4 ID from the counter: DF clear over IPv4 (with DF set,
    /// or over IPv6, the template's 0 stands).
    pub ident: bool,
    /// The VXLAN or Geneve UDP checksum is computed (not sent as zero).
    pub udp_checksum: bool,
}

impl Rules {
    /// The rules of `config`.
    pub(super) const fn new(config: &TunnelConfig) -> Self {
        let udp = !matches!(config.encapsulation, Encapsulation::Nvgre(_));
        let v6 = config.dst_ip.is_ipv6();
        Rules {
            tos: OuterTos::new(config.dscp, config.ecn),
            flow_id: FlowIdRule::new(config.flow_id),
            flow_label: FlowLabelRule::new(config.flow_label),
            source_ports: config.source_ports,
            symmetric_hash: config.symmetric_hash,
            inner_vlan: config.inner_vlan,
            ident: !config.dont_frag && !v6,
            udp_checksum: udp
                && if v6 {
                    !config.udp6_zero_checksum_tx
                } else {
                    config.udp_checksum
                },
        }
    }

    /// The rules of the default settings ([`TunnelConfig::new`]) for a tunnel over IPv6
    /// or IPv4, on UDP (VXLAN, Geneve) or GRE (NVGRE): they depend on nothing else, not
    /// the segment, the addresses or the options.
    pub(super) const fn defaults(v6: bool, udp: bool) -> Self {
        // Any segment: the rules do not read it.
        const VNI: Vni = match Vni::new(0) {
            Ok(vni) => vni,
            Err(_) => panic!("0 is a VNI"),
        };
        const VSID: Vsid = match Vsid::new(0) {
            Ok(vsid) => vsid,
            Err(_) => panic!("0 is a VSID"),
        };
        let encapsulation = if udp {
            Encapsulation::Vxlan(VNI)
        } else {
            Encapsulation::Nvgre(VSID)
        };
        let address = if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        Rules::new(&TunnelConfig::new(encapsulation, address, address))
    }
}

/// The outer TOS byte's rule, [`Dscp`] and [`EcnMode`] settled once: the bits it takes
/// from the inner TOS (or traffic class) and the bits it sets. An inner frame that is not
/// IP counts as TOS 0: DSCP 0 under `CopyInner`, Not-ECT (RFC 6040 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OuterTos {
    /// Bits set whatever the inner frame: a fixed DSCP.
    fixed: u8,
    /// Bits copied from the inner TOS: its DSCP under `CopyInner`, its ECN in normal mode.
    copied: u8,
}

impl OuterTos {
    pub(super) const fn new(dscp: Dscp, ecn: EcnMode) -> Self {
        let (fixed, copied_dscp) = match dscp {
            Dscp::Fixed(dscp) => (dscp << 2, 0),
            Dscp::CopyInner => (0, 0xfc),
        };
        let copied_ecn = match ecn {
            EcnMode::Normal => 0x03,
            EcnMode::Compatibility => 0,
        };
        OuterTos {
            fixed,
            copied: copied_dscp | copied_ecn,
        }
    }

    /// The outer TOS for an inner one.
    #[inline(always)]
    pub(super) fn apply(self, inner_tos: u8) -> u8 {
        self.fixed | inner_tos & self.copied
    }
}

/// The NVGRE FlowID's rule, [`FlowId`] settled once: the hash's FlowID bits it takes,
/// and the bits it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FlowIdRule {
    /// Bits set whatever the flow: a fixed FlowID.
    fixed: u8,
    /// Bits taken from the flow hash's FlowID: all of them under `FlowId::Hash`.
    hashed: u8,
}

impl FlowIdRule {
    pub(super) const fn new(flow_id: FlowId) -> Self {
        match flow_id {
            FlowId::Hash => FlowIdRule {
                fixed: 0,
                hashed: 0xff,
            },
            FlowId::Fixed(id) => FlowIdRule {
                fixed: id,
                hashed: 0,
            },
        }
    }

    /// The FlowID for a flow with this hash.
    #[inline(always)]
    pub(super) fn for_hash(self, hash: FlowHash) -> u8 {
        self.fixed | hash.flow_id() & self.hashed
    }
}

/// The IPv6 flow label's rule, [`FlowLabel`] settled once, as [`FlowIdRule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FlowLabelRule {
    /// Bits set whatever the flow: a fixed label.
    fixed: u32,
    /// Bits taken from the flow hash's label: all 20 under `FlowLabel::Hash`.
    hashed: u32,
}

impl FlowLabelRule {
    pub(super) const fn new(flow_label: FlowLabel) -> Self {
        match flow_label {
            FlowLabel::Hash => FlowLabelRule {
                fixed: 0,
                hashed: FlowHash::FLOW_LABEL_MASK,
            },
            FlowLabel::Fixed(label) => FlowLabelRule {
                fixed: label,
                hashed: 0,
            },
        }
    }

    /// The flow label for a flow with this hash.
    #[inline(always)]
    pub(super) fn for_hash(self, hash: FlowHash) -> u32 {
        self.fixed | hash.flow_label() & self.hashed
    }
}
