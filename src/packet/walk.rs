//! The walk: each header validated in order and handed to a recorder, outer stack ->
//! tunnel -> inner stack, as the [`Decoder`] (`decoder`) and the engine run it.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::{Decoder, MAX_VLAN_TAGS, Record, RecordFrame, Transport, Tunnel, TunnelKind};
use crate::error::Result;
use crate::wire::ethernet::{self, EtherType, EthernetFrame};
use crate::wire::geneve;
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::nvgre;
use crate::wire::udp::{self, UdpDatagram};
use crate::wire::vlan;
use crate::wire::vxlan;

/// Runs one header's parser at `pos` bytes into the frame, rebasing its error.
#[inline]
fn step<'a, V>(
    parser: impl FnOnce(&'a [u8]) -> Result<(&'a [u8], V)>,
    input: &'a [u8],
    pos: usize,
) -> Result<(&'a [u8], V)> {
    parser(input).map_err(|e| e.at(pos))
}

/// How deep the inner stack is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Down to the IP header.
    InnerIp,
    /// Down to UDP or TCP ports: everything.
    InnerTransport,
}

/// A UDP datagram, its payload and the payload's offset in the frame. The payload comes
/// from the parser, already sliced: taking it from the view again costs a bounds check.
type UdpEnd<'a> = (UdpDatagram<&'a [u8]>, &'a [u8], usize);

/// What a stack's IP header carries on to, for the caller to continue with.
struct StackEnd<'a> {
    /// The IP payload, its offset and its protocol, if IPv4 (not a fragment) or IPv6 was
    /// decoded.
    ip_payload: Option<(&'a [u8], usize, IpProtocol)>,
    /// The UDP datagram, its payload and the payload's offset, if UDP was decoded.
    udp: Option<UdpEnd<'a>>,
}

