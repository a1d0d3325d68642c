#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora, fuzz/corpus/<target>/seed-*, from the captures
in tests/data. Deterministic: the same captures give the same files.

    python3 fuzz/seed_corpus.py

Each target's input is described in fuzz/src/checks/: `decode` takes a frame;
`header` a selector byte (0 Ethernet, 1 VLAN, 2 IPv4, 3 IPv6, 4 UDP, 5 VXLAN, 6 Geneve,
7 NVGRE)
and the bytes from that header on; `decapsulate` and `translate` a 16-byte settings head
and a frame; `encapsulate` a 96-byte settings head and an inner frame; `payload`
(fuzz/src/payload.rs) a 48-byte settings head and a socket payload, the tunnel header
onward; `offload` (fuzz/src/offload.rs) a 10-byte virtio_net_hdr and a super-frame, made
here (`offload_seeds`): TCP over IPv4 and IPv6 and UDP for USO, tagged or not, with TCP
options, PSH, FIN, CWR, and frames with NEEDS_CSUM and no GSO. Heads are random bytes from
a fixed seed: the checks map every head onto settings, most of them valid; a payload's
head has its first byte name its kind (modulo 3: VXLAN, NVGRE, Geneve). `pcap` takes a
capture file: the captures themselves, cut to a few records (`pcap_seeds`).

Besides the captured frames, tunnel frames over IPv4 are written again over an IPv6
underlay (`over_ipv6`), so every target starts from both families.
"""

import hashlib
import ipaddress
import random
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
CORPUS = ROOT / "fuzz" / "corpus"

SETTINGS_LEN = 16  # checks::SETTINGS_LEN
ENCAP_SETTINGS_LEN = 96  # checks::ENCAP_SETTINGS_LEN
PAYLOAD_SETTINGS_LEN = 48  # payload::PAYLOAD_SETTINGS_LEN
OVER_IPV6 = 96  # tunnel frames over IPv4 written again over IPv6
MAX_FRAME = 600  # keeps the committed corpus small; longer frames add no new paths

VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)


def frames(name):
    """The frames of a pcap file, either byte order."""
    data = (DATA / name).read_bytes()
    magic = data[:4]
    order = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    at, out = 24, []
    while at + 16 <= len(data):
        _, _, incl, _ = struct.unpack(order + "IIII", data[at : at + 16])
        out.append(data[at + 16 : at + 16 + incl])
        at += 16 + incl
    return out


def headers(frame, at=0, depth=0):
    """(selector, offset) of each header of `frame`, as the crate decodes them."""
    out = []
    if len(frame) < at + 14:
        return out
    out.append((0, at))
    ethertype = struct.unpack(">H", frame[at + 12 : at + 14])[0]
    pos = at + 14
    for _ in range(2):
        if ethertype not in VLAN_TPIDS or len(frame) < pos + 4:
            break
        out.append((1, pos))
        ethertype = struct.unpack(">H", frame[pos + 2 : pos + 4])[0]
        pos += 4
    if ethertype == 0x0800 and len(frame) >= pos + 20:
        out.append((2, pos))
        ihl = (frame[pos] & 0x0F) * 4
        protocol = frame[pos + 9]
        fragment = struct.unpack(">H", frame[pos + 6 : pos + 8])[0] & 0x3FFF
        if fragment:
            return out
        pos += ihl
    elif ethertype == 0x86DD and len(frame) >= pos + 40:
        out.append((3, pos))
        protocol = frame[pos + 6]
        pos += 40
    else:
        return out
    if protocol == 17 and len(frame) >= pos + 8:
        out.append((4, pos))
        dst_port = struct.unpack(">H", frame[pos + 2 : pos + 4])[0]
        if dst_port == 4789 and depth == 0 and len(frame) >= pos + 16:
            out.append((5, pos + 8))
            out += headers(frame, pos + 16, 1)
        elif dst_port == 6081 and depth == 0 and len(frame) >= pos + 16:
            out.append((6, pos + 8))
            header_len = 8 + (frame[pos + 8] & 0x3F) * 4
            # An Ethernet payload decodes on; an IP payload (or another) ends here.
            if frame[pos + 10 : pos + 12] == b"\x65\x58":
                out += headers(frame, pos + 8 + header_len, 1)
    elif protocol == 47 and depth == 0 and len(frame) >= pos + 8:
        out.append((7, pos))
        out += headers(frame, pos + 8, 1)
    return out


def tunnel_header_len(frame, selector, at):
    """Bytes of the tunnel header `selector` at `at`: 8, or Geneve's with its options."""
    return 8 + (frame[at] & 0x3F) * 4 if selector == 6 else 8


