//! Tunnel settings: what the outer headers carry.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ecn::EcnMode;
use super::flow::PortRange;
use super::inner_vlan::{InnerVlanPolicy, NVGRE_KEEPS_NO_TAGS};
use crate::packet::Encapsulation;
use crate::wire::ethernet::MacAddr;
use crate::wire::geneve::{self, GeneveOptions};
use crate::wire::ipv4::Ipv4Repr;
use crate::wire::nvgre::{self, Vsid};
use crate::wire::vlan::VlanId;
use crate::wire::vxlan::{self, Vni};
use crate::wire::{ethernet, ipv4, ipv6, udp};
use crate::{AddressField, Error, ErrorKind, Layer, Result};

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

/// The outer IPv6 flow label (RFC 6437).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FlowLabel {
    /// From the inner flow's hash, for ECMP in the underlay (RFC 6438 section 3): every
    /// packet of a flow carries the same label, and flows spread over the 20 bits. The
    /// default.
    #[default]
    Hash,
    /// Always this value (20 bits); `Fixed(0)` sends no label.
    Fixed(u32),
}

/// Which addresses may be a tunnel's end: the source of what is sent, and the outer
/// source of what is received. One policy for whole frames and socket payloads alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SourcePolicy {
    /// Only addresses that can be a VTEP: not unspecified ("this network" 0/8 for
    /// IPv4), loopback, multicast, broadcast (IPv4 240/4) or IPv4-mapped (IPv6). The
    /// default.
    #[default]
    RoutableOnly,
    /// As `RoutableOnly`, but loopback (127/8, ::1) is a VTEP too: tests and set-ups on
    /// one host, where both ends talk over `lo`.
    AllowLoopback,
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

/// Everything the outer headers carry. Build with [`TunnelConfig::vxlan`],
/// [`TunnelConfig::nvgre`] or [`TunnelConfig::geneve`], then adjust the public fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelConfig {
    /// VXLAN VNI, NVGRE VSID or Geneve VNI.
    pub encapsulation: Encapsulation,
    /// Outer source MAC. Default 00:00:00:00:00:00: set it (a VTEP's own address).
    pub src_mac: MacAddr,
    /// Outer destination MAC (the next hop). Default 00:00:00:00:00:00.
    pub dst_mac: MacAddr,
    /// An outer 802.1Q tag. Default none.
    pub outer_vlan: Option<OuterVlan>,
    /// Outer source address: this VTEP. IPv4 or IPv6, the family of `dst_ip`.
    pub src_ip: IpAddr,
    /// Outer destination address: the remote VTEP.
    pub dst_ip: IpAddr,
    /// Which source addresses are allowed. Default: only those that can be a VTEP.
    pub sources: SourcePolicy,
    /// Outer IPv4 TTL or IPv6 hop limit. Default 64.
    pub ttl: u8,
    /// Outer IPv4 DF bit. Default set: VTEPs must not fragment (RFC 7348 section 4.3).
    /// IPv6 has no such bit: the outer IPv6 header never carries a fragment header.
    pub dont_frag: bool,
    /// Outer DSCP. Default `Fixed(0)`.
    pub dscp: Dscp,
    /// Outer ECN (RFC 6040). Default normal mode: copied from the inner packet.
    pub ecn: EcnMode,
    /// NVGRE FlowID. Default from the flow hash.
    pub flow_id: FlowId,
    /// Outer IPv6 flow label. Default from the flow hash (RFC 6438).
    pub flow_label: FlowLabel,
    /// Inner 802.1Q/802.1ad tags. Default strip: RFC 7637 section 3.2 (MUST remove) and
    /// RFC 7348 section 6.1 (SHOULD NOT include). `Keep` is refused for NVGRE.
    pub inner_vlan: InnerVlanPolicy,
    /// VXLAN UDP destination port. Default 4789.
    pub vxlan_port: u16,
    /// Geneve UDP destination port. Default 6081 (RFC 8926 section 3.3).
    pub geneve_port: u16,
    /// Geneve options every packet carries, after the header (the C bit is set when one
    /// is critical). Default none. Each adds its bytes to the overhead: see
    /// [`MAX_HEADROOM`](super::MAX_HEADROOM).
    pub geneve_options: GeneveOptions,
    /// VXLAN and Geneve UDP source ports, chosen by flow hash. Default 49152-65535.
    pub source_ports: PortRange,
    /// Compute the VXLAN or Geneve UDP checksum over IPv4. Default off: sent as zero
    /// (RFC 7348 section 5, RFC 8926 section 3.3).
    pub udp_checksum: bool,
    /// Send the VXLAN or Geneve UDP checksum over IPv6 as zero. Default off: computed, as RFC 8200
    /// section 8.1 requires; RFC 6935 and 6936 allow zero for tunnels by configuration
    /// only (Linux's `udp6zerocsumtx`), and the receiver must be configured to take it.
    pub udp6_zero_checksum_tx: bool,
    /// Hash both directions of a flow alike. Default off.
    pub symmetric_hash: bool,
    /// Underlay MTU: the largest outer IP packet. Default 1500.
    pub mtu: u16,
}

