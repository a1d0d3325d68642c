//! The control socket's server, inside the driver's poll loop: it never holds up
//! forwarding. Every socket is non-blocking and each turn of the loop does a bounded
//! amount for it: at most [`ACCEPTS_PER_TURN`] new clients, one read or one round of
//! writes per ready client, and one part of an `fdb` listing ([`FDB_PART`] entries)
//! across all clients. A reply waits in vtep only as far as one part (the whole of a
//! `stats` answer), beyond what the kernel's socket buffer holds; the next part is
//! written only once a client has taken the last. A client that sends no command, or
//! takes none of its reply, for [`PATIENCE`] is dropped and closed, and so is one past
//! [`MAX_CLIENTS`]: counted (in `stats`, under `control`) and logged once a second.
//!
//! Measured before (tests/interop.sh, scenario h): 200 clients that connected and idled
//! and 5 that asked for the `fdb` of 100k MACs without reading stalled a ping flood
//! through vtep for 8 s (32% lost), as each client was served with blocking I/O.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;
use std::{eprintln, format};

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{MsgFlags, send};
use serde_json::{Value, json};

use super::listen::{self, BoundFile};
use super::{FdbListing, Names, stats};
use crate::switch::Switch;

/// Clients served at once; more are closed as soon as they are accepted.
const MAX_CLIENTS: usize = 64;
/// New clients accepted per turn of the loop.
const ACCEPTS_PER_TURN: usize = 16;
/// How long a client may go without sending its command or taking any of its reply.
const PATIENCE: Duration = Duration::from_secs(2);
/// `fdb` entries written per part: about 100 KiB of JSON, in a few milliseconds for a
/// table of 100k entries (one pass over it per part).
const FDB_PART: usize = 1024;
/// The longest command read: the commands are a few bytes.
const COMMAND_MAX: usize = 256;

/// The listening side, in the driver's poll loop, which it never holds up: its sockets
/// are non-blocking, each turn does a bounded amount for them (16 accepts, one read or
/// round of writes per ready client, one part of 1024 `fdb` entries in all), and a
/// client that stalls for 2 seconds, or comes past 64 at once, is closed and counted.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    file: BoundFile,
    clients: Vec<Client>,
    /// Clients dropped for want of patience, and refused past `MAX_CLIENTS`.
    dropped: Dropped,
    /// What the log has said of them so far.
    logged: Dropped,
}

/// Clients the socket let go before their answer was out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Dropped {
    stalled: u64,
    refused: u64,
}

/// A connected client: reading its command, then being written its reply.
#[derive(Debug)]
struct Client {
    stream: UnixStream,
    command: Vec<u8>,
    reply: Option<Reply>,
    /// When it last moved: connected, sent part of its command or took part of its reply.
    moved: Duration,
}

#[derive(Debug)]
struct Reply {
    bytes: Vec<u8>,
    sent: usize,
    /// The `fdb` entries still to write, if any.
    fdb: Option<FdbListing>,
}

/// What a turn did with a client.
enum Outcome {
    Keep,
    /// Its reply is out, or it went away.
    Done,
}

impl ControlSocket {
    /// Listens on `path`, mode 0600 whatever the umask, replacing a stale socket file
    /// there (one nobody answers on).
    ///
    /// # Errors
    /// `AlreadyExists` when `path` is something other than a socket; `AddrInUse` when
    /// a process answers on the socket there; the directory does not exist or is not
    /// writable.
    pub fn bind(path: &Path) -> io::Result<ControlSocket> {
        let (listener, file) = listen::listen(path)?;
        Ok(ControlSocket {
            listener,
            path: path.to_owned(),
            file,
            clients: Vec::new(),
            dropped: Dropped::default(),
            logged: Dropped::default(),
        })
    }

    /// Appends what to poll: the listener, then each client, for its command or for room
    /// to write its reply. [`serve`](Self::serve) takes back the same entries.
    pub fn poll_fds(&self, pollfds: &mut Vec<libc::pollfd>) {
        let entry = |fd, events| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        pollfds.push(entry(self.listener.as_raw_fd(), libc::POLLIN));
        for client in &self.clients {
            let events = if client.reply.is_some() {
                libc::POLLOUT
            } else {
                libc::POLLIN
            };
            pollfds.push(entry(client.stream.as_raw_fd(), events));
        }
    }

    /// One turn's work: serves the clients `ready` (the entries [`poll_fds`](Self::poll_fds)
    /// appended, after poll) says are ready, then accepts new ones.
    pub fn serve(&mut self, ready: &[libc::pollfd], switch: &Switch, names: &Names, now: Duration) {
        let (listener, ready) = ready
            .split_first()
            .map_or((0, ready), |(l, c)| (l.revents, c));
        let mut parts = 1;
        let mut ready = ready.iter().map(|pollfd| pollfd.revents);
        let dropped = self.dropped;
        self.clients.retain_mut(|client| {
            // Clients accepted since poll_fds have no entry: they wait for the next turn.
            let revents = ready.next().unwrap_or(0);
            revents == 0
                || matches!(
                    client.turn(switch, names, dropped, now, &mut parts),
                    Outcome::Keep
                )
        });
        // The next turn starts with another client, so one that reads fast does not take
        // every part of the fdb while the others wait.
        if !self.clients.is_empty() {
            self.clients.rotate_left(1);
        }
        if listener & libc::POLLIN == 0 {
            return;
        }
        for _ in 0..ACCEPTS_PER_TURN {
            let Ok((stream, _)) = self.listener.accept() else {
                return;
            };
            if self.clients.len() >= MAX_CLIENTS || stream.set_nonblocking(true).is_err() {
                self.dropped.refused = self.dropped.refused.wrapping_add(1);
                continue;
            }
            self.clients.push(Client {
                stream,
                command: Vec::new(),
                reply: None,
                moved: now,
            });
        }
    }

