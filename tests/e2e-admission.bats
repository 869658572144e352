#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# Admission with one booted test guest: a registry change is in force for the
# very next guest connection (200 disable/enable rounds, and an in-place edit
# of an entry), and a local user who opens control connections until refused
# (vmsvcd under ulimit -n 128, default per-user limit) leaves root and the
# guest served, with no busy loop. Host programs use only the daemon's Unix
# sockets: never AF_VSOCK on the host.

load lib/guest
load lib/daemon
load lib/hv

FLOOD=${VMSVC_SOURCE_DIR:-.}/tests/tools/ctlflood.py

setup_file() {
	e2e_require
	daemon_init
	chmod 755 "$E2E_ROOT" # nobody reaches control.sock
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc service add fresh --port 5010 >/dev/null
	(
		ulimit -n 128
		daemon_start
	)
	guest_start g1 --vhost "$(vm_vhost g1)"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
	# The guest's driver: for each line from the host, one connect to the
	# host port it names; "ok MS" or "error ERRNAME MS" back.
	guest_exec g1 "printf '#!/bin/sh\nwhile read -r p; do vsock-tool connect 2 \$p; done\n' >/tmp/drv.sh
		chmod +x /tmp/drv.sh
		socat -d -d VSOCK-LISTEN:7000,fork EXEC:/tmp/drv.sh 2>/tmp/drv.log &
		wait-for /tmp/drv.log 'listening on'"
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	export VMSVC_GUEST=0
	peer_start p5010 "$(vm_port_path g1 5010)" sink
	coproc DRV { socat - UNIX-CONNECT:"$(vm_hybrid g1)"; }
	echo "CONNECT 7000" >&"${DRV[1]}"
	read -r -t 10 line <&"${DRV[0]}"
	[[ "$line" == "OK "* ]]
}

teardown() {
	[ -z "${DRV_PID:-}" ] || kill "$DRV_PID" 2>/dev/null || true
	e2e_teardown_test
}

# guest_connect PORT: one guest connect to host PORT through the driver;
# prints its result line.
guest_connect() {
	local r
	echo "$1" >&"${DRV[1]}"
	read -r -t 10 r <&"${DRV[0]}" || r="no answer"
	echo "$r"
}

@test "200 rounds: disable, the very next guest connect is reset; enable, the very next one is taken" {
	local i r
	for ((i = 1; i <= 200; i++)); do
		vmsvc service disable fresh >/dev/null
		r=$(guest_connect 5010)
		if [[ "$r" != "error ECONNRESET "* ]]; then
			echo "round $i: after disable: $r" >&2
			return 1
		fi
		vmsvc service enable fresh >/dev/null
		r=$(guest_connect 5010)
		if [[ "$r" != "ok "* ]]; then
			echo "round $i: after enable: $r" >&2
			return 1
		fi
	done
	# Every refusal is counted; the log has a line each until a VM's
	# refusals come too fast (route.c), so count them in the counters.
	vmsvc stats --json | python3 -c '
import json, sys
s = [x for x in json.load(sys.stdin)["services"] if x["name"] == "fresh"]
sys.exit(0 if s and s[0]["refused"]["disabled"] >= 200 else 1)'
	grep -q 'refused: service disabled' <(daemon_log)
}

@test "an in-place edit of an entry (same file, no rename) is in force for the next guest connect" {
	local f
	f=$(grep -l '^ElementName=fresh$' "$VMSVC_CONFIG_DIR"/services.d/*.conf)
	local ino
	ino=$(stat -c %i "$f")
	sed 's/^Enabled=.*/Enabled=false/' "$f" >"$E2E_ROOT/edited"
	cat "$E2E_ROOT/edited" >"$f" # truncate and write: the same inode
	[ "$(stat -c %i "$f")" = "$ino" ]
	[[ "$(guest_connect 5010)" == "error ECONNRESET "* ]]
	sed 's/^Enabled=.*/Enabled=true/' "$f" >"$E2E_ROOT/edited"
	cat "$E2E_ROOT/edited" >"$f"
	[[ "$(guest_connect 5010)" == "ok "* ]]
}

@test "a user who opens control connections until refused: root, other users' limits and the guest keep working, no busy loop" {
	local pid t0 t1
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
		/usr/bin/python3 "$FLOOD" "$VMSVC_RUNTIME_DIR/control.sock" 100 \
		</dev/null >"$E2E_ROOT/flood.out" 2>"$E2E_ROOT/flood.log" 3>&- &
	pid=$!
	bg_track $pid
	for ((i = 0; i < 200; i++)); do
		grep -q '^opened' "$E2E_ROOT/flood.out" && break
		sleep 0.05
	done
	sed "s/^/# /" "$E2E_ROOT/flood.out" >&3
	# 64 per user (the default), the rest refused with EUSERS.
	# (stalled: connects retried while the backlog was full, which load decides)
	grep -Eq '^opened 100 refused 36 stalled [0-9]+$' "$E2E_ROOT/flood.out"
	t0=$(awk '{ print $14 + $15 }' <"/proc/$(daemon_pid)/stat")
	run vmsvc stats --json
	[ "$status" = 0 ]
	[[ "$(guest_connect 5010)" == "ok "* ]]
	sleep 3
	t1=$(awk '{ print $14 + $15 }' <"/proc/$(daemon_pid)/stat")
	echo "# vmsvcd used $((t1 - t0)) ticks of CPU in 3 s" >&3
	[ $(((t1 - t0) * 1000 / $(getconf CLK_TCK))) -lt 300 ]
	# nobody is refused meanwhile, and served again once its connections close.
	run as_nobody -- "$VMSVC" stats
	echo "# as nobody meanwhile: $output" >&3
	[[ "$output" == *"too many connections to vmsvcd from uid"* ]]
	kill "$pid"
	for ((i = 0; i < 50; i++)); do
		run as_nobody -- "$VMSVC" stats
		[[ "$output" == *"needs root or the 'vmsvc' group"* ]] && break
		sleep 0.1
	done
	[[ "$output" == *"needs root or the 'vmsvc' group"* ]]
}
