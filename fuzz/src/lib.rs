//! Support for tunnelwire's fuzz targets: the invariant checks, shared with
//! `tests/regressions.rs`.

pub mod checks;
