//! What the tools write: `pcap_roundtrip` byte identical, `encap` then `decap` the input,
//! `translate` both ways the segment and inner frames, and the committed outputs exactly.

use tunnelwire::packet::Decoder;

use super::*;

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
