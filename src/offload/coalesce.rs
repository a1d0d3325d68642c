//! Coalescing of TCP segments and UDP datagrams into super-frames (GRO in software), to
//! write to a TAP device with `IFF_VNET_HDR` in one `write` where there were many.
//!
//! The rules, those of wireguard-go's `tcpPacketsCanCoalesce` and of the kernel's GRO
//! self-tests: a segment joins the open super-frame of its flow when
//! - it is the same flow: the same Ethernet header and VLAN tag, addresses and ports;
//! - IPv4: the same TOS, TTL, DF and reserved bit, no options and no fragment, and, when
//!   DF is clear, the next identification (the kernel gives segments consecutive IDs
//!   again when it splits the super-frame, so with DF clear, where IDs matter, only
//!   consecutive ones are merged); IPv6: the same traffic class, flow label and hop
//!   limit (extension headers are not walked: such segments pass);
//! - TCP: its sequence number is the previous one plus the previous payload, the same
//!   header length and options, acknowledgment number and window; flags ACK, with PSH
//!   allowed on the last segment, which closes the super-frame; a segment with SYN, FIN,
//!   RST, URG, ECE or CWR, or without payload, is not merged;
//! - UDP (the kernel's UDP GRO, `UDP_L4`): datagrams of one flow keep their boundaries,
//!   as `gso_size` says them; one without payload, or over IPv4 without a checksum
//!   (which the super-frame would give it), is not merged;
//! - every segment but the last has the first one's payload length (`gso_size`): a
//!   shorter one is appended and closes the super-frame, a longer one starts a new one;
//! - the super-frame stays within 65535 bytes of IP length (IPv4 total length, IPv6
//!   payload length) and within its slot;
//! - its IPv4 header checksum and TCP or UDP checksum verify: a segment that does not is
//!   passed on as it is, for the receiver to drop.
//!
//! A frame that does not join is written as it is, after the open super-frame of its flow
//! (if any), so a flow's bytes keep their order. Flows never mix: each open super-frame
//! sits in its own slot, `FLOWS` of them; a new flow when every slot is taken writes out
//! the oldest.
//!
//! ## What a super-frame says to the kernel
//!
//! `gso_type` TCPV4, TCPV6 or UDP_L4, `gso_size` the first segment's payload length,
//! `hdr_len` the headers' length, and `NEEDS_CSUM` with `csum_start` at the TCP or UDP
//! header and `csum_offset` 16 or 6, the checksum field holding the pseudo-header's sum
//! over the super-frame's transport length (not complemented); a UDP super-frame's length
//! field covers the whole run, from which the kernel sets each datagram's. That is what wireguard-go writes and what
//! Linux's own stack hands a device (`CHECKSUM_PARTIAL`): `virtio_net_hdr_to_skb` turns
//! it into a partial checksum the kernel either trusts on local delivery or finishes per
//! segment when it forwards. `DATA_VALID` is not used: TAP's write path does not read it
//! (it is a flag of the device-to-driver direction), so a GSO frame with a full checksum
//! and no `NEEDS_CSUM` would be taken as unchecked. A lone segment is written as it came,
//! its checksum complete, with [`VirtioNetHdr::NONE`].
//!
//! ## Copies
//!
//! The first segment of a super-frame is copied into its slot whole, each next one's
//! payload once more: one `memcpy` per payload byte. Frames that pass are not copied:
//! the callback gets the caller's own bytes.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::frame::{self, Family, Layout, Transport, tcp, udp_field};
use super::join::{self, Open, Pass, Segment, flow_key};
use super::virtio_net::{Flags, GsoType, VirtioNetHdr};
use crate::wire::{Ipv4Packet, Ipv6Packet, ethernet, ipv6, vlan};

/// The longest super-frame: Ethernet, a tag, the IPv6 header and 65535 bytes of IPv6
/// payload. Slots longer than this are not used beyond it.
pub const MAX_SUPER_FRAME_LEN: usize =
    ethernet::HEADER_LEN + vlan::HEADER_LEN + ipv6::HEADER_LEN + u16::MAX as usize;

