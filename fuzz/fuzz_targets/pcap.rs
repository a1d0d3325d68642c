#![no_main]
//! Fuzz target `pcap`: see `checks::pcap` for what it asserts.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tunnelwire_fuzz::checks::pcap(data));
