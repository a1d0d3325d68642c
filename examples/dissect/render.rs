//! The JSON of one frame, as CONTRACTS.md fixes it. Shared by `dissect` and the
//! conformance test, so the test checks exactly what the example prints.
//!
//! Serialized straight into the writer by serde's derive on small borrowed structs (the
//! field order is the contract's key order): no JSON tree per frame, and addresses are
//! formatted into the output, not into strings.

use std::fmt::Display;
use std::io::{self, Write};

use serde::{Serialize, Serializer};
use tunnelwire::Layer;
use tunnelwire::packet::{Decoder, Stack, Tunnel};
use tunnelwire::wire::{ethernet, ipv6, nvgre, udp, vlan, vxlan};

/// Largest frame a cut record is padded back to; a corrupt original length is not
/// believed beyond it.
const MAX_FRAME: usize = 262_144;

/// Buffers reused from frame to frame.
#[derive(Default)]
pub struct Scratch {
    layers: Vec<LayerJson>,
    padded: Vec<u8>,
}

/// Writes `{"frame":N,"layers":[...],"error":...}` and a newline for frame `index`
/// (1-based), captured as `bytes` of its `orig_len` on the wire.
///
/// A record the capture cut short (`orig_len` larger) is decoded as far as its bytes go:
/// it is decoded as if the missing bytes were there (zeros), and only the headers that
/// lie wholly inside the captured bytes are printed; the first one that does not becomes
/// an error that says the capture cut it, and `"cut_by_capture":true` follows.
pub fn write_frame(
    out: &mut impl Write,
    decoder: &Decoder,
    index: usize,
    bytes: &[u8],
    orig_len: usize,
    scratch: &mut Scratch,
) -> io::Result<()> {
    let captured = bytes.len();
    let cut = orig_len > captured;
    let whole = if cut {
        scratch.padded.clear();
        scratch.padded.extend_from_slice(bytes);
        scratch
            .padded
            .resize(orig_len.min(MAX_FRAME).max(captured), 0);
        &scratch.padded[..]
    } else {
        bytes
    };
    let (frame, error) = decoder.decode_partial(whole);
    let layers = &mut scratch.layers;
    layers.clear();
    let mut missing = push_stack(layers, &frame.outer, captured, cut);
    if missing.is_none() {
        if let Some(tunnel) = frame.tunnel {
            let (layer, len) = match tunnel {
                Tunnel::Vxlan(_) => (Layer::Vxlan, vxlan::HEADER_LEN),
                Tunnel::Nvgre(_) => (Layer::Nvgre, nvgre::HEADER_LEN),
            };
            missing = check_captured(layer, frame.tunnel_offset, len, captured);
            if missing.is_none() {
                layers.push(match tunnel {
                    Tunnel::Vxlan(h) => LayerJson::Vxlan {
                        flags: h.flags(),
                        vni: h.vni().get(),
                    },
                    Tunnel::Nvgre(h) => LayerJson::Nvgre {
                        vsid: h.vsid().get(),
                        flow_id: h.flow_id(),
                    },
                });
                missing = push_stack(layers, &frame.inner, captured, cut);
            }
        }
    }
    let error = match (missing, error) {
        // A decode error before the first header the capture cut is the frame's own.
        (Some(cut_at), Some(e)) if e.offset < cut_at.offset => Some(ErrorText::Decode(e)),
        (Some(cut_at), _) => Some(ErrorText::Cut {
            cut_at,
            captured,
            orig_len,
        }),
        (None, error) => error.map(ErrorText::Decode),
    };
    let object = FrameJson {
        frame: index,
        layers,
        error,
        cut_by_capture: cut,
    };
    serde_json::to_writer(&mut *out, &object)?;
    out.write_all(b"\n")
}

/// One object of the output.
#[derive(Serialize)]
struct FrameJson<'a> {
    frame: usize,
    layers: &'a [LayerJson],
    error: Option<ErrorText>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cut_by_capture: bool,
}

/// One layer object, tagged `"layer":"<name>"`, keys in the contract's order.
#[derive(Serialize)]
#[serde(tag = "layer", rename_all = "lowercase")]
enum LayerJson {
    Ethernet {
        dst: Text<ethernet::MacAddr>,
        src: Text<ethernet::MacAddr>,
        ethertype: u16,
    },
    Vlan {
        tpid: u16,
        pcp: u8,
        dei: bool,
        vid: u16,
        ethertype: u16,
    },
    Ipv4 {
        src: Text<std::net::Ipv4Addr>,
        dst: Text<std::net::Ipv4Addr>,
        ihl: u8,
        dscp: u8,
        ecn: u8,
        total_len: u16,
        id: u16,
        df: bool,
        mf: bool,
        frag_offset: u16,
        ttl: u8,
        protocol: u8,
        checksum: u16,
        checksum_ok: bool,
    },
    Ipv6 {
        src: Text<std::net::Ipv6Addr>,
        dst: Text<std::net::Ipv6Addr>,
        dscp: u8,
        ecn: u8,
        flow_label: u32,
        payload_len: u16,
        next_header: u8,
        hop_limit: u8,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
        len: u16,
        checksum: u16,
        checksum_ok: Option<bool>,
    },
    Vxlan {
        flags: u8,
        vni: u32,
    },
    Nvgre {
        vsid: u32,
        flow_id: u8,
    },
}

