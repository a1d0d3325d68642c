//! Whole-frame decode: outer stack -> tunnel -> inner stack, composed from the headers'
//! nom parsers.
//!
//! A [`Frame`] is a small `Copy` value of validated views that borrow the input: nothing
//! is copied or allocated. Decoding goes
//!
//! ```text
//! Ethernet -> up to 2 VLAN tags -> IPv4 -> UDP (VXLAN on a VXLAN port) or GRE (NVGRE)
//!          -> inner Ethernet -> up to 2 VLAN tags -> IPv4 -> UDP, or TCP ports
//! ```
//!
//! and stops quietly at a payload it does not decode (ARP, IPv6, ICMP, a third VLAN tag,
//! a nested tunnel) and after the IPv4 header of any fragment (MF set or offset > 0),
//! since only the first fragment carries transport ports. A malformed header is an
//! [`Error`] whose offset counts from the frame's first byte.

use crate::error::{Error, ErrorKind, IResult, Layer, Result};
use crate::wire::ethernet::{self, EtherType, EthernetFrame};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet};
use crate::wire::nvgre::{self, NvgreHeader};
use crate::wire::udp::{self, UdpDatagram};
use crate::wire::vlan::{self, VlanTag};
use crate::wire::vxlan::{self, ReservedPolicy, VxlanHeader};

/// Most VLAN tags decoded per stack (QinQ: an S-tag then a C-tag).
pub const MAX_VLAN_TAGS: usize = 2;

/// The UDP destination ports that mean VXLAN: one to four of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VxlanPorts {
    // Unused slots repeat the first port, so `contains` is four compares, no length.
    ports: [u16; 4],
}

impl VxlanPorts {
    /// Just one port.
    pub const fn new(port: u16) -> Self {
        VxlanPorts { ports: [port; 4] }
    }

    /// One to four ports.
    ///
    /// # Errors
    /// `OutOfRange` for an empty list or more than four ports.
    pub fn from_slice(ports: &[u16]) -> Result<Self> {
        let Some(&first) = ports.first().filter(|_| ports.len() <= 4) else {
            return Err(Error::new(
                Layer::Udp,
                ErrorKind::OutOfRange {
                    field: "number of VXLAN ports",
                    value: ports.len() as u32,
                },
            ));
        };
        let mut set = Self::new(first);
        set.ports[..ports.len()].copy_from_slice(ports);
        Ok(set)
    }

    /// True when `port` means VXLAN.
    pub fn contains(&self, port: u16) -> bool {
        self.ports.contains(&port)
    }
}

impl Default for VxlanPorts {
    /// The IANA port, 4789.
    fn default() -> Self {
        Self::new(vxlan::PORT)
    }
}

/// Decoding settings. The default: VXLAN on port 4789, VXLAN reserved bits ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decoder {
    /// UDP destination ports that mean VXLAN.
    pub vxlan_ports: VxlanPorts,
    /// What to do with non-zero VXLAN reserved bits.
    pub vxlan_reserved: ReservedPolicy,
}

/// The transport header of a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A validated UDP datagram.
    Udp(UdpDatagram<&'a [u8]>),
    /// TCP: only the ports are read (TCP is not otherwise decoded).
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
}

/// One Ethernet stack (the outer one, or the one inside a tunnel): each layer that was
/// decoded, as a validated view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stack<'a> {
    /// Offset of the Ethernet header from the frame's first byte.
    pub offset: usize,
    /// Ethernet header and everything after it.
    pub ethernet: Option<EthernetFrame<&'a [u8]>>,
    /// VLAN tags, outermost first; the TPID of each is the EtherType before it.
    pub vlans: [Option<VlanTag<&'a [u8]>>; MAX_VLAN_TAGS],
    /// IPv4 packet, cut at its total length.
    pub ipv4: Option<Ipv4Packet<&'a [u8]>>,
    /// Transport header, when IPv4 carried UDP or TCP and was not a fragment.
    pub transport: Option<Transport<'a>>,
}

