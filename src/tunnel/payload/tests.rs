//! The payload's express walk held to the general one: payloads as sockets give them,
//! mutated, with every kind of socket report, decapsulated both ways with identical
//! results.

use super::*;
use crate::packet::{Decoder, ReservedPolicy};
use crate::test_rng::Rng;
use crate::tunnel::inner_vlan::InnerVlanPolicy;
use crate::tunnel::{Decapsulator, SourcePolicy};
use core::net::{Ipv4Addr, Ipv6Addr};
use std::vec::Vec;

/// A socket payload: a VXLAN header (now and then with VXLAN-GPE's P bit or reserved
/// bits), an NVGRE one (now and then a reserved VSID) or a Geneve one (no options, OVN's
/// option, another critical or non-critical one, or OVN's and another; now and then the
/// O bit or another protocol type), then an inner Ethernet frame,
/// untagged or tagged, carrying IPv4 (with options now and then), IPv6 or neither, any
/// ECN; half of them with up to three bits flipped, one in ten cut short.
fn payload(rng: &mut Rng, kind: TunnelKind) -> Vec<u8> {
    let mut bytes = match kind {
        TunnelKind::Vxlan => {
            let flags = [0x08, 0x08, 0x08, 0x08, 0x0c, 0x00, 0x09][rng.below(7)];
            let next_protocol = [0, 3][rng.below(2)];
            Vec::from([flags, 0, 0, next_protocol, 0, 0x10, 0x92, 0])
        }
        TunnelKind::Nvgre => {
            let vsid = [0x00_1092, 0x00_1092, 0x00_0001, 0xff_ffff][rng.below(4)];
            let [_, a, b, c] = u32::to_be_bytes(vsid);
            Vec::from([0x20, 0, 0x65, 0x58, a, b, c, 0])
        }
        TunnelKind::Geneve => {
            let ovn = [0x01, 0x02, 0x80, 0x01, 0, 1, 0, 2];
            let options: Vec<u8> = match rng.below(6) {
                0 => Vec::new(),
                1 => Vec::from([0x01, 0x08, 0x81, 0x00]),
                2 => Vec::from([0x01, 0x08, 0x01, 0x01, 7, 7, 7, 7]),
                3 => [&ovn[..], &[0x01, 0x08, 0x01, 0x00]].concat(),
                _ => Vec::from(ovn),
            };
            // The C bit now and then (which changes nothing), the O bit one in four; an
            // IPv4 payload one in four (the general walk's).
            let flags = [0x00, 0x40, 0x00, 0x80][rng.below(4)];
            let protocol = [[0x65, 0x58], [0x65, 0x58], [0x65, 0x58], [0x08, 0x00]][rng.below(4)];
            let mut header = Vec::from([
                (options.len() / 4) as u8,
                flags,
                protocol[0],
                protocol[1],
                0,
                0x10,
                0x92,
                0,
            ]);
            header.extend_from_slice(&options);
            header
        }
    };
    bytes.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, rng.next() as u8]);
    if rng.below(5) == 0 {
        bytes.extend_from_slice(&[0x81, 0x00, 0, 7]);
    }
    let tos = rng.next() as u8;
    let body = 8 + rng.below(40);
    match rng.below(6) {
        0 => {
            bytes.extend_from_slice(&[0x86, 0xdd, 0x60 | tos >> 4, tos << 4, 0, 0]);
            bytes.extend_from_slice(&(body as u16).to_be_bytes());
            bytes.extend((0..34 + body).map(|_| rng.next() as u8));
        }
        1 => bytes.extend((0..body).map(|_| rng.next() as u8)),
        shape => {
            let words = if shape == 2 { 6 } else { 5 };
            let total = (4 * words + body) as u16;
            bytes.extend_from_slice(&[0x08, 0x00, 0x40 | words as u8, tos]);
            bytes.extend_from_slice(&total.to_be_bytes());
            bytes.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
            bytes.extend((0..4 * (words - 5) + body).map(|_| rng.next() as u8));
        }
    }
    if rng.below(2) == 0 {
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(50.min(bytes.len()));
            bytes[at] ^= 1 << rng.below(8);
        }
    }
    if rng.below(10) == 0 {
        bytes.truncate(rng.below(bytes.len()));
    }
    bytes
}

