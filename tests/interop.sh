#!/usr/bin/env bash
# The reference VTEP (`examples/vtep`) against the real Linux kernel, in network
# namespaces this script creates and always removes:
#   (a) the kernel's own vxlan device <-> vtep <-> a host behind a TAP port moved into its
#       own namespace: ping with no loss, a 2 MiB TCP transfer whose SHA-256 matches,
#       64 MiB each way through the TAP's offloads (TSO super-frames segmented, segments
#       coalesced), and tshark finding every checksum on the underlay good;
#   (b) two vtep processes over NVGRE, hosts behind both: the same checks;
#   (c) the kernel's VXLAN -> vtep (a VXLAN<->NVGRE gateway) -> NVGRE -> vtep -> host;
#   (d) `vtep ctl PATH fdb` lists the MAC addresses learned in (a), and `stats` counts;
#   (e) a trunk port (VLAN 100 <-> VNI 46) and isolated ports against the kernel's VXLAN;
#   (f) vtep on an IPv6 underlay <-> the kernel's vxlan device over IPv6: ping, and 2 MiB
#       over TCP both ways, SHA-256 compared;
#   (g) a dual-stack vtep joining a kernel VTEP over IPv4 and one over IPv6 in one segment:
#       each kernel host pings the other through vtep, and `fdb` names both remotes;
#   (h) faults: 200 idle control clients and 5 asking for the `fdb` of 100k MACs without
#       reading cost a ping flood through vtep nothing; a dead remote (no ARP answer)
#       costs a live one no frame of a flood; 300 MAC moves at once are all logged.
# Then it measures frames per second forwarded in (a), with iperf3 (64-byte UDP), beside
# the same topology built from the kernel's vxlan device and a Linux bridge.
#
# Needs root, iproute2, iputils-ping, ethtool, python3, iperf3, tcpdump and tshark (.ci/run
# installs them).
# Where a capability is missing it says so loudly and skips. Every address is inside the
# namespaces it creates. Prints "interop: N passed, N failed".
#
#   bash tests/interop.sh     # INTEROP_BENCH=0 skips the measurement, INTEROP_BENCH_ROUNDS=3 repeats it
set -uo pipefail
cd "$(dirname "$0")/.."

lab=interop
. tests/lib/netns.sh
lab_require ip ping python3

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q --release --features linux --example vtep || { echo "interop: build failed"; exit 1; }
VTEP=$CARGO_TARGET_DIR/release/examples/vtep
# The work directory, the cleanup on exit, the underlay bridge.
lab_start

# ---- (a) kernel vxlan <-> vtep <-> host ---------------------------------------------------
ns kv && ns va
attach kv 10.99.0.1
attach va 10.99.0.2
kernel_vxlan() { # kernel_vxlan NAME VNI REMOTE ADDRESS: a kernel vxlan device in kv
  ip -n "$(N kv)" link add "$1" type vxlan id "$2" remote "$3" local 10.99.0.1 dstport 4789 \
    || return 1
  ip -n "$(N kv)" link set "$1" mtu 1450
  # Inner checksums finished by the kernel: a userspace peer does not finish partial ones.
  ip netns exec "$(N kv)" ethtool -K "$1" tx off >/dev/null
  ip -n "$(N kv)" addr add "$4/24" dev "$1"
  ip -n "$(N kv)" link set "$1" up
}
kernel_vxlan vx0 42 10.99.0.2 192.168.42.1 || lab_skip "the kernel cannot create vxlan devices"
cat >"$work/a.toml" <<'EOF'
[underlay]
local_ip = "10.99.0.2"

[[port]]
name = "tap0"
vni = 42

[[segment]]
vni = 42

[[segment.remote]]
ip = "10.99.0.1"
EOF
start_vtep va a
adopt_tap va tap0 ha 192.168.42.2 || lab_skip "cannot move a TAP device to another namespace"
check "a: ping kernel vxlan -> vtep -> TAP host" no_loss kv 192.168.42.2
check "a: ping TAP host -> vtep -> kernel vxlan" no_loss ha 192.168.42.1
check "a: 2 MiB TCP, TAP host to kernel vxlan" tcp_transfer kv 192.168.42.1 ha
check "a: 2 MiB TCP, kernel vxlan to TAP host" tcp_transfer ha 192.168.42.2 kv
# The TAP's offloads at work: the host's TCP hands vtep 64 KiB super-frames, segmented in
# software; the far side's segments reach the host coalesced into super-frames.
check "a: 64 MiB TCP, TAP host to kernel vxlan (TSO segmented by vtep)" \
  tcp_transfer kv 192.168.42.1 ha $((64 << 20))
check "a: 64 MiB TCP, kernel vxlan to TAP host (coalesced by vtep)" \
  tcp_transfer ha 192.168.42.2 kv $((64 << 20))

