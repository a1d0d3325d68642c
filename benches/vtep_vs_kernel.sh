#!/usr/bin/env bash
# vtep (`examples/vtep`) against the kernel's own vxlan device + Linux bridge, in the same
# topology, on this machine. Every namespace, device and address is created here (names
# end in this shell's PID) and removed on exit.
#
#   far host (namespace kv): the kernel's vxlan devices, 192.168.42.1 (VNI 42) and
#   |                        192.168.45.1 (VNI 45), underlay 10.99.0.1
#   underlay: a bridge in namespace ul, one veth to each VTEP namespace (MTU 1500, IPv4)
#   |-- vtep:   namespace va (10.99.0.2) runs vtep; its TAP port, moved into namespace ha,
#   |           is the host 192.168.42.2                  (tests/interop.sh, scenario a)
#   `-- kernel: namespace kb (10.99.0.3): vxlan + bridge + veth to namespace hk, the host
#               192.168.45.2                              (tests/interop.sh, its bench)
# Both hosts and both far devices have MTU 1450 (1500 less VXLAN's 50 bytes over IPv4),
# so the two systems carry the same frames; the far end is the same kernel in both.
#
# Four figures per system and round, with iperf3 (client on the sending side):
#   tcp host->far, tcp far->host        one TCP stream, Gbit/s received (iperf3 -J)
#   frames host->far, frames far->host  64-byte frames delivered per second: UDP with an
#                                       18-byte payload (iperf3 -u -b 0 -l 18; 18 + 8 UDP
#                                       + 20 IPv4 + 14 Ethernet + 4 FCS = 64), delivered =
#                                       (packets - lost_packets) / seconds
# and, during each TCP test, CPU seconds per GB received: the whole machine's (the delta
# of user+nice+system+irq+softirq in /proc/stat) and, for vtep, its own (utime+stime
# from /proc/PID/stat).
# Caveats: the whole-machine figure counts everything the machine runs, other jobs too (the
# script prints how busy the machine was just before and after), and on a small machine a
# single stream keeps every core busy, so it tracks 1/throughput more than efficiency.
# CPU time here is sampled at the tick: softirq work that runs while vtep is on the CPU
# (the receiving stack behind a veth, say) is charged to vtep's own figure too.
# Rounds alternate which system goes first; each test runs on both systems back to back,
# so a busy minute weighs on both alike. The summary gives, for each figure, the median
# over rounds of the per-round ratio vtep/kernel, and the median CPU s/GB.
#
#   bash benches/vtep_vs_kernel.sh     # as root; needs iproute2, iperf3, python3, cargo
#   ROUNDS=5             rounds (default 5)
#   SECONDS_PER_TEST=5   length of each iperf3 test (default 5)
#   CARGO_TARGET_DIR     where vtep is built (default target)
#   PROFILE="tcp host->far"  also samples the whole machine (perf record -a -g, cpu-clock:
#                        no hardware counters needed) during that test of vtep's, into
#                        PROFILE_OUT (default target/vtep.perf.data); read it with perf report
# No `-e`: the lab's helpers (tests/lib/netns.sh) are written for scripts without it, and
# its cleanup must run to the end. A topology that failed to build fails the ping check
# below, before anything is measured.
set -uo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-5}
secs=${SECONDS_PER_TEST:-5}
lab=vtep_vs_kernel
. tests/lib/netns.sh
die() { echo "$lab: $*" >&2; exit 1; }
lab_require ip ss iperf3 python3 cargo

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q --release --features linux --example vtep || die "build failed"
VTEP=$CARGO_TARGET_DIR/release/examples/vtep

# ---- the underlay: the bridge in ul, every VTEP namespace on a veth to it -----------------
lab_start
for name in kv va kb hk; do ns "$name"; done
vtep_attach() { # vtep_attach NS ADDRESS: `attach`, with GRO on the VTEP's underlay link as a
  # NIC has it by default (a veth has not): the kernel's vxlan device coalesces through it,
  # and so does vtep's UDP socket (UDP_GRO)
  attach "$1" "$2"
  in_ns "$1" ethtool -K eth0 gro on >/dev/null
}
vtep_attach kv 10.99.0.1
vtep_attach va 10.99.0.2
vtep_attach kb 10.99.0.3

