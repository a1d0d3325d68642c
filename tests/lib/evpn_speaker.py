#!/usr/bin/env python3
"""A minimal iBGP speaker that announces and withdraws many EVPN routes, for
benches/evpn_scale.sh: for each of VTEPS remote VTEPs 10.98.X.Y, one inclusive multicast
route (type 3, PMSI ingress replication) and MACS MAC/IP routes (type 2, MAC only), route
target ASN:VNI, label VNI, the VXLAN encapsulation extended community (RFC 7432, 8365).

    evpn_speaker.py LOCAL PEER ASN VNI VTEPS MACS

It opens the session, then obeys lines on standard input: `announce` sends every route
(packed about a hundred to an UPDATE), `withdraw` withdraws them all, `quit` closes; each
prints "<command> done <unix time>" once the last byte is written.

Why not a second gobgpd fed through its API: gobgpd 3.10 checks each MAC/IP route added
through the API against its whole EVPN table for MAC mobility, so 100,000 routes take it
tens of minutes to take in (58,000 in 16 minutes, measured); a plain speaker costs the daemon under test only its own work.
"""
import socket
import struct
import sys
import threading
import time

AFI_L2VPN, SAFI_EVPN = 25, 70
MAX_MESSAGE = 4096  # RFC 4271 4.1: no extended messages negotiated
# Not 0 (no keepalives): gobgpd bounds each write to a peer by the hold time, and with 0
# its first UPDATE to us fails at once and it drops the session.
HOLD_TIME = 90


def message(kind, body):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def attribute(flags, kind, value):
    if len(value) > 255:
        return struct.pack("!BBH", flags | 0x10, kind, len(value)) + value
    return struct.pack("!BBB", flags, kind, len(value)) + value


def vtep_address(n):
    return socket.inet_aton(f"10.98.{n // 250}.{n % 250 + 1}")


def route_distinguisher(address):
    return struct.pack("!H", 1) + address + struct.pack("!H", 1)  # type 1: IP:1


def label(vni):
    return struct.pack("!I", vni)[1:]  # the VNI in the label's 24 bits (RFC 8365 5.1.3)


def multicast_route(address):
    body = route_distinguisher(address) + struct.pack("!IB", 0, 32) + address
    return struct.pack("!BB", 3, len(body)) + body


def mac_route(address, mac, vni):
    esi = bytes(10)  # single-homed
    body = route_distinguisher(address) + esi + struct.pack("!IB", 0, 48) + mac + b"\x00"
    body += label(vni)
    return struct.pack("!BB", 2, len(body)) + body


def common_attributes(asn, vni):
    target = struct.pack("!BBHI", 0x00, 0x02, asn, vni)  # route target ASN:VNI
    encapsulation = struct.pack("!BBIH", 0x03, 0x0C, 0, 8)  # tunnel type 8: VXLAN
    return (attribute(0x40, 1, b"\x00")  # ORIGIN IGP
            + attribute(0x40, 2, b"")  # AS_PATH, empty inside the AS
            + attribute(0x40, 5, struct.pack("!I", 100))  # LOCAL_PREF
            + attribute(0xC0, 16, target + encapsulation))


def reach(nexthop, nlris, extra):
    value = struct.pack("!HBB", AFI_L2VPN, SAFI_EVPN, 4) + nexthop + b"\x00" + b"".join(nlris)
    attrs = extra + attribute(0x80, 14, value)
    return message(2, struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs)


def unreach(nlris):
    attrs = attribute(0x80, 15, struct.pack("!HB", AFI_L2VPN, SAFI_EVPN) + b"".join(nlris))
    return message(2, struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs)


def chunks(items, room):
    chunk, used = [], 0
    for item in items:
        if used + len(item) > room:
            yield chunk
            chunk, used = [], 0
        chunk.append(item)
        used += len(item)
    if chunk:
        yield chunk


