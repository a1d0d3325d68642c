//! Geneve in the tunnel engine (RFC 8926): encapsulation with the template's options and
//! per-packet ones over IPv4 and IPv6, IP payloads, what decapsulation refuses (the O
//! bit, critical options not understood) and hands over (the options), socket payloads,
//! and translation among VXLAN, NVGRE and Geneve in all six directions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use tunnelwire::packet::{Decoder, Tunnel};
use tunnelwire::tunnel::ecn::Ecn;
use tunnelwire::tunnel::{
    DecapConfig, Decapsulator, Dscp, Encapsulator, MAX_HEADROOM, OuterVlan, SocketOuter,
    TranslateConfig, Translator, TunnelConfig, TunnelKind, UnderstoodOptions,
};
use tunnelwire::wire::{
    EtherType, EthernetRepr, GeneveOptionIter, GeneveOptions, IpProtocol, Ipv4Packet, Ipv4Repr,
    Ipv6Repr, MacAddr, UdpRepr, VlanId, Vni, Vsid,
};
use tunnelwire::{ErrorKind, Layer};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// An IPv4/UDP packet with `tos`, `payload` bytes of data.
fn ipv4_packet(ports: (u16, u16), tos: u8, payload: usize) -> Vec<u8> {
    let mut packet = vec![0u8; 20 + 8 + payload];
    let mut ip = Ipv4Repr::new(
        Ipv4Addr::new(10, 1, 1, 1),
        Ipv4Addr::new(10, 2, 2, 2),
        IpProtocol::UDP,
        8 + payload as u16,
    );
    ip.dscp = tos >> 2;
    ip.ecn = tos & 3;
    ip.emit(&mut packet).unwrap();
    Ipv4Packet::new_unchecked(&mut packet[..]).fill_checksum();
    UdpRepr::new(ports.0, ports.1, payload as u16)
        .emit(&mut packet[20..])
        .unwrap();
    for (i, b) in packet[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    packet
}

/// An IPv6/UDP packet.
fn ipv6_packet(ports: (u16, u16), traffic_class: u8, payload: usize) -> Vec<u8> {
    let mut packet = vec![0u8; 40 + 8 + payload];
    let (a, b) = ("fd00:1::1".parse().unwrap(), "fd00:2::2".parse().unwrap());
    let mut ip = Ipv6Repr::new(a, b, IpProtocol::UDP, 8 + payload as u16);
    ip.dscp = traffic_class >> 2;
    ip.ecn = traffic_class & 3;
    ip.flow_label = 0x54321;
    ip.emit(&mut packet).unwrap();
    UdpRepr::new(ports.0, ports.1, payload as u16)
        .emit(&mut packet[40..])
        .unwrap();
    packet
}

/// An Ethernet frame around an IPv4 or IPv6 packet.
fn ethernet(packet: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; 14];
    EthernetRepr {
        dst_addr: MacAddr([0x02, 0, 0, 0, 0, 0xbb]),
        src_addr: MacAddr([0x02, 0, 0, 0, 0, 0xaa]),
        ethertype: if packet[0] >> 4 == 6 {
            EtherType::IPV6
        } else {
            EtherType::IPV4
        },
    }
    .emit(&mut frame)
    .unwrap();
    frame.extend_from_slice(packet);
    frame
}

/// `bytes` placed behind `MAX_HEADROOM` bytes.
fn with_headroom(bytes: &[u8]) -> (Vec<u8>, std::ops::Range<usize>) {
    let mut buf = vec![0u8; MAX_HEADROOM + bytes.len()];
    buf[MAX_HEADROOM..].copy_from_slice(bytes);
    (buf, MAX_HEADROOM..MAX_HEADROOM + bytes.len())
}

/// Options drawn as (class, type, words of data).
fn options(drawn: &[(u16, u8, u8)]) -> GeneveOptions {
    let mut options = GeneveOptions::new();
    for &(class, option_type, words) in drawn {
        let data: Vec<u8> = (0..usize::from(words % 8) * 4).map(|i| i as u8).collect();
        // Options past 252 bytes are left out: the builder refuses them.
        let _ = options.push(class, option_type, &data);
    }
    options
}

