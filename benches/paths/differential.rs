//! The floors against tunnelwire on mutated frames: one input at a time through both,
//! asserting equal verdicts, values and buffers (`benches/differential.rs`,
//! `tests/floors.rs`), and the same comparisons for the workloads' checks.

use std::ops::Range;

use std::net::IpAddr;

use tunnelwire::tunnel::ecn::Ecn;
use tunnelwire::tunnel::{
    DecapConfig, Decapsulator, PayloadHeaders, SocketOuter, TranslateConfig, Translator, TunnelKind,
};
use tunnelwire::wire::{Ipv4Packet, UdpDatagram};

use super::geneve::decode_geneve_tunnelwire;
use super::mixed::{mixed_inner_buffers, mixed_vxlan_buffers, mixed_vxlan6_buffers};
use super::values::{decode_geneve_values_tunnelwire, decode_values_tunnelwire};
use super::{
    Arm, MTU, NEXT_VXLAN, Path, Rng, decode_tunnelwire, floors, floors_geneve, found, found6,
    payload_tunnelwire, payloads_of,
};

/// What comparing tunnelwire and a floor on one input found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Both took it, with equal results and byte-identical buffers.
    Accepted,
    /// Both refused it.
    Refused,
    /// tunnelwire took a shape the floor leaves to it (no workload has it).
    OtherShape,
}

/// Figures of a differential run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub frames: u64,
    pub accepted: u64,
    pub refused: u64,
    pub other_shape: u64,
    /// Accepted with the inner frame changed: RFC 6040 rewrites (decapsulation), tags
    /// stripped (encapsulation, translation).
    pub rewritten: u64,
    /// Decapsulation: accepted with an RFC 6040 alarm, and refused by RFC 6040 alone
    /// (CE over a Not-ECT inner packet).
    pub ecn_alarms: u64,
    pub ecn_drops: u64,
}

impl Tally {
    fn add(&mut self, outcome: Outcome, rewritten: bool) {
        self.frames += 1;
        match outcome {
            Outcome::Accepted => self.accepted += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::OtherShape => self.other_shape += 1,
        }
        self.rewritten += u64::from(rewritten && outcome == Outcome::Accepted);
    }
}

/// The first bytes of a frame, for a failure's message.
fn head(frame: &[u8]) -> &[u8] {
    &frame[..frame.len().min(128)]
}

/// True for a whole frame whose outer stack is a shape the IPv4 floors leave to
/// tunnelwire: not untagged IPv4 without options, or VXLAN with a UDP checksum.
fn other_outer_shape(frame: &[u8]) -> bool {
    frame.len() < 42
        || frame[12..14] != [0x08, 0x00]
        || frame[14] != 0x45
        || (frame[23] == 17 && frame[40..42] != [0, 0])
}

impl Arm {
    /// Decode (VXLAN and NVGRE, or Geneve): tunnelwire, by `Frame` and by recorder, and
    /// the floor extract the same values (or all none).
    pub fn compare_decode(&self, frame: &[u8]) -> Outcome {
        if matches!(self.path, Path::DecodeGeneve | Path::ValuesGeneve) {
            let ours = decode_geneve_tunnelwire(&self.decoder, frame);
            let recorded = decode_geneve_values_tunnelwire(&self.decoder, frame);
            assert_eq!(
                ours,
                recorded,
                "Geneve decode by recorder of {:02x?}",
                head(frame)
            );
            return decode_outcome(frame, ours, floors_geneve::decode(frame));
        }
        let ours = decode_tunnelwire(&self.decoder, frame);
        let recorded = decode_values_tunnelwire(&self.decoder, frame);
        assert_eq!(ours, recorded, "decode by recorder of {:02x?}", head(frame));
        decode_outcome(frame, ours, floors::decode(frame))
    }

