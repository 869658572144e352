#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# End-to-end: crashes around the real vmsvcd, nothing lost silently.
#   - QEMU SIGKILLed while data flows both ways: every host peer sees its
#     stream end (EOF or ECONNRESET) at once, vmsvcd frees every fd it had
#     for the VM, and the VM boots again on the same vhost-user socket;
#   - a host application SIGKILLed mid-transfer: the guest's side ends at
#     once: reset (RST; a Linux guest then fails its next send with EPIPE,
#     ECONNRESET is only for an RST during connect) when vmsvcd's write or
#     read fails, the stream's end when the kill looks like a close;
#   - vmsvcd SIGKILLed and started again under a running guest, with no
#     service manager to keep its fds (with one: e2e-restart.bats): its host
#     peers see their streams end, and (QEMU 7.2's vhost-user-vsock has no
#     reconnect, docs/restart.md) the VM's vsock comes back with the VM's
#     next start: the guest powers off cleanly and boots again on the new
#     daemon's socket;
#   - vmsvcd SIGKILLed while it writes a VM's KVP pool (its state folder):
#     the restarted daemon loads the old or the new pool, never a torn one.

load lib/guest
load lib/daemon

HUGE=100000000000

setup_file() {
	e2e_require
	daemon_init
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc service add sink --port 5000 >/dev/null
	vmsvc service add echo --port 5001 >/dev/null
	daemon_start
	# vmsvcd's fds without QEMU: what it must come back to when QEMU dies.
	daemon_fd_count >"$E2E_ROOT/fds0"
	guest_start g1 --vhost "$(vm_vhost g1)"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
}

teardown() {
	e2e_teardown_test
}

# works VM: a guest to host round trip through the host echo of
# VM.vsock_5001, and a host to guest one to a guest echo on 6100.
works() {
	round_trips "$1" 5001 6100
}

@test "QEMU SIGKILLed mid-transfer both ways: the host peers see the end, vmsvcd frees all, the VM boots again" {
	local qpid t0 t1 pid
	pid=$(daemon_pid)
	# guest -> host: the guest streams into a host sink.
	peer_start sink "$(vm_port_path g1 5000)" sink
	guest_exec g1 "vsock-tool -t 300 send 2 5000 $HUGE 5 >/tmp/up.log 2>&1 &"
	peer_wait sink '^accepted 1$' 10
	# host -> guest: a host application streams into a guest sink.
	guest_exec g1 'vsock-tool listen 6000 sink >/tmp/down.log 2>&1 &
		wait-for /tmp/down.log listening'
	host_stream down g1 6000 7
	sleep 1
	qpid=$(cat "$(guest_state_dir g1)/qemu.pid")
	t0=$(date +%s%N)
	kill -KILL "$qpid"
	# Both host peers learn at once, neither hangs.
	peer_wait sink '^(recv|error) 1 ' 5
	wait_out down '^(eof|error)' 5
	t1=$(date +%s%N)
	echo "# host peers saw the end $(((t1 - t0) / 1000000)) ms after QEMU's SIGKILL:" >&3
	echo "#   sink: $(grep -E '^(recv|error) 1 ' <(peer_log sink))" >&3
	echo "#   source: $(grep -E '^(eof|error)' "$E2E_ROOT/down.out")" >&3
	# The sink's stream ended (EOF, or reset), not its own error.
	[[ $(peer_log sink) =~ (recv\ 1\ [0-9]+\ sha256|error\ 1\ (ECONNRESET|EPIPE)\ ) ]]
	grep -q 'VM g1: QEMU disconnected' <(daemon_log)
	# Every fd of that QEMU and of both connections is closed.
	daemon_wait_fds "$(cat "$E2E_ROOT/fds0")"
	guest_stop g1
	peer_stop sink
	# Booted again on the same socket, by the same daemon.
	guest_start g1 --vhost "$(vm_vhost g1)"
	[ "$(guest_cid g1)" = 5 ]
	works g1
	[ "$(daemon_pid)" = "$pid" ]
}

# rst_logged PORT: vmsvcd logged the end of the connection to the guest's
# PORT (or from it) as an error, which it answers with RST.
rst_logged() {
	grep -E -q "connection ([0-9]+ <-> $1|$1 <-> [0-9]+) closed \(-(32|104)\)" <(daemon_log)
}

@test "a host application SIGKILLed mid-transfer: the guest's sender is reset at once" {
	local t0 t1 line
	peer_start sink "$(vm_port_path g1 5000)" sink
	guest_exec g1 "rm -f /tmp/k1.log; vsock-tool -t 60 send 2 5000 $HUGE 11 >/tmp/k1.log 2>&1 &"
	peer_wait sink '^accepted 1$' 10
	sleep 1
	t0=$(date +%s%N)
	kill -KILL "$(cat "$E2E_ROOT/peers/sink.pid")"
	line=$(guest_wait_file g1 /tmp/k1.log '^error' 10)
	t1=$(date +%s%N)
	echo "# guest sender after the host sink's SIGKILL ($(((t1 - t0) / 1000000)) ms, polled): $line" >&3
	[[ $line =~ ^error\ (EPIPE|ECONNRESET) ]]
	[ $(((t1 - t0) / 1000000)) -lt 5000 ] # polled through the control channel
	rst_logged 5000
	peer_stop sink
	works g1
}

