#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vuscale.py - many synthetic VMs against one vmsvcd (scale and fairness).

Each VM is a tests/tools/vufront.py frontend (our own QEMU and guest driver
with its own memfd) on RUNDIR/vms/NAME.vhost; the host side of each VM is a
sink of ours on RUNDIR/vms/NAME.vsock_PORT (PORT a registered service) that
accepts every connection and reads and counts what arrives. Never uses
AF_VSOCK: only vmsvcd's Unix sockets.

  vuscale.py hold --vms DIR NAME... --port P --conns N --pid PID [--trickle S]
      every VM opens N connections to its sink (REQUESTs in batches), all
      held idle for a second, then S rounds of 4 bytes per connection, one
      round a second; then every VM leaves. Prints one line
        result op=hold vms= conns= rss0_kb= responses= rsts= open_ms=
               rss_idle_kb= wait_ms= rss_trickle_kb= host_conns= host_bytes=
               host_bytes_per_vm= per_conn_b= host_closed= secs=
      (RssAnon of PID: before any connection, all open and idle, the peak
      while trickling; per_conn_b from the larger of the two).
  vuscale.py stream --vms DIR NAME --port P --bytes N
      one connection of one VM sends N bytes (64 KiB packets, within the
      credit vmsvcd grants) to the sink; prints
        result op=stream bytes= secs= mb_s=
      timed until the sink has read the last byte.
  vuscale.py flood --vms DIR NAME --port P --seconds S [--conns C]
      one VM floods: C connections sending all their credit allows to the
      sink, and between rounds 256 REQUESTs to a port nobody has; until S
      seconds have passed or SIGTERM. Prints "flooding" once started, then
        result op=flood secs= mb= mb_s= requests= rsts=
"""
import argparse
import os
import resource
import select
import selectors
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vufront as vf  # noqa: E402

TRICKLE = b"tick"


def log(*a):
    vf.log(*a)


class Sinks:
    """Host listeners, one per VM, in one thread: accept every connection,
    read and count its bytes, count the ends."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()  # epoll: no FD_SETSIZE limit
        self.lock = threading.Lock()
        self.conns = 0
        self.closed = 0
        self.bytes = 0
        self.per = []  # bytes per listener
        self.buf = bytearray(1 << 20)
        self.listeners = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)

    def add(self, path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(4096)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, -1 - len(self.listeners))
        self.listeners.append((s, path))
        self.per.append(0)

    def start(self):
        self.t.start()

    def run(self):
        while not self.stop:
            for key, _ in self.sel.select(0.05):
                if key.data < 0:
                    self.accept(key.fileobj, -1 - key.data)
                else:
                    self.read(key.fileobj, key.data)

    def accept(self, ls, i):
        while True:
            try:
                c, _ = ls.accept()
            except BlockingIOError:
                return
            c.setblocking(False)
            self.sel.register(c, selectors.EVENT_READ, i)
            with self.lock:
                self.conns += 1

    def read(self, c, i):
        try:
            # into one buffer: a fresh 1 MiB per recv() is an mmap, and
            # with MALLOC_PERTURB_ (meson test sets it) a memset, each time
            d = c.recv_into(self.buf)
        except BlockingIOError:
            return
        except OSError:
            d = 0
        if d:
            with self.lock:
                self.bytes += d
                self.per[i] += d
            return
        self.sel.unregister(c)
        c.close()
        with self.lock:
            self.closed += 1

    def counts(self):
        with self.lock:
            return self.conns, self.bytes, self.closed

    def wait(self, pred, timeout):
        end = time.monotonic() + timeout
        while not pred(*self.counts()) and time.monotonic() < end:
            time.sleep(0.02)
        return self.counts()

    def close(self):
        self.stop = True
        self.t.join()
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        for _, path in self.listeners:
            os.unlink(path)


def start_vm(path):
    fe = vf.Front(path)
    fe.start()
    fe.post_rx()
    vf.check(fe.alive(), "the device of %s did not answer" % path)
    return fe


