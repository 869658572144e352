#!/usr/bin/env bats
# shellcheck disable=SC2030,SC2031 # bats runs each test in a subshell
# A frontend that attacks the device: vmsvcd serves g1, a real busybox guest
# (CID 5), and g2 (CID 6), whose vhost-user socket gets tests/tools/vufront.py,
# our own QEMU and guest driver with its own shared memory: bad rings and
# descriptors, bad vsock packets, floods, bad vhost-user messages, a memfd
# that shrinks, guest data the host never reads. After each group of attacks:
#   - vmsvcd runs and g1 still echoes through a host peer;
#   - each attack is logged once, not per packet (the log lines are counted);
#   - g2's device was broken or its connections reset, and a well-behaved
#     vufront session on g2 works again ("good", the last scenario);
#   - vmsvcd's fds are back to where they were, its private memory (RssAnon)
#     stayed under a bound during each attack and came back near its start;
#   - vmsvcd did not spin: every scenario ends with an idle window (300 ms,
#     attacker still connected) in which vmsvcd must use < 100 ms of CPU.
# Host programs use only the daemon's Unix sockets: never AF_VSOCK on the host.

bats_require_minimum_version 1.5.0

load lib/guest
load lib/daemon

VUFRONT=${VMSVC_SOURCE_DIR:-.}/tests/tools/vufront.py
SINK_PORT=5007
# Guest data vmsvcd buffers for one VM's host streams (docs/limits.md), in KiB.
BUFFER_CAP_KB=16384

setup_file() {
	e2e_require
	daemon_init
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc vm add g2 --cid 6 >/dev/null
	vmsvc service add echo --port 5006 >/dev/null
	vmsvc service add sink --port "$SINK_PORT" >/dev/null
	daemon_start
	guest_start g1 --vhost "$(vm_vhost g1)"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
	peer_start p5006 "$(vm_port_path g1 5006)" echo
	guest_echo g1 5006 65536 1
	# vmsvcd's baseline with g1 running and g2 waiting for its QEMU
	daemon_fd_count >"$E2E_ROOT/fds0"
	daemon_rss_anon_kb >"$E2E_ROOT/rss0"
	echo "# vmsvcd baseline: $(cat "$E2E_ROOT/fds0") fds, RssAnon $(cat "$E2E_ROOT/rss0") KiB" >&3
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	FDS0=$(cat "$E2E_ROOT/fds0")
	RSS0=$(cat "$E2E_ROOT/rss0")
	LOG0=$(daemon_log | wc -l)
}

teardown() {
	e2e_teardown_test
}

# attack GROUP|SCENARIO...: vufront.py against g2; fails unless every
# scenario reports ok, each idle window stayed under 100 ms of CPU and each
# RssAnon peak under RSS0 + the bound. Output in $output, TAP comments on fd 3.
attack() {
	local line cpu rss bound=$((BUFFER_CAP_KB + 8192))
	# AddressSanitizer: redzones, shadow and the quarantine of freed memory
	daemon_is_asan && bound=$((BUFFER_CAP_KB * 3 + 65536))
	run timeout 600 python3 -u "$VUFRONT" --vhost "$(vm_vhost g2)" \
		--listen "$(vm_port_path g2 "$SINK_PORT")" --port "$SINK_PORT" --pid "$(daemon_pid)" "$@"
	printf '# %s\n' "${lines[@]}" >&3
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -gt 0 ]
	for line in "${lines[@]}"; do
		[[ $line == "scenario "*" ok "* ]] || return 1
		[[ $line =~ cpu_ms=([0-9]+) ]] && cpu=${BASH_REMATCH[1]} || return 1
		[[ $line =~ rss_kb=([0-9]+) ]] && rss=${BASH_REMATCH[1]} || return 1
		[ "$cpu" -lt 100 ] || {
			echo "# vmsvcd spun: $line" >&2
			return 1
		}
		[ "$rss" -lt $((RSS0 + bound)) ] || {
			echo "# vmsvcd memory beyond $((RSS0 + bound)) KiB: $line" >&2
			return 1
		}
	done
}

# log_count ERE: lines of the daemon log since the test began matching ERE.
log_count() {
	daemon_log | tail -n +"$((LOG0 + 1))" | grep -E -c -- "$1" || true
}

# after_attack: vmsvcd alive, g1 unharmed and echoing, fds and memory back.
after_attack() {
	local i fds rss slack=4096
	daemon_alive
	daemon_check_log
	guest_echo g1 5006 65536 "$((RANDOM + 2))"
	[ "$(log_count '(warning|error): VM g1:|VM g1: QEMU disconnected|VM g1: driver reset')" = 0 ]
	for ((i = 0; i < 40; i++)); do
		fds=$(daemon_fd_count)
		[ "$fds" = "$FDS0" ] && break
		sleep 0.05
	done
	rss=$(daemon_rss_anon_kb)
	echo "# vmsvcd after: $fds fds (baseline $FDS0), RssAnon $rss KiB (baseline $RSS0)" >&3
	[ "$fds" = "$FDS0" ] || {
		ls -l "/proc/$(daemon_pid)/fd" >&2
		return 1
	}
	daemon_is_asan && slack=$((BUFFER_CAP_KB * 3 + 65536))
	[ "$rss" -lt $((RSS0 + slack)) ]
}

