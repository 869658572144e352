#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vufront.py - a vhost-user frontend of our own that attacks the device.

It plays QEMU (the vhost-user messages) and the guest's virtio-vsock driver
(split virtqueues in its own memfd, rx buffers, tx packets, kicks through
eventfds, the used rings read back), so a test can put anything in the
rings and in the messages. Used by tests/e2e-vhost-attack.bats against a
VM's RUNDIR/vms/NAME.vhost; never uses AF_VSOCK.

  vufront.py --vhost PATH [--listen PATH] [--pid PID] [--port P]
             SCENARIO|GROUP...

runs each scenario on a fresh connection (a group is a list of them, see
GROUPS) and prints one line per scenario:

  scenario NAME ok KEY=VALUE...      the daemon reacted as it must
  scenario NAME FAIL WHY             it did not (exit status 1)

--listen PATH makes a host listener at PATH (the VM's NAME.vsock_P of a
registered service with port P, --port) that accepts and never reads
("hold") or echoes ("echo"), as the scenario needs. --pid PID is vmsvcd:
every scenario ends, still connected, with an idle window in which the
daemon's CPU time is measured (cpu_ms=, over IDLE_S seconds), and the
largest RssAnon seen during it is reported (rss_kb=).

Outcomes a scenario checks from the frontend's side: "broken" (the device
stops taking tx chains), "alive" (a REQUEST to an unregistered port gets
its RST), "refused" (the REPLY_ACK status is 1), "dropped" (vmsvcd closed
the vhost-user socket). The daemon's log is checked by the test.
"""
import argparse
import fcntl
import mmap
import os
import select
import socket
import struct
import sys
import threading
import time

# vhost-user requests and flags
GET_FEATURES, SET_FEATURES, SET_OWNER = 1, 2, 3
SET_MEM_TABLE = 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL = 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES = 15, 16
SET_VRING_ENABLE, GET_CONFIG = 18, 24
F_VERSION, F_REPLY, F_NEED_REPLY = 1, 4, 8
FEATURES = 0x170000000  # VERSION_1, PROTOCOL_FEATURES, EVENT_IDX, INDIRECT_DESC
PROTOCOL_FEATURES = 0x208  # REPLY_ACK, CONFIG

# virtio-vsock
HDR = struct.Struct("<QQIIIHHIII")  # 44 bytes
REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = 1, 2, 3, 4, 5, 6, 7
STREAM = 1
HOST_CID = 2
BUF_ALLOC = 256 * 1024
NOBODY_PORT = 0x7ffff123  # no service has it: REQUESTs get an RST

# split virtqueue
DESC = struct.Struct("<QIHH")
D_NEXT, D_WRITE, D_INDIRECT = 1, 2, 4
QSIZE = 256

# our guest memory (guest-physical 0 = memfd offset 0)
MEM_SIZE = 8 << 20
UVA = 0x7F1200000000  # "QEMU's" address of it
RING = (0x0000, 0x4000)  # desc, avail at +0x1000, used at +0x2000 per queue
RXBUF, RXBUF_LEN = 0x10000, 4096  # QSIZE rx buffers
TXHDR, TXSLOT = 0x200000, 0x100  # header (and small payload) per tx descriptor
PAYLOAD, PAYLOAD_LEN = 0x300000, 64 * 1024  # shared payload of big packets
SCRATCH = 0x400000  # indirect tables and other attack material

IDLE_S = 0.3
T0 = time.monotonic()


def log(*a):
    sys.stdout.write(" ".join(str(x) for x in a) + "\n")
    sys.stdout.flush()


class Fail(Exception):
    pass


class Dropped(Exception):
    """vmsvcd closed the vhost-user connection."""


def check(cond, why):
    if not cond:
        raise Fail(why)


# ---- the daemon, from /proc ----

class Proc:
    def __init__(self, pid):
        self.pid = pid
        self.rss_peak = 0

    def cpu_ticks(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime

    def rss_anon_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    kb = int(line.split()[1])
                    self.rss_peak = max(self.rss_peak, kb)
                    return kb
        return 0


# ---- a host listener (the VM's NAME.vsock_P) ----

class Listener:
    """Accepts every connection vmsvcd makes; mode "hold" never reads,
    "echo" sends back what it reads."""

    def __init__(self, path):
        self.path = path
        self.mode = "hold"
        self.conns = []
        self.lock = threading.Lock()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4096)
        self.sock.setblocking(False)
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            with self.lock:
                conns = list(self.conns) if self.mode == "echo" else []
            r, _, _ = select.select([self.sock] + conns, [], [], 0.05)
            for s in r:
                if s is self.sock:
                    self.accept()
                    continue
                try:
                    d = s.recv(65536)
                    if d:
                        s.sendall(d)
                    else:
                        s.shutdown(socket.SHUT_WR)
                        self.drop(s)
                except OSError:
                    self.drop(s)

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except BlockingIOError:
                return
            with self.lock:
                self.conns.append(c)

    def drop(self, s):
        with self.lock:
            if s in self.conns:
                self.conns.remove(s)
        s.close()

    def count(self):
        with self.lock:
            return len(self.conns)

    def reset(self, mode):
        with self.lock:
            for c in self.conns:
                c.close()
            self.conns = []
            self.mode = mode

    def close(self):
        self.stop = True
        self.t.join()
        self.reset("hold")
        self.sock.close()
        os.unlink(self.path)


# ---- the frontend ----

class Queue:
    def __init__(self, fe, q):
        self.fe, self.q = fe, q
        self.desc = RING[q]
        self.avail = RING[q] + 0x1000
        self.used = RING[q] + 0x2000
        self.avail_idx = 0
        self.last_used = 0
        self.free = list(range(QSIZE))
        self.chains = {}  # head -> descriptor indexes

    def set_desc(self, i, addr, length, flags=0, nxt=0):
        DESC.pack_into(self.fe.m, self.desc + 16 * i, addr, length, flags, nxt)

    def publish(self, head, idx_jump=0):
        m16 = self.fe.m16
        m16[(self.avail + 4) // 2 + self.avail_idx % QSIZE] = head
        self.avail_idx = (self.avail_idx + 1 + idx_jump) & 0xFFFF
        m16[(self.avail + 2) // 2] = self.avail_idx

    def used_idx(self):
        return self.fe.m16[(self.used + 2) // 2]

    def reap(self):
        """Used entries since the last call: [(id, len)]; frees their chains."""
        out = []
        idx = self.used_idx()
        while self.last_used != idx:
            off = self.used + 4 + 8 * (self.last_used % QSIZE)
            uid, ulen = struct.unpack_from("<II", self.fe.m, off)
            self.last_used = (self.last_used + 1) & 0xFFFF
            out.append((uid, ulen))
            self.free.extend(self.chains.pop(uid, []))
        return out

    def kick(self):
        os.eventfd_write(self.fe.kick[self.q], 1)


class Front:
    opened = []  # every Front not closed yet: run() closes them, also on failure

    def __init__(self, path, seal=True):
        Front.opened.append(self)
        self.path = path
        self.s = None
        fd = os.memfd_create("vufront", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.ftruncate(fd, MEM_SIZE)
        if seal:  # as QEMU's memory-backend-memfd does (seal=on)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                        fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
        self.memfd = fd
        self.m = mmap.mmap(fd, MEM_SIZE)
        # The ring indexes are read and written as whole 16-bit words (x86:
        # little-endian): struct packs byte by byte, and a torn avail->idx
        # looks to the device like an index jump (which it must refuse).
        self.m16 = memoryview(self.m).cast("H")
        self.m[PAYLOAD:PAYLOAD + PAYLOAD_LEN] = bytes(i & 0xFF for i in range(PAYLOAD_LEN))
        self.kick = [os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK) for _ in range(2)]
        self.call = [os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK) for _ in range(2)]
        self.rx = Queue(self, 0)
        self.tx = Queue(self, 1)
        self.cid = None
        self.rx_auto = True  # post rx buffers again as they come back
        self.port = 40000
        self.credit = {}  # (our port, host port) -> (buf_alloc, fwd_cnt)

    def close(self):
        Front.opened.remove(self)
        if self.s:
            self.s.close()
            self.s = None
        self.m16.release()
        self.m.close()
        for fd in self.kick + self.call + [self.memfd]:
            os.close(fd)

    # -- vhost-user messages --

    def connect(self):
        """Connects; vmsvcd refuses a second QEMU, so while it has not yet
        seen the end of our previous connection, tries again (2 s)."""
        end = time.monotonic() + 2
        while True:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(5)
            self.s.connect(self.path)
            self.s.send(struct.pack("<III", GET_FEATURES, F_VERSION, 0))
            try:
                check(len(self.reply(GET_FEATURES)) == 8, "GET_FEATURES reply size")
                return
            except Dropped:
                self.s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)

    def send(self, req, payload=b"", fds=(), flags=F_VERSION, size=None):
        data = struct.pack("<III", req, flags, len(payload) if size is None else size) + payload
        try:
            if fds:
                socket.send_fds(self.s, [data], list(fds))
            else:
                self.s.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Dropped(type(e).__name__)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            try:
                d = self.s.recv(n - len(buf))
            except ConnectionResetError:
                d = b""
            except socket.timeout:
                raise Fail("no reply from vmsvcd in 5 s")
            if not d:
                raise Dropped("end of stream")
            buf += d
        return buf

    def reply(self, req):
        r, flags, size = struct.unpack("<III", self.recv_exact(12))
        check(r == req and flags == F_VERSION | F_REPLY,
              "reply header %d/0x%x to request %d" % (r, flags, req))
        return self.recv_exact(size)

    def call_msg(self, req, payload=b"", fds=(), size=None):
        """Sends req wanting an ack; returns the REPLY_ACK status."""
        self.send(req, payload, fds, F_VERSION | F_NEED_REPLY, size)
        p = self.reply(req)
        check(len(p) == 8, "ack of %d bytes" % len(p))
        return struct.unpack("<Q", p)[0]

    def ok(self, req, payload=b"", fds=()):
        check(self.call_msg(req, payload, fds) == 0, "request %d refused" % req)

    def get_u64(self, req):
        self.send(req)
        p = self.reply(req)
        check(len(p) == 8, "reply of %d bytes" % len(p))
        return struct.unpack("<Q", p)[0]

    def mem_table(self, regions):
        """regions: [(gpa, size, uva, offset)], fds: the memfd for each."""
        p = struct.pack("<II", len(regions), 0)
        for r in regions:
            p += struct.pack("<QQQQ", *r)
        return p

    def state(self, q, num):
        return struct.pack("<II", q, num)

    def vring_addr(self, q, desc=None, used=None, avail=None):
        return struct.pack("<IIQQQQ", q, 0,
                           UVA + RING[q] if desc is None else desc,
                           UVA + RING[q] + 0x2000 if used is None else used,
                           UVA + RING[q] + 0x1000 if avail is None else avail, 0)

    def handshake(self):
        """The device-creation part of QEMU's sequence."""
        check(self.get_u64(GET_FEATURES) == FEATURES, "features offered")
        check(self.get_u64(GET_PROTOCOL_FEATURES) & PROTOCOL_FEATURES == PROTOCOL_FEATURES,
              "protocol features offered")
        self.send(SET_PROTOCOL_FEATURES, struct.pack("<Q", PROTOCOL_FEATURES))
        self.ok(SET_OWNER)
        self.send(GET_CONFIG, struct.pack("<III", 0, 8, 0) + bytes(8))
        p = self.reply(GET_CONFIG)
        check(len(p) == 20, "config reply of %d bytes" % len(p))
        self.cid = struct.unpack_from("<Q", p, 12)[0]

    def start(self, mem_ok=True, enable=True):
        """Driver start: features, memory, both rings, enabled."""
        self.connect()
        self.handshake()
        self.ok(SET_FEATURES, struct.pack("<Q", FEATURES))
        st = self.call_msg(SET_MEM_TABLE, self.mem_table([(0, MEM_SIZE, UVA, 0)]), [self.memfd])
        check(st == 0 or not mem_ok, "SET_MEM_TABLE refused")
        for q in (0, 1):
            self.ok(SET_VRING_NUM, self.state(q, QSIZE))
            self.ok(SET_VRING_BASE, self.state(q, 0))
            self.ok(SET_VRING_ADDR, self.vring_addr(q))
            self.ok(SET_VRING_KICK, struct.pack("<Q", q), [self.kick[q]])
            self.ok(SET_VRING_CALL, struct.pack("<Q", q), [self.call[q]])
        if enable:
            for q in (0, 1):
                self.ok(SET_VRING_ENABLE, self.state(q, 1))

    # -- the driver --

    def post_rx(self, n=QSIZE):
        q = self.rx
        for _ in range(min(n, len(q.free))):
            i = q.free.pop(0)
            q.set_desc(i, RXBUF + i * RXBUF_LEN, RXBUF_LEN, D_WRITE)
            q.chains[i] = [i]
            q.publish(i)
        q.kick()

    def poll_rx(self, repost=True):
        """Packets the device put in rx buffers since the last call."""
        out = []
        for uid, ulen in self.rx.reap():
            check(uid < QSIZE and 44 <= ulen <= RXBUF_LEN, "rx used entry %d/%d" % (uid, ulen))
            off = RXBUF + uid * RXBUF_LEN
            h = HDR.unpack_from(self.m, off)
            check(h[4] == ulen - 44, "rx packet len %d, used %d" % (h[4], ulen))
            pkt = {"src_cid": h[0], "dst_cid": h[1], "src_port": h[2], "dst_port": h[3],
                   "len": h[4], "type": h[5], "op": h[6], "flags": h[7],
                   "buf_alloc": h[8], "fwd_cnt": h[9],
                   "data": bytes(self.m[off + 44:off + ulen])}
            self.credit[(h[3], h[2])] = (h[8], h[9])
            out.append(pkt)
        if repost and self.rx_auto and out:
            self.post_rx()
        return out

    def hdr(self, op, src_port, dst_port, length=0, **kw):
        f = dict(src_cid=self.cid, dst_cid=HOST_CID, type=STREAM, flags=0,
                 buf_alloc=BUF_ALLOC, fwd_cnt=0)
        f.update(kw)
        return HDR.pack(f["src_cid"], f["dst_cid"], src_port, dst_port, length, f["type"], op,
                        f["flags"], f["buf_alloc"], f["fwd_cnt"])

    def wait_tx_room(self, need, timeout=10):
        q = self.tx
        end = time.monotonic() + timeout
        while len(q.free) < need:
            q.reap()
            if len(q.free) >= need:
                break
            if time.monotonic() > end:
                raise Fail("tx queue not drained (%d descriptors free)" % len(q.free))
            time.sleep(0.0005)

    def send_pkt(self, header, payload=None, big=0, kick=True, hdr_len=None):
        """One tx chain: the header descriptor, then payload bytes (inline)
        or big bytes of the shared payload area."""
        q = self.tx
        n = 2 if payload or big else 1
        self.wait_tx_room(n)
        i = q.free.pop(0)
        slot = TXHDR + i * TXSLOT
        self.m[slot:slot + len(header)] = header
        hl = len(header) if hdr_len is None else hdr_len
        if n == 1:
            q.set_desc(i, slot, hl)
            q.chains[i] = [i]
        else:
            j = q.free.pop(0)
            q.set_desc(i, slot, hl, D_NEXT, j)
            if payload:
                self.m[slot + 64:slot + 64 + len(payload)] = payload
                q.set_desc(j, slot + 64, len(payload))
            else:
                q.set_desc(j, PAYLOAD, big)
            q.chains[i] = [i, j]
        q.publish(i)
        if kick:
            q.kick()

    def flush_tx(self, timeout=10):
        """Kicks and waits until the device has taken every tx chain."""
        self.tx.kick()
        self.wait_tx_room(QSIZE, timeout)

    def tx_taken(self, timeout=0.5):
        """Whether the device takes a valid tx chain within timeout."""
        before = self.tx.used_idx()
        self.send_pkt(self.hdr(REQUEST, self.next_port(), NOBODY_PORT))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.tx.used_idx() != before:
                return True
            time.sleep(0.005)
        return False

    def next_port(self):
        self.port += 1
        return self.port

    def wait_rx(self, pred, timeout=3):
        """Polls rx until pred(packets so far) holds; returns the packets."""
        got = []
        end = time.monotonic() + timeout
        while True:
            got += self.poll_rx()
            if pred(got) or time.monotonic() > end:
                return got
            time.sleep(0.002)

    def alive(self):
        """A REQUEST to a port nobody has gets its RST."""
        p = self.next_port()
        self.send_pkt(self.hdr(REQUEST, p, NOBODY_PORT))
        got = self.wait_rx(lambda g: any(x["op"] == RST and x["dst_port"] == p for x in g))
        return any(x["op"] == RST and x["dst_port"] == p for x in got)

    def connect_vsock(self, port):
        """Our REQUEST to the host's port; returns our port once RESPONSE came."""
        p = self.next_port()
        self.send_pkt(self.hdr(REQUEST, p, port))
        got = self.wait_rx(lambda g: any(x["dst_port"] == p for x in g))
        ops = [x["op"] for x in got if x["dst_port"] == p]
        check(ops[:1] == [RESPONSE], "REQUEST to port %d answered with %s" % (port, ops))
        return p

    def expect_broken(self, what):
        check(not self.tx_taken(), "device still takes tx chains after %s" % what)