impl TunnelConfig {
    /// VXLAN from `src_ip` to `dst_ip` (both IPv4 or both IPv6) with the documented
    /// defaults.
    pub fn vxlan(vni: Vni, src_ip: impl Into<IpAddr>, dst_ip: impl Into<IpAddr>) -> Self {
        Self::new(Encapsulation::Vxlan(vni), src_ip.into(), dst_ip.into())
    }

    /// NVGRE from `src_ip` to `dst_ip` (both IPv4 or both IPv6) with the documented
    /// defaults.
    pub fn nvgre(vsid: Vsid, src_ip: impl Into<IpAddr>, dst_ip: impl Into<IpAddr>) -> Self {
        Self::new(Encapsulation::Nvgre(vsid), src_ip.into(), dst_ip.into())
    }

    /// Geneve from `src_ip` to `dst_ip` (both IPv4 or both IPv6) with the documented
    /// defaults: protocol type 0x6558 (an Ethernet payload), no options.
    pub fn geneve(vni: Vni, src_ip: impl Into<IpAddr>, dst_ip: impl Into<IpAddr>) -> Self {
        Self::new(Encapsulation::Geneve(vni), src_ip.into(), dst_ip.into())
    }

    /// The tunnel with the documented defaults.
    pub const fn new(encapsulation: Encapsulation, src_ip: IpAddr, dst_ip: IpAddr) -> Self {
        TunnelConfig {
            encapsulation,
            src_mac: MacAddr([0; 6]),
            dst_mac: MacAddr([0; 6]),
            outer_vlan: None,
            src_ip,
            dst_ip,
            sources: SourcePolicy::RoutableOnly,
            ttl: Ipv4Repr::DEFAULT_TTL,
            dont_frag: true,
            dscp: Dscp::Fixed(0),
            ecn: EcnMode::Normal,
            flow_id: FlowId::Hash,
            flow_label: FlowLabel::Hash,
            inner_vlan: InnerVlanPolicy::Strip,
            vxlan_port: vxlan::PORT,
            geneve_port: geneve::PORT,
            geneve_options: GeneveOptions::new(),
            source_ports: PortRange::DYNAMIC,
            udp_checksum: false,
            udp6_zero_checksum_tx: false,
            symmetric_hash: false,
            mtu: 1500,
        }
    }
}

impl SourcePolicy {
    /// True when `address` may be a tunnel's end under this policy: what encapsulation
    /// takes as a source and decapsulation as an outer source (a switch checks its
    /// remotes with it).
    #[inline]
    pub fn allows(self, address: IpAddr) -> bool {
        check_source(AddressField::Source, address, self).is_ok()
    }
}

/// Fails unless the IPv4 `address` can be the source of tunnel packets (RFC 1122
/// section 3.2.1.3): not in 0/8 ("this network"), 127/8 (loopback, unless the policy
/// allows it), 224/4 (multicast) or 240/4 (reserved, with the limited broadcast
/// address).
#[inline]
pub(crate) fn check_source_v4(
    field: AddressField,
    address: Ipv4Addr,
    policy: SourcePolicy,
) -> Result<()> {
    // One load per packet: a compare per rule cost decapsulation and translation about
    // three instructions each.
    if NOT_A_VTEP_V4[policy as usize][usize::from(address.octets()[0])] {
        return Err(bad_address_v4(field, address));
    }
    Ok(())
}

