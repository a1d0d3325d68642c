#!/usr/bin/env python3
"""Random frames for `tests/tshark_diff.py`: `dissect` against tshark beyond the frames
anyone here chose.

    python3 tests/random_frames.py SEED COUNT OUT.pcap [ether|sll|sll2|raw|null]
    python3 tests/tshark_diff.py OUT.pcap

Each frame is a random stack built by scapy: Ethernet with zero to two 802.1Q or 802.1ad
tags; IPv4 (random TOS, TTL, DF/MF, fragment offsets, options: NOP, Router Alert, Record
Route, a loose source route) or IPv6 (random traffic class, flow label, hop limit, now and
then a hop-by-hop or fragment extension header); UDP to VXLAN's port (random flags and
reserved fields), to Geneve's (random version, O and C bits, protocol types, options of
random classes, types and lengths, an Opt Len that lies), to other ports, TCP, ICMP; GRE
as NVGRE, with a checksum or sequence number, or not NVGRE; inner frames of the same
kinds, ARP, and 802.3 length frames. Some carry wrong IPv4 or UDP checksums, a byte
overwritten in their first 120, or are cut at a snap length (the record's original
length kept or not). With `sll`, the same frames as `tcpdump -i any` takes them before
libpcap 1.10: Linux's cooked header (SLL) in place of the Ethernet header, its protocol
the frame's EtherType, or the first tag's TPID, the tag put back after the header; with
`sll2`, behind the cooked header of libpcap 1.10 and later (SLL2); with `raw` (raw IP)
and `null` (BSD loopback: the address family, AF_INET or one of the BSDs' AF_INET6
values, in either byte order), the frames that start with IP, without their Ethernet
header.

Where tshark's choice is not the contract's to follow, the frames keep away from it:
tunnels' and other UDP source ports come from the ephemeral range (49152-65535, where a
VTEP picks them: RFC 7348 section 5), so tshark, which tries the lower port of a datagram
first, does not take a tunnel for another protocol registered at its source port.
"""
import random
import struct
import sys

from scapy.all import (ARP, GRE, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, IPOption_LSRR,
                       IPOption_NOP, IPOption_Router_Alert, IPOption_RR, IPv6,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, Raw)
from scapy.layers.vxlan import VXLAN

rng = random.Random(int(sys.argv[1]))
EPHEMERAL = (49152, 65536)


def chance(p):
    return rng.random() < p


def mac():
    return ":".join(f"{rng.randrange(256):02x}" for _ in range(6))


def ipv4_address():
    return ".".join(str(rng.randrange(256)) for _ in range(4))


def ipv6_address():
    return ":".join(f"{rng.randrange(65536):x}" for _ in range(8))


def payload():
    return Raw(bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 4, 20, 64]))))


def ethernet():
    """An Ethernet header and zero to two tags, S-tags (0x88A8) or C-tags."""
    frame = Ether(src=mac(), dst=mac())
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2])):
        tag = Dot1AD if chance(0.3) else Dot1Q
        frame = frame / tag(vlan=rng.randrange(4096), prio=rng.randrange(8), id=rng.randrange(2))
    return frame


def transport(tunnels):
    """What IP carries: with `tunnels` (the outer stack), VXLAN or Geneve now and then."""
    x = rng.random()
    if tunnels and x < 0.25:
        return UDP(sport=rng.randrange(*EPHEMERAL), dport=4789) / vxlan() / inner()
    if tunnels and x < 0.45:
        return UDP(sport=rng.randrange(*EPHEMERAL), dport=6081) / geneve()
    if x < 0.7:
        port = rng.choice([53, 4789, 6081, rng.randrange(65536)])
        return UDP(sport=rng.randrange(*EPHEMERAL), dport=port) / payload()
    if x < 0.85:
        return TCP(sport=rng.randrange(65536), dport=rng.randrange(65536)) / payload()
    return ICMP() / payload()


def vxlan():
    header = VXLAN(flags=0x08 if chance(0.8) else rng.randrange(256), vni=rng.randrange(1 << 24))
    if chance(0.1):
        header.reserved1 = rng.randrange(1 << 24)
    if chance(0.1):
        header.reserved2 = rng.randrange(256)
    return header


def geneve():
    """A Geneve header written byte by byte (scapy's would keep it well-formed), and what
    its protocol type carries."""
    options = b""
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        words = rng.choice([0, 1, 1, 2, 4])
        reserved = rng.randrange(8) << 5 if chance(0.2) else 0
        option_class = rng.choice([0x0102, 0x0108, 0xFFFF, rng.randrange(65536)])
        options += struct.pack("!HBB", option_class, rng.randrange(256), words | reserved)
        options += bytes(rng.randrange(256) for _ in range(4 * words))
    opt_len = rng.randrange(64) if chance(0.08) else len(options) // 4
    version = 0 if chance(0.93) else rng.randrange(4)
    protocol = rng.choice([0x6558] * 6 + [0x0800, 0x86DD, 0x0806, rng.randrange(65536)])
    flags = rng.randrange(2) << 7 | rng.randrange(2) << 6 | (rng.randrange(64) if chance(0.1) else 0)
    vni = rng.randrange(1 << 24) << 8 | (rng.randrange(256) if chance(0.1) else 0)
    header = struct.pack("!BBHI", version << 6 | opt_len, flags, protocol, vni)
    carried = {0x0800: lambda: ipv4(False), 0x86DD: lambda: ipv6(False)}.get(protocol, inner)
    return Raw(header + options + bytes(carried()))