impl Decoder {
    /// Walks the whole frame, validating each header and handing it to `record`; the
    /// inner stack is walked only as deep as `depth` (a decapsulator needs the inner IP
    /// header for ECN, not its transport); with `ip`, a frame that starts without
    /// Ethernet, at a header of that EtherType. For the engine, whose express walks take
    /// the common frames first: no shortcut of its own (see [`walk_stack`]).
    #[inline(always)]
    pub(crate) fn walk<'a>(
        &self,
        bytes: &'a [u8],
        ip: Option<EtherType>,
        record: &mut impl RecordFrame<'a>,
        depth: Depth,
    ) -> Result<()> {
        self.walk_frame::<false>(bytes, ip, record, depth)
    }

    /// [`walk`](Self::walk); when `COMMON_FIRST`, a whole frame of the common shape
    /// taken by the express decode (`express`), and each stack's common frame the
    /// express decode declined by the shortcut (see [`walk_stack`]); with `ip`, a frame
    /// whose outer stack starts at IP of that EtherType, without Ethernet (a capture's
    /// record after a link header that is not Ethernet's).
    #[inline(always)]
    pub(super) fn walk_frame<'a, const COMMON_FIRST: bool>(
        &self,
        bytes: &'a [u8],
        ip: Option<EtherType>,
        record: &mut impl RecordFrame<'a>,
        depth: Depth,
    ) -> Result<()> {
        // The decoder's depth (everything) is the express decode's only one.
        if COMMON_FIRST && ip.is_none() && depth == Depth::InnerTransport {
            if let Some(walked) = self.express_decode(bytes, record) {
                return walked;
            }
        }
        let end = walk_stack::<COMMON_FIRST>(bytes, 0, record.outer(), Depth::InnerTransport, ip)?;
        // VXLAN first, the common case; a port in both sets is VXLAN. The ports are
        // compared in wire order ([`TunnelPorts::contains_wire`]).
        //
        // Tried, in instructions per packet (benches/instructions.sh; decode by recorder
        // VXLAN, NVGRE, Geneve, then their mixed workloads, before: 138 124 181 / 128 116
        // 165):
        // - The sets' ports byte-swapped in the loop (kept in host order in the set):
        //   137 125 181 / 126 117 164, but decapsulation 144 -> 152, of Geneve 177 -> 182
        //   (the swapped ports held in its loop's registers). Kept in wire order in the
        //   set instead: see `TunnelPorts`.
        // - With that, Geneve's first port tested before VXLAN's `more` (whether VXLAN's
        //   set takes it worked out once per loop): Geneve 186 and 169; worked out by
        //   branches, which stay in the loop, 200 and 182.
        // - VXLAN's I flag and reserved bits in one test of the header's first 8 bytes
        //   with a mask chosen by the policy (no per-packet test of the policy): with the
        //   ports in wire order, VXLAN mixed 126 -> 123, the rest within one, but
        //   `payload` 237 -> 240: the VNI is then taken from the tested word and kept in
        //   a register across the inner walk, where a decapsulator reads it after.
        // - The outer stack's tunnel and inner walk continued from inside the common IPv4
        //   branch (a second copy for the others), to drop the flag the merge keeps for
        //   the outer recorder's `Option`s: VXLAN 138, Geneve 225, by `Frame` Geneve 247.
        // - UDP with at least 8 bytes of payload by a shortcut (length >= 16), so that a
        //   tunnel header's length check folds into UDP's: VXLAN 141, Geneve 182.
        // - IPv4's first byte tested before its total length is read, or the packet and
        //   payload cut by `get` as the floor does: within one either way (Geneve by
        //   `Frame` 204 -> 207). Later, the payload's range taken first as the one length
        //   test took 5 to 13 from every decode row: see `ipv4::parse_common`.
        // - Geneve's options' length checked against what follows the fixed header (the
        //   floor's form) rather than the header's length against the datagram: Geneve
        //   181 -> 184, by `Frame` 204 -> 212.
        // - The VXLAN set's other ports tested out of line (`#[cold]`, past `more`): by
        //   `Frame` Geneve 204 -> 190, but decode by recorder VXLAN 137, NVGRE 129, Geneve
        //   184, NVGRE mixed 121. As one word of the three, tested for a lane equal to
        //   the port (after the ports in wire order): VXLAN 136 -> 138, mixed 126 -> 127.
        match (end.udp, end.ip_payload) {
            (Some((udp, payload, pos)), _)
                if self.vxlan_ports.contains_wire(udp.dst_port_wire()) =>
            {
                self.walk_tunnel::<COMMON_FIRST>(TunnelKind::Vxlan, payload, pos, record, depth)
            }
            (_, Some((payload, pos, IpProtocol::GRE))) => {
                self.walk_tunnel::<COMMON_FIRST>(TunnelKind::Nvgre, payload, pos, record, depth)
            }
            (Some((udp, payload, pos)), _)
                if self.geneve_ports.contains_wire(udp.dst_port_wire()) =>
            {
                self.walk_tunnel::<COMMON_FIRST>(TunnelKind::Geneve, payload, pos, record, depth)
            }
            _ => record.no_tunnel(),
        }
    }

    /// Walks what a UDP socket (VXLAN, Geneve) or a raw GRE socket (NVGRE) hands a program: the
    /// `kind` tunnel header at the start of `payload`, then the inner stack. Offsets
    /// count from the payload's first byte.
    #[inline(always)]
    pub(crate) fn walk_payload<'a>(
        &self,
        payload: &'a [u8],
        kind: TunnelKind,
        record: &mut impl RecordFrame<'a>,
        depth: Depth,
    ) -> Result<()> {
        self.walk_tunnel::<false>(kind, payload, 0, record, depth)
    }

    /// Walks the `kind` tunnel header at the start of `bytes`, `pos` bytes into the
    /// frame, and the inner stack after it.
    #[inline(always)]
    fn walk_tunnel<'a, const COMMON_FIRST: bool>(
        &self,
        kind: TunnelKind,
        bytes: &'a [u8],
        pos: usize,
        record: &mut impl RecordFrame<'a>,
        depth: Depth,
    ) -> Result<()> {
        // Where the inner stack starts, and at which header: Ethernet, or IP of the
        // EtherType a Geneve protocol type gives. One walk serves both: a second, inlined
        // for IP payloads alone, made every translation longer (measured: 120
        // instructions per packet, the optimiser juggling both).
        #[allow(clippy::arithmetic_side_effects)] // offsets inside the input: no overflow
        let (inner, inner_at, first) = match kind {
            TunnelKind::Vxlan => {
                let (rest, header) = step(vxlan::parse, bytes, pos)?;
                header
                    .check_reserved(self.vxlan_reserved)
                    .map_err(|e| e.at(pos))?;
                record.tunnel(pos, Tunnel::Vxlan(header))?;
                (rest, pos + vxlan::HEADER_LEN, None)
            }
            TunnelKind::Nvgre => {
                let (rest, header) = step(nvgre::parse, bytes, pos)?;
                record.tunnel(pos, Tunnel::Nvgre(header))?;
                (rest, pos + nvgre::HEADER_LEN, None)
            }
            TunnelKind::Geneve => {
                let (rest, header) = step(geneve::parse, bytes, pos)?;
                record.tunnel(pos, Tunnel::Geneve(header))?;
                // Ethernet, the common payload, tested first and alone: as one `match`,
                // LLVM compared IPv4's type first (instructions per packet,
                // benches/instructions.sh: decode by `Frame` 179.0 -> 177.0, mixed
                // 166.3 -> 164.4; by recorder 157.0 -> 156.0, 149.4 -> 148.9).
                let first = if header.protocol() == EtherType::TRANSPARENT_ETHERNET_BRIDGING {
                    None
                } else {
                    // A payload this crate does not decode: the walk ends quietly.
                    let Some(ip) = ip_payload(header.protocol()) else {
                        return Ok(());
                    };
                    Some(ip)
                };
                (rest, pos + header.header_len(), first)
            }
        };
        walk_stack::<COMMON_FIRST>(inner, inner_at, record.inner(), depth, first)?;
        Ok(())
    }
}

