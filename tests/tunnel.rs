//! The tunnel engine: encapsulation round trips over IPv4 and IPv6 underlays, whole
//! frames and socket payloads, what encapsulation writes, MTU and headroom errors, ECN,
//! translation, and the flow hash's spread.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use tunnelwire::ErrorKind;
use tunnelwire::packet::{Decoder, Tunnel};
use tunnelwire::tunnel::ecn::{Ecn, EcnMode};
use tunnelwire::tunnel::flow::FlowKey;
use tunnelwire::tunnel::{
    Checksums, DecapConfig, Decapsulator, Dscp, Encapsulation, Encapsulator, FlowLabel, HEADROOM,
    InnerVlanPolicy, OuterVlan, PortRange, SocketOuter, TranslateConfig, Translator, TunnelConfig,
    TunnelKind,
};
use tunnelwire::wire::{
    EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Repr, MacAddr, UdpRepr, VlanId,
    Vni, Vsid,
};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// An inner Ethernet/IPv4/UDP (or TCP) frame.
fn inner_frame(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ports: (u16, u16),
    tos: u8,
    payload: usize,
) -> Vec<u8> {
    let mut frame = vec![0u8; 14 + 20 + 8 + payload];
    EthernetRepr {
        dst_addr: MacAddr([0x02, 0, 0, 0, 0, 0xbb]),
        src_addr: MacAddr([0x02, 0, 0, 0, 0, 0xaa]),
        ethertype: EtherType::IPV4,
    }
    .emit(&mut frame)
    .unwrap();
    let mut ip = Ipv4Repr::new(src, dst, IpProtocol::UDP, 8 + payload as u16);
    ip.dscp = tos >> 2;
    ip.ecn = tos & 3;
    ip.emit(&mut frame[14..]).unwrap();
    Ipv4Packet::new_unchecked(&mut frame[14..]).fill_checksum();
    UdpRepr::new(ports.0, ports.1, payload as u16)
        .emit(&mut frame[34..])
        .unwrap();
    for (i, b) in frame[42..].iter_mut().enumerate() {
        *b = i as u8;
    }
    frame
}

/// An inner Ethernet/IPv6/UDP frame.
fn inner_frame6(ports: (u16, u16), traffic_class: u8, flow_label: u32, payload: usize) -> Vec<u8> {
    let mut frame = vec![0u8; 14 + 40 + 8 + payload];
    EthernetRepr {
        dst_addr: MacAddr([0x02, 0, 0, 0, 0, 0xbb]),
        src_addr: MacAddr([0x02, 0, 0, 0, 0, 0xaa]),
        ethertype: EtherType::IPV6,
    }
    .emit(&mut frame)
    .unwrap();
    let (a, b) = ("fd00:1::1".parse().unwrap(), "fd00:2::2".parse().unwrap());
    let mut ip = Ipv6Repr::new(a, b, IpProtocol::UDP, 8 + payload as u16);
    ip.dscp = traffic_class >> 2;
    ip.ecn = traffic_class & 3;
    ip.flow_label = flow_label;
    ip.emit(&mut frame[14..]).unwrap();
    UdpRepr::new(ports.0, ports.1, payload as u16)
        .emit(&mut frame[54..])
        .unwrap();
    for (i, b) in frame[62..].iter_mut().enumerate() {
        *b = i as u8;
    }
    frame
}

/// `frame` placed behind `HEADROOM` bytes.
fn with_headroom(frame: &[u8]) -> (Vec<u8>, std::ops::Range<usize>) {
    let mut buf = vec![0u8; HEADROOM + frame.len()];
    buf[HEADROOM..].copy_from_slice(frame);
    (buf, HEADROOM..HEADROOM + frame.len())
}

/// A tunnel from `SRC6` to `DST6` over IPv6, with its outer MACs set and a jumbo MTU
/// (the MTU rule has tests of its own).
fn config6(nvgre: bool, segment: u32) -> TunnelConfig {
    TunnelConfig {
        src_ip: SRC6.into(),
        dst_ip: DST6.into(),
        mtu: 9000,
        ..config(nvgre, segment)
    }
}

