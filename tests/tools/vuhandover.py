#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vuhandover.py - a synthetic VM held across vmsvcd restarts.

Plays QEMU and the guest's driver (tests/tools/vufront.py: its own memfd,
rings and eventfds) on a VM's NAME.vhost, and a host echo service on the
VM's NAME.vsock_P (P a registered service), so that vmsvcd can be killed
and restarted by a real service manager (systemd's file descriptor store,
tests/e2e-units-debian.bats) while nothing here reconnects: like QEMU 7.2,
this frontend keeps its one vhost-user connection for its whole life.
Never uses AF_VSOCK: only vmsvcd's Unix sockets.

  vuhandover.py --vhost PATH --listen PATH --port P --hybrid PATH --guest-port G

Prints, flushed, one line per event (T: CLOCK_REALTIME seconds):
  ready A        a guest-to-host connection (our port A) to P echoes a
                 message; it is held open
  reset A T      the RST for it came
  up T           new connections worked both ways: guest to host (REQUEST,
                 RESPONSE, a message echoed by the host service) and host to
                 guest (CONNECT G on the hybrid socket PATH, answered by us
                 with RESPONSE, a message echoed by us); then the new
                 guest-to-host connection is held: "ready A" again
  dropped T      vmsvcd closed the vhost-user connection; exit status 0
  stopped        SIGTERM; exit status 0
  FAIL WHY       anything else unexpected; exit status 1
