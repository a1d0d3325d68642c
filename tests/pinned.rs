//! Behaviour that cargo-mutants showed no test pinned (issue 7, item 12): each test here
//! fails when the named line is mutated.

use std::net::Ipv4Addr;

use tunnelwire::ErrorKind;
use tunnelwire::checksum;
use tunnelwire::packet::TunnelKind;
use tunnelwire::tunnel::flow::FlowKey;
use tunnelwire::tunnel::{
    Decapsulator, EcnMode, Encapsulator, HEADROOM, TranslateConfig, Translator, TunnelConfig,
};
use tunnelwire::wire::{
    Ipv4Packet, MacAddr, NvgreRepr, UdpDatagram, UdpRepr, Vni, Vsid, VxlanRepr,
};

#[test]
fn the_checksum_fold_keeps_its_last_carry() {
    // 0xffff + 0xffff + 0x0001 = 0x1ffff -> 0x0001 after the end-around carries.
    assert_eq!(
        checksum::sum(&[0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x00, 0x00]),
        1
    );
}

#[test]
fn the_ecn_rewrite_keeps_a_non_zero_dscp_and_a_correct_checksum() {
    // Inner IPv4 with DSCP 46 (EF) and ECT(0); the outer is then marked CE.
    let mut inner = vec![
        0x02,
        0,
        0,
        0,
        0,
        0xbb,
        0x02,
        0,
        0,
        0,
        0,
        0xaa,
        0x08,
        0x00,
        0x45,
        46 << 2 | 0b10,
        0,
        28,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
        10,
        0,
        0,
        1,
        10,
        0,
        0,
        2,
        0x13,
        0x88,
        0,
        53,
        0,
        8,
        0,
        0,
    ];
    Ipv4Packet::new_unchecked(&mut inner[14..]).fill_checksum();
    let config = TunnelConfig {
        ecn: EcnMode::Compatibility, // outer Not-ECT, marked CE below
        ..TunnelConfig::vxlan(
            Vni::new(4200).unwrap(),
            Ipv4Addr::new(10, 9, 0, 1),
            Ipv4Addr::new(10, 9, 0, 2),
        )
    };
    let mut buf = vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(&inner);
    let frame = Encapsulator::new(config)
        .unwrap()
        .encapsulate(&mut buf, HEADROOM..HEADROOM + inner.len())
        .unwrap();
    let bytes = &mut buf[frame];
    let mut outer = Ipv4Packet::new_unchecked(&mut bytes[14..]);
    outer.set_dscp_ecn(0, 0b11);
    outer.fill_checksum();
    let found = Decapsulator::default().decapsulate(bytes).unwrap();
    let ip = Ipv4Packet::new_checked(&bytes[found.inner][14..]).unwrap();
    assert_eq!((ip.dscp(), ip.ecn()), (46, 0b11));
    assert!(ip.verify_checksum());
}

#[test]
fn the_symmetric_flow_key_is_the_ordered_one() {
    let (a, b) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
    let (x, y) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    // Destination MAC b > a, source endpoint (x, 5000) < (y, 53): already in order.
    let ordered = FlowKey::new(b, a, 0x0800, 0, Some((x, y, 17)), Some((5000, 53)));
    let reverse = FlowKey::new(a, b, 0x0800, 0, Some((y, x, 17)), Some((53, 5000)));
    assert_eq!(ordered.symmetric(), ordered);
    assert_eq!(reverse.symmetric(), ordered);
    assert_ne!(reverse, ordered);
}

#[test]
fn nvgre_to_vxlan_translation_honours_the_mtu_at_the_boundary() {
    // An NVGRE frame whose inner frame is 64 bytes: as VXLAN its outer IPv4 packet is
    // 20 + 8 + 8 + 64 = 100 bytes.
    let config = TunnelConfig::nvgre(
        Vsid::new(4200).unwrap(),
        Ipv4Addr::new(10, 9, 0, 1),
        Ipv4Addr::new(10, 9, 0, 2),
    );
    let inner = [0x02u8; 64];
    let mut nvgre = vec![0u8; HEADROOM + 64];
    nvgre[HEADROOM..].copy_from_slice(&inner);
    let frame = Encapsulator::new(config)
        .unwrap()
        .encapsulate(&mut nvgre, HEADROOM..HEADROOM + 64)
        .unwrap();
    for (mtu, fits) in [(100, true), (99, false)] {
        let mut buf = nvgre.clone();
        let translator = Translator::new(TranslateConfig {
            mtu,
            ..TranslateConfig::default()
        })
        .unwrap();
        let out = translator.translate(&mut buf, frame.clone(), TunnelKind::Vxlan);
        match out {
            Ok(range) => assert!(fits && range.len() == 14 + 100, "mtu {mtu}"),
            Err(err) => {
                assert!(!fits, "mtu {mtu}: {err}");
                assert_eq!(err.kind, ErrorKind::ExceedsMtu { len: 100, mtu });
            }
        }
    }
}

#[test]
fn udp_emptiness_and_length_overflow_name_their_values() {
    let header = [0, 1, 0, 2, 0, 8, 0, 0];
    assert!(UdpDatagram::new_checked(&header[..]).unwrap().is_empty());
    let one = [0, 1, 0, 2, 0, 9, 0, 0, 0xaa];
    assert!(!UdpDatagram::new_checked(&one[..]).unwrap().is_empty());
    let err = UdpRepr::new(1, 2, u16::MAX - 7)
        .emit(&mut [0u8; 8])
        .unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::OutOfRange {
            field: "length",
            value: 65536
        }
    );
}

