# Network-namespace helpers for the lab scripts (tests/interop.sh, tests/ovs.sh, tests/evpn.sh,
# benches/evpn_scale.sh, benches/vtep_vs_kernel.sh):
# namespaces named after the script's PID, an underlay bridge, vtep started with a control
# socket, TAP hosts, the checked ping and TCP transfer, PASS/FAIL counting and a cleanup
# that stops every process the script started and removes every namespace it made.
#
# Source it after setting `lab` (the name the messages and the summary begin with) from a
# script whose working directory is the repository's root:
#
#   lab=evpn
#   . tests/lib/netns.sh
#   lab_require ip ping python3
#   lab_start          # the work directory, the cleanup trap, the underlay bridge
#
# NETNS_IPV6=0 before `ns` keeps IPv6 off in the namespaces it makes: no router or
# neighbour solicitations, so no MAC address is seen (learned, advertised) before a test
# sends its own traffic. NETNS_UNDERLAY_CSUM=0 before `attach`: see `underlay_link`.

# ---- stopping early -------------------------------------------------------------------------
lab_skip() { # lab_skip REASON: this machine cannot run the lab at all; said loudly, exit 0
  echo "=================================================================" >&2
  echo "$lab: SKIPPED: $*" >&2
  echo "=================================================================" >&2
  echo "$lab: 0 passed, 0 failed, 1 skipped"
  exit 0
}
lab_unavailable() { # lab_unavailable REASON: something CI installs is missing: a failure
  echo "=================================================================" >&2
  echo "$lab: FAILED: $*" >&2
  echo "=================================================================" >&2
  echo "$lab: 0 passed, 1 failed"
  exit 1
}
lab_require() { # lab_require TOOL...: root, /dev/net/tun and each tool (ethtool always), or
  # a loud skip
  local tool
  [ "$(id -u)" -eq 0 ] || lab_skip "needs root (network namespaces, TAP devices, raw sockets)"
  [ -c /dev/net/tun ] || lab_skip "/dev/net/tun is missing"
  for tool in ethtool "$@"; do
    command -v "$tool" >/dev/null || lab_skip "$tool is not installed"
  done
}