    /// Encapsulation (`nvgre` or VXLAN) of `buf[inner]`: the same range and the whole
    /// buffer byte-identical.
    pub fn compare_encap(&mut self, buf: &[u8], inner: Range<usize>) -> (Outcome, bool) {
        let (mut a, mut b) = (buf.to_vec(), buf.to_vec());
        let ours = self.encapsulator.encapsulate(&mut a, inner.clone()).ok();
        let theirs = match self.path {
            Path::EncapNvgre => self.floor42.encapsulate(&mut b, inner.clone()),
            Path::EncapVxlan6 => self.floor70.encapsulate(&mut b, inner.clone()),
            Path::EncapNvgre6 => self.floor62.encapsulate(&mut b, inner.clone()),
            Path::EncapGeneveOvn => self.floor58.encapsulate(&mut b, inner.clone()),
            // VXLAN's, or Geneve's without options on that path.
            _ => self.floor50.encapsulate(&mut b, inner.clone()),
        };
        assert_eq!(
            ours,
            theirs,
            "encapsulation of {:02x?}",
            head(&buf[inner.clone()])
        );
        assert!(
            a == b,
            "byte-identical encapsulation of {:02x?}",
            head(&buf[inner.clone()])
        );
        let stripped = a[inner.start..] != buf[inner.start..];
        let outcome = if ours.is_some() {
            Outcome::Accepted
        } else {
            Outcome::Refused
        };
        (outcome, stripped)
    }

    /// A socket payload received from `outer` and sent on as a payload: the same
    /// headers (range, source port, traffic class, flow label) and the whole buffer.
    pub fn compare_payload(
        &mut self,
        buf: &[u8],
        payload: Range<usize>,
        outer: SocketOuter,
    ) -> (Outcome, bool) {
        let (mut a, mut b) = (buf.to_vec(), buf.to_vec());
        let ours = payload_tunnelwire(
            &self.decapsulator,
            &mut self.encapsulator,
            &mut a,
            payload.clone(),
            &outer,
        )
        .ok();
        let (src, dst, ecn) = (&outer.src, &outer.dst, outer.ecn.bits());
        let theirs = floors::payload(
            &mut b,
            payload.clone(),
            src,
            dst,
            ecn,
            &NEXT_VXLAN,
            usize::from(MTU),
        )
        .map(|(payload, port, traffic_class)| PayloadHeaders {
            payload,
            source_port: Some(port),
            traffic_class,
            flow_label: 0,
        });
        assert_eq!(
            ours,
            theirs,
            "payload {:02x?} from {outer:?}",
            head(&buf[payload.clone()])
        );
        assert!(
            a == b,
            "byte-identical payload {:02x?} from {outer:?}",
            head(&buf[payload.clone()])
        );
        let outcome = if ours.is_some() {
            Outcome::Accepted
        } else {
            Outcome::Refused
        };
        (outcome, a[payload.start + 8..] != buf[payload.start + 8..])
    }

    /// Decapsulation of a frame over IPv6: everything `Decapsulated` holds, and the
    /// whole buffer.
    pub fn compare_decap6(&self, frame: &[u8], tally: &mut Tally) -> (Outcome, bool) {
        let (mut a, mut b) = (frame.to_vec(), frame.to_vec());
        let ours = self
            .decapsulator
            .decapsulate(&mut a)
            .ok()
            .map(|d| found6(&d));
        let theirs = floors::decapsulate6(&mut b);
        if theirs.is_none() && ours.is_some() && frame.get(12..14) != Some(&[0x86, 0xdd][..]) {
            return (Outcome::OtherShape, false);
        }
        assert_eq!(ours, theirs, "decapsulation of {:02x?}", head(frame));
        assert!(
            a == b,
            "byte-identical decapsulation of {:02x?}",
            head(frame)
        );
        match &ours {
            Some(found) => tally.ecn_alarms += u64::from(found.5 != 0),
            None => {
                let without_ecn = Decapsulator::new(DecapConfig {
                    apply_ecn: false,
                    ..*self.decapsulator.config()
                });
                tally.ecn_drops += u64::from(without_ecn.inspect(frame).is_ok());
            }
        }
        let outcome = if ours.is_some() {
            Outcome::Accepted
        } else {
            Outcome::Refused
        };
        (outcome, a != frame)
    }

