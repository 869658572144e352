#!/usr/bin/env python3
"""qmp.py SOCKET COMMAND... - runs QMP commands (stop, cont, query-status,
...) one after the other on QEMU's QMP socket (tools/run-guest --qmp), for
tests; prints "COMMAND RESULT-JSON" per command. Exit 1 if one failed."""
import json
import socket
import sys


def main():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sys.argv[1])
    f = s.makefile("rw")
    json.loads(f.readline())  # the greeting

    def call(cmd):
        f.write(json.dumps({"execute": cmd}) + "\n")
        f.flush()
        while True:  # skip events
            m = json.loads(f.readline())
            if "return" in m or "error" in m:
                return m

    call("qmp_capabilities")
    bad = 0
    for c in sys.argv[2:]:
        m = call(c)
        print(c, json.dumps(m.get("return", m), sort_keys=True))
        bad |= "error" in m
    sys.exit(bad)


main()
