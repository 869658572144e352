#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# Time synchronization end to end in the busybox test guest (no time
# daemon: the static agent's discipline mode). The goals (issue: under
# TCG, |offset| < 5 ms within 5 s of the agent's start from a clock 30 s
# wrong; p99 |offset| <= 1 ms over 60 s; < 5 ms within 2 s of a `cont`
# after a 20 s QMP stop) are measured by the tests' own check
# (tests/tools/tsprobe.c in the guest against tests/tools/tsresponder.py on
# the host, lib/ts.bash), not by the agent's report; the tests assert
# generous bounds (3-5x the goals) and print the figures.

load lib/guest
load lib/daemon
load lib/hv
load lib/ic
load lib/ts

setup_file() {
	e2e_require
	if [ ! -x "${VMSVC_AGENT_STATIC:-}" ] || [ ! -x "${VMSVC_TSPROBE_STATIC:-}" ]; then
		echo "e2e: missing VMSVC_AGENT_STATIC or VMSVC_TSPROBE_STATIC (build first)" >&2
		return 1
	fi
	daemon_init
	vmsvc vm add g1 --cid 5 >/dev/null
	daemon_start
	ts_responder_start g1
	guest_start g1 --vhost "$(vm_vhost g1)" --qmp "$E2E_ROOT/qmp" \
		--add "$VMSVC_AGENT_STATIC:/usr/sbin/vmsvc-agent" \
		--add "$VMSVC_TSPROBE_STATIC:/usr/bin/tsprobe"
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
	qmp "$E2E_ROOT/qmp" cont >/dev/null 2>&1 || true
	kill -CONT "$(qemu_pid)" 2>/dev/null || true
	e2e_teardown_test
}

qemu_pid() {
	cat "$(guest_state_dir g1)/qemu.pid"
}

ms() {
	date +%s%3N
}

# agent_stop, agent_start: the guest's agent as its /init runs it.
agent_stop() {
	guest_exec g1 'killall vmsvc-agent 2>/dev/null; while pidof vmsvc-agent >/dev/null; do usleep 20000; done'
}

agent_start() {
	guest_exec g1 'vmsvc-agent --verbose </dev/null >/tmp/vmsvc-agent.log 2>&1 &'
}

ts_status() {
	vm_status "$1"
}

@test "timesync: from a guest clock 30 s wrong, |offset| < 5 ms soon after the agent starts (goal 5 s; asserted 15 s)" {
	local t0 settle first
	agent_stop
	guest_exec g1 'VMSVC_GUEST=1 tsprobe -S 30'
	ts_probe_bg g1 conv.log -n 4 -i 100 -d 14000 "$TS_PROBE_PORT"
	sleep 1
	t0=$(ms)
	agent_start
	sleep 13
	ts_probe_log g1 conv.log >"$E2E_ROOT/conv.log"
	first=$(head -n 1 "$E2E_ROOT/conv.log" | cut -d' ' -f2)
	# the probe saw the clock 30 s ahead before the agent started
	[ "$first" -gt 29000000000 ]
	settle=$(ts_settle "$E2E_ROOT/conv.log" "$t0" 5000000)
	read -r n p50 p99 max dl <<<"$(ts_stats "$E2E_ROOT/conv.log" $((t0 + settle)))"
	echo "# converged (|offset| < 5 ms for good) $settle ms after the agent's start; then $n samples: |offset| p50 $p50 us, p99 $p99 us, max $max us; probe delay p50 $dl us" >&3
	[ "$settle" -ge 0 ]
	[ "$settle" -lt 15000 ]
	guest_exec g1 'grep -q "stepped the clock" /tmp/vmsvc-agent.log'
}

