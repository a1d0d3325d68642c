#!/usr/bin/env bash
# The reference VTEP (`examples/vtep`, feature `evpn`) finding its remotes through BGP EVPN
# (RFC 7432, RFC 8365), against FRR and the kernel's vxlan + bridge, in network namespaces
# this script creates and always removes. iBGP in AS 65000, one VNI (100, route target
# 65000:100), every VTEP a client of one route reflector:
#
#   underlay bridge (namespace ul), 10.99.0.0/24
#   |-- rr  10.99.0.10  gobgpd, route reflector
#   |-- v1  10.99.0.1   vtep + its own gobgpd; TAP tap1 -> host h1 192.168.100.1
#   |-- v2  10.99.0.2   vtep + its own gobgpd; TAP tap2 -> host h2 192.168.100.2
#   `-- k3  10.99.0.3   FRR (zebra, bgpd: advertise-all-vni) + the kernel's vxlan device
#                       and a bridge; veth -> host h3 192.168.100.3
#   hm 192.168.100.9: the host that moves, holding a second TAP of each vtep (tapm1, tapm2)
#
#   (a) two vteps with no remote in either file: ping with no loss, 2 MiB TCP with SHA-256
#       both ways between h1 and h2;
#   (b) FRR joins with the kernel's vxlan + bridge: the kernel's `bridge fdb` holds each vtep
#       host's MAC as extern_learn toward that vtep, vtep's `fdb` holds h3's MAC with origin
#       evpn; ping and TCP among all three hosts;
#   (c) hm's MAC moves from behind v1 to behind v2: h3 (through the kernel) and h1 (through
#       v1) reach it again within 3 s, and the route's MAC mobility sequence number rises;
#   (d) v2 stops: its routes are withdrawn and v1 and the kernel drop its entries; v2 comes
#       back: routes, entries and traffic converge again;
#   (e) v1's gobgpd is killed and restarted gracefully (`-r`) under a running vtep: pings
#       through v1 lose nothing meanwhile (graceful restart keeps v1's routes at the
#       reflector; vtep keeps its table), and vtep advertises its routes again.
#
# Needs root, iproute2, iputils-ping, ethtool, python3, gobgpd and gobgp (apt: gobgpd) and
# FRR (apt: frr), which .ci/run installs: a missing BGP daemon fails the run, as the
# interop must not pass unseen. Prints "evpn: N passed, N failed".
#
#   bash tests/evpn.sh
set -uo pipefail
cd "$(dirname "$0")/.."

lab=evpn
. tests/lib/netns.sh
. tests/lib/bgp.sh
lab_require ip ping ethtool python3 sha256sum
for tool in gobgpd gobgp; do
  command -v "$tool" >/dev/null || lab_unavailable "$tool is not installed (apt-get install gobgpd)"
done
for tool in /usr/lib/frr/zebra /usr/lib/frr/bgpd /usr/bin/vtysh; do
  [ -x "$tool" ] || lab_unavailable "$tool is not installed (apt-get install frr)"
done
id frr >/dev/null 2>&1 || lab_unavailable "FRR's user frr is missing (apt-get install frr)"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q --release --features evpn --example vtep || lab_unavailable "build failed"
VTEP=$CARGO_TARGET_DIR/release/examples/vtep

lab_start
# No IPv6 anywhere: a host's router solicitations would have its MAC learned (and
# advertised) before the test sends anything.
NETNS_IPV6=0
VNI=100
for name in rr v1 v2 k3; do ns "$name" || lab_skip "cannot create network namespaces"; done
attach rr 10.99.0.10 && attach v1 10.99.0.1 && attach v2 10.99.0.2 && attach k3 10.99.0.3 \
  || lab_skip "cannot create veth pairs"

