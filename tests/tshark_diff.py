#!/usr/bin/env python3
"""Compares `examples/dissect` with tshark on captures of your own: every frame whose
fields (the contract's, as shared/conformance/check.py compares them, Geneve's too)
differ is listed, as

    FILE#N: STOP ...   tshark decodes deeper where dissect stops (quietly or with an
                       error): what CONTRACTS.md has it do for a payload it does not
                       decode (ICMP's quoted packets, GRE that is not NVGRE, a nested
                       tunnel, IPv6 extension headers, a bad length field, ...)
    FILE#N: DIFF ...   a value differs, or dissect shows what tshark does not
    FILE#N: PPP ...    a raw IP record that Wireshark reads as PPP (see `read_as_ppp`)
    FILE#N: IPOPT ...  tshark ends at a malformed IPv4 option (see `ipv4_option_thrown`)

    cargo build --release --example dissect
    python3 tests/tshark_diff.py CAPTURE...

Captures of the link types `dissect` decodes are compared: Ethernet, and those whose link
header names the packet's protocol (Linux cooked SLL and SLL2, raw IP, BSD loopback), where
tshark shows no `eth` fields and `dissect` no `ethernet` layer; others are skipped. Run on
the 2,506 Ethernet
captures of tcpdump's, Zeek's and suricata-verify's test suites (see CHANGELOG.md), and in
CI on tests/random_frames.py's. Where Wireshark shows a value otherwise than it is on the
wire (two S-tags in one item, no `ip.dst` for an unaligned source route: see EXTRA), the
comparison follows Wireshark's rule rather than listing the frame.
"""
import ipaddress, json, subprocess, sys
from collections import Counter

DISSECT = "target/release/examples/dissect"

# tshark field -> (dissect layer, key); "svlan" is a vlan layer of TPID 0x88a8.
FIELDS = {
    "eth.dst": ("ethernet", "dst"), "eth.src": ("ethernet", "src"),
    "eth.type": ("ethernet", "ethertype"), "ieee8021ad.id": ("svlan", "vid"),
    "vlan.id": ("vlan", "vid"), "vlan.priority": ("vlan", "pcp"),
    "vlan.etype": ("vlan", "ethertype"), "ip.src": ("ipv4", "src"), "ip.dst": ("ipv4", "dst"),
    "ip.hdr_len": ("ipv4", "ihl_bytes"), "ip.len": ("ipv4", "total_len"), "ip.id": ("ipv4", "id"),
    "ip.flags.df": ("ipv4", "df"), "ip.flags.mf": ("ipv4", "mf"),
    "ip.frag_offset": ("ipv4", "frag_offset"), "ip.ttl": ("ipv4", "ttl"),
    "ip.proto": ("ipv4", "protocol"), "ip.checksum.status": ("ipv4", "checksum_ok"),
    "udp.srcport": ("udp", "src_port"), "udp.dstport": ("udp", "dst_port"),
    "udp.length": ("udp", "len"), "udp.checksum.status": ("udp", "checksum_ok"),
    "vxlan.vni": ("vxlan", "vni"), "vxlan.flags": ("vxlan", "flags"), "gre.key": ("nvgre", "key"),
    "ipv6.src": ("ipv6", "src"), "ipv6.dst": ("ipv6", "dst"), "ipv6.tclass": ("ipv6", "tclass"),
    "ipv6.flow": ("ipv6", "flow_label"), "ipv6.plen": ("ipv6", "payload_len"),
    "ipv6.nxt": ("ipv6", "next_header"), "ipv6.hlim": ("ipv6", "hop_limit"),
    "geneve.vni": ("geneve", "vni"), "geneve.proto_type": ("geneve", "protocol"),
    "geneve.flags.oam": ("geneve", "oam"), "geneve.flags.critical": ("geneve", "critical"),
    "geneve.option.class": ("geneve_option", "class"),
    "geneve.option.type": ("geneve_option", "type"),
}
# capinfos's names of the link types dissect decodes (a pcapng of several: "per-packet").
LINK_TYPES = {"ether", "linux-sll", "linux-sll2", "rawip", "rawip4", "rawip6", "null", "loop",
              "per-packet"}
BOOLS = {"ip.flags.df", "ip.flags.mf", "geneve.flags.oam", "geneve.flags.critical"}


