#![no_main]
//! Fuzz target `payload`: see `payload::payload` for what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tunnelwire_fuzz::payload::payload(data));
