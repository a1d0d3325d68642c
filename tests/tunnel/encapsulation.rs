//! What encapsulation writes and refuses: the underlay MTU, headroom, IPv4 IDs, validated
//! settings, and a segment chosen per packet.

use std::net::IpAddr;

use tunnelwire::ErrorKind;
use tunnelwire::packet::Decoder;
use tunnelwire::tunnel::{
    Dscp, Encapsulation, Encapsulator, OuterVlan, PortRange, Translator, TunnelKind,
};
use tunnelwire::wire::VlanId;

use super::*;

#[test]
fn frames_over_the_underlay_mtu_are_errors_not_fragments() {
    let mut config = config(false, 1);
    config.mtu = 1500;
    let mut encap = Encapsulator::new(config).unwrap();
    // 1500 - 20 - 8 - 8 = 1464 bytes of inner frame fit exactly.
    let fits = inner_frame(SRC, DST, (1, 2), 0, 1464 - 42);
    let (mut buf, range) = with_headroom(&fits);
    assert!(encap.encapsulate(&mut buf, range).is_ok());
    let too_big = inner_frame(SRC, DST, (1, 2), 0, 1465 - 42);
    let (mut buf, range) = with_headroom(&too_big);
    let err = encap.encapsulate(&mut buf, range).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::ExceedsMtu {
            len: 1501,
            mtu: 1500
        }
    );
    // NVGRE's 8 fewer bytes of overhead let 8 more inner bytes through.
    let mut nvgre = Encapsulator::new(TunnelConfig {
        mtu: 1500,
        ..self::config(true, 0x1001)
    })
    .unwrap();
    let fits = inner_frame(SRC, DST, (1, 2), 0, 1472 - 42);
    let (mut buf, range) = with_headroom(&fits);
    assert!(nvgre.encapsulate(&mut buf, range).is_ok());
}

#[test]
fn too_little_headroom_is_an_error() {
    let inner = inner_frame(SRC, DST, (1, 2), 0, 10);
    let mut buf = vec![0u8; 49 + inner.len()];
    buf[49..].copy_from_slice(&inner);
    let err = Encapsulator::new(config(false, 1))
        .unwrap()
        .encapsulate(&mut buf, 49..49 + inner.len())
        .unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Headroom {
            needed: 50,
            available: 49
        }
    );
    // NVGRE at the very start of a buffer has no room to grow into VXLAN.
    let mut buf = vec![0u8; 42 + inner.len()];
    buf[42..].copy_from_slice(&inner);
    let nvgre = Encapsulator::new(config(true, 0x1001))
        .unwrap()
        .encapsulate(&mut buf, 42..42 + inner.len())
        .unwrap();
    assert_eq!(nvgre.start, 0);
    let err = Translator::default()
        .translate(&mut buf, nvgre, TunnelKind::Vxlan)
        .unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Headroom {
            needed: 8,
            available: 0
        }
    );
    // Not a tunnel frame.
    let err = Translator::default()
        .translate(&mut buf[42..], 0..inner.len(), TunnelKind::Vxlan)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotTunnel);
}

#[test]
fn ipv4_ident_is_zero_with_df_and_counts_without() {
    let inner = inner_frame(SRC, DST, (1, 2), 0, 10);
    let mut encap = Encapsulator::new(TunnelConfig {
        dont_frag: false,
        ..config(false, 1)
    })
    .unwrap();
    let mut idents = Vec::new();
    for _ in 0..3 {
        let (mut buf, range) = with_headroom(&inner);
        let frame = encap.encapsulate(&mut buf, range).unwrap();
        let ip = Decoder::new()
            .decode(&buf[frame])
            .unwrap()
            .outer
            .ipv4
            .unwrap();
        assert!(!ip.dont_frag() && ip.verify_checksum());
        idents.push(ip.ident());
    }
    // The counter is shared by the process (other tests may draw from it too): the IDs
    // are distinct and increasing, not necessarily 1, 2, 3.
    assert!(idents[0] < idents[1] && idents[1] < idents[2], "{idents:?}");
    let (mut buf, range) = with_headroom(&inner);
    let frame = Encapsulator::new(config(false, 1))
        .unwrap()
        .encapsulate(&mut buf, range)
        .unwrap();
    assert_eq!(
        Decoder::new()
            .decode(&buf[frame])
            .unwrap()
            .outer
            .ipv4
            .unwrap()
            .ident(),
        0
    );
}

