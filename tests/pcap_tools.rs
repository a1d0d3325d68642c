//! The pcap examples end to end, on the committed captures: `pcap_roundtrip` is byte
//! identical, `encap` then `decap` gives back the input, `translate` both ways keeps the
//! segment and the inner frames, and the tools rewrite exactly the committed outputs whose
//! tshark decodes `tests/conformance.rs` checks. Captures are read as people take them:
//! pcapng, either byte order, frames cut by the snap length, files cut short. Every tool
//! answers `--help` and `--version`, names bad arguments and inputs that are not captures,
//! refuses to write over its input, and `vni_stats` counts segments, fragments and errors
//! by reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use serde_json::Value;
use tunnelwire::packet::Decoder;

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
    let idb = [
        [linktype.to_be_bytes(), [0, 0]].concat(),
        vec![0; 4],
        vec![0, 9, 0, 1, 9, 0, 0, 0],
        vec![0; 4],
    ];
    block(&mut out, 1, &idb.concat());
    for (time, frame) in frames {
        let len = (frame.len() as u32).to_be_bytes();
        match time {
            None => block(&mut out, 3, &[&len[..], frame].concat()),
            Some(time) => {
                let nanos = time.as_nanos() as u64;
                let (high, low) = ((nanos >> 32) as u32, nanos as u32);
                let header = [[0; 4], high.to_be_bytes(), low.to_be_bytes(), len, len];
                block(&mut out, 6, &[&header.concat()[..], frame].concat());
            }
        }
    }
    // Interface 0, time 0, no options.
    block(&mut out, 5, &[0; 12]);
    out
}