# ---- the route reflector and each vtep's own gobgpd -----------------------------------------
gobgpd_toml 10.99.0.10 --rr 10.99.0.1 10.99.0.2 10.99.0.3 >"$work/rr.gobgpd.toml"
gobgpd_toml 10.99.0.1 10.99.0.10 >"$work/v1.gobgpd.toml"
gobgpd_toml 10.99.0.2 10.99.0.10 >"$work/v2.gobgpd.toml"
start_gobgpd rr rr || lab_unavailable "gobgpd does not start: $(tail -n 3 "$work/rr.gobgpd.log")"
start_gobgpd v1 v1 || lab_unavailable "gobgpd does not start in v1"
v1_gobgpd=$gobgpd_pid
start_gobgpd v2 v2 || lab_unavailable "gobgpd does not start in v2"

vtep_toml() { # vtep_toml LOCAL TAP...: one segment, one access port per TAP, no remote
  local local_ip=$1
  shift
  printf '[underlay]\nlocal_ip = "%s"\n' "$local_ip"
  for tap in "$@"; do printf '\n[[port]]\nname = "%s"\nvni = %s\n' "$tap" "$VNI"; done
  printf '\n[[segment]]\nvni = %s\n' "$VNI"
  printf '\n[evpn]\ngobgp = "127.0.0.1:50051"\nasn = %s\n' "$BGP_AS"
}
vtep_toml 10.99.0.1 tap1 tapm1 >"$work/v1.toml"
vtep_toml 10.99.0.2 tap2 tapm2 >"$work/v2.toml"

mac_of() { ip -n "$(N "$1")" -br link show "$2" | awk '{print $3}'; } # mac_of NS DEV
place_tap() { # place_tap VTEP_NS TAP HOST_NS ADDRESS [MAC]: the TAP into an existing host
  # namespace, at ADDRESS/24 (none if empty), with MAC if given (a host that comes back)
  ip -n "$(N "$1")" link set "$2" netns "$(N "$3")" || return 1
  [ -z "${5:-}" ] || ip -n "$(N "$3")" link set "$2" address "$5"
  [ -z "$4" ] || ip -n "$(N "$3")" addr add "$4/24" dev "$2"
  ip -n "$(N "$3")" link set "$2" up
}
start_v1() { start_vtep v1 v1 && v1_vtep=$vtep_pid; }
start_v2() { start_vtep v2 v2 && v2_vtep=$vtep_pid; }
ns h1 && ns h2 && ns hm || lab_skip "cannot create network namespaces"
start_v1 || lab_unavailable "vtep does not start in v1: $(tail -n 5 "$work/v1.log")"
start_v2 || lab_unavailable "vtep does not start in v2: $(tail -n 5 "$work/v2.log")"
place_tap v1 tap1 h1 192.168.100.1 && place_tap v2 tap2 h2 192.168.100.2 \
  || lab_skip "cannot move a TAP device to another namespace"
# hm starts behind v1; its second TAP (v2's) waits, down, with no address.
place_tap v1 tapm1 hm 192.168.100.9 && place_tap v2 tapm2 hm "" || lab_skip "cannot move TAPs"
ip -n "$(N hm)" link set tapm2 down
h1_mac=$(mac_of h1 tap1) h2_mac=$(mac_of h2 tap2) hm_mac=$(mac_of hm tapm1)

t0=$SECONDS
wait_for 30 gobgp_established rr 2 || lab_unavailable "no BGP session after 30 s"
echo "    the reflector's sessions with v1 and v2 are up $((SECONDS - t0)) s after start"

ctl() { "$VTEP" ctl "$work/$1.sock" "$2"; } # ctl NAME fdb|stats|evpn
ctl_shows() { # ctl_shows NAME fdb|evpn PATTERN...: a line of that output matches each
  local out=$(ctl "$1" "$2") pattern
  shift 2
  for pattern in "$@"; do out=$(grep -F -- "$pattern" <<<"$out") || return 1; done
}
ctl_lacks() { ! ctl_shows "$@"; } # ctl_lacks NAME fdb|evpn PATTERN...: no line matches all
show() { # show NAME fdb|evpn: the listing, indented, for the log
  echo "    vtep $1 $2:"
  ctl "$1" "$2" | sed 's/^/      /'
}

