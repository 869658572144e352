#!/usr/bin/env bats
# Crash safety and concurrency of the registry and VM table writers (service
# add/remove/enable/disable, vm add/remove/integration): writers SIGKILLed at
# random points leave every entry either old or new (byte for byte), never
# torn or missing, and their temporary files are never taken
# for entries; concurrent writers never lose an entry; readers never see a
# half-written one.

load lib/common

T22=00000016-facb-11e6-bd58-64006a7986d3
T2761=00000ac9-facb-11e6-bd58-64006a7986d3
ROUNDS=${CRASH_ROUNDS:-200}

setup() {
	common_setup
	mkfifo "$TEST_ROOT/never"
	exec 9<>"$TEST_ROOT/never"
}

teardown() {
	exec 9<&-
	common_teardown
}

# Sets $span_us to the time a write takes here, fsyncs included: the
# shortest of "vmsvc A..." and "vmsvc B..." (calibrate A... :: B...) run
# alternately, four times each (fsync times vary a lot; the shortest is the
# time the fast path needs). Each must change the config so that it writes,
# and the pair must leave it as it was.
calibrate() {
	local t0 t1 n a=() b=()
	while [ "$1" != "::" ]; do
		a+=("$1")
		shift
	done
	shift
	b=("$@")
	span_us=999999999
	for n in 1 2 3 4 5 6 7 8; do
		t0=${EPOCHREALTIME/./}
		if ((n % 2)); then
			"$VMSVC" "${a[@]}" >/dev/null
		else
			"$VMSVC" "${b[@]}" >/dev/null
		fi
		t1=${EPOCHREALTIME/./}
		if ((t1 - t0 < span_us)); then
			span_us=$((t1 - t0))
		fi
	done
	echo "# the fastest write took $span_us us here" >&3
}

# Runs "vmsvc ARGS..." in the background and SIGKILLs it after a random
# delay in [0, 1.5 * span_us) microseconds. Increments $killed when the kill
# landed before the command finished.
run_and_kill() {
	local pid st delay
	delay=$(((RANDOM * 32768 + RANDOM) % (span_us * 3 / 2 + 1)))
	printf -v delay '%d.%06d' $((delay / 1000000)) $((delay % 1000000))
	"$VMSVC" "$@" >/dev/null 2>&1 &
	pid=$!
	# a builtin sleep (read times out on a FIFO nobody writes): no fork, so
	# the delay is what it says
	read -r -t "$delay" -u 9 || true
	kill -KILL "$pid" 2>/dev/null || true
	st=0
	wait "$pid" 2>/dev/null || st=$?
	if [ "$st" = 137 ]; then
		killed=$((killed + 1))
	fi
}

# The .conf files of services.d, one per line.
conf_files() {
	(cd "$CFG/services.d" && ls -1 -- *.conf 2>/dev/null) || true
}

@test "enable/disable killed at random points: the entry is always the old or the new file" {
	"$VMSVC" service add keeper --port 2761 >/dev/null
	"$VMSVC" service add victim --port 22 >/dev/null
	f=$CFG/services.d/$T22.conf
	cp "$f" "$TEST_ROOT/on"
	"$VMSVC" service disable victim
	cp "$f" "$TEST_ROOT/off"
	run cmp -s "$TEST_ROOT/on" "$TEST_ROOT/off"
	[ "$status" = 1 ] # disabling changed the file
	calibrate service enable victim :: service disable victim
	killed=0
	for ((round = 0; round < ROUNDS; round++)); do
		if ((round % 2)); then op=disable; else op=enable; fi
		run_and_kill service $op victim
		if ! cmp -s "$f" "$TEST_ROOT/on" && ! cmp -s "$f" "$TEST_ROOT/off"; then
			echo "# round $round: torn or missing entry:" >&2
			cat "$f" >&2 || true
			return 1
		fi
		[ "$(conf_files)" = "$(printf '%s.conf\n%s.conf' $T22 $T2761)" ]
	done
	echo "# $killed of $ROUNDS writers were killed before they finished" >&3
	[ "$killed" -gt 0 ]
	run_vmsvc service list --json
	expect 0
	stderr_empty
	json_check "sorted(s['name'] for s in u) == ['keeper', 'victim']"
	# the next writer runs normally and sweeps what killed writers left
	run_vmsvc service enable victim
	expect 0
	cmp "$f" "$TEST_ROOT/on"
	[ -z "$(find "$CFG/services.d" -name '.*.tmp-*')" ]
}

@test "add/remove killed at random points: the entry is whole or absent, never broken" {
	"$VMSVC" service add keeper --port 2761 >/dev/null
	"$VMSVC" service add victim --port 22 --description "a reference entry" >/dev/null
	f=$CFG/services.d/$T22.conf
	cp "$f" "$TEST_ROOT/ref"
	calibrate service remove victim :: service add victim --port 22 --description "a reference entry"
	killed=0
	for ((round = 0; round < ROUNDS; round++)); do
		if [ -e "$f" ]; then
			run_and_kill service remove victim
		else
			run_and_kill service add victim --port 22 --description "a reference entry"
		fi
		if [ -e "$f" ] && ! cmp -s "$f" "$TEST_ROOT/ref"; then
			echo "# round $round: torn entry:" >&2
			cat "$f" >&2
			return 1
		fi
		[ -e "$CFG/services.d/$T2761.conf" ]
		if ((round % 20 == 0)); then
			run_vmsvc service list --json
			expect 0
			stderr_empty
			json_check "'keeper' in [s['name'] for s in u] and len(u) <= 2"
		fi
	done
	echo "# $killed of $ROUNDS writers were killed before they finished" >&3
	[ "$killed" -gt 0 ]
}

