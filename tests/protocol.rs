//! The protocol rules of issue 6, one test per rule: inner IPv6 through the engine
//! (RFC 6040 both ways, the flow hash), the NVGRE FlowID setting, one inner-VLAN policy
//! on every path, outer checksums, reserved VSIDs, IPv4 IDs across encapsulators,
//! validated settings and VTEP sources, VXLAN-GPE, and same-kind translation.

use std::net::{Ipv4Addr, Ipv6Addr};

use tunnelwire::ErrorKind;
use tunnelwire::packet::{Decoder, Tunnel, TunnelKind};
use tunnelwire::tunnel::{
    Checksums, DecapConfig, Decapsulator, Dscp, EcnAlarm, Encapsulator, FlowId, HEADROOM,
    InnerVlanPolicy, OuterVlan, PortRange, TranslateConfig, Translator, TunnelConfig,
};
use tunnelwire::wire::{
    EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv6Packet, Ipv6Repr, MacAddr, UdpRepr,
    VlanId, Vni, Vsid,
};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// An inner Ethernet/IPv6/UDP frame.
fn ipv6_frame(src: u16, ports: (u16, u16), traffic_class: u8, flow_label: u32) -> Vec<u8> {
    let mut frame = vec![0u8; 14 + 40 + 8 + 16];
    EthernetRepr {
        dst_addr: MacAddr([0x02, 0, 0, 0, 0, 0xbb]),
        src_addr: MacAddr([0x02, 0, 0, 0, 0, 0xaa]),
        ethertype: EtherType::IPV6,
    }
    .emit(&mut frame)
    .unwrap();
    let mut ip = Ipv6Repr::new(
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, src),
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0xffff),
        IpProtocol::UDP,
        24,
    );
    ip.dscp = traffic_class >> 2;
    ip.ecn = traffic_class & 3;
    ip.flow_label = flow_label;
    ip.emit(&mut frame[14..]).unwrap();
    UdpRepr::new(ports.0, ports.1, 16)
        .emit(&mut frame[54..])
        .unwrap();
    frame
}

/// An inner Ethernet/IPv4/UDP frame, optionally with one 802.1Q tag.
fn ipv4_frame(tag: Option<u16>) -> Vec<u8> {
    let mut frame = vec![
        0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0x40, 0,
        64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x13, 0x88, 0, 53, 0, 8, 0, 0,
    ];
    Ipv4Packet::new_unchecked(&mut frame[14..]).fill_checksum();
    if let Some(vid) = tag {
        let tci = vid.to_be_bytes();
        frame.splice(12..12, [0x81, 0x00, tci[0], tci[1]]);
    }
    frame
}

fn with_headroom(frame: &[u8]) -> (Vec<u8>, std::ops::Range<usize>) {
    let mut buf = vec![0u8; HEADROOM + frame.len()];
    buf[HEADROOM..].copy_from_slice(frame);
    (buf, HEADROOM..HEADROOM + frame.len())
}

fn vxlan(vni: u32) -> TunnelConfig {
    TunnelConfig::vxlan(Vni::new(vni).unwrap(), SRC, DST)
}

fn nvgre(vsid: u32) -> TunnelConfig {
    TunnelConfig::nvgre(Vsid::new(vsid).unwrap(), SRC, DST)
}

fn encapsulate(config: TunnelConfig, inner: &[u8]) -> Vec<u8> {
    let (mut buf, range) = with_headroom(inner);
    let frame = Encapsulator::new(config)
        .unwrap()
        .encapsulate(&mut buf, range)
        .unwrap();
    buf[frame].to_vec()
}

/// Sets the outer IPv4 ECN of an untagged tunnel frame, as a congested router would
/// (checksum refilled).
fn mark_outer(frame: &mut [u8], ecn: u8) {
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.set_dscp_ecn(ip.dscp(), ecn);
    ip.fill_checksum();
}

// Item 2: RFC 6040 for inner IPv6.

#[test]
fn encapsulation_copies_inner_ipv6_ecn_and_dscp() {
    let inner = ipv6_frame(1, (1, 2), 46 << 2 | 0b01, 0);
    let config = TunnelConfig {
        dscp: Dscp::CopyInner,
        ..vxlan(4200)
    };
    let frame = encapsulate(config, &inner);
    let outer = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    assert_eq!((outer.dscp(), outer.ecn()), (46, 0b01));
}