/// What [`Coalescer::push`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The segment opened a super-frame of its flow: nothing written yet.
    Opened,
    /// The segment joined its flow's open super-frame: nothing written yet.
    Appended,
    /// The segment joined its flow's super-frame and closed it (PSH, or shorter than
    /// `gso_size`): the super-frame was written.
    Closed,
    /// The frame was written as it is (after its flow's open super-frame, if any).
    Passed(Pass),
}

/// A frame to write to the TAP device: its `virtio_net_hdr` and its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emit<'a> {
    /// The header to write in front of the frame.
    pub hdr: VirtioNetHdr,
    /// The frame: a super-frame in the coalescer's storage, or a frame pushed and passed.
    pub frame: &'a [u8],
    /// The number of its first pushed frame, counting pushes from 0 (wrapping): with
    /// `frames`, which pushed frames it carries, so a caller can count each one written
    /// or refused with what it knows of it.
    pub first: u64,
    /// How many pushed frames it carries: 1, or a super-frame's segments.
    pub frames: u16,
}

/// Coalesces TCP segments, pushed one by one, into super-frames per flow, with up to
/// `FLOWS` flows open at once in storage the caller provides. Allocates nothing.
///
/// Every frame to write reaches the callback of [`push`](Self::push) or
/// [`flush`](Self::flush) as an [`Emit`], in the order to write them; call `flush` at
/// the end of each batch so nothing waits for a next one.
///
/// ```
/// use tunnelwire::offload::{Coalescer, Outcome};
///
/// let mut storage = vec![0u8; 8 * tunnelwire::offload::MAX_SUPER_FRAME_LEN];
/// let mut coalescer: Coalescer = Coalescer::new(&mut storage);
/// let mut written = Vec::new();
/// let arp = [0u8; 60];
/// let outcome = coalescer.push(&arp, |emit| written.push(emit.frame.len()));
/// assert!(matches!(outcome, Outcome::Passed(_)));
/// coalescer.flush(|emit| written.push(emit.frame.len()));
/// assert_eq!(written, [60]);
/// ```
pub struct Coalescer<'s, const FLOWS: usize = 8> {
    storage: &'s mut [u8],
    /// Bytes per slot.
    capacity: usize,
    slots: [Option<Open>; FLOWS],
    opened: u64,
    /// Frames pushed so far (wrapping): the next one's number.
    pushed: u64,
    /// See [`joined`](Self::joined).
    joined: u64,
}

// Not derived: the storage is up to half a megabyte of bytes nobody wants printed.
impl<const FLOWS: usize> core::fmt::Debug for Coalescer<'_, FLOWS> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Coalescer")
            .field("capacity", &self.capacity)
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

impl<'s, const FLOWS: usize> Coalescer<'s, FLOWS> {
    /// A coalescer over `storage`, split in `FLOWS` slots of `storage.len() / FLOWS`
    /// bytes (at most [`MAX_SUPER_FRAME_LEN`] used): a slot's length bounds its
    /// super-frames, and a segment longer than a slot passes.
    pub fn new(storage: &'s mut [u8]) -> Self {
        let capacity = storage
            .len()
            .checked_div(FLOWS)
            .unwrap_or(0)
            .min(MAX_SUPER_FRAME_LEN);
        Coalescer {
            storage,
            capacity,
            slots: [None; FLOWS],
            opened: 0,
            pushed: 0,
            joined: 0,
        }
    }

    /// Bytes per slot: the longest super-frame this coalescer makes.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number ([`Emit::first`]) of the write that carries, or will carry, the frame
    /// pushed last: the first frame of the super-frame it joined, or its own when it
    /// opened one or passed. A caller counting each frame by its write records it after
    /// each push.
    pub fn joined(&self) -> u64 {
        self.joined
    }

    /// How many super-frames are open.
    pub fn open_flows(&self) -> usize {
        self.slots.iter().filter(|slot| slot.is_some()).count()
    }