@test "8 concurrent 'service add' of different names all land with distinct ports" {
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		"$VMSVC" service add "svc$i" >"$TEST_ROOT/out$i" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
	run_vmsvc service list --json
	expect 0
	stderr_empty
	json_check "len(u) == 8 and sorted(s['name'] for s in u) == ['svc%d' % i for i in range(1, 9)]"
	json_check "len(set(s['port'] for s in u)) == 8 and len(set(s['guid'] for s in u)) == 8"
	for i in 1 2 3 4 5 6 7 8; do
		[[ $(cat "$TEST_ROOT/out$i") =~ ^[0-9a-f]{8}-facb-11e6-bd58-64006a7986d3$ ]]
	done
}

@test "concurrent adds of the same port: exactly one wins, the others fail cleanly" {
	pids=()
	for i in 1 2 3 4 5 6; do
		"$VMSVC" service add "same$i" --port 22 >/dev/null 2>"$TEST_ROOT/err$i" &
		pids+=($!)
	done
	ok=0
	for p in "${pids[@]}"; do
		if wait "$p"; then ok=$((ok + 1)); fi
	done
	[ "$ok" = 1 ]
	[ "$(grep -l "port 22 is already used" "$TEST_ROOT"/err* | wc -l)" = 5 ]
	run_vmsvc service list --json
	stderr_empty
	json_check "len(u) == 1 and u[0]['port'] == 22"
}

@test "readers never see a half-written entry while writers toggle concurrently" {
	for i in 1 2 3; do
		"$VMSVC" service add "t$i" --port $((100 + i)) >/dev/null
	done
	pids=()
	for i in 1 2 3; do
		(for ((k = 0; k < 25; k++)); do
			"$VMSVC" service disable "t$i" && "$VMSVC" service enable "t$i" || exit 1
		done) &
		pids+=($!)
	done
	bad=0
	for ((k = 0; k < 60; k++)); do
		if ! "$VMSVC" service list --json >"$TEST_ROOT/list" 2>"$TEST_ROOT/err" ||
			[ -s "$TEST_ROOT/err" ] ||
			! "$PYTHON" -c 'import json,sys; sys.exit(len([s for s in json.load(open(sys.argv[1])) if not s["inbox"]]) != 3)' \
				"$TEST_ROOT/list"; then
			bad=$((bad + 1))
			cat "$TEST_ROOT/err" >&2
		fi
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
	[ "$bad" = 0 ]
}

@test "8 concurrent 'vm add' get distinct CIDs 3..10 and distinct ids" {
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		"$VMSVC" vm add "vm$i" >/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
	run_vmsvc vm list --json
	expect 0
	stderr_empty
	json_check "sorted(v['cid'] for v in j) == list(range(3, 11)) and len(set(v['id'] for v in j)) == 8"
}

@test "vm add/remove killed at random points: the definition is whole or absent" {
	"$VMSVC" vm add victim --cid 9 --id 5b0d3f2e-8f4c-4c1e-9a51-0e6f2b7c9d11 >/dev/null
	f=$CFG/vms.d/victim.conf
	cp "$f" "$TEST_ROOT/ref"
	calibrate vm remove victim :: vm add victim --cid 9 --id 5b0d3f2e-8f4c-4c1e-9a51-0e6f2b7c9d11
	killed=0
	for ((round = 0; round < ROUNDS / 2; round++)); do
		if [ -e "$f" ]; then
			run_and_kill vm remove victim
		else
			run_and_kill vm add victim --cid 9 --id 5b0d3f2e-8f4c-4c1e-9a51-0e6f2b7c9d11
		fi
		if [ -e "$f" ] && ! cmp -s "$f" "$TEST_ROOT/ref"; then
			cat "$f" >&2
			return 1
		fi
	done
	echo "# $killed of $((ROUNDS / 2)) writers were killed before they finished" >&3
	run_vmsvc vm list --json
	expect 0
	stderr_empty
}

@test "vm integration enable/disable killed at random points: the definition is always the old or the new file" {
	"$VMSVC" vm add victim --cid 9 --id 5b0d3f2e-8f4c-4c1e-9a51-0e6f2b7c9d11 >/dev/null
	f=$CFG/vms.d/victim.conf
	cp "$f" "$TEST_ROOT/on"
	"$VMSVC" vm integration victim disable heartbeat >/dev/null
	cp "$f" "$TEST_ROOT/off"
	run cmp -s "$TEST_ROOT/on" "$TEST_ROOT/off"
	[ "$status" -ne 0 ]
	calibrate vm integration victim enable heartbeat :: vm integration victim disable heartbeat
	killed=0
	for ((round = 0; round < ROUNDS / 2; round++)); do
		if ((round % 2)); then
			run_and_kill vm integration victim enable heartbeat
		else
			run_and_kill vm integration victim disable heartbeat
		fi
		if ! cmp -s "$f" "$TEST_ROOT/on" && ! cmp -s "$f" "$TEST_ROOT/off"; then
			echo "torn or missing after round $round:" >&2
			cat "$f" >&2
			return 1
		fi
	done
	echo "# $killed of $((ROUNDS / 2)) writers were killed before they finished" >&3
	# No temporary file is taken for a VM, nothing is left that vmsvc reads.
	run_vmsvc vm list --json
	expect 0
	stderr_empty
	json_check "[v['name'] for v in j] == ['victim']"
	run_vmsvc vm integration victim --json
	expect 0
	stderr_empty
}
