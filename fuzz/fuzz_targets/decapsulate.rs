#![no_main]
//! Fuzz target `decapsulate`: see `checks::decapsulate` for what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tunnelwire_fuzz::checks::decapsulate(data));
