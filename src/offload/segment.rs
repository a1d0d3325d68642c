//! Segmentation of a super-frame (TSO and USO in software) and the finishing of a partial
//! checksum: what a TAP device with `IFF_VNET_HDR` hands over, made into frames a wire
//! (or a tunnel) takes.
//!
//! Each segment is the super-frame's headers followed by at most `gso_size` bytes of its
//! payload, with what the kernel's `tcp_gso_segment` and `__udp_gso_segment` rewrite:
//! - IPv4: the total length, the identification (the first segment keeps the
//!   super-frame's, each next one adds 1, wrapping) and the header checksum; IPv6: the
//!   payload length.
//! - TCP: the sequence number advanced by the payload before the segment; FIN and PSH on
//!   the last segment only, CWR on the first only; URG and the urgent pointer copied as
//!   they are, as the kernel does.
//! - UDP (USO): the length of each datagram.
//! - The TCP or UDP checksum computed in full over the pseudo-header, the header and the
//!   payload, whatever the super-frame's field held (with `NEEDS_CSUM` the kernel leaves
//!   the pseudo-header's sum there); a UDP checksum that comes out 0 is sent as 0xffff.
//!
//! The headers are copied into every segment and each payload byte once: the caller's
//! buffer is written from its first byte, so a caller that wants headroom (for a tunnel's
//! outer headers) passes the slice after it.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::frame::{self, Family, Layout, Transport, tcp, udp_field};
use super::virtio_net::{GsoType, VirtioNetHdr};
use crate::checksum;
use crate::error::{Error, ErrorKind, Layer, Result};
use crate::wire::{Ipv4Packet, Ipv6Packet};

/// Takes a super-frame apart into segments of at most `gso_size` payload bytes, written
/// one by one into caller buffers ([`next_into`](Self::next_into)). Allocates nothing.
///
/// ```
/// use tunnelwire::offload::{Flags, GsoType, Segmenter, VirtioNetHdr};
///
/// // Ethernet, IPv4 and UDP around 2500 payload bytes, to go out as 1000-byte datagrams.
/// let mut frame = vec![0u8; 14 + 20 + 8 + 2500];
/// frame[12..14].copy_from_slice(&[0x08, 0x00]);
/// frame[14] = 0x45;
/// frame[16..18].copy_from_slice(&(20u16 + 8 + 2500).to_be_bytes());
/// frame[23] = 17;
/// let hdr = VirtioNetHdr { gso_type: GsoType::UDP_L4, gso_size: 1000, ..VirtioNetHdr::NONE };
///
/// let mut segmenter = Segmenter::new(&frame, &hdr)?;
/// assert_eq!(segmenter.count(), 3);
/// let mut out = [0u8; 1500];
/// let mut lengths = Vec::new();
/// while let Some(len) = segmenter.next_into(&mut out) {
///     lengths.push(len?);
/// }
/// assert_eq!(lengths, [1042, 1042, 542]);
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Segmenter<'a> {
    /// The super-frame, up to the end of its IP packet.
    frame: &'a [u8],
    layout: Layout,
    gso_size: usize,
    /// Where the next segment's payload starts in `frame`.
    next: usize,
    /// Segments written so far.
    written: usize,
    count: usize,
}

