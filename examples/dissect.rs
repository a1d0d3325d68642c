//! Prints one JSON object per frame of a pcap: the layers tunnelwire decodes, outermost
//! first, and the first error.
//!
//! ```text
//! cargo run --release --example dissect -- FILE.pcap
//! {"frame":1,"layers":[{"layer":"ethernet",...},...],"error":null}
//! ```
//!
//! The output format is fixed by CONTRACTS.md; wrong checksums are not errors but show
//! as `checksum_ok: false`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::process::ExitCode;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use serde_json::{Value, json};
use tunnelwire::packet::{Decoder, Stack, Tunnel};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: dissect FILE.pcap");
        return ExitCode::from(2);
    };
    match run(path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dissect: {path}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &str) -> Result<(), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut reader = PcapReader::new(file).map_err(|e| e.to_string())?;
    let datalink = reader.header().datalink;
    if datalink != DataLink::ETHERNET {
        return Err(format!("link type {datalink:?} is not Ethernet"));
    }
    let decoder = Decoder::new();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut index = 0;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(|e| format!("frame {}: {e}", index + 1))?;
        index += 1;
        let (frame, error) = decoder.decode_partial(&packet.data);
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
        let line = json!({
            "frame": index,
            "layers": layers,
            "error": error.map(|e| e.to_string()),
        });
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
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
    let Some(ip) = stack.ipv4 else { return };
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
    if let Some(udp) = stack.udp() {
        let (src, dst): (Ipv4Addr, Ipv4Addr) = (ip.src_addr(), ip.dst_addr());
        layers.push(json!({
            "layer": "udp",
            "src_port": udp.src_port(),
            "dst_port": udp.dst_port(),
            "len": udp.len(),
            "checksum": udp.checksum(),
            "checksum_ok": (udp.checksum() != 0).then(|| udp.verify_checksum(src, dst)),
        }));
    }
}
