#!/usr/bin/env bash
# Captures VXLAN frames sent by the Linux kernel's own vxlan driver, then has tshark
# decode them. Needs root, iproute2, tcpdump, tshark, python3. See tests/data/README.md.
#
#   bash tests/data/capture_kernel.sh tests/data        # kernel.pcap: the underlay's veth
#   bash tests/data/capture_kernel.sh tests/data any    # kernel-any.pcap: `tcpdump -i any`
#
# Two network namespaces joined by a veth pair (underlay 10.99.0.1 <-> 10.99.0.2); in
# each, vx42 (VNI 42, UDP checksum off, the kernel's default) and vx4242 (VNI 4242,
# checksum on). Pings of several sizes and UDP datagrams cross both; tcpdump records
# the underlay (or, with `any`, every interface of the first namespace, as `tcpdump -i any`
# takes them: Linux's cooked header, the vxlan devices' inner frames beside the veth's
# VXLAN). IPv6 is off on the vxlan devices so every inner frame is ARP or IPv4.
set -euo pipefail
out=$(realpath "${1:?usage: capture_kernel.sh OUTDIR [any]}")
if [ "${2:-}" = any ]; then
  name=kernel-any capture=(-i any)
else
  name=kernel capture=(-i veth-a udp port 4789)
fi
a=twcap-a-$$ b=twcap-b-$$
cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$a"; ip netns add "$b"
ip link add veth-a netns "$a" type veth peer name veth-b netns "$b"
setup() { # namespace veth underlay-self underlay-peer host-number
  local ns=$1 veth=$2 self=$3 peer=$4 host=$5 dev
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$self/24" dev "$veth"
  ip -n "$ns" link set "$veth" up
  # Without this the kernel leaves outer UDP checksums to "hardware" that a veth does not
  # have, and tcpdump records the unfinished pseudo-header sums instead of what a NIC sends.
  ip netns exec "$ns" ethtool -K "$veth" tx off >/dev/null
  ip -n "$ns" link add vx42 type vxlan id 42 remote "$peer" local "$self" dstport 4789 noudpcsum
  ip -n "$ns" link add vx4242 type vxlan id 4242 remote "$peer" local "$self" dstport 4789 udpcsum
  for dev in vx42 vx4242; do
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
  done
  ip -n "$ns" addr add "192.168.42.$host/24" dev vx42
  ip -n "$ns" addr add "192.168.142.$host/24" dev vx4242
  ip -n "$ns" link set vx42 up; ip -n "$ns" link set vx4242 up
}
setup "$a" veth-a 10.99.0.1 10.99.0.2 1
setup "$b" veth-b 10.99.0.2 10.99.0.1 2
ip netns exec "$a" tcpdump -w "$out/$name.pcap" -U -s 0 "${capture[@]}" 2>/dev/null &
dump=$!
sleep 1
# A receiver in b, so the datagrams draw no ICMP port-unreachable replies.
ip netns exec "$b" python3 - <<'PY' &
import socket
socks = []
for addr in ("192.168.42.2", "192.168.142.2"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((addr, 5555)); s.settimeout(5); socks.append(s)
for s in socks:
    for _ in range(3):
        try: s.recv(2048)
        except OSError: break
PY
recv=$!
sleep 0.5
for size in 0 56 1000 1400 2000; do  # 2000 exceeds the vxlan MTU: inner fragments
  ip netns exec "$a" ping -q -c 1 -s "$size" -W 1 192.168.42.2 >/dev/null
  ip netns exec "$a" ping -q -c 1 -s "$size" -W 1 192.168.142.2 >/dev/null
done
ip netns exec "$a" python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for dst in ("192.168.42.2", "192.168.142.2"):
    for n in (1, 100, 1300):
        s.sendto(b"k" * n, (dst, 5555))
PY
wait "$recv" || true
sleep 1
kill "$dump"; wait "$dump" 2>/dev/null || true
python3 - "$out" "$(dirname "$(realpath "$0")")" "$name" <<'PY'
import json, subprocess, sys, os
sys.path.insert(0, sys.argv[2])
from make_frames import FIELDS, tshark_fields
out, name = sys.argv[1], sys.argv[3]
# The IPv6 fields too: every interface sends IPv6 (duplicate address detection, MLD).
fields = FIELDS + ["ipv6.src", "ipv6.dst", "ipv6.tclass", "ipv6.flow", "ipv6.plen", "ipv6.nxt", "ipv6.hlim"]
json.dump(tshark_fields(os.path.join(out, f"{name}.pcap"), fields), open(os.path.join(out, f"{name}.tshark.json"), "w"), indent=0)
PY
echo "captured $(tshark -r "$out/$name.pcap" 2>/dev/null | wc -l) frames into $out/$name.pcap"
