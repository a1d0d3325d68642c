//! The driver: one poll loop moving frames between the TAP devices, the underlay sockets
//! and the switch core.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;
use std::{eprintln, format, vec};

use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

mod datapath;
#[cfg(feature = "evpn")]
mod evpn;

use super::config::VtepConfig;
use super::control::{ControlSocket, Names};
use super::mmsg;
use super::outbox::Outbox;
use super::tap::Tap;
use super::underlay::{Received, Underlay};
use crate::switch::{Location, PortId, Reason, Switch};
use crate::tunnel::{HEADROOM, TunnelKind};

/// Frames read from one descriptor per turn of the loop (one `recvmmsg` from a socket),
/// so no source starves the others.
const BATCH: usize = mmsg::BATCH;
/// A receive slot: room for the largest datagram a socket can deliver, after the
/// headroom.
const SLOT: usize = HEADROOM + 65_536;
/// Where frames are placed one after another, after the receive slots: each read from a
/// TAP (or each segment of a super-frame), and each datagram of a run the kernel
/// coalesced past the first. Room for at least the largest; when full, the outbox is
/// sent and it starts over.
const PLACED: usize = 1 << 20;
/// Where the copies of floods are written, after the placed frames: room for at least
/// one of the largest copy; when full, the outbox is sent and it starts over.
const COPIES: usize = 1 << 20;
/// Where the placed frames start in the turn's buffer.
const PLACED_START: usize = BATCH * SLOT;
/// Where the copies start in the turn's buffer.
const COPIES_START: usize = PLACED_START + PLACED;
/// The longest read from a TAP: a super-frame of 64 KiB of IP behind Ethernet and a tag.
const STAGING: usize = 65_536 + 64;
/// The turn's buffer: a slot per frame of a batch, the placed frames, then the copies.
const FRAMES: usize = COPIES_START + COPIES;
/// How often entries are aged, drops logged and MAC moves reported.
const TICK: Duration = Duration::from_secs(1);
/// MAC moves listed per tick; the rest are summed up.
const MOVES_LOGGED: u64 = 16;

/// A running VTEP: the switch core, its TAP devices and underlay sockets.
#[derive(Debug)]
pub struct Vtep {
    switch: Switch,
    names: Names,
    taps: Vec<Tap>,
    underlay: Underlay,
    control: Option<ControlSocket>,
    /// The turn's frames: each received into a slot after the headroom (a copy with one
    /// destination leaves from there, rewritten in place), then the copies of floods.
    frames: Vec<u8>,
    /// Bytes of the copies' area in use.
    copies_used: usize,
    /// Bytes of the placed frames' area in use.
    placed_used: usize,
    /// Where a TAP read lands first: a super-frame is segmented from here.
    staging: Vec<u8>,
    /// What the underlay's last batch put in the slots.
    received: Vec<Received>,
    /// The copies waiting to be sent.
    outbox: Outbox,
    start: Instant,
    /// Drops per reason already logged.
    logged: [u64; Reason::ALL.len()],
    /// MAC moves already logged.
    moves_logged: u64,
    /// `[evpn]`: routes through gobgpd.
    #[cfg(feature = "evpn")]
    evpn: Option<super::evpn::Evpn>,
}