fn config(nvgre: bool, segment: u32) -> TunnelConfig {
    let mut config = if nvgre {
        TunnelConfig::nvgre(Vsid::new(segment).unwrap(), SRC, DST)
    } else {
        TunnelConfig::vxlan(Vni::new(segment).unwrap(), SRC, DST)
    };
    config.src_mac = MacAddr([0x02, 0x10, 0, 0, 0, 1]);
    config.dst_mac = MacAddr([0x02, 0x10, 0, 0, 0, 2]);
    config
}

proptest! {
    #[test]
    fn decap_of_encap_gives_back_the_inner_frame(
        nvgre in any::<bool>(),
        segment in 0x1000u32..Vni::MAX, // VSIDs RFC 7637 does not reserve
        vlan in proptest::option::of(1u16..4095),
        udp_checksum in any::<bool>(),
        copy_dscp in any::<bool>(),
        tos in any::<u8>(),
        ttl in 1u8..,
        ports in any::<(u16, u16)>(),
        payload in 0usize..1400,
        lo in 1024u16..40000, span in 0u16..20000,
    ) {
        let inner = inner_frame(Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(10, 2, 2, 2), ports, tos, payload);
        let mut config = config(nvgre, segment);
        config.outer_vlan = vlan.map(|vid| OuterVlan { vid: VlanId::usable(vid).unwrap(), pcp: 3 });
        config.udp_checksum = udp_checksum;
        config.ttl = ttl;
        config.dscp = if copy_dscp { Dscp::CopyInner } else { Dscp::Fixed(46) };
        config.source_ports = PortRange::new(lo, lo + span).unwrap();
        let mut encap = Encapsulator::new(config).unwrap();
        let (mut buf, range) = with_headroom(&inner);
        let frame = encap.encapsulate(&mut buf, range).unwrap();
        let overhead = match (nvgre, vlan.is_some()) { (false, false) => 50, (false, true) => 54, (true, false) => 42, (true, true) => 46 };
        prop_assert_eq!(frame.len(), overhead + inner.len());

        // What encapsulation wrote decodes to exactly the configured fields.
        let decoded = Decoder::new().decode(&buf[frame.clone()]).unwrap();
        let eth = decoded.outer.ethernet.unwrap();
        prop_assert_eq!((eth.src_addr(), eth.dst_addr()), (config.src_mac, config.dst_mac));
        prop_assert_eq!(decoded.outer.vlans[0].map(|t| t.vid().get()), vlan);
        let ip = decoded.outer.ipv4.unwrap();
        prop_assert_eq!((ip.src_addr(), ip.dst_addr(), ip.ttl()), (SRC, DST, ttl));
        prop_assert!(ip.dont_frag() && ip.verify_checksum());
        prop_assert_eq!(ip.dscp(), if copy_dscp { tos >> 2 } else { 46 });
        prop_assert_eq!(ip.ecn(), tos & 3, "RFC 6040 normal mode copies ECN");
        match decoded.tunnel.unwrap() {
            Tunnel::Vxlan(h) => {
                prop_assert!(!nvgre);
                prop_assert_eq!(h.vni().get(), segment);
                let udp = decoded.outer.udp().unwrap();
                prop_assert_eq!(udp.dst_port(), 4789);
                prop_assert!((lo..=lo + span).contains(&udp.src_port()));
                prop_assert_eq!(udp.checksum() != 0, udp_checksum);
                prop_assert!(udp.verify_checksum(SRC, DST));
            }
            Tunnel::Nvgre(h) => {
                prop_assert!(nvgre);
                prop_assert_eq!(h.vsid().get(), segment);
                prop_assert_eq!(h.flow_id(), FlowKey::from_frame(&inner).hash().flow_id());
            }
            Tunnel::Geneve(_) => prop_assert!(false, "Geneve from a VXLAN or NVGRE encapsulator"),
        }

        let out = Decapsulator::default().decapsulate(&mut buf[frame.clone()]).unwrap();
        prop_assert_eq!(out.segment(), segment);
        prop_assert_eq!(out.outer_src, SRC);
        prop_assert_eq!(&buf[frame.start..][out.inner], &inner[..]);
    }

    #[test]
    fn translation_both_ways_keeps_segment_and_inner_frame(
        segment in 0x1000u32..Vni::MAX, // VSIDs RFC 7637 does not reserve
        ports in any::<(u16, u16)>(),
        payload in 0usize..200,
        udp_checksum in any::<bool>(),
    ) {
        let inner = inner_frame(Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(10, 2, 2, 2), ports, 0, payload);
        let (mut buf, range) = with_headroom(&inner);
        let vxlan = Encapsulator::new(config(false, segment)).unwrap().encapsulate(&mut buf, range).unwrap();
        let translator = Translator::new(TranslateConfig { udp_checksum, ..TranslateConfig::default() }).unwrap();
        let nvgre = translator.translate(&mut buf, vxlan.clone(), TunnelKind::Nvgre).unwrap();
        prop_assert_eq!(nvgre.len(), vxlan.len() - 8);
        let decoded = Decoder::new().decode(&buf[nvgre.clone()]).unwrap();
        prop_assert!(decoded.outer.ipv4.unwrap().verify_checksum());
        prop_assert_eq!(decoded.outer.ipv4.unwrap().src_addr(), SRC);
        let Some(Tunnel::Nvgre(h)) = decoded.tunnel else { panic!("not NVGRE") };
        prop_assert_eq!(h.vsid().get(), segment);
        prop_assert_eq!(h.flow_id(), FlowKey::from_frame(&inner).hash().flow_id());
        prop_assert_eq!(&buf[nvgre.end - inner.len()..nvgre.end], &inner[..]);

        let back = translator.translate(&mut buf, nvgre, TunnelKind::Vxlan).unwrap();
        prop_assert_eq!(back.clone(), vxlan.clone());
        let decoded = Decoder::new().decode(&buf[back.clone()]).unwrap();
        let udp = decoded.outer.udp().unwrap();
        prop_assert!(udp.verify_checksum(SRC, DST));
        prop_assert_eq!(udp.checksum() != 0, udp_checksum);
        let out = Decapsulator::default().decapsulate(&mut buf[back.clone()]).unwrap();
        prop_assert_eq!((out.kind(), out.segment()), (TunnelKind::Vxlan, segment));
        prop_assert_eq!(&buf[back.start..][out.inner], &inner[..]);
    }
}

