//! Support for tunnelwire's fuzz targets: the invariant checks, shared with
//! `tests/regressions.rs` and (for the switch) `tests/switch_invariants.rs`.

pub mod checks;
pub mod payload;
pub mod switch;
pub mod underlay;
