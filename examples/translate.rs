//! Re-encapsulates every tunnel frame of a pcap in the other encapsulation.
//!
//! ```text
//! translate --to nvgre|vxlan IN.pcap OUT.pcap
//! ```
//!
//! Outer addresses are kept, VNI = VSID, the inner frame is unchanged, and the UDP source
//! port or FlowID comes from the inner flow's hash. Frames already in the target
//! encapsulation pass through; frames that are not tunnels are skipped and counted.

use std::process::ExitCode;

use tunnelwire::tunnel::{Translator, TunnelKind};

#[path = "common/pcap_io.rs"]
mod pcap_io;

/// Room in front of each frame: NVGRE -> VXLAN grows the outer headers by 8 bytes.
const HEADROOM: usize = 8;

fn run(to: TunnelKind, input: &str, output: &str) -> Result<pcap_io::Summary, String> {
    let input = pcap_io::Reader::open(input)?;
    let mut out = pcap_io::Writer::create(output, input.pcap_header(), to == TunnelKind::Vxlan)?;
    // A file tool, not a VTEP: only IPv4's own limit applies.
    let translator = Translator {
        mtu: u16::MAX,
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
    let parsed = match args.as_slice() {
        [flag, to, input, output] if flag == "--to" => match to.as_str() {
            "nvgre" => Ok((TunnelKind::Nvgre, input, output)),
            "vxlan" => Ok((TunnelKind::Vxlan, input, output)),
            other => Err(format!("--to {other:?}: expected nvgre or vxlan")),
        },
        _ => Err("expected --to nvgre|vxlan IN.pcap OUT.pcap".to_string()),
    };
    let (to, input, output) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("translate: {e}\nusage: translate --to nvgre|vxlan IN.pcap OUT.pcap");
            return ExitCode::from(2);
        }
    };
    pcap_io::exit("translate", run(to, input, output))
}
