#!/usr/bin/env bash
# What each frame of one path's workload costs, tunnelwire and its floor: instructions
# per packet counted by valgrind --tool=callgrind as benches/instructions.sh counts them,
# on a workload made of that one frame (FRAME=i: benches/paths/arm.rs). Where a ratio's
# gap lives, frame by frame: the mixed workloads' refusals, rarer shapes and malformed
# frames cost differently from their common frames. Then FRAME=i bash
# benches/profile.sh PATH [floor] shows that frame's instructions.
#
#   bash benches/per_frame.sh PATH        # PATH as in benches/interleaved.rs
#
# One line per frame (its index, tunnelwire, floor, the difference), then the frames by
# difference, largest first, and the mean, which is the workload's own count. Each frame
# is counted at 2 and 4 passes (its branch history is its own: a frame repeated is
# predicted better than in the mix, which instruction counts do not see). ~4 valgrind
# runs per frame: 64 frames take 5 to 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
path=${1:?usage: per_frame.sh PATH}
bin=$(bash benches/interleaved_bin.sh)
"$bin" --check "$path"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
per=64; case $path in translate*) per=128 ;; esac
count() { # frame arm passes -> total instructions
  FRAME=$1 valgrind --tool=callgrind --callgrind-out-file="$work/out" "$bin" --count "$path" "$2" "$3" >/dev/null 2>&1
  awk '/^(summary|totals):/ {print $2; exit}' "$work/out"
}
for frame in $(seq 0 63); do
  row=("$frame")
  for arm in ours floor; do
    low=$(count "$frame" "$arm" 2) high=$(count "$frame" "$arm" 4)
    row+=("$(python3 -c "print(f'{($high - $low) / (2 * $per):.1f}')")")
  done
  echo "${row[*]}"
done | tee "$work/frames"
python3 - "$work/frames" <<'ENDPY'
import sys
rows = [line.split() for line in open(sys.argv[1])]
rows = [(int(i), float(ours), float(floor)) for i, ours, floor in rows]
print("largest differences (frame: tunnelwire / floor):")
for i, ours, floor in sorted(rows, key=lambda r: r[2] - r[1])[:16]:
    print(f"  {i:2}: {ours:6.1f} / {floor:6.1f}  {ours - floor:+6.1f}")
ours = sum(r[1] for r in rows) / len(rows)
floor = sum(r[2] for r in rows) / len(rows)
print(f"mean {ours:.1f} / {floor:.1f} = {ours / floor:.2f}")
ENDPY
