//! What the tunnel checks share (`decapsulate`, `translate`, `encapsulate`, and the
//! payload checks): drawn policies and Geneve options, the decoders, both checksum modes,
//! the flow hash, the tunnel's UDP header and tags stripped.

use std::fmt::Debug;

use arbitrary::Arbitrary;
use tunnelwire::packet::{Decoder, ReservedPolicy, Stack, VxlanPorts};
use tunnelwire::tunnel::flow::{FlowHash, FlowKey};
use tunnelwire::tunnel::{
    Checksums, Encapsulation, InnerVlanPolicy, TunnelConfig, UnderstoodOptions,
};
use tunnelwire::wire::{EtherType, GeneveOptions, UdpDatagram, ethernet, vlan, vxlan};
use tunnelwire::{Error, ErrorKind, Result};

use super::within;
use crate::underlay::{OuterIp, udp_checksum_ok};

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
pub(super) fn inner_stack(inner: &[u8], protocol: EtherType) -> Stack<'_> {
    match protocol {
        EtherType::TRANSPARENT_ETHERNET_BRIDGING => Stack::decode(inner).0,
        ip => Stack::decode_ip(inner, ip).0,
    }
}

/// Options drawn for a Geneve encapsulator or translator: one of `words` 4-byte words,
/// critical as drawn or never.
pub(super) fn drawn_options(
    option: Option<(u16, u8, u8)>,
    critical_allowed: bool,
) -> GeneveOptions {
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

/// OVN's option (class 0x0102, type 0x80) declared understood, or none: a receiver
/// whose Geneve common header the express walks test against its first declared key.
pub(crate) fn ovn_understood(declared: bool) -> UnderstoodOptions {
    if declared {
        UnderstoodOptions::from_slice(&[(0x0102, 0x80)]).expect("one option")
    } else {
        UnderstoodOptions::NONE
    }
}

/// The critical options of `options`, declared understood.
pub(super) fn understanding(options: &GeneveOptions) -> UnderstoodOptions {
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
pub(super) fn both_checksum_modes<T: PartialEq + Debug>(
    run: impl Fn(Checksums) -> Result<T>,
) -> Result<T> {
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

/// The flow hash encapsulation and translation give an inner frame: of its key, or of
/// the key's symmetric form.
pub(super) fn flow_hash(inner: &[u8], symmetric: bool) -> FlowHash {
    let key = FlowKey::from_frame(inner);
    if symmetric { key.symmetric() } else { key }.hash()
}

/// A tunnel's UDP header (VXLAN's or Geneve's) in `frame` as the settings write it: to
/// the tunnel's `port`, from the flow's `source_port`, running to the frame's end, its
/// checksum zero where the settings send zero (`zero`: over IPv4, over IPv6), else
/// non-zero and right.
pub(super) fn check_tunnel_udp(
    frame: &[u8],
    ip: &OuterIp<'_>,
    udp: UdpDatagram<&[u8]>,
    port: u16,
    source_port: u16,
    zero: (bool, bool),
) {
    assert_eq!(udp.dst_port(), port);
    assert_eq!(udp.src_port(), source_port);
    assert_eq!(within(frame, udp.into_inner()).end, frame.len());
    let zero = match ip {
        OuterIp::V4(_) => zero.0,
        OuterIp::V6(_) => zero.1,
    };
    if zero {
        assert_eq!(udp.checksum(), 0, "a UDP checksum where zero was asked for");
    } else {
        assert_ne!(udp.checksum(), 0, "no UDP checksum where one was asked for");
        assert!(
            udp_checksum_ok(ip.src(), ip.dst(), &udp),
            "a wrong UDP checksum"
        );
    }
}

/// `frame` without its first `tags` VLAN tags.
pub(super) fn strip_tags(frame: &[u8], tags: usize) -> Vec<u8> {
    if tags == 0 {
        return frame.to_vec();
    }
    let mut out = frame[..ethernet::ADDRS_LEN].to_vec();
    out.extend_from_slice(&frame[ethernet::ADDRS_LEN + tags * vlan::HEADER_LEN..]);
    out
}
