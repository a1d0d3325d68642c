//! The express walks held to the general ones: frames an encapsulator wrote, mutated,
//! decapsulated, translated and walked both ways with identical results.

use super::*;
use crate::ErrorKind;
use crate::packet::{ReservedPolicy, TunnelPorts};
use crate::tunnel::flow::PortRange;
use crate::tunnel::inner_vlan::InnerVlanPolicy;
use crate::tunnel::{
    DecapConfig, Decapsulator, FlowId, SourcePolicy, TranslateConfig, Translator, TunnelKind,
    UnderstoodOptions,
};
use corpus::{Rng, frames, inner_frame};
use std::vec::Vec;

/// The translators the frames meet: the defaults and each setting moved.
fn translators() -> Vec<TranslateConfig> {
    let base = TranslateConfig::default();
    Vec::from([
        base,
        TranslateConfig {
            checksums: Checksums::OffloadedByNic,
            ..base
        },
        TranslateConfig {
            sources: SourcePolicy::AllowLoopback,
            ..base
        },
        TranslateConfig {
            decoder: Decoder {
                vxlan_reserved: ReservedPolicy::Reject,
                vxlan_ports: TunnelPorts::from_slice(&[8472, 4789]).unwrap(),
                ..Decoder::default()
            },
            ..base
        },
        TranslateConfig {
            udp_checksum: true,
            symmetric_hash: true,
            ..base
        },
        TranslateConfig {
            flow_id: FlowId::Fixed(9),
            vxlan_port: 8472,
            ..base
        },
        TranslateConfig {
            source_ports: PortRange::new(1000, 1003).unwrap(),
            mtu: 100,
            ..base
        },
        TranslateConfig {
            inner_vlan: InnerVlanPolicy::Keep,
            ..base
        },
        // The defaults' path with what it reads from the translator moved: the MTU (and
        // the Geneve settings, which it never reads).
        TranslateConfig {
            mtu: 120,
            geneve_port: 6082,
            geneve_options: geneve_option(),
            geneve_understood: UnderstoodOptions::from_slice(&[(0x0102, 0x80)]).unwrap(),
            ..base
        },
    ])
}

/// One Geneve option, OVN's class.
fn geneve_option() -> crate::wire::GeneveOptions {
    let mut options = crate::wire::GeneveOptions::new();
    options.push(0x0102, 0x80, &[0, 1, 0, 2]).unwrap();
    options
}

/// A translator of the default settings (whatever its MTU and Geneve settings) runs the
/// defaults' express path; one of any other settings reads them per packet.
#[test]
fn the_default_translator_runs_as_constants() {
    let translators = translators();
    let (defaults, others) = translators.split_at(1);
    assert!(Translator::default().runs_defaults());
    assert!(Translator::new(defaults[0]).unwrap().runs_defaults());
    let (last, others) = others.split_last().unwrap();
    assert!(Translator::new(*last).unwrap().runs_defaults(), "{last:?}");
    for config in others {
        assert!(
            !Translator::new(*config).unwrap().runs_defaults(),
            "{config:?}"
        );
    }
}