proptest! {
    #[test]
    fn over_ipv6_decap_of_encap_gives_back_the_inner_frame_and_the_payload_is_its_tail(
        nvgre in any::<bool>(),
        segment in 0x1000u32..Vni::MAX, // VSIDs RFC 7637 does not reserve
        vlan in proptest::option::of(1u16..4095),
        inner_ipv6 in any::<bool>(),
        tos in any::<u8>(),
        inner_label in 0u32..0x10_0000,
        fixed_label in proptest::option::of(0u32..0x10_0000),
        zero_checksum in any::<bool>(),
        ttl in 1u8..,
        ports in any::<(u16, u16)>(),
        payload in 0usize..1400,
    ) {
        let inner = if inner_ipv6 {
            inner_frame6(ports, tos, inner_label, payload)
        } else {
            inner_frame(Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(10, 2, 2, 2), ports, tos, payload)
        };
        let mut config = config6(nvgre, segment);
        config.outer_vlan = vlan.map(|vid| OuterVlan { vid: VlanId::usable(vid).unwrap(), pcp: 5 });
        config.dscp = Dscp::CopyInner;
        config.ttl = ttl;
        config.flow_label = fixed_label.map_or(FlowLabel::Hash, FlowLabel::Fixed);
        config.udp6_zero_checksum_tx = zero_checksum;
        let mut encap = Encapsulator::new(config).unwrap();
        let (mut buf, range) = with_headroom(&inner);
        let frame = encap.encapsulate(&mut buf, range.clone()).unwrap();
        // 20 bytes more than over IPv4: the IPv6 header is 40 bytes, IPv4's 20.
        let overhead = match (nvgre, vlan.is_some()) { (false, false) => 70, (false, true) => 74, (true, false) => 62, (true, true) => 66 };
        prop_assert_eq!(frame.len(), overhead + inner.len());

        // The outer IPv6 header says what the settings say.
        let decoded = Decoder::new().decode(&buf[frame.clone()]).unwrap();
        prop_assert_eq!(decoded.outer.vlans[0].map(|t| t.vid().get()), vlan);
        prop_assert!(decoded.outer.ipv4.is_none());
        let ip = decoded.outer.ipv6.unwrap();
        prop_assert_eq!((ip.src_addr(), ip.dst_addr(), ip.hop_limit()), (SRC6, DST6, ttl));
        prop_assert_eq!(ip.traffic_class(), tos, "DSCP copied, ECN copied (RFC 6040)");
        prop_assert_eq!(ip.next_header(), if nvgre { IpProtocol::GRE } else { IpProtocol::UDP });
        prop_assert_eq!(decoded.outer.l3_offset() + 40 + usize::from(ip.payload_len()), frame.len());
        let hash = FlowKey::from_frame(&inner).hash();
        match fixed_label {
            Some(label) => prop_assert_eq!(ip.flow_label(), label),
            // RFC 6438: 20 bits of the flow hash, never 0 ("no label", RFC 6437).
            None => {
                prop_assert_ne!(ip.flow_label(), 0);
                prop_assert!(ip.flow_label() == hash.0 as u32 & 0xf_ffff || hash.0 & 0xf_ffff == 0);
            }
        }
        match decoded.tunnel.unwrap() {
            Tunnel::Vxlan(h) => {
                prop_assert_eq!(h.vni().get(), segment);
                let udp = decoded.outer.udp().unwrap();
                prop_assert_eq!(udp.src_port(), hash.source_port(PortRange::DYNAMIC));
                // RFC 8200 section 8.1: computed, unless zero is configured (RFC 6935).
                prop_assert_eq!(udp.checksum() == 0, zero_checksum);
                prop_assert!(zero_checksum || udp.verify_checksum_ipv6(SRC6, DST6));
            }
            Tunnel::Nvgre(h) => {
                prop_assert_eq!(h.vsid().get(), segment);
                prop_assert_eq!(h.flow_id(), hash.flow_id());
            }
            Tunnel::Geneve(_) => prop_assert!(false, "Geneve from a VXLAN or NVGRE encapsulator"),
        }

        // A receiver takes a zero UDP checksum over IPv6 only by setting (RFC 6936).
        let decap = Decapsulator::new(DecapConfig { udp6_zero_checksum_rx: zero_checksum, ..DecapConfig::default() });
        if zero_checksum && !nvgre {
            let refused = Decapsulator::default().inspect(&buf[frame.clone()]).unwrap_err();
            prop_assert_eq!(refused.kind, ErrorKind::ZeroChecksum);
        }
        let mut whole = buf[frame.clone()].to_vec();
        let out = decap.decapsulate(&mut whole).unwrap();
        prop_assert_eq!((out.segment(), out.outer_src, out.outer_dst), (segment, IpAddr::from(SRC6), IpAddr::from(DST6)));
        prop_assert_eq!(&whole[out.inner.clone()], &inner[..]);

        // The socket payload is the frame's tail from the tunnel header, and what the
        // socket needs to send it is what the outer headers say.
        let (mut payload_buf, range) = with_headroom(&inner);
        let sent = encap.encapsulate_payload(&mut payload_buf, range).unwrap();
        let tail = &buf[frame.start + encap.tunnel_offset()..frame.end];
        prop_assert_eq!(&payload_buf[sent.payload.clone()], tail);
        prop_assert_eq!(sent.source_port, decoded.outer.udp().map(|udp| udp.src_port()));
        prop_assert_eq!((sent.traffic_class, sent.flow_label), (ip.traffic_class(), ip.flow_label()));

        // And it decapsulates, with what the socket reports, as the whole frame does.
        let kind = if nvgre { TunnelKind::Nvgre } else { TunnelKind::Vxlan };
        let outer = SocketOuter { src: SRC6.into(), dst: DST6.into(), ecn: Ecn::from_bits(sent.traffic_class) };
        let got = decap.decapsulate_payload(&mut payload_buf[sent.payload.clone()], kind, outer).unwrap();
        prop_assert_eq!((got.encapsulation, got.outer_src, got.ecn_alarm), (out.encapsulation, out.outer_src, out.ecn_alarm));
        prop_assert_eq!(&payload_buf[sent.payload][got.inner], &inner[..]);
    }

    #[test]
    fn over_ipv6_translation_both_ways_gives_the_other_kinds_own_encapsulation(
        nvgre_first in any::<bool>(),
        segment in 0x1000u32..Vni::MAX, // VSIDs RFC 7637 does not reserve
        vlan in proptest::option::of(1u16..4095),
        inner_ipv6 in any::<bool>(),
        tos in any::<u8>(),
        ports in any::<(u16, u16)>(),
        payload in 0usize..1400,
    ) {
        let inner = if inner_ipv6 {
            inner_frame6(ports, tos, 0x12345, payload)
        } else {
            inner_frame(Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(10, 2, 2, 2), ports, tos, payload)
        };
        let encapsulated = |nvgre: bool| {
            let mut config = config6(nvgre, segment);
            config.outer_vlan = vlan.map(|vid| OuterVlan { vid: VlanId::usable(vid).unwrap(), pcp: 1 });
            config.dscp = Dscp::CopyInner;
            let (mut buf, range) = with_headroom(&inner);
            let frame = Encapsulator::new(config).unwrap().encapsulate(&mut buf, range).unwrap();
            (buf, frame)
        };
        let (first_kind, second_kind) = if nvgre_first {
            (TunnelKind::Nvgre, TunnelKind::Vxlan)
        } else {
            (TunnelKind::Vxlan, TunnelKind::Nvgre)
        };
        let (mut buf, first) = encapsulated(nvgre_first);
        let original = buf[first.clone()].to_vec();
        let translator = Translator::new(TranslateConfig { mtu: 9000, ..TranslateConfig::default() }).unwrap();

        // Translated, the frame is byte for byte what encapsulating as the other kind
        // writes: the family, addresses, hop limit, traffic class and flow label kept, the
        // payload length and next header rewritten, the UDP checksum computed.
        let second = translator.translate(&mut buf, first.clone(), second_kind).unwrap();
        let (direct_buf, direct) = encapsulated(!nvgre_first);
        prop_assert_eq!(&buf[second.clone()], &direct_buf[direct]);
        let out = Decapsulator::default().inspect(&buf[second.clone()]).unwrap();
        prop_assert_eq!((out.kind(), out.segment(), out.outer_src), (second_kind, segment, IpAddr::from(SRC6)));
        prop_assert_eq!(&buf[second.start..][out.inner], &inner[..]);

        // And back: the frame it was.
        let back = translator.translate(&mut buf, second, first_kind).unwrap();
        prop_assert_eq!(back.clone(), first);
        prop_assert_eq!(&buf[back.clone()], &original[..]);
        let out = Decapsulator::default().decapsulate(&mut buf[back.clone()]).unwrap();
        prop_assert_eq!((out.kind(), out.segment()), (first_kind, segment));
        prop_assert_eq!(&buf[back.start..][out.inner], &inner[..]);
    }
}

