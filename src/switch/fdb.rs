//! The forwarding database: entries by origin put in and taken out at run time (static
//! ones, and a control plane's EVPN ones), ageing, and the listing.

// Reached by a control plane's input (routes from other hosts) while frames flow: no
// unchecked indexing, no arithmetic that could overflow, except where an `allow` says why
// it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::time::Duration;

use super::{ConfigError, Location, MacTable, Origin, Switch, nanos};
use crate::wire::ethernet::MacAddr;
use crate::wire::vxlan::Vni;

/// One entry of the forwarding database, as [`Switch::fdb`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdbEntry {
    /// Its segment.
    pub vni: Vni,
    /// The address.
    pub mac: MacAddr,
    /// Where frames for it go.
    pub location: Location,
    /// Learned, static or EVPN.
    pub origin: Origin,
    /// Pinned: never aged, never moved by learning; true for static and EVPN entries
    /// (`origin.is_pinned()`). Kept from before origins, for readers that only ask
    /// whether traffic can change an entry; `origin` says who put it there.
    pub is_static: bool,
    /// Time since it was last seen (zero for pinned entries).
    pub age: Duration,
}

impl Switch {
    /// Pins `mac` in segment `vni` to a port or remote of that segment: never aged,
    /// never moved by learning, not refused by the segment's limit.
    /// [`add_entry`](Self::add_entry) with [`Origin::Static`].
    ///
    /// # Errors
    /// `UnknownSegment`; `NotInSegment` when the port or remote is not part of it.
    pub fn add_static(
        &mut self,
        vni: Vni,
        mac: MacAddr,
        location: Location,
    ) -> Result<(), ConfigError> {
        // Nothing outranks a static entry: it is always put in.
        self.add_entry(vni, mac, location, Origin::Static)
            .map(|_| ())
    }

    /// Puts an entry of `origin`, static or EVPN, for `mac` in segment `vni` at a port
    /// or remote of that segment, at any time. Both are never aged and never moved by
    /// learning, except an EVPN entry seen at a local port with MAC mobility on
    /// ([`SwitchConfig::local_moves_evpn`](super::SwitchConfig::local_moves_evpn)). It replaces a learned entry for the address, or one of its own origin
    /// (an EVPN route for a MAC that moved); a static entry outranks an EVPN one, which
    /// then leaves the static entry in place and returns false (nothing of it is kept:
    /// should the static entry go, the control plane adds its route again). An EVPN
    /// entry goes with [`remove_entry`](Self::remove_entry) or with its remote.
    ///
    /// The segment's `mac_limit` does not refuse either, and EVPN entries do not count
    /// towards it: the limit stops traffic from growing the table, and learned entries
    /// stay bounded by it however many routes come in, so remote routes never stop this
    /// switch learning (and advertising) its own hosts. EVPN entries are bounded where
    /// they come from: each VTEP advertises what its own limit let it learn, and a BGP
    /// daemon caps the routes it takes from a peer.
    ///
    /// # Errors
    /// `UnknownSegment`; `NotInSegment` when the port or remote is not part of it (a
    /// removed remote is part of nothing); `LearnedOrigin` for [`Origin::Learned`],
    /// which only traffic puts in.
    pub fn add_entry(
        &mut self,
        vni: Vni,
        mac: MacAddr,
        location: Location,
        origin: Origin,
    ) -> Result<bool, ConfigError> {
        let segment = self.segment_id(vni)?;
        if !origin.is_pinned() {
            return Err(ConfigError::LearnedOrigin);
        }
        let member = match location {
            Location::Port(port) => segment
                .of(&self.segments)
                .members
                .iter()
                .any(|&(p, _)| p == port),
            Location::Remote(remote) => self.remote(remote).is_some_and(|r| r.segment == segment),
        };
        if !member {
            return Err(ConfigError::NotInSegment);
        }
        Ok(self.table.pin(segment, mac, location, origin))
    }

    /// Removes the entry of `mac` in segment `vni` if it has `origin`; true if it went.
    /// A withdrawn route's entry goes, never a static entry that outranked it, nor a
    /// learned one for the same address.
    pub fn remove_entry(&mut self, vni: Vni, mac: MacAddr, origin: Origin) -> bool {
        match self.by_vni.get(&vni.get()) {
            Some(&segment) => self.table.remove_origin(segment, mac, origin),
            None => false,
        }
    }

    /// Removes the entry of `mac` in segment `vni`, whatever its origin; true if there
    /// was one.
    pub fn remove_mac(&mut self, vni: Vni, mac: MacAddr) -> bool {
        match self.by_vni.get(&vni.get()) {
            Some(&segment) => self.table.remove(segment, mac),
            None => false,
        }
    }

    /// Removes every learned entry older than its segment's ageing time at `now`;
    /// returns how many went. Expired entries are already ignored by forwarding and
    /// [`fdb`](Self::fdb); this frees their places towards the segment's limit.
    pub fn age(&mut self, now: Duration) -> usize {
        let now = nanos(now);
        let segments = &self.segments;
        self.table
            .sweep(|entry| entry.is_expired(now, entry.segment.of(segments).ageing))
    }

    /// The forwarding database at `now`: every entry that has not aged out.
    pub fn fdb(&self, now: Duration) -> impl Iterator<Item = FdbEntry> + '_ {
        let now = nanos(now);
        self.table.iter().filter_map(move |entry| {
            let segment = entry.segment.of(&self.segments);
            (!entry.is_expired(now, segment.ageing)).then(|| FdbEntry {
                vni: segment.vni,
                mac: entry.mac,
                location: entry.location,
                origin: entry.origin,
                is_static: entry.origin.is_pinned(),
                age: if entry.origin.is_pinned() {
                    Duration::ZERO
                } else {
                    Duration::from_nanos(now.saturating_sub(entry.last_seen))
                },
            })
        })
    }

    /// The MAC table itself (expired entries included until [`age`](Self::age)).
    pub fn mac_table(&self) -> &MacTable {
        &self.table
    }
}
