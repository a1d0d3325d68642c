#![no_main]
//! Fuzz target `decode`: see `checks::decode` for what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tunnelwire_fuzz::checks::decode(data));
