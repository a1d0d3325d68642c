//! What the outer packet of a tunnel frame must say over an IPv4 or an IPv6 underlay,
//! worked out here from the RFCs rather than through the crate: which sources can be a
//! VTEP, the UDP checksum over either pseudo-header, the outer TOS or traffic class,
//! what a receiver refuses of an outer packet and in which order, and the addresses and
//! receive settings the settings heads draw. Shared by the tunnel checks (`checks/`)
//! and the payload checks (`payload.rs`).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use tunnelwire::checksum;
use tunnelwire::packet::{Stack, Tunnel};
use tunnelwire::tunnel::{Checksums, Decapsulated, Decapsulator, Dscp, EcnMode, SourcePolicy};
use tunnelwire::wire::{
    EtherType, GeneveOption, IpProtocol, Ipv4Packet, Ipv6Packet, UdpDatagram, ipv6, udp,
};
use tunnelwire::{AddressField, Error, ErrorKind, Layer, Result};

/// The outer IP header of a frame, either family.
#[derive(Debug, Clone, Copy)]
pub enum OuterIp<'a> {
    /// An IPv4 underlay.
    V4(Ipv4Packet<&'a [u8]>),
    /// An IPv6 underlay.
    V6(Ipv6Packet<&'a [u8]>),
}

impl<'a> OuterIp<'a> {
    /// The IP header of `stack`, if it has one.
    pub fn of(stack: &Stack<'a>) -> Option<Self> {
        match (stack.ipv4, stack.ipv6) {
            (Some(ip), None) => Some(OuterIp::V4(ip)),
            (None, Some(ip)) => Some(OuterIp::V6(ip)),
            (None, None) => None,
            (Some(_), Some(_)) => panic!("both IPv4 and IPv6 in one stack"),
        }
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        match self {
            OuterIp::V4(ip) => ip.src_addr().into(),
            OuterIp::V6(ip) => ip.src_addr().into(),
        }
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        match self {
            OuterIp::V4(ip) => ip.dst_addr().into(),
            OuterIp::V6(ip) => ip.dst_addr().into(),
        }
    }

    /// DSCP and ECN: the IPv4 TOS byte or the IPv6 traffic class.
    pub fn traffic_class(&self) -> u8 {
        match self {
            OuterIp::V4(ip) => ip.dscp() << 2 | ip.ecn(),
            OuterIp::V6(ip) => ip.traffic_class(),
        }
    }

    /// The header's bytes: IPv4 with its options, or IPv6's fixed 40.
    pub fn header(&self) -> &'a [u8] {
        match *self {
            OuterIp::V4(ip) => &ip.into_inner()[..ip.header_len()],
            OuterIp::V6(ip) => &ip.into_inner()[..ipv6::HEADER_LEN],
        }
    }

    /// Bytes of the IP packet, header and payload, as its length field says.
    pub fn packet_len(&self) -> usize {
        match self {
            OuterIp::V4(ip) => usize::from(ip.total_len()),
            OuterIp::V6(ip) => ipv6::HEADER_LEN + usize::from(ip.payload_len()),
        }
    }

    /// The protocol (IPv4) or next header (IPv6) after it.
    pub fn protocol(&self) -> IpProtocol {
        match self {
            OuterIp::V4(ip) => ip.protocol(),
            OuterIp::V6(ip) => ip.next_header(),
        }
    }

    /// Bytes of the header that a translation rewrites: IPv4's total length, protocol
    /// and checksum; IPv6's payload length and next header. Every other byte is kept.
    pub fn rewritten_bytes(&self) -> &'static [usize] {
        match self {
            OuterIp::V4(_) => &[2, 3, 9, 10, 11],
            OuterIp::V6(_) => &[4, 5, 6],
        }
    }
}

/// The IP protocol that carries a tunnel: UDP for VXLAN, GRE for NVGRE.
pub fn carrier(nvgre: bool) -> IpProtocol {
    if nvgre {
        IpProtocol::GRE
    } else {
        IpProtocol::UDP
    }
}

