#![no_main]
//! Fuzz target `translate`: see `checks::translate` for what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tunnelwire_fuzz::checks::translate(data));
