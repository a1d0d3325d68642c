//! The UDP ports that mean a tunnel.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::error::{Error, ErrorKind, Layer, Result};
use crate::wire::vxlan;

/// The UDP destination ports that mean one tunnel (VXLAN, or Geneve): one to four of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelPorts {
    // Unused slots repeat the first port, so `contains` is four compares, no length.
    ports: [u16; 4],
}

impl TunnelPorts {
    /// Just one port.
    #[inline]
    pub const fn new(port: u16) -> Self {
        TunnelPorts { ports: [port; 4] }
    }

    /// One to four ports.
    ///
    /// # Errors
    /// `OutOfRange` for an empty list or more than four ports.
    #[inline]
    #[allow(clippy::indexing_slicing)] // at most four ports, checked just above
    pub fn from_slice(ports: &[u16]) -> Result<Self> {
        let Some(&first) = ports.first().filter(|_| ports.len() <= 4) else {
            return Err(Error::new(
                Layer::Udp,
                ErrorKind::OutOfRange {
                    field: "number of tunnel ports",
                    value: ports.len() as u32,
                },
            ));
        };
        let mut set = Self::new(first);
        set.ports[..ports.len()].copy_from_slice(ports);
        Ok(set)
    }

    /// True when `port` is one of them.
    // Always inlined: a per-packet test of a few instructions, which a call would spill
    // registers around.
    #[inline(always)]
    pub fn contains(&self, port: u16) -> bool {
        // The first port alone is one compare, and usually the answer. The others are
        // tested as one 64-bit word (a 16-bit lane equal to `port` becomes zero, and the
        // zero-lane test finds it): inlined into a per-packet loop, four separate ports
        // would hold four registers for the whole loop.
        let [a, b, c, d] = self.ports;
        let lanes = u64::from(a) | u64::from(b) << 16 | u64::from(c) << 32 | u64::from(d) << 48;
        let x = lanes ^ u64::from(port).wrapping_mul(0x0001_0001_0001_0001);
        port == a || x.wrapping_sub(0x0001_0001_0001_0001) & !x & 0x8000_8000_8000_8000 != 0
    }
}

impl Default for TunnelPorts {
    /// VXLAN's IANA port, 4789 (a decoder's Geneve ports default to 6081).
    #[inline]
    fn default() -> Self {
        Self::new(vxlan::PORT)
    }
}

/// The name [`TunnelPorts`] had before Geneve shared it.
pub type VxlanPorts = TunnelPorts;
