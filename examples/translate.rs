//! Re-encapsulates every tunnel frame of a pcap in another encapsulation.
//!
//! ```text
//! translate --to nvgre|vxlan|geneve [--flow-id N] IN.pcap OUT.pcap
//! ```
//!
//! Outer addresses are kept, VNI = VSID, the inner frame is unchanged (but for inner VLAN
//! tags, which are stripped as RFC 7637 requires), and the UDP source port or FlowID
//! comes from the inner flow's hash (`--flow-id N`: always N, as Linux's gretap needs).
//! Geneve's options are dropped (none are written toward Geneve). Frames already in the
//! target encapsulation are rewritten by the same rules. Frames that are not tunnels,
//! fail their checksums, carry a VNI that is a reserved VSID (up to 4095) towards NVGRE,
//! a critical Geneve option (RFC 8926 section 3.5: not understood here), Geneve's O bit,
//! or a Geneve IP payload towards VXLAN or NVGRE are skipped and counted by reason.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use tunnelwire::tunnel::{FlowId, TranslateConfig, Translator, TunnelKind};

#[path = "common/pcap_io.rs"]
mod pcap_io;

/// Room in front of each frame: NVGRE -> VXLAN or Geneve (without options) grows the
/// outer headers by 8 bytes.
const HEADROOM: usize = 8;

/// Re-encapsulates every tunnel frame of a pcap or pcapng in another encapsulation,
/// writing a pcap: outer addresses kept, VNI = VSID, inner frame unchanged, Geneve
/// options dropped.
#[derive(Parser)]
#[command(name = "translate", version)]
struct Args {
    /// The encapsulation to write
    #[arg(long, value_name = "KIND")]
    to: Target,
    /// A fixed NVGRE FlowID, 0-255, instead of the flow's (as Linux's gretap needs)
    #[arg(long, value_name = "N", value_parser = pcap_io::parse_flow_id)]
    flow_id: Option<FlowId>,
    /// The capture to read (pcap or pcapng, Ethernet)
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// The pcap to write
    #[arg(value_name = "OUT")]
    output: PathBuf,
}

/// `--to`'s values.
#[derive(Clone, Copy, ValueEnum)]
enum Target {
    Nvgre,
    Vxlan,
    Geneve,
}

impl From<Target> for TunnelKind {
    fn from(target: Target) -> Self {
        match target {
            Target::Nvgre => TunnelKind::Nvgre,
            Target::Vxlan => TunnelKind::Vxlan,
            Target::Geneve => TunnelKind::Geneve,
        }
    }
}

fn run(args: Args) -> Result<pcap_io::Summary, String> {
    let Args {
        to,
        flow_id,
        input,
        output,
    } = args;
    let (to, flow_id) = (TunnelKind::from(to), flow_id.unwrap_or(FlowId::Hash));
    let input = pcap_io::Capture::open(&input)?;
    let mut out = pcap_io::Output::create(&output, input.output_header(), to != TunnelKind::Nvgre)?;
    // A file tool, not a VTEP: only IP's own 65535-byte limit applies.
    let translator = Translator::new(TranslateConfig {
        mtu: u16::MAX,
        flow_id,
        ..TranslateConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let mut summary = pcap_io::Summary::default();
    let mut buf = Vec::new();
    input.for_each(|record| {
        let Some(record) = summary.take(record) else {
            return Ok(());
        };
        let frame = pcap_io::place(&mut buf, HEADROOM, record.data);
        let made = translator
            .translate(&mut buf, frame, to)
            .map(|frame| &buf[frame]);
        out.write_made(&mut summary, &record, made)
    })?;
    out.finish()?;
    Ok(summary)
}

fn main() -> ExitCode {
    let args = Args::parse();
    pcap_io::refuse_output_that_is_input::<Args>(&args.input, &args.output);
    pcap_io::exit("translate", run(args))
}
