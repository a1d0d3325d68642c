//! The decoder's tests: byte-built frames through every path of the walk.

use super::*;
use crate::error::{ErrorKind, Layer};
use crate::wire::ipv4::IpProtocol;
use crate::wire::vxlan::VxlanRepr;
use crate::wire::{Ipv4Repr, Ipv6Repr, NvgreRepr, UdpRepr, Vni, Vsid};
use core::net::Ipv4Addr;
use std::vec::Vec;

/// Ethernet with the given EtherType chain (TPIDs then the last type), 4-byte tags.
fn ethernet(types: &[u16]) -> Vec<u8> {
    let mut out = std::vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    out.extend_from_slice(&types[0].to_be_bytes());
    for (i, next) in types[1..].iter().enumerate() {
        out.extend_from_slice(&(100 + i as u16).to_be_bytes());
        out.extend_from_slice(&next.to_be_bytes());
    }
    out
}

fn ipv4_udp(dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = std::vec![0u8; 28];
    let len = 8 + payload.len() as u16;
    Ipv4Repr::new(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        IpProtocol::UDP,
        len,
    )
    .emit(&mut out)
    .unwrap();
    UdpRepr::new(49152, dst_port, payload.len() as u16)
        .emit(&mut out[20..])
        .unwrap();
    out.extend_from_slice(payload);
    out
}

fn vxlan_frame(dst_port: u16, vxlan_flags: u8) -> Vec<u8> {
    let mut tunnel = [0u8; 8];
    let mut repr = VxlanRepr::new(Vni::new(42).unwrap());
    repr.flags = vxlan_flags;
    repr.emit(&mut tunnel).unwrap();
    let inner = [ethernet(&[0x0800]), ipv4_udp(53, b"q")].concat();
    [
        ethernet(&[0x0800]),
        ipv4_udp(dst_port, &[&tunnel[..], &inner].concat()),
    ]
    .concat()
}

#[test]
fn tunnels_print_their_kind_and_segment() {
    use std::string::ToString;
    let vxlan = Encapsulation::Vxlan(Vni::new(42).unwrap());
    let nvgre = Encapsulation::Nvgre(Vsid::new(4242).unwrap());
    assert_eq!(vxlan.to_string(), "VXLAN VNI 42");
    assert_eq!(nvgre.to_string(), "NVGRE VSID 4242");
    assert_eq!(nvgre.kind().to_string(), "NVGRE");
}

#[test]
fn vxlan_frame_decodes_both_stacks_with_offsets() {
    let bytes = vxlan_frame(4789, 0x08);
    let frame = Decoder::new().decode(&bytes).unwrap();
    assert_eq!(frame.tunnel_offset, 42);
    assert_eq!(frame.inner.offset, 50);
    assert_eq!(frame.tunnel.unwrap().segment(), 42);
    assert_eq!(frame.inner.ports(), Some((49152, 53)));
    assert_eq!(frame.inner.ethertype(), Some(EtherType::IPV4));
}

#[test]
fn other_ports_are_plain_udp_unless_configured() {
    let bytes = vxlan_frame(8472, 0x08);
    let frame = Decoder::new().decode(&bytes).unwrap();
    assert!(frame.tunnel.is_none() && frame.inner.ethernet.is_none());
    let decoder = Decoder {
        vxlan_ports: VxlanPorts::from_slice(&[4789, 8472]).unwrap(),
        ..Decoder::default()
    };
    assert!(decoder.decode(&bytes).unwrap().tunnel.is_some());
    assert!(VxlanPorts::from_slice(&[]).is_err());
    assert!(VxlanPorts::from_slice(&[1, 2, 3, 4, 5]).is_err());
}