/// OVN's logical port option: class 0x0102, type 0x80 (critical).
fn ovn() -> GeneveOptions {
    options(&[(0x0102, 0x80, 1)])
}

/// A tunnel of `kind` over IPv4 or IPv6, with outer MACs and a jumbo MTU.
fn config(kind: TunnelKind, v6: bool, segment: u32) -> TunnelConfig {
    let (src, dst): (IpAddr, IpAddr) = if v6 {
        (SRC6.into(), DST6.into())
    } else {
        (SRC.into(), DST.into())
    };
    let mut config = match kind {
        TunnelKind::Vxlan => TunnelConfig::vxlan(Vni::new(segment).unwrap(), src, dst),
        TunnelKind::Nvgre => TunnelConfig::nvgre(Vsid::new(segment).unwrap(), src, dst),
        TunnelKind::Geneve => TunnelConfig::geneve(Vni::new(segment).unwrap(), src, dst),
    };
    config.src_mac = MacAddr([0x02, 0x10, 0, 0, 0, 1]);
    config.dst_mac = MacAddr([0x02, 0x10, 0, 0, 0, 2]);
    config.mtu = 9000;
    config
}

fn kind(index: u8) -> TunnelKind {
    [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve][usize::from(index % 3)]
}

proptest! {
    #[test]
    fn decap_of_geneve_encap_gives_back_the_frame_and_its_options(
        v6 in any::<bool>(),
        segment in 0u32..=Vni::MAX,
        vlan in proptest::option::of(1u16..4095),
        template in proptest::collection::vec((any::<u16>(), 0u8..0x80, any::<u8>()), 0..4),
        per_packet in proptest::collection::vec((any::<u16>(), any::<u8>(), any::<u8>()), 0..4),
        udp_checksum in any::<bool>(),
        tos in any::<u8>(),
        ports in any::<(u16, u16)>(),
        payload in 0usize..1400,
    ) {
        let inner = ethernet(&ipv4_packet(ports, tos, payload));
        let mut config = config(TunnelKind::Geneve, v6, segment);
        config.outer_vlan = vlan.map(|vid| OuterVlan { vid: VlanId::usable(vid).unwrap(), pcp: 3 });
        config.geneve_options = options(&template);
        config.udp_checksum = udp_checksum;
        config.dscp = Dscp::CopyInner;
        let per_packet = options(&per_packet);
        // Within the 252 bytes the header can announce, or refused.
        let total = config.geneve_options.len() + per_packet.len();
        let mut encap = Encapsulator::new(config).unwrap();
        let (mut buf, range) = with_headroom(&inner);
        let sent = encap.encapsulate_with_options(&mut buf, range, per_packet.as_bytes());
        if total > 252 {
            prop_assert_eq!(sent.unwrap_err().kind.name(), "out_of_range");
            return Ok(());
        }
        let frame = sent.unwrap();
        let base = if v6 { 70 } else { 50 } + if vlan.is_some() { 4 } else { 0 };
        prop_assert_eq!(encap.overhead(), base + config.geneve_options.len());
        prop_assert_eq!(frame.len(), base + total + inner.len());

        let decoded = Decoder::new().decode(&buf[frame.clone()]).unwrap();
        let udp = decoded.outer.udp().unwrap();
        prop_assert_eq!(udp.dst_port(), 6081);
        prop_assert!((49152..=65535).contains(&udp.src_port()));
        match (decoded.outer.ipv4, decoded.outer.ipv6) {
            (Some(ip), None) => {
                prop_assert!(ip.verify_checksum() && ip.dont_frag());
                prop_assert_eq!(udp.checksum() != 0, udp_checksum);
                prop_assert!(udp.verify_checksum(SRC, DST));
            }
            (None, Some(ip)) => {
                prop_assert!(ip.flow_label() != 0);
                prop_assert!(udp.checksum() != 0 && udp.verify_checksum_ipv6(SRC6, DST6));
            }
            _ => prop_assert!(false, "one outer IP header"),
        }
        let Some(Tunnel::Geneve(header)) = decoded.tunnel else { panic!("not Geneve") };
        prop_assert_eq!(header.vni().get(), segment);
        prop_assert_eq!(header.protocol(), EtherType::TRANSPARENT_ETHERNET_BRIDGING);
        let all = [config.geneve_options.as_bytes(), per_packet.as_bytes()].concat();
        prop_assert_eq!(header.options_bytes(), &all[..]);
        prop_assert_eq!(header.critical(), GeneveOptionIter::new(&all).any(|o| o.is_critical()));

        // Understanding every critical option sent, the receiver takes the frame.
        let critical: Vec<(u16, u8)> = GeneveOptionIter::new(&all)
            .filter(|o| o.is_critical())
            .map(|o| (o.class(), o.option_type()))
            .take(8)
            .collect();
        let decap = Decapsulator::new(DecapConfig {
            geneve_understood: UnderstoodOptions::from_slice(&critical).unwrap(),
            ..DecapConfig::default()
        });
        let out = decap.decapsulate(&mut buf[frame.clone()]);
        if GeneveOptionIter::new(&all).filter(|o| o.is_critical()).count() > 8 {
            prop_assert_eq!(out.unwrap_err().kind.name(), "critical_option");
            return Ok(());
        }
        let out = out.unwrap();
        prop_assert_eq!((out.kind(), out.segment()), (TunnelKind::Geneve, segment));
        prop_assert_eq!(out.protocol, EtherType::TRANSPARENT_ETHERNET_BRIDGING);
        prop_assert_eq!(&buf[frame.start..][out.options.clone()], &all[..]);
        prop_assert_eq!(&buf[frame.start..][out.inner], &inner[..]);
    }

    /// Translation among the three kinds, in each of the six directions and back, over
    /// either family: the translated frame is byte for byte what encapsulating as the
    /// other kind writes (the translator's Geneve options being the encapsulator's), and
    /// translating back gives the frame it was.
    #[test]
    fn translation_among_all_three_gives_each_kinds_own_encapsulation_and_back(
        from in 0u8..3,
        to in 0u8..3,
        v6 in any::<bool>(),
        segment in 0x1000u32..Vni::MAX, // VSIDs RFC 7637 does not reserve
        vlan in proptest::option::of(1u16..4095),
        geneve_options in proptest::collection::vec((any::<u16>(), 0u8..0x80, any::<u8>()), 0..3),
        inner_ipv6 in any::<bool>(),
        tos in any::<u8>(),
        ports in any::<(u16, u16)>(),
        payload in 0usize..1200,
    ) {
        let (from, to) = (kind(from), kind(to));
        let packet = if inner_ipv6 { ipv6_packet(ports, tos, payload) } else { ipv4_packet(ports, tos, payload) };
        let inner = ethernet(&packet);
        let geneve_options = options(&geneve_options);
        let encapsulated = |kind: TunnelKind| {
            let mut config = config(kind, v6, segment);
            config.outer_vlan = vlan.map(|vid| OuterVlan { vid: VlanId::usable(vid).unwrap(), pcp: 1 });
            config.dscp = Dscp::CopyInner;
            config.geneve_options = geneve_options;
            let (mut buf, range) = with_headroom(&inner);
            let frame = Encapsulator::new(config).unwrap().encapsulate(&mut buf, range).unwrap();
            (buf, frame)
        };
        let (mut buf, first) = encapsulated(from);
        let original = buf[first.clone()].to_vec();
        let translator = Translator::new(TranslateConfig { mtu: 9000, geneve_options, ..TranslateConfig::default() }).unwrap();

        let second = translator.translate(&mut buf, first.clone(), to).unwrap();
        let (direct_buf, direct) = encapsulated(to);
        prop_assert_eq!(&buf[second.clone()], &direct_buf[direct]);
        let out = Decapsulator::default().inspect(&buf[second.clone()]).unwrap();
        prop_assert_eq!((out.kind(), out.segment()), (to, segment));
        prop_assert_eq!(&buf[second.start..][out.inner], &inner[..]);

        let back = translator.translate(&mut buf, second, from).unwrap();
        prop_assert_eq!(back.clone(), first);
        prop_assert_eq!(&buf[back], &original[..]);
    }

    /// An IP packet rides Geneve as protocol type 0x0800 or 0x86DD and comes back as the
    /// IP packet it was, ECN combined per RFC 6040; toward VXLAN or NVGRE, which carry
    /// Ethernet, it is refused; toward Geneve it keeps its protocol type.
    #[test]
    fn ip_payloads_ride_geneve_and_come_back(
        v6 in any::<bool>(),
        inner_ipv6 in any::<bool>(),
        segment in 0x1000u32..Vni::MAX,
        tos in any::<u8>(),
        ports in any::<(u16, u16)>(),
        payload in 0usize..1200,
        gwlb in any::<bool>(),
    ) {
        let packet = if inner_ipv6 { ipv6_packet(ports, tos, payload) } else { ipv4_packet(ports, tos, payload) };
        // AWS Gateway Load Balancer's options, per packet.
        let per_packet = if gwlb { options(&[(0x0108, 1, 2), (0x0108, 2, 2), (0x0108, 3, 1)]) } else { GeneveOptions::new() };
        let mut config = config(TunnelKind::Geneve, v6, segment);
        config.dscp = Dscp::CopyInner;
        let mut encap = Encapsulator::new(config).unwrap();
        let (mut buf, range) = with_headroom(&packet);
        let frame = encap.encapsulate_ip(&mut buf, range, per_packet.as_bytes()).unwrap();
        let decoded = Decoder::new().decode(&buf[frame.clone()]).unwrap();
        let Some(Tunnel::Geneve(header)) = decoded.tunnel else { panic!("not Geneve") };
        let protocol = if inner_ipv6 { EtherType::IPV6 } else { EtherType::IPV4 };
        prop_assert_eq!(header.protocol(), protocol);
        prop_assert!(decoded.inner.ethernet.is_none());
        prop_assert_eq!(decoded.inner.traffic_class(), Some(tos));
        let outer_tos = decoded.outer.traffic_class().unwrap();
        prop_assert_eq!(outer_tos, tos, "DSCP copied, ECN copied (RFC 6040 normal mode)");

        let out = Decapsulator::default().inspect(&buf[frame.clone()]).unwrap();
        prop_assert_eq!(out.protocol, protocol);
        prop_assert_eq!(&buf[frame.start..][out.inner], &packet[..]);
        prop_assert_eq!(&buf[frame.start..][out.options], per_packet.as_bytes());

        let translator = Translator::new(TranslateConfig { mtu: 9000, ..TranslateConfig::default() }).unwrap();
        for to in [TunnelKind::Vxlan, TunnelKind::Nvgre] {
            let refused = translator.translate(&mut buf.clone(), frame.clone(), to).unwrap_err();
            prop_assert_eq!(refused.kind.name(), "unsupported_frame");
        }
        let again = translator.translate(&mut buf, frame, TunnelKind::Geneve).unwrap();
        let out = Decapsulator::default().decapsulate(&mut buf[again.clone()]).unwrap();
        prop_assert_eq!(out.protocol, protocol);
        prop_assert!(out.options.is_empty(), "options dropped");
        prop_assert_eq!(&buf[again.start..][out.inner], &packet[..]);
    }
}

