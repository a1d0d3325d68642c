#!/usr/bin/env bash
# Where one path's instructions go: each instruction the measured loop executes, with how
# many times it ran per packet, from valgrind --tool=callgrind --dump-instr=yes matched
# against objdump's disassembly. The per-packet paths are inlined into the bench's loops,
# so this lists the `Arm::run_*` functions (one loop over the workload per path and arm,
# as in benches/paths/arm.rs, and Geneve's in benches/paths/geneve.rs).
#
#   bash benches/profile.sh PATH [ours|floor]    # PATH as in benches/interleaved.rs
#   MIN=0.02 bash benches/profile.sh PATH        # rarer instructions too (the mixed
#                                                # workloads' other shapes)
#
# The first line is the loop's instructions per packet; then one line per instruction
# that ran at least MIN times per packet (by default half, so that translation's, each
# direction a packet, show), and a count of those touching the stack (spills).
set -euo pipefail
cd "$(dirname "$0")/.."
path=${1:?usage: profile.sh PATH [ours|floor]} arm=${2:-ours}
per=64; case $path in translate*) per=128 ;; esac
min=${MIN:-0.5}
bin=$(bash benches/interleaved_bin.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passes=20
valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \
  --callgrind-out-file="$work/out" "$bin" --count "$path" "$arm" $passes >/dev/null 2>&1
objdump -d --no-show-raw-insn -C "$bin" |
  awk '/^[0-9a-f]+ <interleaved::paths::.*::run_/ {p=1} p {print} p && /^$/ {p=0}' >"$work/asm"
python3 - "$work/out" "$work/asm" $((passes * per)) "$min" <<'ENDPY'
import re, sys
out, asm, packets, least = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
# Self cost of each instruction of the Arm::run_* loops; a line after `calls=` is a call's
# inclusive cost, not the instruction's own.
cost, fn, after_call = {}, None, False
for line in open(out):
    if line.startswith("fn="):
        fn = line[3:].strip()
        continue
    if line.startswith("calls="):
        after_call = True
        continue
    m = re.match(r"^(0x[0-9a-f]+) \d+ (\d+)", line)
    if m and fn and "::run_" in fn and "interleaved::paths" in fn:
        if not after_call:
            address = int(m.group(1), 16)
            cost[address] = cost.get(address, 0) + int(m.group(2))
    after_call = False
print(f"{sum(cost.values()) / packets:.1f} instructions per packet in the loop")
stack = 0
for line in open(asm):
    m = re.match(r"\s+([0-9a-f]+):\s+(.*)", line)
    if not m:
        continue
    runs = cost.get(int(m.group(1), 16), 0) / packets
    # By default 0.5: translation runs each direction once per frame, half a packet each.
    if runs >= least:
        print(f"{runs:5.1f}  {m.group(2)}")
        stack += "rsp)" in m.group(2)
print(f"{stack} of them load or store on the stack")
ENDPY
