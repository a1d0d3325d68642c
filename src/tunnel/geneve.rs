//! What the engine decides about a received Geneve header (RFC 8926): a control message
//! (the O bit) is never a tenant's frame, a critical option the receiver has not
//! declared understood refuses the packet (section 3.5: MUST drop), and only Ethernet,
//! IPv4 and IPv6 payloads are carried.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::wire::ethernet::EtherType;
use crate::wire::geneve::{FLAG_O, GeneveHeader, OPTION_CRITICAL, OPTION_HEADER_LEN};
use crate::{Error, ErrorKind, Layer, Result};

/// Most critical options a receiver can declare understood.
pub const MAX_UNDERSTOOD: usize = 8;

/// The critical Geneve options (class and type, the type's critical bit set) a receiver
/// understands: a frame carrying any other critical option is refused, as RFC 8926
/// section 3.5 requires. Non-critical options are always taken (and handed to the
/// caller). Default: none.
///
/// ```
/// use tunnelwire::tunnel::UnderstoodOptions;
///
/// // OVN's logical port option.
/// let understood = UnderstoodOptions::from_slice(&[(0x0102, 0x80)])?;
/// assert!(understood.contains(0x0102, 0x80));
/// assert!(!understood.contains(0x0102, 0x81));
/// # Ok::<(), tunnelwire::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UnderstoodOptions {
    /// The [`key`] of each, in the order declared, then zeros (no key is zero: a
    /// declared type has its critical bit set). A lookup tests the first key inline
    /// (one compare for OVN's one option) and, when there is a second, scans the others
    /// out of line, up to the key it finds or the first zero. Scanning all eight slots
    /// cost OVN's option 34 instructions per packet; a scan inlined, unrolled with its
    /// eight keys loaded before the walk of the options, 14.
    keys: [u32; MAX_UNDERSTOOD],
}

/// An option's class and type as one key: the first three bytes of its header, as
/// [`option_key`] reads them from the header's word (one load and a mask, no byte
/// assembled nor swapped).
#[inline(always)]
fn key(class: u16, option_type: u8) -> u32 {
    let [high, low] = class.to_be_bytes();
    u32::from_ne_bytes([high, low, option_type, 0])
}

/// The key of the option of this header: its word, the length's byte masked off.
#[inline(always)]
fn option_key(option: &[u8; OPTION_HEADER_LEN]) -> u32 {
    u32::from_ne_bytes(*option) & u32::from_ne_bytes([0xff, 0xff, 0xff, 0])
}

/// As a derived `Debug` showing each key as class << 8 | type (the form the keys had
/// before they became header words), whatever the machine's byte order.
impl core::fmt::Debug for UnderstoodOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let keys = self
            .keys
            .map(|key| u32::from_be_bytes(key.to_ne_bytes()) >> 8);
        f.debug_struct("UnderstoodOptions")
            .field("keys", &keys)
            .finish()
    }
}

impl UnderstoodOptions {
    /// None understood: every critical option refuses its frame.
    pub const NONE: Self = UnderstoodOptions {
        keys: [0; MAX_UNDERSTOOD],
    };

    /// These (class, type) pairs, at most eight.
    ///
    /// # Errors
    /// `OutOfRange` for more than eight, or for a type without the critical bit (such an
    /// option never needs declaring).
    pub fn from_slice(options: &[(u16, u8)]) -> Result<Self> {
        let mut set = Self::NONE;
        if options.len() > MAX_UNDERSTOOD {
            return Err(setting(
                "number of understood Geneve options (at most 8)",
                options.len(),
            ));
        }
        for (slot, &(class, option_type)) in set.keys.iter_mut().zip(options) {
            if option_type & OPTION_CRITICAL == 0 {
                return Err(setting(
                    "understood Geneve option type (critical: 0x80 set)",
                    usize::from(option_type),
                ));
            }
            *slot = key(class, option_type);
        }
        Ok(set)
    }