/// A Geneve frame of `options`, the O bit as given, over IPv4.
fn geneve_frame(options: GeneveOptions, oam: bool) -> (Vec<u8>, std::ops::Range<usize>) {
    let mut config = config(TunnelKind::Geneve, false, 5000);
    config.geneve_options = options;
    let inner = ethernet(&ipv4_packet((1, 2), 0, 10));
    let (mut buf, range) = with_headroom(&inner);
    let mut encap = Encapsulator::new(config).unwrap();
    let frame = encap.encapsulate(&mut buf, range).unwrap();
    if oam {
        // The O bit, and the UDP checksum (zero over IPv4 by default) left as it is.
        buf[frame.start + encap.tunnel_offset() + 1] |= 0x80;
    }
    (buf, frame)
}

#[test]
fn a_critical_option_not_understood_refuses_the_frame_everywhere() {
    let (buf, frame) = geneve_frame(ovn(), false);
    let refusal = Decapsulator::default()
        .inspect(&buf[frame.clone()])
        .unwrap_err();
    assert_eq!(
        (refusal.layer, refusal.kind),
        (
            Layer::Geneve,
            ErrorKind::CriticalOption {
                class: 0x0102,
                option_type: 0x80
            }
        )
    );
    assert_eq!(refusal.kind.name(), "critical_option");
    assert_eq!(refusal.offset, 14 + 20 + 8, "at the Geneve header");
    for to in [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve] {
        let mut copy = buf.clone();
        let refused = Translator::default()
            .translate(&mut copy, frame.clone(), to)
            .unwrap_err();
        assert_eq!(refused.kind.name(), "critical_option");
        assert_eq!(copy, buf, "a refused frame is left as it was");
    }
    // Declared understood, it is taken, and handed over.
    let understood = UnderstoodOptions::from_slice(&[(0x0102, 0x80)]).unwrap();
    let decap = Decapsulator::new(DecapConfig {
        geneve_understood: understood,
        ..DecapConfig::default()
    });
    let out = decap.inspect(&buf[frame.clone()]).unwrap();
    let option = GeneveOptionIter::new(&buf[frame.start..][out.options])
        .next()
        .unwrap();
    assert_eq!((option.class(), option.data()), (0x0102, &[0, 1, 2, 3][..]));
    // Non-critical options never refuse; translation drops them.
    let (mut buf, frame) = geneve_frame(options(&[(0x0108, 1, 2), (0xffff, 0x7f, 0)]), false);
    assert!(Decapsulator::default().inspect(&buf[frame.clone()]).is_ok());
    let vxlan = Translator::default()
        .translate(&mut buf, frame, TunnelKind::Vxlan)
        .unwrap();
    let out = Decapsulator::default().inspect(&buf[vxlan]).unwrap();
    assert!(out.options.is_empty());
}

