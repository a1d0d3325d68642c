//! The tunnel engine: encapsulation round trips over IPv4 and IPv6 underlays, whole
//! frames and socket payloads, what encapsulation writes, MTU and headroom errors, ECN,
//! translation, and the flow hash's spread. Here the frames and configs every test builds
//! on; the tests by subject in the files beside it.

use std::net::{Ipv4Addr, Ipv6Addr};

use tunnelwire::tunnel::{HEADROOM, TunnelConfig};
use tunnelwire::wire::{
    EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Repr, MacAddr, UdpRepr, Vni,
    Vsid,
};

mod decapsulation;
mod encapsulation;
mod flow_hash;
mod round_trips;

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
