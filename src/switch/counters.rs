//! Counters kept per port, per remote and per segment: frames and bytes in and out, MAC
//! moves, and frames refused by reason.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::fmt;

/// Why a frame was dropped, or (for [`Reason::MacLimit`]) why its source was not learned.
/// The names are the counter names of the vtep `stats` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A tunnel frame from an address that is not a remote of the segment it names.
    UnknownSource,
    /// Learning refused: the segment holds its `mac_limit` entries, or the port the
    /// frame came in on its own. The frame itself is still forwarded.
    MacLimit,
    /// The encapsulated frame would exceed the underlay MTU, or a frame its port's MTU
    /// on the way out of it.
    Mtu,
    /// A frame that does not decode (a bad tunnel header, an inner frame shorter than
    /// Ethernet, a multicast source address).
    Malformed,
    /// A tagged frame on an access port, an untagged frame or unmapped VID on a trunk
    /// port, or a tagged inner frame from a tunnel.
    Vlan,
    /// A known unicast from an isolated port to another isolated port.
    Isolated,
    /// A known unicast from a remote to another remote of the same encapsulation and
    /// address family (one full mesh).
    SplitHorizon,
    /// The caller's output buffer has too little room (headroom or length).
    NoBuffer,
    /// The driver could not write the frame out (a TAP device that is down, a full
    /// socket buffer); reported by the driver through
    /// [`Switch::count_write_failed`](super::Switch::count_write_failed).
    WriteFailed,
    /// A Geneve frame with an option marked critical that the switch does not process
    /// (RFC 8926 section 3.5: it must be dropped).
    CriticalOption,
}

impl Reason {
    /// Every reason, in counter order.
    pub const ALL: [Reason; 10] = [
        Reason::UnknownSource,
        Reason::MacLimit,
        Reason::Mtu,
        Reason::Malformed,
        Reason::Vlan,
        Reason::Isolated,
        Reason::SplitHorizon,
        Reason::NoBuffer,
        Reason::WriteFailed,
        Reason::CriticalOption,
    ];

    /// The counter's name, as in the `stats` output.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::UnknownSource => "unknown_source",
            Reason::MacLimit => "mac_limit",
            Reason::Mtu => "mtu",
            Reason::Malformed => "malformed",
            Reason::Vlan => "vlan",
            Reason::Isolated => "isolated",
            Reason::SplitHorizon => "split_horizon",
            Reason::NoBuffer => "no_buffer",
            Reason::WriteFailed => "write_failed",
            Reason::CriticalOption => "critical_option",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Traffic counters of one port, remote or segment.
///
/// Bytes count what crosses that object's edge: frames as a port receives or sends them
/// (trunk tags included), whole encapsulated frames for remotes (outer Ethernet header
/// included; a socket payload counts with the headers the socket took off, as the tunnel
/// engine writes them), and the untagged inner frames for segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Frames received.
    pub frames_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Frames sent: each copy the operating system took, as the driver reports them
    /// ([`Switch::count_sent`](super::Switch::count_sent)); a refused write counts only
    /// as [`Reason::WriteFailed`]. Each copy of a flood counts.
    pub frames_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// MAC addresses that moved here from elsewhere (segments count every move).
    pub mac_moves: u64,
    reasons: [u64; Reason::ALL.len()],
}

impl Counters {
    /// Nothing counted: what a removed remote's counters read.
    pub(crate) const ZERO: Counters = Counters {
        frames_in: 0,
        bytes_in: 0,
        frames_out: 0,
        bytes_out: 0,
        mac_moves: 0,
        reasons: [0; Reason::ALL.len()],
    };

    /// How many frames were counted under `reason`.
    #[allow(clippy::indexing_slicing)] // a reason's index is its place in `Reason::ALL`
    pub fn get(&self, reason: Reason) -> u64 {
        self.reasons[reason.index()]
    }

    /// Every reason with its count, in [`Reason::ALL`] order.
    pub fn reasons(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        Reason::ALL.iter().map(|&r| (r, self.get(r)))
    }

    // Counters wrap, as SNMP's Counter64 does (RFC 2578); 2^64 bytes take 46 years at
    // 100 Gb/s.
    #[allow(clippy::indexing_slicing)] // a reason's index is its place in `Reason::ALL`
    pub(crate) fn count(&mut self, reason: Reason) {
        let count = &mut self.reasons[reason.index()];
        *count = count.wrapping_add(1);
    }

    pub(crate) fn received(&mut self, len: usize) {
        self.frames_in = self.frames_in.wrapping_add(1);
        self.bytes_in = self.bytes_in.wrapping_add(len as u64);
    }

    pub(crate) fn sent(&mut self, len: usize) {
        self.frames_out = self.frames_out.wrapping_add(1);
        self.bytes_out = self.bytes_out.wrapping_add(len as u64);
    }

    pub(crate) fn moved(&mut self) {
        self.mac_moves = self.mac_moves.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_count_separately_under_their_contract_names() {
        let mut counters = Counters::default();
        counters.count(Reason::Mtu);
        counters.count(Reason::Mtu);
        counters.count(Reason::WriteFailed);
        assert_eq!(counters.get(Reason::Mtu), 2);
        assert_eq!(counters.get(Reason::WriteFailed), 1);
        assert_eq!(counters.get(Reason::Vlan), 0);
        let names: std::vec::Vec<_> = counters.reasons().map(|(r, _)| r.name()).collect();
        assert_eq!(
            names,
            [
                "unknown_source",
                "mac_limit",
                "mtu",
                "malformed",
                "vlan",
                "isolated",
                "split_horizon",
                "no_buffer",
                "write_failed",
                "critical_option"
            ]
        );
        for (i, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
    }

    #[test]
    fn a_reason_displays_as_its_counter_name() {
        // Pins Display, which the driver's drop log prints.
        for reason in Reason::ALL {
            assert_eq!(std::format!("{reason}"), reason.name());
        }
    }
}