#[test]
fn the_o_bit_is_never_a_tenant_frame() {
    let (buf, frame) = geneve_frame(GeneveOptions::new(), true);
    let refusal = Decapsulator::default()
        .inspect(&buf[frame.clone()])
        .unwrap_err();
    assert_eq!(refusal.layer, Layer::Geneve);
    assert_eq!(refusal.kind.name(), "not_tenant_frame");
    let mut copy = buf.clone();
    let refused = Translator::default().translate(&mut copy, frame, TunnelKind::Vxlan);
    assert_eq!(refused.unwrap_err().kind.name(), "not_tenant_frame");
}

#[test]
fn geneve_socket_payloads_carry_the_template_options() {
    let mut config = config(TunnelKind::Geneve, true, 77);
    config.geneve_options = options(&[(0x0108, 3, 1)]);
    let mut encap = Encapsulator::new(config).unwrap();
    let inner = ethernet(&ipv4_packet((5, 6), 2, 30));
    let (mut buf, range) = with_headroom(&inner);
    let sent = encap.encapsulate_payload(&mut buf, range).unwrap();
    assert_eq!(sent.payload.len(), 8 + 8 + inner.len());
    assert!(sent.source_port.is_some() && sent.flow_label != 0);
    let outer = SocketOuter {
        src: SRC6.into(),
        dst: DST6.into(),
        ecn: Ecn::NotEct,
    };
    let payload = &mut buf[sent.payload];
    let out = Decapsulator::default()
        .decapsulate_payload(payload, TunnelKind::Geneve, &outer)
        .unwrap();
    assert_eq!((out.kind(), out.segment()), (TunnelKind::Geneve, 77));
    assert_eq!((out.options.clone(), out.inner.start), (8..16, 16));
    assert_eq!(&payload[out.inner], &inner[..]);
}

