//! `vni_stats`' report: segments, fragments and errors counted by reason.

use super::*;

/// `vni_stats`' report: the lines after the first (which names the file).
pub(super) fn vni_stats(capture: &Path) -> Vec<String> {
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

    // Linux's cooked captures, raw IP and BSD loopback: each segment's frames found behind
    // all seven link headers, counted from what follows the link header, their IP header
    // (VXLAN's once more in an Ethernet frame behind a cooked header, VXLAN's and
    // Geneve's again behind the VLAN tags libpcap put back after one); the three records
    // no tool decodes counted apart.
    let links = vni_stats(&data("links.pcapng"));
    let rows: Vec<Vec<String>> = links.iter().skip(1).take(3).map(|l| columns(l)).collect();
    assert_eq!(rows[0], ["vxlan", "42", "9", "990"], "{links:?}");
    assert_eq!(rows[1], ["geneve", "4242", "8", "1096"], "{links:?}");
    assert_eq!(rows[2], ["nvgre", "5000", "7", "574"], "{links:?}");
    assert_eq!(
        links[4..],
        [
            "not a tunnel: 8 frames, 443 bytes",
            "link type not decoded: 3 frames, 82 bytes"
        ]
    );

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
