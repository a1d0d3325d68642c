//! The MAC table: where each (segment, MAC address) was last seen, learned from traffic,
//! pinned by a static entry or put there by a control plane (EVPN).
//!
//! An open-addressing hash table (linear probing, backward-shift deletion) in one
//! `Vec`: lookups, refreshes and moves never allocate, and the table only grows while
//! it is learning new addresses, never past what the segments' limits allow. The hash
//! is keyed by a caller-supplied seed, so a sender cannot aim MAC addresses at one
//! probe chain without knowing it.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::vec::Vec;

use super::{Location, PortId, SegmentId};
use crate::wire::ethernet::MacAddr;

/// Where an entry of the MAC table comes from, which decides what may change it.
///
/// When two origins want one address, static outranks EVPN, which outranks learned: the
/// operator's pin on this host is deliberate, a route may come from any VTEP of the
/// fabric, and traffic only says where an address was last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Learned from a frame's source address: refreshed, moved and aged by traffic.
    Learned,
    /// Pinned by the switch's own configuration: never aged, never moved by learning.
    Static,
    /// Put there by a control plane (a BGP EVPN MAC/IP route): never aged, never moved
    /// by learning from a tunnel; removed with its route or its remote. Learning at a
    /// local port moves it only with MAC mobility on
    /// ([`SwitchConfig::local_moves_evpn`](super::SwitchConfig::local_moves_evpn)).
    Evpn,
}

impl Origin {
    /// Every origin, in counting order.
    pub const ALL: [Origin; 3] = [Origin::Learned, Origin::Static, Origin::Evpn];

    /// Its name, as the vtep `fdb` output's `"origin"` says it.
    pub const fn name(self) -> &'static str {
        match self {
            Origin::Learned => "learned",
            Origin::Static => "static",
            Origin::Evpn => "evpn",
        }
    }

    /// True for entries that traffic neither moves nor ages (static and EVPN).
    pub const fn is_pinned(self) -> bool {
        !matches!(self, Origin::Learned)
    }

    /// Which of two entries for one address stays: the higher rank.
    const fn rank(self) -> u8 {
        match self {
            Origin::Learned => 0,
            Origin::Evpn => 1,
            Origin::Static => 2,
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// One entry of the MAC table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacEntry {
    /// The segment the address lives in.
    pub segment: SegmentId,
    /// The address.
    pub mac: MacAddr,
    /// Where frames for it go.
    pub location: Location,
    /// When it was last seen, in nanoseconds of the caller's clock (zero for pinned
    /// entries, which traffic does not refresh).
    pub last_seen: u64,
    /// Learned, static or EVPN.
    pub origin: Origin,
}

/// How many entries learning may fill. Build with [`Limits::segment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Learned and static entries of the segment. EVPN entries neither count nor are
    /// refused: the limit stops frames from growing the table, and a control plane's
    /// entries are bounded where they come from (see
    /// [`Switch::add_entry`](super::Switch::add_entry)).
    pub segment: usize,
    /// Learned entries at the port an address is learned on (a tenant's share of the
    /// segment); learning from a remote ignores it.
    pub port: usize,
}

impl Limits {
    /// `segment` entries in the segment, and no limit per port.
    pub const fn segment(segment: usize) -> Self {
        Limits {
            segment,
            port: usize::MAX,
        }
    }
}

impl MacEntry {
    /// True when a learned entry last seen at `last_seen` is older than `ageing` at `now`.
    #[inline]
    pub fn is_expired(&self, now: u64, ageing: u64) -> bool {
        !self.origin.is_pinned() && now.saturating_sub(self.last_seen) >= ageing
    }
}

/// What learning a source address did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// The entry was already there, at the same place: its time was refreshed.
    Refreshed,
    /// A new entry.
    New,
    /// The address moved here from `from`.
    Moved {
        /// Where it was before.
        from: Location,
    },
    /// A static or EVPN entry holds the address elsewhere: nothing changed.
    Pinned,
    /// The segment is full, or the port it was seen on holds its share: nothing
    /// learned (an address seen there that was learned elsewhere stays where it was).
    Refused,
}

/// Smallest number of slots allocated once the first address is learned.
const MIN_SLOTS: usize = 64;

