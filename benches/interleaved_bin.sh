#!/usr/bin/env bash
# Builds benches/interleaved.rs (the `bench` profile: optimised, with debug info) and
# prints the path of its executable, for the scripts that run it under valgrind
# (instructions.sh, profile.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench interleaved --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "interleaved" and m.get("executable"):
        print(m["executable"])'
