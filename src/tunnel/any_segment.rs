//! One encapsulator for many segments: a gateway that carries several VNIs to one remote
//! names the segment per packet instead of keeping an encapsulator per segment.
//!
//! The VNI (VXLAN, RFC 7348 section 5) and the VSID (NVGRE, RFC 7637 section 3.2) sit at
//! the same place, bytes 4 to 6 of their 8-byte headers, so the segment is three bytes
//! written over the template's, with the VXLAN UDP checksum, when there is one, updated
//! for them (RFC 1624). `encapsulate` itself is untouched: the fixed path pays nothing.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ops::Range;

use super::Encapsulation;
use super::config::check_vsid;
use super::encap::Encapsulator;
use crate::checksum;
use crate::wire::nvgre::Vsid;
use crate::wire::vxlan::Vni;
use crate::{Error, Result};

/// Where the 24-bit segment starts in a VXLAN or NVGRE header.
const SEGMENT_AT: usize = 4;

impl Encapsulator {
    /// Encapsulates as [`encapsulate`](Self::encapsulate) does, in `segment` instead of
    /// the configured VNI or VSID (the number is the VSID for NVGRE): the frame is byte
    /// for byte what an encapsulator configured with that segment writes.
    ///
    /// ```
    /// use core::net::Ipv4Addr;
    /// use tunnelwire::packet::Decoder;
    /// use tunnelwire::tunnel::{Encapsulator, TunnelConfig, HEADROOM};
    /// use tunnelwire::wire::Vni;
    ///
    /// let (us, them) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    /// let mut encap = Encapsulator::new(TunnelConfig::vxlan(Vni::new(42)?, us, them))?;
    /// let mut buf = [0u8; HEADROOM + 60];
    /// let frame = encap.encapsulate_in(&mut buf, HEADROOM..HEADROOM + 60, Vni::new(5000)?)?;
    /// let decoded = Decoder::new().decode(&buf[frame])?;
    /// assert_eq!(decoded.tunnel.map(|t| t.segment()), Some(5000));
    /// # Ok::<(), tunnelwire::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`encapsulate`](Self::encapsulate); `ReservedVsid` (with no byte offset: it is
    /// the argument's) for a reserved VSID on NVGRE, the buffer left as it was.
    #[inline]
    // Cannot overflow or index out of range: offsets inside the frame just written.
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    pub fn encapsulate_in(
        &mut self,
        buf: &mut [u8],
        inner: Range<usize>,
        segment: Vni,
    ) -> Result<Range<usize>> {
        let vxlan = match self.config().encapsulation {
            Encapsulation::Vxlan(_) | Encapsulation::Geneve(_) => true,
            Encapsulation::Nvgre(_) => {
                check_vsid(Vsid::from(segment)).map_err(Error::in_setting)?;
                false
            }
        };
        let frame = self.encapsulate(buf, inner)?;
        let at = frame.start + self.tunnel_offset() + SEGMENT_AT;
        let words = |b: &[u8]| {
            [
                u16::from_be_bytes([b[0], b[1]]),
                u16::from_be_bytes([b[2], b[3]]),
            ]
        };
        let old = words(&buf[at..at + 4]);
        let [_, hi, mid, lo] = segment.get().to_be_bytes();
        buf[at..at + 3].copy_from_slice(&[hi, mid, lo]);
        let new = words(&buf[at..at + 4]);
        // The UDP checksum field ends where the VXLAN header starts.
        let checksum_at = at - SEGMENT_AT - 2;
        let sent = u16::from_be_bytes([buf[checksum_at], buf[checksum_at + 1]]);
        if vxlan && sent != 0 {
            let updated = checksum::update_words(sent, old, new);
            // RFC 768: a computed zero is sent as all ones.
            let updated = if updated == 0 { 0xffff } else { updated };
            buf[checksum_at..checksum_at + 2].copy_from_slice(&updated.to_be_bytes());
        }
        Ok(frame)
    }
}
