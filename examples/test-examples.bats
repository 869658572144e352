#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2154 # single quotes on purpose; stderr set by bats run
# The hv_* library, the examples and 'vmsvc nc' / 'vmsvc listen' against the
# real vmsvcd, host side only (loopback: no guest, never AF_VSOCK; every
# command runs with VMSVC_GUEST=0 so that the library cannot take the vsock
# path). The guest side of the examples runs in the e2e tests.

bats_require_minimum_version 1.5.0
load ../tests/lib/daemon

setup_file() {
	e2e_require
	daemon_init
	chmod 755 "$E2E_ROOT" # the unprivileged tests reach control.sock
	vmsvc service add greeter --guid 3049197c-facb-11e6-bd58-64006a7986d3 >/dev/null
	vmsvc service add echo --port 5000 >/dev/null
	vmsvc service add off --port 5001 --disabled >/dev/null
	vmsvc service add rooted --port 5002 --user root >/dev/null
	vmsvc service add spare --port 5003 >/dev/null
	vmsvc vm add g1 --cid 7 >/dev/null
	daemon_start
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	export VMSVC_GUEST=0
	EX=${VMSVC_EXAMPLES_DIR:?}
}

teardown() {
	bg_stop_all
	daemon_check_alive
}

# run_nc ARGS...: vmsvc nc with stdin from $IN, bats' run (stdout, stderr).
run_nc() {
	run --separate-stderr bash -c 'printf "%b" "$IN" | "$VMSVC" nc "$@"' nc "$@"
}

show() {
	printf '# status %s\n# stdout: %s\n# stderr: %s\n' "$status" "$output" "$stderr" >&2
}

@test "host-service and host-client talk over loopback" {
	bg hs "$EX/host-service" --once
	wait_line hs 'listening'
	run --separate-stderr "$EX/host-client" loopback 3049197c-facb-11e6-bd58-64006a7986d3 \
		"ping\n"
	show
	[ "$status" = 0 ]
	[[ $output == "Hello from the host, e0e16197-dd56-4a10-9195-5ee7a155a838!"* ]]
	[[ $output == *'ping\n' ]]
}

@test "vmsvc listen --echo serves many nc clients, each half-closing" {
	bg l "$VMSVC" listen echo --echo
	wait_line l 'listening for service'
	local n # not i: bats' run changes it
	for n in 1 2 3; do
		IN="line $n\nmore\n" run_nc loopback echo
		show
		[ "$status" = 0 ]
		[ "$output" = "$(printf 'line %s\nmore' "$n")" ]
	done
	[ "$(grep -c 'connection from the host (loopback)' "$E2E_ROOT/l.log")" = 3 ]
}

@test "vmsvc listen --exec runs the command per connection with the peer in its environment" {
	bg x "$VMSVC" listen --vm loopback echo --exec 'wc -c; echo "peer=$VMSVC_PEER_VMID"'
	wait_line x 'listening for service'
	IN="12345" run_nc loopback 5000
	show
	[ "$status" = 0 ]
	[ "$(echo "$output" | head -1 | tr -d ' ')" = 5 ]
	[[ $output == *"peer=e0e16197-dd56-4a10-9195-5ee7a155a838" ]]
}

@test "vmsvc listen without --echo bridges one connection to stdin/stdout" {
	mkfifo "$E2E_ROOT/to-listener"
	"$VMSVC" listen spare <"$E2E_ROOT/to-listener" >"$E2E_ROOT/b.out" 2>"$E2E_ROOT/b.log" 3>&- &
	local lpid=$!
	bg_track $lpid
	exec 5>"$E2E_ROOT/to-listener"
	wait_line b 'listening for service'
	echo "from listener" >&5
	exec 5>&-
	IN="from nc\n" run_nc loopback spare
	show
	[ "$status" = 0 ]
	[ "$output" = "from listener" ]
	wait $lpid
	[ "$(cat "$E2E_ROOT/b.out")" = "from nc" ]
}

