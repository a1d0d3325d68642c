//! The JSON of one frame, as CONTRACTS.md fixes it. Shared by `dissect` and the
//! conformance test, so the test checks exactly what the example prints.
//!
//! Written straight into a line buffer reused from frame to frame (`json.rs`): no JSON
//! tree and no allocation per frame, keys in the contract's order.

use std::fmt::Display;
use std::io::{self, Write};
use std::net::Ipv4Addr;

#[path = "json.rs"]
mod json;

use json::Object;
use tunnelwire::Layer;
use tunnelwire::packet::{Decoder, Stack, Tunnel};
use tunnelwire::pcap::{Content, Record};
use tunnelwire::wire::{EtherType, GeneveHeader, ethernet, ipv6, nvgre, udp, vlan, vxlan};

/// Buffers reused from frame to frame.
#[derive(Default)]
pub struct Scratch {
    line: Vec<u8>,
    padded: Vec<u8>,
    error: String,
}

/// Writes the line of one record of a capture: its frame decoded (from Ethernet, or from
/// IP after a link header of another kind that names the packet's protocol:
/// `Record::content`), or, for a record of a link type not decoded, a line with no
/// layers and an `error` that says why.
pub fn write_record(
    out: &mut impl Write,
    decoder: &Decoder,
    record: &Record<'_>,
    scratch: &mut Scratch,
) -> io::Result<()> {
    let index = record.index as usize;
    let orig_len = record.orig_len as usize;
    let packet = match record.content() {
        Content::Ethernet { offset, bytes } => Captured::new(bytes, orig_len, offset, None),
        Content::Packet {
            ethertype,
            offset,
            bytes,
        } => Captured::new(bytes, orig_len, offset, Some(ethertype)),
        Content::Undecoded(why) => {
            let interface = record.interface;
            let why = format_args!("record {index}: interface {interface}: {why}: not decoded");
            return write_undecoded(out, index, &why, scratch);
        }
    };
    write_frame(out, decoder, index, packet, scratch)
}

/// A record's frame as captured: from its first header (Ethernet, or IP or a VLAN tag
/// after a link header of another kind) to the end of the record.
struct Captured<'a> {
    /// The captured bytes.
    bytes: &'a [u8],
    /// The frame's length on the wire.
    orig_len: usize,
    /// Bytes of link header before the frame in the record: errors count their offsets
    /// from the record's first byte, as Wireshark's byte view does.
    link_header: usize,
    /// The EtherType the link header gave, for a frame that starts without Ethernet.
    ethertype: Option<EtherType>,
}

impl<'a> Captured<'a> {
    /// What a record of `orig_len` bytes on the wire holds after `link_header` bytes of
    /// link header: `bytes`, an Ethernet frame, or (`ethertype`) a packet that starts
    /// without Ethernet.
    fn new(
        bytes: &'a [u8],
        orig_len: usize,
        link_header: usize,
        ethertype: Option<EtherType>,
    ) -> Self {
        Captured {
            bytes,
            orig_len: orig_len.saturating_sub(link_header),
            link_header,
            ethertype,
        }
    }
}

