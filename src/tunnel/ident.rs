//! IPv4 identification for outer packets that may be fragmented (DF clear).
//!
//! RFC 6864 section 4.2: the ID of a non-atomic datagram must be unique per (source,
//! destination, protocol) for as long as fragments may live. Two encapsulators towards
//! the same remote (or clones of one) must not both count from 1, so the counters are
//! shared by the whole process: a fixed table of atomic counters, one picked per tuple by
//! hash, as Linux's `ip_idents` does. Tuples that share a counter only skip IDs; no lock
//! is taken per packet.

use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicU16, Ordering};

/// Counters shared by every encapsulator of the process.
static COUNTERS: [AtomicU16; 256] = [const { AtomicU16::new(0) }; 256];

/// The counter of one (source, destination, protocol) tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct IdentCounter(u8);

impl IdentCounter {
    /// The counter for this tuple.
    pub fn for_tuple(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Self {
        let key = u64::from(src.to_bits()) << 32 | u64::from(dst.to_bits());
        let mixed = (key ^ u64::from(protocol)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        IdentCounter((mixed >> 56) as u8)
    }

    /// The next ID of the tuple.
    #[inline]
    pub fn next(self) -> u16 {
        // Relaxed: only uniqueness matters, not ordering against other memory.
        COUNTERS[usize::from(self.0)]
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
    }
}
