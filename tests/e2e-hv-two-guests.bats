#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2034 # guest commands single-quoted on purpose; bats run; SVC read by lib/hv.bash
# The hv_* calls end to end with two guests on one vmsvcd (ga CID 5, gb CID 6):
# host listeners bound to each VM's VmId get that VM's connections only and
# never cross; a guest whose only listeners belong to the other VM is reset
# at once and counted as "wrong VM"; a CHILDREN listener tells the two apart
# by VmId; a host connect to a VmId reaches that VM and no other. Host
# programs: tests/tools/hvtest.c (never AF_VSOCK on the host); guest
# programs: its static build (ghv = VMSVC_GUEST=1 hvtest).

load lib/guest
load lib/daemon
load lib/hv

GA=aaaaaaaa-0000-4000-8000-00000000000a
GB=bbbbbbbb-0000-4000-8000-00000000000b

setup_file() {
	e2e_require
	daemon_init
	vmsvc vm add ga --cid 5 --id $GA >/dev/null
	vmsvc vm add gb --cid 6 --id $GB >/dev/null
	vmsvc service add svc --port 5000 >/dev/null
	vmsvc service add kids --port 5001 >/dev/null
	vmsvc service add only --port 5002 >/dev/null
	vmsvc service add inguest --port 6000 >/dev/null
	daemon_start
	ghv_wrapper
	local vm
	for vm in ga gb; do
		guest_start $vm --vhost "$(vm_vhost $vm)" \
			--add "${VMSVC_HVTEST_STATIC:?}:/usr/bin/hvtest" \
			--add "$E2E_ROOT/ghv:/usr/bin/ghv"
	done
	echo "# guests ready after $(guest_boot_ms ga) / $(guest_boot_ms gb) ms" >&3
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	export VMSVC_GUEST=0
	SVC=
}

teardown() {
	bg_stop_all
	daemon_check_alive
}

@test "listeners bound to ga's and gb's VmIds for one service each get their own VM's connections only" {
	hv_bg la -- -m greet listen $GA 5000
	hv_bg lb -- -m greet listen $GB 5000
	local n
	for n in 1 2; do
		run guest_exec ga "ghv connect parent 5000 -s a$n"
		expect_ok
		[ "${lines[2]}" = "data hello $GA\na$n" ]
		run guest_exec gb "ghv connect parent 5000 -s b$n"
		expect_ok
		[ "${lines[2]}" = "data hello $GB\nb$n" ]
	done
	# plain AF_VSOCK from each guest lands at the same places
	run guest_exec ga 'vsock-tool connect 2 5000'
	[[ $output =~ ^ok ]]
	run guest_exec gb 'vsock-tool connect 2 5000'
	[[ $output =~ ^ok ]]
	out_wait la '^accepted 3 '
	out_wait lb '^accepted 3 '
	[ "$(out_count la "^accepted [0-9]+ $GA\$")" = 3 ]
	[ "$(out_count lb "^accepted [0-9]+ $GB\$")" = 3 ]
	[ "$(out_count la '^accepted')" = 3 ]
	[ "$(out_count lb '^accepted')" = 3 ]
}

@test "with only ga's VmId-bound listener, gb is reset at once and counted as wrong VM; ga still gets through" {
	SVC=only
	hv_bg la -- listen $GA 5002
	run guest_exec gb 'ghv connect parent 5002'
	expect_err ECONNRESET
	run guest_exec gb 'ghv -n connect parent 5002'
	expect_err ECONNRESET
	run guest_exec ga 'ghv connect parent 5002 -s fine'
	expect_ok
	[ "${lines[2]}" = 'data fine' ]
	out_wait la "^accepted 1 $GA\$"
	[ "$(out_count la '^accepted')" = 1 ]
	STATS_VM=gb stats_check 's["refused"]["wrong_vm"] == 2 and s["accepted"] == 1 and v["refused"]["wrong_vm"] == 2'
	STATS_VM=ga stats_check 'v["refused"]["wrong_vm"] == 0'
	grep -q "VM gb: guest connection to service 'only' (port 5002) refused: its only listeners are bound to other VMs" \
		<(daemon_log)
}

@test "a CHILDREN listener accepts both guests and tells them apart by VmId; a VmId-bound one beside it still wins for its VM" {
	hv_bg c -- listen children 5001
	run guest_exec ga 'ghv connect parent 5001 -s x'
	expect_ok
	run guest_exec gb 'ghv connect parent 5001 -s y'
	expect_ok
	out_wait c "^accepted 1 $GA\$"
	out_wait c "^accepted 2 $GB\$"
	hv_bg b -- listen $GB 5001
	run guest_exec gb 'ghv connect parent 5001 -s z'
	expect_ok
	out_wait b "^accepted 1 $GB\$"
	run guest_exec ga 'ghv connect parent 5001 -s w'
	expect_ok
	out_wait c "^accepted 3 $GA\$"
	[ "$(out_count c '^accepted')" = 3 ]
	[ "$(out_count b '^accepted')" = 1 ]
}

@test "a host connect to a VmId reaches that VM's guest, never the other (the same port listens in both)" {
	local vm
	for vm in ga gb; do
		guest_exec $vm "socat VSOCK-LISTEN:6000,fork SYSTEM:'echo I am cid \$(vsock-tool cid); cat' \
			>/dev/null 2>&1 &
			sleep 0.3"
	done
	local n
	for n in 1 2; do
		run hv connect $GA 6000 -s "to a"
		expect_ok
		[ "${lines[1]}" = "peer $GA" ]
		[ "${lines[2]}" = 'data I am cid 5\nto a' ]
		run hv -n connect $GB 6000 -s "to b"
		expect_ok
		[ "${lines[2]}" = "peer $GB" ]
		[ "${lines[3]}" = 'data I am cid 6\nto b' ]
	done
	# vmsvc nc by name does the same
	run --separate-stderr bash -c 'printf "" | "$VMSVC" nc gb inguest'
	[ "$status" = 0 ]
	[ "$output" = 'I am cid 6' ]
	for vm in ga gb; do
		guest_exec $vm 'killall socat 2>/dev/null; true'
	done
}