#[test]
fn pcap_roundtrip_is_byte_identical() {
    let scratch = Scratch::new("pcap_roundtrip_is_byte_identical");
    for name in [
        "sample.pcap",
        "kernel.pcap",
        "edge.pcap",
        "malformed.pcap",
        "encap-nvgre.pcap",
        "ipv6.pcap",
        "ipv6-malformed.pcap",
        "plain6.pcap",
    ] {
        let out = scratch.file(&format!("roundtrip-{name}"));
        tool("pcap_roundtrip", &[&data(name), &out]);
        assert_eq!(
            std::fs::read(out).unwrap(),
            std::fs::read(data(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn encap_then_decap_gives_back_the_input() {
    let scratch = Scratch::new("encap_then_decap_gives_back_the_input");
    let addrs = ["--src-ip", "10.0.0.1", "--dst-ip", "10.0.0.2"].map(Path::new);
    for (input, nvgre) in [
        ("plain.pcap", false),
        ("plain.pcap", true),
        ("plain6.pcap", false),
    ] {
        let (encapsulated, decapsulated) = (
            scratch.file(&format!("e-{input}-{nvgre}.pcap")),
            scratch.file(&format!("d-{input}-{nvgre}.pcap")),
        );
        let mut args: Vec<&Path> = if nvgre {
            vec![Path::new("--nvgre")]
        } else {
            vec![]
        };
        args.extend([Path::new("--vni"), Path::new("5000")]);
        args.extend(addrs);
        let plain = data(input);
        args.extend([plain.as_path(), encapsulated.as_path()]);
        tool("encap", &args);
        let summary = tool("decap", &[&encapsulated, &decapsulated]);
        assert!(summary.contains("0 skipped"), "{summary}");
        assert_eq!(
            frames(&decapsulated),
            untagged(frames(&plain)),
            "{input}, nvgre: {nvgre}"
        );
    }
}

/// The frames with their VLAN tags removed, as encapsulation strips them by default
/// (RFC 7637 section 3.2, RFC 7348 section 6.1).
fn untagged(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let decoder = Decoder::new();
    frames
        .into_iter()
        .map(|mut frame| {
            let tags = decoder.decode(&frame).unwrap().outer.vlan_tags().count();
            frame.drain(12..12 + 4 * tags);
            frame
        })
        .collect()
}

#[test]
fn translate_both_ways_keeps_segments_and_inner_frames() {
    let scratch = Scratch::new("translate_both_ways_keeps_segments_and_inner_frames");
    let (nvgre, vxlan) = (scratch.file("t-nvgre.pcap"), scratch.file("t-vxlan.pcap"));
    let kernel = data("kernel.pcap");
    tool(
        "translate",
        &[Path::new("--to"), Path::new("nvgre"), &kernel, &nvgre],
    );
    tool(
        "translate",
        &[Path::new("--to"), Path::new("vxlan"), &nvgre, &vxlan],
    );
    let decoder = Decoder::new();
    // The kernel capture's outer fragments are skipped, and so is VNI 42, a reserved VSID
    // (RFC 7637 section 3.2); the rest translate one for one.
    let originals: Vec<Vec<u8>> = frames(&kernel)
        .into_iter()
        .filter(|f| {
            decoder
                .decode(f)
                .is_ok_and(|d| d.tunnel.is_some_and(|t| t.segment() > 0xfff))
        })
        .collect();
    assert!(!originals.is_empty());
    for translated in [frames(&nvgre), frames(&vxlan)] {
        assert_eq!(translated.len(), originals.len());
        for (before, after) in originals.iter().zip(&translated) {
            let (b, a) = (
                decoder.decode(before).unwrap(),
                decoder.decode(after).unwrap(),
            );
            assert_eq!(b.tunnel.unwrap().segment(), a.tunnel.unwrap().segment());
            assert_eq!(&before[b.inner.offset..], &after[a.inner.offset..]);
            assert_eq!(
                b.outer.ipv4.unwrap().src_addr(),
                a.outer.ipv4.unwrap().src_addr()
            );
        }
    }
}

#[test]
fn tools_rewrite_the_committed_outputs() {
    let scratch = Scratch::new("tools_rewrite_the_committed_outputs");
    // The commands of tests/data/make_encapsulated.sh.
    let addrs = "--src-ip 10.99.0.1 --dst-ip 10.99.0.2 --src-mac 02:99:00:00:00:01 --dst-mac 02:99:00:00:00:02";
    let addrs6 = "--src-ip fd00:99::1 --dst-ip fd00:99::2 --src-mac 02:99:00:00:00:01 --dst-mac 02:99:00:00:00:02";
    let runs = [
        (
            "encap",
            format!("--vni 5000 {addrs}"),
            "plain.pcap",
            "encap-vxlan.pcap",
        ),
        (
            "encap",
            format!("--vni 77 --udp-checksum --port-range 32768-60999 {addrs}"),
            "plain.pcap",
            "encap-vxlan-csum.pcap",
        ),
        (
            "encap",
            format!("--nvgre --vni 4242 {addrs}"),
            "plain.pcap",
            "encap-nvgre.pcap",
        ),
        (
            "translate",
            "--to nvgre".to_string(),
            "encap-vxlan.pcap",
            "translated-nvgre.pcap",
        ),
        (
            "translate",
            "--to vxlan".to_string(),
            "encap-nvgre.pcap",
            "translated-vxlan.pcap",
        ),
        (
            "encap",
            format!("--vni 6000 --udp-checksum {addrs}"),
            "plain6.pcap",
            "encap6-vxlan.pcap",
        ),
        (
            "encap",
            format!("--nvgre --vni 6000 {addrs}"),
            "plain6.pcap",
            "encap6-nvgre.pcap",
        ),
        (
            "translate",
            "--to nvgre".to_string(),
            "encap6-vxlan.pcap",
            "translated6-nvgre.pcap",
        ),
        (
            "translate",
            "--to vxlan".to_string(),
            "encap6-nvgre.pcap",
            "translated6-vxlan.pcap",
        ),
        (
            "encap",
            format!("--vni 7000 {addrs6}"),
            "flows.pcap",
            "underlay6-vxlan.pcap",
        ),
        (
            "encap",
            format!("--nvgre --vni 7000 {addrs6}"),
            "flows.pcap",
            "underlay6-nvgre.pcap",
        ),
        (
            "translate",
            "--to nvgre".to_string(),
            "underlay6-vxlan.pcap",
            "underlay6-translated-nvgre.pcap",
        ),
        (
            "translate",
            "--to vxlan".to_string(),
            "underlay6-nvgre.pcap",
            "underlay6-translated-vxlan.pcap",
        ),
        (
            "decap",
            String::new(),
            "underlay6-vxlan.pcap",
            "underlay6-decap.pcap",
        ),
        (
            "encap",
            format!(
                "--geneve --vni 8000 --geneve-opt 0x0102:0x80:00010002 \
                 --geneve-opt 0x0108:1:0011223344556677 --udp-checksum {addrs}"
            ),
            "plain.pcap",
            "encap-geneve.pcap",
        ),
        (
            "encap",
            format!("--geneve --vni 8000 {addrs6}"),
            "flows.pcap",
            "underlay6-geneve.pcap",
        ),
        (
            "translate",
            "--to geneve".to_string(),
            "encap-vxlan.pcap",
            "translated-geneve.pcap",
        ),
        (
            "translate",
            "--to geneve".to_string(),
            "underlay6-nvgre.pcap",
            "underlay6-translated-geneve.pcap",
        ),
        (
            "translate",
            "--to nvgre".to_string(),
            "underlay6-geneve.pcap",
            "underlay6-geneve-translated-nvgre.pcap",
        ),
    ];
    for (name, flags, input, expected) in runs {
        let out = scratch.file(expected);
        let input = data(input);
        let mut args: Vec<&Path> = flags.split_whitespace().map(Path::new).collect();
        args.extend([input.as_path(), out.as_path()]);
        tool(name, &args);
        // Not assert_eq!: a capture printed byte by byte helps nobody.
        let same = std::fs::read(&out).unwrap() == std::fs::read(data(expected)).unwrap();
        assert!(same, "{name} {flags} {input:?} does not write {expected}");
    }
    // A critical Geneve option that the tools do not understand: every frame skipped,
    // counted by its reason (RFC 8926 section 3.5).
    let out = scratch.file("refused.pcap");
    for (name, flags) in [("translate", "--to vxlan"), ("decap", "")] {
        let mut args: Vec<&Path> = flags.split_whitespace().map(Path::new).collect();
        let input = data("encap-geneve.pcap");
        args.extend([input.as_path(), out.as_path()]);
        let summary = tool(name, &args);
        assert!(
            summary.contains("32 frames in, 0 out, 32 skipped (32 geneve critical_option)"),
            "{name}: {summary}"
        );
    }
    // Over an IPv6 underlay, decapsulation gives back the inner frames byte for byte.
    let same = frames(&data("underlay6-decap.pcap")) == frames(&data("flows.pcap"));
    assert!(
        same,
        "underlay6-decap.pcap holds other frames than flows.pcap"
    );
}

#[test]
fn bad_arguments_and_unreadable_inputs_fail_clearly() {
    // Bad arguments exit 2 (clap's usage status), an input that cannot be read 1.
    let geneve = |option: &'static str| -> &'static [&'static str] {
        Box::leak(Box::new([
            "--geneve",
            "--geneve-opt",
            option,
            "--vni",
            "1",
            "--src-ip",
            "1.1.1.1",
            "--dst-ip",
            "2.2.2.2",
            "a",
            "b",
        ]))
    };
    let cases: [(&str, &[&str], &[&str], i32); 13] = [
        (
            "encap",
            geneve("0x0102:0x80:000102"),
            &["--geneve-opt", "option data length", "3 is out of range"],
            2,
        ),
        (
            "encap",
            geneve("0x10000:1:"),
            &[
                "--geneve-opt",
                "class \"0x10000\" is not a number up to 0xffff",
            ],
            2,
        ),
        (
            "encap",
            geneve("1:2:zz000000"),
            &["--geneve-opt", "is not hex"],
            2,
        ),
        ("encap", geneve("1:2"), &["expected CLASS:TYPE:HEX"], 2),
        (
            "encap",
            &[
                "--geneve-opt",
                "1:2:",
                "--vni",
                "1",
                "--src-ip",
                "1.1.1.1",
                "--dst-ip",
                "2.2.2.2",
                "a",
                "b",
            ],
            &["--geneve"],
            2,
        ),
        (
            "encap",
            &[
                "--vni", "16777216", "--src-ip", "1.1.1.1", "--dst-ip", "2.2.2.2", "a", "b",
            ],
            &[
                "--vni",
                "VNI (24 bits, at most 16777215) 16777216 is out of range",
            ],
            2,
        ),
        (
            "encap",
            &["--vni", "1", "--src-ip", "1.1.1.1", "a", "b"],
            &["required arguments were not provided", "--dst-ip"],
            2,
        ),
        (
            "encap",
            &[
                "--nvgre", "--vni", "42", "--src-ip", "1.1.1.1", "--dst-ip", "2.2.2.2", "a", "b",
            ],
            &["VSID 42 is reserved"],
            2,
        ),
        (
            "encap",
            &[
                "--vni",
                "1",
                "--src-ip",
                "1.1.1.1",
                "--dst-ip",
                "2.2.2.2",
                "--port-range",
                "60000-50000",
                "a",
                "b",
            ],
            &["--port-range", "60000 is above 50000"],
            2,
        ),
        (
            "translate",
            &["--to", "gre", "a", "b"],
            &[
                "invalid value 'gre' for '--to",
                "possible values: nvgre, vxlan, geneve",
            ],
            2,
        ),
        (
            "translate",
            &["--to", "nvgre", "--flow-id", "256", "a", "b"],
            &["--flow-id", "0-255"],
            2,
        ),
        ("dissect", &[], &["required arguments", "<FILE>"], 2),
        ("decap", &["/nonexistent.pcap", "b"], &["No such file"], 1),
    ];
    for (name, args, messages, status) in cases {
        let args: Vec<&Path> = args.iter().map(Path::new).collect();
        let out = run(name, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() == Some(status) && messages.iter().all(|m| stderr.contains(m)),
            "{name} {args:?}: {:?} {stderr}",
            out.status
        );
    }
}

#[test]
fn every_tool_answers_help_and_version() {
    for name in [
        "dissect",
        "encap",
        "decap",
        "translate",
        "pcap_roundtrip",
        "vni_stats",
    ] {
        let help = run(name, &[Path::new("--help")]);
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(
            help.status.success() && text.contains(&format!("Usage: {name} ")),
            "{name} --help: {text}"
        );
        let version = run(name, &[Path::new("--version")]);
        assert!(version.status.success(), "{name} --version");
        assert_eq!(
            String::from_utf8_lossy(&version.stdout),
            format!("{name} {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn an_output_that_is_the_input_is_refused_and_the_input_kept() {
    let scratch = Scratch::new("an_output_that_is_the_input_is_refused_and_the_input_kept");
    let vni = [
        "--vni", "5000", "--src-ip", "10.0.0.1", "--dst-ip", "10.0.0.2",
    ];
    let tools: [(&str, &[&str]); 4] = [
        ("decap", &[]),
        ("encap", &vni),
        ("translate", &["--to", "nvgre"]),
        ("pcap_roundtrip", &[]),
    ];
    let original = std::fs::read(data("kernel.pcap")).unwrap();
    for (name, flags) in tools {
        let input = scratch.file(&format!("{name}-in.pcap"));
        std::fs::write(&input, &original).unwrap();
        let (hard, symbolic) = (
            scratch.file(&format!("{name}-hard.pcap")),
            scratch.file(&format!("{name}-symbolic.pcap")),
        );
        std::fs::hard_link(&input, &hard).unwrap();
        std::os::unix::fs::symlink(&input, &symbolic).unwrap();
        // The same name, another spelling of it, a hard link and a symbolic link.
        let dotted = scratch.0.join(".").join(format!("{name}-in.pcap"));
        for output in [&input, &dotted, &hard, &symbolic] {
            let mut args: Vec<&Path> = flags.iter().map(Path::new).collect();
            args.extend([input.as_path(), output.as_path()]);
            let out = run(name, &args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.code() == Some(2)
                    && stderr.contains(&format!("the output {} is the input", output.display())),
                "{name} {output:?}: {:?} {stderr}",
                out.status
            );
            assert!(
                std::fs::read(&input).unwrap() == original,
                "{name} {output:?} changed its input"
            );
        }
        // Another file with the same bytes is not the input: it is overwritten.
        let copy = scratch.file(&format!("{name}-copy.pcap"));
        std::fs::write(&copy, &original).unwrap();
        let mut args: Vec<&Path> = flags.iter().map(Path::new).collect();
        args.extend([input.as_path(), copy.as_path()]);
        tool(name, &args);
        assert_eq!(std::fs::read(&input).unwrap(), original, "{name}");
    }
}

#[test]
fn inputs_that_are_not_captures_are_named_so() {
    let scratch = Scratch::new("inputs_that_are_not_captures_are_named_so");
    let png = [
        0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0, 0, 0, 13,
    ];
    let inputs: [(&str, &[u8]); 4] = [
        ("notes.txt", b"frame 1: 10.0.0.1 -> 10.0.0.2\n"),
        ("picture.png", &png),
        ("empty.pcap", b""),
        // The pcapng magic number, then no valid section header.
        ("bad.pcapng", b"\n\r\r\nnot a section header at all"),
    ];
    let output = scratch.file("out.pcap");
    for (file, bytes) in inputs {
        let input = scratch.file(file);
        std::fs::write(&input, bytes).unwrap();
        let vni = [
            "--vni", "5000", "--src-ip", "10.0.0.1", "--dst-ip", "10.0.0.2",
        ];
        let mut encap: Vec<&Path> = vni.iter().map(Path::new).collect();
        encap.extend([input.as_path(), output.as_path()]);
        let runs: [(&str, Vec<&Path>); 6] = [
            ("dissect", vec![&input]),
            ("vni_stats", vec![&input]),
            ("decap", vec![&input, &output]),
            ("encap", encap),
            (
                "translate",
                vec![Path::new("--to"), Path::new("vxlan"), &input, &output],
            ),
            ("pcap_roundtrip", vec![&input, &output]),
        ];
        for (name, args) in runs {
            let out = run(name, &args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.code() == Some(1)
                    && stderr.contains(&format!("{}: not a pcap or pcapng file", input.display())),
                "{name} {file}: {stderr}"
            );
        }
    }
}

#[test]
fn dissect_stops_quietly_when_its_reader_goes_away() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let scratch = Scratch::new("dissect_stops_quietly_when_its_reader_goes_away");
    // Far more JSON than a pipe holds, so dissect is still writing when the pipe closes.
    let kernel = records(&data("kernel.pcap"));
    let many: Vec<PcapPacket<'_>> = kernel
        .iter()
        .cycle()
        .take(100 * kernel.len())
        .cloned()
        .collect();
    let capture = scratch.file("many.pcap");
    write_pcap(&capture, BIG_ENDIAN_NANOSECONDS, &many);
    run("dissect", &[Path::new("--version")]);
    let mut child = Command::new(example("dissect"))
        .arg(&capture)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `dissect FILE | head -1` does: read a line, then close the pipe.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("{\"frame\":1,"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{:?}: {stderr}",
        out.status
    );
}

/// `vni_stats`' report: the lines after the first (which names the file).
fn vni_stats(capture: &Path) -> Vec<String> {
    let out = run("vni_stats", &[capture]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().skip(1).map(str::to_string).collect()
}

#[test]
fn vni_stats_counts_segments_fragments_and_reasons() {
    // The kernel's VXLAN: 15 frames in each of two segments, and 4 outer fragments of
    // large datagrams, whose VXLAN header is only found after reassembly.
    let kernel = vni_stats(&data("kernel.pcap"));
    let columns = |line: &str| {
        line.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let segments: Vec<Vec<String>> = kernel.iter().skip(1).take(2).map(|l| columns(l)).collect();
    assert_eq!(
        kernel[0].split_whitespace().collect::<Vec<_>>(),
        ["segment", "frames", "bytes"]
    );
    assert_eq!(segments[0][..3], ["vxlan", "42", "15"], "{kernel:?}");
    assert_eq!(segments[1][..3], ["vxlan", "4242", "15"], "{kernel:?}");
    assert!(
        kernel[3].starts_with("fragmented, not decoded: 4 frames, "),
        "{kernel:?}"
    );
    assert_eq!(kernel.len(), 4, "{kernel:?}");
    // Cut to 96 bytes by the capture, the same frames count alike.
    assert_eq!(vni_stats(&data("kernel-snap96.pcap")), kernel);

    // 27 frames, each broken in its own way: a few reasons, each with its count.
    let malformed = vni_stats(&data("malformed.pcap"));
    let start = malformed
        .iter()
        .position(|l| l == "errors by layer and reason: 27")
        .unwrap_or_else(|| panic!("{malformed:?}"));
    let reasons = &malformed[start + 1..];
    assert_eq!(
        reasons,
        [
            "  ethernet truncated: 2",
            "  ipv4 header_length: 1",
            "  ipv4 total_length: 1",
            "  ipv4 truncated: 9",
            "  ipv4 version: 1",
            "  nvgre flag_clear: 1",
            "  nvgre flag_set: 3",
            "  nvgre gre_protocol: 1",
            "  nvgre gre_version: 1",
            "  udp truncated: 1",
            "  udp udp_length: 1",
            "  vlan truncated: 3",
            "  vxlan flag_clear: 1",
            "  vxlan truncated: 1",
        ]
    );
}

#[test]
fn pcapng_and_either_pcap_byte_order_read_alike() {
    let scratch = Scratch::new("pcapng_and_either_pcap_byte_order_read_alike");
    let kernel = data("kernel.pcap");
    let (expected, _) = dissect(&kernel);
    // Written by editcap: microsecond timestamps, pcapng's default.
    let pcapng = data("kernel.pcapng");
    assert_eq!(dissect(&pcapng).0, expected);
    let out = scratch.file("from-pcapng.pcap");
    tool("pcap_roundtrip", &[&pcapng, &out]);
    assert_eq!(contents(&out), contents(&kernel));

    let swapped = scratch.file("big-endian-nanoseconds.pcap");
    write_pcap(&swapped, BIG_ENDIAN_NANOSECONDS, &records(&kernel));
    assert_eq!(dissect(&swapped).0, expected);
    let out = scratch.file("big-endian-roundtrip.pcap");
    tool("pcap_roundtrip", &[&swapped, &out]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&swapped).unwrap()
    );
}

#[test]
fn pcapng_simple_packet_blocks_read_and_foreign_link_types_refused() {
    let scratch = Scratch::new("pcapng_simple_packet_blocks_read_and_foreign_link_types_refused");
    let kernel = records(&data("kernel.pcap"));
    let enhanced = &kernel[0];
    // A length that is not a multiple of 4, so the block carries padding.
    let simple = kernel.iter().find(|r| r.data.len() % 4 != 0).unwrap();
    let capture = scratch.file("dumpcap.pcapng");
    let blocks = [
        (Some(enhanced.timestamp), &enhanced.data[..]),
        (None, &simple.data[..]),
    ];
    std::fs::write(&capture, pcapng(1, &blocks)).unwrap();
    let same = scratch.file("same.pcap");
    let untimed = PcapPacket::new(Duration::ZERO, simple.orig_len, &simple.data);
    write_pcap(&same, BIG_ENDIAN_NANOSECONDS, &[enhanced.clone(), untimed]);
    assert_eq!(dissect(&capture).0, dissect(&same).0);
    let out = scratch.file("out.pcap");
    tool("pcap_roundtrip", &[&capture, &out]);
    assert_eq!(contents(&out), contents(&same));

    // LINKTYPE_RAW: IP packets without an Ethernet header.
    let raw = scratch.file("raw.pcapng");
    std::fs::write(&raw, pcapng(101, &blocks)).unwrap();
    for (name, args) in [
        ("dissect", vec![raw.as_path()]),
        ("decap", vec![raw.as_path(), &scratch.file("decap.pcap")]),
    ] {
        let out = run(name, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && stderr.contains("interface 0: link type")
                && stderr.contains("is not Ethernet"),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn frames_cut_by_the_snap_length_are_decoded_and_flagged() {
    let scratch = Scratch::new("frames_cut_by_the_snap_length_are_decoded_and_flagged");
    let kernel = data("kernel.pcap");
    // `editcap -F pcap -s 96 kernel.pcap`: the header's snap length is 96 too.
    let snapped = data("kernel-snap96.pcap");
    let (whole, _) = dissect(&kernel);
    let (cut, _) = dissect(&snapped);
    assert_eq!(cut.len(), whole.len());
    let (mut cut_frames, mut cut_short) = (0, 0);
    for ((whole, cut), record) in whole.iter().zip(&cut).zip(records(&kernel)) {
        let len = record.data.len();
        if len <= 96 {
            assert_eq!(cut, whole);
            continue;
        }
        cut_frames += 1;
        let keys: Vec<&String> = cut.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["frame", "layers", "error", "cut_by_capture"],
            "{cut}"
        );
        assert_eq!(cut["cut_by_capture"], true);
        let (layers, all) = (
            cut["layers"].as_array().unwrap(),
            whole["layers"].as_array().unwrap(),
        );
        // Every header inside the 96 bytes is decoded as in the whole frame, but a UDP
        // checksum over bytes the capture left out cannot be verified.
        assert!(!layers.is_empty() && layers.len() <= all.len(), "{cut}");
        for (got, want) in layers.iter().zip(all) {
            let mut want = want.clone();
            if got["layer"] == "udp" && got["checksum_ok"].is_null() {
                want["checksum_ok"] = serde_json::Value::Null;
            }
            assert_eq!(got, &want, "{cut}\n{whole}");
        }
        // The whole frame decodes, and at 96 bytes every header was captured.
        assert!(whole["error"].is_null() && cut["error"].is_null());
        assert_eq!(layers.len(), all.len(), "{cut}");
    }
    // Cut at 60 bytes, inside the inner headers: what was captured is decoded, and the
    // first header the capture cut is an error that says so.
    let sixty: Vec<PcapPacket<'_>> = records(&kernel)
        .into_iter()
        .map(|mut record| {
            record.data.to_mut().truncate(60);
            record
        })
        .collect();
    let sixty_path = scratch.file("sixty.pcap");
    write_pcap(&sixty_path, BIG_ENDIAN_NANOSECONDS, &sixty);
    let (cut60, _) = dissect(&sixty_path);
    for ((whole, cut), record) in whole.iter().zip(&cut60).zip(&sixty) {
        let orig_len = record.orig_len;
        // Short frames, and outer fragments (which stop after IPv4), lose no header.
        if orig_len <= 60 || cut["layers"] == whole["layers"] {
            assert!(cut["error"].is_null(), "{cut}");
            continue;
        }
        cut_short += 1;
        let (layers, all) = (
            cut["layers"].as_array().unwrap(),
            whole["layers"].as_array().unwrap(),
        );
        assert!(layers.len() < all.len(), "{cut}");
        assert_eq!(layers[0], all[0]);
        let suffix = format!(" (record cut by the capture: 60 of {orig_len} bytes captured)");
        assert!(cut["error"].as_str().unwrap().ends_with(&suffix), "{cut}");
    }
    assert!(cut_short > 10);
    assert!(cut_frames > 10);
    let out = scratch.file("roundtrip.pcap");
    tool("pcap_roundtrip", &[&snapped, &out]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&snapped).unwrap()
    );

    // An IPv4 total length beyond even the original length: malformed, not cut short.
    let mut frame = records(&kernel)
        .into_iter()
        .find(|r| r.data.len() > 200)
        .unwrap();
    frame.data.to_mut().truncate(96);
    frame.orig_len = 150;
    let lying = scratch.file("lying.pcap");
    write_pcap(&lying, BIG_ENDIAN_NANOSECONDS, &[frame]);
    let (objects, _) = dissect(&lying);
    assert_eq!(objects[0]["cut_by_capture"], true);
    let error = objects[0]["error"].as_str().unwrap();
    assert!(
        error.contains("ipv4") && !error.contains("cut by the capture"),
        "{error}"
    );
}

#[test]
fn a_file_cut_inside_its_last_record_is_read_up_to_it() {
    let scratch = Scratch::new("a_file_cut_inside_its_last_record_is_read_up_to_it");
    // What decap must write: the inner frames of every record before the cut one.
    let kernel = records(&data("kernel.pcap"));
    let (before, expected) = (scratch.file("before.pcap"), scratch.file("expected.pcap"));
    write_pcap(&before, BIG_ENDIAN_NANOSECONDS, &kernel[..kernel.len() - 1]);
    tool("decap", &[&before, &expected]);
    for name in ["kernel.pcap", "kernel.pcapng"] {
        let whole = data(name);
        let cut = scratch.file(name);
        std::fs::copy(&whole, &cut).unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&cut).unwrap();
        file.set_len(file.metadata().unwrap().len() - 10).unwrap();

        let (all, _) = dissect(&whole);
        let (read, warning) = dissect(&cut);
        assert_eq!(read, all[..all.len() - 1], "{name}");
        assert!(
            warning.starts_with("warning: ") && warning.contains("ends inside"),
            "{warning}"
        );
        let decapsulated = scratch.file("decapsulated.pcap");
        let warning = tool("decap", &[&cut, &decapsulated]);
        assert!(
            warning.starts_with("warning: ") && warning.contains("ends inside"),
            "{warning}"
        );
        assert_eq!(contents(&decapsulated), contents(&expected), "{name}");
    }
}
