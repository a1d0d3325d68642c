//! The tunnel engine: in-place VXLAN and NVGRE encapsulation, decapsulation and
//! translation over an IPv4 or IPv6 underlay, with flow-hash entropy and RFC 6040 ECN
//! handling.
//!
//! Encapsulation writes the outer headers into headroom in front of the inner frame;
//! nothing is copied or allocated per packet. Decapsulation returns the inner frame as a
//! range of the buffer. Translation rewrites the outer headers between VXLAN and NVGRE,
//! moving only the outer Ethernet and IP headers, and keeps the underlay's family.
//!
//! | encapsulation | outer headers | bytes | with an outer VLAN tag |
//! | --- | --- | --- | --- |
//! | VXLAN over IPv4 | Ethernet, IPv4, UDP, VXLAN | 50 | 54 |
//! | NVGRE over IPv4 | Ethernet, IPv4, GRE with key | 42 | 46 |
//! | VXLAN over IPv6 | Ethernet, IPv6, UDP, VXLAN | 70 | 74 |
//! | NVGRE over IPv6 | Ethernet, IPv6, GRE with key | 62 | 66 |
//!
//! [`HEADROOM`] (74 bytes, the largest: VXLAN over IPv6 with an outer tag) in front of
//! every inner frame covers them all.
//!
//! Two ways to meet the underlay, one set of rules: whole frames, outer Ethernet first
//! (as captures, AF_PACKET, AF_XDP and DPDK see them: [`Encapsulator::encapsulate`],
//! [`Decapsulator::decapsulate`]), and socket payloads, the tunnel header onward (what
//! a UDP socket or a raw GRE socket hands a program that owns its sockets:
//! [`Encapsulator::encapsulate_payload`], [`Decapsulator::decapsulate_payload`]).
//!
//! ```
//! use core::net::Ipv4Addr;
//! use tunnelwire::tunnel::{Decapsulator, Encapsulator, TunnelConfig, HEADROOM};
//! use tunnelwire::wire::Vni;
//!
//! let inner_frame = [0x02u8; 60];
//! let mut buf = [0u8; HEADROOM + 60];
//! buf[HEADROOM..].copy_from_slice(&inner_frame);
//!
//! let config = TunnelConfig::vxlan(Vni::new(42)?, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! let mut encap = Encapsulator::new(config)?;
//! let frame = encap.encapsulate(&mut buf, HEADROOM..HEADROOM + 60)?;
//! assert_eq!(frame.len(), 50 + 60);
//!
//! let decap = Decapsulator::default().decapsulate(&mut buf[frame])?;
//! assert_eq!(decap.segment(), 42);
//! assert_eq!(decap.outer_src, Ipv4Addr::new(10, 0, 0, 1));
//! # Ok::<(), tunnelwire::Error>(())
//! ```

//!
//! A pipeline, as a gateway between a VXLAN and an NVGRE segment runs it: encapsulate,
//! translate, decapsulate, counting what goes wrong by a value-free reason.
//!
//! ```
//! use std::collections::BTreeMap;
//! use core::net::Ipv4Addr;
//! use tunnelwire::packet::TunnelKind;
//! use tunnelwire::tunnel::{Decapsulator, Encapsulator, Translator, TunnelConfig, HEADROOM};
//! use tunnelwire::wire::Vni;
//!
//! let (us, them) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! let mut encap = Encapsulator::new(TunnelConfig::vxlan(Vni::new(5000)?, us, them))?;
//! let (translator, decap) = (Translator::default(), Decapsulator::default());
//! let mut errors: BTreeMap<&'static str, usize> = BTreeMap::new();
//!
//! // Three inner frames; the last is too short to be Ethernet.
//! for len in [64, 1400, 10] {
//!     let mut buf = vec![0x02u8; HEADROOM + len];
//!     let result = encap
//!         .encapsulate(&mut buf, HEADROOM..HEADROOM + len)
//!         .and_then(|vxlan| translator.translate(&mut buf, vxlan, TunnelKind::Nvgre))
//!         .and_then(|nvgre| decap.decapsulate(&mut buf[nvgre]).map(|found| found.inner.len()));
//!     match result {
//!         Ok(inner_len) => assert_eq!(inner_len, len),
//!         Err(e) => *errors.entry(e.kind.name()).or_default() += 1,
//!     }
//! }
//! assert_eq!(errors.into_iter().collect::<Vec<_>>(), [("truncated", 1)]);
//! # Ok::<(), tunnelwire::Error>(())
//! ```

mod any_segment;
mod config;
mod decap;
pub mod ecn;
mod encap;
pub mod flow;
mod ident;
mod inner_vlan;
mod layout;
mod outer_rules;
mod payload;
mod translate;

pub use config::{Dscp, FlowId, FlowLabel, OuterVlan, SourcePolicy, TunnelConfig};
pub use decap::{Checksums, Decapsulated, Decapsulator};
pub use ecn::{EcnAlarm, EcnMode};
pub use encap::Encapsulator;
pub use flow::{FlowHash, FlowKey, PortRange};
pub use inner_vlan::InnerVlanPolicy;
pub use payload::{PayloadHeaders, SocketOuter};
pub use translate::Translator;

pub use crate::packet::{Encapsulation, TunnelKind};

use crate::wire::{ethernet, ipv4, ipv6, nvgre, udp, vlan, vxlan};
use crate::{Error, ErrorKind, Layer};

/// Outer headers of VXLAN over IPv4 without a VLAN tag: 50 bytes.
pub const VXLAN_OVERHEAD: usize =
    ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN + vxlan::HEADER_LEN;
/// Outer headers of NVGRE over IPv4 without a VLAN tag: 42 bytes.
pub const NVGRE_OVERHEAD: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + nvgre::HEADER_LEN;
/// Outer headers of VXLAN over IPv6 without a VLAN tag: 70 bytes.
pub const VXLAN6_OVERHEAD: usize =
    ethernet::HEADER_LEN + ipv6::HEADER_LEN + udp::HEADER_LEN + vxlan::HEADER_LEN;
/// Outer headers of NVGRE over IPv6 without a VLAN tag: 62 bytes.
pub const NVGRE6_OVERHEAD: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN + nvgre::HEADER_LEN;
/// Headroom that fits any outer headers this crate writes: VXLAN over IPv6 with a VLAN
/// tag, 74 bytes.
pub const HEADROOM: usize = VXLAN6_OVERHEAD + vlan::HEADER_LEN;
/// Bytes of either tunnel header: VXLAN's, or GRE's with its key (8 both): where a
/// socket payload starts before the inner frame.
pub const TUNNEL_HEADER_LEN: usize = vxlan::HEADER_LEN;
const _: () = assert!(nvgre::HEADER_LEN == TUNNEL_HEADER_LEN);

/// Why a decoded frame yielded no tunnel: its decode error, an outer fragment of IPv4
/// or IPv6 (`fragment`, at `l3_offset`), or simply no VXLAN or NVGRE inside. Takes
/// values, not the frame, so the callers' frames stay in registers; cold, as it is the
/// error path.
#[cold]
fn no_tunnel(error: Option<Error>, fragment: Option<Layer>, l3_offset: usize) -> Error {
    match (error, fragment) {
        (Some(error), _) => error,
        (None, Some(layer)) => Error::new(layer, ErrorKind::Fragment).at(l3_offset),
        (None, None) => Error::new(Layer::Tunnel, ErrorKind::NotTunnel),
    }
}
