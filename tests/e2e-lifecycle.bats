#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# End-to-end: lifecycles around the real vmsvcd: the guest powered
# off and booted again on the same vhost-user socket, the guest's vsock
# driver unloaded and loaded again within one boot, and VMs added and removed
# with `vmsvc vm` while the daemon runs. Connections must work after each.

load lib/guest
load lib/daemon

setup_file() {
	e2e_require
	daemon_init
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc service add echo --port 5000 >/dev/null
	daemon_start
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
# VM.vsock_5000, and a host to guest one to a guest echo on 6000.
works() {
	round_trips "$1" 5000 6000
}

@test "connections work on the first boot" {
	works g1
}

@test "guest powered off and booted again on the same socket: connections work again" {
	local fds pid
	pid=$(daemon_pid)
	fds=$(daemon_fd_count)
	guest_stop g1
	# The daemon saw QEMU go and still listens for the next one.
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c 'VM g1: QEMU disconnected' <(daemon_log))" -ge 1 ] && break
		sleep 0.05
	done
	grep -q 'VM g1: QEMU disconnected' <(daemon_log)
	[ -S "$(vm_vhost g1)" ]
	# No guest: a host CONNECT is closed at once, without OK.
	run hybrid g1 --port 6000 --timeout 5
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output =~ ^noline\ ms=([0-9]+)\ *$ ]]
	[ "${BASH_REMATCH[1]}" -lt 1000 ]
	grep -q "CONNECT 6000 refused: the guest's vsock driver is not running" <(daemon_log)
	guest_start g1 --vhost "$(vm_vhost g1)"
	[ "$(guest_cid g1)" = 5 ]
	works g1
	guest_stop g1
	guest_start g1 --vhost "$(vm_vhost g1)"
	works g1
	[ "$(daemon_pid)" = "$pid" ]
	[ "$(grep -c 'VM g1: QEMU connected' <(daemon_log))" = 3 ]
	daemon_wait_fds "$fds"
}

@test "vsock driver unloaded and loaded again in one boot: connections work again" {
	local before
	before=$(grep -c 'VM g1: driver reset' <(daemon_log) || true)
	run guest_exec g1 'killall vsock-tool 2>/dev/null; sleep 0.2
		m=/lib/modules/$(uname -r)/kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko
		rmmod vmw_vsock_virtio_transport && echo unloaded
		grep -c "^vmw_vsock_virtio_transport " /proc/modules
		insmod $m && echo loaded
		vsock-tool cid'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = $'unloaded\n0\nloaded\n5' ]
	# The daemon saw the driver reset and the queues start again.
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c 'VM g1: driver reset' <(daemon_log))" -gt "$before" ] && break
		sleep 0.05
	done
	[ "$(grep -c 'VM g1: driver reset' <(daemon_log))" -gt "$before" ]
	works g1
	# Once more (vsock sockets pin the module: none may be open).
	guest_exec g1 'killall vsock-tool 2>/dev/null; sleep 0.2
		m=/lib/modules/$(uname -r)/kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko
		rmmod vmw_vsock_virtio_transport && insmod $m'
	works g1
}

@test "vmsvc vm add while vmsvcd runs: the new VM's sockets appear and a guest on them works" {
	local pid i
	pid=$(daemon_pid)
	vmsvc vm add g2 --cid 7 >/dev/null
	for ((i = 0; i < 100; i++)); do
		[ -S "$(vm_vhost g2)" ] && [ -S "$(vm_hybrid g2)" ] && break
		sleep 0.05
	done
	[ -S "$(vm_vhost g2)" ]
	[ -S "$(vm_hybrid g2)" ]
	guest_start g2 --vhost "$(vm_vhost g2)"
	[ "$(guest_cid g2)" = 7 ]
	works g2
	works g1
	[ "$(daemon_pid)" = "$pid" ]
}

