//! The invariants each fuzz target checks, one public function per target taking the
//! fuzzer's raw input. Shared by the targets in `fuzz/fuzz_targets/` and by
//! `tests/regressions.rs`, which replays committed inputs on stable.
//!
//! Checksums: under `cfg(fuzzing)` `verify_checksum` always passes, so the fuzzer reaches
//! what lies behind it; on stable it does not. The tunnel checks therefore run each frame
//! under `Checksums::Verify` and under `Checksums::OffloadedByNic` and require the two to
//! differ by at most a `BadChecksum` refusal (never under the fuzzer): the second run
//! reaches on stable the code the first reaches under the fuzzer, so a replayed input
//! takes the path on which it was found. Where a checksum's value matters, it is summed
//! here directly rather than through `verify_checksum`.
//!
//! Inputs that carry settings start with a fixed-length head ([`SETTINGS_LEN`] or
//! [`ENCAP_SETTINGS_LEN`] bytes) read with `arbitrary`; the frame is the rest.

use core::net::{IpAddr, Ipv4Addr};
use std::fmt::{Debug, Display};
use std::ops::Range;

use arbitrary::{Arbitrary, Unstructured};
use tunnelwire::checksum;
use tunnelwire::packet::{Decoder, ReservedPolicy, Stack, Transport, Tunnel, VxlanPorts};
use tunnelwire::tunnel::{
    Checksums, Decapsulated, Decapsulator, Dscp, EcnMode, Encapsulation, Encapsulator, FlowId,
    FlowLabel, InnerVlanPolicy, OuterVlan, PortRange, SourcePolicy, Translator, TunnelConfig,
    TunnelKind,
};
use tunnelwire::wire::{
    EtherType, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
    MacAddr, NvgreHeader, NvgreRepr, UdpDatagram, UdpRepr, VlanId, VlanRepr, VlanTag, Vni, Vsid,
    VxlanHeader, VxlanRepr, ethernet, ipv4, ipv6, nvgre, udp, vlan, vxlan,
};
use tunnelwire::{Error, ErrorKind, Layer, Result};

/// Bytes of settings in front of the frame for `decapsulate` and `translate`.
pub const SETTINGS_LEN: usize = 16;
/// Bytes of settings in front of the inner frame for `encapsulate`.
pub const ENCAP_SETTINGS_LEN: usize = 64;

/// A target's check: panics when an invariant fails on the input.
pub type Check = fn(&[u8]);

/// The fuzz targets, by name: what `tests/regressions.rs` dispatches on.
pub const TARGETS: [(&str, Check); 5] = [
    ("decode", decode),
    ("header", header),
    ("decapsulate", decapsulate),
    ("translate", translate),
    ("encapsulate", encapsulate),
];

/// Settings of type `S` from the first `len` bytes (missing bytes read as zero), and the
/// rest of the input.
fn split<'a, S: Arbitrary<'a>>(data: &'a [u8], len: usize) -> (S, &'a [u8]) {
    let (head, rest) = data.split_at(len.min(data.len()));
    let settings = S::arbitrary(&mut Unstructured::new(head))
        .expect("settings of plain fields read from any bytes");
    (settings, rest)
}

/// Where `part` lies inside `whole`; fails unless it lies inside.
fn within(whole: &[u8], part: &[u8]) -> Range<usize> {
    let base = whole.as_ptr() as usize;
    let start = (part.as_ptr() as usize).wrapping_sub(base);
    assert!(
        start <= whole.len() && part.len() <= whole.len() - start,
        "a view of {} bytes at {start} lies outside the {}-byte input",
        part.len(),
        whole.len()
    );
    start..start + part.len()
}

/// True when the IPv4 header in `header` sums to 0xffff, whatever `cfg(fuzzing)` says.
fn ipv4_checksum_ok(header: &[u8]) -> bool {
    checksum::sum(header) == 0xffff
}

/// An error of the bytes (not a usage error) lying inside the input.
fn check_error(error: &Error, len: usize) {
    assert!(error.offset <= len, "{error:?} past the {len}-byte input");
    assert!(
        !error.kind.is_usage(),
        "bytes gave a usage error: {error:?}"
    );
    assert!(!error.to_string().is_empty() && !error.kind.name().is_empty());
}