#[test]
fn decapsulation_combines_outer_ecn_into_inner_ipv6() {
    let inner = ipv6_frame(1, (1, 2), 0b10, 0x12345); // ECT(0)
    let mut frame = encapsulate(vxlan(4200), &inner);
    mark_outer(&mut frame, 0b11); // CE
    let out = Decapsulator::default().decapsulate(&mut frame).unwrap();
    let ip = Ipv6Packet::new_checked(&frame[out.inner][14..]).unwrap();
    assert_eq!(ip.ecn(), 0b11, "CE reaches the inner IPv6 header");
    assert_eq!(
        (ip.dscp(), ip.flow_label()),
        (0, 0x12345),
        "only ECN changes"
    );
    assert_eq!(out.ecn_alarm, None);

    let not_ect = ipv6_frame(1, (1, 2), 0, 0);
    let mut frame = encapsulate(vxlan(4200), &not_ect);
    mark_outer(&mut frame, 0b11);
    let err = Decapsulator::default().decapsulate(&mut frame).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::EcnDrop,
        "CE over Not-ECT IPv6 is dropped"
    );
}

#[test]
fn decapsulation_reports_the_combinations_rfc6040_says_to_log() {
    // Not-ECT inner under ECT(0) outer: "(!!!)"; ECT(1) inner under ECT(0): "(!)".
    for (inner_ecn, alarm) in [(0b00, EcnAlarm::Unexpected), (0b01, EcnAlarm::Questionable)] {
        let mut frame = encapsulate(vxlan(4200), &ipv6_frame(1, (1, 2), inner_ecn, 0));
        mark_outer(&mut frame, 0b10);
        let out = Decapsulator::default().decapsulate(&mut frame).unwrap();
        assert_eq!(out.ecn_alarm, Some(alarm), "inner {inner_ecn:#04b}");
    }
}

// Item 3: the flow hash over inner IPv6.

#[test]
fn flow_hash_spreads_ipv6_flows_by_address_ports_and_flow_label() {
    let mut encap = Encapsulator::new(vxlan(4200)).unwrap();
    let mut port_of = |inner: &[u8]| {
        let (mut buf, range) = with_headroom(inner);
        let frame = encap.encapsulate(&mut buf, range).unwrap();
        u16::from_be_bytes([buf[frame.start + 34], buf[frame.start + 35]])
    };
    let base = port_of(&ipv6_frame(1, (1000, 53), 0, 0));
    assert_eq!(base, port_of(&ipv6_frame(1, (1000, 53), 0, 0)), "stable");
    assert_ne!(base, port_of(&ipv6_frame(2, (1000, 53), 0, 0)), "address");
    assert_ne!(base, port_of(&ipv6_frame(1, (1001, 53), 0, 0)), "port");
    assert_ne!(
        base,
        port_of(&ipv6_frame(1, (1000, 53), 0, 7)),
        "flow label"
    );
    // 1000 flows with one MAC pair spread over the port range.
    let ports: std::collections::HashSet<u16> = (0..1000u16)
        .map(|i| port_of(&ipv6_frame(i, (i, 53), 0, 0)))
        .collect();
    assert!(ports.len() > 950, "{} distinct ports", ports.len());
}

// Item 4: the NVGRE FlowID as a setting.

#[test]
fn fixed_flow_id_gives_the_gretap_key_on_encapsulation_and_translation() {
    let config = TunnelConfig {
        flow_id: FlowId::Fixed(0),
        ..nvgre(0x1234)
    };
    for ports in [(1, 2), (3, 4), (5, 6)] {
        let frame = encapsulate(config, &ipv6_frame(1, ports, 0, 0));
        // The GRE key, bytes 38..42: VSID << 8 | FlowID, as `gretap key 0x123400`.
        assert_eq!(&frame[38..42], &[0x00, 0x12, 0x34, 0x00]);
    }
    let vxlan_frame = encapsulate(vxlan(0x1234), &ipv4_frame(None));
    let mut buf = vec![0u8; 8];
    buf.extend_from_slice(&vxlan_frame);
    let len = buf.len();
    let translator = Translator::new(TranslateConfig {
        flow_id: FlowId::Fixed(9),
        ..TranslateConfig::default()
    })
    .unwrap();
    let out = translator
        .translate(&mut buf, 8..len, TunnelKind::Nvgre)
        .unwrap();
    assert_eq!(&buf[out.start + 38..out.start + 42], &[0x00, 0x12, 0x34, 9]);
}

