//! pcap files: each magic number and byte order, snap-length cuts, files cut short,
//! absurd lengths, inputs that are no capture; and the writer's bytes.

use std::time::Duration;
use std::vec::Vec;

use super::super::*;
use super::{read_all, records};

/// A big-endian microsecond pcap: snap length 96, Ethernet, then two records: 4 bytes of
/// a 60-byte frame at 1.000002 s (cut by the snap length), and a whole 3-byte one at 2 s.
pub(super) const PCAP_BE_MICRO: &[u8] = &[
    0xa1, 0xb2, 0xc3, 0xd4, 0x00, 0x02, 0x00, 0x04, // magic, version 2.4
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // thiszone, sigfigs
    0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x01, // snaplen 96, Ethernet
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // 1 s, 2 us
    0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x3c, // 4 captured of 60
    0xde, 0xad, 0xbe, 0xef, //
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // 2 s
    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03, // 3 of 3
    0x01, 0x02, 0x03,
];

/// `PCAP_BE_MICRO` (or its nanosecond twin) as a little-endian writer writes it: each
/// field's bytes reversed, the captured bytes as they are.
fn little_endian(file: &[u8]) -> Vec<u8> {
    let mut out = file.to_vec();
    let header = [(0, 4), (4, 2), (6, 2), (8, 4), (12, 4), (16, 4), (20, 4)];
    let records = [24, 44].map(|start| (0..4).map(move |field| (start + 4 * field, 4)));
    for (at, width) in header.into_iter().chain(records.into_iter().flatten()) {
        out[at..at + width].reverse();
    }
    out
}

