//! The switch core's invariants (`fuzz/src/switch.rs`, shared with the `switch` fuzz
//! target) on stable, under proptest: sequences of frames built from a small pool of
//! addresses, tags, tunnels and senders, then mutated; and raw bytes read as the fuzz
//! target reads them.
#![cfg(feature = "switch")]

#[path = "../fuzz/src/switch.rs"]
mod switch_check;

use proptest::prelude::*;
use switch_check::{Control, Input, KINDS, REMOTES, SEGMENTS, SENDERS};
use tunnelwire::wire::MacAddr;

fn mac_pool() -> impl Strategy<Value = MacAddr> {
    prop_oneof![
        8 => (0u8..10).prop_map(|n| MacAddr([0x02, 0, 0, 0, 0, n])),
        1 => Just(MacAddr::BROADCAST),
        1 => Just(MacAddr([0x01, 0x00, 0x5e, 0, 0, 1])),
    ]
}

/// An Ethernet frame from the pool, maybe tagged.
fn inner_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        mac_pool(),
        mac_pool(),
        prop::option::of(prop::sample::select(vec![10u16, 20, 30])),
        0usize..80,
    )
        .prop_map(|(dst, src, vid, extra)| {
            let mut bytes = [&dst.0[..], &src.0[..]].concat();
            if let Some(vid) = vid {
                bytes.extend_from_slice(&[0x81, 0x00]);
                bytes.extend_from_slice(&vid.to_be_bytes());
            }
            bytes.extend_from_slice(&[0x08, 0x06]);
            bytes.resize(bytes.len() + 46 + extra, 0x5a);
            bytes
        })
}

/// A tunnel frame from one of the senders, in a segment with or without a switch
/// segment, VXLAN, NVGRE or Geneve.
fn tunnel_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        inner_frame(),
        0..SENDERS.len(),
        0..SEGMENTS.len(),
        0..KINDS.len(),
    )
        .prop_map(|(inner, sender, segment, kind)| {
            switch_check::tunnel_frame(&inner, SENDERS[sender], SEGMENTS[segment], KINDS[kind])
        })
}

/// Flips a few bytes, or cuts the frame short, now and then.
fn mutated(frame: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (
        frame,
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        prop::option::weighted(0.1, any::<usize>()),
    )
        .prop_map(|(mut bytes, flips, cut)| {
            // Mostly leave frames whole, so they go deep; flip only one time in four.
            for (at, value) in flips.into_iter().filter(|&(at, _)| at % 4 == 0) {
                let at = at / 4 % bytes.len();
                bytes[at] = value;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            bytes
        })
}

/// What a control plane does now and then: remotes going and coming back, flood lists,
/// EVPN entries for the frames' own addresses.
fn control() -> impl Strategy<Value = Control> {
    let slot = 0..REMOTES;
    prop_oneof![
        1 => slot.clone().prop_map(Control::Remove),
        1 => slot.clone().prop_map(Control::Add),
        1 => (slot.clone(), any::<bool>()).prop_map(|(s, on)| Control::Flood(s, on)),
        2 => (slot, 0u8..10).prop_map(|(s, n)| Control::Evpn(s, n)),
        1 => (0..SEGMENTS.len(), 0u8..10).prop_map(|(s, n)| Control::Withdraw(s, n)),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    let frame = prop_oneof![
        4 => (0..switch_check::PORTS, mutated(inner_frame()))
            .prop_map(|(port, bytes)| (Some(port), bytes)),
        4 => mutated(tunnel_frame()).prop_map(|bytes| (None, bytes)),
        1 => prop::collection::vec(any::<u8>(), 0..120).prop_map(|bytes| (None, bytes)),
    ];
    (0u64..2000, prop::option::weighted(0.2, control()), frame).prop_map(
        |(step_ms, control, (port, bytes))| Input {
            step_ms,
            control,
            port,
            bytes,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_built_and_mutated_frames(inputs in prop::collection::vec(input(), 1..60)) {
        switch_check::run(&inputs);
    }

    #[test]
    fn invariants_hold_under_the_fuzz_targets_raw_input(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        switch_check::switch(&data);
    }
}
