//! The pcap examples end to end, on the committed captures: `pcap_roundtrip` is byte
//! identical, `encap` then `decap` gives back the input, `translate` both ways keeps the
//! segment and the inner frames, and the tools rewrite exactly the committed outputs whose
//! tshark decodes `tests/conformance.rs` checks.

use std::path::{Path, PathBuf};
use std::process::Command;

use pcap_file::pcap::PcapReader;
use tunnelwire::packet::Decoder;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Runs an example (built on first use), asserting success; returns its standard error.
fn tool(name: &str, args: &[&Path]) -> String {
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--examples"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --examples");
        assert!(status.success());
    });
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    let out = Command::new(&bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{bin:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{name} failed: {stderr}");
    stderr
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

fn frames(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        frames.push(packet.unwrap().data.into_owned());
    }
    frames
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
    for nvgre in [false, true] {
        let (encapsulated, decapsulated) = (
            scratch.file(&format!("e{nvgre}.pcap")),
            scratch.file(&format!("d{nvgre}.pcap")),
        );
        let mut args: Vec<&Path> = if nvgre {
            vec![Path::new("--nvgre")]
        } else {
            vec![]
        };
        args.extend([Path::new("--vni"), Path::new("5000")]);
        args.extend(addrs);
        let plain = data("plain.pcap");
        args.extend([plain.as_path(), encapsulated.as_path()]);
        tool("encap", &args);
        let summary = tool("decap", &[&encapsulated, &decapsulated]);
        assert!(summary.contains("0 skipped"), "{summary}");
        assert_eq!(
            frames(&decapsulated),
            untagged(frames(&plain)),
            "nvgre: {nvgre}"
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
    ];
    for (name, flags, input, expected) in runs {
        let out = scratch.file(expected);
        let input = data(input);
        let mut args: Vec<&Path> = flags.split(' ').map(Path::new).collect();
        args.extend([input.as_path(), out.as_path()]);
        tool(name, &args);
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(data(expected)).unwrap(),
            "{expected}"
        );
    }
}

#[test]
fn bad_arguments_and_unreadable_inputs_fail_clearly() {
    let scratch = Scratch::new("bad_arguments_and_unreadable_inputs_fail_clearly");
    let exe = std::env::current_exe().unwrap();
    let bin = |name: &str| {
        exe.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("examples")
            .join(name)
    };
    tool(
        "decap",
        &[&data("plain.pcap"), &scratch.file("warmup.pcap")],
    );
    let cases: [(&str, &[&str], &str); 4] = [
        (
            "encap",
            &[
                "--vni", "16777216", "--src-ip", "1.1.1.1", "--dst-ip", "2.2.2.2", "a", "b",
            ],
            "VNI 16777216 is out of range",
        ),
        (
            "encap",
            &["--vni", "1", "--src-ip", "1.1.1.1", "a", "b"],
            "--dst-ip is required",
        ),
        (
            "translate",
            &["--to", "gre", "a", "b"],
            "expected nvgre or vxlan",
        ),
        ("decap", &["/nonexistent.pcap", "b"], "No such file"),
    ];
    for (name, args, message) in cases {
        let out = Command::new(bin(name)).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(message),
            "{name} {args:?}: {stderr}"
        );
    }
}
