//! The JSON of one frame, as CONTRACTS.md fixes it. Shared by `dissect` and the
//! conformance test, so the test checks exactly what the example prints.

use serde_json::{Value, json};
use tunnelwire::packet::{Decoder, Stack, Tunnel};

/// `{"frame":N,"layers":[...],"error":...}` for frame `index` (1-based), captured as
/// `bytes` of its `orig_len` on the wire; `"cut_by_capture":true` follows when the capture
/// kept fewer.
pub fn frame(decoder: &Decoder, index: usize, bytes: &[u8], orig_len: usize) -> Value {
    let (frame, error) = decoder.decode_partial(bytes);
    let mut layers = Vec::new();
    push_stack(&mut layers, &frame.outer);
    match frame.tunnel {
        Some(Tunnel::Vxlan(h)) => layers.push(json!({
            "layer": "vxlan", "flags": h.flags(), "vni": h.vni().get(),
        })),
        Some(Tunnel::Nvgre(h)) => layers.push(json!({
            "layer": "nvgre", "vsid": h.vsid().get(), "flow_id": h.flow_id(),
        })),
        None => {}
    }
    push_stack(&mut layers, &frame.inner);
    let cut = orig_len > bytes.len();
    let error = error.map(|e| match e.kind {
        // Only the bytes the capture left out are missing: the whole frame held them.
        tunnelwire::ErrorKind::Truncated { needed, .. }
            if cut && e.offset + needed > bytes.len() && e.offset + needed <= orig_len =>
        {
            format!(
                "{e} (record cut by the capture: {} of {orig_len} bytes captured)",
                bytes.len()
            )
        }
        _ => e.to_string(),
    });
    let mut object = json!({
        "frame": index,
        "layers": layers,
        "error": error,
    });
    if cut {
        object["cut_by_capture"] = Value::Bool(true);
    }
    object
}

/// Appends one stack's layers in wire order.
fn push_stack(layers: &mut Vec<Value>, stack: &Stack<'_>) {
    let Some(eth) = stack.ethernet else { return };
    layers.push(json!({
        "layer": "ethernet",
        "dst": eth.dst_addr().to_string(),
        "src": eth.src_addr().to_string(),
        "ethertype": eth.ethertype().0,
    }));
    for (tpid, tag) in stack.vlan_tags() {
        layers.push(json!({
            "layer": "vlan",
            "tpid": tpid.0,
            "pcp": tag.pcp(),
            "dei": tag.dei(),
            "vid": tag.vid().get(),
            "ethertype": tag.ethertype().0,
        }));
    }
    if let Some(ip) = stack.ipv4 {
        layers.push(json!({
            "layer": "ipv4",
            "src": ip.src_addr().to_string(),
            "dst": ip.dst_addr().to_string(),
            "ihl": ip.ihl(),
            "dscp": ip.dscp(),
            "ecn": ip.ecn(),
            "total_len": ip.total_len(),
            "id": ip.ident(),
            "df": ip.dont_frag(),
            "mf": ip.more_frags(),
            "frag_offset": ip.frag_offset(),
            "ttl": ip.ttl(),
            "protocol": ip.protocol().0,
            "checksum": ip.checksum(),
            "checksum_ok": ip.verify_checksum(),
        }));
    }
    if let Some(ip) = stack.ipv6 {
        layers.push(json!({
            "layer": "ipv6",
            "src": ip.src_addr().to_string(),
            "dst": ip.dst_addr().to_string(),
            "dscp": ip.dscp(),
            "ecn": ip.ecn(),
            "flow_label": ip.flow_label(),
            "payload_len": ip.payload_len(),
            "next_header": ip.next_header().0,
            "hop_limit": ip.hop_limit(),
        }));
    }
    if let Some(udp) = stack.udp() {
        // UDP is decoded only behind IPv4 or IPv6, whose addresses its checksum covers.
        let verified = stack
            .ipv4
            .map(|ip| udp.verify_checksum(ip.src_addr(), ip.dst_addr()))
            .or_else(|| {
                let ip = stack.ipv6?;
                Some(udp.verify_checksum_ipv6(ip.src_addr(), ip.dst_addr()))
            });
        layers.push(json!({
            "layer": "udp",
            "src_port": udp.src_port(),
            "dst_port": udp.dst_port(),
            "len": udp.len(),
            "checksum": udp.checksum(),
            "checksum_ok": verified.filter(|_| udp.checksum() != 0),
        }));
    }
}