#[test]
fn configuration_is_validated() {
    assert!(
        Encapsulator::new(TunnelConfig {
            dscp: Dscp::Fixed(64),
            ..config(false, 1)
        })
        .is_err()
    );
    let tag = OuterVlan {
        vid: VlanId::usable(5).unwrap(),
        pcp: 8,
    };
    assert!(
        Encapsulator::new(TunnelConfig {
            outer_vlan: Some(tag),
            ..config(false, 1)
        })
        .is_err()
    );
    assert!(PortRange::new(2, 1).is_err());
    assert_eq!(
        Encapsulator::new(config(true, 0x1001))
            .unwrap()
            .config()
            .encapsulation,
        Encapsulation::Nvgre(Vsid::new(0x1001).unwrap())
    );
}

#[test]
fn validation_takes_the_top_pcp_and_the_smallest_mtu_that_carries_ethernet() {
    // PCP is 3 bits: 7 is the highest priority, 8 does not fit.
    for (pcp, valid) in [(7, true), (8, false)] {
        let mut vxlan = config(false, 42);
        vxlan.outer_vlan = Some(OuterVlan {
            vid: VlanId::usable(100).unwrap(),
            pcp,
        });
        assert_eq!(vxlan.validate().is_ok(), valid, "PCP {pcp}");
    }
    // The MTU must hold the outer IPv4 header, the tunnel headers and an inner Ethernet
    // header: 20 + 16 + 14 for VXLAN, 20 + 8 + 14 for NVGRE.
    for (nvgre, smallest) in [(false, 50), (true, 42)] {
        let mut tunnel = config(nvgre, 4242);
        tunnel.mtu = smallest;
        assert!(tunnel.validate().is_ok(), "MTU {smallest}");
        tunnel.mtu = smallest - 1;
        let err = tunnel.validate().unwrap_err();
        assert_eq!(err.kind.name(), "out_of_range", "MTU {}", smallest - 1);
    }
}

/// One encapsulator for many segments writes, per packet, exactly what an encapsulator
/// configured with that segment writes: VXLAN with and without its UDP checksum, over
/// IPv4 and IPv6, and NVGRE; a reserved VSID is refused with the buffer untouched.
#[test]
fn a_segment_per_packet_writes_what_a_configured_segment_writes() {
    let v6: (Ipv6Addr, Ipv6Addr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let inner = inner_frame(SRC, DST, (7, 8), 0b10, 300);
    for (nvgre, family6, udp_checksum) in [
        (false, false, false),
        (false, false, true),
        (false, true, false),
        (true, false, false),
        (true, true, false),
    ] {
        let (src, dst): (IpAddr, IpAddr) = if family6 {
            (v6.0.into(), v6.1.into())
        } else {
            (SRC.into(), DST.into())
        };
        let config = |segment: u32| {
            let mut config = if nvgre {
                TunnelConfig::nvgre(Vsid::new(segment).unwrap(), src, dst)
            } else {
                TunnelConfig::vxlan(Vni::new(segment).unwrap(), src, dst)
            };
            config.udp_checksum = udp_checksum;
            config
        };
        let mut shared = Encapsulator::new(config(0x4444)).unwrap();
        for segment in [0x1000, 0x5a5a5a, 0xfffffe, 0x4444] {
            let (mut ours, range) = with_headroom(&inner);
            let got = shared
                .encapsulate_in(&mut ours, range.clone(), Vni::new(segment).unwrap())
                .unwrap();
            let (mut theirs, _) = with_headroom(&inner);
            let want = Encapsulator::new(config(segment))
                .unwrap()
                .encapsulate(&mut theirs, range)
                .unwrap();
            assert_eq!(got, want);
            assert_eq!(
                ours, theirs,
                "nvgre {nvgre}, IPv6 {family6}, segment {segment:#x}"
            );
        }
        if nvgre {
            let (mut buf, range) = with_headroom(&inner);
            let before = buf.clone();
            let error = shared
                .encapsulate_in(&mut buf, range, Vni::new(100).unwrap())
                .unwrap_err();
            assert_eq!(error.kind, ErrorKind::ReservedVsid(100));
            assert_eq!(buf, before);
        }
    }
}
