#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2034,SC2154 # guest commands single-quoted on purpose; bats run; SVC read by lib/hv.bash; stderr set by bats run
# End to end: the hv_* calls of libvmsvc with the real vmsvcd, the
# real CLI and one booted test guest g1 (CID 5); VM g2 is defined but never
# started. Host programs: tests/tools/hvtest.c ($VMSVC_HVTEST, forces
# VMSVC_GUEST=0: never AF_VSOCK on the host). Guest programs: the same source
# linked statically (/usr/bin/hvtest; ghv = VMSVC_GUEST=1 hvtest), so a guest
# program with hv_connect(HV_GUID_PARENT) or hv_bind(PARENT), plus the
# guest's plain AF_VSOCK tools (vsock-tool, socat).
# Covered: every row of DESIGN.md's two "Addresses and wildcards" tables,
# listener precedence, hv listener vs RUNDIR/vms/NAME.vsock_P (the hv
# listener wins), non-blocking connect and accept under epoll, each errno
# (ETIMEDOUT with a frozen guest), vmsvc listen | vmsvc nc pipelines, the
# vmsvc group for connecting into guests, and the counters after a known run.

load lib/guest
load lib/daemon
load lib/hv

G1=11111111-1111-4111-8111-111111111111
G2=22222222-2222-4222-8222-222222222222
LOOPBACK=e0e16197-dd56-4a10-9195-5ee7a155a838
PARENT=a42e7cda-d03f-480c-9cc2-a4de20abb878
XGUID=8f1c2d3e-4b5a-4978-8a9b-0c1d2e3f4a5b # not a template: port 5007 by registry
UNKNOWN=01234567-89ab-4def-8123-456789abcdef

setup_file() {
	e2e_require
	daemon_init
	chmod 755 "$E2E_ROOT" # the unprivileged tests reach control.sock
	vmsvc vm add g1 --cid 5 --id $G1 >/dev/null
	vmsvc vm add g2 --cid 6 --id $G2 >/dev/null
	local s
	for s in rows:5000 prec:5001 nol:5003 cnt:5004 pipe:5005 both:5006 g2h:5008 \
		many:5009 gsvc:6000 gsink:6001 gsrc:6002 gcnt:6003; do
		vmsvc service add "${s%:*}" --port "${s#*:}" >/dev/null
	done
	vmsvc service add off --port 5002 --disabled >/dev/null
	vmsvc service add xg --guid $XGUID --port 5007 >/dev/null
	daemon_start
	ghv_wrapper
	guest_start g1 --vhost "$(vm_vhost g1)" \
		--add "${VMSVC_HVTEST_STATIC:?}:/usr/bin/hvtest" --add "$E2E_ROOT/ghv:/usr/bin/ghv"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
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
	guest_exec g1 'killall hvtest vsock-tool socat 2>/dev/null; true' >/dev/null
	daemon_check_alive
}

@test "bind WILDCARD or ZERO: g1 arrives with its VmId, the host with LOOPBACK; the guest sees PARENT" {
	hv_bg w -- -c 2 -m greet listen wildcard 5000
	run guest_exec g1 'ghv connect parent 5000 -s ping'
	expect_ok
	[ "${lines[1]}" = "peer $PARENT" ]
	[ "${lines[2]}" = "data hello $G1\nping" ]
	run hv connect loopback 5000 -s host
	expect_ok
	[ "${lines[2]}" = "data hello $LOOPBACK\nhost" ]
	out_wait w "^accepted 1 $G1\$"
	out_wait w "^accepted 2 $LOOPBACK\$"
	hv_gone w
	# ZERO: the same bits; in the guest, with VMSVC_GUEST=1, ZERO means the parent
	hv_bg z -- -c 2 listen 00000000-0000-0000-0000-000000000000 5000
	run guest_exec g1 'ghv connect zero 5000 -s z'
	expect_ok
	[ "${lines[2]}" = 'data z' ]
	run hv connect loopback 5000
	expect_ok
	out_wait z "^accepted 1 $G1\$"
	out_wait z "^accepted 2 $LOOPBACK\$"
}