checksums_verify_on_the_underlay() { # tshark checks every checksum vtep's segments carry
  command -v tshark >/dev/null || { echo "    SKIPPED: tshark is not installed"; return 0; }
  # What vtep sends, as the far VTEP's link delivers it. Between namespaces a packet
  # keeps what a NIC would do for it undone (a segmented send stays one packet, its
  # checksums partial); the bridge port toward the far VTEP does it in software, as a
  # NIC would, while the capture runs.
  local port=(ip netns exec "$(N ul)" ethtool -K u-kv)
  "${port[@]}" tx off tx-udp-segmentation off >/dev/null 2>&1
  ip netns exec "$(N kv)" tcpdump -nn -i eth0 -s 0 -w "$work/underlay.pcap" \
    'udp dst port 4789 and src host 10.99.0.2' 2>/dev/null &
  local dump=$!
  sleep 0.5
  tcp_transfer kv 192.168.42.1 ha $((4 << 20))
  local transferred=$?
  sleep 0.3
  kill "$dump" 2>/dev/null; wait "$dump" 2>/dev/null
  "${port[@]}" tx on tx-udp-segmentation on >/dev/null 2>&1
  [ "$transferred" -eq 0 ] || return 1
  # Outer IPv4 and UDP, and the inner IPv4 and TCP inside the VXLAN header: each
  # checksum tshark can check, checked (Wireshark's status: 0 bad, 1 good, 2 unverified,
  # 3 not present: a zero UDP checksum over IPv4, 4 illegal).
  tshark -r "$work/underlay.pcap" -d udp.port==4789,vxlan \
    -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE \
    -T fields -E occurrence=a -E separator=';' \
    -e ip.checksum.status -e udp.checksum.status -e tcp.checksum.status \
    >"$work/checksums" 2>/dev/null || return 1
  python3 - "$work/checksums" <<'PY'
import collections, sys
status = collections.Counter()
for line in open(sys.argv[1]):
    for field, values in zip(("ip", "udp", "tcp"), line.rstrip("\n").split(";")):
        for value in filter(None, values.split(",")):
            names = {"0": "bad", "1": "good", "2": "unverified", "3": "absent", "4": "bad"}
            status[field, names.get(value, "bad")] += 1
print("    " + ", ".join(f"{f} {s} {n}" for (f, s), n in sorted(status.items())))
bad = sum(n for (f, s), n in status.items() if s == "bad")
sys.exit(bad != 0 or status["tcp", "good"] < 1000)
PY
}
check "a: tshark finds every checksum good on the underlay during a TCP transfer" \
  checksums_verify_on_the_underlay

source_ports_from_the_flow_hash() { # vtep's VXLAN: the outer UDP source port per flow
  command -v tcpdump >/dev/null || { echo "    SKIPPED: tcpdump is not installed"; return 0; }
  ip netns exec "$(N kv)" timeout 10 tcpdump -nn -l -i eth0 -c 11 \
    'udp dst port 4789 and src host 10.99.0.2' >"$work/ports" 2>/dev/null &
  local dump=$!
  sleep 0.5
  # Nine flows from the TAP host: ICMP, then UDP to eight ports (discarded). vtep's pool
  # has 64 source ports: nine flows all on one would be chance once in 2^48.
  ip netns exec "$(N ha)" ping -q -c 3 -i 0.1 192.168.42.1 >/dev/null 2>&1
  ip netns exec "$(N ha)" python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in range(9, 17): s.sendto(b"x", ("192.168.42.1", port))'
  wait "$dump" 2>/dev/null
  local ports
  ports=$(sed -nE 's/.* 10\.99\.0\.2\.([0-9]+) > 10\.99\.0\.1\.4789.*/\1/p' "$work/ports" | sort -u)
  echo "    outer UDP source ports: $(echo $ports)"
  # RFC 7348 section 5: from the flow hash, in 49152-65535; more than one for nine flows.
  [ "$(echo "$ports" | wc -l)" -ge 2 ] || return 1
  for port in $ports; do [ "$port" -ge 49152 ] || return 1; done
}
check "a: VXLAN source ports come from the inner flow's hash" source_ports_from_the_flow_hash

tap_down_is_a_counted_drop() {
  ip -n "$(N ha)" link set tap0 down
  ip netns exec "$(N kv)" ping -q -c 3 -i 0.2 -W 1 192.168.42.2 >/dev/null 2>&1
  local failed_writes
  failed_writes=$("$VTEP" ctl "$work/a.sock" stats \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["ports"]["tap0"]["write_failed"])')
  echo "    write_failed on tap0 while down: $failed_writes"
  ip -n "$(N ha)" link set tap0 up
  [ "$failed_writes" -gt 0 ] && kill -0 "${pids[0]}" && no_loss kv 192.168.42.2
}
check "a: a TAP that is down is a counted drop, and works again when up" tap_down_is_a_counted_drop

