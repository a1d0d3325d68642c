//! The paths the benchmarks measure, shared by the criterion benches, the interleaved
//! timer and the instruction counter (`benches/interleaved.rs`,
//! `benches/instructions.sh`), so all three measure the same code on the same frames.
//!
//! Each path has a tunnelwire arm and a hand-written floor (`floors/`; Geneve's in
//! `floors_geneve.rs`) doing the same thing; [`Path::arms_on`] asserts they agree (every
//! value, whole buffers) on the workload before anything is timed or counted, and
//! `differential.rs` on mutated frames. Workloads: the clean one in `workloads.rs`, the
//! mixed one in `mixed.rs`, Geneve's both in `geneve.rs`. `path.rs` names the paths,
//! `arm.rs` holds an arm and the loop it runs per path (an arm's `pass` runs every frame
//! of the workload once), `check.rs` the agreement check; this file, the tunnelwire
//! calls and digests the arms and checks share.

#![allow(dead_code)] // each bench binary uses part of it

mod arm;
mod check;
pub mod differential;
pub mod floors;
pub mod floors_geneve;
pub mod geneve;
pub mod mixed;
mod path;
pub mod values;
mod workloads;

pub use self::{arm::*, path::*, workloads::*};

use differential::Outcome;
use geneve::{geneve_buffers, geneve_config, geneve_decapsulator, geneve_frames};
use mixed::{mixed_decap_buffers, mixed_inner_buffers, mixed_tunnel_frames, mixed_vxlan_buffers};
use values::decode_values_tunnelwire;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use tunnelwire::packet::Decoder;
use tunnelwire::tunnel::ecn::{Ecn, EcnAlarm};
use tunnelwire::tunnel::{
    Decapsulated, Decapsulator, Encapsulator, HEADROOM, PayloadHeaders, SocketOuter,
    TranslateConfig, Translator, TunnelConfig, TunnelKind,
};
use tunnelwire::wire::{
    EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr, NvgreRepr, UdpDatagram,
    UdpRepr, Vni, Vsid, VxlanRepr,
};

/// An IPv4 address's 32 bits, as the IPv4 floors report them (0 for IPv6).
fn ipv4_bits(address: IpAddr) -> u32 {
    match address {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(_) => 0,
    }
}

/// An IPv6 address's 128 bits, as the IPv6 floors report them (0 for IPv4).
fn ipv6_bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(_) => 0,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The values the decode benchmark extracts, folded into one number so nothing is
/// optimised away and the decoders can be checked to agree.
#[inline(always)]
pub fn digest(
    segment: u32,
    outer_src: u32,
    inner_src: u32,
    inner_dst: u32,
    ports: (u16, u16),
) -> u64 {
    u64::from(segment)
        ^ u64::from(outer_src).rotate_left(7)
        ^ u64::from(inner_src).rotate_left(19)
        ^ u64::from(inner_dst).rotate_left(31)
        ^ (u64::from(ports.0) << 40)
        ^ (u64::from(ports.1) << 24)
}

/// The payload path by tunnelwire: decapsulate a VXLAN socket payload, then encapsulate
/// its inner frame as a payload towards the next VTEP, in the same buffer.
#[inline(always)]
pub fn payload_tunnelwire(
    decapsulator: &Decapsulator,
    encapsulator: &mut Encapsulator,
    buf: &mut [u8],
    payload: Range<usize>,
    outer: &SocketOuter,
) -> tunnelwire::Result<PayloadHeaders> {
    let found =
        decapsulator.decapsulate_payload(&mut buf[payload.clone()], TunnelKind::Vxlan, outer)?;
    let inner = payload.start + found.inner.start..payload.start + found.inner.end;
    encapsulator.encapsulate_payload(buf, inner)
}

/// What the payload path returns, folded into one number.
#[inline(always)]
pub fn payload_digest(sent: &PayloadHeaders) -> u64 {
    sent.payload.start as u64
        ^ u64::from(sent.source_port.unwrap_or(0)) << 16
        ^ u64::from(sent.traffic_class) << 32
        ^ u64::from(sent.flow_label) << 40
}

/// The decode benchmark's values, by tunnelwire: the tunnel kind and segment, the outer
/// source, the inner addresses and ports.
#[inline(always)]
pub fn decode_tunnelwire(decoder: &Decoder, frame: &[u8]) -> Option<floors::Values> {
    let f = decoder.decode(frame).ok()?;
    let inner = f.inner.ipv4?;
    let tunnel = f.tunnel?;
    Some((
        tunnel.kind() == TunnelKind::Nvgre,
        tunnel.segment(),
        u32::from(f.outer.ipv4?.src_addr()),
        u32::from(inner.src_addr()),
        u32::from(inner.dst_addr()),
        f.inner.ports()?,
    ))
}

/// The decode values folded into one number, as the timed loops keep them.
#[inline(always)]
pub fn values_digest(v: &floors::Values) -> u64 {
    digest(v.1, v.2, v.3, v.4, v.5) ^ u64::from(v.0)
}

/// Everything a `Decapsulated` holds, as the IPv6 floor reports it.
pub fn found6(d: &Decapsulated) -> floors::Found6 {
    let (kind, segment, _, _, inner, alarm, protocol, options) = found(d);
    let (src, dst) = (ipv6_bits(d.outer_src), ipv6_bits(d.outer_dst));
    (kind, segment, src, dst, inner, alarm, protocol, options)
}

/// Everything a `Decapsulated` holds, as the IPv4 floor reports it: the tunnel kind,
/// the segment, the outer addresses, the inner range, the RFC 6040 alarm, the inner
/// protocol and the options' range.
pub fn found(d: &Decapsulated) -> floors::Found {
    let alarm = match d.ecn_alarm {
        None => 0,
        Some(EcnAlarm::Unexpected) => 1,
        Some(EcnAlarm::Questionable) => 2,
    };
    let kind = match d.kind() {
        TunnelKind::Vxlan => 0,
        TunnelKind::Nvgre => 1,
        _ => 2,
    };
    (
        kind,
        d.segment(),
        ipv4_bits(d.outer_src),
        ipv4_bits(d.outer_dst),
        d.inner.clone(),
        alarm,
        d.protocol.0,
        d.options.clone(),
    )
}
