#!/usr/bin/env python3
# tsresponder.py PATH: the host side of tests/tools/tsprobe.c (the time sync
# tests' own clock check). Listens on the Unix socket PATH (vmsvcd's
# RUNDIR/vms/NAME.vsock_PORT: never AF_VSOCK on the host) and answers each
# 16-byte request (le64 seq, le64 t1) with le64 seq, t2, t3: the host's
# CLOCK_REALTIME in ns when the request was read and just before the reply
# is written. Prints "listening", then "accepted" per connection.
import os
import socket
import struct
import sys
import threading
import time


def serve(c):
    buf = b""
    try:
        while True:
            d = c.recv(4096)
            if not d:
                return
            buf += d
            while len(buf) >= 16:
                t2 = time.clock_gettime_ns(time.CLOCK_REALTIME)
                seq, _ = struct.unpack_from("<QQ", buf)
                buf = buf[16:]
                t3 = time.clock_gettime_ns(time.CLOCK_REALTIME)
                c.sendall(struct.pack("<QQQ", seq, t2, t3))
    except OSError:
        pass
    finally:
        c.close()


def main():
    path = sys.argv[1]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(8)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        print("accepted", flush=True)
        threading.Thread(target=serve, args=(c,), daemon=True).start()


main()
