//! Remote VTEPs added and removed while the switch runs, as a control plane mirrors
//! routes: their slots and ids, flood lists, lookups and counters.

// Reached by a control plane's input (routes from other hosts) while frames flow: no
// unchecked indexing, no arithmetic that could overflow, except where an `allow` says why
// it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::net::IpAddr;

use super::{
    ConfigError, Counters, Location, Remote, RemoteConfig, RemoteId, Switch, is_vtep_address,
};
use crate::tunnel::{Encapsulator, TunnelConfig, TunnelKind};
use crate::wire::nvgre::Vsid;
use crate::wire::vxlan::Vni;

impl Switch {
    /// Adds a remote VTEP to segment `vni`; it is on the flood list if `config.flood`.
    /// Its packets leave from the local address of its family, so the underlay MTU
    /// leaves 20 bytes less for its frames over IPv6. It may be added at any time,
    /// frames flowing or not; it takes the slot of a removed remote if there is one
    /// (see [`RemoteId`]), with counters from zero.
    ///
    /// # Errors
    /// `UnknownSegment`; `NotUnicast` for an address no VTEP can have
    /// ([`is_vtep_address`]); `NoLocalAddress` when the switch has no local address of
    /// its family; `LocalAddress` for the switch's own; `DuplicateRemote` when the
    /// segment has this address with this encapsulation already; `Tunnel` when the
    /// encapsulator refuses the settings.
    pub fn add_remote(&mut self, vni: Vni, config: RemoteConfig) -> Result<RemoteId, ConfigError> {
        let segment = self.segment_id(vni)?;
        if !is_vtep_address(config.ip) {
            return Err(ConfigError::NotUnicast(config.ip));
        }
        let Some(local) = self.config.local_ip_for(config.ip) else {
            return Err(ConfigError::NoLocalAddress(config.ip));
        };
        if local == config.ip {
            return Err(ConfigError::LocalAddress(config.ip));
        }
        if self.find_remote(vni, config.ip, config.kind).is_some() {
            return Err(ConfigError::DuplicateRemote(config.ip));
        }
        let mut tunnel = match config.kind {
            TunnelKind::Vxlan => TunnelConfig::vxlan(vni, local, config.ip),
            TunnelKind::Nvgre => {
                let vsid = Vsid::new(vni.get()).map_err(ConfigError::Tunnel)?;
                TunnelConfig::nvgre(vsid, local, config.ip)
            }
            // No options: the switch carries Ethernet frames and no metadata.
            TunnelKind::Geneve => TunnelConfig::geneve(vni, local, config.ip),
        };
        tunnel.mtu = self.config.mtu;
        tunnel.vxlan_port = self.config.vxlan_port;
        tunnel.geneve_port = self.config.geneve_port;
        tunnel.source_ports = self.config.source_ports;
        let encapsulator = Encapsulator::new(tunnel).map_err(ConfigError::Tunnel)?;
        let (slot, generation) = match self.free_remotes.pop() {
            // A new generation: ids kept from the slot's last remote name nothing.
            Some(slot) => {
                let last = self.remotes.get(usize::from(slot)).map(|r| r.generation);
                (slot, last.unwrap_or(0).wrapping_add(1))
            }
            None => {
                let slot = u16::try_from(self.remotes.len()).map_err(|_| ConfigError::TooMany)?;
                (slot, 0)
            }
        };
        let id = RemoteId { slot, generation };
        let remote = Remote {
            generation,
            live: true,
            segment,
            ip: config.ip,
            kind: config.kind,
            flood: config.flood,
            encapsulator,
            counters: Counters::default(),
        };
        match self.remotes.get_mut(id.index()) {
            Some(freed) => *freed = remote,
            None => self.remotes.push(remote),
        }
        segment.of_mut(&mut self.segments).remotes.push(id);
        self.reserve_targets();
        Ok(id)
    }