#[test]
fn vxlan_ports_contain_exactly_their_ports() {
    // Every lane, and every port next to one (the lane test must not borrow across).
    let sets: [&[u16]; 4] = [
        &[4789],
        &[4789, 8472],
        &[1, 0, 65535],
        &[9, 0x100, 0x8000, 7],
    ];
    for ports in sets {
        let set = VxlanPorts::from_slice(ports).unwrap();
        for port in 0..=u16::MAX {
            assert_eq!(
                set.contains(port),
                ports.contains(&port),
                "{ports:?} {port}"
            );
            // The same port as the wire holds it, read in the machine's order.
            let wire = u16::from_ne_bytes(port.to_be_bytes());
            assert_eq!(
                set.contains_wire(wire),
                ports.contains(&port),
                "{ports:?} {port}"
            );
        }
    }
}

#[test]
fn tunnel_ports_print_as_given() {
    // Kept in wire order, printed as numbers.
    let set = VxlanPorts::from_slice(&[4789, 8472]).unwrap();
    assert_eq!(
        std::format!("{set:?}"),
        "TunnelPorts { ports: [4789, 8472, 4789, 4789], more: true }"
    );
}

#[test]
fn reserved_vxlan_bits_follow_the_policy() {
    let bytes = vxlan_frame(4789, 0x0c);
    assert!(Decoder::new().decode(&bytes).unwrap().inner.udp().is_some());
    let strict = Decoder {
        vxlan_reserved: ReservedPolicy::Reject,
        ..Decoder::default()
    };
    let (frame, error) = strict.decode_partial(&bytes);
    let error = error.unwrap();
    assert_eq!((error.layer, error.offset), (Layer::Vxlan, 42));
    assert!(frame.outer.udp().is_some() && frame.tunnel.is_none());
}

#[test]
fn errors_are_rebased_to_the_frame_and_keep_earlier_layers() {
    let mut bytes = vxlan_frame(4789, 0x08);
    bytes[50 + 14] = 0x44; // inner IHL 4
    let (frame, error) = Decoder::new().decode_partial(&bytes);
    let error = error.unwrap();
    assert_eq!((error.layer, error.offset), (Layer::Ipv4, 64));
    assert_eq!(error.kind, ErrorKind::HeaderLength(4));
    assert!(frame.tunnel.is_some() && frame.inner.ethernet.is_some() && frame.inner.ipv4.is_none());
    assert_eq!(Decoder::new().decode(&bytes), Err(error));
}

#[test]
fn legacy_qinq_tags_decode_and_a_third_tag_stops_quietly() {
    // 0x9100 is a tag; a third tag and ARP end the decode without an error.
    let three_tags = [
        ethernet(&[0x88a8, 0x8100, 0x8100, 0x0800]),
        ipv4_udp(9, b""),
    ]
    .concat();
    let frame = Decoder::new().decode(&three_tags).unwrap();
    assert_eq!(frame.outer.vlan_tags().count(), 2);
    assert!(frame.outer.ipv4.is_none());
    let arp = ethernet(&[0x0806]);
    let frame = Decoder::new().decode(&arp).unwrap();
    assert!(frame.outer.ethernet.is_some() && frame.outer.ipv4.is_none());
}

fn ipv6(next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = std::vec![0u8; 40];
    let mut repr = Ipv6Repr::new(
        "fd00::1".parse().unwrap(),
        "fd00::2".parse().unwrap(),
        IpProtocol(next_header),
        payload.len() as u16,
    );
    repr.flow_label = 0xbeef;
    repr.ecn = 2;
    repr.emit(&mut out).unwrap();
    out.extend_from_slice(payload);
    out
}

fn udp(dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = std::vec![0u8; 8];
    UdpRepr::new(49152, dst_port, payload.len() as u16)
        .emit(&mut out)
        .unwrap();
    out.extend_from_slice(payload);
    out
}

