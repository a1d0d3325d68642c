#!/usr/bin/env python3
"""Builds the conformance captures with scapy (an independent implementation) and has
tshark decode the well-formed ones. See tests/data/README.md.

    python3 tests/data/make_frames.py tests/data

Writes edge.pcap + edge.tshark.json (well-formed edge cases, decoded by tshark),
malformed.pcap + malformed.meta.json (each frame must fail, naming the given layer),
plain.pcap (untunnelled Ethernet frames for the encapsulation tests).
"""
import json, os, random, subprocess, sys

from scapy.all import (GRE, IP, TCP, UDP, VXLAN, ARP, ICMP, Dot1AD, Dot1Q, Ether, IPOption_NOP,
                       IPOption_Timestamp, IPv6, Raw, wrpcap)

# tshark fields compared by tests/conformance.rs (the same set as shared/conformance/check.py).
FIELDS = ["eth.dst", "eth.src", "eth.type", "ieee8021ad.id", "vlan.id", "vlan.priority",
          "vlan.etype", "ip.src", "ip.dst", "ip.hdr_len", "ip.len", "ip.id", "ip.flags.df",
          "ip.flags.mf", "ip.frag_offset", "ip.ttl", "ip.proto", "ip.checksum.status",
          "udp.srcport", "udp.dstport", "udp.length", "udp.checksum.status", "vxlan.vni",
          "vxlan.flags", "gre.key"]

rnd = random.Random(7348)


def mac():
    return "02:" + ":".join(f"{rnd.randrange(256):02x}" for _ in range(5))


def ip():
    return f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"


def inner(tag=None, l4="udp", **ipkw):
    eth = Ether(dst=mac(), src=mac())
    if tag is not None:
        eth = eth / Dot1Q(vlan=tag, prio=rnd.randrange(8))
    pkt = eth / IP(src=ip(), dst=ip(), ttl=rnd.randrange(1, 256), **ipkw)
    if l4 == "udp":
        return pkt / UDP(sport=rnd.randrange(1024, 65536), dport=rnd.randrange(1, 65536)) / Raw(b"x" * rnd.randrange(0, 40))
    if l4 == "tcp":
        return pkt / TCP(sport=rnd.randrange(1024, 65536), dport=443)
    return pkt / ICMP()


def outer_eth(tags=()):
    eth = Ether(dst=mac(), src=mac())
    for kind, vid in tags:
        eth = eth / (Dot1AD(vlan=vid, prio=rnd.randrange(8)) if kind == "s" else Dot1Q(vlan=vid, prio=rnd.randrange(8)))
    return eth


def vxlan(payload, tags=(), flags=0x08, vni=42, chksum=None, ipkw=None, **vx):
    u = UDP(sport=rnd.randrange(49152, 65536), dport=4789)
    if chksum is not None:
        u.chksum = chksum
    return outer_eth(tags) / IP(src=ip(), dst=ip(), **{"flags": "DF", **(ipkw or {})}) / u / VXLAN(flags=flags, vni=vni, **vx) / payload


def nvgre(payload, tags=(), vsid=4242, flow=7, gre_bits=0):
    key = (vsid << 8) | flow
    return outer_eth(tags) / IP(src=ip(), dst=ip(), proto=47) / GRE(key_present=1, key=key, proto=0x6558, flags=gre_bits) / payload


def good_frames():
    frames = [
        vxlan(inner()),
        vxlan(inner(tag=10), tags=[("s", 100), ("c", 200)]),  # QinQ outside, 802.1Q inside
        vxlan(inner(), tags=[("s", 4094)]),  # a lone S-tag
        vxlan(inner(tag=0), tags=[("c", 0)]),  # priority tags
        Ether(dst=mac(), src=mac(), type=0x9100) / Dot1Q(vlan=33) / IP(src=ip(), dst=ip())
        / UDP(sport=50001, dport=4789) / VXLAN(vni=9100) / inner(),  # pre-standard QinQ TPID
        vxlan(inner(options=[IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_NOP()]),
              ipkw={"options": [IPOption_Timestamp(flg=0, length=12)]}),  # IPv4 options both sides
        vxlan(inner(), flags=0x0c, vni=16777215),  # reserved flag bit: ignored on receipt
        vxlan(inner(), flags=0x88),  # the GBP G bit: reserved in RFC 7348
        vxlan(inner(l4="tcp")),
        vxlan(inner(l4="icmp"), ipkw={"tos": 0xb9}),  # DSCP 46, ECN 1
        vxlan(inner(), ipkw={"flags": "evil+DF"}),  # reserved IPv4 flag
        vxlan(inner(), chksum=0x1234),  # wrong outer UDP checksum
        vxlan(inner(l4="udp", flags="MF")),  # inner first fragment: stops at inner IPv4
        vxlan(inner(l4="udp", frag=100)),  # inner later fragment
        nvgre(inner()),
        nvgre(inner(tag=5), tags=[("c", 3000)]),
        nvgre(inner(l4="tcp"), vsid=0xffffff, flow=255),
        nvgre(inner(), gre_bits=0),
        outer_eth() / IP(src=ip(), dst=ip(), flags="MF") / UDP(dport=4789) / VXLAN(vni=1) / inner(),  # outer fragment
        outer_eth() / IP(src=ip(), dst=ip(), frag=185) / Raw(b"y" * 64),
        outer_eth() / IP(src=ip(), dst=ip()) / UDP(sport=5353, dport=53) / Raw(b"q" * 3),  # padded to 60
        outer_eth() / IP(src=ip(), dst=ip()) / UDP(sport=1, dport=2) / Raw(b"z" * 30) / Raw(b"\0" * 12),  # trailer after IP
        outer_eth() / ARP(),
        outer_eth([("c", 7)]) / IP(src=ip(), dst=ip()) / TCP(),
    ]
    # Wrong checksums are not errors: corrupt the outer IPv4 and inner UDP checksums.
    f = vxlan(inner())
    f = Ether(bytes(f))
    f[IP].chksum ^= 0x0101
    frames.append(f)
    f = vxlan(inner())
    raw = bytearray(bytes(f))
    raw[-1] ^= 0xff  # inner payload byte: inner UDP checksum now wrong
    frames.append(Ether(bytes(raw)))
    # UDP length shorter than the IP payload: the datagram ends at its length field.
    f = outer_eth() / IP(src=ip(), dst=ip()) / UDP(sport=9, dport=9, len=12) / Raw(b"abcdefgh")
    frames.append(f)
    for _ in range(20):
        frames.append(rnd.choice([vxlan, nvgre])(inner(tag=rnd.choice([None, rnd.randrange(1, 4095)]))))
    return frames


