# shellcheck shell=bash disable=SC2154 # lines, status: set by bats run
# Helpers for the integration services' tests (tests/e2e-integration.bats,
# tests/e2e-ic-*.bats): vmsvcd's view of a VM through its control socket
# (root), and QMP. Load after lib/daemon.
#
#   ctl JSON [ctlcall options]   one control request; prints the reply line
#   reply_check PYEXPR           PYEXPR over j, the reply line of the last run
#   vm_status PYEXPR             PYEXPR over v (the entry of VM $VM, default
#                                g1, in "status") and h (its "heartbeat")
#   hb_wait STATUS [SECONDS]     poll until the heartbeat's status is STATUS;
#                                prints the milliseconds it took
#   integration_check PYEXPR     PYEXPR over j ("integration" of $VM) and s
#                                (its services by short name)
#   log_wait PATTERN             wait (5 s) for PATTERN in the daemon's log
#   qmp PATH CMD                 a QMP command (tests/tools/qmp.py)

CTLCALL=${VMSVC_SOURCE_DIR:-.}/tests/tools/ctlcall.py
QMP=${VMSVC_SOURCE_DIR:-.}/tests/tools/qmp.py

# ctl JSON [ctlcall options]: one control request as root; reply line, "fd no".
ctl() {
	/usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" "$@"
}

# reply_check PYEXPR: PYEXPR over j, the reply line of the last run.
reply_check() {
	/usr/bin/python3 -c '
import json, sys
j = json.loads(sys.argv[1])
ok = eval(sys.argv[2])
if not ok:
    print("# check failed:", sys.argv[2], "\n# reply:", sys.argv[1])
sys.exit(0 if ok else 1)' "${lines[0]}" "$1" >&2
}

# vm_status PYEXPR: PYEXPR over v, the entry of VM $VM (default g1) in
# "status", and h, its "heartbeat"; prints the result.
vm_status() {
	ctl '{"op":"status"}' | sed -n 1p | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
v = next(x for x in j["vms"] if x["name"] == sys.argv[2])
h = v.get("heartbeat", {})
print(eval(sys.argv[1]))' "$1" "${VM:-g1}"
}

# hb_wait STATUS [SECONDS]: poll the heartbeat's status (of $VM, default g1)
# every 50 ms until it is STATUS (default 10 s); prints the milliseconds it
# took, or fails with the statuses seen.
hb_wait() {
	local want=$1 limit=$((${2:-10} * 1000)) t0 now s seen=
	t0=$(date +%s%3N)
	while :; do
		s=$(vm_status 'h.get("status")')
		now=$(date +%s%3N)
		[ "$s" = "$want" ] && break
		[[ " $seen " == *" $s "* ]] || seen+=" $s"
		if ((now - t0 > limit)); then
			echo "# heartbeat not '$want' after $((now - t0)) ms; seen:$seen" >&2
			return 1
		fi
		sleep 0.05
	done
	echo $((now - t0))
}

# integration_check PYEXPR: PYEXPR over j, the "integration" reply for $VM
# (default g1),
# and s, its services by short name.
integration_check() {
	run ctl "{\"op\":\"integration\",\"vm\":\"${VM:-g1}\"}"
	[ "$status" = 0 ]
	/usr/bin/python3 -c '
import json, sys
j = json.loads(sys.argv[1])
s = {x["short"]: x for x in j["services"]}
ok = eval(sys.argv[2])
if not ok:
    print("# check failed:", sys.argv[2], "\n# reply:", sys.argv[1])
sys.exit(0 if ok else 1)' "${lines[0]}" "$1" >&2
}

# log_wait PATTERN: wait (5 s) for a line matching the grep PATTERN in the
# daemon's log (the tick logs up to 100 ms after a status shows it).
log_wait() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q -- "$1" "$E2E_ROOT/daemon.log" && return 0
		sleep 0.05
	done
	echo "# no '$1' in the daemon's log" >&2
	return 1
}


qmp() {
	/usr/bin/python3 "$QMP" "$@"
}