# ---- (d) vtep ctl fdb lists what (a) learned ------------------------------------------------
fdb_lists_a() {
  local fdb host_mac vx_mac
  fdb=$("$VTEP" ctl "$work/a.sock" fdb) || return 1
  echo "$fdb" | sed 's/^/    /'
  host_mac=$(ip -n "$(N ha)" -br link show tap0 | awk '{print $3}')
  vx_mac=$(ip -n "$(N kv)" -br link show vx0 | awk '{print $3}')
  echo "$fdb" | grep -q "{\"vni\":42,\"mac\":\"$host_mac\",\"port\":\"tap0\",\"static\":false,\"origin\":\"learned\",\"age_secs\":[0-9]*}" \
    && echo "$fdb" | grep -q "{\"vni\":42,\"mac\":\"$vx_mac\",\"remote\":\"10.99.0.1\",\"static\":false,\"origin\":\"learned\",\"age_secs\":[0-9]*}"
}
stats_count_a() {
  local stats
  stats=$("$VTEP" ctl "$work/a.sock" stats) || return 1
  echo "$stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
tap, seg = s["ports"]["tap0"], s["segments"]["42"]
remote = seg["remotes"][0]
print("    tap0 in/out", tap["frames_in"], tap["frames_out"], "remote in/out", remote["frames_in"], remote["frames_out"])
reasons = ["unknown_source", "mac_limit", "mtu", "malformed", "vlan", "isolated", "split_horizon", "no_buffer", "write_failed"]
assert all(r in tap and r in seg and r in remote for r in reasons + ["mac_moves", "bytes_in", "bytes_out"])
assert tap["frames_in"] > 1000 and remote["frames_in"] > 1000 and tap["frames_out"] > 1000
'
}
check "d: vtep ctl fdb lists the MACs learned in (a)" fdb_lists_a
check "d: vtep ctl stats counts (a)" stats_count_a

# ---- (b) two vteps over NVGRE (RFC 7637 reserves VSIDs below 4096) ------------------------------
ns vb1 && ns vb2
attach vb1 10.99.0.11
attach vb2 10.99.0.12
for side in 1 2; do
  other=$((3 - side))
  cat >"$work/b$side.toml" <<EOF
[underlay]
local_ip = "10.99.0.1$side"
nvgre = true

[[port]]
name = "tapb$side"
vni = 4143

[[segment]]
vni = 4143

[[segment.remote]]
ip = "10.99.0.1$other"
encap = "nvgre"
EOF
  start_vtep "vb$side" "b$side"
  adopt_tap "vb$side" "tapb$side" "hb$side" "192.168.43.$side" || lab_skip "cannot move a TAP device"
done
check "b: ping host -> vtep -NVGRE-> vtep -> host" no_loss hb1 192.168.43.2
check "b: 2 MiB TCP over NVGRE" tcp_transfer hb2 192.168.43.2 hb1

# ---- (c) kernel VXLAN -> vtep gateway -> NVGRE -> vtep -> host --------------------------------
ns vgw && ns vc
attach vgw 10.99.0.21
attach vc 10.99.0.22
kernel_vxlan vx44 4144 10.99.0.21 192.168.44.1
cat >"$work/gw.toml" <<'EOF'
[underlay]
local_ip = "10.99.0.21"
nvgre = true

[[segment]]
vni = 4144

[[segment.remote]]
ip = "10.99.0.1"

[[segment.remote]]
ip = "10.99.0.22"
encap = "nvgre"
EOF
cat >"$work/c.toml" <<'EOF'
[underlay]
local_ip = "10.99.0.22"
nvgre = true

[[port]]
name = "tapc"
vni = 4144

[[segment]]
vni = 4144

[[segment.remote]]
ip = "10.99.0.21"
encap = "nvgre"
EOF
start_vtep vgw gw
start_vtep vc c
adopt_tap vc tapc hc 192.168.44.2 || lab_skip "cannot move a TAP device"
check "c: ping kernel VXLAN -> gateway -> NVGRE -> vtep -> host" no_loss kv 192.168.44.2
check "c: 2 MiB TCP through the gateway" tcp_transfer kv 192.168.44.1 hc

# ---- (e) a trunk port (VLAN <-> VXLAN gateway) and isolated ports, against the kernel ---------
ns ve
attach ve 10.99.0.41
kernel_vxlan vx46 46 10.99.0.41 192.168.46.1
cat >"$work/e.toml" <<'EOF'
[underlay]
local_ip = "10.99.0.41"

[[port]]
name = "trunke"
[[port.vlan]]
vid = 100
vni = 46

