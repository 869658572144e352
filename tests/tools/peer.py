#!/usr/bin/env python3
"""peer.py - the host-side peers of the daemon and end-to-end tests
(tests/lib/daemon.bash runs it; the modes and options are described there).

  peer.py listen PATH MODE [ARG]   a Unix-socket listener at PATH, one thread
                                   per connection (peer_start)
  peer.py hybrid PATH [OPTIONS]    a host-to-guest client of a VM's hybrid
                                   socket PATH (hybrid)

Never opens AF_VSOCK: both talk to vmsvcd's Unix sockets only.
"""
import errno, hashlib, os, signal, socket, subprocess, sys, threading, time

T0 = time.monotonic()
lock = threading.Lock()

def ms():
    return int((time.monotonic() - T0) * 1000)

def log(*a):
    with lock:
        sys.stdout.write(" ".join(str(x) for x in a) + "\n")
        sys.stdout.flush()

def esc(b):
    out = []
    for c in b:
        if c == 10:
            out.append("\\n")
        elif c == 92:
            out.append("\\\\")
        elif 32 <= c < 127:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)

def unesc(s):
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1")

def ename(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__

class Counter:
    n = 0

def read_all(s, cnt, h=None, keep=None):
    while True:
        d = s.recv(65536)
        if not d:
            return
        cnt.n += len(d)
        if h is not None:
            h.update(d)
        if keep is not None:
            keep.append(d)

def serve_one(s, n, kind, arg):
    cnt = Counter()
    try:
        if kind in ("echo", "echosha"):
            h = hashlib.sha256() if kind == "echosha" else None
            while True:
                d = s.recv(65536)
                if not d:
                    break
                cnt.n += len(d)
                if h is not None:
                    h.update(d)
                s.sendall(d)
            s.shutdown(socket.SHUT_WR)
            log("echoed", n, cnt.n, *(("sha256", h.hexdigest()) if h is not None else ()))
        elif kind == "sink":
            h = hashlib.sha256()
            if arg:
                time.sleep(float(arg))
            read_all(s, cnt, h)
            log("recv", n, cnt.n, "sha256", h.hexdigest())
        elif kind == "source":
            nbytes, seed = arg.split()
            p = subprocess.Popen([os.environ["VMSVC_STREAMGEN"], "gen", nbytes, seed],
                                 stdout=subprocess.PIPE)
            while True:
                d = p.stdout.read(65536)
                if not d:
                    break
                s.sendall(d)
                cnt.n += len(d)
            p.wait()
            log("sent", n, cnt.n)
        elif kind == "reply":
            keep = []
            read_all(s, cnt, None, keep)
            log("got", n, cnt.n, esc(b"".join(keep)[:4096]))
            s.sendall(unesc(arg).replace(b"%N", str(cnt.n).encode()))
            log("replied", n)
        else:
            log("error", n, "bad-mode", 0)
    except Exception as e:
        log("error", n, ename(e), cnt.n)
    finally:
        s.close()

def listen(path, kind, arg):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(256)
    log("listening", path)
    n = 0
    while True:
        c, _ = ls.accept()
        n += 1
        log("accepted", n)
        threading.Thread(target=serve_one, args=(c, n, kind, arg), daemon=True).start()

def hybrid(argv):
    path = argv[0]
    o = {"line": "CONNECT 0\\n", "early": "", "send": None, "stdin": False,
         "shut": True, "early_shut": False, "sha": False, "timeout": 60.0}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--line":
            o["line"] = argv[i + 1]; i += 2
        elif a == "--port":
            o["line"] = "CONNECT %s\\n" % argv[i + 1]; i += 2
        elif a == "--early":
            o["early"] = argv[i + 1]; i += 2
        elif a == "--send":
            o["send"] = argv[i + 1]; i += 2
        elif a == "--stdin":
            o["stdin"] = True; i += 1
        elif a == "--shut-early":
            o["early_shut"] = True; i += 1
        elif a == "--no-shut":
            o["shut"] = False; i += 1
        elif a == "--sha":
            o["sha"] = True; i += 1
        elif a == "--timeout":
            o["timeout"] = float(argv[i + 1]); i += 2
        else:
            sys.stderr.write("hybrid: bad option %s\n" % a)
            sys.exit(2)
    def on_alarm(sig, frm):
        log("timeout", "ms=%d" % ms())
        os._exit(3)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, o["timeout"])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        s.sendall(unesc(o["line"]) + unesc(o["early"]))
        if o["early_shut"]:
            s.shutdown(socket.SHUT_WR)
    except OSError as e:
        log("error", ename(e), "connect")
        sys.exit(1)
    line = b""
    while not line.endswith(b"\n"):
        try:
            c = s.recv(1)
        except OSError as e:
            log("noline", "ms=%d" % ms(), esc(line), ename(e))
            sys.exit(1)
        if not c:
            log("noline", "ms=%d" % ms(), esc(line))
            sys.exit(1)
        line += c
    log("line", esc(line[:-1]))
    sent = Counter()
    serr = []
    def sender():
        if o["early_shut"]:
            return
        try:
            if o["send"] is not None:
                d = unesc(o["send"])
                s.sendall(d)
                sent.n += len(d)
            if o["stdin"]:
                while True:
                    d = os.read(0, 65536)
                    if not d:
                        break
                    s.sendall(d)
                    sent.n += len(d)
            if o["shut"]:
                s.shutdown(socket.SHUT_WR)
        except Exception as e:
            serr.append(ename(e))
    t = threading.Thread(target=sender, daemon=True)
    t.start()
    got = Counter()
    h = hashlib.sha256()
    keep = []
    rerr = None
    try:
        read_all(s, got, h, None if o["sha"] else keep)
    except Exception as e:
        rerr = ename(e)
    t.join(o["timeout"])
    log("sent", sent.n)
    if o["sha"]:
        log("recv", got.n, "sha256", h.hexdigest())
    else:
        log("data", esc(b"".join(keep)))
    if rerr or serr:
        log("error", rerr or "-", "send-error", serr[0] if serr else "-", "ms=%d" % ms())
        sys.exit(1)
    log("eof", "ms=%d" % ms())

if sys.argv[1] == "listen":
    listen(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "")
elif sys.argv[1] == "hybrid":
    hybrid(sys.argv[2:])