/// Wherever the express path, the common frame's or its cold path's (`next`),
/// translates a frame, the general path gives the same range and the same buffer, byte
/// for byte; wherever it refuses one, the same error; where it declines, it wrote
/// nothing.
#[test]
fn express_translation_is_the_general_one() {
    let translators = translators();
    let (mut taken, mut refused, mut tried) = (0, 0, 0);
    for (buf, range) in frames(20_000) {
        for translator in &translators {
            for (to, next) in [TunnelKind::Vxlan, TunnelKind::Nvgre, TunnelKind::Geneve]
                .into_iter()
                .flat_map(|to| [(to, false), (to, true)])
            {
                tried += usize::from(to != TunnelKind::Geneve);
                let (mut express, mut general) = (buf.clone(), buf.clone());
                // What a translator built from the settings does, on its chosen path,
                // and on the path that reads them per packet.
                let (mut chosen, mut configured) = (buf.clone(), buf.clone());
                let by_chosen =
                    Translator::new(*translator)
                        .unwrap()
                        .translate(&mut chosen, range.clone(), to);
                let by_configured = Translator::configured(*translator).translate(
                    &mut configured,
                    range.clone(),
                    to,
                );
                assert_eq!(by_chosen, by_configured, "{translator:?} to {to:?}");
                assert_eq!(chosen, configured, "{translator:?} to {to:?}");
                let policy = ReceivePolicy {
                    checksums: translator.checksums,
                    sources: translator.sources,
                    udp6_zero_checksum: translator.udp6_zero_checksum_rx,
                };
                let Some(fast) =
                    translator.translate_express(&mut express, range.clone(), to, policy, next)
                else {
                    assert_eq!(express, buf, "declined, the express path wrote nothing");
                    continue;
                };
                assert_ne!(to, TunnelKind::Geneve, "Geneve is the general path's");
                match fast {
                    Ok(_) => taken += 1,
                    Err(_) => refused += 1,
                }
                let slow = translator.translate_general(&mut general, range.clone(), to, policy);
                assert_eq!(
                    fast,
                    slow,
                    "{translator:?} to {to:?} (next: {next}): {:02x?}",
                    &buf[range.clone()]
                );
                assert_eq!(express, general, "{translator:?} to {to:?}");
            }
        }
    }
    // A good share of the frames (a third are Geneve, which translation leaves to
    // the general path; half are mutated, a fifth tagged, a quarter from a source no
    // VTEP has, half of the segments reserved VSIDs, one translator's MTU too small)
    // take the express path: the comparison is not vacuous.
    assert!(
        taken > tried / 10 && refused > tried / 100,
        "{taken} of {tried} taken by the express path, {refused} refused"
    );
}

/// A decapsulator of the default settings runs the defaults' code, whatever Geneve
/// options it understands; one of any other settings reads them per packet.
#[test]
fn the_defaults_and_only_they_run_as_constants() {
    let base = DecapConfig::default();
    let understood = UnderstoodOptions::from_slice(&[(0x0102, 0x80)]).unwrap();
    assert!(Decapsulator::default().runs_defaults());
    assert!(
        Decapsulator::new(DecapConfig {
            geneve_understood: understood,
            ..base
        })
        .runs_defaults()
    );
    let others = [
        DecapConfig {
            checksums: Checksums::OffloadedByNic,
            ..base
        },
        DecapConfig {
            sources: SourcePolicy::AllowLoopback,
            ..base
        },
        DecapConfig {
            udp6_zero_checksum_rx: true,
            ..base
        },
        DecapConfig {
            inner_vlan: InnerVlanPolicy::Strip,
            ..base
        },
        DecapConfig {
            apply_ecn: false,
            ..base
        },
        DecapConfig {
            decoder: Decoder {
                vxlan_ports: TunnelPorts::new(8472),
                ..Decoder::default()
            },
            ..base
        },
    ];
    for config in others {
        assert!(!Decapsulator::new(config).runs_defaults(), "{config:?}");
    }
}

/// A batch decapsulates as its frames one by one, on both settings' codes: the same
/// results, in order, each with its own frame, and the same bytes.
#[test]
fn a_batch_decapsulates_as_frame_by_frame() {
    let understood = UnderstoodOptions::from_slice(&[(0x0102, 0x80)]).unwrap();
    for config in [
        DecapConfig::default(),
        DecapConfig {
            geneve_understood: understood,
            ..DecapConfig::default()
        },
        DecapConfig {
            inner_vlan: InnerVlanPolicy::Strip,
            geneve_understood: understood,
            ..DecapConfig::default()
        },
    ] {
        let decap = Decapsulator::new(config);
        let mut one_by_one: Vec<Vec<u8>> = frames(3_000).map(|(b, r)| b[r].to_vec()).collect();
        let mut batch = one_by_one.clone();
        let expected: Vec<_> = one_by_one
            .iter_mut()
            .map(|frame| decap.decapsulate(frame))
            .collect();
        let mut found = Vec::new();
        decap.decapsulate_each(batch.iter_mut().map(Vec::as_mut_slice), |frame, result| {
            found.push((frame.len(), result));
        });
        let lens = batch.iter().map(Vec::len);
        assert!(found.iter().map(|(len, _)| *len).eq(lens), "{config:?}");
        let taken = expected.iter().filter(|r| r.is_ok()).count();
        assert!(taken > 500, "{config:?}: {taken} taken");
        assert!(found.into_iter().map(|(_, r)| r).eq(expected), "{config:?}");
        assert_eq!(batch, one_by_one, "{config:?}");
    }
}

