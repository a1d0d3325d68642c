//! The benchmarks' hand-written floors (benches/paths/floors.rs) against tunnelwire on
//! mutated frames: equal verdicts, equal values, byte-identical buffers. 20k inputs per
//! path here; `cargo bench --bench differential` runs 1M.

#[path = "../benches/paths/mod.rs"]
mod paths;

use paths::Path;

const COUNT: usize = 20_000;

fn agree(path: Path) {
    let tally = paths::differential::differential(path, COUNT, 0x0018_0018);
    assert_eq!(tally.frames, COUNT as u64);
    // The mutations reach both verdicts, and no shape goes unchecked.
    assert!(tally.accepted > COUNT as u64 / 10, "{tally:?}");
    assert!(tally.refused > COUNT as u64 / 20, "{tally:?}");
    assert!(tally.other_shape < COUNT as u64 / 100, "{tally:?}");
}

#[test]
fn decode_vxlan_floor_agrees_with_tunnelwire() {
    agree(Path::DecodeVxlan);
}

#[test]
fn decode_nvgre_floor_agrees_with_tunnelwire() {
    agree(Path::DecodeNvgre);
}

#[test]
fn vxlan_encapsulation_floor_agrees_with_tunnelwire() {
    agree(Path::EncapVxlan);
}

#[test]
fn nvgre_encapsulation_floor_agrees_with_tunnelwire() {
    agree(Path::EncapNvgre);
}

#[test]
fn decapsulation_floor_agrees_with_tunnelwire() {
    agree(Path::Decap);
}

#[test]
fn translation_floor_agrees_with_tunnelwire() {
    agree(Path::Translate);
}

#[test]
fn vxlan6_encapsulation_floor_agrees_with_tunnelwire() {
    agree(Path::EncapVxlan6);
}

#[test]
fn nvgre6_encapsulation_floor_agrees_with_tunnelwire() {
    agree(Path::EncapNvgre6);
}

#[test]
fn ipv6_decapsulation_floor_agrees_with_tunnelwire() {
    agree(Path::Decap6);
}

#[test]
fn ipv6_translation_floor_agrees_with_tunnelwire() {
    agree(Path::Translate6);
}

#[test]
fn socket_payload_floor_agrees_with_tunnelwire() {
    agree(Path::Payload);
}

#[test]
fn geneve_decode_floor_agrees_with_tunnelwire() {
    agree(Path::DecodeGeneve);
}

#[test]
fn geneve_encapsulation_floor_agrees_with_tunnelwire() {
    agree(Path::EncapGeneve);
}

#[test]
fn geneve_ovn_encapsulation_floor_agrees_with_tunnelwire() {
    agree(Path::EncapGeneveOvn);
}

#[test]
fn geneve_decapsulation_floor_agrees_with_tunnelwire() {
    agree(Path::DecapGeneve);
}

#[test]
fn every_workload_agrees_before_timing() {
    for path in Path::ALL {
        path.arms();
        if path.has_mixed() {
            path.arms_on(true);
        }
    }
}