@test "definition removed while its guest runs: sockets go, its connection is reset, g1 stays" {
	local pid i out
	pid=$(daemon_pid)
	[ -S "$(vm_vhost g2)" ]
	peer_start sink2 "$(vm_port_path g2 5000)" sink
	guest_exec g2 'vsock-tool -t 60 send 2 5000 100000000000 5 >/tmp/big.log 2>&1 &'
	peer_wait sink2 '^accepted 1$'
	# vmsvc refuses while the VM runs; an administrator may still delete
	# the file: the daemon must stop serving the VM cleanly.
	run vmsvc vm remove g2
	[ "$status" -eq 1 ]
	[[ $output == *"'g2' is running"* ]]
	[ -e "$VMSVC_CONFIG_DIR/vms.d/g2.conf" ]
	rm "$VMSVC_CONFIG_DIR/vms.d/g2.conf"
	for ((i = 0; i < 100; i++)); do
		[ ! -e "$(vm_vhost g2)" ] && [ ! -e "$(vm_hybrid g2)" ] && break
		sleep 0.05
	done
	[ ! -e "$(vm_vhost g2)" ]
	[ ! -e "$(vm_hybrid g2)" ]
	[ -S "$(vm_vhost g1)" ]
	[ -S "$(vm_hybrid g1)" ]
	grep -q 'VM g2: definition removed or changed, stopping' <(daemon_log)
	# The host stream ended; the guest's sender was reset (RST), not left hanging.
	peer_wait sink2 '^(recv|error) 1 ' 5
	for ((i = 0; i < 20; i++)); do
		out=$(guest_exec g2 'cat /tmp/big.log')
		[ -n "$out" ] && break
		sleep 0.5
	done
	echo "# g2's sender after vm remove: $out" >&3
	[[ $out =~ ^error\ (ECONNRESET|EPIPE|ENOTCONN) ]]
	# Without a device behind it the guest cannot connect any more.
	run guest_exec g2 'vsock-tool connect 2 5000'
	[ "$status" -eq 1 ]
	[ "$(daemon_pid)" = "$pid" ]
	works g1
	guest_stop g2
	peer_stop sink2
	# Added again under the same name: served again.
	vmsvc vm add g2 --cid 7 >/dev/null
	for ((i = 0; i < 100; i++)); do
		[ -S "$(vm_vhost g2)" ] && break
		sleep 0.05
	done
	[ -S "$(vm_vhost g2)" ]
	# Not running now: vmsvc removes it (once the daemon saw QEMU go), and
	# the daemon its sockets.
	for ((i = 0; i < 100; i++)); do
		vmsvc vm remove g2 2>/dev/null && break
		sleep 0.05
	done
	[ ! -e "$VMSVC_CONFIG_DIR/vms.d/g2.conf" ]
	for ((i = 0; i < 100; i++)); do
		[ ! -e "$(vm_vhost g2)" ] && break
		sleep 0.05
	done
	[ ! -e "$(vm_vhost g2)" ]
	[ ! -e "$(vm_hybrid g2)" ]
}

@test "vmsvcd stops cleanly on SIGTERM with a guest attached (exit 0, sockets removed)" {
	daemon_stop
}

# cpu_ticks PID: user + system time in clock ticks (1/100 s).
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

@test "out of fds: a flood of idle CONNECT clients neither spins nor floods the log; accept resumes" {
	# A daemon of its own with 48 fds; g1's QEMU stays attached to nothing.
	(
		ulimit -n 48
		daemon_start
	)
	local pid a b
	pid=$(daemon_pid)
	python3 -c '
import socket, sys, time
ss = []
for i in range(80):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    ss.append(s)
time.sleep(float(sys.argv[2]))
' "$(vm_hybrid g1)" 4 3>&- &
	bg_track $!
	local cpid=$!
	sleep 1.5
	a=$(cpu_ticks "$pid")
	sleep 2
	b=$(cpu_ticks "$pid")
	echo "# vmsvcd out of fds: $((b - a)) CPU ticks in 2 s, $(grep -c 'Too many open files' <(daemon_log)) warnings" >&3
	[ $((b - a)) -lt 40 ]
	[ "$(grep -c 'Too many open files' <(daemon_log))" -le 5 ]
	wait "$cpid" || true
	# The clients are gone: a new client is served again (no guest
	# driver here, so the daemon refuses the CONNECT, without OK).
	sleep 0.3
	run hybrid g1 --port 6000 --timeout 5
	echo "$output"
	[[ $output =~ ^noline ]]
	grep -q "CONNECT 6000 refused" <(daemon_log)
	daemon_stop
}