impl<'a> Segmenter<'a> {
    /// Checks the super-frame `frame` against its header `hdr` and prepares its
    /// segmentation. Bytes after the IP packet (Ethernet padding) belong to no segment.
    ///
    /// # Errors
    /// `hdr`'s own errors ([`VirtioNetHdr::check`], [`VirtioNetHdr::check_frame`]);
    /// `Invalid` naming `gso_type` for a frame without GSO (finish its checksum with
    /// [`complete_checksum`] instead) or a `gso_type` that does not match the frame (TCPV4
    /// wants TCP over IPv4, TCPV6 TCP over IPv6, UDP_L4 UDP); with `NEEDS_CSUM`, `Invalid`
    /// naming `csum_start` or `csum_offset` when they do not point at the transport
    /// checksum; the frame's own errors (a header cut short, a fragment, an IPv6
    /// extension header, a transport other than TCP or UDP), naming layer and offset.
    pub fn new(frame: &'a [u8], hdr: &VirtioNetHdr) -> Result<Segmenter<'a>> {
        hdr.check()?;
        hdr.check_frame(frame)?;
        let invalid = |field, value: u16| {
            Error::new(
                Layer::VirtioNet,
                ErrorKind::Invalid {
                    field,
                    value: u32::from(value),
                },
            )
        };
        let layout = frame::parse(frame)?;
        let fits = matches!(
            (hdr.gso_type.kind(), layout.family, layout.transport),
            (GsoType::TCPV4, Family::V4, Transport::Tcp)
                | (GsoType::TCPV6, Family::V6, Transport::Tcp)
                | (GsoType::UDP_L4, _, Transport::Udp)
        );
        if !fits {
            return Err(invalid("gso_type", u16::from(hdr.gso_type.0)));
        }
        if hdr.needs_csum() {
            if usize::from(hdr.csum_start) != layout.l4 {
                return Err(invalid("csum_start", hdr.csum_start));
            }
            if usize::from(hdr.csum_offset) != layout.transport.checksum_offset() {
                return Err(invalid("csum_offset", hdr.csum_offset));
            }
        }
        let gso_size = usize::from(hdr.gso_size);
        // gso_size is not zero (`check`); a super-frame without payload is one segment.
        let count = layout.payload_len().div_ceil(gso_size).max(1);
        Ok(Segmenter {
            frame: frame.get(..layout.end).unwrap_or_default(),
            layout,
            gso_size,
            next: layout.payload,
            written: 0,
            count,
        })
    }

    /// How many segments the super-frame makes, written or not.
    #[inline]
    pub fn count(&self) -> usize {
        self.count
    }

    /// How many segments are still to be written.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.count.saturating_sub(self.written)
    }

    /// The longest segment: the headers and `gso_size` payload bytes (or the whole
    /// payload when it is shorter). A buffer this long takes every segment.
    #[inline]
    pub fn max_segment_len(&self) -> usize {
        let payload = self.layout.payload_len().min(self.gso_size);
        self.layout.payload.saturating_add(payload)
    }

    /// Length of the headers copied in front of every segment's payload.
    #[inline]
    pub fn headers_len(&self) -> usize {
        self.layout.payload
    }

    /// Writes the next segment into the start of `out` and returns its length, or `None`
    /// when every segment has been written.
    ///
    /// # Errors
    /// `BufferTooSmall` when `out` cannot hold the segment; nothing is written and the
    /// segment stays next, so a call with a longer buffer writes it.
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<Result<usize>> {
        if self.written >= self.count {
            return None;
        }
        let chunk_end = self.next.saturating_add(self.gso_size).min(self.layout.end);
        let headers = self.frame.get(..self.layout.payload).unwrap_or_default();
        let chunk = self.frame.get(self.next..chunk_end).unwrap_or_default();
        let len = headers.len().saturating_add(chunk.len());
        let Some(segment) = out.get_mut(..len) else {
            return Some(Err(Error::new(
                Layer::VirtioNet,
                ErrorKind::BufferTooSmall {
                    needed: len,
                    available: out.len(),
                },
            )));
        };
        let (head, body) = segment.split_at_mut(headers.len());
        head.copy_from_slice(headers);
        body.copy_from_slice(chunk);
        let first = self.written == 0;
        let last = chunk_end >= self.layout.end;
        let sent_before = self.next.saturating_sub(self.layout.payload);
        finish_segment(
            segment,
            &self.layout,
            self.written,
            sent_before,
            first,
            last,
        );
        self.next = chunk_end;
        self.written = self.written.saturating_add(1);
        Some(Ok(len))
    }
}

