#!/usr/bin/env bash
# README's table of tunnelwire against other crates, in instructions per frame: each arm
# of benches/decode.rs (tunnelwire, its recorder, the hand-written floor, etherparse,
# pnet_packet, ingot, packet-strata) on each group, counted by valgrind
# --tool=callgrind as benches/instructions.sh counts the paths: `--count GROUP ARM 4`
# and `12`, the difference over 8 x 64 frames (the setup cancels out, and with it the
# check that every arm agrees with tunnelwire on every frame, which runs before each count).
#
#   bash benches/peers.sh            # one markdown table, about a minute once built
#
# Built by interleaved_bin.sh, as the other counting scripts build their bench: the
# `bench` profile without this repository's loop alignment, as a dependent compiles it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(bash benches/interleaved_bin.sh decode)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
count() { # group arm passes -> total instructions
  valgrind --tool=callgrind --callgrind-out-file="$work/out" "$bin" --count "$1" "$2" "$3" >/dev/null 2>&1
  awk '/^(summary|totals):/ {print $2; exit}' "$work/out"
}
groups=(vxlan_stack nvgre_stack)
echo "| arm | \`${groups[0]}\` | \`${groups[1]}\` |"
echo "| --- | --- | --- |"
for arm in tunnelwire tunnelwire_recorder hand_written etherparse pnet_packet ingot packet_strata; do
  row="| $arm |"
  for group in "${groups[@]}"; do
    low=$(count "$group" "$arm" 4) high=$(count "$group" "$arm" 12)
    row+=" $(python3 -c "print(f'{($high - $low) / (8 * 64):.1f}')") |"
  done
  echo "$row"
done