impl Vtep {
    /// Opens, with `control`, the control socket (first: a path that is taken stops
    /// everything before a device exists), then creates the TAP devices and opens the
    /// underlay sockets.
    ///
    /// # Errors
    /// A device or socket that cannot be created, with its name in the message; a
    /// control path that holds something other than a socket, or a socket another
    /// process answers on (see [`ControlSocket::bind`]).
    pub fn new(config: &VtepConfig, control: Option<&Path>) -> io::Result<Vtep> {
        let seed = RandomState::new().hash_one(std::process::id());
        let invalid =
            |e: super::ConfigError| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
        // Built once to check the configuration before anything is opened, and again
        // once the underlay knows the source ports its sockets send from.
        let switch = config.build(seed).map_err(invalid)?;
        let context =
            |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
        let control = control
            .map(|path| {
                ControlSocket::bind(path)
                    .map_err(context(format!("control socket {}", path.display())))
            })
            .transpose()?;
        let mut taps = Vec::new();
        for device in config.devices() {
            let tap = Tap::create(&device.name, device.mtu)
                .map_err(context(format!("TAP device {}", device.name)))?;
            taps.push(tap);
        }
        let settings = switch.config();
        let (local_ipv4, local_ipv6) = (settings.local_ipv4, settings.local_ipv6);
        let locals: Vec<String> = [local_ipv4.map(IpAddr::V4), local_ipv6.map(IpAddr::V6)]
            .into_iter()
            .flatten()
            .map(|ip| ip.to_string())
            .collect();
        // Geneve's port is bound only for Geneve remotes: another program (Open vSwitch,
        // the kernel's geneve device) may hold it.
        let geneve = switch
            .remotes()
            .any(|(.., kind)| kind == TunnelKind::Geneve)
            .then_some(settings.geneve_port);
        let ports = match geneve {
            Some(port) => format!("VXLAN port {}, Geneve port {port}", settings.vxlan_port),
            None => format!("VXLAN port {}", settings.vxlan_port),
        };
        let mut underlay = Underlay::open(
            local_ipv4,
            local_ipv6,
            settings.vxlan_port,
            geneve,
            config.underlay.nvgre,
        )
        .map_err(context(format!(
            "underlay sockets on {} ({ports})",
            locals.join(" and ")
        )))?;
        let switch = config
            .build_with_source_ports(seed, underlay.source_ports())
            .map_err(invalid)?;
        for (_, _, remote, _) in switch.remotes() {
            underlay
                .add_remote(remote)
                .map_err(context(format!("the socket sending to remote {remote}")))?;
        }
        let remote_senders = switch
            .remotes()
            .map(|(_, _, ip, _)| underlay.sender(ip).unwrap_or(usize::MAX))
            .collect();
        let outbox = Outbox::new(taps.len(), remote_senders);
        // Started last: nothing else can fail after its thread runs.
        #[cfg(feature = "evpn")]
        let evpn = config
            .evpn()
            .map_err(invalid)?
            .map(super::evpn::Evpn::start)
            .transpose()
            .map_err(context("EVPN".into()))?;
        let names = Names {
            ports: taps.iter().map(|t| t.name().to_owned()).collect(),
            remotes: switch.remotes().map(|(_, _, ip, _)| ip).collect(),
            #[cfg(feature = "evpn")]
            evpn: evpn.as_ref().map(super::evpn::Evpn::lines),
            #[cfg(not(feature = "evpn"))]
            evpn: None,
        };
        Ok(Vtep {
            switch,
            names,
            taps,
            underlay,
            control,
            frames: vec![0; FRAMES],
            copies_used: 0,
            placed_used: 0,
            staging: vec![0; STAGING],
            received: Vec::with_capacity(BATCH),
            outbox,
            start: Instant::now(),
            logged: [0; Reason::ALL.len()],
            moves_logged: 0,
            #[cfg(feature = "evpn")]
            evpn,
        })
    }

