//! `[evpn]`: the gobgpd vtep drives, the AS of its route targets and its router id; and
//! what the EVPN side needs of the whole file ([`EvpnSettings`]).

#![forbid(unsafe_code)]

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;
use std::{format, vec};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::Deserialize;

use super::{ConfigError, Encap, VtepConfig, error, segment_own_vni};
use crate::tunnel::TunnelKind;
use crate::wire::Vni;

/// `[evpn]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvpnConfig {
    /// The gRPC address of a local gobgpd, "127.0.0.1:50051".
    pub gobgp: String,
    /// The AS: route targets are `asn:VNI`.
    pub asn: u32,
    /// Route distinguishers are `router_id:N`; default `underlay.local_ip`.
    pub router_id: Option<Ipv4Addr>,
}

/// A segment as EVPN advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvpnSegment {
    /// Its VNI, the route target's local part and the label.
    pub vni: Vni,
    /// The `N` of its route distinguisher `router_id:N`: its place in the file, from 1.
    pub rd_number: u16,
    /// The tunnel kinds it speaks: those of its `[[segment.remote]]`s, VXLAN if none.
    pub encaps: Vec<TunnelKind>,
}

/// `[evpn]` checked, with what it needs of the rest of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvpnSettings {
    /// gobgpd's gRPC address.
    pub gobgp: SocketAddr,
    /// The AS of the route targets (16 bits: `asn:VNI` in a two-octet-AS route target,
    /// whose 32-bit local part holds the 24-bit VNI).
    pub asn: u16,
    /// The route distinguishers' address.
    pub router_id: Ipv4Addr,
    /// The next hop of every route: `underlay.local_ip`.
    pub nexthop: IpAddr,
    /// Every `[[segment]]`, in file order.
    pub segments: Vec<EvpnSegment>,
    /// The tunnel kinds vtep receives: VXLAN always, NVGRE with `underlay.nvgre`,
    /// Geneve when a `[[segment.remote]]` speaks it (its port is bound only then).
    pub receives: Vec<TunnelKind>,
}

impl VtepConfig {
    /// `[evpn]` checked, if the file has one.
    ///
    /// # Errors
    /// A key of `[evpn]` with a value it cannot take, named; `[evpn]` in a build
    /// without the `evpn` feature.
    pub fn evpn(&self) -> Result<Option<EvpnSettings>, ConfigError> {
        let Some(evpn) = &self.evpn else {
            return Ok(None);
        };
        if !cfg!(feature = "evpn") {
            return Err(error(
                "evpn",
                "this vtep was built without EVPN (cargo feature `evpn`)",
            ));
        }
        let gobgp = evpn.gobgp.parse().map_err(|_| {
            error(
                "evpn.gobgp",
                format!(
                    "{:?} is not an address and port (\"127.0.0.1:50051\")",
                    evpn.gobgp
                ),
            )
        })?;
        let asn = match u16::try_from(evpn.asn) {
            Ok(0) | Err(_) => {
                return Err(error(
                    "evpn.asn",
                    format!(
                        "{} is outside 1..=65535 (a route target ASN:VNI needs a 2-byte AS \
                         to hold a 24-bit VNI)",
                        evpn.asn
                    ),
                ));
            }
            Ok(asn) => asn,
        };
        let router_id = match (evpn.router_id, self.underlay.local_ip) {
            (Some(id), _) if id.is_unspecified() || id.is_broadcast() || id.is_multicast() => {
                return Err(error(
                    "evpn.router_id",
                    format!("{id} is not a unicast IPv4 address"),
                ));
            }
            (Some(id), _) => id,
            (None, IpAddr::V4(ip)) => ip,
            (None, IpAddr::V6(_)) => {
                return Err(error(
                    "evpn.router_id",
                    "missing: local_ip is IPv6, and route distinguishers need an IPv4 router id",
                ));
            }
        };
        let mut segments = Vec::new();
        for (i, segment) in self.segments.iter().enumerate() {
            let vni = segment_own_vni(i, segment)?;
            let rd_number = i
                .checked_add(1)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| {
                    error(
                        format!("segment[{i}]"),
                        "EVPN numbers 65535 segments at most",
                    )
                })?;
            let mut encaps = Vec::new();
            for remote in &segment.remotes {
                let kind = match remote.encap {
                    Encap::Vxlan => TunnelKind::Vxlan,
                    Encap::Nvgre => TunnelKind::Nvgre,
                    Encap::Geneve => TunnelKind::Geneve,
                };
                if !encaps.contains(&kind) {
                    encaps.push(kind);
                }
            }
            if encaps.is_empty() {
                encaps.push(TunnelKind::Vxlan);
            }
            segments.push(EvpnSegment {
                vni,
                rd_number,
                encaps,
            });
        }
        let mut receives = vec![TunnelKind::Vxlan];
        if self.underlay.nvgre {
            receives.push(TunnelKind::Nvgre);
        }
        if segments
            .iter()
            .any(|s| s.encaps.contains(&TunnelKind::Geneve))
        {
            receives.push(TunnelKind::Geneve);
        }
        Ok(Some(EvpnSettings {
            gobgp,
            asn,
            router_id,
            nexthop: self.underlay.local_ip,
            segments,
            receives,
        }))
    }
}

#[cfg(test)]
mod tests;
