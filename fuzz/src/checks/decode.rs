//! The `decode` target: whole-frame decode, full, partial and into a frame, under two
//! decoders, every view where the layers before it end.

use tunnelwire::packet::{Decoder, Frame, ReservedPolicy, Stack, Transport, Tunnel, VxlanPorts};
use tunnelwire::wire::{
    EtherType, IpProtocol, ethernet, geneve, ipv4, ipv6, nvgre, udp, vlan, vxlan,
};

use super::{check_error, within};

/// Whole-frame decode, full and partial, under the default decoder and a strict one with
/// two VXLAN ports: the two agree; every view and offset lies inside the input where the
/// layers before it say; the inner stack is what `Stack::decode` makes of the tunnel's
/// payload; an error lies inside the input.
pub fn decode(data: &[u8]) {
    let strict = Decoder {
        vxlan_ports: VxlanPorts::from_slice(&[vxlan::PORT, 8472]).expect("two ports"),
        vxlan_reserved: ReservedPolicy::Reject,
        geneve_ports: VxlanPorts::from_slice(&[geneve::PORT, 4789]).expect("two ports"),
    };
    for decoder in [Decoder::new(), strict] {
        check_decode(&decoder, data);
        check_decode_ip(&decoder, data);
    }
}

/// A frame that starts without Ethernet (`decode_ip`, `decode_partial_ip`), as IPv4,
/// IPv6, ARP and behind each VLAN TPID: what `decode_partial` makes of the same bytes
/// behind an Ethernet header of that EtherType, but the Ethernet header (the EtherType
/// the stack records in its place), every offset 14 bytes less.
fn check_decode_ip(decoder: &Decoder, data: &[u8]) {
    for ethertype in [
        EtherType::IPV4,
        EtherType::IPV6,
        EtherType::ARP,
        EtherType::VLAN,
        EtherType::QINQ,
    ] {
        let (frame, error) = decoder.decode_partial_ip(data, ethertype);
        assert_eq!(decoder.decode_ip(data, ethertype).err(), error);
        let mut framed = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        framed.extend_from_slice(&ethertype.0.to_be_bytes());
        framed.extend_from_slice(data);
        let (whole, whole_error) = decoder.decode_partial(&framed);
        let shifted = |e: tunnelwire::Error| (e.layer, e.kind, e.offset + ethernet::HEADER_LEN);
        assert_eq!(
            error.map(shifted),
            whole_error.map(|e| (e.layer, e.kind, e.offset))
        );
        assert!(frame.outer.ethernet.is_none() && whole.outer.ethernet.is_some());
        assert_eq!(frame.outer.offset, 0);
        assert_eq!(frame.outer.first_ethertype, Some(ethertype));
        // The outer stacks but their Ethernet header and what stands for it.
        let mut outer = frame.outer;
        outer.ethernet = whole.outer.ethernet;
        outer.first_ethertype = None;
        assert_eq!(outer, whole.outer);
        assert_eq!(frame.tunnel, whole.tunnel);
        if frame.tunnel.is_some() {
            assert_eq!(
                frame.tunnel_offset + ethernet::HEADER_LEN,
                whole.tunnel_offset
            );
        }
        // An inner stack the walk started (not one a Geneve payload of a protocol type
        // not decoded leaves at 0), 14 bytes further into the Ethernet frame.
        let mut inner = frame.inner;
        if inner.offset != 0 {
            inner.offset += ethernet::HEADER_LEN;
        }
        assert_eq!(inner, whole.inner);
        if let Some(error) = &error {
            check_error(error, data.len());
        }
    }
}

