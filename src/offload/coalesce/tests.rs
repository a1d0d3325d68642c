use super::*;
use crate::checksum;
use std::vec::Vec;

/// A TCP segment over IPv4 (DF set when `df`) from port `sport`, checksums complete.
fn segment(sport: u16, seq: u32, payload: usize, flags: u8, id: u16, df: bool) -> Vec<u8> {
    let mut f = std::vec![0u8; 54 + payload];
    f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
    f[18..20].copy_from_slice(&id.to_be_bytes());
    f[20] = if df { 0x40 } else { 0 };
    f[22] = 64;
    f[23] = 6;
    f[26..34].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f[38..42].copy_from_slice(&seq.to_be_bytes());
    f[42..46].copy_from_slice(&7u32.to_be_bytes());
    f[46] = 5 << 4;
    f[47] = flags;
    f[48..50].copy_from_slice(&512u16.to_be_bytes());
    for (i, b) in f[54..].iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    let layout = frame::parse(&f).unwrap();
    let sum = checksum::combine(
        frame::pseudo_header_sum(&f, &layout, 20 + payload),
        checksum::sum(&f[34..]),
    );
    f[50..52].copy_from_slice(&checksum::finish(sum).to_be_bytes());
    f
}

const ACK: u8 = tcp::ACK_FLAG;
/// A UDP datagram over IPv4 (DF set) from port `sport`, its `n`th of a run,
/// `payload` bytes, checksums complete (or the UDP checksum 0 when `zero`).
fn datagram(sport: u16, n: u8, payload: usize, zero: bool) -> Vec<u8> {
    let mut f = std::vec![0u8; 42 + payload];
    f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((28 + payload) as u16).to_be_bytes());
    f[18..20].copy_from_slice(&u16::from(n).to_be_bytes());
    f[20] = 0x40;
    f[22] = 64;
    f[23] = 17;
    f[26..34].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&5201u16.to_be_bytes());
    f[38..40].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    for (i, b) in f[42..].iter_mut().enumerate() {
        *b = n.wrapping_mul(31).wrapping_add(i as u8);
    }
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    if !zero {
        let layout = frame::parse(&f).unwrap();
        let sum = checksum::combine(
            frame::pseudo_header_sum(&f, &layout, 8 + payload),
            checksum::sum(&f[34..]),
        );
        f[40..42].copy_from_slice(&checksum::finish(sum).to_be_bytes());
    }
    f
}

#[test]
fn a_run_of_one_flows_datagrams_makes_one_uso_super_frame_that_segments_back() {
    let run_of: Vec<_> = (0..5u8)
        .map(|n| datagram(4000, n, if n == 4 { 7 } else { 18 }, false))
        .collect();
    let mut storage = storage();
    let (outcomes, written) = run::<4>(&mut storage, &run_of);
    assert_eq!(outcomes[0], Outcome::Opened);
    assert_eq!(outcomes[4], Outcome::Closed, "the short one ends it");
    assert_eq!(written.len(), 1);
    let (hdr, super_frame) = &written[0];
    assert_eq!(hdr.gso_type, GsoType::UDP_L4);
    assert_eq!((hdr.gso_size, hdr.csum_start, hdr.csum_offset), (18, 34, 6));
    assert!(hdr.flags.contains(Flags::NEEDS_CSUM));
    // What the kernel does with it: datagrams again, each with its length, its
    // checksum and, DF being set, any ID (the segmenter counts from the first).
    let mut segmenter = crate::offload::Segmenter::new(super_frame, hdr).unwrap();
    let mut out = [0u8; 128];
    for original in &run_of {
        let len = segmenter.next_into(&mut out).unwrap().unwrap();
        let (mut got, mut want) = (out[..len].to_vec(), original.clone());
        // IDs differ only where DF makes them meaningless; both headers checked.
        got[18..20].fill(0);
        want[18..20].fill(0);
        got[24..26].fill(0);
        want[24..26].fill(0);
        assert_eq!(got, want);
    }
    assert!(segmenter.next_into(&mut out).is_none());
}

