//! The Linux driver of the reference switch (feature `linux`): TAP devices for local
//! ports, a UDP socket for VXLAN, a raw IPv4 protocol-47 socket for NVGRE, one poll loop,
//! and the vtep configuration and control socket. The only module with `unsafe` code:
//! the ioctls that create TAP devices, `IP_HDRINCL`, and `poll` itself.
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
#![allow(unsafe_code)]

pub mod config;
pub mod control;
mod run;
mod tap;
mod underlay;

pub use config::{ConfigError, VtepConfig};
pub use run::Vtep;
pub use tap::Tap;
pub use underlay::Underlay;