/// Fails unless each settings head holds every byte its settings read (with every
/// option present, as all-ones bytes make them).
pub fn settings_fit() {
    fn fits<'a, S: Arbitrary<'a>>(bytes: &'a [u8], len: usize) {
        let mut u = Unstructured::new(bytes);
        S::arbitrary(&mut u).expect("settings");
        assert!(
            bytes.len() - u.len() <= len,
            "settings read past their head"
        );
    }
    let ones = [0xff; 128];
    fits::<DecapSettings>(&ones, SETTINGS_LEN);
    fits::<TranslateSettings>(&ones, SETTINGS_LEN);
    fits::<EncapSettings>(&ones, ENCAP_SETTINGS_LEN);
}

// ---------------------------------------------------------------------------------------
// decode

/// Whole-frame decode, full and partial, under the default decoder and a strict one with
/// two VXLAN ports: the two agree; every view and offset lies inside the input where the
/// layers before it say; the inner stack is what `Stack::decode` makes of the tunnel's
/// payload; an error lies inside the input.
pub fn decode(data: &[u8]) {
    let strict = Decoder {
        vxlan_ports: VxlanPorts::from_slice(&[vxlan::PORT, 8472]).expect("two ports"),
        vxlan_reserved: ReservedPolicy::Reject,
    };
    for decoder in [Decoder::new(), strict] {
        check_decode(&decoder, data);
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
/// Ethernet frame runs to `end`.
fn check_stack(data: &[u8], stack: &Stack<'_>, end: usize) {
    let Some(eth) = stack.ethernet else {
        assert!(stack.vlans.iter().all(Option::is_none) && stack.ipv4.is_none());
        assert!(stack.ipv6.is_none() && stack.transport.is_none());
        return;
    };
    assert_eq!(within(data, eth.into_inner()), stack.offset..end);
    let mut at = stack.offset + ethernet::HEADER_LEN;
    let mut tpid = eth.ethertype();
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

// ---------------------------------------------------------------------------------------
// header

/// One header, chosen by the first byte: a view through `new_checked` (or an error of
/// that layer at offset 0), its `Repr` emitted over the header's bytes gives them back,
/// parses again to the same `Repr`, and refuses a buffer one byte short.
pub fn header(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 7 {
        0 => check_header(
            bytes,
            Layer::Ethernet,
            |b| EthernetFrame::new_checked(b).map(|v| EthernetRepr::parse(&v)),
            |r, b| r.emit(b),
            |r| r.buffer_len(),
        ),
        1 => check_header(
            bytes,
            Layer::Vlan,
            |b| VlanTag::new_checked(b).map(|v| VlanRepr::parse(&v)),
            |r, b| r.emit(b),
            |r| r.buffer_len(),
        ),
        2 => {
            if let Ok(view) = Ipv4Packet::new_checked(bytes) {
                assert_eq!(view.version(), 4);
                assert_eq!(
                    view.payload().len(),
                    usize::from(view.total_len()) - view.header_len()
                );
                let repr = Ipv4Repr::parse(&view);
                assert_eq!(repr.options.as_slice(), view.options());
                assert_eq!(usize::from(repr.payload_len), view.payload().len());
            }
            check_header(
                bytes,
                Layer::Ipv4,
                |b| Ipv4Packet::new_checked(b).map(|v| Ipv4Repr::parse(&v)),
                |r, b| r.emit(b),
                |r| r.buffer_len(),
            );
        }
        3 => {
            if let Ok(view) = Ipv6Packet::new_checked(bytes) {
                assert_eq!(view.version(), 6);
                assert_eq!(view.payload().len(), usize::from(view.payload_len()));
            }
            check_header(
                bytes,
                Layer::Ipv6,
                |b| Ipv6Packet::new_checked(b).map(|v| Ipv6Repr::parse(&v)),
                |r, b| r.emit(b),
                |r| r.buffer_len(),
            );
        }
        4 => {
            if let Ok(view) = UdpDatagram::new_checked(bytes) {
                assert_eq!(
                    view.payload().len() + udp::HEADER_LEN,
                    usize::from(view.len())
                );
                assert_eq!(view.is_empty(), view.payload().is_empty());
            }
            check_header(
                bytes,
                Layer::Udp,
                |b| UdpDatagram::new_checked(b).map(|v| UdpRepr::parse(&v)),
                |r, b| r.emit(b),
                |r| r.buffer_len(),
            );
        }
        5 => {
            if let Ok(view) = VxlanHeader::new_checked(bytes) {
                let strict = view.check_reserved(ReservedPolicy::Reject);
                let clean =
                    view.flags() == vxlan::FLAG_I && view.reserved1() == 0 && view.reserved2() == 0;
                assert_eq!(strict.is_ok(), clean, "{strict:?}");
                assert!(view.check_reserved(ReservedPolicy::Ignore).is_ok());
            }
            check_header(
                bytes,
                Layer::Vxlan,
                |b| VxlanHeader::new_checked(b).map(|v| VxlanRepr::parse(&v)),
                |r, b| r.emit(b),
                |r| r.buffer_len(),
            );
        }
        _ => {
            if let Ok(view) = NvgreHeader::new_checked(bytes) {
                assert_eq!(view.protocol(), EtherType::TRANSPARENT_ETHERNET_BRIDGING);
                assert_eq!(view.version(), 0);
                assert_eq!(
                    view.key(),
                    view.vsid().get() << 8 | u32::from(view.flow_id())
                );
            }
            check_header(
                bytes,
                Layer::Nvgre,
                |b| NvgreHeader::new_checked(b).map(|v| NvgreRepr::parse(&v)),
                |r, b| r.emit(b),
                |r| r.buffer_len(),
            );
        }
    }
}

/// The round trip of one header: `parse` is `new_checked` then `Repr::parse`.
fn check_header<R: PartialEq + Debug + Display>(
    bytes: &[u8],
    layer: Layer,
    parse: impl Fn(&[u8]) -> Result<R>,
    emit: impl Fn(&R, &mut [u8]) -> Result<()>,
    buffer_len: impl Fn(&R) -> usize,
) {
    let repr = match parse(bytes) {
        Ok(repr) => repr,
        Err(error) => {
            assert_eq!((error.layer, error.offset), (layer, 0), "{error:?}");
            check_error(&error, bytes.len());
            return;
        }
    };
    let len = buffer_len(&repr);
    assert!(
        len <= bytes.len(),
        "a {len}-byte header in {} bytes",
        bytes.len()
    );
    // Every header byte inverted first, so emit must write each one back.
    let mut copy = bytes.to_vec();
    copy[..len].iter_mut().for_each(|b| *b = !*b);
    emit(&repr, &mut copy).expect("a parsed header emits");
    assert_eq!(copy, bytes, "emit did not give back the header's bytes");
    assert_eq!(parse(&copy).expect("emitted header parses"), repr);
    let short = emit(&repr, &mut copy[..len - 1]).expect_err("emit into a short buffer");
    assert!(
        matches!(short.kind, ErrorKind::BufferTooSmall { needed, .. } if needed == len),
        "{short:?}"
    );
    assert!(!repr.to_string().is_empty());
}

// ---------------------------------------------------------------------------------------
// Settings shared by decapsulate and translate

/// An inner VLAN policy, drawn by `arbitrary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
enum InnerVlan {
    Strip,
    Keep,
    Reject,
}

impl From<InnerVlan> for InnerVlanPolicy {
    fn from(policy: InnerVlan) -> Self {
        match policy {
            InnerVlan::Strip => InnerVlanPolicy::Strip,
            InnerVlan::Keep => InnerVlanPolicy::Keep,
            InnerVlan::Reject => InnerVlanPolicy::Reject,
        }
    }
}

/// A decoder: VXLAN on 4789, or on 4789 and 8472; reserved bits ignored or rejected.
fn decoder(second_port: bool, reject_reserved: bool) -> Decoder {
    Decoder {
        vxlan_ports: if second_port {
            VxlanPorts::from_slice(&[vxlan::PORT, 8472]).expect("two ports")
        } else {
            VxlanPorts::default()
        },
        vxlan_reserved: if reject_reserved {
            ReservedPolicy::Reject
        } else {
            ReservedPolicy::Ignore
        },
    }
}

/// Runs `run` under `Checksums::Verify` and `Checksums::OffloadedByNic`; they agree but
/// for a `BadChecksum` refusal of the first, which the fuzzer's `verify_checksum` never
/// gives. Returns the second's result.
fn both_checksum_modes<T: PartialEq + Debug>(run: impl Fn(Checksums) -> Result<T>) -> Result<T> {
    let verified = run(Checksums::Verify);
    let trusted = run(Checksums::OffloadedByNic);
    if verified != trusted {
        match &verified {
            Err(Error {
                kind: ErrorKind::BadChecksum(_),
                ..
            }) if !cfg!(fuzzing) => {}
            _ => panic!("checksum modes disagree: {verified:?} vs {trusted:?}"),
        }
    }
    trusted
}

// ---------------------------------------------------------------------------------------
// decapsulate

#[derive(Debug, Arbitrary)]
struct DecapSettings {
    second_port: bool,
    reject_reserved: bool,
    apply_ecn: bool,
    inner_vlan: InnerVlan,
}

/// Decapsulation and the read-only `inspect` agree on success or failure (and the
/// error), the segment, the addresses and the ECN alarm; the inner range lies inside the
/// frame; decapsulation changes nothing on failure, and on success only removes the tags
/// `inspect` saw (under `Strip`) and the ECN bits of the inner IP header.
pub fn decapsulate(data: &[u8]) {
    let (settings, frame): (DecapSettings, _) = split(data, SETTINGS_LEN);
    let _ = both_checksum_modes(|checksums| {
        let decap = Decapsulator {
            decoder: decoder(settings.second_port, settings.reject_reserved),
            checksums,
            inner_vlan: settings.inner_vlan.into(),
            apply_ecn: settings.apply_ecn,
            ..Decapsulator::default()
        };
        check_decapsulate(&decap, frame)
    });
}

fn check_decapsulate(decap: &Decapsulator, frame: &[u8]) -> Result<(Decapsulated, Vec<u8>)> {
    let inspected = decap.inspect(frame);
    let mut buf = frame.to_vec();
    let result = decap.decapsulate(&mut buf);
    let (seen, out) = match (inspected, result) {
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "inspect and decapsulate fail differently");
            assert_eq!(buf, frame, "a failed decapsulation changed the frame");
            assert!(a.offset <= frame.len(), "{a:?}");
            return Err(b);
        }
        (Ok(seen), Ok(out)) => (seen, out),
        (seen, out) => panic!("inspect gave {seen:?}, decapsulate {out:?}"),
    };
    assert_eq!(seen.encapsulation, out.encapsulation);
    assert_eq!(
        (seen.outer_src, seen.outer_dst),
        (out.outer_src, out.outer_dst)
    );
    assert_eq!(seen.ecn_alarm, out.ecn_alarm);
    assert!(seen.inner.start <= out.inner.start && out.inner.end <= frame.len());
    assert_eq!(seen.inner.end, out.inner.end);
    let stripped = out.inner.start - seen.inner.start;
    if decap.inner_vlan == InnerVlanPolicy::Strip {
        let (seen_stack, _) = Stack::decode(&frame[seen.inner.clone()]);
        assert_eq!(stripped, vlan::HEADER_LEN * seen_stack.vlan_tags().count());
    } else {
        assert_eq!(stripped, 0, "tags removed under {:?}", decap.inner_vlan);
    }
    assert!(out.inner.len() >= ethernet::HEADER_LEN);

    // The inner frame inspect saw, its tags removed...
    let seen_inner = &frame[seen.inner.clone()];
    let mut expected = seen_inner[..ethernet::ADDRS_LEN].to_vec();
    expected.extend_from_slice(&seen_inner[ethernet::ADDRS_LEN + stripped..]);
    // ...and at most the ECN bits of its IP header (and the IPv4 checksum) changed.
    let got = &buf[out.inner.clone()];
    let (stack, _) = Stack::decode(&expected);
    let l3 = stack.l3_offset();
    let ecn_bytes: &[usize] = match (stack.ipv4, stack.ipv6) {
        (Some(_), _) => &[l3 + 1, l3 + 10, l3 + 11],
        (_, Some(_)) => &[l3 + 1],
        _ => &[],
    };
    for (i, (a, b)) in got.iter().zip(&expected).enumerate() {
        if a != b {
            assert!(
                decap.apply_ecn && ecn_bytes.contains(&i),
                "byte {i} changed"
            );
        }
    }
    if let Some(ip) = stack.ipv4.filter(|_| decap.apply_ecn) {
        let header = l3..l3 + ip.header_len();
        assert_eq!(
            ipv4_checksum_ok(&expected[header.clone()]),
            ipv4_checksum_ok(&got[header]),
            "the ECN rewrite changed whether the inner IPv4 checksum is right"
        );
    }
    if decap.inner_vlan != InnerVlanPolicy::Strip && !decap.apply_ecn {
        assert_eq!(buf, frame, "nothing to rewrite, yet the frame changed");
    }
    Ok((out, buf))
}

// ---------------------------------------------------------------------------------------
// translate

#[derive(Debug, Arbitrary)]
struct TranslateSettings {
    to_nvgre: bool,
    second_port: bool,
    reject_reserved: bool,
    udp_checksum: bool,
    symmetric_hash: bool,
    fixed_flow_id: Option<u8>,
    inner_vlan: InnerVlan,
    small_mtu: Option<u16>,
    headroom: u8,
}

/// Translation to the drawn kind, then back to the frame's own kind: each output lies
/// inside the buffer, decapsulates to the original segment and the original inner frame
/// (tags stripped under `Strip`), keeps the outer IPv4 checksum exactly as right as it
/// was; a refused translation leaves the buffer as it was.
pub fn translate(data: &[u8]) {
    let (settings, frame): (TranslateSettings, _) = split(data, SETTINGS_LEN);
    let _ = both_checksum_modes(|checksums| {
        let translator = Translator {
            decoder: decoder(settings.second_port, settings.reject_reserved),
            checksums,
            udp_checksum: settings.udp_checksum,
            symmetric_hash: settings.symmetric_hash,
            flow_id: settings.fixed_flow_id.map_or(FlowId::Hash, FlowId::Fixed),
            inner_vlan: settings.inner_vlan.into(),
            mtu: settings.small_mtu.unwrap_or(9000),
            ..Translator::default()
        };
        let to = if settings.to_nvgre {
            TunnelKind::Nvgre
        } else {
            TunnelKind::Vxlan
        };
        check_translate(&translator, frame, usize::from(settings.headroom % 17), to)
    });
}

/// What the receiving side makes of a frame: its tunnel and inner frame, tags kept and
/// bytes untouched.
fn reader(translator: &Translator) -> Decapsulator {
    Decapsulator {
        decoder: translator.decoder,
        checksums: translator.checksums,
        inner_vlan: InnerVlanPolicy::Keep,
        apply_ecn: false,
        ..Decapsulator::default()
    }
}

fn check_translate(
    translator: &Translator,
    frame: &[u8],
    headroom: usize,
    to: TunnelKind,
) -> Result<Vec<u8>> {
    let mut buf = vec![0xa5; headroom];
    buf.extend_from_slice(frame);
    let range = headroom..buf.len();
    let seen = reader(translator).inspect(frame);
    let before = buf.clone();
    let out = match translator.translate(&mut buf, range.clone(), to) {
        Ok(out) => out,
        Err(error) => {
            assert_eq!(buf, before, "a refused translation changed the buffer");
            if !error.kind.is_usage() {
                assert!(error.offset <= frame.len(), "{error:?}");
            }
            return Err(error);
        }
    };
    let seen = seen.expect("translated a frame decapsulation refuses");
    let (stack, _) = Stack::decode(&frame[seen.inner.clone()]);
    let tags = stack.vlan_tags().count();
    let expected = match translator.inner_vlan {
        InnerVlanPolicy::Strip => strip_tags(&frame[seen.inner.clone()], tags),
        _ => frame[seen.inner.clone()].to_vec(),
    };
    let ip_ok = ipv4_checksum_ok(outer_ipv4_header(frame));
    check_translated(translator, &buf, out.clone(), to, &seen, &expected, ip_ok);
    assert_eq!(out.end, headroom + seen.inner.end, "the inner frame moved");

    // And back to the frame's own kind.
    let there = buf.clone();
    match translator.translate(&mut buf, out.clone(), seen.kind()) {
        Ok(back) => {
            check_translated(
                translator,
                &buf,
                back.clone(),
                seen.kind(),
                &seen,
                &expected,
                ip_ok,
            );
            assert_eq!(back.end, out.end);
        }
        Err(error) => {
            assert_eq!(buf, there, "a refused translation changed the buffer");
            // Room and size differ between the two kinds, and NVGRE refuses to keep tags.
            // A TPID whose tag is cut short counts as a tag.
            let tagged = tags > 0 || stack.ethertype().is_some_and(|t| t.is_vlan_tpid());
            let keeps_tags = translator.inner_vlan == InnerVlanPolicy::Keep && tagged;
            assert!(
                matches!(
                    error.kind,
                    ErrorKind::Headroom { .. } | ErrorKind::ExceedsMtu { .. }
                ) || (keeps_tags && error.kind == ErrorKind::InnerVlanTag),
                "translated one way but not back: {error:?}"
            );
        }
    }
    Ok(buf)
}

/// The outer IPv4 header of a frame that decapsulation accepted.
fn outer_ipv4_header(frame: &[u8]) -> &[u8] {
    let (stack, _) = Stack::decode(frame);
    let ip = stack
        .ipv4
        .expect("accepted frames have an outer IPv4 header");
    &ip.into_inner()[..ip.header_len()]
}

/// A translated frame at `buf[out]`: inside the buffer, of kind `to`, carrying the
/// segment and inner frame the original did, with consistent lengths and checksums.
fn check_translated(
    translator: &Translator,
    buf: &[u8],
    out: Range<usize>,
    to: TunnelKind,
    seen: &Decapsulated,
    expected_inner: &[u8],
    ip_ok: bool,
) {
    assert!(out.start <= out.end && out.end <= buf.len(), "{out:?}");
    let frame = &buf[out.clone()];
    let got = reader(translator)
        .inspect(frame)
        .unwrap_or_else(|e| panic!("a translated frame does not decapsulate: {e:?}"));
    assert_eq!(got.kind(), to);
    assert_eq!(got.segment(), seen.segment());
    assert_eq!(
        (got.outer_src, got.outer_dst),
        (seen.outer_src, seen.outer_dst)
    );
    assert_eq!(&frame[got.inner.clone()], expected_inner);
    assert_eq!(
        got.inner.end,
        frame.len(),
        "padding after the outer packet kept"
    );

    let (stack, _) = Stack::decode(frame);
    let ip = stack.ipv4.expect("outer IPv4");
    assert_eq!(stack.l3_offset() + usize::from(ip.total_len()), frame.len());
    assert!(usize::from(ip.total_len()) <= usize::from(translator.mtu));
    assert_eq!(ipv4_checksum_ok(&ip.into_inner()[..ip.header_len()]), ip_ok);
    if let (TunnelKind::Vxlan, Some(udp)) = (to, stack.udp()) {
        assert_eq!(udp.dst_port(), translator.vxlan_port);
        let range = translator.source_ports;
        assert!((range.lo()..=range.hi()).contains(&udp.src_port()));
        if translator.udp_checksum {
            assert_ne!(udp.checksum(), 0);
            assert!(udp_checksum_ok(&udp, ip.src_addr(), ip.dst_addr()));
        } else {
            assert_eq!(udp.checksum(), 0);
        }
    }
    if let (TunnelKind::Nvgre, Some(Tunnel::Nvgre(h)), FlowId::Fixed(id)) = (
        to,
        Decoder::new().decode_partial(frame).0.tunnel,
        translator.flow_id,
    ) {
        assert_eq!(h.flow_id(), id);
    }
}

/// The UDP checksum over IPv4 sums right, whatever `cfg(fuzzing)` says.
fn udp_checksum_ok(udp: &UdpDatagram<&[u8]>, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    let pseudo = checksum::pseudo_header_ipv4(src, dst, IpProtocol::UDP.0, udp.len());
    let bytes = &udp.into_inner()[..usize::from(udp.len())];
    checksum::combine(pseudo, checksum::sum(bytes)) == 0xffff
}

/// `frame` without its first `tags` VLAN tags.
fn strip_tags(frame: &[u8], tags: usize) -> Vec<u8> {
    if tags == 0 {
        return frame.to_vec();
    }
    let mut out = frame[..ethernet::ADDRS_LEN].to_vec();
    out.extend_from_slice(&frame[ethernet::ADDRS_LEN + tags * vlan::HEADER_LEN..]);
    out
}

// ---------------------------------------------------------------------------------------
// encapsulate

/// Tunnel settings drawn by `arbitrary`, each field mapped onto mostly valid values so
/// most inputs get past `validate` and a few do not.
#[derive(Debug, Arbitrary)]
struct EncapSettings {
    nvgre: bool,
    segment: u32,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    outer_vlan: Option<(u16, u8)>,
    src_ip: [u8; 4],
    dst_ip: [u8; 4],
    ttl: u8,
    dont_frag: bool,
    dscp: Option<u8>,
    ecn_compatibility: bool,
    fixed_flow_id: Option<u8>,
    inner_vlan: InnerVlan,
    vxlan_port: u16,
    source_ports: (u16, u16),
    udp_checksum: bool,
    symmetric_hash: bool,
    mtu: u16,
    headroom: u8,
}

impl EncapSettings {
    /// The config, or the error of a value that cannot even be built (a segment over 24
    /// bits).
    fn config(&self) -> Result<TunnelConfig> {
        let segment = self.segment % (Vni::MAX + 0x100);
        let encapsulation = if self.nvgre {
            Encapsulation::Nvgre(Vsid::new(segment)?)
        } else {
            Encapsulation::Vxlan(Vni::new(segment)?)
        };
        let (lo, hi) = self.source_ports;
        Ok(TunnelConfig {
            encapsulation,
            src_mac: MacAddr(self.src_mac),
            dst_mac: MacAddr(self.dst_mac),
            outer_vlan: match self.outer_vlan {
                Some((vid, pcp)) => Some(OuterVlan {
                    vid: VlanId::new(vid % 4096)?,
                    pcp: pcp % 9,
                }),
                None => None,
            },
            src_ip: Ipv4Addr::from(self.src_ip).into(),
            dst_ip: Ipv4Addr::from(self.dst_ip).into(),
            sources: SourcePolicy::RoutableOnly,
            ttl: self.ttl,
            dont_frag: self.dont_frag,
            dscp: self.dscp.map_or(Dscp::CopyInner, |d| Dscp::Fixed(d % 65)),
            ecn: if self.ecn_compatibility {
                EcnMode::Compatibility
            } else {
                EcnMode::Normal
            },
            flow_id: self.fixed_flow_id.map_or(FlowId::Hash, FlowId::Fixed),
            flow_label: FlowLabel::Hash,
            inner_vlan: self.inner_vlan.into(),
            vxlan_port: self.vxlan_port,
            source_ports: PortRange::new(lo.min(hi), lo.max(hi))?,
            udp_checksum: self.udp_checksum,
            udp6_zero_checksum_tx: false,
            symmetric_hash: self.symmetric_hash,
            mtu: self.mtu,
        })
    }

    /// Where the inner frame starts: usually with room to spare, sometimes short.
    fn inner_at(&self) -> usize {
        if self.headroom & 3 == 0 {
            usize::from(self.headroom >> 2)
        } else {
            tunnelwire::tunnel::HEADROOM + 8
        }
    }
}

/// Encapsulation with settings drawn from the input, then decapsulation: the config is
/// refused by `Encapsulator::new` exactly when `validate` refuses it; a refused frame
/// leaves the buffer as it was; otherwise the outer headers carry the settings, the
/// checksums sum right, and decapsulation gives back the inner frame byte for byte (its
/// tags stripped under `Strip`).
pub fn encapsulate(data: &[u8]) {
    let (settings, inner): (EncapSettings, _) = split(data, ENCAP_SETTINGS_LEN);
    let config = match settings.config() {
        Ok(config) => config,
        Err(error) => {
            assert!(
                matches!(error.kind, ErrorKind::OutOfRange { .. }),
                "{error:?}"
            );
            return;
        }
    };
    let mut encap = match (Encapsulator::new(config), config.validate()) {
        (Ok(encap), Ok(())) => encap,
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            return;
        }
        (a, b) => panic!("Encapsulator::new gave {a:?}, validate {b:?}"),
    };
    assert_eq!(encap.config(), &config);
    let at = settings.inner_at();
    let mut buf = vec![0x5a; at];
    buf.extend_from_slice(inner);
    let before = buf.clone();
    let (stack, _) = Stack::decode(inner);
    let tags = stack.vlan_tags().count();
    let end = buf.len();
    let out = match encap.encapsulate(&mut buf, at..end) {
        Ok(out) => out,
        Err(error) => {
            assert_eq!(buf, before, "a refused encapsulation changed the buffer");
            match error.kind {
                ErrorKind::Headroom { .. } | ErrorKind::ExceedsMtu { .. } => {}
                // Bytes too few for an Ethernet header are no frame to send.
                ErrorKind::Truncated { .. } => {
                    assert!(inner.len() < ethernet::HEADER_LEN && error.layer == Layer::Ethernet)
                }
                // Tagged: a decoded tag, or a TPID whose tag is cut short (it counts).
                ErrorKind::InnerVlanTag => assert!(
                    (tags > 0 || stack.ethertype().is_some_and(|t| t.is_vlan_tpid()))
                        && config.inner_vlan != InnerVlanPolicy::Keep
                ),
                _ => panic!("encapsulation refused: {error:?}"),
            }
            return;
        }
    };
    let expected = match config.inner_vlan {
        InnerVlanPolicy::Strip => strip_tags(inner, tags),
        _ => inner.to_vec(),
    };
    assert_eq!(out.end, buf.len());
    assert_eq!(out.len(), encap.overhead() + expected.len());
    let frame = &buf[out.clone()];
    assert_eq!(&frame[encap.overhead()..], &expected[..]);
    check_outer_headers(&config, frame, encap.overhead(), &stack);

    let decap = Decapsulator {
        decoder: Decoder {
            vxlan_ports: VxlanPorts::new(config.vxlan_port),
            ..Decoder::default()
        },
        checksums: Checksums::Verify,
        inner_vlan: InnerVlanPolicy::Keep,
        apply_ecn: true,
        ..Decapsulator::default()
    };
    let mut copy = frame.to_vec();
    match decap.decapsulate(&mut copy) {
        Ok(got) => {
            assert_eq!(
                &copy[got.inner.clone()],
                &expected[..],
                "inner frame changed"
            );
            assert_eq!(got.encapsulation, config.encapsulation);
            assert_eq!(
                (got.outer_src, got.outer_dst),
                (config.src_ip, config.dst_ip)
            );
            assert_eq!(got.ecn_alarm, None, "our own ECN marking raised an alarm");
        }
        Err(error) => panic!("decapsulation refused our own frame: {error:?}"),
    }
}