# ---- (a) two vteps, no remote in either file ------------------------------------------------
# Each must take the other from its type-3 route: nothing crosses before that.
t0=$SECONDS
remotes_known() {
  ctl_shows v1 evpn '"dir":"in"' '"type":3' '"nexthop":"10.99.0.2"' \
    && ctl_shows v2 evpn '"dir":"in"' '"type":3' '"nexthop":"10.99.0.1"'
}
check "a: each vtep receives the other's type-3 route" wait_for 20 remotes_known
echo "    after $((SECONDS - t0)) s"
check "a: ping h1 -> v1 -> v2 -> h2" no_loss h1 192.168.100.2
check "a: ping h2 -> v2 -> v1 -> h1" no_loss h2 192.168.100.1
check "a: 2 MiB TCP, h1 to h2" tcp_transfer h2 192.168.100.2 h1
check "a: 2 MiB TCP, h2 to h1" tcp_transfer h1 192.168.100.1 h2
macs_exchanged() { # each vtep holds the other's host as an EVPN entry
  ctl_shows v1 fdb "\"mac\":\"$h2_mac\"" '"remote":"10.99.0.2"' '"origin":"evpn"' \
    && ctl_shows v2 fdb "\"mac\":\"$h1_mac\"" '"remote":"10.99.0.1"' '"origin":"evpn"'
}
check "a: each vtep's fdb holds the other's host with origin evpn" wait_for 5 macs_exchanged
show v1 evpn

