//! What one turn of the loop sends: each copy the switch wrote, queued with where it goes
//! and sent when the turn's reading is done, every remote's copies in as few `sendmmsg`
//! calls as its batches need, so a flood or a burst costs one system call per remote
//! rather than one per frame.
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

use std::io;
use std::ops::Range;

use super::mmsg;
use super::tap::{Tap, VNET_HDR_LEN};
use super::underlay::Underlay;
use crate::switch::{Egress, Forward, Location, Switch};

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

/// The copies of one turn, waiting to be sent.
#[derive(Debug)]
pub(super) struct Outbox {
    pending: Vec<Pending>,
    /// For each remote of the switch (by id), the underlay's sending socket.
    remote_senders: Vec<usize>,
    ports: usize,
}

impl Outbox {
    /// An outbox for `ports` TAP devices, and remotes sent to through the underlay's
    /// sending sockets `remote_senders` (one per remote id, in id order).
    pub(super) fn new(ports: usize, remote_senders: Vec<usize>) -> Outbox {
        Outbox {
            pending: Vec::with_capacity(CAPACITY),
            remote_senders,
            ports,
        }
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
                    for pending in group {
                        let frame = buf.get(pending.frame.clone()).unwrap_or_default();
                        match port.of(taps).send(&[0; VNET_HDR_LEN], frame) {
                            Ok(()) => {
                                switch.count_sent(&pending.forward, pending.egress, frame.len())
                            }
                            Err(_) => switch.count_write_failed(pending.egress),
                        }
                    }
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

/// Sends one remote's copies through its socket, a batch per system call.
fn send_to_remote(
    mut group: &[Pending],
    sender: usize,
    buf: &[u8],
    underlay: &Underlay,
    switch: &mut Switch,
) {
    let frame = |pending: &Pending| buf.get(pending.frame.clone()).unwrap_or_default();
    while !group.is_empty() {
        let batch = group.iter().take(mmsg::BATCH).map(frame);
        let (count, accepted) = match underlay.send_batch(sender, batch) {
            Ok(sent @ 1..) => (sent, true),
            // A full send buffer stays full for the rest of the turn.
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => (group.len(), false),
            // Refused for the first (too large, no route): the next may pass.
            Ok(0) | Err(_) => (1, false),
        };
        let (done, after) = group.split_at(count.min(group.len()));
        for pending in done {
            if accepted {
                switch.count_sent(&pending.forward, pending.egress, frame(pending).len());
            } else {
                switch.count_write_failed(pending.egress);
            }
        }
        group = after;
    }
}