[[port]]
name = "isoe1"
vni = 46
isolated = true

[[port]]
name = "isoe2"
vni = 46
isolated = true

[[port]]
name = "opene"
vni = 46
mtu = 1500   # 50 bytes more than the underlay can carry encapsulated

[[segment]]
vni = 46

[[segment.remote]]
ip = "10.99.0.1"
EOF
start_vtep ve e
adopt_tap ve trunke het 192.0.2.1 || lab_skip "cannot move a TAP device"
adopt_tap ve isoe1 he1 192.168.46.11 || lab_skip "cannot move a TAP device"
adopt_tap ve isoe2 he2 192.168.46.12 || lab_skip "cannot move a TAP device"
adopt_tap ve opene heo 192.168.46.13 || lab_skip "cannot move a TAP device"
vlan_host() { # ARP and ping the kernel from 192.168.46.10 in VLAN 100 on the trunk, by hand
  # (a VLAN device would do, but not every kernel has 8021q): the answers must come
  # back tagged with VLAN 100.
  ip netns exec "$(N het)" timeout 20 python3 - trunke 192.168.46.10 192.168.46.1 100 <<'PY'
import socket, struct, sys, time
iface, mine, kernel, vid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 0x10
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
sock.bind((iface, 0))
sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
sock.settimeout(0.3)
mac = bytes.fromhex("02aabbccdd10")
ip = socket.inet_aton

def checksum(data):
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xffff)
    return ~(total + (total >> 16)) & 0xffff

def tagged(dst, ethertype, payload):
    frame = dst + mac + struct.pack("!HHH", 0x8100, vid, ethertype) + payload
    return frame + bytes(max(0, 64 - len(frame)))

def receive(wanted):
    """The first incoming frame wanted() accepts, untagged, with its VLAN."""
    deadline = time.time() + 3
    while time.time() < deadline:
        try:
            data, ancillary, _, addr = sock.recvmsg(4096, socket.CMSG_SPACE(20))
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        vlan = None
        for level, kind, cdata in ancillary:
            if (level, kind) == (SOL_PACKET, PACKET_AUXDATA):
                status, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", cdata[:20])
                if status & TP_STATUS_VLAN_VALID:
                    vlan = tci & 0xfff
        if data[12:14] == b"\x81\x00":
            vlan, data = struct.unpack("!H", data[14:16])[0] & 0xfff, data[:12] + data[16:]
        if wanted(data):
            return data, vlan
    sys.exit("no answer")

arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip(mine), bytes(6), ip(kernel))
sock.send(tagged(b"\xff" * 6, 0x0806, arp))
reply, vlan = receive(lambda d: d[12:14] == b"\x08\x06" and d[20:22] == b"\x00\x02"
                      and d[28:32] == ip(kernel) and d[:6] == mac)
kernel_mac = reply[22:28]
print(f"    ARP: {kernel} is at {kernel_mac.hex(':')}, answered on VLAN {vlan}")
assert vlan == vid
icmp = struct.pack("!BBHHH", 8, 0, 0, 0x7377, 1) + b"tunnelwire" * 4
icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0x4000, 64, 1, 0, ip(mine), ip(kernel))
header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
sock.send(tagged(kernel_mac, 0x0800, header + icmp))
reply, vlan = receive(lambda d: d[12:14] == b"\x08\x00" and d[23] == 1 and d[34] == 0
                      and d[38:40] == b"\x73\x77")
print(f"    ICMP echo reply from {socket.inet_ntoa(reply[26:30])} on VLAN {vlan}")
assert vlan == vid
PY
}
check "e: VLAN 100 on a trunk port <-> kernel VXLAN (ARP and ping)" vlan_host
check "e: isolated port <-> kernel VXLAN" no_loss he1 192.168.46.1
check "e: isolated port <-> non-isolated port" no_loss he2 192.168.46.13
isolated_apart() { # isoe1 cannot reach isoe2 even knowing its MAC: dropped and counted
  local mac2 dropped
  mac2=$(ip -n "$(N he2)" -br link show isoe2 | awk '{print $3}')
  ip -n "$(N he1)" neigh replace 192.168.46.12 lladdr "$mac2" dev isoe1 nud permanent
  if ip netns exec "$(N he1)" ping -q -c 3 -i 0.2 -W 1 192.168.46.12 >/dev/null 2>&1; then
    return 1
  fi
  dropped=$("$VTEP" ctl "$work/e.sock" stats \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["ports"]["isoe1"]["isolated"])')
  echo "    isoe1 -> isoe2: no reply; isolated drops on isoe1: $dropped"
  [ "$dropped" -ge 3 ]
}
check "e: isolated ports never reach each other" isolated_apart
mtu_drop() { # a frame whose outer packet would pass the underlay MTU is dropped and counted
  ip netns exec "$(N heo)" ping -q -c 2 -W 1 -M do -s 1422 192.168.46.1 >/dev/null 2>&1 || return 1
  if ip netns exec "$(N heo)" ping -q -c 2 -W 1 -M do -s 1423 192.168.46.1 >/dev/null 2>&1; then
    return 1
  fi
  local dropped
  dropped=$("$VTEP" ctl "$work/e.sock" stats \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["segments"]["46"]["mtu"])')
  echo "    1450-byte IPv4 packets pass, 1451-byte ones do not; mtu drops: $dropped"
  [ "$dropped" -ge 2 ]
}
check "e: frames over the underlay MTU are dropped and counted" mtu_drop