@test "bind CHILDREN: g1 arrives with its VmId; a host connection is refused at once" {
	hv_bg c -- listen children 5000
	run guest_exec g1 'ghv connect parent 5000 -s kid'
	expect_ok
	[ "${lines[2]}" = 'data kid' ]
	out_wait c "^accepted 1 $G1\$"
	run hv connect loopback 5000
	expect_err ECONNREFUSED
	[ "$(out_count c '^accepted')" = 1 ]
}

@test "bind a VM's VmId: g1's listener gets g1; one bound to g2 leaves g1 reset at once (wrong VM); the host is refused" {
	hv_bg v2 -- listen $G2 5000
	run guest_exec g1 'ghv connect parent 5000'
	expect_err ECONNRESET
	grep -q "service 'rows' (port 5000) refused: its only listeners are bound to other VMs" \
		<(daemon_log)
	hv_bg v1 -- listen $G1 5000
	run guest_exec g1 'ghv connect parent 5000 -s mine'
	expect_ok
	[ "${lines[2]}" = 'data mine' ]
	out_wait v1 "^accepted 1 $G1\$"
	run hv connect loopback 5000
	expect_err ECONNREFUSED
	[ "$(out_count v2 '^accepted')" = 0 ]
	[ "$(out_count v1 '^accepted')" = 1 ]
}

@test "bind LOOPBACK: the host's connection arrives; g1's is reset at once" {
	hv_bg l -- listen loopback 5000
	run guest_exec g1 'ghv connect parent 5000'
	expect_err ECONNRESET
	run hv connect loopback 5000 -s lo
	expect_ok
	[ "${lines[2]}" = 'data lo' ]
	out_wait l "^accepted 1 $LOOPBACK\$"
	[ "$(out_count l '^accepted')" = 1 ]
}

@test "connect to g1's VmId (blocking, non-blocking under epoll, vmsvc nc by name) reaches the guest's PARENT-bound listener" {
	guest_bg g1 g6000 'ghv -c 3 -m greet listen parent 6000'
	run hv connect $G1 6000 -s one
	expect_ok
	[ "${lines[1]}" = "peer $G1" ]
	[ "${lines[2]}" = "data hello $PARENT\none" ]
	run hv -n connect $G1 6000 -s two
	expect_ok
	[ "${lines[1]}" = 'epoll EPOLLOUT' ]
	[ "${lines[2]}" = "peer $G1" ]
	[ "${lines[3]}" = "data hello $PARENT\ntwo" ]
	run --separate-stderr bash -c 'printf three | "$VMSVC" nc g1 gsvc'
	[ "$status" = 0 ]
	[ "$output" = "hello $PARENT"$'\nthree' ]
	guest_out_wait g1 g6000 '^echoed 3 5'
	run guest_out g1 g6000
	[ "$(grep -c "^accepted [123] $PARENT\$" <<<"$output")" = 3 ]
}

@test "a service with a non-template GUID: the host reaches it in g1 by GUID, g1 reaches the host through its registered port" {
	guest_bg g1 g5007 'ghv -c 1 listen parent 5007'
	run hv connect $G1 $XGUID -s 'by guid'
	expect_ok
	[ "${lines[2]}" = 'data by guid' ]
	hv_bg x -- -c 1 listen wildcard $XGUID
	run guest_exec g1 'ghv connect parent 5007 -s "by port"'
	expect_ok
	[ "${lines[2]}" = 'data by port' ]
	out_wait x "^accepted 1 $G1\$"
}

