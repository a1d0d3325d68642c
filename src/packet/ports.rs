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
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelPorts {
    // Unused slots repeat the first port, so `contains` is four compares, no length.
    // Each port in wire order: its two big-endian bytes read in the machine's order, so
    // a packet's port is compared as its bytes are (`contains_wire`: no byte swap of the
    // packet's, and none of the set's to keep in a loop's registers). Measured in
    // instructions per packet (benches/instructions.sh) against host order: decode by
    // recorder VXLAN 138 -> 136, Geneve 181 -> 180, their mixed workloads 128 -> 126 and
    // 165 -> 164; decapsulation 144 -> 142, of Geneve 177 -> 175, mixed 184 -> 182. The
    // set's ports swapped in the loop instead cost decapsulation 8 (its loop kept them
    // in registers).
    ports: [u16; 4],
    // A slot holds another port than the first: only then is a port that is not the
    // first looked for in the others (one test of a flag the decoder's loop keeps, in
    // place of three compares for every frame of the other tunnel).
    more: bool,
}

impl TunnelPorts {
    /// Just one port.
    #[inline]
    pub const fn new(port: u16) -> Self {
        TunnelPorts {
            ports: [port.to_be(); 4],
            more: false,
        }
    }

    /// One to four ports.
    ///
    /// # Errors
    /// `OutOfRange` for an empty list or more than four ports.
    #[inline]
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
        for (slot, port) in set.ports.iter_mut().zip(ports) {
            *slot = port.to_be();
        }
        set.more = ports.iter().any(|&port| port != first);
        Ok(set)
    }

    /// True when `port` is one of them.
    // Always inlined: a per-packet test of a few instructions, which a call would spill
    // registers around.
    #[inline(always)]
    pub fn contains(&self, port: u16) -> bool {
        self.contains_wire(port.to_be())
    }

    /// [`contains`](Self::contains) of a port as the wire holds it: its two big-endian
    /// bytes read in the machine's order (`u16::from_ne_bytes`).
    #[inline(always)]
    pub(crate) fn contains_wire(&self, port: u16) -> bool {
        // Plain compares, the first on its own: a Geneve frame fails the VXLAN set's
        // test whole before its own. Tested as one 64-bit word (each 16-bit lane equal
        // to `port` made zero, then a zero-lane test), that failure cost 22 instructions
        // per Geneve frame; as four compares, 8 (geneve_decap 206 -> 188, geneve_stack
        // 223 -> 215 instructions per packet). Without the early return the optimiser
        // made one vector compare of the four lanes, which a VXLAN frame paid too (decap
        // 143 -> 149).
        // A set of one port, the common one, fails a frame of the other tunnel in two
        // tests, not four: 4 instructions fewer per Geneve frame (benches/profile.sh
        // geneve_stack; with the options' test in one compare, geneve_stack 212 -> 202
        // and its mixed workload 192 -> 185 instructions per packet).
        let [a, b, c, d] = self.ports;
        if port == a {
            return true;
        }
        self.more && (port == b || port == c || port == d)
    }
}

impl core::fmt::Debug for TunnelPorts {
    /// The ports as numbers, as they were given.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TunnelPorts")
            .field("ports", &self.ports.map(u16::from_be))
            .field("more", &self.more)
            .finish()
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