/// A `BadAddress` error of an IPv4 address, out of line: inlined, the optimiser built
/// its `IpAddr` on the common path too, where it shared a result's bytes with other
/// errors, through stores the store buffer could not forward to the load after them
/// (the payload path ran 1.53 times its floor's time, decapsulation 1.28-1.30;
/// 1.20-1.23 and 1.19-1.21 so). IPv6's stays inlined: out of line, its call cost
/// translation over IPv6 registers (852 -> 878 instructions per packet).
#[cold]
#[inline(never)]
fn bad_address_v4(field: AddressField, address: Ipv4Addr) -> Error {
    bad_address(field, IpAddr::V4(address))
}

/// By policy (`SourcePolicy as usize`), then first octet: true where an IPv4 address
/// cannot be a VTEP's (0/8, 224/3, and 127/8 unless loopback is allowed).
const NOT_A_VTEP_V4: [[bool; 256]; 2] = {
    let mut table = [[false; 256]; 2];
    let mut first = 0;
    while first < 256 {
        let never = first == 0 || first >= 224;
        table[SourcePolicy::RoutableOnly as usize][first] = never || first == 127;
        table[SourcePolicy::AllowLoopback as usize][first] = never;
        first += 1;
    }
    table
};

/// Fails unless the IPv6 `address` can be the source of tunnel packets (RFC 4291
/// section 2.5): not unspecified, loopback (unless the policy allows it), multicast
/// (ff00::/8) or IPv4-mapped (::ffff:0:0/96, an IPv4 node's address: it sends IPv4).
#[inline]
pub(crate) fn check_source_v6(
    field: AddressField,
    address: Ipv6Addr,
    policy: SourcePolicy,
) -> Result<()> {
    let bits = address.to_bits();
    let loopback = bits == 1 && policy == SourcePolicy::RoutableOnly;
    if bits == 0 || loopback || bits >> 120 == 0xff || bits >> 32 == 0xffff {
        return Err(bad_address(field, IpAddr::V6(address)));
    }
    Ok(())
}

/// Either family's source check.
#[inline]
pub(crate) fn check_source(
    field: AddressField,
    address: IpAddr,
    policy: SourcePolicy,
) -> Result<()> {
    match address {
        IpAddr::V4(v4) => check_source_v4(field, v4, policy),
        IpAddr::V6(v6) => check_source_v6(field, v6, policy),
    }
}

/// A `BadAddress` error.
#[cold]
fn bad_address(field: AddressField, address: IpAddr) -> Error {
    Error::new(Layer::Tunnel, ErrorKind::BadAddress { field, address })
}

