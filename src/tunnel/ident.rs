//! IPv4 identification for outer packets that may be fragmented (DF clear).
//!
//! RFC 6864 section 4.3: sources "MUST NOT repeat IPv4 ID values within one MDL for a
//! given source address/destination address/protocol tuple". Two encapsulators towards
//! the same remote (or clones of one) must not both count from 1, so the counters are
//! shared by the whole process: a fixed table of atomic counters, one picked per tuple by
//! hash, as Linux's `ip_idents` does. Tuples that share a counter only skip IDs; no lock
//! is taken per packet. RFC 6864 also asks such sources to rate-limit so that IDs do
//! not wrap within a datagram's lifetime: that is the caller's (the encapsulator sends
//! what it is given). On a target without 16-bit atomics (some microcontrollers) each
//! encapsulator counts on its own, and sharing a tuple between two of them is the
//! caller's to avoid.

use core::net::Ipv4Addr;
#[cfg(target_has_atomic = "16")]
use core::sync::atomic::{AtomicU16, Ordering};

/// Counters shared by every encapsulator of the process.
#[cfg(target_has_atomic = "16")]
static COUNTERS: [AtomicU16; 256] = [const { AtomicU16::new(0) }; 256];

/// The counter of one (source, destination, protocol) tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IdentCounter {
    /// Which shared counter the tuple uses.
    #[cfg_attr(not(target_has_atomic = "16"), allow(dead_code))]
    slot: u8,
    /// The encapsulator's own count, where there are no atomics to share.
    #[cfg(not(target_has_atomic = "16"))]
    own: u16,
}

impl IdentCounter {
    /// The counter for this tuple.
    pub fn for_tuple(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Self {
        let key = u64::from(src.to_bits()) << 32 | u64::from(dst.to_bits());
        let mixed = (key ^ u64::from(protocol)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        IdentCounter {
            slot: (mixed >> 56) as u8,
            #[cfg(not(target_has_atomic = "16"))]
            own: 0,
        }
    }

    /// The next ID of the tuple.
    #[inline]
    pub fn next(&mut self) -> u16 {
        #[cfg(target_has_atomic = "16")]
        {
            // Relaxed: only uniqueness matters, not ordering against other memory.
            COUNTERS[usize::from(self.slot)]
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1)
        }
        #[cfg(not(target_has_atomic = "16"))]
        {
            self.own = self.own.wrapping_add(1);
            self.own
        }
    }
}
