#!/usr/bin/env python3
"""Prints criterion's results as time per element and ratios, from target/criterion.

    cargo bench --bench decode && python3 benches/summary.py vxlan_stack nvgre_stack

For each group: each function's mean time per element (criterion's mean over the
iteration, divided by the group's throughput elements), and its ratio to the group's
first function (tunnelwire)."""
import json, os, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "criterion")
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
    rows.sort(key=lambda r: (r[0] != "tunnelwire", r[0]))
    base = rows[0][1] if rows else 1
    for fn, per, unit, n, mean in rows:
        extra = f", {n / mean:.2f} GB/s" if unit == "byte" else ""
        print(f"{group:14} {fn:14} {per:9.2f} ns/{unit}{extra}  x{per / base:5.2f} vs {rows[0][0]}")
