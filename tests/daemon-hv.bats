#!/usr/bin/env bats
# shellcheck disable=SC2030,SC2031,SC2034,SC2154 # bats run; SVC read by lib/hv.bash; stderr set by bats run
# Host side only: the hv_* calls (tests/tools/hvtest.c, built
# against libvmsvc) against the real vmsvcd, without a guest. Loopback rows of
# the "Addresses and wildcards" tables, listener precedence for host
# connections, non-blocking connect and accept under epoll, the errno of
# every refusal, who may listen and who may connect into guests (with a real
# unprivileged user), the counters after a known run, and ENETDOWN when
# vmsvcd stops. VM g1 is defined but never started. Every host command runs
# with VMSVC_GUEST=0 (hvtest forces it too): never AF_VSOCK on the host.

load lib/guest
load lib/daemon
load lib/hv

G1=11111111-2222-4333-8444-555555555555
LOOPBACK=e0e16197-dd56-4a10-9195-5ee7a155a838
XGUID=8f1c2d3e-4b5a-4978-8a9b-0c1d2e3f4a5b

setup_file() {
	e2e_require
	daemon_init
	chmod 755 "$E2E_ROOT" # the unprivileged tests reach control.sock
	vmsvc vm add g1 --cid 7 --id $G1 >/dev/null
	vmsvc service add lb --port 5000 >/dev/null
	vmsvc service add prec --port 5001 >/dev/null
	vmsvc service add nb --port 5002 >/dev/null
	vmsvc service add off --port 5003 --disabled >/dev/null
	vmsvc service add mine --port 5004 --user nobody >/dev/null
	vmsvc service add grp --port 5005 --group vmsvc >/dev/null
	vmsvc service add cnt --port 5006 >/dev/null
	vmsvc service add rootonly --port 5007 >/dev/null
	vmsvc service add xg --guid $XGUID --port 5008 >/dev/null
	daemon_start
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	export VMSVC_GUEST=0
	HVTEST=${VMSVC_HVTEST:?}
	SVC=
}

teardown() {
	bg_stop_all
	daemon_check_alive
}

@test "loopback: listeners bound to LOOPBACK, WILDCARD and ZERO get a host connection, peer HV_GUID_LOOPBACK" {
	local vm
	for vm in loopback wildcard zero 00000000-0000-0000-0000-000000000000; do
		hv_bg l -- -c 1 listen $vm 5000
		run hv connect loopback 5000 -s 'ping\n'
		expect_ok
		[ "${lines[1]}" = "peer $LOOPBACK" ]
		[ "${lines[2]}" = 'data ping\n' ]
		out_wait l "^accepted 1 $LOOPBACK\$"
		out_wait l '^echoed 1 5$'
		hv_gone l
	done
}

@test "loopback: CHILDREN and VmId-bound listeners never get a host connection (ECONNREFUSED at once)" {
	hv_bg c -- listen children 5000
	hv_bg v -- listen $G1 5000
	run hv connect loopback 5000
	expect_err ECONNREFUSED
	[ "$(out_count c '^accepted')" = 0 ]
	[ "$(out_count v '^accepted')" = 0 ]
}

@test "host connections: a LOOPBACK listener wins over WILDCARD; WILDCARD takes over when it goes" {
	hv_bg w -- listen wildcard 5001
	hv_bg l -- listen loopback 5001
	run hv connect loopback 5001 -s one
	expect_ok
	out_wait l "^accepted 1 $LOOPBACK\$"
	hv_stop l
	run hv connect loopback 5001 -s two
	expect_ok
	[ "${lines[2]}" = 'data two' ]
	out_wait w "^accepted 1 $LOOPBACK\$"
	[ "$(out_count l '^accepted')" = 1 ]
}

@test "non-blocking connect and accept under epoll: EINPROGRESS, EPOLLOUT, SO_ERROR 0; EAGAIN before the first peer" {
	hv_bg n -- -n -c 4 listen loopback 5002
	out_wait n '^accept EAGAIN$'
	local k sha
	for k in 1 2 3; do
		run hv -n connect loopback 5002 -s "nb $k"
		expect_ok
		[ "${lines[1]}" = "epoll EPOLLOUT" ]
		[ "${lines[2]}" = "peer $LOOPBACK" ]
		[ "${lines[3]}" = "data nb $k" ]
		out_wait n "^echoed $k 4\$"
	done
	# the nonblocking connect's result came through epoll and SO_ERROR
	run hv -n -p connect loopback 5002 -g 2000000:7
	echo "$output"
	expect_ok
	sha=$("$VMSVC_STREAMGEN" sha 2000000 7)
	[[ $output == *"sent 2000000 sha256 $sha"* ]]
	[[ $output == *"recv 2000000 sha256 $sha"* ]]
	out_wait n '^echoed 4 2000000$'
	[ "$(out_count n "^accepted [1-4] $LOOPBACK\$")" = 4 ]
	hv_gone n
}