/// The EtherType a Geneve protocol type other than Ethernet's starts the inner stack
/// at: IPv4's or IPv6's, or none (a payload not decoded). Cold: IP payloads are rarer
/// than Ethernet ones, and the branch weight keeps Ethernet's test first.
#[cold]
pub(crate) fn ip_payload(protocol: EtherType) -> Option<EtherType> {
    matches!(protocol, EtherType::IPV4 | EtherType::IPV6).then_some(protocol)
}

/// Walks one stack at the start of `bytes` (Ethernet, tags, IP, transport ports), handing
/// each valid header to `record`; the first malformed header ends the walk.
///
/// # Errors
/// That header's error.
#[inline(always)]
pub(crate) fn walk<'a>(bytes: &'a [u8], record: &mut impl Record<'a>) -> Result<()> {
    walk_at(bytes, 0, record)
}

/// Walks one stack at the start of `bytes` as [`walk`] does, `pos` bytes into a frame:
/// the offsets recorded, and an error's, count from the frame's start (an inner stack
/// walked by itself, recorded as the whole frame's walk records it).
///
/// # Errors
/// The first malformed header's error.
#[inline(always)]
pub(crate) fn walk_at<'a>(bytes: &'a [u8], pos: usize, record: &mut impl Record<'a>) -> Result<()> {
    walk_inner(bytes, pos, None, record)
}

/// Walks one stack at the start of `bytes` as [`walk_at`] does, with `first` starting at
/// a header of that EtherType, without Ethernet (a Geneve IP payload, a capture's record
/// after its link header): the express decode's inner stacks of shapes it does not take,
/// and [`walk_at`] and [`walk_from_ip`].
///
/// # Errors
/// The first malformed header's error.
#[inline(always)]
pub(super) fn walk_inner<'a>(
    bytes: &'a [u8],
    pos: usize,
    first: Option<EtherType>,
    record: &mut impl Record<'a>,
) -> Result<()> {
    walk_stack::<false>(bytes, pos, record, Depth::InnerTransport, first).map(|_| ())
}

