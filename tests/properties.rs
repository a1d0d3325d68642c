//! Property tests: every `Repr` round-trips through `emit` and `parse`; whole stacked
//! frames built from random `Repr`s decode to exactly those fields; and no input, random
//! or mutated, makes the decoder panic.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use tunnelwire::packet::{Decoder, Stack, Transport, Tunnel};
use tunnelwire::wire::ipv4::Ipv4Options;
use tunnelwire::wire::{
    EtherType, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr, NvgreHeader,
    NvgreRepr, UdpDatagram, UdpRepr, VlanId, VlanRepr, VlanTag, Vni, Vsid, VxlanHeader, VxlanRepr,
};

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn ethernet() -> impl Strategy<Value = EthernetRepr> {
    (mac(), mac(), any::<u16>()).prop_map(|(dst_addr, src_addr, ethertype)| EthernetRepr {
        dst_addr,
        src_addr,
        ethertype: EtherType(ethertype),
    })
}

fn vlan() -> impl Strategy<Value = VlanRepr> {
    (0u8..8, any::<bool>(), 0u16..4096, any::<u16>()).prop_map(|(pcp, dei, vid, ethertype)| {
        VlanRepr {
            pcp,
            dei,
            vid: VlanId::new(vid).unwrap(),
            ethertype: EtherType(ethertype),
        }
    })
}

fn ipv4(payload_len: u16) -> impl Strategy<Value = Ipv4Repr> {
    (
        (
            0u8..64,
            0u8..4,
            any::<u16>(),
            any::<[bool; 3]>(),
            0u16..0x2000,
            any::<u8>(),
        ),
        (
            any::<u8>(),
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
        ),
        (0usize..=10).prop_flat_map(|words| proptest::collection::vec(any::<u8>(), words * 4)),
    )
        .prop_map(
            move |(
                (dscp, ecn, ident, flags, frag_offset, ttl),
                (protocol, checksum, src, dst),
                options,
            )| Ipv4Repr {
                dscp,
                ecn,
                ident,
                reserved_flag: flags[0],
                dont_frag: flags[1],
                more_frags: flags[2],
                frag_offset,
                ttl,
                protocol: IpProtocol(protocol),
                checksum,
                src_addr: Ipv4Addr::from(src),
                dst_addr: Ipv4Addr::from(dst),
                options: Ipv4Options::new(&options).unwrap(),
                payload_len,
            },
        )
}

proptest! {
    #[test]
    fn ethernet_round_trip(repr in ethernet()) {
        let mut bytes = [0u8; 14];
        repr.emit(&mut bytes).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&EthernetFrame::new_checked(&bytes[..]).unwrap()), repr);
    }

    #[test]
    fn vlan_round_trip(repr in vlan()) {
        let mut bytes = [0u8; 4];
        repr.emit(&mut bytes).unwrap();
        prop_assert_eq!(VlanRepr::parse(&VlanTag::new_checked(&bytes[..]).unwrap()), repr);
    }

    #[test]
    fn ipv4_round_trip(repr in ipv4(16)) {
        let mut bytes = vec![0u8; repr.buffer_len() + 16];
        repr.emit(&mut bytes).unwrap();
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(Ipv4Repr::parse(&packet), repr);
    }

    #[test]
    fn udp_round_trip(src in any::<u16>(), dst in any::<u16>(), checksum in any::<u16>(), len in 0u16..64) {
        let repr = UdpRepr { src_port: src, dst_port: dst, checksum, payload_len: len };
        let mut bytes = vec![0u8; 8 + usize::from(len)];
        repr.emit(&mut bytes).unwrap();
        prop_assert_eq!(UdpRepr::parse(&UdpDatagram::new_checked(&bytes[..]).unwrap()), repr);
    }

    #[test]
    fn vxlan_round_trip(flags in any::<u8>(), r1 in 0u32..0x100_0000, vni in 0u32..=Vni::MAX, r2 in any::<u8>()) {
        let repr = VxlanRepr { flags: flags | 0x08, reserved1: r1, vni: Vni::new(vni).unwrap(), reserved2: r2 };
        let mut bytes = [0u8; 8];
        repr.emit(&mut bytes).unwrap();
        prop_assert_eq!(VxlanRepr::parse(&VxlanHeader::new_checked(&bytes[..]).unwrap()), repr);
    }

    #[test]
    fn nvgre_round_trip(reserved in any::<u16>(), vsid in 0u32..=Vsid::MAX, flow_id in any::<u8>()) {
        let repr = NvgreRepr { reserved0: reserved & 0x03f8, vsid: Vsid::new(vsid).unwrap(), flow_id };
        let mut bytes = [0u8; 8];
        repr.emit(&mut bytes).unwrap();
        prop_assert_eq!(NvgreRepr::parse(&NvgreHeader::new_checked(&bytes[..]).unwrap()), repr);
    }
}