/// Writes `{"frame":N,"layers":[...],"error":...}` and a newline for frame `index`
/// (1-based), captured as `packet`.
///
/// A record the capture cut short (`orig_len` larger) is decoded as far as its bytes go:
/// it is decoded as if the missing bytes were there (zeros), and only the headers that
/// lie wholly inside the captured bytes are printed; the first one that does not becomes
/// an error that says the capture cut it, and `"cut_by_capture":true` follows.
fn write_frame(
    out: &mut impl Write,
    decoder: &Decoder,
    index: usize,
    packet: Captured<'_>,
    scratch: &mut Scratch,
) -> io::Result<()> {
    let Captured {
        bytes,
        orig_len,
        link_header,
        ethertype,
    } = packet;
    let captured = bytes.len();
    let cut = orig_len > captured;
    let (frame, error) =
        crate::pcap_io::decode_record(decoder, bytes, ethertype, orig_len, &mut scratch.padded);
    let line = &mut scratch.line;
    line.clear();
    let mut object = Object::begin(line);
    object.num("frame", index);
    let mut layers = Layers {
        out: object.array("layers"),
        empty: true,
        captured,
        cut,
    };
    let mut missing = layers.stack(&frame.outer);
    if let (None, Some(tunnel)) = (missing, frame.tunnel) {
        let (layer, len) = match tunnel {
            Tunnel::Vxlan(_) => (Layer::Vxlan, vxlan::HEADER_LEN),
            Tunnel::Nvgre(_) => (Layer::Nvgre, nvgre::HEADER_LEN),
            Tunnel::Geneve(h) => (Layer::Geneve, h.header_len()),
        };
        missing = layers.check(layer, frame.tunnel_offset, len);
        if missing.is_none() {
            match tunnel {
                Tunnel::Vxlan(h) => layers
                    .begin("vxlan")
                    .num("flags", h.flags())
                    .num("vni", h.vni().get())
                    .end(),
                Tunnel::Nvgre(h) => layers
                    .begin("nvgre")
                    .num("vsid", h.vsid().get())
                    .num("flow_id", h.flow_id())
                    .end(),
                Tunnel::Geneve(h) => layers.geneve(h),
            }
            missing = layers.stack(&frame.inner);
        }
    }
    layers.out.push(b']');
    // A header that failed to decode and that the capture did not keep whole: its error
    // may come from the zeros standing in for the missing bytes (a UDP length of 0).
    let failed_cut = error.and_then(|e| {
        let len = e.layer.header_len()?;
        (cut && e.offset + len > captured).then_some(CutHeader {
            layer: e.layer,
            offset: e.offset,
            len,
        })
    });
    let error = match (missing.or(failed_cut), error) {
        // A decode error before the first header the capture cut is the frame's own.
        (Some(cut_at), Some(e)) if e.offset < cut_at.offset => Some(ErrorText::Decode(e)),
        (Some(cut_at), _) => Some(ErrorText::Cut {
            cut_at,
            captured,
            orig_len,
        }),
        (None, error) => error.map(ErrorText::Decode),
    }
    .map(|text| text.after(link_header));
    let text = error.map(|e| {
        use std::fmt::Write as _;
        scratch.error.clear();
        // Formatting into a String cannot fail.
        let _ = write!(scratch.error, "{e}");
        scratch.error.as_str()
    });
    object.text("error", text);
    if cut {
        object.bool("cut_by_capture", true);
    }
    object.end();
    line.push(b'\n');
    out.write_all(line)
}

/// Writes `{"frame":N,"layers":[],"error":"<why>"}` and a newline for frame `index`
/// (1-based), one dissect does not decode at all (a pcapng interface of a link type it
/// does not read).
fn write_undecoded(
    out: &mut impl Write,
    index: usize,
    why: &impl Display,
    scratch: &mut Scratch,
) -> io::Result<()> {
    use std::fmt::Write as _;
    scratch.error.clear();
    // Formatting into a String cannot fail.
    let _ = write!(scratch.error, "{why}");
    let line = &mut scratch.line;
    line.clear();
    let mut object = Object::begin(line);
    object.num("frame", index);
    object.array("layers").push(b']');
    object.text("error", Some(scratch.error.as_str()));
    object.end();
    line.push(b'\n');
    out.write_all(line)
}

/// The IPv4 destination as Wireshark shows it (`ip.dst`): the header's, but for a packet
/// routed by a loose or strict source route option whose pointer is sound (a multiple of
/// 4, from 4 to the option's length), the route's final address, the option's last 4
/// bytes (the header's is then the route's current hop: tshark's `ip.cur_rt`). Options
/// are walked as Wireshark walks them for this: an option whose length is below 2 or
/// runs past the header ends the walk with the header's destination.
fn final_destination(ip: &tunnelwire::wire::Ipv4Packet<&[u8]>) -> Ipv4Addr {
    const END: u8 = 0;
    const NOP: u8 = 1;
    const LOOSE_SOURCE_ROUTE: u8 = 131;
    const STRICT_SOURCE_ROUTE: u8 = 137;
    let options = ip.options();
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        match kind {
            END => break,
            NOP => at += 1,
            _ => {
                let Some(&len) = options.get(at + 1) else {
                    break;
                };
                let len = usize::from(len);
                if len < 2 || at + len > options.len() {
                    break;
                }
                if kind == LOOSE_SOURCE_ROUTE || kind == STRICT_SOURCE_ROUTE {
                    let pointer = options.get(at + 2).map_or(0, |&p| usize::from(p));
                    if pointer < 4 || pointer % 4 != 0 || pointer > len {
                        break;
                    }
                    let last: [u8; 4] = options[at + len - 4..at + len].try_into().unwrap();
                    return Ipv4Addr::from(last);
                }
                at += len;
            }
        }
    }
    ip.dst_addr()
}

