//! Time ratios that survive a noisy machine: tunnelwire and its floor run round by round
//! in one process, alternating which goes first, and each round gives one ratio; the
//! median of those is the figure. On a shared VM whose speed swings by 2x from minute to
//! minute, two criterion functions timed seconds apart can be off by that much; two arms
//! timed within the same few milliseconds cannot.
//!
//! ```text
//! cargo bench --bench interleaved                 # every path, both workloads
//! cargo bench --bench interleaved -- decap decap+mixed   # some paths and workloads
//! interleaved --check PATH...                     # the checks alone, for instructions.sh
//! interleaved --count PATH ours|floor PASSES      # for benches/instructions.sh
//! ```
//!
//! A path's name alone is its clean workload; `+mixed` the mixed one (the IPv4 paths).

use std::hint::black_box;
use std::time::Instant;

#[path = "paths/mod.rs"]
mod paths;

use paths::{Arm, Path};

const ROUNDS: usize = 31;
/// The shortest round per arm: long enough that a timer tick or an interrupt is noise.
const ROUND_SECONDS: f64 = 0.005;

fn time(arm: &mut Arm, passes: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..passes {
        black_box(arm.pass());
    }
    start.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn interleave(path: Path, mixed: bool) {
    let (mut ours, mut floor) = path.arms_on(mixed);
    // Warm caches and branch predictors, and find how many passes the faster arm (the
    // floor) needs for a round of at least ROUND_SECONDS.
    let mut passes = 16;
    while time(&mut floor, passes) < ROUND_SECONDS {
        passes *= 2;
    }
    time(&mut ours, passes);
    let per_packet = 1e9 / (passes * path.packets_per_pass()) as f64;
    let (mut ours_ns, mut floor_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (a, b) = if round % 2 == 0 {
            let a = time(&mut ours, passes);
            (a, time(&mut floor, passes))
        } else {
            let b = time(&mut floor, passes);
            (time(&mut ours, passes), b)
        };
        ours_ns.push(a * per_packet);
        floor_ns.push(b * per_packet);
        ratios.push(a / b);
    }
    let name = format!("{}{}", path.name(), if mixed { "+mixed" } else { "" });
    println!(
        "{:18} tunnelwire {:7.2} ns/packet  floor {:7.2} ns/packet  ratio {:.2} (median of {ROUNDS} interleaved rounds of {:.1} ms; middle half {:.2}-{:.2})",
        name,
        median(&mut ours_ns),
        median(&mut floor_ns),
        median(&mut ratios),
        1e3 * passes as f64 * median(&mut floor_ns) * path.packets_per_pass() as f64 / 1e9,
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
            for name in paths {
                let (path, mixed) = paths::parse_bench(name).expect("a path name");
                path.arms_on(mixed);
            }
            return;
        }
    }
    if let [flag, path, arm, passes] = args.as_slice() {
        if flag == "--count" {
            let (path, mixed) = paths::parse_bench(path).expect("a path name");
            let mut arm = Arm::with(path, arm == "ours", mixed);
            let passes: usize = passes.parse().expect("a number of passes");
            let mut acc = 0;
            for _ in 0..passes {
                acc ^= arm.pass();
            }
            black_box(acc);
            return;
        }
    }
    let chosen: Vec<(Path, bool)> = if args.is_empty() {
        Path::ALL
            .into_iter()
            .flat_map(|p| {
                [(p, false), (p, true)]
                    .into_iter()
                    .take(1 + usize::from(p.has_mixed()))
            })
            .collect()
    } else {
        args.iter()
            .map(|a| paths::parse_bench(a).unwrap_or_else(|| panic!("unknown path {a}")))
            .collect()
    };
    for (path, mixed) in chosen {
        interleave(path, mixed);
    }
}
