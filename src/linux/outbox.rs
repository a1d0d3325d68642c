//! What one turn of the loop sends: each copy the switch wrote, queued with where it goes
//! and sent when the turn's reading is done, in as few system calls as it takes: to a
//! remote, each run of one flow's VXLAN or Geneve datagrams in one segmented send through
//! the UDP pool and the rest a `sendmmsg` per batch; to a TAP, the TCP segments and UDP
//! datagrams of a flow coalesced into super-frames, one write each. A flood or a burst
//! costs a system call per remote and flow rather than one per frame.
//!
//! Copies are sent in the order they were queued, for each destination (frames of one
//! flow stay in order); destinations take their turn in a fixed order. A copy is counted
//! as sent once the operating system took it, as `write_failed` otherwise: a remote whose
//! send buffer is full (a dead neighbour holds it for the 3 seconds resolution takes to
//! fail) has the rest of its batch refused at once, and no other remote waits for it.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;
use std::vec;

use std::io;
use std::ops::Range;

use super::mmsg;
use super::tap::{Tap, VNET_HDR_LEN};
use super::udp_gso::can_join;
use super::underlay::Underlay;
use crate::offload::{Coalescer, Emit, MAX_SUPER_FRAME_LEN};
use crate::switch::{Egress, Forward, Location, Switch};

/// Flows to one TAP coalesced at once; a ninth writes out the oldest one's super-frame.
const FLOWS: usize = 8;
/// Copies queued before the outbox must be sent to take more.
const CAPACITY: usize = 4096;

/// A copy waiting to be sent.
#[derive(Debug)]
struct Pending {
    /// Its destination's place in the sending order: ports by index, then remote
    /// sockets by index.
    destination: usize,
    /// Its place in the queue, so sorting by destination keeps each one's order.
    sequence: usize,
    egress: Egress,
    /// The forwarding decision it came from, to count it by.
    forward: Forward,
    /// Where the frame lies in the turn's buffer.
    frame: Range<usize>,
}

/// What writing to a TAP needs, allocated once.
#[derive(Debug)]
struct TapIo {
    /// Where TCP segments are coalesced into super-frames.
    storage: Vec<u8>,
    /// The writes of the last push, not counted yet.
    writes: Vec<Write>,
    /// For each frame of the group pushed so far, the number of the write that carries it.
    joined: Vec<u64>,
}

/// One write to a TAP: which frames it carried (see [`Emit`]), and whether it was taken.
#[derive(Debug, Clone, Copy)]
struct Write {
    first: u64,
    frames: u16,
    taken: bool,
}

/// The copies of one turn, waiting to be sent.
#[derive(Debug)]
pub(super) struct Outbox {
    pending: Vec<Pending>,
    /// For each remote of the switch (by id), the underlay's sending socket.
    remote_senders: Vec<usize>,
    ports: usize,
    /// Where TCP segments to a TAP are coalesced into super-frames.
    tap_io: TapIo,
}

impl Outbox {
    /// An outbox for `ports` TAP devices, and remotes sent to through the underlay's
    /// sending sockets `remote_senders` (one per remote id, in id order).
    pub(super) fn new(ports: usize, remote_senders: Vec<usize>) -> Outbox {
        Outbox {
            pending: Vec::with_capacity(CAPACITY),
            remote_senders,
            ports,
            tap_io: TapIo {
                storage: vec![0; FLOWS * MAX_SUPER_FRAME_LEN],
                writes: Vec::with_capacity(CAPACITY),
                joined: Vec::with_capacity(CAPACITY),
            },
        }
    }

    /// Replaces the remotes' sending sockets (one per remote slot) after remotes came or
    /// went; called between turns, with nothing queued.
    #[cfg(feature = "evpn")]
    pub(super) fn set_remote_senders(&mut self, remote_senders: Vec<usize>) {
        self.remote_senders = remote_senders;
    }

    /// Queues the copy of `forward` written at `frame` for `egress`; true when the outbox
    /// is full and must be [sent](Self::send) before it takes another.
    pub(super) fn push(&mut self, egress: Egress, forward: &Forward, frame: Range<usize>) -> bool {
        let destination = match egress {
            Location::Port(port) => port.index(),
            Location::Remote(remote) => {
                // Every remote of the switch has a socket; were one missing, the index past
                // the sockets makes each of its copies a refused write.
                let sender = self.remote_senders.get(remote.index()).copied();
                self.ports.saturating_add(sender.unwrap_or(usize::MAX / 2))
            }
        };
        self.pending.push(Pending {
            destination,
            sequence: self.pending.len(),
            egress,
            forward: forward.clone(),
            frame,
        });
        self.pending.len() >= CAPACITY
    }

