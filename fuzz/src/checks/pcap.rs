//! Target `pcap`: a capture file, pcap or pcapng, as `tunnelwire::pcap::Reader` reads
//! any file a user hands the tools.

use std::io::{self, Read};
use std::time::Duration;

use tunnelwire::pcap::{
    self, Content, DEFAULT_MAX_RECORD_LEN, Format, LinkType, PcapHeader, Reader, Record, Resolution,
};

/// The smaller record limit the input is read again under.
const SMALL_LIMIT: usize = 64;

/// What a reader gave: its format, its records (index, timestamp, orig_len, interface,
/// link type, bytes) and the error it stopped at.
#[derive(Debug, PartialEq)]
struct Reading {
    format: Format,
    records: Vec<(u64, Duration, u32, u32, pcap::LinkType, Vec<u8>)>,
    error: Option<String>,
}

/// A `Read` that hands out one byte per call, as a pipe may: the reader's buffering must
/// not depend on how its input comes.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((&byte, rest)), Some(slot)) => {
                *slot = byte;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// Reads every record of `input` with records of up to `limit` bytes; `None` when the
/// input is no capture. Checks what holds of any reading: records numbered from 1 with
/// no gap, none over the limit, all of them within the input; after an error, nothing
/// more.
fn read(input: impl Read, limit: usize, len: usize) -> Option<Reading> {
    let mut reader = match Reader::new(input) {
        Ok(reader) => reader.with_max_record_len(limit),
        Err(error) => {
            assert!(!error.to_string().is_empty());
            return None;
        }
    };
    let format = reader.format();
    let mut records = Vec::new();
    let mut total = 0usize;
    let error = loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                assert_eq!(
                    record.index,
                    records.len() as u64 + 1,
                    "records numbered in order"
                );
                assert!(
                    record.data.len() <= limit,
                    "a record past the reader's limit"
                );
                check_content(&record);
                total += record.data.len();
                assert!(
                    total <= len,
                    "{total} bytes of records from a {len}-byte input"
                );
                records.push((
                    record.index,
                    record.timestamp,
                    record.orig_len,
                    record.interface,
                    record.link_type,
                    record.data.to_vec(),
                ));
            }
            Ok(None) => break None,
            Err(error) => {
                let text = error.to_string();
                assert!(!text.is_empty());
                assert!(
                    matches!(reader.next_record(), Ok(None)),
                    "a record after the error {text}"
                );
                break Some(text);
            }
        }
    };
    Some(Reading {
        format,
        records,
        error,
    })
}

/// What a record holds, by its link type: an Ethernet frame or a packet, the rest of the
/// record after its link header (none for an Ethernet record), or why not.
fn check_content(record: &Record<'_>) {
    match record.content() {
        Content::Ethernet { offset, bytes } => {
            assert_eq!(offset == 0, record.link_type == LinkType::ETHERNET);
            assert_eq!(Some(bytes), record.data.get(offset..));
        }
        Content::Packet {
            ethertype,
            offset,
            bytes,
        } => {
            assert!(record.link_type.is_read() && record.link_type != LinkType::ETHERNET);
            assert_eq!(Some(bytes), record.data.get(offset..));
            assert!(!ethertype.is_length(), "{ethertype:?} is a length");
        }
        Content::Undecoded(why) => {
            assert_ne!(record.link_type, LinkType::ETHERNET);
            assert!(!why.to_string().is_empty());
        }
    }
}

/// Any input gives a capture or a refusal, never a panic; one byte at a time it gives
/// the same; a smaller record limit gives the same records up to the first one past it.
/// The records written to a pcap of their link type (at the file's own header for a
/// pcap, else at nanoseconds) read back the same, but for what pcap cannot hold: a
/// timestamp past 2106.
pub fn pcap(data: &[u8]) {
    let Some(reading) = read(data, DEFAULT_MAX_RECORD_LEN, data.len()) else {
        assert!(read(Trickle(data), DEFAULT_MAX_RECORD_LEN, data.len()).is_none());
        return;
    };
    assert_eq!(
        read(Trickle(data), DEFAULT_MAX_RECORD_LEN, data.len()).as_ref(),
        Some(&reading),
        "read one byte at a time"
    );
    let small = read(data, SMALL_LIMIT, data.len()).expect("the same header");
    let kept = small.records.len();
    assert!(kept <= reading.records.len());
    assert_eq!(small.records[..], reading.records[..kept]);
    if kept < reading.records.len() {
        assert!(
            reading.records[kept].5.len() > SMALL_LIMIT,
            "record {} refused under a limit it fits",
            kept + 1
        );
    }
    write_back(&reading);
}

/// The records of the first one's link type, written to pcap and read again.
fn write_back(reading: &Reading) {
    let Some(first) = reading.records.first() else {
        return;
    };
    let header = match reading.format {
        Format::Pcap(header) => header,
        _ => PcapHeader::new(first.4, Resolution::Nanosecond),
    };
    let mut writer = pcap::Writer::new(Vec::new(), header).expect("writing to memory");
    let mut written = Vec::new();
    for record in reading.records.iter().filter(|r| r.4 == first.4) {
        let (_, timestamp, orig_len, _, _, data) = record;
        if writer.write(*timestamp, *orig_len, data).is_err() {
            assert!(
                timestamp.as_secs() > u64::from(u32::MAX),
                "{record:?} refused"
            );
            break;
        }
        // What pcap keeps of a timestamp: the header's resolution.
        let kept = match header.resolution {
            Resolution::Microsecond => {
                Duration::new(timestamp.as_secs(), timestamp.subsec_micros() * 1000)
            }
            Resolution::Nanosecond => *timestamp,
        };
        written.push((kept, *orig_len, data.clone()));
    }
    let file = writer.into_inner();
    let again = read(&file[..], DEFAULT_MAX_RECORD_LEN, file.len()).expect("a pcap we wrote");
    assert_eq!(again.format, Format::Pcap(header));
    assert_eq!(again.error, None);
    let read_back: Vec<_> = again
        .records
        .into_iter()
        .map(|(_, timestamp, orig_len, interface, link_type, data)| {
            assert_eq!((interface, link_type), (0, first.4));
            (timestamp, orig_len, data)
        })
        .collect();
    assert_eq!(
        read_back, written,
        "records written to pcap read back otherwise"
    );
}
