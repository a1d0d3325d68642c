//! The vtep TOML configuration (the format is fixed by the project's interface
//! contract): parsing, checking, and building the switch it describes.
//!
//! Every mistake is an error naming the key: `segment[0].vni: 16777216 is over 24 bits`.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

// The crate is no_std; this driver is not.
use std::format;
use std::prelude::rust_2024::*;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use serde::Deserialize;

use crate::switch::{
    self, Location, PortConfig, RemoteConfig, SegmentConfig, Switch, SwitchConfig, is_vtep_address,
};
use crate::tunnel::{PortRange, TunnelKind, VXLAN_OVERHEAD};
use crate::wire::{MacAddr, VlanId, Vni, Vsid};

mod evpn;

pub use evpn::{EvpnConfig, EvpnSegment, EvpnSettings};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VtepConfig {
    /// `[underlay]`.
    pub underlay: UnderlayConfig,
    /// `[[port]]`: the TAP devices.
    #[serde(default, rename = "port")]
    pub ports: Vec<PortEntry>,
    /// `[[segment]]`.
    #[serde(default, rename = "segment")]
    pub segments: Vec<SegmentEntry>,
    /// `[evpn]`: routes through a local gobgpd (feature `evpn`; without it, an error).
    pub evpn: Option<EvpnConfig>,
}

/// `[underlay]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnderlayConfig {
    /// This VTEP's address, IPv4 or IPv6.
    pub local_ip: IpAddr,
    /// A second, IPv6 address (dual stack, with an IPv4 `local_ip`).
    pub local_ip6: Option<Ipv6Addr>,
    /// The VXLAN UDP port.
    #[serde(default = "default_vxlan_port")]
    pub vxlan_port: u16,
    /// The Geneve UDP port.
    #[serde(default = "default_geneve_port")]
    pub geneve_port: u16,
    /// Also speak NVGRE.
    #[serde(default)]
    pub nvgre: bool,
    /// Underlay MTU.
    #[serde(default = "default_mtu")]
    pub mtu: u16,
}

/// `[[port]]`: a TAP device.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortEntry {
    /// Device name.
    pub name: String,
    /// The TAP's MTU; default underlay MTU - 50.
    pub mtu: Option<u16>,
    /// Access port of this segment.
    pub vni: Option<u32>,
    /// Trunk port: `[[port.vlan]]` mappings.
    #[serde(default)]
    pub vlan: Vec<VlanEntry>,
    /// Isolated (private) port.
    #[serde(default)]
    pub isolated: bool,
    /// Most MAC addresses learned from this port.
    pub mac_limit: Option<usize>,
}

/// `[[port.vlan]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VlanEntry {
    /// 802.1Q VID.
    pub vid: u16,
    /// Its segment.
    pub vni: u32,
}

/// `[[segment]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentEntry {
    /// VNI (and VSID). Required; optional here only so that a `[[segment.remote]]` or
    /// `[[segment.static]]` with no `[[segment]]` before it gets a clear message.
    pub vni: Option<u32>,
    /// Most MAC addresses learned.
    pub mac_limit: Option<usize>,
    /// Ageing time in seconds.
    pub ageing_secs: Option<u64>,
    /// `[[segment.remote]]`.
    #[serde(default, rename = "remote")]
    pub remotes: Vec<RemoteEntry>,
    /// `[[segment.static]]`.
    #[serde(default, rename = "static")]
    pub statics: Vec<StaticEntry>,
}

/// `[[segment.remote]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteEntry {
    /// Its underlay address, IPv4 or IPv6.
    pub ip: IpAddr,
    /// `vxlan` (default), `nvgre` or `geneve`.
    #[serde(default)]
    pub encap: Encap,
}

/// A remote's encapsulation in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encap {
    /// VXLAN.
    #[default]
    Vxlan,
    /// NVGRE.
    Nvgre,
    /// Geneve, without options.
    Geneve,
}

/// `[[segment.static]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticEntry {
    /// The address, "02:00:00:00:00:09".
    pub mac: String,
    /// Pinned to this remote of the segment.
    pub remote: Option<IpAddr>,
    /// Or to this port.
    pub port: Option<String>,
}