# ---- scenarios ----

class Ctx:
    def __init__(self, args):
        self.args = args
        self.listener = Listener(args.listen) if args.listen else None
        self.proc = Proc(args.pid) if args.pid else None


def started(ctx, seal=True, rx=True):
    fe = Front(ctx.args.vhost, seal)
    fe.start()
    if rx:
        fe.post_rx()
    check(fe.alive(), "device did not answer before the attack")
    return fe


def idle(ctx, fe, res):
    """The idle window: the daemon's CPU time while nothing happens."""
    if not ctx.proc:
        return
    ctx.proc.rss_anon_kb()
    t0 = ctx.proc.cpu_ticks()
    time.sleep(IDLE_S)
    t1 = ctx.proc.cpu_ticks()
    res["cpu_ms"] = (t1 - t0) * 1000 // os.sysconf("SC_CLK_TCK")
    res["rss_kb"] = ctx.proc.rss_peak


# virtqueue attacks: each makes the device "broken"

def vq_attack(ctx, build, q=1):
    fe = started(ctx)
    vq = fe.tx if q == 1 else fe.rx
    build(fe, vq)
    if q == 0:  # an rx buffer is used only when there is a packet for it
        fe.send_pkt(fe.hdr(REQUEST, fe.next_port(), NOBODY_PORT))
    for _ in range(100):  # logged once, however often it is kicked
        vq.kick()
        time.sleep(0.001)
    time.sleep(0.05)
    fe.expect_broken("the attack")
    return fe, {}


