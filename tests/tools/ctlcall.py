#!/usr/bin/env python3
"""ctlcall.py SOCKET JSON [--send TEXT] [--read N] - one request on vmsvcd's
control socket, the way a host client makes it, for tests.

Prints the reply (one JSON line) and "fd yes" or "fd no" (whether a stream
came with it). With a stream: --send writes TEXT (Python escapes allowed,
e.g. '\\x01') into it right away, --read N reads up to N bytes back (5 s at
most) and prints them as "read HEX". Exit 0 when the reply was ok, 1 if not.
Used by tests/daemon-session.bats and tests/e2e-session-peer.bats.
"""
import array
import json
import socket
import sys


def call(path, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.send(req.encode())
    fds = array.array("i")
    # CTL_MSG_MAX (lib/ctlproto.h) and one byte: a longer reply shows as MSG_TRUNC
    msg, anc, _, _ = s.recvmsg(192 * 1024 + 1, socket.CMSG_SPACE(4 * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return json.loads(msg.decode()), (fds[0] if fds else -1)


def main():
    path, req = sys.argv[1], sys.argv[2]
    send, nread = None, 0
    args = sys.argv[3:]
    while args:
        if args[0] == "--send":
            send = args[1].encode("latin-1").decode("unicode_escape").encode("latin-1")
        elif args[0] == "--read":
            nread = int(args[1])
        else:
            sys.exit(f"ctlcall: bad option {args[0]}")
        args = args[2:]
    reply, fd = call(path, req)
    print(json.dumps(reply, sort_keys=True))
    print("fd", "yes" if fd >= 0 else "no")
    if fd >= 0:
        stream = socket.socket(fileno=fd)
        if send is not None:
            stream.sendall(send)
        if nread:
            stream.settimeout(5)
            got = b""
            try:
                while len(got) < nread:
                    d = stream.recv(nread - len(got))
                    if not d:
                        break
                    got += d
            except socket.timeout:
                pass
            print("read", got.hex())
        stream.close()
    sys.stdout.flush()
    sys.exit(0 if reply.get("ok") else 1)


main()