"""
import argparse
import os
import select
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vufront as vf  # noqa: E402


def say(*a):
    print(*a, flush=True)


class Dropped(Exception):
    pass


class Stopped(Exception):
    pass


def on_term(signum, frame):
    raise Stopped()


class Vm:
    def __init__(self, args):
        self.args = args
        self.fe = vf.Front(args.vhost)
        self.accepted = set()  # host ports of connections to our guest port
        self.inbox = []  # packets not handled by pump()

    def dropped(self):
        """Whether vmsvcd closed the vhost-user socket: it sends nothing
        unasked, so a readable socket means its end."""
        r, _, _ = select.select([self.fe.s], [], [], 0)
        if not r:
            return False
        try:
            return self.fe.s.recv(1, socket.MSG_PEEK) == b""
        except ConnectionResetError:
            return True

    def pump(self):
        """One look at the rx ring: the host's connections to our guest
        port are answered and echoed here; the rest goes to the inbox."""
        if self.dropped():
            raise Dropped()
        g = self.args.guest_port
        for p in self.fe.poll_rx():
            src, dst, op = p["src_port"], p["dst_port"], p["op"]
            if dst == g and op == vf.REQUEST:
                self.fe.send_pkt(self.fe.hdr(vf.RESPONSE, g, src))
                self.accepted.add(src)
            elif dst == g and op == vf.RW and src in self.accepted:
                self.fe.send_pkt(self.fe.hdr(vf.RW, g, src, len(p["data"])), payload=p["data"])
            elif dst == g and op == vf.SHUTDOWN and src in self.accepted:
                self.fe.send_pkt(self.fe.hdr(vf.RST, g, src))
                self.accepted.discard(src)
            elif dst == g and op in (vf.RST, vf.CREDIT_UPDATE, vf.CREDIT_REQUEST):
                if op == vf.RST:
                    self.accepted.discard(src)
            else:
                self.inbox.append(p)

    def sleep(self, timeout):
        """Sleeps until the device uses the next rx buffer (its interrupt,
        asked for through used_event: EVENT_IDX), vmsvcd closes the
        vhost-user socket, or timeout: no polling, so that an idle VM costs
        the TCG guest it runs in nothing."""
        fe, q = self.fe, self.fe.rx
        fe.m16[(q.avail + 4 + 2 * vf.QSIZE) // 2] = q.last_used  # used_event
        if q.used_idx() != q.last_used:
            return
        r, _, _ = select.select([fe.s, fe.call[0]], [], [], max(timeout, 0))
        if fe.call[0] in r:
            try:
                os.eventfd_read(fe.call[0])
            except BlockingIOError:
                pass

    def wait(self, pred, timeout):
        """Pumps until a packet in the inbox satisfies pred (returned and
        taken out), or timeout (None)."""
        end = time.monotonic() + timeout
        while True:
            for i, p in enumerate(self.inbox):
                if pred(p):
                    del self.inbox[i]
                    return p
            if time.monotonic() > end:
                return None
            n = len(self.inbox)
            self.pump()
            if len(self.inbox) == n:
                self.sleep(min(end - time.monotonic(), 1))

    def guest_to_host(self, timeout=2):
        """A new connection to P echoing a message: our port, or None when
        it was refused or not answered."""
        fe, port = self.fe, self.args.port
        mine = fe.next_port()
        fe.send_pkt(fe.hdr(vf.REQUEST, mine, port))
        p = self.wait(lambda p: p["dst_port"] == mine, timeout)
        if p is None or p["op"] != vf.RESPONSE:
            return None
        msg = b"ping %d" % mine
        fe.send_pkt(fe.hdr(vf.RW, mine, port, len(msg)), payload=msg)
        got = b""
        while len(got) < len(msg):
            p = self.wait(lambda p: p["dst_port"] == mine, timeout)
            if p is None or p["op"] != vf.RW:
                raise vf.Fail("the echo on port %d: %s" % (mine, p and p["op"]))
            got += p["data"]
        if got != msg:
            raise vf.Fail("echo %r for %r" % (got, msg))
        return mine

    def host_to_guest(self, timeout=3):
        """CONNECT G on the hybrid socket, a message echoed by our guest
        side; True when it worked."""
        out = {}

        def client():
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(timeout)
                s.connect(self.args.hybrid)
                s.sendall(b"CONNECT %d\n" % self.args.guest_port)
                line = b""
                while not line.endswith(b"\n"):
                    d = s.recv(1)
                    if not d:
                        break
                    line += d
                out["line"] = line
                if line.startswith(b"OK "):
                    s.sendall(b"pong")
                    got = b""
                    while len(got) < 4:
                        d = s.recv(4 - len(got))
                        if not d:
                            break
                        got += d
                    out["echo"] = got
                s.close()
            except OSError as e:
                out["error"] = str(e)

        t = threading.Thread(target=client, daemon=True)
        t.start()
        end = time.monotonic() + timeout + 1
        while t.is_alive() and time.monotonic() < end:
            self.pump()
            self.sleep(0.05)
        return out.get("echo") == b"pong"


def run(args):
    vm = Vm(args)
    vm.fe.start()
    vm.fe.post_rx()
    held = vm.guest_to_host()
    if held is None:
        raise vf.Fail("no first connection to port %d" % args.port)
    say("ready", held)
    while True:
        p = vm.wait(lambda p: p["dst_port"] == held, 3600)
        if p is None:
            raise vf.Fail("no RST for port %d within an hour" % held)
        if p["op"] != vf.RST:
            raise vf.Fail("op %d on the held connection" % p["op"])
        say("reset", held, "%.3f" % time.time())
        # The next vmsvcd may not be there yet: a REQUEST it finds in the
        # ring when it comes is answered then; one refused (RST) by a
        # daemon still starting is tried again.
        end = time.monotonic() + 30
        while True:
            held = vm.guest_to_host(timeout=5)
            if held is not None and vm.host_to_guest():
                break
            if time.monotonic() > end:
                raise vf.Fail("no new connections both ways within 30 s of the reset")
            time.sleep(0.1)
        say("up", "%.3f" % time.time())
        say("ready", held)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vhost", required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--hybrid", required=True)
    ap.add_argument("--guest-port", type=int, required=True)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    lst = vf.Listener(args.listen)
    lst.mode = "echo"
    os.chmod(args.listen, 0o666)  # vmsvcd runs as its own user
    try:
        run(args)
    except (Dropped, vf.Dropped):
        say("dropped", "%.3f" % time.time())
        return 0
    except Stopped:
        say("stopped")
        return 0
    except vf.Fail as e:
        say("FAIL", e)
        return 1
    finally:
        lst.close()  # its socket file too
    return 0


if __name__ == "__main__":
    sys.exit(main())
