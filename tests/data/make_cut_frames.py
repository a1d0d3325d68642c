#!/usr/bin/env python3
"""Builds records cut by a capture's snap length where a UDP checksum may or may not be
verifiable, with scapy (an independent implementation), and has tshark decode them. See
tests/data/README.md.

    python3 tests/data/make_cut_frames.py tests/data

Writes cut.pcap + cut.tshark.json. tshark verifies a UDP checksum only when the capture
holds the whole IP payload that carries it, not just the UDP datagram: a datagram shorter
than its IP payload, cut after its end but inside the IP packet, is unverified. Each
frame is written whole (in its original length) and cut at the length beside it.
"""
import json, os, random, struct, sys

from scapy.all import IP, UDP, VXLAN, Ether, IPv6, Raw

from make_frames import FIELDS, tshark_fields

IPV6_FIELDS = ["ipv6.src", "ipv6.dst", "ipv6.tclass", "ipv6.flow", "ipv6.plen", "ipv6.nxt",
               "ipv6.hlim"]

rnd = random.Random(6081)


def udp_short(ip_layer, datagram=8, trailing=24, chksum=None):
    """`ip_layer` carrying a UDP datagram of `datagram` payload bytes, then `trailing`
    bytes more of IP payload that the UDP length leaves out (its checksum computed by
    scapy over the datagram alone, unless `chksum` is given)."""
    u = UDP(sport=rnd.randrange(1024, 65536), dport=rnd.randrange(1, 4789))
    if chksum is not None:
        u.chksum = chksum
    dgram = bytes(ip_layer / u / Raw(bytes(rnd.randrange(256) for _ in range(datagram))))
    # Re-read with the trailing bytes inside the IP packet: scapy keeps the UDP length
    # and checksum it computed for the shorter datagram.
    if ip_layer.haslayer(IP):
        whole = IP(dgram)
        whole.len = None
        whole.chksum = None
    else:
        whole = IPv6(dgram)
        whole.plen = None
    return whole / Raw(b"t" * trailing)


def eth():
    return Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")


def v4():
    return IP(src="192.0.2.1", dst="192.0.2.2", ttl=64)


def v6():
    return IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=64)


def vxlan_over(inner_frame):
    """A VXLAN frame (outer UDP checksum computed) around the bytes `inner_frame`: bytes,
    since scapy leaves out a nested packet's padding."""
    return Ether(bytes(eth() / IP(src="198.51.100.1", dst="198.51.100.2", flags="DF")
                       / UDP(sport=50000, dport=4789) / VXLAN(vni=42) / Raw(inner_frame)))


def frames():
    """(frame, captured length) pairs."""
    out = []
    # A datagram shorter than its IP payload, cut inside the IP packet after its end:
    # unverified; cut at the IP packet's end or past it (padding, a trailer): verified,
    # a right checksum and a wrong one.
    for chksum in (None, 0x1234):
        frame = Ether(bytes(eth() / udp_short(v4(), chksum=chksum)) + bytes(6))
        ip_end = 14 + frame[IP].len
        out += [(frame, 14 + 20 + 16 + 4), (frame, ip_end - 1), (frame, ip_end),
                (frame, ip_end + 3)]
    # The datagram the whole IP payload: cut inside it, at its end.
    frame = Ether(bytes(eth() / v4() / UDP(sport=40000, dport=53) / Raw(b"q" * 40)) + bytes(4))
    out += [(frame, 14 + 20 + 8 + 10), (frame, 14 + 20 + 48)]
    # IPv6 likewise.
    for chksum in (None, 0x4321):
        frame = Ether(bytes(eth() / udp_short(v6(), chksum=chksum)) + bytes(4))
        ip_end = 14 + 40 + frame[IPv6].plen
        out += [(frame, 14 + 40 + 16 + 2), (frame, ip_end - 1), (frame, ip_end)]
    # Inside VXLAN (outer UDP checksum on): the inner datagram shorter than the inner IP
    # payload, cut inside the inner IP packet after it; then an inner IP packet whole with
    # inner Ethernet padding cut: the outer checksum unverified either way, the inner
    # one unverified, then verified.
    frame = vxlan_over(bytes(eth() / udp_short(v4(), trailing=12)) + bytes(4))
    inner_ip_end = 14 + 20 + 8 + 8 + 14 + frame[VXLAN][IP].len
    out += [(frame, inner_ip_end - 2), (frame, inner_ip_end)]
    frame = vxlan_over(bytes(eth() / v4() / UDP(sport=1000, dport=2000) / Raw(b"z" * 10)) + bytes(12))
    inner_ip_end = 14 + 20 + 8 + 8 + 14 + frame[VXLAN][IP].len
    out += [(frame, inner_ip_end), (frame, inner_ip_end + 5)]
    return out


def main(outdir):
    path = os.path.join(outdir, "cut.pcap")
    # Classic pcap, microseconds, link type Ethernet; fixed timestamps, so the same bytes
    # each run.
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, (frame, captured) in enumerate(frames()):
        data = bytes(frame)
        assert captured < len(data), f"frame {i + 1}: cut at {captured} of {len(data)}"
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, captured, len(data)))
        out.append(data[:captured])
    open(path, "wb").write(b"".join(out))
    rows = tshark_fields(path, FIELDS + IPV6_FIELDS)
    json.dump(rows, open(os.path.join(outdir, "cut.tshark.json"), "w"), indent=0)


if __name__ == "__main__":
    main(sys.argv[1])
