//! The express decode: the common frame recognised in straight-line code, recorded as
//! the general walk (`walk`) records it.
//!
//! Nearly every frame a decoder meets has one shape: an untagged outer Ethernet header,
//! IPv4 without options and not a fragment, then VXLAN, NVGRE, or Geneve carrying
//! Ethernet, and an untagged inner Ethernet frame carrying IPv4 without options and UDP
//! or TCP (or the same after one 802.1Q tag, the next shape of inner frame). For that
//! shape this walk makes every test the general walk makes, at fixed offsets and fused
//! as a hand-written decoder fuses them (the EtherType and IPv4's first byte in one
//! compare, the fragment bits and the protocol in another, each length one range), then
//! hands each header to the recorder as the general walk would: the same calls, offsets
//! and views. A frame whose outer stack fails a test is declined before anything is
//! recorded, and the general walk decides; one whose outer stack passes ends here if it
//! carries no tunnel (a datagram to another port) or a GRE header that is not NVGRE's
//! (the general walk's error, after the outer stack); one whose inner stack fails a test
//! is walked on by the general walk of the inner stack alone, so no frame pays for its
//! outer stack twice. `tests` runs both on mutated frames and asserts identical records
//! and errors.
//!
//! Measured in instructions per packet (benches/instructions.sh), before -> after: decode
//! by `Frame` VXLAN, NVGRE, Geneve 133 125 177 -> 126 116 176, their mixed workloads
//! 125.2 120.0 164.4 -> 121.6 118.0 164.7; by recorder 120 110 156 -> 109 100 145, mixed
//! 116.5 108.5 148.9 -> 108.8 106.0 143.3. The engine's rows do not move (its walks go
//! without). Then the frames with no tunnel or a refused tunnel header concluded here,
//! where they were declined and walked again from their first byte (the mixed workloads'
//! one in twenty: a datagram to port 4788, a GRE header not NVGRE's, Geneve's malformed
//! headers): by `Frame` mixed 121.6 118.0 164.7 -> 118.0 111.6 162.2, by recorder 108.8
//! 106.0 143.3 -> 105.9 102.1 140.3, such a VXLAN frame by recorder 88 -> 49; the clean
//! rows by `Frame` 126 116 176 -> 125 115 177, by recorder 109 100 145 -> 109 102 145.
//! Then inner frames with one 802.1Q tag in straight-line code too (`tagged_stack`; the
//! mixed workloads' one in five): by `Frame` mixed 118.0 109.6 162.2 -> 115.4 106.8
//! 163.1, by recorder 105.9 99.0 142.7 -> 104.6 97.9 139.1; clean by `Frame` Geneve
//! 177.1 -> 180.1, by recorder NVGRE 99.1 -> 100.1, Geneve 148.1 -> 144.1, the others
//! the same (registers allocated anew in each loop). Then VXLAN's and Geneve's refused
//! headers declined again, NVGRE's still concluded here: their two `Err` endings cost a
//! clean frame decoded in a function of its own (`benches/decode.rs`, which
//! `benches/peers.sh` counts) about 20 instructions, VXLAN by `Frame` 161.7 -> 142.7,
//! NVGRE 147.7 -> 127.7, by recorder 168.6 -> 144.6 and 131.6 -> 112.6, where the loops
//! of benches/instructions.sh moved by one or two (by `Frame` VXLAN 125.1 -> 124.1,
//! Geneve 180.1 -> 179.1, mixed 115.4 -> 114.4, Geneve's mixed 163.1 -> 165.1, by
//! recorder 139.1 -> 142.1). NVGRE's `Err` path alone cost that function nothing, and
//! its mixed workload's refused GRE headers are the ones whose second walk cost most.
//! Such a frame's end taken out of line (a cold function, handed the recorder) cost the
//! common frame 22 to 69 more: the recorder, its address taken, lived in memory. Tried and
//! dropped on the way (the same rows):
//! - The words of fused compares read as four bytes: LLVM loaded only the bytes the mask
//!   keeps, apart, and put them together (VXLAN by recorder 127, by `Frame` 140).
//! - Each length one wrapping range test, the views then cut from the frame by
//!   arithmetic: the optimiser could not tell a view's end inside the frame, and tested
//!   it again (VXLAN by recorder 114, by `Frame` 128).
//! - The three tunnels' inner frames merged before one walk of the inner stack: every
//!   row longer (VXLAN by `Frame` 145, NVGRE 136, Geneve 193; by recorder 113 106 156).
//! - Inner frames of other shapes by the general walk with its shortcut (the one
//!   `COMMON_FIRST` walk) rather than the engine's (`walk_inner`): mixed workloads by
//!   `Frame` VXLAN 125.5 -> 129.2, NVGRE 119.7 -> 125.2. The inner stack always by the
//!   general walk (no express inner stack): VXLAN by recorder 115, by `Frame` 134.
//! - Geneve's header by fixed-offset tests (version 0 and Ethernet's protocol type in one
//!   compare, one option in line, any other area by `geneve::check_options`): by `Frame`
//!   188 to 194, mixed 184; declining every IP payload and other protocol type (the
//!   general walk then walks the outer stack again): mixed 173.3. Its inner stack by the
//!   general walk from the Geneve header on (`walk_tunnel`): Geneve by `Frame` 182, but
//!   NVGRE by recorder 108, mixed 112.8.
//! - Frames the express decode declines walked by the engine's walk, without the
//!   shortcuts of `COMMON_FIRST`: every row longer (VXLAN by `Frame` 134, by recorder
//!   115).

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::walk::walk_inner;
use super::{Decoder, Record, RecordFrame, ReservedPolicy, Transport, Tunnel, ip_payload};
use crate::error::Result;
use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::geneve;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::nvgre;
use crate::wire::udp::UdpDatagram;
use crate::wire::vlan::VlanTag;
use crate::wire::vxlan::{self, VxlanHeader};

