//! The invariants each fuzz target checks, one public function per target taking the
//! fuzzer's raw input. Shared by the targets in `fuzz/fuzz_targets/` and by
//! `tests/regressions.rs`, which replays committed inputs on stable. What the outer
//! packet must say over either underlay lives in `underlay.rs`; socket payloads against
//! whole frames in `payload.rs`.
//!
//! Checksums: under `cfg(fuzzing)` `verify_checksum` always passes, so the fuzzer reaches
//! what lies behind it; on stable it does not. The tunnel checks therefore run each frame
//! under `Checksums::Verify` and under `Checksums::OffloadedByNic` and require the two to
//! differ by at most a `BadChecksum` refusal (never under the fuzzer): the second run
//! reaches on stable the code the first reaches under the fuzzer, so a replayed input
//! takes the path on which it was found. Where a checksum's value matters, it is summed
//! here directly rather than through `verify_checksum`.
//!
//! Inputs that carry settings start with a fixed-length head ([`SETTINGS_LEN`],
//! [`ENCAP_SETTINGS_LEN`] or `payload::PAYLOAD_SETTINGS_LEN` bytes) read with
//! `arbitrary`; the frame is the rest.

use std::fmt::{Debug, Display};
use std::ops::Range;

use arbitrary::{Arbitrary, Unstructured};
use tunnelwire::packet::{Decoder, Frame, ReservedPolicy, Stack, Transport, Tunnel, VxlanPorts};
use tunnelwire::tunnel::flow::{FlowHash, FlowKey};
use tunnelwire::tunnel::{
    Checksums, DecapConfig, Decapsulated, Decapsulator, Dscp, EcnMode, Encapsulation, Encapsulator,
    FlowId, FlowLabel, InnerVlanPolicy, OuterVlan, PortRange, SourcePolicy, TranslateConfig,
    Translator, TunnelConfig, TunnelKind, UnderstoodOptions,
};
use tunnelwire::wire::{
    EtherType, EthernetFrame, EthernetRepr, GeneveHeader, GeneveOptions, GeneveRepr, IpProtocol,
    Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, MacAddr, NvgreHeader, NvgreRepr, UdpDatagram,
    UdpRepr, VlanId, VlanRepr, VlanTag, Vni, Vsid, VxlanHeader, VxlanRepr, ethernet, geneve, ipv4,
    ipv6, nvgre, udp, vlan, vxlan,
};
use tunnelwire::{AddressField, Error, ErrorKind, Layer, Result};

use crate::payload::{self, PAYLOAD_SETTINGS_LEN, PayloadSettings};
use crate::underlay::{
    DrawnAddress, OuterIp, ReceiveBits, can_be_vtep, carrier, check_receive_verdict,
    ipv4_checksum_ok, outer_tos, udp_checksum_ok, unspecified_destination,
};

/// Bytes of settings in front of the frame for `decapsulate` and `translate`.
pub const SETTINGS_LEN: usize = 16;
/// Bytes of settings in front of the inner frame for `encapsulate`.
pub const ENCAP_SETTINGS_LEN: usize = 96;

/// A target's check: panics when an invariant fails on the input.
pub type Check = fn(&[u8]);

/// The fuzz targets, by name: what `tests/regressions.rs` dispatches on.
pub const TARGETS: [(&str, Check); 6] = [
    ("decode", decode),
    ("header", header),
    ("decapsulate", decapsulate),
    ("translate", translate),
    ("encapsulate", encapsulate),
    ("payload", payload::payload),
];

/// Settings of type `S` from the first `len` bytes (missing bytes read as zero), and the
/// rest of the input.
pub(crate) fn split<'a, S: Arbitrary<'a>>(data: &'a [u8], len: usize) -> (S, &'a [u8]) {
    let (head, rest) = data.split_at(len.min(data.len()));
    let settings = S::arbitrary(&mut Unstructured::new(head))
        .expect("settings of plain fields read from any bytes");
    (settings, rest)
}