/// The first header the capture did not keep whole.
#[derive(Clone, Copy)]
struct CutHeader {
    layer: Layer,
    offset: usize,
    len: usize,
}

/// The `error` string.
enum ErrorText {
    /// A decode error of the frame.
    Decode(tunnelwire::Error),
    /// A header the capture's snap length cut.
    Cut {
        cut_at: CutHeader,
        captured: usize,
        orig_len: usize,
    },
}

impl ErrorText {
    /// The error as the record's: its offsets and lengths counting the `link_header`
    /// bytes before the frame.
    fn after(self, link_header: usize) -> Self {
        match self {
            ErrorText::Decode(mut e) => {
                e.offset += link_header;
                ErrorText::Decode(e)
            }
            ErrorText::Cut {
                mut cut_at,
                captured,
                orig_len,
            } => {
                cut_at.offset += link_header;
                ErrorText::Cut {
                    cut_at,
                    captured: captured + link_header,
                    orig_len: orig_len + link_header,
                }
            }
        }
    }
}

impl Display for ErrorText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ErrorText::Decode(e) => e.fmt(f),
            ErrorText::Cut {
                cut_at,
                captured,
                orig_len,
            } => write!(
                f,
                "{} at byte {}: truncated: the header needs {} bytes, {} available \
                 (record cut by the capture: {captured} of {orig_len} bytes captured)",
                cut_at.layer,
                cut_at.offset,
                cut_at.len,
                captured.saturating_sub(cut_at.offset),
            ),
        }
    }
}

/// The `layers` array being written.
struct Layers<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
    /// Bytes the capture kept.
    captured: usize,
    /// The record is cut, so a checksum over bytes past the capture is unverifiable.
    cut: bool,
}