@test "timesync: steady state over 60 s, p99 |offset| (goal 1 ms; asserted 5 ms); status and integration show the discipline mode" {
	local t0
	run ts_status 'v["timesync"]["status"]'
	[ "$output" = ok ]
	run ts_status 'v["timesync"]["mode"]'
	[ "$output" = discipline ]
	run ts_status 'v["timesync"]["synced"] and v["timesync"]["steps"] >= 1 and v["timesync"]["last_report_ms"] < 5000'
	[ "$output" = True ]
	integration_check 's["timesync"]["status"] == "ok" and s["timesync"]["port"] == 703 and s["timesync"]["mode"] == "discipline"'
	t0=$(ms)
	ts_probe_bg g1 steady.log -n 4 -i 500 -d 60000 "$TS_PROBE_PORT"
	sleep 62
	ts_probe_log g1 steady.log >"$E2E_ROOT/steady.log"
	read -r n p50 p99 max dl <<<"$(ts_stats "$E2E_ROOT/steady.log" "$t0")"
	echo "# steady state, $n samples over 60 s: |offset| p50 $p50 us, p99 $p99 us, max $max us; probe delay p50 $dl us" >&3
	echo "# agent: $(ts_status 'v["timesync"]["message"], v["timesync"]["offset_ns"], v["timesync"]["delay_ns"]')" >&3
	[ "$n" -ge 100 ]
	[ "$p99" -le 5000 ]
}

@test "timesync: after a 20 s QMP stop, |offset| < 5 ms soon after cont (goal 2 s; asserted 6 s); SYNC logged" {
	local tc settle worst step
	ts_probe_bg g1 resume.log -n 4 -i 100 -d 32000 "$TS_PROBE_PORT"
	sleep 2
	qmp "$E2E_ROOT/qmp" stop >/dev/null
	sleep 20
	tc=$(ms)
	qmp "$E2E_ROOT/qmp" cont >/dev/null
	sleep 10
	ts_probe_log g1 resume.log >"$E2E_ROOT/resume.log"
	settle=$(ts_settle "$E2E_ROOT/resume.log" "$tc" 5000000)
	worst=$(python3 -c 'import sys; print(max(abs(int(l.split()[1])) for l in open(sys.argv[1]) if int(l.split()[0]) >= int(sys.argv[2])) // 1000000)' "$E2E_ROOT/resume.log" "$tc")
	step=$(guest_exec g1 'grep "stepped the clock" /tmp/vmsvc-agent.log | tail -n 1')
	echo "# after 20 s stopped: the agent's last step: ${step##*: }; the probe's worst after cont $worst ms; |offset| < 5 ms for good $settle ms after cont" >&3
	# the agent stepped the clock forward by the time QEMU stood (20 s)
	[[ "$step" =~ stepped\ the\ clock\ by\ \+(19|20|21)\. ]]
	[ "$settle" -ge 0 ]
	[ "$settle" -lt 6000 ]
	grep -q "timesync: SYNC sent (the VM resumed after" <(daemon_log)
}

@test "timesync: QEMU frozen (SIGSTOP) until the heartbeat is lost, then SIGCONT: a SYNC when the heartbeat comes back; |offset| < 5 ms soon after (asserted 6 s)" {
	local tc settle worst
	run hb_wait ok 30
	[ "$status" = 0 ]
	ts_probe_bg g1 frozen.log -n 4 -i 100 -d 25000 "$TS_PROBE_PORT"
	sleep 2
	kill -STOP "$(qemu_pid)"
	run hb_wait lost-communication 15
	[ "$status" = 0 ]
	tc=$(ms)
	kill -CONT "$(qemu_pid)"
	run hb_wait ok 10
	[ "$status" = 0 ]
	sleep 8
	ts_probe_log g1 frozen.log >"$E2E_ROOT/frozen.log"
	settle=$(ts_settle "$E2E_ROOT/frozen.log" "$tc" 5000000)
	worst=$(python3 -c 'import sys; print(max(abs(int(l.split()[1])) for l in open(sys.argv[1]) if int(l.split()[0]) >= int(sys.argv[2])) // 1000)' "$E2E_ROOT/frozen.log" "$tc")
	echo "# QEMU frozen until Lost Communication: the probe's worst after SIGCONT $worst us; |offset| < 5 ms for good $settle ms after SIGCONT" >&3
	[ "$settle" -ge 0 ]
	[ "$settle" -lt 6000 ]
	grep -q "timesync: SYNC sent (the heartbeat came back)" <(daemon_log)
}

