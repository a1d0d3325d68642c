//! The MAC table: where each (segment, MAC address) was last seen, learned from traffic
//! or pinned by a static entry.
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

use super::{Location, SegmentId};
use crate::wire::ethernet::MacAddr;

/// One entry of the MAC table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacEntry {
    /// The segment the address lives in.
    pub segment: SegmentId,
    /// The address.
    pub mac: MacAddr,
    /// Where frames for it go.
    pub location: Location,
    /// When it was last seen, in nanoseconds of the caller's clock.
    pub last_seen: u64,
    /// Pinned: never aged, never moved by learning.
    pub is_static: bool,
}

impl MacEntry {
    /// True when a dynamic entry last seen at `last_seen` is older than `ageing` at `now`.
    #[inline]
    pub fn is_expired(&self, now: u64, ageing: u64) -> bool {
        !self.is_static && now.saturating_sub(self.last_seen) >= ageing
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
    /// A static entry holds the address elsewhere: nothing changed.
    Pinned,
    /// The segment is full: nothing learned.
    Refused,
}

/// Smallest number of slots allocated once the first address is learned.
const MIN_SLOTS: usize = 64;

/// The MAC table of a switch, shared by its segments, with a count per segment.
#[derive(Debug, Clone)]
pub struct MacTable {
    slots: Vec<Option<MacEntry>>,
    len: usize,
    /// Entries per segment, indexed by `SegmentId`.
    per_segment: Vec<usize>,
    seed: u64,
}

impl MacTable {
    /// An empty table whose hash is keyed by `seed`.
    pub fn new(seed: u64) -> Self {
        MacTable {
            slots: Vec::new(),
            len: 0,
            per_segment: Vec::new(),
            seed,
        }
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

    /// Entries held for `segment`.
    pub fn segment_len(&self, segment: SegmentId) -> usize {
        self.per_segment.get(segment.index()).copied().unwrap_or(0)
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
    /// `limit` entries learns no new address; an entry of the same address is reused
    /// whatever the limit, and one that had aged out (`ageing` nanoseconds) is learned
    /// afresh, not reported as a move.
    pub fn learn(
        &mut self,
        segment: SegmentId,
        mac: MacAddr,
        location: Location,
        now: u64,
        ageing: u64,
        limit: usize,
    ) -> Learned {
        if let Some(slot) = self.find(segment, mac) {
            let Some(Some(entry)) = self.slots.get_mut(slot) else {
                unreachable!("find returns occupied slots")
            };
            if entry.is_expired(now, ageing) {
                entry.location = location;
                entry.last_seen = now;
                return Learned::New;
            }
            if entry.location == location {
                if !entry.is_static {
                    entry.last_seen = now;
                }
                return Learned::Refreshed;
            }
            if entry.is_static {
                return Learned::Pinned;
            }
            let from = entry.location;
            entry.location = location;
            entry.last_seen = now;
            return Learned::Moved { from };
        }
        if self.segment_len(segment) >= limit {
            return Learned::Refused;
        }
        self.insert(MacEntry {
            segment,
            mac,
            location,
            last_seen: now,
            is_static: false,
        });
        Learned::New
    }

    /// Pins `mac` in `segment` to `location`, replacing any entry it had; static entries
    /// are not subject to the segment's limit.
    pub fn insert_static(&mut self, segment: SegmentId, mac: MacAddr, location: Location) {
        let entry = MacEntry {
            segment,
            mac,
            location,
            last_seen: 0,
            is_static: true,
        };
        match self
            .find(segment, mac)
            .and_then(|slot| self.slots.get_mut(slot))
        {
            Some(occupied) => *occupied = Some(entry),
            None => self.insert(entry),
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
        let index = entry.segment.index();
        if self.per_segment.len() <= index {
            self.per_segment.resize(index + 1, 0);
        }
        self.per_segment[index] += 1;
    }

    #[allow(clippy::arithmetic_side_effects)] // a Vec's length doubled fits in usize
    fn grow(&mut self) {
        let slots = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = core::mem::replace(&mut self.slots, alloc::vec![None; slots]);
        self.len = 0;
        self.per_segment.iter_mut().for_each(|n| *n = 0);
        for entry in old.into_iter().flatten() {
            self.insert(entry);
        }
    }

    // Slots are masked into the table; an entry removed was counted in len and in its
    // segment's count.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    fn remove_at(&mut self, mut hole: usize) {
        let Some(removed) = self.slots[hole].take() else {
            return;
        };
        self.len -= 1;
        self.per_segment[removed.segment.index()] -= 1;
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
mod tests {
    use super::*;
    use crate::switch::{PortId, RemoteId};

    const SEG: SegmentId = SegmentId(0);
    const PORT: Location = Location::Port(PortId(0));
    const REMOTE: Location = Location::Remote(RemoteId(0));

    fn mac(n: u32) -> MacAddr {
        let [a, b, c, d] = n.to_be_bytes();
        MacAddr([0x02, 0, a, b, c, d])
    }

    #[test]
    fn learns_refreshes_moves_and_pins() {
        let mut table = MacTable::new(7);
        assert!(table.is_empty());
        assert_eq!(
            table.learn(SEG, mac(1), PORT, 10, u64::MAX, 100),
            Learned::New
        );
        // Pins `is_empty` on a table with an entry.
        assert!(!table.is_empty());
        assert_eq!(
            table.learn(SEG, mac(1), PORT, 20, u64::MAX, 100),
            Learned::Refreshed
        );
        assert_eq!(table.lookup(SEG, mac(1), 20, 5).unwrap().last_seen, 20);
        assert_eq!(
            table.learn(SEG, mac(1), REMOTE, 30, u64::MAX, 100),
            Learned::Moved { from: PORT }
        );
        table.insert_static(SEG, mac(2), PORT);
        assert_eq!(
            table.learn(SEG, mac(2), REMOTE, 40, u64::MAX, 100),
            Learned::Pinned
        );
        assert_eq!(
            table.lookup(SEG, mac(2), u64::MAX, 1).unwrap().location,
            PORT
        );
        assert_eq!(table.len(), 2);
        assert!(table.lookup(SegmentId(1), mac(1), 30, 100).is_none());
    }

    #[test]
    fn an_address_back_after_ageing_out_is_new_not_moved() {
        let mut table = MacTable::new(1);
        table.learn(SEG, mac(1), PORT, 0, 100, 10);
        assert_eq!(
            table.learn(SEG, mac(1), REMOTE, 99, 100, 10),
            Learned::Moved { from: PORT }
        );
        assert_eq!(table.learn(SEG, mac(1), PORT, 199, 100, 10), Learned::New);
        assert_eq!(table.lookup(SEG, mac(1), 199, 100).unwrap().location, PORT);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn expired_entries_are_invisible_and_swept() {
        let mut table = MacTable::new(0);
        table.learn(SEG, mac(1), PORT, 0, u64::MAX, 100);
        table.learn(SEG, mac(2), PORT, 50, u64::MAX, 100);
        assert!(table.lookup(SEG, mac(1), 99, 100).is_some());
        assert!(table.lookup(SEG, mac(1), 100, 100).is_none());
        assert_eq!(table.sweep(|e| e.is_expired(100, 100)), 1);
        assert_eq!((table.len(), table.segment_len(SEG)), (1, 1));
        assert!(table.lookup(SEG, mac(2), 100, 100).is_some());
    }

    #[test]
    fn a_full_segment_refuses_new_addresses_only() {
        let mut table = MacTable::new(3);
        for n in 0..4 {
            assert_eq!(table.learn(SEG, mac(n), PORT, 0, u64::MAX, 4), Learned::New);
        }
        assert_eq!(
            table.learn(SEG, mac(9), PORT, 0, u64::MAX, 4),
            Learned::Refused
        );
        assert_eq!(
            table.learn(SEG, mac(0), REMOTE, 1, u64::MAX, 4),
            Learned::Moved { from: PORT }
        );
        assert_eq!(
            table.learn(SegmentId(1), mac(9), PORT, 0, u64::MAX, 4),
            Learned::New
        );
        table.insert_static(SEG, mac(10), PORT);
        assert_eq!(table.segment_len(SEG), 5);
    }

    #[test]
    fn removal_keeps_every_other_entry_reachable() {
        // Many entries in a small table make long probe chains that wrap around; removing
        // any one of them must leave the rest findable (backward-shift deletion).
        let mut table = MacTable::new(42);
        let n = 40u32;
        for i in 0..n {
            table.learn(SEG, mac(i), PORT, u64::from(i), u64::MAX, 1000);
        }
        assert_eq!(table.capacity(), 128);
        for gone in (0..n).step_by(3) {
            assert!(table.remove(SEG, mac(gone)));
            assert!(!table.remove(SEG, mac(gone)));
        }
        for i in 0..n {
            assert_eq!(
                table.lookup(SEG, mac(i), 0, u64::MAX).is_some(),
                i % 3 != 0,
                "{i}"
            );
        }
        assert_eq!(table.sweep(|e| e.last_seen % 2 == 1), 13);
        for i in 0..n {
            let expect = i % 3 != 0 && i % 2 == 0;
            assert_eq!(
                table.lookup(SEG, mac(i), 0, u64::MAX).is_some(),
                expect,
                "{i}"
            );
        }
        assert_eq!(table.len(), table.iter().count());
    }

    /// A table of 512 empty slots keyed by `seed`.
    fn grown(seed: u64) -> MacTable {
        let mut table = MacTable::new(seed);
        for _ in 0..4 {
            table.grow();
        }
        table
    }

    #[test]
    fn every_key_bit_moves_the_home_slot() {
        // What the module promises (every input bit reaches the low bits that pick the
        // slot): flipping any one bit of the MAC address or segment moves the entry's
        // home. Pins the seeded murmur3 finaliser in `home`.
        let table = grown(0x9e37_79b9_7f4a_7c15);
        let (segment, mac) = (
            SegmentId(0x1234),
            MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]),
        );
        let home = table.home(segment, mac);
        let mut unmoved = std::vec::Vec::new();
        for bit in 0..64 {
            let (mut segment, mut mac) = (segment, mac);
            match bit {
                0..48 => mac.0[bit / 8] ^= 1 << (bit % 8),
                _ => segment.0 ^= 1 << (bit - 48),
            }
            if table.home(segment, mac) == home {
                unmoved.push(bit);
            }
        }
        assert_eq!(
            unmoved, [0usize; 0],
            "bits that leave the home slot in place"
        );
    }

    #[test]
    fn the_seed_keys_the_home_slot() {
        // Without the seed a sender could aim addresses at one probe chain.
        let (a, b) = (grown(1), grown(2));
        let same = (0..64)
            .filter(|&n| a.home(SEG, mac(n)) == b.home(SEG, mac(n)))
            .count();
        assert!(
            same < 8,
            "{same} of 64 addresses share their slot under both seeds"
        );
    }

    #[test]
    fn the_table_grows_past_half_full() {
        // Pins the load bound in `insert`: 64 slots hold 32 entries, the 33rd doubles them.
        let mut table = MacTable::new(3);
        for i in 0..32 {
            table.learn(SEG, mac(i), PORT, 0, u64::MAX, 1000);
        }
        assert_eq!(table.capacity(), 64);
        table.learn(SEG, mac(32), PORT, 0, u64::MAX, 1000);
        assert_eq!(table.capacity(), 128);
    }

    #[test]
    fn sequential_addresses_spread_over_the_slots() {
        // Short probe chains for the addresses a vendor hands out in sequence: 256 of
        // them in 512 slots share a home slot at most a few at a time (a uniform hash
        // gives about 4). Pins the finaliser's last xor-shift.
        let table = grown(0x9e37_79b9_7f4a_7c15);
        let mut per_slot = std::vec![0u32; table.capacity()];
        for n in 0..256 {
            per_slot[table.home(SEG, mac(n))] += 1;
        }
        let fullest = per_slot.iter().max().copied();
        assert!(
            fullest <= Some(8),
            "{fullest:?} addresses share one home slot"
        );
    }

    #[test]
    fn removal_inside_a_chain_that_wraps_keeps_the_rest_reachable() {
        // Backward-shift deletion across the end of the table: a cluster homed on the
        // last slots and the first ones, each entry removed in turn from a copy. Pins the
        // wrap-around case of `remove_at`, which a table filled at random seldom reaches.
        let mut table = MacTable::new(5);
        table.grow();
        let last = table.capacity() - 1;
        let mut cluster = std::vec::Vec::new();
        for home in [last - 1, last, last, 0, last, 1, 0, last - 1] {
            // A uniform hash homes one address in 64 there: 10 000 is plenty.
            let n = (0..10_000)
                .find(|&n| table.home(SEG, mac(n)) == home && !cluster.contains(&n))
                .unwrap();
            cluster.push(n);
        }
        for &n in &cluster {
            table.learn(SEG, mac(n), PORT, 0, u64::MAX, 1000);
        }
        assert_eq!(table.capacity(), last + 1, "no growth: the chain must wrap");
        for &gone in &cluster {
            let mut copy = table.clone();
            assert!(copy.remove(SEG, mac(gone)));
            for &n in &cluster {
                assert_eq!(
                    copy.lookup(SEG, mac(n), 0, u64::MAX).is_some(),
                    n != gone,
                    "{n} after removing {gone}"
                );
            }
        }
    }
}
