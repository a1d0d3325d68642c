#!/usr/bin/env python3
"""Prints criterion's results as time per element and ratios.

    cargo bench --bench decode && python3 benches/summary.py vxlan_stack nvgre_stack

For each group: each function's mean time per element (criterion's mean over the
iteration, divided by the group's throughput elements), and its ratio to the group's
first function (tunnelwire). The decode groups list tunnelwire, its floor, then the peers
in benches/decode.rs's order (etherparse, pnet_packet, ingot, packet_strata); any other
function follows by name.

Criterion writes under $CRITERION_HOME if set, else under the target directory
($CARGO_TARGET_DIR, else target/ beside Cargo.toml), as this script reads."""
import json, os, sys

# The decode bench's arms, in the order benches/decode.rs times them.
ORDER = ["tunnelwire", "tunnelwire_recorder", "hand_written", "etherparse", "pnet_packet", "ingot", "packet_strata"]

repo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(repo, "target")
root = os.environ.get("CRITERION_HOME") or os.path.join(target, "criterion")
if not os.path.isdir(root):
    sys.exit(f"{root}: no results (run cargo bench first)")
for group in sys.argv[1:] or sorted(os.listdir(root)):
    gdir = os.path.join(root, group)
    if not os.path.isdir(gdir):
        print(f"{group}: no results (run cargo bench first)"); continue
    rows = []
    for fn in sorted(os.listdir(gdir)):
        new = os.path.join(gdir, fn, "new")
        if not os.path.exists(os.path.join(new, "estimates.json")): continue
        mean = json.load(open(os.path.join(new, "estimates.json")))["mean"]["point_estimate"]
        bench = json.load(open(os.path.join(new, "benchmark.json")))
        tp = bench.get("throughput") or {}
        n = tp.get("Elements") or tp.get("Bytes") or 1
        unit = "byte" if "Bytes" in tp else "frame"
        rows.append((fn, mean / n, unit, n, mean))
    rows.sort(key=lambda r: (ORDER.index(r[0]) if r[0] in ORDER else len(ORDER), r[0]))
    base = rows[0][1] if rows else 1
    for fn, per, unit, n, mean in rows:
        extra = f", {n / mean:.2f} GB/s" if unit == "byte" else ""
        print(f"{group:14} {fn:14} {per:9.2f} ns/{unit}{extra}  x{per / base:5.2f} vs {rows[0][0]}")