#[test]
fn reprs_display_their_fields() {
    let vsid = Vsid::new(4242).unwrap();
    assert_eq!(
        NvgreRepr::new(vsid, 7).to_string(),
        "NVGRE vsid 4242 flow 7"
    );
    assert_eq!(
        UdpRepr::new(49152, 4789, 16).to_string(),
        "UDP 49152 > 4789 len 16"
    );
    assert_eq!(
        VxlanRepr::new(Vni::new(42).unwrap()).to_string(),
        "VXLAN vni 42 flags 0x08"
    );
}

#[test]
fn both_tags_of_qinq_are_stripped_and_a_third_is_refused() {
    let untagged = [
        0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x06, 0xde, 0xad,
    ];
    let tagged = |tpids: &[[u8; 2]]| {
        let mut frame = untagged.to_vec();
        for (i, tpid) in tpids.iter().enumerate().rev() {
            frame.splice(12..12, [tpid[0], tpid[1], 0x00, 10 + i as u8]);
        }
        frame
    };
    let config = TunnelConfig::vxlan(
        Vni::new(4200).unwrap(),
        Ipv4Addr::new(10, 9, 0, 1),
        Ipv4Addr::new(10, 9, 0, 2),
    );
    let encap = |inner: &[u8]| {
        let mut buf = vec![0u8; HEADROOM + inner.len()];
        buf[HEADROOM..].copy_from_slice(inner);
        let out = Encapsulator::new(config)
            .unwrap()
            .encapsulate(&mut buf, HEADROOM..HEADROOM + inner.len());
        out.map(|range| buf[range].to_vec())
    };
    // QinQ: an S-tag then a C-tag, both removed.
    let mut frame = encap(&tagged(&[[0x88, 0xa8], [0x81, 0x00]])).unwrap();
    let found = Decapsulator::default().decapsulate(&mut frame).unwrap();
    assert_eq!(&frame[found.inner], &untagged[..]);
    // A third tag cannot be removed (only two are decoded): refused, not half-stripped.
    let err = encap(&tagged(&[[0x88, 0xa8], [0x81, 0x00], [0x81, 0x00]])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InnerVlanTag);
}

#[test]
fn an_ipv6_flow_key_built_by_hand_is_the_one_read_from_the_frame() {
    use std::net::Ipv6Addr;
    use tunnelwire::wire::{EtherType, EthernetRepr, IpProtocol, Ipv6Repr};
    let (dst_mac, src_mac) = (
        MacAddr([2, 0, 0, 0, 0, 0xbb]),
        MacAddr([2, 0, 0, 0, 0, 0xaa]),
    );
    let (src, dst) = (
        "fd00::1".parse::<Ipv6Addr>().unwrap(),
        "fd00::2:3".parse::<Ipv6Addr>().unwrap(),
    );
    let mut frame = vec![0u8; 14 + 40 + 8];
    EthernetRepr {
        dst_addr: dst_mac,
        src_addr: src_mac,
        ethertype: EtherType::IPV6,
    }
    .emit(&mut frame)
    .unwrap();
    let mut ip = Ipv6Repr::new(src, dst, IpProtocol::UDP, 8);
    ip.flow_label = 0xabcde;
    ip.emit(&mut frame[14..]).unwrap();
    UdpRepr::new(40000, 53, 0).emit(&mut frame[54..]).unwrap();
    let by_hand = FlowKey::new_ipv6(
        dst_mac,
        src_mac,
        0,
        (src, dst, 17, 0xabcde),
        Some((40000, 53)),
    );
    assert_eq!(by_hand, FlowKey::from_frame(&frame));
    // Each field counts: another label, next header or address is another key.
    let other_label = FlowKey::new_ipv6(dst_mac, src_mac, 0, (src, dst, 17, 1), Some((40000, 53)));
    let other_header = FlowKey::new_ipv6(
        dst_mac,
        src_mac,
        0,
        (src, dst, 6, 0xabcde),
        Some((40000, 53)),
    );
    let other_source = FlowKey::new_ipv6(
        dst_mac,
        src_mac,
        0,
        (dst, dst, 17, 0xabcde),
        Some((40000, 53)),
    );
    for other in [other_label, other_header, other_source] {
        assert_ne!(other.hash(), by_hand.hash());
    }
}

#[test]
fn an_ipv4_header_alone_is_a_whole_packet() {
    // Total length 20 with IHL 5: the smallest packet is accepted, with no payload.
    // Pins the total-length compares of the IPv4 length check at equality.
    let header = [
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let packet = Ipv4Packet::new_checked(&header[..]).unwrap();
    assert!(packet.payload().is_empty());
}

#[test]
fn an_ipv4_total_length_that_ends_inside_the_options_is_refused() {
    // IHL 6 (a 24-byte header) with total length 22: longer than the fixed header, shorter
    // than this one. Pins the compare against the header's own length.
    let header = [
        0x46, 0, 0, 22, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 1, 1,
    ];
    let err = Ipv4Packet::new_checked(&header[..]).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::TotalLength {
            total_len: 22,
            header_len: 24
        }
    );
}
