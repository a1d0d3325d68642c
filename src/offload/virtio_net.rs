//! The `virtio_net_hdr` (virtio 1.0 section 5.1.6, Linux's `struct virtio_net_hdr`): the
//! 10 bytes in front of every frame read from or written to a TAP device opened with
//! `IFF_VNET_HDR`, saying whether the frame is a super-frame to segment (`gso_type`,
//! `gso_size`) and whether its transport checksum is still to be finished (`csum_start`,
//! `csum_offset`).
//!
//! ## Byte order
//!
//! Virtio 1.0 devices are little-endian, and so is this parser: the 16-bit fields are read
//! and written little-endian whatever the host. A TAP device uses the host's order unless
//! told otherwise, so a driver on a big-endian host sets `TUNSETVNETLE` (or, on a
//! little-endian host, needs nothing) before trusting these values.
//!
//! [`VirtioNetHdr::parse`] checks what the header says of itself (a `gso_type` the kernel
//! knows, a non-zero `gso_size` for a GSO frame); [`VirtioNetHdr::check_frame`] checks it
//! against the frame it describes (the checksum field inside the frame).

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::fmt;

use crate::error::{Error, ErrorKind, Layer, Result, Truncation};

/// Field ranges of `struct virtio_net_hdr` (virtio 1.0 section 5.1.6).
mod field {
    use core::ops::Range;
    pub const FLAGS: usize = 0;
    pub const GSO_TYPE: usize = 1;
    pub const HDR_LEN: Range<usize> = 2..4;
    pub const GSO_SIZE: Range<usize> = 4..6;
    pub const CSUM_START: Range<usize> = 6..8;
    pub const CSUM_OFFSET: Range<usize> = 8..10;
}

/// Length of the header (without the `num_buffers` of mergeable receive buffers, which a
/// TAP device does not use unless `TUNSETVNETHDRSZ` asks for 12 bytes).
pub const HEADER_LEN: usize = field::CSUM_OFFSET.end;

/// The `flags` byte: what the device is to do with the transport checksum.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds only
    /// the pseudo-header's sum; the sum from `csum_start` to the end is still to be added.
    pub const NEEDS_CSUM: Flags = Flags(1);
    /// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksums were verified (receive side only).
    pub const DATA_VALID: Flags = Flags(2);

    /// True when every bit of `other` is set.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#04x}", self.0)?;
        if self.contains(Flags::NEEDS_CSUM) {
            f.write_str(" NEEDS_CSUM")?;
        }
        if self.contains(Flags::DATA_VALID) {
            f.write_str(" DATA_VALID")?;
        }
        f.write_str(")")
    }
}

/// The `gso_type` byte: which segmentation the frame asks for, plus the ECN bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GsoType(pub u8);

impl GsoType {
    /// `VIRTIO_NET_HDR_GSO_NONE`: an ordinary frame.
    pub const NONE: GsoType = GsoType(0);
    /// `VIRTIO_NET_HDR_GSO_TCPV4`: TCP segmentation over IPv4.
    pub const TCPV4: GsoType = GsoType(1);
    /// `VIRTIO_NET_HDR_GSO_UDP`: UDP fragmentation (UFO), which makes IP fragments; refused.
    pub const UDP: GsoType = GsoType(3);
    /// `VIRTIO_NET_HDR_GSO_TCPV6`: TCP segmentation over IPv6.
    pub const TCPV6: GsoType = GsoType(4);
    /// `VIRTIO_NET_HDR_GSO_UDP_L4`: UDP segmentation (USO) into whole datagrams, IPv4 or
    /// IPv6.
    pub const UDP_L4: GsoType = GsoType(5);
    /// `VIRTIO_NET_HDR_GSO_ECN`: the TCP super-frame carries CWR, to be kept on the first
    /// segment only.
    pub const ECN: u8 = 0x80;

    /// The segmentation asked for, without the ECN bit.
    #[inline]
    pub const fn kind(self) -> GsoType {
        GsoType(self.0 & !Self::ECN)
    }