#[test]
fn geneve_settings_and_per_packet_options_are_checked() {
    let mut config = config(TunnelKind::Geneve, false, 42);
    config.geneve_port = 0;
    assert_eq!(
        Encapsulator::new(config).unwrap_err().kind,
        ErrorKind::OutOfRange {
            field: "Geneve port",
            value: 0
        }
    );
    // Per-packet options or an IP payload are Geneve's only.
    let mut vxlan = Encapsulator::new(self::config(TunnelKind::Vxlan, false, 42)).unwrap();
    let (mut buf, range) = with_headroom(&ethernet(&ipv4_packet((1, 2), 0, 0)));
    let refused = vxlan.encapsulate_with_options(&mut buf, range.clone(), &[]);
    assert_eq!(refused.unwrap_err().kind.name(), "unsupported");
    // 252 bytes of options in all.
    let mut config = self::config(TunnelKind::Geneve, false, 42);
    config.geneve_options = options(&[(1, 1, 7), (2, 2, 7), (3, 3, 7), (4, 4, 7), (5, 5, 7)]);
    assert_eq!(config.geneve_options.len(), 160);
    let mut geneve = Encapsulator::new(config).unwrap();
    let more = options(&[(6, 6, 7), (7, 7, 7), (8, 8, 7)]);
    let refused = geneve.encapsulate_with_options(&mut buf, range.clone(), more.as_bytes());
    assert_eq!(refused.unwrap_err().kind.name(), "out_of_range");
    let fits = options(&[(6, 6, 7), (7, 7, 7)]);
    let frame = geneve
        .encapsulate_with_options(&mut buf, range.clone(), fits.as_bytes())
        .unwrap();
    assert_eq!(frame.len(), 50 + 224 + range.len());
    // Too little headroom for the options: an error, nothing moved.
    let inner = ethernet(&ipv4_packet((1, 2), 0, 0));
    let mut short = vec![0u8; 100 + inner.len()];
    short[100..].copy_from_slice(&inner);
    let before = short.clone();
    let refused = geneve.encapsulate(&mut short, 100..100 + inner.len());
    assert_eq!(refused.unwrap_err().kind.name(), "headroom");
    assert_eq!(short, before);
    // A packet that is not IP is refused as an IP payload.
    let (mut buf, range) = with_headroom(&[0x10; 20]);
    let refused = geneve.encapsulate_ip(&mut buf, range, &[]);
    assert_eq!(refused.unwrap_err().kind.name(), "version");
}