/// The one's complement sum of the UDP datagram `datagram` (its checksum field as it is)
/// and the pseudo-header of its family (RFC 768; RFC 8200 section 8.1 for IPv6): 0xffff
/// when the checksum is right.
pub fn udp_sum(src: IpAddr, dst: IpAddr, datagram: &[u8]) -> u16 {
    let mut bytes = Vec::with_capacity(40 + datagram.len());
    match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            bytes.extend(src.octets());
            bytes.extend(dst.octets());
            bytes.extend([0, IpProtocol::UDP.0]);
            bytes.extend(
                u16::try_from(datagram.len())
                    .expect("a datagram")
                    .to_be_bytes(),
            );
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            bytes.extend(src.octets());
            bytes.extend(dst.octets());
            bytes.extend(
                u32::try_from(datagram.len())
                    .expect("a datagram")
                    .to_be_bytes(),
            );
            bytes.extend([0, 0, 0, IpProtocol::UDP.0]);
        }
        _ => panic!("a pseudo-header of two families"),
    }
    bytes.extend_from_slice(datagram);
    checksum::sum(&bytes)
}

/// The UDP checksum over either family sums right, whatever `cfg(fuzzing)` says.
pub fn udp_checksum_ok(src: IpAddr, dst: IpAddr, udp: &UdpDatagram<&[u8]>) -> bool {
    udp_sum(src, dst, &udp.into_inner()[..usize::from(udp.len())]) == 0xffff
}

/// The checksum to write into `datagram`, whose checksum field is zero: never zero, which
/// means "no checksum" (RFC 768), so a sum of zero is sent as 0xffff.
pub fn udp_checksum(src: IpAddr, dst: IpAddr, datagram: &[u8]) -> u16 {
    match !udp_sum(src, dst, datagram) {
        0 => 0xffff,
        sum => sum,
    }
}

/// The IPv4 header in `header` sums to 0xffff, whatever `cfg(fuzzing)` says.
pub fn ipv4_checksum_ok(header: &[u8]) -> bool {
    checksum::sum(header) == 0xffff
}

/// True when `address` can be the source of tunnel packets: not "this network" (0/8),
/// multicast or reserved (224/3 with the broadcast address) for IPv4 (RFC 1122 section
/// 3.2.1.3), not unspecified, multicast or IPv4-mapped for IPv6 (RFC 4291 section 2.5),
/// and not loopback unless the policy allows it.
pub fn can_be_vtep(address: IpAddr, sources: SourcePolicy) -> bool {
    let loopback_allowed = sources == SourcePolicy::AllowLoopback;
    match address {
        IpAddr::V4(address) => match address.octets()[0] {
            0 | 224.. => false,
            127 => loopback_allowed,
            _ => true,
        },
        IpAddr::V6(address) => {
            !(address.is_unspecified()
                || address.is_multicast()
                || address.to_ipv4_mapped().is_some()
                || address.is_loopback() && !loopback_allowed)
        }
    }
}

/// True for an address no packet can be sent to: 0/8 for IPv4, :: for IPv6.
pub fn unspecified_destination(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(address) => address.octets()[0] == 0,
        IpAddr::V6(address) => address.is_unspecified(),
    }
}

/// The outer TOS byte or traffic class encapsulation writes for an inner one (`None`: the
/// inner frame is not IP, TOS 0): the fixed DSCP or the inner's, and the inner ECN in
/// normal mode or Not-ECT in compatibility mode (RFC 6040 section 4.1).
pub fn outer_tos(dscp: Dscp, ecn: EcnMode, inner_tos: Option<u8>) -> u8 {
    let dscp = match dscp {
        Dscp::Fixed(dscp) => dscp,
        Dscp::CopyInner => inner_tos.map_or(0, |tos| tos >> 2),
    };
    let ecn = match ecn {
        EcnMode::Normal => inner_tos.map_or(0, |tos| tos & 3),
        EcnMode::Compatibility => 0,
    };
    dscp << 2 | ecn
}