/// The outer headers of an encapsulated frame say what the config says.
fn check_outer_headers(config: &TunnelConfig, frame: &[u8], overhead: usize, inner: &Stack<'_>) {
    let decoder = Decoder {
        vxlan_ports: VxlanPorts::new(config.vxlan_port),
        ..Decoder::default()
    };
    let (decoded, _) = decoder.decode_partial(frame);
    let outer = decoded.outer;
    let eth = outer.ethernet.expect("outer Ethernet");
    assert_eq!(
        (eth.src_addr(), eth.dst_addr()),
        (config.src_mac, config.dst_mac)
    );
    let tag = outer.vlans[0].map(|t| (t.vid(), t.pcp()));
    assert_eq!(tag, config.outer_vlan.map(|v| (v.vid, v.pcp)));
    let ip = outer.ipv4.expect("outer IPv4");
    assert!(ipv4_checksum_ok(&ip.into_inner()[..ip.header_len()]));
    assert_eq!(
        (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr())),
        (config.src_ip, config.dst_ip)
    );
    assert_eq!((ip.ttl(), ip.dont_frag()), (config.ttl, config.dont_frag));
    if config.dont_frag {
        assert_eq!(ip.ident(), 0, "an atomic datagram has ID 0 (RFC 6864)");
    }
    assert_eq!(outer.l3_offset() + usize::from(ip.total_len()), frame.len());
    assert!(usize::from(ip.total_len()) <= usize::from(config.mtu));
    let inner_tos = inner.traffic_class();
    let dscp = match config.dscp {
        Dscp::Fixed(dscp) => dscp,
        Dscp::CopyInner => inner_tos.map_or(0, |tos| tos >> 2),
    };
    let ecn = match config.ecn {
        EcnMode::Normal => inner_tos.map_or(0, |tos| tos & 3),
        EcnMode::Compatibility => 0,
    };
    assert_eq!((ip.dscp(), ip.ecn()), (dscp, ecn));
    let tunnel = decoded.tunnel.expect("our own frame decodes to a tunnel");
    assert_eq!(tunnel.encapsulation(), config.encapsulation);
    assert_eq!(decoded.inner.offset, overhead);
    match tunnel {
        Tunnel::Vxlan(h) => {
            assert_eq!(VxlanRepr::parse(&h), VxlanRepr::new(h.vni()));
            let udp = outer.udp().expect("VXLAN over UDP");
            assert_eq!(udp.dst_port(), config.vxlan_port);
            let range = config.source_ports;
            assert!((range.lo()..=range.hi()).contains(&udp.src_port()));
            if config.udp_checksum {
                assert!(udp_checksum_ok(&udp, ip.src_addr(), ip.dst_addr()));
            } else {
                assert_eq!(udp.checksum(), 0);
            }
        }
        Tunnel::Nvgre(h) => {
            assert_eq!(h.reserved0(), 0);
            if let FlowId::Fixed(id) = config.flow_id {
                assert_eq!(h.flow_id(), id);
            }
        }
    }
}
