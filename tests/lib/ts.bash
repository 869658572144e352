# shellcheck shell=bash
# Helpers for the time sync tests (tests/e2e-timesync*.bats): the tests'
# own clock check, independent of the agent: tests/tools/tsprobe.c in the
# guest (/usr/bin/tsprobe) against tests/tools/tsresponder.py on the host,
# through vmsvcd's hybrid path (RUNDIR/vms/NAME.vsock_PORT, a Unix socket:
# never AF_VSOCK on the host). Load after lib/daemon, lib/guest, lib/ic.
#
#   ts_responder_start VM     register "tsprobe" (port TS_PROBE_PORT) and
#                             listen at its hybrid path
#   ts_probe_bg VM LOG ARGS   tsprobe ARGS in the background, to /tmp/LOG
#   ts_probe_log VM LOG       the lines so far: HOST_MS OFFSET_NS DELAY_NS
#   ts_settle FILE T0_MS BOUND_NS
#                             ms from T0 until |offset| stays under BOUND
#                             (to the end of FILE); -1 when it never does
#   ts_stats FILE FROM_MS     "n p50 p99 max" of |offset| and "p50" of the
#                             delay (µs), samples at or after FROM_MS

TS_PROBE_PORT=7030
TS_RESPONDER=${VMSVC_SOURCE_DIR:-.}/tests/tools/tsresponder.py

ts_responder_start() {
	vmsvc service add tsprobe --port "$TS_PROBE_PORT" >/dev/null 2>&1 || true
	peer_stop tsresp
	rm -f "$E2E_ROOT/peers/tsresp.log"
	vm_port_path "$1" "$TS_PROBE_PORT" >"$E2E_ROOT/peers/tsresp.path"
	python3 -u "$TS_RESPONDER" "$(vm_port_path "$1" "$TS_PROBE_PORT")" \
		</dev/null >"$E2E_ROOT/peers/tsresp.log" 2>&1 3>&- &
	echo $! >"$E2E_ROOT/peers/tsresp.pid"
	peer_wait tsresp '^listening' 10
}

ts_probe_bg() {
	local vm=$1 log=$2
	shift 2
	guest_exec "$vm" "VMSVC_GUEST=1 tsprobe $* >/tmp/$log 2>/tmp/$log.err </dev/null &"
}

ts_probe_log() {
	guest_exec "$1" "cat /tmp/$2"
}

ts_settle() {
	python3 - "$@" <<'PY'
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3]
t0, bound = int(sys.argv[2]), int(sys.argv[3])
rows = [r for r in rows if r[0] >= t0]
settle = -1
for i, r in enumerate(rows):
    if all(abs(x[1]) < bound for x in rows[i:]):
        settle = r[0] - t0
        break
print(settle)
PY
}

ts_stats() {
	python3 - "$@" <<'PY'
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3]
rows = [r for r in rows if r[0] >= int(sys.argv[2])]
if not rows:
    print("0 0 0 0 0")
    sys.exit(0)
off = sorted(abs(r[1]) // 1000 for r in rows)
dl = sorted(r[2] // 1000 for r in rows)
pick = lambda v, q: v[min(len(v) - 1, int(q * len(v)))]
print(len(off), pick(off, 0.5), pick(off, 0.99), off[-1], pick(dl, 0.5))
PY
}
