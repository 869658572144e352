#!/usr/bin/env bats
# shellcheck disable=SC2016 # guest commands single-quoted on purpose
# End-to-end: vmsvcd replaced under a running guest, with a service manager
# that keeps its fds (tests/tools/svcmgr.py: systemd's fd store protocol,
# restarting the service whenever it exits). QEMU 7.2 never reconnects a
# vhost-user-vsock device, so the new vmsvcd takes over QEMU's connection
# from the store (daemon/vm-handover.c, docs/restart.md):
#   - SIGKILL: the guest's open connections are reset (idle ones too), host
#     peers see their streams end, and new connections work both ways
#     within 5 s, in the same guest boot;
#   - SIGUSR1 (stop for a successor): the same, the old daemon resetting
#     its connections itself;
#   - SIGTERM: a clean stop removes the stored connection: QEMU is let go.

load lib/guest
load lib/daemon

setup_file() {
	e2e_require
	daemon_init
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc service add sink --port 5000 >/dev/null
	vmsvc service add echo --port 5001 >/dev/null
	vmsvc service add busy --port 5002 >/dev/null
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
		bg daemon python3 -u "$(_e2e_src)/tests/tools/svcmgr.py" "$E2E_ROOT/notify" -- \
		"$VMSVC_VMSVCD" --verbose --state-dir "$VMSVC_STATE_DIR"
	echo $! >"$E2E_ROOT/svcmgr.pid"
	mgr_wait '^ready ' 1
	guest_start g1 --vhost "$(vm_vhost g1)"
	guest_exec g1 'cat /proc/sys/kernel/random/boot_id' >"$E2E_ROOT/boot_id"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
}

teardown_file() {
	local pid i
	pid=$(cat "$E2E_ROOT/svcmgr.pid")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
}

teardown() {
	e2e_teardown_test
	daemon_check_log
}

# mgr_wait PATTERN N: wait (10 s) until the manager printed N lines
# matching the grep -E PATTERN.
mgr_wait() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(grep -E -c -- "$1" "$E2E_ROOT/daemon.out" 2>/dev/null)" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "# the service manager did not print $2 x /$1/:" >&2
	cat "$E2E_ROOT/daemon.out" >&2
	return 1
}

# The running vmsvcd (the manager's last start).
svc_pid() {
	sed -n 's/^started //p' "$E2E_ROOT/daemon.out" | tail -n 1
}

# new_conns_work T0: a guest to host and a host to guest round trip; prints
# the milliseconds since T0 when both worked.
new_conns_work() {
	round_trips g1 5001 6100 10 || return 1
	ms_since "$1"
}

# open_conns TAG: three connections open across the restart, the guest's
# logs in /tmp/TAG-*.log: an idle guest sender (its host sink does not read,
# so it waits for credit and sends nothing), a busy guest sender and a host
# application streaming into a guest sink.
open_conns() {
	peer_start "idle-$1" "$(vm_port_path g1 5000)" sink 1000
	guest_exec g1 "vsock-tool -t 120 send 2 5000 100000000000 3 >/tmp/$1-idle.log 2>&1 &"
	peer_wait "idle-$1" '^accepted 1$' 10
	peer_start "busy-$1" "$(vm_port_path g1 5002)" sink
	guest_exec g1 "vsock-tool -t 120 send 2 5002 100000000000 4 >/tmp/$1-busy.log 2>&1 &"
	peer_wait "busy-$1" '^accepted 1$' 10
	guest_exec g1 "vsock-tool listen 6000 sink >/tmp/$1-down.log 2>&1 &
		wait-for /tmp/$1-down.log listening"
	host_stream "$1-down" g1 6000 5
	sleep 1
}

