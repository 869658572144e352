#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# The integration services against the Debian 12 systemd guest, with vmsvc
# installed into its image the way a user would (tools/mkdebian --install;
# udev starts vmsvc-agent.service; dbus and systemd-logind run as on a
# server): the heartbeat's systemd state and application health (a failed
# unit makes it critical, a unit listed in CriticalUnits= says so), the
# key-value exchange with the installed CLI in the guest, and shutdown
# through logind: an inhibitor blocks it (1, the blocker named), the
# message reaches the journal and the consoles, a reboot comes back with a
# new boot id, --force goes past an inhibitor. One QEMU (dbi, CID 9) that
# reboots once. Host programs use only vmsvcd's Unix sockets: never
# AF_VSOCK on the host.

load lib/guest
load lib/daemon
load lib/ic
load lib/debpkg

setup_file() {
	e2e_require
	debpkg_guest_start dbi 9 --reboot
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	export VM=dbi
}

teardown() {
	debpkg_journal dbi
	e2e_teardown_test
}

ms() {
	date +%s%3N
}

# app_wait APP [SECONDS]: poll until the heartbeat is ok with application
# state APP; prints the milliseconds it took.
app_wait() {
	local t0 now s limit=$((${2:-10} * 1000))
	t0=$(ms)
	while :; do
		s=$(vm_status '(h.get("status"), h.get("app"))')
		now=$(ms)
		[ "$s" = "('ok', '$1')" ] && break
		if ((now - t0 > limit)); then
			echo "# not ok/$1 after $((now - t0)) ms: $s" >&2
			return 1
		fi
		sleep 0.1
	done
	echo $((now - t0))
}

@test "heartbeat: OK and healthy with systemd's state and the guest's OS; vm list and show say so" {
	run hb_wait ok 120
	[ "$status" = 0 ]
	run app_wait healthy 30
	[ "$status" = 0 ]
	# systemd's state is "starting" until the boot is done (slow under
	# load), then "running".
	for _ in $(seq 120); do
		[ "$(vm_status 'h["sys_state"]')" = running ] && break
		sleep 0.5
	done
	run vm_status '(h["sys_state"], h["os_name"], h["os_id"], h["os_version"])'
	echo "$output"
	[ "$output" = "('running', 'Debian GNU/Linux 12 (bookworm)', 'debian', '12')" ]
	[ "$(vm_status 'h["boot_id"]')" = "$(guest_exec dbi 'cat /proc/sys/kernel/random/boot_id')" ]
	run vmsvc vm list
	echo "$output" | grep -E '^dbi .* OK *$'
	run vmsvc vm show dbi
	[[ "$output" == *"Debian GNU/Linux 12 (bookworm)"* ]]
	[[ "$output" == *running* ]]
}

@test "heartbeat: a failed unit makes the guest critical within 2 intervals, with why; reset, healthy again; a CriticalUnits= unit is named" {
	local t0
	app_wait healthy 30
	# systemd-run returns once the oneshot unit has failed: from then on.
	guest_exec dbi 'systemd-run --quiet --unit=e2e-broken --service-type=oneshot /bin/false; true'
	t0=$(ms)
	run app_wait critical 20
	[ "$status" = 0 ]
	echo "# critical $(($(ms) - t0)) ms after the unit failed" >&3
	[ $(($(ms) - t0)) -le 4000 ]
	[[ "$(vm_status 'h["critical"]')" == *degraded* ]]
	run vmsvc vm list
	echo "$output" | grep -E '^dbi .* OK \(critical\) *$'
	guest_exec dbi 'systemctl reset-failed'
	run app_wait healthy 10
	[ "$status" = 0 ]
	# a listed unit: its name says why
	guest_exec dbi 'mkdir -p /etc/vmsvc && printf "[Heartbeat]\nCriticalUnits=e2e-crit.service\n" >/etc/vmsvc/agent.conf
		sleep 3; systemd-run --quiet --unit=e2e-crit --service-type=oneshot /bin/false; true'
	run app_wait critical 20
	[ "$status" = 0 ]
	[[ "$(vm_status 'h["critical"]')" == *e2e-crit.service* ]]
	guest_exec dbi 'rm /etc/vmsvc/agent.conf; systemctl reset-failed'
	run app_wait healthy 10
	[ "$status" = 0 ]
}