// Item 5: inner 802.1Q, one policy on every path.

#[test]
fn inner_tags_are_stripped_by_default_kept_or_rejected_when_asked() {
    let tagged = ipv4_frame(Some(100));
    let untagged = ipv4_frame(None);
    for config in [vxlan(4200), nvgre(4200)] {
        let mut frame = encapsulate(config, &tagged);
        let out = Decapsulator::default().decapsulate(&mut frame).unwrap();
        assert_eq!(
            &frame[out.inner],
            &untagged[..],
            "stripped on encapsulation"
        );
    }
    let keep = TunnelConfig {
        inner_vlan: InnerVlanPolicy::Keep,
        ..vxlan(4200)
    };
    let mut frame = encapsulate(keep, &tagged);
    let kept = Decapsulator::new(DecapConfig {
        inner_vlan: InnerVlanPolicy::Keep,
        ..DecapConfig::default()
    });
    let out = kept.decapsulate(&mut frame.clone()).unwrap();
    assert_eq!(&frame[out.inner.clone()], &tagged[..]);
    let stripped = Decapsulator::new(DecapConfig {
        inner_vlan: InnerVlanPolicy::Strip,
        ..DecapConfig::default()
    })
    .decapsulate(&mut frame)
    .unwrap();
    assert_eq!(
        &frame[stripped.inner],
        &untagged[..],
        "stripped on decapsulation"
    );

    let reject = TunnelConfig {
        inner_vlan: InnerVlanPolicy::Reject,
        ..vxlan(4200)
    };
    let (mut buf, range) = with_headroom(&tagged);
    let err = Encapsulator::new(reject)
        .unwrap()
        .encapsulate(&mut buf, range)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InnerVlanTag);
    assert_eq!(
        &buf[HEADROOM..],
        &tagged[..],
        "an error leaves the frame as it was"
    );

    let keep_nvgre = TunnelConfig {
        inner_vlan: InnerVlanPolicy::Keep,
        ..nvgre(4200)
    };
    assert!(matches!(
        Encapsulator::new(keep_nvgre).unwrap_err().kind,
        ErrorKind::Unsupported(_)
    ));
}

#[test]
fn translation_strips_inner_tags_so_our_own_decapsulator_accepts_the_result() {
    let keep = TunnelConfig {
        inner_vlan: InnerVlanPolicy::Keep,
        ..vxlan(4200)
    };
    let frame = encapsulate(keep, &ipv4_frame(Some(7)));
    for to in [TunnelKind::Nvgre, TunnelKind::Vxlan] {
        let mut buf = vec![0u8; 8];
        buf.extend_from_slice(&frame);
        let len = buf.len();
        let out = Translator::default()
            .translate(&mut buf, 8..len, to)
            .unwrap();
        let found = Decapsulator::default()
            .decapsulate(&mut buf[out.clone()])
            .unwrap();
        assert_eq!(&buf[out][found.inner], &ipv4_frame(None)[..], "{to:?}");
    }
}

// Item 6: outer checksums on decapsulation and translation.

#[test]
fn outer_ipv4_checksum_is_verified_unless_the_nic_did() {
    let mut frame = encapsulate(vxlan(4200), &ipv4_frame(None));
    frame[14 + 8] ^= 0x01; // TTL changed, checksum not updated
    let err = Decapsulator::default()
        .decapsulate(&mut frame.clone())
        .unwrap_err();
    assert_eq!((err.layer, err.offset), (tunnelwire::Layer::Ipv4, 14));
    assert!(matches!(err.kind, ErrorKind::BadChecksum(_)));
    let len = frame.len();
    let err = Translator::default()
        .translate(&mut frame.clone(), 0..len, TunnelKind::Nvgre)
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadChecksum(_)));
    let offloaded = Decapsulator::new(DecapConfig {
        checksums: Checksums::OffloadedByNic,
        ..DecapConfig::default()
    });
    assert!(offloaded.decapsulate(&mut frame).is_ok());
}