proptest! {
    /// Any bytes at all can ride a tunnel: the inner frame comes back byte for byte,
    /// whatever it holds (with inner tags kept, as a pcap tool would). Bytes that start
    /// with a VLAN tag are left out: encapsulation strips inner tags (RFC 7637 section
    /// 3.2, RFC 7348 section 6.1), as tests of the tag policy show.
    #[test]
    fn decap_of_encap_gives_back_arbitrary_inner_bytes(
        inner in proptest::collection::vec(any::<u8>(), 14..1500),
        nvgre in any::<bool>(),
    ) {
        prop_assume!(!tunnelwire::wire::EtherType::from(u16::from_be_bytes([inner[12], inner[13]])).is_vlan_tpid());
        let (mut buf, range) = with_headroom(&inner);
        let config = TunnelConfig { mtu: 9000, ..config(nvgre, 0x9999) };
        let frame = Encapsulator::new(config).unwrap().encapsulate(&mut buf, range).unwrap();
        let keep = Decapsulator::new(DecapConfig { inner_vlan: InnerVlanPolicy::Keep, ..DecapConfig::default() });
        let out = keep.decapsulate(&mut buf[frame.clone()]).unwrap();
        prop_assert_eq!(&buf[frame.start..][out.inner], &inner[..]);
    }
}

