#!/usr/bin/env python3
"""Builds the Geneve (RFC 8926) and IEEE 802.3 conformance captures with scapy (an
independent implementation) and has tshark decode the well-formed ones. See
tests/data/README.md.

    python3 tests/data/make_geneve_frames.py tests/data

Writes geneve.pcap + geneve.tshark.json (well-formed Geneve frames over IPv4 and IPv6
underlays: OVN's option, AWS Gateway Load Balancer's options, random classes, types and
lengths, the O and C bits, Ethernet, IPv4 and IPv6 payloads and a protocol type that is not
decoded; and 802.3/LLC frames: STP, bare and behind a VLAN tag and inside Geneve), and
geneve-malformed.pcap + geneve-malformed.meta.json (each frame must fail naming the layer
given: versions 1-3, options announced past the packet, an option running past the options
area, a header cut short).

tshark reads the captures with the fields of make_ipv6_frames.py plus Geneve's and 802.3's
length (eth.len, vlan.len). The script stops if tshark decodes a frame otherwise than
intended (no Geneve layer where one was built, or one where none was).
"""
import json, os, random, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_frames as mf  # noqa: E402

from scapy.all import (IP, LLC, STP, TCP, UDP, Dot1Q, Dot3, Ether, IPv6, Raw,  # noqa: E402
                       wrpcap)
from scapy.contrib.geneve import GENEVE, GeneveOptions  # noqa: E402

GENEVE_FIELDS = ["geneve.version", "geneve.flags.oam", "geneve.flags.critical", "geneve.proto_type",
                 "geneve.vni", "geneve.option.class", "geneve.option.type",
                 "geneve.option.type.critical", "geneve.option.length", "eth.len", "vlan.len"]
FIELDS = mf.FIELDS + ["ipv6.src", "ipv6.dst", "ipv6.tclass", "ipv6.flow", "ipv6.plen", "ipv6.nxt",
                      "ipv6.hlim"] + GENEVE_FIELDS

rnd = mf.rnd
rnd.seed(8926)
mac, ip, inner = mf.mac, mf.ip, mf.inner


def ip6():
    return "fd00:%x::%x" % (rnd.randrange(1, 0xffff), rnd.randrange(1, 0xffff))