    /// Decapsulation of a frame: everything `Decapsulated` holds, and the whole buffer.
    pub fn compare_decap(&self, frame: &[u8]) -> (Outcome, bool) {
        self.compare_decap_counting(frame, &mut Tally::default())
    }

    fn compare_decap_counting(&self, frame: &[u8], tally: &mut Tally) -> (Outcome, bool) {
        let (mut a, mut b) = (frame.to_vec(), frame.to_vec());
        let ours = self
            .decapsulator
            .decapsulate(&mut a)
            .ok()
            .map(|d| found(&d));
        match &ours {
            Some(found) => tally.ecn_alarms += u64::from(found.5 != 0),
            None => {
                let without_ecn = Decapsulator::new(DecapConfig {
                    apply_ecn: false,
                    ..*self.decapsulator.config()
                });
                tally.ecn_drops += u64::from(without_ecn.inspect(frame).is_ok());
            }
        }
        let theirs = if self.path == Path::DecapGeneve {
            floors_geneve::decapsulate(&mut b)
        } else {
            floors::decapsulate(&mut b)
        };
        if theirs.is_none() && ours.is_some() && other_outer_shape(frame) {
            return (Outcome::OtherShape, false);
        }
        assert_eq!(ours, theirs, "decapsulation of {:02x?}", head(frame));
        assert!(
            a == b,
            "byte-identical decapsulation of {:02x?}",
            head(frame)
        );
        let outcome = if ours.is_some() {
            Outcome::Accepted
        } else {
            Outcome::Refused
        };
        (outcome, a != frame)
    }

    /// Translation of `buf[frame]` to NVGRE (`to_nvgre`) or VXLAN, then, when taken,
    /// back: the same ranges and the whole buffer byte-identical after each.
    pub fn compare_translate(
        &self,
        buf: &[u8],
        frame: Range<usize>,
        to_nvgre: bool,
    ) -> (Outcome, bool) {
        let mtu = usize::from(MTU);
        let (mut a, mut b) = (buf.to_vec(), buf.to_vec());
        let mut range = frame.clone();
        for to in [to_nvgre, !to_nvgre] {
            let kind = if to {
                TunnelKind::Nvgre
            } else {
                TunnelKind::Vxlan
            };
            let ours = self.translator.translate(&mut a, range.clone(), kind).ok();
            let theirs = if self.path == Path::Translate6 {
                floors::translate6(&mut b, range.clone(), to, mtu)
            } else {
                floors::translate(&mut b, range.clone(), to, mtu)
            };
            if theirs.is_none() && ours.is_some() {
                // A same-kind translation, or an outer shape left to tunnelwire.
                let same = self
                    .decoder
                    .decode(&buf[range.clone()])
                    .ok()
                    .and_then(|f| f.tunnel)
                    .map(|t| t.kind() == kind);
                let bytes = &buf[range.clone()];
                let other = if self.path == Path::Translate6 {
                    bytes.get(12..14) != Some(&[0x86, 0xdd][..])
                } else {
                    other_outer_shape(bytes)
                };
                if same == Some(true) || other {
                    return (Outcome::OtherShape, false);
                }
            }
            assert_eq!(
                ours,
                theirs,
                "translation of {:02x?}",
                head(&buf[range.clone()])
            );
            assert!(
                a == b,
                "byte-identical translation of {:02x?}",
                head(&buf[range.clone()])
            );
            match ours {
                Some(next) => range = next,
                None if to == to_nvgre => return (Outcome::Refused, false),
                None => break,
            }
        }
        (Outcome::Accepted, range.len() != frame.len())
    }
}