#[test]
fn translation_refuses_a_corrupt_vxlan_udp_checksum_instead_of_laundering_it() {
    let config = TunnelConfig {
        udp_checksum: true,
        ..vxlan(4200)
    };
    let mut frame = encapsulate(config, &ipv4_frame(None));
    let last = frame.len() - 1;
    frame[last] ^= 0xff;
    let len = frame.len();
    let err = Translator::default()
        .translate(&mut frame.clone(), 0..len, TunnelKind::Nvgre)
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadChecksum(_)));
    let offloaded = Translator::new(TranslateConfig {
        checksums: Checksums::OffloadedByNic,
        ..TranslateConfig::default()
    })
    .unwrap();
    assert!(
        offloaded
            .translate(&mut frame, 0..len, TunnelKind::Nvgre)
            .is_ok()
    );
}

// Item 7: reserved VSIDs.

#[test]
fn reserved_vsids_are_neither_sent_nor_delivered_nor_translated_to() {
    for vsid in [0, 0xfff, 0xff_ffff] {
        let err = Encapsulator::new(nvgre(vsid)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ReservedVsid(vsid));
    }
    assert!(Encapsulator::new(nvgre(0x1000)).is_ok());
    assert!(Encapsulator::new(nvgre(0xff_fffe)).is_ok());
    // A received NVGRE frame with a reserved VSID is not a tenant frame.
    let mut frame = encapsulate(nvgre(0x1000), &ipv4_frame(None));
    frame[39] = 0x00; // VSID 0x001000 (bytes 38..41) -> 0x000000
    let err = Decapsulator::default().decapsulate(&mut frame).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReservedVsid(0));
    // VNI 42 cannot become a VSID: translation to NVGRE refuses it.
    let mut frame = encapsulate(vxlan(42), &ipv4_frame(None));
    let len = frame.len();
    let err = Translator::default()
        .translate(&mut frame, 0..len, TunnelKind::Nvgre)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReservedVsid(42));
}

// Item 8: IPv4 IDs without DF.

#[test]
fn ipv4_ids_are_unique_per_tuple_across_encapsulators_and_clones() {
    let dst = Ipv4Addr::new(192, 0, 2, 88); // a tuple no other test uses
    let config = TunnelConfig {
        dont_frag: false,
        ..TunnelConfig::vxlan(Vni::new(4200).unwrap(), SRC, dst)
    };
    let mut first = Encapsulator::new(config).unwrap();
    let mut second = Encapsulator::new(config).unwrap();
    let mut clone = first.clone();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..100 {
        for encap in [&mut first, &mut second, &mut clone] {
            let (mut buf, range) = with_headroom(&ipv4_frame(None));
            let frame = encap.encapsulate(&mut buf, range).unwrap();
            let ip = Ipv4Packet::new_checked(&buf[frame.start + 14..]).unwrap();
            assert!(ip.verify_checksum());
            assert!(ids.insert(ip.ident()), "ID {} repeated", ip.ident());
        }
    }
}

// Item 9: validation at the edges.

#[test]
fn settings_that_cannot_be_sent_are_errors_naming_the_field() {
    let field_of = |config: TunnelConfig| match Encapsulator::new(config).unwrap_err().kind {
        ErrorKind::OutOfRange { field, .. } => field.to_string(),
        ErrorKind::BadAddress { field, .. } => field.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(field_of(TunnelConfig { ttl: 0, ..vxlan(1) }), "TTL");
    for src in [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::BROADCAST,
        Ipv4Addr::LOCALHOST,
    ] {
        let config = TunnelConfig::vxlan(Vni::new(1).unwrap(), src, DST);
        assert_eq!(field_of(config), "source address", "{src}");
    }
    let config = TunnelConfig::vxlan(Vni::new(1).unwrap(), SRC, Ipv4Addr::UNSPECIFIED);
    assert_eq!(field_of(config), "destination address");
    for vid in [0, 4095] {
        let tag = OuterVlan {
            vid: VlanId::new(vid).unwrap(),
            pcp: 0,
        };
        let config = TunnelConfig {
            outer_vlan: Some(tag),
            ..vxlan(1)
        };
        assert_eq!(field_of(config), "outer VLAN ID");
    }
    let config = TunnelConfig {
        source_ports: PortRange::new(0, 10).unwrap(),
        ..vxlan(1)
    };
    assert_eq!(field_of(config), "source port range low end");
    let config = TunnelConfig {
        vxlan_port: 0,
        ..vxlan(1)
    };
    assert_eq!(field_of(config), "VXLAN port");
}

#[test]
fn decapsulation_refuses_sources_that_cannot_be_a_vtep() {
    for src in [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::new(127, 0, 0, 9),
        Ipv4Addr::new(239, 1, 1, 1),
        Ipv4Addr::BROADCAST,
    ] {
        let mut frame = encapsulate(vxlan(4200), &ipv4_frame(None));
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
        ip.set_src_addr(src);
        ip.fill_checksum();
        let err = Decapsulator::default().decapsulate(&mut frame).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::BadAddress { address, .. } if address == src),
            "{src}: {err}"
        );
    }
}

