//! Conformance: `examples/dissect` against tshark's decode of the captures in tests/data
//! (made by scapy and by the Linux kernel; see tests/data/README.md), and against the
//! expected errors of malformed frames.

use std::fs::File;
use std::path::{Path, PathBuf};

use pcap_file::pcap::PcapReader;
use serde_json::Value;
use tunnelwire::packet::Decoder;

#[path = "../examples/dissect/render.rs"]
mod render;
// What `render` takes from the pcap tools' shared module (`decode_record`).
#[allow(dead_code)]
#[path = "../examples/common/pcap_io.rs"]
mod pcap_io;

/// tshark field -> (our layer, our key), as in CONTRACTS.md.
const FIELDS: &[(&str, &str, &str)] = &[
    ("eth.dst", "ethernet", "dst"),
    ("eth.src", "ethernet", "src"),
    ("eth.type", "ethernet", "ethertype"),
    ("ieee8021ad.id", "svlan", "vid"),
    ("vlan.id", "vlan", "vid"),
    ("vlan.priority", "vlan", "pcp"),
    ("vlan.etype", "vlan", "ethertype"),
    ("ip.src", "ipv4", "src"),
    ("ip.dst", "ipv4", "dst"),
    ("ip.hdr_len", "ipv4", "ihl_bytes"),
    ("ip.len", "ipv4", "total_len"),
    ("ip.id", "ipv4", "id"),
    ("ip.flags.df", "ipv4", "df"),
    ("ip.flags.mf", "ipv4", "mf"),
    ("ip.frag_offset", "ipv4", "frag_offset"),
    ("ip.ttl", "ipv4", "ttl"),
    ("ip.proto", "ipv4", "protocol"),
    ("ip.checksum.status", "ipv4", "checksum_ok"),
    ("udp.srcport", "udp", "src_port"),
    ("udp.dstport", "udp", "dst_port"),
    ("udp.length", "udp", "len"),
    ("udp.checksum.status", "udp", "checksum_ok"),
    ("vxlan.vni", "vxlan", "vni"),
    ("vxlan.flags", "vxlan", "flags"),
    ("gre.key", "nvgre", "key"),
    ("ipv6.src", "ipv6", "src"),
    ("ipv6.dst", "ipv6", "dst"),
    ("ipv6.tclass", "ipv6", "tclass"),
    ("ipv6.flow", "ipv6", "flow_label"),
    ("ipv6.plen", "ipv6", "payload_len"),
    ("ipv6.nxt", "ipv6", "next_header"),
    ("ipv6.hlim", "ipv6", "hop_limit"),
];

/// Geneve's fields and 802.3's length, compared on the Geneve captures. tshark's
/// `geneve.option.length` lists the options' length in bytes, then each option's whole
/// length (its 4-byte header and data).
const GENEVE_FIELDS: &[(&str, &str, &str)] = &[
    ("geneve.version", "geneve", "version"),
    ("geneve.flags.oam", "geneve", "oam"),
    ("geneve.flags.critical", "geneve", "critical"),
    ("geneve.proto_type", "geneve", "protocol"),
    ("geneve.vni", "geneve", "vni"),
    ("geneve.option.class", "geneve_option", "class"),
    ("geneve.option.type", "geneve_option", "type"),
    ("geneve.option.type.critical", "geneve_option", "critical"),
    ("geneve.option.length", "geneve", "lengths"),
    ("eth.len", "ethernet", "length"),
    ("vlan.len", "vlan", "length"),
];

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// What `examples/dissect` prints for each frame of `pcap` (pcap or pcapng), read as it
/// reads them.
fn dissect(pcap: &Path) -> Vec<Value> {
    let mut reader = tunnelwire::pcap::Reader::new(File::open(pcap).unwrap()).unwrap();
    let decoder = Decoder::new();
    let mut scratch = render::Scratch::default();
    let mut frames = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        let mut line = Vec::new();
        render::write_record(&mut line, &decoder, &record, &mut scratch).unwrap();
        frames.push(serde_json::from_slice(&line).unwrap());
    }
    frames
}

