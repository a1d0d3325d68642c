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
mod tests;