impl<'a> Stack<'a> {
    /// The VLAN tags with their TPIDs, outermost first.
    pub fn vlan_tags(&self) -> impl Iterator<Item = (EtherType, VlanTag<&'a [u8]>)> + '_ {
        let tpids = self
            .ethernet
            .map(|eth| eth.ethertype())
            .into_iter()
            .chain(self.vlans.iter().flatten().map(|tag| tag.ethertype()));
        tpids.zip(self.vlans.iter().flatten().copied())
    }

    /// The UDP datagram, if the transport is UDP.
    pub fn udp(&self) -> Option<UdpDatagram<&'a [u8]>> {
        match self.transport {
            Some(Transport::Udp(udp)) => Some(udp),
            _ => None,
        }
    }

    /// Source and destination ports of UDP or TCP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport? {
            Transport::Udp(udp) => Some((udp.src_port(), udp.dst_port())),
            Transport::Tcp { src_port, dst_port } => Some((src_port, dst_port)),
        }
    }

    /// The EtherType after the last VLAN tag (or the Ethernet header).
    pub fn ethertype(&self) -> Option<EtherType> {
        match self.vlans.iter().flatten().last() {
            Some(tag) => Some(tag.ethertype()),
            None => self.ethernet.map(|eth| eth.ethertype()),
        }
    }
}

/// The tunnel header between the outer and inner stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tunnel<'a> {
    /// VXLAN over UDP.
    Vxlan(VxlanHeader<&'a [u8]>),
    /// NVGRE over IPv4 protocol 47.
    Nvgre(NvgreHeader<&'a [u8]>),
}

impl Tunnel<'_> {
    /// The segment: VNI for VXLAN, VSID for NVGRE (both 24 bits).
    pub fn segment(&self) -> u32 {
        match self {
            Tunnel::Vxlan(header) => header.vni().get(),
            Tunnel::Nvgre(header) => header.vsid().get(),
        }
    }
}

/// A decoded frame: the outer stack, the tunnel header if any, and the inner stack
/// (empty without a tunnel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Frame<'a> {
    /// The outer (or only) stack.
    pub outer: Stack<'a>,
    /// The tunnel header, if the outer stack carried VXLAN or NVGRE.
    pub tunnel: Option<Tunnel<'a>>,
    /// Offset of the tunnel header from the frame's first byte (0 without a tunnel).
    pub tunnel_offset: usize,
    /// The stack inside the tunnel; its `offset` is where the inner frame begins.
    pub inner: Stack<'a>,
}

/// Runs one header's nom parser at `pos` bytes into the frame, rebasing its error.
fn step<'a, V>(
    parser: fn(&'a [u8]) -> IResult<&'a [u8], V>,
    input: &'a [u8],
    pos: usize,
) -> Result<(&'a [u8], V)> {
    parser(input).map_err(|err| match err {
        nom::Err::Error(e) | nom::Err::Failure(e) => e.at(pos),
        // Our parsers are complete-input parsers and never ask for more.
        nom::Err::Incomplete(_) => Error::truncated(Layer::Frame, 0, input.len()).at(pos),
    })
}

