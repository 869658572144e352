#!/usr/bin/env python3
"""fakectl.py RUNDIR PLAN LOG - a stand-in for vmsvcd's control socket
(RUNDIR/control.sock), so that the CLI's side of the integration services
(vmsvc vm shutdown's waiting and exit statuses, the heartbeat display) can
be tested without a guest.

PLAN is a JSON file: {"OP": REPLY or [REPLY, ...], ...}. The n-th request
of an op gets the n-th reply of its list, the last one again once the list
is used up; an op the plan lacks gets {"ok": false, "error": "EINVAL"}. A
reply may carry "_delay_ms" (answer later; removed before sending). Every
request is appended to LOG as one JSON line. Prints "listening" once
ready; runs until killed. Used by tests/cli-integration.bats.
"""
import json
import os
import socket
import sys
import time


def main():
    run, plan_file, log = sys.argv[1:4]
    with open(plan_file) as f:
        plan = json.load(f)
    os.makedirs(run, exist_ok=True)
    path = os.path.join(run, "control.sock")
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(16)
    print("listening", flush=True)
    counts = {}
    while True:
        conn, _ = srv.accept()
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                req = json.loads(data.decode())
                with open(log, "a") as f:
                    f.write(json.dumps(req) + "\n")
                op = req.get("op")
                replies = plan.get(op)
                if replies is None:
                    reply = {"ok": False, "error": "EINVAL", "message": "unknown op"}
                else:
                    if isinstance(replies, dict):
                        replies = [replies]
                    n = counts.get(op, 0)
                    counts[op] = n + 1
                    reply = dict(replies[min(n, len(replies) - 1)])
                delay = reply.pop("_delay_ms", 0)
                if delay:
                    time.sleep(delay / 1000)
                conn.send(json.dumps(reply).encode())


if __name__ == "__main__":
    main()