/// The outer header's checksum made right again: IPv4's header checksum, or over IPv6
/// the VXLAN UDP checksum, when the lengths allow.
fn fix_outer(buf: &mut [u8], range: &Range<usize>) {
    let frame = &mut buf[range.clone()];
    if frame.len() < 54 {
        return;
    }
    if frame[12..14] == [0x86, 0xdd] {
        if frame.len() < 62 {
            return;
        }
        let len = usize::from(u16::from_be_bytes([frame[58], frame[59]]));
        if frame[20] == 17 && len >= 8 && 54 + len <= frame.len() {
            let src = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&frame[22..38]).unwrap());
            let dst = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&frame[38..54]).unwrap());
            UdpDatagram::new_unchecked(&mut frame[54..54 + len]).fill_checksum_ipv6(src, dst);
        }
    } else if frame[14] >> 4 == 4 {
        let header_len = usize::from(frame[14] & 0x0f) * 4;
        if header_len >= 20 && 14 + header_len <= frame.len() {
            Ipv4Packet::new_unchecked(&mut frame[14..]).fill_checksum();
        }
    }
}

/// Flips, sets, cuts: one to three changes where the receiver's checks look, to a copy
/// of `bytes[range]` (the outer IPv4 checksum then made right again half the time, so
/// the changes reach past it).
fn mutate(rng: &mut Rng, buf: &mut Vec<u8>, range: &mut Range<usize>, outer: bool) {
    let v6 = outer && buf.get(range.start + 12..range.start + 14) == Some(&[0x86, 0xdd][..]);
    for _ in 0..1 + rng.next() % 3 {
        let span = range
            .len()
            .min(if !outer {
                60
            } else if v6 {
                130
            } else {
                110
            })
            .max(1);
        let at = range.start + rng.next() as usize % span;
        match rng.next() % 8 {
            0..=2 => buf[at] ^= 1 << (rng.next() % 8),
            3 => buf[at] = rng.next() as u8,
            4 => {
                buf[at] =
                    [0, 0x08, 0x45, 0x81, 0x86, 0xdd, 0x11, 0x2f, 0xff][rng.next() as usize % 9]
            }
            5 => range.end -= (rng.next() as usize % 64).min(range.len()),
            6 if outer && range.len() > 16 => {
                let ecn = (rng.next() % 4) as u8;
                let tc = &mut buf[range.start + 15];
                *tc = if v6 {
                    *tc & !0x30 | ecn << 4
                } else {
                    *tc & !3 | ecn
                };
            }
            6 => buf[at] ^= 0x80,
            _ => {
                let tag = [0x81, 0x00, 0, (rng.next() % 8) as u8];
                let inner_at = if !outer {
                    0
                } else if v6 {
                    70
                } else {
                    50
                };
                let inner = range.start + inner_at + 12;
                if inner + 4 <= range.end {
                    buf.splice(inner..inner, tag);
                    buf.truncate(buf.len() - 4);
                }
            }
        }
    }
    if outer && rng.next() % 2 == 0 {
        fix_outer(buf, range);
    }
}

/// The outcome of a decode by tunnelwire (`ours`) and by the floor, asserted equal but
/// for a frame whose outer stack is not untagged IPv4 (a shape the floors leave to
/// tunnelwire).
fn decode_outcome<T: PartialEq + std::fmt::Debug>(
    frame: &[u8],
    ours: Option<T>,
    theirs: Option<T>,
) -> Outcome {
    if theirs.is_none() && ours.is_some() && frame.get(12..14) != Some(&[0x08, 0x00][..]) {
        return Outcome::OtherShape;
    }
    assert_eq!(ours, theirs, "decode of {:02x?}", head(frame));
    if ours.is_some() {
        Outcome::Accepted
    } else {
        Outcome::Refused
    }
}

