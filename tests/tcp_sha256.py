#!/usr/bin/env python3
"""One TCP transfer checked end to end, for the interop scripts (tests/interop.sh,
tests/ovs.sh), each side run in its own network namespace:

    tcp_sha256.py serve PORT            accepts one connection, prints "BYTES SHA256"
    tcp_sha256.py send HOST PORT FILE   sends FILE, then closes
"""
import hashlib
import socket
import sys


def serve(port):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen(1)
    conn, _ = server.accept()
    digest, total = hashlib.sha256(), 0
    while chunk := conn.recv(65536):
        digest.update(chunk)
        total += len(chunk)
    print(total, digest.hexdigest())


def send(host, port, path):
    # The caller's timeout bounds the whole run; this one a stalled connection.
    with socket.create_connection((host, port), timeout=50) as conn:
        with open(path, "rb") as payload:
            conn.sendall(payload.read())


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and len(sys.argv) == 3:
        serve(int(sys.argv[2]))
    elif sys.argv[1:2] == ["send"] and len(sys.argv) == 5:
        send(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
