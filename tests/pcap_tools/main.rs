//! The pcap examples end to end, on the committed captures: `pcap_roundtrip` is byte
//! identical, `encap` then `decap` gives back the input, `translate` both ways keeps the
//! segment and the inner frames, and the tools rewrite exactly the committed outputs whose
//! tshark decodes `tests/conformance.rs` checks. Captures are read as people take them:
//! pcapng, either byte order, frames cut by the snap length, files cut short. Every tool
//! answers `--help` and `--version`, names bad arguments and inputs that are not captures,
//! refuses to write over its input, and `vni_stats` counts segments, fragments and errors
//! by reason. Here the helpers every test uses; the tests by subject in the files beside it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use serde_json::Value;

mod capture_formats;
mod command_line;
mod outputs;
mod vni_stats;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The path of a built example.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

/// Runs an example (built on first use), whatever its exit status.
fn run(name: &str, args: &[&Path]) -> Output {
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--examples"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --examples");
        assert!(status.success());
    });
    let bin = example(name);
    Command::new(&bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{bin:?}: {e}"))
}

/// Runs an example, asserting success; returns its standard error.
fn tool(name: &str, args: &[&Path]) -> String {
    let out = run(name, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{name} failed: {stderr}");
    stderr
}

/// `dissect`'s objects for a capture, asserting success, and its standard error.
fn dissect(capture: &Path) -> (Vec<Value>, String) {
    let out = run("dissect", &[capture]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "dissect {capture:?} failed: {stderr}");
    let objects = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (objects, stderr)
}

/// A folder for one test's output files, removed when the test ends (even by a panic).
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tunnelwire-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The records of a pcap (pcap-file's checked reader: not for frames cut by a snap length).
fn records(path: &Path) -> Vec<PcapPacket<'static>> {
    let mut reader = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut records = Vec::new();
    while let Some(packet) = reader.next_packet() {
        records.push(packet.unwrap().into_owned());
    }
    records
}

/// What a record says, comparable: time, original length and bytes.
fn contents(path: &Path) -> Vec<(Duration, u32, Vec<u8>)> {
    records(path)
        .into_iter()
        .map(|r| (r.timestamp, r.orig_len, r.data.into_owned()))
        .collect()
}

fn frames(path: &Path) -> Vec<Vec<u8>> {
    records(path)
        .into_iter()
        .map(|r| r.data.into_owned())
        .collect()
}

/// Writes `records` as a pcap with `header`.
fn write_pcap(path: &Path, header: PcapHeader, records: &[PcapPacket<'_>]) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = PcapWriter::with_header(file, header).unwrap();
    for record in records {
        writer.write_packet(record).unwrap();
    }
}

/// A pcap header other than the committed captures' (little-endian, microseconds).
const BIG_ENDIAN_NANOSECONDS: PcapHeader = PcapHeader {
    version_major: 2,
    version_minor: 4,
    ts_correction: 0,
    ts_accuracy: 0,
    snaplen: 262_144,
    datalink: DataLink::ETHERNET,
    ts_resolution: TsResolution::NanoSecond,
    endianness: Endianness::Big,
};

/// A big-endian pcapng laid out as dumpcap writes it: a Section Header, one Interface
/// Description (`linktype`, no snap length, nanosecond timestamps), a block per frame and
/// Interface Statistics at the end. A frame without a time goes in a Simple Packet Block,
/// which has none; the others in Enhanced Packet Blocks.
fn pcapng(linktype: u16, frames: &[(Option<Duration>, &[u8])]) -> Vec<u8> {
    let frames: Vec<_> = frames
        .iter()
        .map(|&(time, frame)| (0, time, frame))
        .collect();
    pcapng_of(&[linktype], &frames)
}

/// As [`pcapng`], with an Interface Description per link type of `linktypes` and each
/// frame on the interface it names (an index into `linktypes`).
fn pcapng_of(linktypes: &[u16], frames: &[(u32, Option<Duration>, &[u8])]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let padded = body.len().next_multiple_of(4);
        let len = (12 + padded) as u32;
        out.extend(kind.to_be_bytes());
        out.extend(len.to_be_bytes());
        out.extend(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend(len.to_be_bytes());
    }
    let mut out = Vec::new();
    // Byte-order magic, version 1.0, section length unknown.
    let shb = [
        0x1a2b_3c4d_u32.to_be_bytes(),
        [0, 1, 0, 0],
        [0xff; 4],
        [0xff; 4],
    ];
    block(&mut out, 0x0a0d_0d0a, &shb.concat());
    // Link type, reserved, snap length 0; if_tsresol 9 (padded), end of options.
    for linktype in linktypes {
        let idb = [
            [linktype.to_be_bytes(), [0, 0]].concat(),
            vec![0; 4],
            vec![0, 9, 0, 1, 9, 0, 0, 0],
            vec![0; 4],
        ];
        block(&mut out, 1, &idb.concat());
    }
    for &(interface, time, frame) in frames {
        let len = (frame.len() as u32).to_be_bytes();
        match time {
            // A Simple Packet Block is the first interface's.
            None => block(&mut out, 3, &[&len[..], frame].concat()),
            Some(time) => {
                let nanos = time.as_nanos() as u64;
                let (high, low) = ((nanos >> 32) as u32, nanos as u32);
                let header = [
                    interface.to_be_bytes(),
                    high.to_be_bytes(),
                    low.to_be_bytes(),
                    len,
                    len,
                ];
                block(&mut out, 6, &[&header.concat()[..], frame].concat());
            }
        }
    }
    // Interface 0, time 0, no options.
    block(&mut out, 5, &[0; 12]);
    out
}
