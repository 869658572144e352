#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2034,SC2154 # guest commands single-quoted on purpose; bats run; stderr set by bats run
# vmsvc exec and vmsvc shell end to end: the real vmsvcd, the real CLI and
# the real vmsvc-agent (static) in one booted busybox test guest g1 (CID 5),
# started by the guest's /init. Host programs use only the daemon's Unix
# sockets: never AF_VSOCK on the host.

load lib/guest
load lib/daemon
load lib/hv

setup_file() {
	e2e_require
	[ -x "${VMSVC_AGENT_STATIC:-}" ] || {
		echo "e2e: VMSVC_AGENT_STATIC (vmsvc-agent-static) is missing" >&2
		return 1
	}
	daemon_init
	chmod 755 "$E2E_ROOT" # nobody reaches control.sock
	vmsvc vm add g1 --cid 5 >/dev/null
	daemon_start
	guest_start g1 --vhost "$(vm_vhost g1)" --add "$VMSVC_AGENT_STATIC:/usr/sbin/vmsvc-agent"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
	guest_exec g1 'wait-for /tmp/vmsvc-agent.log "listening on vsock port 640"'
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
}

teardown() {
	if [ -n "${BATS_TEST_COMPLETED:-}" ] || [ -z "$BATS_TEST_NAME" ]; then
		:
	else
		echo "# --- agent log (last 30 lines):" >&2
		guest_exec g1 'tail -n 30 /tmp/vmsvc-agent.log' >&2 || true
	fi
	e2e_teardown_test
}

@test "exec streams output as it comes: 'a' at least 1.5 s before 'b'" {
	local t0 ta tb
	t0=$(date +%s%N)
	while IFS= read -r line; do
		case $line in
		a) ta=$(date +%s%N) ;;
		b) tb=$(date +%s%N) ;;
		esac
	done < <(vmsvc exec g1 -n -- sh -c 'echo a; sleep 2; echo b')
	[ -n "$ta" ] && [ -n "$tb" ]
	echo "# a after $(((ta - t0) / 1000000)) ms, b after $(((tb - t0) / 1000000)) ms" >&3
	[ $(((tb - ta) / 1000000)) -ge 1500 ]
}

@test "stdout and stderr stay apart; the exit status is the command's" {
	run --separate-stderr vmsvc exec g1 -n -- sh -c 'echo out; echo err >&2; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" = out ]
	[ "$stderr" = err ]
}