def chain(fe, vq, descs, head=0, jump=0):
    """Writes descriptors [(addr, len, flags, next)] at 0.. and publishes head."""
    for i, d in enumerate(descs):
        vq.set_desc(i, *d)
    vq.free = [i for i in vq.free if i >= len(descs)]
    vq.publish(head, jump)


def hdr_at(fe, off, **kw):
    fe.m[off:off + 44] = fe.hdr(REQUEST, fe.next_port(), NOBODY_PORT, **kw)
    return off


SLOT = SCRATCH + 0x10000
VQ_ATTACKS = {
    "desc-loop": lambda fe, vq: chain(fe, vq, [(hdr_at(fe, SLOT), 44, D_NEXT, 1),
                                               (SLOT + 64, 8, D_NEXT, 0)]),
    "next-out-of-range": lambda fe, vq: chain(fe, vq, [(hdr_at(fe, SLOT), 44, D_NEXT, QSIZE + 3)]),
    "head-out-of-range": lambda fe, vq: chain(fe, vq, [(hdr_at(fe, SLOT), 44, 0, 0)],
                                              head=QSIZE + 1),
    "addr-out-of-range": lambda fe, vq: chain(fe, vq, [(MEM_SIZE + 0x1000, 44, 0, 0)]),
    "addr-len-wrap": lambda fe, vq: chain(fe, vq, [(2 ** 64 - 0x1000, 0x2000, 0, 0)]),
    "huge-len": lambda fe, vq: chain(fe, vq, [(hdr_at(fe, SLOT), 0xFFFFFFFF, 0, 0)]),
    "readable-after-writable": lambda fe, vq: chain(
        fe, vq, [(SLOT, 64, D_NEXT | D_WRITE, 1), (hdr_at(fe, SLOT + 0x100), 44, 0, 0)]),
    "indirect-nested": lambda fe, vq: indirect(fe, vq, [(SCRATCH + 0x200, 32, D_INDIRECT, 0)]),
    "indirect-odd-length": lambda fe, vq: chain(fe, vq, [(SCRATCH, 17, D_INDIRECT, 0)]),
    "indirect-empty": lambda fe, vq: chain(fe, vq, [(SCRATCH, 0, D_INDIRECT, 0)]),
    "indirect-out-of-range": lambda fe, vq: chain(fe, vq, [(MEM_SIZE - 16, 64, D_INDIRECT, 0)]),
    "indirect-too-long": lambda fe, vq: chain(fe, vq, [(SCRATCH, 16 * (QSIZE + 1), D_INDIRECT, 0)]),
    "indirect-loop": lambda fe, vq: indirect(fe, vq, [(hdr_at(fe, SLOT), 44, D_NEXT, 1),
                                                      (SLOT + 64, 8, D_NEXT, 0)]),
    "avail-index-jump": lambda fe, vq: chain(fe, vq, [(hdr_at(fe, SLOT), 44, 0, 0)],
                                             jump=QSIZE + 5),
}


