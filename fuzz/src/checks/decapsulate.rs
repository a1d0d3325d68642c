//! The `decapsulate` target: `inspect` and `decapsulate` agree, a failure changes no byte,
//! a success only the inner tags and ECN; the receive rules over either family.

use arbitrary::Arbitrary;
use tunnelwire::Result;
use tunnelwire::packet::Stack;
use tunnelwire::tunnel::{DecapConfig, Decapsulated, Decapsulator, InnerVlanPolicy, TunnelKind};
use tunnelwire::wire::{EtherType, ethernet, vlan};

use super::shared::{InnerVlan, both_checksum_modes, decoder, inner_stack, ovn_understood};
use super::{SETTINGS_LEN, split};
use crate::payload;
use crate::underlay::{ReceiveBits, check_receive_verdict, ipv4_checksum_ok};

#[derive(Debug, Arbitrary)]
pub(super) struct DecapSettings {
    second_port: bool,
    reject_reserved: bool,
    apply_ecn: bool,
    inner_vlan: InnerVlan,
    receive: ReceiveBits,
    /// OVN's option understood: Geneve's common header by the express walk's first
    /// declared key.
    understand_ovn: bool,
}

/// Decapsulation and the read-only `inspect` agree on success or failure (and the
/// error), the segment, the addresses and the ECN alarm; the inner range lies inside the
/// frame; decapsulation changes nothing on failure, and on success only removes the tags
/// `inspect` saw (under `Strip`) and the ECN bits of the inner IP header. The outer
/// packet is accepted or refused as the receive rules say, over either family
/// (`underlay::check_receive_verdict`), and the frame's socket payload decapsulates as
/// the frame does (`payload::check_payload_decap`), as does its IP packet
/// (`check_ip_decap`).
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
            geneve_understood: ovn_understood(settings.understand_ovn),
        });
        let result = check_rewrite(
            &decap,
            frame,
            |bytes| decap.inspect(bytes),
            |bytes| decap.decapsulate(bytes),
        );
        check_receive_verdict(&decap, frame, &result.clone().map(|(found, _)| found));
        payload::check_payload_decap(&decap, frame, &result);
        check_ip_decap(&decap, frame, &result);
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

/// An untagged IPv4 or IPv6 frame's packet, or a tagged frame's tags and packet, as a
/// capture of another link type holds them (`inspect_ip`, `decapsulate_ip`; libpcap puts
/// a tag back after Linux's cooked header), decapsulates as the whole frame `whole` did:
/// the same verdict and error, the same findings, every offset 14 bytes less, the same
/// bytes after the Ethernet header.
fn check_ip_decap(decap: &Decapsulator, frame: &[u8], whole: &Result<(Decapsulated, Vec<u8>)>) {
    let Some((header, packet)) = frame.split_first_chunk::<{ ethernet::HEADER_LEN }>() else {
        return;
    };
    let ethertype = EtherType(u16::from_be_bytes([header[12], header[13]]));
    if ethertype != EtherType::IPV4 && ethertype != EtherType::IPV6 && !ethertype.is_vlan_tpid() {
        return;
    }
    let from_ip = check_rewrite(
        decap,
        packet,
        |bytes| decap.inspect_ip(bytes, ethertype),
        |bytes| decap.decapsulate_ip(bytes, ethertype),
    );
    let shift = |range: &core::ops::Range<usize>| {
        range.start + ethernet::HEADER_LEN..range.end + ethernet::HEADER_LEN
    };
    match (whole, from_ip) {
        (Ok((found, bytes)), Ok((mut ip_found, ip_bytes))) => {
            ip_found.inner = shift(&ip_found.inner);
            ip_found.options = shift(&ip_found.options);
            assert_eq!(
                found, &ip_found,
                "a packet decapsulated otherwise than its frame"
            );
            assert_eq!(&bytes[ethernet::HEADER_LEN..], &ip_bytes[..]);
        }
        (Err(e), Err(ip_e)) => {
            // Some of the tunnel's verdicts on the whole (tags refused...) name no byte:
            // offset 0 in both.
            let moved = match e.offset {
                0 => 0,
                _ => ethernet::HEADER_LEN,
            };
            assert_eq!(
                (e.layer, e.kind, e.offset),
                (ip_e.layer, ip_e.kind, ip_e.offset + moved),
                "a packet refused otherwise than its frame"
            )
        }
        (whole, from_ip) => panic!("the frame: {whole:?}, its packet: {from_ip:?}"),
    }
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
