//! pcapng files: both byte orders, interfaces of their own link type and resolution, the
//! three packet blocks, sections, files cut at every byte, malformed blocks, absurd lengths.

use std::time::Duration;
use std::vec::Vec;

use super::super::*;
use super::{Seen, read_all, records};

/// A little-endian pcapng: a Section Header Block (with a comment option), interface 0
/// (Ethernet, no snap length, microseconds by default), interface 1 (link type 101, raw
/// IP, snap length 4, `if_tsresol` 9: nanoseconds), an Enhanced Packet Block on each, an
/// Interface Statistics Block to skip, and a Simple Packet Block (interface 0).
pub(super) const PCAPNG_LE: &[u8] = &[
    // Section Header Block, 36 bytes: byte-order magic, version 1.0, length unknown,
    // opt_comment "hi" (padded).
    0x0a, 0x0d, 0x0d, 0x0a, 0x24, 0x00, 0x00, 0x00, //
    0x4d, 0x3c, 0x2b, 0x1a, 0x01, 0x00, 0x00, 0x00, //
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //
    0x01, 0x00, 0x02, 0x00, b'h', b'i', 0x00, 0x00, //
    0x24, 0x00, 0x00, 0x00, //
    // Interface Description Block 0, 20 bytes: Ethernet, snap length 0, no options.
    0x01, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, //
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    0x14, 0x00, 0x00, 0x00, //
    // Interface Description Block 1, 32 bytes: link type 101, snap length 4, if_tsresol
    // 9 (padded), opt_endofopt.
    0x01, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, //
    0x65, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, //
    0x09, 0x00, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, //
    // Enhanced Packet Block, 36 bytes: interface 0, 1_500_000 us (1.5 s), 3 of 3 bytes
    // (padded).
    0x06, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    0x60, 0xe3, 0x16, 0x00, 0x03, 0x00, 0x00, 0x00, //
    0x03, 0x00, 0x00, 0x00, 0x0a, 0x0b, 0x0c, 0x00, //
    0x24, 0x00, 0x00, 0x00, //
    // Enhanced Packet Block, 44 bytes: interface 1, 2^32 + 7 ns, 4 of 1500 bytes, an
    // epb_flags option.
    0x06, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, //
    0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, //
    0x07, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, //
    0xdc, 0x05, 0x00, 0x00, 0x45, 0x00, 0x05, 0xdc, //
    0x02, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, //
    0x2c, 0x00, 0x00, 0x00, //
    // Interface Statistics Block, 24 bytes: skipped.
    0x05, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, //
    // Simple Packet Block, 24 bytes: a 5-byte frame (padded).
    0x03, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, //
    0x05, 0x00, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, //
    0x55, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,
];

/// What `PCAPNG_LE` holds.
fn pcapng_records() -> Vec<Seen> {
    vec![
        (
            1,
            Duration::from_millis(1500),
            3,
            vec![0x0a, 0x0b, 0x0c],
            0,
            1,
        ),
        (
            2,
            Duration::new(4, 294_967_303),
            1500,
            vec![0x45, 0x00, 0x05, 0xdc],
            1,
            101,
        ),
        (
            3,
            Duration::ZERO,
            5,
            vec![0x11, 0x22, 0x33, 0x44, 0x55],
            0,
            1,
        ),
    ]
}

/// Where each block of `PCAPNG_LE` begins, and its length.
const PCAPNG_BLOCKS: [(usize, usize); 7] = [
    (0, 36),
    (36, 20),
    (56, 32),
    (88, 36),
    (124, 44),
    (168, 24),
    (192, 24),
];

/// `PCAPNG_LE` as a big-endian writer writes it: each block's numbers reversed, the
/// captured bytes and the option strings as they are.
fn pcapng_big_endian() -> Vec<u8> {
    let mut file = PCAPNG_LE.to_vec();
    let flip = |file: &mut Vec<u8>, at: usize, width: usize| file[at..at + width].reverse();
    for (start, len) in PCAPNG_BLOCKS {
        flip(&mut file, start + 4, 4);
        flip(&mut file, start + len - 4, 4);
        if start != 0 {
            flip(&mut file, start, 4);
        }
    }
    // Section: byte-order magic, versions, option headers.
    for (at, width) in [(8, 4), (12, 2), (14, 2), (24, 2), (26, 2)] {
        flip(&mut file, at, width);
    }
    // Interfaces: link types and snap lengths, interface 1's option headers.
    for (at, width) in [
        (44, 2),
        (48, 4),
        (64, 2),
        (68, 4),
        (72, 2),
        (74, 2),
        (80, 2),
        (82, 2),
    ] {
        flip(&mut file, at, width);
    }
    // Enhanced packets: interface, time, lengths; the second one's option header and value.
    for block in [88, 124] {
        for field in 0..5 {
            flip(&mut file, block + 8 + 4 * field, 4);
        }
    }
    for (at, width) in [(156, 2), (158, 2), (160, 4)] {
        flip(&mut file, at, width);
    }
    // Statistics: interface and time; the simple packet's length.
    for at in [176, 180, 184, 200] {
        flip(&mut file, at, 4);
    }
    file
}

