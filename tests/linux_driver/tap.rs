//! [`Tap`] alone: a device created up with its MTU, frames both ways, names and MTUs refused.

use std::io;
use std::os::fd::AsFd;

use tunnelwire::linux::{Tap, VNET_HDR_LEN};

use crate::ARRIVES;
use crate::namespace::{
    assert_pollable, if_index, interface_flags, interface_mtu, isolated, readable,
};
use crate::packets::{frame, mac};
use crate::peers::Host;

#[test]
fn a_tap_is_created_up_with_its_mtu_and_moves_frames_both_ways() {
    isolated("tap", || {
        let tap = Tap::create("twtap0", 1400).unwrap();
        assert_eq!(tap.name(), "twtap0");
        assert_eq!(interface_mtu("twtap0"), 1400);
        assert_ne!(
            interface_flags("twtap0") & libc::IFF_UP as libc::c_short,
            0,
            "up"
        );
        assert_pollable(tap.as_fd(), "the TAP");

        let mut buf = vec![0u8; 2048];
        let mut header = [0xee; VNET_HDR_LEN];
        let error = tap.recv(&mut header, &mut buf).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);

        let host = Host::on("twtap0");
        let outbound = frame(mac(1), mac(2), 0x11, 100);
        host.send(&outbound);
        assert!(
            readable(tap.as_fd(), ARRIVES),
            "nothing to read from the TAP"
        );
        let len = tap.recv(&mut header, &mut buf).unwrap();
        assert_eq!(&buf[..len], &outbound[..]);
        assert_eq!(
            header, [0; VNET_HDR_LEN],
            "a whole frame, checksums complete"
        );

        let inbound = frame(mac(2), mac(1), 0x22, 1414);
        tap.send(&[0; VNET_HDR_LEN], &inbound).unwrap();
        host.expect(&inbound, "Tap::send");

        drop(tap);
        assert_eq!(if_index("twtap0"), 0, "the device goes with the value");
    });
}

#[test]
fn a_tap_refuses_bad_names_other_devices_and_an_mtu_the_kernel_refuses() {
    isolated("tap-errors", || {
        for name in ["", "sixteen-bytes-xx", "tw\0nul"] {
            let error = Tap::create(name, 1400).unwrap_err();
            assert_eq!(
                error.kind(),
                io::ErrorKind::InvalidInput,
                "{name:?}: {error}"
            );
        }
        assert_eq!(
            Tap::create("fifteen-bytes-x", 1400).unwrap().name(),
            "fifteen-bytes-x"
        );
        Tap::create("lo", 1400).expect_err("loopback is not a TAP");
        assert_eq!(interface_mtu("lo"), 65536, "and loopback was left alone");
        // Ethernet devices take 68 and up.
        Tap::create("twtap1", 67).expect_err("MTU below the minimum");
        assert_eq!(Tap::create("twtap2", 68).unwrap().name(), "twtap2");
    });
}
