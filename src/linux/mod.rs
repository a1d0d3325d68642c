//! The Linux driver of the reference switch (feature `linux`): TAP devices for local
//! ports, with the kernel's offloads (super-frames in and out, [`Tap`]); per local
//! address (IPv4, IPv6 or both) a UDP socket receiving VXLAN (coalesced runs included)
//! and a raw GRE socket receiving NVGRE; VXLAN over IPv4 sent through a pool of UDP
//! sockets, a run of one flow's datagrams per segmented send ([`UdpSenders`]), and
//! everything else through a raw IP socket per remote, as the engine built it; one poll
//! loop that never waits on a control client or a dead remote; and the vtep
//! configuration and control socket. The only module with `unsafe` code: the ioctls that
//! create TAP devices, the socket calls libc alone offers, and `poll` itself.
//!
//! Each turn of the loop reads at most a batch of frames from each descriptor (one
//! `recvmmsg` from a socket), each into a slot of one preallocated buffer with headroom:
//! a frame with one destination is rewritten in place, each copy of a flood written
//! after the slots. The copies are queued and sent when the descriptor's batch is done,
//! every remote's in as few system calls as it needs, and TCP segments to a TAP
//! coalesced into super-frames (modules `mmsg` and `outbox`, [`crate::offload`]).
//!
//! ```no_run
//! use tunnelwire::linux::{Vtep, VtepConfig};
//!
//! let text = std::fs::read_to_string("vtep.toml")?;
//! let config = VtepConfig::parse(&text)?;
//! let mut vtep = Vtep::new(&config, Some("/run/vtep.sock".as_ref()))?;
//! vtep.run()?; // until SIGINT or SIGTERM
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]
#![allow(unsafe_code)]

pub mod config;
pub mod control;
#[cfg(feature = "evpn")]
pub mod evpn;
mod mmsg;
mod outbox;
mod run;
mod sockets;
mod tap;
pub mod udp_gso;
mod underlay;

pub use config::{ConfigError, VtepConfig};
pub use mmsg::BATCH;
pub use run::Vtep;
pub use tap::{Tap, VNET_HDR_LEN};
pub use udp_gso::UdpSenders;
pub use underlay::{Received, Receiver, Underlay};
