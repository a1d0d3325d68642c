//! Captures as people take them: pcapng, either pcap byte order, frames cut by the snap
//! length, a file cut inside its last record.

use super::*;

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
fn pcapng_simple_packet_blocks_read_and_a_foreign_pcap_refused() {
    let scratch = Scratch::new("pcapng_simple_packet_blocks_read_and_a_foreign_pcap_refused");
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

    // LINKTYPE_RAW: IP packets without an Ethernet header. `dissect` decodes them from
    // IP: the Ethernet frame's layers but its first. A tool that rewrites whole Ethernet
    // frames (`translate`) refuses the file before anything is read (a pcap says its
    // link type for the whole file), as every tool refuses a link type whose header it
    // does not read (USER0).
    let raw = scratch.file("raw.pcap");
    let raw_header = PcapHeader {
        datalink: DataLink::RAW,
        ..BIG_ENDIAN_NANOSECONDS
    };
    let ip_packet = PcapPacket::new(
        enhanced.timestamp,
        enhanced.orig_len - 14,
        &enhanced.data[14..],
    );
    write_pcap(&raw, raw_header, &[ip_packet]);
    let (from_ip, _) = dissect(&raw);
    let (from_ethernet, _) = dissect(&same);
    let layers = from_ethernet[0]["layers"].as_array().unwrap();
    assert_eq!(layers[0]["layer"], "ethernet");
    assert_eq!(from_ip[0]["layers"].as_array().unwrap()[..], layers[1..]);
    let user = scratch.file("user0.pcap");
    let user_header = PcapHeader {
        datalink: DataLink::USER0,
        ..BIG_ENDIAN_NANOSECONDS
    };
    write_pcap(&user, user_header, std::slice::from_ref(enhanced));
    for (name, args, link_type) in [
        (
            "translate",
            vec![
                Path::new("--to"),
                Path::new("nvgre"),
                &raw,
                &scratch.file("nvgre.pcap"),
            ],
            101,
        ),
        (
            "decap",
            vec![user.as_path(), &scratch.file("decap.pcap")],
            147,
        ),
        ("dissect", vec![user.as_path()], 147),
        ("vni_stats", vec![user.as_path()], 147),
    ] {
        let out = run(name, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && stderr.contains(&format!("link type {link_type} is not Ethernet")),
            "{name}: {stderr}"
        );
    }
}

