//! The decode benchmarks' values by tunnelwire's recorder API
//! ([`Decoder::decode_with`]): the same walk and checks as `Decoder::decode`, with
//! recorders that keep the values as a user reading them would write them, in place of
//! a `Frame` of views read afterwards.

use std::ops::Range;

use tunnelwire::packet::{Decoder, Record, RecordFrame, Transport, Tunnel};
use tunnelwire::wire::Ipv4Packet;

use super::floors;
use super::floors_geneve;

/// The outer stack's IPv4 source.
#[derive(Default)]
pub struct OuterSource(Option<u32>);

impl<'a> Record<'a> for OuterSource {
    #[inline(always)]
    fn ipv4(&mut self, _at: usize, ip: Ipv4Packet<&'a [u8]>) {
        self.0 = Some(u32::from(ip.src_addr()));
    }
}

/// The inner stack's IPv4 addresses and UDP or TCP ports.
#[derive(Default)]
pub struct InnerFlow {
    addrs: Option<(u32, u32)>,
    ports: Option<(u16, u16)>,
}

impl<'a> Record<'a> for InnerFlow {
    #[inline(always)]
    fn ipv4(&mut self, _at: usize, ip: Ipv4Packet<&'a [u8]>) {
        self.addrs = Some((u32::from(ip.src_addr()), u32::from(ip.dst_addr())));
    }
    #[inline(always)]
    fn transport(&mut self, transport: Transport<'a>) {
        self.ports = Some(match transport {
            Transport::Udp(udp) => (udp.src_port(), udp.dst_port()),
            Transport::Tcp { src_port, dst_port } => (src_port, dst_port),
        });
    }
}

/// What a decode benchmark reads: its values of the tunnel header, the outer source, the
/// inner flow.
#[derive(Default)]
pub struct Flow<T> {
    outer: OuterSource,
    tunnel: Option<T>,
    inner: InnerFlow,
}

/// What a decode benchmark reads of the tunnel header `at` bytes into the frame (`None`:
/// not its tunnel).
pub trait TunnelValues: Sized {
    fn of(at: usize, tunnel: Tunnel<'_>) -> Option<Self>;
}

/// VXLAN's and NVGRE's: NVGRE or not, and the segment.
impl TunnelValues for (bool, u32) {
    #[inline(always)]
    fn of(_at: usize, tunnel: Tunnel<'_>) -> Option<Self> {
        Some((matches!(tunnel, Tunnel::Nvgre(_)), tunnel.segment()))
    }
}

/// Geneve's: the VNI, the O and C bits (as the header's second byte has them), the
/// protocol type, where the options are.
type GeneveValues = (u32, u8, u16, Range<usize>);

impl TunnelValues for GeneveValues {
    #[inline(always)]
    fn of(at: usize, tunnel: Tunnel<'_>) -> Option<Self> {
        let Tunnel::Geneve(header) = tunnel else {
            return None;
        };
        let bits = u8::from(header.oam()) << 7 | u8::from(header.critical()) << 6;
        // The options follow the 8-byte fixed header.
        let options = at + 8..at + header.header_len();
        Some((header.vni().get(), bits, header.protocol().0, options))
    }
}

impl<'a, T: TunnelValues> RecordFrame<'a> for Flow<T> {
    type Outer = OuterSource;
    type Inner = InnerFlow;
    #[inline(always)]
    fn outer(&mut self) -> &mut OuterSource {
        &mut self.outer
    }
    #[inline(always)]
    fn tunnel(&mut self, at: usize, tunnel: Tunnel<'a>) -> tunnelwire::Result<()> {
        self.tunnel = T::of(at, tunnel);
        Ok(())
    }
    #[inline(always)]
    fn inner(&mut self) -> &mut InnerFlow {
        &mut self.inner
    }
}

/// The decode benchmark's values, by tunnelwire's recorder API.
#[inline(always)]
pub fn decode_values_tunnelwire(decoder: &Decoder, frame: &[u8]) -> Option<floors::Values> {
    let mut v = Flow::<(bool, u32)>::default();
    decoder.decode_with(frame, &mut v).ok()?;
    let (nvgre, segment) = v.tunnel?;
    let (src, dst) = v.inner.addrs?;
    Some((nvgre, segment, v.outer.0?, src, dst, v.inner.ports?))
}

/// The Geneve decode benchmark's values, by tunnelwire's recorder API.
#[inline(always)]
pub fn decode_geneve_values_tunnelwire(
    decoder: &Decoder,
    frame: &[u8],
) -> Option<floors_geneve::Values> {
    let mut v = Flow::<GeneveValues>::default();
    decoder.decode_with(frame, &mut v).ok()?;
    let (vni, bits, protocol, options) = v.tunnel?;
    let (src, dst) = v.inner.addrs?;
    Some((
        vni,
        v.outer.0?,
        src,
        dst,
        v.inner.ports?,
        bits,
        protocol,
        options,
    ))
}