/// Outer Ethernet (14), IPv4 without options (20), UDP (8) and VXLAN's header or
/// Geneve's fixed one (8); NVGRE's header and the inner frame's first 8 bytes. No
/// shorter frame is express.
const OUTER: usize = 50;

/// Ethernet, IPv4 without options and UDP: an inner frame shorter than this is the
/// general walk's.
const INNER: usize = 42;

/// Bytes 12-15 of an Ethernet frame masked to the EtherType, in a native-order word...
const TPID: u32 = u32::from_ne_bytes([0xff, 0xff, 0, 0]);
/// ...for an 802.1Q tag.
const CTAG: u32 = u32::from_ne_bytes([0x81, 0x00, 0, 0]);

/// Bytes 12-15 of an Ethernet frame, its EtherType and IPv4's first byte, masked to
/// those three bytes in a native-order word...
const ETHERTYPE_FIRST_BYTE: u32 = u32::from_ne_bytes([0xff, 0xff, 0xff, 0]);
/// ...for EtherType IPv4 and a header without options (version 4, IHL 5).
const IPV4_NO_OPTIONS: u32 = u32::from_ne_bytes([0x08, 0x00, 0x45, 0]);

/// Bytes 6-9 of an IPv4 header (flags and fragment offset, TTL, protocol) masked to
/// MF, the fragment offset and the protocol, in a native-order word: a packet that is
/// not a fragment then compares equal to one of these.
const FRAGMENT_PROTOCOL: u32 = u32::from_ne_bytes([0x3f, 0xff, 0, 0xff]);
/// UDP, not a fragment.
const UDP: u32 = u32::from_ne_bytes([0, 0, 0, 17]);
/// GRE, not a fragment.
const GRE: u32 = u32::from_ne_bytes([0, 0, 0, 47]);
/// TCP, not a fragment.
const TCP: u32 = u32::from_ne_bytes([0, 0, 0, 6]);

/// A VXLAN header's first 8 bytes in a native-order word masked to its I flag, which
/// must be set...
const VXLAN_I: u64 = u64::from_ne_bytes([vxlan::FLAG_I, 0, 0, 0, 0, 0, 0, 0]);
/// ...or masked to its flags and reserved fields, for [`ReservedPolicy::Reject`]: then
/// equal to `VXLAN_I` too.
const VXLAN_I_RESERVED: u64 = u64::from_ne_bytes([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff]);