def indirect(fe, vq, table):
    for i, d in enumerate(table):
        DESC.pack_into(fe.m, SCRATCH + 16 * i, *d)
    chain(fe, vq, [(SCRATCH, 16 * len(table), D_INDIRECT, 0)])


def vq_rx_bad_buffer(fe, vq):
    """Every rx buffer still posted now points beyond guest memory."""
    fe.poll_rx()
    for i in range(QSIZE):
        vq.set_desc(i, MEM_SIZE * 4, RXBUF_LEN, D_WRITE)


def scn_zero_length_descriptors(ctx):
    """A header descriptor of length 0 (and a zero-length payload one): a
    malformed packet, dropped; the device goes on."""
    fe = started(ctx)
    for _ in range(200):
        fe.send_pkt(fe.hdr(REQUEST, fe.next_port(), NOBODY_PORT), hdr_len=0)
    q = fe.tx
    fe.flush_tx()
    i = q.free.pop(0)
    j = q.free.pop(0)
    slot = hdr_at(fe, TXHDR + i * TXSLOT)
    q.set_desc(i, slot, 44, D_NEXT, j)
    q.set_desc(j, PAYLOAD, 0)
    q.chains[i] = [i, j]
    q.publish(i)
    fe.flush_tx()
    check(fe.alive(), "device stopped after zero-length descriptors")
    return fe, {}


def scn_used_ring_outside_memory(ctx):
    """SET_VRING_ADDR with a used ring beyond guest memory is refused; so
    are desc and avail rings beyond it, and misaligned ones."""
    fe = Front(ctx.args.vhost)
    fe.connect()
    fe.handshake()
    fe.ok(SET_FEATURES, struct.pack("<Q", FEATURES))
    fe.ok(SET_MEM_TABLE, fe.mem_table([(0, MEM_SIZE, UVA, 0)]), [fe.memfd])
    fe.ok(SET_VRING_NUM, fe.state(1, QSIZE))
    bad = [dict(used=UVA + MEM_SIZE - 8), dict(used=UVA + MEM_SIZE + 0x1000),
           dict(desc=UVA - 0x10000), dict(avail=2 ** 64 - 2), dict(desc=UVA + 8),
           dict(used=UVA + 0x2002)]
    for b in bad:
        check(fe.call_msg(SET_VRING_ADDR, fe.vring_addr(1, **b)) == 1,
              "SET_VRING_ADDR %s accepted" % b)
    return fe, {"refused": len(bad)}


# vsock packet attacks: dropped or answered, the device goes on

