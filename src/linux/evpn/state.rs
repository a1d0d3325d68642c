//! What EVPN does to the switch, on the run loop's thread and without I/O: the routes
//! vtep advertises (type 3 per segment; type 2 per MAC learned on a local port, with
//! RFC 7432 section 15 sequence numbers), and the received ones mirrored as remotes
//! (type 3: on the flood list) and MAC entries of origin EVPN (type 2).
//!
//! A remote made for routes lives while a route names it; a remote from the file is
//! only put on or left on the flood list, never removed. Among several routes for one
//! MAC (a host moving between VTEPs), the highest sequence number wins, then the lowest
//! next hop (RFC 7432 section 15.1); a MAC learned here keeps its local entry unless a
//! route says it moved away later than it moved here. A withdrawn MAC route's sequence
//! number is remembered for [`SEQ_MEMORY`]: the VTEP a host left may withdraw before
//! the host is advertised here (it saw the host's frames come through the tunnel), and
//! the move must still count up.
//!
//! After gobgpd restarted, its first snapshot lacks what its peers have not sent again
//! yet: routes missing from it stay, stale, for [`STALE_GRACE`], and go only if no peer
//! has announced them again by then (as a BGP graceful-restart helper keeps them).

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;
use std::{eprintln, format};

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;

use super::client::{FromBgp, ToBgp};
use super::routes::{Key, Kind, Rd, Route};
use crate::linux::config::EvpnSettings;
use crate::switch::{Location, Origin, RemoteConfig, RemoteId, Switch};
use crate::tunnel::TunnelKind;
use crate::wire::{MacAddr, Vni};

/// A remote as routes name it: segment, address and encapsulation.
type RemoteKey = (Vni, IpAddr, u8);

/// The routes that hold a remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Use {
    /// Listed in the file: never removed, always flooded to.
    from_file: bool,
    /// Type-3 routes naming it.
    multicast: usize,
    /// Type-2 routes naming it.
    macs: usize,
}

/// How long routes missing from a new session's first snapshot are kept: time for
/// gobgpd's BGP sessions to come back up and send their tables (gobgpd's first
/// connection comes 5 to 9 s after its start with a 5 s connect-retry).
pub const STALE_GRACE: Duration = Duration::from_secs(60);

/// How long the sequence number of a withdrawn MAC route is remembered.
pub const SEQ_MEMORY: Duration = Duration::from_secs(60);

/// The EVPN side of a running vtep.
#[derive(Debug)]
pub struct State {
    settings: EvpnSettings,
    /// What vtep advertises, by key.
    out: BTreeMap<Key, Route>,
    /// The MACs advertised (learned on a local port), with their sequence numbers.
    local: BTreeMap<(Vni, MacAddr), u32>,
    /// The routes received, by key.
    received: BTreeMap<Key, Route>,
    /// The received type-2 routes of each MAC.
    by_mac: BTreeMap<(Vni, MacAddr), BTreeSet<Key>>,
    /// The remotes routes hold.
    uses: BTreeMap<RemoteKey, Use>,
    /// Remotes were added or removed since the driver last asked.
    remotes_changed: bool,
    /// Routes sent or received changed since the listing was last taken.
    changed: bool,
    /// Received routes missing from the last snapshot, removed at these times unless
    /// announced again.
    stale: BTreeMap<Key, Duration>,
    /// The highest sequence number of each MAC's withdrawn routes, and when.
    withdrawn_seq: BTreeMap<(Vni, MacAddr), (u32, Duration)>,
    /// The run loop's clock at the last tick.
    now: Duration,
}

/// A tunnel kind as a map key.
fn kind_key(kind: TunnelKind) -> u8 {
    match kind {
        TunnelKind::Vxlan => 0,
        TunnelKind::Nvgre => 1,
        TunnelKind::Geneve => 2,
    }
}

/// A tunnel kind as the configuration names it.
fn kind_name(kind: TunnelKind) -> &'static str {
    match kind {
        TunnelKind::Vxlan => "vxlan",
        TunnelKind::Nvgre => "nvgre",
        TunnelKind::Geneve => "geneve",
    }
}