    /// True when the critical option `class`/`option_type` is understood.
    #[inline]
    pub fn contains(&self, class: u16, option_type: u8) -> bool {
        // Only critical types are declared, and the scan needs a key that is not zero.
        option_type & OPTION_CRITICAL != 0 && self.contains_key(key(class, option_type))
    }

    /// True when the option of this [`key`], of a critical type, is understood.
    #[inline(always)]
    fn contains_key(&self, key: u32) -> bool {
        let [first, second, ..] = self.keys;
        let [_, ref others @ ..] = self.keys;
        // The scan only where there is a second key: a receiver of one option (OVN's)
        // makes no call for a critical option it does not understand (geneve_decap+mixed's
        // frames with one: 303 -> 254 instructions each, the workload 195 -> 192
        // instructions per packet; geneve_decap 153 -> 152).
        first == key || second != 0 && others_contain(others, key)
    }
}

/// True when `key` is among the declared keys in `others` (a receiver's second to
/// eighth). Out of line: inlined, the scan was unrolled and its eight keys loaded before
/// every walk of the options (16 instructions per packet for OVN's one option).
#[inline(never)]
fn others_contain(others: &[u32], key: u32) -> bool {
    for &declared in others {
        if declared == key {
            return true;
        }
        if declared == 0 {
            return false;
        }
    }
    false
}

/// True when an options area of whole 4-byte words (as a header's Opt Len counts it) is
/// a sequence of whole options, none of them critical but `understood` ones: the
/// decoder's check of the options ([`check_options`](crate::wire::geneve::check_options))
/// and the receiver's ([`check`]) in one walk, each option's header read once. For the
/// express walk, which leaves a header that fails it to the general walk to name why.
#[inline(always)]
// Cannot overflow: an option's length is at most 4 + 124.
#[allow(clippy::arithmetic_side_effects)]
pub(crate) fn options_taken(area: &[u8], understood: &UnderstoodOptions) -> bool {
    // Whole words: an area without an option's header is empty.
    let Some((option, rest)) = area.split_first_chunk::<{ OPTION_HEADER_LEN }>() else {
        return true;
    };
    // One option filling the area (OVN's, the common area) tested in place of the walk:
    // its header read once, the loop's state not set up (geneve_decap 188 -> 183
    // instructions per packet). The walk left out of line as well took 3 more from the
    // clean frames but cost the mixed ones 3 (a call per area of several options).
    if 4 * usize::from(option[3] & 0x1f) == rest.len() {
        return option_taken(option, understood);
    }
    options_walked(area, understood)
}

/// A Geneve header's first word masked to its version, O bit and protocol type...
const VERSION_O_PROTOCOL: u32 = u32::from_ne_bytes([0xc0, FLAG_O, 0xff, 0xff]);
/// ...for version 0, the O bit clear and an Ethernet payload.
const ETHERNET_TENANT: u32 = u32::from_ne_bytes([0, 0, 0x65, 0x58]);
/// An option header's word masked to its class, type and length (not the reserved bits).
const KEY_AND_LENGTH: u32 = u32::from_ne_bytes([0xff, 0xff, 0xff, 0x1f]);

/// The length of the options area of a Geneve header of the common receiver's shape,
/// from its first 12 bytes: version 0, the O bit clear, an Ethernet payload, and no
/// options or one option filling the area that is the receiver's first declared one
/// (OVN's: a receiver declares the options its senders put in every frame). `None` for
/// any other header, which [`options_taken`] walks; the area may still run past the
/// packet. The header's first word and the option's each one compare, loaded whole.
#[inline(always)]
// Cannot overflow: the area is 1 to 63 words long where its length is worked out.
#[allow(clippy::arithmetic_side_effects)]
pub(crate) fn common_options_len(head: &[u8; 12], understood: &UnderstoodOptions) -> Option<usize> {
    let [first_word, option] = [0, 8].map(|at| {
        head.get(at..)
            .and_then(<[u8]>::first_chunk)
            .map_or(0, |word| u32::from_ne_bytes(*word))
    });
    if first_word & VERSION_O_PROTOCOL != ETHERNET_TENANT {
        return None;
    }
    // Version 0: the first byte is the area's length in words.
    let words = head[0];
    if words == 0 {
        return Some(0);
    }
    // The option's length field fills the area: one word less than it. (A key of zero,
    // none declared, matches only an option of class 0 and type 0, which is not
    // critical: taken either way.)
    let filling = u32::from_ne_bytes([0, 0, 0, words - 1]);
    (option & KEY_AND_LENGTH == understood.keys[0] | filling).then_some(4 * usize::from(words))
}