    /// True when nothing waits.
    pub(super) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Sends every queued copy from `buf`, counting each in `switch` as sent or
    /// `write_failed`, and empties the outbox.
    pub(super) fn send(
        &mut self,
        buf: &[u8],
        taps: &[Tap],
        underlay: &Underlay,
        switch: &mut Switch,
    ) {
        // Unstable sort on a unique key: no allocation, and each destination's copies
        // keep their order.
        self.pending
            .sort_unstable_by_key(|pending| (pending.destination, pending.sequence));
        let mut rest = self.pending.as_slice();
        while let Some(first) = rest.first() {
            let same = rest
                .iter()
                .position(|pending| pending.destination != first.destination)
                .unwrap_or(rest.len());
            let (group, after) = rest.split_at(same);
            rest = after;
            match first.egress {
                Location::Port(port) => {
                    send_to_port(group, port.of(taps), buf, &mut self.tap_io, switch);
                }
                Location::Remote(_) => {
                    let sender = first.destination.saturating_sub(self.ports);
                    send_to_remote(group, sender, buf, underlay, switch);
                }
            }
        }
        self.pending.clear();
    }
}

/// Sends one remote's copies in order: runs of one flow's VXLAN or Geneve datagrams
/// through the UDP pool, one segmented `sendmsg` each; the rest through the remote's raw
/// socket, a batch per `sendmmsg`.
fn send_to_remote(
    mut group: &[Pending],
    sender: usize,
    buf: &[u8],
    underlay: &Underlay,
    switch: &mut Switch,
) {
    let frame = |pending: &Pending| buf.get(pending.frame.clone()).unwrap_or_default();
    let pooled = |pending: &Pending| {
        underlay
            .udp_senders()
            .and_then(|pool| Some((pool, pool.datagram(frame(pending))?)))
    };
    while let Some(first) = group.first() {
        let (count, taken) = match pooled(first) {
            Some((pool, datagram)) => {
                let mut run = [datagram; mmsg::BATCH];
                let mut len = 1;
                for next in group.iter().skip(1) {
                    let Some((_, next)) = pooled(next) else { break };
                    if !can_join(run.get(..len).unwrap_or_default(), &next) {
                        break;
                    }
                    // `can_join` holds a run below a batch.
                    let Some(slot) = run.get_mut(len) else { break };
                    *slot = next;
                    len = len.saturating_add(1);
                }
                (len, pool.send(run.get(..len).unwrap_or_default()).is_ok())
            }
            None => {
                // Up to the next pooled frame, at most a batch.
                let raw = group
                    .iter()
                    .take(mmsg::BATCH)
                    .position(|pending| pooled(pending).is_some())
                    .unwrap_or(group.len().min(mmsg::BATCH));
                let batch = group.iter().take(raw).map(frame);
                match underlay.send_batch(sender, batch) {
                    Ok(sent @ 1..) => (sent, true),
                    // A full send buffer stays full for the rest of the turn.
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => (raw, false),
                    // Refused for the first (too large, no route): the next may pass.
                    Ok(0) | Err(_) => (1, false),
                }
            }
        };
        let (done, after) = group.split_at(count.clamp(1, group.len()));
        for pending in done {
            if taken {
                switch.count_sent(&pending.forward, pending.egress, frame(pending).len());
            } else {
                switch.count_write_failed(pending.egress);
            }
        }
        group = after;
    }
}

/// Writes one TAP's copies, consecutive TCP segments or UDP datagrams of a flow coalesced
/// into super-frames (the kernel takes each with its virtio-net header and hands the
/// host's stack one packet where there were many); each copy counted as sent or refused
/// with the write that carried it.
fn send_to_port(group: &[Pending], tap: &Tap, buf: &[u8], tap_io: &mut TapIo, switch: &mut Switch) {
    let TapIo {
        storage,
        writes,
        joined,
    } = tap_io;
    joined.clear();
    let mut coalescer: Coalescer<'_, FLOWS> = Coalescer::new(storage);
    // Each write is counted once the frames it carries are known: the frame that closes
    // a super-frame is written before `push` returns.
    for pending in group {
        let frame = buf.get(pending.frame.clone()).unwrap_or_default();
        coalescer.push(frame, |emit| write(tap, emit, writes));
        joined.push(coalescer.joined());
        count_writes(writes, joined, group, switch);
    }
    coalescer.flush(|emit| write(tap, emit, writes));
    count_writes(writes, joined, group, switch);
}

/// Writes one frame or super-frame to `tap` and notes which frames it carried and
/// whether the TAP took it.
fn write(tap: &Tap, emit: Emit<'_>, writes: &mut Vec<Write>) {
    let mut header = [0; VNET_HDR_LEN];
    let taken = emit.hdr.emit(&mut header).is_ok() && tap.send(&header, emit.frame).is_ok();
    writes.push(Write {
        first: emit.first,
        frames: emit.frames,
        taken,
    });
}

/// Counts each frame carried by the `writes` done (`joined[i]` names the write of the
/// group's `i`th frame), and forgets them.
fn count_writes(writes: &mut Vec<Write>, joined: &[u64], group: &[Pending], switch: &mut Switch) {
    for write in writes.drain(..) {
        // Every frame a write carries was pushed at or after its first.
        let from = usize::try_from(write.first).unwrap_or(usize::MAX);
        let carried = joined
            .iter()
            .zip(group)
            .skip(from)
            .filter(|&(&first, _)| first == write.first)
            .take(usize::from(write.frames));
        for (_, pending) in carried {
            if write.taken {
                let len = pending.frame.len();
                switch.count_sent(&pending.forward, pending.egress, len);
            } else {
                switch.count_write_failed(pending.egress);
            }
        }
    }
}
