#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2154 # single quotes on purpose; stderr set by bats run
# The examples and 'vmsvc nc' / 'vmsvc listen' across a real guest: the
# library's AF_VSOCK side runs only inside the QEMU test guest; every host
# command runs with VMSVC_GUEST=0, so the host side never opens AF_VSOCK.

bats_require_minimum_version 1.5.0
load ../tests/lib/guest
load ../tests/lib/daemon

SVC=3049197c-facb-11e6-bd58-64006a7986d3

setup_file() {
	e2e_require
	daemon_init
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc service add greeter --guid $SVC >/dev/null
	vmsvc service add echo --port 5000 >/dev/null
	vmsvc service add off --port 5001 --disabled >/dev/null
	daemon_start
	guest_start g1 --vhost "$(vm_vhost g1)" \
		--add "${VMSVC_GUEST_CLIENT:?}:/usr/bin/guest-client" \
		--add "${VMSVC_GUEST_SERVICE:?}:/usr/bin/guest-service" \
		--add "$VMSVC:/usr/bin/vmsvc"
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	export VMSVC_GUEST=0
	EX=${VMSVC_EXAMPLES_DIR:?}
	VMID=$(vmsvc vm show g1 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
}

teardown() {
	bg_stop_all
	daemon_check_alive
}

@test "guest-client reaches host-service through HV_GUID_PARENT; the host sees its VmId" {
	bg hs "$EX/host-service" --once
	wait_line hs listening
	run guest_exec g1 guest-client
	echo "$output" >&2
	[ "$status" = 0 ]
	[[ $output == *"Hello from the host, $VMID!"* ]]
	[[ $output == *"ping from the guest"* ]]
}

@test "host-client reaches guest-service bound to HV_GUID_PARENT" {
	guest_exec g1 'guest-service --once >/tmp/gs.log 2>&1 & wait-for /tmp/gs.log listening'
	run --separate-stderr "$EX/host-client" "$VMID"
	echo "$output $stderr" >&2
	[ "$status" = 0 ]
	[[ $output == "Hello from the guest!"* ]]
	[[ $output == *"ping from the host" ]]
}

@test "vmsvc listen --vm parent in the guest answers vmsvc nc from the host" {
	guest_exec g1 'vmsvc listen --vm parent 5000 --echo >/tmp/l.log 2>&1 &
		wait-for /tmp/l.log listening'
	run --separate-stderr bash -c 'printf "abc\n" | "$VMSVC" nc g1 echo'
	echo "$output $stderr" >&2
	[ "$status" = 0 ]
	[ "$output" = abc ]
	run guest_exec g1 'cat /tmp/l.log'
	[[ $output == *"connection from the host"* ]]
}

@test "vmsvc nc parent in the guest reaches vmsvc listen on the host; ZERO too with VMSVC_GUEST=1" {
	bg l "$VMSVC" listen echo --echo
	wait_line l 'listening for service'
	run guest_exec g1 'echo hello | vmsvc nc parent 5000'
	[ "$status" = 0 ]
	[ "$output" = hello ]
	run guest_exec g1 'echo zero | VMSVC_GUEST=1 vmsvc nc 00000000-0000-0000-0000-000000000000 5000'
	[ "$status" = 0 ]
	[ "$output" = zero ]
	grep -q "connection from VM 'g1'" "$E2E_ROOT/l.log"
}

@test "the host refuses a disabled or unregistered service: the guest learns it at once" {
	run guest_exec g1 'echo x | vmsvc nc parent 5001; echo rc=$?'
	echo "$output" >&2
	[[ $output == *"the host refused service port 5001"* ]]
	[[ $output == *"rc=1"* ]]
	run guest_exec g1 'guest-client 00001770-facb-11e6-bd58-64006a7986d3; echo rc=$?'
	echo "$output" >&2
	[[ $output == *"Connection reset by peer"* ]]
	[[ $output == *"rc=1"* ]]
}

@test "nobody listening in the guest: nc from the host is refused fast" {
	local t0 t1
	t0=$(date +%s%N)
	run --separate-stderr bash -c 'echo x | "$VMSVC" nc g1 greeter'
	t1=$(date +%s%N)
	echo "$stderr ($(((t1 - t0) / 1000000)) ms)" >&2
	[ "$status" = 1 ]
	[[ $stderr == *"nobody listens for service 'greeter' in VM 'g1'"* ]]
	[ $(((t1 - t0) / 1000000)) -lt 1900 ] # not the 2 s timeout
}