# ---- (f) vtep on an IPv6 underlay <-> the kernel's vxlan over IPv6 -------------------------
# The kernel sends UDP checksums over IPv6 and refuses zero ones (no udp6zerocsumrx): the
# traffic below passes only with the checksums vtep's engine computes.
ns kf && ns vf
attach kf 10.99.0.51 fd00:99::51
attach vf 10.99.0.52 fd00:99::52
kernel_vxlan6() { # kernel_vxlan6 NS NAME VNI LOCAL REMOTE ADDRESS: a kernel vxlan over IPv6
  ip -n "$(N "$1")" link add "$2" type vxlan id "$3" local "$4" remote "$5" dstport 4789 \
    || return 1
  # 1500 - 70: the outer IPv6, UDP and VXLAN headers and the inner Ethernet header.
  ip -n "$(N "$1")" link set "$2" mtu 1430
  ip netns exec "$(N "$1")" ethtool -K "$2" tx off >/dev/null
  ip netns exec "$(N "$1")" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
  ip -n "$(N "$1")" addr add "$6/24" dev "$2"
  ip -n "$(N "$1")" link set "$2" up
}
if kernel_vxlan6 kf vx47 47 fd00:99::51 fd00:99::52 192.168.47.1; then
  cat >"$work/f.toml" <<'EOF'
[underlay]
local_ip = "fd00:99::52"

[[port]]
name = "tapf"
vni = 47
mtu = 1430   # 1500 - 70: what VXLAN over IPv6 leaves (the default, 1500 - 50, is IPv4's)

[[segment]]
vni = 47

[[segment.remote]]
ip = "fd00:99::51"
EOF
  start_vtep vf f
  adopt_tap vf tapf hf 192.168.47.2 || lab_skip "cannot move a TAP device"
  check "f: ping kernel vxlan over IPv6 -> vtep -> TAP host" no_loss kf 192.168.47.2
  check "f: ping TAP host -> vtep -> kernel vxlan over IPv6" no_loss hf 192.168.47.1
  check "f: 2 MiB TCP over IPv6, TAP host to kernel vxlan" tcp_transfer kf 192.168.47.1 hf
  check "f: 2 MiB TCP over IPv6, kernel vxlan to TAP host" tcp_transfer hf 192.168.47.2 kf
else
  failed=$((failed + 1))
  echo "interop f: FAILED: the kernel cannot create a vxlan device over IPv6"
fi

# ---- (g) a dual-stack vtep joining an IPv4 and an IPv6 kernel VTEP in one segment ----------
ns vg && ns kg4 && ns kg6
attach vg 10.99.0.61 fd00:99::61
attach kg4 10.99.0.62
attach kg6 10.99.0.63 fd00:99::63
cat >"$work/g.toml" <<'EOF'
[underlay]
local_ip = "10.99.0.61"
local_ip6 = "fd00:99::61"

[[segment]]
vni = 48

[[segment.remote]]
ip = "10.99.0.62"

[[segment.remote]]
ip = "fd00:99::63"
EOF
ip -n "$(N kg4)" link add vx48 type vxlan id 48 local 10.99.0.62 remote 10.99.0.61 dstport 4789
# Frames from the IPv4 side cross to the IPv6 one, which carries at most 1430 bytes.
ip -n "$(N kg4)" link set vx48 mtu 1430
ip netns exec "$(N kg4)" ethtool -K vx48 tx off >/dev/null
ip -n "$(N kg4)" addr add 192.168.48.1/24 dev vx48
ip -n "$(N kg4)" link set vx48 up
kernel_vxlan6 kg6 vx48 48 fd00:99::63 fd00:99::61 192.168.48.2
start_vtep vg g
fdb_names_both_families() { # each kernel device's MAC, learned behind its remote's address
  local fdb mac4 mac6
  fdb=$("$VTEP" ctl "$work/g.sock" fdb) || return 1
  echo "$fdb" | sed 's/^/    /'
  mac4=$(ip -n "$(N kg4)" -br link show vx48 | awk '{print $3}')
  mac6=$(ip -n "$(N kg6)" -br link show vx48 | awk '{print $3}')
  echo "$fdb" | grep -q "\"mac\":\"$mac4\",\"remote\":\"10.99.0.62\"" \
    && echo "$fdb" | grep -q "\"mac\":\"$mac6\",\"remote\":\"fd00:99::63\""
}
check "g: ping IPv4 kernel VTEP -> dual-stack vtep -> IPv6 kernel VTEP" no_loss kg4 192.168.48.2
check "g: ping IPv6 kernel VTEP -> dual-stack vtep -> IPv4 kernel VTEP" no_loss kg6 192.168.48.1
check "g: vtep ctl fdb names the IPv4 and the IPv6 remote" fdb_names_both_families