@test "a guest program with hv_connect(PARENT) and one with plain AF_VSOCK reach the same host listener as g1" {
	hv_bg h -- -c 4 listen wildcard 5008
	run guest_exec g1 'ghv connect parent 5008 -s hv'
	expect_ok
	[ "${lines[2]}" = 'data hv' ]
	# non-blocking hv_connect in the guest: EINPROGRESS, epoll, SO_ERROR
	run guest_exec g1 'ghv -n connect parent 5008 -s nonblock'
	expect_ok
	[ "${lines[1]}" = 'epoll EPOLLOUT' ]
	[ "${lines[3]}" = 'data nonblock' ]
	run guest_exec g1 'vsock-tool connect 2 5008'
	[ "$status" = 0 ]
	[[ $output =~ ^ok\ [0-9]+$ ]]
	run guest_exec g1 'printf plain | socat -t 5 - VSOCK-CONNECT:2:5008'
	[ "$status" = 0 ]
	[ "$output" = plain ]
	out_wait h '^echoed 4 5$'
	[ "$(out_count h "^accepted [1-4] $G1\$")" = 4 ]
}

@test "guest connections go to the listener bound to the VM's VmId, then CHILDREN, then WILDCARD; host ones to LOOPBACK, then WILDCARD" {
	hv_bg w -- listen wildcard 5001
	hv_bg c -- listen children 5001
	hv_bg v -- listen $G1 5001
	hv_bg l -- listen loopback 5001
	run guest_exec g1 'ghv connect parent 5001 -s a'
	expect_ok
	run hv connect loopback 5001 -s b
	expect_ok
	out_wait v "^accepted 1 $G1\$"
	out_wait l "^accepted 1 $LOOPBACK\$"
	hv_stop v
	run guest_exec g1 'ghv connect parent 5001 -s c'
	expect_ok
	out_wait c "^accepted 1 $G1\$"
	hv_stop c
	run guest_exec g1 'ghv connect parent 5001 -s d'
	expect_ok
	out_wait w "^accepted 1 $G1\$"
	hv_stop l
	run hv connect loopback 5001 -s e
	expect_ok
	out_wait w "^accepted 2 $LOOPBACK\$"
	hv_stop w
	run guest_exec g1 'ghv connect parent 5001'
	expect_err ECONNRESET
	run hv connect loopback 5001
	expect_err ECONNREFUSED
	[ "$(out_count v '^accepted')" = 1 ]
	[ "$(out_count c '^accepted')" = 1 ]
	[ "$(out_count l '^accepted')" = 1 ]
	[ "$(out_count w '^accepted')" = 2 ]
}

@test "an hv listener and the Unix listener RUNDIR/vms/g1.vsock_P coexist: the hv listener wins, the Unix one gets what it leaves" {
	peer_start u "$(vm_port_path g1 5006)" reply 'unix got=%N\n'
	hv_bg h -- -m greet listen wildcard 5006
	run guest_exec g1 'ghv connect parent 5006 -s abc'
	expect_ok
	[ "${lines[2]}" = "data hello $G1\nabc" ]
	out_wait h "^accepted 1 $G1\$"
	[ "$(peer_count u '^accepted')" = 0 ]
	hv_stop h
	run guest_exec g1 'ghv connect parent 5006 -s abcd'
	expect_ok
	[ "${lines[2]}" = 'data unix got=4\n' ]
	# an hv listener bound to another VM does not take g1's connection
	hv_bg o -- listen $G2 5006
	run guest_exec g1 'printf xy | socat -t 5 - VSOCK-CONNECT:2:5006'
	[ "$output" = 'unix got=2' ]
	[ "$(peer_count u '^accepted')" = 2 ]
	[ "$(out_count o '^accepted')" = 0 ]
	peer_stop u
}

@test "host connect errnos: EHOSTUNREACH, ENETUNREACH, ECONNREFUSED at once, EADDRNOTAVAIL, ENOENT" {
	run hv connect $UNKNOWN 6000
	expect_err EHOSTUNREACH
	run hv connect $G2 6000 # defined, not running
	expect_err ENETUNREACH
	run hv -n connect $G2 6000
	expect_err ENETUNREACH
	run hv connect $G1 6999 # running, nobody listens on the port
	expect_err ECONNREFUSED
	run hv -n connect $G1 6999
	expect_err ECONNREFUSED
	run hv connect $G1 $UNKNOWN # neither a template nor registered: no port
	expect_err EADDRNOTAVAIL
	VMSVC_RUNTIME_DIR=$E2E_ROOT/nowhere run hv connect $G1 6000
	expect_err ENOENT
}

