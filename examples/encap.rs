//! Encapsulates every frame of a pcap in VXLAN (or NVGRE, or Geneve) over IPv4 or IPv6.
//!
//! ```text
//! encap [--nvgre | --geneve [--geneve-opt CLASS:TYPE:HEX]...] --vni N --src-ip A
//!       --dst-ip B [--src-mac M] [--dst-mac M] [--udp-checksum] [--port-range LO-HI]
//!       [--flow-id N] IN.pcap OUT.pcap
//! ```
//!
//! Outer IPv4: TTL 64, DF set, header checksum filled. With IPv6 addresses, outer IPv6:
//! hop limit 64, the flow label from the flow hash (RFC 6438). Traffic class by RFC
//! 6040 (the inner ECN copied). VXLAN: UDP to port 4789, source port from the flow hash
//! inside LO-HI (default 49152-65535), checksum 0 over IPv4 unless `--udp-checksum`,
//! always computed over IPv6 (RFC 8200 section 8.1). NVGRE: GRE key = VSID N and the flow's FlowID, or N from
//! `--flow-id N` (Linux's gretap compares the whole key: use `--flow-id 0` against
//! `ip link add NAME type gretap key $((VSID << 8))`). Geneve: UDP to port 6081, as
//! VXLAN otherwise, protocol type 0x6558 and the options given, in order (CLASS and TYPE
//! decimal or 0x hex, TYPE's bit 0x80 marking the option critical, data a whole number
//! of 4-byte words in hex). Inner VLAN tags are stripped
//! (RFC 7637 section 3.2, RFC 7348 section 6.1). Outer MACs default to
//! 02:00:00:00:00:01 (source) and 02:00:00:00:00:02 (destination). This is a file tool,
//! not a VTEP: no underlay MTU applies, only IP's 65535-byte limit. Captures whose link
//! header names the packet's protocol (Linux's cooked captures of `tcpdump -i any`, raw
//! IP, BSD loopback) hold IP packets: Geneve carries them as they are (protocol type
//! 0x0800 or 0x86DD); VXLAN and NVGRE, which carry Ethernet frames, skip them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use tunnelwire::Layer;
use tunnelwire::pcap::Content;
use tunnelwire::tunnel::{Encapsulator, FlowId, MAX_HEADROOM, PortRange, TunnelConfig};
use tunnelwire::wire::{EtherType, GeneveOptions, MacAddr, Vni, Vsid};

#[allow(dead_code)] // encap reads every record by its content, not as an Ethernet-only tool
#[path = "common/pcap_io.rs"]
mod pcap_io;

/// Encapsulates every frame of a pcap or pcapng in VXLAN (or NVGRE, or Geneve) over IPv4
/// or IPv6, writing a pcap.
///
/// Outer IPv4: TTL 64, DF set, header checksum filled; outer IPv6: hop limit 64, flow
/// label from the inner flow's hash. VXLAN: UDP to port 4789, Geneve to 6081, source port
/// from the inner flow's hash. Inner VLAN tags are stripped.
#[derive(Parser)]
#[command(name = "encap", version)]
struct Args {
    /// NVGRE (IP protocol 47, GRE key = VSID N and a FlowID) instead of VXLAN
    #[arg(long, conflicts_with = "geneve")]
    nvgre: bool,
    /// Geneve (UDP to port 6081, protocol type 0x6558) instead of VXLAN
    #[arg(long)]
    geneve: bool,
    /// A Geneve option on every frame, in order: CLASS:TYPE:HEX (type bit 0x80:
    /// critical; data a whole number of 4-byte words)
    #[arg(long, value_name = "CLASS:TYPE:HEX", requires = "geneve", value_parser = parse_geneve_option)]
    geneve_opt: Vec<GeneveOption>,
    /// The VNI, or with --nvgre the VSID (24 bits)
    #[arg(long, value_name = "N", value_parser = parse_vni)]
    vni: Vni,
    /// Outer source address, IPv4 or IPv6
    #[arg(long, value_name = "A")]
    src_ip: IpAddr,
    /// Outer destination address, of the same family
    #[arg(long, value_name = "B")]
    dst_ip: IpAddr,
    /// Outer source MAC address
    #[arg(long, value_name = "M", default_value = "02:00:00:00:00:01")]
    src_mac: MacAddr,
    /// Outer destination MAC address
    #[arg(long, value_name = "M", default_value = "02:00:00:00:00:02")]
    dst_mac: MacAddr,
    /// Compute the VXLAN UDP checksum over IPv4 (else 0; over IPv6 it always is)
    #[arg(long)]
    udp_checksum: bool,
    /// VXLAN UDP source ports to pick from by the flow hash
    #[arg(
        long,
        value_name = "LO-HI",
        default_value = "49152-65535",
        value_parser = parse_port_range
    )]
    port_range: PortRange,
    /// A fixed NVGRE FlowID, 0-255, instead of the flow's (--flow-id 0 for Linux's
    /// gretap with key VSID << 8)
    #[arg(long, value_name = "N", value_parser = pcap_io::parse_flow_id)]
    flow_id: Option<FlowId>,
    /// The capture to read (pcap or pcapng, Ethernet)
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// The pcap to write
    #[arg(value_name = "OUT")]
    output: PathBuf,
}

