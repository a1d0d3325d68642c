//! Translation's writing of the outer headers: moved by the difference between the two
//! tunnel headers, the IPv4 header rewritten, a Geneve header written with the
//! translator's options, the UDP checksum filled.

use super::TranslateConfig;
use crate::checksum;
use crate::wire::ethernet::{self, EtherType};
use crate::wire::geneve::{self, GeneveHeader, GeneveRepr};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Packet};
use crate::wire::ipv6;
use crate::wire::udp::{self, UdpDatagram, UdpRepr};
use crate::wire::vxlan::Vni;
use crate::{Error, ErrorKind, Layer, Result};

/// What a Geneve header written by translation carries besides the translator's settings.
pub(super) struct GeneveTo {
    pub(super) vni: Vni,
    /// The payload's protocol type: Ethernet, or the IP of a Geneve IP payload.
    pub(super) protocol: EtherType,
    pub(super) source_port: u16,
    /// The addresses' share of the pseudo-header, when the UDP checksum is sent.
    pub(super) udp_checksum: Option<u16>,
}

impl TranslateConfig {
    /// Writes UDP, the Geneve header and the translator's options at the start of
    /// `datagram`, which runs to the end of the inner frame, and the UDP checksum.
    // Out of line: inlined, it made the VXLAN and NVGRE translations longer.
    #[inline(never)]
    // Cannot overflow or index out of range: the room was checked, options of at most
    // 252 bytes.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(super) fn write_geneve(&self, datagram: &mut [u8], to: GeneveTo) -> Result<()> {
        let options = self.geneve_options.as_bytes();
        let udp_len = datagram.len() as u16;
        let header_at = udp::HEADER_LEN;
        UdpRepr::new(
            to.source_port,
            self.geneve_port,
            udp_len - udp::HEADER_LEN as u16,
        )
        .emit(datagram)?;
        GeneveRepr::new(to.vni, to.protocol).emit(&mut datagram[header_at..])?;
        // The options follow in place; the header says how many, and whether critical.
        let mut header = GeneveHeader::new_unchecked(&mut datagram[header_at..]);
        header.set_options_len(options.len());
        header.set_flags(false, self.geneve_options.has_critical(), 0);
        let options_at = header_at + geneve::HEADER_LEN;
        datagram[options_at..options_at + options.len()].copy_from_slice(options);
        if let Some(addresses) = to.udp_checksum {
            fill_udp_checksum(datagram, addresses);
        }
        Ok(())
    }
}

/// Fills the UDP checksum of `datagram` (its length field written), `addresses` being the
/// pseudo-header's addresses.
#[inline(always)]
pub(super) fn fill_udp_checksum(datagram: &mut [u8], addresses: u16) {
    let udp_len = datagram.len() as u16;
    let pseudo_header = checksum::combine(
        addresses,
        checksum::combine(u16::from(IpProtocol::UDP.0), udp_len),
    );
    UdpDatagram::new_unchecked(datagram).fill_checksum_with(pseudo_header);
}

/// Writes the `N`-byte header that `emit` builds at `buf[at..]`. It is built in a local
/// array first: its length is a constant, so the field writes need no bounds checks, and
/// it lands in one move.
#[inline(always)]
pub(super) fn put<const N: usize>(
    buf: &mut [u8],
    at: usize,
    emit: impl FnOnce(&mut [u8; N]) -> Result<()>,
) -> Result<()> {
    let mut header = [0u8; N];
    emit(&mut header)?;
    let room = buf.len().saturating_sub(at);
    let Some(target) = buf
        .get_mut(at..)
        .and_then(|rest| rest.first_chunk_mut::<N>())
    else {
        return Err(Error::new(
            Layer::Tunnel,
            ErrorKind::BufferTooSmall {
                needed: N,
                available: room,
            },
        ));
    };
    *target = header;
    Ok(())
}