/// Rewrites the headers of a segment just copied (headers, then its payload chunk): the
/// lengths, the IPv4 identification and checksum, the TCP sequence number and flags, the
/// transport checksum.
// Cannot overflow: segment lengths are below 2^17 (an IP packet's 65535 bytes behind at
// most 18 bytes of Ethernet and tag), and the identification and sequence number wrap on
// purpose (`wrapping_add`).
#[allow(clippy::arithmetic_side_effects)]
fn finish_segment(
    segment: &mut [u8],
    layout: &Layout,
    index: usize,
    sent_before: usize,
    first: bool,
    last: bool,
) {
    let ip_len = segment.len() - layout.l3;
    let transport_len = segment.len() - layout.l4;
    match layout.family {
        Family::V4 => {
            let mut ip =
                Ipv4Packet::new_unchecked(segment.get_mut(layout.l3..).unwrap_or_default());
            ip.set_total_len(u16::try_from(ip_len).unwrap_or(u16::MAX));
            // The identification is 16 bits: the segment index wraps with it.
            ip.set_ident(ip.ident().wrapping_add(index as u16));
            ip.fill_checksum();
        }
        Family::V6 => {
            let payload_len = ip_len.saturating_sub(crate::wire::ipv6::HEADER_LEN);
            Ipv6Packet::new_unchecked(segment.get_mut(layout.l3..).unwrap_or_default())
                .set_payload_len(u16::try_from(payload_len).unwrap_or(u16::MAX));
        }
    }
    let l4 = layout.l4;
    let checksum_field = frame::shift(
        layout.transport.checksum_offset()..layout.transport.checksum_offset() + 2,
        l4,
    );
    match layout.transport {
        Transport::Tcp => {
            let seq_field = frame::shift(tcp::SEQ, l4);
            // Sequence numbers are modulo 2^32 (RFC 9293 section 3.4).
            let seq = frame::get_u32(segment, seq_field.clone()).wrapping_add(sent_before as u32);
            frame::set_u32(segment, seq_field, seq);
            if let Some(flags) = segment.get_mut(l4 + tcp::FLAGS) {
                if !last {
                    *flags &= !(tcp::FIN | tcp::PSH);
                }
                if !first {
                    *flags &= !tcp::CWR;
                }
            }
        }
        Transport::Udp => {
            let length = u16::try_from(transport_len).unwrap_or(u16::MAX);
            frame::set_u16(segment, frame::shift(udp_field::LENGTH, l4), length);
        }
    }
    frame::set_u16(segment, checksum_field.clone(), 0);
    let pseudo = frame::pseudo_header_sum(segment, layout, transport_len);
    let sum = checksum::combine(pseudo, checksum::sum(segment.get(l4..).unwrap_or_default()));
    let mut value = checksum::finish(sum);
    // UDP sends a computed 0 as 0xffff: 0 says "no checksum" (RFC 768, RFC 8200 8.1).
    if value == 0 && layout.transport == Transport::Udp {
        value = 0xffff;
    }
    frame::set_u16(segment, checksum_field, value);
}