#[test]
fn translation_to_geneve_needs_room_for_its_options_and_says_so() {
    // An NVGRE frame at the very start of its buffer: 8 bytes short for Geneve without
    // options, and 8 + 252 with the largest options area.
    let inner = ethernet(&ipv4_packet((1, 2), 0, 10));
    let (mut buf, range) = with_headroom(&inner);
    let nvgre = Encapsulator::new(config(TunnelKind::Nvgre, false, 5000))
        .unwrap()
        .encapsulate(&mut buf, range)
        .unwrap();
    let mut bare = buf[nvgre.clone()].to_vec();
    let mut all = GeneveOptions::new();
    all.push(1, 1, &[0xaa; 124]).unwrap();
    all.push(2, 2, &[0xbb; 120]).unwrap();
    assert_eq!(all.len(), 252);
    for (geneve_options, needed) in [(GeneveOptions::new(), 8), (all, 8 + 252)] {
        let translator = Translator::new(TranslateConfig {
            geneve_options,
            ..TranslateConfig::default()
        })
        .unwrap();
        let before = bare.clone();
        let whole = 0..bare.len();
        let refused = translator
            .translate(&mut bare, whole, TunnelKind::Geneve)
            .unwrap_err();
        assert_eq!(
            refused.kind,
            ErrorKind::Headroom {
                needed,
                available: 0
            }
        );
        assert_eq!(bare, before, "nothing moved");
        // With the room, it translates.
        let geneve = translator
            .translate(&mut buf.clone(), nvgre.clone(), TunnelKind::Geneve)
            .unwrap();
        assert_eq!(geneve.len(), nvgre.len() + needed);
    }
}

#[test]
fn geneve_frames_over_the_mtu_are_refused_counting_their_options() {
    let mut config = config(TunnelKind::Geneve, false, 42);
    config.mtu = 1500;
    config.geneve_options = ovn();
    let mut encap = Encapsulator::new(config).unwrap();
    // 1500 = 20 + 8 + 8 + 8 (options) + 1456 bytes of inner frame.
    for (len, fits) in [(1456, true), (1457, false)] {
        let inner = ethernet(&ipv4_packet((1, 2), 0, len - 14 - 28));
        let (mut buf, range) = with_headroom(&inner);
        let result = encap.encapsulate(&mut buf, range);
        assert_eq!(result.is_ok(), fits, "{len}");
    }
}
