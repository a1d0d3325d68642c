//! What decapsulation checks and combines: ECN per RFC 6040, the UDP checksum and inner
//! tags, and a dual-stack socket's IPv4-mapped peers.

use std::net::IpAddr;

use tunnelwire::ErrorKind;
use tunnelwire::tunnel::ecn::{Ecn, EcnMode};
use tunnelwire::tunnel::{
    Checksums, DecapConfig, Decapsulator, Encapsulator, InnerVlanPolicy, SocketOuter, TunnelKind,
};

use super::*;

#[test]
fn decapsulation_combines_ecn_per_rfc6040() {
    // Encapsulate an ECT(0) inner packet in compatibility mode (outer Not-ECT), then mark
    // the outer CE as a congested router would: the inner packet must come out CE.
    let inner = inner_frame(SRC, DST, (1, 2), 0b10, 10);
    let compatible = TunnelConfig {
        ecn: EcnMode::Compatibility,
        ..config(false, 1)
    };
    let (mut buf, range) = with_headroom(&inner);
    let frame = Encapsulator::new(compatible)
        .unwrap()
        .encapsulate(&mut buf, range)
        .unwrap();
    let mark_ce = |frame: &mut [u8]| {
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
        ip.set_dscp_ecn(0, 0b11);
        ip.fill_checksum();
    };
    mark_ce(&mut buf[frame.clone()]);
    let out = Decapsulator::default()
        .decapsulate(&mut buf[frame.clone()])
        .unwrap();
    let inner_ip = Ipv4Packet::new_checked(&buf[frame.start..][out.inner][14..]).unwrap();
    assert_eq!(inner_ip.ecn(), 0b11);
    assert!(inner_ip.verify_checksum(), "incremental checksum update");

    // A Not-ECT inner packet under a CE outer is dropped.
    let inner = inner_frame(SRC, DST, (1, 2), 0, 10);
    let (mut buf, range) = with_headroom(&inner);
    let frame = Encapsulator::new(compatible)
        .unwrap()
        .encapsulate(&mut buf, range)
        .unwrap();
    mark_ce(&mut buf[frame.clone()]);
    let err = Decapsulator::default()
        .decapsulate(&mut buf[frame])
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::EcnDrop);
}

#[test]
fn decapsulation_checks_udp_checksum_and_inner_tags() {
    let inner = inner_frame(SRC, DST, (1, 2), 0, 10);
    let (mut buf, range) = with_headroom(&inner);
    let checksummed = TunnelConfig {
        udp_checksum: true,
        ..config(false, 1)
    };
    let frame = Encapsulator::new(checksummed)
        .unwrap()
        .encapsulate(&mut buf, range)
        .unwrap();
    buf[frame.end - 1] ^= 0xff;
    let err = Decapsulator::default()
        .decapsulate(&mut buf[frame.clone()])
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadChecksum(_)));
    assert_eq!(err.offset, 34);
    let lenient = Decapsulator::new(DecapConfig {
        checksums: Checksums::OffloadedByNic,
        ..DecapConfig::default()
    });
    assert!(lenient.decapsulate(&mut buf[frame]).is_ok());

    // An inner 802.1Q tag (kept by a VXLAN encapsulator told to): rejected by default,
    // kept when configured.
    let mut tagged = inner_frame(SRC, DST, (1, 2), 0, 10);
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x64]);
    let (mut buf, range) = with_headroom(&tagged);
    let keeping = TunnelConfig {
        inner_vlan: InnerVlanPolicy::Keep,
        ..config(false, 1)
    };
    let frame = Encapsulator::new(keeping)
        .unwrap()
        .encapsulate(&mut buf, range)
        .unwrap();
    let err = Decapsulator::default()
        .decapsulate(&mut buf[frame.clone()])
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InnerVlanTag);
    let keep = Decapsulator::new(DecapConfig {
        inner_vlan: InnerVlanPolicy::Keep,
        ..DecapConfig::default()
    });
    let out = keep.decapsulate(&mut buf[frame.clone()]).unwrap();
    assert_eq!(&buf[frame.start..][out.inner], &tagged[..]);

    // Not a tunnel.
    let err = Decapsulator::default()
        .decapsulate(&mut inner_frame(SRC, DST, (1, 2), 0, 10))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotTunnel);
}

#[test]
fn a_dual_stack_socket_reports_ipv4_peers_as_mapped_addresses_and_they_are_vteps() {
    // A program that owns one socket for both families (bound to [::]:4789 without
    // IPV6_V6ONLY) gets each IPv4 peer from recvfrom as an IPv4-mapped IPv6 address, and
    // the local address from IPV6_PKTINFO likewise (RFC 4291 section 2.5.5.2, RFC 3493
    // section 3.7). The packet came over IPv4: the peer is judged, and reported, as the
    // IPv4 address it is.
    let mut encap = Encapsulator::new(config(false, 42)).unwrap();
    let (mut buf, range) = with_headroom(&inner_frame(SRC, DST, (1, 2), 0, 10));
    let sent = encap.encapsulate_payload(&mut buf, range).unwrap();
    let outer = SocketOuter {
        src: SRC.to_ipv6_mapped().into(),
        dst: DST.to_ipv6_mapped().into(),
        ecn: Ecn::NotEct,
    };
    let found = Decapsulator::default()
        .inspect_payload(&buf[sent.payload.clone()], TunnelKind::Vxlan, &outer)
        .expect("an IPv4 VTEP behind a dual-stack socket refused");
    assert_eq!(found.segment(), 42);
    assert_eq!(found.outer_src, IpAddr::from(SRC));
    // A mapped address no VTEP can have is refused as that IPv4 address would be.
    let martian = SocketOuter {
        src: Ipv4Addr::new(0, 1, 2, 3).to_ipv6_mapped().into(),
        ..outer
    };
    let refused = Decapsulator::default()
        .inspect_payload(&buf[sent.payload.clone()], TunnelKind::Vxlan, &martian)
        .unwrap_err();
    assert!(
        matches!(refused.kind, ErrorKind::BadAddress { .. }),
        "{refused:?}"
    );
    // A report of two families is no packet: the caller's mistake, named.
    let mixed = SocketOuter {
        dst: "fd00::2".parse().unwrap(),
        ..outer
    };
    let refused = Decapsulator::default()
        .inspect_payload(&buf[sent.payload], TunnelKind::Vxlan, &mixed)
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::MixedFamilies);
}