def scn_malformed_packets(ctx):
    fe = started(ctx)
    n = 0
    for _ in range(300):
        fe.send_pkt(fe.hdr(RW, fe.next_port(), 9, length=100), payload=b"x" * 50)  # len > data
        fe.send_pkt(fe.hdr(RW, fe.next_port(), 9, length=10), payload=b"x" * 50)  # len < data
        fe.send_pkt(fe.hdr(RW, fe.next_port(), 9, length=PAYLOAD_LEN + 1), big=PAYLOAD_LEN)
        fe.send_pkt(fe.hdr(REQUEST, fe.next_port(), 9), hdr_len=20)  # short header
        n += 4
    fe.flush_tx()
    got = fe.wait_rx(lambda g: False, timeout=0.3)
    check(not got, "malformed packets answered: %s" % [x["op"] for x in got])
    check(fe.alive(), "device stopped after malformed packets")
    return fe, {"packets": n}


def scn_oversized_packet(ctx):
    """len over 64 KiB with as many bytes behind it (a three-descriptor chain)."""
    fe = started(ctx)
    q = fe.tx
    for _ in range(50):
        fe.wait_tx_room(3)
        i, j, k = q.free.pop(0), q.free.pop(0), q.free.pop(0)
        slot = TXHDR + i * TXSLOT
        fe.m[slot:slot + 44] = fe.hdr(RW, fe.next_port(), 9, length=PAYLOAD_LEN + 4096)
        q.set_desc(i, slot, 44, D_NEXT, j)
        q.set_desc(j, PAYLOAD, PAYLOAD_LEN, D_NEXT, k)
        q.set_desc(k, SCRATCH, 4096)
        q.chains[i] = [i, j, k]
        q.publish(i)
    fe.flush_tx()
    check(not fe.wait_rx(lambda g: False, timeout=0.2), "oversized packets answered")
    check(fe.alive(), "device stopped after oversized packets")
    return fe, {}


def scn_wrong_cids(ctx):
    """Forged sources get nothing; a REQUEST to another CID gets an RST from
    that CID; nothing reaches another VM."""
    fe = started(ctx)
    for src in (0, 1, 2, fe.cid + 1, 2 ** 64 - 1, fe.cid | 1 << 32):
        fe.send_pkt(fe.hdr(REQUEST, fe.next_port(), NOBODY_PORT, src_cid=src))
    p = fe.next_port()
    fe.send_pkt(fe.hdr(REQUEST, p, 5006, dst_cid=5))  # the other VM's CID
    fe.flush_tx()
    got = fe.wait_rx(lambda g: len(g) >= 1, timeout=1)
    got += fe.wait_rx(lambda g: False, timeout=0.2)
    check(len(got) == 1 and got[0]["op"] == RST and got[0]["src_cid"] == 5 and
          got[0]["dst_port"] == p, "answers to wrong CIDs: %s" % got)
    check(fe.alive(), "device stopped after wrong CIDs")
    return fe, {}


def scn_unknown_ops_and_types(ctx):
    fe = started(ctx)
    ports = []
    for op in (0, 8, 99, 0xFFFF):
        ports.append(fe.next_port())
        fe.send_pkt(fe.hdr(op, ports[-1], NOBODY_PORT))
    for ty in (0, 2, 3, 0xFFFF):
        ports.append(fe.next_port())
        fe.send_pkt(fe.hdr(REQUEST, ports[-1], NOBODY_PORT, type=ty))
    fe.flush_tx()
    got = fe.wait_rx(lambda g: len(g) >= len(ports))
    check(sorted(x["dst_port"] for x in got if x["op"] == RST) == ports,
          "RSTs for unknown ops and types: %s" % [(x["op"], x["dst_port"]) for x in got])
    check(fe.alive(), "device stopped after unknown ops")
    return fe, {}