/// Changes to a Geneve header where its receiver looks, at the frame `buf[range]` (the
/// outer IPv4 header without options: the Geneve header 42 bytes in): the options'
/// length (bits of it), the version, the O and C bits, the protocol type (a bit, or set
/// to each kind the receivers tell apart), the VNI, the first option's critical bit and
/// length, an inner tag; one or two of them.
fn mutate_geneve(rng: &mut Rng, buf: &mut [u8], range: &Range<usize>) {
    let geneve = range.start + 42;
    if geneve + 16 > range.end {
        return;
    }
    for _ in 0..1 + rng.next() % 2 {
        let bit = 1u8 << (rng.next() % 8);
        match rng.next() % 9 {
            0 => buf[geneve] ^= 1 << (rng.next() % 6),
            1 => buf[geneve] ^= [0x40, 0x80][rng.next() as usize % 2],
            2 => buf[geneve + 1] ^= [0x80, 0x40][rng.next() as usize % 2],
            3 => buf[geneve + 2 + rng.next() as usize % 2] ^= bit,
            4 => {
                let protocol: [u16; 5] = [0x6558, 0x0800, 0x86dd, 0x88b5, 0x0000];
                let protocol = protocol[rng.next() as usize % 5].to_be_bytes();
                buf[geneve + 2..geneve + 4].copy_from_slice(&protocol);
            }
            5 => buf[geneve + 4 + rng.next() as usize % 3] ^= bit,
            6 => buf[geneve + 10] ^= 0x80,
            7 => buf[geneve + 11] ^= bit,
            _ => {
                // An 802.1Q tag before the EtherType of an inner frame after OVN's option
                // (the rest moved up, the frame's length kept).
                let at = geneve + 16 + 12;
                if at + 4 <= range.end {
                    buf.copy_within(at..range.end - 4, at + 4);
                    buf[at..at + 4].copy_from_slice(&[0x81, 0x00, 0, 5]);
                }
            }
        }
    }
}

