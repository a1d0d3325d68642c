//! Round trips, mostly proptests: encapsulation over IPv4 and IPv6 underlays (whole frames
//! and socket payloads), translation both ways, arbitrary inner bytes, `bytes` buffers
//! without copies; and mutated tunnel frames that must never panic the engine.

use std::net::IpAddr;

use proptest::prelude::*;
use tunnelwire::ErrorKind;
use tunnelwire::packet::{Decoder, Tunnel};
use tunnelwire::tunnel::ecn::Ecn;
use tunnelwire::tunnel::flow::FlowKey;
use tunnelwire::tunnel::{
    DecapConfig, Decapsulator, Dscp, Encapsulator, FlowLabel, InnerVlanPolicy, OuterVlan,
    PortRange, SocketOuter, TranslateConfig, Translator, TunnelKind,
};
use tunnelwire::wire::VlanId;

use super::*;

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
        let got = decap.decapsulate_payload(&mut payload_buf[sent.payload.clone()], kind, &outer).unwrap();
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
