//! The MAC table: learning, moves, pins, ageing, limits, the hash and removal.

use super::*;
use crate::switch::{PortId, RemoteId};

const SEG: SegmentId = SegmentId(0);
const PORT: Location = Location::Port(PortId(0));
const REMOTE: Location = Location::Remote(RemoteId {
    slot: 0,
    generation: 0,
});

fn mac(n: u32) -> MacAddr {
    let [a, b, c, d] = n.to_be_bytes();
    MacAddr([0x02, 0, a, b, c, d])
}

#[test]
fn learns_refreshes_moves_and_pins() {
    let mut table = MacTable::new(7);
    assert!(table.is_empty());
    assert_eq!(
        table.learn(SEG, mac(1), PORT, 10, u64::MAX, Limits::segment(100)),
        Learned::New
    );
    // Pins `is_empty` on a table with an entry.
    assert!(!table.is_empty());
    assert_eq!(
        table.learn(SEG, mac(1), PORT, 20, u64::MAX, Limits::segment(100)),
        Learned::Refreshed
    );
    assert_eq!(table.lookup(SEG, mac(1), 20, 5).unwrap().last_seen, 20);
    assert_eq!(
        table.learn(SEG, mac(1), REMOTE, 30, u64::MAX, Limits::segment(100)),
        Learned::Moved { from: PORT }
    );
    assert!(table.pin(SEG, mac(2), PORT, Origin::Static));
    assert_eq!(
        table.learn(SEG, mac(2), REMOTE, 40, u64::MAX, Limits::segment(100)),
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
    table.learn(SEG, mac(1), PORT, 0, 100, Limits::segment(10));
    assert_eq!(
        table.learn(SEG, mac(1), REMOTE, 99, 100, Limits::segment(10)),
        Learned::Moved { from: PORT }
    );
    assert_eq!(
        table.learn(SEG, mac(1), PORT, 199, 100, Limits::segment(10)),
        Learned::New
    );
    assert_eq!(table.lookup(SEG, mac(1), 199, 100).unwrap().location, PORT);
    assert_eq!(table.len(), 1);
}

#[test]
fn expired_entries_are_invisible_and_swept() {
    let mut table = MacTable::new(0);
    table.learn(SEG, mac(1), PORT, 0, u64::MAX, Limits::segment(100));
    table.learn(SEG, mac(2), PORT, 50, u64::MAX, Limits::segment(100));
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
        assert_eq!(
            table.learn(SEG, mac(n), PORT, 0, u64::MAX, Limits::segment(4)),
            Learned::New
        );
    }
    assert_eq!(
        table.learn(SEG, mac(9), PORT, 0, u64::MAX, Limits::segment(4)),
        Learned::Refused
    );
    assert_eq!(
        table.learn(SEG, mac(0), REMOTE, 1, u64::MAX, Limits::segment(4)),
        Learned::Moved { from: PORT }
    );
    assert_eq!(
        table.learn(SegmentId(1), mac(9), PORT, 0, u64::MAX, Limits::segment(4)),
        Learned::New
    );
    assert!(table.pin(SEG, mac(10), PORT, Origin::Static));
    assert_eq!(table.segment_len(SEG), 5);
}