def malformed_frames():
    """(frame, layer the error must name)."""
    cases = []
    full = bytes(vxlan(inner(tag=9), tags=[("s", 1), ("c", 2)]))
    # Cut inside each header: outer eth 0-14, tags 14-22, ipv4 22-42, udp 42-50, vxlan 50-58,
    # inner eth 58-72, inner tag 72-76, inner ipv4 76-96, inner udp 96-104.
    for cut, layer in [(10, "ethernet"), (16, "vlan"), (20, "vlan"), (30, "ipv4"), (46, "ipv4"),
                       (55, "ipv4"), (60, "ipv4"), (100, "ipv4")]:
        cases.append((full[:cut], layer))
    # Keep the outer lengths consistent and cut only the tunnel and inner headers.
    def consistent(payload):
        return outer_eth() / IP(src=ip(), dst=ip()) / UDP(sport=50000, dport=4789) / payload
    frame = bytes(inner(tag=3))
    for cut, layer in [(4, "vxlan"), (8 + 9, "ethernet"), (8 + 16, "vlan"), (8 + 30, "ipv4"), (8 + 40, "ipv4")]:
        cases.append((bytes(consistent(Raw((bytes(VXLAN(vni=1)) + frame)[:cut]))), layer))
    cases += [
        (bytes(consistent(VXLAN(flags=0x00, vni=5) / inner())), "vxlan"),
        (bytes(outer_eth() / IP(src=ip(), dst=ip(), version=6)), "ipv4"),
        (bytes(outer_eth() / IP(src=ip(), dst=ip(), ihl=4)), "ipv4"),
        (bytes(outer_eth() / IP(src=ip(), dst=ip(), len=19)), "ipv4"),
        (bytes(outer_eth() / IP(src=ip(), dst=ip(), len=400) / UDP()), "ipv4"),
        (bytes(outer_eth() / IP(src=ip(), dst=ip()) / UDP(len=7)), "udp"),
        (bytes(outer_eth() / IP(src=ip(), dst=ip()) / UDP(len=60)), "udp"),
        (bytes(consistent(VXLAN() / Ether() / IP(ihl=15) / UDP())), "ipv4"),
    ]
    for bits, proto in [(0x8000 | 0x2000, 0x6558), (0x1000 | 0x2000, 0x6558), (0, 0x6558),
                        (0x2000 | 1, 0x6558), (0x2000, 0x0800), (0x4000 | 0x2000, 0x6558)]:
        gre = bits.to_bytes(2, "big") + proto.to_bytes(2, "big") + b"\x00\x10\x92\x07" + bytes(inner())
        cases.append((bytes(outer_eth() / IP(src=ip(), dst=ip(), proto=47) / Raw(gre)), "nvgre"))
    return cases


def plain_frames():
    """Ethernet frames as a VM or container would send them, to be encapsulated."""
    frames = [inner(), inner(tag=100), inner(l4="tcp"), inner(l4="icmp"), inner(flags="MF"),
              Ether(dst="ff:ff:ff:ff:ff:ff", src=mac()) / ARP(), inner(tos=0x03), inner(tos=0xb8)]
    frames += [inner(tag=rnd.choice([None, 7])) / Raw(b"p" * rnd.randrange(0, 1400)) for _ in range(24)]
    return frames


def tshark_fields(pcap, fields=FIELDS):
    """tshark's decode of every frame of `pcap`: for each, every occurrence of `fields`."""
    cmd = ["tshark", "-r", pcap, "-T", "fields", "-E", "occurrence=a", "-E", "separator=\t",
           "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-d", "udp.port==4789,vxlan"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        cols = line.split("\t")
        rows.append({f: (c.split(",") if c else []) for f, c in zip(fields, cols)})
    return rows


def main(outdir):
    edge = os.path.join(outdir, "edge.pcap")
    wrpcap(edge, good_frames())
    json.dump(tshark_fields(edge), open(os.path.join(outdir, "edge.tshark.json"), "w"), indent=0)
    wrpcap(os.path.join(outdir, "plain.pcap"), plain_frames())
    bad = malformed_frames()
    wrpcap(os.path.join(outdir, "malformed.pcap"), [b for b, _ in bad], linktype=1)
    json.dump({"layers": [layer for _, layer in bad]}, open(os.path.join(outdir, "malformed.meta.json"), "w"))


if __name__ == "__main__":
    main(sys.argv[1])
