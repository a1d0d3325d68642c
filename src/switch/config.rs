//! The settings a switch is built from: the underlay, segments, ports and remotes.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use crate::tunnel::{PortRange, SourcePolicy, TunnelKind};
use crate::wire::geneve;
use crate::wire::vlan::VlanId;
use crate::wire::vxlan::{self, Vni};

/// Switch-wide settings. Build with [`SwitchConfig::new`], then adjust the fields.
///
/// A switch has an underlay address of one family or of both (dual stack); each remote
/// is reached from the local address of its own family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchConfig {
    /// This VTEP's IPv4 underlay address, the source of outer IPv4 packets; `None`
    /// when it has none (it then has no IPv4 remotes).
    pub local_ipv4: Option<Ipv4Addr>,
    /// This VTEP's IPv6 underlay address, the source of outer IPv6 packets; `None`
    /// when it has none (it then has no IPv6 remotes).
    pub local_ipv6: Option<Ipv6Addr>,
    /// VXLAN UDP destination port. Default 4789.
    pub vxlan_port: u16,
    /// Geneve UDP destination port. Default 6081.
    pub geneve_port: u16,
    /// Underlay MTU: the largest outer IP packet, IPv4 or IPv6 (whose headers take 20
    /// bytes more of it). Default 1500.
    pub mtu: u16,
    /// The UDP source ports VXLAN remotes choose from by the inner flow's hash. Default
    /// [`PortRange::DYNAMIC`] (49152-65535); a driver that sends from a pool of sockets
    /// bound to some ports narrows it to them.
    pub source_ports: PortRange,
    /// Key of the MAC table's hash; give it a random value so senders cannot aim
    /// addresses at one probe chain. Default 0.
    pub hash_seed: u64,
    /// MAC-move events kept until [`Switch::take_event`](super::Switch::take_event)
    /// reads them; the oldest are dropped beyond this. Default 64.
    pub event_capacity: usize,
    /// MAC mobility (RFC 7432 section 15) for a control plane that advertises the MACs
    /// learned on local ports: a source address seen on a local port moves an EVPN
    /// entry there (the host moved to this VTEP; the entry becomes learned, counted as
    /// a move), while EVPN entries stay pinned against learning from tunnels. Default
    /// off: no learning moves an EVPN entry. Static entries never move either way.
    pub local_moves_evpn: bool,
}

impl SwitchConfig {
    /// The defaults for a VTEP at `local_ip`, IPv4 or IPv6; for dual stack, set the
    /// other family's field too.
    pub fn new(local_ip: impl Into<IpAddr>) -> Self {
        let (local_ipv4, local_ipv6) = match local_ip.into() {
            IpAddr::V4(v4) => (Some(v4), None),
            IpAddr::V6(v6) => (None, Some(v6)),
        };
        SwitchConfig {
            local_ipv4,
            local_ipv6,
            vxlan_port: vxlan::PORT,
            geneve_port: geneve::PORT,
            mtu: 1500,
            source_ports: PortRange::DYNAMIC,
            hash_seed: 0,
            event_capacity: 64,
            local_moves_evpn: false,
        }
    }

    /// The local address a remote at `remote` is reached from: the one of its family.
    pub fn local_ip_for(&self, remote: IpAddr) -> Option<IpAddr> {
        match remote {
            IpAddr::V4(_) => self.local_ipv4.map(IpAddr::V4),
            IpAddr::V6(_) => self.local_ipv6.map(IpAddr::V6),
        }
    }
}

/// True when `ip` can be a VTEP's underlay address: a unicast address the tunnel engine
/// sends from and takes packets from (not unspecified, loopback, multicast, IPv4
/// broadcast or reserved, nor IPv4-mapped IPv6).
pub fn is_vtep_address(ip: IpAddr) -> bool {
    SourcePolicy::RoutableOnly.allows(ip)
}

/// A segment (one VNI; for NVGRE remotes the same number is the VSID). Build with
/// [`SegmentConfig::new`], then adjust the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentConfig {
    /// Its VNI.
    pub vni: Vni,
    /// Most MAC addresses learned in it. Default 4096.
    pub mac_limit: usize,
    /// How long a learned address lives after it was last seen. Default 300 s.
    pub ageing: Duration,
}

impl SegmentConfig {
    /// Default MAC limit per segment.
    pub const DEFAULT_MAC_LIMIT: usize = 4096;
    /// Default ageing time.
    pub const DEFAULT_AGEING: Duration = Duration::from_secs(300);

    /// The defaults for segment `vni`.
    pub fn new(vni: Vni) -> Self {
        SegmentConfig {
            vni,
            mac_limit: Self::DEFAULT_MAC_LIMIT,
            ageing: Self::DEFAULT_AGEING,
        }
    }
}

/// How a local port maps its frames to segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortMode {
    /// Untagged frames belong to this segment; tagged frames are dropped.
    Access(Vni),
    /// 802.1Q-tagged frames belong to the segment their VID maps to; the tag is removed
    /// before encapsulation and restored on delivery. Untagged frames are dropped.
    Trunk(Vec<(VlanId, Vni)>),
}