@test "guest connect errnos: unregistered, disabled and unlistened services are reset at once (ECONNRESET); host listeners get EACCES" {
	run guest_exec g1 'ghv connect parent 7777'
	expect_err ECONNRESET
	run guest_exec g1 'ghv connect parent 5002'
	expect_err ECONNRESET
	run guest_exec g1 'ghv connect parent 5003'
	expect_err ECONNRESET
	run guest_exec g1 'ghv -n connect parent 5002'
	expect_err ECONNRESET
	run hv listen wildcard 5002
	[ "$output" = 'error EACCES' ]
	run hv listen $G1 7777
	[ "$output" = 'error EACCES' ]
}

@test "ETIMEDOUT: with g1 frozen (QEMU stopped) a connect gives up after HVSOCKET_CONNECT_TIMEOUT (500, 700, default 2000 ms), blocking and non-blocking" {
	local qpid out1 out2 out3
	guest_bg g1 g6000 'ghv -c 1 listen parent 6000'
	qpid=$(cat "$(guest_state_dir g1)/qemu.pid")
	grep -q '^qemu-system' "/proc/$qpid/comm"
	kill -STOP "$qpid"
	out1=$(hv -t 500 connect $G1 6000) || true
	out2=$(hv -t 700 -n -p connect $G1 6000) || true
	out3=$(hv connect $G1 6000) || true # the default, 2000 ms
	kill -CONT "$qpid"
	echo "# frozen guest: ${out1//$'\n'/ | } ; ${out2//$'\n'/ | } ; $out3" >&3
	# the daemon answers at the deadline (its timer ticks every 100 ms); the
	# library alone would give up only 1 s later
	[[ $out1 =~ ^error\ ETIMEDOUT\ ([0-9]+)$ ]]
	[ "${BASH_REMATCH[1]}" -ge 490 ]
	[ "${BASH_REMATCH[1]}" -lt 1450 ]
	local nl=$'\n'
	[[ $out2 =~ ^error\ ETIMEDOUT\ ([0-9]+)${nl}pending\ so_error=0\ again=EALREADY${nl}epoll\ .*EPOLLHUP ]]
	[ "${BASH_REMATCH[1]}" -ge 690 ]
	[ "${BASH_REMATCH[1]}" -lt 1650 ]
	[[ $out3 =~ ^error\ ETIMEDOUT\ ([0-9]+)$ ]]
	[ "${BASH_REMATCH[1]}" -ge 1990 ]
	[ "${BASH_REMATCH[1]}" -lt 2950 ]
	grep -q 'connection to guest port 6000 timed out' <(daemon_log)
	# thawed, g1 answers again (its listener may have seen the stale
	# requests: a fresh one)
	guest_exec g1 'killall hvtest 2>/dev/null; true'
	guest_bg g1 g6000b 'ghv -c 1 listen parent 6000'
	run hv connect $G1 6000 -s thawed
	expect_ok
	[ "${lines[2]}" = 'data thawed' ]
}