/// Geneve's protocol type for Ethernet, as it lies in memory.
const ETHERNET_PROTOCOL: [u8; 2] = EtherType::TRANSPARENT_ETHERNET_BRIDGING.0.to_be_bytes();

/// The native-order u32 at `at` in `head` (every caller's offset a constant inside it),
/// loaded whole: read as four bytes, the word was put together from the bytes its mask
/// keeps, each loaded apart.
#[inline(always)]
fn ne32<const N: usize>(head: &[u8; N], at: usize) -> u32 {
    head.get(at..)
        .and_then(<[u8]>::first_chunk)
        .map_or(0, |word| u32::from_ne_bytes(*word))
}

/// The native-order u64 at `at` in `head`, as [`ne32`].
#[inline(always)]
fn ne64<const N: usize>(head: &[u8; N], at: usize) -> u64 {
    head.get(at..)
        .and_then(<[u8]>::first_chunk)
        .map_or(0, |word| u64::from_ne_bytes(*word))
}

/// The big-endian u16 at `at` in `head`, as a length.
#[inline(always)]
// Cannot index out of range: every caller's offset is a constant inside `head`.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn be16<const N: usize>(head: &[u8; N], at: usize) -> usize {
    usize::from(u16::from_be_bytes([head[at], head[at + 1]]))
}

impl Decoder {
    /// The express decode of the whole frame `bytes` into `record`, at the decoder's
    /// depth (everything): when its outer stack and tunnel header have the common shape
    /// and pass every test, the general walk's result, the frame recorded as it records
    /// it; `None`, with nothing recorded, for any other frame (the general walk's).
    #[inline(always)]
    // Cannot overflow or index out of range: fixed offsets inside the head, slices ending
    // inside what the length tests left.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub(super) fn express_decode<'a>(
        &self,
        bytes: &'a [u8],
        record: &mut impl RecordFrame<'a>,
    ) -> Option<Result<()>> {
        let (head, _) = bytes.split_first_chunk::<OUTER>()?;
        if ne32(head, 12) & ETHERTYPE_FIRST_BYTE != IPV4_NO_OPTIONS {
            return None;
        }
        // Total length <= what follows Ethernet; its floor is tested by what the packet
        // must hold.
        let packet = bytes[14..].get(..be16(head, 16))?;
        let protocol = ne32(head, 20) & FRAGMENT_PROTOCOL;
        // Each tunnel records and walks its inner stack in its own branch (merged before
        // one walk of the inner stack, every row measured longer: see above).
        if protocol == UDP {
            // UDP length <= the IP payload (20 <= total length then), and 16 <= UDP
            // length: UDP and VXLAN's header or Geneve's fixed one inside the packet.
            // Each slice cut by its test, so no bound is tested again.
            let udp_len = be16(head, 38);
            let datagram = packet.get(20..20 + udp_len)?;
            if udp_len < 16 {
                return None;
            }
            let port = u16::from_ne_bytes([head[36], head[37]]);
            // VXLAN first, as the general walk: a port in both sets is VXLAN.
            if self.vxlan_ports.contains_wire(port) {
                // The I flag, and under `Reject` the reserved fields, in one compare of
                // the header's first 8 bytes.
                let mask = match self.vxlan_reserved {
                    ReservedPolicy::Ignore => VXLAN_I,
                    ReservedPolicy::Reject => VXLAN_I_RESERVED,
                };
                let vxlan = VxlanHeader::new_unchecked(&datagram[8..]);
                if ne64(head, 42) & mask != VXLAN_I {
                    // Declined: the general walk names the header's error (the I flag
                    // clear, a reserved field under `Reject`). Named here, after the outer
                    // stack, as NVGRE's is below (and Geneve's was), every clean frame
                    // decoded in a function of its own paid for the two (benches/peers.sh:
                    // VXLAN 161.7 instructions against 142.7).
                    return None;
                }
                record_outer(bytes, packet, Some(datagram), record.outer());
                if let Err(error) = record.tunnel(42, Tunnel::Vxlan(vxlan)) {
                    return Some(Err(error));
                }
                return Some(inner_stack(&datagram[16..], OUTER, None, record.inner()));
            }
            if !self.geneve_ports.contains_wire(port) {
                // A datagram to neither tunnel's port: the outer stack ends at UDP, as
                // the general walk records it.
                record_outer(bytes, packet, Some(datagram), record.outer());
                return Some(record.no_tunnel());
            }
            // The general parser (its own first test two compares): its options' check
            // leaves the header's length known inside the view, for what reads it after
            // (fixed-offset tests measured longer: see above). A header it refuses is
            // declined, as VXLAN's is, for the general walk to name.
            let (inner, geneve) = geneve::parse(&datagram[8..]).ok()?;
            record_outer(bytes, packet, Some(datagram), record.outer());
            let inner_at = 42 + geneve.header_len();
            let protocol = [head[44], head[45]];
            if let Err(error) = record.tunnel(42, Tunnel::Geneve(geneve)) {
                return Some(Err(error));
            }
            // Ethernet, the common payload, tested first and alone, as the general walk.
            let first = if protocol == ETHERNET_PROTOCOL {
                None
            } else {
                // A payload the walk does not decode: it ends quietly.
                let Some(ip) = ip_payload(EtherType(u16::from_be_bytes(protocol))) else {
                    return Some(Ok(()));
                };
                Some(ip)
            };
            return Some(inner_stack(inner, inner_at, first, record.inner()));
        }
        if protocol != GRE {
            return None;
        }
        // NVGRE's header inside the packet (20 <= total length then). A GRE header
        // `nvgre::parse` refuses (another GRE: ERSPAN, plain GRE, a key of another use)
        // ends the walk with its error, as the general walk's `walk_tunnel` ends it.
        let (inner, nvgre) = match nvgre::parse(packet.get(20..)?) {
            Ok(parsed) => parsed,
            Err(error) => {
                record_outer(bytes, packet, None, record.outer());
                return Some(Err(error.at(34)));
            }
        };
        record_outer(bytes, packet, None, record.outer());
        if let Err(error) = record.tunnel(34, Tunnel::Nvgre(nvgre)) {
            return Some(Err(error));
        }
        Some(inner_stack(
            inner,
            34 + nvgre::HEADER_LEN,
            None,
            record.inner(),
        ))
    }
}

