//! The walk: each header validated in order and handed to a recorder, outer stack ->
//! tunnel -> inner stack, and the [`Decoder`] that runs it.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::{
    Frame, MAX_VLAN_TAGS, Record, RecordFrame, ReservedPolicy, Stack, Transport, Tunnel,
    TunnelKind, TunnelPorts,
};
use crate::error::{Error, Result};
use crate::wire::ethernet::{self, EtherType, EthernetFrame};
use crate::wire::geneve;
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet};
use crate::wire::ipv6;
use crate::wire::nvgre;
use crate::wire::udp::{self, UdpDatagram};
use crate::wire::vlan;
use crate::wire::vxlan;

/// Decoding settings. The default: VXLAN on port 4789, Geneve on 6081, VXLAN reserved
/// bits ignored.
///
/// ```
/// use tunnelwire::packet::{Decoder, ReservedPolicy, TunnelPorts};
///
/// // Linux's historical VXLAN port as well as the IANA one, reserved bits refused.
/// let decoder = Decoder {
///     vxlan_ports: TunnelPorts::from_slice(&[4789, 8472])?,
///     vxlan_reserved: ReservedPolicy::Reject,
///     ..Decoder::default()
/// };
/// let (frame, error) = decoder.decode_partial(&[0u8; 10]);
/// assert!(frame.outer.ethernet.is_none());
/// assert_eq!(error.map(|e| e.kind.name()), Some("truncated"));
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    /// UDP destination ports that mean VXLAN.
    pub vxlan_ports: TunnelPorts,
    /// What to do with non-zero VXLAN reserved bits.
    pub vxlan_reserved: ReservedPolicy,
    /// UDP destination ports that mean Geneve (a port in both sets means VXLAN).
    pub geneve_ports: TunnelPorts,
}

impl Default for Decoder {
    /// VXLAN on 4789, Geneve on 6081, VXLAN reserved bits ignored.
    #[inline]
    fn default() -> Self {
        Decoder::DEFAULT
    }
}

/// Decoding one stack by itself (playing one back is `record`'s).
impl<'a> Stack<'a> {
    /// Decodes one Ethernet stack (Ethernet, tags, IPv4 or IPv6, UDP or TCP ports; no tunnel) as
    /// far as it goes: the layers decoded before the first malformed header, and that
    /// error. Offsets count from `bytes[0]`.
    #[inline(always)]
    pub fn decode(bytes: &'a [u8]) -> (Stack<'a>, Option<Error>) {
        let mut stack = Stack::default();
        let error = walk(bytes, &mut stack).err();
        (stack, error)
    }

