#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora, fuzz/corpus/<target>/seed-*, from the captures
in tests/data. Deterministic: the same captures give the same files.

    python3 fuzz/seed_corpus.py

Each target's input is described in fuzz/src/checks.rs: `decode` takes a frame;
`header` a selector byte (0 Ethernet, 1 VLAN, 2 IPv4, 3 IPv6, 4 UDP, 5 VXLAN, 6 NVGRE)
and the bytes from that header on; `decapsulate` and `translate` a 16-byte settings head
and a frame; `encapsulate` a 64-byte settings head and an inner frame. Heads are random
bytes from a fixed seed: checks.rs maps every head onto settings, most of them valid.
"""

import hashlib
import random
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
CORPUS = ROOT / "fuzz" / "corpus"

SETTINGS_LEN = 16  # checks::SETTINGS_LEN
ENCAP_SETTINGS_LEN = 64  # checks::ENCAP_SETTINGS_LEN
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
    elif protocol == 47 and depth == 0 and len(frame) >= pos + 8:
        out.append((6, pos))
        out += headers(frame, pos + 8, 1)
    return out


def inner_frames(frame):
    """The inner frame of a tunnel frame, if any."""
    for selector, at in headers(frame):
        if selector in (5, 6):
            return [frame[at + 8 :]]
    return []


def header_seeds(frames_, rng, per_header=60):
    """Up to `per_header` seeds of each header, drawn from those of every frame."""
    seeds = {}
    for frame in frames_:
        for selector, at in headers(frame):
            seeds.setdefault(selector, []).append(bytes([selector]) + frame[at:])
    return [s for kind in seeds.values() for s in rng.sample(kind, min(per_header, len(kind)))]


def main():
    rng = random.Random(7348)
    captures = sorted(p.name for p in DATA.glob("*.pcap"))
    # tunnelwire's own outputs of plain.pcap: the same shapes as the encap-* captures.
    captures = [c for c in captures if not c.startswith("translated-")]
    plain = [f for c in captures for f in frames(c) if len(f) <= MAX_FRAME]
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