    /// True when the ECN bit is set.
    #[inline]
    pub const fn ecn(self) -> bool {
        self.0 & Self::ECN != 0
    }

    /// True for TCP segmentation over either family.
    #[inline]
    pub const fn is_tcp(self) -> bool {
        matches!(self.kind(), GsoType::TCPV4 | GsoType::TCPV6)
    }
}

/// A `virtio_net_hdr`, field by field, as the kernel's `struct virtio_net_hdr`.
///
/// Lossless: [`parse`](Self::parse) then [`emit`](Self::emit) gives back the same bytes,
/// flag bits this crate does not know included.
///
/// ```
/// use tunnelwire::offload::{Flags, GsoType, VirtioNetHdr};
///
/// // A TCP/IPv4 super-frame behind a 14-byte Ethernet header, 1448 bytes a segment.
/// let bytes = [1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0];
/// let hdr = VirtioNetHdr::parse(&bytes)?;
/// assert_eq!(hdr.gso_type, GsoType::TCPV4);
/// assert_eq!(hdr.gso_size, 1448);
/// assert!(hdr.flags.contains(Flags::NEEDS_CSUM));
/// let mut out = [0u8; 10];
/// hdr.emit(&mut out)?;
/// assert_eq!(out, bytes);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VirtioNetHdr {
    /// What to do with the checksum.
    pub flags: Flags,
    /// Which segmentation the frame asks for.
    pub gso_type: GsoType,
    /// Length of the headers (a hint: Linux writes the length of the skb's linear part,
    /// which may be more than the headers).
    pub hdr_len: u16,
    /// Payload bytes per segment (the MSS for TCP).
    pub gso_size: u16,
    /// Where the checksummed range starts, from the frame's first byte.
    pub csum_start: u16,
    /// Where the checksum field is, from `csum_start`.
    pub csum_offset: u16,
}

impl VirtioNetHdr {
    /// The header of an ordinary frame: no segmentation, checksums complete.
    pub const NONE: VirtioNetHdr = VirtioNetHdr {
        flags: Flags(0),
        gso_type: GsoType::NONE,
        hdr_len: 0,
        gso_size: 0,
        csum_start: 0,
        csum_offset: 0,
    };

