#!/usr/bin/env bash
# The reference VTEP (`examples/vtep`) against Open vSwitch's userspace datapath
# (`datapath_type=netdev`, no kernel module needed), in network namespaces this script
# creates and always removes:
#   (a) OVS VXLAN <-> vtep VXLAN: a host on a veth behind OVS and a host behind vtep's
#       TAP (moved into its own namespace): ping with no loss, 2 MiB TCP with SHA-256 both
#       ways;
#   (b) OVS Geneve <-> vtep Geneve (`encap = "geneve"`): the same checks;
#   (c) a three-way gateway: the kernel's vxlan device and OVS Geneve (with its UDP
#       checksum on), both remotes of one vtep segment: the kernel host and the OVS host
#       reach each other through vtep (VXLAN <-> Geneve), and `vtep ctl PATH fdb` names
#       both remotes;
#   (d) what `encap --geneve` writes (with an option), replayed into OVS: its host
#       receives every inner datagram.
#
# OVS runs from the package (`openvswitch-switch`), never as the system service: one
# ovsdb-server and one ovs-vswitchd in a namespace of their own, with private directories,
# stopped on exit. Userspace tunnelling needs OVS to own the underlay: a netdev bridge
# holds the underlay veth and carries the underlay address; one more netdev bridge per
# scenario holds the tunnel port and a veth to its host.
#
# Needs root, iproute2, iputils-ping, ethtool, tcpreplay, python3 with scapy and
# openvswitch-switch (.ci/run
# installs them). Where root or a kernel capability is missing it says so loudly and
# skips; where Open vSwitch is missing or cannot start it says so loudly and fails (it can
# start on these machines: CI must not pass without the Geneve interop). Every address is
# inside the namespaces it creates. Prints "ovs: N passed, N failed".
#
#   bash tests/ovs.sh
set -uo pipefail
cd "$(dirname "$0")/.."

lab=ovs
# Whatever sends into OVS completes its checksums (see underlay_link).
NETNS_UNDERLAY_CSUM=0
. tests/lib/netns.sh
lab_require ip ping python3 sha256sum
for tool in ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl; do
  command -v "$tool" >/dev/null || lab_unavailable "$tool is not installed (apt-get install openvswitch-switch)"
done
schema=/usr/share/openvswitch/vswitch.ovsschema
[ -f "$schema" ] || lab_unavailable "$schema is missing"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q --release --features linux --example vtep || { echo "ovs: build failed"; exit 1; }
VTEP=$CARGO_TARGET_DIR/release/examples/vtep
# The work directory, the cleanup on exit (OVS's daemons in `daemons`), the underlay bridge.
lab_start

# ---- Open vSwitch: ovsdb-server and ovs-vswitchd in namespace "ovs" -----------------------
ovs_dir=$work/ovs
mkdir -p "$ovs_dir"
# Every OVS program finds its database socket, pid files and logs here, not in /var/run.
export OVS_RUNDIR=$ovs_dir OVS_LOGDIR=$ovs_dir OVS_DBDIR=$ovs_dir OVS_SYSCONFDIR=$ovs_dir
vsctl() { ovs-vsctl --timeout=10 "$@"; }
start_ovs() {
  local daemon
  ovsdb-tool create "$ovs_dir/conf.db" "$schema" >/dev/null || return 1
  # Each returns once its daemon is ready; their console output goes to a file, so no
  # daemon holds this script's output open.
  in_ns ovs timeout 20 ovsdb-server "$ovs_dir/conf.db" --remote="punix:$ovs_dir/db.sock" \
    --pidfile="$ovs_dir/ovsdb-server.pid" --log-file="$ovs_dir/ovsdb-server.log" --detach \
    >"$ovs_dir/ovsdb-server.console" 2>&1 || return 1
  daemons+=("$(cat "$ovs_dir/ovsdb-server.pid")")
  vsctl --no-wait init || return 1
  in_ns ovs timeout 20 ovs-vswitchd "unix:$ovs_dir/db.sock" \
    --pidfile="$ovs_dir/ovs-vswitchd.pid" --log-file="$ovs_dir/ovs-vswitchd.log" --detach \
    >"$ovs_dir/ovs-vswitchd.console" 2>&1 || return 1
  daemons+=("$(cat "$ovs_dir/ovs-vswitchd.pid")")
  for daemon in ovsdb-server ovs-vswitchd; do
    echo "    $daemon $(ovs-appctl -t "$daemon" --timeout=5 version | head -n 1)"
  done
}
ns ovs || lab_skip "cannot create network namespaces"
# OVS's ports are also the namespace kernel's interfaces: no IPv6 there (no router or
# neighbour solicitations of its own), and strict reverse-path filtering (below).
in_ns ovs sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
  2>/dev/null
