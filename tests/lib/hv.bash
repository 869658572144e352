# shellcheck shell=bash disable=SC2154 # bats' run sets status, output, lines
# Helpers for the hv_* end-to-end tests (tests/daemon-hv.bats, tests/e2e-hv*.bats)
# built on tests/tools/hvtest.c ($VMSVC_HVTEST on the host; $VMSVC_HVTEST_STATIC
# in the guest as /usr/bin/hvtest, with /usr/bin/ghv = VMSVC_GUEST=1 hvtest).
# Load after lib/guest and lib/daemon.
#
#   hv ARGS...            hvtest on the host (it forces VMSVC_GUEST=0: never AF_VSOCK)
#   as_nobody [SETPRIV-OPTIONS...] -- CMD...
#                         CMD as nobody (default: group nogroup, no
#                         supplementary groups)
#   hv_bg ID [SETPRIV-OPTIONS...] -- HVTEST-ARGS...
#                         hvtest in the background (as nobody when options are
#                         given), stdout in ID.out; waits for "listening" (0) or
#                         "error" (1, prints it)
#   hv_stop ID, hv_gone ID  end it by PID / wait until it ended by itself
#   out_wait ID PATTERN [S], out_count ID PATTERN   its stdout (grep -E)
#   expect_ok             $output's first line is "ok MS"
#   expect_err NAME [MAX_MS]  ... is "error NAME MS" with MS < MAX_MS (1000)
#   stats_json            'vmsvc stats --json' into $E2E_ROOT/stats.json
#   stats_check EXPR      Python EXPR over s = service $SVC, v = VM $STATS_VM
#                         (default g1), b = VM entry of the previous
#                         $E2E_ROOT/stats.before.json if any
#   ghv_wrapper           writes $E2E_ROOT/ghv (for run-guest --add)
#   guest_bg VM ID CMD    in the guest: CMD >/tmp/ID.out 2>&1 &, wait for
#                         "listening" in it
#   guest_out VM ID       cat /tmp/ID.out in the guest
#   guest_out_wait VM ID PATTERN  wait (10 s) for PATTERN (grep) in it

hv() {
	"${VMSVC_HVTEST:?}" "$@"
}

as_nobody() {
	local o=()
	while [ "$1" != -- ]; do
		o+=("$1")
		shift
	done
	shift
	[ ${#o[@]} -gt 0 ] || o=(--regid=nogroup --clear-groups)
	setpriv --reuid=nobody "${o[@]}" -- "$@"
}

hv_bg() {
	local id=$1 n o=()
	shift
	while [ "$1" != -- ]; do
		o+=("$1")
		shift
	done
	shift
	# no stale "listening" from an earlier run of the same ID
	rm -f "$E2E_ROOT/$id.out" "$E2E_ROOT/$id.log"
	if [ ${#o[@]} -gt 0 ]; then
		setpriv --reuid=nobody "${o[@]}" -- "$VMSVC_HVTEST" "$@" \
			</dev/null >"$E2E_ROOT/$id.out" 2>"$E2E_ROOT/$id.log" 3>&- &
	else
		"$VMSVC_HVTEST" "$@" </dev/null >"$E2E_ROOT/$id.out" 2>"$E2E_ROOT/$id.log" 3>&- &
	fi
	echo $! >"$E2E_ROOT/$id.pid"
	bg_track $!
	for ((n = 0; n < 200; n++)); do
		grep -q '^listening' "$E2E_ROOT/$id.out" 2>/dev/null && return 0
		if grep -q '^error' "$E2E_ROOT/$id.out" 2>/dev/null; then
			cat "$E2E_ROOT/$id.out"
			return 1
		fi
		sleep 0.05
	done
	echo "# $id did not start:" >&2
	cat "$E2E_ROOT/$id.out" "$E2E_ROOT/$id.log" >&2
	return 1
}

# A moment more after the exit, for vmsvcd to see the listener go.
hv_gone() {
	local pid n
	pid=$(cat "$E2E_ROOT/$1.pid")
	for ((n = 0; n < 100; n++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "# $1 still runs:" >&2
		cat "$E2E_ROOT/$1.out" >&2
		return 1
	fi
	sleep 0.1
}

hv_stop() {
	kill -TERM "$(cat "$E2E_ROOT/$1.pid")" 2>/dev/null || true
	hv_gone "$1"
}

out_wait() {
	local n
	for ((n = 0; n < ${3:-10} * 20; n++)); do
		grep -E -q -- "$2" "$E2E_ROOT/$1.out" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "# no /$2/ in $1.out:" >&2
	cat "$E2E_ROOT/$1.out" >&2
	return 1
}

out_count() {
	grep -E -c -- "$2" "$E2E_ROOT/$1.out" 2>/dev/null || true
}

expect_ok() {
	if ! [[ ${lines[0]:-} =~ ^ok\ [0-9]+$ ]]; then
		echo "# expected 'ok MS', got (status $status):" >&2
		echo "$output" >&2
		return 1
	fi
}

expect_err() {
	if ! [[ ${lines[0]:-} =~ ^error\ $1\ ([0-9]+)$ ]] ||
		[ "${BASH_REMATCH[1]}" -ge "${2:-1000}" ]; then
		echo "# expected 'error $1 MS' with MS < ${2:-1000}, got:" >&2
		echo "$output" >&2
		return 1
	fi
}

stats_json() {
	"$VMSVC" stats --json >"$E2E_ROOT/stats.json"
}

stats_check() {
	stats_json || return 1
	python3 -c '
import json, os, sys
j = json.load(open(sys.argv[1]))
s = next((x for x in j["services"] if x["name"] == sys.argv[2]), None)
v = next((x for x in j["vms"] if x["name"] == sys.argv[3]), None)
b = None
if os.path.exists(sys.argv[4]):
    b = next(x for x in json.load(open(sys.argv[4]))["vms"] if x["name"] == sys.argv[3])
ok = eval(sys.argv[5])
if not ok:
    print("# stats check failed:", sys.argv[5])
    print("# service:", json.dumps(s))
    print("# vm:", json.dumps(v))
    print("# vm before:", json.dumps(b))
sys.exit(0 if ok else 1)
' "$E2E_ROOT/stats.json" "${SVC:-}" "${STATS_VM:-g1}" "$E2E_ROOT/stats.before.json" "$1" >&2
}

ghv_wrapper() {
	printf '#!/bin/sh\nVMSVC_GUEST=1 exec hvtest "$@"\n' >"$E2E_ROOT/ghv"
	chmod 755 "$E2E_ROOT/ghv"
}

guest_bg() {
	local vm=$1 id=$2
	shift 2
	guest_exec "$vm" "rm -f /tmp/$id.out
		$* >/tmp/$id.out 2>&1 &
		wait-for /tmp/$id.out listening"
}

guest_out() {
	guest_exec "$1" "cat /tmp/$2.out"
}

guest_out_wait() {
	guest_exec "$1" "wait-for /tmp/$2.out '$3'"
}
