//! The Linux driver for real, in about a second a test (2.3 s for ageing): TAP devices
//! ([`Tap`](tunnelwire::linux::Tap)), the underlay sockets
//! ([`Underlay`](tunnelwire::linux::Underlay)) and the poll loop
//! ([`Vtep::run`](tunnelwire::linux::Vtep::run)).
//!
//! Each test runs on a thread of its own that first moves into a new network namespace
//! (`unshare(CLONE_NEWNET)` moves only that thread), brings loopback up with the IPv4 and
//! IPv6 underlay addresses on it and turns IPv6 off on devices created later, so no
//! router solicitation wanders onto a TAP. The
//! namespace, its devices and its sockets vanish with the thread; the host's network is
//! never touched and the tests run in parallel. The test plays the remote VTEPs (a UDP
//! sockets and raw sockets on loopback addresses) and the hosts behind the TAP ports (a
//! packet socket on the device), and stops a running `Vtep` as a user does: with SIGTERM,
//! sent to the thread running it.
//!
//! Needs root (CAP_SYS_ADMIN for the namespace, CAP_NET_ADMIN, CAP_NET_RAW) and
//! /dev/net/tun: without them each test fails, saying what is missing, unless
//! `TUNNELWIRE_SKIP_PRIVILEGED=1` asks to skip them (each then says so on standard error).
//! A test that passed without running would show as a pass in the summary: ten of them
//! "passed" in 0.00 s on machines that could not run one.
//!
//! The fixtures are in `namespace.rs`, `peers.rs`, `packets.rs` and `running.rs`; the
//! tests, by subject, in the files beside them.
#![cfg(feature = "linux")]

mod namespace;
mod packets;
mod peers;
mod running;

mod dual_stack;
mod forwarding;
mod poll_loop;
mod tap;
mod underlay;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// The VTEP under test.
const VTEP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
/// A remote VTEP speaking VXLAN.
const VXLAN_PEER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
/// A remote VTEP speaking NVGRE.
const NVGRE_PEER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 3);
/// The VTEP under test, over IPv6 (RFC 4193 unique local addresses).
const VTEP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 1);
/// A remote VTEP speaking VXLAN over IPv6.
const VXLAN_PEER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 2);
/// A remote VTEP speaking NVGRE over IPv6.
const NVGRE_PEER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 3);
/// The segment: a VNI that is also a usable VSID (RFC 7637 reserves 0-4095).
const VNI: u32 = 5000;
/// How long a packet that should arrive may take.
const ARRIVES: Duration = Duration::from_secs(2);
/// How long to wait for a packet that should not arrive.
const QUIET: Duration = Duration::from_millis(300);