@test "connects abandoned while pending (the client dies while g1 is frozen) leave no fd behind in vmsvcd" {
	local qpid fds0 n k pids=()
	sleep 0.2 # earlier tests' listeners are gone
	fds0=$(daemon_fd_count)
	guest_bg g1 g6000 'ghv -w 120 listen parent 6000'
	qpid=$(cat "$(guest_state_dir g1)/qemu.pid")
	grep -q '^qemu-system' "/proc/$qpid/comm"
	kill -STOP "$qpid"
	for k in 1 2 3 4 5 6; do
		# -w 1: exit (status 3) after 1 s, with the connect still pending
		if [ $((k % 2)) = 0 ]; then
			"$HVTEST" -w 1 -t 5000 -n connect $G1 6000 >"$E2E_ROOT/ab$k.out" 2>&1 3>&- &
		else
			"$HVTEST" -w 1 -t 5000 connect $G1 6000 >"$E2E_ROOT/ab$k.out" 2>&1 3>&- &
		fi
		pids+=($!)
	done
	for k in 1 2 3 4 5 6; do
		wait "${pids[$((k - 1))]}" || true
	done
	kill -CONT "$qpid"
	for k in 1 2 3 4 5 6; do
		grep -q '^error TIMEOUT' "$E2E_ROOT/ab$k.out"
	done
	# thawed, g1 accepts the six; the daemon finds their clients gone and
	# ends the streams
	guest_out_wait g1 g6000 '^echoed 6 0'
	for ((n = 0; n < 200; n++)); do
		[ "$(daemon_fd_count)" = "$fds0" ] && break
		sleep 0.05
	done
	echo "# vmsvcd fds: $fds0 before, $(daemon_fd_count) after" >&3
	[ "$(daemon_fd_count)" = "$fds0" ]
	run hv connect $G1 6000 -s after
	expect_ok
	[ "${lines[2]}" = 'data after' ]
}

@test "vmsvc listen and vmsvc nc piped together: 1 MB each way between a loopback client and the guest, intact" {
	# loopback client -> listen | nc g1 -> guest sink
	guest_bg g1 sink 'ghv -c 1 -m sink listen parent 6001'
	("$VMSVC" listen --vm loopback pipe </dev/null | "$VMSVC" nc g1 gsink >/dev/null) \
		2>"$E2E_ROOT/p1.log" 3>&- &
	bg_track $!
	local n
	for ((n = 0; n < 200; n++)); do
		grep -q 'listening for service' "$E2E_ROOT/p1.log" && break
		sleep 0.05
	done
	run bash -c '"$VMSVC_STREAMGEN" gen 1000000 9 | "$VMSVC" nc loopback pipe'
	[ "$status" = 0 ]
	guest_out_wait g1 sink '^recv'
	run guest_out g1 sink
	[[ $output == *"recv 1 1000000 sha256 $("$VMSVC_STREAMGEN" sha 1000000 9)"* ]]
	# guest source -> nc g1 | listen -> loopback client
	guest_exec g1 'vsock-tool listen 6002 source 1000000 10 >/tmp/src.out 2>&1 &
		wait-for /tmp/src.out listening'
	("$VMSVC" nc g1 gsrc </dev/null | "$VMSVC" listen --vm loopback pipe >/dev/null) \
		2>"$E2E_ROOT/p2.log" 3>&- &
	bg_track $!
	for ((n = 0; n < 200; n++)); do
		grep -q 'listening for service' "$E2E_ROOT/p2.log" && break
		sleep 0.05
	done
	run bash -c '"$VMSVC" nc loopback pipe </dev/null | sha256sum'
	[ "$status" = 0 ]
	[ "${output%% *}" = "$("$VMSVC_STREAMGEN" sha 1000000 10)" ]
}

@test "connecting into g1 (real unprivileged user): a vmsvc group member may, a non-member gets EACCES" {
	guest_bg g1 g6000 'ghv -c 1 -m greet listen parent 6000'
	run as_nobody -- "$HVTEST" connect $G1 6000
	expect_err EACCES
	run as_nobody --regid=nogroup --groups=vmsvc -- "$HVTEST" connect $G1 6000 -s member
	expect_ok
	[ "${lines[2]}" = "data hello $PARENT\nmember" ]
	run --separate-stderr as_nobody -- "$VMSVC" nc g1 gsvc </dev/null
	[ "$status" = 1 ]
	[[ $stderr == *"not permitted: connecting into guests needs root"* ]]
}