/// The MAC table of a switch, shared by its segments, with a count per segment.
#[derive(Debug, Clone)]
pub struct MacTable {
    slots: Vec<Option<MacEntry>>,
    len: usize,
    /// Entries per segment by origin, indexed by `SegmentId`, then `Origin::index`: the
    /// limit counts some origins and not others.
    per_segment: Vec<[usize; Origin::ALL.len()]>,
    /// Learned (not pinned) entries at each port, indexed by `PortId`.
    per_port: Vec<usize>,
    seed: u64,
    /// An address seen on a port moves its EVPN entry there (see
    /// [`set_local_moves_evpn`](Self::set_local_moves_evpn)).
    local_moves_evpn: bool,
}

impl MacTable {
    /// An empty table whose hash is keyed by `seed`.
    pub fn new(seed: u64) -> Self {
        MacTable {
            slots: Vec::new(),
            len: 0,
            per_segment: Vec::new(),
            per_port: Vec::new(),
            seed,
            local_moves_evpn: false,
        }
    }

    /// MAC mobility (RFC 7432 section 15): when on, [`learn`](Self::learn) at a port
    /// moves an EVPN entry of the address there, as a learned entry (the host moved to
    /// this VTEP, which then advertises it); learning at a remote still never moves an
    /// EVPN entry, and nothing moves a static one. Off by default.
    pub fn set_local_moves_evpn(&mut self, on: bool) {
        self.local_moves_evpn = on;
    }

    /// Entries in the whole table (expired ones included until [`sweep`](Self::sweep)).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots allocated: memory in use is proportional to this.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Entries held for `segment`, of every origin.
    pub fn segment_len(&self, segment: SegmentId) -> usize {
        Origin::ALL.iter().fold(0, |sum, &origin| {
            sum.saturating_add(self.origin_len(segment, origin))
        })
    }

    /// Entries of `origin` held for `segment`.
    pub fn origin_len(&self, segment: SegmentId, origin: Origin) -> usize {
        self.per_segment
            .get(segment.index())
            .and_then(|counts| counts.get(origin.index()))
            .copied()
            .unwrap_or(0)
    }

    /// The entries of `segment` its limit counts: learned and static ones.
    fn limited_len(&self, segment: SegmentId) -> usize {
        self.origin_len(segment, Origin::Learned)
            .saturating_add(self.origin_len(segment, Origin::Static))
    }

    /// Learned entries at `port` (expired ones included until swept).
    pub fn port_len(&self, port: PortId) -> usize {
        self.per_port.get(port.index()).copied().unwrap_or(0)
    }

    /// Every entry, in no particular order (expired ones included until swept).
    pub fn iter(&self) -> impl Iterator<Item = &MacEntry> {
        self.slots.iter().flatten()
    }

    /// The entry for `mac` in `segment`, unless it has aged out (`ageing` nanoseconds).
    #[inline]
    pub fn lookup(
        &self,
        segment: SegmentId,
        mac: MacAddr,
        now: u64,
        ageing: u64,
    ) -> Option<&MacEntry> {
        let slot = self.find(segment, mac)?;
        self.slots
            .get(slot)?
            .as_ref()
            .filter(|entry| !entry.is_expired(now, ageing))
    }