// Item 10: VXLAN-GPE.

#[test]
fn vxlan_gpe_payloads_other_than_ethernet_are_not_decapsulated_as_ethernet() {
    let mut frame = encapsulate(vxlan(4200), &ipv4_frame(None));
    frame[42] |= 0x04; // P bit
    frame[45] = 1; // next protocol: IPv4
    let err = Decapsulator::default()
        .decapsulate(&mut frame.clone())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotEthernet(1));
    assert_eq!((err.layer, err.offset), (tunnelwire::Layer::Vxlan, 42));
    frame[45] = 3; // next protocol: Ethernet
    assert!(Decapsulator::default().decapsulate(&mut frame).is_ok());
}

// Item 11: same-kind translation.

#[test]
fn same_kind_translation_keeps_a_frame_that_decodes() {
    // Found by fuzzing: the outer IPv4 packet runs one byte past the UDP datagram.
    let hex = "02000000000202000000000108004500002500004000401100000a0000010a000002c00012b5\
               001000000800000000002a0000";
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(bytes.len(), 51);
    let mut buf = vec![0u8; 8 + 51];
    buf[8..].copy_from_slice(&bytes);
    let translator = Translator::new(TranslateConfig {
        checksums: Checksums::OffloadedByNic, // the reproduction carries no checksums
        ..TranslateConfig::default()
    })
    .unwrap();
    match translator.translate(&mut buf, 8..59, TunnelKind::Vxlan) {
        Ok(out) => {
            let frame = Decoder::new().decode(&buf[out]).unwrap();
            assert!(matches!(frame.tunnel, Some(Tunnel::Vxlan(_))));
        }
        // The inner frame is 1 byte: not an Ethernet frame, so refused, never cut.
        Err(err) => assert_eq!(err.layer, tunnelwire::Layer::Ethernet, "{err}"),
    }
    // The same shape, well formed otherwise: an outer IPv4 packet one byte longer than
    // its UDP datagram. Translated to its own kind, it comes back consistent, exactly
    // as encapsulation builds it.
    let frame = encapsulate(vxlan(4200), &ipv4_frame(None));
    let mut buf = frame.clone();
    buf.push(0xee);
    let mut ip = Ipv4Packet::new_unchecked(&mut buf[14..]);
    ip.set_total_len(ip.total_len() + 1);
    ip.fill_checksum();
    let len = buf.len();
    let out = Translator::default()
        .translate(&mut buf, 0..len, TunnelKind::Vxlan)
        .unwrap();
    assert!(Decoder::new().decode(&buf[out.clone()]).is_ok());
    assert_eq!(&buf[out], &frame[..]);
}

// What a review against the RFCs added.

#[test]
fn a_multicast_destination_is_a_flood_group_not_an_error() {
    let group = TunnelConfig::vxlan(Vni::new(1).unwrap(), SRC, Ipv4Addr::new(239, 1, 1, 1));
    assert!(
        Encapsulator::new(group).is_ok(),
        "RFC 7348 section 4.2 floods to a group"
    );
    let this_network = TunnelConfig::vxlan(Vni::new(1).unwrap(), SRC, Ipv4Addr::new(0, 1, 2, 3));
    assert!(Encapsulator::new(this_network).is_err());
    let reserved = TunnelConfig::vxlan(Vni::new(1).unwrap(), Ipv4Addr::new(240, 0, 0, 1), DST);
    assert!(Encapsulator::new(reserved).is_err());
    let tiny_mtu = TunnelConfig {
        mtu: 49, // 20 + 8 + 8 + 14 = 50 bytes are the least a VXLAN packet holds
        ..vxlan(1)
    };
    assert!(Encapsulator::new(tiny_mtu).is_err());
}

