//! Encapsulates every frame of a pcap in VXLAN (or NVGRE) over IPv4.
//!
//! ```text
//! encap [--nvgre] --vni N --src-ip A --dst-ip B [--src-mac M] [--dst-mac M]
//!       [--udp-checksum] [--port-range LO-HI] [--flow-id N] IN.pcap OUT.pcap
//! ```
//!
//! Outer IPv4: TTL 64, DF set, header checksum filled. VXLAN: UDP to port 4789, source
//! port from the flow hash inside LO-HI (default 49152-65535), checksum 0 unless
//! `--udp-checksum`. NVGRE: GRE key = VSID N and the flow's FlowID, or N from
//! `--flow-id N` (Linux's gretap compares the whole key: use `--flow-id 0` against
//! `ip link add NAME type gretap key $((VSID << 8))`). Inner VLAN tags are stripped
//! (RFC 7637 section 3.2, RFC 7348 section 6.1). Outer MACs default to
//! 02:00:00:00:00:01 (source) and 02:00:00:00:00:02 (destination). This is a file tool,
//! not a VTEP: no underlay MTU applies, only IPv4's 65535-byte limit.

use std::process::ExitCode;

use tunnelwire::tunnel::{Encapsulator, FlowId, HEADROOM, PortRange, TunnelConfig};
use tunnelwire::wire::{MacAddr, Vni, Vsid};

#[path = "common/pcap_io.rs"]
mod pcap_io;

const USAGE: &str = "usage: encap [--nvgre] --vni N --src-ip A --dst-ip B [--src-mac M] [--dst-mac M] \
                     [--udp-checksum] [--port-range LO-HI] [--flow-id N] IN.pcap OUT.pcap";

struct Args {
    config: TunnelConfig,
    input: String,
    output: String,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let (mut nvgre, mut vni, mut src_ip, mut dst_ip) = (false, None, None, None);
    let mut src_mac = MacAddr([0x02, 0, 0, 0, 0, 1]);
    let mut dst_mac = MacAddr([0x02, 0, 0, 0, 0, 2]);
    let (mut udp_checksum, mut ports, mut files) = (false, PortRange::DYNAMIC, Vec::new());
    let mut flow_id = FlowId::Hash;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--nvgre" => nvgre = true,
            "--udp-checksum" => udp_checksum = true,
            "--vni" => vni = Some(value()?.parse::<u32>().map_err(|e| format!("--vni: {e}"))?),
            "--src-ip" => src_ip = Some(value()?.parse().map_err(|e| format!("--src-ip: {e}"))?),
            "--dst-ip" => dst_ip = Some(value()?.parse().map_err(|e| format!("--dst-ip: {e}"))?),
            "--src-mac" => src_mac = value()?.parse().map_err(|e| format!("--src-mac: {e}"))?,
            "--dst-mac" => dst_mac = value()?.parse().map_err(|e| format!("--dst-mac: {e}"))?,
            "--flow-id" => flow_id = pcap_io::parse_flow_id(value()?)?,
            "--port-range" => {
                let (lo, hi) = pcap_io::parse_range(value()?)?;
                ports = PortRange::new(lo, hi).map_err(|e| format!("--port-range: {e}"))?;
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            file => files.push(file.to_string()),
        }
    }
    let vni = vni.ok_or("--vni is required")?;
    let (src_ip, dst_ip) = (
        src_ip.ok_or("--src-ip is required")?,
        dst_ip.ok_or("--dst-ip is required")?,
    );
    let [input, output]: [String; 2] = files
        .try_into()
        .map_err(|_| "expected IN.pcap OUT.pcap".to_string())?;
    let mut config = if nvgre {
        TunnelConfig::nvgre(
            Vsid::new(vni).map_err(|e| format!("--vni: {e}"))?,
            src_ip,
            dst_ip,
        )
    } else {
        TunnelConfig::vxlan(
            Vni::new(vni).map_err(|e| format!("--vni: {e}"))?,
            src_ip,
            dst_ip,
        )
    };
    config.src_mac = src_mac;
    config.dst_mac = dst_mac;
    config.udp_checksum = udp_checksum;
    config.source_ports = ports;
    config.flow_id = flow_id;
    config.mtu = u16::MAX;
    Ok(Args {
        config,
        input,
        output,
    })
}

fn run(args: Args) -> Result<pcap_io::Summary, String> {
    let input = pcap_io::Reader::open(&args.input)?;
    let mut out = pcap_io::Writer::create(&args.output, input.pcap_header(), true)?;
    let mut encap = Encapsulator::new(args.config).map_err(|e| e.to_string())?;
    let mut summary = pcap_io::Summary::default();
    let mut buf = Vec::new();
    input.for_each(|record| {
        summary.frames_in += 1;
        let inner = pcap_io::place(&mut buf, HEADROOM, record.data);
        match encap.encapsulate(&mut buf, inner) {
            Ok(frame) => {
                // What the capture cut off is still on the wire, behind the new headers.
                out.write(
                    record.timestamp,
                    frame.len() as u32 + record.missing(),
                    &buf[frame],
                )?;
                summary.frames_out += 1;
            }
            Err(e) => summary.skip(e),
        }
        Ok(())
    })?;
    out.finish()?;
    Ok(summary)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("encap: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    pcap_io::exit("encap", run(args))
}