/// Walks one stack that starts without Ethernet, at a header of `ethertype` (an IP
/// packet as Geneve carries it, or a VLAN tag): tags, IPv4 or IPv6, then transport
/// ports.
///
/// # Errors
/// The first malformed header's error.
#[inline(always)]
pub(crate) fn walk_from_ip<'a>(
    bytes: &'a [u8],
    ethertype: EtherType,
    record: &mut impl Record<'a>,
) -> Result<()> {
    walk_inner(bytes, 0, Some(ethertype), record)
}

/// Walks Ethernet, VLAN tags, IPv4 or IPv6 and UDP or TCP ports, starting `pos` bytes
/// into the frame, handing each valid header to `record`; with `ip`, a stack without
/// Ethernet that starts at a header of that EtherType: IP (a Geneve IP payload, a
/// capture's record after its link header) or a VLAN tag (libpcap's, put back after
/// Linux's cooked header).
///
/// Always inlined: it runs twice per frame, and inlining lets the optimiser keep what
/// each recorder keeps in registers instead of spilling it through a pointer (measured in
/// `benches/decode.rs`: 17 -> 12.6 ns per VXLAN frame).
///
/// With `COMMON_FIRST`, the common Ethernet frame (untagged, IPv4 without options, its
/// lengths sound) goes by a shortcut that tests both fixed headers' lengths at once, with
/// its offsets constants, to its own copy of the transport walk; every other frame, and
/// every error, by the general walk, whose IPv4 then needs only one copy (the general
/// parser). Measured in instructions per packet (benches/instructions.sh), decode by
/// `Frame` VXLAN, NVGRE, Geneve 147 136 203 -> 143 138 196, their mixed workloads 134
/// 125 179 -> 133 131 177; by recorder 136 124 180 -> 133 123 172, mixed 126 116 164 ->
/// 124 119 163. With IPv4's two copies kept after the shortcut: 136 126 173 by recorder.
/// The engine's walks go without: they walk the frames their express walks declined, and
/// with the shortcut the loops that inline them measured longer (decapsulation 117 ->
/// 125, of Geneve 147 -> 160, payload 203 -> 213; translation and encapsulation
/// unchanged).
#[inline(always)]
#[allow(clippy::arithmetic_side_effects)] // offsets inside the input: no overflow
fn walk_stack<'a, const COMMON_FIRST: bool>(
    input: &'a [u8],
    mut pos: usize,
    record: &mut impl Record<'a>,
    depth: Depth,
    ip: Option<EtherType>,
) -> Result<StackEnd<'a>> {
    record.start(pos);
    // One walk of tags and IP for both kinds of stack: inlined twice, it cost every path.
    // (The tag loop moved here from the Ethernet arm, for captures' tags after a cooked
    // header, took instructions per packet from Geneve's decode rows, by recorder 171 ->
    // 168 and mixed 163 -> 159, by `Frame` 196 -> 195 and 177 -> 175, and moved no other
    // row of benches/instructions.sh.)
    let (mut rest, mut ethertype) = match ip {
        Some(ethertype) => {
            record.no_ethernet(ethertype);
            (input, ethertype)
        }
        None => {
            if COMMON_FIRST {
                if let Some((payload, ip)) = untagged_ipv4(input) {
                    // The Ethernet header is whole: `untagged_ipv4` saw 34 bytes.
                    record.ethernet(EthernetFrame::new_unchecked(input));
                    let at = pos + ethernet::HEADER_LEN;
                    return walk_after_ipv4(payload, ip, ipv4::HEADER_LEN, at, record, depth);
                }
            }
            let (rest, eth) = step(ethernet::parse, input, pos)?;
            record.ethernet(eth);
            pos += ethernet::HEADER_LEN;
            (rest, eth.ethertype())
        }
    };
    // IPv4 first: the common case goes on after one compare, not three.
    if ethertype != EtherType::IPV4 {
        let mut index = 0;
        while ethertype.is_vlan_tpid() {
            // Said here, where the walk knows it, so no recorder tests the TPIDs again.
            record.tag_follows();
            if index == MAX_VLAN_TAGS {
                break;
            }
            let (after, tag) = step(vlan::parse, rest, pos)?;
            record.vlan(index, tag);
            ethertype = tag.ethertype();
            rest = after;
            pos += vlan::HEADER_LEN;
            index += 1;
        }
    }
    walk_ip::<COMMON_FIRST>(rest, pos, ethertype, record, depth)
}