@test "kvp with the installed CLI: host -> guest and guest -> host, watches in both, intrinsic OS facts, guest users read but do not write" {
	local t0 t1 d=$BATS_TEST_TMPDIR i
	hb_wait ok 60
	vmsvc kvp dbi set e2e.h "from the host"
	run guest_exec dbi 'for i in $(seq 50); do v=$(vmsvc kvp get --pool host e2e.h 2>/dev/null) && break; sleep 0.1; done; echo "$v"'
	[ "$output" = "from the host" ]
	[ "$(vmsvc kvp dbi get --pool intrinsic OSName)" = "Debian GNU/Linux 12 (bookworm)" ]
	[ "$(vmsvc kvp dbi get --pool intrinsic HostName)" = "$(guest_exec dbi hostname)" ]
	# a host watch sees the guest's change
	vmsvc kvp dbi watch --pool guest >"$d/watch" 2>&1 &
	echo $! >"$d/watch.pid"
	sleep 1
	guest_exec dbi 'vmsvc kvp set e2e.g "from the guest"'
	t0=$(ms)
	for ((i = 0; i < 500; i++)); do
		grep -q 'e2e.g from the guest' "$d/watch" && break
		sleep 0.01
	done
	t1=$(ms)
	kill "$(cat "$d/watch.pid")"
	grep -q 'e2e.g from the guest' "$d/watch"
	echo "# host watch: $((t1 - t0)) ms after the guest's set returned" >&3
	[ $((t1 - t0)) -le 500 ]
	# a guest watch sees the host's change (the guest writes what it saw)
	guest_exec dbi '(timeout 30 vmsvc kvp watch --pool host e2e.w >/tmp/w.log 2>&1 &) ; sleep 1'
	vmsvc kvp dbi set e2e.w seen
	run guest_exec dbi 'for i in $(seq 50); do grep -q "e2e.w seen" /tmp/w.log && exit 0; sleep 0.1; done; cat /tmp/w.log; exit 1'
	[ "$status" = 0 ]
	# guest users: read yes, write no
	run guest_exec dbi 'setpriv --reuid=nobody --regid=nogroup --clear-groups vmsvc kvp get --pool host e2e.h'
	[ "$output" = "from the host" ]
	run guest_exec dbi 'setpriv --reuid=nobody --regid=nogroup --clear-groups vmsvc kvp set e2e.x y; echo "rc=$?"'
	[[ "$output" == *"rc=125"* ]]
}

@test "vm shutdown: a block inhibitor refuses it within 1 s (1, who and why named) and the VM runs on" {
	local t0 t1
	hb_wait ok 60
	guest_exec dbi 'systemd-inhibit --what=shutdown --mode=block --who=e2e-backup --why="copying the database" sleep 600 >/dev/null 2>&1 &
		for i in $(seq 50); do systemd-inhibit --list --no-pager | grep -q e2e-backup && exit 0; sleep 0.1; done; exit 1'
	t0=$(ms)
	run vmsvc vm shutdown dbi --timeout 60
	t1=$(ms)
	printf "refused in %s ms (the whole CLI):\n%s\n" "$((t1 - t0))" "$output" | sed "s/^/# /" >&3
	[ "$status" = 1 ]
	# the agent answers within 1 s (plus the CLI's own start and vmsvcd)
	[ $((t1 - t0)) -le 1500 ]
	[[ "$output" == *e2e-backup* ]]
	[[ "$output" == *"copying the database"* ]]
	[[ "$output" == *--force* ]]
	sleep 2
	[ "$(vm_status 'h["status"]')" = ok ]
	guest_exec dbi 'pkill -f "^sleep 600"; true'
}

@test "vm shutdown --reboot: accepted; the message reaches the journal and the console; back with a new boot id (0)" {
	local old d=$BATS_TEST_TMPDIR
	hb_wait ok 60
	old=$(vm_status 'h["boot_id"]')
	# a delay inhibitor holds the reboot for a moment (logind waits up to
	# InhibitDelayMaxSec for it), so the journal can be read before it goes
	guest_exec dbi 'mkdir -p /etc/systemd/logind.conf.d
		printf "[Login]\nInhibitDelayMaxSec=60\n" >/etc/systemd/logind.conf.d/e2e.conf
		systemctl restart systemd-logind
		systemd-inhibit --what=shutdown --mode=delay --who=e2e-delay --why=e2e sleep 600 >/dev/null 2>&1 &
		for i in $(seq 50); do systemd-inhibit --list --no-pager | grep -q e2e-delay && exit 0; sleep 0.1; done; exit 1'
	vmsvc vm shutdown dbi --reboot --timeout 300 --message "e2e: rebooting for the test" >"$d/out" 2>&1 &
	echo $! >"$d/pid"
	run guest_exec -t 30 dbi 'for i in $(seq 100); do journalctl -b --no-pager -q | grep -q "e2e: rebooting for the test" && exit 0; sleep 0.2; done; exit 1'
	[ "$status" = 0 ]
	guest_exec -t 10 dbi 'pkill -f "^sleep 600"; true' || true
	wait "$(cat "$d/pid")"
	sed "s/^/# /" "$d/out" >&3
	[ "$(vm_status 'h["status"]')" = ok ]
	[ "$(vm_status 'h["boot_id"]')" != "$old" ]
	guest_log dbi | grep -q "e2e: rebooting for the test"
	# the host pool is there in the new boot
	for ((i = 0; i < 120; i++)); do
		guest_exec -t 5 dbi true >/dev/null 2>&1 && break
		sleep 1
	done
	run guest_exec dbi 'for i in $(seq 100); do v=$(vmsvc kvp get --pool host e2e.h 2>/dev/null) && break; sleep 0.2; done; echo "$v"'
	[ "$output" = "from the host" ]
}

@test "vm shutdown --force: goes past a block inhibitor; the CLI waits until QEMU is gone (0)" {
	hb_wait ok 120
	guest_exec dbi 'systemd-inhibit --what=shutdown --mode=block --who=e2e-backup --why=e2e sleep 600 >/dev/null 2>&1 &
		for i in $(seq 50); do systemd-inhibit --list --no-pager | grep -q e2e-backup && exit 0; sleep 0.1; done; exit 1'
	run vmsvc vm shutdown dbi --force --timeout 180
	printf "%s\n" "$output" | sed "s/^/# /" >&3
	[ "$status" = 0 ]
	[ "$(vm_status 'v["state"]')" = stopped ]
}