#[test]
fn a_tagged_nvgre_payload_is_dropped_whatever_the_policy() {
    // An NVGRE frame whose payload carries a tag, built by hand (our encapsulator strips).
    let mut frame = encapsulate(nvgre(4200), &ipv4_frame(None));
    frame.splice(42 + 12..42 + 12, [0x81, 0x00, 0x00, 0x07]);
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.set_total_len(ip.total_len() + 4);
    ip.fill_checksum();
    for inner_vlan in [
        InnerVlanPolicy::Keep,
        InnerVlanPolicy::Strip,
        InnerVlanPolicy::Reject,
    ] {
        let decap = Decapsulator::new(DecapConfig {
            inner_vlan,
            ..DecapConfig::default()
        });
        let err = decap.decapsulate(&mut frame.clone()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InnerVlanTag, "{inner_vlan:?}");
    }
}

#[test]
fn a_tag_cut_short_is_still_a_tag() {
    // The inner frame ends inside its 802.1Q tag: no tag decodes, but it is tagged.
    let mut frame = encapsulate(vxlan(4200), &ipv4_frame(None));
    frame.truncate(50 + 14);
    frame[50 + 12..50 + 14].copy_from_slice(&[0x81, 0x00]);
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.set_total_len(50);
    ip.fill_checksum();
    frame[38..40].copy_from_slice(&30u16.to_be_bytes()); // UDP length
    let err = Decapsulator::default().decapsulate(&mut frame).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InnerVlanTag);
}

#[test]
fn vxlan_gpe_oam_and_unknown_versions_are_not_tenant_frames() {
    for (flags, want) in [
        (0x0c | 0x01, "VXLAN-GPE OAM packet"),
        (0x0c | 0x10, "VXLAN-GPE version other than 0"),
    ] {
        let mut frame = encapsulate(vxlan(4200), &ipv4_frame(None));
        frame[42] = flags;
        frame[45] = 3;
        let err = Decapsulator::default().decapsulate(&mut frame).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotTenantFrame(want));
    }
    // A GPE payload too short for Ethernet is named for what it is, not for Ethernet.
    let mut frame = encapsulate(vxlan(4200), &ipv4_frame(None));
    frame[42] |= 0x04;
    frame[45] = 1;
    frame.truncate(50 + 8);
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.set_total_len(44);
    ip.fill_checksum();
    frame[38..40].copy_from_slice(&24u16.to_be_bytes());
    let err = Decapsulator::default().decapsulate(&mut frame).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotEthernet(1));
}

#[test]
fn translation_settings_that_cannot_be_sent_are_refused() {
    // Refused when the translator is built, naming the setting: no frame is needed to
    // learn that they cannot be sent.
    for (config, field) in [
        (
            TranslateConfig {
                vxlan_port: 0,
                ..TranslateConfig::default()
            },
            "VXLAN port",
        ),
        (
            TranslateConfig {
                geneve_port: 0,
                ..TranslateConfig::default()
            },
            "Geneve port",
        ),
    ] {
        let err = Translator::new(config).unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::OutOfRange { field, value: 0 },
            "{config:?}"
        );
    }
    assert_eq!(
        Translator::new(TranslateConfig::default()).unwrap(),
        Translator::default()
    );
}

#[test]
fn a_zero_udp_checksum_over_ipv6_does_not_verify() {
    // RFC 8200 section 8.1: receivers discard it by default.
    let frame = ipv6_frame(1, (1, 2), 0, 0);
    let ip = Ipv6Packet::new_checked(&frame[14..]).unwrap();
    let udp = tunnelwire::wire::UdpDatagram::new_checked(ip.payload()).unwrap();
    assert_eq!(udp.checksum(), 0);
    assert!(!udp.verify_checksum_ipv6(ip.src_addr(), ip.dst_addr()));
}
