#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""slowqemu.py - a hostile vhost-user frontend for tests/e2e-vhost-hostile.bats.

It connects to a VM's RUNDIR/vms/NAME.vhost socket the way QEMU would, then
misbehaves. Every mode loops until killed (or $SLOWQEMU_FOR seconds, 600),
connecting again whenever vmsvcd drops it, and logs one line per event on
stdout ("MS" is milliseconds since the start):

  trickle [DELAY] PATH  send GET_FEATURES one byte every DELAY seconds (0.2),
                        then read the reply: "reply ok MS" when it carries
                        exactly the feature bits vmsvcd offers, "reply bad ..."
                        otherwise; "dropped MS REASON" when the daemon closes
  noread PATH           send GET_FEATURES and GET_PROTOCOL_FEATURES without
                        end and never read a reply: "dropped MS sent=N" when
                        the daemon closes (a blocked send then fails)
  stall PATH            send the first 6 bytes of a SET_VRING_CALL header with
                        an eventfd-like fd (a pipe end), then nothing:
                        "dropped MS after=MS" when the daemon closes

Each connection is announced as "connected N MS". Never uses AF_VSOCK.
"""
import os
import socket
import struct
import sys
import time

T0 = time.monotonic()
GET_FEATURES = 1
GET_PROTOCOL_FEATURES = 15
SET_VRING_CALL = 13
FEATURES = 0x170000000  # what vmsvcd offers (daemon/engine/vhost-user.h)


def ms():
    return int((time.monotonic() - T0) * 1000)


def log(*a):
    sys.stdout.write(" ".join(str(x) for x in a) + "\n")
    sys.stdout.flush()


def header(request, size=0, flags=1):
    return struct.pack("<III", request, flags, size)


def connect(path, n):
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            log("connected", n, ms())
            return s
        except OSError:
            s.close()
            time.sleep(0.05)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise ConnectionError("end of stream")
        buf += d
    return buf


def trickle(s, delay):
    for b in header(GET_FEATURES):
        s.send(bytes([b]))
        time.sleep(delay)
    s.settimeout(10)
    reply = recv_exact(s, 20)
    s.settimeout(None)
    req, flags, size, feat = struct.unpack("<IIIQ", reply)
    if (req, flags, size, feat) == (GET_FEATURES, 5, 8, FEATURES):
        log("reply ok", ms())
    else:
        log("reply bad", ms(), reply.hex())


def noread(s):
    reqs = header(GET_FEATURES) + header(GET_PROTOCOL_FEATURES)
    sent = 0
    try:
        while True:
            s.sendall(reqs)
            sent += 2
    except OSError:
        log("dropped", ms(), "sent=%d" % sent)


def stall(s):
    r, w = os.pipe()
    start = ms()
    s.sendmsg([header(SET_VRING_CALL, 8)[:6]],
               [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", r))])
    os.close(r)
    os.close(w)
    try:
        while s.recv(64):
            pass
    except OSError:
        pass
    log("dropped", ms(), "after=%d" % (ms() - start))


def main():
    args = sys.argv[1:]
    if len(args) not in (2, 3) or args[0] not in ("trickle", "noread", "stall") or \
            (len(args) == 3 and args[0] != "trickle"):
        sys.stderr.write("usage: slowqemu.py trickle [DELAY] PATH | noread PATH | stall PATH\n")
        return 2
    mode, path = args[0], args[-1]
    delay = float(args[1]) if len(args) == 3 else 0.2
    limit = float(os.environ.get("SLOWQEMU_FOR", "600"))
    n = 0
    while ms() < limit * 1000:
        n += 1
        s = connect(path, n)
        try:
            if mode == "trickle":
                while ms() < limit * 1000:
                    trickle(s, delay)
            elif mode == "noread":
                noread(s)
            else:
                stall(s)
        except (OSError, ConnectionError) as e:
            log("dropped", ms(), type(e).__name__)
        finally:
            s.close()
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
