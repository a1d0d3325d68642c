//! Decodes every frame of a pcap into owned representations of its headers (the `Repr`s,
//! the undecoded payload and any trailing bytes such as Ethernet padding) and emits them
//! again. The output must equal the input byte for byte; every frame that differs is
//! named and makes the exit status 1.
//!
//! ```text
//! pcap_roundtrip IN.pcap OUT.pcap
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tunnelwire::packet::{Decoder, Frame, Stack, Tunnel};
use tunnelwire::wire::{
    EthernetRepr, GeneveRepr, Ipv4Repr, Ipv6Repr, NvgreRepr, UdpRepr, VlanRepr, VxlanRepr,
};

#[path = "common/pcap_io.rs"]
mod pcap_io;

/// Decodes every frame of a pcap or pcapng into owned header representations and emits
/// them again into a pcap; exits 1 naming every frame that does not come out byte for
/// byte as it went in.
#[derive(Parser)]
#[command(name = "pcap_roundtrip", version)]
struct Args {
    /// The capture to read (pcap or pcapng, Ethernet)
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// The pcap to write
    #[arg(value_name = "OUT")]
    output: PathBuf,
}

/// One decoded header, owned.
enum Header {
    Ethernet(EthernetRepr),
    Vlan(VlanRepr),
    Ipv4(Ipv4Repr),
    Ipv6(Ipv6Repr),
    Udp(UdpRepr),
    Vxlan(VxlanRepr),
    Nvgre(NvgreRepr),
    // Boxed: its options area makes it ten times the size of the others.
    Geneve(Box<GeneveRepr>),
}

impl Header {
    fn len(&self) -> usize {
        match self {
            Header::Ethernet(r) => r.buffer_len(),
            Header::Vlan(r) => r.buffer_len(),
            Header::Ipv4(r) => r.buffer_len(),
            Header::Ipv6(r) => r.buffer_len(),
            Header::Udp(r) => r.buffer_len(),
            Header::Vxlan(r) => r.buffer_len(),
            Header::Nvgre(r) => r.buffer_len(),
            Header::Geneve(r) => r.buffer_len(),
        }
    }

    fn emit(&self, out: &mut [u8]) -> tunnelwire::Result<()> {
        match self {
            Header::Ethernet(r) => r.emit(out),
            Header::Vlan(r) => r.emit(out),
            Header::Ipv4(r) => r.emit(out),
            Header::Ipv6(r) => r.emit(out),
            Header::Udp(r) => r.emit(out),
            Header::Vxlan(r) => r.emit(out),
            Header::Nvgre(r) => r.emit(out),
            Header::Geneve(r) => r.emit(out),
        }
    }
}

/// A frame as owned parts: headers outermost first, the payload after the last header,
/// then what follows each length-delimited container (IPv4 total length, IPv6 payload
/// length, UDP length),
/// innermost first: Ethernet padding after IPv4, bytes after a short UDP length.
struct OwnedFrame {
    headers: Vec<Header>,
    payload: Vec<u8>,
    trailers: Vec<Vec<u8>>,
}

impl OwnedFrame {
    fn from_bytes(decoder: &Decoder, bytes: &[u8]) -> Self {
        let (frame, _) = decoder.decode_partial(bytes);
        let mut parts = Parts {
            headers: Vec::new(),
            pos: 0,
            ends: vec![bytes.len()],
        };
        parts.stack(&frame.outer);
        parts.tunnel(&frame);
        parts.stack(&frame.inner);
        let mut end = *parts.ends.last().unwrap_or(&bytes.len());
        let payload = bytes[parts.pos..end].to_vec();
        let trailers = parts
            .ends
            .iter()
            .rev()
            .skip(1)
            .map(|&outer_end| {
                let trailer = bytes[end..outer_end].to_vec();
                end = outer_end;
                trailer
            })
            .collect();
        OwnedFrame {
            headers: parts.headers,
            payload,
            trailers,
        }
    }