# ---- (h) faults: control clients that idle or never read, and a dead remote ---------------
# vtep between the kernel's vxlan device and a host behind a TAP, its segment flooding to
# two more remotes: a live one that counts what it gets, and a dead one (an address on the
# underlay that nobody holds: its ARP is never answered, and what is sent to it waits in
# the kernel's neighbour queue until resolution fails). Two more ports stay in vtep's
# namespace, for addresses to move between.
ns vh && ns lh
attach vh 10.99.0.71
attach lh 10.99.0.72
kernel_vxlan vx49 49 10.99.0.71 192.168.49.1
cat >"$work/h.toml" <<'EOF'
[underlay]
local_ip = "10.99.0.71"

[[port]]
name = "taph"
vni = 49

[[port]]
name = "taph2"
vni = 49

[[port]]
name = "taph3"
vni = 49

[[segment]]
vni = 49
mac_limit = 200000

[[segment.remote]]
ip = "10.99.0.1"

[[segment.remote]]
ip = "10.99.0.72"

[[segment.remote]]
ip = "10.99.0.79"
EOF
start_vtep vh h
adopt_tap vh taph hh 192.168.49.2 || lab_skip "cannot move a TAP device"
ip -n "$(N hh)" link set taph txqueuelen 10000

ping_flood() { # ping_flood NS ADDRESS OUT: 2000 pings 2 ms apart; OUT gets "LOSS% MAX_MS"
  ip netns exec "$(N "$1")" ping -q -c 2000 -i 0.002 -W 2 "$2" >"$3.ping" 2>&1
  sed -nE 's/.* ([0-9.]+)% packet loss.*/\1/p; s|^rtt [^=]*= [0-9.]+/[0-9.]+/([0-9.]+)/.*|\1|p' \
    "$3.ping" | paste -sd' ' >"$3"
  tail -n 2 "$3.ping" | sed 's/^/    /'
}
stat_of() { # stat_of SOCKET EXPRESSION: a Python expression of `s`, the `vtep ctl stats`
  "$VTEP" ctl "$1" stats | python3 -c "import json,sys; s = json.load(sys.stdin); print($2)"
}

control_clients_never_stall_forwarding() {
  # A MAC table of 100k entries learned from the TAP host: frames from new sources to an
  # address behind the same port (filtered: nothing leaves vtep).
  ip netns exec "$(N hh)" python3 - taph 100000 <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
anchor = bytes.fromhex("02ee00000001")
s.send(b"\xff" * 6 + anchor + b"\x88\xb5" + bytes(46))
time.sleep(0.2)
for n in range(int(sys.argv[2])):
    s.send(anchor + b"\x02\xef" + n.to_bytes(4, "big") + b"\x88\xb5" + bytes(46))
    if n % 200 == 199:
        time.sleep(0.001)
PY
  sleep 0.5
  local entries
  entries=$(stat_of "$work/h.sock" 's["segments"]["49"]["mac_entries"]')
  echo "    MAC table: $entries entries"
  [ "$entries" -ge 90000 ] || return 1
  ping_flood kv 192.168.49.2 "$work/quiet"
  # 5 clients that ask for the fdb and never read, and 200 that connect and say nothing,
  # all held through a second flood.
  timeout 60 python3 - "$work/h.sock" 5 200 8 >"$work/clients" 2>&1 <<'PY' &
import socket, sys, time
path, greedy, idle, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
held, failed = [], 0
for n in range(greedy + idle):
    client = socket.socket(socket.AF_UNIX)
    client.settimeout(1)
    try:
        client.connect(path)
        if n < greedy:
            client.send(b"fdb\n")
        held.append(client)
    except OSError:
        failed += 1
time.sleep(hold)
print(f"{len(held)} clients connected, {failed} not")
PY
  local clients=$!
  sleep 0.5
  ping_flood kv 192.168.49.2 "$work/loaded"
  wait "$clients"
  sed 's/^/    /' "$work/clients"
  local quiet_loss quiet_max loaded_loss loaded_max listed
  read -r quiet_loss quiet_max <"$work/quiet"
  read -r loaded_loss loaded_max <"$work/loaded"
  echo "    ping flood alone: ${quiet_loss}% lost, max RTT ${quiet_max} ms;" \
    "beside the clients: ${loaded_loss}% lost, max RTT ${loaded_max} ms"
  # And vtep still answers, with the whole table.
  listed=$("$VTEP" ctl "$work/h.sock" fdb | wc -l)
  echo "    vtep ctl fdb afterwards: $listed entries"
  grep "control" "$work/h.log" | tail -n 3 | sed 's/^/    /'
  python3 -c "import sys; q, l, m = map(float, sys.argv[1:]); sys.exit(not (l <= q + 0.5 and m <= 250))" \
    "$quiet_loss" "$loaded_loss" "$loaded_max" && [ "$listed" -ge "$entries" ] \
    && grep -q "control: .* client(s) dropped" "$work/h.log"
}
check "h: idle and non-reading control clients never stall a ping flood" control_clients_never_stall_forwarding