def open_conns(fe, port, n, batch=128):
    """n REQUESTs to port, batch at a time, each batch's answers awaited;
    returns (our ports that got a RESPONSE, RSTs)."""
    ok, rsts = [], 0
    while len(ok) + rsts < n:
        want = {}
        for _ in range(min(batch, n - len(ok) - rsts)):
            p = fe.next_port()
            fe.send_pkt(fe.hdr(vf.REQUEST, p, port), kick=False)
            want[p] = None
        fe.tx.kick()
        end = time.monotonic() + 10
        while None in want.values() and time.monotonic() < end:
            for x in fe.poll_rx():
                if x["dst_port"] in want and want[x["dst_port"]] is None:
                    want[x["dst_port"]] = x["op"]
            time.sleep(0.001)
        got = list(want.values())
        vf.check(None not in got, "%d of %d REQUESTs unanswered after 10 s" %
                 (got.count(None), len(got)))
        ok += [p for p, op in want.items() if op == vf.RESPONSE]
        rsts += sum(1 for op in got if op != vf.RESPONSE)
    return ok, rsts


def trickle(fe, port, conns):
    """TRICKLE on every connection, kicked every 64 packets."""
    for i, p in enumerate(conns):
        fe.send_pkt(fe.hdr(vf.RW, p, port, length=len(TRICKLE)), payload=TRICKLE,
                    kick=(i % 64 == 63))
    fe.tx.kick()
    fe.poll_rx()


def cmd_hold(a):
    proc = vf.Proc(a.pid)
    sinks = Sinks()
    for name in a.names:
        sinks.add(os.path.join(a.vms, "%s.vsock_%d" % (name, a.port)))
    sinks.start()
    res = {"vms": len(a.names), "conns": a.conns * len(a.names)}
    t_start = time.monotonic()
    try:
        fes = [start_vm(os.path.join(a.vms, name + ".vhost")) for name in a.names]
        time.sleep(0.5)
        res["rss0_kb"] = proc.rss_anon_kb()
        conns, rsts = [], 0
        t0 = time.monotonic()
        for fe in fes:
            ok, r = open_conns(fe, a.port, a.conns)
            conns.append(ok)
            rsts += r
        res["responses"] = sum(len(c) for c in conns)
        res["rsts"] = rsts
        res["open_ms"] = int((time.monotonic() - t0) * 1000)
        n, _, _ = sinks.wait(lambda c, b, x: c >= res["responses"], 10)
        time.sleep(1)
        for fe in fes:
            fe.poll_rx()
        res["rss_idle_kb"] = proc.rss_anon_kb()
        proc.rss_peak = 0
        for _ in range(a.trickle):
            t0 = time.monotonic()
            for fe, c in zip(fes, conns):
                trickle(fe, a.port, c)
            proc.rss_anon_kb()
            time.sleep(max(0, 1 - (time.monotonic() - t0)))
        want = res["responses"] * a.trickle * len(TRICKLE)
        t0 = time.monotonic()
        n, b, _ = sinks.wait(lambda c, b, x: b >= want, 10)
        res["wait_ms"] = int((time.monotonic() - t0) * 1000)
        for fe in fes:
            fe.poll_rx()
        res["rss_trickle_kb"] = max(proc.rss_peak, proc.rss_anon_kb())
        res["host_conns"], res["host_bytes"] = n, b
        res["host_bytes_per_vm"] = ",".join(str(x) for x in sinks.per)
        top = max(res["rss_idle_kb"], res["rss_trickle_kb"])
        res["per_conn_b"] = (top - res["rss0_kb"]) * 1024 // max(1, res["responses"])
        for fe in fes:
            fe.close()
        _, _, res["host_closed"] = sinks.wait(lambda c, b, x: x >= n, 15)
    finally:
        for fe in list(vf.Front.opened):
            fe.close()
        sinks.close()
    res["secs"] = "%.1f" % (time.monotonic() - t_start)
    log("result op=hold", *("%s=%s" % kv for kv in res.items()))
    return 0


def send_credit(fe, port, p, state, deadline):
    """Sends 64 KiB packets on p while its credit allows; state[p] is what
    we sent. Returns the bytes sent now (0: no credit, a CREDIT_REQUEST went
    out if none came for a while)."""
    ba, fwd = fe.credit.get((p, port), (0, 0))
    room = ba - (state[p] - fwd)
    n = 0
    while room >= vf.PAYLOAD_LEN and time.monotonic() < deadline:
        fe.send_pkt(fe.hdr(vf.RW, p, port, length=vf.PAYLOAD_LEN), big=vf.PAYLOAD_LEN,
                    kick=False)
        state[p] += vf.PAYLOAD_LEN
        room -= vf.PAYLOAD_LEN
        n += vf.PAYLOAD_LEN
    return n