def tshark_value(field, text):
    if field in BOOLS:
        return text in ("1", "True", "true")
    if field.endswith("checksum.status"):
        # 1 good, 0 bad; anything else (unverified, not present) is dissect's null.
        return {"1": True, "0": False}.get(text)
    if field in ("eth.src", "eth.dst", "ip.src", "ip.dst"):
        return text.lower()
    if field in ("ipv6.src", "ipv6.dst"):
        return str(ipaddress.ip_address(text))
    number = int(text, 16) if text.startswith("0x") else int(text)
    # tshark shows VXLAN's flags as 16 bits, the contract the first byte.
    return number >> 8 if field == "vxlan.flags" else number


def dissect_values(frame):
    """Each field's values in `frame` (dissect's JSON object), outermost first."""
    got = {field: [] for field in FIELDS}
    for layer in frame["layers"]:
        kind = layer["layer"]
        values = dict(layer)
        if kind == "vlan" and layer["tpid"] == 0x88A8:
            kind = "svlan"
        if kind == "ipv4":
            values["ihl_bytes"] = layer["ihl"] * 4
        if kind == "nvgre":
            values["key"] = layer["vsid"] << 8 | layer["flow_id"]
        if kind == "ipv6":
            values["tclass"] = layer["dscp"] << 2 | layer["ecn"]
            values["src"] = str(ipaddress.ip_address(layer["src"]))
            values["dst"] = str(ipaddress.ip_address(layer["dst"]))
        for field, (name, key) in FIELDS.items():
            # An 802.3 length in place of an EtherType has no tshark EtherType either.
            if name == kind and (key != "ethertype" or key in values):
                got[field].append(values[key])
            if name == "geneve_option" and kind == "geneve":
                got[field] += [option[key] for option in layer["options"]]
    return got


# Fields read beside FIELDS, for where Wireshark shows a value otherwise than dissect:
# - an S-tag followed by a second TPID 0x88A8 is one 802.1ad item of an S-VID and a C-VID,
#   not two `ieee8021ad.id` (to dissect both are S-tags);
# - IPv4 options' types and lengths: a source route's `ip.dst` (see `route_dst_left_out`).
EXTRA = ["ieee8021ad.svid", "ieee8021ad.cvid", "ip.opt.type", "ip.opt.len"]


