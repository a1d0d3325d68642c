#!/usr/bin/env python3
"""Builds the IPv6 conformance captures with scapy (an independent implementation) and has
tshark decode the well-formed ones. See tests/data/README.md.

    python3 tests/data/make_ipv6_frames.py tests/data

Writes ipv6.pcap + ipv6.tshark.json (well-formed IPv6 frames, inside the tunnels, as the
underlay and untunnelled, decoded by tshark), ipv6-malformed.pcap + ipv6-malformed.meta.json
(each frame must fail, naming the given layer), plain6.pcap (untunnelled IPv6 Ethernet frames
for the encapsulation tests).

The helpers of make_frames.py (MACs, IPv4 addresses, inner IPv4 frames, IPv4-underlay VXLAN
and NVGRE) are reused, with this script's own random seed.

Before writing anything the script checks every frame against a small decoder that follows
shared/CONTRACTS.md (`contract_decode` below): the well-formed frames must decode without
error and agree field by field with tshark, the malformed ones must fail naming the layer
written to the meta file. A frame that tshark decodes otherwise than intended (a port that
tshark hands to another dissector, a checksum scapy did not compute as intended) stops the
script.
"""
import ipaddress, json, os, random, struct, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_frames as mf  # noqa: E402

from scapy.all import (GRE, IP, TCP, UDP, VXLAN, Dot1Q, Ether, ICMPv6EchoReply,  # noqa: E402
                       ICMPv6EchoRequest, ICMPv6MLReport, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr,
                       IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrRouting, Padding, RawPcapWriter, Raw, RouterAlert, wrpcap)

# The fields of make_frames.py plus IPv6's (the same set as shared/conformance/check.py).
FIELDS = mf.FIELDS + ["ipv6.src", "ipv6.dst", "ipv6.tclass", "ipv6.flow", "ipv6.plen", "ipv6.nxt",
                      "ipv6.hlim"]

# make_frames.py's helpers draw from its module-level generator: give it this script's seed.
rnd = mf.rnd
rnd.seed(6935)
mac, ip, inner, outer_eth, vxlan, nvgre = mf.mac, mf.ip, mf.inner, mf.outer_eth, mf.vxlan, mf.nvgre


def ip6(prefix=None):
    """An address in 2001:db8::/32, fd00::/8 or fe80::/64, with runs of zero groups so that the
    RFC 5952 text form varies (compressed, not compressed, single zero group kept)."""
    kind = prefix or rnd.choice(["doc", "ula", "ula", "ll"])
    groups = [rnd.randrange(1, 0x10000) for _ in range(8)]
    if kind == "doc":
        groups[:2] = [0x2001, 0x0db8]
    elif kind == "ula":
        groups[0] = 0xfd00 | rnd.randrange(256)
    else:
        groups[:4] = [0xfe80, 0, 0, 0]
    start = rnd.randrange(2 if kind != "ll" else 4, 8)
    for i in range(start, min(8, start + rnd.choice([0, 1, 1, 2, 3, 5]))):
        groups[i] = 0  # a zero run: none, one group (RFC 5952 keeps it), or longer
    return str(ipaddress.IPv6Address(b"".join(g.to_bytes(2, "big") for g in groups)))


def port():
    # Clear of the ports tshark gives to tunnelling or IPv6-carrying dissectors by default.
    while True:
        p = rnd.randrange(1024, 65536)
        if p not in (1701, 2152, 3544, 4341, 4342, 4754, 4789, 4790, 6081, 6635, 8472, 2123):
            return p


def tclass(dscp=None, ecn=None):
    return ((rnd.choice([0, 8, 10, 18, 26, 34, 46, 48, 56]) if dscp is None else dscp) << 2) | \
        (rnd.randrange(4) if ecn is None else ecn)


def ipv6_hdr(**kw):
    kw.setdefault("src", ip6())
    kw.setdefault("dst", ip6())
    kw.setdefault("tc", tclass())
    kw.setdefault("fl", rnd.randrange(1, 1 << 20))
    kw.setdefault("hlim", rnd.randrange(1, 256))
    return IPv6(**kw)