def inner_frames(frame):
    """The inner frame of a tunnel frame, if any."""
    for selector, at in headers(frame):
        if selector in (5, 6, 7):
            return [frame[at + tunnel_header_len(frame, selector, at) :]]
    return []


def payload_of(frame):
    """(the kind: 0 VXLAN, 1 NVGRE, 2 Geneve; the bytes a UDP or raw GRE socket would
    give) of a tunnel frame: its tunnel header onward, to the end of the UDP datagram or IP
    packet."""
    found = headers(frame)
    for index, (selector, at) in enumerate(found):
        if selector in (5, 6):
            udp = at - 8
            kind = 0 if selector == 5 else 2
            return kind, frame[at : udp + struct.unpack(">H", frame[udp + 4 : udp + 6])[0]]
        if selector == 7:
            ip_selector, ip = found[index - 1]
            if ip_selector == 2:
                end = ip + struct.unpack(">H", frame[ip + 2 : ip + 4])[0]
            else:
                end = ip + 40 + struct.unpack(">H", frame[ip + 4 : ip + 6])[0]
            return 1, frame[at:end]
    return None


def internet_checksum(data):
    """RFC 1071: the one's complement of the one's complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# Outer sources of the frames written over IPv6: mostly VTEPs, sometimes an address a
# VTEP cannot have (or, loopback, may have only by setting).
IPV6_SOURCES = ["fd00::1"] * 6 + [
    "2001:db8::10",
    "fe80::1",
    "::1",
    "::",
    "ff02::1",
    "::ffff:10.0.0.1",
]
IPV6_DESTINATION = ipaddress.IPv6Address("fd00::2").packed


def outer_ipv4(frame):
    """Where the outer IPv4 header of a tunnel frame over IPv4 starts, its lengths inside
    the frame; None for any other frame."""
    found = headers(frame)
    ips = [(selector, at) for selector, at in found if selector in (2, 3)]
    if not ips or ips[0][0] != 2 or not {5, 6, 7} & {selector for selector, _ in found}:
        return None
    ip = ips[0][1]
    end = ip + struct.unpack(">H", frame[ip + 2 : ip + 4])[0]
    if not ip + (frame[ip] & 0x0F) * 4 + 8 <= end <= len(frame):
        return None
    return ip


def over_ipv6(frame, rng):
    """`frame`, a tunnel frame over IPv4 (one `outer_ipv4` finds), over IPv6 instead. The
    outer Ethernet header and tags stay; the IPv6 header takes the IPv4 header's TTL as
    its hop limit, its TOS as traffic class, a drawn flow label and source; the tunnel and
    what follows the IP packet stay; VXLAN's UDP checksum is computed over the IPv6
    pseudo-header, or zero (RFC 6935) one time in four."""
    ip = outer_ipv4(frame)
    ihl = (frame[ip] & 0x0F) * 4
    tos, ttl, protocol = frame[ip + 1], frame[ip + 8], frame[ip + 9]
    end = ip + struct.unpack(">H", frame[ip + 2 : ip + 4])[0]
    payload = bytearray(frame[ip + ihl : end])
    src = ipaddress.IPv6Address(rng.choice(IPV6_SOURCES)).packed
    if protocol == 17:
        payload[6:8] = b"\0\0"
        if rng.random() >= 0.25:
            pseudo = src + IPV6_DESTINATION + struct.pack(">I3xB", len(payload), 17)
            payload[6:8] = struct.pack(">H", internet_checksum(pseudo + bytes(payload)) or 0xFFFF)
    first_word = 6 << 28 | tos << 20 | rng.getrandbits(20)
    ipv6 = struct.pack(">IHBB", first_word, len(payload), protocol, ttl) + src + IPV6_DESTINATION
    return frame[: ip - 2] + b"\x86\xdd" + ipv6 + bytes(payload) + frame[end:]


def ones_sum(data):
    """RFC 1071's sum, folded to 16 bits (not complemented)."""
    return ~internet_checksum(data) & 0xFFFF