    /// Removes a remote, at any time: off its segment's flood list, and every MAC entry
    /// pointing at it goes (learned, static or EVPN), so nothing is sent to it again and
    /// tunnel frames from it are `unknown_source`. The other remotes keep their ids; its
    /// slot goes to a later remote (see [`RemoteId`]). Its counters go with it (they
    /// read as zero, and the next remote in its slot starts from zero): its frames stay
    /// counted in its segment's counters, a copy the driver reports sent after the
    /// removal ([`count_sent`](Self::count_sent)) counts for the segment only, and
    /// [`emit`](Self::emit) refuses to write one as `write_failed`.
    /// Move events already queued may still name it. True if it was there; false for
    /// an id removed already (a withdrawal seen twice is no error).
    pub fn remove_remote(&mut self, remote: RemoteId) -> bool {
        let Some(removed) = self.remote_mut(remote) else {
            return false;
        };
        removed.live = false;
        let segment = removed.segment;
        segment
            .of_mut(&mut self.segments)
            .remotes
            .retain(|&r| r != remote);
        let location = Location::Remote(remote);
        self.table.sweep(|entry| entry.location == location);
        self.free_remotes.push(remote.slot);
        true
    }

    /// The remote of segment `vni` at `ip` speaking `kind`, if there is one: a control
    /// plane withdrawing a route knows the remote by these, not by its id.
    pub fn find_remote(&self, vni: Vni, ip: IpAddr, kind: TunnelKind) -> Option<RemoteId> {
        let segment = self.segment_id(vni).ok()?;
        segment
            .of(&self.segments)
            .remotes
            .iter()
            .copied()
            .find(|r| r.of(&self.remotes).ip == ip && r.of(&self.remotes).kind == kind)
    }

    /// Puts a remote on its segment's flood list, or takes it off, at any time: what a
    /// control plane does as inclusive multicast (EVPN type-3) routes come and go.
    ///
    /// # Errors
    /// `UnknownRemote` for a removed remote or one from another switch.
    pub fn set_flood(&mut self, remote: RemoteId, flood: bool) -> Result<(), ConfigError> {
        let Some(found) = self.remote_mut(remote) else {
            return Err(ConfigError::UnknownRemote(remote));
        };
        found.flood = flood;
        Ok(())
    }

    /// The remotes, removed ones left out: id, segment VNI, address and encapsulation,
    /// in the order of their slots (the order added, as long as none was removed).
    pub fn remotes(&self) -> impl Iterator<Item = (RemoteId, Vni, IpAddr, TunnelKind)> + '_ {
        self.remotes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.live)
            .map(|(slot, r)| {
                let vni = r.segment.of(&self.segments).vni;
                let id = RemoteId {
                    slot: slot as u16,
                    generation: r.generation,
                };
                (id, vni, r.ip, r.kind)
            })
    }

    /// Slots for remotes: every remote's [`index`](RemoteId::index) is below it, and a
    /// driver's per-remote lists need this length.
    pub fn remote_slots(&self) -> usize {
        self.remotes.len()
    }

    /// Whether a remote is on its segment's flood list; `None` for a removed remote or
    /// one from another switch.
    pub fn floods_to(&self, remote: RemoteId) -> Option<bool> {
        self.remote(remote).map(|r| r.flood)
    }

    /// A remote's counters; all zero for a removed remote, whose counters went with it
    /// (see [`remove_remote`](Self::remove_remote)), or an id from another switch.
    pub fn remote_counters(&self, remote: RemoteId) -> &Counters {
        self.remote(remote)
            .map_or(&Counters::ZERO, |found| &found.counters)
    }

    /// The live remote `id` names, if it does.
    pub(super) fn remote(&self, id: RemoteId) -> Option<&Remote> {
        self.remotes
            .get(id.index())
            .filter(|r| r.live && r.generation == id.generation)
    }

    /// As [`remote`](Self::remote), mutably.
    pub(super) fn remote_mut(&mut self, id: RemoteId) -> Option<&mut Remote> {
        self.remotes
            .get_mut(id.index())
            .filter(|r| r.live && r.generation == id.generation)
    }
}