/// The IPv4 header of the common Ethernet frame (untagged, carrying the common IPv4
/// header: [`ipv4::parse_common`]) and its payload, as `ipv4::parse` returns them.
// Both fixed headers' lengths in one test, as a hand-written walk tests them.
#[inline(always)]
fn untagged_ipv4(input: &[u8]) -> Option<(&[u8], Ipv4Packet<&[u8]>)> {
    if input.len() < ethernet::HEADER_LEN + ipv4::HEADER_LEN {
        return None;
    }
    let eth = EthernetFrame::new_unchecked(input);
    if eth.ethertype() != EtherType::IPV4 {
        return None;
    }
    ipv4::parse_common(eth.payload())
}

/// `ipv6::parse` out of line, for the decoder's walk (`COMMON_FIRST`): after its
/// shortcut, an IPv6 header is among the rarer frames, and inlined its parse cost every
/// frame registers (instructions per packet, benches/instructions.sh: decode by `Frame`
/// VXLAN, NVGRE, Geneve 137 130 182 -> 133 125 179, by recorder 125 112 164 -> 120 110
/// 157, mixed 118 110 154 -> 117 110 149). A sound header by `ipv6::split` (inlined
/// there, `ipv6::parse` left the view's `payload` out of line: a second call), every
/// error by `ipv6::parse`. The engine's walks keep it inline: out of line, Geneve
/// decapsulation 144 -> 148, payload 203 -> 209, encapsulation 146 -> 149 and decapsulation
/// over IPv6 698 -> 724 (its outer header).
#[inline(never)]
fn parse_ipv6_apart(input: &[u8]) -> Result<(&[u8], Ipv6Packet<&[u8]>)> {
    match ipv6::split(input) {
        Some((_, payload, packet)) => Ok((payload, Ipv6Packet::new_unchecked(packet))),
        None => ipv6::parse(input),
    }
}

/// Walks IPv4 or IPv6 (by `ethertype`; anything else ends the stack quietly) and UDP or
/// TCP ports, starting `pos` bytes into the frame: the rest of an Ethernet stack, or a
/// whole stack where a tunnel carries IP without Ethernet (Geneve's protocol types
/// 0x0800 and 0x86DD).
#[inline(always)]
#[allow(clippy::arithmetic_side_effects)] // offsets inside the input: no overflow
fn walk_ip<'a, const COMMON_FIRST: bool>(
    rest: &'a [u8],
    pos: usize,
    ethertype: EtherType,
    record: &mut impl Record<'a>,
    depth: Depth,
) -> Result<StackEnd<'a>> {
    if ethertype == EtherType::IPV4 {
        // The common header (no options, lengths sound) goes on to its own copy of the
        // transport walk, with its length a constant; other headers, and every error,
        // through the general parser. Measured in instructions per packet
        // (benches/instructions.sh): decode VXLAN 159 -> 157, NVGRE 148 -> 144, mixed
        // 148 -> 145 and 140 -> 136; Geneve 203 -> 206 and 187 -> 188 (its loop spills
        // more); encapsulation one more (its flow key's walk). After `walk_stack`'s
        // shortcut (`COMMON_FIRST`), one copy for all.
        if COMMON_FIRST {
            let (payload, ip) = step(ipv4::parse, rest, pos)?;
            return walk_after_ipv4(payload, ip, ip.header_len(), pos, record, depth);
        }
        if let Some((payload, ip)) = ipv4::parse_common(rest) {
            return walk_after_ipv4(payload, ip, ipv4::HEADER_LEN, pos, record, depth);
        }
        let (payload, ip) = step(ipv4::parse_other, rest, pos)?;
        walk_after_ipv4(payload, ip, ip.header_len(), pos, record, depth)
    } else if ethertype == EtherType::IPV6 {
        let (payload, ip) = if COMMON_FIRST {
            step(parse_ipv6_apart, rest, pos)?
        } else {
            step(ipv6::parse, rest, pos)?
        };
        record.ipv6(pos, ip);
        walk_transport(
            payload,
            pos + ipv6::HEADER_LEN,
            ip.next_header(),
            record,
            depth,
        )
    } else {
        Ok(StackEnd {
            ip_payload: None,
            udp: None,
        })
    }
}

