#![no_main]
//! Fuzz target `header`: see `checks::header` for what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tunnelwire_fuzz::checks::header(data));
