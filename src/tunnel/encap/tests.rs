//! Encapsulation's tests.

use super::*;
use crate::packet::Decoder;
use crate::test_rng::Rng;
use crate::tunnel::MAX_HEADROOM;
use crate::tunnel::OuterVlan;
use crate::wire::{GeneveOptions, VlanId, Vni};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::vec;

/// The VXLAN or Geneve UDP checksum, written from the template's share summed once,
/// verifies over the whole datagram in every layout that sends one (Geneve without
/// options, with the template's, with per-packet ones besides), for inner frames of
/// every length parity, with DF clear over IPv4 too.
#[test]
fn udp_checksums_verify_in_every_layout() {
    let mut ovn = GeneveOptions::new();
    ovn.push(0x0102, 0x80, &[0, 1, 0, 2]).unwrap();
    let mut gwlb = GeneveOptions::new();
    gwlb.push(0x0108, 1, &[9; 8]).unwrap();
    gwlb.push(0x0108, 3, &[7; 4]).unwrap();
    let v4 = (
        IpAddr::from(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::from(Ipv4Addr::new(10, 0, 0, 2)),
    );
    let v6: (Ipv6Addr, Ipv6Addr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let v6 = (IpAddr::from(v6.0), IpAddr::from(v6.1));
    for (src, dst) in [v4, v6] {
        for tagged in [false, true] {
            for (len, shape) in [14, 60, 61, 1001]
                .into_iter()
                .flat_map(|len| (0..4).map(move |shape| (len, shape)))
            {
                let vni = Vni::new(77).unwrap();
                let mut config = match shape {
                    0 => TunnelConfig::vxlan(vni, src, dst),
                    _ => TunnelConfig::geneve(vni, src, dst),
                };
                if shape >= 2 {
                    config.geneve_options = ovn;
                }
                let per_packet = if shape == 3 { gwlb.as_bytes() } else { &[] };
                config.udp_checksum = true;
                config.dont_frag = len % 2 == 0;
                config.outer_vlan = tagged.then(|| OuterVlan {
                    vid: VlanId::usable(5).unwrap(),
                    pcp: 0,
                });
                let mut encapsulator = Encapsulator::new(config).unwrap();
                let mut buf = vec![0u8; MAX_HEADROOM + len];
                for (i, byte) in buf[MAX_HEADROOM..].iter_mut().enumerate() {
                    *byte = (i * 7 + 3) as u8;
                }
                let inner = MAX_HEADROOM..MAX_HEADROOM + len;
                let frame = if shape == 3 {
                    encapsulator.encapsulate_with_options(&mut buf, inner, per_packet)
                } else {
                    encapsulator.encapsulate(&mut buf, inner)
                }
                .unwrap();
                let overhead = encapsulator.overhead() + per_packet.len();
                assert_eq!(frame.len(), overhead + len);
                let decoded = Decoder::new().decode(&buf[frame]).unwrap();
                assert_eq!(decoded.inner.offset, overhead);
                let tunnel = decoded.tunnel.unwrap();
                assert_eq!(decoded.tunnel_offset, encapsulator.tunnel_offset());
                if let crate::packet::Tunnel::Geneve(header) = tunnel {
                    let want = usize::from(shape >= 2) * 8 + per_packet.len();
                    assert_eq!(header.options_len(), want);
                    assert_eq!(header.critical(), shape >= 2);
                }
                let udp = decoded.outer.udp().unwrap();
                assert_ne!(udp.checksum(), 0);
                let verifies = match (decoded.outer.ipv4, decoded.outer.ipv6) {
                    (Some(ip), _) => {
                        assert!(ip.verify_checksum());
                        udp.verify_checksum(ip.src_addr(), ip.dst_addr())
                    }
                    (_, Some(ip)) => udp.verify_checksum_ipv6(ip.src_addr(), ip.dst_addr()),
                    _ => false,
                };
                assert!(verifies, "{src} tagged {tagged} len {len} shape {shape}");
            }
        }
    }
}

/// An inner frame of any shape encapsulation meets: up to three tags (one more than are
/// stripped), IPv4 with or without options (a fragment now and then) carrying UDP, TCP
/// or ICMP, IPv6, ARP, an IEEE 802.3 length, any TOS; one in twelve cut short, some
/// before the end of their Ethernet header.
fn any_inner_frame(rng: &mut Rng) -> std::vec::Vec<u8> {
    let mut frame = std::vec::Vec::from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    frame[5] = rng.next() as u8;
    frame[11] = rng.next() as u8;
    for _ in 0..[0, 0, 0, 1, 2, 3][rng.below(6)] {
        frame.extend_from_slice(&[0x81, 0x00, 0, rng.below(200) as u8 + 1]);
    }
    let payload = 8 + rng.below(60);
    let tos = rng.next() as u8;
    match rng.below(10) {
        0 => {
            let first = 0x60 | tos >> 4;
            let second = tos << 4 | 0x01;
            frame.extend_from_slice(&[0x86, 0xdd, first, second, 0x23, 0x45, 0, payload as u8]);
            frame.extend_from_slice(&[17, 64]);
            frame.extend((0..32 + payload).map(|_| rng.next() as u8));
        }
        1 => {
            frame.extend_from_slice(&[0x08, 0x06]);
            frame.extend((0..28).map(|_| rng.next() as u8));
        }
        2 => {
            frame.extend_from_slice(&(payload as u16).to_be_bytes());
            frame.extend((0..payload).map(|_| rng.next() as u8));
        }
        _ => {
            let options = if rng.below(5) == 0 { 4 } else { 0 };
            let protocol = [17, 6, 1][rng.below(3)];
            let total = (20 + options + payload) as u16;
            frame.extend_from_slice(&[0x08, 0x00, 0x45 + options as u8 / 4, tos]);
            frame.extend_from_slice(&total.to_be_bytes());
            let fragment = if rng.below(8) == 0 { 0x20 } else { 0x40 };
            frame.extend_from_slice(&[0, 1, fragment, 0, 64, protocol, 0, 0]);
            frame.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, rng.next() as u8]);
            frame.extend((0..options).map(|_| 1));
            let mut l4: std::vec::Vec<u8> = (0..payload).map(|_| rng.next() as u8).collect();
            if protocol == 17 {
                l4[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
            }
            frame.extend_from_slice(&l4);
        }
    }
    if rng.below(12) == 0 {
        frame.truncate(rng.below(frame.len()));
    }
    frame
}

/// The shapes of the default settings' paths, and the path each takes.
fn default_shapes() -> std::vec::Vec<(TunnelConfig, Path)> {
    let vni = Vni::new(77).unwrap();
    let vsid = crate::wire::Vsid::new(0x1234).unwrap();
    let v4 = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let v6: (Ipv6Addr, Ipv6Addr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let mut ovn = TunnelConfig::geneve(vni, v4.0, v4.1);
    ovn.geneve_options
        .push(0x0102, 0x80, &[0, 1, 0, 2])
        .unwrap();
    let mut two = TunnelConfig::geneve(vni, v4.0, v4.1);
    two.geneve_options.push(0x0102, 0x01, &[]).unwrap();
    two.geneve_options.push(0x0103, 0x02, &[]).unwrap();
    std::vec![
        (TunnelConfig::vxlan(vni, v4.0, v4.1), Path::Vxlan),
        (TunnelConfig::geneve(vni, v4.0, v4.1), Path::Vxlan),
        (TunnelConfig::nvgre(vsid, v4.0, v4.1), Path::Nvgre),
        (TunnelConfig::vxlan(vni, v6.0, v6.1), Path::Vxlan6),
        (TunnelConfig::geneve(vni, v6.0, v6.1), Path::Vxlan6),
        (TunnelConfig::nvgre(vsid, v6.0, v6.1), Path::Nvgre6),
        (ovn, Path::GeneveOvn),
        // Options of 8 bytes, whichever: the template holds them.
        (two, Path::GeneveOvn),
    ]
}

/// The default settings take the path of their layout, and any one setting changed
/// from its default, or an outer tag, or options of another length, the configured one.
#[test]
fn default_settings_take_their_layouts_path_and_any_other_the_configured_one() {
    use crate::tunnel::config::{Dscp, FlowId, FlowLabel};
    use crate::tunnel::ecn::EcnMode;
    use crate::tunnel::flow::PortRange;
    use crate::tunnel::inner_vlan::InnerVlanPolicy;
    type Change = fn(&mut TunnelConfig);
    let changes: [Change; 14] = [
        |c| c.symmetric_hash = true,
        |c| c.dscp = Dscp::Fixed(10),
        |c| c.dscp = Dscp::CopyInner,
        |c| c.ecn = EcnMode::Compatibility,
        |c| c.flow_id = FlowId::Fixed(0),
        |c| c.flow_label = FlowLabel::Fixed(0),
        |c| c.source_ports = PortRange::LINUX,
        |c| c.inner_vlan = InnerVlanPolicy::Reject,
        |c| c.dont_frag = false,
        |c| c.udp_checksum = true,
        |c| c.udp6_zero_checksum_tx = true,
        |c| {
            c.outer_vlan = Some(OuterVlan {
                vid: VlanId::usable(5).unwrap(),
                pcp: 0,
            })
        },
        |c| {
            if let Encapsulation::Geneve(_) = c.encapsulation {
                c.geneve_options.push(0x0104, 0x01, &[]).unwrap();
            } else {
                c.inner_vlan = InnerVlanPolicy::Keep;
            }
        },
        |c| c.mtu = 9000,
    ];
    for (config, path) in default_shapes() {
        assert_eq!(Encapsulator::new(config).unwrap().path, path);
        for (i, change) in changes.iter().enumerate() {
            let mut changed = config;
            change(&mut changed);
            let Ok(encapsulator) = Encapsulator::new(changed) else {
                continue; // a change this tunnel refuses (keeping NVGRE's tags)
            };
            // Settings that do not apply to the shape change no rule: the path stays.
            let unchanged = Rules::new(&changed) == Rules::new(&config)
                && changed.outer_vlan.is_none()
                && changed.geneve_options == config.geneve_options;
            let want = if unchanged { path } else { Path::Configured };
            assert_eq!(encapsulator.path, want, "{path:?} change {i}");
        }
    }
    // The MTU, addresses and segment are read per packet whatever the path.
    let (config, _) = default_shapes()[0];
    let mtu = TunnelConfig {
        mtu: 9000,
        ..config
    };
    assert_eq!(Encapsulator::new(mtu).unwrap().path, Path::Vxlan);
}

/// Each default settings' path writes what the configured path writes (the code every
/// other encapsulator runs, reading its rules per packet) in the same layout: the same
/// result, the same error, the same bytes, for frames of every shape, headroom short
/// by a byte or two now and then, frames over the MTU now and then; whole frames and
/// socket payloads.
#[test]
fn each_path_writes_what_the_configured_path_writes() {
    let mut rng = Rng(0x5eed_0000_0000_0018);
    for (mut config, path) in default_shapes() {
        // Most frames fit, the longest do not.
        config.mtu = 1500;
        let overhead = Encapsulator::new(config).unwrap().overhead();
        config.mtu = (overhead - 14 + 100) as u16;
        let mut fast = Encapsulator::new(config).unwrap();
        assert_eq!(fast.path, path);
        let mut configured = fast.clone();
        configured.path = Path::Configured;
        let mut written = 0;
        for _ in 0..3000 {
            let inner = any_inner_frame(&mut rng);
            let headroom = match rng.below(8) {
                0 => fast.overhead() - 1 - rng.below(2),
                _ => MAX_HEADROOM,
            };
            let mut buf = vec![0u8; headroom + inner.len() + rng.below(3)];
            buf[headroom..headroom + inner.len()].copy_from_slice(&inner);
            let range = headroom..headroom + inner.len() + usize::from(rng.below(40) == 0);
            let (mut a, mut b) = (buf.clone(), buf.clone());
            if rng.below(2) == 0 {
                let ours = fast.encapsulate(&mut a, range.clone());
                let theirs = configured.encapsulate(&mut b, range);
                assert_eq!(ours, theirs, "{path:?} {inner:02x?}");
                written += usize::from(ours.is_ok());
            } else {
                let ours = fast.encapsulate_payload(&mut a, range.clone());
                let theirs = configured.encapsulate_payload(&mut b, range);
                assert_eq!(ours, theirs, "{path:?} {inner:02x?}");
                written += usize::from(ours.is_ok());
            }
            assert!(a == b, "{path:?} {inner:02x?}");
        }
        // Mostly written, not mostly refused.
        assert!(written > 1500, "{path:?}: {written} of 3000 written");
    }
}

/// A batch writes what each frame written alone would: `encapsulate_each` on every
/// path, the configured one too (settings read per packet, an outer tag), hands each
/// buffer the result `encapsulate` gives it, with the same bytes, for frames of every
/// shape, some refused. Every shape here sets DF (IPv4 ID 0): with DF clear the IDs
/// come from a counter the whole process shares, so a batch after the frames alone
/// would take the IDs after theirs (the `encapsulate` fuzz check sets those aside).
#[test]
fn a_batch_writes_what_each_frame_alone_would() {
    let mut rng = Rng(0x5eed_0000_0000_0042);
    let mut configured = TunnelConfig::vxlan(
        Vni::new(9).unwrap(),
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
    );
    configured.udp_checksum = true;
    configured.outer_vlan = Some(OuterVlan {
        vid: VlanId::usable(5).unwrap(),
        pcp: 0,
    });
    let shapes = default_shapes()
        .into_iter()
        .chain([(configured, Path::Configured)]);
    for (mut config, path) in shapes {
        config.mtu = 1200;
        let mut alone = Encapsulator::new(config).unwrap();
        assert_eq!(alone.path, path);
        let mut batched = alone.clone();
        let frames: std::vec::Vec<_> = (0..200)
            .map(|_| {
                let inner = any_inner_frame(&mut rng);
                let headroom = match rng.below(8) {
                    0 => alone.overhead() - 1,
                    _ => MAX_HEADROOM,
                };
                let mut buf = vec![0u8; headroom + inner.len()];
                buf[headroom..].copy_from_slice(&inner);
                (buf, headroom..headroom + inner.len())
            })
            .collect();
        let mut expected = frames.clone();
        let results: std::vec::Vec<_> = expected
            .iter_mut()
            .map(|(buf, range)| alone.encapsulate(buf, range.clone()))
            .collect();
        let mut written = frames.clone();
        let mut handed = std::vec::Vec::new();
        batched.encapsulate_each(
            written
                .iter_mut()
                .map(|(buf, range)| (buf.as_mut_slice(), range.clone())),
            |buf, result| handed.push((buf.len(), result)),
        );
        assert_eq!(handed.len(), frames.len(), "{path:?}");
        for (i, ((len, result), expected_result)) in handed.iter().zip(&results).enumerate() {
            assert_eq!(
                *len,
                frames[i].0.len(),
                "{path:?} frame {i}: another buffer"
            );
            assert_eq!(result, expected_result, "{path:?} frame {i}");
            assert!(written[i].0 == expected[i].0, "{path:?} frame {i}: bytes");
        }
        let sent = results.iter().filter(|result| result.is_ok()).count();
        assert!(
            (100..200).contains(&sent),
            "{path:?}: {sent} of 200 written"
        );
    }
}
