#!/usr/bin/env bash
# vtep (feature `evpn`) under a large EVPN table: a BGP speaker announces 1,000 remote VTEPs
# (one type-3 route each) and 100,000 MAC routes (type 2, 100 behind each VTEP) to the
# gobgpd beside vtep, in one segment (VNI 100) whose mac_limit is 1,000. It prints:
#   - the time until gobgpd holds every route, and until `vtep ctl fdb` holds every MAC
#     (origin evpn) and `vtep ctl evpn` every remote;
#   - vtep's and gobgpd's resident memory (VmRSS) before and after;
#   - 64-byte frames per second vtep forwards from a host behind its TAP to the kernel's
#     vxlan device (a remote listed in the file), before the routes and while they come in
#     (iperf3 UDP, 18-byte payloads: delivered = packets - lost, per second);
#   - the time until every route is withdrawn from vtep once the speaker withdraws them;
#   - whether the host behind the TAP is still learned past mac_limit's 1,000 EVPN entries.
#
#   underlay bridge (namespace ul)
#   |-- v1   10.99.0.1   vtep + gobgpd; TAP tap1 -> host h1 192.168.100.1
#   |-- k    10.99.0.3   the kernel's vxlan device, 192.168.100.3, remote of v1 in its file
#   `-- spk  10.99.0.20  tests/lib/evpn_speaker.py: the routes, over iBGP to v1's gobgpd
# The announced VTEPs are 10.98.X.Y; v1 routes 10.98.0.0/16 through k, whose kernel drops
# what it receives for them, so a flood's copies toward them leave and cost what they cost.
#
# Why a plain BGP speaker and not a second gobgpd: gobgpd (3.10) checks each MAC route it
# takes, from the API or from a peer, against its whole EVPN table (MAC mobility), so n
# routes cost it time in n squared; fed through a second gobgpd's API, that one pays as much.
# That cost is the daemon's, not vtep's: the figures separate the two.
#
# Not run by CI: with 100,000 routes it takes over half an hour on a 2-core machine (98,443
# of 100,000 MACs in vtep after 30 minutes, 2026-12-05); MACS=20 takes about a minute.
#
#   bash benches/evpn_scale.sh       # as root; iproute2, iperf3, python3, gobgpd, cargo
#   VTEPS=1000 MACS=100              remote VTEPs, MACs behind each (default: the issue's)
#   SECONDS_PER_TEST=5               length of each iperf3 run
#   CARGO_TARGET_DIR                 where vtep is built (default target)
set -uo pipefail
cd "$(dirname "$0")/.."

lab=evpn_scale
. tests/lib/netns.sh
. tests/lib/bgp.sh
lab_require ip iperf3 python3 gobgpd gobgp ethtool cargo
vteps=${VTEPS:-1000} macs=${MACS:-100} secs=${SECONDS_PER_TEST:-5}
total=$((vteps * macs))

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q --release --features evpn --example vtep || lab_unavailable "build failed"
VTEP=$CARGO_TARGET_DIR/release/examples/vtep

lab_start
NETNS_IPV6=0
for name in v1 k spk; do ns "$name"; done
attach v1 10.99.0.1 && attach k 10.99.0.3 && attach spk 10.99.0.20 || lab_skip "no veth pairs"
ip -n "$(N v1)" route add 10.98.0.0/16 via 10.99.0.3

# The kernel's vxlan device: the far end of the forwarding test, listed in vtep's file.
ip -n "$(N k)" link add vx0 type vxlan id 100 remote 10.99.0.1 local 10.99.0.3 dstport 4789
ip -n "$(N k)" link set vx0 mtu 1450
in_ns k ethtool -K vx0 tx off >/dev/null
ip -n "$(N k)" addr add 192.168.100.3/24 dev vx0
ip -n "$(N k)" link set vx0 up

gobgpd_toml 10.99.0.1 10.99.0.20 >"$work/v1.gobgpd.toml"
start_gobgpd v1 v1 || lab_unavailable "gobgpd does not start"
gobgpd_v1=$gobgpd_pid
cat >"$work/v1.toml" <<'EOF'
[underlay]
local_ip = "10.99.0.1"

[[port]]
name = "tap1"
vni = 100

[[segment]]
vni = 100
mac_limit = 1000

[[segment.remote]]
ip = "10.99.0.3"

[evpn]
gobgp = "127.0.0.1:50051"
asn = 65000
EOF
start_vtep v1 v1 || lab_unavailable "vtep does not start: $(tail -n 5 "$work/v1.log")"
vtep_v1=$vtep_pid
adopt_tap v1 tap1 h1 192.168.100.1 || lab_skip "cannot move a TAP device to another namespace"
in_ns h1 ping -q -c 3 -i 0.2 192.168.100.3 >/dev/null || lab_unavailable "h1 cannot reach k"

# ---- the speaker: its session first, the routes on command -----------------------------------
mkfifo "$work/speaker.in"
ip netns exec "$(N spk)" python3 tests/lib/evpn_speaker.py 10.99.0.20 10.99.0.1 "$BGP_AS" 100 \
  "$vteps" "$macs" <"$work/speaker.in" >"$work/speaker.out" 2>&1 &
pids+=($!)
exec 3>"$work/speaker.in"
wait_for 30 grep -q "session up" "$work/speaker.out" \
  || lab_unavailable "no BGP session with the speaker: $(cat "$work/speaker.out")"

