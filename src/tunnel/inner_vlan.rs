//! Inner 802.1Q/802.1ad tags across a tunnel: one policy, applied the same way by
//! encapsulation, decapsulation and translation.
//!
//! RFC 7637 section 3.2: the encapsulating NVE MUST remove inner VLAN tags. RFC 7348
//! section 6.1: a VTEP SHOULD NOT include them on encapsulation and SHOULD discard
//! decapsulated frames that carry one, unless configured otherwise.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::wire::{ethernet, vlan};
use crate::{Error, ErrorKind, Layer, Result};

/// What to do with an inner frame that carries VLAN tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InnerVlanPolicy {
    /// Remove the tags: the destination and source MACs move forward over them, so the
    /// frame starts later in the buffer and nothing else is copied. The encapsulation
    /// and translation default.
    Strip,
    /// Pass the tags on unchanged (VXLAN only: NVGRE must not carry them).
    Keep,
    /// Fail with `InnerVlanTag`. The decapsulation default.
    Reject,
}

impl InnerVlanPolicy {
    /// Decides, without touching the frame, how many bytes of tags at the front of an
    /// inner frame with these `tags` are to be stripped (0 to keep them).
    ///
    /// # Errors
    /// `InnerVlanTag` under `Reject` for a tagged frame, and under `Strip` for one with
    /// more tags than are decoded (they could not all be removed).
    #[inline]
    pub(crate) fn strip_len(self, tags: InnerTags) -> Result<usize> {
        match self {
            _ if !tags.any() => Ok(0),
            InnerVlanPolicy::Keep => Ok(0),
            InnerVlanPolicy::Strip if !tags.more() => Ok(tags.len()),
            InnerVlanPolicy::Strip | InnerVlanPolicy::Reject => {
                Err(Error::new(Layer::Tunnel, ErrorKind::InnerVlanTag))
            }
        }
    }
}

/// Removes `len` bytes of tags from the inner frame at `buf[start..]` by moving its MAC
/// addresses over them; returns where the frame starts now.
#[inline]
#[allow(clippy::arithmetic_side_effects)] // offsets of the inner frame, inside `buf`
pub(crate) fn strip(buf: &mut [u8], start: usize, len: usize) -> usize {
    if len > 0 {
        buf.copy_within(start..start + ethernet::ADDRS_LEN, start + len);
    }
    start + len
}

/// NVGRE frames carry no inner tags: keeping them is refused.
pub(crate) const NVGRE_KEEPS_NO_TAGS: Error = Error::new(
    Layer::Tunnel,
    ErrorKind::Unsupported("keeping inner VLAN tags in NVGRE (RFC 7637 section 3.2: MUST remove)"),
);

/// The VLAN tags at the front of an inner frame, as the decoder found them: how many
/// were decoded (at most [`crate::packet::MAX_VLAN_TAGS`]) and whether a further one
/// follows, packed in one byte so that "untagged", the common case, is one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct InnerTags(u8);

/// The bit that says a further tag follows the decoded ones.
const MORE: u8 = 0x80;

impl InnerTags {
    /// `count` tags decoded (at most two), and no further one seen yet.
    #[inline(always)]
    pub fn decoded(count: usize) -> Self {
        InnerTags(count.min(crate::packet::MAX_VLAN_TAGS) as u8)
    }

    /// The same tags, and a further one follows them.
    #[inline(always)]
    pub fn and_more(self) -> Self {
        InnerTags(self.0 | MORE)
    }

    /// True when the frame is tagged.
    #[inline(always)]
    pub fn any(self) -> bool {
        self.0 != 0
    }

    /// True when a further tag follows the decoded ones.
    #[inline(always)]
    pub fn more(self) -> bool {
        self.0 & MORE != 0
    }

    /// Bytes the decoded tags take.
    #[inline]
    #[allow(clippy::arithmetic_side_effects)] // at most two tags
    pub fn len(self) -> usize {
        vlan::HEADER_LEN * usize::from(self.0 & !MORE)
    }
}