def ipv4(tunnels):
    packet = IP(src=ipv4_address(), dst=ipv4_address(), tos=rng.randrange(256),
                id=rng.randrange(65536), ttl=rng.randrange(256))
    if chance(0.1):
        packet.flags = rng.choice(["DF", "MF", 0])
    if chance(0.05):
        packet.frag = rng.randrange(1, 100)
    if chance(0.08):
        packet.options = [rng.choice([
            IPOption_NOP(), IPOption_Router_Alert(), IPOption_RR(routers=[ipv4_address()]),
            IPOption_LSRR(routers=[ipv4_address(), ipv4_address()], pointer=4)])]
    return packet / transport(tunnels)


def ipv6(tunnels):
    packet = IPv6(src=ipv6_address(), dst=ipv6_address(), tc=rng.randrange(256),
                  fl=rng.randrange(1 << 20), hlim=rng.randrange(256))
    if chance(0.05):
        packet = packet / rng.choice([IPv6ExtHdrHopByHop(), IPv6ExtHdrFragment(m=1)])
    return packet / transport(tunnels)


def nvgre():
    """GRE as NVGRE (key present, protocol 0x6558), or now and then GRE that is not."""
    x = rng.random()
    if x < 0.05:
        return GRE(proto=0x0800) / ipv4(False)
    header = GRE(key_present=1, key=rng.randrange(1 << 32), proto=0x6558)
    if x < 0.1:
        header.chksum_present = 1
    elif x < 0.15:
        header.seqnum_present = 1
    return header / inner()


def inner():
    """A tunnel's inner frame: no tunnel inside it but what its ports say by chance."""
    x = rng.random()
    if x < 0.55:
        return ethernet() / ipv4(False)
    if x < 0.85:
        return ethernet() / ipv6(False)
    if x < 0.92:
        return ethernet() / ARP()
    return Ether(src=mac(), dst=mac(), type=23) / Raw(b"\xaa\xaa\x03" + bytes(20))


def outer():
    x = rng.random()
    if x < 0.15:
        underlay = IP(src=ipv4_address(), dst=ipv4_address(), tos=rng.randrange(256)) \
            if chance(0.7) else IPv6(src=ipv6_address(), dst=ipv6_address())
        return ethernet() / underlay / nvgre()
    if x < 0.6:
        return ethernet() / ipv4(True)
    return ethernet() / ipv6(True)


def frame_bytes():
    packet = outer()
    if chance(0.15):
        for layer in (IP, UDP):
            if packet.haslayer(layer) and chance(0.5):
                packet[layer].chksum = rng.randrange(65536)
    raw = bytearray(bytes(packet))
    if chance(0.1):
        at = rng.randrange(14, min(len(raw), 120))
        raw[at] = rng.randrange(256)
    return bytes(raw)


def cooked(frame):
    """The frame behind Linux's cooked header instead of its Ethernet header: received
    from another host (packet type 0), hardware type Ethernet (1), its 6-byte source
    address, the EtherType (or first TPID) the Ethernet header held."""
    return struct.pack("!HHH6s2x", 0, 1, 6, frame[6:12]) + frame[12:]


def cooked2(frame):
    """The frame behind Linux's second cooked header: the EtherType (or first TPID), a
    random interface index, hardware type Ethernet, received from another host, the
    6-byte source address."""
    header = struct.pack("!H2xIHBB6s2x", struct.unpack("!H", frame[12:14])[0],
                         rng.randrange(1, 64), 1, 0, 6, frame[6:12])
    return header + frame[14:]


def loopback(frame):
    """The IP packet behind BSD loopback's address family, in either byte order: AF_INET
    (2), or AF_INET6 as NetBSD and OpenBSD (24), FreeBSD (28) or macOS (30) number it."""
    family = 2 if frame[12:14] == b"\x08\x00" else rng.choice([24, 28, 30])
    return struct.pack("<I" if chance(0.8) else ">I", family) + frame[14:]


# Each link type's number in a pcap header and the record it makes of a frame.
LINKS = {
    "ether": (1, lambda frame: frame),
    "sll": (113, cooked),
    "sll2": (276, cooked2),
    "raw": (101, lambda frame: frame[14:]),
    "null": (0, loopback),
}


def starts_with_ip(frame):
    return frame[12:14] in (b"\x08\x00", b"\x86\xdd")


def main(count, path, link):
    link_type, record = LINKS[link]
    with open(path, "wb") as out:
        # A classic pcap, microseconds, snap length 65535.
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link_type))
        for number in range(count):
            raw = frame_bytes()
            # Raw IP and loopback hold IP packets only.
            while link in ("raw", "null") and not starts_with_ip(raw):
                raw = frame_bytes()
            raw = record(raw)
            original = len(raw)
            if chance(0.1):
                raw = raw[:rng.choice([34, 54, 64, 68, 96, 128, 256])]
                if chance(0.5):
                    original = len(raw)
            out.write(struct.pack("<IIII", number, 0, len(raw), original))
            out.write(raw)


if __name__ == "__main__":
    main(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "ether")