#[test]
fn removal_keeps_every_other_entry_reachable() {
    // Many entries in a small table make long probe chains that wrap around; removing
    // any one of them must leave the rest findable (backward-shift deletion).
    let mut table = MacTable::new(42);
    let n = 40u32;
    for i in 0..n {
        table.learn(
            SEG,
            mac(i),
            PORT,
            u64::from(i),
            u64::MAX,
            Limits::segment(1000),
        );
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
        table.learn(SEG, mac(i), PORT, 0, u64::MAX, Limits::segment(1000));
    }
    assert_eq!(table.capacity(), 64);
    table.learn(SEG, mac(32), PORT, 0, u64::MAX, Limits::segment(1000));
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
        table.learn(SEG, mac(n), PORT, 0, u64::MAX, Limits::segment(1000));
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

/// Asserts each port's count is what the table holds for it.
fn assert_port_counts(table: &MacTable) {
    for port in 0..3 {
        let held = table
            .iter()
            .filter(|e| e.origin == Origin::Learned && e.location == Location::Port(PortId(port)))
            .count();
        assert_eq!(table.port_len(PortId(port)), held, "port {port}");
    }
}

#[test]
fn a_full_port_learns_no_address_new_or_moving_in() {
    let mut table = MacTable::new(9);
    let other = Location::Port(PortId(1));
    let limits = Limits {
        segment: 100,
        port: 2,
    };
    let learn = |table: &mut MacTable, n, at, now| table.learn(SEG, mac(n), at, now, 100, limits);
    assert_eq!(learn(&mut table, 1, PORT, 0), Learned::New);
    assert_eq!(learn(&mut table, 2, PORT, 0), Learned::New);
    assert_eq!(learn(&mut table, 3, PORT, 0), Learned::Refused);
    assert_eq!(learn(&mut table, 3, other, 0), Learned::New);
    assert_eq!(learn(&mut table, 3, PORT, 1), Learned::Refused, "moving in");
    assert_eq!(table.lookup(SEG, mac(3), 1, 100).unwrap().location, other);
    // Remotes have no port limit; a refresh is no new entry.
    assert_eq!(learn(&mut table, 4, REMOTE, 1), Learned::New);
    assert_eq!(learn(&mut table, 1, PORT, 1), Learned::Refreshed);
    assert_port_counts(&table);
    // An address leaving makes room for one moving in.
    assert_eq!(
        learn(&mut table, 1, REMOTE, 2),
        Learned::Moved { from: PORT }
    );
    assert_eq!(
        learn(&mut table, 3, PORT, 2),
        Learned::Moved { from: other }
    );
    assert_eq!(
        (table.port_len(PortId(0)), table.port_len(PortId(1))),
        (2, 0)
    );
    // Static entries do not count, and one replacing a learned entry frees its place.
    assert!(table.pin(SEG, mac(9), PORT, Origin::Static));
    assert_eq!(table.port_len(PortId(0)), 2);
    assert!(table.pin(SEG, mac(3), PORT, Origin::Static));
    assert_eq!(table.port_len(PortId(0)), 1);
    assert!(table.remove(SEG, mac(2)));
    assert_eq!(table.port_len(PortId(0)), 0);
    assert_port_counts(&table);
    // Ageing out frees a place too; an aged-out address seen at a full port stays out.
    assert_eq!(learn(&mut table, 5, PORT, 10), Learned::New);
    assert_eq!(learn(&mut table, 6, PORT, 10), Learned::New);
    assert_eq!(learn(&mut table, 7, other, 10), Learned::New);
    assert_eq!(learn(&mut table, 7, PORT, 200), Learned::Refused);
    assert_eq!(table.sweep(|e| e.is_expired(200, 100)), 5);
    assert_eq!(learn(&mut table, 7, PORT, 200), Learned::New);
    assert_port_counts(&table);
}

#[test]
fn port_counts_survive_growth_and_backward_shifts() {
    let mut table = MacTable::new(4);
    for n in 0..200 {
        let port = Location::Port(PortId((n % 3) as u16));
        table.learn(SEG, mac(n), port, 0, u64::MAX, Limits::segment(1000));
    }
    assert!(table.capacity() >= 512, "grown");
    assert_port_counts(&table);
    for n in (0..200).step_by(7) {
        table.remove(SEG, mac(n));
    }
    assert_port_counts(&table);
    assert_eq!(
        (0..3).map(|p| table.port_len(PortId(p))).sum::<usize>(),
        table.len()
    );
}

#[test]
fn pins_rank_static_over_evpn_over_learned() {
    let mut table = MacTable::new(5);
    let other = Location::Port(PortId(1));
    table.learn(SEG, mac(1), PORT, 0, 100, Limits::segment(10));
    assert!(table.pin(SEG, mac(1), REMOTE, Origin::Evpn), "over learned");
    assert!(
        table.pin(SEG, mac(1), other, Origin::Evpn),
        "a route moving"
    );
    assert!(table.pin(SEG, mac(1), PORT, Origin::Static), "over EVPN");
    assert!(
        !table.pin(SEG, mac(1), REMOTE, Origin::Evpn),
        "under static"
    );
    assert!(
        !table.pin(SEG, mac(2), PORT, Origin::Learned),
        "learning's job"
    );
    let held = table.lookup(SEG, mac(1), 1000, 100).unwrap();
    assert_eq!((held.location, held.origin), (PORT, Origin::Static));
    assert_eq!(table.len(), 1);
    assert!(!table.remove_origin(SEG, mac(1), Origin::Evpn));
    assert!(table.remove_origin(SEG, mac(1), Origin::Static));
    assert!(table.is_empty());
}

#[test]
fn counts_by_origin_survive_growth_and_backward_shifts() {
    let mut table = MacTable::new(6);
    let origins = [Origin::Learned, Origin::Static, Origin::Evpn];
    for n in 0..300u32 {
        let origin = origins[n as usize % 3];
        let at = if n % 2 == 0 { PORT } else { REMOTE };
        match origin {
            Origin::Learned => {
                table.learn(SEG, mac(n), at, 0, u64::MAX, Limits::segment(1000));
            }
            pinned => assert!(table.pin(SEG, mac(n), at, pinned)),
        }
    }
    for n in (0..300).step_by(7) {
        assert!(table.remove(SEG, mac(n)));
    }
    for origin in origins {
        let held = table.iter().filter(|e| e.origin == origin).count();
        assert_eq!(table.origin_len(SEG, origin), held, "{origin:?}");
    }
    assert_eq!(table.segment_len(SEG), table.len());
    assert_port_counts(&table);
    // The limit counts learned and static entries, not EVPN ones.
    let limited = table.origin_len(SEG, Origin::Learned) + table.origin_len(SEG, Origin::Static);
    let limits = Limits::segment(limited + 1);
    assert_eq!(
        table.learn(SEG, mac(1000), REMOTE, 0, u64::MAX, limits),
        Learned::New
    );
    assert_eq!(
        table.learn(SEG, mac(1001), REMOTE, 0, u64::MAX, limits),
        Learned::Refused
    );
}

#[test]
fn with_mobility_a_port_moves_an_evpn_entry_and_a_tunnel_does_not() {
    let limits = Limits {
        segment: 10,
        port: 1,
    };
    for on in [false, true] {
        let mut table = MacTable::new(3);
        table.set_local_moves_evpn(on);
        let other_remote = Location::Remote(RemoteId {
            slot: 1,
            generation: 0,
        });
        assert!(table.pin(SEG, mac(1), REMOTE, Origin::Evpn));
        assert!(table.pin(SEG, mac(2), REMOTE, Origin::Static));
        assert_eq!(
            table.learn(SEG, mac(1), other_remote, 5, 100, limits),
            Learned::Pinned,
            "a tunnel never moves it (mobility {on})"
        );
        assert_eq!(
            table.learn(SEG, mac(2), PORT, 5, 100, limits),
            Learned::Pinned,
            "nothing moves a static entry (mobility {on})"
        );
        let learned = table.learn(SEG, mac(1), PORT, 5, 100, limits);
        let held = table.lookup(SEG, mac(1), 5, 100).unwrap();
        if on {
            assert_eq!(learned, Learned::Moved { from: REMOTE });
            assert_eq!((held.location, held.origin), (PORT, Origin::Learned));
            assert_eq!(held.last_seen, 5);
            assert_eq!(table.port_len(PortId(0)), 1);
            assert_eq!(table.origin_len(SEG, Origin::Evpn), 0);
            // Learned now: it ages, and a later route pins it again.
            assert!(table.lookup(SEG, mac(1), 105, 100).is_none());
        } else {
            assert_eq!(learned, Learned::Pinned);
            assert_eq!((held.location, held.origin), (REMOTE, Origin::Evpn));
        }
    }
    // The port's share is full: the EVPN entry stays.
    let mut table = MacTable::new(3);
    table.set_local_moves_evpn(true);
    table.learn(SEG, mac(5), PORT, 0, 100, limits);
    assert!(table.pin(SEG, mac(1), REMOTE, Origin::Evpn));
    assert_eq!(
        table.learn(SEG, mac(1), PORT, 1, 100, limits),
        Learned::Refused
    );
    assert_eq!(
        table.lookup(SEG, mac(1), 1, 100).unwrap().origin,
        Origin::Evpn
    );
}
