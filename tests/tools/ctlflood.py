#!/usr/bin/env python3
"""ctlflood.py SOCKET COUNT - open COUNT connections to vmsvcd's control
socket (SOCK_SEQPACKET) as fast as possible and hold them.

After all connects were tried and 0.5 s passed, prints one line
  "opened N refused R stalled S"
N: connections the kernel took; R: of those, the ones vmsvcd answered at
once with an error message (its per-user limit: EUSERS); S: connect attempts
that failed (the listener's backlog was full), retried until COUNT are open
or none was taken for 2 s.
Then holds every connection until SIGTERM (or 120 s).
Used by tests/daemon-limits.bats and tests/e2e-admission.bats.
"""
import select
import signal
import socket
import sys
import time


def main():
    path, count = sys.argv[1], int(sys.argv[2])
    socks, stalled, last = [], 0, time.monotonic()
    # A full backlog makes connect fail at once (EAGAIN): retry until
    # COUNT are open or nothing was taken for 2 s (vmsvcd stopped accepting).
    while len(socks) < count and time.monotonic() - last < 2:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.setblocking(False)
        try:
            s.connect(path)
        except OSError:
            s.close()
            stalled += 1
            time.sleep(0.01)
            continue
        socks.append(s)
        last = time.monotonic()
    select.select([], [], [], 0.5)
    refused = 0
    for s in socks:
        try:
            msg = s.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            refused += 1
            continue
        if b"EUSERS" in msg:
            refused += 1
    print(f"opened {len(socks)} refused {refused} stalled {stalled}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.alarm(120)
    signal.pause()


if __name__ == "__main__":
    main()
