//! The tunnel engine: in-place VXLAN, NVGRE and Geneve encapsulation, decapsulation and
//! translation over an IPv4 or IPv6 underlay, with flow-hash entropy and RFC 6040 ECN
//! handling.
//!
//! Encapsulation writes the outer headers into headroom in front of the inner frame;
//! nothing is copied or allocated per packet. Decapsulation returns the inner frame as a
//! range of the buffer. Translation rewrites the outer headers among VXLAN, NVGRE and
//! Geneve, moving only the outer Ethernet and IP headers, and keeps the underlay's family.
//!
//! | encapsulation | outer headers | bytes | with an outer VLAN tag |
//! | --- | --- | --- | --- |
//! | VXLAN over IPv4 | Ethernet, IPv4, UDP, VXLAN | 50 | 54 |
//! | NVGRE over IPv4 | Ethernet, IPv4, GRE with key | 42 | 46 |
//! | Geneve over IPv4 | Ethernet, IPv4, UDP, Geneve, options | 50 + options | 54 + options |
//! | VXLAN over IPv6 | Ethernet, IPv6, UDP, VXLAN | 70 | 74 |
//! | NVGRE over IPv6 | Ethernet, IPv6, GRE with key | 62 | 66 |
//! | Geneve over IPv6 | Ethernet, IPv6, UDP, Geneve, options | 70 + options | 74 + options |
//!
//! [`HEADROOM`] (74 bytes, the largest without Geneve options: VXLAN or Geneve over IPv6
//! with an outer tag) in front of every inner frame covers them all; Geneve's options add
//! at most 252 bytes, so [`MAX_HEADROOM`] (326 bytes) covers any. An encapsulator's
//! [`overhead`](Encapsulator::overhead) is its exact need.
//!
//! Geneve (RFC 8926): options are fixed per encapsulator
//! ([`TunnelConfig::geneve_options`]) and may be added per packet
//! ([`Encapsulator::encapsulate_with_options`]); a payload may be an IP packet
//! ([`Encapsulator::encapsulate_ip`], protocol type 0x0800 or 0x86DD, AWS Gateway Load
//! Balancer's case). On receipt the O bit is never a tenant's frame and a critical option
//! not declared understood ([`UnderstoodOptions`]) refuses the frame (section 3.5); the
//! options are handed over as a range ([`Decapsulated::options`]).
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
mod encap_geneve;
mod express;
pub mod flow;
mod geneve;
mod ident;
mod inner_vlan;
mod layout;
mod outer_rules;
mod payload;
mod receive;
mod translate;

pub use config::{Dscp, FlowId, FlowLabel, OuterVlan, SourcePolicy, TunnelConfig};
pub use decap::{DecapConfig, Decapsulated, Decapsulator};
pub use ecn::{EcnAlarm, EcnMode};
pub use encap::Encapsulator;
pub use flow::{FlowHash, FlowKey, PortRange};
pub use geneve::{MAX_UNDERSTOOD, UnderstoodOptions};
pub use inner_vlan::InnerVlanPolicy;
pub use payload::{PayloadHeaders, SocketOuter};
pub use receive::Checksums;
pub use translate::{TranslateConfig, Translator};

pub use crate::packet::{Encapsulation, TunnelKind};

use crate::wire::{ethernet, geneve as geneve_header, ipv4, ipv6, nvgre, udp, vlan, vxlan};
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
/// Headroom that fits any outer headers this crate writes without Geneve options: VXLAN
/// or Geneve over IPv6 with a VLAN tag, 74 bytes.
pub const HEADROOM: usize = VXLAN6_OVERHEAD + vlan::HEADER_LEN;
/// Headroom that fits any outer headers this crate writes, Geneve's largest options area
/// (252 bytes) included: 326 bytes.
pub const MAX_HEADROOM: usize = HEADROOM + geneve_header::MAX_OPTIONS_LEN;
/// Bytes of a VXLAN header, GRE's with its key, or Geneve's without options (8 each):
/// where a socket payload starts before the inner frame.
pub const TUNNEL_HEADER_LEN: usize = vxlan::HEADER_LEN;
const _: () = assert!(nvgre::HEADER_LEN == TUNNEL_HEADER_LEN);

/// Why a decoded frame yielded no tunnel: its decode error, an outer fragment of IPv4
/// or IPv6 (`fragment`, at `l3_offset`), or simply no VXLAN, NVGRE or Geneve inside. Takes
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