def l4_of(l4):
    if l4 == "udp":
        return UDP(sport=port(), dport=port()) / Raw(b"v" * rnd.randrange(0, 40))
    if l4 == "tcp":
        return TCP(sport=port(), dport=443, flags="S")
    if l4 == "echo":
        return ICMPv6EchoRequest(id=rnd.randrange(65536), seq=rnd.randrange(100), data=b"ping" * rnd.randrange(0, 8))
    if l4 == "reply":
        return ICMPv6EchoReply(id=rnd.randrange(65536), seq=rnd.randrange(100), data=b"pong")
    raise ValueError(l4)


def inner6(tag=None, l4="udp", ext=None, pad=0, **ipkw):
    """An inner (or untunnelled) Ethernet frame carrying IPv6. `ext`: extension headers put
    between the IPv6 header and `l4`; `pad`: Ethernet padding after the IPv6 packet."""
    eth = Ether(dst=mac(), src=mac())
    if tag is not None:
        eth = eth / Dot1Q(vlan=tag, prio=rnd.randrange(8))
    if l4 == "ns":
        target = ip6("ll")
        solicited = str(ipaddress.IPv6Address("ff02::1:ff00:0") + (int(ipaddress.IPv6Address(target)) & 0xffffff))
        pkt = eth / IPv6(src=ip6("ll"), dst=solicited, hlim=255, tc=ipkw.get("tc", 0), fl=ipkw.get("fl", 0)) \
            / ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=eth.src)
    else:
        pkt = eth / ipv6_hdr(**ipkw)
        for e in ext or ():
            pkt = pkt / e
        if l4 == "none":
            if not ext:
                pkt[IPv6].nh = 59
        else:
            pkt = pkt / l4_of(l4)
    if pad:
        pkt = pkt / Padding(b"\0" * pad)
    return pkt


def vxlan6(payload, tags=(), vni=42, chksum=None, flags=0x08, **ipkw):
    """VXLAN over an IPv6 underlay. chksum None: scapy computes the UDP checksum (over the
    IPv6 pseudo-header); 0: none, as RFC 6935 allows for tunnels."""
    u = UDP(sport=rnd.randrange(49152, 65536), dport=4789)
    if chksum is not None:
        u.chksum = chksum
    ipkw.setdefault("src", ip6("doc"))
    ipkw.setdefault("dst", ip6("doc"))
    ipkw.setdefault("hlim", 64)
    return outer_eth(tags) / ipv6_hdr(**ipkw) / u / VXLAN(flags=flags, vni=vni) / payload


def nvgre6(payload, tags=(), vsid=4242, flow=7, **ipkw):
    """NVGRE over an IPv6 underlay (next header 47)."""
    ipkw.setdefault("src", ip6("doc"))
    ipkw.setdefault("dst", ip6("doc"))
    return outer_eth(tags) / ipv6_hdr(**ipkw) / GRE(key_present=1, key=(vsid << 8) | flow, proto=0x6558) / payload


def corrupt_udp(frame, nb):
    """The frame again with its nb-th UDP checksum (1 = outermost) made wrong, never 0."""
    f = Ether(bytes(frame))
    u = f.getlayer(UDP, nb=nb)
    assert u.chksum not in (0, 0x0101)
    u.chksum ^= 0x0101
    return Ether(bytes(f))


