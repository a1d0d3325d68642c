//! EVPN for vtep (feature `evpn`): BGP EVPN routes exchanged through a local gobgpd,
//! driven over its gRPC API.
//!
//! Three parts, by job: [`routes`] (EVPN routes as plain values, and their gobgpd API
//! form), [`client`] (the gRPC session, on its own thread), `state` (what routes do to
//! the switch, on the run loop's thread). This file joins them: the run loop polls
//! [`Evpn::fd`], which the session thread writes to after each report, then calls
//! [`Evpn::poll`]; once a second, [`Evpn::tick`] compares the MACs learned on local
//! ports with those advertised. The run loop never waits on gobgpd: an order to the
//! session is a message on an unbounded channel, and a report one on another.
//!
//! Local MACs are found by that comparison rather than by the switch's events: its
//! event queue is bounded and drops the oldest (a burst of new hosts would lose their
//! advertisements), while a comparison with the table heals itself and covers
//! learning, moves between ports and VTEPs, and ageing at once, at the cost of a walk
//! of the table each second.

// Reached by routes from other hosts: no unchecked indexing, no arithmetic that could
// overflow; and no unsafe code, unlike the rest of the driver.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]
#![forbid(unsafe_code)]

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
use tokio::sync::mpsc::UnboundedSender;

pub mod api;
pub mod client;
pub mod routes;
mod state;

use super::config::EvpnSettings;
use crate::switch::Switch;
use client::{FromBgp, Session, ToBgp};
use state::State;

/// The EVPN side of a running vtep: its state, and its ends of the session's channels.
#[derive(Debug)]
pub struct Evpn {
    state: State,
    /// Taken when vtep stops: the session then withdraws its routes and ends.
    orders: Option<UnboundedSender<ToBgp>>,
    reports: mpsc::Receiver<FromBgp>,
    /// Readable when reports wait.
    wake: UnixStream,
    /// Disconnected once the session thread has ended.
    done: mpsc::Receiver<()>,
}

/// How long a stopping vtep waits for the session to withdraw its routes.
const STOP_WAIT: Duration = Duration::from_secs(3);

impl Evpn {
    /// Starts the session thread and orders the type-3 route of each segment; it
    /// connects in the background (gobgpd may come later: it keeps trying).
    ///
    /// # Errors
    /// The wake-up socket pair or the thread cannot be created.
    pub fn start(settings: EvpnSettings) -> io::Result<Evpn> {
        let (wake, wake_writer) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        // The session never blocks on a run loop that is slow to read: a full socket
        // already means "wake up".
        wake_writer.set_nonblocking(true)?;
        let (orders, orders_rx) = tokio::sync::mpsc::unbounded_channel();
        let (reports_tx, reports) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let session = Session {
            gobgp: settings.gobgp,
            asn: settings.asn,
            router_id: settings.router_id,
            orders: orders_rx,
            reports: reports_tx,
            wake: wake_writer,
            done: done_tx,
        };
        eprintln!(
            "vtep: evpn: gobgpd at {}, route targets {}:VNI, route distinguishers {}:N",
            settings.gobgp, settings.asn, settings.router_id
        );
        let mut state = State::new(settings);
        for order in state.start() {
            // The receiver is alive: the thread is not started yet.
            let _ = orders.send(order);
        }
        // Detached: it ends when `orders` closes, as this value drops.
        thread::Builder::new()
            .name("vtep-evpn".into())
            .spawn(move || {
                // vtep takes SIGINT and SIGTERM through a signalfd on its run loop's
                // thread, which blocks them: a thread that did not would take a
                // process-directed SIGTERM itself, and die of it with the process.
                let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None);
                client::run(session);
            })?;
        Ok(Evpn {
            state,
            orders: Some(orders),
            reports,
            wake,
            done,
        })
    }

    /// The descriptor to poll for reading: reports are waiting.
    pub fn fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// Applies the session's reports to the switch. True when remotes were added or
    /// removed: the driver then refreshes its per-remote lists.
    pub fn poll(&mut self, switch: &mut Switch) -> bool {
        let mut buf = [0u8; 256];
        // Emptied before the reports are read: a report sent meanwhile wakes the next poll.
        while matches!((&self.wake).read(&mut buf), Ok(1..)) {}
        while let Ok(report) = self.reports.try_recv() {
            self.state.apply(switch, report);
        }
        self.state.take_remotes_changed()
    }

    /// Once a second: advertises the MACs newly learned on local ports, withdraws those
    /// gone. True when remotes were added or removed.
    pub fn tick(&mut self, switch: &mut Switch, now: Duration) -> bool {
        for order in self.state.reconcile(switch, now) {
            if let Some(orders) = &self.orders {
                // A session thread that died has logged why; forwarding goes on.
                let _ = orders.send(order);
            }
        }
        self.state.take_remotes_changed()
    }

    /// The routes sent and received as JSON lines (`vtep ctl PATH evpn`).
    pub fn lines(&self) -> String {
        self.state.lines()
    }

    /// As [`lines`](Self::lines), when the routes changed since the last call.
    pub fn lines_if_changed(&mut self) -> Option<String> {
        self.state.take_changed().then(|| self.state.lines())
    }
}

impl Drop for Evpn {
    /// Ends the session, which withdraws vtep's routes from gobgpd first, and waits a
    /// few seconds at most for it.
    fn drop(&mut self) {
        self.orders = None;
        let _ = self.done.recv_timeout(STOP_WAIT);
    }
}