    /// Reads the header from the first [`HEADER_LEN`] bytes (the frame follows them),
    /// little-endian (see the module docs), and checks what it says of itself.
    ///
    /// # Errors
    /// `Truncated` for fewer than 10 bytes; `Invalid` naming `gso_type` for a type the
    /// kernel does not define (or the ECN bit without TCP); `NotSegmentable` for UDP
    /// fragmentation offload (type 3, which would make IP fragments); `Invalid` naming
    /// `gso_size` for a GSO frame with `gso_size` 0.
    pub fn parse(bytes: &[u8]) -> Result<VirtioNetHdr> {
        let Some(header) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(Error::truncated(
                Layer::VirtioNet,
                HEADER_LEN,
                bytes.len(),
                Truncation::Buffer,
            ));
        };
        let le16 = |range: core::ops::Range<usize>| {
            header
                .get(range)
                .and_then(|b| b.first_chunk::<2>())
                .map_or(0, |b| u16::from_le_bytes(*b))
        };
        let hdr = VirtioNetHdr {
            flags: Flags(header.get(field::FLAGS).copied().unwrap_or(0)),
            gso_type: GsoType(header.get(field::GSO_TYPE).copied().unwrap_or(0)),
            hdr_len: le16(field::HDR_LEN),
            gso_size: le16(field::GSO_SIZE),
            csum_start: le16(field::CSUM_START),
            csum_offset: le16(field::CSUM_OFFSET),
        };
        hdr.check()?;
        Ok(hdr)
    }

    /// Checks what the header says of itself, as the kernel's `virtio_net_hdr_to_skb`
    /// does: a known `gso_type`, the ECN bit only with TCP, a non-zero `gso_size` for a
    /// GSO frame.
    ///
    /// # Errors
    /// As [`parse`](Self::parse), but for truncation.
    pub fn check(&self) -> Result<()> {
        let invalid = |field, value| {
            Err(Error::new(
                Layer::VirtioNet,
                ErrorKind::Invalid { field, value },
            ))
        };
        match self.gso_type.kind() {
            GsoType::NONE if self.gso_type.ecn() => {
                return invalid("gso_type", u32::from(self.gso_type.0));
            }
            GsoType::NONE => return Ok(()),
            GsoType::TCPV4 | GsoType::TCPV6 => {}
            // The kernel refuses USO with the ECN bit: ECN is TCP's.
            GsoType::UDP_L4 if self.gso_type.ecn() => {
                return invalid("gso_type", u32::from(self.gso_type.0));
            }
            GsoType::UDP_L4 => {}
            GsoType::UDP => {
                return Err(Error::new(
                    Layer::VirtioNet,
                    ErrorKind::NotSegmentable("UDP fragmentation offload (gso_type 3)"),
                ));
            }
            other => return invalid("gso_type", u32::from(other.0)),
        }
        if self.gso_size == 0 {
            return invalid("gso_size", 0);
        }
        Ok(())
    }

    /// Checks the header against the `frame` it describes: with `NEEDS_CSUM`, the 2-byte
    /// checksum at `csum_start + csum_offset` lies inside the frame, at an even
    /// `csum_offset`.
    ///
    /// # Errors
    /// `Invalid` naming `csum_offset` when it is odd: the sum runs over 16-bit words from
    /// `csum_start`, and a field across two of them cannot make it verify (every
    /// transport's checksum is at an even offset: 16 for TCP, 6 for UDP); `PastEnd` naming
    /// `csum_start + csum_offset` when the checksum field ends past the frame.
    pub fn check_frame(&self, frame: &[u8]) -> Result<()> {
        if !self.needs_csum() {
            return Ok(());
        }
        if self.csum_offset % 2 != 0 {
            return Err(Error::new(
                Layer::VirtioNet,
                ErrorKind::Invalid {
                    field: "csum_offset",
                    value: u32::from(self.csum_offset),
                },
            ));
        }
        let end = self.checksum_at().saturating_add(2);
        if end > frame.len() {
            return Err(Error::new(
                Layer::VirtioNet,
                ErrorKind::PastEnd {
                    field: "csum_start + csum_offset",
                    end: u32::try_from(end).unwrap_or(u32::MAX),
                },
            ));
        }
        Ok(())
    }

    /// True when `NEEDS_CSUM` is set.
    #[inline]
    pub const fn needs_csum(&self) -> bool {
        self.flags.contains(Flags::NEEDS_CSUM)
    }

    /// Where the checksum field to finish is: `csum_start + csum_offset`.
    #[inline]
    // Cannot overflow: two u16 values added in a usize.
    #[allow(clippy::arithmetic_side_effects)]
    pub fn checksum_at(&self) -> usize {
        usize::from(self.csum_start) + usize::from(self.csum_offset)
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `buffer`, little-endian.
    ///
    /// # Errors
    /// `BufferTooSmall` when `buffer` is shorter than 10 bytes.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let available = buffer.len();
        let Some(out) = buffer.first_chunk_mut::<HEADER_LEN>() else {
            return Err(Error::new(
                Layer::VirtioNet,
                ErrorKind::BufferTooSmall {
                    needed: HEADER_LEN,
                    available,
                },
            ));
        };
        let [h0, h1] = self.hdr_len.to_le_bytes();
        let [g0, g1] = self.gso_size.to_le_bytes();
        let [s0, s1] = self.csum_start.to_le_bytes();
        let [o0, o1] = self.csum_offset.to_le_bytes();
        *out = [
            self.flags.0,
            self.gso_type.0,
            h0,
            h1,
            g0,
            g1,
            s0,
            s1,
            o0,
            o1,
        ];
        Ok(())
    }
}