@test "40 connections made before the listener accepts any are queued (each connect succeeds), then all accepted" {
	hv_bg q -- -d 2000 -c 40 listen loopback 5002
	local k pids=()
	for k in $(seq 1 40); do
		"$HVTEST" connect loopback 5002 -s "q$k" >"$E2E_ROOT/q$k.out" 2>&1 3>&- &
		pids+=($!)
	done
	for k in $(seq 1 40); do
		wait "${pids[$((k - 1))]}" || {
			cat "$E2E_ROOT/q$k.out"
			false
		}
		[[ $(head -n 1 "$E2E_ROOT/q$k.out") =~ ^ok\ [0-9]+$ ]]
		grep -qx "data q$k" "$E2E_ROOT/q$k.out"
	done
	out_wait q '^echoed 40 '
	[ "$(out_count q "^accepted [0-9]+ $LOOPBACK\$")" = 40 ]
	hv_gone q
}

@test "non-blocking connect failures: the fd hangs up and SO_ERROR has ECONNREFUSED, EACCES, EHOSTUNREACH, ENETUNREACH" {
	run hv -n connect loopback 5001
	expect_err ECONNREFUSED
	[[ $output == *$'\n'"epoll "*EPOLLHUP* ]]
	run hv -n connect loopback 5003
	expect_err EACCES
	run hv -n connect loopback 99999
	expect_err EACCES
	run hv -n connect 01234567-89ab-4def-8123-456789abcdef 5000
	expect_err EHOSTUNREACH
	run hv -n connect $G1 5000
	expect_err ENETUNREACH
}

@test "blocking connect errnos, each at once: ENOENT, EHOSTUNREACH, ENETUNREACH, ECONNREFUSED, EACCES, EADDRNOTAVAIL" {
	run hv connect 01234567-89ab-4def-8123-456789abcdef 5000
	expect_err EHOSTUNREACH
	run hv connect zero 5000 # no partition has VmId ZERO on a host
	expect_err EHOSTUNREACH
	run hv connect $G1 5000
	expect_err ENETUNREACH
	run hv connect $G1 $XGUID
	expect_err ENETUNREACH
	run hv connect loopback 5000
	expect_err ECONNREFUSED
	run hv connect loopback 5003 # disabled
	expect_err EACCES
	run hv connect loopback 99999 # not registered
	expect_err EACCES
	run hv connect children 5000 # a listener-only wildcard
	expect_err EADDRNOTAVAIL
	run hv connect broadcast 5000
	expect_err EADDRNOTAVAIL
	run hv connect parent 5000 # the host never takes the vsock path
	expect_err ENETUNREACH
	VMSVC_RUNTIME_DIR=$E2E_ROOT/nowhere run hv connect loopback 5000
	expect_err ENOENT
	# a stale control.sock with nobody behind it is "not running" too
	mkdir -p "$E2E_ROOT/stale"
	python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1])' \
		"$E2E_ROOT/stale/control.sock"
	VMSVC_RUNTIME_DIR=$E2E_ROOT/stale run hv connect $G1 5000
	expect_err ENOENT
}

@test "listen errnos: EACCES (unregistered, disabled), EADDRINUSE (same VmId and service), EADDRNOTAVAIL (PARENT, BROADCAST), ENOENT" {
	run hv listen wildcard 99999
	[ "$output" = "error EACCES" ]
	run hv listen wildcard 5003
	[ "$output" = "error EACCES" ]
	run hv listen parent 5000
	[ "$output" = "error EADDRNOTAVAIL" ]
	run hv listen broadcast 5000
	[ "$output" = "error EADDRNOTAVAIL" ]
	VMSVC_RUNTIME_DIR=$E2E_ROOT/nowhere run hv listen wildcard 5000
	[ "$output" = "error ENOENT" ]
	hv_bg a -- listen $G1 5000
	run hv listen $G1 5000
	[ "$output" = "error EADDRINUSE" ]
	# other VmIds for the same service are other addresses
	hv_bg b -- listen children 5000
	hv_bg c -- listen wildcard 5000
	hv_bg d -- listen loopback 5000
	run hv listen zero 5000 # the same bits as WILDCARD
	[ "$output" = "error EADDRINUSE" ]
	# the address is free again once its listener is gone
	hv_stop a
	hv_bg a2 -- listen $G1 5000
}

@test "listening (real unprivileged user): User= and Group= members may, others get EACCES" {
	# no User=/Group=: root only
	run as_nobody -- "$HVTEST" listen wildcard 5007
	[ "$output" = "error EACCES" ]
	# User=nobody
	hv_bg mine --regid=nogroup --clear-groups -- -c 1 listen loopback 5004
	run hv connect loopback 5004 -s 'to nobody'
	expect_ok
	[ "${lines[2]}" = 'data to nobody' ]
	out_wait mine "^accepted 1 $LOOPBACK\$"
	# Group=vmsvc: not for nobody alone...
	run as_nobody -- "$HVTEST" listen loopback 5005
	[ "$output" = "error EACCES" ]
	# ...but for nobody as a supplementary member of vmsvc
	hv_bg g1 --regid=nogroup --groups=vmsvc -- listen loopback 5005
	hv_stop g1
	# ...or with vmsvc as its primary group
	hv_bg g2 --regid=vmsvc --clear-groups -- listen loopback 5005
	hv_stop g2
	# the CLI says why
	run --separate-stderr as_nobody -- "$VMSVC" listen grp
	[ "$status" = 1 ]
	[[ $stderr == *"not permitted to listen for service 'grp'"* ]]
}