#[test]
fn udp_flows_never_mix_and_unchecked_datagrams_pass() {
    let frames = [
        datagram(4000, 0, 18, false),
        datagram(4001, 0, 18, false),
        datagram(4000, 1, 18, false),
        datagram(4001, 1, 18, false),
        datagram(4002, 0, 18, true),
    ];
    let mut storage = storage();
    let (outcomes, written) = run::<4>(&mut storage, &frames);
    assert_eq!(outcomes[4], Outcome::Passed(Pass::NoChecksum));
    let gso: Vec<_> = written
        .iter()
        .filter(|(h, _)| h.gso_type == GsoType::UDP_L4)
        .collect();
    assert_eq!(gso.len(), 2, "one super-frame per flow");
    for (_, bytes) in gso {
        assert_eq!(bytes.len(), 42 + 36, "two datagrams of one flow");
    }
}

/// Pushes every frame, then flushes; returns the outcomes and what was written.
fn run<const N: usize>(
    storage: &mut [u8],
    frames: &[Vec<u8>],
) -> (Vec<Outcome>, Vec<(VirtioNetHdr, Vec<u8>)>) {
    let mut coalescer = Coalescer::<N>::new(storage);
    let mut written = Vec::new();
    let mut outcomes = Vec::new();
    for f in frames {
        outcomes.push(coalescer.push(f, |e| written.push((e.hdr, e.frame.to_vec()))));
    }
    coalescer.flush(|e| written.push((e.hdr, e.frame.to_vec())));
    assert_eq!(coalescer.open_flows(), 0);
    (outcomes, written)
}

fn storage() -> Vec<u8> {
    std::vec![0u8; 4 * MAX_SUPER_FRAME_LEN]
}

#[test]
fn consecutive_segments_make_one_super_frame_with_a_partial_checksum() {
    let frames = [
        segment(1000, 100, 500, ACK, 9, true),
        segment(1000, 600, 500, ACK, 10, true),
        segment(1000, 1100, 200, ACK | tcp::PSH, 11, true),
    ];
    let (outcomes, written) = run::<4>(&mut storage(), &frames);
    assert_eq!(
        outcomes,
        [Outcome::Opened, Outcome::Appended, Outcome::Closed]
    );
    assert_eq!(written.len(), 1);
    let (hdr, bytes) = &written[0];
    assert_eq!(
        *hdr,
        VirtioNetHdr {
            flags: Flags::NEEDS_CSUM,
            gso_type: GsoType::TCPV4,
            hdr_len: 54,
            gso_size: 500,
            csum_start: 34,
            csum_offset: 16,
        }
    );
    assert_eq!(bytes.len(), 54 + 1200);
    assert_eq!(&bytes[16..18], &1240u16.to_be_bytes());
    assert_eq!(
        &bytes[18..20],
        &9u16.to_be_bytes(),
        "the first segment's ID"
    );
    assert_eq!(checksum::sum(&bytes[14..34]), 0xffff);
    assert_eq!(bytes[47], ACK | tcp::PSH);
    let layout = frame::parse(bytes).unwrap();
    assert_eq!(
        &bytes[50..52],
        &frame::pseudo_header_sum(bytes, &layout, 1220).to_be_bytes()
    );
    assert_eq!(
        &bytes[54..],
        &segment(1, 100, 1200, ACK, 0, true)[54..],
        "payload in order"
    );
}

#[test]
fn a_frame_of_an_open_flow_that_cannot_join_goes_out_after_it() {
    let mut bad = segment(1000, 600, 500, ACK, 10, true);
    bad[60] ^= 1;
    let fin = segment(1000, 600, 500, ACK | tcp::FIN, 10, true);
    for (second, pass) in [(bad, Pass::BadChecksum), (fin, Pass::Flags)] {
        let frames = [segment(1000, 100, 500, ACK, 9, true), second.clone()];
        let (outcomes, written) = run::<4>(&mut storage(), &frames);
        assert_eq!(outcomes, [Outcome::Opened, Outcome::Passed(pass)]);
        assert_eq!(
            written,
            [
                (VirtioNetHdr::NONE, frames[0].clone()),
                (VirtioNetHdr::NONE, second)
            ]
        );
    }
}