    fn emit(&self) -> tunnelwire::Result<Vec<u8>> {
        let len = self.headers.iter().map(Header::len).sum::<usize>()
            + self.payload.len()
            + self.trailers.iter().map(Vec::len).sum::<usize>();
        let mut out = vec![0u8; len];
        let mut pos = 0;
        for header in &self.headers {
            header.emit(&mut out[pos..])?;
            pos += header.len();
        }
        for part in std::iter::once(&self.payload).chain(&self.trailers) {
            out[pos..pos + part.len()].copy_from_slice(part);
            pos += part.len();
        }
        Ok(out)
    }
}

/// Collects headers while tracking the position and the container ends.
struct Parts {
    headers: Vec<Header>,
    pos: usize,
    /// Ends of the enclosing length-delimited containers, outermost first.
    ends: Vec<usize>,
}

impl Parts {
    fn push(&mut self, header: Header) {
        self.pos += header.len();
        self.headers.push(header);
    }

    /// One stack's headers; inside Geneve of an IP protocol type it starts at IP.
    fn stack(&mut self, stack: &Stack<'_>) {
        if let Some(eth) = stack.ethernet {
            self.push(Header::Ethernet(EthernetRepr::parse(&eth)));
        }
        for tag in stack.vlans.iter().flatten() {
            self.push(Header::Vlan(VlanRepr::parse(tag)));
        }
        if let Some(ip) = stack.ipv4 {
            self.ends.push(self.pos + usize::from(ip.total_len()));
            self.push(Header::Ipv4(Ipv4Repr::parse(&ip)));
        } else if let Some(ip) = stack.ipv6 {
            self.ends.push(self.pos + ip.total_len());
            self.push(Header::Ipv6(Ipv6Repr::parse(&ip)));
        } else {
            return;
        }
        if let Some(datagram) = stack.udp() {
            self.ends.push(self.pos + usize::from(datagram.len()));
            self.push(Header::Udp(UdpRepr::parse(&datagram)));
        }
    }

    fn tunnel(&mut self, frame: &Frame<'_>) {
        match frame.tunnel {
            Some(Tunnel::Vxlan(h)) => self.push(Header::Vxlan(VxlanRepr::parse(&h))),
            Some(Tunnel::Nvgre(h)) => self.push(Header::Nvgre(NvgreRepr::parse(&h))),
            Some(Tunnel::Geneve(h)) => self.push(Header::Geneve(Box::new(GeneveRepr::parse(&h)))),
            None => {}
        }
    }
}

fn run(input: &Path, output: &Path) -> Result<Vec<u64>, String> {
    let input = pcap_io::Capture::open(input)?;
    let mut out = pcap_io::Output::create(output, input.output_header(), false)?;
    let decoder = Decoder::new();
    let mut differing = Vec::new();
    let mut summary = pcap_io::Summary::default();
    input.for_each(|record| {
        let Some(record) = summary.take(record) else {
            return Ok(());
        };
        let emitted = OwnedFrame::from_bytes(&decoder, record.data)
            .emit()
            .map_err(|e| format!("frame {}: emit failed: {e}", record.index))?;
        if emitted != record.data {
            differing.push(record.index);
        }
        out.write(record.timestamp, record.orig_len, &emitted)?;
        summary.frames_out += 1;
        Ok(())
    })?;
    out.finish()?;
    eprintln!(
        "{}, {} differ",
        summary.line("pcap_roundtrip"),
        differing.len()
    );
    Ok(differing)
}

fn main() -> ExitCode {
    let args = Args::parse();
    pcap_io::refuse_output_that_is_input::<Args>(&args.input, &args.output);
    match run(&args.input, &args.output) {
        Ok(differing) if differing.is_empty() => ExitCode::SUCCESS,
        Ok(differing) => {
            for frame in differing {
                eprintln!("pcap_roundtrip: frame {frame} differs after parse and emit");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pcap_roundtrip: {e}");
            ExitCode::FAILURE
        }
    }
}