@test "non-blocking accept under epoll: 8 concurrent guest connections, all accepted from one epoll loop" {
	hv_bg m -- -n -c 8 listen wildcard 5009
	out_wait m '^accept EAGAIN$'
	run guest_exec g1 'vsock-tool -t 60 many 2 5009 8 4096'
	[ "$status" = 0 ]
	[ "$output" = 'ok 8' ]
	out_wait m '^echoed 8 4096$'
	[ "$(out_count m "^accepted [1-8] $G1\$")" = 8 ]
	[ "$(out_count m '^echoed [1-8] 4096$')" = 8 ]
}

@test "counters after a known run: per service (accepted, bytes, refusals by reason) and per VM" {
	SVC=cnt
	stats_json
	mv "$E2E_ROOT/stats.json" "$E2E_ROOT/stats.before.json"
	stats_check 's["accepted"] == 0 and all(n == 0 for n in s["refused"].values())'
	hv_bg c -- -c 3 listen wildcard 5004
	run guest_exec g1 'vsock-tool -t 30 send 2 5004 1000 1'
	[ "$status" = 0 ]
	run guest_exec g1 'ghv connect parent 5004 -s hello'
	expect_ok
	run hv connect loopback 5004 -s abc # loopback: counted, no bytes
	expect_ok
	hv_gone c
	run guest_exec g1 'ghv connect parent 5004' # no listener
	expect_err ECONNRESET
	vmsvc service disable cnt
	run guest_exec g1 'ghv connect parent 5004' # disabled
	expect_err ECONNRESET
	vmsvc service enable cnt
	run guest_exec g1 'ghv connect parent 7001' # not registered: the VM only
	expect_err ECONNRESET
	# host to guest: 6 bytes each way
	guest_bg g1 g6003 'ghv -c 1 listen parent 6003'
	run hv connect $G1 6003 -s 123456
	expect_ok
	local n
	for ((n = 0; n < 100; n++)); do
		stats_check 'v["active"] == 0' 2>/dev/null && break
		sleep 0.05
	done
	stats_check 's["accepted"] == 3 and s["active"] == 0 and s["bytes_to_host"] == 1005 and s["bytes_to_guest"] == 1005 and s["refused"] == {"not_registered": 0, "disabled": 1, "no_listener": 1, "wrong_vm": 0, "not_permitted": 0}'
	SVC=gcnt
	stats_check 's["accepted"] == 1 and s["active"] == 0 and s["bytes_to_host"] == 6 and s["bytes_to_guest"] == 6'
	stats_check 'v["accepted"] - b["accepted"] == 3 and v["active"] == 0 and v["bytes_to_host"] - b["bytes_to_host"] == 1011 and v["bytes_to_guest"] - b["bytes_to_guest"] == 1011 and {k: v["refused"][k] - b["refused"][k] for k in v["refused"]} == {"not_registered": 1, "disabled": 1, "no_listener": 1, "wrong_vm": 0, "not_permitted": 0}'
	STATS_VM=g2 stats_check 'v["accepted"] == 0 and all(n == 0 for n in v["refused"].values())'
	rm -f "$E2E_ROOT/stats.before.json"
}

@test "ENETUNREACH also while g1's vsock driver is down (QEMU attached); connections work once it is back" {
	local state n
	guest_exec g1 'killall hvtest vsock-tool socat 2>/dev/null; sleep 0.2
		rmmod vmw_vsock_virtio_transport'
	for ((n = 0; n < 100; n++)); do
		state=$(vmsvc vm show g1 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')
		[ "$state" = connected ] && break
		sleep 0.05
	done
	[ "$state" = connected ]
	run hv connect $G1 6000
	expect_err ENETUNREACH
	run hv -n connect $G1 6000
	expect_err ENETUNREACH
	guest_exec g1 'insmod /lib/modules/$(uname -r)/kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko'
	for ((n = 0; n < 100; n++)); do
		state=$(vmsvc vm show g1 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')
		[ "$state" = running ] && break
		sleep 0.05
	done
	[ "$state" = running ]
	guest_bg g1 g6000 'ghv -c 1 listen parent 6000'
	run hv connect $G1 6000 -s back
	expect_ok
	[ "${lines[2]}" = 'data back' ]
}