/// Parses `--vni N`: a number that fits in 24 bits.
fn parse_vni(text: &str) -> Result<Vni, String> {
    let value = text.parse::<u32>().map_err(|e| e.to_string())?;
    Vni::new(value).map_err(|e| e.kind.to_string())
}

/// One `--geneve-opt`: class, type and data.
#[derive(Clone)]
struct GeneveOption {
    class: u16,
    option_type: u8,
    data: Vec<u8>,
}

/// Parses `--geneve-opt CLASS:TYPE:HEX`: CLASS and TYPE decimal or 0x hex, HEX the data
/// (empty for none), a whole number of 4-byte words.
fn parse_geneve_option(text: &str) -> Result<GeneveOption, String> {
    let mut parts = text.splitn(3, ':');
    let (Some(class), Some(option_type), Some(hex)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("expected CLASS:TYPE:HEX".into());
    };
    let number = |field: &str, text: &str, max: u32| {
        let parsed = match text.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => text.parse(),
        };
        parsed
            .ok()
            .filter(|&n| n <= max)
            .ok_or(format!("{field} {text:?} is not a number up to {max:#x}"))
    };
    let class = number("class", class, 0xffff)? as u16;
    let option_type = number("type", option_type, 0xff)? as u8;
    if hex.len() % 2 != 0 {
        return Err(format!("data {hex:?} is not whole bytes of hex"));
    }
    let data = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| format!("data {hex:?} is not hex"))?;
    // The builder's own check: whole 4-byte words, at most 124 bytes.
    GeneveOptions::new()
        .push(class, option_type, &data)
        .map_err(|e| e.kind.to_string())?;
    Ok(GeneveOption {
        class,
        option_type,
        data,
    })
}

/// Parses `--port-range LO-HI`.
fn parse_port_range(text: &str) -> Result<PortRange, String> {
    let (lo, hi) = text.split_once('-').ok_or("expected LO-HI")?;
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("port {p:?} is not 0-65535"))
    };
    let (lo, hi) = (port(lo)?, port(hi)?);
    if lo > hi {
        return Err(format!("{lo} is above {hi}"));
    }
    PortRange::new(lo, hi).map_err(|e| e.kind.to_string())
}

impl Args {
    /// The tunnel the command line describes.
    ///
    /// # Errors
    /// When the Geneve options together pass 252 bytes.
    fn config(&self) -> tunnelwire::Result<TunnelConfig> {
        let mut config = if self.nvgre {
            TunnelConfig::nvgre(Vsid::from(self.vni), self.src_ip, self.dst_ip)
        } else if self.geneve {
            TunnelConfig::geneve(self.vni, self.src_ip, self.dst_ip)
        } else {
            TunnelConfig::vxlan(self.vni, self.src_ip, self.dst_ip)
        };
        for option in &self.geneve_opt {
            config
                .geneve_options
                .push(option.class, option.option_type, &option.data)?;
        }
        config.src_mac = self.src_mac;
        config.dst_mac = self.dst_mac;
        config.udp_checksum = self.udp_checksum;
        config.source_ports = self.port_range;
        config.flow_id = self.flow_id.unwrap_or(FlowId::Hash);
        config.mtu = u16::MAX;
        Ok(config)
    }
}

fn run(args: &Args, mut encap: Encapsulator) -> Result<pcap_io::Summary, String> {
    let input = pcap_io::Capture::open_decodable(&args.input)?;
    let mut out = pcap_io::Output::create(&args.output, input.output_header(), true)?;
    let mut summary = pcap_io::Summary::default();
    let mut buf = Vec::new();
    input.try_for_each_record(|record| {
        let made = match summary.take_content(&record) {
            Some(Content::Ethernet { bytes, .. }) => {
                let inner = pcap_io::place(&mut buf, MAX_HEADROOM, bytes);
                encap.encapsulate(&mut buf, inner)
            }
            // An IP packet after a link header of another kind: Geneve carries it as is
            // (protocol type 0x0800 or 0x86DD); VXLAN and NVGRE refuse it, as they carry
            // Ethernet frames.
            Some(Content::Packet {
                ethertype: EtherType::IPV4 | EtherType::IPV6,
                bytes,
                ..
            }) => {
                let inner = pcap_io::place(&mut buf, MAX_HEADROOM, bytes);
                encap.encapsulate_ip(&mut buf, inner, &[])
            }
            Some(Content::Packet { .. }) => Err(tunnelwire::Error::new(
                Layer::Tunnel,
                tunnelwire::ErrorKind::UnsupportedFrame("a packet that is neither Ethernet nor IP"),
            )),
            _ => return Ok::<(), String>(()),
        };
        out.write_made(&mut summary, &record, made.map(|frame| &buf[frame]))
    })?;
    out.finish()?;
    Ok(summary)
}

fn main() -> ExitCode {
    let args = Args::parse();
    pcap_io::refuse_output_that_is_input::<Args>(&args.input, &args.output);
    // Settings checked together (a reserved VSID, a source address that cannot be a
    // VTEP) are bad arguments too, reported as clap reports the others.
    let encap = args
        .config()
        .and_then(Encapsulator::new)
        .unwrap_or_else(|e| {
            Args::command()
                .error(ErrorKind::ValueValidation, e.kind)
                .exit()
        });
    pcap_io::exit("encap", run(&args, encap))
}