# ---- the far end: one kernel vxlan device toward each system ---------------------------------
far_vxlan() { # far_vxlan NAME VNI REMOTE ADDRESS
  ip -n "$(N kv)" link add "$1" type vxlan id "$2" remote "$3" local 10.99.0.1 dstport 4789
  ip -n "$(N kv)" link set "$1" mtu 1450
  # Inner checksums finished by the kernel before encapsulation: vtep does not finish
  # partial ones (tests/interop.sh does the same). Set on both devices, so the far end
  # sends the same frames to both systems.
  in_ns kv ethtool -K "$1" tx off >/dev/null
  ip -n "$(N kv)" addr add "$4/24" dev "$1"
  ip -n "$(N kv)" link set "$1" up
}
far_vxlan vx42 42 10.99.0.2 192.168.42.1
far_vxlan vx45 45 10.99.0.3 192.168.45.1

# ---- vtep: in va, its TAP moved to the host namespace ha -------------------------------------
cat >"$work/vtep.toml" <<'EOF'
[underlay]
local_ip = "10.99.0.2"
mtu = 1500

[[port]]
name = "tap0"
mtu = 1450   # what the far vxlan device and the kernel's host have
vni = 42

[[segment]]
vni = 42

[[segment.remote]]
ip = "10.99.0.1"
EOF
# vtep_pid is vtep itself (ip execs it), whose /proc/PID/stat is read below.
start_vtep va vtep || die "vtep did not start: $(cat "$work/vtep.log")"
[ "$(cat "/proc/$vtep_pid/comm" 2>/dev/null)" = vtep ] || die "PID $vtep_pid is not vtep"
adopt_tap va tap0 ha 192.168.42.2 || die "vtep's TAP never appeared: $(cat "$work/vtep.log")"
# vtep gave the TAP the port's MTU from the TOML; the same frames as the kernel's host, or
# the comparison is off.
[ "$(in_ns ha cat /sys/class/net/tap0/mtu)" = 1450 ] || die "the TAP's MTU is not 1450"

# ---- the kernel: vxlan + bridge + veth to the host namespace hk, in kb -----------------------
ip -n "$(N kb)" link add vx45 type vxlan id 45 remote 10.99.0.1 local 10.99.0.3 dstport 4789
ip -n "$(N kb)" link set vx45 mtu 1450
ip -n "$(N kb)" link add br45 type bridge
ip -n "$(N kb)" link set vx45 master br45 up
ip link add p45 netns "$(N kb)" type veth peer name eth1 netns "$(N hk)"
ip -n "$(N kb)" link set p45 mtu 1450 master br45 up
ip -n "$(N kb)" link set br45 up
ip -n "$(N hk)" link set eth1 mtu 1450
ip -n "$(N hk)" addr add 192.168.45.2/24 dev eth1
ip -n "$(N hk)" link set eth1 up

# Both paths answer before anything is timed (ARP resolved, MAC tables learned).
while read -r from to; do
  in_ns "$from" ping -q -c 3 -i 0.2 -W 2 "$to" >/dev/null \
    || die "no ping from $from to $to; vtep's log: $(cat "$work/vtep.log")"
done <<'EOF'
ha 192.168.42.1
kv 192.168.42.2
hk 192.168.45.1
kv 192.168.45.2
EOF

# ---- measuring ---------------------------------------------------------------------------
hz=$(getconf CLK_TCK)
machine_ticks() { # busy ticks of the whole machine: user+nice+system+irq+softirq
  local _cpu user nice system _idle _iowait irq softirq _rest
  read -r _cpu user nice system _idle _iowait irq softirq _rest </proc/stat
  echo $((user + nice + system + irq + softirq))
}
vtep_ticks() { # vtep's utime+stime (fields 14 and 15; the name in field 2 may hold spaces)
  local rest
  rest=$(sed 's/.*) //' "/proc/$vtep_pid/stat")
  set -- $rest # now $1 is field 3
  echo $((${12} + ${13}))
}

