//! Re-encapsulates every tunnel frame of a pcap in the other encapsulation.
//!
//! ```text
//! translate --to nvgre|vxlan [--flow-id N] IN.pcap OUT.pcap
//! ```
//!
//! Outer addresses are kept, VNI = VSID, the inner frame is unchanged (but for inner VLAN
//! tags, which are stripped as RFC 7637 requires), and the UDP source port or FlowID
//! comes from the inner flow's hash (`--flow-id N`: always N, as Linux's gretap needs).
//! Frames already in the target encapsulation are rewritten by the same rules. Frames
//! that are not tunnels, fail their checksums, or carry a VNI that is a reserved VSID
//! (up to 4095) towards NVGRE are skipped and counted by reason.

use std::process::ExitCode;

use tunnelwire::tunnel::{FlowId, Translator, TunnelKind};

#[path = "common/pcap_io.rs"]
mod pcap_io;

/// Room in front of each frame: NVGRE -> VXLAN grows the outer headers by 8 bytes.
const HEADROOM: usize = 8;

const USAGE: &str = "usage: translate --to nvgre|vxlan [--flow-id N] IN.pcap OUT.pcap";

/// What the command line asks for.
struct Args {
    to: TunnelKind,
    flow_id: FlowId,
    input: String,
    output: String,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let (mut to, mut flow_id, mut files) = (None, FlowId::Hash, Vec::new());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--to" => {
                to = Some(match value()?.as_str() {
                    "nvgre" => TunnelKind::Nvgre,
                    "vxlan" => TunnelKind::Vxlan,
                    other => return Err(format!("--to {other:?}: expected nvgre or vxlan")),
                })
            }
            "--flow-id" => flow_id = pcap_io::parse_flow_id(value()?)?,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            file => files.push(file.to_string()),
        }
    }
    let to = to.ok_or("--to nvgre|vxlan is required")?;
    let [input, output]: [String; 2] = files
        .try_into()
        .map_err(|_| "expected IN.pcap OUT.pcap".to_string())?;
    Ok(Args {
        to,
        flow_id,
        input,
        output,
    })
}

fn run(args: Args) -> Result<pcap_io::Summary, String> {
    let Args {
        to,
        flow_id,
        input,
        output,
    } = args;
    let input = pcap_io::Reader::open(&input)?;
    let mut out = pcap_io::Writer::create(&output, input.pcap_header(), to == TunnelKind::Vxlan)?;
    // A file tool, not a VTEP: only IPv4's own limit applies.
    let translator = Translator {
        mtu: u16::MAX,
        flow_id,
        ..Translator::default()
    };
    let mut summary = pcap_io::Summary::default();
    let mut buf = Vec::new();
    input.for_each(|record| {
        summary.frames_in += 1;
        let frame = pcap_io::place(&mut buf, HEADROOM, record.data);
        match translator.translate(&mut buf, frame, to) {
            Ok(frame) => {
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
    match parse_args(&args) {
        Ok(args) => pcap_io::exit("translate", run(args)),
        Err(e) => {
            eprintln!("translate: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