/// Records the IPv4 header `ip` (`header_len` bytes) found `pos` bytes into the frame,
/// then walks the transport ports in its `payload`, unless it is a fragment.
#[inline(always)]
#[allow(clippy::arithmetic_side_effects)] // offsets inside the input: no overflow
fn walk_after_ipv4<'a>(
    payload: &'a [u8],
    ip: Ipv4Packet<&'a [u8]>,
    header_len: usize,
    pos: usize,
    record: &mut impl Record<'a>,
    depth: Depth,
) -> Result<StackEnd<'a>> {
    record.ipv4(pos, ip);
    if ip.is_fragment() {
        return Ok(StackEnd {
            ip_payload: None,
            udp: None,
        });
    }
    walk_transport(payload, pos + header_len, ip.protocol(), record, depth)
}

/// Walks UDP or TCP ports in the payload of an IP header of `protocol`, `pos` bytes into
/// the frame (anything else ends the stack quietly).
///
/// Inlined in each of IPv4's and IPv6's branches: merged after them, as it was, the
/// optimiser read the protocol through a pointer chosen between the two headers and
/// carried the header length as a variable even for IPv4 without options. Measured in
/// instructions per packet (benches/instructions.sh): decode VXLAN 164 -> 159, NVGRE 153
/// -> 148, mixed 153 -> 148 and 144 -> 140, but Geneve 199 -> 203 and 185 -> 187 (more
/// spills); decap+mixed 187 -> 189, decap6 715 -> 698. Split for the outer stack alone:
/// VXLAN 171; for the inner alone: VXLAN 164, NVGRE 147, Geneve 202. The two `StackEnd`
/// of nothing written as one constant instead measured VXLAN 161, NVGRE 151, Geneve 199,
/// decap6 730: the optimiser's choices move by a few instructions with such changes.
#[inline(always)]
#[allow(clippy::arithmetic_side_effects)] // offsets inside the input: no overflow
fn walk_transport<'a>(
    payload: &'a [u8],
    pos: usize,
    protocol: IpProtocol,
    record: &mut impl Record<'a>,
    depth: Depth,
) -> Result<StackEnd<'a>> {
    let mut end = StackEnd {
        ip_payload: Some((payload, pos, protocol)),
        udp: None,
    };
    if depth == Depth::InnerIp {
        return Ok(end);
    }
    match protocol {
        IpProtocol::UDP => {
            let (udp_payload, udp) = step(udp::parse, payload, pos)?;
            record.transport(Transport::Udp(udp));
            end.udp = Some((udp, udp_payload, pos + udp::HEADER_LEN));
        }
        // Only the ports are read, for flow hashing; a segment too short for them is left
        // undecoded like any other payload this crate does not decode.
        IpProtocol::TCP => {
            if let [a, b, c, d, ..] = *payload {
                record.transport(Transport::Tcp {
                    src_port: u16::from_be_bytes([a, b]),
                    dst_port: u16::from_be_bytes([c, d]),
                });
            }
        }
        _ => {}
    }
    Ok(end)
}