fn check_decode(decoder: &Decoder, data: &[u8]) {
    let (frame, error) = decoder.decode_partial(data);
    match decoder.decode(data) {
        Ok(full) => {
            assert_eq!(error, None, "decode succeeded, decode_partial failed");
            assert_eq!(full, frame);
        }
        Err(e) => assert_eq!(Some(e), error, "decode and decode_partial disagree"),
    }
    // decode_into resets whatever the frame held.
    let mut into = decoder
        .decode_partial(b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00")
        .0;
    assert_eq!(decoder.decode_into(data, &mut into).err(), error);
    assert_eq!(into, frame);
    // A frame as the caller's own recorder: the same walk, the same layers and error.
    let mut recorded = Frame::default();
    assert_eq!(decoder.decode_with(data, &mut recorded).err(), error);
    assert_eq!(recorded, frame, "decode_with and decode_partial disagree");
    if let Some(error) = &error {
        check_error(error, data.len());
    }

    check_stack(data, &frame.outer, data.len());
    let Some(tunnel) = frame.tunnel else {
        assert_eq!(frame.tunnel_offset, 0);
        assert_eq!(
            frame.inner,
            Stack::default(),
            "an inner stack without a tunnel"
        );
        return;
    };
    let (header, header_len, carrier) = match tunnel {
        Tunnel::Vxlan(h) => {
            let udp = frame.outer.udp().expect("VXLAN without UDP");
            assert!(decoder.vxlan_ports.contains(udp.dst_port()));
            (h.into_inner(), vxlan::HEADER_LEN, udp.payload())
        }
        Tunnel::Nvgre(h) => {
            let ip_payload = match (frame.outer.ipv4, frame.outer.ipv6) {
                (Some(ip), None) => {
                    assert_eq!(ip.protocol(), IpProtocol::GRE);
                    ip.payload()
                }
                (None, Some(ip)) => {
                    assert_eq!(ip.next_header(), IpProtocol::GRE);
                    ip.payload()
                }
                _ => panic!("NVGRE without exactly one IP header"),
            };
            (h.into_inner(), nvgre::HEADER_LEN, ip_payload)
        }
        Tunnel::Geneve(h) => {
            let udp = frame.outer.udp().expect("Geneve without UDP");
            assert!(decoder.geneve_ports.contains(udp.dst_port()));
            assert!(
                !decoder.vxlan_ports.contains(udp.dst_port()),
                "VXLAN's port first"
            );
            assert_eq!(h.version(), 0);
            let options: usize = h.options().map(|o| o.as_bytes().len()).sum();
            assert_eq!(options, h.options_len(), "the options fill their area");
            // A payload of another protocol type is not decoded.
            if ![
                EtherType::TRANSPARENT_ETHERNET_BRIDGING,
                EtherType::IPV4,
                EtherType::IPV6,
            ]
            .contains(&h.protocol())
            {
                assert_eq!(frame.inner, Stack::default());
                assert_eq!(error, None);
                return;
            }
            (h.into_inner(), h.header_len(), udp.payload())
        }
    };
    // The tunnel header fills its carrier's payload; the inner stack follows it.
    let header_at = within(data, header);
    assert_eq!(
        header_at,
        within(data, carrier),
        "tunnel header is not the payload"
    );
    assert_eq!(header_at.start, frame.tunnel_offset);
    assert_eq!(frame.inner.offset, frame.tunnel_offset + header_len);
    assert_eq!(
        within(data, tunnel.payload()),
        frame.inner.offset..header_at.end
    );
    check_stack(data, &frame.inner, header_at.end);
    if let Tunnel::Geneve(h) = tunnel
        && h.protocol() != EtherType::TRANSPARENT_ETHERNET_BRIDGING
    {
        // An IP payload: the inner stack starts at IP, without Ethernet.
        assert!(frame.inner.ethernet.is_none());
        assert_eq!(frame.inner.l3_offset(), frame.inner.offset);
        return;
    }

    // The inner stack is the payload decoded alone, moved to its offset; so is its error
    // (the only error possible once the tunnel header decoded).
    let (alone, alone_error) = Stack::decode(tunnel.payload());
    assert_eq!(
        Stack {
            offset: frame.inner.offset,
            ..alone
        },
        frame.inner
    );
    assert_eq!(alone_error.map(|e| e.at(frame.inner.offset)), error);
    let _ = (
        tunnel.kind(),
        tunnel.encapsulation().segment(),
        tunnel.segment(),
    );
}

/// Each layer of `stack` lies in `data` where the layers before it end, and the stack's
/// frame (its Ethernet header's view, and its tags') runs to `end`.
fn check_stack(data: &[u8], stack: &Stack<'_>, end: usize) {
    // Where the tags or IP start, behind which EtherType: after the Ethernet header, or
    // for a stack without one (a Geneve IP payload, a capture's record after its link
    // header) at its start, behind the EtherType what carried it gave.
    let (mut at, first) = match stack.ethernet {
        Some(eth) => {
            assert_eq!(stack.first_ethertype, None);
            assert_eq!(within(data, eth.into_inner()), stack.offset..end);
            (stack.offset + ethernet::HEADER_LEN, Some(eth.ethertype()))
        }
        None => (stack.offset, stack.first_ethertype),
    };
    let Some(mut tpid) = first else {
        // A walk that never started (a frame too short for Ethernet, a Geneve payload of
        // a protocol type not decoded): nothing recorded.
        let empty = Stack {
            offset: stack.offset,
            ..Stack::default()
        };
        assert_eq!(*stack, empty);
        return;
    };
    let mut seen_none = false;
    for slot in &stack.vlans {
        match slot {
            Some(tag) => {
                assert!(!seen_none, "a VLAN tag after an empty slot");
                assert!(tpid.is_vlan_tpid(), "a tag behind {tpid:?}");
                assert_eq!(within(data, tag.into_inner()), at..end);
                tpid = tag.ethertype();
                at += vlan::HEADER_LEN;
            }
            None => seen_none = true,
        }
    }
    assert_eq!(stack.l3_offset(), at);
    assert_eq!(stack.ethertype(), Some(tpid));
    assert_eq!(
        stack.vlan_tags().count(),
        stack.vlans.iter().flatten().count()
    );
    let ip_payload = match (stack.ipv4, stack.ipv6) {
        (Some(ip), None) => {
            assert_eq!(tpid, EtherType::IPV4);
            let range = within(data, ip.into_inner());
            assert_eq!(range, at..at + usize::from(ip.total_len()));
            assert!((20..=60).contains(&ip.header_len()) && range.end <= end);
            assert_eq!(ip.options().len(), ip.header_len() - ipv4::HEADER_LEN);
            assert_eq!(stack.traffic_class(), Some(ip.dscp() << 2 | ip.ecn()));
            if ip.is_fragment() {
                assert!(stack.transport.is_none(), "ports read from a fragment");
            }
            let payload = within(data, ip.payload());
            assert_eq!(payload, at + ip.header_len()..range.end);
            Some((payload, ip.protocol()))
        }
        (None, Some(ip)) => {
            assert_eq!(tpid, EtherType::IPV6);
            let range = within(data, ip.into_inner());
            assert_eq!(range, at..at + ip.total_len());
            assert_eq!(
                ip.total_len(),
                ipv6::HEADER_LEN + usize::from(ip.payload_len())
            );
            assert!(range.end <= end);
            assert_eq!(stack.traffic_class(), Some(ip.traffic_class()));
            let payload = within(data, ip.payload());
            assert_eq!(payload, at + ipv6::HEADER_LEN..range.end);
            Some((payload, ip.next_header()))
        }
        (None, None) => None,
        (Some(_), Some(_)) => panic!("both IPv4 and IPv6 in one stack"),
    };
    match stack.transport {
        None => {}
        Some(Transport::Udp(udp)) => {
            let (payload, protocol) = ip_payload.expect("UDP without IP");
            assert_eq!(protocol, IpProtocol::UDP);
            let range = within(data, udp.into_inner());
            assert_eq!(range, payload.start..payload.start + usize::from(udp.len()));
            assert!(range.end <= payload.end);
            assert_eq!(
                within(data, udp.payload()),
                range.start + udp::HEADER_LEN..range.end
            );
            assert_eq!(stack.ports(), Some((udp.src_port(), udp.dst_port())));
        }
        Some(Transport::Tcp { src_port, dst_port }) => {
            let (payload, protocol) = ip_payload.expect("TCP without IP");
            assert_eq!(protocol, IpProtocol::TCP);
            assert!(payload.len() >= 4);
            let ports = &data[payload.start..payload.start + 4];
            assert_eq!(src_port, u16::from_be_bytes([ports[0], ports[1]]));
            assert_eq!(dst_port, u16::from_be_bytes([ports[2], ports[3]]));
        }
    }
}