start_ovs || {
  tail -n 5 "$ovs_dir"/*.console "$ovs_dir"/*.log >&2 2>/dev/null
  lab_unavailable "Open vSwitch's ovsdb-server or ovs-vswitchd does not start"
}

# OVS owns the underlay: its veth is a port of the netdev bridge br-ul (read with
# AF_PACKET), and the address lives on br-ul's internal interface. The namespace's own
# kernel still sees the veth: with ARP, IPv6 and loose reverse-path filtering there it
# answers ARP for OVS's address as well, and every tunnel packet with an ICMP port
# unreachable to the VTEP that sent it.
underlay_link ovs || lab_skip "cannot create veth pairs"
in_ns ovs sysctl -qw net.ipv4.conf.all.rp_filter=1
ip -n "$(N ovs)" link set eth0 arp off up
ovs_mac=$(ip -n "$(N ovs)" -br link show eth0 | awk '{print $3}')
vsctl add-br br-ul -- set bridge br-ul datapath_type=netdev fail_mode=standalone \
  other_config:hwaddr="\"$ovs_mac\"" -- add-port br-ul eth0 \
  || lab_unavailable "OVS cannot make a netdev bridge (userspace datapath)"
ip -n "$(N ovs)" addr add 10.99.0.1/24 dev br-ul
ip -n "$(N ovs)" link set br-ul up

ovs_segment() { # ovs_segment BRIDGE HOST_NS ADDRESS TYPE REMOTE VNI [OPTION...]: a netdev
  # bridge holding a tunnel port toward REMOTE and a veth to a host at ADDRESS/24
  local bridge=$1 host=$2 address=$3 type=$4 remote=$5 vni=$6
  shift 6
  ns "$host" || return 1
  ip link add "p-$bridge" netns "$(N ovs)" type veth peer name eth1 netns "$(N "$host")" \
    || return 1
  in_ns "$host" ethtool -K eth1 tx off >/dev/null
  ip -n "$(N "$host")" link set eth1 mtu 1450
  ip -n "$(N "$host")" addr add "$address/24" dev eth1
  ip -n "$(N "$host")" link set eth1 up
  ip -n "$(N ovs)" link set "p-$bridge" up
  vsctl add-br "$bridge" -- set bridge "$bridge" datapath_type=netdev \
    -- add-port "$bridge" "p-$bridge" \
    -- add-port "$bridge" "t-$bridge" -- set interface "t-$bridge" type="$type" \
    options:remote_ip="$remote" options:key="$vni" "$@"
}

vtep_toml() { # vtep_toml LOCAL VNI PORT REMOTE ENCAP...: a vtep with one segment, a TAP
  # access port unless PORT is empty, and its remotes
  local local_ip=$1 vni=$2 port=${3:-}
  shift 3
  printf '[underlay]\nlocal_ip = "%s"\n' "$local_ip"
  [ -z "$port" ] || printf '\n[[port]]\nname = "%s"\nvni = %s\n' "$port" "$vni"
  printf '\n[[segment]]\nvni = %s\n' "$vni"
  while [ $# -ge 2 ]; do
    printf '\n[[segment.remote]]\nip = "%s"\nencap = "%s"\n' "$1" "$2"
    shift 2
  done
}

# ---- (a) OVS VXLAN <-> vtep VXLAN -----------------------------------------------------------
ns va && attach va 10.99.0.2
ovs_segment br-a oa 192.168.42.1 vxlan 10.99.0.2 42 || lab_unavailable "OVS cannot add a VXLAN port"
vtep_toml 10.99.0.2 42 tapa 10.99.0.1 vxlan >"$work/a.toml"
if start_vtep va a && adopt_tap va tapa ha 192.168.42.2; then
  check "a: ping OVS VXLAN host -> vtep -> TAP host" no_loss oa 192.168.42.2
  check "a: ping TAP host -> vtep -> OVS VXLAN host" no_loss ha 192.168.42.1
  check "a: 2 MiB TCP, TAP host to OVS VXLAN host" tcp_transfer oa 192.168.42.1 ha
  check "a: 2 MiB TCP, OVS VXLAN host to TAP host" tcp_transfer ha 192.168.42.2 oa
else
  sed 's/^/    /' "$work/a.log"
  check "a: vtep starts with an OVS VXLAN remote" false
fi

# ---- (b) OVS Geneve <-> vtep Geneve ---------------------------------------------------------
# A scenario that cannot be set up is skipped alone, loudly: what ran before still counts.
scenario_b() {
  ns vb && attach vb 10.99.0.3 || return 1
  ovs_segment br-b ob 192.168.43.1 geneve 10.99.0.3 43 \
    || { skip_scenario b "OVS cannot add a Geneve port"; return 0; }
  vtep_toml 10.99.0.3 43 tapb 10.99.0.1 geneve >"$work/b.toml"
  if start_vtep vb b && adopt_tap vb tapb hb 192.168.43.2; then
    check "b: ping OVS Geneve host -> vtep -> TAP host" no_loss ob 192.168.43.2
    check "b: ping TAP host -> vtep -> OVS Geneve host" no_loss hb 192.168.43.1
    check "b: 2 MiB TCP, TAP host to OVS Geneve host" tcp_transfer ob 192.168.43.1 hb
    check "b: 2 MiB TCP, OVS Geneve host to TAP host" tcp_transfer hb 192.168.43.2 ob
  else
    sed 's/^/    /' "$work/b.log"
    check "b: vtep starts with an OVS Geneve remote" false
  fi
}
scenario_b || check "b: set up" false

# ---- (d) what `encap --geneve` writes, replayed into OVS ------------------------------------
encap_output_is_accepted() { # 20 UDP datagrams to the OVS host, in Geneve made by the tool
  command -v tcpreplay >/dev/null || { echo "    tcpreplay is not installed"; return 1; }
  local host_mac ovs_mac vtep_mac
  host_mac=$(ip -n "$(N ob)" -br link show eth1 | awk '{print $3}')
  ovs_mac=$(ip -n "$(N ovs)" -br link show eth0 | awk '{print $3}')
  vtep_mac=$(ip -n "$(N vb)" -br link show eth0 | awk '{print $3}')
  python3 - "$work/inner.pcap" "$host_mac" <<'PY' || return 1
import sys
from scapy.all import Ether, IP, UDP, Raw, wrpcap
frames = [Ether(dst=sys.argv[2], src="02:00:00:00:d0:01") / IP(src="192.168.43.77",
          dst="192.168.43.1") / UDP(sport=5555, dport=9999) / Raw(b"encap-%02d" % n)
          for n in range(20)]
wrpcap(sys.argv[1], frames)
PY
  cargo run -q --release --example encap -- --geneve --geneve-opt 0x0102:0x01:0a0b0c0d \
    --vni 43 --src-ip 10.99.0.3 --dst-ip 10.99.0.1 --src-mac "$vtep_mac" \
    --dst-mac "$ovs_mac" "$work/inner.pcap" "$work/geneve.pcap" 2>/dev/null || return 1
  ip netns exec "$(N ob)" timeout 10 python3 - >"$work/accepted" <<'PY' &
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.168.43.1", 9999))
s.settimeout(3)
got = set()
try:
    while len(got) < 20:
        got.add(s.recv(64))
except socket.timeout:
    pass
print(len(got))
PY
  local receiver=$!
  sleep 0.5
  ip netns exec "$(N vb)" tcpreplay -q -i eth0 "$work/geneve.pcap" >/dev/null 2>&1
  wait "$receiver"
  echo "    the OVS host received $(cat "$work/accepted") of 20 datagrams encap --geneve wrote"
  [ "$(cat "$work/accepted")" = 20 ]
}
check "d: encap --geneve output (with an option) replayed into OVS is accepted" \
  encap_output_is_accepted

# ---- (c) kernel VXLAN <-> vtep <-> OVS Geneve: a three-way gateway --------------------------
fdb_names_both_remotes() {
  local fdb kernel_mac ovs_host_mac
  fdb=$("$VTEP" ctl "$work/c.sock" fdb) || return 1
  echo "$fdb" | sed 's/^/    /'
  kernel_mac=$(ip -n "$(N kv)" -br link show vx0 | awk '{print $3}')
  ovs_host_mac=$(ip -n "$(N oc)" -br link show eth1 | awk '{print $3}')
  echo "$fdb" | grep "\"mac\":\"$kernel_mac\"" | grep -q '"remote":"10.99.0.4"' \
    && echo "$fdb" | grep "\"mac\":\"$ovs_host_mac\"" | grep -q '"remote":"10.99.0.1"'
}
scenario_c() {
  ns kv && attach kv 10.99.0.4 && ns vg && attach vg 10.99.0.5 || return 1
  ip -n "$(N kv)" link add vx0 type vxlan id 44 remote 10.99.0.5 local 10.99.0.4 dstport 4789 \
    || { skip_scenario c "the kernel cannot create vxlan devices"; return 0; }
  ip -n "$(N kv)" link set vx0 mtu 1450
  # Inner checksums finished by the kernel: neither vtep nor OVS finishes partial ones.
  in_ns kv ethtool -K vx0 tx off >/dev/null
  ip -n "$(N kv)" addr add 192.168.44.1/24 dev vx0
  ip -n "$(N kv)" link set vx0 up
  # With its UDP checksum on, OVS's Geneve makes vtep verify one.
  ovs_segment br-c oc 192.168.44.2 geneve 10.99.0.5 44 options:csum=true \
    || { skip_scenario c "OVS cannot add a Geneve port"; return 0; }
  vtep_toml 10.99.0.5 44 "" 10.99.0.4 vxlan 10.99.0.1 geneve >"$work/c.toml"
  if start_vtep vg c; then
    check "c: ping kernel VXLAN -> vtep -> OVS Geneve host" no_loss kv 192.168.44.2
    check "c: ping OVS Geneve host -> vtep -> kernel VXLAN" no_loss oc 192.168.44.1
    check "c: 2 MiB TCP, kernel VXLAN to OVS Geneve host" tcp_transfer oc 192.168.44.2 kv
    check "c: 2 MiB TCP, OVS Geneve host to kernel VXLAN" tcp_transfer kv 192.168.44.1 oc
    check "c: vtep ctl fdb names the kernel's and OVS's remotes" fdb_names_both_remotes
  else
    sed 's/^/    /' "$work/c.log"
    check "c: vtep starts with a VXLAN and a Geneve remote" false
  fi
}
scenario_c || check "c: set up" false

if [ "$failed" -ne 0 ]; then
  for log in "$work"/*.log "$ovs_dir/ovs-vswitchd.log"; do
    echo "---- $(basename "$log")"
    tail -n 20 "$log"
  done
  echo "---- OVS drop counters"
  ovs-appctl --timeout=5 coverage/show | grep -i drop
fi
lab_summary