@test "virtqueue attacks break only g2's device, each logged once" {
	attack virtqueue good
	after_attack
	# 14 bad tx chains and a bad rx buffer, each kicked 100 times: one line each
	[ "$(log_count 'error: VM g2: guest broke the virtqueue protocol')" = 15 ]
	# the zero-length header is a malformed packet, not a broken ring
	[ "$(log_count 'warning: VM g2: vsock: .*malformed tx packet dropped')" = 1 ]
	# the rings outside guest memory: 6 refusals, one line
	[ "$(log_count 'error: VM g2: vhost-user: vhost-user request SET_VRING_ADDR')" = 1 ]
	[ "$(log_count 'VM g2: QEMU connected')" = 18 ]
}

@test "bad vsock packets are dropped or answered, once logged per kind, g2 goes on" {
	attack packets good
	after_attack
	# 1200 malformed packets in one session, 50 oversized in another
	[ "$(log_count 'warning: VM g2: vsock: .*malformed tx packet dropped')" = 2 ]
	[ "$(log_count 'warning: VM g2: vsock: .*packet [0-9]+ -> [0-9]+ dropped')" = 1 ]
	[ "$(log_count 'warning: VM g2: vsock: .*not STREAM')" = 1 ]
	[ "$(log_count 'warning: VM g2: vsock: .*overran its credit')" = 1 ]
	[ "$(log_count 'error: VM g2: guest broke')" = 0 ]
}

@test "floods of REQUEST, RST, CREDIT_REQUEST and empty packets: bounded answers and logs" {
	guest_exec -t 120 g1 "vsock-tool -t 90 send 2 5006 1048576 7 >/tmp/during.log 2>&1 &"
	attack floods good
	# g1 echoed a MiB while g2 flooded
	local sha out
	sha=$("$VMSVC_STREAMGEN" sha 1048576 7)
	for ((i = 0; i < 300; i++)); do
		out=$(guest_exec g1 'cat /tmp/during.log')
		[[ $out == *recv* ]] && break
		sleep 0.2
	done
	[[ $out == "sent 1048576 sha256 $sha"$'\n'"recv 1048576 sha256 $sha"* ]] || {
		echo "# g1 during the floods: $out" >&2
		return 1
	}
	after_attack
	# 20,000 REQUESTs refused by the registry: the log's bucket (20 lines, one
	# more a second), not a line each
	local refused
	refused=$(log_count 'VM g2: guest port [0-9]+ -> host port [0-9]+ refused')
	echo "# $refused refusal lines for 20000 refused REQUESTs" >&3
	[ "$refused" -ge 1 ]
	[ "$refused" -lt 100 ]
	[ "$(log_count 'VM g2: [0-9]+ more guest connections were refused')" -ge 1 ]
	# 1024 connections taken twice, the rest refused: one line per session
	[ "$(log_count 'warning: VM g2: vsock: .*1024 connections, the limit')" = 2 ]
	grep -q 'request-flood-listener-rx ok responses=1024 rsts=8976 daemon_fds=1024' <<<"$output"
	grep -q 'credit-request-flood ok updates=1 ' <<<"$output"
}

@test "bad vhost-user messages are refused or end the connection, logged once each" {
	attack messages good
	after_attack
	# sizes and codes, memory tables, stray fds, ring parameters: one loud
	# line per connection however many refusals
	[ "$(log_count '(error|warning): VM g2: vhost-user:')" = 4 ]
	grep -q 'QEMU disconnected (Message too long)' <(daemon_log)
	[ "$(log_count 'VM g2: QEMU disconnected \(Protocol error\)')" = 2 ]
}

@test "a memfd shrunk after SET_MEM_TABLE breaks g2's device, not vmsvcd (no SIGBUS)" {
	attack memfd-shrinks good
	after_attack
	[ "$(log_count 'info: VM g2: vhost-user: 1 of 1 memory regions are not memfds sealed')" = 1 ]
	[ "$(log_count 'error: VM g2: guest broke the virtqueue protocol on queue 1 \(Bad address\)')" = 1 ]
}

@test "guest data for a host that never reads stops at the per-VM cap; memory comes back" {
	attack buffer-cap good
	local peak line
	line=$(grep '^scenario buffer-cap ok ' <<<"$output")
	[[ $line =~ sent_mb=([0-9]+)\ reset=([0-9]+).*rss_kb=([0-9]+) ]]
	peak=${BASH_REMATCH[3]}
	echo "# sent ${BASH_REMATCH[1]} MiB, ${BASH_REMATCH[2]} connections reset at the cap," \
		"RssAnon peak $peak KiB (baseline $RSS0, cap $BUFFER_CAP_KB)" >&3
	# the peak shows the buffers were really filled (else the test proves nothing)
	daemon_is_asan || [ "$peak" -gt $((RSS0 + BUFFER_CAP_KB / 2)) ]
	[ "${BASH_REMATCH[1]}" -gt $((BUFFER_CAP_KB * 2 / 1024)) ]
	after_attack
	[ "$(log_count 'warning: VM g2: vsock: .*reached the cap')" = 1 ]
}
