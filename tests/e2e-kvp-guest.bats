#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# The key-value exchange's vsock side in vmsvcd (daemon/icd-kvp.c,
# docs/integration-services.md) with one booted test guest and
# tests/tools/icpeer.c standing in for the agent on port 704 (it prints the
# frames it gets; it sends no pool data, so the agent's own pools come with
# vmsvc-agent's tests): the host pool whole after HELLO and STATE, then each
# change; nothing while the service is off for the VM, and the pool whole
# again when it is back on; ERROR for malformed and foreign frames.
# Host programs use only the daemon's Unix sockets: never AF_VSOCK on the
# host.

load lib/guest
load lib/daemon
load lib/hv

CTLCALL=${VMSVC_SOURCE_DIR:-.}/tests/tools/ctlcall.py

setup_file() {
	e2e_require
	[ -x "${VMSVC_ICPEER_STATIC:-}" ] || {
		echo "e2e: missing VMSVC_ICPEER_STATIC (tests/tools/icpeer-static)" >&2
		return 1
	}
	daemon_init
	vmsvc vm add g1 --cid 5 >/dev/null
	daemon_start
	vmsvc kvp g1 set role web
	vmsvc kvp g1 set motd "hello"
	guest_start g1 --vhost "$(vm_vhost g1)" --add "$VMSVC_ICPEER_STATIC:/usr/bin/icpeer"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
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
	sed -i '/^DisabledServices=/d' "$VMSVC_CONFIG_DIR/vms.d/g1.conf"
	peer_stop_all
	e2e_teardown_test
}

# peer_run ID ICPEER-ARGS...: icpeer on port 704 from privileged port 704
# (-s P in the arguments takes another) in the background in the guest, its
# output in /tmp/ID.log; waits for its first line.
peer_run() {
	local id=$1
	shift
	guest_exec g1 "rm -f /tmp/$id.log
		VMSVC_GUEST=1 icpeer -p 704 -s 704 $* >/tmp/$id.log 2>&1 &
		echo \$! >>/tmp/peers
		wait-for /tmp/$id.log '^connect'"
}

peer_log() {
	guest_exec g1 "cat /tmp/$1.log"
}

# peer_wait ID PATTERN [SECONDS]
peer_wait() {
	guest_exec g1 "wait-for /tmp/$1.log '$2' ${3:-10}"
}

peer_count() {
	guest_exec g1 "grep -c -- '$2' /tmp/$1.log" || true
}

peer_stop_all() {
	guest_exec g1 'for p in $(cat /tmp/peers 2>/dev/null); do kill $p 2>/dev/null; done
		rm -f /tmp/peers; true' >/dev/null || true
}

ctl() {
	/usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" "$@"
}

@test "after HELLO and STATE the agent gets the host pool whole: BEGIN, a SET per key, COMMIT" {
	peer_run k
	run peer_wait k '^FRAME type=51 '
	[ "$status" = 0 ]
	run peer_log k
	[ "${lines[0]}" = "connected local_port=704" ]
	[[ "${lines[1]}" == "HELLO min=1 max=1 software=vmsvcd "* ]]
	[ "${lines[2]}" = "STATE enabled=1 interval_ms=0" ]
	[[ "${lines[3]}" == "FRAME type=50 "* ]] # BEGIN
	[[ "${lines[4]}" == "FRAME type=48 "* ]] # SET motd
	[[ "${lines[5]}" == "FRAME type=48 "* ]] # SET role
	[[ "${lines[6]}" == "FRAME type=51 "* ]] # COMMIT
	[ "${#lines[@]}" = 7 ]
	ctl '{"op":"integration","vm":"g1"}' | sed -n 1p | /usr/bin/python3 -c '
import json, sys
s = {x["short"]: x for x in json.load(sys.stdin)["services"]}
sys.exit(0 if s["kvp"]["status"] == "ok" and s["kvp"]["pools"]["host"]["keys"] == 2 else 1)'
}

@test "each host change follows as a SET or a DELETE" {
	peer_run k
	run peer_wait k '^FRAME type=51 '
	[ "$status" = 0 ]
	vmsvc kvp g1 set extra 1
	run peer_wait k '^FRAME type=48 ' # the third SET
	[ "$(peer_count k '^FRAME type=48 ')" = 3 ]
	vmsvc kvp g1 delete extra
	run peer_wait k '^FRAME type=49 '
	[ "$status" = 0 ]
	vmsvc kvp g1 set role web # the same value: no change, nothing sent
	sleep 0.3
	[ "$(peer_count k '^FRAME type=48 ')" = 3 ]
}

@test "off for the VM: STATE enabled=0, nothing sent, pool frames ignored unanswered; back on: the pool whole again" {
	echo "DisabledServices=kvp" >>"$VMSVC_CONFIG_DIR/vms.d/g1.conf"
	sleep 0.5 # vmsvcd reloads vms.d
	peer_run k -u 50
	run peer_wait k '^STATE enabled=0'
	[ "$status" = 0 ]
	sleep 0.5
	run peer_log k
	[[ "$output" != *FRAME* ]] || { echo "$output"; false; }
	[[ "$output" != *ERROR* ]] || { echo "$output"; false; }
	sed -i '/^DisabledServices=/d' "$VMSVC_CONFIG_DIR/vms.d/g1.conf"
	run peer_wait k '^STATE enabled=1' 5
	[ "$status" = 0 ]
	run peer_wait k '^FRAME type=51 '
	[ "$status" = 0 ]
	[ "$(peer_count k '^FRAME type=50 ')" = 1 ]
	[ "$(peer_count k '^FRAME type=48 ')" = 2 ]
}

@test "malformed pool frames get ERROR EPROTO, the guest's requests EOPNOTSUPP; the connection goes on" {
	peer_run k -u 48
	run peer_wait k '^ERROR '
	[ "$status" = 0 ]
	run peer_log k
	[[ "$output" == *"ERROR seq=0 type=48 err=EPROTO message=malformed SET"* ]] || { echo "$output"; false; }
	[[ "$output" != *EOF* ]]
	peer_run g -s 703 -u 52 # (a second source port: k still holds 704)
	run peer_wait g '^ERROR '
	run peer_log g
	[[ "$output" == *"ERROR seq=0 type=52 err=EOPNOTSUPP"* ]] || { echo "$output"; false; }
}