def good_frames():
    frames = [
        # VXLAN over IPv4 carrying IPv6.
        vxlan(inner6()),
        vxlan(inner6(l4="tcp")),
        vxlan(inner6(l4="echo")),
        vxlan(inner6(l4="reply")),
        vxlan(inner6(l4="ns")),  # neighbour solicitation: link-local to solicited-node multicast
        vxlan(inner6(tag=20)),  # inner 802.1Q before IPv6
        vxlan(inner6(tag=0, l4="tcp")),  # priority tag
        vxlan(inner6(tag=4094), tags=[("s", 100), ("c", 200)]),  # QinQ outside, 802.1Q inside
        vxlan(inner6(l4="none", pad=6)),  # IPv6 with no next header (59), padded to 60 bytes
        vxlan(inner6(tag=7, l4="none", pad=2)),  # the same behind a tag
        vxlan(inner6(l4="echo", pad=9)),  # padding after a packet that needed none
        vxlan(inner6(fl=0xfffff, tc=0xff)),  # every bit of the traffic class and flow label
        vxlan(inner6(fl=1, tc=0, hlim=1)),
        vxlan(inner6(fl=0, tc=tclass(46, 0), hlim=255)),  # flow label 0, EF
        # Extension headers: decoding stops at the first one. What follows each is not UDP,
        # which tshark would decode past the extension header.
        vxlan(inner6(ext=[IPv6ExtHdrHopByHop(options=[RouterAlert()]), ICMPv6MLReport()], l4="none")),  # MLD
        vxlan(inner6(ext=[IPv6ExtHdrHopByHop()], l4="tcp")),
        vxlan(inner6(ext=[IPv6ExtHdrDestOpt()], l4="echo")),
        vxlan(inner6(ext=[IPv6ExtHdrDestOpt(nh=59)], l4="none")),
        vxlan(inner6(ext=[IPv6ExtHdrRouting(addresses=[ip6("doc"), ip6("doc")])], l4="tcp")),  # type 0, 2 segments left
        vxlan(inner6(ext=[IPv6ExtHdrRouting(type=2, segleft=1, addresses=[ip6("doc")])], l4="tcp")),  # mobile IPv6 type 2
        vxlan(inner6(ext=[IPv6ExtHdrFragment(m=1, id=rnd.randrange(1 << 32))], l4="udp")),  # first fragment, UDP inside
        vxlan(inner6(ext=[IPv6ExtHdrFragment(nh=17, offset=100, m=0, id=rnd.randrange(1 << 32)), Raw(b"f" * 24)], l4="none")),
        vxlan(inner6(ext=[IPv6ExtHdrFragment(m=0, offset=0, id=1)], l4="echo")),  # atomic fragment
        vxlan(inner6(ext=[IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(), IPv6ExtHdrFragment(m=1, id=2)], l4="udp")),
        # NVGRE over IPv4 carrying IPv6.
        nvgre(inner6()),
        nvgre(inner6(l4="tcp"), vsid=0xffffff, flow=255),
        nvgre(inner6(l4="echo", tag=300), tags=[("c", 3000)]),
        nvgre(inner6(l4="ns")),
        nvgre(inner6(ext=[IPv6ExtHdrHopByHop()], l4="echo")),
        # VXLAN over an IPv6 underlay: the UDP checksum computed, or 0 (RFC 6935).
        vxlan6(inner()),
        vxlan6(inner6()),
        vxlan6(inner(), chksum=0),
        vxlan6(inner6(), chksum=0),
        vxlan6(inner6(l4="tcp", tag=55), tags=[("c", 12)], vni=16777215),
        vxlan6(inner(tag=9), tags=[("s", 10), ("c", 11)], chksum=0, vni=0),
        vxlan6(inner(l4="icmp"), tc=tclass(10, 2), fl=0),
        vxlan6(inner6(l4="echo"), tc=tclass(0, 3), chksum=0),
        vxlan6(inner6(l4="none", pad=6), flags=0x0c),  # reserved VXLAN bit: ignored on receipt
        # NVGRE over an IPv6 underlay (next header 47).
        nvgre6(inner()),
        nvgre6(inner6()),
        nvgre6(inner6(l4="tcp", tag=1), tags=[("c", 4000)], vsid=1, flow=0),
        nvgre6(inner(l4="tcp"), vsid=0, flow=128),
        # Untunnelled IPv6.
        inner6(),
        inner6(l4="tcp"),
        inner6(tag=100),
        inner6(l4="echo"),
        inner6(l4="ns"),
        inner6(l4="none", pad=6),  # 54 bytes, padded to 60
        inner6(pad=12),  # 12 bytes after the IPv6 payload
    ]
    # Every ECN codepoint with assorted DSCP in the inner traffic class, both tunnels.
    for ecn, dscp in [(0, 0), (1, 0), (2, 0), (3, 0), (0, 46), (1, 10), (2, 26), (3, 34), (2, 63), (1, 48)]:
        tunnel = rnd.choice([vxlan, nvgre])
        frames.append(tunnel(inner6(tc=tclass(dscp, ecn), l4=rnd.choice(["udp", "udp", "tcp", "echo"]))))
    # Wrong UDP checksums over IPv6 are not errors: outer (IPv6 underlay) and inner.
    frames.append(corrupt_udp(vxlan6(inner()), 1))
    frames.append(corrupt_udp(vxlan6(inner6()), 1))
    frames.append(corrupt_udp(vxlan(inner6()), 2))
    frames.append(corrupt_udp(vxlan6(inner6()), 2))
    frames.append(corrupt_udp(nvgre6(inner6()), 1))
    frames.append(corrupt_udp(inner6(), 1))
    # A zero UDP checksum over IPv6 outside a tunnel: illegal (RFC 8200), not an error here.
    frames.append(inner6(l4="none") / UDP(sport=port(), dport=port(), chksum=0) / Raw(b"zero"))
    frames[-1][IPv6].nh = 17
    frames[-1] = Ether(bytes(frames[-1]))
    # Assorted.
    for _ in range(12):
        under = rnd.choice([vxlan, nvgre, vxlan6, nvgre6])
        frames.append(under(rnd.choice([inner6, inner6, inner])(tag=rnd.choice([None, rnd.randrange(1, 4095)]))))
    return frames