/// What a socket reports: mostly IPv4 both ways (from a source that can be a VTEP or
/// not), else IPv4-mapped, IPv6 or mixed families; any outer ECN.
fn report(rng: &mut Rng) -> SocketOuter {
    let v4 = Ipv4Addr::new([10, 10, 10, 127, 0, 224][rng.below(6)], 0, 0, 1);
    let local = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let (src, dst) = match rng.below(8) {
        0 => (IpAddr::V6(v4.to_ipv6_mapped()), local),
        1 => (
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            local,
        ),
        2 => (
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
        ),
        _ => (IpAddr::V4(v4), local),
    };
    SocketOuter {
        src,
        dst,
        ecn: Ecn::from_bits(rng.next() as u8),
    }
}

/// Wherever the express walk takes a payload, the general walk finds the same, and both
/// rewrite it alike (RFC 6040's ECN, tags stripped); `decapsulate_payload` agrees with
/// both everywhere.
#[test]
fn express_payload_decapsulation_is_the_general_one() {
    let base = DecapConfig::default();
    let configs = [
        base,
        DecapConfig {
            sources: SourcePolicy::AllowLoopback,
            apply_ecn: false,
            ..base
        },
        DecapConfig {
            decoder: Decoder {
                vxlan_reserved: ReservedPolicy::Reject,
                ..Decoder::default()
            },
            inner_vlan: InnerVlanPolicy::Strip,
            ..base
        },
        DecapConfig {
            geneve_understood: UnderstoodOptions::from_slice(&[(0x0102, 0x80)]).unwrap(),
            ..base
        },
    ];
    let mut rng = Rng(0x7e57_0000_0000_0018);
    let (mut tried, mut taken, mut geneve, mut not_ect, mut changed) = (0, 0, 0, 0, 0);
    for _ in 0..30_000 {
        let kind = [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve][rng.below(3)];
        let bytes = payload(&mut rng, kind);
        let outer = report(&mut rng);
        for config in &configs {
            tried += 1;
            let (mut express, mut general, mut public) =
                (bytes.clone(), bytes.clone(), bytes.clone());
            let by_decapsulator =
                Decapsulator::new(*config).decapsulate_payload(&mut public, kind, &outer);
            let mut received = Received::<(), &SocketOuter>::new(config.policy(), &outer);
            let error = config
                .decoder
                .walk_payload(&general, kind, &mut received, Depth::InnerIp)
                .err();
            let slow = config
                .conclude(&received, error, &config.geneve_understood)
                .map(|e| e.rewrite(&mut general));
            assert_eq!(by_decapsulator, slow, "{config:?} {outer:?}: {bytes:02x?}");
            assert_eq!(public, general, "{config:?} {outer:?}");
            let Some(fast) =
                config.express_payload(&express, kind, &outer, &config.geneve_understood)
            else {
                continue;
            };
            taken += 1;
            geneve += usize::from(kind == TunnelKind::Geneve);
            not_ect += usize::from(outer.ecn == Ecn::NotEct);
            let fast = fast.map(|e| e.rewrite(&mut express));
            changed += usize::from(express != bytes);
            assert_eq!(fast, slow, "{config:?} {outer:?}: {bytes:02x?}");
            assert_eq!(express, general, "{config:?} {outer:?}");
        }
    }
    assert!(
        taken > tried / 15 && geneve > 500,
        "{taken} of {tried} taken by the express walk, {geneve} of them Geneve"
    );
    assert!(
        not_ect > 1000 && changed > 300,
        "{not_ect} under an outer Not-ECT, {changed} with their ECN combined"
    );
}