    /// Learns that `mac` was seen at `location` at `now`. A segment already holding
    /// `limits.segment` learned and static entries learns no new address; an entry of the same address is
    /// reused whatever that limit, and one that had aged out (`ageing` nanoseconds) is
    /// learned afresh, not reported as a move. A port holding `limits.port` learned
    /// entries learns no address there, new or moving in. Static and EVPN entries do
    /// not move ([`Learned::Pinned`]), except an EVPN entry seen at a port when
    /// [`set_local_moves_evpn`](Self::set_local_moves_evpn) is on: it moves like a
    /// learned one and becomes learned.
    pub fn learn(
        &mut self,
        segment: SegmentId,
        mac: MacAddr,
        location: Location,
        now: u64,
        ageing: u64,
        limits: Limits,
    ) -> Learned {
        let port_full = match location {
            Location::Port(port) => self.port_len(port) >= limits.port,
            Location::Remote(_) => false,
        };
        if let Some(slot) = self.find(segment, mac) {
            let Some(Some(entry)) = self.slots.get(slot) else {
                unreachable!("find returns occupied slots")
            };
            let entry = *entry;
            let expired = entry.is_expired(now, ageing);
            if entry.location == location {
                if !entry.origin.is_pinned() {
                    self.set(slot, location, now);
                }
                return if expired {
                    Learned::New
                } else {
                    Learned::Refreshed
                };
            }
            let mobility = self.local_moves_evpn
                && entry.origin == Origin::Evpn
                && matches!(location, Location::Port(_));
            if entry.origin.is_pinned() && !mobility {
                return Learned::Pinned;
            }
            if port_full {
                return Learned::Refused;
            }
            self.set(slot, location, now);
            return if expired {
                Learned::New
            } else {
                Learned::Moved {
                    from: entry.location,
                }
            };
        }
        if self.limited_len(segment) >= limits.segment || port_full {
            return Learned::Refused;
        }
        self.insert(MacEntry {
            segment,
            mac,
            location,
            last_seen: now,
            origin: Origin::Learned,
        });
        Learned::New
    }

    /// Pins `mac` in `segment` to `location` with `origin`, static or EVPN, replacing
    /// an entry of the same or a lower rank (a learned entry, or an EVPN one moving);
    /// pinned entries are not refused by the segment's limit. False when nothing
    /// changed: an entry that outranks it holds the address (a static entry over an
    /// EVPN one), or `origin` is `Learned`, which only [`learn`](Self::learn) does.
    pub fn pin(
        &mut self,
        segment: SegmentId,
        mac: MacAddr,
        location: Location,
        origin: Origin,
    ) -> bool {
        if !origin.is_pinned() {
            return false;
        }
        let entry = MacEntry {
            segment,
            mac,
            location,
            last_seen: 0,
            origin,
        };
        let Some(slot) = self.find(segment, mac) else {
            self.insert(entry);
            return true;
        };
        let Some(occupied) = self.slots.get_mut(slot) else {
            unreachable!("find returns slots of the table")
        };
        match *occupied {
            Some(held) if held.origin.rank() > origin.rank() => false,
            held => {
                *occupied = Some(entry);
                if let Some(held) = held {
                    self.uncount(&held);
                }
                self.count(&entry);
                true
            }
        }
    }

    /// Removes the entry of `mac` in `segment`; true if there was one.
    pub fn remove(&mut self, segment: SegmentId, mac: MacAddr) -> bool {
        match self.find(segment, mac) {
            Some(slot) => {
                self.remove_at(slot);
                true
            }
            None => false,
        }
    }

    /// Removes the entry of `mac` in `segment` if it has `origin`; true if it went. A
    /// withdrawn route takes its own entry only, never a static one that outranked it.
    pub fn remove_origin(&mut self, segment: SegmentId, mac: MacAddr, origin: Origin) -> bool {
        let found = self.find(segment, mac).filter(|&slot| {
            self.slots
                .get(slot)
                .is_some_and(|entry| entry.is_some_and(|entry| entry.origin == origin))
        });
        match found {
            Some(slot) => {
                self.remove_at(slot);
                true
            }
            None => false,
        }
    }

    /// Removes every entry for which `expired` is true; returns how many went.
    #[allow(clippy::arithmetic_side_effects)] // both counts stay below slots.len()
    pub fn sweep(&mut self, mut expired: impl FnMut(&MacEntry) -> bool) -> usize {
        let mut removed = 0;
        let mut slot = 0;
        while let Some(occupant) = self.slots.get(slot) {
            if occupant.as_ref().is_some_and(&mut expired) {
                // Backward shift may pull a later entry into this slot: look again.
                self.remove_at(slot);
                removed += 1;
            } else {
                slot += 1;
            }
        }
        removed
    }

    #[inline]
    fn home(&self, segment: SegmentId, mac: MacAddr) -> usize {
        let [a, b, c, d, e, f] = mac.0;
        let [s0, s1] = segment.0.to_le_bytes();
        let key = u64::from_le_bytes([a, b, c, d, e, f, s0, s1]);
        // murmur3's 64-bit finaliser over the seeded key: every input bit reaches the
        // low bits that pick the slot. Lookups never depend on the hash, only probe
        // lengths do: tests pin the mixing and the spread, not these exact constants.
        let mut x = key ^ self.seed;
        x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^= x >> 33;
        (x as usize) & self.mask()
    }