def malformed_frames():
    """(frame, layer the error must name)."""
    cases = []

    def consistent(payload):  # VXLAN over IPv4 with every outer length right
        return bytes(outer_eth() / IP(src=ip(), dst=ip()) / UDP(sport=50000, dport=4789) / VXLAN(vni=6) / Raw(payload))

    def consistent6(payload):  # the same over IPv6
        return bytes(outer_eth() / ipv6_hdr() / UDP(sport=50000, dport=4789) / VXLAN(vni=6) / Raw(payload))

    # IPv6 header cut short, outside and inside the tunnels.
    full = bytes(inner6())
    cases += [(full[:14 + 20], "ipv6"), (full[:14 + 39], "ipv6"), (full[:14 + 1], "ipv6")]
    tagged = bytes(inner6(tag=5))
    cases.append((tagged[:18 + 10], "ipv6"))
    cases.append((bytes(vxlan6(inner()))[:14 + 30], "ipv6"))  # outer IPv6 of a tunnel frame
    cases.append((consistent(bytes(inner6())[:14 + 20]), "ipv6"))
    cases.append((consistent(bytes(inner6(tag=8))[:18 + 39]), "ipv6"))
    cases.append((consistent6(bytes(inner6())[:14 + 8]), "ipv6"))
    gre = bytes(GRE(key_present=1, key=0x10920700, proto=0x6558)) + bytes(inner6())[:14 + 24]
    cases.append((bytes(outer_eth() / IP(src=ip(), dst=ip(), proto=47) / Raw(gre)), "ipv6"))
    # Payload length running past the captured frame.
    f = Ether(bytes(inner6()))
    f[IPv6].plen += 1
    cases.append((bytes(f), "ipv6"))
    f = Ether(bytes(inner6(l4="tcp")))
    f[IPv6].plen = 400
    cases.append((bytes(f), "ipv6"))
    f = Ether(bytes(vxlan6(inner())))
    f[IPv6].plen += 30
    cases.append((bytes(f), "ipv6"))
    f = Ether(bytes(inner6(l4="echo")))
    f[IPv6].plen += 8
    cases.append((consistent(bytes(f)), "ipv6"))
    f = Ether(bytes(inner6(l4="none")))
    f[IPv6].plen = 1
    cases.append((bytes(f), "ipv6"))  # no next header, 1 byte promised, none there
    # Version field not 6 behind EtherType 0x86dd.
    cases.append((bytes(Ether(dst=mac(), src=mac(), type=0x86dd) / IP(src=ip(), dst=ip()) / UDP(sport=1, dport=2)), "ipv6"))
    f = Ether(bytes(inner6()))
    f[IPv6].version = 5
    cases.append((bytes(f), "ipv6"))
    f = Ether(bytes(inner6(tag=44)))
    f[IPv6].version = 4
    cases.append((bytes(f), "ipv6"))
    f = Ether(bytes(inner6()))
    f[IPv6].version = 0
    cases.append((consistent(bytes(f)), "ipv6"))
    f = Ether(bytes(inner6()))
    f[IPv6].version = 15
    cases.append((consistent6(bytes(f)), "ipv6"))
    # UDP over IPv6 with a length field below 8 or past the payload.
    for n in (7, 0):
        f = Ether(bytes(inner6(l4="udp")))
        f[UDP].len = n
        cases.append((bytes(f), "udp"))
    f = Ether(bytes(inner6(l4="udp")))
    f[UDP].len += 1
    cases.append((bytes(f), "udp"))
    f = Ether(bytes(vxlan6(inner())))
    f[UDP].len = 400
    cases.append((bytes(f), "udp"))
    f = Ether(bytes(vxlan6(inner())))
    f[UDP].len = 4
    cases.append((bytes(f), "udp"))
    f = Ether(bytes(inner6(l4="udp")))
    f[UDP].len = 7
    cases.append((consistent(bytes(f)), "udp"))
    f = Ether(bytes(inner6(l4="udp")))
    f[UDP].len += 20
    cases.append((consistent6(bytes(f)), "udp"))
    # UDP header cut short inside a consistent IPv6 payload.
    f = Ether(bytes(inner6(l4="none")) + b"\x30\x39\x00")
    f[IPv6].nh, f[IPv6].plen = 17, 3
    cases.append((bytes(f), "udp"))
    # Tunnel errors over an IPv6 underlay.
    cases.append((bytes(vxlan6(inner6(), flags=0x00)), "vxlan"))
    gre = bytes(GRE(key_present=0, proto=0x6558)) + bytes(inner6())
    cases.append((bytes(outer_eth() / ipv6_hdr(nh=47) / Raw(gre)), "nvgre"))
    return cases