/// One stack to build: Ethernet, tags, IPv4, UDP ports, payload.
#[derive(Debug, Clone)]
struct StackSpec {
    eth: EthernetRepr,
    tags: Vec<(EtherType, VlanRepr)>,
    ip: Ipv4Repr,
    ports: (u16, u16),
}

fn stack_spec() -> impl Strategy<Value = StackSpec> {
    (
        ethernet(),
        proptest::collection::vec(
            (
                prop_oneof![Just(EtherType::VLAN), Just(EtherType::QINQ)],
                vlan(),
            ),
            0..=2,
        ),
        ipv4(0),
        any::<(u16, u16)>(),
    )
        .prop_map(|(eth, tags, mut ip, ports)| {
            ip.more_frags = false;
            ip.frag_offset = 0;
            StackSpec {
                eth,
                tags,
                ip,
                ports,
            }
        })
}

/// Emits a stack whose IPv4 carries `protocol` and `payload`; UDP is built here when
/// `protocol` is UDP. Lengths and TPIDs are made consistent; the rest is as specified.
fn emit_stack(spec: &StackSpec, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut eth = spec.eth;
    let mut tags = spec.tags.clone();
    // Each TPID sits in the EtherType before its tag; the last EtherType is IPv4.
    let mut next_types: Vec<EtherType> = tags.iter().map(|(tpid, _)| *tpid).collect();
    next_types.push(EtherType::IPV4);
    eth.ethertype = next_types[0];
    let mut bytes = [0u8; 14];
    eth.emit(&mut bytes).unwrap();
    out.extend_from_slice(&bytes);
    for (i, (_, tag)) in tags.iter_mut().enumerate() {
        tag.ethertype = next_types[i + 1];
        let mut bytes = [0u8; 4];
        tag.emit(&mut bytes).unwrap();
        out.extend_from_slice(&bytes);
    }
    let l4_len = if protocol == IpProtocol::UDP { 8 } else { 0 } + payload.len();
    let mut ip = spec.ip;
    ip.protocol = protocol;
    ip.payload_len = l4_len as u16;
    let ip_at = out.len();
    out.resize(ip_at + ip.buffer_len(), 0);
    ip.emit(&mut out[ip_at..]).unwrap();
    if protocol == IpProtocol::UDP {
        let mut bytes = [0u8; 8];
        UdpRepr::new(spec.ports.0, spec.ports.1, payload.len() as u16)
            .emit(&mut bytes)
            .unwrap();
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(payload);
    out
}

/// Asserts a decoded stack holds exactly the specified fields.
fn check_stack(
    stack: &Stack<'_>,
    spec: &StackSpec,
    udp_ports: Option<(u16, u16)>,
) -> Result<(), TestCaseError> {
    let eth = stack.ethernet.unwrap();
    prop_assert_eq!(
        (eth.dst_addr(), eth.src_addr()),
        (spec.eth.dst_addr, spec.eth.src_addr)
    );
    let tags: Vec<_> = stack.vlan_tags().collect();
    prop_assert_eq!(tags.len(), spec.tags.len());
    for ((tpid, tag), (want_tpid, want)) in tags.iter().zip(&spec.tags) {
        prop_assert_eq!(tpid, want_tpid);
        prop_assert_eq!(
            (tag.pcp(), tag.dei(), tag.vid()),
            (want.pcp, want.dei, want.vid)
        );
    }
    let ip = Ipv4Repr::parse(&stack.ipv4.unwrap());
    prop_assert_eq!(ip.src_addr, spec.ip.src_addr);
    prop_assert_eq!(ip.options, spec.ip.options);
    prop_assert_eq!(
        (ip.ttl, ip.dscp, ip.ecn, ip.checksum),
        (spec.ip.ttl, spec.ip.dscp, spec.ip.ecn, spec.ip.checksum)
    );
    prop_assert_eq!(stack.udp().map(|u| (u.src_port(), u.dst_port())), udp_ports);
    Ok(())
}

proptest! {
    #[test]
    fn stacked_frames_decode_to_their_fields(
        outer in stack_spec(),
        inner in stack_spec(),
        nvgre in any::<bool>(),
        segment in 0u32..=Vni::MAX,
        flow_id in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let inner_frame = emit_stack(&inner, IpProtocol::UDP, &payload);
        let mut tunnel = [0u8; 8];
        let mut outer = outer;
        let frame = if nvgre {
            NvgreRepr::new(Vsid::new(segment).unwrap(), flow_id).emit(&mut tunnel).unwrap();
            emit_stack(&outer, IpProtocol::GRE, &[&tunnel[..], &inner_frame].concat())
        } else {
            outer.ports.1 = 4789;
            VxlanRepr::new(Vni::new(segment).unwrap()).emit(&mut tunnel).unwrap();
            emit_stack(&outer, IpProtocol::UDP, &[&tunnel[..], &inner_frame].concat())
        };
        let decoded = Decoder::new().decode(&frame).unwrap();
        check_stack(&decoded.outer, &outer, (!nvgre).then_some(outer.ports))?;
        match decoded.tunnel.unwrap() {
            Tunnel::Vxlan(h) => prop_assert!(!nvgre && h.vni().get() == segment),
            Tunnel::Nvgre(h) => prop_assert!(nvgre && h.vsid().get() == segment && h.flow_id() == flow_id),
            Tunnel::Geneve(_) => prop_assert!(false, "Geneve from a VXLAN or NVGRE encapsulator"),
        }
        check_stack(&decoded.inner, &inner, Some(inner.ports))?;
        prop_assert_eq!(decoded.inner.offset, frame.len() - inner_frame.len());
        prop_assert_eq!(decoded.inner.udp().unwrap().payload(), &payload[..]);
    }

    #[test]
    fn any_bytes_decode_or_fail_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (_, error) = Decoder::new().decode_partial(&bytes);
        if let Some(error) = error {
            prop_assert!(error.offset <= bytes.len());
        }
    }

    #[test]
    fn mutated_tunnel_frames_never_panic(
        outer in stack_spec(),
        inner in stack_spec(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut outer = outer;
        outer.ports.1 = 4789;
        let mut tunnel = [0u8; 8];
        VxlanRepr::new(Vni::new(7).unwrap()).emit(&mut tunnel).unwrap();
        let inner_frame = emit_stack(&inner, IpProtocol::UDP, b"payload");
        let mut frame = emit_stack(&outer, IpProtocol::UDP, &[&tunnel[..], &inner_frame].concat());
        for (at, bits) in flips {
            let i = at.index(frame.len());
            frame[i] ^= bits;
        }
        frame.truncate(cut.index(frame.len() + 1));
        let (decoded, error) = Decoder::new().decode_partial(&frame);
        // Whatever was decoded stays readable without panics.
        if let Some(Transport::Udp(udp)) = decoded.inner.transport {
            let _ = udp.payload();
        }
        if let Some(error) = error {
            prop_assert!(error.offset <= frame.len());
        }
    }
}