    /// Takes one frame: joins it to its flow's super-frame, opens one, or passes it on.
    /// `emit` gets every frame to write now, in order: a super-frame this frame closed or
    /// displaced, then the frame itself if it passes.
    pub fn push(&mut self, frame: &[u8], mut emit: impl FnMut(Emit<'_>)) -> Outcome {
        let number = self.pushed;
        self.pushed = self.pushed.wrapping_add(1);
        // Its own, unless it joins an open super-frame (`append` says so).
        self.joined = number;
        let passed = |frame| Emit {
            hdr: VirtioNetHdr::NONE,
            frame,
            first: number,
            frames: 1,
        };
        let segment = match join::classify(frame, self.capacity) {
            Ok(segment) => segment,
            Err((pass, layout)) => {
                // The flow's bytes so far go out before this frame of it.
                if let Some(index) = layout.and_then(|layout| self.find_flow(frame, &layout)) {
                    self.close(index, &mut emit);
                }
                emit(passed(frame));
                return Outcome::Passed(pass);
            }
        };
        let payload_len = segment.layout.payload_len();
        if let Some(index) = self.find_flow(frame, &segment.layout) {
            let joins = match (self.slots.get(index), self.slot(index)) {
                (Some(Some(open)), Some(head)) => {
                    join::can_join(head, open, &segment, self.capacity)
                }
                _ => false,
            };
            if joins {
                return self.append(index, &segment, emit);
            }
            self.close(index, &mut emit);
        }
        if segment.psh {
            emit(passed(frame));
            return Outcome::Passed(Pass::Push);
        }
        let index = self.free_slot(&mut emit);
        let room = self
            .slot_mut(index)
            .and_then(|slot| slot.get_mut(..frame.len()));
        let Some(room) = room else {
            // Unreachable: `classify` checked the frame fits a slot.
            emit(passed(frame));
            return Outcome::Passed(Pass::TooLong);
        };
        room.copy_from_slice(frame);
        self.opened = self.opened.wrapping_add(1);
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(Open {
                layout: segment.layout,
                len: frame.len(),
                gso_size: payload_len,
                segments: 1,
                // Sequence numbers are modulo 2^32; a payload is below 2^16.
                next_seq: segment.seq.wrapping_add(payload_len as u32),
                opened: self.opened,
                first: number,
            });
        }
        Outcome::Opened
    }

