//! The one error type of the codec: which layer, what went wrong, at which byte.
//!
//! [`Error`] is small and `Copy`, never allocates, and its `Display` is one line such as
//! `ipv4 at byte 14: IHL 4 is below the minimum of 5`.
//!
//! ## Example: tell errors apart by layer and kind, and print them
//!
//! ```
//! use tunnelwire::packet::Decoder;
//! use tunnelwire::{ErrorKind, Layer};
//!
//! // Ethernet to IPv4, whose first byte says version 4 with a 4-word (16-byte) header.
//! let mut frame = [0u8; 14 + 20];
//! frame[12..14].copy_from_slice(&[0x08, 0x00]);
//! frame[14] = 0x44;
//!
//! let error = Decoder::new().decode(&frame).unwrap_err();
//! let verdict = match (error.layer, error.kind) {
//!     (Layer::Ipv4, ErrorKind::HeaderLength(ihl)) => format!("IPv4 header of {ihl} words"),
//!     (layer, ErrorKind::Truncated { .. }) => format!("{layer} cut short"),
//!     _ => format!("malformed: {error}"),
//! };
//! assert_eq!(verdict, "IPv4 header of 4 words");
//! assert_eq!(error.offset, 14);
//! assert_eq!(error.kind.name(), "header_length"); // value-free: a reason to count by
//! assert_eq!(error.to_string(), "ipv4 at byte 14: IHL 4 is below the minimum of 5");
//! ```

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::fmt;

/// The header an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// Ethernet II header.
    Ethernet,
    /// 802.1Q or 802.1ad tag.
    Vlan,
    /// IPv4 header.
    Ipv4,
    /// IPv6 fixed header.
    Ipv6,
    /// UDP header.
    Udp,
    /// VXLAN header (RFC 7348).
    Vxlan,
    /// GRE header carrying NVGRE (RFC 7637).
    Nvgre,
    /// Geneve header and its options (RFC 8926).
    Geneve,
    /// Whole-frame composition: an error raised by a combinator (with the `nom`
    /// feature) rather than by a header.
    Frame,
    /// The tunnel engine: encapsulation, decapsulation or translation as a whole.
    Tunnel,
    /// The `virtio_net_hdr` in front of a frame read from or written to a TAP device with
    /// `IFF_VNET_HDR` ([`offload`](crate::offload)).
    VirtioNet,
    /// TCP header, read by the segmentation and coalescing offloads.
    Tcp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Ethernet => "ethernet",
            Layer::Vlan => "vlan",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Udp => "udp",
            Layer::Vxlan => "vxlan",
            Layer::Nvgre => "nvgre",
            Layer::Geneve => "geneve",
            Layer::Frame => "frame",
            Layer::Tunnel => "tunnel",
            Layer::VirtioNet => "virtio_net_hdr",
            Layer::Tcp => "tcp",
        })
    }
}

impl Layer {
    /// Bytes of the layer's fixed header, options and data aside (Ethernet 14, a VLAN
    /// tag 4, IPv4 20, IPv6 40, UDP 8, VXLAN and NVGRE 8, Geneve 8, TCP 20, the
    /// `virtio_net_hdr` 10); `None` for what is no header (the frame, the tunnel engine).
    /// A reader of a capture cut by its snap length uses it to tell an error of the
    /// bytes the capture kept from one the missing bytes made.
    ///
    /// ```
    /// use tunnelwire::Layer;
    ///
    /// assert_eq!(Layer::Udp.header_len(), Some(8));
    /// assert_eq!(Layer::Tunnel.header_len(), None);
    /// ```
    pub const fn header_len(self) -> Option<usize> {
        use crate::wire::{ethernet, geneve, ipv4, ipv6, nvgre, udp, vlan, vxlan};
        Some(match self {
            Layer::Ethernet => ethernet::HEADER_LEN,
            Layer::Vlan => vlan::HEADER_LEN,
            Layer::Ipv4 => ipv4::HEADER_LEN,
            Layer::Ipv6 => ipv6::HEADER_LEN,
            Layer::Udp => udp::HEADER_LEN,
            Layer::Vxlan => vxlan::HEADER_LEN,
            Layer::Nvgre => nvgre::HEADER_LEN,
            Layer::Geneve => geneve::HEADER_LEN,
            Layer::Tcp => crate::offload::frame::tcp::HEADER_LEN,
            Layer::VirtioNet => crate::offload::HEADER_LEN,
            Layer::Frame | Layer::Tunnel => return None,
        })
    }
}

