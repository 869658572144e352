#!/usr/bin/env python3
"""kvptool.py COMMAND ... - helpers for tests/e2e-kvp-host.bats, which
checks the key-value exchange's host side against the real vmsvcd:

  poolfile FILE N [VALUE_BYTES]
      writes a host pool file as vmsvcd stores it (KVP SET frames of the
      host pool back to back, docs/integration-services.md): N keys
      "key00000".. with values of VALUE_BYTES 'v' bytes (default 0)
  fill SOCKET VM N PREFIX
      sets N keys PREFIX00000.. (empty values) on one control connection;
      prints "set N"
  overflow SOCKET VM SETS
      opens a kvp-watch and does not read it while SETS values of 64 KiB
      (random bytes: base64 lines) are set on another connection, then reads
      the watch to its end; prints "lines L sets S overflow yes|no eof"
      (S: the set events among the L lines; overflow: the last line is
      {"op":"overflow"})
  watches SOCKET VM N
      opens N kvp-watch streams as this user and holds them; prints
      "opened K" then the first refusal's error (if any) and waits for
      stdin to end

Uses only the daemon's Unix control socket.
"""
import array
import base64
import json
import os
import socket
import struct
import sys

MAX_MSG = 192 * 1024 + 1


def frame(ftype, fields, tail=None):
    """One frame: le16 type, le16 chan 0, le32 len, TLV fields, tail."""
    body = b""
    for tag, value in fields:
        body += struct.pack("<HH", tag, len(value)) + value
    if tail is not None:
        body += struct.pack("<HH", 0xFFFF, 0) + tail
    return struct.pack("<HHI", ftype, 0, len(body)) + body


def poolfile(path, n, vlen):
    with open(path, "wb") as f:
        for i in range(n):
            f.write(frame(48, [(1, struct.pack("<I", 0)), (2, struct.pack("<I", 0)),
                               (3, b"key%05d" % i), (5, struct.pack("<Q", i + 1))],
                          b"v" * vlen))


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    return s


def call(s, req):
    """One request on s: the reply and the passed fd (or -1)."""
    s.send(json.dumps(req).encode())
    fds = array.array("i")
    msg, anc, _, _ = s.recvmsg(MAX_MSG, socket.CMSG_SPACE(4 * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return json.loads(msg.decode()), (fds[0] if fds else -1)


def fill(path, vm, n, prefix):
    s = connect(path)
    for i in range(n):
        r, _ = call(s, {"op": "kvp", "vm": vm, "action": "set",
                        "key": "%s%05d" % (prefix, i), "value_b64": ""})
        if not r.get("ok"):
            sys.exit(f"set {i}: {r}")
    print("set", n)


def overflow(path, vm, sets):
    r, fd = call(connect(path), {"op": "kvp-watch", "vm": vm})
    if not r.get("ok") or fd < 0:
        sys.exit(f"kvp-watch: {r}")
    watch = socket.socket(fileno=fd)
    s = connect(path)
    for i in range(sets):
        value = base64.b64encode(os.urandom(65536)).decode()
        r, _ = call(s, {"op": "kvp", "vm": vm, "action": "set", "key": "flood",
                        "value_b64": value})
        if not r.get("ok"):
            sys.exit(f"set {i}: {r}")
    watch.settimeout(10)
    data = b""
    while True:
        d = watch.recv(1 << 20)
        if not d:
            break
        data += d
    lines = data.split(b"\n")
    if lines[-1] != b"":
        sys.exit("the stream ended inside a line")
    objs = [json.loads(line) for line in lines[:-1]]
    nsets = sum(1 for o in objs if o.get("op") == "set")
    over = bool(objs) and objs[-1] == {"op": "overflow"}
    print("lines", len(objs), "sets", nsets, "overflow", "yes" if over else "no", "eof")


def watches(path, vm, n):
    held, err = [], None
    for _ in range(n):
        r, fd = call(connect(path), {"op": "kvp-watch", "vm": vm})
        if not r.get("ok"):
            err = r.get("error")
            break
        held.append(socket.socket(fileno=fd))
    print("opened", len(held), flush=True)
    if err:
        print("error", err, flush=True)
    sys.stdin.read()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "poolfile":
        poolfile(args[0], int(args[1]), int(args[2]) if len(args) > 2 else 0)
    elif cmd == "fill":
        fill(args[0], args[1], int(args[2]), args[3])
    elif cmd == "overflow":
        overflow(args[0], args[1], int(args[2]))
    elif cmd == "watches":
        watches(args[0], args[1], int(args[2]))
    else:
        sys.exit(f"kvptool: unknown command {cmd}")


main()
