#!/usr/bin/env python3
"""svcmgr.py - a stand-in for systemd's service manager, as far as vmsvcd's
restart tests need it: the sd_notify(3) socket with the file descriptor
store, and a restart of the service whenever it dies, with the stored fds
passed as sd_listen_fds(3) says (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES,
fds from 3). Like systemd it keeps the stored fds across restarts, ignores
an fd it already holds (same file), and drops what FDSTOREREMOVE=1 names.

  svcmgr.py NOTIFY_SOCKET_PATH -- COMMAND [ARGS...]

Prints to stdout, one line each: "started PID", "ready PID",
"stored NAME" / "removed NAME" (with the count left), "exited PID STATUS"
(a negative STATUS is the signal). On SIGTERM it stops the service
(SIGTERM, then SIGKILL after 10 s), drops the store and exits 0.
"""
import array, ctypes, os, signal, socket, subprocess, sys, time

def log(*a):
    print(*a, flush=True)

LIBC = ctypes.CDLL(None, use_errno=True)
SYS_KCMP, KCMP_FILE = 312, 0  # x86_64

def same_file(a, b):
    """Whether fds a and b are the same open file (kcmp(2)), as systemd checks."""
    pid = os.getpid()
    return LIBC.syscall(SYS_KCMP, pid, pid, KCMP_FILE, a, b) == 0

def main():
    path = sys.argv[1]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    store = []  # [(name, fd)]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    ns.settimeout(0.05)
    stopping = [False]
    signal.signal(signal.SIGTERM, lambda *a: stopping.__setitem__(0, True))

    def start():
        high = [os.dup(fd) for _, fd in store]
        n = len(high)
        def place():
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i)
            os.environ["LISTEN_PID"] = str(os.getpid())
        env = dict(os.environ, NOTIFY_SOCKET=path)
        if n:
            env.update(LISTEN_FDS=str(n), LISTEN_FDNAMES=":".join(nm for nm, _ in store))
        # LISTEN_PID must be the service's own PID: sh sets it and execs.
        p = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"] + cmd,
                             env=env, preexec_fn=place if n else None, close_fds=False)
        for fd in high:
            os.close(fd)
        log("started", p.pid)
        return p

    proc = start()
    while True:
        if stopping[0]:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log("exited", proc.pid, proc.returncode)
            for _, fd in store:
                os.close(fd)
            return 0
        rc = proc.poll()
        if rc is not None:
            log("exited", proc.pid, rc)
            time.sleep(0.1)
            proc = start()
        try:
            msg, anc, _, _ = ns.recvmsg(4096, socket.CMSG_SPACE(64 * 4))
        except socket.timeout:
            continue
        fds = []
        for lvl, typ, data in anc:
            if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(data[:len(data) - len(data) % 4])
                fds.extend(a)
        kv = dict(l.split("=", 1) for l in msg.decode().split("\n") if "=" in l)
        name = kv.get("FDNAME", "stored")
        if kv.get("READY") == "1":
            log("ready", proc.pid)
        if kv.get("FDSTOREREMOVE") == "1":
            for nm, fd in [x for x in store if x[0] == name]:
                os.close(fd)
            store = [x for x in store if x[0] != name]
            log("removed", name, len(store))
        if kv.get("FDSTORE") == "1":
            for fd in fds:
                if any(same_file(fd, old) for _, old in store):
                    os.close(fd)
                    continue
                store.append((name, fd))
                log("stored", name, len(store))
        else:
            for fd in fds:
                os.close(fd)

if __name__ == "__main__":
    sys.exit(main())
