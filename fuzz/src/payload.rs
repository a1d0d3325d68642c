//! Socket payloads (the tunnel header onward, as a UDP or raw GRE socket hands them over)
//! against whole frames: one set of rules, so the two ways to meet the underlay must
//! agree on everything but what the kernel checks before a socket sees a packet (the
//! outer headers and their checksums, a zero UDP checksum over IPv6).
//!
//! - [`check_payload_decap`]: the payload of every frame the `decapsulate` target sees,
//!   decapsulated with what a socket reports of it, gives what the whole frame gives.
//! - [`check_payload_encap`]: `encapsulate_payload` writes the tail of what `encapsulate`
//!   writes, and reports the source port, traffic class and flow label of its outer
//!   headers.
//! - [`payload`], the `payload` target: any payload with any socket report, and the whole
//!   frame the check builds around it, decapsulate alike.

use core::net::IpAddr;
use std::ops::Range;

use arbitrary::Arbitrary;
use tunnelwire::packet::TunnelKind;
use tunnelwire::tunnel::ecn::Ecn;
use tunnelwire::tunnel::{
    Checksums, DecapConfig, Decapsulated, Decapsulator, Encapsulator, InnerVlanPolicy,
    MAX_HEADROOM, PayloadHeaders, SocketOuter,
};
use tunnelwire::wire::{
    EtherType, EthernetRepr, Ipv4Packet, Ipv4Repr, Ipv6Repr, MacAddr, UdpDatagram, UdpRepr, VlanId,
    VlanRepr, ethernet, geneve, ipv4, ipv6, udp, vlan, vxlan,
};
use tunnelwire::{Error, ErrorKind, Result};

use crate::checks::{InnerVlan, check_rewrite, split, within};
use crate::underlay::{DrawnAddress, OuterIp, ReceiveBits, carrier, udp_checksum};

/// Bytes of settings in front of the payload for `payload`.
pub const PAYLOAD_SETTINGS_LEN: usize = 48;

/// A decapsulation's result and the bytes it left.
type Rewritten = Result<(Decapsulated, Vec<u8>)>;

/// The payload of `frame` (the tunnel header onward, as a socket gives it) decapsulates
/// as the whole frame did (`whole`): the same tunnel, addresses, alarm and inner bytes
/// after the rewrite, or the same refusal, but where the whole frame was refused for
/// what the kernel checks before a socket sees a packet (checksums, a zero UDP checksum
/// over IPv6).
pub fn check_payload_decap(decap: &Decapsulator, frame: &[u8], whole: &Rewritten) {
    let (decoded, _) = decap.config().decoder.decode_partial(frame);
    let (Some(tunnel), Some(ip)) = (decoded.tunnel, OuterIp::of(&decoded.outer)) else {
        return;
    };
    if let Err(Error {
        kind: ErrorKind::BadChecksum(_) | ErrorKind::ZeroChecksum,
        ..
    }) = whole
    {
        return;
    }
    // A socket reports an IPv4 peer as an IPv4-mapped address (::ffff:a.b.c.d) and the
    // payload path takes it for that IPv4 peer; an IPv6 packet from such a source, refused
    // as a frame, never reaches a socket as one.
    if is_ipv4_mapped(ip.src()) || is_ipv4_mapped(ip.dst()) {
        return;
    }
    // What the socket gives: its carrier's payload, without Ethernet padding.
    let at = decoded.tunnel_offset;
    let payload = &frame[at..within(frame, tunnel.payload()).end];
    let outer = SocketOuter {
        src: ip.src(),
        dst: ip.dst(),
        ecn: Ecn::from_bits(ip.traffic_class()),
    };
    let part = decapsulate_payload(decap, payload, tunnel.kind(), outer);
    compare(whole, &part, at, decoded.outer.l3_offset());
}

/// `inspect_payload` and `decapsulate_payload` on `payload`, held to what `inspect` and
/// `decapsulate` are held to on a frame.
fn decapsulate_payload(
    decap: &Decapsulator,
    payload: &[u8],
    kind: TunnelKind,
    outer: SocketOuter,
) -> Rewritten {
    check_rewrite(
        decap,
        payload,
        |bytes| decap.inspect_payload(bytes, kind, &outer),
        |bytes| decap.decapsulate_payload(bytes, kind, &outer),
    )
}

