#!/usr/bin/env bats
# shellcheck disable=SC2030,SC2031 # bats run
# vmsvcd and a service manager: READY=1 on $NOTIFY_SOCKET once its sockets
# exist (path and abstract addresses), and a clean exit on SIGTERM.

load lib/daemon

setup_file() {
	daemon_init
	vmsvc vm add n1 --cid 7 >/dev/null
}

setup() {
	daemon_init
	NS=$E2E_ROOT/notify.sock
	rm -f "$NS"
}

teardown() {
	[ -z "${RECV_PID:-}" ] || kill "$RECV_PID" 2>/dev/null || true
	[ -z "${DPID:-}" ] || kill "$DPID" 2>/dev/null || true
}

# recv_ready ADDR OUT: a python3 datagram receiver that, on the first datagram,
# writes it and whether the daemon's sockets existed at that moment to OUT.
recv_ready() {
	python3 - "$1" "$2" "$VMSVC_RUNTIME_DIR" <<'PY' &
import os, socket, sys
addr, out, run = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
s.settimeout(30)
open(out + ".bound", "w").close()
msg = s.recv(4096).decode()
socks = [os.path.exists(os.path.join(run, p)) for p in ("control.sock", "vms/n1.vhost", "vms/n1.vsock")]
open(out, "w").write(msg.replace("\n", "|") + " sockets=" + str(all(socks)) + "\n")
PY
	RECV_PID=$!
	for _ in $(seq 200); do
		[ -e "$2.bound" ] && return 0
		sleep 0.05
	done
	echo "the receiver did not bind $1" >&2
	return 1
}

start_daemon_with() { # NOTIFY_SOCKET value
	NOTIFY_SOCKET=$1 "${VMSVC_VMSVCD:?}" >"$E2E_ROOT/notify-daemon.log" 2>&1 &
	DPID=$!
}

stop_daemon() {
	kill -TERM "$DPID"
	local st=0
	wait "$DPID" || st=$?
	DPID=
	[ "$st" -eq 0 ]
	[ ! -e "$VMSVC_RUNTIME_DIR/control.sock" ]
	[ ! -e "$VMSVC_RUNTIME_DIR/vms/n1.vhost" ]
	! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$E2E_ROOT/notify-daemon.log"
}

@test "READY=1 reaches a path NOTIFY_SOCKET after the sockets exist" {
	recv_ready "$NS" "$E2E_ROOT/ready.out"
	start_daemon_with "$NS"
	wait "$RECV_PID"
	RECV_PID=
	grep -q '^READY=1|.* sockets=True$' "$E2E_ROOT/ready.out"
	stop_daemon
}

@test "READY=1 reaches an abstract NOTIFY_SOCKET (@name)" {
	local name="@vmsvc-test-$$-$RANDOM"
	recv_ready "$name" "$E2E_ROOT/ready2.out"
	start_daemon_with "$name"
	wait "$RECV_PID"
	RECV_PID=
	grep -q '^READY=1|.* sockets=True$' "$E2E_ROOT/ready2.out"
	stop_daemon
}

@test "a NOTIFY_SOCKET nobody listens on is logged, and the daemon serves anyway" {
	start_daemon_with "$E2E_ROOT/nobody.sock"
	for _ in $(seq 100); do
		[ -S "$VMSVC_RUNTIME_DIR/control.sock" ] && break
		sleep 0.05
	done
	sleep 0.2
	grep -q "cannot notify the service manager" "$E2E_ROOT/notify-daemon.log"
	vmsvc vm list | grep -q '^n1 '
	stop_daemon
}