proptest! {
    /// No input makes the engine panic: tunnel frames with random bytes flipped and cut,
    /// handed to decapsulation and to translation in both directions at any offset.
    #[test]
    fn mutated_tunnel_frames_never_panic_the_engine(
        nvgre in any::<bool>(),
        vlan in any::<bool>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        offset in 0usize..16,
    ) {
        let inner = inner_frame(SRC, DST, (7, 8), 0b01, 40);
        let mut config = config(nvgre, 0x5555);
        config.udp_checksum = true;
        config.outer_vlan = vlan.then(|| OuterVlan { vid: VlanId::usable(9).unwrap(), pcp: 0 });
        let (mut buf, range) = with_headroom(&inner);
        let frame = Encapsulator::new(config).unwrap().encapsulate(&mut buf, range).unwrap();
        let mut bytes = buf[frame].to_vec();
        for (at, bits) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= bits;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let _ = Decapsulator::default().decapsulate(&mut bytes.clone());
        let mut spaced = vec![0u8; offset];
        spaced.extend_from_slice(&bytes);
        for to in [TunnelKind::Vxlan, TunnelKind::Nvgre] {
            let mut work = spaced.clone();
            let len = work.len();
            if let Ok(out) = Translator::default().translate(&mut work, offset..len, to) {
                prop_assert!(out.end <= len);
            }
        }
    }
}

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
fn one_flow_one_port_and_distinct_l3_l4_flows_spread_with_one_mac_pair() {
    let mut encap = Encapsulator::new(config(false, 7)).unwrap();
    let mut port_of = |inner: &[u8]| {
        let (mut buf, range) = with_headroom(inner);
        let frame = encap.encapsulate(&mut buf, range).unwrap();
        Decoder::new()
            .decode(&buf[frame])
            .unwrap()
            .outer
            .udp()
            .unwrap()
            .src_port()
    };
    let flow = inner_frame(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        (1000, 80),
        0,
        20,
    );
    let first = port_of(&flow);
    for _ in 0..10 {
        assert_eq!(port_of(&flow), first);
    }
    // 1000 flows sharing one MAC pair: the entropy comes from L3/L4.
    let mut ports = std::collections::HashSet::new();
    for i in 0..1000u16 {
        let inner = inner_frame(
            Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8),
            Ipv4Addr::new(10, 9, 9, 9),
            (i, 443),
            0,
            20,
        );
        ports.insert(port_of(&inner));
    }
    // 1000 draws from 16384 ports: about 970 distinct expected.
    eprintln!(
        "1000 flows, one MAC pair: {} distinct source ports",
        ports.len()
    );
    assert!(ports.len() > 950, "{} distinct ports", ports.len());
}

