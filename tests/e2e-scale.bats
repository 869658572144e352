#!/usr/bin/env bats
# shellcheck disable=SC2030,SC2031 # bats runs each test in a subshell
# Scale and fairness (issue 11): one vmsvcd serves g1, a real busybox guest
# (CID 5), and s1..s8 (CIDs 11-18), whose vhost-user sockets get
# tests/tools/vuscale.py: synthetic VMs made of tests/tools/vufront.py (our own
# QEMU and guest driver with their own shared memory), with host sinks of
# their own on NAME.vsock_PORT.
#   - 8 VMs x 1,000 connections to host listeners, idle, then trickling 4 bytes
#     per connection per second: every REQUEST answered with RESPONSE, every
#     connection and byte at the host, no warning or error in the log,
#     vmsvcd's private memory (RssAnon, not PSS) per connection <= 64 KiB,
#     its fds back to the baseline when the VMs leave;
#   - s1 floods the device (32 connections sending all their credit allows,
#     REQUESTs to a port nobody has) while g1 echoes 1 MiB through a host
#     peer: g1's transfer completes, every byte checked, within a generous
#     bound; both throughputs are printed (the 20% figure is a benchmark,
#     bench/fairness, never a test).
# Host programs use only the daemon's Unix sockets: never AF_VSOCK on the host.

bats_require_minimum_version 1.5.0

load lib/guest
load lib/daemon

VUSCALE=${VMSVC_SOURCE_DIR:-.}/tests/tools/vuscale.py
HOLD_PORT=5100
ECHO_PORT=5006
VMS=8
CONNS=1000 # vmsvcd allows 1024 per VM (docs/limits.md)

setup_file() {
	e2e_require
	# vmsvcd raises its soft fd limit to the hard one; 8,000 host streams
	# need that many fds (and vuscale.py holds the host ends)
	local hard
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] || [ "$hard" -ge $((VMS * CONNS + 1024)) ] || {
		echo "e2e-scale: the hard fd limit ($hard) is below $((VMS * CONNS + 1024)):" \
			"raise it (docs/limits.md, Scale)" >&2
		return 1
	}
	daemon_init
	vmsvc vm add g1 --cid 5 >/dev/null
	local i
	for ((i = 1; i <= VMS; i++)); do
		vmsvc vm add "s$i" --cid $((10 + i)) >/dev/null
	done
	vmsvc service add echo --port "$ECHO_PORT" >/dev/null
	vmsvc service add hold --port "$HOLD_PORT" >/dev/null
	daemon_start
	guest_start g1 --vhost "$(vm_vhost g1)"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
	peer_start echo "$(vm_port_path g1 "$ECHO_PORT")" echo
	g1_echo 65536 1 >/dev/null
	daemon_fd_count >"$E2E_ROOT/fds0"
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	FDS0=$(cat "$E2E_ROOT/fds0")
	LOG0=$(daemon_log | wc -l)
}

teardown() {
	e2e_teardown_test
}

# log_since ERE: lines of the daemon log since the test began matching ERE.
log_since() {
	daemon_log | tail -n +"$((LOG0 + 1))" | grep -E -- "$1" || true
}

# g1_echo BYTES SEED: g1 sends BYTES to the host echo peer and reads them back,
# every byte checked by SHA-256 both ways; prints the wall time in ms.
g1_echo() {
	local t0
	t0=$(date +%s%N)
	guest_echo g1 "$ECHO_PORT" "$1" "$2" 120 || return 1
	ms_since "$t0"
}

# field LINE KEY: the value of KEY=VALUE in LINE.
field() {
	[[ " $1 " =~ \ $2=([^ ]*)\  ]] && echo "${BASH_REMATCH[1]}"
}

