//! The fuzz targets' invariants on stable: every input the fuzzers found a bug with
//! (`tests/data/regressions/<target>-<name>`) and every seed of their corpora
//! (`fuzz/corpus/<target>/seed-*`) goes through the same checks as under the fuzzer,
//! `fuzz/src/checks/` (a file per target).

#[path = "../fuzz/src/checks/mod.rs"]
mod checks;
#[path = "../fuzz/src/payload.rs"]
mod payload;
#[path = "../fuzz/src/underlay.rs"]
mod underlay;

use std::fs;
use std::path::{Path, PathBuf};

/// The check of the target named `target`.
fn check_of(target: &str) -> checks::Check {
    checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target named {target}"))
        .1
}

/// The files of `dir` whose names start with `prefix`, in name order.
fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(prefix)
        })
        .collect();
    files.sort();
    files
}

/// Runs `check` on the file, naming it if the check fails.
fn replay(check: checks::Check, path: &Path) {
    let data = fs::read(path).unwrap();
    let result = std::panic::catch_unwind(|| check(&data));
    if let Err(panic) = result {
        eprintln!("invariant failed on {}", path.display());
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn inputs_the_fuzzers_found_hold_their_invariants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/regressions");
    let found = files(&dir, "");
    for path in &found {
        let name = path.file_name().unwrap().to_string_lossy();
        let target = name.split_once('-').map_or(&*name, |(target, _)| target);
        replay(check_of(target), path);
    }
    assert!(!found.is_empty(), "no regressions in {}", dir.display());
}

#[test]
fn seed_corpora_hold_the_invariants_with_real_checksums() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, check) in checks::TARGETS {
        let seeds = files(&corpus.join(target), "seed-");
        assert!(seeds.len() > 100, "{target}: {} seeds", seeds.len());
        for path in &seeds {
            replay(check, path);
        }
    }
}

#[test]
fn settings_heads_hold_every_setting() {
    checks::settings_fit();
}