# ---- processes and cleanup ------------------------------------------------------------------
id=$$
work=""
namespaces=()
pids=()    # our children (vtep, servers): stopped, then waited for
daemons=() # detached daemons (FRR's): not our children, so polled until gone
running() { # running PID: alive and not a zombie
  local state
  state=$(sed -E 's/.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
stop_pid() { # stop_pid PID: SIGTERM, up to 5 s to go, then SIGKILL
  local i
  kill "$1" 2>/dev/null || return 0
  for i in $(seq 50); do
    running "$1" || return 0
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null
}
lab_cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  for pid in "${daemons[@]}"; do stop_pid "$pid"; done
  # A namespace's deletion does not stop what runs in it: processes first, then these.
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  [ -z "$work" ] || rm -rf "$work"
}
lab_start() { # the work directory, the cleanup on exit, the underlay bridge (namespace ul)
  work=$(mktemp -d)
  trap lab_cleanup EXIT
  trap 'exit 130' INT TERM # through the EXIT trap
  ns ul || lab_skip "cannot create network namespaces"
  # No multicast snooping: IPv6 neighbour discovery's multicast is flooded from the start.
  ip -n "$(N ul)" link add br0 type bridge mcast_snooping 0 || lab_skip "cannot create a bridge"
  ip -n "$(N ul)" link set br0 up
}

# ---- namespaces -----------------------------------------------------------------------------
N() { echo "tw-$1-$id"; } # a namespace's full name
ns() {                    # ns NAME: a namespace with loopback up (and IPv6 off if NETNS_IPV6=0)
  local name
  name=$(N "$1")
  ip netns add "$name" || return 1
  namespaces+=("$name")
  if [ "${NETNS_IPV6:-1}" = 0 ]; then
    # `default` before any device exists covers every device made or moved here later.
    ip netns exec "$name" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
      net.ipv6.conf.default.disable_ipv6=1 || return 1
  fi
  ip -n "$name" link set lo up
}
in_ns() { # in_ns NAME COMMAND... (not with &: $! would name a subshell, not COMMAND)
  local name=$1
  shift
  ip netns exec "$(N "$name")" "$@"
}
underlay_link() { # underlay_link NS: the namespace's eth0, a veth to the underlay bridge
  ip link add "u-$1" netns "$(N ul)" type veth peer name eth0 netns "$(N "$1")" || return 1
  ip -n "$(N ul)" link set "u-$1" master br0 up
  # NETNS_UNDERLAY_CSUM=0: checksums completed before the wire, as a NIC leaves them (Open
  # vSwitch's AF_PACKET socket silently drops a packet whose checksum a veth left partial:
  # datapath_drop_tunnel_pop_error). Not by default: software checksums would slow the
  # kernel's side of a comparison.
  [ "${NETNS_UNDERLAY_CSUM:-1}" = 1 ] || in_ns "$1" ethtool -K eth0 tx off >/dev/null
}
attach() { # attach NS ADDRESS [ADDRESS6]: the namespace joins the underlay bridge at
  # ADDRESS/24 (eth0), and at ADDRESS6/64 usable at once (nodad: not tentative, so vtep can
  # bind to it)
  underlay_link "$1" || return 1
  ip -n "$(N "$1")" addr add "$2/24" dev eth0
  [ -z "${3:-}" ] || ip -n "$(N "$1")" addr add "$3/64" dev eth0 nodad
  ip -n "$(N "$1")" link set eth0 up
}
veth_host() { # veth_host NS DEV HOST_NS ADDRESS: a host namespace on a veth (eth0 there,
  # DEV in NS) at ADDRESS/24, MTU 1450 (a 1500-byte underlay less VXLAN's 50 bytes)
  ns "$3" || return 1
  ip link add "$2" netns "$(N "$1")" type veth peer name eth0 netns "$(N "$3")" || return 1
  # Checksums finished by the host's kernel: a userspace VTEP does not finish partial ones.
  in_ns "$3" ethtool -K eth0 tx off >/dev/null
  ip -n "$(N "$3")" link set eth0 mtu 1450
  ip -n "$(N "$3")" addr add "$4/24" dev eth0
  ip -n "$(N "$3")" link set eth0 up
  ip -n "$(N "$1")" link set "$2" mtu 1450 up
}

# ---- vtep -----------------------------------------------------------------------------------
start_vtep() { # start_vtep NS NAME: runs $VTEP with $work/NAME.toml and the control socket
  # $work/NAME.sock, logging to $work/NAME.log (appended: a restart keeps the first run's
  # lines); returns once it answers there, or 1 when it exits first or takes over 5 s.
  # Its PID is then in $vtep_pid.
  rm -f "$work/$2.sock"
  ip netns exec "$(N "$1")" "$VTEP" --config "$work/$2.toml" --control "$work/$2.sock" \
    2>>"$work/$2.log" &
  vtep_pid=$!
  pids+=("$vtep_pid")
  local i
  for i in $(seq 100); do
    [ -S "$work/$2.sock" ] && return 0
    if ! kill -0 "$vtep_pid" 2>/dev/null; then
      wait "$vtep_pid"
      echo "(vtep exited with status $?)" >>"$work/$2.log"
      return 1
    fi
    sleep 0.05
  done
  echo "(no control socket after 5 s)" >>"$work/$2.log"
  return 1
}
adopt_tap() { # adopt_tap VTEP_NS TAP HOST_NS ADDRESS: moves the TAP into a new host namespace
  # once vtep has made it (after its control socket: up to 5 s more)
  local i
  for i in $(seq 50); do
    ip -n "$(N "$1")" link show "$2" >/dev/null 2>&1 && break
    sleep 0.1
  done
  ns "$3" || return 1
  ip -n "$(N "$1")" link set "$2" netns "$(N "$3")" || return 1
  ip -n "$(N "$3")" addr add "$4/24" dev "$2"
  ip -n "$(N "$3")" link set "$2" up
}

# ---- checks ---------------------------------------------------------------------------------
passed=0 failed=0 skipped=0
check() { # check NAME COMMAND...: runs it, counts and prints the result
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "$lab $name: PASS"
  else
    failed=$((failed + 1))
    echo "$lab $name: FAILED"
  fi
}
skip_scenario() { # skip_scenario NAME REASON: a scenario this machine cannot run, said loudly
  skipped=$((skipped + 1))
  echo "================================================================="
  echo "$lab $1: SKIPPED: $2"
  echo "================================================================="
}
lab_summary() { # prints "LAB: N passed, N failed[, N skipped]"; false when any failed
  local summary="$lab: $passed passed, $failed failed"
  [ "$skipped" -eq 0 ] || summary="$summary, $skipped skipped"
  echo "$summary"
  [ "$failed" -eq 0 ]
}
wait_for() { # wait_for SECONDS COMMAND...: true as soon as COMMAND is, false after SECONDS
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

no_loss() { # no_loss NS ADDRESS: 20 pings after a warm-up, none lost, none duplicated
  in_ns "$1" ping -q -c 3 -i 0.2 -w 5 "$2" >/dev/null 2>&1
  local out
  out=$(in_ns "$1" ping -q -c 20 -i 0.05 -W 2 "$2" 2>&1)
  echo "$out" | grep -E "packets transmitted" | sed 's/^/    /'
  echo "$out" | grep -q " 0% packet loss" && ! echo "$out" | grep -q duplicates
}
tcp_transfer() { # tcp_transfer SERVER_NS SERVER_ADDRESS CLIENT_NS [BYTES]: 2 MiB unless
  # told, SHA-256 compared
  local port=5001 sent received bytes=${4:-2097152}
  head -c "$bytes" /dev/urandom >"$work/payload"
  sent=$(sha256sum "$work/payload" | cut -d' ' -f1)
  ip netns exec "$(N "$1")" timeout 65 python3 tests/tcp_sha256.py serve "$port" \
    >"$work/received" 2>&1 &
  local server=$!
  sleep 0.5
  in_ns "$3" timeout 60 python3 tests/tcp_sha256.py send "$2" "$port" "$work/payload"
  # A client that failed leaves the server nothing to wait for.
  [ $? -eq 0 ] || kill "$server" 2>/dev/null
  wait "$server"
  received=$(cat "$work/received")
  echo "    sent $bytes bytes sha256 $sent; received $received"
  [ "$received" = "$bytes $sent" ]
}
