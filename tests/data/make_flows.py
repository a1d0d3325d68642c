#!/usr/bin/env python3
"""Builds flows.pcap with scapy: 200 untunnelled Ethernet frames, one per inner flow
(distinct addresses and ports), IPv4 and IPv6, UDP and TCP, every ECN codepoint and
assorted DSCP, for the IPv6-underlay tests: encapsulated over IPv6, each flow must get
its own flow label and UDP source port (RFC 6438), and tshark must agree with every
field. See tests/data/README.md.

    python3 tests/data/make_flows.py tests/data
"""
import os, random, sys

from scapy.all import IP, TCP, UDP, Ether, IPv6, Raw, wrpcap

rnd = random.Random(6438)


def flow(i):
    eth = Ether(dst=f"02:00:00:00:{i >> 8:02x}:{i & 0xff:02x}", src=f"02:00:00:01:{i >> 8:02x}:{i & 0xff:02x}")
    tos = rnd.randrange(64) << 2 | i % 4
    if i % 3 == 2:
        ip = IPv6(src=f"fd00:1::{i + 1:x}", dst=f"fd00:2::{rnd.randrange(1, 65536):x}", tc=tos,
                  fl=rnd.randrange(1 << 20), hlim=64)
    else:
        ip = IP(src=f"10.1.{i >> 8}.{i & 0xff}", dst=f"10.2.{rnd.randrange(256)}.{rnd.randrange(1, 255)}",
                tos=tos, ttl=64)
    l4 = (UDP if i % 2 else TCP)(sport=rnd.randrange(1024, 65536), dport=rnd.choice([53, 443, 5201, 8080]))
    frame = Ether(bytes(eth / ip / l4 / Raw(b"f" * rnd.randrange(0, 1200))))
    frame.time = 1700000000 + i
    return frame


def main(outdir):
    wrpcap(os.path.join(outdir, "flows.pcap"), [flow(i) for i in range(200)])


if __name__ == "__main__":
    main(sys.argv[1])
