//! The reader on byte-literal files: each pcap magic and byte order, pcapng in both byte
//! orders with interfaces of different resolutions, the three packet blocks, records cut by
//! the snap length, files cut at every byte, malformed blocks, absurd lengths; and the
//! writer's bytes.

mod classic;
mod ng;

use std::time::Duration;
use std::vec::Vec;

use super::*;

/// Every record of `file` as (index, time, orig_len, data, interface, link type), and the
/// error that ended the reading, if any.
type Seen = (u64, Duration, u32, Vec<u8>, u32, u16);

fn read_all(file: &[u8]) -> (Vec<Seen>, Option<Error>) {
    let mut reader = match Reader::new(file) {
        Ok(reader) => reader,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut records = Vec::new();
    loop {
        match reader.next_record() {
            Ok(Some(r)) => records.push((
                r.index,
                r.timestamp,
                r.orig_len,
                r.data.to_vec(),
                r.interface,
                r.link_type.0,
            )),
            Ok(None) => return (records, None),
            Err(e) => {
                // A reader that failed reads nothing more.
                assert!(matches!(reader.next_record(), Ok(None)));
                return (records, Some(e));
            }
        }
    }
}

/// The records of a file that must read without error.
fn records(file: &[u8]) -> Vec<Seen> {
    let (records, error) = read_all(file);
    assert!(error.is_none(), "{error:?}");
    records
}

#[test]
fn every_damaged_file_ends_in_records_or_an_error_without_panicking() {
    for file in [classic::PCAP_BE_MICRO, ng::PCAPNG_LE] {
        for at in 0..file.len() {
            for value in [0x00, 0x01, 0x03, 0x7f, 0x80, 0xff] {
                let mut damaged = file.to_vec();
                damaged[at] = value;
                // Records or an error, whichever: a panic fails the test.
                read_all(&damaged);
            }
        }
    }
}
