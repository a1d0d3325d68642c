//! A `no_std`, allocator-free consumer of tunnelwire (see Cargo.toml): it links the
//! decoder and the tunnel engine.
#![no_std]

use core::net::Ipv4Addr;

use tunnelwire::packet::Decoder;
use tunnelwire::tunnel::{Decapsulator, Encapsulator, HEADROOM, TunnelConfig};
use tunnelwire::wire::Vni;

/// Encapsulates a fixed frame, decodes and decapsulates it; returns its VNI or -1.
#[unsafe(no_mangle)]
pub extern "C" fn tunnelwire_no_std_check() -> i64 {
    let mut buf = [0u8; HEADROOM + 64];
    let Ok(vni) = Vni::new(42) else {
        return -1;
    };
    let (local, remote) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let Ok(mut encap) = Encapsulator::new(TunnelConfig::vxlan(vni, local, remote)) else {
        return -1;
    };
    let Ok(frame) = encap.encapsulate(&mut buf, HEADROOM..HEADROOM + 64) else {
        return -1;
    };
    let segment = match Decoder::new().decode(&buf[frame.clone()]) {
        Ok(decoded) => decoded.tunnel.map_or(-1, |t| i64::from(t.segment())),
        Err(_) => -1,
    };
    match Decapsulator::default().decapsulate(&mut buf[frame]) {
        Ok(found) if i64::from(found.segment()) == segment => segment,
        _ => -1,
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