/// Finishes the checksum of a frame that came with `NEEDS_CSUM` and no GSO: adds the sum
/// of the bytes from `csum_start` to the frame's end into the field at `csum_start +
/// csum_offset` (which holds the pseudo-header's sum) and writes the result there, as the
/// kernel's `skb_checksum_help` does. Without `NEEDS_CSUM` it changes nothing.
///
/// The sum runs to the end of `frame`, as the kernel's runs to the end of the skb: pass
/// the frame without Ethernet padding (a TAP read has none).
///
/// # Errors
/// `hdr`'s own errors ([`VirtioNetHdr::check`], [`VirtioNetHdr::check_frame`]: an odd
/// `csum_offset`, a field past the frame); `Invalid` naming `gso_type` for a GSO frame, which [`Segmenter`] takes apart instead.
pub fn complete_checksum(frame: &mut [u8], hdr: &VirtioNetHdr) -> Result<()> {
    hdr.check()?;
    hdr.check_frame(frame)?;
    if hdr.gso_type != GsoType::NONE {
        return Err(Error::new(
            Layer::VirtioNet,
            ErrorKind::Invalid {
                field: "gso_type",
                value: u32::from(hdr.gso_type.0),
            },
        ));
    }
    if !hdr.needs_csum() {
        return Ok(());
    }
    let at = hdr.checksum_at();
    let sum = checksum::sum(frame.get(usize::from(hdr.csum_start)..).unwrap_or_default());
    frame::set_u16(frame, at..at.saturating_add(2), checksum::finish(sum));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offload::Flags;
    use std::vec::Vec;

    /// Ethernet, IPv4 (ID 0x1234, DF), TCP (seq 0xffff_fff0, flags given) and `payload`
    /// bytes 0, 1, 2...; the TCP checksum holds the pseudo-header sum, as the kernel
    /// leaves it with NEEDS_CSUM.
    fn tcp4(payload: usize, flags: u8) -> Vec<u8> {
        let mut f = std::vec![0u8; 54 + payload];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&0x1234u16.to_be_bytes());
        f[20] = 0x40;
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        f[38..42].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        f[46] = 5 << 4;
        f[47] = flags;
        for (i, b) in f[54..].iter_mut().enumerate() {
            *b = i as u8;
        }
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        let layout = frame::parse(&f).unwrap();
        let pseudo = frame::pseudo_header_sum(&f, &layout, 20 + payload);
        f[50..52].copy_from_slice(&pseudo.to_be_bytes());
        f
    }

    fn tso(gso_size: u16) -> VirtioNetHdr {
        VirtioNetHdr {
            flags: Flags::NEEDS_CSUM,
            gso_type: GsoType::TCPV4,
            hdr_len: 54,
            gso_size,
            csum_start: 34,
            csum_offset: 16,
        }
    }

    fn segments(frame: &[u8], hdr: &VirtioNetHdr) -> Vec<Vec<u8>> {
        let mut segmenter = Segmenter::new(frame, hdr).unwrap();
        let mut out = std::vec![0u8; segmenter.max_segment_len()];
        let mut all = Vec::new();
        while let Some(len) = segmenter.next_into(&mut out) {
            all.push(out[..len.unwrap()].to_vec());
        }
        assert_eq!(all.len(), segmenter.count());
        assert_eq!(segmenter.remaining(), 0);
        all
    }

    fn verifies(segment: &[u8]) -> bool {
        let layout = frame::parse(segment).unwrap();
        let ip_ok = layout.family == Family::V6 || checksum::sum(&segment[14..layout.l4]) == 0xffff;
        let pseudo = frame::pseudo_header_sum(segment, &layout, layout.end - layout.l4);
        ip_ok && checksum::combine(pseudo, checksum::sum(&segment[layout.l4..layout.end])) == 0xffff
    }

    #[test]
    fn tcp_segments_carry_their_lengths_ids_sequence_and_flags() {
        let frame = tcp4(2500, tcp::ACK_FLAG | tcp::PSH | tcp::FIN | tcp::CWR);
        let all = segments(&frame, &tso(1000));
        assert_eq!(
            all.iter().map(Vec::len).collect::<Vec<_>>(),
            [1054, 1054, 554]
        );
        for (i, s) in all.iter().enumerate() {
            assert!(verifies(s), "segment {i}");
            assert_eq!(u16::from_be_bytes([s[16], s[17]]) as usize, s.len() - 14);
            assert_eq!(u16::from_be_bytes([s[18], s[19]]), 0x1234 + i as u16);
            let seq = u32::from_be_bytes(s[38..42].try_into().unwrap());
            assert_eq!(
                seq,
                0xffff_fff0u32.wrapping_add(1000 * i as u32),
                "wraps modulo 2^32"
            );
            assert_eq!(s[54], (1000 * i) as u8, "payload from the right place");
        }
        assert_eq!(all[0][47], tcp::ACK_FLAG | tcp::CWR);
        assert_eq!(all[1][47], tcp::ACK_FLAG);
        assert_eq!(all[2][47], tcp::ACK_FLAG | tcp::PSH | tcp::FIN);
    }

    #[test]
    fn exact_multiple_and_empty_payloads() {
        assert_eq!(segments(&tcp4(2000, tcp::ACK_FLAG), &tso(1000)).len(), 2);
        let only_headers = segments(&tcp4(0, tcp::ACK_FLAG), &tso(1000));
        assert_eq!(only_headers.len(), 1);
        assert!(verifies(&only_headers[0]));
    }

    #[test]
    fn uso_datagrams_over_ipv6_have_their_own_length_and_checksum() {
        let mut f = std::vec![0u8; 14 + 40 + 8 + 3001];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14] = 0x60;
        f[18..20].copy_from_slice(&(8u16 + 3001).to_be_bytes());
        f[20] = 17;
        f[22..38].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let hdr = VirtioNetHdr {
            gso_type: GsoType::UDP_L4,
            gso_size: 1000,
            ..VirtioNetHdr::NONE
        };
        let all = segments(&f, &hdr);
        assert_eq!(all.len(), 4);
        for s in &all {
            assert!(verifies(s));
            assert_eq!(
                usize::from(u16::from_be_bytes([s[58], s[59]])),
                s.len() - 54
            );
            assert_eq!(
                usize::from(u16::from_be_bytes([s[18], s[19]])),
                s.len() - 54
            );
        }
        assert_eq!(all[3].len(), 62 + 1);
    }

    #[test]
    fn refuses_what_does_not_match_the_frame() {
        let frame = tcp4(100, tcp::ACK_FLAG);
        let err = |hdr: VirtioNetHdr| Segmenter::new(&frame, &hdr).unwrap_err().kind;
        let field = |kind| match kind {
            ErrorKind::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(err(VirtioNetHdr {
                gso_type: GsoType::TCPV6,
                ..tso(10)
            })),
            "gso_type"
        );
        assert_eq!(
            field(err(VirtioNetHdr {
                gso_type: GsoType::UDP_L4,
                ..tso(10)
            })),
            "gso_type"
        );
        assert_eq!(field(err(VirtioNetHdr::NONE)), "gso_type");
        assert_eq!(
            field(err(VirtioNetHdr {
                csum_start: 14,
                ..tso(10)
            })),
            "csum_start"
        );
        assert_eq!(
            field(err(VirtioNetHdr {
                csum_offset: 6,
                ..tso(10)
            })),
            "csum_offset"
        );
        assert_eq!(
            err(VirtioNetHdr {
                csum_start: 150,
                ..tso(10)
            })
            .name(),
            "past_end"
        );
        // Without NEEDS_CSUM the offsets are not looked at: the checksum is computed anyway.
        assert!(
            Segmenter::new(
                &frame,
                &VirtioNetHdr {
                    flags: Flags(0),
                    csum_start: 0,
                    ..tso(10)
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn a_short_buffer_writes_nothing_and_keeps_the_segment() {
        let frame = tcp4(100, tcp::ACK_FLAG);
        let mut segmenter = Segmenter::new(&frame, &tso(60)).unwrap();
        let mut small = [0u8; 100];
        let e = segmenter.next_into(&mut small).unwrap().unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::BufferTooSmall {
                needed: 114,
                available: 100
            }
        );
        assert_eq!(small, [0; 100]);
        let mut out = [0u8; 114];
        assert_eq!(segmenter.next_into(&mut out).unwrap().unwrap(), 114);
        assert_eq!(segmenter.next_into(&mut out).unwrap().unwrap(), 94);
        assert!(segmenter.next_into(&mut out).is_none());
    }

    #[test]
    fn complete_checksum_finishes_the_pseudo_header_sum() {
        let mut frame = tcp4(77, tcp::ACK_FLAG | tcp::PSH);
        let hdr = VirtioNetHdr {
            gso_type: GsoType::NONE,
            gso_size: 0,
            ..tso(0)
        };
        complete_checksum(&mut frame, &hdr).unwrap();
        assert!(verifies(&frame));
        // Once finished, finishing again is not the way: the field no longer holds the
        // pseudo-header's sum, and the result no longer verifies.
        let before = frame.clone();
        complete_checksum(&mut frame, &VirtioNetHdr::NONE).unwrap();
        assert_eq!(frame, before, "no NEEDS_CSUM, nothing changes");
        assert_eq!(
            complete_checksum(&mut frame, &tso(10))
                .unwrap_err()
                .kind
                .name(),
            "invalid"
        );
    }
}