/// Wherever the express walk takes a frame for decapsulation, the general walk finds
/// the same, and both rewrite the frame alike (RFC 6040's ECN, tags stripped).
#[test]
fn express_decapsulation_is_the_general_one() {
    let base = DecapConfig::default();
    let configs = [
        base,
        DecapConfig {
            checksums: Checksums::OffloadedByNic,
            ..base
        },
        DecapConfig {
            sources: SourcePolicy::AllowLoopback,
            apply_ecn: false,
            ..base
        },
        DecapConfig {
            decoder: Decoder {
                vxlan_reserved: ReservedPolicy::Reject,
                vxlan_ports: TunnelPorts::from_slice(&[8472, 4789]).unwrap(),
                ..Decoder::default()
            },
            inner_vlan: InnerVlanPolicy::Strip,
            geneve_understood: UnderstoodOptions::from_slice(&[(0x0102, 0x80)]).unwrap(),
            ..base
        },
        // The defaults' path, with an option understood.
        DecapConfig {
            geneve_understood: UnderstoodOptions::from_slice(&[(0x0102, 0x80)]).unwrap(),
            ..base
        },
    ];
    let (mut taken, mut tried, mut ip_payloads) = (0, 0, 0);
    // Frames the express walk took with an outer Not-ECT (their inner IP header not
    // walked), and RFC 6040's alarms and drops among all it took.
    let (mut not_ect, mut alarms, mut drops) = (0, 0, 0);
    for (buf, range) in frames(30_000) {
        for config in &configs {
            tried += 1;
            let (mut express, mut general) =
                (buf[range.clone()].to_vec(), buf[range.clone()].to_vec());
            // What a decapsulator built from the settings does, on its chosen path, and
            // on the path that reads them per packet.
            let (mut chosen, mut configured) = (express.clone(), express.clone());
            let by_chosen = Decapsulator::new(*config).decapsulate(&mut chosen);
            let by_configured = Decapsulator::configured(*config).decapsulate(&mut configured);
            assert_eq!(
                by_chosen,
                by_configured,
                "{config:?}: {:02x?}",
                &buf[range.clone()]
            );
            assert_eq!(chosen, configured, "{config:?}");
            let Some(fast) = config.decoder.express::<(), _>(
                &express,
                config.policy(),
                Some(&config.geneve_understood),
                config.inner_vlan == InnerVlanPolicy::Reject,
                config.apply_ecn,
                |received, error, checks| config.conclude_with(&received, error, checks),
            ) else {
                continue;
            };
            taken += 1;
            let fast = fast.map(|e| e.rewrite(&mut express));
            if let Ok(found) = &fast {
                ip_payloads +=
                    usize::from(found.protocol != EtherType::TRANSPARENT_ETHERNET_BRIDGING);
                not_ect += usize::from(express[15] & 0x03 == 0);
                alarms += usize::from(found.ecn_alarm.is_some());
            }
            drops += usize::from(fast.as_ref().is_err_and(|e| e.kind == ErrorKind::EcnDrop));
            let slow = config
                .examine_general(&general, None, &config.geneve_understood)
                .map(|e| e.rewrite(&mut general));
            assert_eq!(fast, slow, "{config:?}: {:02x?}", &buf[range.clone()]);
            assert_eq!(express, general, "{config:?}");
            assert_eq!(fast, by_chosen, "{config:?}");
        }
    }
    assert!(
        taken > tried / 4,
        "{taken} of {tried} taken by the express walk"
    );
    // Geneve's IP payloads among them.
    assert!(ip_payloads > 1000, "{ip_payloads} Geneve IP payloads taken");
    assert!(
        not_ect > 1000 && alarms > 1000 && drops > 100,
        "{not_ect} under an outer Not-ECT, {alarms} alarms, {drops} drops"
    );
}

/// Wherever the express walk takes an inner frame (as encapsulation walks it), it
/// records what the general walk records: offset, tags, IP header, flow key.
#[test]
fn express_inner_walk_is_the_general_one() {
    use crate::tunnel::flow::FlowKey;
    let mut rng = Rng(0x1e57_0000_0000_0002);
    let (mut taken, tries) = (0, 50_000);
    for _ in 0..tries {
        let mut frame = inner_frame(&mut rng);
        if rng.below(2) == 0 {
            let at = rng.below(frame.len().min(60));
            frame[at] ^= 1 << rng.below(8);
        }
        if rng.below(10) == 0 {
            frame.truncate(rng.below(frame.len()));
        }
        let mut express = Inner::<FlowKey>::default();
        if !express_inner(&frame, 0, Depth::InnerTransport, &mut express) {
            continue;
        }
        taken += 1;
        let mut general = Inner::<FlowKey>::default();
        let _ = crate::packet::walk(&frame, &mut general);
        assert_eq!(
            std::format!("{express:?}"),
            std::format!("{general:?}"),
            "{frame:02x?}"
        );
    }
    assert!(taken > tries / 3, "{taken} of {tries} taken");
}