    /// The switch core.
    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// Runs until SIGINT or SIGTERM, then returns (dropping the value removes the TAP
    /// devices and the control socket). SIGHUP is logged and ignored: there is no reload
    /// (restart to change the configuration), and a closed terminal must not stop a
    /// switch that would leave its TAP devices and control socket behind.
    ///
    /// The signals arrive through a signalfd, so this changes process state an embedding
    /// program should know of: SIGINT and SIGTERM get back their default disposition for
    /// the whole process (any handler installed before is replaced), and the three stay
    /// blocked on the calling thread after `run` returns.
    ///
    /// # Errors
    /// The signals cannot be redirected to a signalfd, or poll fails.
    pub fn run(&mut self) -> io::Result<()> {
        let mut signals = SigSet::empty();
        signals.add(Signal::SIGINT);
        signals.add(Signal::SIGTERM);
        // Not given back its default disposition: a SIGHUP ignored by whoever started
        // vtep (nohup) stays ignored.
        signals.add(Signal::SIGHUP);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&signals), None)?;
        // A shell starts background jobs with SIGINT ignored, and an ignored signal never
        // reaches a signalfd: take the default back (the signals are blocked by now).
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: installs no handler, only the default disposition.
            unsafe { signal::signal(signal, SigHandler::SigDfl) }?;
        }
        let signal_fd =
            SignalFd::with_flags(&signals, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;

        // Descriptor order: TAPs, the underlay's receivers, signals; then what the control
        // socket asks for, anew each turn (its clients come and go).
        let mut fds: Vec<RawFd> = self.taps.iter().map(|t| t.as_fd().as_raw_fd()).collect();
        let receivers = fds.len()..fds.len().saturating_add(self.underlay.receivers().len());
        fds.extend(self.underlay.receivers().iter().map(|r| r.fd().as_raw_fd()));
        let signal_slot = push(&mut fds, signal_fd.as_fd().as_raw_fd());
        // EVPN's reports, when on; the slot past the end otherwise.
        #[cfg(feature = "evpn")]
        let evpn_slot = match &self.evpn {
            Some(evpn) => push(&mut fds, evpn.fd()),
            None => fds.len(),
        };
        let data_plane = fds.len();
        let mut pollfds: Vec<libc::pollfd> = fds
            .iter()
            .map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        eprintln!(
            "vtep: running: {} port(s), {} remote(s), {} segment(s)",
            self.taps.len(),
            self.names.remotes.len(),
            self.switch.segments().count()
        );
        // Saturates 584 billion years from now.
        let mut next_tick = self.start.elapsed().saturating_add(TICK);
        loop {
            pollfds.truncate(data_plane);
            if let Some(control) = &self.control {
                control.poll_fds(&mut pollfds);
            }
            let now = self.start.elapsed();
            let wait = next_tick.saturating_sub(now).as_millis().min(1000) as libc::c_int;
            // SAFETY: `pollfds` is a live, initialised array of `len` pollfd structures.
            let ready =
                unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, wait) };
            if ready < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            let (data_pollfds, control_pollfds) = pollfds.split_at_mut(data_plane);
            for (slot, pollfd) in data_pollfds.iter_mut().enumerate() {
                if pollfd.revents == 0 {
                    continue;
                }
                pollfd.revents = 0;
                if slot < self.taps.len() {
                    // Slots below the TAP count are the TAPs, in port order.
                    let port = PortId(slot as u16);
                    if !self.drain_tap(port) {
                        // Deleted under us: stop polling it rather than spin on errors.
                        eprintln!(
                            "vtep: {} is gone; no longer polled",
                            port.of(&self.taps).name()
                        );
                        pollfd.fd = -1;
                    }
                } else if receivers.contains(&slot) {
                    // Receiver slots follow the TAPs, in the underlay's order.
                    self.drain_underlay(slot.saturating_sub(receivers.start));
                } else if slot == signal_slot {
                    match signal_fd.read_signal() {
                        Ok(Some(info)) if info.ssi_signo == Signal::SIGHUP as u32 => {
                            eprintln!(
                                "vtep: SIGHUP: ignored (no reload: restart vtep to change \
                                 its configuration)"
                            );
                        }
                        Ok(Some(info)) => {
                            eprintln!("vtep: signal {}: stopping", info.ssi_signo);
                            self.tick(self.start.elapsed());
                            return Ok(());
                        }
                        Ok(None) | Err(_) => {}
                    }
                } else {
                    #[cfg(feature = "evpn")]
                    if slot == evpn_slot {
                        self.evpn_poll();
                    }
                }
            }
            if let Some(control) = &mut self.control {
                let now = self.start.elapsed();
                control.serve(control_pollfds, &self.switch, &self.names, now);
            }
            let now = self.start.elapsed();
            if now >= next_tick {
                self.tick(now);
                next_tick = now.saturating_add(TICK);
            }
        }
    }

    /// Once a second: age the MAC table, report MAC moves and new drops, let go of
    /// control clients that stalled, advertise and withdraw local MACs over EVPN.
    fn tick(&mut self, now: Duration) {
        self.switch.age(now);
        #[cfg(feature = "evpn")]
        self.evpn_tick(now);
        if let Some(control) = &mut self.control {
            control.tick(now);
        }
        let mut listed: u64 = 0;
        while let Some(event) = self.switch.take_event() {
            if listed < MOVES_LOGGED {
                let (from_kind, from) = self.describe(event.from);
                let (to_kind, to) = self.describe(event.to);
                eprintln!(
                    "vtep: segment {}: {} moved from {from_kind} {from} to {to_kind} {to}",
                    event.vni, event.mac
                );
                listed = listed.saturating_add(1);
            }
        }
        // The events hold the latest moves only (the switch keeps a bounded queue): the
        // counters hold them all.
        let moves = self
            .switch
            .segments()
            .map(|(segment, _)| self.switch.segment_counters(segment).mac_moves)
            .fold(0, u64::wrapping_add);
        let new = moves.wrapping_sub(self.moves_logged);
        self.moves_logged = moves;
        if let Some(more @ 1..) = new.checked_sub(listed) {
            eprintln!("vtep: {more} more MAC move(s), not listed ({moves} in all)");
        }
        for (reason, logged) in Reason::ALL.iter().zip(&mut self.logged) {
            let total = drops(&self.switch, *reason);
            if let Some(new @ 1..) = total.checked_sub(*logged) {
                eprintln!("vtep: {new} frame(s) counted as {reason} ({total} in all)");
                *logged = total;
            }
        }
    }

    fn describe(&self, location: Location) -> (&'static str, String) {
        match location {
            Location::Port(port) => ("port", port.of(&self.names.ports).clone()),
            Location::Remote(remote) => ("remote", remote.of(&self.names.remotes).to_string()),
        }
    }
}

/// Every frame counted under `reason`: each is charged to exactly one port, remote or
/// the underlay. Wraps, as the counters do.
fn drops(switch: &Switch, reason: Reason) -> u64 {
    let ports = switch
        .ports()
        .map(|port| switch.port_counters(port).get(reason));
    let remotes = switch
        .remotes()
        .map(|(id, ..)| switch.remote_counters(id).get(reason));
    let underlay = switch.underlay_counters().get(reason);
    ports.chain(remotes).fold(underlay, u64::wrapping_add)
}

/// Pushes `fd` and returns its slot.
fn push(fds: &mut Vec<RawFd>, fd: RawFd) -> usize {
    let slot = fds.len();
    fds.push(fd);
    slot
}