/// True for the IPv6 extension headers (RFC 7045 section 4, the fragment header aside):
/// what a receiver would have to walk past to reach UDP or GRE.
pub fn is_extension_header(next: IpProtocol) -> bool {
    matches!(next.0, 0 | 43 | 50 | 51 | 60 | 135 | 139 | 140 | 253 | 254)
}

// ---------------------------------------------------------------------------------------
// What settings heads draw

/// An address drawn by `arbitrary`: one in eight of a class a VTEP cannot have (or may
/// have only by setting), so every address rule is reached; otherwise the bytes as
/// drawn.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct DrawnAddress {
    class: u8,
    bytes: [u8; 16],
}

impl DrawnAddress {
    /// The address, of the family asked for.
    pub fn address(&self, v6: bool) -> IpAddr {
        let [first, rest @ ..] = self.bytes;
        let [a, b, c, ..] = rest;
        if !v6 {
            let first = match self.class % 32 {
                0 => 0,                  // "this network"
                1 => 127,                // loopback
                2 => 224 | (first % 16), // multicast
                3 => 240 | (first % 16), // reserved, the limited broadcast address with them
                _ => first,
            };
            return Ipv4Addr::new(first, a, b, c).into();
        }
        let drawn = Ipv6Addr::from(self.bytes);
        match self.class % 32 {
            0 => Ipv6Addr::UNSPECIFIED,
            1 => Ipv6Addr::LOCALHOST,
            2 => Ipv6Addr::from([0xff, first, a, b, c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            3 => Ipv4Addr::new(first, a, b, c).to_ipv6_mapped(),
            _ => drawn,
        }
        .into()
    }
}

/// The receive settings of a decapsulator or translator, drawn from one byte: loopback
/// VTEPs allowed (bit 0), zero UDP checksums over IPv6 taken (bit 1), and sent by a
/// translator (bit 2).
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct ReceiveBits(u8);

impl ReceiveBits {
    /// Which sources are VTEPs.
    pub fn sources(self) -> SourcePolicy {
        if self.0 & 1 != 0 {
            SourcePolicy::AllowLoopback
        } else {
            SourcePolicy::RoutableOnly
        }
    }

    /// `udp6_zero_checksum_rx`.
    pub fn udp6_zero_rx(self) -> bool {
        self.0 & 2 != 0
    }

    /// `udp6_zero_checksum_tx`.
    pub fn udp6_zero_tx(self) -> bool {
        self.0 & 4 != 0
    }
}

// ---------------------------------------------------------------------------------------
// What a receiver makes of the outer packet

/// What `decap` (a decapsulator, or the reader of a translator's settings) must make of
/// the outer packet of `frame`, given its `result`. The rules come in the order a
/// receiver trusts its headers: over IPv4 the header checksum (RFC 1122), the source,
/// the UDP checksum; over IPv6 the source, a zero UDP checksum (RFC 6936: taken only by
/// setting), the UDP checksum. A frame carrying a tunnel is refused by the first rule it
/// breaks, with that rule's error at the header it is about; one that breaks none is
/// refused for nothing about its outer packet, and if accepted reports its addresses.
/// Without a tunnel: an outer fragment is a `Fragment`, an IPv6 extension header in
/// front of UDP or GRE an `UnsupportedFrame` of the IPv6 header.
pub fn check_receive_verdict(decap: &Decapsulator, frame: &[u8], result: &Result<Decapsulated>) {
    let (decoded, error) = decap.config().decoder.decode_partial(frame);
    let Some(ip) = OuterIp::of(&decoded.outer) else {
        assert!(
            result.is_err(),
            "accepted a frame without an outer IP header"
        );
        return;
    };
    let l3 = decoded.outer.l3_offset();
    let Some(tunnel) = decoded.tunnel else {
        let refusal = result
            .as_ref()
            .expect_err("accepted a frame without a tunnel");
        let layer = match ip {
            OuterIp::V4(_) => Layer::Ipv4,
            OuterIp::V6(_) => Layer::Ipv6,
        };
        if error.is_none() && decoded.outer_fragment() {
            assert_eq!(*refusal, Error::new(layer, ErrorKind::Fragment).at(l3));
        }
        if error.is_none() && layer == Layer::Ipv6 && is_extension_header(ip.protocol()) {
            assert_eq!(
                (refusal.layer, refusal.kind.name(), refusal.offset),
                (Layer::Ipv6, "unsupported_frame", l3)
            );
        }
        return;
    };
    // The tunnel's carrier: VXLAN's UDP datagram, right before its header.
    let udp = match tunnel {
        Tunnel::Vxlan(_) | Tunnel::Geneve(_) => Some(decoded.outer.udp().expect("UDP carrier")),
        Tunnel::Nvgre(_) => None,
    };
    let udp_at = decoded.tunnel_offset.saturating_sub(udp::HEADER_LEN);
    // Checksums are summed here, so the rules hold under the fuzzer too: there the crate
    // verifies nothing, as if a NIC had.
    let verified = decap.config().checksums == Checksums::Verify && !cfg!(fuzzing);
    let bad_udp = udp
        .filter(|udp| verified && udp.checksum() != 0 && !udp_checksum_ok(ip.src(), ip.dst(), udp));
    let bad_source = Error::new(
        Layer::Tunnel,
        ErrorKind::BadAddress {
            field: AddressField::OuterSource,
            address: ip.src(),
        },
    )
    .at(l3);
    let martian = !can_be_vtep(ip.src(), decap.config().sources);
    let expected = match ip {
        OuterIp::V4(v4) if verified && !ipv4_checksum_ok(ip.header()) => {
            Some(Error::new(Layer::Ipv4, ErrorKind::BadChecksum(v4.checksum())).at(l3))
        }
        OuterIp::V4(_) | OuterIp::V6(_) if martian => Some(bad_source),
        OuterIp::V6(_)
            if udp.is_some_and(|udp| udp.checksum() == 0)
                && !decap.config().udp6_zero_checksum_rx =>
        {
            Some(Error::new(Layer::Udp, ErrorKind::ZeroChecksum).at(udp_at))
        }
        _ => bad_udp
            .map(|udp| Error::new(Layer::Udp, ErrorKind::BadChecksum(udp.checksum())).at(udp_at)),
    };
    // Geneve's own refusals, once the outer packet passes: the O bit, a critical option
    // not understood, a protocol type not carried (RFC 8926 sections 3.4 and 3.5).
    let understood = |o: &GeneveOption<'_>| {
        !o.is_critical()
            || decap
                .config()
                .geneve_understood
                .contains(o.class(), o.option_type())
    };
    let carried = [
        EtherType::TRANSPARENT_ETHERNET_BRIDGING,
        EtherType::IPV4,
        EtherType::IPV6,
    ];
    let geneve_refusal = match tunnel {
        Tunnel::Geneve(h) if h.oam() => Some("not_tenant_frame"),
        Tunnel::Geneve(h) if !h.options().all(|o| understood(&o)) => Some("critical_option"),
        Tunnel::Geneve(h) if !carried.contains(&h.protocol()) => Some("unsupported_frame"),
        _ => None,
    };
    match (expected, result) {
        (Some(expected), _) => assert_eq!(result.as_ref().err(), Some(&expected)),
        (None, _) if geneve_refusal.is_some() => {
            let refusal = result
                .as_ref()
                .expect_err("accepted a Geneve frame RFC 8926 refuses");
            assert_eq!(
                (refusal.layer, Some(refusal.kind.name()), refusal.offset),
                (Layer::Geneve, geneve_refusal, decoded.tunnel_offset)
            );
        }
        (None, Ok(found)) => {
            assert_eq!((found.outer_src, found.outer_dst), (ip.src(), ip.dst()));
            assert_eq!(found.encapsulation, tunnel.encapsulation());
        }
        (None, Err(refusal)) => assert!(
            !matches!(
                refusal.kind,
                ErrorKind::BadAddress { .. }
                    | ErrorKind::BadChecksum(_)
                    | ErrorKind::ZeroChecksum
                    | ErrorKind::Fragment
            ),
            "refused for its outer packet, which breaks no rule: {refusal:?}"
        ),
    }
}