    /// Wraps a slot index around the table, whose length is a power of two.
    #[inline]
    #[allow(clippy::arithmetic_side_effects)] // probed tables hold MIN_SLOTS or more
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot after `slot`, wrapping around.
    #[inline]
    #[allow(clippy::arithmetic_side_effects)] // slot < slots.len() <= isize::MAX
    fn next(&self, slot: usize) -> usize {
        (slot + 1) & self.mask()
    }

    fn find(&self, segment: SegmentId, mac: MacAddr) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut slot = self.home(segment, mac);
        loop {
            match self.slots.get(slot)? {
                None => return None,
                Some(entry) if entry.segment == segment && entry.mac == mac => return Some(slot),
                Some(_) => slot = self.next(slot),
            }
        }
    }

    // Slots are masked into the table; counts stay below its length, a segment's index
    // below 2^16.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    fn insert(&mut self, entry: MacEntry) {
        // At most half full keeps probe chains short.
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mut slot = self.home(entry.segment, entry.mac);
        while self.slots[slot].is_some() {
            slot = self.next(slot);
        }
        self.slots[slot] = Some(entry);
        self.len += 1;
        self.count(&entry);
    }

    /// Makes the entry in `slot` a learned one at `location`, seen at `now` (an EVPN
    /// entry moving to a port becomes learned).
    fn set(&mut self, slot: usize, location: Location, now: u64) {
        let Some(Some(entry)) = self.slots.get_mut(slot) else {
            return;
        };
        let before = *entry;
        entry.location = location;
        entry.last_seen = now;
        entry.origin = Origin::Learned;
        let after = *entry;
        self.uncount(&before);
        self.count(&after);
    }

    /// Counts `entry` in its segment under its origin, and at its port if it is a
    /// learned entry at a port.
    // A segment's or port's index is below 2^16; counts stay below the table's length.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    fn count(&mut self, entry: &MacEntry) {
        let index = entry.segment.index();
        if self.per_segment.len() <= index {
            self.per_segment.resize(index + 1, [0; Origin::ALL.len()]);
        }
        self.per_segment[index][entry.origin.index()] += 1;
        if let (Location::Port(port), Origin::Learned) = (entry.location, entry.origin) {
            let index = port.index();
            if self.per_port.len() <= index {
                self.per_port.resize(index + 1, 0);
            }
            self.per_port[index] += 1;
        }
    }

    /// Takes `entry` off the counts: the inverse of `count`.
    // Counted by `count` when it went in.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    fn uncount(&mut self, entry: &MacEntry) {
        self.per_segment[entry.segment.index()][entry.origin.index()] -= 1;
        if let (Location::Port(port), Origin::Learned) = (entry.location, entry.origin) {
            self.per_port[port.index()] -= 1;
        }
    }

    #[allow(clippy::arithmetic_side_effects)] // a Vec's length doubled fits in usize
    fn grow(&mut self) {
        let slots = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = core::mem::replace(&mut self.slots, alloc::vec![None; slots]);
        self.len = 0;
        self.per_segment
            .iter_mut()
            .for_each(|n| *n = [0; Origin::ALL.len()]);
        self.per_port.iter_mut().for_each(|n| *n = 0);
        for entry in old.into_iter().flatten() {
            self.insert(entry);
        }
    }

    // Slots are masked into the table; an entry removed was counted in len.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    fn remove_at(&mut self, mut hole: usize) {
        let Some(removed) = self.slots[hole].take() else {
            return;
        };
        self.len -= 1;
        self.uncount(&removed);
        let mut next = hole;
        loop {
            next = self.next(next);
            let Some(entry) = self.slots[next] else {
                return;
            };
            let home = self.home(entry.segment, entry.mac);
            // The entry may stay unless its home lies cyclically outside (hole, next].
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                self.slots[hole] = self.slots[next].take();
                hole = next;
            }
        }
    }
}

#[cfg(test)]
mod tests;