def plain_frames():
    """Untunnelled IPv6 Ethernet frames as a VM or container would send them, to be encapsulated."""
    frames = [inner6(), inner6(tag=100), inner6(l4="tcp"), inner6(l4="echo"), inner6(l4="ns"),
              inner6(ext=[IPv6ExtHdrFragment(m=1, id=77)], l4="udp"),
              inner6(tc=tclass(0, 0)), inner6(tc=tclass(0, 1)), inner6(tc=tclass(0, 2)), inner6(tc=tclass(0, 3)),
              inner6(tc=tclass(46, 2), l4="tcp"), inner6(tc=tclass(10, 3)), inner6(fl=0xfffff), inner6(fl=0)]
    sizes = [0, 1, 1400] + [rnd.randrange(0, 1401) for _ in range(17)]
    for n in sizes:
        l4 = rnd.choice([UDP(sport=port(), dport=port()), TCP(sport=port(), dport=port(), flags="PA"),
                         ICMPv6EchoRequest(id=rnd.randrange(65536))])
        frames.append(inner6(tag=rnd.choice([None, 7]), l4="none") / l4 / Raw(b"p" * n))
        frames[-1][IPv6].nh = {UDP: 17, TCP: 6}.get(type(l4), 58)
        frames[-1] = Ether(bytes(frames[-1]))
    return frames


# A decoder that follows shared/CONTRACTS.md, to check the frames before writing them.

class Bad(Exception):
    def __init__(self, layer, why):
        super().__init__(f"{layer}: {why}")
        self.layer = layer