def offload_seed(rng):
    """A virtio_net_hdr and the super-frame it describes, as a TAP device hands them over
    with NEEDS_CSUM: the transport checksum field holds the pseudo-header's sum."""
    v6, udp = rng.random() < 0.5, rng.random() < 0.25
    frame = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1])
    if rng.random() < 0.3:
        frame += struct.pack(">HH", 0x8100, rng.randrange(1, 4095))
    l3 = len(frame) + 2
    options = bytes(rng.choice([[], [1, 1, 1, 1], [1, 1, 8, 10] + [rng.getrandbits(8) for _ in range(8)]]))
    payload = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, rng.randrange(2, 1400)])))
    proto = 17 if udp else 6
    transport_len = (8 if udp else 20 + len(options)) + len(payload)
    if v6:
        frame += struct.pack(">HIHBB", 0x86DD, 0x60000000 | rng.getrandbits(20), transport_len, proto, 64)
        addresses = ipaddress.IPv6Address("fd00::1").packed + IPV6_DESTINATION
        frame += addresses
    else:
        flags = rng.choice([0, 0x4000])
        header = struct.pack(">BBHHHBBH", 0x45, 0, 20 + transport_len, rng.getrandbits(16), flags, 64, proto, 0)
        addresses = bytes([10, 0, 0, 1, 10, 0, 0, 2])
        header += addresses
        frame += struct.pack(">H", 0x0800) + header[:10] + struct.pack(">H", internet_checksum(header)) + header[12:]
    l4 = len(frame)
    if udp:
        frame += struct.pack(">HHHH", rng.getrandbits(16), 443, transport_len, 0)
    else:
        tcp_flags = 0x10 | rng.choice([0, 0, 0x08, 0x01, 0x80, 0x09])
        data_offset = (20 + len(options)) // 4 << 4
        frame += struct.pack(">HHIIBBHHH", rng.getrandbits(16), 443, rng.getrandbits(32), rng.getrandbits(32), data_offset, tcp_flags, 512, 0, 0)
        frame += options
    headers_len = len(frame)
    frame += payload
    pseudo = addresses + struct.pack(">HI" if v6 else ">BBH", *((proto, transport_len) if v6 else (0, proto, transport_len)))
    check_at = l4 + (6 if udp else 16)
    frame = frame[:check_at] + struct.pack(">H", ones_sum(pseudo)) + frame[check_at + 2 :]
    gso_type = 5 if udp else (4 if v6 else 1)
    if rng.random() < 0.15:
        gso_type = 0  # NEEDS_CSUM without GSO: complete_checksum's case
    gso_size = rng.choice([1, 7, rng.randrange(1, 600), 536, 1448])
    hdr = struct.pack("<BBHHHH", 1, gso_type, headers_len, gso_size, l4, 6 if udp else 16)
    return hdr + frame


# Captures of another link type than Ethernet: their records are no Ethernet frames for
# the frame seeds, and links.pcapng already gives `pcap` every link type's records.
NOT_ETHERNET = {"kernel-any.pcap"}


