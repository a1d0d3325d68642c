#!/usr/bin/env bash
# Builds benches/interleaved.rs (the `bench` profile: optimised, with debug info) and
# prints the path of its executable, for the scripts that run it under valgrind
# (instructions.sh, profile.sh, per_frame.sh); with a bench's name, that bench instead
# (peers.sh: `decode`).
#
# Built as a dependent's build compiles the crate: without the loop alignment that
# .cargo/config.toml asks of this repository's builds (RUSTFLAGS set, even empty, takes
# the place of the config's flags), in a target directory of its own so that neither
# build invalidates the other. The alignment's padding is executed where code falls
# into an aligned loop: counted, it added 1 to 3 instructions per packet to several
# floors and 0 or 1 to tunnelwire's paths, a difference of padding, not of work.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${1:-interleaved}
export RUSTFLAGS=""
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/unaligned"
cargo bench --bench "$bench" --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$bench"
