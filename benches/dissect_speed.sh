#!/usr/bin/env bash
# The main job's speed: `dissect` on 1,020,000 frames (tests/data/kernel.pcap repeated
# 30,000 times, 722 MB, written to a temporary file), output to /dev/null. Prints the
# best of three runs in frames per second, wall clock and CPU.
#
#   bash benches/dissect_speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --example dissect
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/big.pcap" <<'PY'
import sys
data = open("tests/data/kernel.pcap", "rb").read()
header, records = data[:24], data[24:]
with open(sys.argv[1], "wb") as out:
    out.write(header)
    for _ in range(30):
        out.write(records * 1000)
PY
frames=$(( 30000 * $(target/release/examples/dissect tests/data/kernel.pcap | wc -l) ))
best=
for _ in 1 2 3; do
  t=$( { /usr/bin/time -f "%e %U %S" target/release/examples/dissect "$work/big.pcap" >/dev/null; } 2>&1 )
  best=$(python3 -c "import sys; a=[float(x) for x in '$t'.split()]; b='$best'.split(); print(' '.join(map(str, a if not b or a[0] < float(b[0]) else b)))")
done
python3 - "$frames" $best <<'PY'
import sys
frames, wall, user, sys_ = int(sys.argv[1]), *map(float, sys.argv[2:5])
print(f"dissect: {frames} frames in {wall:.2f} s: {frames / wall / 1e6:.2f} M frames/s "
      f"wall clock, {frames / (user + sys_) / 1e6:.2f} M frames/s of CPU ({user:.2f} s user, {sys_:.2f} s system)")
PY