/// Pearson's chi-square statistic of `counts` against a uniform spread.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

#[test]
fn flow_hash_spreads_evenly_over_ports_and_flow_ids() {
    // 100k random flows (xorshift, fixed seed): MACs, addresses and ports all vary.
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let range = PortRange::LINUX;
    let buckets = 256usize;
    let mut port_buckets = vec![0u64; buckets];
    let mut flow_ids = vec![0u64; 256];
    for _ in 0..100_000 {
        let (a, b) = (next(), next());
        let key = FlowKey::new(
            MacAddr((a >> 16).to_be_bytes()[2..].try_into().unwrap()),
            MacAddr((b >> 16).to_be_bytes()[2..].try_into().unwrap()),
            0x0800,
            0,
            Some((
                Ipv4Addr::from((a >> 32) as u32),
                Ipv4Addr::from(b as u32),
                17,
            )),
            Some(((a >> 8) as u16, (b >> 40) as u16)),
        );
        let hash = key.hash();
        let port = hash.source_port(range);
        assert!((range.lo()..=range.hi()).contains(&port));
        port_buckets[usize::from(port - range.lo()) * buckets
            / (usize::from(range.hi() - range.lo()) + 1)] += 1;
        flow_ids[usize::from(hash.flow_id())] += 1;
    }
    // 255 degrees of freedom: the 99.9th percentile of chi-square is about 330.
    let (ports_chi, ids_chi) = (chi_square(&port_buckets), chi_square(&flow_ids));
    eprintln!("chi-square over 256 buckets: ports {ports_chi:.1}, FlowIDs {ids_chi:.1}");
    assert!(ports_chi < 330.0, "ports chi-square {ports_chi}");
    assert!(ids_chi < 330.0, "FlowID chi-square {ids_chi}");
}

