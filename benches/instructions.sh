#!/usr/bin/env bash
# Instructions per packet for each tunnelwire path and its floor, counted by
# valgrind --tool=callgrind (instruction counts do not move with the machine's load).
# Each arm runs twice, with 4 and 12 passes over its workload (benches/paths); the
# difference, divided by the packets of the 8 extra passes, leaves out setup.
#
# The mixed workloads (PATH+mixed) count the same way, per frame offered, refused ones
# included.
#
#   bash benches/instructions.sh [PATH...]     # paths as in benches/interleaved.rs
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(bash benches/interleaved_bin.sh)
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(vxlan_stack nvgre_stack vxlan_encap nvgre_encap decap translate
  vxlan_stack+mixed nvgre_stack+mixed vxlan_encap+mixed nvgre_encap+mixed decap+mixed
  translate+mixed vxlan6_encap nvgre6_encap decap6 translate6 payload
  geneve_stack geneve_encap geneve_ovn_encap geneve_decap geneve_stack+mixed
  geneve_encap+mixed geneve_ovn_encap+mixed geneve_decap+mixed
  vxlan_values nvgre_values geneve_values vxlan_values+mixed nvgre_values+mixed
  geneve_values+mixed)
# Counted only once tunnelwire and each floor agree on every frame (what the timing runs
# check first, too).
"$bin" --check "${paths[@]}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
count() { # path arm passes -> total instructions
  valgrind --tool=callgrind --callgrind-out-file="$work/out" "$bin" --count "$1" "$2" "$3" >/dev/null 2>&1
  awk '/^(summary|totals):/ {print $2; exit}' "$work/out"
}
printf '%-22s %12s %12s %7s\n' path tunnelwire floor ratio
for path in "${paths[@]}"; do
  per=64; case $path in translate*) per=128 ;; esac
  row=()
  for arm in ours floor; do
    low=$(count "$path" "$arm" 4) high=$(count "$path" "$arm" 12)
    row+=("$(python3 -c "print(f'{($high - $low) / (8 * $per):.1f}')")")
  done
  printf '%-22s %12s %12s %7s\n' "$path" "${row[0]}" "${row[1]}" \
    "$(python3 -c "print(f'{${row[0]} / ${row[1]}:.2f}')")"
done
echo "(instructions per packet; translation counts each direction as a packet)"