impl State {
    /// The state of a vtep that has advertised nothing yet.
    pub fn new(settings: EvpnSettings) -> State {
        State {
            settings,
            out: BTreeMap::new(),
            local: BTreeMap::new(),
            received: BTreeMap::new(),
            by_mac: BTreeMap::new(),
            uses: BTreeMap::new(),
            remotes_changed: false,
            changed: true,
            stale: BTreeMap::new(),
            withdrawn_seq: BTreeMap::new(),
            now: Duration::ZERO,
        }
    }

    /// The route distinguisher of segment `vni`.
    fn rd(&self, vni: Vni) -> Option<Rd> {
        self.settings
            .segments
            .iter()
            .find(|s| s.vni == vni)
            .map(|s| Rd::Ip(self.settings.router_id, s.rd_number))
    }

    /// The type-3 route of each segment, to advertise at start.
    pub fn start(&mut self) -> Vec<ToBgp> {
        let nexthop = self.settings.nexthop;
        let routes: Vec<Route> = self
            .settings
            .segments
            .iter()
            .map(|segment| Route {
                rd: Rd::Ip(self.settings.router_id, segment.rd_number),
                vni: segment.vni,
                nexthop,
                encaps: segment.encaps.clone(),
                kind: Kind::Multicast {
                    originator: nexthop,
                },
            })
            .collect();
        routes
            .into_iter()
            .map(|route| {
                self.out.insert(route.key(), route.clone());
                ToBgp::Advertise(route)
            })
            .collect()
    }

    /// True once, after remotes were added or removed: the driver's per-remote lists
    /// need refreshing.
    pub fn take_remotes_changed(&mut self) -> bool {
        std::mem::take(&mut self.remotes_changed)
    }

    /// True once, after the routes sent or received changed.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Applies what gobgpd reported.
    pub fn apply(&mut self, switch: &mut Switch, report: FromBgp) {
        self.changed = true;
        match report {
            FromBgp::Add(route) => {
                self.stale.remove(&route.key());
                self.add(switch, route);
            }
            FromBgp::Withdraw(key) => {
                self.stale.remove(&key);
                self.remove(switch, &key);
            }
            FromBgp::Resync(routes) => {
                let current: BTreeSet<Key> = routes.iter().map(Route::key).collect();
                let deadline = self.now.saturating_add(STALE_GRACE);
                for key in self.received.keys() {
                    if !current.contains(key) {
                        self.stale.entry(*key).or_insert(deadline);
                    }
                }
                for route in routes {
                    self.stale.remove(&route.key());
                    self.add(switch, route);
                }
            }
        }
    }

    /// Removes the stale routes whose grace ran out by `now`.
    fn expire(&mut self, switch: &mut Switch, now: Duration) {
        let expired: Vec<Key> = self
            .stale
            .iter()
            .filter(|&(_, &deadline)| deadline <= now)
            .map(|(key, _)| *key)
            .collect();
        for key in expired {
            self.stale.remove(&key);
            self.remove(switch, &key);
            self.changed = true;
        }
        self.withdrawn_seq
            .retain(|_, &mut (_, when)| now.saturating_sub(when) < SEQ_MEMORY);
    }

    /// A route this vtep sent, seen back through gobgpd.
    fn is_own(&self, route: &Route) -> bool {
        matches!(route.rd, Rd::Ip(id, _) if id == self.settings.router_id)
            || route.nexthop == self.settings.nexthop
    }

    fn add(&mut self, switch: &mut Switch, route: Route) {
        if self.is_own(&route) || switch.segment_id(route.vni).is_err() {
            return;
        }
        let key = route.key();
        match self.received.get(&key) {
            Some(known) if *known == route => return,
            // Changed (a new sequence number, next hop or segment): replaced whole.
            Some(_) => self.remove(switch, &key),
            None => {}
        }
        let kind = route.remote_kind(&self.settings.receives);
        let Some(remote) = self.acquire(switch, route.vni, route.nexthop, kind) else {
            return;
        };
        let remote_key = (route.vni, route.nexthop, kind_key(kind));
        let Some(used) = self.uses.get_mut(&remote_key) else {
            return;
        };
        match route.kind {
            Kind::Multicast { .. } => {
                used.multicast = used.multicast.saturating_add(1);
                // A remote made for type-2 routes alone was off the flood list.
                let _ = switch.set_flood(remote, true);
            }
            Kind::Mac { mac, .. } => {
                used.macs = used.macs.saturating_add(1);
                self.by_mac.entry((route.vni, mac)).or_default().insert(key);
            }
        }
        let vni = route.vni;
        let mac = match route.kind {
            Kind::Mac { mac, .. } => Some(mac),
            Kind::Multicast { .. } => None,
        };
        self.received.insert(key, route);
        if let Some(mac) = mac {
            self.install(switch, vni, mac);
        }
    }