/// A value serialized as its `Display` text, written straight into the output.
struct Text<T>(T);

impl<T: Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
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

impl Serialize for ErrorText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `Some` when the `len`-byte header at `offset` ends past the captured bytes.
fn check_captured(layer: Layer, offset: usize, len: usize, captured: usize) -> Option<CutHeader> {
    (offset + len > captured).then_some(CutHeader { layer, offset, len })
}

/// Appends one stack's layers in wire order, up to the first header the capture did not
/// keep whole, which is returned. `cut`: the record is cut, so a checksum over bytes
/// past the capture cannot be verified (`null`).
fn push_stack(
    layers: &mut Vec<LayerJson>,
    stack: &Stack<'_>,
    captured: usize,
    cut: bool,
) -> Option<CutHeader> {
    let eth = stack.ethernet?;
    let mut at = stack.offset;
    if let Some(cut_at) = check_captured(Layer::Ethernet, at, ethernet::HEADER_LEN, captured) {
        return Some(cut_at);
    }
    layers.push(LayerJson::Ethernet {
        dst: Text(eth.dst_addr()),
        src: Text(eth.src_addr()),
        ethertype: eth.ethertype().0,
    });
    at += ethernet::HEADER_LEN;
    for (tpid, tag) in stack.vlan_tags() {
        if let Some(cut_at) = check_captured(Layer::Vlan, at, vlan::HEADER_LEN, captured) {
            return Some(cut_at);
        }
        layers.push(LayerJson::Vlan {
            tpid: tpid.0,
            pcp: tag.pcp(),
            dei: tag.dei(),
            vid: tag.vid().get(),
            ethertype: tag.ethertype().0,
        });
        at += vlan::HEADER_LEN;
    }
    if let Some(ip) = stack.ipv4 {
        let len = ip.header_len();
        if let Some(cut_at) = check_captured(Layer::Ipv4, at, len, captured) {
            return Some(cut_at);
        }
        layers.push(LayerJson::Ipv4 {
            src: Text(ip.src_addr()),
            dst: Text(ip.dst_addr()),
            ihl: ip.ihl(),
            dscp: ip.dscp(),
            ecn: ip.ecn(),
            total_len: ip.total_len(),
            id: ip.ident(),
            df: ip.dont_frag(),
            mf: ip.more_frags(),
            frag_offset: ip.frag_offset(),
            ttl: ip.ttl(),
            protocol: ip.protocol().0,
            checksum: ip.checksum(),
            checksum_ok: ip.verify_checksum(),
        });
        at += len;
    }
    if let Some(ip) = stack.ipv6 {
        if let Some(cut_at) = check_captured(Layer::Ipv6, at, ipv6::HEADER_LEN, captured) {
            return Some(cut_at);
        }
        layers.push(LayerJson::Ipv6 {
            src: Text(ip.src_addr()),
            dst: Text(ip.dst_addr()),
            dscp: ip.dscp(),
            ecn: ip.ecn(),
            flow_label: ip.flow_label(),
            payload_len: ip.payload_len(),
            next_header: ip.next_header().0,
            hop_limit: ip.hop_limit(),
        });
        at += ipv6::HEADER_LEN;
    }
    if let Some(udp) = stack.udp() {
        if let Some(cut_at) = check_captured(Layer::Udp, at, udp::HEADER_LEN, captured) {
            return Some(cut_at);
        }
        // The checksum covers the whole datagram: unverifiable when the capture cut it.
        let whole = !cut || at + usize::from(udp.len()) <= captured;
        // UDP is decoded only behind IPv4 or IPv6, whose addresses its checksum covers.
        let verified = stack
            .ipv4
            .map(|ip| udp.verify_checksum(ip.src_addr(), ip.dst_addr()))
            .or_else(|| {
                let ip = stack.ipv6?;
                Some(udp.verify_checksum_ipv6(ip.src_addr(), ip.dst_addr()))
            });
        layers.push(LayerJson::Udp {
            src_port: udp.src_port(),
            dst_port: udp.dst_port(),
            len: udp.len(),
            checksum: udp.checksum(),
            checksum_ok: verified.filter(|_| udp.checksum() != 0 && whole),
        });
    }
    None
}
