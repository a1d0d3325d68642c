//! Support for tunnelwire's fuzz targets: the invariant checks, shared with
//! `tests/regressions.rs`, (for the switch) `tests/switch_invariants.rs` and (for the
//! offloads) `tests/offload.rs`.

pub mod checks;
pub mod offload;
pub mod payload;
pub mod switch;
pub mod underlay;
