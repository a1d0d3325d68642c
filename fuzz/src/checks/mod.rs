//! The invariants each fuzz target checks, one public function per target taking the
//! fuzzer's raw input. Shared by the targets in `fuzz/fuzz_targets/` and by
//! `tests/regressions.rs`, which replays committed inputs on stable. What the outer
//! packet must say over either underlay lives in `underlay.rs`; socket payloads against
//! whole frames in `payload.rs`. This file holds what every target shares; each target's
//! check is in the file named after it, what the tunnel checks share in `shared.rs`.
//!
//! Checksums: under `cfg(fuzzing)` `verify_checksum` always passes, so the fuzzer reaches
//! what lies behind it; on stable it does not. The tunnel checks therefore run each frame
//! under `Checksums::Verify` and under `Checksums::OffloadedByNic` and require the two to
//! differ by at most a `BadChecksum` refusal (never under the fuzzer): the second run
//! reaches on stable the code the first reaches under the fuzzer, so a replayed input
//! takes the path on which it was found. Where a checksum's value matters, it is summed
//! here directly rather than through `verify_checksum`.
//!
//! Inputs that carry settings start with a fixed-length head ([`SETTINGS_LEN`],
//! [`ENCAP_SETTINGS_LEN`] or `payload::PAYLOAD_SETTINGS_LEN` bytes) read with
//! `arbitrary`; the frame is the rest.

use std::ops::Range;

use arbitrary::{Arbitrary, Unstructured};
use tunnelwire::Error;

use crate::payload::{self, PAYLOAD_SETTINGS_LEN, PayloadSettings};

mod decapsulate;
mod decode;
mod encapsulate;
mod header;
mod pcap;
mod shared;
mod translate;

// The checks keep their paths (`checks::decode`, ...) for the targets, `payload.rs` and
// `tests/regressions.rs`; the settings are read here by `settings_fit`.
use decapsulate::DecapSettings;
pub(crate) use decapsulate::check_rewrite;
pub use decapsulate::decapsulate;
pub use decode::decode;
use encapsulate::EncapSettings;
pub use encapsulate::encapsulate;
pub use header::header;
pub use pcap::pcap;
pub(crate) use shared::{InnerVlan, decoder, decoder_for, ovn_understood};
use translate::TranslateSettings;
pub use translate::translate;

/// Bytes of settings in front of the frame for `decapsulate` and `translate`.
pub const SETTINGS_LEN: usize = 16;
/// Bytes of settings in front of the inner frame for `encapsulate`.
pub const ENCAP_SETTINGS_LEN: usize = 96;

/// A target's check: panics when an invariant fails on the input.
pub type Check = fn(&[u8]);

/// The fuzz targets, by name: what `tests/regressions.rs` dispatches on.
pub const TARGETS: [(&str, Check); 7] = [
    ("decode", decode),
    ("header", header),
    ("decapsulate", decapsulate),
    ("translate", translate),
    ("encapsulate", encapsulate),
    ("payload", payload::payload),
    ("pcap", pcap),
];

/// Settings of type `S` from the first `len` bytes (missing bytes read as zero), and the
/// rest of the input.
pub(crate) fn split<'a, S: Arbitrary<'a>>(data: &'a [u8], len: usize) -> (S, &'a [u8]) {
    let (head, rest) = data.split_at(len.min(data.len()));
    let settings = S::arbitrary(&mut Unstructured::new(head))
        .expect("settings of plain fields read from any bytes");
    (settings, rest)
}

/// Where `part` lies inside `whole`; fails unless it lies inside.
pub(crate) fn within(whole: &[u8], part: &[u8]) -> Range<usize> {
    let base = whole.as_ptr() as usize;
    let start = (part.as_ptr() as usize).wrapping_sub(base);
    assert!(
        start <= whole.len() && part.len() <= whole.len() - start,
        "a view of {} bytes at {start} lies outside the {}-byte input",
        part.len(),
        whole.len()
    );
    start..start + part.len()
}

/// An error of the bytes (not a usage error) lying inside the input.
fn check_error(error: &Error, len: usize) {
    assert!(error.offset <= len, "{error:?} past the {len}-byte input");
    assert!(
        !error.kind.is_usage(),
        "bytes gave a usage error: {error:?}"
    );
    assert!(!error.to_string().is_empty() && !error.kind.name().is_empty());
}

/// Fails unless each settings head holds every byte its settings read (with every
/// option present, as all-ones bytes make them).
pub fn settings_fit() {
    fn fits<'a, S: Arbitrary<'a>>(bytes: &'a [u8], len: usize) {
        let mut u = Unstructured::new(bytes);
        S::arbitrary(&mut u).expect("settings");
        assert!(
            bytes.len() - u.len() <= len,
            "settings read past their head"
        );
    }
    let ones = [0xff; 128];
    fits::<DecapSettings>(&ones, SETTINGS_LEN);
    fits::<TranslateSettings>(&ones, SETTINGS_LEN);
    fits::<EncapSettings>(&ones, ENCAP_SETTINGS_LEN);
    fits::<PayloadSettings>(&ones, PAYLOAD_SETTINGS_LEN);
}