#[test]
fn vxlan_over_ipv6_with_inner_ipv6_decodes_both_stacks() {
    let mut tunnel = [0u8; 8];
    VxlanRepr::new(Vni::new(7).unwrap())
        .emit(&mut tunnel)
        .unwrap();
    let inner = [ethernet(&[0x86dd]), ipv6(17, &udp(53, b"q"))].concat();
    let outer_payload = udp(4789, &[&tunnel[..], &inner].concat());
    let mut bytes = [ethernet(&[0x86dd]), ipv6(17, &outer_payload)].concat();
    bytes.extend_from_slice(&[0; 6]); // Ethernet padding: not payload
    let frame = Decoder::new().decode(&bytes).unwrap();
    assert_eq!(frame.tunnel.unwrap().segment(), 7);
    assert_eq!(frame.tunnel_offset, 14 + 40 + 8);
    let inner_ip = frame.inner.ipv6.unwrap();
    assert_eq!((inner_ip.flow_label(), inner_ip.ecn()), (0xbeef, 2));
    assert_eq!(frame.inner.ports(), Some((49152, 53)));
    assert_eq!(frame.inner.traffic_class(), Some(2));
    assert_eq!(frame.inner.l3_offset(), frame.inner.offset + 14);
}

#[test]
fn nvgre_over_ipv6_decodes() {
    let mut tunnel = [0u8; 8];
    NvgreRepr::new(Vsid::new(0x1234).unwrap(), 9)
        .emit(&mut tunnel)
        .unwrap();
    let inner = [ethernet(&[0x0800]), ipv4_udp(53, b"")].concat();
    let bytes = [
        ethernet(&[0x86dd]),
        ipv6(47, &[&tunnel[..], &inner].concat()),
    ]
    .concat();
    let frame = Decoder::new().decode(&bytes).unwrap();
    assert_eq!(frame.tunnel.unwrap().segment(), 0x1234);
    assert_eq!(frame.inner.ports(), Some((49152, 53)));
}

#[test]
fn ipv6_extension_headers_stop_quietly_and_bad_headers_name_ipv6() {
    // Hop-by-hop (0) before UDP: the UDP header is not decoded.
    let bytes = [ethernet(&[0x86dd]), ipv6(0, &udp(53, b"x"))].concat();
    let frame = Decoder::new().decode(&bytes).unwrap();
    assert!(frame.outer.ipv6.is_some() && frame.outer.transport.is_none());

    let mut short = bytes.clone();
    short[14 + 5] += 1; // payload length one past the frame
    let (frame, error) = Decoder::new().decode_partial(&short);
    let error = error.unwrap();
    assert_eq!((error.layer, error.offset), (Layer::Ipv6, 14));
    assert!(frame.outer.ethernet.is_some() && frame.outer.ipv6.is_none());

    let mut version = bytes;
    version[14] = 0x40;
    let error = Decoder::new().decode(&version).unwrap_err();
    assert_eq!(
        error.kind,
        ErrorKind::Version {
            found: 4,
            expected: 6
        }
    );
}

#[test]
fn fragments_stop_after_ipv4() {
    let mut bytes = vxlan_frame(4789, 0x08);
    bytes[14 + 6] = 0x20; // MF
    let frame = Decoder::new().decode(&bytes).unwrap();
    assert!(
        frame.outer.ipv4.is_some() && frame.outer.transport.is_none() && frame.tunnel.is_none()
    );
    assert!(frame.outer_fragment());
    assert!(
        !Decoder::new()
            .decode(&vxlan_frame(4789, 0x08))
            .unwrap()
            .outer_fragment()
    );
}

#[test]
fn an_ipv6_fragment_header_is_an_outer_fragment() {
    let fragment = [ethernet(&[0x86dd]), ipv6(44, &[0; 16])].concat();
    let frame = Decoder::new().decode(&fragment).unwrap();
    assert!(frame.outer_fragment() && frame.tunnel.is_none());
    let whole = [ethernet(&[0x86dd]), ipv6(17, &udp(4789, &[0; 8]))].concat();
    let (frame, _) = Decoder::new().decode_partial(&whole);
    assert!(frame.outer.ipv6.is_some() && !frame.outer_fragment());
}