/// What a stack's IPv4 header carries on to, for the caller to continue with.
struct StackEnd<'a> {
    /// The IPv4 payload and its offset, if IPv4 was decoded and is not a fragment.
    ip_payload: Option<(&'a [u8], usize)>,
    /// The UDP payload and its offset, if UDP was decoded.
    udp_payload: Option<(&'a [u8], usize)>,
}

impl Decoder {
    /// The default decoder: VXLAN on port 4789, reserved bits ignored.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes a whole frame.
    ///
    /// # Errors
    /// The first malformed header: truncated, a bad length field, IPv4 version or IHL
    /// wrong, VXLAN without the I flag (or with reserved bits under
    /// [`ReservedPolicy::Reject`]), GRE that is not NVGRE.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<Frame<'a>> {
        let mut frame = Frame::default();
        self.decode_into(bytes, &mut frame)?;
        Ok(frame)
    }

    /// Decodes as far as possible: the frame holds every layer decoded before the first
    /// malformed header, which is returned beside it.
    pub fn decode_partial<'a>(&self, bytes: &'a [u8]) -> (Frame<'a>, Option<Error>) {
        let mut frame = Frame::default();
        let error = self.decode_into(bytes, &mut frame).err();
        (frame, error)
    }

    fn decode_into<'a>(&self, bytes: &'a [u8], frame: &mut Frame<'a>) -> Result<()> {
        let end = decode_stack(bytes, 0, &mut frame.outer)?;
        let ip = frame.outer.ipv4.map(|ip| ip.protocol());
        let (header_len, inner) = match (end.udp_payload, end.ip_payload, ip) {
            (Some((payload, pos)), _, _)
                if frame
                    .outer
                    .udp()
                    .is_some_and(|udp| self.vxlan_ports.contains(udp.dst_port())) =>
            {
                let (rest, header) = step(vxlan::parse, payload, pos)?;
                header
                    .check_reserved(self.vxlan_reserved)
                    .map_err(|e| e.at(pos))?;
                frame.tunnel = Some(Tunnel::Vxlan(header));
                frame.tunnel_offset = pos;
                (vxlan::HEADER_LEN, rest)
            }
            (_, Some((payload, pos)), Some(IpProtocol::GRE)) => {
                let (rest, header) = step(nvgre::parse, payload, pos)?;
                frame.tunnel = Some(Tunnel::Nvgre(header));
                frame.tunnel_offset = pos;
                (nvgre::HEADER_LEN, rest)
            }
            _ => return Ok(()),
        };
        decode_stack(inner, frame.tunnel_offset + header_len, &mut frame.inner)?;
        Ok(())
    }
}

/// Decodes Ethernet, VLAN tags, IPv4 and UDP or TCP ports into `stack`, starting `pos`
/// bytes into the frame.
fn decode_stack<'a>(input: &'a [u8], mut pos: usize, stack: &mut Stack<'a>) -> Result<StackEnd<'a>> {
    let mut end = StackEnd {
        ip_payload: None,
        udp_payload: None,
    };
    stack.offset = pos;
    let (mut rest, eth) = step(ethernet::parse, input, pos)?;
    stack.ethernet = Some(eth);
    pos += ethernet::HEADER_LEN;
    let mut ethertype = eth.ethertype();
    for slot in &mut stack.vlans {
        if !ethertype.is_vlan_tpid() {
            break;
        }
        let (after, tag) = step(vlan::parse, rest, pos)?;
        *slot = Some(tag);
        ethertype = tag.ethertype();
        rest = after;
        pos += vlan::HEADER_LEN;
    }
    if ethertype != EtherType::IPV4 {
        return Ok(end);
    }
    let (payload, ip) = step(ipv4::parse, rest, pos)?;
    stack.ipv4 = Some(ip);
    if ip.is_fragment() {
        return Ok(end);
    }
    pos += ip.header_len();
    end.ip_payload = Some((payload, pos));
    match ip.protocol() {
        IpProtocol::UDP => {
            let (udp_payload, udp) = step(udp::parse, payload, pos)?;
            stack.transport = Some(Transport::Udp(udp));
            end.udp_payload = Some((udp_payload, pos + udp::HEADER_LEN));
        }
        // Only the ports are read, for flow hashing; a segment too short for them is left
        // undecoded like any other payload this crate does not decode.
        IpProtocol::TCP => {
            if let [a, b, c, d, ..] = *payload {
                stack.transport = Some(Transport::Tcp {
                    src_port: u16::from_be_bytes([a, b]),
                    dst_port: u16::from_be_bytes([c, d]),
                });
            }
        }
        _ => {}
    }
    Ok(end)
}