@test "listen permission checks read no user or group database: User= and Group= are resolved when the registry is loaded" {
	local st i
	strace -f -e trace=openat,accept4 -o "$E2E_ROOT/strace.out" -p "$(daemon_pid)" \
		2>"$E2E_ROOT/strace.log" 3>&- &
	st=$!
	bg_track $st
	for ((i = 0; i < 100; i++)); do
		[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$(daemon_pid)/status")" != 0 ] && break
		sleep 0.05
	done
	for ((i = 0; i < 3; i++)); do
		run as_nobody -- "$HVTEST" listen loopback 5005 # Group=vmsvc
		[ "$output" = "error EACCES" ]
	done
	hv_bg mine --regid=nogroup --clear-groups -- listen loopback 5004 # User=nobody
	hv_stop mine
	kill -INT $st
	wait $st || true
	# strace saw the four control connections, and no lookup among them
	[ "$(grep -c 'accept4(' "$E2E_ROOT/strace.out")" -ge 4 ]
	run grep -E '/etc/(passwd|group)' "$E2E_ROOT/strace.out"
	[ "$status" = 1 ]
}

@test "connecting into a guest needs root or the vmsvc group; loopback connections need neither" {
	run as_nobody -- "$HVTEST" connect $G1 5000
	expect_err EACCES
	# a member passes the check (and learns that g1 is not running)
	run as_nobody --regid=nogroup --groups=vmsvc -- "$HVTEST" connect $G1 5000
	expect_err ENETUNREACH
	run as_nobody --regid=vmsvc --clear-groups -- "$HVTEST" connect $G1 5000
	expect_err ENETUNREACH
	run as_nobody -- "$HVTEST" -n connect $G1 5000
	expect_err EACCES
	hv_bg l -- -c 1 listen loopback 5000
	run as_nobody -- "$HVTEST" connect loopback 5000 -s 'from nobody'
	expect_ok
	[ "${lines[2]}" = 'data from nobody' ]
}

@test "counters after a known host-only run: accepted, refusals by reason, no bytes (loopback bypasses vmsvcd)" {
	SVC=cnt
	stats_check 's["accepted"] == 0 and all(n == 0 for n in s["refused"].values())'
	hv_bg c -- -c 2 listen loopback 5006
	run hv connect loopback 5006 -s abc
	expect_ok
	run hv -n connect loopback 5006 -s defg
	expect_ok
	hv_gone c
	run hv connect loopback 5006 # no listener
	expect_err ECONNREFUSED
	run as_nobody -- "$HVTEST" listen wildcard 5006 # not permitted
	[ "$output" = "error EACCES" ]
	vmsvc service disable cnt
	run hv connect loopback 5006 # disabled
	expect_err EACCES
	run hv listen wildcard 5006 # disabled
	[ "$output" = "error EACCES" ]
	vmsvc service enable cnt
	stats_check 's["accepted"] == 2 and s["active"] == 0 and s["bytes_to_host"] == 0 and s["bytes_to_guest"] == 0 and s["refused"] == {"not_registered": 0, "disabled": 2, "no_listener": 1, "wrong_vm": 0, "not_permitted": 1}'
	# g1 never ran: nothing is counted under it
	stats_check 'v["accepted"] == 0 and v["active"] == 0 and all(n == 0 for n in v["refused"].values())'
	run vmsvc stats
	[ "$status" = 0 ]
	[[ $output =~ cnt\ +2\ +0\ +0\ +0\ +0/2/1/0/1 ]]
}

@test "control socket: a connect request whose fds are not a Unix stream pair is refused with EINVAL" {
	run python3 - "$VMSVC_RUNTIME_DIR/control.sock" <<'PY'
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
r, w = os.pipe()
req = {"op": "connect", "vm": "e0e16197-dd56-4a10-9195-5ee7a155a838",
       "service": "00001388-facb-11e6-bd58-64006a7986d3", "filler": 0, "sndbuf": 0}
s.sendmsg([json.dumps(req).encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r, w]))])
print(json.loads(s.recv(65536))["error"])
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = EINVAL ]
}

@test "hv_accept fails with ENETDOWN when vmsvcd stops; the listener does not keep it from a clean exit" {
	hv_bg z -- listen wildcard 5000
	daemon_stop
	out_wait z '^error ENETDOWN accept$'
	hv_gone z
}