/// True when the option of this header is not critical, or understood.
#[inline(always)]
fn option_taken(option: &[u8; OPTION_HEADER_LEN], understood: &UnderstoodOptions) -> bool {
    // The class and type are the key's 24 bits: no byte swapped nor shifted. The first
    // declared key named before the critical bit (a zero one, none declared, matches
    // only type 0, not critical): geneve_decap 148 -> 146 instructions per packet, and
    // with the keys as header words, not class << 8 | type, 147 -> 146; decap 117 -> 115.
    let key = option_key(option);
    let [first, ..] = understood.keys;
    key == first || option[2] & OPTION_CRITICAL == 0 || understood.contains_key(key)
}

/// [`options_taken`] of an area of several options (or of one that does not fill it),
/// walked.
#[inline(always)]
// Cannot overflow: an option's length is at most 4 + 124.
#[allow(clippy::arithmetic_side_effects)]
fn options_walked(area: &[u8], understood: &UnderstoodOptions) -> bool {
    let mut rest = area;
    // Whole words: what remains is empty or holds an option's header.
    while let Some((option, _)) = rest.split_first_chunk::<{ OPTION_HEADER_LEN }>() {
        if !option_taken(option, understood) {
            return false;
        }
        let Some(after) = rest.get(OPTION_HEADER_LEN + 4 * usize::from(option[3] & 0x1f)..) else {
            return false;
        };
        rest = after;
    }
    true
}

/// The header of the first option in `area` that is critical and not `understood`, the
/// options met as [`GeneveOptionIter`](crate::wire::GeneveOptionIter) meets them (each
/// whole inside the area; the walk ends at one that is not). The receiver's check of the
/// options ([`check`]) without the iterator's views: each option's header read once, its
/// class and type as one key (geneve_decap+mixed's frames with a critical option not
/// understood: 343 instructions each with the iterator, 339 without).
#[inline(always)]
// Cannot overflow: an option's length is at most 4 + 124.
#[allow(clippy::arithmetic_side_effects)]
fn first_refused<'a>(
    area: &'a [u8],
    understood: &UnderstoodOptions,
) -> Option<&'a [u8; OPTION_HEADER_LEN]> {
    let mut rest = area;
    while let Some((option, _)) = rest.split_first_chunk::<{ OPTION_HEADER_LEN }>() {
        let after = rest.get(OPTION_HEADER_LEN + 4 * usize::from(option[3] & 0x1f)..)?;
        if !option_taken(option, understood) {
            return Some(option);
        }
        rest = after;
    }
    None
}

/// An `OutOfRange` error of a setting.
#[cold]
fn setting(field: &'static str, value: usize) -> Error {
    Error::new(
        Layer::Tunnel,
        ErrorKind::OutOfRange {
            field,
            value: u32::try_from(value).unwrap_or(u32::MAX),
        },
    )
    .in_setting()
}

