//! # tunnelwire
//!
//! A zero-copy, `no_std` codec for overlay tunnels: Ethernet II, 802.1Q/802.1ad VLAN tags,
//! IPv4, IPv6, UDP, VXLAN ([RFC 7348]), NVGRE ([RFC 7637]) and Geneve ([RFC 8926]), and an
//! in-place tunnel engine on top of it ([`tunnel`]: encapsulation, decapsulation,
//! translation among the three, flow hash, RFC 6040 ECN), and [`offload`]: segmentation of
//! super-frames and coalescing of TCP segments and UDP datagrams (TSO, USO and GRO in
//! software, with the `virtio_net_hdr` of TAP devices).
//!
//! Data flows one way: bytes -> [`wire`] views (validated once) -> [`packet`] (which layers
//! are where) -> [`tunnel`] (rewrite headers in place) -> `switch` (decide) -> `linux`
//! (move bytes).
//!
//! ## The parsing contract
//!
//! - Every header is a *view* over a byte buffer ([`wire`]). `new_checked` validates the
//!   buffer's length **and** the header's own length fields once; after it succeeds no
//!   accessor can panic, as long as no setter changes a length field (IPv4 IHL or total
//!   length, IPv6 payload length, UDP length: those setters say so, and `check_len`
//!   re-validates). Nothing is copied and nothing is allocated. Decoding
//!   ([`packet`]) and the tunnel engine ([`tunnel`]) never panic on any input.
//! - Every header has a lossless `Repr`: `parse` then `emit` gives back the same bytes,
//!   checksums as received and reserved bits included.
//! - [`packet`] composes the headers' parsers into a whole-frame decode: outer stack,
//!   tunnel, inner stack.
//! - No input panics. Errors are one small `Copy` type, [`Error`], naming the layer, the
//!   field and the byte offset.
//! - Checksums are never verified or filled behind your back: views offer
//!   `verify_checksum` and `fill_checksum`, and you decide when.
//!
//! ## Example: build a VXLAN frame with the `Repr`s, then decode it
//!
//! ```
//! use core::net::Ipv4Addr;
//! use tunnelwire::packet::{Decoder, Tunnel};
//! use tunnelwire::wire::{ethernet, ipv4, udp, vxlan};
//! use tunnelwire::wire::{EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr};
//! use tunnelwire::wire::{UdpRepr, Vni, VxlanRepr};
//!
//! let inner = [0u8; 60]; // an inner Ethernet frame
//! let outer_len = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN + vxlan::HEADER_LEN;
//! let mut frame = [0u8; 50 + 60];
//! let (eth, rest) = frame.split_at_mut(ethernet::HEADER_LEN);
//! EthernetRepr {
//!     dst_addr: MacAddr([0x02, 0, 0, 0, 0, 2]),
//!     src_addr: MacAddr([0x02, 0, 0, 0, 0, 1]),
//!     ethertype: EtherType::IPV4,
//! }
//! .emit(eth)?;
//! let udp_len = (udp::HEADER_LEN + vxlan::HEADER_LEN + inner.len()) as u16;
//! let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! Ipv4Repr::new(src, dst, IpProtocol::UDP, udp_len).emit(rest)?;
//! Ipv4Packet::new_unchecked(&mut rest[..]).fill_checksum();
//! let rest = &mut rest[ipv4::HEADER_LEN..];
//! UdpRepr::new(49152, vxlan::PORT, udp_len - 8).emit(rest)?;
//! VxlanRepr::new(Vni::new(42)?).emit(&mut rest[udp::HEADER_LEN..])?;
//! frame[outer_len..].copy_from_slice(&inner);
//!
//! let decoded = Decoder::new().decode(&frame)?;
//! let outer = decoded.outer.ipv4.expect("outer IPv4");
//! assert_eq!(outer.src_addr(), src);
//! assert!(outer.verify_checksum());
//! assert!(matches!(decoded.tunnel, Some(Tunnel::Vxlan(h)) if h.vni() == Vni::new(42)?));
//! assert_eq!(decoded.inner.offset, outer_len);
//! # Ok::<(), tunnelwire::Error>(())
//! ```
//!
//! ## Example: count traffic per segment, robustly
//!
//! Monitoring code should not lose a frame because one inner header is bad:
//! [`packet::Decoder::decode_partial`] keeps every layer decoded before the first error,
//! and the error's [`ErrorKind::name`] is a value-free reason to count by.
//!
//! ```
//! use std::collections::BTreeMap;
//! use tunnelwire::packet::Decoder;
//!
//! #[derive(Default)]
//! struct Counters {
//!     per_segment: BTreeMap<u32, u64>,
//!     fragmented: u64,
//!     errors: BTreeMap<&'static str, u64>,
//! }
//!
//! fn count(counters: &mut Counters, frame: &[u8]) {
//!     let (decoded, error) = Decoder::new().decode_partial(frame);
//!     if let Some(tunnel) = decoded.tunnel {
//!         *counters.per_segment.entry(tunnel.segment()).or_default() += 1;
//!     } else if decoded.outer_fragment() {
//!         counters.fragmented += 1; // the tunnel header is in a later fragment
//!     }
//!     if let Some(error) = error {
//!         *counters.errors.entry(error.kind.name()).or_default() += 1;
//!     }
//! }
//!
//! let mut counters = Counters::default();
//! count(&mut counters, &[0u8; 10]);
//! assert_eq!(counters.errors["truncated"], 1);
//! ```
//!
//! ## Features
//!
//! - `std` (default): implements `std`-dependent conveniences of the dependencies.
//!   Without it the crate is `#![no_std]` and needs no allocator.
//! - `bytes`: `bytes::BytesMut` and `Bytes` support in the tunnel engine.
//! - `nom`: the headers' parsers as nom parsers (`tunnelwire::nom`), to compose with.
//! - `switch` (default): `tunnelwire::switch`, the reference VTEP's sans-IO core; needs `alloc`,
//!   not `std`.
//! - `pcap` (default): `tunnelwire::pcap`, a streaming reader of pcap and pcapng captures and a
//!   pcap writer; needs `std`.
//! - `linux`: `tunnelwire::linux`, the switch's Linux driver (TAP devices, UDP and raw GRE sockets,
//!   the vtep configuration and control socket); the only code with `unsafe`.
//! - `evpn` (implies `linux`): BGP EVPN for vtep through a local gobgpd, over its gRPC API
//!   (`tunnelwire::linux::evpn`; tonic, prost and a current-thread tokio runtime).
//!
//! [RFC 7348]: https://www.rfc-editor.org/rfc/rfc7348
//! [RFC 7637]: https://www.rfc-editor.org/rfc/rfc7637
//! [RFC 8926]: https://www.rfc-editor.org/rfc/rfc8926
#![cfg_attr(not(test), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Only `linux` (the driver's system calls) may hold unsafe code; everything else forbids it.
#![cfg_attr(not(feature = "linux"), forbid(unsafe_code))]
#![cfg_attr(feature = "linux", deny(unsafe_code))]
#![deny(missing_docs)]
// The library reachable from untrusted bytes never unwraps, expects or panics.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(feature = "switch")]
extern crate alloc;
#[cfg(any(feature = "linux", feature = "pcap"))]
extern crate std;

pub mod checksum;
pub mod error;
#[cfg(feature = "nom")]
#[cfg_attr(docsrs, doc(cfg(feature = "nom")))]
pub mod nom;
pub mod offload;
pub mod packet;
pub mod tunnel;
pub mod wire;

#[cfg(test)]
mod test_rng;

#[cfg(feature = "linux")]
#[cfg_attr(docsrs, doc(cfg(feature = "linux")))]
pub mod linux;
#[cfg(feature = "pcap")]
#[cfg_attr(docsrs, doc(cfg(feature = "pcap")))]
pub mod pcap;
#[cfg(feature = "switch")]
#[cfg_attr(docsrs, doc(cfg(feature = "switch")))]
pub mod switch;

pub use error::{AddressField, Error, ErrorKind, Layer, Result, Truncation};

/// README.md's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