# ---- (b) FRR with the kernel's vxlan + bridge as a third VTEP --------------------------------
scenario_b() {
  ip -n "$(N k3)" link add br100 type bridge || return 1
  ip -n "$(N k3)" link add vx100 type vxlan id "$VNI" local 10.99.0.3 dstport 4789 nolearning \
    || { skip_scenario b "the kernel cannot create vxlan devices"; return 0; }
  ip -n "$(N k3)" link set vx100 master br100 mtu 1450
  # Inner checksums finished by the kernel: vtep does not finish partial ones.
  in_ns k3 ethtool -K vx100 tx off >/dev/null
  veth_host k3 h3p h3 192.168.100.3 || return 1
  ip -n "$(N k3)" link set h3p master br100
  ip -n "$(N k3)" link set vx100 up
  ip -n "$(N k3)" link set br100 up
  start_frr k3 10.99.0.3 10.99.0.10 || {
    tail -n 5 "$(frr_dir k3)"/*.log
    lab_unavailable "FRR does not start"
  }
  h3_mac=$(mac_of h3 eth0)
  t0=$SECONDS
  wait_for 30 gobgp_established rr 3 || { check "b: FRR's session is up" false; return 0; }
  echo "    FRR's session is up $((SECONDS - t0)) s after it started"
  check "b: ping h3 -> kernel -> v1 -> h1" no_loss h3 192.168.100.1
  check "b: ping h3 -> kernel -> v2 -> h2" no_loss h3 192.168.100.2
  check "b: ping h1 -> v1 -> kernel -> h3" no_loss h1 192.168.100.3
  check "b: ping h2 -> v2 -> kernel -> h3" no_loss h2 192.168.100.3
  check "b: 2 MiB TCP, h1 to h3" tcp_transfer h3 192.168.100.3 h1
  check "b: 2 MiB TCP, h3 to h2" tcp_transfer h2 192.168.100.2 h3
  kernel_has() { # kernel_has MAC VTEP: the kernel's fdb entry, put in by FRR from a route
    in_ns k3 bridge fdb show dev vx100 | grep -q "^$1 dst $2 self extern_learn"
  }
  kernel_holds_vtep_hosts() { kernel_has "$h1_mac" 10.99.0.1 && kernel_has "$h2_mac" 10.99.0.2; }
  check "b: the kernel's bridge fdb holds h1 and h2 as extern_learn toward v1 and v2" \
    wait_for 5 kernel_holds_vtep_hosts
  in_ns k3 bridge fdb show dev vx100 | sed 's/^/    kernel: /'
  vteps_hold_h3() {
    ctl_shows v1 fdb "\"mac\":\"$h3_mac\"" '"remote":"10.99.0.3"' '"origin":"evpn"' \
      && ctl_shows v2 fdb "\"mac\":\"$h3_mac\"" '"remote":"10.99.0.3"' '"origin":"evpn"'
  }
  check "b: both vteps' fdb hold h3 (the kernel's host) with origin evpn" wait_for 5 vteps_hold_h3
  show v1 fdb
}
scenario_b || check "b: set up" false

# ---- (c) hm's MAC moves from behind v1 to behind v2 ------------------------------------------
seq_of() { # seq_of NAME: the sequence number NAME advertises for hm's MAC (none: empty)
  ctl "$1" evpn | grep -F '"dir":"out"' | grep -F "\"mac\":\"$hm_mac\"" \
    | sed -nE 's/.*"seq":([0-9]+).*/\1/p' | head -n 1
}
reach_within() { # reach_within NS ADDRESS LIMIT: pings until one is answered; prints the
  # seconds since $moved_at; false after LIMIT seconds
  local start=$moved_at now
  while :; do
    in_ns "$1" ping -q -c 1 -W 0.2 "$2" >/dev/null 2>&1 && break
    now=$(date +%s.%N)
    awk -v now="$now" -v start="$start" -v limit="$3" 'BEGIN { exit !(now - start >= limit) }' \
      && { echo "never"; return 1; }
  done
  awk -v now="$(date +%s.%N)" -v start="$start" 'BEGIN { printf "%.2f\n", now - start }'
}
scenario_c() {
  # hm is seen behind v1, and advertised from there.
  no_loss h3 192.168.100.9 >/dev/null && no_loss h1 192.168.100.9 >/dev/null || {
    check "c: hm is reachable behind v1 before the move" false
    return 0
  }
  wait_for 5 ctl_shows v1 evpn '"dir":"out"' "\"mac\":\"$hm_mac\"" || {
    check "c: v1 advertises hm's MAC" false
    return 0
  }
  local before
  before=$(seq_of v1)
  # The move, as a migrated VM does it: the same MAC and address on the new port, which
  # announces itself (its first packet there, an ARP request, is learned by v2).
  ip -n "$(N hm)" link set tapm1 down
  ip -n "$(N hm)" addr flush dev tapm1
  ip -n "$(N hm)" link set tapm2 address "$hm_mac"
  ip -n "$(N hm)" addr add 192.168.100.9/24 dev tapm2
  ip -n "$(N hm)" link set tapm2 up
  moved_at=$(date +%s.%N)
  in_ns hm ping -q -c 1 -W 1 192.168.100.2 >/dev/null 2>&1
  reach_within h3 192.168.100.9 3 >"$work/c-h3" &
  local from_h3=$!
  reach_within h1 192.168.100.9 3 >"$work/c-h1" &
  local from_h1=$!
  wait "$from_h3"
  local h3_ok=$?
  wait "$from_h1"
  local h1_ok=$?
  echo "    after the move: h3 (kernel) reached hm after $(cat "$work/c-h3") s, h1 (v1) after $(cat "$work/c-h1") s"
  check "c: h3 reaches hm behind v2 within 3 s (through the kernel's fdb)" test "$h3_ok" -eq 0
  check "c: h1 reaches hm behind v2 within 3 s (through v1)" test "$h1_ok" -eq 0
  local after
  advertises_hm() { test -n "$(seq_of "$1")"; } # asked again at each try
  wait_for 3 advertises_hm v2
  after=$(seq_of v2)
  echo "    hm's MAC advertised by v1 with seq ${before:-none}, now by v2 with seq ${after:-none}"
  check "c: v2 advertises hm's MAC with a higher sequence number than v1 did" \
    test "${after:-0}" -gt "${before:-0}"
  check "c: v1 withdrew its route for hm's MAC" \
    wait_for 3 ctl_lacks v1 evpn '"dir":"out"' "\"mac\":\"$hm_mac\""
  check "c: v1's fdb holds hm toward v2 with origin evpn" \
    ctl_shows v1 fdb "\"mac\":\"$hm_mac\"" '"remote":"10.99.0.2"' '"origin":"evpn"'
  kernel_holds_hm_at_v2() { in_ns k3 bridge fdb show dev vx100 | grep -q "^$hm_mac dst 10.99.0.2 "; }
  check "c: the kernel's fdb holds hm toward v2" wait_for 3 kernel_holds_hm_at_v2
  frr_vtysh k3 -c "show evpn mac vni $VNI mac $hm_mac" | sed 's/^/    frr: /'
}
scenario_c

# ---- (d) v2 stops, then comes back -----------------------------------------------------------
nothing_toward_v2() { # no route, no vtep entry and no kernel entry names v2 any more
  ! gobgp_in rr global rib -a evpn | grep -q " 10\.99\.0\.2 " \
    && ctl_lacks v1 fdb '"remote":"10.99.0.2"' && ctl_lacks v1 evpn '"nexthop":"10.99.0.2"' \
    && ! in_ns k3 bridge fdb show dev vx100 | grep -q "dst 10\.99\.0\.2 "
}
everything_toward_v2() { # v2's type-3 and its hosts' routes everywhere again
  ctl_shows v1 evpn '"dir":"in"' '"type":3' '"nexthop":"10.99.0.2"' \
    && ctl_shows v1 fdb "\"mac\":\"$h2_mac\"" '"remote":"10.99.0.2"' '"origin":"evpn"' \
    && in_ns k3 bridge fdb show dev vx100 | grep -q "^00:00:00:00:00:00 dst 10.99.0.2 " \
    && in_ns k3 bridge fdb show dev vx100 | grep -q "^$h2_mac dst 10.99.0.2 self extern_learn"
}
scenario_d() {
  kill "$v2_vtep"
  wait "$v2_vtep"
  echo "    vtep v2 stopped (SIGTERM), status $?"
  t0=$SECONDS
  check "d: v2's routes are withdrawn; v1 and the kernel drop its remote and entries" \
    wait_for 10 nothing_toward_v2
  echo "    after $((SECONDS - t0)) s"
  # Back, with new TAPs: the hosts keep their MACs and addresses, as a rebooted switch's
  # hosts do.
  start_v2 || { check "d: v2 starts again" false; sed 's/^/    /' "$work/v2.log"; return 0; }
  place_tap v2 tap2 h2 192.168.100.2 "$h2_mac" && place_tap v2 tapm2 hm 192.168.100.9 "$hm_mac" \
    || { check "d: v2's TAPs placed again" false; return 0; }
  t0=$SECONDS
  check "d: ping h2 -> v2 -> v1 -> h1 after v2 is back" no_loss h2 192.168.100.1
  check "d: ping h2 -> v2 -> kernel -> h3 after v2 is back" no_loss h2 192.168.100.3
  check "d: ping h1 -> v1 -> v2 -> hm after v2 is back" no_loss h1 192.168.100.9
  check "d: v2's type-3 and h2's MAC are in v1 and in the kernel again" \
    wait_for 10 everything_toward_v2
  echo "    converged $((SECONDS - t0)) s after v2 came back"
}
scenario_d

# ---- (e) v1's gobgpd is killed and restarted under a running vtep ----------------------------
v1_routes_fresh() { # the reflector holds v1's type-3 as a fresh route (not stale: no S)
  gobgp_in rr global rib -a evpn | grep -F '[type:multicast]' | grep -F '[ip:10.99.0.1]' \
    | grep -qv '^S'
}
scenario_e() {
  # Pings through v1 for 25 s, toward v2's host and toward the kernel's: the outage and
  # the new session (up some 10 s after the kill) fit in it. A count, which ping finishes
  # by itself, waiting for the last reply: stopped by a signal, a packet still on its way
  # would count as lost; a deadline ends ping early once errors come back.
  ip netns exec "$(N h1)" ping -q -i 0.05 -c 500 192.168.100.2 >"$work/e-h2" 2>&1 &
  local to_h2=$!
  ip netns exec "$(N h1)" ping -q -i 0.05 -c 500 192.168.100.3 >"$work/e-h3" 2>&1 &
  local to_h3=$!
  sleep 1
  kill -KILL "$v1_gobgpd"
  wait "$v1_gobgpd" 2>/dev/null
  echo "    v1's gobgpd killed (SIGKILL)"
  sleep 3
  # Restarted as gobgp's documentation says a graceful restart is (`-r`: the Restart State
  # and Forwarding State bits set): the new gobgpd then sends its routes and End-of-RIB
  # only after the reflector's End-of-RIB (RFC 4724 section 4.1), which leaves vtep the
  # time to give them back. Without it the new gobgpd sent End-of-RIB as soon as its
  # session came up, with or without vtep's routes, and the reflector dropped v1's stale
  # ones at that End-of-RIB (gobgp's helper, pkg/server/server.go: `DropStale` once all
  # End-of-RIBs are in).
  start_gobgpd v1 v1 -r || { check "e: gobgpd restarts in v1" false; return 0; }
  v1_gobgpd=$gobgpd_pid
  t0=$SECONDS
  wait_for 30 gobgp_established v1 1
  echo "    v1's session is up again $((SECONDS - t0)) s after the restart"
  restarted_gracefully() { # the reflector received the Restart State bit in v1's OPEN
    local shown
    shown=$(gobgp_in rr neighbor 10.99.0.1)
    grep -q "Remote: .*restart flag set" <<<"$shown"
  }
  check "e: the reflector saw v1's gobgpd restart gracefully" restarted_gracefully
  check "e: v1's routes are advertised again (fresh at the reflector)" wait_for 15 v1_routes_fresh
  # vtep keeps what it knew through the outage, so its own listing proves nothing here:
  # the restarted gobgpd must hold the others' routes again.
  others_received() {
    local rib
    rib=$(gobgp_in v1 global rib -a evpn | grep -F '[type:multicast]')
    grep -qF '[ip:10.99.0.2]' <<<"$rib" && grep -qF '[ip:10.99.0.3]' <<<"$rib"
  }
  check "e: v1's gobgpd receives v2's and the kernel's type-3 routes again" \
    wait_for 10 others_received
  v1_entries_kept() {
    ctl_shows v2 fdb "\"mac\":\"$h1_mac\"" '"remote":"10.99.0.1"' '"origin":"evpn"' \
      && in_ns k3 bridge fdb show dev vx100 | grep -q "^$h1_mac dst 10.99.0.1 self extern_learn"
  }
  check "e: v2 and the kernel keep v1's entries" v1_entries_kept
  wait "$to_h2" "$to_h3"
  sed -n 's/^/    h1 -> h2: /;/transmitted/p' "$work/e-h2"
  sed -n 's/^/    h1 -> h3: /;/transmitted/p' "$work/e-h3"
  check "e: no ping lost through v1 while its gobgpd was away" \
    grep -q " 0% packet loss" "$work/e-h2" && grep -q " 0% packet loss" "$work/e-h3"
}
scenario_e

if [ "$failed" -ne 0 ]; then
  for log in "$work"/*.log "$(frr_dir k3)"/*.log; do
    [ -f "$log" ] || continue
    echo "---- $(basename "$log")"
    tail -n 20 "$log"
  done
fi
lab_summary
