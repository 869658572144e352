#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# A hostile QEMU slows only its own VM. vmsvcd serves every VM from one event
# loop, so it must never wait for one QEMU: g1 is a real test guest (CID 5),
# g2's vhost-user socket gets a fake QEMU (tests/tools/slowqemu.py) that
# trickles a message one byte every 200 ms, or never reads its replies, or
# stops in the middle of a message. While it does, g1's guest-to-host connect
# plus a 1 MiB echo must take no longer than in an unattacked run (medians of
# RUNS runs each, interleaved, timed inside the guest: at most SLACK_MS more).
# The attacker must be dropped when it stalls for long (STALL_MS), and g2
# must serve a well-behaved QEMU afterwards. Host programs use only the
# daemon's Unix sockets: never AF_VSOCK on the host.

bats_require_minimum_version 1.5.0

load lib/guest
load lib/daemon

SLOWQEMU=${VMSVC_SOURCE_DIR:-.}/tests/tools/slowqemu.py
RUNS=7
ROUNDS=3
SLACK_MS=50
ECHO_BYTES=1048576
# vmsvcd drops a QEMU whose message stays incomplete, or whose reply stays
# unread, for this long (VM_QEMU_STALL_MS in daemon/vm.c).
STALL_MS=5000

setup_file() {
	e2e_require
	daemon_init
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc vm add g2 --cid 6 >/dev/null
	vmsvc service add echo --port 5006 >/dev/null
	daemon_start
	guest_start g1 --vhost "$(vm_vhost g1)"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
	peer_start p5006 "$(vm_port_path g1 5006)" echo
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	ECHO_SHA=$("$VMSVC_STREAMGEN" sha "$ECHO_BYTES" 21)
}

teardown() {
	[ -z "${ATTACKER:-}" ] || kill "$ATTACKER" 2>/dev/null || true
	e2e_teardown_test
}