/// Moves the `len` bytes of outer Ethernet and IP headers at `buf[from..]` to
/// `buf[to..]`. The common shapes (untagged, IPv4 without options or IPv6: 34 or 54
/// bytes) are moves of a constant size, a few register copies instead of a `memmove`
/// call.
#[inline(always)]
// Cannot overflow or index out of range: offsets of headers inside the checked frame and
// its headroom.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
pub(super) fn move_outer_headers(buf: &mut [u8], from: usize, to: usize, len: usize) {
    const COMMON_V4: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
    const COMMON_V6: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
    let moved = match len {
        COMMON_V4 => move_chunk::<COMMON_V4>(buf, from, to),
        COMMON_V6 => move_chunk::<COMMON_V6>(buf, from, to),
        _ => false,
    };
    if !moved {
        buf.copy_within(from..from + len, to);
    }
}

/// Moves `N` bytes at `buf[from..]` to `buf[to..]` as one value; false when either range
/// is not inside `buf` (never, for checked frames).
#[inline(always)]
pub(super) fn move_chunk<const N: usize>(buf: &mut [u8], from: usize, to: usize) -> bool {
    // Taken as the first N bytes from each offset: no sum to overflow-check.
    let Some(&headers) = buf.get(from..).and_then(|b| b.first_chunk::<N>()) else {
        return false;
    };
    let Some(moved) = buf.get_mut(to..).and_then(|b| b.first_chunk_mut()) else {
        return false;
    };
    *moved = headers;
    true
}

/// The new total length, protocol and checksum of the outer IPv4 header, worked out from
/// the header before it moves. The checksum is updated incrementally (RFC 1624), so a
/// wrong checksum stays exactly as wrong.
pub(super) struct Ipv4Rewrite {
    /// Bytes 2 to 9 of the new header, as they lie in memory: the total length, the
    /// identification, flags and fragment offset and the TTL kept, the protocol.
    middle: u64,
    /// The checksum's two bytes, as they lie in memory.
    checksum: u16,
}

impl Ipv4Rewrite {
    #[inline(always)]
    pub(super) fn new(ip: &Ipv4Packet<&[u8]>, protocol: IpProtocol, total_len: usize) -> Self {
        let old = ip.header();
        let ne64 = u64::from_ne_bytes;
        let total = (total_len as u16).to_be_bytes();
        // The two words updated at once, in the machine's byte order: no swaps. The
        // TTL, the protocol's neighbour in its word, is left out of both sides of the
        // change: it cancels (the new sum is never zero, a total length never being
        // zero, so the checksum is the same, not just equivalent).
        let checksum = checksum::update_words(
            u16::from_ne_bytes([old[10], old[11]]),
            [
                u16::from_ne_bytes([old[2], old[3]]),
                u16::from_ne_bytes([0, old[9]]),
            ],
            [
                u16::from_ne_bytes(total),
                u16::from_ne_bytes([0, protocol.0]),
            ],
        );
        let kept = ne64([
            old[2], old[3], old[4], old[5], old[6], old[7], old[8], old[9],
        ]) & ne64([0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0]);
        Ipv4Rewrite {
            middle: kept | ne64([total[0], total[1], 0, 0, 0, 0, 0, protocol.0]),
            checksum,
        }
    }

    /// Writes the fields (bytes 2 to 11) into the moved header, without reading it back:
    /// a load right after the block move would stall on store forwarding.
    #[inline(always)]
    pub(super) fn apply(&self, ip: &mut [u8]) {
        // The fixed header as an array: its fields' offsets need no bounds checks. The
        // header was moved there whole, so it is always there.
        let Some(header) = ip.first_chunk_mut::<{ ipv4::HEADER_LEN }>() else {
            return;
        };
        header[2..10].copy_from_slice(&self.middle.to_ne_bytes());
        header[10..12].copy_from_slice(&self.checksum.to_ne_bytes());
    }
}