run() { # run SYSTEM TEST ROUND: one iperf3 test, its line printed and kept for the summary
  local system=$1 test=$2 round=$3 host far_addr host_addr
  case $system in
    vtep) host=ha far_addr=192.168.42.1 host_addr=192.168.42.2 ;;
    kernel) host=hk far_addr=192.168.45.1 host_addr=192.168.45.2 ;;
  esac
  # The client sends: from the host for host->far, from the far end for far->host.
  local client=$host server=kv address=$far_addr
  case $test in *far-\>host) client=kv server=$host address=$host_addr ;; esac
  local args=(-t "$secs" -J)
  case $test in frames*) args+=(-u -b 0 -l 18) ;; esac

  # A one-off server (-1) in the receiving namespace, ready before the client starts.
  ip netns exec "$(N "$server")" iperf3 -s -1 -p 5201 >"$work/server.log" 2>&1 &
  local server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 50); do
    in_ns "$server" ss -Hltn 'sport = :5201' | grep -q . && break
    sleep 0.1
  done
  local m0 v0 m1 v1 perf_pid=
  if [ "${PROFILE:-}" = "$test" ] && [ "$system" = vtep ] && command -v perf >/dev/null; then
    perf record -q -a -g -e cpu-clock -o "${PROFILE_OUT:-$CARGO_TARGET_DIR/vtep.perf.data}" \
      -- sleep "$secs" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  m0=$(machine_ticks) v0=$(vtep_ticks)
  # Bounded: a wedged test costs a figure, not the run.
  in_ns "$client" timeout $((secs + 30)) iperf3 -c "$address" -p 5201 "${args[@]}" \
    >"$work/client.json" 2>/dev/null || true
  m1=$(machine_ticks) v1=$(vtep_ticks)
  # Only the vtep runs count vtep's CPU (it idles, at 0, during the kernel's).
  [ "$system" = vtep ] || v1=$v0
  wait "$server_pid" 2>/dev/null || true
  [ -z "$perf_pid" ] || wait "$perf_pid" 2>/dev/null || true
  kill -0 "$vtep_pid" 2>/dev/null || die "vtep stopped: $(tail -n 5 "$work/vtep.log")"
  # One tab-separated line in $work/results for the summary, one readable line out.
  python3 - "$work/client.json" "$system" "$test" "$round" $((m1 - m0)) $((v1 - v0)) "$hz" \
    "$work/results" <<'PY'
import json, sys
path, system, test, rnd, machine, own, hz, results = sys.argv[1:]
machine, own = int(machine) / int(hz), int(own) / int(hz)
line = f"vtep_vs_kernel round {rnd}: {system:6} {test:16}"
try:
    end = json.load(open(path))["end"]
    if test.startswith("tcp"):
        # What the server received, as it reported it back to the client.
        got = end["sum_received"]
        value, detail = got["bits_per_second"] / 1e9, got["bytes"]
        gb = got["bytes"] / 1e9
        cpu = f"machine CPU {machine:.2f} s = {machine / gb:.2f} s/GB"
        if system == "vtep":
            cpu += f", vtep {own:.2f} s = {own / gb:.2f} s/GB"
        print(line, f"{value:6.2f} Gbit/s ({gb:.2f} GB; {cpu})")
    else:
        # The client's packets sent, less the losses the server saw in the sequence numbers;
        # and, as a check, what the server received (its bytes, 18 a datagram): losses after
        # the last datagram received are not counted as lost.
        udp = end["sum"]
        value = (udp["packets"] - udp["lost_packets"]) / udp["seconds"]
        detail = udp["packets"]
        print(line, f"{value / 1e3:6.1f}k frames/s delivered ({udp['packets']} sent, "
              f"{udp['lost_packets']} lost in {udp['seconds']:.2f} s; "
              f"the server received {end['sum_received']['bytes'] // 18})")
except (OSError, ValueError, KeyError, ZeroDivisionError):
    value, detail = float("nan"), "failed"
    print(line, "FAILED (no iperf3 result)")
with open(results, "a") as out:
    print(rnd, system, test, value, detail, machine, own, sep="\t", file=out)
PY
}

# What the machine does besides (other jobs share it): the whole-machine CPU figures
# include it.
background() { # background WHEN: the machine's busy share over one second
  local m0
  m0=$(machine_ticks)
  sleep 1
  echo "vtep_vs_kernel: machine busy $1 the bench: $(($(machine_ticks) - m0)) ticks of" \
    "$((hz * $(nproc))) in 1 s ($(nproc) CPUs)"
}
background before

