#!/usr/bin/env bats
# vmsvc kvp: usage errors (2), help, the limits checked before anything is
# sent, vmsvcd or vmsvc-agent not running (125), and the host side against
# tests/tools/kvpfake.py, a stand-in for vmsvcd's kvp and kvp-watch
# operations: output formats (escaped text, JSON with *_b64), exact bytes,
# what is sent, exit codes (1 no such key, 125 failures), watch until its
# stream ends. The real daemon and agent: tests/e2e-kvp*.bats.

load lib/common

ID1=5b0d3f2e-8f4c-4c1e-9a51-0e6f2b7c9d11

setup() {
	common_setup
	SRC=${VMSVC_SOURCE_DIR:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
	FAKE_PID=
	WATCH_PID=
}

teardown() {
	local p
	for p in "$WATCH_PID" "$FAKE_PID"; do
		[ -z "$p" ] || kill "$p" 2>/dev/null || true
	done
	common_teardown
}

# Defines VM g1 and starts the fake vmsvcd knowing it.
fake_start() {
	run_vmsvc vm add g1 --id "$ID1"
	expect 0
	"$PYTHON" "$SRC/tests/tools/kvpfake.py" "$VMSVC_RUNTIME_DIR" "$TEST_ROOT/requests.log" \
		--vm "g1=$ID1" --vm off=00000000-0000-0000-0000-00000000000f \
		--vm "g2=00000000-0000-0000-0000-0000000000a2,stale" \
		>"$TEST_ROOT/fake.out" 2>&1 3>&- &
	FAKE_PID=$!
	local n
	for ((n = 0; n < 100; n++)); do
		grep -q ready "$TEST_ROOT/fake.out" 2>/dev/null && return 0
		sleep 0.05
	done
	cat "$TEST_ROOT/fake.out" >&2
	return 1
}

# Fails unless the Python expression EXPR holds for r, the last request.
last_request() {
	"$PYTHON" -c '
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$TEST_ROOT/requests.log" "$1" || {
		echo "# request check failed: $1" >&2
		tail -n 3 "$TEST_ROOT/requests.log" >&2
		return 1
	}
}

# --- help and usage ---

@test "kvp --help, and --help after any subcommand, print usage and exit 0" {
	for args in "" "g1" "g1 list" "get" "g1 set k v" "watch"; do
		# shellcheck disable=SC2086 # words on purpose
		run_vmsvc kvp $args --help
		expect 0
		stdout_has "Usage: vmsvc kvp VM list"
		stdout_has "Exit status: 0 success; 1 no such key"
	done
	run_vmsvc --help
	stdout_has "kvp "
}

@test "usage errors exit 2 and say what is wrong" {
	run_vmsvc kvp
	expect 2
	stderr_has "which VM, and what?"
	stderr_has "Try 'vmsvc kvp --help'"
	run_vmsvc kvp g1
	expect 2
	stderr_has "what about VM 'g1'?"
	run_vmsvc kvp g1 frob
	expect 2
	stderr_has "unknown subcommand 'frob'"
	run_vmsvc kvp --pool host list
	expect 2
	stderr_has "options come after the subcommand"
	run_vmsvc kvp g1 list --bogus
	expect 2
	stderr_has "unknown option '--bogus'"
	run_vmsvc kvp g1 list --pool
	expect 2
	stderr_has "option '--pool' needs a value"
	run_vmsvc kvp g1 list --pool public
	expect 2
	stderr_has "unknown pool 'public'"
	run_vmsvc kvp g1 get
	expect 2
	stderr_has "get needs a KEY"
	run_vmsvc kvp g1 get ""
	expect 2
	stderr_has "not empty"
	run_vmsvc kvp g1 get a b
	expect 2
	stderr_has "unexpected argument 'b'"
	run_vmsvc kvp g1 set k
	expect 2
	stderr_has "set needs a VALUE or --file"
	run_vmsvc kvp set k v --pool host
	expect 2
	stderr_has "set does not take '--pool'"
	run_vmsvc kvp g1 delete k --json
	expect 2
	stderr_has "delete does not take '--json'"
	run_vmsvc kvp watch a b
	expect 2
	stderr_has "unexpected argument 'b'"
}

# --- limits, checked before anything is sent ---

@test "a key over 512 bytes or a value over 64 KiB fails (125) before asking anyone" {
	run_vmsvc kvp g1 set "$(printf 'k%.0s' {1..513})" v
	expect 125
	stderr_has "the key is 513 bytes long; keys are 1 to 512 bytes"
	head -c 65537 /dev/zero >"$TEST_ROOT/big"
	run_vmsvc kvp set k --file "$TEST_ROOT/big"
	expect 125
	stderr_has "longer than 65536 bytes"
	run_vmsvc kvp g1 set k --file "$TEST_ROOT/missing"
	expect 125
	stderr_has "cannot read the value from $TEST_ROOT/missing: No such file or directory"
}