/// The outer stack of an express frame (`bytes`: Ethernet, then the IPv4 `packet`
/// without options, then with VXLAN or Geneve the UDP `datagram`), recorded as the
/// general walk records it.
#[inline(always)]
fn record_outer<'a>(
    bytes: &'a [u8],
    packet: &'a [u8],
    datagram: Option<&'a [u8]>,
    record: &mut impl Record<'a>,
) {
    record.start(0);
    record.ethernet(EthernetFrame::new_unchecked(bytes));
    record.ipv4(14, Ipv4Packet::new_unchecked(packet));
    if let Some(datagram) = datagram {
        record.transport(Transport::Udp(UdpDatagram::new_unchecked(datagram)));
    }
}

/// The inner stack at the start of `frame`, `at` bytes into the whole frame, recorded
/// as the general walk records it: the common frame (untagged Ethernet, IPv4 without
/// options and not a fragment, UDP or TCP) and the next shape (the same after one
/// 802.1Q tag, [`tagged_stack`]) in straight-line code, any other by the general walk
/// of this stack alone.
///
/// # Errors
/// The general walk's, of a frame of another shape.
#[inline(always)]
// Cannot overflow or index out of range: fixed offsets inside the head, slices ending
// inside what the length tests left, offsets inside the frame.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn inner_stack<'a>(
    frame: &'a [u8],
    at: usize,
    first: Option<EtherType>,
    record: &mut impl Record<'a>,
) -> Result<()> {
    if let (None, Some(head)) = (first, frame.first_chunk::<INNER>()) {
        let ethertype_first_byte = ne32(head, 12);
        if ethertype_first_byte & ETHERTYPE_FIRST_BYTE != IPV4_NO_OPTIONS {
            // The next shape, one 802.1Q tag, tested only where the common one failed:
            // the common frame's code as it was.
            if ethertype_first_byte & TPID == CTAG && tagged_stack(frame, at, record) {
                return Ok(());
            }
        } else {
            // Total length <= what follows Ethernet; its floor is tested by what the
            // packet must hold. Each slice cut by its test, so no bound is tested again.
            if let Some(packet) = frame[14..].get(..be16(head, 16)) {
                let protocol = ne32(head, 20) & FRAGMENT_PROTOCOL;
                if protocol == UDP {
                    // UDP length <= the IP payload (20 <= total length then), and 8 <=
                    // UDP length.
                    let udp_len = be16(head, 38);
                    if let Some(datagram) = packet.get(20..20 + udp_len) {
                        if udp_len >= 8 {
                            record.start(at);
                            record.ethernet(EthernetFrame::new_unchecked(frame));
                            record.ipv4(at + 14, Ipv4Packet::new_unchecked(packet));
                            record.transport(Transport::Udp(UdpDatagram::new_unchecked(datagram)));
                            return Ok(());
                        }
                    }
                } else if protocol == TCP {
                    // The ports inside the packet (20 <= total length then).
                    if let Some(ports) = packet.get(20..).and_then(<[u8]>::first_chunk::<4>) {
                        record.start(at);
                        record.ethernet(EthernetFrame::new_unchecked(frame));
                        record.ipv4(at + 14, Ipv4Packet::new_unchecked(packet));
                        record.transport(Transport::Tcp {
                            src_port: u16::from_be_bytes([ports[0], ports[1]]),
                            dst_port: u16::from_be_bytes([ports[2], ports[3]]),
                        });
                        return Ok(());
                    }
                }
            }
        }
    }
    walk_inner(frame, at, first, record)
}