a_dead_remote_costs_the_live_one_nothing() {
  # 2000 unknown unicasts from the TAP host, flooded to the kernel, the live remote and the
  # dead one; the live remote counts its copies.
  ip netns exec "$(N lh)" timeout 30 python3 - >"$work/live" 2>&1 <<'PY' &
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: room for the whole flood
s.bind(("10.99.0.72", 4789))
s.settimeout(10)
count = 0
try:
    while True:
        if b"dead-remote-flood" in s.recv(2048):
            count += 1
            s.settimeout(2)
except socket.timeout:
    pass
print(count)
PY
  local live=$!
  sleep 0.5
  local before got taken
  before=$(stat_of "$work/h.sock" 's["ports"]["taph"]["frames_in"]')
  ip netns exec "$(N hh)" python3 - taph 2000 <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for n in range(int(sys.argv[2])):
    s.send(b"\x02\xdd" + n.to_bytes(4, "big") + bytes.fromhex("02ee00000001") + b"\x88\xb5"
           + b"dead-remote-flood" + bytes(29))
    if n % 50 == 49:
        time.sleep(0.001)
PY
  wait "$live"
  got=$(cat "$work/live")
  taken=$(($(stat_of "$work/h.sock" 's["ports"]["taph"]["frames_in"]') - before))
  stat_of "$work/h.sock" '"\n".join("    remote %s: frames_out %d, write_failed %d"
    % (r["ip"], r["frames_out"], r["write_failed"]) for r in s["segments"]["49"]["remotes"])'
  echo "    vtep took $taken of 2000 frames from the TAP; the live remote got $got"
  # The host may send a frame of its own meanwhile (a neighbour or router solicitation):
  # vtep takes at least the flood, and the live remote gets every frame of it.
  [ "$taken" -ge 2000 ] && [ "$got" -eq 2000 ] \
    && [ "$(stat_of "$work/h.sock" 's["segments"]["49"]["remotes"][1]["write_failed"]')" -eq 0 ]
}
check "h: a dead remote costs a live one no frame of a flood" a_dead_remote_costs_the_live_one_nothing

every_mac_move_is_logged() { # 300 moves in a moment, past the switch's queue of 64 events
  local before logged moves
  before=$(stat_of "$work/h.sock" 's["segments"]["49"]["mac_moves"]')
  logged=$(wc -l <"$work/h.log")
  ip netns exec "$(N vh)" python3 - <<'PY'
import socket, time
ports = {}
for name in ("taph2", "taph3"):
    ports[name] = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    ports[name].bind((name, 0))
# 100 addresses seen on taph2, then on taph3, on taph2 again, on taph3 again: 300 moves,
# each round given time to pass vtep before the next comes on the other port.
for name in ("taph2", "taph3", "taph2", "taph3"):
    for n in range(100):
        ports[name].send(b"\xff" * 6 + b"\x02\xcc\x00\x00\x00" + bytes([n]) + b"\x88\xb5" + bytes(46))
    time.sleep(0.05)
PY
  sleep 2.5
  moves=$(($(stat_of "$work/h.sock" 's["segments"]["49"]["mac_moves"]') - before))
  tail -n +"$((logged + 1))" "$work/h.log" | grep -i "mov" >"$work/moves.log"
  head -n 2 "$work/moves.log" | sed 's/^/    /'
  grep "more MAC move" "$work/moves.log" | sed 's/^/    /'
  # Each move logged: listed by itself, or counted among the "more".
  python3 - "$work/moves.log" "$moves" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
listed = sum(" moved from " in line for line in lines)
more = sum(int(m.group(1)) for line in lines if (m := re.search(r"(\d+) more MAC move", line)))
print(f"    {sys.argv[2]} moves counted; the log lists {listed} and sums up {more} more")
sys.exit(not (int(sys.argv[2]) == 300 and listed + more == 300))
PY
}
check "h: every MAC move is logged, past the switch's event queue" every_mac_move_is_logged