/// Captures taken on hosts (Linux's cooked SLL and SLL2 of `tcpdump -i any`, raw IP,
/// BSD loopback: `links.pcapng`, built by scapy): `decap` finds the tunnels behind every
/// link header, VLAN tags after a cooked header included, and writes their inner
/// Ethernet frames, each as the tunnel carried it; `encap --geneve` carries each IP
/// packet as Geneve's IP payload, which decodes as the packet did, where VXLAN, which
/// carries Ethernet frames, skips them, and both skip a tagged packet (neither Ethernet
/// nor IP); the records no tool decodes are counted skipped by why.
#[test]
fn decap_and_encap_read_captures_taken_on_hosts() {
    let scratch = Scratch::new("decap_and_encap_read_captures_taken_on_hosts");
    let out = scratch.file("inner.pcap");
    let summary = tool("decap", &[&data("links.pcapng"), &out]);
    let undecoded = "1 link type 113 header cut short; 2 link type 113 protocol not decoded";
    let tagged = "2 tunnel unsupported_frame: a packet that is neither Ethernet nor IP";
    assert!(
        summary.contains(&format!(
            "35 frames in, 16 out, 19 skipped (8 geneve critical_option; {undecoded}; \
             8 tunnel not_tunnel)"
        )),
        "{summary}"
    );
    // VXLAN's inner frame and NVGRE's, behind each of the seven link headers, then
    // VXLAN's again, in the Ethernet frame a cooked header announced and behind the VLAN
    // tag libpcap put back after one (Geneve behind two tags is refused for its critical
    // option, as the others are).
    let inner = frames(&out);
    let (vxlan, nvgre) = (&inner[0], &inner[1]);
    assert_ne!(vxlan, nvgre);
    assert!(
        inner[..14]
            .chunks(2)
            .all(|pair| pair == [vxlan.clone(), nvgre.clone()])
    );
    assert_eq!(inner[14..], [vxlan.clone(), vxlan.clone()]);
    let (lines, _) = dissect(&out);
    let addresses: Vec<_> = lines[..2]
        .iter()
        .map(|line| line["layers"][1]["dst"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(addresses, ["192.0.2.2", "192.0.2.4"]);

    let geneve = scratch.file("geneve.pcap");
    let endpoints = ["--vni", "9", "--src-ip", "10.9.0.1", "--dst-ip", "10.9.0.2"].map(Path::new);
    let args: Vec<&Path> = [Path::new("--geneve")]
        .iter()
        .chain(&endpoints)
        .copied()
        .collect();
    let summary = tool(
        "encap",
        &[&args[..], &[&data("links.pcapng"), &geneve]].concat(),
    );
    assert!(
        summary.contains(&format!(
            "35 frames in, 30 out, 5 skipped ({undecoded}; {tagged})"
        )),
        "{summary}"
    );
    let (packets, _) = dissect(&data("links.pcapng"));
    let (carried, _) = dissect(&geneve);
    let packets = packets.iter().filter(|p| p["error"].is_null());
    // Decoded as the packet was, up to its own tunnel (decoding goes through one).
    for (packet, frame) in packets.zip(&carried) {
        let layers = frame["layers"].as_array().unwrap();
        assert_eq!(layers[3]["layer"], "geneve");
        let packet = packet["layers"].as_array().unwrap();
        assert!(layers.len() > 4, "{layers:?}");
        assert_eq!(layers[4..], packet[..layers.len() - 4]);
    }
    let summary = tool(
        "encap",
        &[&endpoints[..], &[&data("links.pcapng"), &geneve]].concat(),
    );
    assert!(
        summary.contains(&format!(
            "35 frames in, 1 out, 34 skipped ({undecoded}; 29 tunnel unsupported: \
             an IP payload (no inner Ethernet) on VXLAN or NVGRE; {tagged})"
        )),
        "{summary}"
    );
}

/// A pcapng of two interfaces, Ethernet and one of a link type no tool reads (USER0): the
/// tools take the Ethernet frames and go on past the others, which `dissect` reports
/// frame by frame and the other tools count as skipped.
#[test]
fn pcapng_records_of_other_link_types_are_reported_and_passed() {
    let scratch = Scratch::new("pcapng_records_of_other_link_types_are_reported_and_passed");
    let kernel = records(&data("kernel.pcap"));
    let ip_packet = &kernel[0].data[14..];
    let frames = [
        (0, Some(kernel[0].timestamp), &kernel[0].data[..]),
        (1, Some(kernel[1].timestamp), ip_packet),
        (0, Some(kernel[2].timestamp), &kernel[2].data[..]),
    ];
    let capture = scratch.file("two-interfaces.pcapng");
    std::fs::write(&capture, pcapng_of(&[1, 147], &frames)).unwrap();
    let ethernet_only = scratch.file("ethernet.pcap");
    write_pcap(
        &ethernet_only,
        BIG_ENDIAN_NANOSECONDS,
        &[kernel[0].clone(), kernel[2].clone()],
    );

    let (lines, stderr) = dissect(&capture);
    assert_eq!(lines.len(), 3, "{stderr}");
    let (ethernet, _) = dissect(&ethernet_only);
    assert_eq!(
        (&lines[0]["layers"], &lines[2]["layers"]),
        (&ethernet[0]["layers"], &ethernet[1]["layers"])
    );
    assert_eq!(lines[1]["frame"], 2);
    assert_eq!(lines[1]["layers"], serde_json::json!([]));
    assert_eq!(
        lines[1]["error"],
        "record 2: interface 1: link type 147 is not Ethernet: not decoded"
    );

    let out = scratch.file("out.pcap");
    let summary = tool("pcap_roundtrip", &[&capture, &out]);
    assert!(
        summary.contains("3 frames in, 2 out, 1 skipped (1 link type 147)"),
        "{summary}"
    );
    assert_eq!(contents(&out), contents(&ethernet_only));
    let summary = tool("decap", &[&capture, &out]);
    assert!(summary.contains("1 link type 147"), "{summary}");
    let report = vni_stats::vni_stats(&capture);
    assert!(
        report
            .iter()
            .any(|line| line.starts_with("link type not decoded: 1 frames")),
        "{report:?}"
    );
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
    // A whole VXLAN frame carrying UDP, cut at every length: the error of each record is
    // the capture's cut, never what the zeros standing in for the missing bytes make of
    // a header (inside the UDP header, a length of 0).
    let udp = whole
        .iter()
        .position(|frame| frame["layers"].as_array().unwrap().len() == 7)
        .unwrap();
    let record = &records(&kernel)[udp];
    let every_length: Vec<PcapPacket<'_>> = (1..record.data.len())
        .map(|len| PcapPacket::new(record.timestamp, record.orig_len, &record.data[..len]))
        .collect();
    let every_path = scratch.file("every-length.pcap");
    write_pcap(&every_path, BIG_ENDIAN_NANOSECONDS, &every_length);
    let (objects, _) = dissect(&every_path);
    for (len, object) in (1..).zip(&objects) {
        let suffix = format!(
            " (record cut by the capture: {len} of {} bytes captured)",
            record.orig_len
        );
        let error = object["error"].as_str().unwrap_or_default();
        assert!(error.is_empty() || error.ends_with(&suffix), "{object}");
    }
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