/// Frames for the tests that hold express and general paths together: tunnel frames
/// as an encapsulator writes them, some changed where a receiver's checks look.
mod corpus {
    use crate::tunnel::inner_vlan::InnerVlanPolicy;
    use crate::tunnel::{Encapsulator, HEADROOM, TunnelConfig};
    use crate::wire::{GeneveOptions, Vni, Vsid};
    use core::net::Ipv4Addr;
    use core::ops::Range;
    use std::vec::Vec;

    pub(crate) use crate::test_rng::Rng;

    /// An inner Ethernet frame: untagged or tagged, IPv4 (a fragment now and then) with
    /// UDP, TCP or ICMP, or IPv6, its lengths consistent.
    pub(crate) fn inner_frame(rng: &mut Rng) -> Vec<u8> {
        let mut frame = Vec::from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        frame[5] = rng.next() as u8;
        if rng.below(5) == 0 {
            frame.extend_from_slice(&[0x81, 0x00, 0, rng.below(200) as u8 + 1]);
        }
        let payload = 8 + rng.below(60);
        if rng.below(6) == 0 {
            frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, payload as u8, 17, 64]);
            frame.extend((0..32 + payload).map(|_| rng.next() as u8));
            return frame;
        }
        let protocol = [17, 6, 1][rng.below(3)];
        let total = (20 + payload) as u16;
        frame.extend_from_slice(&[0x08, 0x00, 0x45, rng.next() as u8]);
        frame.extend_from_slice(&total.to_be_bytes());
        let fragment = if rng.below(8) == 0 { 0x20 } else { 0x40 };
        frame.extend_from_slice(&[0, 1, fragment, 0, 64, protocol, 0, 0]);
        frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, rng.next() as u8]);
        let mut l4: Vec<u8> = (0..payload).map(|_| rng.next() as u8).collect();
        if protocol == 17 {
            l4[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
        }
        frame.extend_from_slice(&l4);
        frame
    }

    /// A tunnel frame an encapsulator wrote, in a buffer with headroom for any
    /// translation.
    pub(crate) fn tunnel_frame(rng: &mut Rng) -> (Vec<u8>, Range<usize>) {
        // A source an encapsulator takes; the receiver's rules are tried by writing
        // others over it below.
        let (src, dst) = (Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2));
        let kind = rng.below(3);
        let (nvgre, geneve) = (kind == 0, kind == 1);
        let config = if nvgre {
            // NVGRE carries no tags: they are stripped.
            TunnelConfig::nvgre(Vsid::new(4242).unwrap(), src, dst)
        } else if geneve {
            // OVN's option (critical), or another one (not), or OVN's and another (not
            // critical, or critical and understood by none), or none.
            let mut options = GeneveOptions::new();
            match rng.below(5) {
                0 => options.push(0x0102, 0x80, &[0, 1, 0, 2]).unwrap(),
                1 => options.push(0x0108, 0x01, &[7; 8]).unwrap(),
                2 => {
                    options.push(0x0102, 0x80, &[0, 1, 0, 2]).unwrap();
                    options.push(0x0108, 0x01, &[9; 4]).unwrap();
                }
                3 => {
                    options.push(0x0102, 0x80, &[0, 1, 0, 2]).unwrap();
                    options.push(0x0108, 0x81, &[9; 4]).unwrap();
                }
                _ => {}
            }
            TunnelConfig {
                inner_vlan: InnerVlanPolicy::Keep,
                geneve_options: options,
                ..TunnelConfig::geneve(Vni::new(4242).unwrap(), src, dst)
            }
        } else {
            TunnelConfig {
                inner_vlan: InnerVlanPolicy::Keep,
                ..TunnelConfig::vxlan(Vni::new(4242).unwrap(), src, dst)
            }
        };
        let inner = inner_frame(rng);
        let mut buf = std::vec![0u8; HEADROOM + inner.len()];
        buf[HEADROOM..].copy_from_slice(&inner);
        let end = buf.len();
        let range = Encapsulator::new(config)
            .unwrap()
            .encapsulate(&mut buf, HEADROOM..end)
            .unwrap();
        let range = if geneve && rng.below(3) == 0 {
            ip_payload(&mut buf, range)
        } else {
            range
        };
        // A segment that is a reserved VSID now and then (no checksum covers it), and
        // a source that cannot be a VTEP (the IPv4 checksum kept right).
        let segment: u32 = [4242, 1, 0xff_ffff, 0xff_fffe][rng.below(4)];
        // VXLAN's and Geneve's VNI sit alike, 12 bytes into their 16 of UDP and header.
        let at = range.start + if nvgre { 38 } else { 46 };
        buf[at..at + 3].copy_from_slice(&segment.to_be_bytes()[1..]);
        // An outer ECN of its own now and then (the IPv4 checksum kept right): RFC 6040's
        // every cell, and an outer Not-ECT over any inner ECN, which the express walk
        // takes without the inner IP header.
        if rng.below(3) == 0 {
            let tos = range.start + 15;
            let old = u16::from_be_bytes([buf[tos - 1], buf[tos]]);
            buf[tos] = buf[tos] & !0x03 | rng.below(4) as u8;
            let new = u16::from_be_bytes([buf[tos - 1], buf[tos]]);
            let checksum = u16::from_be_bytes([buf[tos + 9], buf[tos + 10]]);
            let checksum = crate::checksum::update(checksum, old, new);
            buf[tos + 9..tos + 11].copy_from_slice(&checksum.to_be_bytes());
        }
        if rng.below(4) == 0 {
            let first = [127, 0, 224][rng.below(3)];
            let header = range.start + 14;
            let old = u16::from_be_bytes([buf[header + 12], buf[header + 13]]);
            buf[header + 12] = first;
            let new = u16::from_be_bytes([buf[header + 12], buf[header + 13]]);
            let checksum = u16::from_be_bytes([buf[header + 10], buf[header + 11]]);
            let checksum = crate::checksum::update(checksum, old, new);
            buf[header + 10..header + 12].copy_from_slice(&checksum.to_be_bytes());
        }
        (buf, range)
    }

    /// A Geneve frame over IPv4 with an untagged IP inner frame made a Geneve IP payload
    /// (protocol type 0x0800 or 0x86DD): its inner Ethernet header taken out, the
    /// lengths and the outer IP checksum made right. Any other frame is left as it is.
    fn ip_payload(buf: &mut [u8], range: Range<usize>) -> Range<usize> {
        let start = range.start;
        let header_end = start + 50 + 4 * usize::from(buf[start + 42] & 0x3f);
        let ethertype = [buf[header_end + 12], buf[header_end + 13]];
        if ethertype != [0x08, 0x00] && ethertype != [0x86, 0xdd] {
            return range;
        }
        buf.copy_within(start..header_end, start + 14);
        let start = start + 14;
        buf[start + 44..start + 46].copy_from_slice(&ethertype);
        for at in [start + 16, start + 38] {
            let len = u16::from_be_bytes([buf[at], buf[at + 1]]);
            buf[at..at + 2].copy_from_slice(&(len - 14).to_be_bytes());
            if at == start + 16 {
                let checksum = u16::from_be_bytes([buf[start + 24], buf[start + 25]]);
                let checksum = crate::checksum::update(checksum, len, len - 14);
                buf[start + 24..start + 26].copy_from_slice(&checksum.to_be_bytes());
            }
        }
        start..range.end
    }

    /// The test's frames: as an encapsulator wrote them, or (half of them) with up to
    /// three bits of their headers flipped, one in ten cut short.
    pub(crate) fn frames(count: usize) -> impl Iterator<Item = (Vec<u8>, Range<usize>)> {
        let mut rng = Rng(0x7e57_1234_abcd_0001);
        (0..count).map(move |_| {
            let (mut buf, range) = tunnel_frame(&mut rng);
            if rng.below(2) == 0 {
                for _ in 0..1 + rng.below(3) {
                    let at = range.start + rng.below(100.min(range.len()));
                    buf[at] ^= 1 << rng.below(8);
                }
            }
            let range = if rng.below(10) == 0 {
                range.start..range.end - rng.below(range.len())
            } else {
                range
            };
            (buf, range)
        })
    }
}
