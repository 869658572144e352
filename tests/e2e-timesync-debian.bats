#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# Time synchronization in the Debian 12 systemd guest, with vmsvc installed
# into its image (tools/mkdebian --install) and chrony installed (it
# replaces systemd-timesyncd): chrony mode (the agent feeds chrony's SOCK
# refclock from the installed snippet; `chronyc sources` lists VMSV and
# selects it; the agent never steps), then discipline mode with chrony
# stopped, measured by the tests' own check (tests/tools/tsprobe.c, copied
# into the guest with vmsvc cp; lib/ts.bash). One boot (dts, CID 10). Host
# programs use only vmsvcd's Unix sockets: never AF_VSOCK on the host.

load lib/guest
load lib/daemon
load lib/ic
load lib/ts
load lib/debpkg

# the time sync responder answers from the guest's first request on
debpkg_before_boot() {
	ts_responder_start "$1"
}

setup_file() {
	local root
	e2e_require
	root=$(guest_debian_dir)/rootfs
	if [ ! -x "$root/usr/sbin/chronyd" ]; then
		echo "e2e: no chrony in the Debian image: tools/mkdebian $(guest_debian_dir)" >&2
		return 1
	fi
	if [ ! -x "${VMSVC_TSPROBE_STATIC:-}" ]; then
		echo "e2e: missing VMSVC_TSPROBE_STATIC (build first)" >&2
		return 1
	fi
	daemon_init
	debpkg_guest_start dts 10 --qmp "$E2E_ROOT/qmp"
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	export VM=dts
}

teardown() {
	debpkg_journal dts
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "$BATS_TEST_NAME" ]; then
		guest_exec -t 10 dts 'chronyc -n sources; journalctl -b -u chrony --no-pager -q | tail -n 10' >&2 || true
	fi
	qmp "$E2E_ROOT/qmp" cont >/dev/null 2>&1 || true
	e2e_teardown_test
}

ms() {
	date +%s%3N
}

# ts_wait PYEXPR [SECONDS]: poll "status" until PYEXPR over v is True.
ts_wait() {
	local i limit=$((${2:-30} * 10))
	for ((i = 0; i < limit; i++)); do
		[ "$(vm_status "$1" 2>/dev/null)" = True ] && return 0
		sleep 0.1
	done
	echo "# not '$1' after ${2:-30} s: $(vm_status 'v.get("timesync")')" >&2
	return 1
}

@test "timesync (Debian): chrony runs: chrony mode, chronyc sources lists the VMSV refclock and selects it; the agent never steps" {
	local steps
	ts_wait 'v.get("timesync", {}).get("mode") == "chrony"' 60
	guest_exec dts 'cp /usr/share/doc/vmsvc/chrony-vmsvc.conf /etc/chrony/conf.d/vmsvc.conf && systemctl restart chrony'
	steps=$(vm_status 'v["timesync"]["steps"]')
	# chrony selects it within a few of its 4 s polls
	for ((i = 0; i < 90; i++)); do
		guest_exec dts 'chronyc -n sources' | grep -q '^#\* VMSV' && break
		sleep 1
	done
	run guest_exec dts 'chronyc -n sources'
	echo "# $(echo "$output" | grep VMSV) (after ~$i s)" >&3
	[[ "$output" == *"#* VMSV"* ]]
	run guest_exec dts 'chronyc tracking'
	echo "# $(echo "$output" | grep -E 'Reference ID|System time' | tr '\n' ';')" >&3
	[[ "$output" == *"Reference ID    : 564D5356 (VMSV)"* ]]
	ts_wait 'v["timesync"]["mode"] == "chrony" and v["timesync"]["status"] == "ok"' 10
	[ "$(vm_status 'v["timesync"]["steps"]')" = "$steps" ]
}

@test "timesync (Debian): chrony stopped: discipline mode; 30 s wrong converges; steady state; 20 s QMP stop and cont" {
	local t0 settle tc
	guest_exec dts 'systemctl stop chrony'
	ts_wait 'v["timesync"]["mode"] == "discipline"' 30
	vmsvc cp "$VMSVC_TSPROBE_STATIC" dts:/usr/local/bin/tsprobe
	guest_exec dts 'chmod 755 /usr/local/bin/tsprobe && PATH=$PATH:/usr/local/bin VMSVC_GUEST=1 tsprobe -S 30'
	t0=$(ms)
	guest_exec dts 'PATH=$PATH:/usr/local/bin; VMSVC_GUEST=1 tsprobe -n 4 -i 200 -d 75000 7030 >/tmp/probe.log 2>&1 </dev/null &'
	sleep 77
	ts_probe_log dts probe.log >"$E2E_ROOT/deb.log"
	settle=$(ts_settle "$E2E_ROOT/deb.log" "$t0" 5000000)
	read -r n p50 p99 max dl <<<"$(ts_stats "$E2E_ROOT/deb.log" $((t0 + 15000)))"
	echo "# discipline (Debian): from 30 s wrong, |offset| < 5 ms for good $settle ms after the clock was set 30 s ahead; then over 60 s ($n samples): |offset| p50 $p50 us, p99 $p99 us, max $max us; probe delay p50 $dl us" >&3
	[ "$settle" -ge 0 ]
	[ "$settle" -lt 15000 ]
	[ "$p99" -le 5000 ]
	guest_exec dts 'PATH=$PATH:/usr/local/bin; VMSVC_GUEST=1 tsprobe -n 4 -i 100 -d 30000 7030 >/tmp/resume.log 2>&1 </dev/null &'
	sleep 2
	qmp "$E2E_ROOT/qmp" stop >/dev/null
	sleep 20
	tc=$(ms)
	qmp "$E2E_ROOT/qmp" cont >/dev/null
	sleep 10
	ts_probe_log dts resume.log >"$E2E_ROOT/deb-resume.log"
	settle=$(ts_settle "$E2E_ROOT/deb-resume.log" "$tc" 5000000)
	echo "# discipline (Debian): after a 20 s stop, |offset| < 5 ms for good $settle ms after cont" >&3
	[ "$settle" -ge 0 ]
	[ "$settle" -lt 6000 ]
	run guest_exec dts 'timedatectl show -p NTPSynchronized; adjtimex 2>/dev/null | head -n 3 || true'
	echo "# $output" >&3
}
