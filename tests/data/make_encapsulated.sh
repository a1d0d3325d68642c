#!/usr/bin/env bash
# Runs the pcap tools on plain.pcap and has tshark decode what they wrote: the expected
# decodes of tunnelwire's own encapsulation and translation. tests/pcap_tools/outputs.rs
# runs the same commands (TOOLS below) and requires the same bytes; tests/conformance.rs
# requires every field to agree with tshark. See tests/data/README.md.
#
#   bash tests/data/make_encapsulated.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release --examples
T=target/release/examples D=tests/data
addrs=(--src-ip 10.99.0.1 --dst-ip 10.99.0.2 --src-mac 02:99:00:00:00:01 --dst-mac 02:99:00:00:00:02)
$T/encap --vni 5000 "${addrs[@]}" $D/plain.pcap $D/encap-vxlan.pcap
$T/encap --vni 77 --udp-checksum --port-range 32768-60999 "${addrs[@]}" $D/plain.pcap $D/encap-vxlan-csum.pcap
$T/encap --nvgre --vni 4242 "${addrs[@]}" $D/plain.pcap $D/encap-nvgre.pcap
$T/translate --to nvgre $D/encap-vxlan.pcap $D/translated-nvgre.pcap
$T/translate --to vxlan $D/encap-nvgre.pcap $D/translated-vxlan.pcap
# Inner IPv6 (plain6.pcap): encapsulated, translated and decapsulated; every checksum of
# the outputs must be good to tshark (tests/conformance.rs).
$T/encap --vni 6000 --udp-checksum "${addrs[@]}" $D/plain6.pcap $D/encap6-vxlan.pcap
$T/encap --nvgre --vni 6000 "${addrs[@]}" $D/plain6.pcap $D/encap6-nvgre.pcap
$T/translate --to nvgre $D/encap6-vxlan.pcap $D/translated6-nvgre.pcap
$T/translate --to vxlan $D/encap6-nvgre.pcap $D/translated6-vxlan.pcap
$T/decap $D/encap6-vxlan.pcap $D/decap6.pcap
# An IPv6 underlay (flows.pcap: 200 inner flows of IPv4 and IPv6): encapsulated,
# translated both ways and decapsulated; tshark must agree with every field, find every
# checksum good (the UDP checksum over IPv6 is computed), and see a flow label and a
# source port per flow.
addrs6=(--src-ip fd00:99::1 --dst-ip fd00:99::2 --src-mac 02:99:00:00:00:01 --dst-mac 02:99:00:00:00:02)
$T/encap --vni 7000 "${addrs6[@]}" $D/flows.pcap $D/underlay6-vxlan.pcap
$T/encap --nvgre --vni 7000 "${addrs6[@]}" $D/flows.pcap $D/underlay6-nvgre.pcap
$T/translate --to nvgre $D/underlay6-vxlan.pcap $D/underlay6-translated-nvgre.pcap
$T/translate --to vxlan $D/underlay6-nvgre.pcap $D/underlay6-translated-vxlan.pcap
$T/decap $D/underlay6-vxlan.pcap $D/underlay6-decap.pcap
# Geneve: OVN's critical option and an AWS GWLB one over IPv4 with the UDP checksum, no
# options over IPv6; translated to Geneve from VXLAN and NVGRE, and from Geneve to NVGRE.
geneve_opts=(--geneve-opt 0x0102:0x80:00010002 --geneve-opt 0x0108:1:0011223344556677)
$T/encap --geneve --vni 8000 "${geneve_opts[@]}" --udp-checksum "${addrs[@]}" $D/plain.pcap $D/encap-geneve.pcap
$T/encap --geneve --vni 8000 "${addrs6[@]}" $D/flows.pcap $D/underlay6-geneve.pcap
$T/translate --to geneve $D/encap-vxlan.pcap $D/translated-geneve.pcap
$T/translate --to geneve $D/underlay6-nvgre.pcap $D/underlay6-translated-geneve.pcap
$T/translate --to nvgre $D/underlay6-geneve.pcap $D/underlay6-geneve-translated-nvgre.pcap
python3 - "$D" <<'PY'
import json, os, sys
sys.path.insert(0, sys.argv[1])
from make_frames import tshark_fields
import make_ipv6_frames
for name in ("encap-vxlan", "encap-vxlan-csum", "encap-nvgre", "translated-nvgre", "translated-vxlan"):
    path = os.path.join(sys.argv[1], name)
    json.dump(tshark_fields(path + ".pcap"), open(path + ".tshark.json", "w"), indent=0)
for name in ("encap6-vxlan", "encap6-nvgre", "translated6-nvgre", "translated6-vxlan", "decap6",
             "underlay6-vxlan", "underlay6-nvgre", "underlay6-translated-nvgre",
             "underlay6-translated-vxlan", "underlay6-decap"):
    path = os.path.join(sys.argv[1], name)
    json.dump(make_ipv6_frames.tshark_fields(path + ".pcap"), open(path + ".tshark.json", "w"), indent=0)
import make_geneve_frames
for name in ("encap-geneve", "underlay6-geneve", "translated-geneve", "underlay6-translated-geneve",
             "underlay6-geneve-translated-nvgre"):
    path = os.path.join(sys.argv[1], name)
    json.dump(make_geneve_frames.tshark_fields(path + ".pcap", make_geneve_frames.FIELDS),
              open(path + ".tshark.json", "w"), indent=0)
PY