def wait_rx_irq(fe, timeout):
    """Sleeps until the device uses the next rx buffer (its interrupt: we
    ask for it through used_event, EVENT_IDX) or timeout."""
    q = fe.rx
    # a signal left from buffers poll_rx() already reaped would end the
    # wait at once with nothing new (then pump() slept 5 ms for nothing:
    # that made bench/fairness's stream swing 10x between rounds)
    try:
        os.eventfd_read(fe.call[0])
    except BlockingIOError:
        pass
    fe.m16[(q.avail + 4 + 2 * vf.QSIZE) // 2] = q.last_used  # used_event
    if q.used_idx() != q.last_used:
        return
    if select.select([fe.call[0]], [], [], timeout)[0]:
        try:
            os.eventfd_read(fe.call[0])
        except BlockingIOError:
            pass


def pump(fe, port, conns, state, deadline):
    """One round over conns; asks for credit where none is left."""
    sent = 0
    for p in conns:
        sent += send_credit(fe, port, p, state, deadline)
    fe.tx.kick()
    if not sent:
        wait_rx_irq(fe, 0.005)
        if not fe.poll_rx():
            for p in conns:
                fe.send_pkt(fe.hdr(vf.CREDIT_REQUEST, p, port), kick=False)
            fe.tx.kick()
            wait_rx_irq(fe, 0.005)
    fe.poll_rx()
    return sent


def cmd_stream(a):
    sinks = Sinks()
    sinks.add(os.path.join(a.vms, "%s.vsock_%d" % (a.names[0], a.port)))
    sinks.start()
    try:
        fe = start_vm(os.path.join(a.vms, a.names[0] + ".vhost"))
        conns, _ = open_conns(fe, a.port, 1)
        vf.check(conns, "the stream's REQUEST was refused")
        state = {conns[0]: 0}
        t0 = time.monotonic()
        deadline = t0 + 300
        while state[conns[0]] < a.bytes and time.monotonic() < deadline:
            pump(fe, a.port, conns, state, deadline)
        _, b, _ = sinks.wait(lambda c, b, x: b >= state[conns[0]], 60)
        secs = time.monotonic() - t0
        vf.check(b >= a.bytes, "the sink read %d of %d bytes" % (b, a.bytes))
        fe.close()
    finally:
        for fe in list(vf.Front.opened):
            fe.close()
        sinks.close()
    log("result op=stream bytes=%d secs=%.3f mb_s=%.1f" % (b, secs, b / secs / 1e6))
    return 0


def cmd_flood(a):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sinks = Sinks()
    sinks.add(os.path.join(a.vms, "%s.vsock_%d" % (a.names[0], a.port)))
    sinks.start()
    requests = rsts = 0
    try:
        fe = start_vm(os.path.join(a.vms, a.names[0] + ".vhost"))
        conns, _ = open_conns(fe, a.port, a.conns)
        vf.check(len(conns) == a.conns, "flood connections refused")
        state = dict.fromkeys(conns, 0)
        t0 = time.monotonic()  # before "flooding": secs covers what the caller saw
        log("flooding")
        deadline = t0 + a.seconds
        while not stop and time.monotonic() < deadline:
            pump(fe, a.port, conns, state, deadline)
            for _ in range(256):
                fe.send_pkt(fe.hdr(vf.REQUEST, fe.next_port(), vf.NOBODY_PORT), kick=False)
            requests += 256
            fe.tx.kick()
            rsts += sum(1 for x in fe.poll_rx() if x["op"] == vf.RST)
        secs = time.monotonic() - t0
        fe.close()
    finally:
        for fe in list(vf.Front.opened):
            fe.close()
        sinks.close()
    mb = sum(state.values()) / 1e6
    log("result op=flood secs=%.3f mb=%.0f mb_s=%.1f requests=%d rsts=%d" %
        (secs, mb, mb / secs, requests, rsts))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("op", choices=["hold", "stream", "flood"])
    ap.add_argument("--vms", required=True, help="RUNDIR/vms")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--trickle", type=int, default=3)
    ap.add_argument("--bytes", type=int, default=64 << 20)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("names", nargs="+")
    a = ap.parse_args()
    if a.op == "hold" and not a.pid:
        ap.error("hold needs --pid")
    # every host stream is an fd here too
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        return {"hold": cmd_hold, "stream": cmd_stream, "flood": cmd_flood}[a.op](a)
    except (vf.Fail, vf.Dropped, OSError) as e:
        log("FAIL", type(e).__name__, e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
