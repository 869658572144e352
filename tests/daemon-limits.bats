#!/usr/bin/env bats
# shellcheck disable=SC2030,SC2031 # bats run
# vmsvcd's limits on local clients, host side only: a daemon out of fds
# pauses accepting instead of spinning on its control socket (and recovers),
# and only root and the vmsvc group may read VM state and counters (status,
# stats). Every host command runs with VMSVC_GUEST=0: never AF_VSOCK here.

load lib/guest
load lib/daemon
load lib/hv

FLOOD=${VMSVC_SOURCE_DIR:-.}/tests/tools/ctlflood.py

setup_file() {
	e2e_require
	daemon_init
	chmod 755 "$E2E_ROOT" # the unprivileged tests reach control.sock
	vmsvc vm add g1 --cid 7 >/dev/null
	vmsvc service add lb --port 5000 >/dev/null
	# Out of fds on purpose: 128 of them, and no per-user cap below that.
	(
		ulimit -n 128
		daemon_start --max-clients-per-user 1000
	)
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	export VMSVC_GUEST=0
}

teardown() {
	bg_stop_all
	daemon_check_alive
}

# cpu_ticks PID: user + system time of PID so far, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' <"/proc/$1/stat"
}

# flood ID COUNT [as nobody]: ctlflood.py in the background; waits for its line.
flood() {
	local id=$1 n=$2
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
		/usr/bin/python3 "$FLOOD" "$VMSVC_RUNTIME_DIR/control.sock" "$n" \
		</dev/null >"$E2E_ROOT/$id.out" 2>"$E2E_ROOT/$id.log" 3>&- &
	bg_track $!
	echo $! >"$E2E_ROOT/$id.pid"
	for ((n = 0; n < 200; n++)); do
		grep -q '^opened' "$E2E_ROOT/$id.out" && return 0
		sleep 0.05
	done
	cat "$E2E_ROOT/$id.out" "$E2E_ROOT/$id.log" >&2
	return 1
}

@test "out of fds: vmsvcd pauses accepting (no spin: < 0.3 s CPU in 3 s), answers again once the connections close" {
	flood f1 300
	sed "s/^/# /" "$E2E_ROOT/f1.out" >&3
	# The daemon ran out of fds (128) before the 300 connects were taken.
	grep -q 'accept: Too many open files; pausing' <(daemon_log)
	local pid t0 t1
	pid=$(daemon_pid)
	t0=$(cpu_ticks "$pid")
	sleep 3
	t1=$(cpu_ticks "$pid")
	echo "# vmsvcd used $((t1 - t0)) ticks of CPU in 3 s ($(getconf CLK_TCK)/s)" >&3
	[ $(((t1 - t0) * 1000 / $(getconf CLK_TCK))) -lt 300 ]
	kill "$(cat "$E2E_ROOT/f1.pid")"
	# Recovers: the paused listener is resumed and serves root at once.
	local i
	for ((i = 0; i < 50; i++)); do
		run vmsvc stats --json
		[ "$status" = 0 ] && break
		sleep 0.1
	done
	[ "$status" = 0 ]
	run vmsvc vm list
	[ "$status" = 0 ]
	[[ "$output" == *g1* ]]
}

@test "status and stats: EACCES for other users, with a message that says who may" {
	run as_nobody -- "$VMSVC" stats
	[ "$status" = 1 ]
	[[ "$output" == *"needs root or the 'vmsvc' group"* ]]
	run as_nobody -- /usr/bin/python3 -c '
import json, socket, sys
for op in ("status", "stats"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[1])
    s.send(json.dumps({"op": op}).encode())
    r = json.loads(s.recv(65536))
    print(op, r["ok"], r.get("error"), "vms" in r, "services" in r)
' "$VMSVC_RUNTIME_DIR/control.sock"
	[ "$status" = 0 ]
	[ "${lines[0]}" = "status False EACCES False False" ]
	[ "${lines[1]}" = "stats False EACCES False False" ]
	run as_nobody -- "$VMSVC" vm list
	[[ "$output" == *"VM states are not shown"* ]]
	# Root and the vmsvc group read them.
	run vmsvc stats --json
	[ "$status" = 0 ]
	run setpriv --reuid=nobody --regid=nogroup --groups=vmsvc -- "$VMSVC" stats --json
	[ "$status" = 0 ]
	[[ "$output" == *'"vms"'* ]]
}