# conns_ended TAG T0: every connection of open_conns ended, the guest's
# senders reset (EPIPE: a Linux guest's send after an RST).
conns_ended() {
	local idle busy down
	idle=$(guest_wait_file g1 "/tmp/$1-idle.log" '^error' 5)
	busy=$(guest_wait_file g1 "/tmp/$1-busy.log" '^error' 5)
	down=$(guest_wait_file g1 "/tmp/$1-down.log" '^(recv|error)' 5)
	echo "# checked $(ms_since "$2") ms after the stop: idle guest sender: $idle; busy guest sender: $busy; guest sink of a host stream: $down" >&3
	[[ $idle =~ ^error\ (EPIPE|ECONNRESET) ]]
	[[ $busy =~ ^error\ (EPIPE|ECONNRESET) ]]
	# The host peers of the old daemon saw their streams end (the idle
	# one does not read: the kernel closed its peer all the same).
	peer_wait "busy-$1" '^(recv|error) 1 ' 5
	wait_out "$1-down" '^(eof|error)' 5
	peer_stop "busy-$1"
	peer_stop "idle-$1"
}

@test "vmsvcd SIGKILLed, restarted by the service manager: guest connections reset, new ones work both ways within 5 s, same guest boot" {
	local old t0 ms
	open_conns k
	old=$(svc_pid)
	t0=$(date +%s%N)
	kill -KILL "$old"
	mgr_wait "^exited $old -9" 1
	mgr_wait '^ready ' 2
	# new connections first: the 5 s are vmsvcd's, not the time this
	# test takes to read the old connections' logs in the guest
	ms=$(new_conns_work "$t0")
	echo "# new connections both ways worked $ms ms after the SIGKILL" >&3
	[ "$ms" -lt 5000 ]
	conns_ended k "$t0"
	[ "$(svc_pid)" != "$old" ]
	grep -q "VM g1: took over QEMU's connection from the previous vmsvcd" "$E2E_ROOT/daemon.log"
	grep -E "VM g1: resetting the [0-9]+ connection\(s\) of the previous vmsvcd" "$E2E_ROOT/daemon.log" |
		sed 's/^/# /' >&3
	grep -E -q "VM g1: resetting the ([3-9]|[1-9][0-9]+) connection\(s\)" "$E2E_ROOT/daemon.log"
	# The same guest boot: nothing rebooted, QEMU never noticed.
	[ "$(guest_exec g1 'cat /proc/sys/kernel/random/boot_id')" = "$(cat "$E2E_ROOT/boot_id")" ]
	run grep -c 'QEMU disconnected' "$E2E_ROOT/daemon.log"
	[ "$output" = 0 ]
}

@test "SIGUSR1: vmsvcd stops for a successor; the successor takes over, new connections work within 5 s" {
	local old t0 ms
	open_conns u
	old=$(svc_pid)
	t0=$(date +%s%N)
	kill -USR1 "$old"
	mgr_wait "^exited $old 0" 1
	mgr_wait '^ready ' 3
	# new connections first: the 5 s are vmsvcd's, not the time this
	# test takes to read the old connections' logs in the guest
	ms=$(new_conns_work "$t0")
	echo "# new connections both ways worked $ms ms after SIGUSR1" >&3
	[ "$ms" -lt 5000 ]
	conns_ended u "$t0"
	grep -q 'SIGUSR1: stopping for a successor' "$E2E_ROOT/daemon.log"
	[ "$(grep -c "VM g1: took over QEMU's connection" "$E2E_ROOT/daemon.log")" = 2 ]
	[ "$(guest_exec g1 'cat /proc/sys/kernel/random/boot_id')" = "$(cat "$E2E_ROOT/boot_id")" ]
}

@test "SIGTERM is a clean stop: the stored QEMU connection is removed, the next vmsvcd has none" {
	local old removed
	old=$(svc_pid)
	removed=$(grep -c '^removed vmsvc.g1.qemu ' "$E2E_ROOT/daemon.out")
	kill -TERM "$old"
	mgr_wait "^exited $old 0" 1
	mgr_wait '^ready ' 4
	[ "$(grep -c '^removed vmsvc.g1.qemu ' "$E2E_ROOT/daemon.out")" = $((removed + 1)) ]
	[ "$(grep -c "VM g1: took over QEMU's connection" "$E2E_ROOT/daemon.log")" = 2 ]
	# QEMU lost its backend: the guest's vsock is gone until its next start.
	run guest_exec g1 'vsock-tool -t 5 connect 2 5001'
	echo "# guest connect after a SIGTERM: $output" >&3
	[ "$status" -ne 0 ]
}