    /// Decodes one stack that starts at IP (`ethertype` IPv4 or IPv6; anything else
    /// decodes nothing), as Geneve's IP payloads do: no Ethernet header, no tags. Offsets
    /// count from `bytes[0]`.
    #[inline]
    pub fn decode_ip(bytes: &'a [u8], ethertype: EtherType) -> (Stack<'a>, Option<Error>) {
        let mut stack = Stack::default();
        let error = walk_from_ip(bytes, ethertype, &mut stack).err();
        (stack, error)
    }
}

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
    /// The defaults as a constant, for the engine's code specialised to them.
    pub(crate) const DEFAULT: Decoder = Decoder {
        vxlan_ports: TunnelPorts::new(vxlan::PORT),
        vxlan_reserved: ReservedPolicy::Ignore,
        geneve_ports: TunnelPorts::new(geneve::PORT),
    };

    /// The default decoder: VXLAN on port 4789, Geneve on 6081, reserved bits ignored.
    #[inline]
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes a whole frame.
    ///
    /// # Errors
    /// The first malformed header: truncated, a bad length field, IPv4 version or IHL
    /// wrong, VXLAN without the I flag (or with reserved bits under
    /// [`ReservedPolicy::Reject`]), GRE that is not NVGRE, a Geneve header of another
    /// version or whose options run past the packet.
    // Always inlined, like `decode_partial`: the caller's frame is then filled in place
    // instead of being built here and copied out (a 260-byte memmove per frame).
    #[inline(always)]
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<Frame<'a>> {
        let mut frame = Frame::default();
        self.fill(bytes, &mut frame)?;
        Ok(frame)
    }

    /// Decodes as far as possible: the frame holds every layer decoded before the first
    /// malformed header, which is returned beside it.
    #[inline(always)]
    pub fn decode_partial<'a>(&self, bytes: &'a [u8]) -> (Frame<'a>, Option<Error>) {
        let mut frame = Frame::default();
        let error = self.fill(bytes, &mut frame).err();
        (frame, error)
    }

    /// Decodes into caller-owned storage: `frame` is reset, then filled with every layer
    /// decoded before the first malformed header, which is returned. Hot paths use this
    /// to fill a frame in place rather than move a returned one.
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    #[inline]
    pub fn decode_into<'a>(&self, bytes: &'a [u8], frame: &mut Frame<'a>) -> Result<()> {
        *frame = Frame::default();
        self.fill(bytes, frame)
    }

    /// Decodes a whole frame into a recorder of your own: the walk of
    /// [`decode`](Self::decode), every header validated the same way, hands each valid
    /// header to `recorder` as it meets it, and the recorder keeps what it needs. Where
    /// a [`Frame`] keeps an `Option` of a view per layer, to be tested again by the
    /// caller, a recorder keeps plain values: the cheapest way to read a few fields of
    /// every packet (a flow key, counters per VNI). What it recorded before an error
    /// stays in it.
    ///
    /// ```
    /// use core::net::Ipv4Addr;
    /// use tunnelwire::packet::{Decoder, Record, RecordFrame, Transport, Tunnel};
    /// use tunnelwire::tunnel::{Encapsulator, HEADROOM, TunnelConfig};
    /// use tunnelwire::wire::{Ipv4Packet, Vni};
    ///
    /// /// The inner addresses and ports.
    /// #[derive(Default)]
    /// struct Flow { addrs: Option<(Ipv4Addr, Ipv4Addr)>, ports: Option<(u16, u16)> }
    ///
    /// impl<'a> Record<'a> for Flow {
    ///     fn ipv4(&mut self, _at: usize, ip: Ipv4Packet<&'a [u8]>) {
    ///         self.addrs = Some((ip.src_addr(), ip.dst_addr()));
    ///     }
    ///     fn transport(&mut self, transport: Transport<'a>) {
    ///         self.ports = Some(match transport {
    ///             Transport::Udp(udp) => (udp.src_port(), udp.dst_port()),
    ///             Transport::Tcp { src_port, dst_port } => (src_port, dst_port),
    ///         });
    ///     }
    /// }
    ///
    /// /// The VNI and the inner flow; nothing of the outer stack (`()` keeps nothing).
    /// #[derive(Default)]
    /// struct TenantFlow { vni: Option<u32>, inner: Flow, outer: () }
    ///
    /// impl<'a> RecordFrame<'a> for TenantFlow {
    ///     type Outer = ();
    ///     type Inner = Flow;
    ///     fn outer(&mut self) -> &mut () { &mut self.outer }
    ///     fn tunnel(&mut self, _at: usize, tunnel: Tunnel<'a>) -> tunnelwire::Result<()> {
    ///         self.vni = Some(tunnel.segment());
    ///         Ok(())
    ///     }
    ///     fn inner(&mut self) -> &mut Flow { &mut self.inner }
    /// }
    ///
    /// // A VXLAN frame carrying UDP from 192.0.2.1:5000 to 192.0.2.2:53.
    /// let mut buf = [0u8; HEADROOM + 42];
    /// let inner = &mut buf[HEADROOM..];
    /// inner[12..16].copy_from_slice(&[0x08, 0x00, 0x45, 0]);
    /// inner[16..18].copy_from_slice(&28u16.to_be_bytes()); // total length
    /// inner[22..24].copy_from_slice(&[64, 17]); // TTL, UDP
    /// inner[26..34].copy_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    /// inner[34..40].copy_from_slice(&[0x13, 0x88, 0, 53, 0, 8]); // ports, UDP length
    /// let config = TunnelConfig::vxlan(Vni::new(42)?, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    /// let range = Encapsulator::new(config)?.encapsulate(&mut buf, HEADROOM..HEADROOM + 42)?;
    ///
    /// let mut flow = TenantFlow::default();
    /// Decoder::new().decode_with(&buf[range], &mut flow)?;
    /// assert_eq!(flow.vni, Some(42));
    /// assert_eq!(flow.inner.addrs, Some((Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2))));
    /// assert_eq!(flow.inner.ports, Some((5000, 53)));
    /// # Ok::<(), tunnelwire::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`decode`](Self::decode), and whatever the recorder's
    /// [`tunnel`](RecordFrame::tunnel) or [`no_tunnel`](RecordFrame::no_tunnel) refuses.
    // Always inlined, like `decode`: the recorder's fields stay in the caller's registers.
    #[inline(always)]
    pub fn decode_with<'a>(
        &self,
        bytes: &'a [u8],
        recorder: &mut impl RecordFrame<'a>,
    ) -> Result<()> {
        self.walk_frame::<true>(bytes, recorder, Depth::InnerTransport)
    }

    /// Decodes into a frame that is still empty (`Frame::default()`).
    // Always inlined: every caller is a per-packet path, and inlined the frame's views
    // stay in registers instead of going through memory.
    #[inline(always)]
    fn fill<'a>(&self, bytes: &'a [u8], frame: &mut Frame<'a>) -> Result<()> {
        // The inner IPv4 slot is set to a 20-byte view and back to `None` before the walk:
        // `None` writes only the slot's null pointer, so its length now holds 20 rather
        // than whatever the slot held before. In a per-packet loop the optimiser keeps an
        // unwritten length from one frame to the next, and could not then tell that a view
        // read after decoding holds a whole fixed header: every read of the inner
        // addresses kept a bounds check and the registers that length held. Measured in
        // instructions per packet (benches/instructions.sh): decode VXLAN 174 -> 166,
        // NVGRE 159 -> 152, mixed 162 -> 155 and 149 -> 143, Geneve 219 -> 220.
        //
        // The inner transport slot likewise, to a UDP view of 8 bytes (the ports' read
        // after decoding kept a bounds check on a length spilled to the stack): VXLAN
        // 154 -> 148, NVGRE 141 -> 136, mixed 143 -> 135 and 133 -> 125, Geneve mixed
        // 182 -> 180, but Geneve 198 -> 204. It cost before the transport walk had its
        // own copies (`walk_ip`): VXLAN 164 -> 167, Geneve 199 -> 210.
        //
        // The same for the outer IPv4 slot measured Geneve 226 at first; 166 -> 164 for
        // VXLAN and 202 -> 199 for Geneve once their ports took fewer tests, but with the
        // transport walk's own copies it cost every row (VXLAN 154 -> 157, Geneve 198 ->
        // 206; with the transport slot's: Geneve 204 -> 211). For the tunnel slot it
        // changed nothing.
        static FIXED_HEADER: [u8; ipv4::HEADER_LEN] = [0; ipv4::HEADER_LEN];
        frame.inner.ipv4 = Some(Ipv4Packet::new_unchecked(&FIXED_HEADER));
        frame.inner.ipv4 = None;
        static FIXED_UDP: [u8; udp::HEADER_LEN] = [0; udp::HEADER_LEN];
        frame.inner.transport = Some(Transport::Udp(UdpDatagram::new_unchecked(&FIXED_UDP)));
        frame.inner.transport = None;
        self.walk_frame::<true>(bytes, frame, Depth::InnerTransport)
    }

    /// Walks the whole frame, validating each header and handing it to `record`; the
    /// inner stack is walked only as deep as `depth` (a decapsulator needs the inner IP
    /// header for ECN, not its transport). For the engine, whose express walks take the
    /// common frames first: no shortcut of its own (see [`walk_stack`]).
    #[inline(always)]
    pub(crate) fn walk<'a>(
        &self,
        bytes: &'a [u8],
        record: &mut impl RecordFrame<'a>,
        depth: Depth,
    ) -> Result<()> {
        self.walk_frame::<false>(bytes, record, depth)
    }

    /// [`walk`](Self::walk), each stack's common frame taken by the shortcut when
    /// `COMMON_FIRST` (see [`walk_stack`]).
    #[inline(always)]
    fn walk_frame<'a, const COMMON_FIRST: bool>(
        &self,
        bytes: &'a [u8],
        record: &mut impl RecordFrame<'a>,
        depth: Depth,
    ) -> Result<()> {
        let end =
            walk_stack::<COMMON_FIRST>(bytes, 0, record.outer(), Depth::InnerTransport, None)?;
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
        //   `Frame` 204 -> 207).
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
                let first = match header.protocol() {
                    EtherType::TRANSPARENT_ETHERNET_BRIDGING => None,
                    ip @ (EtherType::IPV4 | EtherType::IPV6) => Some(ip),
                    // A payload this crate does not decode: the walk ends quietly.
                    _ => return Ok(()),
                };
                (rest, pos + header.header_len(), first)
            }
        };
        walk_stack::<COMMON_FIRST>(inner, inner_at, record.inner(), depth, first)?;
        Ok(())
    }
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
    walk_stack::<false>(bytes, pos, record, Depth::InnerTransport, None).map(|_| ())
}

