//! One module per header. Each has a view (`Name<T: AsRef<[u8]>>`), a lossless `Repr`,
//! and a parser `parse(input) -> Result<(rest, view)>` whose `rest` is the header's
//! payload, ready for the next parser (with the `nom` feature, `tunnelwire::nom` offers
//! them as nom parsers).
//!
//! ## Example: build two headers with their `Repr`s, then parse them back
//!
//! ```
//! use tunnelwire::wire::{UdpRepr, Vni, VxlanRepr, udp, vxlan};
//!
//! // UDP to the VXLAN port, carrying a VXLAN header and a 4-byte inner frame.
//! let mut bytes = [0u8; udp::HEADER_LEN + vxlan::HEADER_LEN + 4];
//! let udp_repr = UdpRepr::new(49152, vxlan::PORT, (vxlan::HEADER_LEN + 4) as u16);
//! udp_repr.emit(&mut bytes)?;
//! let vxlan_repr = VxlanRepr::new(Vni::new(42)?);
//! vxlan_repr.emit(&mut bytes[udp::HEADER_LEN..])?;
//!
//! // Each parser validates its header and hands the payload on to the next one.
//! let (rest, datagram) = udp::parse(&bytes)?;
//! assert_eq!(datagram.dst_port(), vxlan::PORT);
//! assert_eq!(UdpRepr::parse(&datagram), udp_repr);
//! let (inner, header) = vxlan::parse(rest)?;
//! assert_eq!(header.vni(), Vni::new(42)?);
//! assert_eq!(VxlanRepr::parse(&header), vxlan_repr);
//! assert_eq!(inner, [0; 4]);
//! # Ok::<(), tunnelwire::Error>(())
//! ```

// Reached by untrusted bytes: no arithmetic that could overflow but where an `allow`
// says why it cannot. Indexing is the views' design: accessors index the field ranges
// `check_len` proved present (or that a `new_unchecked` caller vouches for).
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod ethernet;
pub mod geneve;
mod ip_protocol;
pub mod ipv4;
pub mod ipv6;
pub mod nvgre;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use ethernet::{EtherType, EthernetFrame, EthernetRepr, MacAddr};
pub use geneve::{GeneveHeader, GeneveOption, GeneveOptionIter, GeneveOptions, GeneveRepr};
pub use ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use nvgre::{NvgreHeader, NvgreRepr, Vsid};
pub use udp::{UdpDatagram, UdpRepr};
pub use vlan::{VlanId, VlanRepr, VlanTag};
pub use vxlan::{Vni, VxlanHeader, VxlanRepr};

use crate::error::{Error, Layer, Truncation};

/// Fails with a truncation error unless `buffer` holds at least `needed` bytes, the
/// length of the header's fixed part.
#[inline]
fn require(layer: Layer, buffer: &[u8], needed: usize) -> Result<(), Error> {
    require_by(layer, buffer, needed, Truncation::Buffer)
}

/// Fails with a truncation error unless `buffer` holds at least `needed` bytes, the
/// length a header field announces.
#[inline]
fn require_announced(layer: Layer, buffer: &[u8], needed: usize) -> Result<(), Error> {
    require_by(layer, buffer, needed, Truncation::LengthField)
}

#[inline]
fn require_by(layer: Layer, buffer: &[u8], needed: usize, by: Truncation) -> Result<(), Error> {
    if buffer.len() < needed {
        Err(Error::truncated(layer, needed, buffer.len(), by))
    } else {
        Ok(())
    }
}

/// Reads a big-endian u16 from a two-byte field; callers have checked the length.
#[inline]
fn get_u16(field: &[u8]) -> u16 {
    u16::from_be_bytes([field[0], field[1]])
}

/// Writes a big-endian u16 into a two-byte field.
#[inline]
fn set_u16(field: &mut [u8], value: u16) {
    field.copy_from_slice(&value.to_be_bytes());
}

/// Reads a big-endian 24-bit value from a three-byte field.
#[inline]
fn get_u24(field: &[u8]) -> u32 {
    u32::from_be_bytes([0, field[0], field[1], field[2]])
}

/// Reads a big-endian u32 from a four-byte field; callers have checked the length.
#[inline]
fn get_u32(field: &[u8]) -> u32 {
    u32::from_be_bytes([field[0], field[1], field[2], field[3]])
}

/// Writes the low 24 bits of `value` into a three-byte field.
#[inline]
fn set_u24(field: &mut [u8], value: u32) {
    field.copy_from_slice(&value.to_be_bytes()[1..]);
}

/// Defines a checked 24-bit segment identifier (VXLAN's VNI, NVGRE's VSID).
macro_rules! segment_id {
    ($(#[$doc:meta])* $name:ident, $layer:expr, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(u32);

        impl $name {
            #[doc = concat!("Largest ", $field, ": 2^24 - 1.")]
            pub const MAX: u32 = 0x00ff_ffff;

            #[doc = concat!("A ", $field, " from a 24-bit value.")]
            ///
            /// # Errors
            /// `OutOfRange` above 16777215.
            #[inline]
            pub const fn new(value: u32) -> crate::Result<Self> {
                if value > Self::MAX {
                    Err(crate::Error::new(
                        $layer,
                        // The field's name says the range, so the error tells the maximum.
                        crate::ErrorKind::OutOfRange {
                            field: concat!($field, " (24 bits, at most 16777215)"),
                            value,
                        },
                    ))
                } else {
                    Ok($name(value))
                }
            }

            /// The 24-bit value.
            #[inline]
            pub const fn get(self) -> u32 {
                self.0
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl TryFrom<u32> for $name {
            type Error = crate::Error;

            #[inline]
            fn try_from(value: u32) -> crate::Result<Self> {
                Self::new(value)
            }
        }

        impl From<$name> for u32 {
            #[inline]
            fn from(value: $name) -> u32 {
                value.0
            }
        }

        impl core::str::FromStr for $name {
            type Err = crate::Error;

            #[doc = concat!("A ", $field, " from decimal text, or hexadecimal after `0x`.")]
            fn from_str(text: &str) -> crate::Result<Self> {
                let parsed = match text.strip_prefix("0x") {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => text.parse(),
                };
                // Text that is no number at all is out of range too: name the field.
                Self::new(parsed.unwrap_or(u32::MAX))
            }
        }
    };
}
use segment_id;

/// Fails unless an `emit` target holds `needed` bytes.
#[inline]
fn require_room(layer: Layer, buffer: &[u8], needed: usize) -> Result<(), Error> {
    if buffer.len() < needed {
        Err(Error::new(
            layer,
            crate::ErrorKind::BufferTooSmall {
                needed,
                available: buffer.len(),
            },
        ))
    } else {
        Ok(())
    }
}
