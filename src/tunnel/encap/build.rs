//! An [`Encapsulator`] built: the outer-header template written once, and the code path
//! chosen once for its settings, so no packet tests them.

use core::net::{IpAddr, Ipv4Addr};

use super::{Encapsulator, GENEVE_ONE_OPTION, Path};
use crate::checksum;
use crate::tunnel::config::TunnelConfig;
use crate::tunnel::ident::IdentCounter;
use crate::tunnel::outer_rules::Rules;
use crate::tunnel::{
    Encapsulation, MAX_HEADROOM, NVGRE_OVERHEAD, NVGRE6_OVERHEAD, VXLAN_OVERHEAD, VXLAN6_OVERHEAD,
};
use crate::wire::ethernet::{self, EtherType, EthernetRepr};
use crate::wire::geneve::GeneveRepr;
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Repr};
use crate::wire::nvgre::{self, NvgreRepr};
use crate::wire::udp::{self, UdpDatagram, UdpRepr};
use crate::wire::vlan::{self, VlanRepr};
use crate::wire::vxlan::{self, VxlanRepr};
use crate::{Error, ErrorKind, Layer, Result};

impl Encapsulator {
    /// Builds the outer-header template for `config`.
    ///
    /// # Errors
    /// As [`TunnelConfig::validate`].
    // Cannot overflow or index out of range: offsets of headers inside the template (326
    // bytes) or the checked buffer.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub fn new(config: TunnelConfig) -> Result<Self> {
        config.validate()?;
        let mut template = [0u8; MAX_HEADROOM];
        let mut at = 0;
        let ip_ethertype = match config.dst_ip {
            IpAddr::V4(_) => EtherType::IPV4,
            IpAddr::V6(_) => EtherType::IPV6,
        };
        let ethertype = match config.outer_vlan {
            Some(_) => EtherType::VLAN,
            None => ip_ethertype,
        };
        EthernetRepr {
            dst_addr: config.dst_mac,
            src_addr: config.src_mac,
            ethertype,
        }
        .emit(&mut template)?;
        at += ethernet::HEADER_LEN;
        if let Some(tag) = config.outer_vlan {
            VlanRepr {
                pcp: tag.pcp,
                dei: false,
                vid: tag.vid,
                ethertype: ip_ethertype,
            }
            .emit(&mut template[at..])?;
            at += vlan::HEADER_LEN;
        }
        let ip_offset = at;
        let protocol = match config.encapsulation {
            Encapsulation::Vxlan(_) | Encapsulation::Geneve(_) => IpProtocol::UDP,
            Encapsulation::Nvgre(_) => IpProtocol::GRE,
        };
        let mut ip_sum = 0;
        // IPv6 has no ID field: its placeholder counter is never asked (`finish` takes an
        // ID over IPv4 only).
        let mut ident = IdentCounter::for_tuple(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, 0);
        match (config.src_ip, config.dst_ip) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let mut ip = Ipv4Repr::new(src, dst, protocol, 0);
                ip.ttl = config.ttl;
                ip.dont_frag = config.dont_frag;
                ip.emit(&mut template[at..])?;
                Ipv4Packet::new_unchecked(&mut template[at..]).set_total_len(0);
                ip_sum = checksum::sum(&template[at..at + ipv4::HEADER_LEN]);
                ident = IdentCounter::for_tuple(src, dst, protocol.0);
                at += ipv4::HEADER_LEN;
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                // Traffic class, flow label and payload length are patched per packet.
                let mut ip = Ipv6Repr::new(src, dst, protocol, 0);
                ip.hop_limit = config.ttl;
                ip.emit(&mut template[at..])?;
                at += ipv6::HEADER_LEN;
            }
            // `validate` refused mixed families.
            _ => return Err(Error::new(Layer::Tunnel, ErrorKind::MixedFamilies)),
        }
        let tunnel_at = match config.encapsulation {
            Encapsulation::Nvgre(_) => at,
            Encapsulation::Vxlan(_) | Encapsulation::Geneve(_) => at + udp::HEADER_LEN,
        };
        match config.encapsulation {
            Encapsulation::Vxlan(vni) => {
                UdpRepr::new(0, config.vxlan_port, 0).emit(&mut template[at..])?;
                UdpDatagram::new_unchecked(&mut template[at..]).set_len(0);
                VxlanRepr::new(vni).emit(&mut template[tunnel_at..])?;
                at = tunnel_at + vxlan::HEADER_LEN;
            }
            Encapsulation::Nvgre(vsid) => {
                NvgreRepr::new(vsid, 0).emit(&mut template[at..])?;
                at += nvgre::HEADER_LEN;
            }
            Encapsulation::Geneve(vni) => {
                UdpRepr::new(0, config.geneve_port, 0).emit(&mut template[at..])?;
                UdpDatagram::new_unchecked(&mut template[at..]).set_len(0);
                let header = GeneveRepr::new(vni, EtherType::TRANSPARENT_ETHERNET_BRIDGING)
                    .with_options(config.geneve_options);
                header.emit(&mut template[tunnel_at..])?;
                at = tunnel_at + header.buffer_len();
            }
        }
        let vxlan = !matches!(config.encapsulation, Encapsulation::Nvgre(_));
        // The template's UDP and VXLAN or Geneve headers (source port, length and
        // checksum zero; Geneve's options) and the pseudo-header without its length.
        let udp_sum = match (vxlan, config.src_ip, config.dst_ip) {
            (true, IpAddr::V4(src), IpAddr::V4(dst)) => {
                checksum::pseudo_header_ipv4(src, dst, IpProtocol::UDP.0, 0)
            }
            (true, IpAddr::V6(src), IpAddr::V6(dst)) => {
                checksum::pseudo_header_ipv6(src, dst, IpProtocol::UDP.0, 0)
            }
            _ => 0,
        };
        let udp_sum = checksum::combine(
            udp_sum,
            checksum::sum(&template[tunnel_at.saturating_sub(udp::HEADER_LEN)..at]),
        );
        let ovn_shape =
            at == GENEVE_ONE_OPTION && config.outer_vlan.is_none() && config.dst_ip.is_ipv4();
        let fixed_layout = match config.encapsulation {
            // OVN's shape (one option of 4 data bytes, untagged IPv4) has a layout of its
            // own; other options none.
            Encapsulation::Geneve(_) if !config.geneve_options.is_empty() && !ovn_shape => 0,
            _ => at,
        };
        let rules = Rules::new(&config);
        // The length names the layout among the untagged ones (a tagged one can be as
        // long as an untagged one of another tunnel: Geneve's options).
        let path = match fixed_layout {
            _ if rules != Rules::defaults(config.dst_ip.is_ipv6(), vxlan) => Path::Configured,
            _ if config.outer_vlan.is_some() => Path::Configured,
            VXLAN_OVERHEAD => Path::Vxlan,
            NVGRE_OVERHEAD => Path::Nvgre,
            VXLAN6_OVERHEAD => Path::Vxlan6,
            NVGRE6_OVERHEAD => Path::Nvgre6,
            GENEVE_ONE_OPTION => Path::GeneveOvn,
            _ => Path::Configured,
        };
        Ok(Encapsulator {
            config,
            template,
            overhead: at,
            fixed_layout,
            ip_offset,
            tunnel_at,
            ip_sum,
            rules,
            path,
            udp_sum,
            ident,
        })
    }
}