/// Walks one stack that starts at IP (an IP packet of `ethertype`, as Geneve carries
/// it): IPv4 or IPv6, then transport ports.
///
/// # Errors
/// The first malformed header's error.
#[inline(always)]
pub(crate) fn walk_from_ip<'a>(
    bytes: &'a [u8],
    ethertype: EtherType,
    record: &mut impl Record<'a>,
) -> Result<()> {
    walk_stack::<false>(bytes, 0, record, Depth::InnerTransport, Some(ethertype)).map(|_| ())
}

/// Walks Ethernet, VLAN tags, IPv4 or IPv6 and UDP or TCP ports, starting `pos` bytes
/// into the frame, handing each valid header to `record`; with `ip`, a stack that starts
/// at IP of that EtherType (a Geneve IP payload), without Ethernet.
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
    // One walk of IP for both kinds of stack: inlined twice, it cost every path.
    let (rest, ethertype) = match ip {
        Some(ethertype) => (input, ethertype),
        None => {
            if COMMON_FIRST {
                if let Some((payload, ip)) = untagged_ipv4(input) {
                    // The Ethernet header is whole: `untagged_ipv4` saw 34 bytes.
                    record.ethernet(EthernetFrame::new_unchecked(input));
                    let at = pos + ethernet::HEADER_LEN;
                    return walk_after_ipv4(payload, ip, ipv4::HEADER_LEN, at, record, depth);
                }
            }
            let (mut rest, eth) = step(ethernet::parse, input, pos)?;
            record.ethernet(eth);
            pos += ethernet::HEADER_LEN;
            let mut ethertype = eth.ethertype();
            // IPv4 first: the common case goes on after one compare, not three.
            if ethertype != EtherType::IPV4 {
                let mut index = 0;
                while ethertype.is_vlan_tpid() {
                    // Said here, where the walk knows it, so no recorder tests the TPIDs
                    // again.
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
            (rest, ethertype)
        }
    };
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
        let (payload, ip) = step(ipv6::parse, rest, pos)?;
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
