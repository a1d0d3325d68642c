//! Time ratios that survive a noisy machine: tunnelwire and its floor run round by round
//! in one process, alternating which goes first, and each round gives one ratio; the
//! median of those is the figure. On a shared VM whose speed swings by 2x from minute to
//! minute, two criterion functions timed seconds apart can be off by that much; two arms
//! timed within the same few milliseconds cannot.
//!
//! ```text
//! cargo bench --bench interleaved                 # every path
//! cargo bench --bench interleaved -- decap        # some paths (criterion group names)
//! interleaved --check PATH...                     # the checks alone, for instructions.sh
//! interleaved --count PATH ours|floor PASSES      # for benches/instructions.sh
//! ```

use std::hint::black_box;
use std::time::Instant;

#[path = "paths/mod.rs"]
mod paths;

use paths::{Arm, Path};

const ROUNDS: usize = 31;
/// Passes per arm per round (each pass is 64 or 128 packets): a few milliseconds.
const PASSES: usize = 200;

fn time(arm: &mut Arm) -> f64 {
    let start = Instant::now();
    for _ in 0..PASSES {
        black_box(arm.pass());
    }
    start.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn interleave(path: Path) {
    let (mut ours, mut floor) = path.arms();
    // Warm caches and branch predictors before the first round.
    time(&mut ours);
    time(&mut floor);
    let per_packet = 1e9 / (PASSES * path.packets_per_pass()) as f64;
    let (mut ours_ns, mut floor_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (a, b) = if round % 2 == 0 {
            let a = time(&mut ours);
            (a, time(&mut floor))
        } else {
            let b = time(&mut floor);
            (time(&mut ours), b)
        };
        ours_ns.push(a * per_packet);
        floor_ns.push(b * per_packet);
        ratios.push(a / b);
    }
    println!(
        "{:12} tunnelwire {:7.2} ns/packet  floor {:7.2} ns/packet  ratio {:.2} (median of {ROUNDS} interleaved rounds; middle half {:.2}-{:.2})",
        path.name(),
        median(&mut ours_ns),
        median(&mut floor_ns),
        median(&mut ratios),
        ratios[ROUNDS / 4],
        ratios[ROUNDS * 3 / 4],
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let [flag, paths @ ..] = args.as_slice() {
        if flag == "--check" {
            // What every timing run does first: tunnelwire and the floor agree.
            for path in paths {
                Path::from_name(path).expect("a path name").arms();
            }
            return;
        }
    }
    if let [flag, path, arm, passes] = args.as_slice() {
        if flag == "--count" {
            let path = Path::from_name(path).expect("a path name");
            let mut arm = Arm::new(path, arm == "ours");
            let passes: usize = passes.parse().expect("a number of passes");
            let mut acc = 0;
            for _ in 0..passes {
                acc ^= arm.pass();
            }
            black_box(acc);
            return;
        }
    }
    let chosen: Vec<Path> = if args.is_empty() {
        Path::ALL.to_vec()
    } else {
        args.iter()
            .map(|a| Path::from_name(a).unwrap_or_else(|| panic!("unknown path {a}")))
            .collect()
    };
    for path in chosen {
        interleave(path);
    }
}