/// True for an IPv4-mapped IPv6 address (::ffff:a.b.c.d): a socket's name for an IPv4
/// address, which the payload path takes as such (and refuses beside an IPv6 one).
fn is_ipv4_mapped(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

/// A whole frame's decapsulation and its payload's, the payload `at` bytes into the frame
/// and the outer IP header `l3`, agree: on what was found, the inner range (moved by
/// `at`) and its bytes, every byte of the payload after the rewrite; or on the refusal.
/// A refusal about the outer source is at the IP header in the frame and at 0 in the
/// payload, which holds no IP header; one about no byte (inner tags, ECN) at 0 in both;
/// any other at its byte.
fn compare(whole: &Rewritten, part: &Rewritten, at: usize, l3: usize) {
    match (whole, part) {
        (Ok((found, frame)), Ok((got, payload))) => {
            assert_eq!(
                (found.encapsulation, found.outer_src, found.outer_dst),
                (got.encapsulation, got.outer_src, got.outer_dst)
            );
            assert_eq!(found.ecn_alarm, got.ecn_alarm);
            assert_eq!(found.protocol, got.protocol);
            assert_eq!(found.options, got.options.start + at..got.options.end + at);
            assert_eq!(found.inner, got.inner.start + at..got.inner.end + at);
            assert_eq!(&frame[found.inner.clone()], &payload[got.inner.clone()]);
            assert_eq!(&frame[at..at + payload.len()], &payload[..]);
        }
        (Err(refused), Err(error)) => {
            let rebased = match error.kind {
                ErrorKind::BadAddress { .. } => {
                    assert_eq!(error.offset, 0, "{error:?}");
                    error.at(l3)
                }
                ErrorKind::InnerVlanTag | ErrorKind::EcnDrop => *error,
                _ => error.at(at),
            };
            assert_eq!(*refused, rebased, "the payload was refused otherwise");
        }
        (whole, part) => panic!("the frame gave {whole:?}, its payload {part:?}"),
    }
}

/// `encapsulate_payload` of the frame at `buf[inner]` (settings as `encap`'s) against
/// `whole`, what `encapsulate` made of it (the range of the frame in the buffer it left):
/// the same refusal, but that a payload needs only the tunnel header's bytes of headroom
/// (8, or Geneve's with its options), so where the frame had too little room the payload is held to the frame that
/// room gives; when both succeed, the payload is the frame's tail from the tunnel header,
/// byte for byte, and what it reports is what the outer headers say: the UDP source port
/// (VXLAN), the traffic class, the IPv6 flow label (0 over IPv4). Nothing before the
/// payload changes but what tag stripping moves.
pub fn check_payload_encap(
    encap: &mut Encapsulator,
    buf: &[u8],
    inner: Range<usize>,
    whole: Result<(Range<usize>, &[u8])>,
    strip_len: usize,
) {
    let mut work = buf.to_vec();
    let result = encap.encapsulate_payload(&mut work, inner.clone());
    let mut roomy = Vec::new();
    let whole = match (whole, &result) {
        (Err(refused), Err(error)) if matches!(error.kind, ErrorKind::Headroom { .. }) => {
            assert!(
                matches!(refused.kind, ErrorKind::Headroom { .. }),
                "{refused:?}"
            );
            let room = ErrorKind::Headroom {
                needed: encap.overhead() - encap.tunnel_offset(),
                available: inner.start + strip_len,
            };
            assert_eq!(error.kind, room);
            assert_eq!(work, buf, "a refused encapsulation changed the buffer");
            return;
        }
        (Err(refused), _) if matches!(refused.kind, ErrorKind::Headroom { .. }) => {
            roomy.resize(MAX_HEADROOM, 0);
            roomy.extend_from_slice(&buf[inner.clone()]);
            let end = roomy.len();
            let frame = encap.encapsulate(&mut roomy, MAX_HEADROOM..end);
            frame.map(|frame| (frame, &roomy[..]))
        }
        (whole, _) => whole,
    };
    let headers = match (whole, result) {
        (Ok((frame, whole_buf)), Ok(headers)) => {
            headers_of_frame(encap, &whole_buf[frame], &work, headers)
        }
        (Err(refused), Err(error)) => {
            assert_eq!(work, buf, "a refused encapsulation changed the buffer");
            assert_eq!(
                refused, error,
                "the frame and its payload were refused otherwise"
            );
            return;
        }
        (whole, payload) => panic!("the frame gave {whole:?}, its payload {payload:?}"),
    };
    assert_eq!(headers.payload.end, inner.end);
    let untouched = headers.payload.start.min(inner.start);
    assert_eq!(&work[..untouched], &buf[..untouched]);
}

/// The payload at `work[headers.payload]` is the tail of `frame` from its tunnel header,
/// and `headers` says what its outer headers say. Returns `headers`.
fn headers_of_frame(
    encap: &Encapsulator,
    frame: &[u8],
    work: &[u8],
    headers: PayloadHeaders,
) -> PayloadHeaders {
    assert_eq!(
        &work[headers.payload.clone()],
        &frame[encap.tunnel_offset()..]
    );
    let (decoded, _) = crate::checks::decoder_for(encap.config()).decode_partial(frame);
    let ip = OuterIp::of(&decoded.outer).expect("an outer IP header");
    let source_port = decoded.outer.udp().map(|udp| udp.src_port());
    let flow_label = match ip {
        OuterIp::V4(_) => 0,
        OuterIp::V6(ip) => ip.flow_label(),
    };
    assert_eq!(
        (
            headers.source_port,
            headers.traffic_class,
            headers.flow_label
        ),
        (source_port, ip.traffic_class(), flow_label)
    );
    headers
}

// ---------------------------------------------------------------------------------------
// The payload target

/// What a socket reported and how the receiver is set, drawn by `arbitrary`.
#[derive(Debug, Arbitrary)]
pub(crate) struct PayloadSettings {
    /// VXLAN, NVGRE or Geneve, by its value modulo 3; OVN's option understood (the
    /// express walk's first declared option) where its third is odd.
    kind: u8,
    reject_reserved: bool,
    apply_ecn: bool,
    inner_vlan: InnerVlan,
    receive: ReceiveBits,
    ecn: u8,
    v6: bool,
    src: DrawnAddress,
    dst: DrawnAddress,
    outer_tag: bool,
}

/// A socket payload and what the socket reported of its outer packet, drawn from the
/// input: `inspect_payload` and `decapsulate_payload` agree as `inspect` and
/// `decapsulate` do, and the whole frame built around the payload (outer Ethernet, maybe
/// a tag, IPv4 or IPv6 with the reported addresses and ECN, UDP with its checksum right,
/// or GRE) decapsulates as the payload does.
pub fn payload(data: &[u8]) {
    let (settings, payload): (PayloadSettings, _) = split(data, PAYLOAD_SETTINGS_LEN);
    let kind =
        [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve][usize::from(settings.kind % 3)];
    let outer = SocketOuter {
        src: settings.src.address(settings.v6),
        dst: settings.dst.address(settings.v6),
        ecn: Ecn::from_bits(settings.ecn),
    };
    let decap = Decapsulator::new(DecapConfig {
        decoder: crate::checks::decoder(false, settings.reject_reserved),
        // The frame built around the payload has its checksums right: verifying them
        // refuses nothing.
        checksums: Checksums::Verify,
        sources: settings.receive.sources(),
        udp6_zero_checksum_rx: settings.receive.udp6_zero_rx(),
        inner_vlan: InnerVlanPolicy::from(settings.inner_vlan),
        apply_ecn: settings.apply_ecn,
        geneve_understood: crate::checks::ovn_understood(settings.kind / 3 % 2 == 1),
    });
    let part = decapsulate_payload(&decap, payload, kind, outer);
    // An IPv4-mapped source is a socket's way of naming an IPv4 peer (the payload path
    // takes it so, tests/tunnel/decapsulation.rs): no IPv6 frame stands for it.
    if is_ipv4_mapped(outer.src) || is_ipv4_mapped(outer.dst) {
        return;
    }
    let Some((frame, at, l3)) = whole_frame(payload, kind, outer, settings.outer_tag) else {
        return;
    };
    let whole = check_rewrite(
        &decap,
        &frame,
        |bytes| decap.inspect(bytes),
        |bytes| decap.decapsulate(bytes),
    );
    compare(&whole, &part, at, l3);
}

/// The whole frame a VTEP would have received `payload` in, as `outer` describes it:
/// the frame, where the payload starts in it and where its IP header does. `None` when
/// the payload is too long for one IP packet.
fn whole_frame(
    payload: &[u8],
    kind: TunnelKind,
    outer: SocketOuter,
    tagged: bool,
) -> Option<(Vec<u8>, usize, usize)> {
    let carrier_len = match kind {
        TunnelKind::Vxlan | TunnelKind::Geneve => udp::HEADER_LEN,
        TunnelKind::Nvgre => 0,
    };
    let ip_header_len = match outer.src {
        IpAddr::V4(_) => ipv4::HEADER_LEN,
        IpAddr::V6(_) => ipv6::HEADER_LEN,
    };
    // IPv4's total length counts its header too: within 16 bits, so is every length.
    u16::try_from(ip_header_len + carrier_len + payload.len()).ok()?;
    let ip_payload_len = (carrier_len + payload.len()) as u16;
    let ip_ethertype = match outer.src {
        IpAddr::V4(_) => EtherType::IPV4,
        IpAddr::V6(_) => EtherType::IPV6,
    };
    let l3 = ethernet::HEADER_LEN + if tagged { vlan::HEADER_LEN } else { 0 };
    let at = l3 + ip_header_len + carrier_len;
    let mut frame = vec![0; at];
    EthernetRepr {
        dst_addr: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
        src_addr: MacAddr([0x02, 0, 0, 0, 0, 0x01]),
        ethertype: if tagged {
            EtherType::VLAN
        } else {
            ip_ethertype
        },
    }
    .emit(&mut frame)
    .expect("room for Ethernet");
    if tagged {
        VlanRepr {
            pcp: 0,
            dei: false,
            vid: VlanId::usable(100).expect("a usable VID"),
            ethertype: ip_ethertype,
        }
        .emit(&mut frame[ethernet::HEADER_LEN..])
        .expect("room for a tag");
    }
    let protocol = carrier(kind == TunnelKind::Nvgre);
    match (outer.src, outer.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let mut ip = Ipv4Repr::new(src, dst, protocol, ip_payload_len);
            ip.ecn = outer.ecn.bits();
            ip.dont_frag = true;
            ip.emit(&mut frame[l3..]).expect("room for IPv4");
            let header = &mut frame[l3..l3 + ipv4::HEADER_LEN];
            let sum = !tunnelwire::checksum::sum(header);
            Ipv4Packet::new_unchecked(header).set_checksum(sum);
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let mut ip = Ipv6Repr::new(src, dst, protocol, ip_payload_len);
            ip.ecn = outer.ecn.bits();
            ip.emit(&mut frame[l3..]).expect("room for IPv6");
        }
        _ => panic!("a socket reports addresses of one family"),
    }
    frame.extend_from_slice(payload);
    if kind != TunnelKind::Nvgre {
        let udp_at = at - udp::HEADER_LEN;
        let port = match kind {
            TunnelKind::Geneve => geneve::PORT,
            _ => vxlan::PORT,
        };
        UdpRepr::new(49152, port, payload.len() as u16)
            .emit(&mut frame[udp_at..])
            .expect("room for UDP");
        let sum = udp_checksum(outer.src, outer.dst, &frame[udp_at..]);
        UdpDatagram::new_unchecked(&mut frame[udp_at..]).set_checksum(sum);
    }
    Some((frame, at, l3))
}