# ---- frames per second in (a), beside the kernel's vxlan and a Linux bridge ---------------
bench() { # bench SERVER_NS ADDRESS CLIENT_NS: 64-byte UDP flood, then TCP, 5 s each
  ip netns exec "$(N "$1")" iperf3 -s -1 -D -p 5201 >/dev/null 2>&1
  sleep 0.5
  ip netns exec "$(N "$3")" iperf3 -c "$2" -p 5201 -u -b 0 -l 64 -t 5 -J >"$work/udp.json" 2>/dev/null
  ip netns exec "$(N "$1")" iperf3 -s -1 -D -p 5202 >/dev/null 2>&1
  sleep 0.5
  ip netns exec "$(N "$3")" iperf3 -c "$2" -p 5202 -t 5 -J >"$work/tcp.json" 2>/dev/null
  python3 - "$work/udp.json" "$work/tcp.json" <<'PY'
import json, sys
udp = json.load(open(sys.argv[1]))["end"]["sum"]
tcp = json.load(open(sys.argv[2]))["end"]["sum_received"]
delivered = udp["packets"] - udp["lost_packets"]
print(f"{delivered / udp['seconds']:.0f} frames/s (64-byte UDP: {udp['packets']} sent, "
      f"{udp['lost_packets']} lost in {udp['seconds']:.1f} s); TCP {tcp['bits_per_second'] / 1e6:.0f} Mbit/s")
PY
}
if [ "${INTEROP_BENCH:-1}" != 0 ] && command -v iperf3 >/dev/null; then
  # The same topology with the kernel doing the switching: vxlan + bridge + veth to the host.
  ns kb && ns hk
  attach kb 10.99.0.31
  kernel_vxlan vx45 45 10.99.0.31 192.168.45.1
  ip -n "$(N kb)" link add vx45 type vxlan id 45 remote 10.99.0.1 local 10.99.0.31 dstport 4789
  ip -n "$(N kb)" link set vx45 mtu 1450
  ip -n "$(N kb)" link add br45 type bridge
  ip -n "$(N kb)" link set vx45 master br45 up
  ip link add p45 netns "$(N kb)" type veth peer name eth1 netns "$(N hk)"
  ip -n "$(N kb)" link set p45 master br45 up
  ip -n "$(N kb)" link set br45 up
  ip -n "$(N hk)" link set eth1 mtu 1450
  ip -n "$(N hk)" addr add 192.168.45.2/24 dev eth1
  ip -n "$(N hk)" link set eth1 up
  ip netns exec "$(N hk)" ping -q -c 3 -W 2 192.168.45.1 >/dev/null 2>&1
  # Rounds alternate between the two, so a busy machine weighs on both alike.
  for round in $(seq "${INTEROP_BENCH_ROUNDS:-1}"); do
    echo "interop bench (a) round $round: vtep, TAP host -> kernel vxlan: $(bench kv 192.168.42.1 ha)"
    echo "interop bench (a) round $round: kernel vxlan + bridge, veth host -> kernel vxlan: $(bench kv 192.168.45.1 hk)"
    echo "interop bench (a) round $round: vtep, kernel vxlan -> TAP host: $(bench ha 192.168.42.2 kv)"
    echo "interop bench (a) round $round: kernel vxlan + bridge, kernel vxlan -> veth host: $(bench hk 192.168.45.2 kv)"
  done
else
  echo "interop bench: skipped (INTEROP_BENCH=0 or no iperf3)"
fi

clean_stop() { # SIGTERM stops the (a) vtep: status 0, its TAP and control socket gone
  kill -TERM "${pids[0]}"
  wait "${pids[0]}"
  local status=$?
  sed 's/^/    /' "$work/a.log"
  [ "$status" -eq 0 ] && [ ! -e "$work/a.sock" ] && ! ip -n "$(N ha)" link show tap0 >/dev/null 2>&1
}
check "a: SIGTERM stops vtep cleanly" clean_stop
sigint_stop() { # SIGINT stops a vtep started in the background by this script too
  kill -INT "${pids[1]}"
  wait "${pids[1]}"
  local status=$?
  tail -n 1 "$work/b1.log" | sed 's/^/    /'
  [ "$status" -eq 0 ] && [ ! -e "$work/b1.sock" ]
}
check "b: SIGINT stops vtep cleanly" sigint_stop

for log in "$work"/*.log; do
  [ "$failed" -eq 0 ] && break
  echo "---- $(basename "$log")"
  tail -n 20 "$log"
done
lab_summary
