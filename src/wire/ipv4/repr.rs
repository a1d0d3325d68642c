//! The IPv4 header owned and lossless ([`Ipv4Repr`]), its options stored inline.

use core::fmt;
use core::net::Ipv4Addr;

use super::{HEADER_LEN, IpProtocol, Ipv4Packet, MAX_OPTIONS_LEN};
use crate::error::{Error, ErrorKind, Layer, Result};
use crate::wire::require_room;

/// IPv4 options, stored inline (at most 40 bytes) so a [`Ipv4Repr`] stays `Copy` and
/// allocation-free.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Options {
    bytes: [u8; MAX_OPTIONS_LEN],
    len: u8,
}

impl Ipv4Options {
    /// Options from raw bytes.
    ///
    /// # Errors
    /// `OutOfRange` above 40 bytes or for a length that is not a multiple of 4 (IHL
    /// counts 32-bit words).
    #[inline]
    pub fn new(options: &[u8]) -> Result<Self> {
        if options.len() > MAX_OPTIONS_LEN || options.len() % 4 != 0 {
            return Err(Error::new(
                Layer::Ipv4,
                ErrorKind::OutOfRange {
                    field: "options length",
                    value: options.len() as u32,
                },
            ));
        }
        let mut bytes = [0; MAX_OPTIONS_LEN];
        bytes[..options.len()].copy_from_slice(options);
        Ok(Ipv4Options {
            bytes,
            len: options.len() as u8,
        })
    }

    /// The option bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Default for Ipv4Options {
    /// No options.
    #[inline]
    fn default() -> Self {
        Ipv4Options {
            bytes: [0; MAX_OPTIONS_LEN],
            len: 0,
        }
    }
}

impl fmt::Debug for Ipv4Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// An IPv4 header's fields, owned and lossless: `parse` then `emit` gives back the same
/// header bytes, checksum, reserved flag and options included.
///
/// ```
/// use tunnelwire::wire::{Ipv4Packet, Ipv4Repr};
///
/// // IHL 6 (one option word), MF set, a wrong checksum: all kept as received.
/// let bytes = [
///     0x46, 0, 0, 24, 0xab, 0xcd, 0x20, 0, 1, 6, 0xbe, 0xef, 192, 168, 1, 1, 192, 168, 1, 2,
///     1, 1, 1, 0,
/// ];
/// let repr = Ipv4Repr::parse(&Ipv4Packet::new_checked(&bytes[..])?);
/// assert!(repr.more_frags && repr.options.as_slice() == [1, 1, 1, 0]);
/// let mut again = [0u8; 24];
/// repr.emit(&mut again)?;
/// assert_eq!(again, bytes);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Differentiated services code point (6 bits).
    pub dscp: u8,
    /// Explicit congestion notification (2 bits).
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// The reserved flag bit.
    pub reserved_flag: bool,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments.
    pub more_frags: bool,
    /// Fragment offset in 8-byte units (13 bits).
    pub frag_offset: u16,
    /// Time to live.
    pub ttl: u8,
    /// Payload protocol.
    pub protocol: IpProtocol,
    /// Header checksum, written as is by `emit`.
    pub checksum: u16,
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Options.
    pub options: Ipv4Options,
    /// Payload length: total length minus header length.
    pub payload_len: u16,
}

impl Ipv4Repr {
    /// Default time to live for new headers (RFC 1700's recommendation, Linux's default).
    pub const DEFAULT_TTL: u8 = 64;

    /// A new header: no options, no fragmentation, DF clear, TTL 64, DSCP/ECN 0 and
    /// checksum 0 (fill it with [`Ipv4Packet::fill_checksum`] after `emit`).
    #[inline]
    pub fn new(
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        protocol: IpProtocol,
        payload_len: u16,
    ) -> Self {
        Ipv4Repr {
            dscp: 0,
            ecn: 0,
            ident: 0,
            reserved_flag: false,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            ttl: Self::DEFAULT_TTL,
            protocol,
            checksum: 0,
            src_addr,
            dst_addr,
            options: Ipv4Options::default(),
            payload_len,
        }
    }

    /// Reads a checked packet's header.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Self {
        Ipv4Repr {
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            reserved_flag: packet.reserved_flag(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            ttl: packet.ttl(),
            protocol: packet.protocol(),
            checksum: packet.checksum(),
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            // A checked header's options are at most 40 bytes in whole words.
            options: Ipv4Options::new(packet.options()).unwrap_or_default(),
            // Never saturates for a checked packet (total length >= header length).
            payload_len: packet
                .total_len()
                .saturating_sub(packet.header_len() as u16),
        }
    }

    /// Header length in bytes, options included.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + usize::from(self.options.len)
    }

    /// Writes the header (not the payload) into the start of `buffer`.
    ///
    /// # Errors
    /// `BufferTooSmall` when `buffer` is shorter than the header; `OutOfRange` when the
    /// payload length makes the total length exceed 65535.
    #[inline]
    #[allow(clippy::arithmetic_side_effects)] // at most 60 + 65535: no overflow in usize
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let header_len = self.buffer_len();
        require_room(Layer::Ipv4, buffer, header_len)?;
        let total_len =
            u16::try_from(header_len + usize::from(self.payload_len)).map_err(|_| {
                Error::new(
                    Layer::Ipv4,
                    ErrorKind::OutOfRange {
                        field: "total length",
                        value: (header_len + usize::from(self.payload_len)) as u32,
                    },
                )
            })?;
        let mut packet = Ipv4Packet::new_unchecked(buffer);
        packet.set_version_ihl((header_len / 4) as u8);
        packet.set_dscp_ecn(self.dscp, self.ecn);
        packet.set_total_len(total_len);
        packet.set_ident(self.ident);
        packet.set_flags_frag_offset(
            self.reserved_flag,
            self.dont_frag,
            self.more_frags,
            self.frag_offset,
        );
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_checksum(self.checksum);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet
            .options_mut()
            .copy_from_slice(self.options.as_slice());
        Ok(())
    }
}

impl fmt::Display for Ipv4Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IPv4 {} > {} proto {} ttl {} len {}",
            self.src_addr, self.dst_addr, self.protocol, self.ttl, self.payload_len
        )?;
        if self.more_frags || self.frag_offset != 0 {
            write!(
                f,
                " frag {}{}",
                self.frag_offset,
                if self.more_frags { "+" } else { "" }
            )?;
        }
        Ok(())
    }
}