/// Fails for a UDP tunnel's destination port 0 (`field` names it) or a source port
/// range that contains 0.
pub(crate) const fn check_udp_ports(
    field: &'static str,
    port: u16,
    source_ports: PortRange,
) -> Result<()> {
    if port == 0 {
        return Err(out_of_range(field, 0));
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

/// Fails for a VSID RFC 7637 reserves: it names no tenant's virtual subnet. The error
/// is at offset 0: a caller checking a packet's VSID places it, one checking a setting
/// marks it as such.
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
    /// Bytes of outer IP header: 20 over IPv4, 40 over IPv6.
    pub(crate) const fn ip_header_len(&self) -> usize {
        match self.dst_ip {
            IpAddr::V4(_) => ipv4::HEADER_LEN,
            IpAddr::V6(_) => ipv6::HEADER_LEN,
        }
    }

    /// Checks every setting a packet would carry.
    ///
    /// # Errors
    /// `OutOfRange` naming the field: TTL 0, a fixed DSCP over 63, a fixed flow label
    /// over 20 bits, an outer VID of 0 or 4095, an outer PCP over 7, VXLAN or Geneve port 0, a
    /// source port range containing 0, an MTU too small for the outer headers and an
    /// Ethernet header; `MixedFamilies` for an IPv4 and an IPv6 address; `Unsupported`
    /// for `Keep` on NVGRE's inner tags; `BadAddress` for a source that cannot be a VTEP
    /// (see [`SourcePolicy`]) or an unspecified destination (a multicast destination is
    /// fine: RFC 7348 section 4.2 floods to a group); `ReservedVsid` for a reserved VSID.
    /// Errors about addresses and the VSID carry no byte offset: they are settings.
    pub fn validate(&self) -> Result<()> {
        self.validate_packet_fields().map_err(Error::in_setting)
    }

    fn validate_packet_fields(&self) -> Result<()> {
        let unspecified_destination = match (self.src_ip, self.dst_ip) {
            (IpAddr::V4(_), IpAddr::V4(dst)) => u32::from(dst) >> 24 == 0,
            (IpAddr::V6(_), IpAddr::V6(dst)) => dst.is_unspecified(),
            _ => return Err(Error::new(Layer::Tunnel, ErrorKind::MixedFamilies)),
        };
        check_source(AddressField::Source, self.src_ip, self.sources)?;
        if unspecified_destination {
            return Err(bad_address(AddressField::Destination, self.dst_ip));
        }
        if self.ttl == 0 {
            return Err(out_of_range("TTL", 0));
        }
        if let Dscp::Fixed(dscp @ 64..) = self.dscp {
            return Err(out_of_range("DSCP", u32::from(dscp)));
        }
        if let FlowLabel::Fixed(label @ 0x10_0000..) = self.flow_label {
            return Err(out_of_range("flow label", label));
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
            Encapsulation::Geneve(_) => {
                udp::HEADER_LEN + geneve::HEADER_LEN + self.geneve_options.len()
            }
        };
        if usize::from(self.mtu) < self.ip_header_len() + tunnel_len + ethernet::HEADER_LEN {
            return Err(out_of_range("MTU", u32::from(self.mtu)));
        }
        match self.encapsulation {
            Encapsulation::Vxlan(_) => {
                check_udp_ports("VXLAN port", self.vxlan_port, self.source_ports)?;
            }
            Encapsulation::Geneve(_) => {
                check_udp_ports("Geneve port", self.geneve_port, self.source_ports)?;
            }
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
    fn ipv4_sources_are_refused_exactly_in_0_127_and_224_to_255() {
        for first in 0..=u8::MAX {
            let martian = first == 0 || first == 127 || first >= 224;
            let address = Ipv4Addr::new(first, 1, 2, 3);
            let check = |policy| check_source_v4(AddressField::Source, address, policy);
            assert_eq!(
                check(SourcePolicy::RoutableOnly).is_err(),
                martian,
                "{address}"
            );
            let martian_with_loopback = martian && first != 127;
            assert_eq!(
                check(SourcePolicy::AllowLoopback).is_err(),
                martian_with_loopback,
                "{address}"
            );
        }
    }

    #[test]
    fn ipv6_sources_refused_are_those_that_cannot_be_a_vtep() {
        let check = |text: &str, policy| {
            let address: Ipv6Addr = text.parse().unwrap();
            check_source_v6(AddressField::OuterSource, address, policy).is_ok()
        };
        for good in ["fd00::1", "2001:db8::2", "fe80::1", "::2", "64:ff9b::a00:1"] {
            assert!(check(good, SourcePolicy::RoutableOnly), "{good}");
        }
        for bad in ["::", "::1", "ff02::1", "ff0e::5", "::ffff:10.0.0.1"] {
            assert!(!check(bad, SourcePolicy::RoutableOnly), "{bad}");
        }
        assert!(check("::1", SourcePolicy::AllowLoopback));
        assert!(!check("::", SourcePolicy::AllowLoopback));
    }

    #[test]
    fn mixed_families_and_setting_errors_carry_no_offset() {
        let vni = Vni::new(42).unwrap();
        let mixed = TunnelConfig::vxlan(vni, Ipv4Addr::new(10, 0, 0, 1), Ipv6Addr::LOCALHOST);
        let error = mixed.validate().unwrap_err();
        assert_eq!(error.kind, ErrorKind::MixedFamilies);
        assert!(!error.has_offset());
        let vsid = Vsid::new(100).unwrap();
        let reserved =
            TunnelConfig::nvgre(vsid, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let error = reserved.validate().unwrap_err();
        assert!(!error.has_offset());
        let text = std::string::ToString::to_string(&error);
        assert_eq!(
            text,
            "tunnel: VSID 100 is reserved (RFC 7637 section 3.2: 0-4095 and 16777215)"
        );
    }
}
