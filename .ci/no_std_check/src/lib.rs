//! A `no_std`, allocator-free consumer of tunnelwire (see Cargo.toml).
#![no_std]

use tunnelwire::packet::Decoder;

/// Decodes a fixed frame so the decoder is linked in; returns its segment ID or -1.
#[unsafe(no_mangle)]
pub extern "C" fn tunnelwire_no_std_check() -> i64 {
    let frame = [0u8; 64];
    match Decoder::new().decode(&frame) {
        Ok(decoded) => decoded.tunnel.map_or(-1, |t| i64::from(t.segment())),
        Err(_) => -1,
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