/// A local port. Build with [`PortConfig::access`] or [`PortConfig::trunk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Access or trunk.
    pub mode: PortMode,
    /// MACVLAN's private mode: never exchanges frames with another isolated port of its
    /// segments on this switch. Default off.
    pub isolated: bool,
    /// The port's MTU: a frame whose payload (after the Ethernet header, and the tag of a
    /// trunk port) is longer is not sent out of it ([`Reason::Mtu`](super::Reason::Mtu)).
    /// Default `None`: no limit.
    pub mtu: Option<u16>,
    /// Most MAC addresses learned from this port, in all its segments together, so one
    /// tenant cannot fill a segment's table: past it the port learns no address, new or
    /// moving in ([`Reason::MacLimit`](super::Reason::MacLimit)). Static entries do not
    /// count. Default `None`: only the segments' limits.
    pub mac_limit: Option<usize>,
}

impl PortConfig {
    /// An access port of segment `vni`.
    pub fn access(vni: Vni) -> Self {
        PortConfig {
            mode: PortMode::Access(vni),
            isolated: false,
            mtu: None,
            mac_limit: None,
        }
    }

    /// A trunk port mapping each VID to a segment.
    pub fn trunk(vlans: Vec<(VlanId, Vni)>) -> Self {
        PortConfig {
            mode: PortMode::Trunk(vlans),
            isolated: false,
            mtu: None,
            mac_limit: None,
        }
    }
}

/// A remote VTEP of one segment. Build with [`RemoteConfig::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteConfig {
    /// Its underlay address, IPv4 or IPv6: the switch needs a local address of the
    /// same family.
    pub ip: IpAddr,
    /// VXLAN or NVGRE.
    pub kind: TunnelKind,
    /// On the segment's flood list: gets its broadcast, multicast and unknown unicast
    /// by head-end replication. Default on; an external control plane that knows every
    /// address behind a remote may leave it off.
    pub flood: bool,
}

impl RemoteConfig {
    /// A remote at `ip` speaking `kind`, on the flood list.
    pub fn new(ip: impl Into<IpAddr>, kind: TunnelKind) -> Self {
        RemoteConfig {
            ip: ip.into(),
            kind,
            flood: true,
        }
    }
}

/// Why a switch refused a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No segment has this VNI.
    UnknownSegment(u32),
    /// A segment with this VNI exists already.
    DuplicateSegment(u32),
    /// A trunk port maps this VID twice, or two VIDs to the same segment.
    DuplicateVlan(u16),
    /// The segment has this remote (same address and encapsulation) already.
    DuplicateRemote(IpAddr),
    /// A remote of a family the switch has no local address of.
    NoLocalAddress(IpAddr),
    /// A remote at the switch's own local address.
    LocalAddress(IpAddr),
    /// A remote at an address no VTEP can have (see [`is_vtep_address`]).
    NotUnicast(IpAddr),
    /// No such port or remote, or it is not part of the segment named.
    NotInSegment,
    /// No such remote: it was removed, or belongs to another switch.
    UnknownRemote(super::RemoteId),
    /// An entry added by hand with origin `Learned`: only traffic puts those in.
    LearnedOrigin,
    /// More than 65535 ports, remotes or segments.
    TooMany,
    /// The tunnel engine refused the remote's settings.
    Tunnel(crate::Error),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownSegment(vni) => write!(f, "no segment has VNI {vni}"),
            ConfigError::DuplicateSegment(vni) => write!(f, "segment {vni} is defined twice"),
            ConfigError::DuplicateVlan(vid) => {
                write!(
                    f,
                    "VLAN {vid}: a VID or segment is mapped twice on the port"
                )
            }
            ConfigError::DuplicateRemote(ip) => write!(f, "remote {ip} is listed twice"),
            ConfigError::NoLocalAddress(ip) => {
                let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
                write!(
                    f,
                    "remote {ip}: this switch has no local {family} address to reach it from"
                )
            }
            ConfigError::LocalAddress(ip) => {
                write!(f, "remote {ip} is this switch's own local address")
            }
            ConfigError::NotUnicast(ip) => write!(
                f,
                "remote {ip} is not a unicast address a VTEP can have \
                 (unspecified, loopback, multicast, broadcast or IPv4-mapped)"
            ),
            ConfigError::NotInSegment => f.write_str("the port or remote is not in that segment"),
            ConfigError::UnknownRemote(remote) => write!(
                f,
                "remote {} is not a remote of this switch: removed, or from another switch",
                remote.index()
            ),
            ConfigError::LearnedOrigin => f.write_str(
                "an entry added by hand is static or evpn: learned entries come from traffic",
            ),
            ConfigError::TooMany => f.write_str("more than 65535 ports, remotes or segments"),
            ConfigError::Tunnel(error) => write!(f, "tunnel settings: {error}"),
        }
    }
}

impl core::error::Error for ConfigError {}
