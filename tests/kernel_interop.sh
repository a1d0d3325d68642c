#!/usr/bin/env bash
# Interop with the Linux kernel's own VXLAN, both ways, through the pcap tools:
#   - ICMP echo requests encapsulated by `examples/encap` (plain, with a UDP checksum, with
#     Linux's port range) and by `encap --nvgre` then `translate --to vxlan` are put on the
#     wire towards a kernel vxlan device, which must accept every one (its rx counter) and
#     answer;
#   - the kernel's VXLAN answers, captured on the wire, go through `examples/decap` and must
#     hold one ICMP echo reply per request;
#   - the same with the kernel's gretap device (NVGRE framing; it compares the whole GRE
#     key, so `encap --nvgre --flow-id 0` is used with `key VSID << 8`), where the kernel
#     has gretap; where it has not, the test says so loudly and skips that part;
#   - the same over an IPv6 underlay: the kernel's vxlan device with IPv6 addresses
#     (which sends UDP checksums over IPv6 by default and refuses zero ones without
#     udp6zerocsumrx: encap computes them), and its ip6gretap device where it has one.
# Needs root, iproute2, ethtool, tcpdump, tcpreplay and python3 with scapy (.ci/run installs
# them). Uses only addresses inside the two network namespaces it creates and removes.
#
#   bash tests/kernel_interop.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --examples
T=${CARGO_TARGET_DIR:-target}/release/examples
work=$(mktemp -d)
a=twi-a-$$ b=twi-b-$$
dump=
cleanup() {
  [ -n "$dump" ] && kill "$dump" 2>/dev/null || true
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Namespace a: the kernel VTEP (10.99.0.1, vx42 = 192.168.42.1 on VNI 4242). Namespace b: the wire end
# where tunnelwire's frames are injected and the kernel's answers captured (10.99.0.2).
ip netns add "$a"
ip netns add "$b"
ip link add veth-a netns "$a" type veth peer name veth-b netns "$b"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" addr add 10.99.0.1/24 dev veth-a
ip -n "$b" addr add 10.99.0.2/24 dev veth-b
# nodad: usable at once, not tentative while duplicate address detection runs.
ip -n "$a" addr add fd00:99::1/64 dev veth-a nodad
ip -n "$b" addr add fd00:99::2/64 dev veth-b nodad
ip -n "$a" link set veth-a up
ip -n "$b" link set veth-b up
# Finished checksums in what b captures (a veth has no hardware to finish them).
ip netns exec "$a" ethtool -K veth-a tx off >/dev/null
ip -n "$a" link add vx42 type vxlan id 4242 remote 10.99.0.2 local 10.99.0.1 dstport 4789 udpcsum
ip netns exec "$a" sysctl -qw net.ipv6.conf.vx42.disable_ipv6=1
ip -n "$a" addr add 192.168.42.1/24 dev vx42
ip -n "$a" link set vx42 up
peer_mac=02:42:00:00:00:02
ip -n "$a" neigh add 192.168.42.2 lladdr "$peer_mac" dev vx42
mac() { ip -n "$1" -br link show "$2" | awk '{print $3}'; }
vx_mac=$(mac "$a" vx42) a_mac=$(mac "$a" veth-a) b_mac=$(mac "$b" veth-b)
# b must know a's MAC before the replay, and a b's (a answers to 10.99.0.2).
ip netns exec "$b" ping -q -c 1 -W 2 10.99.0.1 >/dev/null

requests=8
# Writes $1: $requests ICMP echo requests from $2.2 to $2.1 (a /24), Ethernet from
# $peer_mac to $3, ECT(0).
write_requests() {
  python3 - "$1" "$peer_mac" "$3" "$requests" "$2" <<'PY'
import sys
from scapy.all import Ether, IP, ICMP, Raw, wrpcap
path, src, dst, n, net = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
wrpcap(path, [Ether(src=src, dst=dst) / IP(src=net + ".2", dst=net + ".1", tos=0x02)
              / ICMP(type=8, id=0x7377, seq=i) / Raw(b"tunnelwire" * i) for i in range(1, n + 1)])
PY
}
write_requests "$work/requests.pcap" 192.168.42 "$vx_mac"

addrs=(--src-ip 10.99.0.2 --dst-ip 10.99.0.1 --src-mac "$b_mac" --dst-mac "$a_mac")
# VNI 4242: VNIs up to 0xfff are reserved VSIDs (RFC 7637), so could not cross NVGRE.
$T/encap --vni 4242 "${addrs[@]}" "$work/requests.pcap" "$work/plain.pcap" 2>/dev/null
$T/encap --vni 4242 --udp-checksum "${addrs[@]}" "$work/requests.pcap" "$work/csum.pcap" 2>/dev/null
$T/encap --vni 4242 --port-range 32768-60999 "${addrs[@]}" "$work/requests.pcap" "$work/linux.pcap" 2>/dev/null
$T/encap --nvgre --vni 4242 "${addrs[@]}" "$work/requests.pcap" "$work/nvgre.pcap" 2>/dev/null
$T/translate --to vxlan "$work/nvgre.pcap" "$work/translated.pcap" 2>/dev/null

rx_packets() { ip -n "$a" -j -s link show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'; }
passed=0 failed=0 skipped=0
# Replays $work/$2.pcap towards device $1 of namespace a, capturing what b receives with
# filter $3; the kernel must accept every request and its answers must decapsulate to
# one echo reply each, from address $4.
exchange() {
  local dev=$1 variant=$2 filter=$3 from=$4
  ip netns exec "$b" tcpdump -i veth-b -U -w "$work/answers-$variant.pcap" "$filter" 2>/dev/null &
  dump=$!
  sleep 1
  local before; before=$(rx_packets "$dev")
  ip netns exec "$b" tcpreplay -q -i veth-b "$work/$variant.pcap" >/dev/null 2>&1
  sleep 1
  kill "$dump"; wait "$dump" 2>/dev/null || true; dump=
  local accepted=$(( $(rx_packets "$dev") - before ))
  $T/decap "$work/answers-$variant.pcap" "$work/inner-$variant.pcap" 2>/dev/null
  local replies
  replies=$(python3 - "$work/inner-$variant.pcap" "$from" <<'PY'
import sys
from scapy.all import ICMP, IP, rdpcap
print(sum(1 for p in rdpcap(sys.argv[1]) if ICMP in p and p[ICMP].type == 0 and p[ICMP].id == 0x7377
          and p[IP].src == sys.argv[2]))
PY
)
  if [ "$accepted" -eq "$requests" ] && [ "$replies" -eq "$requests" ]; then
    passed=$((passed + 1))
    echo "kernel interop $variant: PASS: the kernel accepted $accepted/$requests frames, $replies echo replies decapsulated"
  else
    failed=$((failed + 1))
    echo "kernel interop $variant: FAILED: the kernel accepted $accepted/$requests frames, $replies/$requests echo replies decapsulated"
  fi
}

for variant in plain csum linux translated; do
  exchange vx42 "$variant" "udp port 4789" 192.168.42.1
done

# NVGRE against the kernel's gretap: GRE with K set and protocol 0x6558, key VSID << 8 |
# FlowID compared whole, so tunnelwire sends a fixed FlowID of 0.
if ip -n "$a" link add gt42 type gretap local 10.99.0.1 remote 10.99.0.2 key $((4242 << 8)) 2>/dev/null; then
  ip -n "$a" addr add 192.168.43.1/24 dev gt42
  ip -n "$a" link set gt42 up
  ip -n "$a" neigh add 192.168.43.2 lladdr "$peer_mac" dev gt42
  write_requests "$work/requests43.pcap" 192.168.43 "$(mac "$a" gt42)"
  $T/encap --nvgre --vni 4242 --flow-id 0 "${addrs[@]}" "$work/requests43.pcap" "$work/gretap.pcap" 2>/dev/null
  exchange gt42 gretap "ip proto 47" 192.168.43.1
else
  skipped=$((skipped + 1))
  echo "kernel interop gretap: SKIPPED: this kernel has no gretap device type ('ip link add ... type gretap' failed); NVGRE interop with Linux is not tested here, only the key bytes (tests/protocol.rs)"
fi

# ---- over an IPv6 underlay -------------------------------------------------------------------
# The kernel's vxlan device over IPv6 (VNI 4243, 192.168.47.1): UDP checksums are on by
# default over IPv6, and a zero one is refused unless udp6zerocsumrx, so every frame it
# accepts here carries the checksum encap computed.
ip -n "$a" link add vx6 type vxlan id 4243 local fd00:99::1 remote fd00:99::2 dstport 4789
ip netns exec "$a" sysctl -qw net.ipv6.conf.vx6.disable_ipv6=1
ip -n "$a" addr add 192.168.47.1/24 dev vx6
ip -n "$a" link set vx6 up
ip -n "$a" neigh add 192.168.47.2 lladdr "$peer_mac" dev vx6
ip netns exec "$b" ping -q -c 1 -W 2 fd00:99::1 >/dev/null
write_requests "$work/requests47.pcap" 192.168.47 "$(mac "$a" vx6)"
addrs6=(--src-ip fd00:99::2 --dst-ip fd00:99::1 --src-mac "$b_mac" --dst-mac "$a_mac")
$T/encap --vni 4243 "${addrs6[@]}" "$work/requests47.pcap" "$work/plain6.pcap" 2>/dev/null
$T/encap --vni 4243 --port-range 32768-60999 "${addrs6[@]}" "$work/requests47.pcap" "$work/linux6.pcap" 2>/dev/null
$T/encap --nvgre --vni 4243 "${addrs6[@]}" "$work/requests47.pcap" "$work/nvgre6.pcap" 2>/dev/null
$T/translate --to vxlan "$work/nvgre6.pcap" "$work/translated6.pcap" 2>/dev/null
# decap verifies UDP checksums and, over IPv6, refuses zero ones (RFC 6936): each reply
# decapsulated also says the kernel's answer carried a right checksum.
for variant in plain6 linux6 translated6; do
  exchange vx6 "$variant" "ip6 and udp port 4789" 192.168.47.1
done

# NVGRE over IPv6 against ip6gretap, without the tunnel encapsulation limit option it
# puts in a destination options header by default (decap names extension headers and
# does not walk them).
if ip -n "$a" link add gt6 type ip6gretap local fd00:99::1 remote fd00:99::2 key $((4243 << 8)) encaplimit none 2>/dev/null; then
  ip netns exec "$a" sysctl -qw net.ipv6.conf.gt6.disable_ipv6=1
  ip -n "$a" addr add 192.168.48.1/24 dev gt6
  ip -n "$a" link set gt6 up
  ip -n "$a" neigh add 192.168.48.2 lladdr "$peer_mac" dev gt6
  write_requests "$work/requests48.pcap" 192.168.48 "$(mac "$a" gt6)"
  $T/encap --nvgre --vni 4243 --flow-id 0 "${addrs6[@]}" "$work/requests48.pcap" "$work/gretap6.pcap" 2>/dev/null
  exchange gt6 gretap6 "ip6 proto 47" 192.168.48.1
else
  skipped=$((skipped + 1))
  echo "kernel interop gretap6: SKIPPED: this kernel has no ip6gretap device type; NVGRE over IPv6 is not tested against Linux here"
fi
echo "kernel interop: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
