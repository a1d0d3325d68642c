//! The tunnel engine: in-place VXLAN and NVGRE encapsulation, decapsulation and
//! translation, with flow-hash entropy and RFC 6040 ECN handling.
//!
//! Encapsulation writes the outer headers into headroom in front of the inner frame;
//! nothing is copied or allocated per packet. Decapsulation returns the inner frame as a
//! range of the buffer. Translation rewrites the outer headers between VXLAN and NVGRE,
//! moving only the outer Ethernet and IPv4 headers.
//!
//! | encapsulation | outer headers | bytes | with an outer VLAN tag |
//! | --- | --- | --- | --- |
//! | VXLAN over IPv4 | Ethernet, IPv4, UDP, VXLAN | 50 | 54 |
//! | NVGRE | Ethernet, IPv4, GRE with key | 42 | 46 |
//!
//! [`HEADROOM`] (54 bytes) in front of every inner frame covers them all.
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

mod config;
mod decap;
pub mod ecn;
mod encap;
pub mod flow;
mod ident;
mod inner_vlan;
mod layout;
mod translate;

pub use config::{Dscp, FlowId, OuterVlan, TunnelConfig};
pub use decap::{Checksums, Decapsulated, Decapsulator};
pub use ecn::{EcnAlarm, EcnMode};
pub use encap::Encapsulator;
pub use flow::{FlowHash, FlowKey, PortRange};
pub use inner_vlan::InnerVlanPolicy;
pub use translate::Translator;

pub use crate::packet::{Encapsulation, TunnelKind};

use crate::wire::{ethernet, ipv4, nvgre, udp, vlan, vxlan};
use crate::{Error, ErrorKind, Layer};

/// Outer headers of VXLAN over IPv4 without a VLAN tag: 50 bytes.
pub const VXLAN_OVERHEAD: usize =
    ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN + vxlan::HEADER_LEN;
/// Outer headers of NVGRE without a VLAN tag: 42 bytes.
pub const NVGRE_OVERHEAD: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + nvgre::HEADER_LEN;
/// Headroom that fits any outer headers this crate writes: VXLAN with a VLAN tag, 54.
pub const HEADROOM: usize = VXLAN_OVERHEAD + vlan::HEADER_LEN;

/// Why a decoded frame yielded no tunnel: its decode error, an outer fragment of IPv4
/// or IPv6 (`fragment`, at `l3_offset`), or simply no VXLAN or NVGRE inside. Takes values, not the frame, so the
/// callers' frames stay in registers; cold, as it is the error path.
#[cold]
fn no_tunnel(error: Option<Error>, fragment: Option<Layer>, l3_offset: usize) -> Error {
    match (error, fragment) {
        (Some(error), _) => error,
        (None, Some(layer)) => Error::new(layer, ErrorKind::Fragment).at(l3_offset),
        (None, None) => Error::new(Layer::Tunnel, ErrorKind::NotTunnel),
    }
}