/// What made a header need more bytes than the buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Truncation {
    /// The buffer ends inside the header's fixed part.
    Buffer,
    /// A length field of the header (IPv4 IHL or total length, IPv6 payload length,
    /// UDP length) announces more bytes than the buffer holds.
    LengthField,
}

impl fmt::Display for Truncation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Truncation::Buffer => "the header",
            Truncation::LengthField => "its length field",
        })
    }
}

/// Which address of a tunnel an [`ErrorKind::BadAddress`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressField {
    /// The source address a tunnel is configured to send from.
    Source,
    /// The remote address a tunnel is configured to send to.
    Destination,
    /// The outer source address of a received tunnel packet: the sending VTEP.
    OuterSource,
}

impl fmt::Display for AddressField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressField::Source => "source address",
            AddressField::Destination => "destination address",
            AddressField::OuterSource => "outer source address",
        })
    }
}

/// What went wrong. Each variant names the field and carries the offending value;
/// [`name`](Self::name) gives a value-free reason to count by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The buffer ends before the header (or the length a header field announces) does.
    #[error("truncated: {by} needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the header or its length field requires.
        needed: usize,
        /// Bytes present in the buffer.
        available: usize,
        /// Whether the header itself or a length field asked for the bytes.
        by: Truncation,
    },
    /// The IP version field does not match the header (4 for IPv4, 6 for IPv6).
    #[error("version {found}, expected {expected}")]
    Version {
        /// The version field.
        found: u8,
        /// The version the header must have.
        expected: u8,
    },
    /// IPv4 IHL below 5 words.
    #[error("IHL {0} is below the minimum of 5")]
    HeaderLength(u8),
    /// IPv4 total length smaller than the header it must contain.
    #[error("total length {total_len} is shorter than the {header_len}-byte header")]
    TotalLength {
        /// The total length field.
        total_len: u16,
        /// The header length from IHL, in bytes.
        header_len: u8,
    },
    /// UDP length field below the 8-byte header.
    #[error("length {0} is shorter than the 8-byte header")]
    UdpLength(u16),
    /// A flag the protocol requires is clear (VXLAN I flag, GRE K bit).
    #[error("{0} flag is clear but required")]
    FlagClear(&'static str),
    /// A flag the protocol forbids is set (GRE C, S, R or s bits).
    #[error("{0} flag is set but must be clear")]
    FlagSet(&'static str),
    /// Reserved bits are non-zero under a policy that rejects them.
    #[error("reserved {field} is {value:#x}, must be zero")]
    Reserved {
        /// The reserved field's name.
        field: &'static str,
        /// Its value.
        value: u32,
    },
    /// A length field announces more bytes than the area holding it: a Geneve Opt Len
    /// past the packet, or a Geneve option's Length past the options area.
    #[error("{field} needs {needed} bytes, {available} available")]
    LengthOverrun {
        /// The length field's name.
        field: &'static str,
        /// Bytes the field announces, from its header's (or option's) first byte (at most
        /// 260: a Geneve header with all its options).
        needed: u16,
        /// Bytes there are (fewer than `needed`).
        available: u16,
    },
    /// GRE version field is not 0.
    #[error("GRE version {0}, expected 0")]
    GreVersion(u8),
    /// GRE protocol type is not Transparent Ethernet Bridging.
    #[error("protocol type {0:#06x}, expected 0x6558")]
    GreProtocol(u16),
    /// A value does not fit its field (a VNI over 24 bits, a VLAN ID over 12 bits...).
    #[error("{field} {value} is out of range")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// The rejected value.
        value: u32,
    },
    /// A buffer handed to `emit` is smaller than the header needs.
    #[error("output buffer of {available} bytes is smaller than the {needed} needed")]
    BufferTooSmall {
        /// Bytes the emitted header needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A range handed to the tunnel engine ends past its buffer.
    #[error("range ends at byte {end}, past the {len}-byte buffer")]
    RangeOutsideBuffer {
        /// End of the range.
        end: usize,
        /// Length of the buffer.
        len: usize,
    },
    /// Too little room in front of the inner frame for the outer headers.
    #[error("headroom of {available} bytes is smaller than the {needed} the outer headers need")]
    Headroom {
        /// Bytes the outer headers need.
        needed: usize,
        /// Bytes in front of the inner frame.
        available: usize,
    },
    /// The encapsulated packet would exceed the underlay MTU (VTEPs must not fragment).
    #[error("outer IP packet of {len} bytes exceeds the underlay MTU of {mtu}")]
    ExceedsMtu {
        /// Length the outer IP packet would have: the IPv4 total length, or the IPv6
        /// payload length plus the 40-byte fixed header.
        len: usize,
        /// The configured underlay MTU.
        mtu: u16,
    },
    /// An IPv4 or IPv6 fragment: tunnels are found only in whole packets (reassemble
    /// first).
    #[error("packet is a fragment; reassemble it first")]
    Fragment,
    /// The frame carries no VXLAN, NVGRE or Geneve tunnel.
    #[error("not a VXLAN, NVGRE or Geneve frame")]
    NotTunnel,
    /// The inner frame carries an 802.1Q tag and the policy drops such frames
    /// (RFC 7348 section 6.1, RFC 7637 section 3.2).
    #[error("inner frame carries a VLAN tag")]
    InnerVlanTag,
    /// RFC 6040: the outer header says CE but the inner packet is not ECN-capable.
    #[error("outer ECN is CE but the inner packet is Not-ECT (RFC 6040 drop)")]
    EcnDrop,
    /// An address that cannot be a tunnel endpoint: for IPv4 zero, loopback, multicast
    /// or broadcast (RFC 1122 section 3.2.1.3); for IPv6 unspecified, loopback,
    /// multicast or IPv4-mapped (RFC 4291 section 2.5). Loopback is allowed by a setting
    /// ([`SourcePolicy`](crate::tunnel::SourcePolicy)).
    #[error(
        "{field} {address} cannot be a tunnel endpoint (unspecified, loopback, multicast, broadcast or IPv4-mapped)"
    )]
    BadAddress {
        /// Which address.
        field: AddressField,
        /// The address.
        address: core::net::IpAddr,
    },
    /// The two ends of a tunnel are of different address families.
    #[error("source and destination addresses are of different families (IPv4 and IPv6)")]
    MixedFamilies,
    /// A VSID RFC 7637 section 3.2 reserves (0-4095 for future use, 16777215 for
    /// vendor-specific NVE-to-NVE communication): not a tenant's virtual subnet.
    #[error("VSID {0} is reserved (RFC 7637 section 3.2: 0-4095 and 16777215)")]
    ReservedVsid(u32),
    /// A UDP datagram over IPv6 with checksum zero, refused by default (RFC 6936
    /// section 5: allowed for tunnels only by configuration, as Linux's udp6zerocsumrx).
    #[error("zero UDP checksum over IPv6 (RFC 6936: refused unless configured)")]
    ZeroChecksum,
    /// A VXLAN header with the P bit (0x04) of VXLAN-GPE announcing a payload other than
    /// Ethernet.
    #[error("VXLAN-GPE next protocol {0} is not Ethernet (3)")]
    NotEthernet(u8),
    /// A Geneve option marked critical that the receiver has not declared understood:
    /// RFC 8926 section 3.5 says the packet MUST be dropped.
    #[error("critical option class {class:#06x} type {option_type:#04x} is not understood")]
    CriticalOption {
        /// The option's class.
        class: u16,
        /// The option's type (its critical bit set).
        option_type: u8,
    },
    /// A setting or combination of settings this crate does not offer.
    #[error("{0} is not supported")]
    Unsupported(&'static str),
    /// A frame this crate decodes but the tunnel engine does not handle.
    #[error("{0} is not handled by the tunnel engine")]
    UnsupportedFrame(&'static str),
    /// A well-formed tunnel frame that carries no tenant traffic (VXLAN-GPE OAM, a
    /// VXLAN-GPE version other than 0).
    #[error("{0}: not a tenant's frame")]
    NotTenantFrame(&'static str),
    /// A checksum (UDP, or the IPv4 header's) does not verify.
    #[error("checksum {0:#06x} does not verify")]
    BadChecksum(u16),
    /// A field holds a value the protocol does not define or allows not here (an unknown
    /// `gso_type`, a `gso_size` of 0 in a GSO frame, a TCP data offset below 5 words).
    #[error("{field} {value} is invalid")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// Its value.
        value: u32,
    },
    /// A position a field announces lies past the end of the frame (the checksum a
    /// `virtio_net_hdr`'s `csum_start` and `csum_offset` point at).
    #[error("{field} ends at byte {end}, past the end of the frame")]
    PastEnd {
        /// The field's name.
        field: &'static str,
        /// Where what the field announces ends (the frame's length is the caller's: an
        /// [`Error`] stays within 40 bytes).
        end: u32,
    },
    /// A well-formed frame the segmentation offload does not take apart (UDP
    /// fragmentation offload, an IPv6 extension header, a transport other than TCP or UDP).
    #[error("{0} cannot be segmented")]
    NotSegmentable(&'static str),
    /// A combinator failed while composing parsers (with the `nom` feature: nom's
    /// number for its error kind, `nom::error::error_to_u32`).
    #[error("combinator failed (nom error kind {0})")]
    Combinator(u32),
}

impl ErrorKind {
    /// The reason without its values, to count errors by (`"truncated"`,
    /// `"bad_checksum"`...): one bucket per kind of problem, not per frame.
    pub const fn name(&self) -> &'static str {
        match self {
            ErrorKind::Truncated { .. } => "truncated",
            ErrorKind::Version { .. } => "version",
            ErrorKind::HeaderLength(_) => "header_length",
            ErrorKind::TotalLength { .. } => "total_length",
            ErrorKind::UdpLength(_) => "udp_length",
            ErrorKind::FlagClear(_) => "flag_clear",
            ErrorKind::FlagSet(_) => "flag_set",
            ErrorKind::Reserved { .. } => "reserved",
            ErrorKind::LengthOverrun { .. } => "length_overrun",
            ErrorKind::GreVersion(_) => "gre_version",
            ErrorKind::GreProtocol(_) => "gre_protocol",
            ErrorKind::OutOfRange { .. } => "out_of_range",
            ErrorKind::BufferTooSmall { .. } => "buffer_too_small",
            ErrorKind::RangeOutsideBuffer { .. } => "range_outside_buffer",
            ErrorKind::Headroom { .. } => "headroom",
            ErrorKind::ExceedsMtu { .. } => "exceeds_mtu",
            ErrorKind::Fragment => "fragment",
            ErrorKind::NotTunnel => "not_tunnel",
            ErrorKind::InnerVlanTag => "inner_vlan_tag",
            ErrorKind::EcnDrop => "ecn_drop",
            ErrorKind::BadAddress { .. } => "bad_address",
            ErrorKind::MixedFamilies => "mixed_families",
            ErrorKind::ZeroChecksum => "zero_checksum",
            ErrorKind::ReservedVsid(_) => "reserved_vsid",
            ErrorKind::NotEthernet(_) => "not_ethernet",
            ErrorKind::CriticalOption { .. } => "critical_option",
            ErrorKind::Unsupported(_) => "unsupported",
            ErrorKind::UnsupportedFrame(_) => "unsupported_frame",
            ErrorKind::NotTenantFrame(_) => "not_tenant_frame",
            ErrorKind::BadChecksum(_) => "bad_checksum",
            ErrorKind::Invalid { .. } => "invalid",
            ErrorKind::PastEnd { .. } => "past_end",
            ErrorKind::NotSegmentable(_) => "not_segmentable",
            ErrorKind::Combinator(_) => "combinator",
        }
    }

    /// True for a mistake of the caller (a value out of range, a buffer too small, a
    /// setting that cannot be sent) rather than of the bytes: such an error has no byte
    /// offset.
    pub const fn is_usage(&self) -> bool {
        matches!(
            self,
            ErrorKind::OutOfRange { .. }
                | ErrorKind::BufferTooSmall { .. }
                | ErrorKind::RangeOutsideBuffer { .. }
                | ErrorKind::Headroom { .. }
                | ErrorKind::Unsupported(_)
                | ErrorKind::MixedFamilies
        )
    }
}

/// A codec error: the layer, what went wrong, and the byte offset of the header's start
/// (relative to the buffer handed to the parser; whole-frame decoding rebases it to the
/// frame's first byte). Usage errors ([`ErrorKind::is_usage`]) and errors raised by a
/// setting ([`in_setting`](Self::in_setting)) concern no byte: their offset is 0 and
/// `Display` leaves it out ([`has_offset`](Self::has_offset)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
// The layout is fixed, words first and the one-byte fields last, so that the `Result` of
// a per-packet path keeps its `Ok` value in whole words: in Rust's own layout the value
// shared bytes with the error's small fields and was rebuilt from bytes on the way out
// (24 more instructions per encapsulation, measured with benches/instructions.sh).
#[repr(C)]
pub struct Error {
    /// Offset of the header's first byte.
    pub offset: usize,
    /// What went wrong.
    pub kind: ErrorKind,
    /// The header being decoded.
    pub layer: Layer,
    /// The error is about a setting, not about bytes: it has no offset.
    setting: bool,
}

impl Error {
    /// An error at offset 0 of the header being decoded.
    #[inline]
    pub const fn new(layer: Layer, kind: ErrorKind) -> Self {
        Error {
            layer,
            kind,
            offset: 0,
            setting: false,
        }
    }

    /// The same error, raised by a setting rather than by bytes (a reserved VSID or a
    /// martian address in a configuration): it has no byte offset, and `Display`
    /// leaves it out.
    #[must_use]
    #[inline]
    pub const fn in_setting(mut self) -> Self {
        self.setting = true;
        self
    }

    /// True when the error points at a byte of a packet: neither a usage error
    /// ([`ErrorKind::is_usage`]) nor one raised by a setting.
    #[inline]
    pub const fn has_offset(&self) -> bool {
        !(self.setting || self.kind.is_usage())
    }

    /// A truncation error: `needed` bytes wanted, `available` present, asked for `by`
    /// the header or one of its length fields.
    #[inline]
    pub const fn truncated(layer: Layer, needed: usize, available: usize, by: Truncation) -> Self {
        Error::new(
            layer,
            ErrorKind::Truncated {
                needed,
                available,
                by,
            },
        )
    }

    /// The same error, its offset moved forward by `base` bytes (the header's position
    /// inside a larger buffer).
    #[must_use]
    #[inline]
    #[allow(clippy::arithmetic_side_effects)] // an offset plus the header's position in a buffer
    pub const fn at(mut self, base: usize) -> Self {
        self.offset += base;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.has_offset() {
            write!(f, "{}: {}", self.layer, self.kind)
        } else {
            write!(f, "{} at byte {}: {}", self.layer, self.offset, self.kind)
        }
    }
}

impl core::error::Error for Error {}

/// Shorthand for `Result<T, Error>`.
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn display_names_layer_offset_and_field() {
        let e = Error::new(Layer::Ipv4, ErrorKind::HeaderLength(4)).at(14);
        assert_eq!(
            e.to_string(),
            "ipv4 at byte 14: IHL 4 is below the minimum of 5"
        );
    }

    #[test]
    fn usage_errors_claim_no_offset_and_truncations_say_why() {
        let e = Error::new(
            Layer::Tunnel,
            ErrorKind::Headroom {
                needed: 50,
                available: 10,
            },
        );
        assert_eq!(
            e.to_string(),
            "tunnel: headroom of 10 bytes is smaller than the 50 the outer headers need"
        );
        let e = Error::truncated(Layer::Ipv4, 1500, 96, Truncation::LengthField).at(14);
        assert_eq!(
            e.to_string(),
            "ipv4 at byte 14: truncated: its length field needs 1500 bytes, 96 available"
        );
        assert_eq!(e.kind.name(), "truncated");
    }

    #[test]
    fn error_is_small() {
        assert!(core::mem::size_of::<Error>() <= 40);
    }
}