impl Layers<'_> {
    /// Opens the next layer object, `{"layer":"<name>"`.
    fn begin(&mut self, name: &str) -> Object<'_> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        let mut object = Object::begin(self.out);
        object.ascii("layer", name.as_bytes());
        object
    }

    /// `Some` when the `len`-byte header at `offset` ends past the captured bytes.
    fn check(&self, layer: Layer, offset: usize, len: usize) -> Option<CutHeader> {
        (offset + len > self.captured).then_some(CutHeader { layer, offset, len })
    }

    /// The Geneve layer: its fields, then each option with its data in hex.
    fn geneve(&mut self, h: GeneveHeader<&[u8]>) {
        let mut object = self.begin("geneve");
        object
            .num("version", h.version())
            .num("opt_len", h.options_len())
            .bool("oam", h.oam())
            .bool("critical", h.critical())
            .num("protocol", h.protocol().0)
            .num("vni", h.vni().get());
        let out = object.array("options");
        for (index, option) in h.options().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            let mut hex = [0u8; 2 * tunnelwire::wire::geneve::MAX_OPTION_DATA_LEN];
            let hex_len = json::hex(option.data(), &mut hex);
            Object::begin(out)
                .num("class", option.class())
                .num("type", option.option_type())
                .bool("critical", option.is_critical())
                .num("len", option.data().len())
                .ascii("data", &hex[..hex_len])
                .end();
        }
        out.push(b']');
        object.end();
    }

    /// Appends one stack's layers in wire order, up to the first header the capture did
    /// not keep whole, which is returned. A stack without Ethernet (inside Geneve of an
    /// IP protocol type, a capture's record after its link header) starts at a VLAN tag
    /// or IP.
    fn stack(&mut self, stack: &Stack<'_>) -> Option<CutHeader> {
        let mut at = stack.offset;
        if let Some(eth) = stack.ethernet {
            if let Some(cut_at) = self.check(Layer::Ethernet, at, ethernet::HEADER_LEN) {
                return Some(cut_at);
            }
            self.begin("ethernet")
                .ascii("dst", &json::mac(eth.dst_addr().octets()))
                .ascii("src", &json::mac(eth.src_addr().octets()))
                .type_or_length(eth.ethertype())
                .end();
            at += ethernet::HEADER_LEN;
        }
        for (tpid, tag) in stack.vlan_tags() {
            if let Some(cut_at) = self.check(Layer::Vlan, at, vlan::HEADER_LEN) {
                return Some(cut_at);
            }
            self.begin("vlan")
                .num("tpid", tpid.0)
                .num("pcp", tag.pcp())
                .bool("dei", tag.dei())
                .num("vid", tag.vid().get())
                .type_or_length(tag.ethertype())
                .end();
            at += vlan::HEADER_LEN;
        }
        if let Some(ip) = stack.ipv4 {
            let len = ip.header_len();
            if let Some(cut_at) = self.check(Layer::Ipv4, at, len) {
                return Some(cut_at);
            }
            let (mut src, mut dst) = ([0u8; 15], [0u8; 15]);
            let src_len = json::dotted(ip.src_addr().octets(), &mut src);
            let dst_len = json::dotted(final_destination(&ip).octets(), &mut dst);
            self.begin("ipv4")
                .ascii("src", &src[..src_len])
                .ascii("dst", &dst[..dst_len])
                .num("ihl", ip.ihl())
                .num("dscp", ip.dscp())
                .num("ecn", ip.ecn())
                .num("total_len", ip.total_len())
                .num("id", ip.ident())
                .bool("df", ip.dont_frag())
                .bool("mf", ip.more_frags())
                .num("frag_offset", ip.frag_offset())
                .num("ttl", ip.ttl())
                .num("protocol", ip.protocol().0)
                .num("checksum", ip.checksum())
                .bool("checksum_ok", ip.verify_checksum())
                .end();
            at += len;
        }
        if let Some(ip) = stack.ipv6 {
            if let Some(cut_at) = self.check(Layer::Ipv6, at, ipv6::HEADER_LEN) {
                return Some(cut_at);
            }
            // RFC 5952 text, by the standard library (IPv6 is the rarer case here).
            let (src, dst) = (ip.src_addr().to_string(), ip.dst_addr().to_string());
            self.begin("ipv6")
                .ascii("src", src.as_bytes())
                .ascii("dst", dst.as_bytes())
                .num("dscp", ip.dscp())
                .num("ecn", ip.ecn())
                .num("flow_label", ip.flow_label())
                .num("payload_len", ip.payload_len())
                .num("next_header", ip.next_header().0)
                .num("hop_limit", ip.hop_limit())
                .end();
            at += ipv6::HEADER_LEN;
        }
        if let Some(datagram) = stack.udp() {
            if let Some(cut_at) = self.check(Layer::Udp, at, udp::HEADER_LEN) {
                return Some(cut_at);
            }
            // Unverifiable unless the capture holds the whole IP payload, as tshark has it:
            // the datagram whole is not enough when its length leaves IP payload after it.
            // UDP is decoded only right behind IPv4 or IPv6, so the payload starts at `at`.
            let ip_payload = match (stack.ipv4, stack.ipv6) {
                (Some(ip), _) => ip.payload().len(),
                (_, Some(ip)) => ip.payload().len(),
                (None, None) => usize::from(datagram.len()),
            };
            let whole = !self.cut || at + ip_payload <= self.captured;
            // UDP is decoded only behind IPv4 or IPv6, whose addresses its checksum covers.
            // A source-routed datagram is checksummed for the route's last address, the
            // one it is sent to, as tshark verifies it.
            let verified = stack
                .ipv4
                .map(|ip| datagram.verify_checksum(ip.src_addr(), final_destination(&ip)))
                .or_else(|| {
                    let ip = stack.ipv6?;
                    Some(datagram.verify_checksum_ipv6(ip.src_addr(), ip.dst_addr()))
                });
            self.begin("udp")
                .num("src_port", datagram.src_port())
                .num("dst_port", datagram.dst_port())
                .num("len", datagram.len())
                .num("checksum", datagram.checksum())
                .opt_bool(
                    "checksum_ok",
                    verified.filter(|_| datagram.checksum() != 0 && whole),
                )
                .end();
        }
        None
    }
}
