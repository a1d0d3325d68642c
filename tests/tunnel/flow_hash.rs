//! The flow hash: one port per flow, an even spread over ports and FlowIDs, fragments and
//! the symmetric option, keys of decoded stacks, and flow hash v2's documented values.

use tunnelwire::packet::Decoder;
use tunnelwire::tunnel::flow::FlowKey;
use tunnelwire::tunnel::{Encapsulator, PortRange};

use super::*;

#[test]
fn one_flow_one_port_and_distinct_l3_l4_flows_spread_with_one_mac_pair() {
    let mut encap = Encapsulator::new(config(false, 7)).unwrap();
    let mut port_of = |inner: &[u8]| {
        let (mut buf, range) = with_headroom(inner);
        let frame = encap.encapsulate(&mut buf, range).unwrap();
        Decoder::new()
            .decode(&buf[frame])
            .unwrap()
            .outer
            .udp()
            .unwrap()
            .src_port()
    };
    let flow = inner_frame(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        (1000, 80),
        0,
        20,
    );
    let first = port_of(&flow);
    for _ in 0..10 {
        assert_eq!(port_of(&flow), first);
    }
    // 1000 flows sharing one MAC pair: the entropy comes from L3/L4.
    let mut ports = std::collections::HashSet::new();
    for i in 0..1000u16 {
        let inner = inner_frame(
            Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8),
            Ipv4Addr::new(10, 9, 9, 9),
            (i, 443),
            0,
            20,
        );
        ports.insert(port_of(&inner));
    }
    // 1000 draws from 16384 ports: about 970 distinct expected.
    eprintln!(
        "1000 flows, one MAC pair: {} distinct source ports",
        ports.len()
    );
    assert!(ports.len() > 950, "{} distinct ports", ports.len());
}

/// Pearson's chi-square statistic of `counts` against a uniform spread.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

#[test]
fn flow_hash_spreads_evenly_over_ports_and_flow_ids() {
    // 100k random flows (xorshift, fixed seed): MACs, addresses and ports all vary.
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let range = PortRange::LINUX;
    let buckets = 256usize;
    let mut port_buckets = vec![0u64; buckets];
    let mut flow_ids = vec![0u64; 256];
    for _ in 0..100_000 {
        let (a, b) = (next(), next());
        let key = FlowKey::new(
            MacAddr((a >> 16).to_be_bytes()[2..].try_into().unwrap()),
            MacAddr((b >> 16).to_be_bytes()[2..].try_into().unwrap()),
            0x0800,
            0,
            Some((
                Ipv4Addr::from((a >> 32) as u32),
                Ipv4Addr::from(b as u32),
                17,
            )),
            Some(((a >> 8) as u16, (b >> 40) as u16)),
        );
        let hash = key.hash();
        let port = hash.source_port(range);
        assert!((range.lo()..=range.hi()).contains(&port));
        port_buckets[usize::from(port - range.lo()) * buckets
            / (usize::from(range.hi() - range.lo()) + 1)] += 1;
        flow_ids[usize::from(hash.flow_id())] += 1;
    }
    // 255 degrees of freedom: the 99.9th percentile of chi-square is about 330.
    let (ports_chi, ids_chi) = (chi_square(&port_buckets), chi_square(&flow_ids));
    eprintln!("chi-square over 256 buckets: ports {ports_chi:.1}, FlowIDs {ids_chi:.1}");
    assert!(ports_chi < 330.0, "ports chi-square {ports_chi}");
    assert!(ids_chi < 330.0, "FlowID chi-square {ids_chi}");
}