fn default_vxlan_port() -> u16 {
    crate::wire::vxlan::PORT
}

fn default_geneve_port() -> u16 {
    crate::wire::geneve::PORT
}

fn default_mtu() -> u16 {
    1500
}

/// A configuration mistake: the key it is about and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, as a path: `segment[1].remote[0].encap`; empty for a TOML syntax error,
    /// whose message names the key and line itself.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message.trim_end())
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

fn error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// A local port as the driver needs it: its device name and MTU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortDevice {
    /// TAP device name.
    pub name: String,
    /// TAP MTU.
    pub mtu: u16,
}

impl VtepConfig {
    /// Parses and checks a configuration file's text.
    ///
    /// # Errors
    /// A TOML or type error (its message names the key and line), or a [`check`](Self::check) error.
    pub fn parse(text: &str) -> Result<VtepConfig, ConfigError> {
        // `[[segment.remote]]` with no `[[segment]]` before it makes `segment` a table, not
        // an array of them: say that, rather than serde's "expected a sequence".
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| error("", e.to_string()))?;
        for (array, children) in [
            ("segment", "[[segment.remote]] or [[segment.static]]"),
            ("port", "[[port.vlan]]"),
        ] {
            if table.get(array).is_some_and(toml::Value::is_table) {
                return Err(error(
                    array,
                    format!("{children} without a [[{array}]] before it"),
                ));
            }
        }
        let config: VtepConfig = toml::from_str(text).map_err(|e| error("", e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Checks what TOML types cannot: unicast local addresses, 24-bit VNIs, usable VIDs,
    /// that every VNI named has a `[[segment]]`, an ageing time of a second or more,
    /// that each remote is a unicast address other than a local one, of a family with a
    /// local address, and that static entries name ports and remotes of their segment,
    /// each address once; and `[evpn]` ([`evpn`](Self::evpn)).
    ///
    /// # Errors
    /// The first mistake, naming its key.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.build(0)?;
        self.evpn().map(drop)
    }

    /// The TAP devices to create, in port order (`PortId` 0, 1, ...).
    pub fn devices(&self) -> Vec<PortDevice> {
        self.ports
            .iter()
            .map(|port| PortDevice {
                name: port.name.clone(),
                mtu: self.port_mtu(port),
            })
            .collect()
    }

    /// A port's MTU: its own, or what VXLAN over IPv4 leaves of the underlay's.
    fn port_mtu(&self, port: &PortEntry) -> u16 {
        let default = self.underlay.mtu.saturating_sub(VXLAN_OVERHEAD as u16);
        port.mtu.unwrap_or(default)
    }

    /// Builds the switch the file describes; `hash_seed` keys its MAC table.
    ///
    /// # Errors
    /// As [`check`](Self::check).
    pub fn build(&self, hash_seed: u64) -> Result<Switch, ConfigError> {
        self.build_with_source_ports(hash_seed, PortRange::DYNAMIC)
    }

    /// As [`build`](Self::build), with VXLAN remotes choosing their UDP source ports
    /// from `source_ports` (the driver's pool of sending sockets).
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn build_with_source_ports(
        &self,
        hash_seed: u64,
        source_ports: PortRange,
    ) -> Result<Switch, ConfigError> {
        let underlay = &self.underlay;
        let mut config = SwitchConfig::new(underlay.local_ip);
        config.source_ports = source_ports;
        local_address("underlay.local_ip", underlay.local_ip)?;
        if let Some(local_ip6) = underlay.local_ip6 {
            local_address("underlay.local_ip6", local_ip6.into())?;
            if underlay.local_ip.is_ipv6() {
                return Err(error(
                    "underlay.local_ip6",
                    "local_ip is IPv6 already; for dual stack give local_ip an IPv4 address",
                ));
            }
            config.local_ipv6 = Some(local_ip6);
        }
        config.vxlan_port = underlay.vxlan_port;
        config.geneve_port = underlay.geneve_port;
        if underlay.geneve_port == underlay.vxlan_port {
            return Err(error(
                "underlay.geneve_port",
                format!("{} is the VXLAN port too", underlay.geneve_port),
            ));
        }
        config.mtu = underlay.mtu;
        config.hash_seed = hash_seed;
        // EVPN advertises local MACs with sequence numbers: a host seen on a local port
        // moved here, whatever route pinned it elsewhere.
        config.local_moves_evpn = self.evpn.is_some();
        if underlay.mtu < 68 {
            return Err(error(
                "underlay.mtu",
                format!("{} is below 68", underlay.mtu),
            ));
        }
        let mut switch = Switch::new(config);
        for (i, segment) in self.segments.iter().enumerate() {
            let key = format!("segment[{i}]");
            let vni = segment_own_vni(i, segment)?;
            let mut settings = SegmentConfig::new(vni);
            if let Some(limit) = segment.mac_limit {
                settings.mac_limit = limit;
            }
            match segment.ageing_secs {
                Some(0) => {
                    return Err(error(
                        format!("{key}.ageing_secs"),
                        "0 would age every address out as soon as it is learned: give 1 or more",
                    ));
                }
                Some(secs) => settings.ageing = Duration::from_secs(secs),
                None => {}
            }
            switch
                .add_segment(settings)
                .map_err(|e| error(format!("{key}.vni"), e.to_string()))?;
        }
        let mut names = HashSet::new();
        for (i, port) in self.ports.iter().enumerate() {
            let key = format!("port[{i}]");
            if port.name.is_empty() || port.name.len() > 15 {
                return Err(error(format!("{key}.name"), "must be 1 to 15 bytes"));
            }
            if !names.insert(port.name.as_str()) {
                return Err(error(
                    format!("{key}.name"),
                    format!("{:?} is used twice", port.name),
                ));
            }
            let mut settings = match (port.vni, port.vlan.is_empty()) {
                (Some(n), true) => {
                    let key = format!("{key}.vni");
                    PortConfig::access(segment_vni(&switch, &key, n)?)
                }
                (None, false) => {
                    let mut map = Vec::new();
                    for (j, entry) in port.vlan.iter().enumerate() {
                        let key = format!("{key}.vlan[{j}]");
                        let vid = VlanId::usable(entry.vid).map_err(|_| {
                            error(
                                format!("{key}.vid"),
                                format!("{} is outside 1..=4094", entry.vid),
                            )
                        })?;
                        map.push((vid, segment_vni(&switch, &format!("{key}.vni"), entry.vni)?));
                    }
                    PortConfig::trunk(map)
                }
                _ => {
                    return Err(error(
                        key,
                        "give either `vni` (an access port) or [[port.vlan]] mappings (a trunk port)",
                    ));
                }
            };
            settings.isolated = port.isolated;
            // The kernel delivers what is written to a TAP whatever its MTU: the switch
            // holds frames to it.
            settings.mtu = Some(self.port_mtu(port));
            settings.mac_limit = port.mac_limit;
            switch
                .add_port(settings)
                .map_err(|e| error(format!("{key}.vlan"), e.to_string()))?;
        }
        for (i, segment) in self.segments.iter().enumerate() {
            let vni = segment_own_vni(i, segment)?;
            let mut remotes = Vec::new();
            for (j, remote) in segment.remotes.iter().enumerate() {
                let key = format!("segment[{i}].remote[{j}]");
                let kind = match remote.encap {
                    Encap::Vxlan => TunnelKind::Vxlan,
                    Encap::Geneve => TunnelKind::Geneve,
                    Encap::Nvgre if !underlay.nvgre => {
                        return Err(error(
                            format!("{key}.encap"),
                            "nvgre needs `nvgre = true` in [underlay]",
                        ));
                    }
                    Encap::Nvgre if Vsid::new(vni.get()).is_ok_and(Vsid::is_reserved) => {
                        return Err(error(
                            format!("{key}.encap"),
                            format!(
                                "nvgre: VSID {vni} is reserved (RFC 7637: 0-4095 and 16777215); \
                                 give the segment a VNI from 4096"
                            ),
                        ));
                    }
                    Encap::Nvgre => TunnelKind::Nvgre,
                };
                let id = switch
                    .add_remote(vni, RemoteConfig::new(remote.ip, kind))
                    .map_err(|e| error(format!("{key}.ip"), remote_mistake(e)))?;
                remotes.push((remote.ip, id));
            }
            // Each address pinned once: a second pin would silently win over the first.
            let mut pinned = HashMap::new();
            for (j, entry) in segment.statics.iter().enumerate() {
                let key = format!("segment[{i}].static[{j}]");
                let mac: MacAddr = entry.mac.parse().map_err(|_| {
                    error(
                        format!("{key}.mac"),
                        format!("{:?} is not a MAC address", entry.mac),
                    )
                })?;
                if let Some(first) = pinned.insert(mac, j) {
                    return Err(error(
                        format!("{key}.mac"),
                        format!("{mac} is pinned already, by segment[{i}].static[{first}]"),
                    ));
                }
                let location = match (&entry.remote, &entry.port) {
                    (Some(ip), None) => {
                        let Some(&(_, id)) = remotes.iter().find(|(r, _)| r == ip) else {
                            return Err(error(
                                format!("{key}.remote"),
                                format!("{ip} is not a [[segment.remote]] of segment {vni}"),
                            ));
                        };
                        Location::Remote(id)
                    }
                    (None, Some(name)) => {
                        let Some(index) = self.ports.iter().position(|p| &p.name == name) else {
                            return Err(error(
                                format!("{key}.port"),
                                format!("no [[port]] is named {name:?}"),
                            ));
                        };
                        Location::Port(switch_port(index))
                    }
                    _ => return Err(error(key, "give exactly one of `remote` and `port`")),
                };
                let which = if entry.port.is_some() {
                    "port"
                } else {
                    "remote"
                };
                switch.add_static(vni, mac, location).map_err(|_| {
                    error(format!("{key}.{which}"), format!("is not in segment {vni}"))
                })?;
            }
        }
        Ok(switch)
    }
}

/// Fails unless `ip` can be this VTEP's address.
fn local_address(key: &str, ip: IpAddr) -> Result<(), ConfigError> {
    if is_vtep_address(ip) {
        return Ok(());
    }
    Err(error(
        key,
        format!(
            "{ip} is not a unicast address a VTEP can have \
             (unspecified, loopback, multicast, broadcast or IPv4-mapped)"
        ),
    ))
}

/// What the file should say instead, for a remote the switch refused.
fn remote_mistake(refused: switch::ConfigError) -> String {
    match refused {
        switch::ConfigError::NoLocalAddress(ip @ IpAddr::V4(_)) => format!(
            "{ip} is IPv4 but [underlay] has no IPv4 address: \
             give local_ip an IPv4 address, and local_ip6 the IPv6 one"
        ),
        switch::ConfigError::NoLocalAddress(ip @ IpAddr::V6(_)) => {
            format!("{ip} is IPv6 but [underlay] has no IPv6 address: give local_ip6")
        }
        switch::ConfigError::LocalAddress(ip) => {
            format!("{ip} is this VTEP's own address in [underlay]")
        }
        other => other.to_string(),
    }
}

/// The `PortId` of the `index`th port (ports are added in file order).
fn switch_port(index: usize) -> crate::switch::PortId {
    crate::switch::PortId(index as u16)
}

/// The VNI of the `i`th `[[segment]]`.
fn segment_own_vni(i: usize, segment: &SegmentEntry) -> Result<Vni, ConfigError> {
    let key = format!("segment[{i}].vni");
    match segment.vni {
        Some(value) => vni(&key, value),
        None => Err(error(
            key,
            "missing: every [[segment.remote]] and [[segment.static]] belongs to a [[segment]] with a vni",
        )),
    }
}

fn vni(key: &str, value: u32) -> Result<Vni, ConfigError> {
    Vni::new(value).map_err(|_| error(key, format!("{value} is over 24 bits (at most 16777215)")))
}

/// A VNI that must have a `[[segment]]`.
fn segment_vni(switch: &Switch, key: &str, value: u32) -> Result<Vni, ConfigError> {
    let vni = vni(key, value)?;
    switch
        .segment_id(vni)
        .map_err(|_| error(key, format!("no [[segment]] has VNI {value}")))?;
    Ok(vni)
}

#[cfg(test)]
mod tests;