#[test]
fn pcapng_in_either_byte_order_with_interfaces_of_their_own_resolution() {
    assert_eq!(records(PCAPNG_LE), pcapng_records());
    let big = pcapng_big_endian();
    assert_eq!(big[8..12], [0x1a, 0x2b, 0x3c, 0x4d]);
    assert_eq!(records(&big), pcapng_records());
    assert_eq!(Reader::new(PCAPNG_LE).unwrap().format(), Format::PcapNg);
}

/// An Interface Description Block (little-endian) for Ethernet with `if_tsresol`.
fn interface(tsresol: u8) -> Vec<u8> {
    [
        &[0x01, 0, 0, 0, 0x1c, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0][..],
        &[0x09, 0, 0x01, 0, tsresol, 0, 0, 0, 0x1c, 0, 0, 0],
    ]
    .concat()
}

/// An Enhanced Packet Block (little-endian) on `interface` at `units`, of one byte.
fn enhanced(interface: u8, units: u64) -> Vec<u8> {
    let [l0, l1, l2, l3, l4, l5, l6, l7] = units.to_le_bytes();
    vec![
        0x06, 0, 0, 0, 0x24, 0, 0, 0, interface, 0, 0, 0, //
        l4, l5, l6, l7, l0, l1, l2, l3, 1, 0, 0, 0, 1, 0, 0, 0, //
        0x99, 0, 0, 0, 0x24, 0, 0, 0,
    ]
}

#[test]
fn timestamps_follow_each_interfaces_resolution() {
    let section = &PCAPNG_LE[..36];
    let cases: [(u8, u64, Duration); 5] = [
        (6, 1_234_567, Duration::new(1, 234_567_000)),
        (9, 1_234_567_891, Duration::new(1, 234_567_891)),
        (0, 42, Duration::from_secs(42)),
        // 2^-10 seconds: 1536 units are 1.5 s.
        (0x8a, 1536, Duration::from_millis(1500)),
        // 2^-63 seconds: the finest a 64-bit count of units allows.
        (0xbf, 3 << 62, Duration::from_millis(1500)),
    ];
    for (tsresol, units, expected) in cases {
        let file = [section, &interface(tsresol), &enhanced(0, units)].concat();
        assert_eq!(records(&file)[0].1, expected, "if_tsresol {tsresol:#x}");
    }
    // Past 2^63 or 10^19 units per second, a count of 64 bits would not reach a second.
    for tsresol in [20, 0xc0] {
        let file = [section, &interface(tsresol)].concat();
        let (_, error) = read_all(&file);
        assert!(
            matches!(error, Some(Error::Malformed { offset: 36, problem: Problem::Resolution(r), .. }) if r == tsresol),
            "{error:?}"
        );
    }
}

#[test]
fn the_obsolete_packet_block_is_read_and_unknown_blocks_skipped() {
    let section_and_interface = &PCAPNG_LE[..56];
    // Packet Block, 32 bytes: interface 0 (16 bits), 0 drops, 2 us, 0 of 9 bytes.
    let packet: &[u8] = &[
        0x02, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x09, 0,
        0, 0, 0x20, 0, 0, 0,
    ];
    // A custom block (type 0x0bad) and a type nobody has defined.
    let custom: &[u8] = &[0xad, 0x0b, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4, 0x10, 0, 0, 0];
    let unknown: &[u8] = &[0x77, 0x77, 0, 0, 0x0c, 0, 0, 0, 0x0c, 0, 0, 0];
    let file = [section_and_interface, custom, packet, unknown].concat();
    assert_eq!(
        records(&file),
        [(1, Duration::from_micros(2), 9, vec![], 0, 1)]
    );
}

#[test]
fn a_simple_packet_block_holds_the_frame_cut_to_the_snap_length() {
    // Interface 1 of PCAPNG_LE becomes interface 0 of its own section: snap length 4.
    let file = [&PCAPNG_LE[..36], &PCAPNG_LE[56..88], &PCAPNG_LE[192..]].concat();
    assert_eq!(
        records(&file),
        [(1, Duration::ZERO, 5, vec![0x11, 0x22, 0x33, 0x44], 0, 101)]
    );
}

#[test]
fn a_new_section_numbers_its_interfaces_afresh_in_its_own_byte_order() {
    let big = pcapng_big_endian();
    // Two sections: the second has no interface 1.
    let file = [&big[..], &PCAPNG_LE[..124]].concat();
    let mut expected = pcapng_records();
    expected.push((
        4,
        Duration::from_millis(1500),
        3,
        vec![0x0a, 0x0b, 0x0c],
        0,
        1,
    ));
    assert_eq!(records(&file), expected);
    let file = [&big[..], &PCAPNG_LE[..56], &PCAPNG_LE[124..168]].concat();
    let (read, error) = read_all(&file);
    assert_eq!(read.len(), 3);
    assert!(
        matches!(
            error,
            Some(Error::Malformed { what: "pcapng Enhanced Packet Block", offset, problem: Problem::UnknownInterface(1) })
                if offset == big.len() as u64 + 56
        ),
        "{error:?}"
    );
}

