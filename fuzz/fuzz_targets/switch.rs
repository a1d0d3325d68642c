#![no_main]
//! Fuzz target `switch`: see `switch::switch` for what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tunnelwire_fuzz::switch::switch(data));