impl fmt::Display for VirtioNetHdr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "virtio_net_hdr flags {:#04x} gso_type {:#04x} hdr_len {} gso_size {} csum_start {} csum_offset {}",
            self.flags.0,
            self.gso_type.0,
            self.hdr_len,
            self.gso_size,
            self.csum_start,
            self.csum_offset
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deconstruct_little_endian() {
        let hdr = VirtioNetHdr::parse(&[1, 4, 0x4a, 0, 0xa0, 0x05, 54, 0, 16, 0, 0xee]).unwrap();
        assert_eq!(
            hdr,
            VirtioNetHdr {
                flags: Flags::NEEDS_CSUM,
                gso_type: GsoType::TCPV6,
                hdr_len: 74,
                gso_size: 1440,
                csum_start: 54,
                csum_offset: 16,
            }
        );
        assert_eq!(hdr.checksum_at(), 70);
    }

    #[test]
    fn emit_is_lossless_unknown_flags_included() {
        let bytes = [0x83, 0x81, 1, 2, 3, 4, 5, 6, 7, 8];
        let hdr = VirtioNetHdr::parse(&bytes).unwrap();
        assert!(hdr.gso_type.ecn() && hdr.gso_type.is_tcp());
        let mut out = [0u8; 10];
        hdr.emit(&mut out).unwrap();
        assert_eq!(out, bytes);
        let short = hdr.emit(&mut out[..9]).unwrap_err();
        assert_eq!(
            short.kind,
            ErrorKind::BufferTooSmall {
                needed: 10,
                available: 9
            }
        );
    }

    #[test]
    fn refuses_bad_values_naming_the_field() {
        let err = |bytes: [u8; 10]| VirtioNetHdr::parse(&bytes).unwrap_err();
        let e = err([0, 2, 0, 0, 100, 0, 0, 0, 0, 0]);
        assert_eq!(
            (e.layer, e.kind),
            (
                Layer::VirtioNet,
                ErrorKind::Invalid {
                    field: "gso_type",
                    value: 2
                }
            )
        );
        assert_eq!(
            e.to_string(),
            "virtio_net_hdr at byte 0: gso_type 2 is invalid"
        );
        let e = err([0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            e.kind,
            ErrorKind::Invalid {
                field: "gso_size",
                value: 0
            }
        );
        let e = err([0, 3, 0, 0, 100, 0, 0, 0, 0, 0]);
        assert_eq!(e.kind.name(), "not_segmentable");
        for ecn_without_tcp in [0x80, 0x85] {
            let e = err([0, ecn_without_tcp, 0, 0, 100, 0, 0, 0, 0, 0]);
            assert_eq!(
                e.kind,
                ErrorKind::Invalid {
                    field: "gso_type",
                    value: u32::from(ecn_without_tcp)
                }
            );
        }
        let e = VirtioNetHdr::parse(&[0; 9]).unwrap_err();
        assert_eq!(e.kind.name(), "truncated");
        // gso_size is not looked at without GSO.
        assert!(VirtioNetHdr::parse(&[0; 10]).is_ok());
    }

    #[test]
    fn checksum_field_must_lie_inside_the_frame() {
        let hdr = VirtioNetHdr {
            flags: Flags::NEEDS_CSUM,
            csum_start: 34,
            csum_offset: 16,
            ..VirtioNetHdr::NONE
        };
        assert!(hdr.check_frame(&[0; 52]).is_ok());
        let e = hdr.check_frame(&[0; 51]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "virtio_net_hdr at byte 0: csum_start + csum_offset ends at byte 52, past the end of the frame"
        );
        // Found by the fuzzer: an odd csum_offset made a checksum that could not verify.
        let odd = VirtioNetHdr {
            csum_offset: 15,
            ..hdr
        };
        assert_eq!(
            odd.check_frame(&[0; 100]).unwrap_err().kind,
            ErrorKind::Invalid {
                field: "csum_offset",
                value: 15
            }
        );
        // Without NEEDS_CSUM the offsets mean nothing.
        let hdr = VirtioNetHdr {
            flags: Flags(0),
            ..hdr
        };
        assert!(hdr.check_frame(&[]).is_ok());
    }
}