    /// Writes out every open super-frame, oldest first, and leaves every slot free: at
    /// the end of a batch.
    pub fn flush(&mut self, mut emit: impl FnMut(Emit<'_>)) {
        while let Some(index) = self.oldest() {
            self.close(index, &mut emit);
        }
    }

    /// The slot holding the open super-frame of `frame`'s flow: the same Ethernet header
    /// and tag, family, addresses and ports.
    fn find_flow(&self, frame: &[u8], layout: &Layout) -> Option<usize> {
        let key = |bytes| flow_key(bytes, layout);
        let wanted = key(frame);
        self.slots.iter().enumerate().find_map(|(index, slot)| {
            let open = slot.as_ref()?;
            let same_shape = open.layout.l3 == layout.l3
                && open.layout.l4 == layout.l4
                && open.layout.family == layout.family;
            (same_shape && key(self.slot(index)?) == wanted).then_some(index)
        })
    }

    /// Appends `segment`'s payload to slot `index`, and closes it when the segment ends
    /// the super-frame.
    fn append(
        &mut self,
        index: usize,
        segment: &Segment<'_>,
        mut emit: impl FnMut(Emit<'_>),
    ) -> Outcome {
        let payload = segment
            .frame
            .get(segment.layout.payload..)
            .unwrap_or_default();
        let Some(Some(open)) = self.slots.get(index).copied() else {
            return Outcome::Appended;
        };
        self.joined = open.first;
        let end = open.len.saturating_add(payload.len());
        if let Some(room) = self
            .slot_mut(index)
            .and_then(|slot| slot.get_mut(open.len..end))
        {
            room.copy_from_slice(payload);
        }
        let next = Open {
            len: end,
            segments: open.segments.saturating_add(1),
            next_seq: open.next_seq.wrapping_add(payload.len() as u32),
            ..open
        };
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(next);
        }
        // A super-frame too full for another segment stays open all the same: the next
        // may be shorter (the last of a burst) and still fit.
        if segment.psh || payload.len() < open.gso_size {
            if segment.psh {
                let flags = segment.layout.l4.saturating_add(tcp::FLAGS);
                if let Some(byte) = self.slot_mut(index).and_then(|slot| slot.get_mut(flags)) {
                    *byte |= tcp::PSH;
                }
            }
            self.close(index, &mut emit);
            return Outcome::Closed;
        }
        Outcome::Appended
    }

    /// Writes out the super-frame of slot `index` (its headers finished) and frees the slot.
    fn close(&mut self, index: usize, emit: &mut impl FnMut(Emit<'_>)) {
        let Some(open) = self.slots.get_mut(index).and_then(Option::take) else {
            return;
        };
        let Some(bytes) = self
            .slot_mut(index)
            .and_then(|slot| slot.get_mut(..open.len))
        else {
            return;
        };
        if open.segments == 1 {
            emit(Emit {
                hdr: VirtioNetHdr::NONE,
                frame: bytes,
                first: open.first,
                frames: 1,
            });
            return;
        }
        let layout = open.layout;
        let ip_len = open.len.saturating_sub(layout.l3);
        let transport_len = open.len.saturating_sub(layout.l4);
        let gso_type = match layout.family {
            Family::V4 => {
                let mut ip =
                    Ipv4Packet::new_unchecked(bytes.get_mut(layout.l3..).unwrap_or_default());
                ip.set_total_len(u16::try_from(ip_len).unwrap_or(u16::MAX));
                ip.fill_checksum();
                GsoType::TCPV4
            }
            Family::V6 => {
                let payload_len = ip_len.saturating_sub(ipv6::HEADER_LEN);
                Ipv6Packet::new_unchecked(bytes.get_mut(layout.l3..).unwrap_or_default())
                    .set_payload_len(u16::try_from(payload_len).unwrap_or(u16::MAX));
                GsoType::TCPV6
            }
        };
        let gso_type = match layout.transport {
            Transport::Tcp => gso_type,
            Transport::Udp => {
                // The whole run's length: the kernel cuts it into datagrams of gso_size
                // and sets each one's length (and checksum) from it.
                let length = frame::shift(udp_field::LENGTH, layout.l4);
                frame::set_u16(
                    bytes,
                    length,
                    u16::try_from(transport_len).unwrap_or(u16::MAX),
                );
                GsoType::UDP_L4
            }
        };
        let checksum_at = layout.transport.checksum_offset();
        let checksum_field = frame::shift(checksum_at..checksum_at.saturating_add(2), layout.l4);
        let pseudo = frame::pseudo_header_sum(bytes, &layout, transport_len);
        frame::set_u16(bytes, checksum_field, pseudo);
        // Header offsets are below 200 bytes and gso_size below 2^16: each fits 16 bits.
        let to_u16 = |value: usize| u16::try_from(value).unwrap_or(u16::MAX);
        let hdr = VirtioNetHdr {
            flags: Flags::NEEDS_CSUM,
            gso_type,
            hdr_len: to_u16(layout.payload),
            gso_size: to_u16(open.gso_size),
            csum_start: to_u16(layout.l4),
            csum_offset: to_u16(checksum_at),
        };
        emit(Emit {
            hdr,
            frame: bytes,
            first: open.first,
            frames: open.segments,
        });
    }

    /// A free slot's index, writing out the oldest super-frame when none is free.
    fn free_slot(&mut self, emit: &mut impl FnMut(Emit<'_>)) -> usize {
        if let Some(index) = self.slots.iter().position(Option::is_none) {
            return index;
        }
        let oldest = self.oldest().unwrap_or(0);
        self.close(oldest, emit);
        oldest
    }

    /// The slot of the super-frame opened first, if any is open.
    fn oldest(&self) -> Option<usize> {
        (0..FLOWS)
            .filter_map(|index| Some((index, self.slots.get(index)?.as_ref()?.opened)))
            .min_by_key(|&(_, opened)| opened)
            .map(|(index, _)| index)
    }

    /// The bytes of slot `index`.
    fn slot(&self, index: usize) -> Option<&[u8]> {
        let start = index.checked_mul(self.capacity)?;
        self.storage.get(start..start.checked_add(self.capacity)?)
    }

    /// The bytes of slot `index`, mutable.
    fn slot_mut(&mut self, index: usize) -> Option<&mut [u8]> {
        let start = index.checked_mul(self.capacity)?;
        self.storage
            .get_mut(start..start.checked_add(self.capacity)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum;
    use std::vec::Vec;

    /// A TCP segment over IPv4 (DF set when `df`) from port `sport`, checksums complete.
    fn segment(sport: u16, seq: u32, payload: usize, flags: u8, id: u16, df: bool) -> Vec<u8> {
        let mut f = std::vec![0u8; 54 + payload];
        f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&id.to_be_bytes());
        f[20] = if df { 0x40 } else { 0 };
        f[22] = 64;
        f[23] = 6;
        f[26..34].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&80u16.to_be_bytes());
        f[38..42].copy_from_slice(&seq.to_be_bytes());
        f[42..46].copy_from_slice(&7u32.to_be_bytes());
        f[46] = 5 << 4;
        f[47] = flags;
        f[48..50].copy_from_slice(&512u16.to_be_bytes());
        for (i, b) in f[54..].iter_mut().enumerate() {
            *b = (seq as usize + i) as u8;
        }
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        let layout = frame::parse(&f).unwrap();
        let sum = checksum::combine(
            frame::pseudo_header_sum(&f, &layout, 20 + payload),
            checksum::sum(&f[34..]),
        );
        f[50..52].copy_from_slice(&checksum::finish(sum).to_be_bytes());
        f
    }

    const ACK: u8 = tcp::ACK_FLAG;
    /// A UDP datagram over IPv4 (DF set) from port `sport`, its `n`th of a run,
    /// `payload` bytes, checksums complete (or the UDP checksum 0 when `zero`).
    fn datagram(sport: u16, n: u8, payload: usize, zero: bool) -> Vec<u8> {
        let mut f = std::vec![0u8; 42 + payload];
        f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((28 + payload) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&u16::from(n).to_be_bytes());
        f[20] = 0x40;
        f[22] = 64;
        f[23] = 17;
        f[26..34].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&5201u16.to_be_bytes());
        f[38..40].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
        for (i, b) in f[42..].iter_mut().enumerate() {
            *b = n.wrapping_mul(31).wrapping_add(i as u8);
        }
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        if !zero {
            let layout = frame::parse(&f).unwrap();
            let sum = checksum::combine(
                frame::pseudo_header_sum(&f, &layout, 8 + payload),
                checksum::sum(&f[34..]),
            );
            f[40..42].copy_from_slice(&checksum::finish(sum).to_be_bytes());
        }
        f
    }

    #[test]
    fn a_run_of_one_flows_datagrams_makes_one_uso_super_frame_that_segments_back() {
        let run_of: Vec<_> = (0..5u8)
            .map(|n| datagram(4000, n, if n == 4 { 7 } else { 18 }, false))
            .collect();
        let mut storage = storage();
        let (outcomes, written) = run::<4>(&mut storage, &run_of);
        assert_eq!(outcomes[0], Outcome::Opened);
        assert_eq!(outcomes[4], Outcome::Closed, "the short one ends it");
        assert_eq!(written.len(), 1);
        let (hdr, super_frame) = &written[0];
        assert_eq!(hdr.gso_type, GsoType::UDP_L4);
        assert_eq!((hdr.gso_size, hdr.csum_start, hdr.csum_offset), (18, 34, 6));
        assert!(hdr.flags.contains(Flags::NEEDS_CSUM));
        // What the kernel does with it: datagrams again, each with its length, its
        // checksum and, DF being set, any ID (the segmenter counts from the first).
        let mut segmenter = crate::offload::Segmenter::new(super_frame, hdr).unwrap();
        let mut out = [0u8; 128];
        for original in &run_of {
            let len = segmenter.next_into(&mut out).unwrap().unwrap();
            let (mut got, mut want) = (out[..len].to_vec(), original.clone());
            // IDs differ only where DF makes them meaningless; both headers checked.
            got[18..20].fill(0);
            want[18..20].fill(0);
            got[24..26].fill(0);
            want[24..26].fill(0);
            assert_eq!(got, want);
        }
        assert!(segmenter.next_into(&mut out).is_none());
    }

    #[test]
    fn udp_flows_never_mix_and_unchecked_datagrams_pass() {
        let frames = [
            datagram(4000, 0, 18, false),
            datagram(4001, 0, 18, false),
            datagram(4000, 1, 18, false),
            datagram(4001, 1, 18, false),
            datagram(4002, 0, 18, true),
        ];
        let mut storage = storage();
        let (outcomes, written) = run::<4>(&mut storage, &frames);
        assert_eq!(outcomes[4], Outcome::Passed(Pass::NoChecksum));
        let gso: Vec<_> = written
            .iter()
            .filter(|(h, _)| h.gso_type == GsoType::UDP_L4)
            .collect();
        assert_eq!(gso.len(), 2, "one super-frame per flow");
        for (_, bytes) in gso {
            assert_eq!(bytes.len(), 42 + 36, "two datagrams of one flow");
        }
    }

    /// Pushes every frame, then flushes; returns the outcomes and what was written.
    fn run<const N: usize>(
        storage: &mut [u8],
        frames: &[Vec<u8>],
    ) -> (Vec<Outcome>, Vec<(VirtioNetHdr, Vec<u8>)>) {
        let mut coalescer = Coalescer::<N>::new(storage);
        let mut written = Vec::new();
        let mut outcomes = Vec::new();
        for f in frames {
            outcomes.push(coalescer.push(f, |e| written.push((e.hdr, e.frame.to_vec()))));
        }
        coalescer.flush(|e| written.push((e.hdr, e.frame.to_vec())));
        assert_eq!(coalescer.open_flows(), 0);
        (outcomes, written)
    }

    fn storage() -> Vec<u8> {
        std::vec![0u8; 4 * MAX_SUPER_FRAME_LEN]
    }

    #[test]
    fn consecutive_segments_make_one_super_frame_with_a_partial_checksum() {
        let frames = [
            segment(1000, 100, 500, ACK, 9, true),
            segment(1000, 600, 500, ACK, 10, true),
            segment(1000, 1100, 200, ACK | tcp::PSH, 11, true),
        ];
        let (outcomes, written) = run::<4>(&mut storage(), &frames);
        assert_eq!(
            outcomes,
            [Outcome::Opened, Outcome::Appended, Outcome::Closed]
        );
        assert_eq!(written.len(), 1);
        let (hdr, bytes) = &written[0];
        assert_eq!(
            *hdr,
            VirtioNetHdr {
                flags: Flags::NEEDS_CSUM,
                gso_type: GsoType::TCPV4,
                hdr_len: 54,
                gso_size: 500,
                csum_start: 34,
                csum_offset: 16,
            }
        );
        assert_eq!(bytes.len(), 54 + 1200);
        assert_eq!(&bytes[16..18], &1240u16.to_be_bytes());
        assert_eq!(
            &bytes[18..20],
            &9u16.to_be_bytes(),
            "the first segment's ID"
        );
        assert_eq!(checksum::sum(&bytes[14..34]), 0xffff);
        assert_eq!(bytes[47], ACK | tcp::PSH);
        let layout = frame::parse(bytes).unwrap();
        assert_eq!(
            &bytes[50..52],
            &frame::pseudo_header_sum(bytes, &layout, 1220).to_be_bytes()
        );
        assert_eq!(
            &bytes[54..],
            &segment(1, 100, 1200, ACK, 0, true)[54..],
            "payload in order"
        );
    }

    #[test]
    fn a_frame_of_an_open_flow_that_cannot_join_goes_out_after_it() {
        let mut bad = segment(1000, 600, 500, ACK, 10, true);
        bad[60] ^= 1;
        let fin = segment(1000, 600, 500, ACK | tcp::FIN, 10, true);
        for (second, pass) in [(bad, Pass::BadChecksum), (fin, Pass::Flags)] {
            let frames = [segment(1000, 100, 500, ACK, 9, true), second.clone()];
            let (outcomes, written) = run::<4>(&mut storage(), &frames);
            assert_eq!(outcomes, [Outcome::Opened, Outcome::Passed(pass)]);
            assert_eq!(
                written,
                [
                    (VirtioNetHdr::NONE, frames[0].clone()),
                    (VirtioNetHdr::NONE, second)
                ]
            );
        }
    }

    #[test]
    fn what_passes_and_why() {
        let mut padded = segment(1, 0, 4, ACK, 0, true);
        padded.extend_from_slice(&[0, 0]);
        let mut options = segment(1, 0, 4, ACK, 0, true);
        options.splice(34..34, [1, 1, 1, 1]); // four NOP options
        options[14] = 0x46;
        options[17] += 4;
        let cases = [
            (std::vec![0u8; 60], Pass::NotTcp),
            (segment(1, 0, 0, ACK, 0, true), Pass::NoPayload),
            (segment(1, 0, 10, tcp::SYN | ACK, 0, true), Pass::Flags),
            (segment(1, 0, 10, 0, 0, true), Pass::Flags),
            (segment(1, 0, 10, ACK | tcp::CWR, 0, true), Pass::Flags),
            (segment(1, 0, 10, ACK | tcp::PSH, 0, true), Pass::Push),
            (padded, Pass::Padding),
            (options, Pass::IpOptions),
        ];
        for (frame, pass) in cases {
            let (outcomes, written) = run::<4>(&mut storage(), core::slice::from_ref(&frame));
            assert_eq!(outcomes, [Outcome::Passed(pass)]);
            assert_eq!(written, [(VirtioNetHdr::NONE, frame)]);
        }
        let mut tiny = [0u8; 4 * 100];
        let (outcomes, _) = run::<4>(&mut tiny, &[segment(1, 0, 60, ACK, 0, true)]);
        assert_eq!(outcomes, [Outcome::Passed(Pass::TooLong)]);
    }

    #[test]
    fn a_gap_a_longer_segment_or_a_shorter_one_ends_the_super_frame() {
        let frames = [
            segment(1, 0, 100, ACK, 0, true),
            segment(1, 200, 100, ACK, 0, true), // a gap: the first goes out alone
            segment(1, 300, 150, ACK, 0, true), // longer: the second goes out alone
            segment(1, 450, 150, ACK, 0, true),
            segment(1, 600, 20, ACK, 0, true), // shorter: appended, closes
            segment(1, 620, 20, ACK, 0, true),
        ];
        let (outcomes, written) = run::<4>(&mut storage(), &frames);
        use Outcome::*;
        assert_eq!(outcomes, [Opened, Opened, Opened, Appended, Closed, Opened]);
        let lengths: Vec<_> = written
            .iter()
            .map(|(h, f)| (h.gso_size, f.len() - 54))
            .collect();
        assert_eq!(lengths, [(0, 100), (0, 100), (150, 320), (0, 20)]);
    }

    #[test]
    fn without_df_only_consecutive_ids_join() {
        let frames = [
            segment(1, 0, 100, ACK, 5, false),
            segment(1, 100, 100, ACK, 7, false),
        ];
        let (_, written) = run::<4>(&mut storage(), &frames);
        assert_eq!(written.len(), 2);
        let frames = [
            segment(1, 0, 100, ACK, 5, false),
            segment(1, 100, 100, ACK, 6, false),
        ];
        assert_eq!(run::<4>(&mut storage(), &frames).1.len(), 1);
        let frames = [
            segment(1, 0, 100, ACK, 5, true),
            segment(1, 100, 100, ACK, 70, true),
        ];
        assert_eq!(
            run::<4>(&mut storage(), &frames).1.len(),
            1,
            "with DF the ID is not looked at"
        );
    }

    #[test]
    fn flows_never_mix_and_the_oldest_makes_room() {
        let frames = [
            segment(1, 0, 100, ACK, 0, true),
            segment(2, 0, 100, ACK, 0, true),
            segment(1, 100, 100, ACK, 1, true),
            segment(2, 100, 100, ACK, 1, true),
        ];
        let (_, written) = run::<2>(&mut storage(), &frames);
        assert_eq!(written.len(), 2);
        for (hdr, bytes) in &written {
            assert_eq!((hdr.gso_size, bytes.len()), (100, 254));
        }
        // One slot: each new flow writes out the other's, so nothing joins.
        let (outcomes, written) = run::<1>(&mut storage(), &frames);
        assert!(outcomes.iter().all(|o| *o == Outcome::Opened));
        assert_eq!(
            written.iter().map(|w| w.1.clone()).collect::<Vec<_>>(),
            frames
        );
    }

    #[test]
    fn super_frames_stop_at_65535_bytes_of_ip_length() {
        let frames: Vec<_> = (0..50)
            .map(|i| segment(1, i * 1400, 1400, ACK, i as u16, true))
            .collect();
        let (_, written) = run::<1>(&mut storage(), &frames);
        for (_, bytes) in &written {
            assert!(bytes.len() - 14 <= 65535);
        }
        // 40 + 46 * 1400 = 64440; a 47th would pass 65535.
        assert_eq!(written[0].1.len() - 54, 46 * 1400);
        assert_eq!(written.len(), 2);
    }
}