def scn_credit_violation(ctx):
    """Beyond the buf_alloc we advertised (the host reads nothing): RST."""
    fe = started(ctx)
    ctx.listener.reset("hold")
    p = fe.connect_vsock(ctx.args.port)
    sent, rst = 0, False
    while sent < 8 * BUF_ALLOC and not rst:
        fe.send_pkt(fe.hdr(RW, p, ctx.args.port, length=PAYLOAD_LEN), big=PAYLOAD_LEN)
        sent += PAYLOAD_LEN
        fe.flush_tx()
        rst = any(x["op"] == RST and x["dst_port"] == p for x in fe.poll_rx())
    if not rst:
        rst = any(x["op"] == RST and x["dst_port"] == p
                  for x in fe.wait_rx(lambda g: any(x["op"] == RST for x in g)))
    check(rst, "no RST after %d bytes beyond the credit" % sent)
    check(fe.alive(), "device stopped after a credit violation")
    return fe, {"sent_kb": sent // 1024}


# floods

def flood(fe, hdrs, rx):
    """Sends every header as fast as the tx queue takes them; returns what
    came back meanwhile (with rx, buffers are posted again as they fill)."""
    got = []
    for h in hdrs:
        fe.send_pkt(h, kick=False)
        if len(fe.tx.free) < 8:
            fe.tx.kick()
        if rx:
            got += fe.poll_rx()
    fe.flush_tx(timeout=30)
    return got


def scn_request_flood(ctx, rx, to_sink):
    """10,000 REQUESTs from as many ports, to nobody or to a host listener
    that accepts them all; with rx buffers posted all along, or only after."""
    fe = Front(ctx.args.vhost)
    fe.start()
    fd0 = len(os.listdir("/proc/%d/fd" % ctx.args.pid)) if ctx.args.pid else 0
    ctx.listener and ctx.listener.reset("hold")
    port = ctx.args.port if to_sink else NOBODY_PORT
    first = fe.port + 1
    if rx:
        fe.post_rx()
    got = flood(fe, (fe.hdr(REQUEST, fe.next_port(), port) for _ in range(10000)), rx)
    if not rx:
        fe.post_rx()
    got += fe.wait_rx(lambda g: False, timeout=1)
    ops = {}
    for x in got:
        if first <= x["dst_port"] < first + 10000:
            ops[x["op"]] = ops.get(x["op"], 0) + 1
    res = {"responses": ops.get(RESPONSE, 0), "rsts": ops.get(RST, 0)}
    if ctx.args.pid:
        res["daemon_fds"] = len(os.listdir("/proc/%d/fd" % ctx.args.pid)) - fd0
    check(set(ops) <= {RESPONSE, RST}, "answers %s" % ops)
    if to_sink:
        check(0 < res["responses"] <= 1024, "%d connections accepted" % res["responses"])
        res["listener"] = ctx.listener.count()
    else:
        check(res["responses"] == 0, "REQUESTs to nobody accepted")
    if rx and not to_sink:
        check(res["rsts"] == 10000, "%d RSTs for 10000 REQUESTs with rx buffers" % res["rsts"])
    check(fe.alive(), "device stopped after the flood")
    return fe, res


def scn_rst_flood(ctx):
    fe = started(ctx)
    got = flood(fe, (fe.hdr(RST, fe.next_port(), NOBODY_PORT) for _ in range(10000)), True)
    check(not got + fe.wait_rx(lambda g: False, timeout=0.3), "an RST was answered")
    check(fe.alive(), "device stopped after the RST flood")
    return fe, {}


def scn_credit_request_flood(ctx):
    """10,000 CREDIT_REQUESTs on a connection and 10,000 for no connection
    while no rx buffer is posted, then buffers: a bounded answer."""
    fe = Front(ctx.args.vhost)
    fe.start()
    ctx.listener.reset("hold")
    fe.rx_auto = False
    fe.post_rx(1)  # for the RESPONSE: then no rx buffer is left
    p = fe.connect_vsock(ctx.args.port)
    # the device must keep draining tx
    flood(fe, (fe.hdr(CREDIT_REQUEST, p, ctx.args.port) for _ in range(10000)), False)
    flood(fe, (fe.hdr(CREDIT_REQUEST, fe.next_port(), NOBODY_PORT) for _ in range(10000)), False)
    fe.rx_auto = True
    fe.post_rx()
    got = fe.wait_rx(lambda g: False, timeout=1)
    updates = sum(1 for x in got if x["op"] == CREDIT_UPDATE and x["dst_port"] == p)
    rsts = sum(1 for x in got if x["op"] == RST)
    check(1 <= updates <= 2, "%d CREDIT_UPDATEs for 10000 CREDIT_REQUESTs" % updates)
    check(rsts <= 64, "%d RSTs queued without rx buffers" % rsts)
    check(fe.alive(), "device stopped after the CREDIT_REQUEST flood")
    return fe, {"updates": updates, "rsts": rsts}


def scn_zero_length_flood(ctx):
    """10,000 RW packets of length 0 on a connection, and 10,000 more for no
    connection: ignored, or answered with RST."""
    fe = started(ctx)
    ctx.listener.reset("echo")
    p = fe.connect_vsock(ctx.args.port)
    got = flood(fe, (fe.hdr(RW, p, ctx.args.port) for _ in range(10000)), True)
    check(not [x for x in got if x["op"] == RST], "zero-length packets reset the connection")
    fe.send_pkt(fe.hdr(RW, p, ctx.args.port, length=5), payload=b"hello")
    got = fe.wait_rx(lambda g: b"".join(x["data"] for x in g if x["op"] == RW) == b"hello")
    check(b"".join(x["data"] for x in got if x["op"] == RW) == b"hello",
          "the connection lost its data after zero-length packets")
    check(fe.alive(), "device stopped after zero-length packets")
    return fe, {}


# vhost-user message attacks

def vu_fresh(ctx):
    fe = Front(ctx.args.vhost)
    fe.connect()
    fe.handshake()
    return fe


def expect_dropped(fe, what):
    try:
        fe.s.settimeout(2)
        fe.get_u64(GET_FEATURES)
    except Dropped:
        return
    raise Fail("vmsvcd kept the connection after %s" % what)


def scn_vu_wrong_sizes_and_codes(ctx):
    fe = vu_fresh(ctx)
    n = 0
    for req, payload in ((SET_FEATURES, b"\0" * 4), (SET_FEATURES, b"\0" * 16),
                         (SET_VRING_NUM, b"\0" * 4), (SET_VRING_ADDR, b"\0" * 39),
                         (SET_OWNER, b"\0" * 8),
                         (0, b""), (6, b"\0" * 8), (7, b""), (26, b""), (99, b"\0" * 100),
                         (0xFFFFFFFF, b"")):
        for _ in range(50):
            check(fe.call_msg(req, payload) == 1, "request %d of %d bytes accepted" %
                  (req, len(payload)))
            n += 1
    for size in (0, 4, 12 + 9, 12 + 1000):  # GET_CONFIG answers, empty when refused
        fe.send(GET_CONFIG, struct.pack("<III", 0, size, 0)[:size] + bytes(max(0, size - 12)))
        check(fe.reply(GET_CONFIG) == b"", "GET_CONFIG of %d bytes answered" % size)
        n += 1
    check(fe.get_u64(GET_FEATURES) == FEATURES, "device unusable after refusals")
    return fe, {"refused": n}


def scn_vu_oversized_message(ctx):
    fe = vu_fresh(ctx)
    fe.send(GET_FEATURES, b"", size=1 << 20)
    expect_dropped(fe, "a 1 MiB message header")
    return fe, {}


def scn_vu_mem_tables(ctx):
    """0 or 9 regions, overlapping ones, offsets beyond the fd, a pipe, a
    count that does not match the fds: each refused, fds closed."""
    fe = vu_fresh(ctx)
    mt = fe.mem_table
    r, w = os.pipe()
    cases = [
        (mt([]), []),
        (mt([(i * 0x100000, 0x100000, UVA + i * 0x100000, i * 0x100000) for i in range(9)]),
         [fe.memfd] * 8),
        (mt([(0, 0x200000, UVA, 0), (0x100000, 0x200000, UVA + 0x400000, 0)]), [fe.memfd] * 2),
        (mt([(0, MEM_SIZE, UVA, MEM_SIZE)]), [fe.memfd]),
        (mt([(0, 0x1000, UVA, 2 ** 64 - 0x800)]), [fe.memfd]),
        (mt([(0, MEM_SIZE * 2, UVA, 0)]), [fe.memfd]),
        (mt([(2 ** 64 - 0x1000, 0x2000, UVA, 0)]), [fe.memfd]),
        (mt([(0, 0, UVA, 0)]), [fe.memfd]),
        (mt([(0, 0x1000, UVA, 0)]), [r]),
        (mt([(0, 0x1000, UVA, 0)]), []),
        (mt([(0, 0x1000, UVA, 0)]), [fe.memfd, w]),
        (mt([(0, 0x1000, UVA, 0)])[:20], [fe.memfd]),
    ]
    for i, (p, fds) in enumerate(cases):
        check(fe.call_msg(SET_MEM_TABLE, p, fds) == 1, "memory table case %d accepted" % i)
    os.close(r)
    os.close(w)
    check(fe.call_msg(SET_MEM_TABLE, mt([(0, MEM_SIZE, UVA, 0)]), [fe.memfd]) == 0,
          "a good memory table refused after bad ones")
    return fe, {"refused": len(cases)}


def scn_vu_unexpected_fds(ctx):
    fe = vu_fresh(ctx)
    r, w = os.pipe()
    for _ in range(100):
        fe.send(GET_FEATURES, b"", [r, w, fe.memfd])
        check(fe.reply(GET_FEATURES) == b"", "GET_FEATURES with fds answered with features")
        check(fe.call_msg(SET_FEATURES, struct.pack("<Q", FEATURES), [r]) == 1,
              "SET_FEATURES with an fd accepted")
        check(fe.call_msg(SET_VRING_KICK, struct.pack("<Q", 0x100), [r]) == 1,
              "SET_VRING_KICK with NOFD and an fd accepted")
        check(fe.call_msg(SET_VRING_CALL, struct.pack("<Q", 0), [r, w]) == 1,
              "SET_VRING_CALL with two fds accepted")
    os.close(r)
    os.close(w)
    check(fe.get_u64(GET_FEATURES) == FEATURES, "device unusable after unexpected fds")
    return fe, {}


def scn_vu_too_many_fds(ctx):
    fe = vu_fresh(ctx)
    fds = [os.eventfd(0) for _ in range(20)]
    try:
        fe.send(SET_VRING_CALL, struct.pack("<Q", 0), fds)
    finally:
        for fd in fds:
            os.close(fd)
    expect_dropped(fe, "20 fds on one message")
    return fe, {}


def scn_vu_trickle(ctx):
    """A message one byte at a time, fds on the first byte, is resumed."""
    fe = vu_fresh(ctx)
    fe.ok(SET_FEATURES, struct.pack("<Q", FEATURES))
    data = struct.pack("<III", SET_VRING_CALL, F_VERSION | F_NEED_REPLY, 8) + struct.pack("<Q", 1)
    socket.send_fds(fe.s, [data[:1]], [fe.call[1]])
    for b in data[1:]:
        time.sleep(0.01)
        fe.s.send(bytes([b]))
    check(fe.reply(SET_VRING_CALL) == struct.pack("<Q", 0), "trickled SET_VRING_CALL refused")
    return fe, {}


def scn_vu_never_reads(ctx):
    """Thousands of requests without reading a reply: vmsvcd queues one
    reply, reads no further, costs nothing; then the frontend leaves."""
    fe = vu_fresh(ctx)
    fe.s.setblocking(False)
    msg = struct.pack("<III", GET_FEATURES, F_VERSION, 0)
    n = 0
    end = time.monotonic() + 1
    while time.monotonic() < end:
        try:
            fe.s.send(msg * 64)
            n += 64
        except BlockingIOError:
            time.sleep(0.01)
    return fe, {"sent": n}


def scn_vu_mid_message(ctx):
    """Half a SET_MEM_TABLE with its fd, then the frontend goes away."""
    fe = vu_fresh(ctx)
    p = fe.mem_table([(0, MEM_SIZE, UVA, 0)])
    data = struct.pack("<III", SET_MEM_TABLE, F_VERSION, len(p)) + p
    socket.send_fds(fe.s, [data[:20]], [fe.memfd])
    time.sleep(0.1)
    return fe, {}


def scn_vu_bad_ring_parameters(ctx):
    """A stopped ring (GET_VRING_BASE) set up again with a size that is not a
    power of two, a queue that does not exist, a base beyond 16 bits: each
    refused."""
    fe = started(ctx)
    for q in (0, 1):
        fe.ok(SET_VRING_ENABLE, fe.state(q, 0))
        fe.send(GET_VRING_BASE, fe.state(q, 0))
        fe.reply(GET_VRING_BASE)
    check(fe.call_msg(SET_VRING_NUM, fe.state(1, 3)) == 1, "ring size 3 accepted")
    check(fe.call_msg(SET_VRING_NUM, fe.state(7, 64)) == 1, "queue 7 accepted")
    check(fe.call_msg(SET_VRING_BASE, fe.state(1, 0x10000)) == 1, "base 65536 accepted")
    return fe, {}


# memory that shrinks, memory caps

def scn_memfd_shrinks(ctx):
    """An unsealed memfd shrunk after SET_MEM_TABLE: the device reads a page
    that is gone; vmsvcd must not die of SIGBUS, the device turns broken."""
    fe = started(ctx, seal=False)
    q = fe.tx
    fe.flush_tx()
    # Two chains laid out now (we must not touch the lost pages either):
    # one whose header goes away, one in the first 64 KiB, which stay.
    a, b = q.free.pop(0), q.free.pop(0)
    q.set_desc(a, hdr_at(fe, TXHDR + a * TXSLOT), 44)
    q.set_desc(b, hdr_at(fe, 0x8000), 44)
    os.ftruncate(fe.memfd, 0x10000)  # rings and 0x8000 stay; buffers, headers go
    q.publish(a)
    q.kick()
    time.sleep(0.1)
    before = q.used_idx()
    q.publish(b)
    q.kick()
    time.sleep(0.5)
    check(q.used_idx() == before, "device still takes tx chains after the memory shrank")
    os.ftruncate(fe.memfd, 0)  # the rings too
    os.eventfd_write(fe.kick[0], 1)
    os.eventfd_write(fe.kick[1], 1)
    time.sleep(0.1)
    return fe, {}


def scn_buffer_cap(ctx):
    """Connections to a host listener that never reads, each sent as much as
    its credit allows: vmsvcd's buffers stop at the per-VM cap (connections
    beyond it are reset) and its memory stays bounded."""
    fe = started(ctx)
    ctx.listener.reset("hold")
    port = ctx.args.port
    conns = [fe.connect_vsock(port) for _ in range(160)]
    sent = dict.fromkeys(conns, 0)
    reset = set()
    for rnd in range(6):
        for p in conns:
            if p in reset:
                continue
            ba, fwd = fe.credit.get((p, port), (BUF_ALLOC, 0))
            room = ba - (sent[p] - fwd)
            while room >= PAYLOAD_LEN:
                fe.send_pkt(fe.hdr(RW, p, port, length=PAYLOAD_LEN), big=PAYLOAD_LEN, kick=False)
                sent[p] += PAYLOAD_LEN
                room -= PAYLOAD_LEN
            fe.tx.kick()
            for x in fe.poll_rx():
                if x["op"] == RST:
                    reset.add(x["dst_port"])
            if ctx.proc:
                ctx.proc.rss_anon_kb()
        fe.flush_tx()
        for x in fe.wait_rx(lambda g: False, timeout=0.2):
            if x["op"] == RST:
                reset.add(x["dst_port"])
    total = sum(sent.values())
    check(reset, "no connection reset after %d MiB to a host that reads nothing" % (total >> 20))
    check(fe.alive(), "device stopped at the buffer cap")
    return fe, {"sent_mb": total >> 20, "reset": len(reset), "conns": len(conns)}


def scn_good(ctx):
    """A well-behaved session: connect to the host listener, echo, close."""
    fe = started(ctx)
    ctx.listener.reset("echo")
    port = ctx.args.port
    p = fe.connect_vsock(port)
    fe.send_pkt(fe.hdr(RW, p, port, length=12), payload=b"hello, vmsvc")
    got = fe.wait_rx(lambda g: b"".join(x["data"] for x in g if x["op"] == RW) ==
                     b"hello, vmsvc")
    check(b"".join(x["data"] for x in got if x["op"] == RW) == b"hello, vmsvc",
          "echo: %s" % [(x["op"], x["data"]) for x in got])
    fe.send_pkt(fe.hdr(SHUTDOWN, p, port, flags=3))
    got = fe.wait_rx(lambda g: any(x["op"] == RST for x in g))
    check(any(x["op"] == RST and x["dst_port"] == p for x in got), "no RST after SHUTDOWN")
    return fe, {}


def vq_scn(name):
    return lambda ctx: vq_attack(ctx, VQ_ATTACKS[name])


SCENARIOS = {name: vq_scn(name) for name in VQ_ATTACKS}
SCENARIOS.update({
    "rx-buffer-out-of-range": lambda ctx: vq_attack(ctx, vq_rx_bad_buffer, q=0),
    "zero-length-descriptors": scn_zero_length_descriptors,
    "used-ring-outside-memory": scn_used_ring_outside_memory,
    "malformed-packets": scn_malformed_packets,
    "oversized-packet": scn_oversized_packet,
    "wrong-cids": scn_wrong_cids,
    "unknown-ops-and-types": scn_unknown_ops_and_types,
    "credit-violation": scn_credit_violation,
    "request-flood-no-rx": lambda ctx: scn_request_flood(ctx, False, False),
    "request-flood-rx": lambda ctx: scn_request_flood(ctx, True, False),
    "request-flood-listener-no-rx": lambda ctx: scn_request_flood(ctx, False, True),
    "request-flood-listener-rx": lambda ctx: scn_request_flood(ctx, True, True),
    "rst-flood": scn_rst_flood,
    "credit-request-flood": scn_credit_request_flood,
    "zero-length-flood": scn_zero_length_flood,
    "vu-wrong-sizes-and-codes": scn_vu_wrong_sizes_and_codes,
    "vu-oversized-message": scn_vu_oversized_message,
    "vu-mem-tables": scn_vu_mem_tables,
    "vu-unexpected-fds": scn_vu_unexpected_fds,
    "vu-too-many-fds": scn_vu_too_many_fds,
    "vu-trickle": scn_vu_trickle,
    "vu-never-reads": scn_vu_never_reads,
    "vu-mid-message": scn_vu_mid_message,
    "vu-bad-ring-parameters": scn_vu_bad_ring_parameters,
    "memfd-shrinks": scn_memfd_shrinks,
    "buffer-cap": scn_buffer_cap,
    "good": scn_good,
})

GROUPS = {
    "virtqueue": list(VQ_ATTACKS) + ["rx-buffer-out-of-range", "zero-length-descriptors",
                                     "used-ring-outside-memory"],
    "packets": ["malformed-packets", "oversized-packet", "wrong-cids", "unknown-ops-and-types",
                "credit-violation"],
    "floods": ["request-flood-no-rx", "request-flood-rx", "request-flood-listener-no-rx",
               "request-flood-listener-rx", "rst-flood", "credit-request-flood",
               "zero-length-flood"],
    "messages": ["vu-wrong-sizes-and-codes", "vu-oversized-message", "vu-mem-tables",
                 "vu-unexpected-fds", "vu-too-many-fds", "vu-trickle", "vu-never-reads",
                 "vu-mid-message", "vu-bad-ring-parameters"],
}


def run(ctx, name):
    if ctx.proc:
        ctx.proc.rss_peak = 0
    try:
        fe, res = SCENARIOS[name](ctx)
        idle(ctx, fe, res)
        log("scenario", name, "ok", *("%s=%s" % kv for kv in res.items()))
        return True
    except (Fail, Dropped, OSError) as e:
        log("scenario", name, "FAIL", type(e).__name__, e)
        return False
    finally:
        for fe in list(Front.opened):
            fe.close()
        time.sleep(0.05)  # vmsvcd sees the end of the connection


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vhost", required=True)
    ap.add_argument("--listen")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--pid", type=int)
    ap.add_argument("what", nargs="+")
    args = ap.parse_args()
    names = []
    for w in args.what:
        if w in GROUPS:
            names += GROUPS[w]
        elif w in SCENARIOS:
            names.append(w)
        else:
            ap.error("unknown scenario or group %s (groups: %s; scenarios: %s)" %
                     (w, " ".join(GROUPS), " ".join(SCENARIOS)))
    ctx = Ctx(args)
    ok = True
    try:
        for n in names:
            ok &= run(ctx, n)
    finally:
        if ctx.listener:
            ctx.listener.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