# ---- what is measured ------------------------------------------------------------------------
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; } # rss_kib PID
# While routes come in, the segment's counts from `stats` (one small object): listing the
# whole fdb takes seconds at this size, too slow to time anything by.
table_size() { # prints "MAC_ENTRIES REMOTES" of the segment, the file's remote included
  "$VTEP" ctl "$work/v1.sock" stats | python3 -c '
import json, sys
segment = json.load(sys.stdin)["segments"]["100"]
print(segment["mac_entries"], len(segment["remotes"]))'
}
# Once settled, the listings themselves, to check what the counts said.
evpn_macs() { "$VTEP" ctl "$work/v1.sock" fdb | grep -c '"origin":"evpn"'; }
evpn_remotes() { "$VTEP" ctl "$work/v1.sock" evpn | grep -F '"dir":"in"' | grep -c '"type":3'; }
gobgpd_paths() { gobgp_in v1 global rib -a evpn summary | sed -nE 's/.*Path: ([0-9]+).*/\1/p'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; } # since START
iperf3_listening() { in_ns k ss -Htln "sport = :5201" | grep -q .; }
frames_per_second() { # 64-byte frames h1 -> k delivered per second, over $secs seconds
  ip netns exec "$(N k)" iperf3 -s -1 -B 192.168.100.3 >/dev/null 2>&1 &
  local server=$!
  wait_for 5 iperf3_listening
  in_ns h1 iperf3 -c 192.168.100.3 -u -b 0 -l 18 -t "$secs" -J >"$work/iperf.json" 2>&1
  wait "$server"
  python3 -c '
import json, sys
end = json.load(open(sys.argv[1]))["end"]["sum"]
print(round((end["packets"] - end["lost_packets"]) / end["seconds"]))' "$work/iperf.json"
}

rss_before=$(rss_kib "$vtep_v1") gobgpd_rss_before=$(rss_kib "$gobgpd_v1")
rate_before=$(frames_per_second)

# ---- announce: the forwarding test runs while the table fills --------------------------------
start=$(now)
echo announce >&3
frames_per_second >"$work/rate_during" &
rate_job=$!
gobgpd_full="" vtep_full="" remotes_full=""
deadline=$((SECONDS + 3600))
progress=$SECONDS
while [ -z "$gobgpd_full" ] || [ -z "$vtep_full" ] || [ -z "$remotes_full" ]; do
  [ "$SECONDS" -lt "$deadline" ] || break
  paths=$(gobgpd_paths)
  read -r held remotes < <(table_size)
  # gobgpd also holds vtep's own routes, and the segment h1's and k's learned MACs and
  # the file's remote: at least every announced one.
  [ -n "$gobgpd_full" ] || [ "${paths:-0}" -lt "$((total + vteps))" ] || gobgpd_full=$(since "$start")
  [ -n "$vtep_full" ] || [ "${held:-0}" -lt "$total" ] || vtep_full=$(since "$start")
  [ -n "$remotes_full" ] || [ "${remotes:-0}" -le "$vteps" ] || remotes_full=$(since "$start")
  if [ $((SECONDS - progress)) -ge 10 ]; then # a long wait shows how it goes
    progress=$SECONDS
    echo "  $(since "$start") s: gobgpd $paths routes, vtep $held MACs and $remotes remotes" >&2
  fi
  sleep 0.5
done
wait "$rate_job"
rate_during=$(cat "$work/rate_during")
rss_after=$(rss_kib "$vtep_v1") gobgpd_rss_after=$(rss_kib "$gobgpd_v1")
h1_mac=$(ip -n "$(N h1)" -br link show tap1 | awk '{print $3}')
in_ns h1 ping -q -c 1 192.168.100.3 >/dev/null
h1_learned=no
"$VTEP" ctl "$work/v1.sock" fdb | grep -F "\"mac\":\"$h1_mac\"" | grep -qF '"origin":"learned"' \
  && h1_learned=yes
macs_held=$(evpn_macs) remotes_held=$(evpn_remotes)

# ---- withdraw ---------------------------------------------------------------------------------
start=$(now)
echo withdraw >&3
withdrawn=""
deadline=$((SECONDS + 600))
while [ -z "$withdrawn" ] && [ "$SECONDS" -lt "$deadline" ]; do
  read -r held remotes < <(table_size)
  # What stays: the learned MACs (h1's, k's) and the file's remote.
  [ "${held:-0}" -gt 2 ] || [ "${remotes:-0}" -gt 1 ] || withdrawn=$(since "$start")
  sleep 0.5
done
macs_left=$(evpn_macs) remotes_left=$(evpn_remotes)
echo quit >&3

echo "evpn_scale: $vteps remote VTEPs, $total MAC routes, one segment (mac_limit = 1000)"
echo "  gobgpd holds every route after          ${gobgpd_full:-never} s"
echo "  vtep's fdb holds every MAC after        ${vtep_full:-never} s ($macs_held of $total)"
echo "  vtep holds every remote VTEP after      ${remotes_full:-never} s ($remotes_held of $vteps)"
echo "  vtep RSS                                $rss_before KiB before, $rss_after KiB after"
echo "  gobgpd RSS                              $gobgpd_rss_before KiB before, $gobgpd_rss_after KiB after"
echo "  64-byte frames/s h1 -> kernel           $rate_before before, $rate_during while routes came in"
echo "  every route withdrawn from vtep after   ${withdrawn:-never} s ($macs_left MACs and $remotes_left remotes left)"
echo "  h1 learned past mac_limit's 1000        $h1_learned (EVPN entries do not count towards it)"
[ -n "$gobgpd_full" ] && [ -n "$vtep_full" ] && [ -n "$remotes_full" ] && [ -n "$withdrawn" ]
