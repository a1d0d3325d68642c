#![no_main]
//! Fuzz target `encapsulate`: see `checks::encapsulate` for what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tunnelwire_fuzz::checks::encapsulate(data));