/// tshark's text for a field, in our JSON's terms.
fn normalise_tshark(field: &str, value: &str) -> Value {
    match field {
        "ip.flags.df"
        | "ip.flags.mf"
        | "geneve.flags.oam"
        | "geneve.flags.critical"
        | "geneve.option.type.critical" => Value::Bool(value == "1"),
        f if f.ends_with("checksum.status") => match value {
            "1" => Value::Bool(true),
            "0" => Value::Bool(false),
            // 2: unverified, 3: not present (UDP checksum 0), 4: zero over IPv6 ("illegal"
            // to tshark, allowed for tunnels by RFC 6935; the contract says null for 0).
            _ => Value::Null,
        },
        "eth.src" | "eth.dst" | "ip.src" | "ip.dst" => Value::String(value.to_lowercase()),
        // tshark prints RFC 5952 text, as Rust's `Ipv6Addr` does.
        "ipv6.src" | "ipv6.dst" => {
            Value::String(value.parse::<std::net::Ipv6Addr>().unwrap().to_string())
        }
        _ => {
            let n = match value.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
                None => value.parse().unwrap(),
            };
            // tshark shows the VXLAN flags as 16 bits; the contract has the first byte.
            Value::from(if field == "vxlan.flags" { n >> 8 } else { n })
        }
    }
}

/// Our layers, projected onto tshark's fields; a key a layer lacks (`ethertype` where the
/// type field is an 802.3 `length`) gives nothing, as tshark gives no field.
fn project(frame: &Value, layer: &str, key: &str) -> Vec<Value> {
    frame["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| {
            let mut kind = l["layer"].as_str().unwrap();
            if kind == "vlan" && l["tpid"] == 0x88a8 {
                kind = "svlan"; // tshark names S-tags ieee8021ad
            }
            let options = || l["options"].as_array().unwrap().iter();
            match (kind == layer, kind, key) {
                (_, "geneve", _) if layer == "geneve_option" => {
                    options().map(|o| o[key].clone()).collect()
                }
                (false, _, _) => Vec::new(),
                (true, _, "ihl_bytes") => vec![Value::from(l["ihl"].as_u64().unwrap() * 4)],
                (true, _, "tclass") => vec![Value::from(
                    l["dscp"].as_u64().unwrap() << 2 | l["ecn"].as_u64().unwrap(),
                )],
                (true, _, "key") => vec![Value::from(
                    (l["vsid"].as_u64().unwrap() << 8) | l["flow_id"].as_u64().unwrap(),
                )],
                (true, _, "lengths") => std::iter::once(l["opt_len"].clone())
                    .chain(options().map(|o| Value::from(o["len"].as_u64().unwrap() + 4)))
                    .collect(),
                (true, _, _) => l.get(key).cloned().into_iter().collect(),
            }
        })
        .collect()
}

fn agree_with_tshark(name: &str) {
    agree_with_tshark_but(name, |_| false);
}

/// As [`agree_with_tshark`], leaving out the frames for which `skip` (given our JSON) is
/// true.
fn agree_with_tshark_but(name: &str, skip: impl Fn(&Value) -> bool) {
    agree_on_fields(name, FIELDS, skip);
}