#[test]
fn what_passes_and_why() {
    let mut padded = segment(1, 0, 4, ACK, 0, true);
    padded.extend_from_slice(&[0, 0]);
    let mut options = segment(1, 0, 4, ACK, 0, true);
    options.splice(34..34, [1, 1, 1, 1]); // four NOP options
    options[14] = 0x46;
    options[17] += 4;
    let cases = [
        (std::vec![0u8; 60], Pass::NotTcp),
        (segment(1, 0, 0, ACK, 0, true), Pass::NoPayload),
        (segment(1, 0, 10, tcp::SYN | ACK, 0, true), Pass::Flags),
        (segment(1, 0, 10, 0, 0, true), Pass::Flags),
        (segment(1, 0, 10, ACK | tcp::CWR, 0, true), Pass::Flags),
        (segment(1, 0, 10, ACK | tcp::PSH, 0, true), Pass::Push),
        (padded, Pass::Padding),
        (options, Pass::IpOptions),
    ];
    for (frame, pass) in cases {
        let (outcomes, written) = run::<4>(&mut storage(), core::slice::from_ref(&frame));
        assert_eq!(outcomes, [Outcome::Passed(pass)]);
        assert_eq!(written, [(VirtioNetHdr::NONE, frame)]);
    }
    let mut tiny = [0u8; 4 * 100];
    let (outcomes, _) = run::<4>(&mut tiny, &[segment(1, 0, 60, ACK, 0, true)]);
    assert_eq!(outcomes, [Outcome::Passed(Pass::TooLong)]);
}

#[test]
fn a_gap_a_longer_segment_or_a_shorter_one_ends_the_super_frame() {
    let frames = [
        segment(1, 0, 100, ACK, 0, true),
        segment(1, 200, 100, ACK, 0, true), // a gap: the first goes out alone
        segment(1, 300, 150, ACK, 0, true), // longer: the second goes out alone
        segment(1, 450, 150, ACK, 0, true),
        segment(1, 600, 20, ACK, 0, true), // shorter: appended, closes
        segment(1, 620, 20, ACK, 0, true),
    ];
    let (outcomes, written) = run::<4>(&mut storage(), &frames);
    use Outcome::*;
    assert_eq!(outcomes, [Opened, Opened, Opened, Appended, Closed, Opened]);
    let lengths: Vec<_> = written
        .iter()
        .map(|(h, f)| (h.gso_size, f.len() - 54))
        .collect();
    assert_eq!(lengths, [(0, 100), (0, 100), (150, 320), (0, 20)]);
}

#[test]
fn without_df_only_consecutive_ids_join() {
    let frames = [
        segment(1, 0, 100, ACK, 5, false),
        segment(1, 100, 100, ACK, 7, false),
    ];
    let (_, written) = run::<4>(&mut storage(), &frames);
    assert_eq!(written.len(), 2);
    let frames = [
        segment(1, 0, 100, ACK, 5, false),
        segment(1, 100, 100, ACK, 6, false),
    ];
    assert_eq!(run::<4>(&mut storage(), &frames).1.len(), 1);
    let frames = [
        segment(1, 0, 100, ACK, 5, true),
        segment(1, 100, 100, ACK, 70, true),
    ];
    assert_eq!(
        run::<4>(&mut storage(), &frames).1.len(),
        1,
        "with DF the ID is not looked at"
    );
}

#[test]
fn flows_never_mix_and_the_oldest_makes_room() {
    let frames = [
        segment(1, 0, 100, ACK, 0, true),
        segment(2, 0, 100, ACK, 0, true),
        segment(1, 100, 100, ACK, 1, true),
        segment(2, 100, 100, ACK, 1, true),
    ];
    let (_, written) = run::<2>(&mut storage(), &frames);
    assert_eq!(written.len(), 2);
    for (hdr, bytes) in &written {
        assert_eq!((hdr.gso_size, bytes.len()), (100, 254));
    }
    // One slot: each new flow writes out the other's, so nothing joins.
    let (outcomes, written) = run::<1>(&mut storage(), &frames);
    assert!(outcomes.iter().all(|o| *o == Outcome::Opened));
    assert_eq!(
        written.iter().map(|w| w.1.clone()).collect::<Vec<_>>(),
        frames
    );
}

#[test]
fn super_frames_stop_at_65535_bytes_of_ip_length() {
    let frames: Vec<_> = (0..50)
        .map(|i| segment(1, i * 1400, 1400, ACK, i as u16, true))
        .collect();
    let (_, written) = run::<1>(&mut storage(), &frames);
    for (_, bytes) in &written {
        assert!(bytes.len() - 14 <= 65535);
    }
    // 40 + 46 * 1400 = 64440; a 47th would pass 65535.
    assert_eq!(written[0].1.len() - 54, 46 * 1400);
    assert_eq!(written.len(), 2);
}
