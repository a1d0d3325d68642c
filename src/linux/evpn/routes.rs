//! EVPN routes as plain values, and their gobgpd API form: pure functions from a
//! [`Route`] to the [`api::Path`] vtep adds or deletes, and from a path gobgpd reports
//! back to what it says ([`parse`]), each tested without a daemon.
//!
//! What vtep sends follows RFC 7432 and RFC 8365 as FRR reads them: route distinguisher
//! `router_id:N` (type 1), route target `ASN:VNI` (the RT decides the segment), the
//! label the VNI as a plain 24-bit number, the next hop the local address, one BGP
//! encapsulation extended community per tunnel kind the segment speaks (RFC 9012
//! types), the PMSI tunnel attribute for type 3 (ingress replication to the next hop),
//! and for type 2 a MAC mobility community once the MAC has moved (sequence above 0).

use std::prelude::rust_2024::*;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::api::{self, Any};
use crate::tunnel::TunnelKind;
use crate::wire::{MacAddr, Vni};

/// A route distinguisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rd {
    /// Type 1: an IPv4 address and a 16-bit number (what vtep and FRR originate).
    Ip(Ipv4Addr, u16),
    /// Type 0 or 2: an ASN and a number.
    Asn(u32, u32),
}

impl fmt::Display for Rd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rd::Ip(ip, n) => write!(f, "{ip}:{n}"),
            Rd::Asn(asn, n) => write!(f, "{asn}:{n}"),
        }
    }
}

/// What a route says beyond its distinguisher, segment and next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Type 3, inclusive multicast: send this segment's floods to the next hop.
    Multicast {
        /// The originating router's address, in the NLRI (vtep's own: its next hop).
        originator: IpAddr,
    },
    /// Type 2, MAC/IP advertisement: `mac` lives behind the next hop.
    Mac {
        /// The address.
        mac: MacAddr,
        /// The MAC mobility sequence number (0: never moved, no community).
        seq: u32,
    },
}

/// One EVPN route, sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Route distinguisher.
    pub rd: Rd,
    /// Its segment: the route target's local part.
    pub vni: Vni,
    /// The VTEP's underlay address.
    pub nexthop: IpAddr,
    /// The tunnel kinds it speaks, from its encapsulation communities (none: VXLAN).
    pub encaps: Vec<TunnelKind>,
    /// Type 3 or 2.
    pub kind: Kind,
}

/// What names a route in BGP (its NLRI): a withdrawal gives this, perhaps with no
/// attributes to tell its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// Type 3 by distinguisher and originating router.
    Multicast(Rd, IpAddr),
    /// Type 2 by distinguisher and MAC.
    Mac(Rd, MacAddr),
}

impl Route {
    /// Its NLRI's identity.
    pub fn key(&self) -> Key {
        match self.kind {
            Kind::Multicast { originator } => Key::Multicast(self.rd, originator),
            Kind::Mac { mac, .. } => Key::Mac(self.rd, mac),
        }
    }

    /// The tunnel kind a remote from this route is reached with, given the kinds this
    /// VTEP receives: VXLAN when the route speaks it or names none (VXLAN is EVPN's
    /// default, RFC 8365 section 5.1.3), else the first kind it names that this VTEP
    /// receives, else the first it names.
    pub fn remote_kind(&self, receives: &[TunnelKind]) -> TunnelKind {
        if self.encaps.is_empty() || self.encaps.contains(&TunnelKind::Vxlan) {
            return TunnelKind::Vxlan;
        }
        let received = self.encaps.iter().find(|kind| receives.contains(kind));
        received
            .or(self.encaps.first())
            .copied()
            .unwrap_or(TunnelKind::Vxlan)
    }
}

/// Route target sub-type of a two-octet-AS-specific extended community.
const ROUTE_TARGET: u32 = 2;
/// PMSI tunnel type: ingress replication (RFC 6514 section 5).
const INGRESS_REPLICATION: u32 = 6;

/// The RFC 9012 tunnel type of a kind.
fn tunnel_type(kind: TunnelKind) -> u32 {
    match kind {
        TunnelKind::Vxlan => 8,
        TunnelKind::Nvgre => 9,
        TunnelKind::Geneve => 19,
    }
}

/// The kind of an RFC 9012 tunnel type vtep speaks.
fn tunnel_kind(tunnel_type: u32) -> Option<TunnelKind> {
    match tunnel_type {
        8 => Some(TunnelKind::Vxlan),
        9 => Some(TunnelKind::Nvgre),
        19 => Some(TunnelKind::Geneve),
        _ => None,
    }
}

