#!/usr/bin/env python3
"""Builds records of the link types whose header names the packet's protocol (Linux's
cooked headers SLL and SLL2 of `tcpdump -i any`, raw IP, IPv4, IPv6, BSD loopback NULL
and LOOP) with scapy (an independent implementation), merges them into one pcapng of
one interface per link type with mergecap, and has tshark decode it. See
tests/data/README.md.

    python3 tests/data/make_link_frames.py tests/data

Writes links.pcapng + links.tshark.json. Each link type carries VXLAN over IPv4, Geneve
with OVN's option over IPv6, NVGRE over IPv4 and an untunnelled IPv6 datagram; raw IP
also an IPv4 packet with a loose source route option (tshark's `ip.dst` is then the
route's last address); and last, cooked records of other protocols: a netlink capture's,
an IEEE 802.2 frame's, one cut inside the header (none decoded), an Ethernet frame's
(protocol 3, decoded as Ethernet), and VLAN tags libpcap put back after the cooked header:
an 802.1Q tag before VXLAN over IPv4, an 802.1ad and an 802.1Q tag before Geneve over
IPv6.
"""
import json, os, struct, subprocess, sys, tempfile

from scapy.all import GRE, IP, TCP, UDP, VXLAN, Dot1AD, Dot1Q, Ether, IPv6, Raw
from scapy.contrib.geneve import GENEVE
from scapy.layers.l2 import CookedLinux, CookedLinuxV2

import make_geneve_frames as mg

FIELDS = mg.FIELDS


def inner():
    return Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") / IP(
        src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5000, dport=53) / Raw(b"q" * 30)


def packets():
    """The network-layer packets every link type carries."""
    vxlan = IP(src="198.51.100.1", dst="198.51.100.2") / UDP(sport=49152, dport=4789) / VXLAN(
        vni=42) / inner()
    geneve = IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=49153, dport=6081) / GENEVE(
        vni=4242, proto=0x6558, optionlen=2, critical=1, options=mg.ovn()) / inner()
    nvgre = IP(src="198.51.100.3", dst="198.51.100.4") / GRE(
        key_present=1, proto=0x6558, key=(5000 << 8) | 9) / Ether(
        dst="02:00:00:00:00:04", src="02:00:00:00:00:03") / IP(
        src="192.0.2.3", dst="192.0.2.4") / TCP(sport=1234, dport=80)
    plain6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1000, dport=2000) / Raw(b"z" * 9)
    return [bytes(p) for p in (vxlan, geneve, nvgre, plain6)]


def source_routed():
    # Loose source route (131): length 11, pointer 4, route 1.2.3.4 then 5.6.7.8; EOL pad.
    option = bytes([131, 11, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0])
    return bytes(IP(src="9.10.11.12", dst="13.14.15.16", options=[Raw(option)]) / UDP(
        sport=7, dport=9) / Raw(b"r" * 4))


def ethertype(packet):
    return 0x86DD if packet[0] >> 4 == 6 else 0x0800


def sll(packet, protocol=None, hatype=1):
    return bytes(CookedLinux(pkttype=4, lladdrtype=hatype, lladdrlen=6, src=b"\x02\0\0\0\0\x01\0\0",
                             proto=ethertype(packet) if protocol is None else protocol)) + packet


def sll2(packet):
    return bytes(CookedLinuxV2(proto=ethertype(packet), ifindex=3, lladdrtype=1, pkttype=0,
                               lladdrlen=6, src=b"\x02\0\0\0\0\x01\0\0")) + packet


def families(packet, order, inet6):
    return struct.pack(order + "I", inet6 if packet[0] >> 4 == 6 else 2) + packet


def write(path, linktype, records):
    """A pcap of `records` of `linktype`, each at a fixed time (the same bytes each run)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for i, data in enumerate(records):
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(data), len(data)))
        out.append(data)
    open(path, "wb").write(b"".join(out))


def main(outdir):
    base = packets()
    v4_only = [p for p in base if p[0] >> 4 == 4]
    v6_only = [p for p in base if p[0] >> 4 == 6]
    parts = [
        (113, [sll(p) for p in base]),
        (276, [sll2(p) for p in base]),
        (101, base + [source_routed()]),
        (228, v4_only),
        (229, v6_only),
        # NULL in either host order (macOS's AF_INET6 30, FreeBSD's 28), LOOP in network
        # order (OpenBSD's 24).
        (0, [families(p, "<", 30) for p in base] + [families(p, ">", 28) for p in base]),
        (108, [families(p, ">", 24) for p in base]),
        # Not decoded: netlink (hardware type 824), an IEEE 802.2 frame (protocol 4), a
        # record cut inside the cooked header; then an Ethernet frame (protocol 3: decoded
        # as Ethernet) and the VLAN tags libpcap put back (the cooked header's protocol
        # the first TPID).
        (113, [sll(bytes(20), protocol=0, hatype=824), sll(bytes(20), protocol=4),
               sll(base[0])[:10],
               sll(bytes(Ether(dst="02:00:00:00:00:06", src="02:00:00:00:00:05") / IP(base[0])),
                   protocol=3),
               sll(bytes(Dot1Q(vlan=100, type=0x0800)) + base[0], protocol=0x8100),
               sll(bytes(Dot1AD(vlan=200, prio=5, type=0x8100) / Dot1Q(vlan=300, type=0x86DD))
                   + base[1], protocol=0x88A8)]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, (linktype, records) in enumerate(parts):
            files.append(os.path.join(tmp, f"{i}.pcap"))
            write(files[-1], linktype, records)
        path = os.path.join(outdir, "links.pcapng")
        subprocess.run(["mergecap", "-a", "-F", "pcapng", "-w", path] + files, check=True)
    rows = mg.mf.tshark_fields(path, FIELDS)
    json.dump(rows, open(os.path.join(outdir, "links.tshark.json"), "w"), indent=0)


if __name__ == "__main__":
    main(sys.argv[1])