#[test]
fn fragments_of_one_datagram_hash_alike_and_symmetric_option_pairs_directions() {
    let whole = inner_frame(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        (5000, 53),
        0,
        100,
    );
    let mut first = whole.clone();
    first[14 + 6] = 0x20; // MF: first fragment, still carrying the UDP header
    let mut later = whole[..14 + 20 + 16].to_vec();
    later[14 + 6..14 + 8].copy_from_slice(&0x0003u16.to_be_bytes()); // offset 24 bytes, last
    later[14 + 2..14 + 4].copy_from_slice(&36u16.to_be_bytes());
    assert_eq!(
        FlowKey::from_frame(&first).hash(),
        FlowKey::from_frame(&later).hash()
    );
    assert_ne!(
        FlowKey::from_frame(&first).hash(),
        FlowKey::from_frame(&whole).hash()
    );

    let forward = FlowKey::from_frame(&whole);
    let (a, b) = (
        MacAddr([0x02, 0, 0, 0, 0, 0xaa]),
        MacAddr([0x02, 0, 0, 0, 0, 0xbb]),
    );
    let (x, y) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(
        forward,
        FlowKey::new(b, a, 0x0800, 0, Some((x, y, 17)), Some((5000, 53)))
    );
    let reverse = FlowKey::new(a, b, 0x0800, 0, Some((y, x, 17)), Some((53, 5000)));
    assert_ne!(forward.hash(), reverse.hash());
    assert_eq!(forward.symmetric().hash(), reverse.symmetric().hash());
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

#[cfg(feature = "bytes")]
#[test]
fn bytes_buffers_encapsulate_and_decapsulate_without_copies() {
    let inner = inner_frame(SRC, DST, (1, 2), 0, 64);
    let mut frame = bytes::BytesMut::with_capacity(HEADROOM + inner.len());
    frame.extend_from_slice(&[0u8; HEADROOM]);
    frame.extend_from_slice(&inner);
    let before = frame.as_ptr();
    Encapsulator::new(config(false, 9))
        .unwrap()
        .encapsulate_bytes(&mut frame, HEADROOM)
        .unwrap();
    assert_eq!(frame.len(), 50 + inner.len());
    assert_eq!(
        frame.as_ptr(),
        before.wrapping_add(HEADROOM - 50),
        "same memory, headroom split off"
    );
    let outer_start = frame.as_ptr();
    let (out, inner_bytes) = Decapsulator::default().decapsulate_bytes(frame).unwrap();
    assert_eq!(out.segment(), 9);
    assert_eq!(&inner_bytes[..], &inner[..]);
    assert_eq!(
        inner_bytes.as_ptr(),
        outer_start.wrapping_add(50),
        "a sub-slice, not a copy"
    );
}

#[test]
fn the_flow_key_of_a_decoded_stack_is_the_key_of_its_frame() {
    // QinQ-tagged Ethernet/IPv4/UDP: the key takes the first tag's VID and the EtherType
    // after the last tag, whether it is read from the frame or from its decoded stack.
    let plain = inner_frame(SRC, DST, (5000, 53), 0, 4);
    let mut tagged = plain[..12].to_vec();
    tagged.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8]);
    tagged.extend_from_slice(&plain[12..]);
    let (stack, error) = tunnelwire::packet::Stack::decode(&tagged);
    assert_eq!(error, None);
    let expected = FlowKey::new(
        MacAddr(plain[..6].try_into().unwrap()),
        MacAddr(plain[6..12].try_into().unwrap()),
        0x0800,
        100,
        Some((SRC, DST, 17)),
        Some((5000, 53)),
    );
    assert_eq!(FlowKey::from_stack(&stack), expected);
    assert_eq!(FlowKey::from_frame(&tagged), expected);
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