@test "timesync: turned off for the VM, the status says Disabled and the agent stays idle; on again, a SYNC" {
	vmsvc vm integration g1 disable timesync >/dev/null
	sleep 1
	run ts_status 'v["timesync"]["status"]'
	[ "$output" = disabled ]
	vmsvc vm integration g1 enable timesync >/dev/null
	sleep 3
	run ts_status 'v["timesync"]["status"]'
	[ "$output" = ok ]
	grep -q "timesync: SYNC sent (the service was turned on)" <(daemon_log)
}

# A stand-in for a time daemon: the agent tells them by their process name
# (/proc/PID/comm: systemd-timesyn, ntpd, chronyd) and the busybox guest has
# none, so a shell renames itself "ntpd" and idles.
@test "timesync: ntpd runs: monitor mode; the agent leaves a clock 30 s wrong alone, at its start and through a QMP stop/cont; ntpd gone: discipline steps it back" {
	local i steps first last
	agent_stop
	guest_exec g1 "sh -c 'printf ntpd >/proc/\$\$/comm; while :; do sleep 1; done' </dev/null >/dev/null 2>&1 & echo \$! >/tmp/ntpd.pid"
	guest_exec g1 'grep -qx ntpd /proc/$(cat /tmp/ntpd.pid)/comm'
	guest_exec g1 'VMSVC_GUEST=1 tsprobe -S 30'
	agent_start
	for ((i = 0; i < 100; i++)); do
		[ "$(ts_status 'v.get("timesync", {}).get("mode")' 2>/dev/null)" = monitor ] && break
		sleep 0.1
	done
	[ "$(ts_status 'v["timesync"]["mode"]')" = monitor ]
	ts_probe_bg g1 mon.log -n 2 -i 200 -d 9000 "$TS_PROBE_PORT"
	sleep 2
	qmp "$E2E_ROOT/qmp" stop >/dev/null
	sleep 2
	qmp "$E2E_ROOT/qmp" cont >/dev/null
	sleep 7
	ts_probe_log g1 mon.log >"$E2E_ROOT/mon.log"
	first=$(head -n 1 "$E2E_ROOT/mon.log" | cut -d' ' -f2)
	last=$(tail -n 1 "$E2E_ROOT/mon.log" | cut -d' ' -f2)
	echo "# monitor mode: the probe's offset $((first / 1000000)) ms first, $((last / 1000000)) ms after the stop/cont; agent: $(ts_status 'v["timesync"]["message"]')" >&3
	# 30 s ahead at the start; still ~28 s after (the guest's clock stood
	# for the 2 s QEMU did): no step either way
	[ "$first" -gt 29000000000 ]
	[ "$last" -gt 26000000000 ]
	grep -q "timesync: SYNC sent (the VM resumed after" <(daemon_log)
	run ts_status 'v["timesync"]["steps"] == 0 and v["timesync"]["offset_ns"] > 26e9 and "left to it" in v["timesync"]["message"]'
	[ "$output" = True ]
	run guest_exec g1 'grep -c "stepped the clock" /tmp/vmsvc-agent.log'
	[ "$output" = 0 ]
	guest_exec g1 'grep -q "timesync: monitor mode (ntpd is active" /tmp/vmsvc-agent.log'
	# ntpd gone: the next look (every 10 s) finds none, and discipline steps
	guest_exec g1 'kill $(cat /tmp/ntpd.pid)'
	for ((i = 0; i < 150; i++)); do
		steps=$(ts_status 'v["timesync"]["steps"]')
		[ "$steps" -ge 1 ] && break
		sleep 0.1
	done
	[ "$(ts_status 'v["timesync"]["mode"]')" = discipline ]
	[ "$steps" -ge 1 ]
	guest_exec g1 'grep -q "stepped the clock by -2[6-9]\." /tmp/vmsvc-agent.log'
}