def pcap_seeds(rng):
    """Captures for `pcap`: each pcap of tests/data cut to its first records of at most
    MAX_FRAME bytes, written again in the other byte order and the other resolution;
    kernel.pcapng's first blocks; links.pcapng; and each of them cut short at a random
    byte."""
    whole = []
    for path in sorted(p for p in DATA.glob("*.pcap") if p.name not in NOT_ETHERNET):
        data = path.read_bytes()
        order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        nanoseconds = data[:4] in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        fields = struct.unpack(order + "HHiIII", data[4:24])
        records, at = [], 24
        while at + 16 <= len(data) and len(records) < 3:
            sec, units, incl, orig = struct.unpack(order + "IIII", data[at : at + 16])
            if incl <= MAX_FRAME:
                records.append((sec, units, incl, orig, data[at + 16 : at + 16 + incl]))
            at += 16 + incl
        for out_order, out_ns in ((order, nanoseconds), (">" if order == "<" else "<", not nanoseconds)):
            magic = 0xA1B23C4D if out_ns else 0xA1B2C3D4
            seed = struct.pack(out_order + "IHHiIII", magic, *fields)
            for sec, units, incl, orig, frame in records:
                units = units * 1000 if out_ns and not nanoseconds else units
                units = units // 1000 if nanoseconds and not out_ns else units
                seed += struct.pack(out_order + "IIII", sec, units, incl, orig) + frame
            whole.append(seed)
    ng = (DATA / "kernel.pcapng").read_bytes()
    at = 0
    while at + 8 <= len(ng) and at < 2000:
        at += struct.unpack("<I", ng[at + 4 : at + 8])[0]
    whole.append(ng[:at])
    # Records of every link type whose header a record's content reads (links.pcapng:
    # one interface each), last, so the cuts drawn for the seeds before stay as they were.
    whole.append((DATA / "links.pcapng").read_bytes())
    return whole + [seed[: rng.randrange(len(seed))] for seed in whole]


def header_seeds(frames_, rng, per_header=60):
    """Up to `per_header` seeds of each header, drawn from those of every frame."""
    seeds = {}
    for frame in frames_:
        for selector, at in headers(frame):
            seeds.setdefault(selector, []).append(bytes([selector]) + frame[at:])
    return [s for kind in seeds.values() for s in rng.sample(kind, min(per_header, len(kind)))]


def main():
    rng = random.Random(7348)
    offload_rng = random.Random(0x0FF10AD)
    captures = sorted(p.name for p in DATA.glob("*.pcap"))
    # tunnelwire's own outputs of plain.pcap and plain6.pcap: the same shapes as the
    # encap-* and encap6-* captures.
    captures = [c for c in captures if not c.startswith("translated")]
    # cut.pcap's records are plain UDP and VXLAN cut short, shapes the others hold; left
    # out, since any capture added changes every draw below.
    captures = [c for c in captures if c != "cut.pcap" and c not in NOT_ETHERNET]
    plain = [f for c in captures for f in frames(c) if len(f) <= MAX_FRAME]
    over_ipv4 = [f for f in plain if len(f) <= MAX_FRAME - 20 and outer_ipv4(f) is not None]
    plain += [over_ipv6(f, rng) for f in rng.sample(over_ipv4, min(OVER_IPV6, len(over_ipv4)))]
    tunnelled = [f for f in plain if inner_frames(f)]
    inputs = {
        "decode": plain,
        "header": header_seeds(plain, rng),
        "decapsulate": [bytes(rng.getrandbits(8) for _ in range(SETTINGS_LEN)) + f for f in tunnelled],
        "translate": [bytes(rng.getrandbits(8) for _ in range(SETTINGS_LEN)) + f for f in tunnelled],
        "encapsulate": [
            bytes(rng.getrandbits(8) for _ in range(ENCAP_SETTINGS_LEN)) + f
            for f in [f for c in ("plain.pcap", "plain6.pcap") for f in frames(c)]
            + [i for f in tunnelled for i in inner_frames(f)]
            if len(f) <= MAX_FRAME
        ],
        "payload": [
            bytes([rng.randrange(85) * 3 + kind])
            + bytes(rng.getrandbits(8) for _ in range(PAYLOAD_SETTINGS_LEN - 1))
            + payload
            for kind, payload in map(payload_of, tunnelled)
        ],
        # These two with generators of their own: a capture added to tests/data, which
        # changes every draw above, leaves their seeds as they were.
        "offload": [offload_seed(offload_rng) for _ in range(160)],
        "pcap": pcap_seeds(random.Random(0xA1B2C3D4)),
    }
    for target, seeds in inputs.items():
        directory = CORPUS / target
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("seed-*"):
            old.unlink()
        unique = {hashlib.sha1(s).hexdigest()[:16]: s for s in seeds}
        for digest, seed in sorted(unique.items()):
            (directory / f"seed-{digest}").write_bytes(seed)
        size = sum(len(s) for s in unique.values())
        print(f"{target}: {len(unique)} seeds, {size} bytes")


if __name__ == "__main__":
    main()