#[test]
fn flow_hash_v2_gives_its_documented_values() {
    // Known answers, computed from the definition in `tunnel::flow`'s docs by an
    // independent implementation (Python integers), not by this crate: the hash is
    // stable, so peers and captures can rely on these values.
    let (dst, src) = (
        MacAddr([2, 0, 0, 0, 0, 0xbb]),
        MacAddr([2, 0, 0, 0, 0, 0xaa]),
    );
    let v4 = FlowKey::new(
        dst,
        src,
        0x0800,
        100,
        Some((SRC, DST, 17)),
        Some((5000, 53)),
    );
    let hash = v4.hash();
    assert_eq!(hash.0, 0x86b9_c1a9_b11b_886b);
    assert_eq!(hash.source_port(PortRange::DYNAMIC), 57774);
    assert_eq!(hash.flow_id(), 177);

    let (a, b) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let v6 = FlowKey::new_ipv6(dst, src, 0, (a, b, 6, 0xbeef), Some((443, 40000)));
    let hash = v6.hash();
    assert_eq!(hash.0, 0x5002_e75e_e071_79ee);
    assert_eq!(hash.source_port(PortRange::LINUX), 41591);
    assert_eq!(hash.flow_id(), 224);
}

#[test]
fn the_symmetric_hash_leaves_out_the_flow_label() {
    // RFC 6437: each direction labels its flow on its own, so the label cannot count.
    let (dst, src) = (
        MacAddr([2, 0, 0, 0, 0, 0xbb]),
        MacAddr([2, 0, 0, 0, 0, 0xaa]),
    );
    let (a, b) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let labelled = FlowKey::new_ipv6(dst, src, 0, (a, b, 6, 0xbeef), Some((443, 40000)));
    let unlabelled = FlowKey::new_ipv6(dst, src, 0, (a, b, 6, 0), Some((443, 40000)));
    assert_ne!(labelled.hash(), unlabelled.hash());
    assert_eq!(labelled.symmetric(), unlabelled.symmetric());
    let reply = FlowKey::new_ipv6(src, dst, 0, (b, a, 6, 0x1234), Some((40000, 443)));
    assert_eq!(reply.symmetric(), labelled.symmetric());
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
        .inspect_payload(&buf[sent.payload.clone()], TunnelKind::Vxlan, outer)
        .expect("an IPv4 VTEP behind a dual-stack socket refused");
    assert_eq!(found.segment(), 42);
    assert_eq!(found.outer_src, IpAddr::from(SRC));
    // A mapped address no VTEP can have is refused as that IPv4 address would be.
    let martian = SocketOuter {
        src: Ipv4Addr::new(0, 1, 2, 3).to_ipv6_mapped().into(),
        ..outer
    };
    let refused = Decapsulator::default()
        .inspect_payload(&buf[sent.payload.clone()], TunnelKind::Vxlan, martian)
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
        .inspect_payload(&buf[sent.payload], TunnelKind::Vxlan, mixed)
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::MixedFamilies);
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