tests=("tcp host->far" "tcp far->host" "frames host->far" "frames far->host")
for round in $(seq "$rounds"); do
  order=(vtep kernel)
  [ $((round % 2)) -eq 1 ] || order=(kernel vtep)
  for test in "${tests[@]}"; do
    for system in "${order[@]}"; do run "$system" "$test" "$round"; done
  done
done

background after

# ---- summary -----------------------------------------------------------------------------
python3 - "$work/results" <<'PY'
import math, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rnd, system, test, value, detail, machine, own = line.rstrip("\n").split("\t")
    if detail != "failed":
        rows[(int(rnd), system, test)] = (float(value), detail, float(machine), float(own))
rounds = sorted({r for r, _, _ in rows})

def median(values):
    return statistics.median(values) if values else math.nan

def fmt(test, value):
    return f"{value:.2f} Gbit/s" if test.startswith("tcp") else f"{value / 1e3:.1f}k frames/s"

for test in ("tcp host->far", "tcp far->host", "frames host->far", "frames far->host"):
    pairs = [(rows[(r, "vtep", test)][0], rows[(r, "kernel", test)][0])
             for r in rounds if (r, "vtep", test) in rows and (r, "kernel", test) in rows]
    name = test.replace("frames", "64B frames")
    print(f"vtep_vs_kernel: {name}: median ratio {median([v / k for v, k in pairs]):.2f} "
          f"(vtep {fmt(test, median([v for v, _ in pairs]))}, "
          f"kernel {fmt(test, median([k for _, k in pairs]))} medians; {len(pairs)} rounds)")
for test in ("tcp host->far", "tcp far->host"):
    per_gb = {}
    for (r, system, t), (value, detail, machine, own) in rows.items():
        if t == test:
            gb = int(detail) / 1e9
            per_gb.setdefault(system, []).append(machine / gb)
            if system == "vtep":
                per_gb.setdefault("own", []).append(own / gb)
    print(f"vtep_vs_kernel: CPU s/GB {test}: machine median vtep {median(per_gb.get('vtep', [])):.2f}, "
          f"kernel {median(per_gb.get('kernel', [])):.2f}; vtep's own {median(per_gb.get('own', [])):.2f}")
PY

# What vtep forwarded and dropped over the whole run: set beside iperf3's sent and lost
# counts, it says whether the floods' losses are inside vtep or around it.
"$VTEP" ctl "$work/vtep.sock" stats >"$work/stats.json" || die "vtep ctl stats failed"
python3 - "$work/stats.json" <<'PY'
import json, sys
stats = json.load(open(sys.argv[1]))
def drops(node, path):
    """Every non-zero count but the traffic counters, named by its path in the JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from drops(value, path + [str(key)])
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from drops(value, path + [str(n)])
    elif isinstance(node, int) and node and path[-1] not in (
            "frames_in", "frames_out", "bytes_in", "bytes_out", "mac_entries"):
        yield f"{'.'.join(path)} {node}"
tap, remote = stats["ports"]["tap0"], stats["segments"]["42"]["remotes"][0]
print(f"vtep_vs_kernel: vtep over the run: tap0 frames in {tap['frames_in']} out {tap['frames_out']},"
      f" remote frames in {remote['frames_in']} out {remote['frames_out']};",
      ", ".join(drops(stats, [])) or "no drops")
PY
# And what was lost around vtep, over the run: frames the host's TAP did not queue for
# vtep (the TAP's qdisc and ring), and datagrams vtep's underlay socket had no room for.
udp_rcvbuf_errors() { # the namespace's UDP RcvbufErrors, from /proc/net/snmp
  in_ns "$1" awk '$1 == "Udp:" { if (n++) { for (i = 2; i <= NF; i++) if (h[i] == "RcvbufErrors") print $i }
    else for (i = 2; i <= NF; i++) h[i] = $i }' /proc/net/snmp
}
echo "vtep_vs_kernel: around vtep over the run: host TAP tx_dropped" \
  "$(in_ns ha cat /sys/class/net/tap0/statistics/tx_dropped)," \
  "qdisc $(tc -n "$(N ha)" -s qdisc show dev tap0 | grep -o 'dropped [0-9]*' | head -n 1);" \
  "UDP receive buffer errors: vtep's namespace $(udp_rcvbuf_errors va)," \
  "far host $(udp_rcvbuf_errors kv), vtep's host $(udp_rcvbuf_errors ha), kernel's host $(udp_rcvbuf_errors hk)"
