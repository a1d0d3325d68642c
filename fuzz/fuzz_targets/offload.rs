#![no_main]
//! Fuzz target `offload`: see `fuzz/src/offload.rs` for what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tunnelwire_fuzz::offload::offload(data));