/// Where `part` lies inside `whole`; fails unless it lies inside.
pub(crate) fn within(whole: &[u8], part: &[u8]) -> Range<usize> {
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
    fits::<PayloadSettings>(&ones, PAYLOAD_SETTINGS_LEN);
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
        geneve_ports: VxlanPorts::from_slice(&[geneve::PORT, 4789]).expect("two ports"),
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
/// Ethernet frame runs to `end`.
fn check_stack(data: &[u8], stack: &Stack<'_>, end: usize) {
    let Some(eth) = stack.ethernet else {
        // A stack inside Geneve of an IP protocol type starts at IP.
        assert!(stack.vlans.iter().all(Option::is_none));
        assert_eq!(stack.ethertype(), None);
        let start = match (stack.ipv4, stack.ipv6) {
            (Some(ip), None) => within(data, ip.into_inner()).start,
            (None, Some(ip)) => within(data, ip.into_inner()).start,
            (None, None) => {
                assert!(stack.transport.is_none());
                return;
            }
            (Some(_), Some(_)) => panic!("both IPv4 and IPv6 in one stack"),
        };
        assert_eq!((start, stack.l3_offset()), (stack.offset, stack.offset));
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
    match selector % 8 {
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
        6 => {
            if let Ok(view) = GeneveHeader::new_checked(bytes) {
                assert_eq!(view.version(), 0);
                assert_eq!(view.payload().len(), bytes.len() - view.header_len());
                let options: usize = view.options().map(|o| o.as_bytes().len()).sum();
                assert_eq!(options, view.options_len(), "the options fill their area");
                for option in view.options() {
                    assert_eq!(option.data().len() % 4, 0);
                    assert_eq!(option.is_critical(), option.option_type() & 0x80 != 0);
                }
            }
            check_header(
                bytes,
                Layer::Geneve,
                |b| GeneveHeader::new_checked(b).map(|v| GeneveRepr::parse(&v)),
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
// Settings shared by decapsulate, translate and payload

/// An inner VLAN policy, drawn by `arbitrary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub(crate) enum InnerVlan {
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

/// The decoder that finds the tunnel `config` sends: its VXLAN port, or for Geneve its
/// Geneve port (VXLAN's left at 4789, so a drawn VXLAN port cannot take Geneve's).
pub(crate) fn decoder_for(config: &TunnelConfig) -> Decoder {
    match config.encapsulation {
        Encapsulation::Geneve(_) => Decoder {
            geneve_ports: VxlanPorts::new(config.geneve_port),
            ..Decoder::default()
        },
        _ => Decoder {
            vxlan_ports: VxlanPorts::new(config.vxlan_port),
            ..Decoder::default()
        },
    }
}

/// The stack of what decapsulation found: an Ethernet frame, or a Geneve IP payload.
fn inner_stack(inner: &[u8], protocol: EtherType) -> Stack<'_> {
    match protocol {
        EtherType::TRANSPARENT_ETHERNET_BRIDGING => Stack::decode(inner).0,
        ip => Stack::decode_ip(inner, ip).0,
    }
}

/// Options drawn for a Geneve encapsulator or translator: one of `words` 4-byte words,
/// critical as drawn or never.
fn drawn_options(option: Option<(u16, u8, u8)>, critical_allowed: bool) -> GeneveOptions {
    let mut options = GeneveOptions::new();
    if let Some((class, option_type, words)) = option {
        let option_type = if critical_allowed {
            option_type
        } else {
            option_type & 0x7f
        };
        let data: Vec<u8> = (0..usize::from(words % 32) * 4).map(|i| i as u8).collect();
        options
            .push(class, option_type, &data)
            .expect("at most 124 bytes of data");
    }
    options
}

/// The critical options of `options`, declared understood.
fn understanding(options: &GeneveOptions) -> UnderstoodOptions {
    let critical: Vec<(u16, u8)> = options
        .iter()
        .filter(|o| o.is_critical())
        .map(|o| (o.class(), o.option_type()))
        .collect();
    UnderstoodOptions::from_slice(&critical).expect("at most one drawn option")
}

/// A decoder: VXLAN on 4789, or on 4789 and 8472; reserved bits ignored or rejected.
pub(crate) fn decoder(second_port: bool, reject_reserved: bool) -> Decoder {
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
        ..Decoder::default()
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
    receive: ReceiveBits,
}

/// Decapsulation and the read-only `inspect` agree on success or failure (and the
/// error), the segment, the addresses and the ECN alarm; the inner range lies inside the
/// frame; decapsulation changes nothing on failure, and on success only removes the tags
/// `inspect` saw (under `Strip`) and the ECN bits of the inner IP header. The outer
/// packet is accepted or refused as the receive rules say, over either family
/// (`underlay::check_receive_verdict`), and the frame's socket payload decapsulates as
/// the frame does (`payload::check_payload_decap`).
pub fn decapsulate(data: &[u8]) {
    let (settings, frame): (DecapSettings, _) = split(data, SETTINGS_LEN);
    let _ = both_checksum_modes(|checksums| {
        let decap = Decapsulator::new(DecapConfig {
            decoder: decoder(settings.second_port, settings.reject_reserved),
            checksums,
            sources: settings.receive.sources(),
            udp6_zero_checksum_rx: settings.receive.udp6_zero_rx(),
            inner_vlan: settings.inner_vlan.into(),
            apply_ecn: settings.apply_ecn,
            geneve_understood: UnderstoodOptions::NONE,
        });
        let result = check_rewrite(
            &decap,
            frame,
            |bytes| decap.inspect(bytes),
            |bytes| decap.decapsulate(bytes),
        );
        check_receive_verdict(&decap, frame, &result.clone().map(|(found, _)| found));
        payload::check_payload_decap(&decap, frame, &result);
        // In a batch (twice over, so the second's result cannot come from the first's),
        // the frame decapsulates as by itself.
        let mut batch = [frame.to_vec(), frame.to_vec()];
        let mut found = Vec::new();
        decap.decapsulate_each(batch.iter_mut().map(Vec::as_mut_slice), |bytes, result| {
            found.push(result.map(|found| (found, bytes.to_vec())));
        });
        assert_eq!(
            found,
            [result.clone(), result.clone()],
            "a batch decapsulated otherwise"
        );
        result
    });
}

/// `inspect` and `decapsulate` (of a whole frame, or of a socket payload) on `bytes`:
/// they agree, a failure changes no byte and lies inside the bytes, and a success
/// changes only the inner tags it strips and the inner ECN. Returns what `decapsulate`
/// found and the bytes it left.
pub(crate) fn check_rewrite(
    decap: &Decapsulator,
    bytes: &[u8],
    inspect: impl Fn(&[u8]) -> Result<Decapsulated>,
    decapsulate: impl Fn(&mut [u8]) -> Result<Decapsulated>,
) -> Result<(Decapsulated, Vec<u8>)> {
    let inspected = inspect(bytes);
    let mut buf = bytes.to_vec();
    let result = decapsulate(&mut buf);
    let (seen, out) = match (inspected, result) {
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "inspect and decapsulate fail differently");
            assert_eq!(buf, bytes, "a failed decapsulation changed the bytes");
            assert!(a.offset <= bytes.len(), "{a:?}");
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
    assert!(seen.inner.start <= out.inner.start && out.inner.end <= bytes.len());
    assert_eq!(seen.inner.end, out.inner.end);
    let stripped = out.inner.start - seen.inner.start;
    assert_eq!(
        (seen.protocol, seen.options.clone()),
        (out.protocol, out.options.clone())
    );
    assert!(seen.options.end <= seen.inner.start);
    let ethernet_payload = seen.protocol == EtherType::TRANSPARENT_ETHERNET_BRIDGING;
    if decap.config().inner_vlan == InnerVlanPolicy::Strip && ethernet_payload {
        let (seen_stack, _) = Stack::decode(&bytes[seen.inner.clone()]);
        assert_eq!(stripped, vlan::HEADER_LEN * seen_stack.vlan_tags().count());
    } else {
        assert_eq!(
            stripped,
            0,
            "tags removed under {:?}",
            decap.config().inner_vlan
        );
    }
    if ethernet_payload {
        assert!(out.inner.len() >= ethernet::HEADER_LEN);
    } else {
        assert_eq!(
            seen.kind(),
            TunnelKind::Geneve,
            "an IP payload outside Geneve"
        );
        assert!(
            Stack::decode_ip(&bytes[seen.inner.clone()], seen.protocol)
                .0
                .traffic_class()
                .is_some()
        );
    }

    // The inner frame inspect saw, its tags removed...
    let seen_inner = &bytes[seen.inner.clone()];
    let mut expected = seen_inner[..ethernet::ADDRS_LEN.min(seen_inner.len())].to_vec();
    expected
        .extend_from_slice(&seen_inner[(ethernet::ADDRS_LEN + stripped).min(seen_inner.len())..]);
    // ...and at most the ECN bits of its IP header (and the IPv4 checksum) changed.
    let got = &buf[out.inner.clone()];
    let stack = inner_stack(&expected, seen.protocol);
    let l3 = stack.l3_offset();
    let ecn_bytes: &[usize] = match (stack.ipv4, stack.ipv6) {
        (Some(_), _) => &[l3 + 1, l3 + 10, l3 + 11],
        (_, Some(_)) => &[l3 + 1],
        _ => &[],
    };
    for (i, (a, b)) in got.iter().zip(&expected).enumerate() {
        if a != b {
            assert!(
                decap.config().apply_ecn && ecn_bytes.contains(&i),
                "byte {i} changed"
            );
        }
    }
    if let Some(ip) = stack.ipv4.filter(|_| decap.config().apply_ecn) {
        let header = l3..l3 + ip.header_len();
        assert_eq!(
            ipv4_checksum_ok(&expected[header.clone()]),
            ipv4_checksum_ok(&got[header]),
            "the ECN rewrite changed whether the inner IPv4 checksum is right"
        );
    }
    if decap.config().inner_vlan != InnerVlanPolicy::Strip && !decap.config().apply_ecn {
        assert_eq!(buf, bytes, "nothing to rewrite, yet the bytes changed");
    }
    Ok((out, buf))
}

// ---------------------------------------------------------------------------------------
// translate

#[derive(Debug, Arbitrary)]
struct TranslateSettings {
    /// VXLAN, NVGRE or Geneve, by its value modulo 3; the rest of it (divided by 3,
    /// modulo 33) draws the translator's Geneve option: none, or one of 0-31 words (never
    /// critical: the translator's own reader would refuse it). One byte for both: the
    /// settings fill their 16.
    to: u8,
    second_port: bool,
    reject_reserved: bool,
    udp_checksum: bool,
    symmetric_hash: bool,
    fixed_flow_id: Option<u8>,
    inner_vlan: InnerVlan,
    small_mtu: Option<u16>,
    headroom: u8,
    receive: ReceiveBits,
}

/// Translation to the drawn kind, then back to the frame's own kind: the frame is
/// accepted or refused as the receive rules say; each output lies inside the buffer,
/// decapsulates to the original segment and the original inner frame (tags stripped
/// under `Strip`), keeps the outer Ethernet header, tags and IP header but for the
/// lengths, protocol and IPv4 checksum (which stays exactly as right as it was), carries
/// the flow's source port or FlowID and a UDP checksum that sums right unless sent as
/// zero; a refused translation leaves the buffer as it was.
pub fn translate(data: &[u8]) {
    let (settings, frame): (TranslateSettings, _) = split(data, SETTINGS_LEN);
    let _ = both_checksum_modes(|checksums| {
        let translator = Translator::new(TranslateConfig {
            decoder: decoder(settings.second_port, settings.reject_reserved),
            checksums,
            sources: settings.receive.sources(),
            udp6_zero_checksum_rx: settings.receive.udp6_zero_rx(),
            udp_checksum: settings.udp_checksum,
            udp6_zero_checksum_tx: settings.receive.udp6_zero_tx(),
            symmetric_hash: settings.symmetric_hash,
            flow_id: settings.fixed_flow_id.map_or(FlowId::Hash, FlowId::Fixed),
            inner_vlan: settings.inner_vlan.into(),
            mtu: settings.small_mtu.unwrap_or(9000),
            geneve_options: drawn_options(
                (settings.to / 3 % 33)
                    .checked_sub(1)
                    .map(|words| (0x0108, 1, words)),
                false,
            ),
            ..TranslateConfig::default()
        })
        .unwrap();
        let to = [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve]
            [usize::from(settings.to % 3)];
        check_translate(&translator, frame, usize::from(settings.headroom % 17), to)
    });
}

/// What the receiving side makes of a frame under the translator's settings: its tunnel
/// and inner frame, tags kept and bytes untouched; it takes a zero UDP checksum over
/// IPv6 when `udp6_zero_checksum_rx` says.
fn reader(translator: &Translator, udp6_zero_checksum_rx: bool) -> Decapsulator {
    Decapsulator::new(DecapConfig {
        decoder: translator.config().decoder,
        checksums: translator.config().checksums,
        sources: translator.config().sources,
        udp6_zero_checksum_rx,
        inner_vlan: InnerVlanPolicy::Keep,
        apply_ecn: false,
        geneve_understood: translator.config().geneve_understood,
    })
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
    let receiver = reader(translator, translator.config().udp6_zero_checksum_rx);
    let seen = receiver.inspect(frame);
    check_receive_verdict(&receiver, frame, &seen);
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
    let received_inner = &frame[seen.inner.clone()];
    let stack = inner_stack(received_inner, seen.protocol);
    let tags = stack.vlan_tags().count();
    let expected = match translator.config().inner_vlan {
        InnerVlanPolicy::Strip => strip_tags(received_inner, tags),
        _ => received_inner.to_vec(),
    };
    let accepted = AcceptedFrame {
        translator,
        original: frame,
        seen: &seen,
        inner: &expected,
    };
    accepted.check(&buf, out.clone(), to, received_inner);
    assert_eq!(out.end, headroom + seen.inner.end, "the inner frame moved");

    // And back to the frame's own kind, hashing the inner frame as it now is.
    let there = buf.clone();
    match translator.translate(&mut buf, out.clone(), seen.kind()) {
        Ok(back) => {
            accepted.check(&buf, back.clone(), seen.kind(), &expected);
            assert_eq!(back.end, out.end);
        }
        Err(error) => {
            assert_eq!(buf, there, "a refused translation changed the buffer");
            // Room and size differ between the two kinds, and NVGRE refuses to keep tags.
            // A TPID whose tag is cut short counts as a tag.
            let tagged = tags > 0 || stack.ethertype().is_some_and(|t| t.is_vlan_tpid());
            let keeps_tags = translator.config().inner_vlan == InnerVlanPolicy::Keep && tagged;
            // VXLAN or Geneve sent over IPv6 with a zero UDP checksum comes back only to a
            // translator that takes one.
            let sent_zero = to != TunnelKind::Nvgre
                && seen.outer_src.is_ipv6()
                && translator.config().udp6_zero_checksum_tx
                && !translator.config().udp6_zero_checksum_rx;
            assert!(
                matches!(
                    error.kind,
                    ErrorKind::Headroom { .. } | ErrorKind::ExceedsMtu { .. }
                ) || (keeps_tags && error.kind == ErrorKind::InnerVlanTag)
                    || (sent_zero && error.kind == ErrorKind::ZeroChecksum),
                "translated one way but not back: {error:?}"
            );
        }
    }
    Ok(buf)
}

/// A frame the translator accepted: what each of its translations must carry.
struct AcceptedFrame<'a> {
    translator: &'a Translator,
    /// The frame as received.
    original: &'a [u8],
    /// What the receiving side found in it.
    seen: &'a Decapsulated,
    /// Its inner frame once translated: tags stripped under `Strip`.
    inner: &'a [u8],
}

impl AcceptedFrame<'_> {
    /// A translation to `to` at `buf[out]` of a frame whose inner frame was `hashed`:
    /// inside the buffer, of kind `to`, carrying the segment, addresses and inner frame
    /// the original did; the original's outer Ethernet header, tags and IP header but for
    /// what a translation rewrites, with lengths that end with the frame; the flow's
    /// source port or FlowID; a UDP checksum that sums right unless sent as zero.
    fn check(&self, buf: &[u8], out: Range<usize>, to: TunnelKind, hashed: &[u8]) {
        let translator = self.translator;
        assert!(out.start <= out.end && out.end <= buf.len(), "{out:?}");
        let frame = &buf[out.clone()];
        let got = reader(translator, translator.config().udp6_zero_checksum_tx)
            .inspect(frame)
            .unwrap_or_else(|e| panic!("a translated frame does not decapsulate: {e:?}"));
        assert_eq!(got.kind(), to);
        assert_eq!(got.segment(), self.seen.segment());
        assert_eq!(
            (got.outer_src, got.outer_dst),
            (self.seen.outer_src, self.seen.outer_dst)
        );
        assert_eq!(&frame[got.inner.clone()], self.inner);
        assert_eq!(
            got.inner.end,
            frame.len(),
            "padding after the outer packet kept"
        );

        let (stack, _) = Stack::decode(frame);
        let (original, _) = Stack::decode(self.original);
        let l3 = stack.l3_offset();
        assert_eq!(&frame[..l3], &self.original[..original.l3_offset()]);
        let ip = OuterIp::of(&stack).expect("an outer IP header");
        let was = OuterIp::of(&original).expect("an outer IP header");
        assert_eq!(ip.header().len(), was.header().len());
        for (i, (a, b)) in ip.header().iter().zip(was.header()).enumerate() {
            assert!(
                a == b || ip.rewritten_bytes().contains(&i),
                "outer IP header byte {i} changed"
            );
        }
        if let (OuterIp::V4(_), OuterIp::V4(_)) = (ip, was) {
            assert_eq!(
                ipv4_checksum_ok(ip.header()),
                ipv4_checksum_ok(was.header()),
                "the IPv4 checksum is not exactly as right as it was"
            );
        }
        assert_eq!(ip.protocol(), carrier(to == TunnelKind::Nvgre));
        assert_eq!(l3 + ip.packet_len(), frame.len());
        assert!(ip.packet_len() <= usize::from(translator.config().mtu));

        let hash = match self.seen.protocol {
            EtherType::TRANSPARENT_ETHERNET_BRIDGING => {
                flow_hash(hashed, translator.config().symmetric_hash)
            }
            ip => {
                let key = FlowKey::from_ip_packet(hashed, ip);
                if translator.config().symmetric_hash {
                    key.symmetric()
                } else {
                    key
                }
                .hash()
            }
        };
        assert_eq!(got.protocol, self.seen.protocol);
        match translator.config().decoder.decode_partial(frame).0.tunnel {
            Some(Tunnel::Vxlan(h)) => {
                assert_eq!(VxlanRepr::parse(&h), VxlanRepr::new(h.vni()));
                let udp = stack.udp().expect("VXLAN over UDP");
                assert_eq!(udp.dst_port(), translator.config().vxlan_port);
                assert_eq!(
                    udp.src_port(),
                    hash.source_port(translator.config().source_ports)
                );
                assert_eq!(within(frame, udp.into_inner()).end, frame.len());
                let zero = match ip {
                    OuterIp::V4(_) => !translator.config().udp_checksum,
                    OuterIp::V6(_) => translator.config().udp6_zero_checksum_tx,
                };
                check_udp_checksum(&ip, &udp, zero);
            }
            Some(Tunnel::Nvgre(h)) => {
                let flow_id = match translator.config().flow_id {
                    FlowId::Fixed(id) => id,
                    FlowId::Hash => hash.flow_id(),
                };
                assert_eq!(NvgreRepr::parse(&h), NvgreRepr::new(h.vsid(), flow_id));
            }
            Some(Tunnel::Geneve(h)) => {
                let expected = GeneveRepr::new(h.vni(), self.seen.protocol)
                    .with_options(translator.config().geneve_options);
                assert_eq!(GeneveRepr::parse(&h), expected);
                let udp = stack.udp().expect("Geneve over UDP");
                assert_eq!(udp.dst_port(), translator.config().geneve_port);
                assert_eq!(
                    udp.src_port(),
                    hash.source_port(translator.config().source_ports)
                );
                assert_eq!(within(frame, udp.into_inner()).end, frame.len());
                let zero = match ip {
                    OuterIp::V4(_) => !translator.config().udp_checksum,
                    OuterIp::V6(_) => translator.config().udp6_zero_checksum_tx,
                };
                check_udp_checksum(&ip, &udp, zero);
            }
            None => panic!("a translated frame without a tunnel"),
        }
    }
}

/// The flow hash encapsulation and translation give an inner frame: of its key, or of
/// the key's symmetric form.
fn flow_hash(inner: &[u8], symmetric: bool) -> FlowHash {
    let key = FlowKey::from_frame(inner);
    if symmetric { key.symmetric() } else { key }.hash()
}

/// A tunnel's UDP checksum under `ip` is zero when sent as zero (`zero`), and otherwise
/// non-zero and right.
fn check_udp_checksum(ip: &OuterIp<'_>, udp: &UdpDatagram<&[u8]>, zero: bool) {
    if zero {
        assert_eq!(udp.checksum(), 0, "a UDP checksum where zero was asked for");
    } else {
        assert_ne!(udp.checksum(), 0, "no UDP checksum where one was asked for");
        assert!(
            udp_checksum_ok(ip.src(), ip.dst(), udp),
            "a wrong UDP checksum"
        );
    }
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
    /// VXLAN, NVGRE or Geneve, by its value modulo 3.
    kind: u8,
    /// A Geneve option of the template.
    geneve_option: Option<(u16, u8, u8)>,
    segment: u32,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    outer_vlan: Option<(u16, u8)>,
    family: u8,
    src_ip: DrawnAddress,
    dst_ip: DrawnAddress,
    allow_loopback: bool,
    ttl: u8,
    dont_frag: bool,
    dscp: Option<u8>,
    ecn_compatibility: bool,
    fixed_flow_id: Option<u8>,
    fixed_flow_label: Option<u32>,
    inner_vlan: InnerVlan,
    vxlan_port: u16,
    source_ports: (u16, u16),
    udp_checksum: bool,
    udp6_zero_checksum_tx: bool,
    symmetric_hash: bool,
    mtu: u16,
    headroom: u8,
}

impl EncapSettings {
    /// The config, or the error of a value that cannot even be built (a segment over 24
    /// bits).
    fn config(&self) -> Result<TunnelConfig> {
        let segment = self.segment % (Vni::MAX + 0x100);
        let encapsulation = match self.kind % 3 {
            0 => Encapsulation::Vxlan(Vni::new(segment)?),
            1 => Encapsulation::Nvgre(Vsid::new(segment)?),
            _ => Encapsulation::Geneve(Vni::new(segment)?),
        };
        // IPv4 or IPv6, about evenly; one in eight of two families, which `validate`
        // refuses.
        let (src_v6, dst_v6) = match self.family % 16 {
            0 => (false, true),
            1 => (true, false),
            2..=8 => (false, false),
            _ => (true, true),
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
            src_ip: self.src_ip.address(src_v6),
            dst_ip: self.dst_ip.address(dst_v6),
            sources: if self.allow_loopback {
                SourcePolicy::AllowLoopback
            } else {
                SourcePolicy::RoutableOnly
            },
            ttl: self.ttl,
            dont_frag: self.dont_frag,
            dscp: self.dscp.map_or(Dscp::CopyInner, |d| Dscp::Fixed(d % 65)),
            ecn: if self.ecn_compatibility {
                EcnMode::Compatibility
            } else {
                EcnMode::Normal
            },
            flow_id: self.fixed_flow_id.map_or(FlowId::Hash, FlowId::Fixed),
            // A few past 20 bits, which `validate` refuses.
            flow_label: self
                .fixed_flow_label
                .map_or(FlowLabel::Hash, |label| FlowLabel::Fixed(label % 0x10_0100)),
            inner_vlan: self.inner_vlan.into(),
            vxlan_port: self.vxlan_port,
            geneve_port: geneve::PORT,
            geneve_options: drawn_options(self.geneve_option, true),
            source_ports: PortRange::new(lo.min(hi), lo.max(hi))?,
            udp_checksum: self.udp_checksum,
            udp6_zero_checksum_tx: self.udp6_zero_checksum_tx,
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

/// Encapsulation with settings drawn from the input, then decapsulation: `validate`
/// refuses the addresses exactly as the rules say, and the config is refused by
/// `Encapsulator::new` exactly when `validate` refuses it; a refused frame leaves the
/// buffer as it was; otherwise the outer headers carry the settings over the configured
/// family, the checksums sum right, and decapsulation gives back the inner frame byte for
/// byte (its tags stripped under `Strip`), from the whole frame and from its socket
/// payload alike. `encapsulate_payload` writes the tail of the frame
/// (`payload::check_payload_encap`).
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
    let validated = config.validate();
    check_address_rules(&config, validated);
    let mut encap = match (Encapsulator::new(config), validated) {
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
    let strip_len = match config.inner_vlan {
        InnerVlanPolicy::Strip => tags * vlan::HEADER_LEN,
        _ => 0,
    };
    let end = buf.len();
    let out = match encap.encapsulate(&mut buf, at..end) {
        Ok(out) => out,
        Err(error) => {
            assert_eq!(buf, before, "a refused encapsulation changed the buffer");
            match error.kind {
                // Room for the outer headers before the inner frame, its tags stripped.
                ErrorKind::Headroom { needed, available } => {
                    assert_eq!((needed, available), (encap.overhead(), at + strip_len));
                    assert!(available < needed);
                }
                // The outer IP packet that would have been sent, over the MTU.
                ErrorKind::ExceedsMtu { len, mtu } => {
                    let tag_len = config.outer_vlan.map_or(0, |_| vlan::HEADER_LEN);
                    let ip_len =
                        encap.overhead() - ethernet::HEADER_LEN - tag_len + inner.len() - strip_len;
                    assert_eq!((len, mtu), (ip_len, config.mtu));
                    assert!(len > usize::from(mtu));
                }
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
            payload::check_payload_encap(&mut encap, &before, at..end, Err(error), strip_len);
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
    let hash = flow_hash(inner, config.symmetric_hash);
    check_outer_headers(&config, frame, encap.overhead(), &stack, hash);
    payload::check_payload_encap(
        &mut encap,
        &before,
        at..end,
        Ok((out.clone(), &buf)),
        strip_len,
    );

    let decap = Decapsulator::new(DecapConfig {
        decoder: decoder_for(&config),
        checksums: Checksums::Verify,
        sources: config.sources,
        udp6_zero_checksum_rx: config.udp6_zero_checksum_tx,
        inner_vlan: InnerVlanPolicy::Keep,
        apply_ecn: true,
        geneve_understood: understanding(&config.geneve_options),
    });
    let mut copy = frame.to_vec();
    let got = decap
        .decapsulate(&mut copy)
        .unwrap_or_else(|error| panic!("decapsulation refused our own frame: {error:?}"));
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
    payload::check_payload_decap(&decap, frame, &Ok((got, copy)));
}

/// `validate` refuses the addresses exactly as the rules say, the first rule broken
/// first: two families (`MixedFamilies`), a source that cannot be a VTEP under the
/// policy, an unspecified destination; as a setting, with no byte offset. Nothing else
/// about an address is refused (a multicast destination floods to a group, RFC 7348
/// section 4.2).
fn check_address_rules(config: &TunnelConfig, validated: Result<()>) {
    let (src, dst) = (config.src_ip, config.dst_ip);
    let broken = if src.is_ipv4() != dst.is_ipv4() {
        Some(ErrorKind::MixedFamilies)
    } else if !can_be_vtep(src, config.sources) {
        Some(ErrorKind::BadAddress {
            field: AddressField::Source,
            address: src,
        })
    } else if unspecified_destination(dst) {
        Some(ErrorKind::BadAddress {
            field: AddressField::Destination,
            address: dst,
        })
    } else {
        None
    };
    match (broken, validated) {
        (Some(kind), Err(error)) => {
            assert_eq!((error.layer, error.kind), (Layer::Tunnel, kind));
            assert!(
                !error.has_offset(),
                "a setting's error at a byte: {error:?}"
            );
        }
        (Some(kind), Ok(())) => panic!("validate took what breaks a rule: {kind:?}"),
        (None, Err(error)) => assert!(
            !matches!(
                error.kind,
                ErrorKind::BadAddress { .. } | ErrorKind::MixedFamilies
            ),
            "validate refused addresses that break no rule: {error:?}"
        ),
        (None, Ok(())) => {}
    }
}

/// The outer headers of an encapsulated frame say what the config says, over its family:
/// MACs, tag, addresses, lengths that end with the frame and fit the MTU, the outer TOS or
/// traffic class by the DSCP and ECN rules; IPv4 with a right checksum, TTL and DF (ID 0
/// when set); IPv6 with the hop limit and the flow label (the fixed one, or 20 bits of
/// the flow hash and never 0), no extension header; VXLAN with its ports (the source
/// from the flow hash) and a checksum that sums right unless sent as zero; NVGRE with its
/// FlowID.
fn check_outer_headers(
    config: &TunnelConfig,
    frame: &[u8],
    overhead: usize,
    inner: &Stack<'_>,
    hash: FlowHash,
) {
    let (decoded, _) = decoder_for(config).decode_partial(frame);
    let outer = decoded.outer;
    let eth = outer.ethernet.expect("outer Ethernet");
    assert_eq!(
        (eth.src_addr(), eth.dst_addr()),
        (config.src_mac, config.dst_mac)
    );
    let tag = outer.vlans[0].map(|t| (t.vid(), t.pcp()));
    assert_eq!(tag, config.outer_vlan.map(|v| (v.vid, v.pcp)));
    let ip = OuterIp::of(&outer).expect("an outer IP header");
    assert_eq!((ip.src(), ip.dst()), (config.src_ip, config.dst_ip));
    assert_eq!(outer.l3_offset() + ip.packet_len(), frame.len());
    assert!(ip.packet_len() <= usize::from(config.mtu));
    let tos = outer_tos(config.dscp, config.ecn, inner.traffic_class());
    assert_eq!(ip.traffic_class(), tos);
    let nvgre = matches!(config.encapsulation, Encapsulation::Nvgre(_));
    assert_eq!(ip.protocol(), carrier(nvgre), "not UDP or GRE next");
    match ip {
        OuterIp::V4(v4) => {
            assert_eq!(v4.header_len(), ipv4::HEADER_LEN);
            assert!(ipv4_checksum_ok(ip.header()));
            assert_eq!((v4.ttl(), v4.dont_frag()), (config.ttl, config.dont_frag));
            if config.dont_frag {
                assert_eq!(v4.ident(), 0, "an atomic datagram has ID 0 (RFC 6864)");
            }
        }
        OuterIp::V6(v6) => {
            assert_eq!(v6.version(), 6);
            assert_eq!(v6.hop_limit(), config.ttl);
            let label = v6.flow_label();
            match config.flow_label {
                FlowLabel::Fixed(fixed) => assert_eq!(label, fixed),
                // RFC 6438: 20 bits of the flow hash, but never 0, which is "no label"
                // (RFC 6437 section 2).
                FlowLabel::Hash => {
                    let bits = hash.0 as u32 & 0xf_ffff;
                    assert_ne!(label, 0, "a hashed flow label of 0");
                    assert!(
                        label == bits || bits == 0,
                        "flow label {label:#x} of {hash:?}"
                    );
                }
            }
        }
    }
    let tunnel = decoded.tunnel.expect("our own frame decodes to a tunnel");
    assert_eq!(tunnel.encapsulation(), config.encapsulation);
    assert_eq!(decoded.inner.offset, overhead);
    match tunnel {
        Tunnel::Vxlan(h) => {
            assert_eq!(VxlanRepr::parse(&h), VxlanRepr::new(h.vni()));
            let udp = outer.udp().expect("VXLAN over UDP");
            assert_eq!(udp.dst_port(), config.vxlan_port);
            assert_eq!(udp.src_port(), hash.source_port(config.source_ports));
            assert_eq!(within(frame, udp.into_inner()).end, frame.len());
            let zero = match ip {
                OuterIp::V4(_) => !config.udp_checksum,
                OuterIp::V6(_) => config.udp6_zero_checksum_tx,
            };
            check_udp_checksum(&ip, &udp, zero);
        }
        Tunnel::Nvgre(h) => {
            let flow_id = match config.flow_id {
                FlowId::Fixed(id) => id,
                FlowId::Hash => hash.flow_id(),
            };
            assert_eq!(NvgreRepr::parse(&h), NvgreRepr::new(h.vsid(), flow_id));
        }
        Tunnel::Geneve(h) => {
            let expected = GeneveRepr::new(h.vni(), EtherType::TRANSPARENT_ETHERNET_BRIDGING)
                .with_options(config.geneve_options);
            assert_eq!(GeneveRepr::parse(&h), expected);
            let udp = outer.udp().expect("Geneve over UDP");
            assert_eq!(udp.dst_port(), config.geneve_port);
            assert_eq!(udp.src_port(), hash.source_port(config.source_ports));
            assert_eq!(within(frame, udp.into_inner()).end, frame.len());
            let zero = match ip {
                OuterIp::V4(_) => !config.udp_checksum,
                OuterIp::V6(_) => config.udp6_zero_checksum_tx,
            };
            check_udp_checksum(&ip, &udp, zero);
        }
    }
}