/// Runs `count` mutated inputs (from the clean and the mixed workload) through
/// tunnelwire and the floor of `path` (an IPv4 one), asserting they agree on each.
pub fn differential(path: Path, count: usize, seed: u64) -> Tally {
    assert!(path.has_differential(), "no differential run for {path:?}");
    let mut arm = Arm::with(path, true, false);
    let mixed = match path {
        Path::Payload => Arm {
            payloads: payloads_of(mixed_vxlan_buffers()),
            ..arm.clone()
        },
        Path::EncapVxlan6 | Path::EncapNvgre6 => Arm {
            buffers: mixed_inner_buffers(),
            ..arm.clone()
        },
        Path::Decap6 | Path::Translate6 => Arm {
            buffers: mixed_vxlan6_buffers(),
            ..arm.clone()
        },
        _ => Arm::with(path, true, true),
    };
    let mut rng = Rng(seed | 1);
    let mut tally = Tally::default();
    let frames: Vec<Vec<u8>> = arm.frames.iter().chain(&mixed.frames).cloned().collect();
    let mut buffers: Vec<(Vec<u8>, Range<usize>)> =
        arm.buffers.iter().chain(&mixed.buffers).cloned().collect();
    if matches!(path, Path::Translate | Path::Translate6) {
        // NVGRE frames too, for the other direction.
        let t = Translator::new(TranslateConfig {
            mtu: MTU,
            ..TranslateConfig::default()
        })
        .unwrap();
        let nvgre: Vec<_> = buffers
            .iter()
            .filter_map(|(buf, frame)| {
                let mut buf = buf.clone();
                let range = t
                    .translate(&mut buf, frame.clone(), TunnelKind::Nvgre)
                    .ok()?;
                Some((buf, range))
            })
            .collect();
        buffers.extend(nvgre);
    }
    let payloads: Vec<_> = arm
        .payloads
        .iter()
        .chain(&mixed.payloads)
        .cloned()
        .collect();
    let sources: [IpAddr; 8] = [
        "10.99.0.1".parse().unwrap(),
        "192.0.2.7".parse().unwrap(),
        "127.0.0.1".parse().unwrap(),
        "0.1.2.3".parse().unwrap(),
        "224.0.0.5".parse().unwrap(),
        "fd00:99::1".parse().unwrap(),
        "::1".parse().unwrap(),
        "::ffff:10.0.0.1".parse().unwrap(),
    ];
    for _ in 0..count {
        match path {
            Path::Payload => {
                let (mut buf, mut payload, mut outer) =
                    payloads[rng.next() as usize % payloads.len()].clone();
                mutate(&mut rng, &mut buf, &mut payload, false);
                let tag_at = payload.start + 8 + 12;
                if rng.next() % 8 == 0 && tag_at + 4 <= payload.end {
                    buf.splice(tag_at..tag_at, [0x81, 0x00, 0, 5]);
                    buf.truncate(buf.len() - 4);
                }
                if rng.next() % 2 == 0 {
                    outer.ecn = Ecn::from_bits(rng.next() as u8);
                }
                if rng.next() % 4 == 0 {
                    // A source of either family, the destination as a socket reports
                    // it: of the same family, IPv4-mapped where the source is (a socket
                    // of both families), now and then of the other (a caller's mistake).
                    outer.src = sources[rng.next() as usize % sources.len()];
                    let mapped =
                        matches!(outer.src, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
                    let v4 = outer.src.is_ipv4() != (rng.next() % 16 == 0);
                    outer.dst = match (v4, mapped) {
                        (true, _) => "10.99.0.2".parse().unwrap(),
                        (false, true) => "::ffff:10.99.0.2".parse().unwrap(),
                        (false, false) => "fd00:99::2".parse().unwrap(),
                    };
                }
                let (outcome, rewritten) = arm.compare_payload(&buf, payload, outer);
                tally.add(outcome, rewritten);
            }
            path if path.decodes() => {
                let mut frame = frames[rng.next() as usize % frames.len()].clone();
                let mut range = 0..frame.len();
                if matches!(path, Path::DecodeGeneve | Path::ValuesGeneve) && rng.next() % 2 == 0 {
                    mutate_geneve(&mut rng, &mut frame, &range);
                }
                mutate(&mut rng, &mut frame, &mut range, true);
                tally.add(arm.compare_decode(&frame[range]), false);
            }
            Path::EncapVxlan
            | Path::EncapNvgre
            | Path::EncapVxlan6
            | Path::EncapNvgre6
            | Path::EncapGeneve
            | Path::EncapGeneveOvn => {
                let (mut buf, mut inner) = buffers[rng.next() as usize % buffers.len()].clone();
                mutate(&mut rng, &mut buf, &mut inner, false);
                if rng.next() % 8 == 0 {
                    inner.start -= rng.next() as usize % 64;
                }
                let (outcome, stripped) = arm.compare_encap(&buf, inner);
                tally.add(outcome, stripped);
            }
            Path::Decap | Path::DecapGeneve => {
                let (mut buf, mut frame) = buffers[rng.next() as usize % buffers.len()].clone();
                if path == Path::DecapGeneve && rng.next() % 2 == 0 {
                    mutate_geneve(&mut rng, &mut buf, &frame);
                }
                mutate(&mut rng, &mut buf, &mut frame, true);
                let (outcome, rewritten) = arm.compare_decap_counting(&buf[frame], &mut tally);
                tally.add(outcome, rewritten);
            }
            Path::Decap6 => {
                let (mut buf, mut frame) = buffers[rng.next() as usize % buffers.len()].clone();
                mutate(&mut rng, &mut buf, &mut frame, true);
                let (outcome, rewritten) = arm.compare_decap6(&buf[frame], &mut tally);
                tally.add(outcome, rewritten);
            }
            _ => {
                let (mut buf, mut frame) = buffers[rng.next() as usize % buffers.len()].clone();
                let kind_at = if path == Path::Translate6 { 20 } else { 23 };
                let to_nvgre = buf[frame.start + kind_at] != 47;
                mutate(&mut rng, &mut buf, &mut frame, true);
                let (outcome, stripped) = arm.compare_translate(&buf, frame, to_nvgre);
                tally.add(outcome, stripped);
            }
        }
    }
    tally
}
