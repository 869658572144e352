#!/usr/bin/env python3
"""kvpfake.py RUNDIR LOG [--vm NAME=VMID[,stale]]... - a stand-in for
vmsvcd's "kvp" and "kvp-watch" control operations
(docs/control-protocol.md), so that tests/cli-kvp.bats can check vmsvc
kvp's host side before and apart from the real daemon.

Serves RUNDIR/control.sock (SOCK_SEQPACKET) and appends every request to
LOG, one JSON line each, then prints "ready". A list is answered like a
watch: {"ok":true,"vm":NAME} with a stream of one item per line, then its
end. Pools per VM start as:
  guest:     greeting = "hello world\\n", bin = 00 ff, "a key" = "x\\ty"
  intrinsic: HostName = NAME, OSName = "Debian GNU/Linux 12"
With ",stale" the VM's guest and intrinsic items say "stale": true.
Special VM names: "off" answers EOPNOTSUPP, "secret" EACCES; a name that is
not a --vm is ENOENT. set of the key "__end__" ends every watch stream,
"__overflow__" sends {"op":"overflow"} first.
"""
import base64
import json
import os
import socket
import sys
import threading

POOLS = ("host", "guest", "intrinsic")
lock = threading.Lock()
vms = {}  # name -> {"id": VMID, "pools": {pool: {key bytes: (value bytes, gen)}}}
watchers = []  # [vm name, pool or None, prefix bytes, socket]
gen = [1]


def fail(err, msg):
    return {"ok": False, "error": err, "message": msg}


def put_bytes(o, name, b):
    try:
        s = b.decode("utf-8")
        if "\0" not in s:
            o[name] = s
            return
    except UnicodeDecodeError:
        pass
    o[name + "_b64"] = base64.b64encode(b).decode()


def get_bytes(req, name):
    if name in req:
        return req[name].encode("utf-8", "surrogateescape")
    if name + "_b64" in req:
        return base64.b64decode(req[name + "_b64"], validate=True)
    return None


def item(pool, key, value, g, op=None, stale=False):
    o = {"pool": pool}
    if op:
        o["op"] = op
    put_bytes(o, "key", key)
    if value is not None:
        put_bytes(o, "value", value)
    o["gen"] = g
    if stale and pool != "host":
        o["stale"] = True
    return o


def stream(lines):
    """The client's end of a stream that carries lines, then ends."""
    ours, theirs = socket.socketpair()

    def write():
        with ours:
            for line in lines:
                ours.sendall(line.encode() + b"\n")
    threading.Thread(target=write, daemon=True).start()
    return theirs


def find_vm(arg):
    for name, vm in vms.items():
        if arg in (name, vm["id"]):
            return name, vm
    return None, None


def notify(name, pool, key, value, g):
    line = json.dumps(item(pool, key, value, g, "set" if value is not None else "delete"))
    for w in list(watchers):
        if w[0] == name and w[1] in (None, pool) and key.startswith(w[2]):
            try:
                w[3].sendall(line.encode() + b"\n")
            except OSError:
                watchers.remove(w)


def end_watches(overflow):
    for w in list(watchers):
        if overflow:
            w[3].sendall(b'{"op":"overflow"}\n')
        w[3].close()
        watchers.remove(w)


def kvp(req, name, vm):
    action, pools = req.get("action"), vm["pools"]
    pool = req.get("pool")
    if pool is not None and pool not in POOLS:
        return fail("EINVAL", f"no pool '{pool}'")
    if action == "list":
        prefix = req.get("prefix", "").encode()
        items = [item(p, k, v, g, stale=vm["stale"]) for p in POOLS if pool in (None, p)
                 for k, (v, g) in sorted(pools[p].items()) if k.startswith(prefix)]
        return {"ok": True, "vm": name}, stream(json.dumps(i) for i in items)
    key = get_bytes(req, "key")
    if key is None:
        return fail("EINVAL", "no key")
    if action == "get":
        for p in POOLS:
            if pool in (None, p) and key in pools[p]:
                v, g = pools[p][key]
                return dict(item(p, key, v, g, stale=vm["stale"]), ok=True)
        return fail("ENOENT", "no such key")
    if action == "set":
        value = get_bytes(req, "value")
        if len(key) > 512 or len(value) > 65536:
            return fail("E2BIG", "the key or the value is too long")
        if key in (b"__end__", b"__overflow__"):
            end_watches(key == b"__overflow__")
            return {"ok": True, "gen": gen[0]}
        gen[0] += 1
        pools["host"][key] = (value, gen[0])
        notify(name, "host", key, value, gen[0])
        return {"ok": True, "gen": gen[0]}
    if action == "delete":
        if key not in pools["host"]:
            return fail("ENOENT", "no such key in the host pool")
        gen[0] += 1
        del pools["host"][key]
        notify(name, "host", key, None, gen[0])
        return {"ok": True, "gen": gen[0]}
    return fail("EINVAL", f"no action '{action}'")


def answer(req):
    """The reply and the fd to pass with it (or None)."""
    name, vm = find_vm(req.get("vm", ""))
    if req.get("vm") == "off":
        return fail("EOPNOTSUPP", "the key-value exchange is disabled for VM 'off'"), None
    if req.get("vm") == "secret":
        return fail("EACCES", "not permitted"), None
    if vm is None:
        return fail("ENOENT", f"no VM '{req.get('vm')}'"), None
    if req.get("op") == "kvp":
        reply = kvp(req, name, vm)
        return reply if isinstance(reply, tuple) else (reply, None)
    if req.get("op") == "kvp-watch":
        ours, theirs = socket.socketpair()
        watchers.append([name, req.get("pool"), req.get("prefix", "").encode(), ours])
        return {"ok": True}, theirs
    return fail("EINVAL", "unknown op"), None


def serve(conn, log):
    with conn:
        msg = conn.recv(1 << 20)
        if not msg:
            return
        req = json.loads(msg)
        with lock:
            with open(log, "a") as f:
                f.write(json.dumps(req, sort_keys=True) + "\n")
            reply, fd = answer(req)
        data = json.dumps(reply).encode()
        if fd is not None:
            socket.send_fds(conn, [data], [fd.fileno()])
            fd.close()
        else:
            conn.send(data)


def main():
    rundir, log = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    while args:
        if args[0] != "--vm":
            sys.exit(f"kvpfake: bad option {args[0]}")
        name, vmid = args[1].split("=", 1)
        vmid, _, flag = vmid.partition(",")
        vms[name] = {"id": vmid, "stale": flag == "stale", "pools": {
            "host": {},
            "guest": {b"greeting": (b"hello world\n", 1), b"bin": (b"\0\xff", 1),
                      b"a key": (b"x\ty", 1)},
            "intrinsic": {b"HostName": (name.encode(), 1),
                          b"OSName": (b"Debian GNU/Linux 12", 1)}}}
        args = args[2:]
    os.makedirs(rundir, exist_ok=True)
    path = os.path.join(rundir, "control.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, log), daemon=True).start()


if __name__ == "__main__":
    main()