#[test]
fn a_pcapng_cut_short_gives_the_records_before_the_cut_and_says_where() {
    let all = pcapng_records();
    // Records end with the blocks at 88, 124 and 192.
    for len in 36..PCAPNG_LE.len() {
        let (read, error) = read_all(&PCAPNG_LE[..len]);
        let (start, block_len) = *PCAPNG_BLOCKS
            .iter()
            .rev()
            .find(|(start, _)| *start <= len)
            .unwrap();
        if len == start {
            assert!(error.is_none(), "cut at {len}: {error:?}");
        } else {
            let Some(Error::Truncated { offset, what }) = error else {
                panic!("cut at {len}: {error:?}");
            };
            assert_eq!(offset, start as u64, "cut at {len}");
            if len - start >= 8 {
                // The block's type was read: the error names it.
                assert!(
                    what.starts_with("pcapng ") && what.ends_with(" Block"),
                    "{what}"
                );
            }
            assert!(len < start + block_len);
        }
        let whole = PCAPNG_BLOCKS
            .iter()
            .filter(|&&(s, l)| s + l <= len && [88, 124, 192].contains(&s));
        assert_eq!(read, all[..whole.count()], "cut at {len}");
    }
    // Cut inside the Section Header Block, the file is no capture.
    for len in 4..36 {
        let error = Reader::new(&PCAPNG_LE[..len]).err();
        assert!(
            matches!(error, Some(Error::NotACapture(Unrecognised::ShortHeader))),
            "{len}"
        );
    }
}

#[test]
fn malformed_pcapng_blocks_are_named() {
    let at_epb = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut file = PCAPNG_LE.to_vec();
        change(&mut file);
        read_all(&file).1.expect("an error")
    };
    let problem = |error: Error| match error {
        Error::Malformed {
            what,
            offset,
            problem,
        } => {
            assert_eq!((what, offset), ("pcapng Enhanced Packet Block", 88));
            problem
        }
        e => panic!("{e}"),
    };
    // A length that is no multiple of 4, or too short for the block's own fields.
    assert_eq!(
        problem(at_epb(&|f| f[92] = 0x23)),
        Problem::BlockLength(0x23)
    );
    assert_eq!(problem(at_epb(&|f| f[92] = 0x08)), Problem::BlockLength(8));
    assert_eq!(problem(at_epb(&|f| f[92] = 0x10)), Problem::PastBlock);
    // The length at the end differs.
    assert_eq!(
        problem(at_epb(&|f| f[120] = 0x28)),
        Problem::TrailingLength {
            leading: 0x24,
            trailing: 0x28
        }
    );
    // Captured bytes past the block.
    assert_eq!(problem(at_epb(&|f| f[108] = 0x09)), Problem::PastBlock);
    // An interface no block described.
    assert_eq!(
        problem(at_epb(&|f| f[96] = 2)),
        Problem::UnknownInterface(2)
    );
    // A later section of version 2.0.
    let mut file = [PCAPNG_LE, &PCAPNG_LE[..36]].concat();
    file[PCAPNG_LE.len() + 12] = 2;
    let (read, error) = read_all(&file);
    assert_eq!(read.len(), 3);
    assert!(
        matches!(
            error,
            Some(Error::Malformed {
                problem: Problem::Version { major: 2, minor: 0 },
                ..
            })
        ),
        "{error:?}"
    );
    // The first section of version 2.0: not a capture this reader knows.
    let mut file = PCAPNG_LE.to_vec();
    file[12] = 2;
    assert_eq!(
        Reader::new(&file[..]).err().unwrap().to_string(),
        "not a pcap or pcapng file (Section Header Block: version 2.0, where this reader knows 1.x)"
    );
}

#[test]
fn an_absurd_pcapng_length_is_refused_before_it_is_read() {
    let mut file = PCAPNG_LE.to_vec();
    file[108..112].copy_from_slice(&0xffff_fff0_u32.to_le_bytes());
    let (read, error) = read_all(&file);
    assert!(read.is_empty());
    assert!(
        matches!(
            error,
            Some(Error::TooLong {
                offset: 88,
                len: 0xffff_fff0,
                ..
            })
        ),
        "{error:?}"
    );
    // A simple packet's length comes from its frame: bounded by the block and the limit.
    let mut reader = Reader::new(PCAPNG_LE).unwrap().with_max_record_len(4);
    assert!(reader.next_record().unwrap().is_some());
    assert!(reader.next_record().unwrap().is_some());
    assert!(matches!(
        reader.next_record(),
        Err(Error::TooLong {
            offset: 192,
            len: 5,
            limit: 4,
            ..
        })
    ));
}
