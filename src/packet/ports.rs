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
            ports: [port; 4],
            more: false,
        }
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
        set.more = ports.iter().any(|&port| port != first);
        Ok(set)
    }

    /// True when `port` is one of them.
    // Always inlined: a per-packet test of a few instructions, which a call would spill
    // registers around.
    #[inline(always)]
    pub fn contains(&self, port: u16) -> bool {
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

    /// [`contains`](Self::contains) of a port as the wire holds it: its two big-endian
    /// bytes read in the machine's order (`u16::from_ne_bytes`).
    // The set's ports are put in wire order instead of the packet's port in the machine's:
    // the set is the same for every packet, so a loop computes that once, and each packet
    // compares its port's bytes as they are (no byte swap). Measured in instructions per
    // packet (benches/instructions.sh), decode by recorder: VXLAN 138 -> 137, its mixed
    // workload 128 -> 126, Geneve 181 and 165 -> 164, NVGRE 124 -> 125 and 116 -> 117
    // (which compare no port: the optimiser's registers moved). Computing, once per
    // loop, whether VXLAN's set takes Geneve's first port, so that a Geneve frame is
    // told after two compares without the test of VXLAN's `more`, measured Geneve 186
    // and 169 (200 and 182 with that computed by branches: it was not taken out of the
    // loop).
    #[inline(always)]
    pub(crate) fn contains_wire(&self, wire: u16) -> bool {
        if wire == self.first_wire() {
            return true;
        }
        self.contains_others_wire(wire)
    }

    /// The first port, in wire order.
    #[inline(always)]
    pub(crate) fn first_wire(&self) -> u16 {
        self.ports[0].to_be()
    }

    /// True when `wire` (in wire order) is one of the ports after the first.
    #[inline(always)]
    pub(crate) fn contains_others_wire(&self, wire: u16) -> bool {
        let [_, b, c, d] = self.ports.map(u16::to_be);
        self.more && (wire == b || wire == c || wire == d)
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
