//! A `no_std`, allocator-free consumer of tunnelwire (see Cargo.toml): it links the
//! decoder, the tunnel engine and the offloads.
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

/// Segments a TCP/IPv4 super-frame of 100 payload bytes in 40-byte segments and
/// coalesces them back, on the stack; returns the super-frame's gso_size (40), or -1.
#[unsafe(no_mangle)]
pub extern "C" fn tunnelwire_no_std_offload() -> i64 {
    use tunnelwire::offload::{Coalescer, GsoType, Segmenter, VirtioNetHdr};
    let mut frame = [0u8; 54 + 100];
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14..24].copy_from_slice(&[0x45, 0, 0, 140, 0, 1, 0x40, 0, 64, 6]);
    frame[46..48].copy_from_slice(&[0x50, 0x10]);
    let hdr = VirtioNetHdr { gso_type: GsoType::TCPV4, gso_size: 40, ..VirtioNetHdr::NONE };
    let Ok(mut segmenter) = Segmenter::new(&frame, &hdr) else {
        return -1;
    };
    let mut storage = [0u8; 512];
    let mut coalescer = Coalescer::<1>::new(&mut storage);
    let mut out = [0u8; 94];
    let mut gso_size = -1;
    while let Some(Ok(len)) = segmenter.next_into(&mut out) {
        coalescer.push(&out[..len], |emit| gso_size = i64::from(emit.hdr.gso_size));
    }
    coalescer.flush(|emit| gso_size = i64::from(emit.hdr.gso_size));
    gso_size
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