class Routes:
    def __init__(self, asn, vni, vteps, macs):
        self.asn, self.vni, self.vteps, self.macs = asn, vni, vteps, macs

    def nlris(self, n):
        address = vtep_address(n)
        macs = (struct.pack("!BBBBBB", 0x02, 0x5E, n >> 8, n & 255, m >> 8, m & 255)
                for m in range(self.macs))
        return [multicast_route(address)] + [mac_route(address, mac, self.vni) for mac in macs]

    def announcements(self):
        common = common_attributes(self.asn, self.vni)
        for n in range(self.vteps):
            address = vtep_address(n)
            # The type-3 route alone: only it carries the PMSI tunnel attribute.
            pmsi = attribute(0xC0, 22, struct.pack("!BB", 0, 6) + label(self.vni) + address)
            routes = self.nlris(n)
            yield reach(address, routes[:1], common + pmsi)
            room = MAX_MESSAGE - len(reach(address, [], common))
            for chunk in chunks(routes[1:], room):
                yield reach(address, chunk, common)

    def withdrawals(self):
        room = MAX_MESSAGE - len(unreach([]))
        for n in range(self.vteps):
            for chunk in chunks(self.nlris(n), room):
                yield unreach(chunk)


def read_message(conn):
    header = b""
    while len(header) < 19:
        part = conn.recv(19 - len(header))
        if not part:
            raise ConnectionError("the peer closed the session")
        header += part
    length, kind = struct.unpack("!HB", header[16:19])
    body = b""
    while len(body) < length - 19:
        part = conn.recv(length - 19 - len(body))
        if not part:
            raise ConnectionError("the peer closed the session")
        body += part
    return kind, body


def open_session(local, peer, asn):
    conn = socket.create_connection((peer, 179), timeout=30, source_address=(local, 0))
    capabilities = (struct.pack("!BBHBB", 1, 4, AFI_L2VPN, 0, SAFI_EVPN)  # multiprotocol
                    + struct.pack("!BBI", 65, 4, asn))  # four-octet AS numbers
    parameters = struct.pack("!BB", 2, len(capabilities)) + capabilities
    body = struct.pack("!BHH", 4, asn, HOLD_TIME) + socket.inet_aton(local)
    conn.sendall(message(1, body + struct.pack("!B", len(parameters)) + parameters))
    kind, body = read_message(conn)
    if kind != 1:
        raise ConnectionError(f"expected OPEN, got message type {kind}: {body.hex()}")
    conn.sendall(message(4, b""))
    kind, body = read_message(conn)
    if kind != 4:
        raise ConnectionError(f"expected KEEPALIVE, got message type {kind}: {body.hex()}")
    conn.settimeout(None)
    return conn


def drain(conn):
    # What the peer sends (its own routes) is read and dropped, so its writes never block.
    try:
        while read_message(conn)[0] != 3:
            pass
        print("speaker: the peer sent a NOTIFICATION", file=sys.stderr, flush=True)
    except (ConnectionError, OSError):
        pass


def keepalives(conn, lock):
    while True:
        time.sleep(HOLD_TIME / 3)
        with lock:
            conn.sendall(message(4, b""))


def main():
    local, peer = sys.argv[1], sys.argv[2]
    asn, vni, vteps, macs = (int(a) for a in sys.argv[3:7])
    conn = open_session(local, peer, asn)
    # One message at a time on the socket: a keepalive never lands inside an UPDATE.
    lock = threading.Lock()
    threading.Thread(target=drain, args=(conn,), daemon=True).start()
    threading.Thread(target=keepalives, args=(conn, lock), daemon=True).start()
    routes = Routes(asn, vni, vteps, macs)
    print("session up", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "announce":
            for update in routes.announcements():
                with lock:
                    conn.sendall(update)
        elif command == "withdraw":
            for update in routes.withdrawals():
                with lock:
                    conn.sendall(update)
        elif command == "quit":
            break
        else:
            sys.exit(f"speaker: unknown command {command!r}")
        print(f"{command} done {time.time():.3f}", flush=True)
    conn.close()


if __name__ == "__main__":
    main()