@test "8 VMs x 1000 connections, idle then trickling: all established, <= 64 KiB each, fds back" {
	local names=() i line per
	for ((i = 1; i <= VMS; i++)); do names+=("s$i"); done
	run timeout 300 python3 -u "$VUSCALE" hold --vms "$VMSVC_RUNTIME_DIR/vms" \
		--port "$HOLD_PORT" --pid "$(daemon_pid)" --conns "$CONNS" --trickle 3 "${names[@]}"
	printf '# %s\n' "${lines[@]}" >&3
	[ "$status" -eq 0 ]
	line=$(grep '^result op=hold ' <<<"$output")
	[ "$(field "$line" responses)" = $((VMS * CONNS)) ]
	[ "$(field "$line" rsts)" = 0 ]
	[ "$(field "$line" host_conns)" = $((VMS * CONNS)) ]
	[ "$(field "$line" host_bytes)" = $((VMS * CONNS * 3 * 4)) ] || {
		log_since . | grep -v -E "connected to service 'hold'|<-> [0-9]+ closed" | tail -n 60 >&2
		return 1
	}
	[ "$(field "$line" host_closed)" = $((VMS * CONNS)) ]
	per=$(field "$line" per_conn_b)
	echo "# vmsvcd RssAnon: $(field "$line" rss0_kb) KiB before, $(field "$line" rss_idle_kb) KiB" \
		"with $((VMS * CONNS)) idle connections, $(field "$line" rss_trickle_kb) KiB trickling:" \
		"$per bytes per connection" >&3
	# the memory really grew with the connections (else this proves nothing)
	[ "$(field "$line" rss_idle_kb)" -gt "$(field "$line" rss0_kb)" ]
	[ "$per" -le 65536 ]
	daemon_alive
	daemon_check_log
	daemon_wait_fds "$FDS0"
	[ -z "$(log_since '(warning|error):')" ] || {
		log_since '(warning|error):' | head -n 20 >&2
		return 1
	}
	[ "$(log_since "VM s[1-8]: guest port [0-9]+ connected to service 'hold'" | wc -l)" = \
		$((VMS * CONNS)) ]
}

@test "s1 flooding data and REQUESTs does not starve g1: its 1 MiB echo completes" {
	local alone during flood
	alone=$(g1_echo 1048576 11)
	bg flood python3 -u "$VUSCALE" flood --vms "$VMSVC_RUNTIME_DIR/vms" --port "$HOLD_PORT" \
		--conns 32 --seconds 240 s1
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q '^flooding' "$E2E_ROOT/flood.out" 2>/dev/null && break
		sleep 0.05
	done
	grep -q '^flooding' "$E2E_ROOT/flood.out" || {
		cat "$E2E_ROOT/flood.out" "$E2E_ROOT/flood.log" >&2
		return 1
	}
	# the bound: g1_echo's own (vsock-tool -t 120); starving g1 fails it
	during=$(g1_echo 1048576 12)
	kill -TERM "$(tail -n 1 "$E2E_ROOT/peers/bg.pids")" # the flood's PID (bg)
	for ((i = 0; i < 200; i++)); do
		grep -q '^result' "$E2E_ROOT/flood.out" && break
		sleep 0.05
	done
	flood=$(grep '^result op=flood ' "$E2E_ROOT/flood.out")
	echo "# g1 1 MiB echo: $alone ms alone, $during ms while s1 floods" \
		"($(awk -v a="$alone" -v d="$during" 'BEGIN { printf "%.2f", a / d }') of its" \
		"throughput); s1: $flood" >&3
	[ "$(field "$flood" mb)" -gt 0 ]
	# the flood ran all along g1's transfer
	awk -v s="$(field "$flood" secs)" -v d="$during" 'BEGIN { exit !(s * 1000 >= d) }'
	[ "$(field "$flood" requests)" -gt 0 ]
	daemon_alive
	daemon_check_log
	[ -z "$(log_since '(warning|error): VM g1:|VM g1: QEMU disconnected|VM g1: driver reset')" ]
	[ -z "$(log_since 'error:')" ]
	daemon_wait_fds "$FDS0"
}