@test "a host application SIGKILLed while the guest echoes: the guest's side ends at once" {
	local t0 t1 line
	guest_exec g1 'rm -f /tmp/k2.log; vsock-tool listen 6001 echo >/tmp/k2.log 2>&1 &
		wait-for /tmp/k2.log listening'
	host_stream k2 g1 6001 13
	sleep 1
	t0=$(date +%s%N)
	# The python client first (it holds the socket), then its generator.
	kill -KILL $(pgrep -P "$(tail -n 1 "$E2E_ROOT/peers/bg.pids")")
	line=$(guest_wait_file g1 /tmp/k2.log '^(error|echoed)' 10)
	t1=$(date +%s%N)
	echo "# guest echo after the host client's SIGKILL ($(((t1 - t0) / 1000000)) ms, polled): $line" >&3
	[ $(((t1 - t0) / 1000000)) -lt 5000 ] # polled through the control channel
	# A client killed with echoed bytes still unread makes the kernel report
	# ECONNRESET to vmsvcd, which resets the guest's side (RST): the echo
	# fails its next send (EPIPE) or, with nothing left to send, sees the
	# end. One killed with nothing unread looks like a close() to vmsvcd
	# (a Unix stream cannot tell): the guest gets SHUTDOWN, the end of a
	# cut stream. Either way it ends at once.
	[[ $line =~ ^(error\ (EPIPE|ECONNRESET)|echoed\ [0-9]+$) ]]
	grep -E "connection [0-9]+ <-> 6001 closed \((0|-104|-32)\)" <(daemon_log) | sed 's/^/# /' >&3
	works g1
}

@test "vmsvcd SIGKILLed under a running guest, no fd store: host peers see the end; the VM powers off and boots again on the new daemon" {
	local old t0 t1
	peer_start sink "$(vm_port_path g1 5000)" sink
	guest_exec g1 "vsock-tool -t 300 send 2 5000 $HUGE 17 >/tmp/up2.log 2>&1 &"
	peer_wait sink '^accepted 1$' 10
	sleep 1
	old=$(daemon_pid)
	t0=$(date +%s%N)
	kill -KILL "$old"
	# The kernel closed the daemon's end: the host peer sees it at once.
	peer_wait sink '^(recv|error) 1 ' 5
	t1=$(date +%s%N)
	echo "# host sink saw the end $(((t1 - t0) / 1000000)) ms after vmsvcd's SIGKILL: $(grep -E '^(recv|error) 1 ' <(peer_log sink))" >&3
	_daemon_wait_rc 100 || true
	[ "$(cat "$E2E_ROOT/daemon.rc")" = 137 ]
	mv "$E2E_ROOT/daemon.log" "$E2E_ROOT/daemon-killed.log"
	# The new daemon takes over the stale sockets of the killed one.
	daemon_start
	[ "$(daemon_pid)" != "$old" ]
	[ -S "$(vm_vhost g1)" ]
	peer_stop sink
	# QEMU 7.2 does not reconnect a vhost-user-vsock device: the running
	# guest keeps a dead device until its next start.
	sleep 2
	run grep -c 'VM g1: QEMU connected' "$E2E_ROOT/daemon.log"
	[ "$output" = 0 ]
	# A guest power-off still ends QEMU promptly (no hang on the dead
	# vhost-user socket) ...
	t0=$(date +%s%N)
	guest_poweroff g1 10
	t1=$(date +%s%N)
	echo "# guest powered off: QEMU ended $(((t1 - t0) / 1000000)) ms after the request" >&3
	guest_stop g1
	# ... and the VM's next start works with the new daemon.
	guest_start g1 --vhost "$(vm_vhost g1)"
	works g1
	grep -q 'VM g1: QEMU connected' "$E2E_ROOT/daemon.log"
	[ "$(daemon_fd_count)" -gt "$(cat "$E2E_ROOT/fds0")" ]
	guest_stop g1
	daemon_wait_fds "$(cat "$E2E_ROOT/fds0")"
	daemon_stop
}

@test "vmsvcd SIGKILLed at random points while it writes a KVP pool: the restarted daemon loads the old or the new pool" {
	local round writer i v kills=0 loaded=0 f=$VMSVC_STATE_DIR/kvp/g1.host
	daemon_start
	vmsvc kvp g1 set k v0
	for ((round = 1; round <= ${CRASH_ROUNDS_DAEMON:-12}; round++)); do
		# A writer setting k (and a 4 KiB filler, so each write takes time)
		# again and again, until vmsvcd dies under it.
		(
			for ((i = 1; ; i++)); do
				vmsvc kvp g1 set k "r$round-$i" 2>/dev/null || break
				head -c 4096 /dev/zero | tr '\0' x | vmsvc kvp g1 set filler --file - 2>/dev/null || break
			done
		) 3>&- &
		writer=$!
		sleep "0.$((RANDOM % 5 + 1))"
		kill -KILL "$(daemon_pid)"
		kills=$((kills + 1))
		wait "$writer" || true
		_daemon_wait_rc 100 || true
		[ ! -e "$f.damaged" ]
		cat "$E2E_ROOT/daemon.log" >>"$E2E_ROOT/daemon-killed.log"
		rm -f "$E2E_ROOT/daemon.log"
		daemon_start
		grep -q 'VM g1: kvp: host pool loaded' "$E2E_ROOT/daemon.log" && loaded=$((loaded + 1))
		v=$(vmsvc kvp g1 get k)
		[[ $v =~ ^(v0|r[0-9]+-[0-9]+)$ ]] || {
			echo "# round $round: k is '$v'" >&2
			return 1
		}
	done
	echo "# $kills SIGKILLs of vmsvcd while writing; the pool loaded whole after $loaded; k is now $v" >&3
	[ "$loaded" = "$kills" ]
	daemon_stop
}