# --- nobody to talk to ---

@test "on the host without vmsvcd: every subcommand says vmsvcd is not running (125)" {
	for args in "list" "get k" "set k v" "delete k" "watch"; do
		# shellcheck disable=SC2086 # words on purpose
		run_vmsvc kvp g1 $args
		expect 125
		stderr_has "vmsvcd is not running (no $VMSVC_RUNTIME_DIR/control.sock)"
	done
}

@test "without a VM and no agent: 'is vmsvc-agent running?' (125), also for a stale socket" {
	export VMSVC_KVP_SOCKET=$TEST_ROOT/kvp.sock
	for args in "list" "get k" "set k v" "delete k" "watch"; do
		# shellcheck disable=SC2086 # words on purpose
		run_vmsvc kvp $args
		expect 125
		stderr_has "cannot reach vmsvc-agent at $TEST_ROOT/kvp.sock (No such file or directory): is vmsvc-agent running?"
		stderr_has "on the host, name the VM"
	done
	# A socket file nobody listens on (the agent died): ECONNREFUSED.
	"$PYTHON" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
		"$VMSVC_KVP_SOCKET"
	run_vmsvc kvp get k
	expect 125
	stderr_has "(Connection refused): is vmsvc-agent running?"
}

# --- the host side against a stand-in vmsvcd ---

@test "list: POOL KEY VALUE lines, escaped, sorted by pool then key; --pool and --prefix" {
	fake_start
	run_vmsvc kvp g1 list
	expect 0
	[ "$output" = "guest a\\x20key x\\ty
guest bin \\x00\\xff
guest greeting hello world\\n
intrinsic HostName g1
intrinsic OSName Debian GNU/Linux 12" ] || { _show_run; false; }
	last_request "r == {'op': 'kvp', 'vm': 'g1', 'action': 'list'}"
	run_vmsvc kvp "$ID1" list --pool intrinsic --prefix Host
	expect 0
	[ "$output" = "intrinsic HostName g1" ]
	last_request "r['vm'] == '$ID1' and r['pool'] == 'intrinsic' and r['prefix'] == 'Host'"
}

@test "list --json: exact data, strings when UTF-8, else key_b64/value_b64" {
	fake_start
	run_vmsvc kvp g1 list --json --pool guest
	expect 0
	json_check "j == [{'pool': 'guest', 'key': 'a key', 'value': 'x\ty', 'gen': 1},
		{'pool': 'guest', 'key': 'bin', 'value_b64': 'AP8=', 'gen': 1},
		{'pool': 'guest', 'key': 'greeting', 'value': 'hello world\n', 'gen': 1}]"
}

@test "list reads vmsvcd's stream to its end; --json says which items are stale copies" {
	fake_start
	run_vmsvc kvp g2 list --json --pool intrinsic
	expect 0
	json_check "j == [{'pool': 'intrinsic', 'key': 'HostName', 'value': 'g2', 'gen': 1, 'stale': True},
		{'pool': 'intrinsic', 'key': 'OSName', 'value': 'Debian GNU/Linux 12', 'gen': 1, 'stale': True}]"
	run_vmsvc kvp g2 list --pool host
	expect 0
	[ -z "$output" ]
}

@test "get writes the value's bytes exactly; a missing key is 1; an unknown VM 125" {
	fake_start
	"$VMSVC" kvp g1 get greeting >"$TEST_ROOT/out"
	printf 'hello world\n' | cmp - "$TEST_ROOT/out"
	"$VMSVC" kvp g1 get bin >"$TEST_ROOT/out"
	printf '\000\377' | cmp - "$TEST_ROOT/out"
	last_request "r == {'op': 'kvp', 'vm': 'g1', 'action': 'get', 'key': 'bin'}"
	run_vmsvc kvp g1 get --pool host greeting
	expect 1
	stderr_has "no key 'greeting' in the host pool of VM 'g1'"
	run_vmsvc kvp g1 get "no such"
	expect 1
	stderr_has "no key 'no\\x20such' in VM 'g1' (pools host, guest, intrinsic)"
	run_vmsvc kvp nosuchvm get greeting
	expect 125
	stderr_has "no VM 'nosuchvm'"
}