@test "a second listener for the same service and VmId is refused" {
	bg l2 "$VMSVC" listen echo --echo
	wait_line l2 'listening for service'
	run --separate-stderr "$VMSVC" listen echo --echo
	[ "$status" = 1 ]
	[[ $stderr == *"another listener is already bound to service 'echo'"* ]]
}

@test "nc explains refusals: nobody listening, disabled, unregistered GUID" {
	IN="" run_nc loopback echo
	[ "$status" = 1 ]
	[[ $stderr == *"nobody listens for service 'echo' on this host"* ]]
	IN="" run_nc loopback off
	[ "$status" = 1 ]
	[[ $stderr == *"service 'off' is disabled in the registry; enable it with 'vmsvc service enable off'"* ]]
	IN="" run_nc loopback 11111111-2222-3333-4444-555555555555
	[ "$status" = 1 ]
	[[ $stderr == *"is not registered; register it with 'vmsvc service add'"* ]]
	IN="" run_nc loopback nosuch
	[ "$status" = 1 ]
	[[ $stderr == *"unknown service 'nosuch'"* ]]
}

@test "nc explains VM errors: unknown name, unknown VmId, VM not running" {
	IN="" run_nc nosuchvm echo
	[ "$status" = 1 ]
	[[ $stderr == *"no VM named 'nosuchvm'"* ]]
	IN="" run_nc 01234567-89ab-cdef-0123-456789abcdef echo
	[ "$status" = 1 ]
	[[ $stderr == *"vmsvcd serves no VM 01234567-89ab-cdef-0123-456789abcdef"* ]]
	IN="" run_nc g1 echo
	[ "$status" = 1 ]
	[[ $stderr == *"VM 'g1' is not running"* ]]
}

@test "listen refuses a disabled service, and unprivileged users where not permitted" {
	run --separate-stderr "$VMSVC" listen off
	[ "$status" = 1 ]
	[[ $stderr == *"service 'off' is disabled in the registry"* ]]
	command -v setpriv >/dev/null || skip "setpriv missing"
	[ "$(id -u)" = 0 ] || skip "needs root to switch to nobody"
	run --separate-stderr setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$VMSVC" listen rooted
	show
	[ "$status" = 1 ]
	[[ $stderr == *"not permitted to listen for service 'rooted'"* ]]
	run --separate-stderr setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$VMSVC" nc g1 echo </dev/null
	show
	[ "$status" = 1 ]
	[[ $stderr == *"not permitted: connecting into guests needs root"* ]]
}

@test "nc and listen without vmsvcd say how to start it" {
	local saved=$VMSVC_RUNTIME_DIR
	export VMSVC_RUNTIME_DIR=$E2E_ROOT/nowhere
	mkdir -p "$VMSVC_RUNTIME_DIR"
	IN="" run_nc loopback echo
	[ "$status" = 1 ]
	[[ $stderr == *"vmsvcd is not running (no $E2E_ROOT/nowhere/control.sock); start it with 'vmsvcd'"* ]]
	run --separate-stderr "$VMSVC" listen echo
	[ "$status" = 1 ]
	[[ $stderr == *"vmsvcd is not running"* ]]
	export VMSVC_RUNTIME_DIR=$saved
}

@test "nc and listen usage errors exit 2, --help exits 0" {
	run --separate-stderr "$VMSVC" nc loopback
	[ "$status" = 2 ]
	run --separate-stderr "$VMSVC" nc --timeout 0 loopback echo
	[ "$status" = 2 ]
	run --separate-stderr "$VMSVC" listen echo --echo --exec true
	[ "$status" = 2 ]
	run --separate-stderr "$VMSVC" listen --bogus echo
	[ "$status" = 2 ]
	run --separate-stderr "$VMSVC" nc --help
	[ "$status" = 0 ]
	[[ $output == *"Usage: vmsvc nc"* ]]
	run --separate-stderr "$VMSVC" listen --help
	[ "$status" = 0 ]
	[[ $output == *"Usage: vmsvc listen"* ]]
}