#[test]
fn tcp_ports_are_read_and_short_segments_left_alone() {
    let mut bytes = [ethernet(&[0x0800]), ipv4_udp(80, b"")].concat();
    bytes[14 + 9] = 6; // protocol TCP: the "UDP" header's ports are read as TCP's
    let frame = Decoder::new().decode(&bytes).unwrap();
    assert_eq!(frame.outer.ports(), Some((49152, 80)));
    assert!(frame.outer.udp().is_none());
    let cut = &bytes[..14 + 20 + 3];
    let mut short = cut.to_vec();
    short[14 + 3] = 23; // total length 23: 3 bytes of TCP
    let frame = Decoder::new().decode(&short).unwrap();
    assert_eq!(frame.outer.ports(), None);
}

/// Counts the tunnels it is handed, and refuses a frame without one.
#[derive(Default)]
struct TunnelsOnly {
    outer: Stack<'static>,
    tunnels: usize,
    inner: (),
}

impl RecordFrame<'static> for TunnelsOnly {
    type Outer = Stack<'static>;
    type Inner = ();
    fn outer(&mut self) -> &mut Stack<'static> {
        &mut self.outer
    }
    fn tunnel(&mut self, _at: usize, _tunnel: Tunnel<'static>) -> crate::Result<()> {
        self.tunnels += 1;
        Ok(())
    }
    fn no_tunnel(&mut self) -> crate::Result<()> {
        Err(crate::Error::new(Layer::Udp, ErrorKind::NotTunnel))
    }
    fn inner(&mut self) -> &mut () {
        &mut self.inner
    }
}

#[test]
fn a_recorder_sees_what_decode_sees_and_can_refuse() {
    // A frame as its own recorder: the same layers and error as `decode_partial`, on
    // whole frames and on every cut of one.
    let bytes = vxlan_frame(4789, 0x08);
    for end in 0..=bytes.len() {
        let mut recorded = Frame::default();
        let error = Decoder::new()
            .decode_with(&bytes[..end], &mut recorded)
            .err();
        assert_eq!(
            (recorded, error),
            Decoder::new().decode_partial(&bytes[..end])
        );
    }
    // A recorder's refusal ends the walk with its error; what it kept before stays.
    let bytes: &'static [u8] = std::vec::Vec::leak(vxlan_frame(4790, 0x08));
    let mut only = TunnelsOnly::default();
    let error = Decoder::new().decode_with(bytes, &mut only).unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotTunnel);
    assert!(only.outer.udp().is_some() && only.tunnels == 0);
    let bytes: &'static [u8] = std::vec::Vec::leak(vxlan_frame(4789, 0x08));
    Decoder::new().decode_with(bytes, &mut only).unwrap();
    assert_eq!(only.tunnels, 1);
}

#[test]
fn the_common_frames_shortcut_decodes_as_the_general_walk() {
    // `decode` takes each stack's common frame by its shortcut; the engine's walk goes
    // without. Both agree on every layer and error: on each cut of a VXLAN frame, and
    // with each stack's EtherType, IPv4 first byte and total length changed.
    let base = vxlan_frame(4789, 0x08);
    let inner_at = 14 + 20 + 8 + 8;
    let mut frames = std::vec::Vec::new();
    for end in 0..=base.len() {
        frames.push(base[..end].to_vec());
    }
    for at in [0, inner_at] {
        for field in 12..18 {
            for value in [0x00, 0x08, 0x14, 0x45, 0x46, 0x81, 0xff] {
                let mut bytes = base.clone();
                bytes[at + field] = value;
                frames.push(bytes);
            }
        }
    }
    for bytes in &frames {
        let mut general = Frame::default();
        let error = Decoder::new()
            .walk(bytes, None, &mut general, Depth::InnerTransport)
            .err();
        assert_eq!(Decoder::new().decode_partial(bytes), (general, error));
    }
}
