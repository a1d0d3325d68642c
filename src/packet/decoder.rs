//! The [`Decoder`]: its settings and the public ways to decode (a [`Frame`], a frame
//! filled in place, a recorder of your own, one [`Stack`] by itself), all running the
//! walk (`walk`).

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::walk::{Depth, walk, walk_from_ip};
use super::{Frame, RecordFrame, ReservedPolicy, Stack, Transport, TunnelPorts};
use crate::error::{Error, Result};
use crate::wire::ethernet::EtherType;
use crate::wire::geneve;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::udp::{self, UdpDatagram};
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

    /// Decodes one stack that starts without an Ethernet header, at a header of
    /// `ethertype` (IPv4, IPv6 or a VLAN tag; anything else decodes nothing), as Geneve's
    /// IP payloads do. Offsets count from `bytes[0]`.
    #[inline]
    pub fn decode_ip(bytes: &'a [u8], ethertype: EtherType) -> (Stack<'a>, Option<Error>) {
        let mut stack = Stack::default();
        let error = walk_from_ip(bytes, ethertype, &mut stack).err();
        (stack, error)
    }
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
        self.fill(bytes, None, &mut frame)?;
        Ok(frame)
    }

    /// Decodes as far as possible: the frame holds every layer decoded before the first
    /// malformed header, which is returned beside it.
    #[inline(always)]
    pub fn decode_partial<'a>(&self, bytes: &'a [u8]) -> (Frame<'a>, Option<Error>) {
        let mut frame = Frame::default();
        let error = self.fill(bytes, None, &mut frame).err();
        (frame, error)
    }

    /// Decodes a whole frame that starts without an Ethernet header, at a header of
    /// `ethertype`: an IPv4 or IPv6 packet, or a VLAN tag (anything else decodes
    /// nothing), as a capture's record holds it after a link header that is not
    /// Ethernet's (Linux's cooked header of `tcpdump -i any`, which libpcap may follow
    /// with the VLAN tag the kernel took off; raw IP: `pcap::Record::content`, of
    /// feature `pcap`, finds the packet and its EtherType). The outer stack then has no
    /// Ethernet header (its `first_ethertype` is `ethertype`); the rest is decoded as
    /// [`decode`](Self::decode) decodes it, offsets counting from `bytes[0]`.
    ///
    /// ```
    /// use tunnelwire::packet::Decoder;
    /// use tunnelwire::wire::EtherType;
    ///
    /// // An IPv4 header alone (protocol 253, for experiments): nothing follows it.
    /// let mut packet = [0u8; 20];
    /// packet[..4].copy_from_slice(&[0x45, 0, 0, 20]);
    /// packet[8..10].copy_from_slice(&[64, 253]);
    /// let frame = Decoder::new().decode_ip(&packet, EtherType::IPV4)?;
    /// assert!(frame.outer.ethernet.is_none());
    /// assert_eq!(frame.outer.ipv4.map(|ip| ip.ttl()), Some(64));
    /// assert!(frame.tunnel.is_none());
    /// # Ok::<(), tunnelwire::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    #[inline]
    pub fn decode_ip<'a>(&self, bytes: &'a [u8], ethertype: EtherType) -> Result<Frame<'a>> {
        let mut frame = Frame::default();
        self.fill(bytes, Some(ethertype), &mut frame)?;
        Ok(frame)
    }

    /// [`decode_ip`](Self::decode_ip) as far as possible, as
    /// [`decode_partial`](Self::decode_partial): the layers decoded before the first
    /// malformed header, and that error.
    #[inline]
    pub fn decode_partial_ip<'a>(
        &self,
        bytes: &'a [u8],
        ethertype: EtherType,
    ) -> (Frame<'a>, Option<Error>) {
        let mut frame = Frame::default();
        let error = self.fill(bytes, Some(ethertype), &mut frame).err();
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
        self.fill(bytes, None, frame)
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
        self.walk_frame::<true>(bytes, None, recorder, Depth::InnerTransport)
    }

    /// Decodes into a frame that is still empty (`Frame::default()`); with `ip`, a frame
    /// that starts without Ethernet, at a header of that EtherType.
    // Always inlined: every caller is a per-packet path, and inlined the frame's views
    // stay in registers instead of going through memory.
    #[inline(always)]
    fn fill<'a>(
        &self,
        bytes: &'a [u8],
        ip: Option<EtherType>,
        frame: &mut Frame<'a>,
    ) -> Result<()> {
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
        self.walk_frame::<true>(bytes, ip, frame, Depth::InnerTransport)
    }
}
