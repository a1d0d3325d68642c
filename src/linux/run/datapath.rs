//! The data path of the run loop: frames read from TAPs (segmented when the kernel hands
//! over a super-frame) and from the underlay's sockets (a batch per system call), handed
//! to the switch, and every copy it asks for queued in the outbox.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use std::eprintln;
use std::io;
use std::ops::Range;

use super::{BATCH, COPIES, COPIES_START, PLACED, PLACED_START, SLOT, Vtep};
use crate::linux::tap::VNET_HDR_LEN;
use crate::offload::{Flags, GsoType, Segmenter, VirtioNetHdr, complete_checksum};
use crate::switch::{Egress, Forward, Ingress, PortId, Reason, Verdict};
use crate::tunnel::HEADROOM;

impl Vtep {
    /// Reads up to a batch of frames from a TAP and sends what they became; false when
    /// the device is gone.
    ///
    /// Each read lands in the staging buffer: an ordinary frame is copied into the next
    /// place of the placed frames' area (at most an MTU, cheap beside the read), a
    /// super-frame is cut there into segments, each in its own place; every one is then handed to the
    /// switch, and the copies go out when the area is full or the batch is done.
    pub(super) fn drain_tap(&mut self, port: PortId) -> bool {
        let mut alive = true;
        let mut staging = std::mem::take(&mut self.staging);
        for _ in 0..BATCH {
            let mut header = [0; VNET_HDR_LEN];
            match port.of(&self.taps).recv(&mut header, &mut staging) {
                Ok(len) => {
                    let read = staging.get_mut(..len).unwrap_or_default();
                    self.take_tap_read(port, &header, read);
                }
                Err(error) => {
                    if !matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) {
                        eprintln!("vtep: reading {}: {error}", port.of(&self.taps).name());
                        // EBADFD: the device was deleted; anything else may pass.
                        alive = error.raw_os_error() != Some(libc::EBADFD);
                    }
                    break;
                }
            }
        }
        self.staging = staging;
        self.send_outbox();
        alive
    }

    /// One read from a TAP: a frame, a frame whose checksum the kernel left to finish, or
    /// a super-frame to segment; a header that makes no sense for its frame is counted as
    /// malformed.
    fn take_tap_read(&mut self, port: PortId, header: &[u8; VNET_HDR_LEN], read: &mut [u8]) {
        let ingress = Ingress::Port(port);
        let hdr = match VirtioNetHdr::parse(header) {
            Ok(hdr) => hdr,
            Err(_) => return self.switch.count_port_drop(port, Reason::Malformed),
        };
        if hdr.gso_type == GsoType::NONE {
            if hdr.flags.contains(Flags::NEEDS_CSUM) && complete_checksum(read, &hdr).is_err() {
                return self.switch.count_port_drop(port, Reason::Malformed);
            }
            if let Some(frame) = self.place(read.len()) {
                if let Some(room) = self.frames.get_mut(frame.clone()) {
                    room.copy_from_slice(read);
                }
                self.dispatch(ingress, frame);
            }
            return;
        }
        let mut segmenter = match Segmenter::new(read, &hdr) {
            Ok(segmenter) => segmenter,
            Err(_) => return self.switch.count_port_drop(port, Reason::Malformed),
        };
        let longest = segmenter.max_segment_len();
        while segmenter.remaining() > 0 {
            let Some(place) = self.place(longest) else {
                return;
            };
            let room = self.frames.get_mut(place.clone()).unwrap_or_default();
            match segmenter.next_into(room) {
                Some(Ok(len)) => {
                    self.placed_used = place.start.saturating_add(len).saturating_sub(PLACED_START);
                    self.dispatch(ingress, place.start..place.start.saturating_add(len));
                }
                Some(Err(_)) | None => {
                    return self.switch.count_port_drop(port, Reason::Malformed);
                }
            }
        }
    }

    /// Room for a frame of up to `len` bytes in the placed frames' area, after the
    /// headroom the switch writes tunnel headers in (sending what waits, to free the
    /// area, when it is full); `None` for a frame longer than the area.
    fn place(&mut self, len: usize) -> Option<Range<usize>> {
        let need = HEADROOM.saturating_add(len);
        if need > PLACED {
            return None;
        }
        if self.placed_used.saturating_add(need) > PLACED {
            self.send_outbox();
        }
        let start = PLACED_START
            .saturating_add(self.placed_used)
            .saturating_add(HEADROOM);
        self.placed_used = self.placed_used.saturating_add(need);
        Some(start..start.saturating_add(len))
    }

    /// Reads a batch of payloads from the underlay's `receiver`th socket in one system
    /// call, and sends what they became.
    pub(super) fn drain_underlay(&mut self, receiver: usize) {
        let Some(socket) = self.underlay.receivers().get(receiver) else {
            return;
        };
        self.received.clear();
        let slots = self
            .frames
            .get_mut(..BATCH.saturating_mul(SLOT))
            .unwrap_or_default();
        if let Err(error) = socket.recv_batch(slots, SLOT, &mut self.received) {
            if error.kind() != io::ErrorKind::WouldBlock {
                eprintln!("vtep: underlay receive: {error}");
            }
            return;
        }
        for index in 0..self.received.len() {
            let Some(received) = self.received.get(index) else {
                continue;
            };
            let (ingress, payload) = (received.ingress(), received.payload.clone());
            match received.segment_size.map(usize::from) {
                Some(size @ 1..) if payload.len() > size => {
                    self.dispatch_coalesced(ingress, payload, size);
                }
                _ => self.dispatch(ingress, payload),
            }
        }
        self.send_outbox();
    }

    /// Hands each datagram of a run the kernel coalesced (`UDP_GRO`) to the switch: the
    /// first where it lies, each next one placed first, with headroom of its own
    /// (rewritten where it lies, a datagram could overwrite the one before it, which may
    /// wait in the outbox).
    fn dispatch_coalesced(&mut self, ingress: Ingress, run: Range<usize>, size: usize) {
        let first = run.start..run.start.saturating_add(size);
        let mut next = first.end;
        self.dispatch(ingress, first);
        while next < run.end {
            let end = next.saturating_add(size).min(run.end);
            let Some(place) = self.place(end.saturating_sub(next)) else {
                return;
            };
            self.frames.copy_within(next..end, place.start);
            self.dispatch(ingress, place);
            next = end;
        }
    }

    /// Hands one frame to the switch and queues every copy it asks for.
    fn dispatch(&mut self, ingress: Ingress, frame: Range<usize>) {
        let now = self.start.elapsed();
        let Verdict::Forward(forward) = self.switch.receive(now, ingress, &mut self.frames, frame)
        else {
            return;
        };
        let count = self.switch.targets().len();
        for i in 0..count {
            let Some(&egress) = self.switch.targets().get(i) else {
                return;
            };
            // One target: written in place. A flood: each copy in the copies' area, as
            // copies differ (tags, outer headers).
            let written = if count == 1 {
                self.switch
                    .emit(&forward, egress, &mut self.frames, forward.frame.clone())
            } else {
                self.emit_copy(&forward, egress)
            };
            if let Ok(range) = written
                && self.outbox.push(egress, &forward, range)
            {
                self.send_outbox();
            }
        }
    }

    /// Writes a copy of `forward`'s frame for `egress` in the copies' area (sending the
    /// outbox first if the area is full) and returns where it lies.
    fn emit_copy(&mut self, forward: &Forward, egress: Egress) -> Result<Range<usize>, Reason> {
        // The frame and its tunnel headers, with the headroom the switch writes them in.
        let need = HEADROOM.saturating_add(forward.frame.len());
        if self.copies_used.saturating_add(need) > COPIES {
            self.send_outbox();
        }
        // The frame lies in a slot or among the placed frames, before the copies.
        let (received, copies) = self.frames.split_at_mut(COPIES_START);
        let inner = received.get(forward.frame.clone()).unwrap_or_default();
        let start = self.copies_used;
        let out = copies
            .get_mut(start..start.saturating_add(need))
            .unwrap_or_default();
        let written = self.switch.emit_copy(forward, egress, inner, out)?;
        self.copies_used = start.saturating_add(need);
        // No overflow: the copy lies inside `frames`.
        let offset = COPIES_START.saturating_add(start);
        Ok(written.start.saturating_add(offset)..written.end.saturating_add(offset))
    }

    /// Sends every queued copy; the placed frames' and the copies' areas are free again.
    pub(super) fn send_outbox(&mut self) {
        if !self.outbox.is_empty() {
            self.outbox
                .send(&self.frames, &self.taps, &self.underlay, &mut self.switch);
        }
        self.copies_used = 0;
        self.placed_used = 0;
    }
}