def tshark_frames(path):
    """Each frame's values of FIELDS, of EXTRA (numbers), its protocols (tshark's
    `frame.protocols`, as text) and where a dissector threw (`_ws.malformed`: "[Malformed
    Packet: IPv4]", or empty)."""
    names = list(FIELDS) + EXTRA + ["frame.protocols", "_ws.malformed"]
    cmd = ["tshark", "-r", path, "-n", "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=\x1f", "-E", "separator=\x1e",
           "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
    for field in names:
        cmd += ["-e", field]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    frames = []
    for line in out.split("\n")[:-1]:
        columns = dict(zip(names, line.split("\x1e")))
        frame = {field: [tshark_value(field, v) for v in columns[field].split("\x1f")]
                 if columns[field] else [] for field in FIELDS}
        extra = {field: [int(v, 0) for v in columns[field].split("\x1f")]
                 if columns[field] else [] for field in EXTRA}
        frames.append((frame, extra, columns["frame.protocols"], columns["_ws.malformed"]))
    return frames


def read_as_ppp(link, protocols):
    """Wireshark reads a raw IP record (LINKTYPE_RAW) whose bytes 0-1, 6-7 or 1-2 are
    ff 03 as PPP in HDLC-like framing, before it looks at an IP version (`dissect_raw`:
    old Linux PPP and ISDN drivers wrote such records); dissect reads the link type as its
    definition says, an IP header first. An IPv6 header whose traffic class and flow
    label put ff 03 in bytes 1-2 is shown as PPP by tshark, as an IPv6 packet by dissect:
    such a frame is listed apart, not compared."""
    return link == "rawip" and protocols.startswith("raw:ppp")


def ipv4_option_thrown(malformed, protocols, frame, want, got):
    """Wireshark's IPv4 option dissectors read an option's fields whatever its length
    says: a record route of length 2 (RFC 791's minimum is 3: type, length, pointer)
    throws, and tshark shows nothing past that IPv4 header ("Malformed Packet: IPv4").
    dissect gives the options as bytes (the contract's `ipv4` layer has none) and goes
    on. A frame whose walk tshark ended so inside IPv4 options, with tshark's values
    dissect's cut short, is listed apart, not compared."""
    return ("[Malformed Packet: IPv4]" in malformed.split("\x1f")
            and protocols.split(":")[-1] == "ip"
            and any(layer["layer"] == "ipv4" and layer["ihl"] > 5 for layer in frame["layers"])
            and all(want[f] == got[f][:len(want[f])] for f in FIELDS))


def cut_pair_left_out(frame, got):
    """Wireshark reads an S-tag followed by TPID 0x88A8 as a pair, both VIDs at once: of a
    pair whose second tag the record cuts it shows neither. dissect's first tag of such a
    pair, its last layer before the cut, is left out of the comparison."""
    error, layers = frame["error"] or "", frame["layers"]
    if error.startswith("vlan ") and "truncated" in error and layers:
        last = layers[-1]
        if last["layer"] == "vlan" and last["tpid"] == last["ethertype"] == 0x88A8:
            got["ieee8021ad.id"].pop()


def s_tags_merged(want, got, extra):
    """With paired S-tags, tshark's S-tag VIDs of both kinds as one list to compare with
    dissect's. -T fields does not say where a pair stands among the frame's single S-tags,
    so the VIDs are compared as a multiset: when dissect's are among tshark's, tshark's
    list is dissect's followed by the others (a STOP if dissect stopped before them)."""
    paired = extra["ieee8021ad.svid"] + extra["ieee8021ad.cvid"]
    if not paired:
        return
    rest = Counter(want["ieee8021ad.id"] + paired)
    ours = got["ieee8021ad.id"]
    if Counter(ours) <= rest:
        want["ieee8021ad.id"] = ours + sorted((rest - Counter(ours)).elements())
    else:
        want["ieee8021ad.id"] = sorted(rest.elements())
        got["ieee8021ad.id"] = sorted(ours)


def route_dst_left_out(frame, want, got, extra):
    """tshark shows no `ip.dst` at all for an IPv4 header whose loose or strict source
    route (option 131, 137) has a length that leaves its last address unaligned (below 7,
    or not 3 more than a multiple of 4), though its summary line names the address
    dissect prints (Wireshark's `get_dst_offset`). Where one IPv4 header of the frame has
    options and tshark lists one `ip.dst` fewer, that header's is left out."""
    routes = zip(extra["ip.opt.type"], extra["ip.opt.len"])
    if not any(kind in (131, 137) and (length < 7 or length % 4 != 3) for kind, length in routes):
        return
    ipv4 = [layer for layer in frame["layers"] if layer["layer"] == "ipv4"]
    with_options = [i for i, layer in enumerate(ipv4) if layer["ihl"] > 5]
    if len(with_options) == 1 and len(want["ip.dst"]) == len(got["ip.dst"]) - 1:
        del got["ip.dst"][with_options[0]]


def main(paths):
    for path in paths:
        link = subprocess.run(["capinfos", "-T", "-E", "-r", path], capture_output=True,
                              text=True).stdout.split("\t")[-1].strip()
        if link not in LINK_TYPES:
            continue
        run = subprocess.run([DISSECT, path], capture_output=True, text=True)
        ours = [json.loads(line) for line in run.stdout.splitlines()]
        theirs = tshark_frames(path)
        if run.returncode != 0 or len(ours) != len(theirs):
            print(f"{path}: dissect exit {run.returncode}, {len(ours)} frames, tshark "
                  f"{len(theirs)}: {run.stderr.strip()[-200:]}")
        for index, (frame, (want, extra, protocols, malformed)) in enumerate(zip(ours, theirs)):
            if read_as_ppp(link, protocols) and frame["layers"]:
                print(f"{path}#{index + 1}: PPP tshark reads the record as {protocols}, "
                      f"dissect as {frame['layers'][0]['layer']}")
                continue
            got = dissect_values(frame)
            cut_pair_left_out(frame, got)
            s_tags_merged(want, got, extra)
            route_dst_left_out(frame, want, got, extra)
            differ = [(f, want[f], got[f]) for f in FIELDS if want[f] != got[f]]
            if not differ:
                continue
            if ipv4_option_thrown(malformed, protocols, frame, want, got):
                print(f"{path}#{index + 1}: IPOPT tshark ends at a malformed IPv4 option "
                      f"({protocols}), dissect reads on to {frame['layers'][-1]['layer']}")
                continue
            stop = all(g == w[:len(g)] for _, w, g in differ)
            detail = "; ".join(f"{f}: tshark {w} dissect {g}" for f, w, g in differ[:3])
            print(f"{path}#{index + 1}: {'STOP' if stop else 'DIFF'} "
                  f"error={frame['error']!r} {detail}"[:600])


if __name__ == "__main__":
    main(sys.argv[1:])
