//! The floors against tunnelwire on mutated frames: for each path, a count of inputs
//! (1M by default) taken from the clean and the mixed workload and changed where the
//! checks look (bits flipped, bytes set, frames cut, tags inserted, the outer ECN set,
//! the outer checksum made right again half the time; for socket payloads the reported
//! ECN and source too), each run through both and asserted equal: the verdict, every
//! value returned, every byte of the buffer.
//!
//! ```text
//! cargo bench --bench differential                # 1M per path
//! cargo bench --bench differential -- 20000 decap # a count, some paths
//! ```
//!
//! `tests/floors.rs` runs the same with 20k inputs per path under `cargo test`.

#[path = "paths/mod.rs"]
mod paths;

use paths::Path;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let count = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let names: Vec<&String> = args
        .iter()
        .filter(|a| a.parse::<usize>().is_err())
        .collect();
    let chosen: Vec<Path> = Path::ALL
        .into_iter()
        .filter(|p| p.has_differential())
        .filter(|p| names.is_empty() || names.iter().any(|n| *n == p.name()))
        .collect();
    println!(
        "{:16} {:>9} {:>9} {:>9} {:>11} {:>9} {:>10} {:>9}",
        "path",
        "frames",
        "accepted",
        "refused",
        "other shape",
        "rewritten",
        "ECN alarms",
        "ECN drops"
    );
    for path in chosen {
        let t = paths::differential::differential(path, count, 0x6040_7348);
        println!(
            "{:16} {:>9} {:>9} {:>9} {:>11} {:>9} {:>10} {:>9}",
            path.name(),
            t.frames,
            t.accepted,
            t.refused,
            t.other_shape,
            t.rewritten,
            t.ecn_alarms,
            t.ecn_drops
        );
    }
    println!(
        "(every frame: equal verdicts, values and buffers; rewritten: RFC 6040 rewrites for decap \
         and payloads, tags stripped for encapsulation and translation; ECN alarms and drops: decap)"
    );
}