/// Every frame of `NAME.pcap` decodes without error, and each of `fields` agrees with
/// `NAME.tshark.json`, but in the frames for which `skip` (given our JSON) is true.
fn agree_on_fields(name: &str, fields: &[(&str, &str, &str)], skip: impl Fn(&Value) -> bool) {
    // `NAME.pcap`, or `NAME.pcapng` for records of several link types.
    let capture = data(&format!("{name}.pcap"));
    let capture = match capture.exists() {
        true => capture,
        false => data(&format!("{name}.pcapng")),
    };
    let frames = dissect(&capture);
    let expected: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(data(&format!("{name}.tshark.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(frames.len(), expected.len(), "{name}: one line per frame");
    let mut problems = Vec::new();
    for (i, (ours, theirs)) in frames.iter().zip(&expected).enumerate() {
        assert_eq!(ours["frame"], i + 1);
        if skip(ours) {
            continue;
        }
        if !ours["error"].is_null() {
            problems.push(format!(
                "{name}#{}: unexpected error {}",
                i + 1,
                ours["error"]
            ));
            continue;
        }
        for &(field, layer, key) in fields {
            // Captures decoded before IPv6 was compared hold no IPv6 fields: tshark found
            // none there, as the frames carry no IPv6.
            let want: Vec<Value> = theirs[field]
                .as_array()
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(|v| normalise_tshark(field, v.as_str().unwrap()))
                .collect();
            let got = project(ours, layer, key);
            if got != want {
                problems.push(format!(
                    "{name}#{}: {field}: tshark {want:?}, dissect {got:?}",
                    i + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn shared_sample_agrees_with_tshark() {
    agree_with_tshark("sample");
}

#[test]
fn edge_cases_agree_with_tshark() {
    agree_with_tshark("edge");
}

#[test]
fn linux_kernel_vxlan_capture_agrees_with_tshark() {
    agree_with_tshark("kernel");
}

/// The same traffic as `tcpdump -i any` takes it (Linux's cooked header, version 2,
/// `capture_kernel.sh tests/data any`): the underlay's VXLAN frames, the vxlan devices'
/// own inner frames, ARP, IPv6's neighbour discovery, each decoded from its IP header as
/// tshark decodes it. With no capture filter the fragments' later parts are there too
/// (the underlay's, and the ping's own on the vxlan devices), where tshark reassembles
/// the datagram and decodes it whole: left out, as the contract stops after a fragment's
/// IPv4 header.
#[test]
fn linux_kernel_vxlan_capture_on_every_interface_agrees_with_tshark() {
    let later_fragment = |frame: &Value| frame["layers"][0]["frag_offset"].as_u64() > Some(0);
    agree_with_tshark_but("kernel-any", later_fragment);
    let frames = dissect(&data("kernel-any.pcap"));
    let skipped = frames.iter().filter(|f| later_fragment(f)).count();
    let vxlan = frames
        .iter()
        .filter(|f| f["layers"][2]["layer"] == "vxlan")
        .count();
    assert_eq!((frames.len(), skipped, vxlan), (81, 8, 30));
}

/// IPv6 inside VXLAN and NVGRE (TCP, UDP, ICMPv6, ECN marks, flow labels, extension
/// headers) and as the underlay, built by scapy (tests/data/make_ipv6_frames.py).
#[test]
fn ipv6_frames_agree_with_tshark() {
    agree_with_tshark("ipv6");
}

/// The kernel capture as `tcpdump -s 96` takes it: every header within the 96 bytes is
/// decoded as tshark decodes it, and a checksum over bytes the capture left out is
/// unverified (`null`).
#[test]
fn snap_length_cut_capture_agrees_with_tshark() {
    // Outer first fragments are left out: the contract stops after their IPv4 header,
    // while tshark, unable to reassemble what the capture cut, decodes into them.
    agree_with_tshark_but("kernel-snap96", |ours| {
        let outer_ip = &ours["layers"][1];
        outer_ip["mf"] == true || outer_ip["frag_offset"].as_u64().is_some_and(|o| o > 0)
    });
}

/// Records cut by the snap length around UDP datagrams shorter than their IP payload
/// (tests/data/make_cut_frames.py, IPv4, IPv6 and inside VXLAN): a checksum is verified
/// when the capture holds the whole IP payload, not just the datagram, as tshark has it
/// (a real capture of this shape, tcpdump's `lisp_invalid_length.pcap`, showed it).
#[test]
fn cut_records_verify_a_checksum_only_over_a_whole_ip_payload() {
    agree_with_tshark("cut");
}

/// Records of the link types whose header names the packet's protocol (Linux's cooked
/// SLL and SLL2 of `tcpdump -i any`, raw IP, IPv4, IPv6, BSD loopback NULL in either
/// byte order and LOOP) carrying VXLAN, Geneve, NVGRE and plain IPv6, a source-routed
/// IPv4 packet, and VLAN tags libpcap put back after a cooked header, built by scapy
/// (tests/data/make_link_frames.py): decoded from IP or the tag, every field agrees with
/// tshark, which shows no Ethernet header for them either; the three records no tool
/// decodes say why.
#[test]
fn records_of_link_types_other_than_ethernet_agree_with_tshark() {
    let fields: Vec<_> = FIELDS.iter().chain(GENEVE_FIELDS).copied().collect();
    let undecoded = |frame: &Value| {
        frame["error"]
            .as_str()
            .is_some_and(|e| e.ends_with("not decoded"))
    };
    agree_on_fields("links", &fields, undecoded);
    let frames = dissect(&data("links.pcapng"));
    let why: Vec<_> = frames
        .iter()
        .filter(|f| undecoded(f))
        .map(|f| &f["error"])
        .collect();
    assert_eq!(
        why,
        [
            "record 30: interface 7: link type 113: protocol 0x0000 of the cooked header is not an EtherType: not decoded",
            "record 31: interface 7: link type 113: protocol 0x0004 of the cooked header is not an EtherType: not decoded",
            "record 32: interface 7: link type 113: the record ends inside its 16-byte link header (10 bytes): not decoded",
        ]
    );
    // Each stack decoded from IP, but the Ethernet frame a cooked header announced
    // (protocol 3, record 33): no Ethernet header but the tunnels' inner ones.
    let tunnels = frames.iter().filter(|f| {
        f["layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| ["vxlan", "nvgre", "geneve"].contains(&l["layer"].as_str().unwrap()))
    });
    assert_eq!(tunnels.count(), 24);
    let from_ethernet: Vec<_> = frames
        .iter()
        .filter(|f| f["layers"].get(0).is_some_and(|l| l["layer"] == "ethernet"))
        .map(|f| &f["frame"])
        .collect();
    assert_eq!(from_ethernet, [33]);
}

/// Geneve over IPv4 and IPv6 (OVN's option, AWS GWLB's, random ones, the O and C bits,
/// Ethernet, IPv4 and IPv6 payloads, a payload type not decoded) and IEEE 802.3 frames
/// (STP bare, tagged and inside Geneve), built by scapy (tests/data/make_geneve_frames.py):
/// every field tshark shows agrees, Geneve's and its options' included.
#[test]
fn geneve_and_ieee_802_3_frames_agree_with_tshark() {
    let fields: Vec<_> = FIELDS.iter().chain(GENEVE_FIELDS).copied().collect();
    agree_on_fields("geneve", &fields, |_| false);
    // And the option data, against the bytes scapy wrote: each option's hex is the
    // `len` bytes after its header, the options one after another after the 8-byte
    // header.
    let mut reader = PcapReader::new(File::open(data("geneve.pcap")).unwrap()).unwrap();
    let mut options_seen = 0;
    for frame in dissect(&data("geneve.pcap")) {
        let packet = reader.next_packet().unwrap().unwrap();
        let layers = frame["layers"].as_array().unwrap();
        let Some(at) = layers.iter().position(|l| l["layer"] == "geneve") else {
            continue;
        };
        // The Geneve header follows the UDP header, which follows Ethernet and IP.
        let udp_end = 14 + if layers[1]["layer"] == "ipv4" { 20 } else { 40 } + 8;
        assert_eq!(at, 3);
        let mut pos = udp_end + 8;
        for option in layers[at]["options"].as_array().unwrap() {
            let len = option["len"].as_u64().unwrap() as usize;
            let hex: String = packet.data[pos + 4..pos + 4 + len]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(option["data"], hex.as_str());
            pos += 4 + len;
            options_seen += 1;
        }
        assert_eq!(
            pos,
            udp_end + 8 + layers[at]["opt_len"].as_u64().unwrap() as usize
        );
    }
    assert!(options_seen > 40, "{options_seen} options");
}

/// Geneve as the tools write it (tests/data/make_encapsulated.sh: `encap --geneve` with
/// OVN's and AWS's options over IPv4 with the UDP checksum, without options over IPv6,
/// `translate --to geneve` from VXLAN and NVGRE, and Geneve translated to NVGRE): tshark
/// decodes every field as we do, Geneve's and its options' included, and finds every
/// IPv4 and UDP checksum good (a UDP checksum of 0, status 3, only where VXLAN's
/// default over IPv4 carried over).
#[test]
fn geneve_through_encap_and_translate_agrees_with_tshark_all_checksums_good() {
    let fields: Vec<_> = FIELDS.iter().chain(GENEVE_FIELDS).copied().collect();
    for name in [
        "encap-geneve",
        "underlay6-geneve",
        "translated-geneve",
        "underlay6-translated-geneve",
        "underlay6-geneve-translated-nvgre",
    ] {
        agree_on_fields(name, &fields, |_| false);
        let rows: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(data(&format!("{name}.tshark.json"))).unwrap(),
        )
        .unwrap();
        for (i, row) in rows.iter().enumerate() {
            for field in ["ip.checksum.status", "udp.checksum.status"] {
                for status in row[field].as_array().unwrap() {
                    let status = status.as_str().unwrap();
                    let zero_allowed = name == "translated-geneve";
                    assert!(
                        status == "1" || (zero_allowed && status == "3"),
                        "{name}#{}: {field} {status}",
                        i + 1
                    );
                }
            }
            let geneve = row["geneve.vni"].as_array().unwrap().len();
            assert_eq!(
                geneve,
                usize::from(!name.ends_with("nvgre")),
                "{name}#{}",
                i + 1
            );
        }
    }
}

#[test]
fn malformed_geneve_frames_fail_naming_geneve() {
    fail_naming_the_layer("geneve-malformed");
}

#[test]
fn malformed_frames_fail_naming_the_layer() {
    fail_naming_the_layer("malformed");
}

#[test]
fn malformed_ipv6_frames_fail_naming_the_layer() {
    fail_naming_the_layer("ipv6-malformed");
}

/// Every frame of `NAME.pcap` must give an error naming the layer in `NAME.meta.json`.
fn fail_naming_the_layer(name: &str) {
    let frames = dissect(&data(&format!("{name}.pcap")));
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(data(&format!("{name}.meta.json"))).unwrap())
            .unwrap();
    let layers = meta["layers"].as_array().unwrap();
    assert_eq!(frames.len(), layers.len());
    for (i, (frame, layer)) in frames.iter().zip(layers).enumerate() {
        let error = frame["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}#{} decoded without error", i + 1));
        let layer = layer.as_str().unwrap();
        assert!(
            error.starts_with(&format!("{layer} at byte ")),
            "{name}#{}: {error} should name {layer}",
            i + 1
        );
    }
}

/// Inner IPv6 through the tools (tests/data/make_encapsulated.sh on plain6.pcap):
/// tshark decodes every field as we do, and finds every checksum good: no status 0
/// (bad) or 2 (unverified) in any IPv4 header or UDP datagram, inner or outer; a UDP
/// checksum of 0 (none, status 3) is allowed on the outer VXLAN datagram.
#[test]
fn inner_ipv6_through_encap_translate_and_decap_agrees_with_tshark_all_checksums_good() {
    for name in [
        "encap6-vxlan",
        "encap6-nvgre",
        "translated6-nvgre",
        "translated6-vxlan",
        "decap6",
    ] {
        agree_with_tshark(name);
        let rows: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(data(&format!("{name}.tshark.json"))).unwrap(),
        )
        .unwrap();
        let mut verified = 0;
        for (i, row) in rows.iter().enumerate() {
            for field in ["ip.checksum.status", "udp.checksum.status"] {
                for status in row[field].as_array().unwrap() {
                    let status = status.as_str().unwrap();
                    assert!(
                        status == "1" || status == "3",
                        "{name}#{}: {field} {status}",
                        i + 1
                    );
                    verified += usize::from(status == "1");
                }
            }
        }
        assert!(verified > 0, "{name}: no checksum verified");
    }
}

/// An IPv6 underlay through the tools (tests/data/make_encapsulated.sh on flows.pcap, 200
/// inner flows): tshark decodes every field as we do and verifies every IPv4 and UDP
/// checksum, the outer UDP one over IPv6 included (RFC 8200 section 8.1: never 0); and,
/// in tshark's own decode, the flows spread over flow labels (RFC 6438) and VXLAN source
/// ports.
#[test]
fn an_ipv6_underlay_through_the_tools_agrees_with_tshark_and_spreads_flows() {
    for name in [
        "underlay6-vxlan",
        "underlay6-nvgre",
        "underlay6-translated-nvgre",
        "underlay6-translated-vxlan",
        "underlay6-decap",
    ] {
        agree_with_tshark(name);
        let rows: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(data(&format!("{name}.tshark.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(rows.len(), 200, "{name}");
        let first =
            |row: &Value, field: &str| row[field].as_array()?.first()?.as_str().map(str::to_owned);
        let mut labels = std::collections::BTreeSet::new();
        let mut ports = std::collections::BTreeSet::new();
        for (i, row) in rows.iter().enumerate() {
            for field in ["ip.checksum.status", "udp.checksum.status"] {
                for status in row[field].as_array().unwrap() {
                    assert_eq!(status.as_str(), Some("1"), "{name}#{}: {field}", i + 1);
                }
            }
            if name == "underlay6-decap" {
                continue;
            }
            assert_eq!(
                first(row, "ipv6.src").as_deref(),
                Some("fd00:99::1"),
                "{name}#{}",
                i + 1
            );
            let label = first(row, "ipv6.flow").unwrap();
            labels.insert(u32::from_str_radix(label.trim_start_matches("0x"), 16).unwrap());
            if name.ends_with("vxlan") {
                ports.extend(first(row, "udp.srcport"));
            }
        }
        if name != "underlay6-decap" {
            assert!(labels.len() >= 150, "{name}: {} flow labels", labels.len());
            assert!(!labels.contains(&0), "{name}: a flow without a label");
        }
        if name.ends_with("vxlan") {
            assert!(ports.len() >= 150, "{name}: {} source ports", ports.len());
        }
    }
}

/// What tunnelwire's own tools wrote (tests/data/make_encapsulated.sh): tshark must
/// decode exactly the configured outer fields and the unchanged inner frame.
#[test]
fn encapsulated_and_translated_frames_agree_with_tshark() {
    for name in [
        "encap-vxlan",
        "encap-vxlan-csum",
        "encap-nvgre",
        "translated-nvgre",
        "translated-vxlan",
    ] {
        agree_with_tshark(name);
    }
}
