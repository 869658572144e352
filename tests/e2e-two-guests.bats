#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# End-to-end: two guests on one vmsvcd (ga CID 5, gb CID 6). Each
# works on its own sockets; neither can reach the other; QEMU killed with
# SIGKILL in the middle of transfers ends the host streams of that guest
# only, the daemon keeps serving the other one, and repeated kills leak
# neither fds nor memory.

load lib/guest
load lib/daemon

setup_file() {
	e2e_require
	daemon_init
	vmsvc vm add ga --cid 5 >/dev/null
	vmsvc vm add gb --cid 6 >/dev/null
	vmsvc service add svc --port 5000 >/dev/null
	daemon_start
	guest_start ga --vhost "$(vm_vhost ga)"
	guest_start gb --vhost "$(vm_vhost gb)"
	echo "# guests ready after $(guest_boot_ms ga) / $(guest_boot_ms gb) ms" >&3
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

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# gen_to_guest VM BYTES SEED PORT: the streamgen stream into VM's guest PORT.
gen_to_guest() {
	"$VMSVC_STREAMGEN" gen "$2" "$3" | hybrid "$1" --port "$4" --stdin --sha --timeout 120
}

# send_ok VM PEER: VM sends 200000 bytes to host port 5000 (a sink at
# VM.vsock_5000 named PEER, already started); checks both ends.
send_ok() {
	local sha
	sha=$("$VMSVC_STREAMGEN" sha 200000 "$3")
	run guest_exec "$1" "vsock-tool -t 60 send 2 5000 200000 $3"
	echo "$1: $output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "sent 200000 sha256 $sha" ]
	peer_wait "$2" "^recv [0-9]+ 200000 sha256 $sha\$" 10
}

@test "each guest has its CID and reaches the host port of its own VM" {
	[ "$(guest_cid ga)" = 5 ]
	[ "$(guest_cid gb)" = 6 ]
	peer_start sa "$(vm_port_path ga 5000)" sink
	peer_start sb "$(vm_port_path gb 5000)" sink
	send_ok ga sa 41
	send_ok gb sb 42
	send_ok gb sb 43
	# Each host listener saw only its own VM's connections.
	[ "$(peer_count sa '^accepted')" = 1 ]
	[ "$(peer_count sb '^accepted')" = 2 ]
	peer_stop sa
	peer_stop sb
}

@test "host CONNECT on each VM's socket reaches that VM's guest" {
	local vm
	for vm in ga gb; do
		guest_exec "$vm" "socat -d -d VSOCK-LISTEN:6000 SYSTEM:'echo I am cid \$(vsock-tool cid)' \
			2>/tmp/s.log &
			wait-for /tmp/s.log 'listening on'"
	done
	run hybrid ga --port 6000 --timeout 20
	[ "$status" -eq 0 ]
	[ "${lines[2]}" = 'data I am cid 5\n' ]
	run hybrid gb --port 6000 --timeout 20
	[ "$status" -eq 0 ]
	[ "${lines[2]}" = 'data I am cid 6\n' ]
}

@test "a guest cannot reach the other guest: connect fails, the other's listener sees nothing" {
	guest_exec gb 'vsock-tool listen 7000 sink >/tmp/l7000.log 2>&1 &
		wait-for /tmp/l7000.log listening'
	local t0 ms
	t0=$(now_ms)
	# The daemon only accepts packets to CID 2: a REQUEST for any other
	# CID is answered at once with an RST, so connect() fails fast.
	run guest_exec ga 'vsock-tool connect 6 7000'
	ms=$(($(now_ms) - t0))
	echo "$output ($ms ms)"
	[ "$status" -eq 1 ]
	[[ $output =~ ^error\ ECONNRESET\ ([0-9]+)$ ]]
	[ "${BASH_REMATCH[1]}" -lt 100 ]
	echo "# ga -> CID 6: ${output} (${ms} ms end to end)" >&3
	run guest_exec ga 'vsock-tool -t 10 send 6 7000 1000 1'
	[ "$status" -ne 0 ]
	# gb's listener was never reached.
	run guest_exec gb 'cat /tmp/l7000.log'
	[ "$output" = 'listening port=7000' ]
	# Nor does ga's traffic to host port 5000 land at gb's host listener.
	peer_start sb "$(vm_port_path gb 5000)" sink
	run guest_exec ga 'vsock-tool connect 2 5000'
	[[ $output =~ ^error\ ECONNRESET ]]
	[ "$(peer_count sb '^accepted')" = 0 ]
	peer_stop sb
	guest_exec gb 'killall vsock-tool 2>/dev/null; true'
}

# diagnose PID: state of the hybrid client PID (and its children), of ga's
# listeners and of the daemon, after a CONNECT that got no answer.
diagnose() {
	local p
	ss -xlp 2>/dev/null | grep -E "Recv-Q|$(vm_hybrid ga)"
	ss -xp 2>/dev/null | grep -F "$(vm_hybrid ga)"
	for p in $1 $(pgrep -P "$1"); do
		echo "pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-60) wchan=$(cat "/proc/$p/wchan")"
	done
	echo "vmsvcd: $(daemon_fd_count) fds, state $(awk '{ print $3 }' "/proc/$(daemon_pid)/stat")"
	ls -l "/proc/$(daemon_pid)/fd"
	guest_exec ga 'cat /tmp/l.log'
}

# One cycle: ga sends to the host and the host sends to ga, QEMU of ga is
# killed with SIGKILL; both host streams must end within 5 s, gb keeps
# working, ga boots again.
kill_cycle() {
	local cycle=$1 qpid t0 ms out
	local big=$((1024 * 1024 * 1024))
	peer_start sa "$(vm_port_path ga 5000)" sink
	guest_exec ga "vsock-tool -t 300 send 2 5000 $big 7 >/dev/null 2>&1 &
		vsock-tool listen 6000 sink >/tmp/l.log 2>&1 &
		wait-for /tmp/l.log listening"
	gen_to_guest ga "$big" 8 6000 >"$E2E_ROOT/h2g.out" 2>&1 3>&- &
	local hpid=$!
	bg_track "$hpid"
	peer_wait sa '^accepted 1$' 20
	local i
	for ((i = 0; i < 400; i++)); do
		grep -q '^line OK ' "$E2E_ROOT/h2g.out" && break
		sleep 0.05
	done
	grep -q '^line OK ' "$E2E_ROOT/h2g.out" || {
		echo "cycle $cycle: no OK for the host->guest CONNECT:"
		cat "$E2E_ROOT/h2g.out"
		diagnose "$hpid"
		return 1
	}
	# Data flows both ways before the kill.
	sleep 1.5
	qpid=$(cat "$(guest_state_dir ga)/qemu.pid")
	grep -q '^qemu-system' "/proc/$qpid/comm"
	# Both transfers are still running when QEMU dies.
	if ! kill -0 "$hpid" 2>/dev/null; then
		echo "cycle $cycle: the host->guest transfer ended before the kill:"
		cat "$E2E_ROOT/h2g.out"
		guest_exec ga 'cat /tmp/l.log'
		daemon_log | grep -v 'queue [01]' | tail -n 30
		return 1
	fi
	[ "$(peer_count sa '^(recv|error) 1 ')" = 0 ]
	t0=$(now_ms)
	kill -KILL "$qpid"
	# Host side of the guest's connection: end of stream, short of the full length.
	peer_wait sa '^(recv|error) 1 ' 5
	ms=$(($(now_ms) - t0))
	out=$(grep -E '^(recv|error) 1 ' "$E2E_ROOT/peers/sa.log")
	echo "# cycle $cycle: guest->host stream ended $ms ms after the kill: $out" >&3
	[[ $out =~ ^(recv|error)\ 1\ ([0-9]+) ]]
	[ "${BASH_REMATCH[2]}" -gt 0 ]
	[ "${BASH_REMATCH[2]}" -lt "$big" ]
	# Host side of the host's connection: its client ends with an error or EOF.
	for ((i = 0; i < 100; i++)); do
		kill -0 "$hpid" 2>/dev/null || break
		sleep 0.05
	done
	ms=$(($(now_ms) - t0))
	echo "# cycle $cycle: host->guest client ended $ms ms after the kill: $(grep -E '^(error|eof)' "$E2E_ROOT/h2g.out")" >&3
	if kill -0 "$hpid" 2>/dev/null; then
		echo "cycle $cycle: the host->guest client still runs"
		return 1
	fi
	grep -q '^line OK ' "$E2E_ROOT/h2g.out"
	run grep -c "^sent $big\$" "$E2E_ROOT/h2g.out"
	[ "$output" = 0 ]
	grep -E -q '^(error|eof)' "$E2E_ROOT/h2g.out"
	# The daemon saw QEMU go and serves gb meanwhile.
	grep -q 'VM ga: QEMU disconnected' <(daemon_log)
	send_ok gb sb $((50 + cycle))
	guest_stop ga
	peer_stop sa
	guest_start ga --vhost "$(vm_vhost ga)"
}

@test "QEMU killed mid-transfer: host streams end, the other guest is served, no fd or memory growth" {
	local fds0 rss0 fds1 rss1 i
	peer_start sb "$(vm_port_path gb 5000)" sink
	# Warm-up cycle first: allocator pools reach their working size.
	kill_cycle 0
	fds0=$(daemon_fd_count)
	rss0=$(daemon_rss_kb)
	for i in 1 2 3; do
		kill_cycle "$i"
	done
	# Same state as before the cycles (both guests up, no streams): same fds.
	for ((i = 0; i < 100; i++)); do
		fds1=$(daemon_fd_count)
		[ "$fds1" = "$fds0" ] && break
		sleep 0.05
	done
	rss1=$(daemon_rss_kb)
	echo "# vmsvcd fds $fds0 -> $fds1, RSS $rss0 -> $rss1 KiB over 3 kill cycles" >&3
	[ "$fds1" = "$fds0" ] || {
		ls -l "/proc/$(daemon_pid)/fd"
		false
	}
	# RSS: a few MiB of slack (ASan's quarantine holds freed memory: more).
	local slack=16384
	daemon_is_asan && slack=131072
	[ "$rss1" -lt $((rss0 + slack)) ]
	# Both guests work afterwards.
	peer_start sa "$(vm_port_path ga 5000)" sink
	send_ok ga sa 70
	send_ok gb sb 71
	peer_stop sa
	peer_stop sb
}

@test "vmsvcd stops cleanly on SIGTERM with two guests attached (exit 0, sockets removed)" {
	daemon_stop
}