/// The checks of a received Geneve header, its offset in the frame being the caller's
/// to add: not a control message, no critical option outside `understood`, a payload
/// this engine carries.
///
/// # Errors
/// `NotTenantFrame` for the O bit; `CriticalOption` for the first critical option not
/// understood; `UnsupportedFrame` for a protocol type other than 0x6558, 0x0800 and
/// 0x86DD.
// Out of line: the common paths (VXLAN, NVGRE) only test the tunnel's kind.
#[inline(never)]
pub(crate) fn check(header: &GeneveHeader<&[u8]>, understood: &UnderstoodOptions) -> Result<()> {
    match refusal(header, understood) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Why [`check`] refuses the header, if it does: for a caller that is itself out of line
/// (the express walk's refusals), where a second call would cost more than the checks.
#[inline(always)]
pub(crate) fn refusal(
    header: &GeneveHeader<&[u8]>,
    understood: &UnderstoodOptions,
) -> Option<Error> {
    if header.oam() {
        return Some(Error::new(
            Layer::Geneve,
            ErrorKind::NotTenantFrame("Geneve O bit (a control message)"),
        ));
    }
    // Every option is looked at, whatever the C bit says: a sender that set a critical
    // option's type bit but not C is still asking for the drop.
    if let Some(&[class_high, class_low, option_type, _]) =
        first_refused(header.options_bytes(), understood)
    {
        return Some(Error::new(
            Layer::Geneve,
            ErrorKind::CriticalOption {
                class: u16::from_be_bytes([class_high, class_low]),
                option_type,
            },
        ));
    }
    match header.protocol() {
        EtherType::TRANSPARENT_ETHERNET_BRIDGING | EtherType::IPV4 | EtherType::IPV6 => None,
        _ => Some(Error::new(
            Layer::Geneve,
            ErrorKind::UnsupportedFrame("a Geneve protocol type other than 0x6558, 0x0800, 0x86dd"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u8, protocol: u16, option: [u8; 4]) -> [u8; 12] {
        let [p0, p1] = protocol.to_be_bytes();
        let [c0, c1, t, l] = option;
        [1, flags, p0, p1, 0, 0, 42, 0, c0, c1, t, l]
    }

    #[test]
    fn o_bit_critical_options_and_protocols_get_their_own_errors() {
        let understood = UnderstoodOptions::from_slice(&[(0x0102, 0x80)]).unwrap();
        let verdict = |bytes: [u8; 12]| {
            check(&GeneveHeader::new_checked(&bytes[..]).unwrap(), &understood).map_err(|e| e.kind)
        };
        assert_eq!(verdict(header(0x40, 0x6558, [1, 2, 0x80, 0])), Ok(()));
        assert_eq!(verdict(header(0, 0x0800, [1, 8, 0x01, 0])), Ok(()));
        assert_eq!(
            verdict(header(0x80, 0x6558, [1, 8, 0x01, 0])),
            Err(ErrorKind::NotTenantFrame(
                "Geneve O bit (a control message)"
            ))
        );
        // Critical by its type bit even with C clear.
        assert_eq!(
            verdict(header(0, 0x6558, [1, 8, 0x81, 0])),
            Err(ErrorKind::CriticalOption {
                class: 0x0108,
                option_type: 0x81
            })
        );
        assert!(matches!(
            verdict(header(0, 0x88b5, [1, 8, 0x01, 0])),
            Err(ErrorKind::UnsupportedFrame(_))
        ));
        let none = UnderstoodOptions::default();
        let ovn = header(0x40, 0x6558, [1, 2, 0x80, 0]);
        assert!(check(&GeneveHeader::new_checked(&ovn[..]).unwrap(), &none).is_err());
    }

    #[test]
    fn understood_options_are_critical_and_few() {
        assert!(UnderstoodOptions::from_slice(&[(0x0102, 0x00)]).is_err());
        assert!(UnderstoodOptions::from_slice(&[(1, 0x80); 9]).is_err());
        let eight = UnderstoodOptions::from_slice(&[(1, 0x80); 8]).unwrap();
        assert!(eight.contains(1, 0x80) && !eight.contains(0, 0));
        // The scan ends at the declared ones, whatever is asked.
        let two = UnderstoodOptions::from_slice(&[(1, 0x80), (2, 0x81)]).unwrap();
        assert!(two.contains(2, 0x81) && !two.contains(3, 0x80) && !two.contains(0, 0));
        assert!(!UnderstoodOptions::NONE.contains(0, 0));
    }
}