    fn remove(&mut self, switch: &mut Switch, key: &Key) {
        let Some(route) = self.received.remove(key) else {
            return;
        };
        let kind = route.remote_kind(&self.settings.receives);
        let remote_key = (route.vni, route.nexthop, kind_key(kind));
        let remote = switch.find_remote(route.vni, route.nexthop, kind);
        if let Some(used) = self.uses.get_mut(&remote_key) {
            match route.kind {
                Kind::Multicast { .. } => {
                    used.multicast = used.multicast.saturating_sub(1);
                    if let (0, false, Some(remote)) = (used.multicast, used.from_file, remote) {
                        let _ = switch.set_flood(remote, false);
                    }
                }
                Kind::Mac { .. } => used.macs = used.macs.saturating_sub(1),
            }
        }
        if let Kind::Mac { mac, seq } = route.kind {
            let remembered = self
                .withdrawn_seq
                .entry((route.vni, mac))
                .or_insert((seq, self.now));
            *remembered = (remembered.0.max(seq), self.now);
            if let Some(keys) = self.by_mac.get_mut(&(route.vni, mac)) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_mac.remove(&(route.vni, mac));
                }
            }
            switch.remove_entry(route.vni, mac, Origin::Evpn);
        }
        self.release(switch, remote_key, remote);
        if let Kind::Mac { mac, .. } = route.kind {
            // Another VTEP's route for the MAC, if any, takes over.
            self.install(switch, route.vni, mac);
        }
    }

    /// The remote of segment `vni` at `ip` speaking `kind`, added if the switch has none.
    fn acquire(
        &mut self,
        switch: &mut Switch,
        vni: Vni,
        ip: IpAddr,
        kind: TunnelKind,
    ) -> Option<RemoteId> {
        let remote_key = (vni, ip, kind_key(kind));
        let found = switch.find_remote(vni, ip, kind);
        if self.uses.contains_key(&remote_key) && found.is_some() {
            return found;
        }
        let remote = match found {
            Some(remote) => remote,
            None => {
                let mut config = RemoteConfig::new(ip, kind);
                // On the flood list only once a type-3 route says so.
                config.flood = false;
                match switch.add_remote(vni, config) {
                    Ok(remote) => {
                        if !self.settings.receives.contains(&kind) {
                            eprintln!(
                                "vtep: evpn: segment {vni}: remote {ip} speaks only {}, which \
                                 this vtep does not receive: frames from it are lost",
                                kind_name(kind)
                            );
                        }
                        self.remotes_changed = true;
                        remote
                    }
                    Err(error) => {
                        eprintln!("vtep: evpn: segment {vni}: remote {ip} not added: {error}");
                        return None;
                    }
                }
            }
        };
        self.uses.insert(
            remote_key,
            Use {
                from_file: found.is_some(),
                multicast: 0,
                macs: 0,
            },
        );
        Some(remote)
    }

    /// Removes a remote that no route holds any more, unless it is the file's.
    fn release(&mut self, switch: &mut Switch, remote_key: RemoteKey, remote: Option<RemoteId>) {
        let Some(&used) = self.uses.get(&remote_key) else {
            return;
        };
        if used.multicast > 0 || used.macs > 0 {
            return;
        }
        self.uses.remove(&remote_key);
        if let (false, Some(remote)) = (used.from_file, remote) {
            switch.remove_remote(remote);
            self.remotes_changed = true;
        }
    }

    /// The received route that wins for a MAC: highest sequence number, then lowest
    /// next hop.
    fn best(&self, vni: Vni, mac: MacAddr) -> Option<&Route> {
        let keys = self.by_mac.get(&(vni, mac))?;
        keys.iter()
            .filter_map(|key| self.received.get(key))
            .max_by(|a, b| seq(a).cmp(&seq(b)).then_with(|| b.nexthop.cmp(&a.nexthop)))
    }

    /// Points the MAC's EVPN entry at the winning route, unless the MAC lives here and
    /// no route says it moved away since.
    fn install(&mut self, switch: &mut Switch, vni: Vni, mac: MacAddr) {
        let Some(best) = self.best(vni, mac) else {
            return;
        };
        if let Some(&ours) = self.local.get(&(vni, mac)) {
            let later =
                seq(best) > ours || (seq(best) == ours && best.nexthop < self.settings.nexthop);
            if !later {
                return;
            }
        }
        let kind = best.remote_kind(&self.settings.receives);
        let Some(remote) = switch.find_remote(vni, best.nexthop, kind) else {
            return;
        };
        let _ = switch.add_entry(vni, mac, Location::Remote(remote), Origin::Evpn);
    }

    /// Compares the MACs learned on local ports at `now` with those advertised: routes
    /// for the new ones, withdrawals for those gone (aged out, or moved to another VTEP).
    /// Routes left stale by a resync whose grace ran out are removed first.
    pub fn reconcile(&mut self, switch: &mut Switch, now: Duration) -> Vec<ToBgp> {
        self.now = now;
        self.expire(switch, now);
        let learned: BTreeSet<(Vni, MacAddr)> = switch
            .fdb(now)
            .filter(|e| e.origin == Origin::Learned && matches!(e.location, Location::Port(_)))
            .map(|e| (e.vni, e.mac))
            .collect();
        let mut orders = Vec::new();
        let gone: Vec<(Vni, MacAddr)> = self
            .local
            .keys()
            .filter(|m| !learned.contains(m))
            .copied()
            .collect();
        for (vni, mac) in gone {
            self.local.remove(&(vni, mac));
            if let Some(rd) = self.rd(vni) {
                let key = Key::Mac(rd, mac);
                self.out.remove(&key);
                orders.push(ToBgp::Withdraw(key));
            }
            self.install(switch, vni, mac);
        }
        for &(vni, mac) in learned.iter() {
            if self.local.contains_key(&(vni, mac)) {
                continue;
            }
            let Some(rd) = self.rd(vni) else {
                continue;
            };
            // A MAC another VTEP advertised, or withdrew a moment ago, has moved here
            // (RFC 7432 section 15).
            let advertised = self.best(vni, mac).map(seq);
            let withdrawn = self.withdrawn_seq.get(&(vni, mac)).map(|&(seq, _)| seq);
            let seq = advertised
                .max(withdrawn)
                .map_or(0, |seq| seq.saturating_add(1));
            let encaps = self
                .settings
                .segments
                .iter()
                .find(|s| s.vni == vni)
                .map(|s| s.encaps.clone())
                .unwrap_or_default();
            let route = Route {
                rd,
                vni,
                nexthop: self.settings.nexthop,
                encaps,
                kind: Kind::Mac { mac, seq },
            };
            self.local.insert((vni, mac), seq);
            self.out.insert(route.key(), route.clone());
            orders.push(ToBgp::Advertise(route));
        }
        self.changed |= !orders.is_empty();
        orders
    }

    /// The routes sent and received as JSON lines, for `vtep ctl PATH evpn`:
    /// `{"dir":"out","type":3,"vni":42,"mac":null,"nexthop":"10.99.0.2","seq":0}`.
    pub fn lines(&self) -> String {
        let mut text = String::new();
        for (dir, routes) in [("out", &self.out), ("in", &self.received)] {
            for route in routes.values() {
                let (kind, mac, seq) = match route.kind {
                    Kind::Multicast { .. } => (3, None, 0),
                    Kind::Mac { mac, seq } => (2, Some(mac.to_string()), seq),
                };
                let line = json!({
                    "dir": dir,
                    "type": kind,
                    "vni": route.vni.get(),
                    "mac": mac,
                    "nexthop": route.nexthop.to_string(),
                    "seq": seq,
                });
                text.push_str(&format!("{line}\n"));
            }
        }
        text
    }
}

/// A route's MAC mobility sequence number (0 for type 3).
fn seq(route: &Route) -> u32 {
    match route.kind {
        Kind::Mac { seq, .. } => seq,
        Kind::Multicast { .. } => 0,
    }
}

#[cfg(test)]
mod tests;
