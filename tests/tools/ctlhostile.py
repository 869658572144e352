#!/usr/bin/env python3
"""ctlhostile.py SOCKET - a hostile local client of vmsvcd's control socket
(SOCK_SEQPACKET, one JSON object per message, up to 4 fds; lib/ctlproto.h).

Each scenario does something a well-behaved client never does, then checks
that vmsvcd answered with a clear error (or closed only that connection) and
that a fresh, well-behaved client ("stats") is still answered at once.
Prints one line per scenario, "ok NAME: detail" or "FAIL NAME: detail", and
exits 1 when any failed. Used by tests/daemon-control-hostile.bats, which
also checks vmsvcd's fds, memory and CPU around it.
"""
import array
import json
import os
import socket
import sys
import time

CTL_MSG_MAX = 192 * 1024
PATH = sys.argv[1] if len(sys.argv) > 1 else ""
failed = []


def report(name, good, detail):
    print(f"{'ok' if good else 'FAIL'} {name}: {detail}", flush=True)
    if not good:
        failed.append(name)


def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * CTL_MSG_MAX)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * CTL_MSG_MAX)
    s.connect(PATH)  # blocking: waits while the listener's backlog is full
    s.settimeout(5)
    return s


def recv(s):
    msg = s.recv(CTL_MSG_MAX + 1)
    return json.loads(msg.decode()) if msg else None


def probe():
    """A well-behaved request on a new connection: (reply, ms)."""
    t0 = time.monotonic()
    s = conn()
    s.send(b'{"op":"stats"}')
    r = recv(s)
    s.close()
    return r, (time.monotonic() - t0) * 1000


def check_probe(name):
    r, ms = probe()
    report(name + "/others", bool(r and r.get("ok")) and ms < 1000,
           f"a new client is answered in {ms:.0f} ms")


def error_then_served(name, payload, want, fds=()):
    """payload on one connection: an error reply want; then the same
    connection still answers a good request."""
    s = conn()
    if fds:
        s.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        s.send(payload)
    r = recv(s)
    good = r is not None and r.get("ok") is False and r.get("error") == want and r.get("message")
    s.send(b'{"op":"stats"}')
    r2 = recv(s)
    s.close()
    report(name, bool(good) and bool(r2 and r2.get("ok")),
           f"{r and r.get('error')}: {r and r.get('message')}; the connection goes on")


def scenarios():
    error_then_served("not-json", b"\x00\xff\x7fnot json at all", "EPROTO")
    error_then_served("truncated", b'{"op":"sta', "EPROTO")
    error_then_served("not-an-object", b"[1,2,3]", "EPROTO")
    error_then_served("empty-object", b"{}", "EINVAL")
    error_then_served("op-not-a-string", b'{"op":5}', "EINVAL")
    error_then_served("unknown-op", b'{"op":"format-disk"}', "EOPNOTSUPP")
    error_then_served("deep-nesting", b'{"op":' + b"[" * 90000 + b"]" * 90000 + b"}",
                      "EPROTO")
    error_then_served("oversized", b'{"op":"stats","pad":"' + b"x" * (CTL_MSG_MAX + 4096) + b'"}',
                      "EMSGSIZE")
    error_then_served("one-byte-too-big", b" " * (CTL_MSG_MAX + 1), "EMSGSIZE")
    error_then_served("listen-bad-guids", b'{"op":"listen","vm":"x","service":7}', "EINVAL")
    # fds of the wrong kind, with a request that takes none, and too many
    f = open("/proc/self/status", "rb")
    r, w = os.pipe()
    ev = os.eventfd(0) if hasattr(os, "eventfd") else os.dup(r)
    s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    wrong = [f.fileno(), r, ev, s1.fileno()]
    error_then_served("fds-to-connect-wrong-kind",
                      b'{"op":"connect","vm":"00000000-0000-0000-0000-000000000000",'
                      b'"service":"00000000-0000-0000-0000-000000000000"}', "EINVAL", wrong[:2])
    # more than CTL_MAX_FDS (4): MSG_CTRUNC, every one closed
    many = wrong + [os.dup(r) for _ in range(4)]
    error_then_served("too-many-fds", b'{"op":"stats"}', "ETOOMANYREFS", many)
    for x in many[4:]:
        os.close(x)
    f.close()
    os.close(r)
    os.close(w)
    os.close(ev)
    s1.close()
    s2.close()
    check_probe("fds")
    never_reads()
    churn()


def never_reads():
    """Requests sent as fast as the socket takes them, replies never read:
    vmsvcd ends that connection once its replies do not fit; others go on."""
    s = conn()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    sent, t0, closed = 0, time.monotonic(), False
    while time.monotonic() - t0 < 10:
        try:
            s.send(b'{"op":"stats"}')
            sent += 1
        except BlockingIOError:
            time.sleep(0.01)
            r, ms = probe()
            if not (r and r.get("ok")) or ms > 1000:
                report("never-reads/others", False, f"a new client waited {ms:.0f} ms")
                return
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
    report("never-reads", closed,
           f"vmsvcd closed the connection after {sent} unread requests "
           f"({(time.monotonic() - t0) * 1000:.0f} ms)" if closed else
           f"still open after {sent} requests and 10 s")
    s.close()
    check_probe("never-reads")


def churn():
    """2,000 connections opened and dropped at once, some mid-request."""
    for i in range(2000):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(PATH)
        if i % 2:
            s.send(b'{"op":"stats"}')
        s.close()
    check_probe("churn")


if __name__ == "__main__":
    scenarios()
    sys.exit(1 if failed else 0)