fn rd_any(rd: Rd) -> Any {
    match rd {
        Rd::Ip(ip, n) => api::any(
            "RouteDistinguisherIPAddress",
            &api::RdIpAddress {
                admin: ip.to_string(),
                assigned: u32::from(n),
            },
        ),
        Rd::Asn(asn, n) => {
            // Type 2 carries a 4-byte ASN and a 2-byte number; type 0 the reverse.
            let name = if asn > u32::from(u16::MAX) {
                "RouteDistinguisherFourOctetASN"
            } else {
                "RouteDistinguisherTwoOctetASN"
            };
            api::any(
                name,
                &api::RdAsn {
                    admin: asn,
                    assigned: n,
                },
            )
        }
    }
}

fn nlri(route: &Route) -> Any {
    let rd = Some(rd_any(route.rd));
    match route.kind {
        Kind::Multicast { originator } => api::any(
            "EVPNInclusiveMulticastEthernetTagRoute",
            &api::MulticastRoute {
                rd,
                ethernet_tag: 0,
                ip_address: originator.to_string(),
            },
        ),
        Kind::Mac { mac, .. } => api::any(
            "EVPNMACIPAdvertisementRoute",
            &api::MacIpRoute {
                rd,
                // Single-homed: ESI 0 (RFC 7432 section 5).
                esi: Some(api::Esi {
                    r#type: 0,
                    value: vec![0; 9],
                }),
                ethernet_tag: 0,
                mac_address: mac.to_string(),
                // A MAC-only route: no host address.
                ip_address: String::new(),
                labels: vec![route.vni.get()],
            },
        ),
    }
}

/// The path that advertises `route` (or, given to DeletePath, withdraws it) with route
/// target `asn:VNI`.
pub fn path(route: &Route, asn: u16) -> api::Path {
    let nlri = nlri(route);
    let mut communities = vec![api::any(
        "TwoOctetAsSpecificExtended",
        &api::TwoOctetAsSpecific {
            is_transitive: true,
            sub_type: ROUTE_TARGET,
            asn: u32::from(asn),
            local_admin: route.vni.get(),
        },
    )];
    communities.extend(route.encaps.iter().map(|&kind| {
        api::any(
            "EncapExtended",
            &api::EncapExtended {
                tunnel_type: tunnel_type(kind),
            },
        )
    }));
    if let Kind::Mac { seq: seq @ 1.., .. } = route.kind {
        communities.push(api::any(
            "MacMobilityExtended",
            &api::MacMobility {
                is_sticky: false,
                sequence_num: seq,
            },
        ));
    }
    let mut pattrs = vec![
        api::any("OriginAttribute", &api::OriginAttribute { origin: 0 }),
        api::any(
            "MpReachNLRIAttribute",
            &api::MpReachAttribute {
                family: Some(api::Family::EVPN),
                next_hops: vec![route.nexthop.to_string()],
                nlris: vec![nlri.clone()],
            },
        ),
        api::any(
            "ExtendedCommunitiesAttribute",
            &api::ExtendedCommunities { communities },
        ),
    ];
    if let Kind::Multicast { .. } = route.kind {
        let id = match route.nexthop {
            IpAddr::V4(ip) => ip.octets().to_vec(),
            IpAddr::V6(ip) => ip.octets().to_vec(),
        };
        pattrs.push(api::any(
            "PmsiTunnelAttribute",
            &api::PmsiTunnel {
                flags: 0,
                r#type: INGRESS_REPLICATION,
                label: route.vni.get(),
                id,
            },
        ));
    }
    api::Path {
        nlri: Some(nlri),
        pattrs,
        is_withdraw: false,
        family: Some(api::Family::EVPN),
        neighbor_ip: String::new(),
    }
}

/// What a path from gobgpd says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A route for one of the caller's route targets.
    Add(Route),
    /// The route named is withdrawn.
    Withdraw(Key),
    /// Not for vtep: another family or route type, or no route target `asn:VNI`.
    Ignored,
}

/// A path gobgpd reported that cannot be read, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(what: impl Into<String>) -> ParseError {
    ParseError(what.into())
}

fn decode<M: prost::Message + Default>(any: &Any, name: &str) -> Result<Option<M>, ParseError> {
    any.decode_as(name)
        .transpose()
        .map_err(|e| bad(format!("{name}: {e}")))
}

fn parse_rd(rd: Option<&Any>) -> Result<Rd, ParseError> {
    let Some(rd) = rd else {
        return Err(bad("route distinguisher: missing"));
    };
    if let Some(ip) = decode::<api::RdIpAddress>(rd, "RouteDistinguisherIPAddress")? {
        let admin = ip.admin.parse().map_err(|_| {
            bad(format!(
                "route distinguisher: {:?} is no IPv4 address",
                ip.admin
            ))
        })?;
        let n = u16::try_from(ip.assigned).map_err(|_| {
            bad(format!(
                "route distinguisher: {} is over 16 bits",
                ip.assigned
            ))
        })?;
        return Ok(Rd::Ip(admin, n));
    }
    for name in [
        "RouteDistinguisherTwoOctetASN",
        "RouteDistinguisherFourOctetASN",
    ] {
        if let Some(asn) = decode::<api::RdAsn>(rd, name)? {
            return Ok(Rd::Asn(asn.admin, asn.assigned));
        }
    }
    Err(bad(format!("route distinguisher: type {:?}", rd.type_url)))
}