/// An inner frame of the next shape after the common one, one 802.1Q tag before IPv4
/// without options, not a fragment, carrying UDP or TCP, at the start of `frame`, `at`
/// bytes into the whole frame: recorded as the general walk records it, true; false,
/// with nothing recorded, for any other frame. Tested as [`inner_stack`] tests the
/// untagged frame, 4 bytes further on, where the general walk tests each EtherType by a
/// chain of compares and each length apart: such a frame of NVGRE's mixed workload, by
/// recorder, 133.1 -> 117.1 instructions (`benches/per_frame.sh`; the floor's 101.7).
/// Written as the untagged frame's code run 4 bytes further on (one copy of the tests
/// for both), every decode row measured 9 to 19 more.
#[inline(always)]
// Cannot overflow or index out of range: fixed offsets inside the head, slices ending
// inside what the length tests left, offsets inside the frame.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn tagged_stack<'a>(frame: &'a [u8], at: usize, record: &mut impl Record<'a>) -> bool {
    let Some(head) = frame.first_chunk::<{ INNER + 4 }>() else {
        return false;
    };
    if ne32(head, 16) & ETHERTYPE_FIRST_BYTE != IPV4_NO_OPTIONS {
        return false;
    }
    let Some(packet) = frame[18..].get(..be16(head, 20)) else {
        return false;
    };
    let protocol = ne32(head, 24) & FRAGMENT_PROTOCOL;
    let transport = if protocol == UDP {
        let udp_len = be16(head, 42);
        match packet.get(20..20 + udp_len) {
            Some(datagram) if udp_len >= 8 => Transport::Udp(UdpDatagram::new_unchecked(datagram)),
            _ => return false,
        }
    } else if protocol == TCP {
        let Some(ports) = packet.get(20..).and_then(<[u8]>::first_chunk::<4>) else {
            return false;
        };
        Transport::Tcp {
            src_port: u16::from_be_bytes([ports[0], ports[1]]),
            dst_port: u16::from_be_bytes([ports[2], ports[3]]),
        }
    } else {
        return false;
    };
    record.start(at);
    record.ethernet(EthernetFrame::new_unchecked(frame));
    record.tag_follows();
    record.vlan(0, VlanTag::new_unchecked(&frame[14..]));
    record.ipv4(at + 18, Ipv4Packet::new_unchecked(packet));
    record.transport(transport);
    true
}

#[cfg(test)]
mod tests;