#[test]
fn pcap_in_either_byte_order_and_resolution() {
    let expected = |unit: Duration| {
        vec![
            (
                1,
                Duration::from_secs(1) + 2 * unit,
                60,
                vec![0xde, 0xad, 0xbe, 0xef],
                0,
                1,
            ),
            (2, Duration::from_secs(2), 3, vec![1, 2, 3], 0, 1),
        ]
    };
    let micro = Duration::from_micros(1);
    assert_eq!(records(PCAP_BE_MICRO), expected(micro));
    let little = little_endian(PCAP_BE_MICRO);
    assert_eq!(little[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
    assert_eq!(records(&little), expected(micro));

    let nano = Duration::from_nanos(1);
    let mut big_nano = PCAP_BE_MICRO.to_vec();
    big_nano[..4].copy_from_slice(&[0xa1, 0xb2, 0x3c, 0x4d]);
    assert_eq!(records(&big_nano), expected(nano));
    let little_nano = little_endian(&big_nano);
    assert_eq!(little_nano[..4], [0x4d, 0x3c, 0xb2, 0xa1]);
    assert_eq!(records(&little_nano), expected(nano));

    let header = |file: &[u8]| match Reader::new(file).unwrap().format() {
        Format::Pcap(header) => header,
        Format::PcapNg => panic!("pcap read as pcapng"),
    };
    let big = header(PCAP_BE_MICRO);
    assert_eq!(
        big,
        PcapHeader {
            byte_order: ByteOrder::Big,
            snaplen: 96,
            ..PcapHeader::new(LinkType::ETHERNET, Resolution::Microsecond)
        }
    );
    assert_eq!(
        header(&little_nano),
        PcapHeader {
            byte_order: ByteOrder::Little,
            resolution: Resolution::Nanosecond,
            ..big
        }
    );
}

#[test]
fn a_record_cut_by_the_snap_length_keeps_its_length_on_the_wire() {
    let mut reader = Reader::new(PCAP_BE_MICRO).unwrap();
    let cut = reader.next_record().unwrap().unwrap();
    assert_eq!((cut.data.len(), cut.orig_len, cut.missing()), (4, 60, 56));
    let whole = reader.next_record().unwrap().unwrap();
    assert_eq!(whole.missing(), 0);
}

#[test]
fn a_pcap_cut_short_gives_the_records_before_the_cut_and_says_where() {
    let whole = records(PCAP_BE_MICRO);
    let second = 24 + 16 + 4; // where the second record begins
    for len in 0..PCAP_BE_MICRO.len() {
        let (read, error) = read_all(&PCAP_BE_MICRO[..len]);
        // A file ending between records ends cleanly: after the file header, after the
        // first record.
        if let Some(records) = [24, second].iter().position(|&end| end == len) {
            assert!(error.is_none() && read == whole[..records], "{error:?}");
            continue;
        }
        let error = error.unwrap_or_else(|| panic!("cut at {len}: no error"));
        match len {
            0..4 => assert!(matches!(error, Error::NotACapture(Unrecognised::NoMagic))),
            4..24 => assert!(matches!(
                error,
                Error::NotACapture(Unrecognised::ShortHeader)
            )),
            // Inside the first record's header, then inside its data.
            24..44 => assert!(
                matches!(
                    error,
                    Error::Truncated {
                        what: "pcap record",
                        offset: 24
                    }
                ),
                "cut at {len}: {error}"
            ),
            _ => {
                assert_eq!(read, whole[..1], "cut at {len}");
                assert_eq!(
                    error.to_string(),
                    format!("the file ends inside the pcap record at byte {second}")
                );
            }
        }
        if len < second {
            assert!(read.is_empty(), "cut at {len}");
        }
    }
}

#[test]
fn an_absurd_record_length_is_refused_before_it_is_read() {
    let mut file = PCAP_BE_MICRO.to_vec();
    // The second record announces 4 GiB less 16 bytes; the file holds 3.
    file[52..56].copy_from_slice(&[0xff, 0xff, 0xff, 0xf0]);
    let (read, error) = read_all(&file);
    assert_eq!(read.len(), 1);
    assert!(
        matches!(
            error,
            Some(Error::TooLong {
                what: "pcap record",
                offset: 44,
                len: 0xffff_fff0,
                limit: DEFAULT_MAX_RECORD_LEN
            })
        ),
        "{error:?}"
    );
    // The limit is the caller's: 3 bytes are too many for a limit of 2, not for 3.
    let mut reader = Reader::new(PCAP_BE_MICRO).unwrap().with_max_record_len(3);
    assert!(matches!(
        reader.next_record(),
        Err(Error::TooLong {
            len: 4,
            limit: 3,
            ..
        })
    ));
    let mut reader = Reader::new(PCAP_BE_MICRO).unwrap().with_max_record_len(4);
    assert_eq!(reader.next_record().unwrap().unwrap().data.len(), 4);
}

#[test]
fn inputs_that_are_not_captures_are_named_so() {
    let cases: [(&[u8], &str); 4] = [
        (
            b"",
            "not a pcap or pcapng file (shorter than a magic number)",
        ),
        (
            b"GIF89a",
            "not a pcap or pcapng file (magic number 0x47494638)",
        ),
        (
            &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0],
            "not a pcap or pcapng file (it ends inside its file header)",
        ),
        (
            b"\n\r\r\nnot a section header",
            "not a pcap or pcapng file (Section Header Block: byte-order magic 0x61207365 \
             is not 0x1a2b3c4d in either byte order)",
        ),
    ];
    for (file, message) in cases {
        let error = Reader::new(file).err().unwrap();
        assert!(matches!(error, Error::NotACapture(_)));
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn the_writer_writes_what_the_reader_reads() {
    let header = PcapHeader {
        byte_order: ByteOrder::Big,
        snaplen: 96,
        ..PcapHeader::new(LinkType::ETHERNET, Resolution::Microsecond)
    };
    let mut writer = Writer::new(Vec::new(), header).unwrap();
    writer
        .write(Duration::new(1, 2_000), 60, &[0xde, 0xad, 0xbe, 0xef])
        .unwrap();
    writer.write(Duration::from_secs(2), 3, &[1, 2, 3]).unwrap();
    assert_eq!(writer.into_inner(), PCAP_BE_MICRO);

    // Every header field comes back, in either byte order.
    let header = PcapHeader {
        thiszone: -3600,
        sigfigs: 7,
        link_info: 0x1234,
        ..PcapHeader::new(LinkType(101), Resolution::Nanosecond)
    };
    let file = Writer::new(Vec::new(), header).unwrap().into_inner();
    assert_eq!(file[..4], [0x4d, 0x3c, 0xb2, 0xa1]);
    assert_eq!(
        Reader::new(&file[..]).unwrap().format(),
        Format::Pcap(header)
    );

    // Past pcap's 32-bit seconds, or 4 GiB of data, a record cannot be written.
    let mut writer = Writer::new(Vec::new(), header).unwrap();
    let too_late = Duration::from_secs(1 << 32);
    let error = writer.write(too_late, 0, &[]).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}