# echo_ms: g1 connects to the host echo and sends ECHO_BYTES through it
# (every byte checked by SHA-256); prints the time in ms, as vsock-tool -m
# measured it in the guest.
echo_ms() {
	local out ms want="sent $ECHO_BYTES sha256 $ECHO_SHA"$'\n'"recv $ECHO_BYTES sha256 $ECHO_SHA"$'\n'"ms "
	out=$(guest_exec -t 120 g1 "vsock-tool -t 60 -m send 2 5006 $ECHO_BYTES 21")
	ms=${out#"$want"}
	if [[ $out != "$want"* ]] || ! [[ $ms =~ ^[0-9]+$ ]]; then
		echo "# echo run failed: $out" >&2
		return 1
	fi
	echo "$ms"
}

# median N...: the median of the numbers.
median() {
	printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"
}

# attack_start MODE [ARGS]: the fake QEMU on g2's vhost-user socket, in the
# background (ATTACKER is its PID; its log is appended to ROOT/MODE.out);
# returns once it is connected and has begun.
attack_start() {
	local mode=$1 out=$E2E_ROOT/$1.out n i
	n=$(grep -c '^connected' "$out" 2>/dev/null)
	python3 -u "$SLOWQEMU" "$@" "$(vm_vhost g2)" </dev/null >>"$out" 2>&1 3>&- &
	ATTACKER=$!
	bg_track "$ATTACKER"
	for ((i = 0; i < 200; i++)); do
		if [ "$(grep -c '^connected' "$out")" -gt "${n:-0}" ]; then
			sleep 0.3
			return 0
		fi
		sleep 0.05
	done
	echo "# $mode attacker did not connect:" >&2
	cat "$out" >&2
	return 1
}

attack_stop() {
	kill "$ATTACKER" 2>/dev/null || true
	wait "$ATTACKER" 2>/dev/null || true
	ATTACKER=
}

# compare_under MODE [ARGS]: RUNS pairs of echo runs, one unattacked, one
# while the MODE attacker is on (interleaved, so that the load of the
# machine weighs on both alike). Passes when the attacked median is within
# SLACK_MS of the unattacked one. The machine is noisy (TCG, two cores,
# other builds): a failed round is repeated, up to ROUNDS in all. A loop
# that waits for the attacker (up to 1 s per message or reply) misses by
# seconds in every round.
compare_under() {
	local mode=$1 round i ms b a base attacked
	for ((round = 1; round <= ROUNDS; round++)); do
		base=() attacked=()
		for ((i = 0; i < RUNS; i++)); do
			ms=$(echo_ms) || return 1
			base+=("$ms")
			attack_start "$@" || return 1
			ms=$(echo_ms) || return 1
			attacked+=("$ms")
			attack_stop
		done
		b=$(median "${base[@]}")
		a=$(median "${attacked[@]}")
		echo "# $mode round $round: unattacked ms ${base[*]} (median $b);" \
			"attacked ms ${attacked[*]} (median $a)" >&3
		[ "$a" -gt "$((b + SLACK_MS))" ] || return 0
	done
	echo "# $mode: attacked median $a ms > unattacked median $b ms + $SLACK_MS ms" >&2
	return 1
}

@test "a QEMU that trickles messages one byte every 200 ms slows only its own VM" {
	compare_under trickle 0.2
	run ! grep -q '^reply bad\|^dropped' "$E2E_ROOT/trickle.out"
	# A trickled message is resumed where it stopped, not dropped: the
	# answer is right.
	run env SLOWQEMU_FOR=1 timeout 30 python3 -u "$SLOWQEMU" trickle 0.2 "$(vm_vhost g2)"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^reply ok' <<<"$output")" = 1 ]
	run ! grep -q '^reply bad\|^dropped' <<<"$output"
	daemon_alive
	run ! grep -q 'VM g1: QEMU disconnected' <(daemon_log)
}

@test "a QEMU that never reads its replies slows only its own VM and is dropped" {
	compare_under noread
	# Left on, it is dropped within STALL_MS plus a tick or two once its
	# socket is full (and it connects again, and so on).
	attack_start noread
	local i
	for ((i = 0; i < (STALL_MS + 3000) / 50; i++)); do
		grep -q '^dropped' "$E2E_ROOT/noread.out" && break
		sleep 0.05
	done
	attack_stop
	cat "$E2E_ROOT/noread.out"
	grep -q '^dropped [0-9]* sent=[0-9]*$' "$E2E_ROOT/noread.out"
	grep -q "VM g2: QEMU has not read a reply for $((STALL_MS / 1000)) s; disconnecting" \
		<(daemon_log)
	daemon_alive
	run ! grep -q 'VM g1: QEMU disconnected' <(daemon_log)
}

@test "a message that stays incomplete is dropped after STALL_MS with the fds that came with it" {
	local fds0 out after
	fds0=$(daemon_fd_count)
	out=$(SLOWQEMU_FOR=0.1 timeout 30 python3 -u "$SLOWQEMU" stall "$(vm_vhost g2)")
	echo "$out"
	[[ $out =~ dropped\ [0-9]+\ after=([0-9]+) ]]
	after=${BASH_REMATCH[1]}
	[ "$after" -ge "$STALL_MS" ]
	[ "$after" -lt "$((STALL_MS + 2000))" ]
	grep -q "VM g2: QEMU left a message incomplete for $((STALL_MS / 1000)) s; disconnecting" \
		<(daemon_log)
	# The connection and the fd that rode on its first bytes are closed.
	sleep 0.2
	[ "$(daemon_fd_count)" = "$fds0" ]
}

@test "after the attacks both VMs are served: g2 answers a well-behaved QEMU, g1 echoes" {
	run env SLOWQEMU_FOR=0.5 timeout 30 python3 -u "$SLOWQEMU" trickle 0 "$(vm_vhost g2)"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^reply ok' <<<"$output")" -ge 1 ]
	run ! grep -q '^reply bad\|^dropped' <<<"$output"
	echo_ms
	daemon_alive
	daemon_check_log
}