@test "set from an argument, a file and stdin (binary-safe), non-UTF-8 keys as key_b64" {
	fake_start
	run_vmsvc kvp g1 set color blue
	expect 0
	[ -z "$output" ]
	last_request "r == {'op': 'kvp', 'vm': 'g1', 'action': 'set', 'key': 'color', 'value_b64': 'Ymx1ZQ=='}"
	printf '\000\001\n' >"$TEST_ROOT/v"
	run_vmsvc kvp g1 set bytes --file "$TEST_ROOT/v"
	expect 0
	last_request "r['value_b64'] == 'AAEK'"
	printf 'from stdin' | "$VMSVC" kvp g1 set in --file -
	last_request "r['key'] == 'in' and r['value_b64'] == 'ZnJvbSBzdGRpbg=='"
	run_vmsvc kvp g1 set -- -dash ""
	expect 0
	last_request "r['key'] == '-dash' and r['value_b64'] == ''"
	run_vmsvc kvp g1 set $'\xff\xfe' v
	expect 0
	last_request "r['key_b64'] == '//4=' and 'key' not in r"
	"$VMSVC" kvp g1 get --pool host bytes | cmp "$TEST_ROOT/v" -
	run_vmsvc kvp g1 list --pool host
	expect 0
	[ "$output" = "host -dash
host bytes \\x00\\x01\\n
host color blue
host in from stdin
host \\xff\\xfe v" ] || { _show_run; false; }
}

@test "delete: done is silent; a missing key is 1" {
	fake_start
	run_vmsvc kvp g1 set k v
	expect 0
	run_vmsvc kvp g1 delete k
	expect 0
	[ -z "$output" ]
	last_request "r == {'op': 'kvp', 'vm': 'g1', 'action': 'delete', 'key': 'k'}"
	run_vmsvc kvp g1 delete k
	expect 1
	stderr_has "no key 'k' in the host pool of VM 'g1'"
}

@test "vmsvcd's refusals are 125 with its message and what to do" {
	fake_start
	run_vmsvc kvp off list
	expect 125
	stderr_has "the key-value exchange is disabled for VM 'off'"
	stderr_has "vmsvc vm integration off"
	# 'off' is not defined here: ENOENT would not be taken for a missing key.
	run_vmsvc kvp secret get k
	expect 125
	stderr_has "not permitted"
	stderr_has "SessionUsers="
}

# Waits (10 s at most) for the watch in the background to end; fails
# unless its exit status is 125.
watch_ends_125() {
	local n rc=0
	for ((n = 0; n < 200; n++)); do
		kill -0 "$WATCH_PID" 2>/dev/null || break
		sleep 0.05
	done
	wait "$WATCH_PID" || rc=$?
	WATCH_PID=
	[ "$rc" = 125 ] || {
		echo "# watch ended with $rc" >&2
		cat "$TEST_ROOT/watch.out" "$TEST_ROOT/watch.err" >&2
		return 1
	}
}

# Starts vmsvc kvp g1 watch ARGS in the background, once vmsvcd has it.
watch_start() {
	"$VMSVC" kvp g1 watch "$@" >"$TEST_ROOT/watch.out" 2>"$TEST_ROOT/watch.err" 3>&- &
	WATCH_PID=$!
	local n
	for ((n = 0; n < 100; n++)); do
		grep -q kvp-watch "$TEST_ROOT/requests.log" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

@test "watch: a line per change until the stream ends, then a message and 125" {
	fake_start
	watch_start job/
	last_request "r == {'op': 'kvp-watch', 'vm': 'g1', 'prefix': 'job/'}"
	run_vmsvc kvp g1 set job/1 "two words"
	run_vmsvc kvp g1 set other x
	run_vmsvc kvp g1 delete job/1
	run_vmsvc kvp g1 set __end__ x
	watch_ends_125
	[ "$(cat "$TEST_ROOT/watch.out")" = "set host job/1 two words
delete host job/1" ] || { cat "$TEST_ROOT/watch.out" "$TEST_ROOT/watch.err"; false; }
	grep -q "vmsvcd ended the watch of VM 'g1'" "$TEST_ROOT/watch.err"
}

@test "watch --json: one JSON object per line; an overflow ends it with its own message" {
	fake_start
	watch_start --json --pool host
	run_vmsvc kvp g1 set $'\xff' v
	run_vmsvc kvp g1 set k "a\"b"
	run_vmsvc kvp g1 set __overflow__ x
	watch_ends_125
	"$PYTHON" -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert [json.loads(l) for l in lines] == [
    {"pool": "host", "op": "set", "key_b64": "/w==", "value": "v", "gen": 2},
    {"pool": "host", "op": "set", "key": "k", "value": "a\"b", "gen": 3}], lines
' "$TEST_ROOT/watch.out"
	grep -q "the watch fell behind" "$TEST_ROOT/watch.err"
}