    /// Drops the clients that have not moved for 2 seconds, and logs the clients
    /// dropped or refused since the last call: the loop calls it once a second.
    pub fn tick(&mut self, now: Duration) {
        let before = self.clients.len();
        self.clients
            .retain(|client| now.saturating_sub(client.moved) < PATIENCE);
        // At most MAX_CLIENTS went.
        let stalled = before.saturating_sub(self.clients.len()) as u64;
        self.dropped.stalled = self.dropped.stalled.wrapping_add(stalled);
        let Dropped { stalled, refused } = self.dropped;
        if let Some(new @ 1..) = stalled.checked_sub(self.logged.stalled) {
            eprintln!(
                "vtep: control: {new} client(s) dropped: no command, or none of the reply \
                 taken, in {} s ({stalled} in all)",
                PATIENCE.as_secs()
            );
        }
        if let Some(new @ 1..) = refused.checked_sub(self.logged.refused) {
            eprintln!(
                "vtep: control: {new} client(s) refused: {MAX_CLIENTS} connected already \
                 ({refused} in all)"
            );
        }
        self.logged = self.dropped;
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        listen::release(&self.path, self.file);
    }
}

impl Client {
    /// Reads the command, if it is still coming; then writes what the socket takes of
    /// the reply, and the next part of an `fdb` listing if `parts` allows one.
    fn turn(
        &mut self,
        switch: &Switch,
        names: &Names,
        dropped: Dropped,
        now: Duration,
        parts: &mut usize,
    ) -> Outcome {
        if self.reply.is_none() {
            let mut buf = [0u8; COMMAND_MAX];
            let room = COMMAND_MAX.saturating_sub(self.command.len());
            let Some(buf) = buf.get_mut(..room) else {
                return Outcome::Done;
            };
            let ended = match (&self.stream).read(buf) {
                Ok(0) => true,
                Ok(len) => {
                    self.command.extend(buf.iter().take(len));
                    self.moved = now;
                    self.command.contains(&b'\n') || self.command.len() >= COMMAND_MAX
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Outcome::Keep,
                Err(_) => return Outcome::Done,
            };
            if !ended {
                return Outcome::Keep;
            }
            self.reply = Some(answer(&self.command, switch, names, dropped));
        }
        let Some(reply) = &mut self.reply else {
            return Outcome::Done;
        };
        loop {
            let Some(unsent @ [_, ..]) = reply.bytes.get(reply.sent..) else {
                // All written: the next part of the listing, if there is one and this
                // turn still has room for it.
                let Some(listing) = &mut reply.fdb else {
                    return Outcome::Done;
                };
                if *parts == 0 {
                    return Outcome::Keep;
                }
                *parts = parts.saturating_sub(1);
                reply.bytes.clear();
                reply.sent = 0;
                if !listing.write_next(switch, names, now, FDB_PART, &mut reply.bytes) {
                    reply.fdb = None;
                }
                continue;
            };
            // MSG_NOSIGNAL: a client gone is an error to drop it for, not a SIGPIPE for
            // whatever program embeds the driver.
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
            match send(self.stream.as_raw_fd(), unsent, flags) {
                Ok(len) => {
                    // The socket took at most what it was given.
                    reply.sent = reply.sent.saturating_add(len);
                    self.moved = now;
                }
                Err(nix::errno::Errno::EAGAIN) => return Outcome::Keep,
                Err(_) => return Outcome::Done,
            }
        }
    }
}

/// The reply to `command`: `stats` whole, `fdb` to be written a part at a time.
fn answer(command: &[u8], switch: &Switch, names: &Names, dropped: Dropped) -> Reply {
    let command = String::from_utf8_lossy(command);
    let mut reply = Reply {
        bytes: Vec::new(),
        sent: 0,
        fdb: None,
    };
    let line = command.split('\n').next().unwrap_or_default();
    let text = match line.trim() {
        "fdb" => {
            reply.fdb = Some(FdbListing::default());
            return reply;
        }
        "stats" => {
            let mut stats = stats(switch, names);
            if let Value::Object(object) = &mut stats {
                object.insert(
                    "control".into(),
                    json!({
                        "clients_dropped": dropped.stalled,
                        "clients_refused": dropped.refused,
                    }),
                );
            }
            stats
        }
        "evpn" => {
            reply.bytes = match &names.evpn {
                Some(lines) => lines.clone().into_bytes(),
                None => format!(
                    "{}\n",
                    json!({ "error": "evpn: this vtep has no [evpn] section" })
                )
                .into_bytes(),
            };
            return reply;
        }
        other => json!({ "error": format!("unknown command {other:?}; try fdb, stats or evpn") }),
    };
    reply.bytes = format!("{text}\n").into_bytes();
    reply
}

#[cfg(test)]
mod tests;