#[test]
fn fragments_of_one_datagram_hash_alike_and_symmetric_option_pairs_directions() {
    let whole = inner_frame(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        (5000, 53),
        0,
        100,
    );
    let mut first = whole.clone();
    first[14 + 6] = 0x20; // MF: first fragment, still carrying the UDP header
    let mut later = whole[..14 + 20 + 16].to_vec();
    later[14 + 6..14 + 8].copy_from_slice(&0x0003u16.to_be_bytes()); // offset 24 bytes, last
    later[14 + 2..14 + 4].copy_from_slice(&36u16.to_be_bytes());
    assert_eq!(
        FlowKey::from_frame(&first).hash(),
        FlowKey::from_frame(&later).hash()
    );
    assert_ne!(
        FlowKey::from_frame(&first).hash(),
        FlowKey::from_frame(&whole).hash()
    );

    let forward = FlowKey::from_frame(&whole);
    let (a, b) = (
        MacAddr([0x02, 0, 0, 0, 0, 0xaa]),
        MacAddr([0x02, 0, 0, 0, 0, 0xbb]),
    );
    let (x, y) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(
        forward,
        FlowKey::new(b, a, 0x0800, 0, Some((x, y, 17)), Some((5000, 53)))
    );
    let reverse = FlowKey::new(a, b, 0x0800, 0, Some((y, x, 17)), Some((53, 5000)));
    assert_ne!(forward.hash(), reverse.hash());
    assert_eq!(forward.symmetric().hash(), reverse.symmetric().hash());
}

#[test]
fn the_flow_key_of_a_decoded_stack_is_the_key_of_its_frame() {
    // QinQ-tagged Ethernet/IPv4/UDP: the key takes the first tag's VID and the EtherType
    // after the last tag, whether it is read from the frame or from its decoded stack.
    let plain = inner_frame(SRC, DST, (5000, 53), 0, 4);
    let mut tagged = plain[..12].to_vec();
    tagged.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8]);
    tagged.extend_from_slice(&plain[12..]);
    let (stack, error) = tunnelwire::packet::Stack::decode(&tagged);
    assert_eq!(error, None);
    let expected = FlowKey::new(
        MacAddr(plain[..6].try_into().unwrap()),
        MacAddr(plain[6..12].try_into().unwrap()),
        0x0800,
        100,
        Some((SRC, DST, 17)),
        Some((5000, 53)),
    );
    assert_eq!(FlowKey::from_stack(&stack), expected);
    assert_eq!(FlowKey::from_frame(&tagged), expected);
}

#[test]
fn flow_hash_v2_gives_its_documented_values() {
    // Known answers, computed from the definition in `tunnel::flow`'s docs by an
    // independent implementation (Python integers), not by this crate: the hash is
    // stable, so peers and captures can rely on these values.
    let (dst, src) = (
        MacAddr([2, 0, 0, 0, 0, 0xbb]),
        MacAddr([2, 0, 0, 0, 0, 0xaa]),
    );
    let v4 = FlowKey::new(
        dst,
        src,
        0x0800,
        100,
        Some((SRC, DST, 17)),
        Some((5000, 53)),
    );
    let hash = v4.hash();
    assert_eq!(hash.0, 0x86b9_c1a9_b11b_886b);
    assert_eq!(hash.source_port(PortRange::DYNAMIC), 57774);
    assert_eq!(hash.flow_id(), 177);

    let (a, b) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let v6 = FlowKey::new_ipv6(dst, src, 0, (a, b, 6, 0xbeef), Some((443, 40000)));
    let hash = v6.hash();
    assert_eq!(hash.0, 0x5002_e75e_e071_79ee);
    assert_eq!(hash.source_port(PortRange::LINUX), 41591);
    assert_eq!(hash.flow_id(), 224);
}

#[test]
fn the_symmetric_hash_leaves_out_the_flow_label() {
    // RFC 6437: each direction labels its flow on its own, so the label cannot count.
    let (dst, src) = (
        MacAddr([2, 0, 0, 0, 0, 0xbb]),
        MacAddr([2, 0, 0, 0, 0, 0xaa]),
    );
    let (a, b) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let labelled = FlowKey::new_ipv6(dst, src, 0, (a, b, 6, 0xbeef), Some((443, 40000)));
    let unlabelled = FlowKey::new_ipv6(dst, src, 0, (a, b, 6, 0), Some((443, 40000)));
    assert_ne!(labelled.hash(), unlabelled.hash());
    assert_eq!(labelled.symmetric(), unlabelled.symmetric());
    let reply = FlowKey::new_ipv6(src, dst, 0, (b, a, 6, 0x1234), Some((40000, 443)));
    assert_eq!(reply.symmetric(), labelled.symmetric());
}
