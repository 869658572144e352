#!/usr/bin/env bats
# shellcheck disable=SC2016 # guest commands single-quoted on purpose
# Integrity soak: SOAK_CONNS parallel connections (default 64) move SOAK_MIB
# MiB in all (default 1024; 256 under ASan) through one vmsvcd, random write
# sizes, both directions, while a second guest on the same daemon reboots
# in a loop. Every byte is checked on both ends, zero lost or corrupted:
#   - half the connections are the guest's (vsock-tool many): it sends a
#     stream and checks the echo byte for byte; the host echo hashes what
#     it echoes (SHA-256 against streamgen's);
#   - the other half are the host's (hybrid CONNECT): each sends a stream
#     (streamgen gen, random write sizes) to a guest echo server and checks
#     the SHA-256 of what comes back.
# SOAK_TIMEOUT: seconds for the transfers (default: 1200, or 2 s per MiB).
# `make soak` runs it longer (SOAK_MIB=4096). Figures: docs/soak.md.

load lib/guest
load lib/daemon

setup_file() {
	e2e_require
	daemon_init
	# The size, and time limits that grow with it (also QEMU's own, GUEST_TIMEOUT).
	if [ -z "${SOAK_MIB:-}" ]; then
		SOAK_MIB=1024
		if daemon_is_asan; then
			SOAK_MIB=256
		fi
	fi
	SOAK_TIMEOUT=${SOAK_TIMEOUT:-$((SOAK_MIB < 600 ? 1200 : SOAK_MIB * 2))}
	GUEST_TIMEOUT=$((SOAK_TIMEOUT + 300))
	export SOAK_MIB SOAK_TIMEOUT GUEST_TIMEOUT
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc vm add g2 --cid 6 >/dev/null
	vmsvc service add soak --port 5001 >/dev/null
	vmsvc service add hello --port 5002 >/dev/null
	daemon_start
	# g2 connects to the host once per boot, then reboots (QEMU --reboot:
	# the same QEMU, the same vhost-user connection, a driver reset each time).
	cat >"$E2E_ROOT/reboot-loop" <<'EOF'
#!/bin/sh
(sleep 1
 echo "g2-boot $(vsock-tool -t 10 connect 2 5002)" >/dev/console
 reboot -f) </dev/null >/dev/null 2>&1 &
EOF
	chmod +x "$E2E_ROOT/reboot-loop"
	daemon_fd_count >"$E2E_ROOT/fds0"
	guest_start g1 --vhost "$(vm_vhost g1)" --mem 512M
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
}

teardown() {
	e2e_teardown_test
}

@test "soak: parallel connections both ways, random write sizes, SHA-256 on both ends, a second guest rebooting in a loop" {
	local conns=${SOAK_CONNS:-64} mib=$SOAK_MIB tmo=$SOAK_TIMEOUT half each i n fds0 t0 t1 boots ok
	half=$((conns / 2))
	# Each byte crosses the device twice (there and back).
	each=$((mib * 1048576 / (2 * conns)))
	[ "$half" -ge 1 ] && [ "$each" -ge 1 ]
	fds0=$(cat "$E2E_ROOT/fds0")
	peer_start hello "$(vm_port_path g2 5002)" echo
	peer_start soak "$(vm_port_path g1 5001)" echosha
	guest_start g2 --vhost "$(vm_vhost g2)" --reboot \
		--add "$E2E_ROOT/reboot-loop:/etc/vmsvc-guest/rc.d/90-reboot-loop"
	guest_exec g1 'vsock-tool serve 6000 >/tmp/serve.log 2>&1 &
		wait-for /tmp/serve.log listening'
	t0=$(date +%s%N)
	# The host's half: seeds 1001...
	mkdir -p "$E2E_ROOT/h2g"
	for ((i = 1; i <= half; i++)); do
		bg "h2g/$i" bash -c '"$1" gen "$2" "$3" | python3 -u "$4" hybrid "$5" --port 6000 --stdin --sha --timeout "$6"' \
			_ "$VMSVC_STREAMGEN" "$each" $((1000 + i)) "$(_e2e_peer_script)" "$(vm_hybrid g1)" "$tmo"
	done
	# The guest's half: seeds 1.. (vsock-tool many), checked byte for byte.
	run guest_exec -t "$tmo" g1 "vsock-tool -t $tmo many 2 5001 $half $each"
	echo "# guest: $output" >&3
	[ "$status" -eq 0 ]
	[ "$output" = "ok $half" ]
	for ((i = 1; i <= half; i++)); do
		local want got
		want=$("$VMSVC_STREAMGEN" sha "$each" $((1000 + i)))
		for ((n = 0; n < tmo * 10; n++)); do
			grep -E -q '^(recv|error|timeout)' "$E2E_ROOT/h2g/$i.out" 2>/dev/null && break
			sleep 0.1
		done
		got=$(grep -E '^(recv|error|timeout)' "$E2E_ROOT/h2g/$i.out" || true)
		[ "$got" = "recv $each sha256 $want" ] || {
			echo "# host connection $i: '$got', want 'recv $each sha256 $want'" >&2
			cat "$E2E_ROOT/h2g/$i.out" "$E2E_ROOT/h2g/$i.log" >&2
			return 1
		}
	done
	t1=$(date +%s%N)
	# The host echo hashed every guest stream: the same set as streamgen's.
	peer_wait soak "^echoed $half " 60
	diff <(for ((i = 1; i <= half; i++)); do "$VMSVC_STREAMGEN" sha "$each" "$i"; done | sort) \
		<(sed -n "s/^echoed [0-9]* $each sha256 //p" "$E2E_ROOT/peers/soak.log" | sort)
	[ "$(peer_count soak '^error')" = 0 ]
	boots=$(grep -c '^VMSVC-GUEST-READY' <(guest_log g2))
	ok=$(grep -c '^g2-boot ok' <(guest_log g2) || true)
	local ms=$(((t1 - t0) / 1000000))
	echo "# $conns connections, $((each * conns * 2)) bytes through vmsvcd in $ms ms ($((each * conns * 2 / 1000 / (ms + 1))) MB/s); g2 booted $boots times, $ok of its connects succeeded" >&3
	echo "# vmsvcd: $(daemon_fd_count) fds (before: $fds0), RSS $(daemon_rss_kb) KiB" >&3
	# g2 rebooted while the data flowed, and its vsock worked after each boot
	# that had time to try (the last may still be trying).
	[ "$boots" -ge 2 ]
	[ "$ok" -ge $((boots - 1)) ]
	[ "$(grep -c '^g2-boot error' <(guest_log g2) || true)" = 0 ]
	guest_stop g2
	guest_stop g1
	peer_stop soak
	peer_stop hello
	daemon_wait_fds "$fds0"
}