fn parse_ip(text: &str, what: &str) -> Result<IpAddr, ParseError> {
    text.parse()
        .map_err(|_| bad(format!("{what}: {text:?} is no IP address")))
}

/// Reads a path gobgpd reported; `asn` picks the route targets that name segments
/// (`asn:VNI`).
///
/// # Errors
/// An EVPN type-2 or type-3 path whose fields do not read (an address, a route
/// distinguisher, a message that does not decode), naming the field.
pub fn parse(path: &api::Path, asn: u16) -> Result<Parsed, ParseError> {
    if path.family != Some(api::Family::EVPN) {
        return Ok(Parsed::Ignored);
    }
    let Some(nlri) = &path.nlri else {
        return Err(bad("NLRI: missing"));
    };
    let (rd, kind) = if let Some(route) =
        decode::<api::MulticastRoute>(nlri, "EVPNInclusiveMulticastEthernetTagRoute")?
    {
        let rd = parse_rd(route.rd.as_ref())?;
        let originator = parse_ip(&route.ip_address, "originating router")?;
        (rd, Kind::Multicast { originator })
    } else if let Some(route) = decode::<api::MacIpRoute>(nlri, "EVPNMACIPAdvertisementRoute")? {
        let rd = parse_rd(route.rd.as_ref())?;
        let mac = route
            .mac_address
            .parse()
            .map_err(|_| bad(format!("MAC address: {:?}", route.mac_address)))?;
        (rd, Kind::Mac { mac, seq: 0 })
    } else {
        return Ok(Parsed::Ignored);
    };
    if path.is_withdraw {
        let key = match kind {
            Kind::Multicast { originator } => Key::Multicast(rd, originator),
            Kind::Mac { mac, .. } => Key::Mac(rd, mac),
        };
        return Ok(Parsed::Withdraw(key));
    }
    let mut nexthop = None;
    let mut vni = None;
    let mut encaps = Vec::new();
    let mut seq = 0;
    let mut tunnel_endpoint = None;
    for attribute in &path.pattrs {
        if let Some(reach) = decode::<api::MpReachAttribute>(attribute, "MpReachNLRIAttribute")? {
            if let Some(hop) = reach.next_hops.first() {
                nexthop = Some(parse_ip(hop, "next hop")?);
            }
        } else if let Some(list) =
            decode::<api::ExtendedCommunities>(attribute, "ExtendedCommunitiesAttribute")?
        {
            for community in &list.communities {
                if let Some(rt) =
                    decode::<api::TwoOctetAsSpecific>(community, "TwoOctetAsSpecificExtended")?
                {
                    // The first route target of this AS names the segment.
                    if rt.sub_type == ROUTE_TARGET && rt.asn == u32::from(asn) && vni.is_none() {
                        vni = Vni::new(rt.local_admin).ok();
                    }
                } else if let Some(encap) =
                    decode::<api::EncapExtended>(community, "EncapExtended")?
                {
                    encaps.extend(tunnel_kind(encap.tunnel_type));
                } else if let Some(mobility) =
                    decode::<api::MacMobility>(community, "MacMobilityExtended")?
                {
                    seq = mobility.sequence_num;
                }
            }
        } else if let Some(pmsi) = decode::<api::PmsiTunnel>(attribute, "PmsiTunnelAttribute")?
            .filter(|pmsi| pmsi.r#type == INGRESS_REPLICATION)
        {
            tunnel_endpoint = Some(match *pmsi.id.as_slice() {
                [a, b, c, d] => IpAddr::from([a, b, c, d]),
                _ => {
                    let bytes = <[u8; 16]>::try_from(pmsi.id.as_slice())
                        .map_err(|_| bad(format!("PMSI tunnel id: {} bytes", pmsi.id.len())))?;
                    IpAddr::from(bytes)
                }
            });
        }
    }
    let Some(vni) = vni else {
        return Ok(Parsed::Ignored);
    };
    let kind = match kind {
        Kind::Mac { mac, .. } => Kind::Mac { mac, seq },
        multicast => multicast,
    };
    // A type 3 floods to its PMSI tunnel's endpoint; the next hop says the same in
    // practice, and stands in when the attribute is missing.
    let nexthop = match kind {
        Kind::Multicast { .. } => tunnel_endpoint.or(nexthop),
        Kind::Mac { .. } => nexthop,
    };
    let Some(nexthop) = nexthop else {
        return Err(bad("next hop: missing"));
    };
    Ok(Parsed::Add(Route {
        rd,
        vni,
        nexthop,
        encaps,
        kind,
    }))
}

#[cfg(test)]
mod tests;