def _sum16(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def contract_decode(raw):
    """(layers, None) or (layers so far, layer named by the error)."""
    layers = []
    try:
        _ethernet(raw, layers)
        return layers, None
    except Bad as e:
        return layers, e.layer


def _ethernet(b, layers):
    if len(b) < 14:
        raise Bad("ethernet", "truncated")
    et = int.from_bytes(b[12:14], "big")
    layers.append({"layer": "ethernet", "dst": b[0:6].hex(":"), "src": b[6:12].hex(":"), "ethertype": et})
    off = 14
    while et in (0x8100, 0x88a8, 0x9100):
        if len(b) < off + 4:
            raise Bad("vlan", "truncated")
        tci, nxt = struct.unpack("!HH", b[off:off + 4])
        layers.append({"layer": "vlan", "tpid": et, "pcp": tci >> 13, "dei": bool(tci & 0x1000),
                       "vid": tci & 0xfff, "ethertype": nxt})
        et, off = nxt, off + 4
    if et == 0x0800:
        _ipv4(b[off:], layers)
    elif et == 0x86dd:
        _ipv6(b[off:], layers)


def _ipv4(b, layers):
    if len(b) < 20:
        raise Bad("ipv4", "truncated")
    if b[0] >> 4 != 4 or b[0] & 15 < 5:
        raise Bad("ipv4", "version or IHL")
    ihl = (b[0] & 15) * 4
    total = int.from_bytes(b[2:4], "big")
    if len(b) < ihl or total < ihl or total > len(b):
        raise Bad("ipv4", "length")
    flags = int.from_bytes(b[6:8], "big")
    layers.append({"layer": "ipv4", "src": str(ipaddress.IPv4Address(b[12:16])),
                   "dst": str(ipaddress.IPv4Address(b[16:20])), "ihl": ihl // 4, "total_len": total,
                   "id": int.from_bytes(b[4:6], "big"), "df": bool(flags & 0x4000), "mf": bool(flags & 0x2000),
                   "frag_offset": flags & 0x1fff, "ttl": b[8], "protocol": b[9],
                   "checksum_ok": _sum16(b[:ihl]) == 0xffff})
    if flags & 0x3fff:
        return
    pseudo = b[12:20] + bytes([0, b[9]])
    _transport(b[9], b[ihl:total], pseudo, layers, v6=False)


def _ipv6(b, layers):
    if len(b) < 40:
        raise Bad("ipv6", "truncated")
    if b[0] >> 4 != 6:
        raise Bad("ipv6", "version")
    vtf = int.from_bytes(b[0:4], "big")
    plen = int.from_bytes(b[4:6], "big")
    if 40 + plen > len(b):
        raise Bad("ipv6", "payload length")
    tc = (vtf >> 20) & 0xff
    layers.append({"layer": "ipv6", "src": str(ipaddress.IPv6Address(b[8:24])),
                   "dst": str(ipaddress.IPv6Address(b[24:40])), "dscp": tc >> 2, "ecn": tc & 3,
                   "flow_label": vtf & 0xfffff, "payload_len": plen, "next_header": b[6], "hop_limit": b[7]})
    pseudo = b[8:40] + bytes([0, b[6]])
    _transport(b[6], b[40:40 + plen], pseudo, layers, v6=True)


def _transport(proto, b, pseudo, layers, v6):
    if proto == 17:
        if len(b) < 8:
            raise Bad("udp", "truncated")
        sport, dport, ulen, ck = struct.unpack("!HHHH", b[:8])
        if ulen < 8 or ulen > len(b):
            raise Bad("udp", "length")
        ok = None if ck == 0 else _sum16(pseudo[:-2] + ulen.to_bytes(2, "big") + pseudo[-2:] + b[:ulen]) == 0xffff
        layers.append({"layer": "udp", "src_port": sport, "dst_port": dport, "len": ulen, "checksum": ck,
                       "checksum_ok": ok})
        if dport == 4789:
            v = b[8:ulen]
            if len(v) < 8:
                raise Bad("vxlan", "truncated")
            if not v[0] & 0x08:
                raise Bad("vxlan", "I flag")
            layers.append({"layer": "vxlan", "flags": v[0], "vni": int.from_bytes(v[4:7], "big")})
            _ethernet(v[8:], layers)
    elif proto == 47:
        if len(b) < 4:
            raise Bad("nvgre", "truncated")
        bits, ptype = struct.unpack("!HH", b[:4])
        if bits & 0x8000 or bits & 0x1000 or not bits & 0x2000 or bits & 7 or ptype != 0x6558:
            raise Bad("nvgre", "not NVGRE")
        if len(b) < 8:
            raise Bad("nvgre", "truncated")
        layers.append({"layer": "nvgre", "vsid": int.from_bytes(b[4:7], "big"), "flow_id": b[7]})
        _ethernet(b[8:], layers)


def project(layers):
    """Our layers in tshark's terms, as tests/conformance.rs and shared/conformance/check.py see them."""
    got = {f: [] for f in FIELDS}
    for L in layers:
        k = L["layer"]
        if k == "ethernet":
            got["eth.dst"].append(L["dst"]); got["eth.src"].append(L["src"]); got["eth.type"].append(L["ethertype"])
        elif k == "vlan" and L["tpid"] == 0x88a8:
            got["ieee8021ad.id"].append(L["vid"])
        elif k == "vlan":
            got["vlan.id"].append(L["vid"]); got["vlan.priority"].append(L["pcp"]); got["vlan.etype"].append(L["ethertype"])
        elif k == "ipv4":
            for f, key in [("ip.src", "src"), ("ip.dst", "dst"), ("ip.len", "total_len"), ("ip.id", "id"),
                           ("ip.flags.df", "df"), ("ip.flags.mf", "mf"), ("ip.frag_offset", "frag_offset"),
                           ("ip.ttl", "ttl"), ("ip.proto", "protocol"), ("ip.checksum.status", "checksum_ok")]:
                got[f].append(L[key])
            got["ip.hdr_len"].append(L["ihl"] * 4)
        elif k == "ipv6":
            for f, key in [("ipv6.src", "src"), ("ipv6.dst", "dst"), ("ipv6.flow", "flow_label"),
                           ("ipv6.plen", "payload_len"), ("ipv6.nxt", "next_header"), ("ipv6.hlim", "hop_limit")]:
                got[f].append(L[key])
            got["ipv6.tclass"].append(L["dscp"] << 2 | L["ecn"])
        elif k == "udp":
            for f, key in [("udp.srcport", "src_port"), ("udp.dstport", "dst_port"), ("udp.length", "len"),
                           ("udp.checksum.status", "checksum_ok")]:
                got[f].append(L[key])
        elif k == "vxlan":
            got["vxlan.vni"].append(L["vni"]); got["vxlan.flags"].append(L["flags"])
        elif k == "nvgre":
            got["gre.key"].append(L["vsid"] << 8 | L["flow_id"])
    return got


def normalise(field, v):
    """tshark's text as tests/conformance.rs reads it. IPv6 addresses stay text: tshark's must be
    the RFC 5952 form Python's ipaddress prints."""
    if field in ("ip.flags.df", "ip.flags.mf"):
        return v == "1"
    if field.endswith("checksum.status"):
        return {"1": True, "0": False}.get(v)  # 2 unverified, 3 not present, 4 illegal: null
    if field in ("eth.src", "eth.dst", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst"):
        return v.lower()
    n = int(v, 16) if v.startswith("0x") else int(v)
    return n >> 8 if field == "vxlan.flags" else n


def tshark_fields(pcap, extra=()):
    return mf.tshark_fields(pcap, FIELDS + list(extra))


def check_against_tshark(name, pcap, frames):
    rows = tshark_fields(pcap, extra=["frame.protocols"])
    assert len(rows) == len(frames), f"{name}: tshark gave {len(rows)} rows for {len(frames)} frames"
    problems = []
    for i, (row, frame) in enumerate(zip(rows, frames), 1):
        layers, err = contract_decode(bytes(frame))
        if err:
            problems.append(f"{name}#{i}: the contract decoder fails at {err}")
            continue
        want = project(layers)
        for f in FIELDS:
            theirs = [normalise(f, v) for v in row[f]]
            if theirs != want[f]:
                problems.append(f"{name}#{i} ({row['frame.protocols'][0]}): {f}: tshark {theirs}, contract {want[f]}")
    if problems:
        sys.exit("\n".join(problems))
    return rows


def stamped(frames):
    """Fixed timestamps, one second apart, so that the captures come out byte for byte the same."""
    for i, f in enumerate(frames):
        f.time = 1700000000 + i
    return frames


def main(outdir):
    good = stamped(good_frames())
    pcap = os.path.join(outdir, "ipv6.pcap")
    wrpcap(pcap, good)
    rows = check_against_tshark("ipv6", pcap, good)
    json.dump([{f: r[f] for f in FIELDS} for r in rows], open(os.path.join(outdir, "ipv6.tshark.json"), "w"), indent=0)

    plain = stamped(plain_frames())
    pcap = os.path.join(outdir, "plain6.pcap")
    wrpcap(pcap, plain)
    check_against_tshark("plain6", pcap, plain)

    bad = malformed_frames()
    for i, (b, layer) in enumerate(bad, 1):
        _, err = contract_decode(b)
        assert err == layer, f"ipv6-malformed#{i}: the contract decoder names {err}, the meta file {layer}"
    w = RawPcapWriter(os.path.join(outdir, "ipv6-malformed.pcap"), linktype=1)  # raw bytes, as cut
    w.write_header(None)
    for i, (b, _) in enumerate(bad):
        w.write_packet(b, sec=1700000000 + i, usec=0)
    w.close()
    json.dump({"layers": [layer for _, layer in bad]}, open(os.path.join(outdir, "ipv6-malformed.meta.json"), "w"))


if __name__ == "__main__":
    main(sys.argv[1])