def option(cls, typ, data):
    """One option: class, type (0x80 critical), data of whole 4-byte words."""
    assert len(data) % 4 == 0 and len(data) <= 124
    return GeneveOptions(classid=cls, type=typ, length=len(data) // 4, data=data)


def ovn():
    # OVN's logical ingress/egress port option: class 0x0102, type 0x80 (critical), 4 bytes.
    return [option(0x0102, 0x80, bytes([0, rnd.randrange(256), 0, rnd.randrange(256)]))]


def gwlb():
    # AWS Gateway Load Balancer: class 0x0108, type 1 the GWLB endpoint ID (8 bytes), type 2
    # the attachment ID (8 bytes), type 3 the flow cookie (4 bytes); none critical.
    return [option(0x0108, 1, bytes(rnd.randrange(256) for _ in range(8))),
            option(0x0108, 2, bytes(rnd.randrange(256) for _ in range(8))),
            option(0x0108, 3, bytes(rnd.randrange(256) for _ in range(4)))]


def random_options(budget=252):
    opts, used = [], 0
    for _ in range(rnd.randrange(1, 6)):
        words = rnd.choice([0, 1, 2, 3, 7, 31])
        if used + 4 + 4 * words > budget:
            break
        typ = rnd.randrange(256)
        opts.append(option(rnd.randrange(0x10000), typ, bytes(rnd.randrange(256) for _ in range(4 * words))))
        used += 4 + 4 * words
    return opts


def geneve(payload, opts=(), proto=0x6558, oam=0, critical=None, v6=False, vni=None, chksum=True,
           reserved=0, reserved2=0):
    opts = list(opts)
    optlen = sum(4 + len(o.data) for o in opts) // 4
    if critical is None:
        critical = int(any(o.type & 0x80 for o in opts))
    g = GENEVE(version=0, optionlen=optlen, oam=oam, critical=critical, reserved=reserved,
               proto=proto, vni=rnd.randrange(1 << 24) if vni is None else vni,
               reserved2=reserved2, options=opts)
    sport = rnd.randrange(49152, 65536)
    if v6:
        outer = Ether(src=mac(), dst=mac()) / IPv6(src=ip6(), dst=ip6(), hlim=64, fl=rnd.randrange(1 << 20))
    else:
        outer = Ether(src=mac(), dst=mac()) / IP(src=ip(), dst=ip(), ttl=64, flags="DF", id=rnd.randrange(65536))
    udp = UDP(sport=sport, dport=6081) if chksum else UDP(sport=sport, dport=6081, chksum=0)
    return outer / udp / g / payload


def inner_ip4():
    return IP(src=ip(), dst=ip(), ttl=rnd.randrange(1, 255), tos=rnd.randrange(256)) / UDP(
        sport=rnd.randrange(1024, 4000), dport=rnd.randrange(5000, 6000)) / Raw(b"x" * rnd.randrange(40))


def inner_ip6():
    return IPv6(src=ip6(), dst=ip6(), hlim=rnd.randrange(1, 255), fl=rnd.randrange(1 << 20)) / UDP(
        sport=rnd.randrange(1024, 4000), dport=rnd.randrange(5000, 6000)) / Raw(b"y" * rnd.randrange(40))


def stp():
    return Dot3(src=mac(), dst="01:80:c2:00:00:00") / LLC(dsap=0x42, ssap=0x42, ctrl=3) / STP()


def good_frames():
    frames = []
    for v6 in (False, True):
        frames.append(geneve(inner(), v6=v6))
        frames.append(geneve(inner(l4="tcp"), ovn(), v6=v6))
        frames.append(geneve(inner(tag=100), ovn(), v6=v6))
        # AWS GWLB: IP payloads, no inner Ethernet.
        frames.append(geneve(inner_ip4(), gwlb(), proto=0x0800, v6=v6))
        frames.append(geneve(inner_ip6(), gwlb(), proto=0x86DD, v6=v6))
        # No options, and over IPv4 a UDP checksum of 0.
        frames.append(geneve(inner_ip4(), (), proto=0x0800, v6=v6, chksum=v6))
        for _ in range(6):
            frames.append(geneve(inner(), random_options(), v6=v6))
        # The O bit (a control message) and the C bit with and without critical options.
        frames.append(geneve(inner(), ovn(), oam=1, v6=v6))
        frames.append(geneve(inner(), gwlb(), critical=1, v6=v6))
        frames.append(geneve(inner(), [option(0x0103, 0x81, b"")], oam=1, v6=v6))
        # Reserved bits, ignored on receipt.
        frames.append(geneve(inner(), ovn(), reserved=0x15, reserved2=0xa5, v6=v6))
        # The whole options area, 252 bytes: options of 124 and 120 bytes of data.
        frames.append(geneve(inner(), [option(0xffff, 0x7f, bytes(range(124))),
                                       option(0x0000, 0x00, bytes(range(120)))], v6=v6))
        # A protocol type not decoded: the layers stop after Geneve.
        frames.append(geneve(Raw(b"\x00" * 20), ovn(), proto=0x88b5, v6=v6))
        # 802.3 inside Geneve: the inner Ethernet's type field is a length.
        frames.append(geneve(stp(), (), v6=v6))
    # Untunnelled 802.3/LLC: STP bare and behind an 802.1Q tag, and a CDP-like SNAP frame.
    frames.append(stp())
    bpdu = stp()
    frames.append(Ether(src=bpdu.src, dst=bpdu.dst, type=0x8100) / Dot1Q(vlan=10, type=len(bpdu.payload)) / bpdu.payload)
    frames.append(Dot3(src=mac(), dst="01:00:0c:cc:cc:cc") / LLC(dsap=0xaa, ssap=0xaa, ctrl=3) / Raw(b"\x00\x00\x0c\x20\x00" + b"c" * 30))
    # VNI 0, no options.
    frames.append(geneve(inner(), (), v6=False, vni=0))
    return frames


def raw_geneve(geneve_bytes, v6=False):
    """Geneve bytes as built here, in an outer stack with a computed checksum."""
    if v6:
        outer = Ether(src=mac(), dst=mac()) / IPv6(src=ip6(), dst=ip6())
    else:
        outer = Ether(src=mac(), dst=mac()) / IP(src=ip(), dst=ip(), flags="DF")
    return outer / UDP(sport=rnd.randrange(49152, 65536), dport=6081) / Raw(geneve_bytes)


def malformed_frames():
    inner_bytes = bytes(inner())
    bad = []
    for v6 in (False, True):
        for version in (1, 2, 3):
            bad.append(raw_geneve(bytes([version << 6, 0, 0x65, 0x58, 0, 0, 42, 0]) + inner_bytes, v6))
        # Opt Len 63 words in a packet with fewer bytes after the header.
        bad.append(raw_geneve(bytes([0x3f, 0, 0x65, 0x58, 0, 0, 42, 0]) + b"\x01\x02\x80\x01" + b"\0" * 40, v6))
        # Opt Len 2 words with an option claiming 31 words of data.
        bad.append(raw_geneve(bytes([0x02, 0, 0x65, 0x58, 0, 0, 42, 0, 1, 2, 0x80, 0x1f, 0, 0, 0, 0]) + inner_bytes, v6))
        # Opt Len 3 words: an OVN option, then one claiming 1 word with none left.
        bad.append(raw_geneve(bytes([0x03, 0, 0x65, 0x58, 0, 0, 42, 0, 1, 2, 0x80, 1, 0, 1, 0, 2,
                                     1, 8, 1, 1]) + inner_bytes, v6))
        # A header cut short.
        bad.append(raw_geneve(bytes([0, 0, 0x65, 0x58, 0, 0]), v6))
    return bad


def tshark_fields(pcap, fields):
    cmd = ["tshark", "-r", pcap, "-T", "fields", "-E", "occurrence=a", "-E", "separator=\t",
           "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        cols = line.split("\t")
        rows.append({f: (c.split(",") if c else []) for f, c in zip(fields, cols)})
    return rows


def main(outdir):
    good = good_frames()
    for i, frame in enumerate(good):
        frame.time = 1700000000 + i  # fixed timestamps: the same bytes each run
    path = os.path.join(outdir, "geneve.pcap")
    wrpcap(path, good)
    rows = tshark_fields(path, FIELDS)
    for i, (frame, row) in enumerate(zip(good, rows)):
        built = frame.haslayer(GENEVE)
        if built != bool(row["geneve.vni"]):
            sys.exit(f"geneve#{i + 1}: tshark {'missed' if built else 'found'} a Geneve layer")
    json.dump(rows, open(os.path.join(outdir, "geneve.tshark.json"), "w"), indent=0)
    bad = malformed_frames()
    for i, frame in enumerate(bad):
        frame.time = 1700001000 + i
    wrpcap(os.path.join(outdir, "geneve-malformed.pcap"), bad)
    json.dump({"layers": ["geneve"] * len(bad)},
              open(os.path.join(outdir, "geneve-malformed.meta.json"), "w"))


if __name__ == "__main__":
    main(sys.argv[1])
