#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# The integration services' host side (vmsvcd: daemon/icd*.c,
# docs/integration-services.md) with one booted test guest and a stand-in
# for the agent, tests/tools/icpeer.c (static, /usr/bin/icpeer in the guest):
# who may connect (a privileged guest port only), HELLO and its version
# negotiation, ERROR for unknown and malformed frames, the Heartbeat's
# status (OK with the guest's fields, Lost Communication, Error, Disabled
# by the registry or vms.d, Paused under QMP stop, Protocol Mismatch), the
# "integration" listing and the "shutdown" operation with canned REPLYs.
# The last test boots a second guest with the real vmsvc-agent (static).
# Host programs use only the daemon's Unix sockets and QEMU's QMP socket:
# never AF_VSOCK on the host.

load lib/guest
load lib/daemon
load lib/hv
load lib/ic


setup_file() {
	e2e_require
	if [ ! -x "${VMSVC_ICPEER_STATIC:-}" ] || [ ! -x "${VMSVC_AGENT_STATIC:-}" ]; then
		echo "e2e: missing VMSVC_ICPEER_STATIC or VMSVC_AGENT_STATIC (build first)" >&2
		return 1
	fi
	daemon_init
	chmod 755 "$E2E_ROOT" # nobody reaches control.sock
	vmsvc vm add g1 --cid 5 >/dev/null
	daemon_start
	guest_start g1 --vhost "$(vm_vhost g1)" --add "$VMSVC_ICPEER_STATIC:/usr/bin/icpeer" \
		--qmp "$E2E_ROOT/qmp"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	export VMSVC_GUEST=0
}

teardown() {
	# a test that fails while the VM is paused must not leave it so
	/usr/bin/python3 "$QMP" "$E2E_ROOT/qmp" cont >/dev/null 2>&1 || true
	peer_stop_all
	e2e_teardown_test
}

# ---- the stand-in agent in the guest ----

# peer_run ID ICPEER-ARGS...: icpeer in the background in the guest, its
# output in /tmp/ID.log; waits for its first line (connected or not). The
# arguments go through the guest's shell: quote what has blanks.
peer_run() {
	local id=$1
	shift
	guest_exec g1 "rm -f /tmp/$id.log
		VMSVC_GUEST=1 icpeer $* >/tmp/$id.log 2>&1 &
		echo \$! >/tmp/$id.pid
		echo \$! >>/tmp/peers
		wait-for /tmp/$id.log '^connect'"
}

# peer_log ID: its output so far.
peer_log() {
	guest_exec g1 "cat /tmp/$1.log"
}

# peer_wait ID PATTERN [SECONDS]: wait (default 10 s) for a line matching
# the grep PATTERN in its output.
peer_wait() {
	local t=${3:-10}
	# the channel's own timeout must outlast the guest's wait; on failure,
	# show what the peer printed
	guest_exec -t $((t + 30)) g1 "wait-for /tmp/$1.log '$2' $t" ||
		{
			echo "# peer $1 printed:" >&2
			guest_exec g1 "cat /tmp/$1.log" | sed 's/^/# /' >&2
			return 1
		}
}

# peer_count ID PATTERN: lines matching PATTERN.
peer_count() {
	guest_exec g1 "grep -c -- '$2' /tmp/$1.log" || true
}

# peer_kill ID: end it (by its PID) and wait until it is gone.
peer_kill() {
	guest_exec g1 "p=\$(cat /tmp/$1.pid 2>/dev/null) && kill \$p 2>/dev/null
		while [ -n \"\$p\" ] && [ -d /proc/\$p ]; do usleep 20000; done; true"
}

peer_stop_all() {
	guest_exec g1 'for p in $(cat /tmp/peers 2>/dev/null); do kill $p 2>/dev/null; done
		rm -f /tmp/peers; true' >/dev/null || true
}

# vms_d_set LINE|-KEY: append LINE to vms.d/g1.conf, or remove KEY's line;
# the daemon picks the change up by itself.
vms_d_set() {
	local f=$VMSVC_CONFIG_DIR/vms.d/g1.conf
	if [[ $1 == -* ]]; then
		sed -i "/^${1#-}=/d" "$f"
	else
		echo "$1" >>"$f"
	fi
}

shutdown_req() {
	ctl "{\"op\":\"shutdown\",\"vm\":\"g1\"$1}"
}

# ---- who may connect ----

@test "only a privileged guest port reaches the Heartbeat: 1024 and up refused (counted, logged), 1023 accepted" {
	run peer_run u -p 701
	[ "$status" = 0 ]
	run peer_log u
	[ "${lines[0]}" = "connect ECONNRESET" ]
	run peer_run u -p 701 -s 1024
	run peer_log u
	[ "${lines[0]}" = "connect ECONNRESET" ]
	SVC=Heartbeat stats_check 's["refused"]["not_permitted"] >= 2 and v["refused"]["not_permitted"] >= 2'
	grep -q "VM g1: guest port [0-9]* -> host port 701 (heartbeat) refused: only root in the guest (vmsvc-agent) may connect, from a port below 1024" "$E2E_ROOT/daemon.log"
	# logged once a minute, not per connection
	[ "$(grep -c 'only root in the guest' "$E2E_ROOT/daemon.log")" = 1 ]
	run peer_run p -p 701 -s 1023
	run peer_wait p '^STATE'
	[ "$status" = 0 ]
	run peer_log p
	[ "${lines[0]}" = "connected local_port=1023" ]
	[[ "${lines[1]}" == "HELLO min=1 max=1 software=vmsvcd "* ]]
	[ "${lines[2]}" = "STATE enabled=1 interval_ms=2000" ]
}

@test "a second connection of the same service replaces the first, which ends" {
	peer_run a -s 700
	run peer_wait a '^STATE'
	[ "$status" = 0 ]
	peer_run b -s 701
	run peer_wait b '^STATE'
	[ "$status" = 0 ]
	run peer_wait a '^EOF'
	[ "$status" = 0 ]
	grep -q "VM g1: heartbeat: a new agent connection replaces the old one" "$E2E_ROOT/daemon.log"
}

# ---- the protocol ----

@test "HELLO picks the highest common version; unknown types get ERROR EOPNOTSUPP, a bad BEAT ERROR EPROTO, and the connection goes on" {
	peer_run p -s 700 -v 1-7 -u 999 -m -b 300
	run peer_wait p '^ACK n=2 '
	[ "$status" = 0 ]
	run peer_log p
	[[ "${lines[1]}" == "HELLO min=1 max=1 software=vmsvcd "* ]]
	[ "${lines[2]}" = "STATE enabled=1 interval_ms=2000" ]
	[[ "$output" == *"ERROR seq=0 type=999 err=EOPNOTSUPP message=vmsvcd's heartbeat service knows no frame type 999"* ]]
	[[ "$output" == *"ERROR seq=0 type=16 err=EPROTO message=malformed BEAT"* ]]
	[[ "$output" == *"ACK n=1 interval_ms=2000"* ]]
	[[ "$output" != *EOF* ]]
}

@test "a malformed frame header ends the connection: Error while the guest runs" {
	peer_run p -s 700 -g
	run peer_wait p '^EOF'
	[ "$status" = 0 ]
	run hb_wait error 5
	[ "$status" = 0 ]
	grep -q "VM g1: heartbeat: malformed frame header from the agent; connection closed" "$E2E_ROOT/daemon.log"
}

@test "a peer that floods without reading is cut off (bounded buffers): Error, and vmsvcd stays small" {
	local rss0 rss1
	rss0=$(daemon_rss_kb)
	peer_run p -s 700 -f 200000
	run peer_wait p '^EOF\|^read \|^write ' 120
	[ "$status" = 0 ]
	log_wait "VM g1: the agent's heartbeat connection does not read what vmsvcd sends ([0-9]* bytes waiting); cut off"
	run hb_wait error 5
	[ "$status" = 0 ]
	rss1=$(daemon_rss_kb)
	echo "# vmsvcd RSS $rss0 -> $rss1 KiB" >&3
	# AddressSanitizer keeps freed memory in quarantine: a wider bound
	if daemon_is_asan; then
		[ "$rss1" -lt $((rss0 + 32768)) ]
	else
		[ "$rss1" -lt $((rss0 + 8192)) ]
	fi
}

@test "no common version: ERROR EPROTONOSUPPORT, Protocol Mismatch, the connection stays open" {
	peer_run p -s 700 -v 2-3 -b 300
	run peer_wait p '^ERROR'
	[ "$status" = 0 ]
	run peer_log p
	[ "${lines[1]}" = "ERROR seq=0 type=1 err=EPROTONOSUPPORT message=vmsvcd speaks versions 1-1" ]
	integration_check 's["heartbeat"]["status"] == "protocol-mismatch"'
	run vm_status 'h["status"]'
	[ "$output" = protocol-mismatch ]
	sleep 1
	run peer_log p
	[[ "$output" != *EOF* ]]
	[ "$(peer_count p '^ACK')" = 0 ] # never beats without STATE
}

# ---- heartbeat status ----

@test "beats: status ok with the guest's fields (boot id, kernel, app state and why it is critical)" {
	local boot kver
	boot=$(guest_exec g1 'cat /proc/sys/kernel/random/boot_id')
	kver=$(guest_exec g1 'uname -r')
	peer_run p -s 700 -b 300 -a 2 -c nginx.service
	run peer_wait p '^ACK n=2 '
	[ "$status" = 0 ]
	run ctl '{"op":"status"}'
	[ "$status" = 0 ]
	reply_check "(lambda v: v['paused'] is False and v['heartbeat']['status'] == 'ok' and v['heartbeat']['app'] == 'critical' and v['heartbeat']['critical'] == 'nginx.service')(j['vms'][0])"
	reply_check "(lambda h: h['boot_id'] == '$boot' and h['kernel'] == '$kver' and h['os_id'] == 'busybox' and h['agent'] == 'icpeer' and h['sys_state'] == 'none' and h['hostname'] != '')(j['vms'][0]['heartbeat'])"
	reply_check "(lambda h: h['interval_ms'] == 2000 and h['beats'] >= 2 and 0 <= h['last_beat_ms'] < 2000 and h['uptime_ms'] > 0 and h['connected_ms'] >= 300)(j['vms'][0]['heartbeat'])"
	integration_check 's["heartbeat"]["status"] == "ok" and s["heartbeat"]["app"] == "critical" and s["heartbeat"]["enabled"]'
}

@test "no beat for 3 intervals: lost communication; a new agent connection: ok again" {
	peer_run p -s 700 -b 300 -n 3
	run peer_wait p '^ACK n=3 '
	[ "$status" = 0 ]
	run vm_status 'h["status"]'
	[ "$output" = ok ]
	# 3 x 2 s after the last beat, polled: the margin is for a loaded host
	run hb_wait lost-communication 12
	[ "$status" = 0 ]
	echo "# lost after $output ms" >&3
	log_wait "VM g1: heartbeat: lost communication (no beat for 3 intervals of 2000 ms)"
	peer_run q -s 701 -b 300
	run hb_wait ok 10
	[ "$status" = 0 ]
}

@test "the agent killed: Error within 1 s; no agent since the driver started would be No Contact" {
	peer_run p -s 700 -b 300
	run hb_wait ok 10
	[ "$status" = 0 ]
	peer_kill p
	run hb_wait error 5
	[ "$status" = 0 ]
	echo "# error after $output ms" >&3
	[ "$output" -lt 1000 ]
	integration_check 's["heartbeat"]["status"] == "error" and s["shutdown"]["status"] == "no-contact"'
}

@test "turned off for this VM (vms.d) or in the registry: STATE enabled=0 and Disabled; on again: STATE enabled=1 and beats" {
	peer_run p -s 700 -b 300
	run hb_wait ok 10
	[ "$status" = 0 ]
	vms_d_set DisabledServices=heartbeat
	run peer_wait p 'STATE enabled=0'
	[ "$status" = 0 ]
	integration_check 's["heartbeat"]["status"] == "disabled" and not s["heartbeat"]["enabled"] and s["heartbeat"]["enabled_global"] and not s["heartbeat"]["enabled_vm"]'
	vms_d_set -DisabledServices
	run peer_wait p 'STATE enabled=1 .*' # the second one
	[ "$(peer_count p '^STATE enabled=1')" = 2 ]
	run hb_wait ok 10
	[ "$status" = 0 ]
	vmsvc service disable Heartbeat
	run hb_wait disabled 5
	[ "$status" = 0 ]
	[ "$(peer_count p '^STATE enabled=0')" = 2 ]
	integration_check 'not s["heartbeat"]["enabled_global"] and s["heartbeat"]["enabled_vm"]'
	vmsvc service enable Heartbeat
	run hb_wait ok 10
	[ "$status" = 0 ]
	[ "$(peer_count p '^STATE enabled=1')" = 3 ]
	grep -q "VM g1: heartbeat turned off for this VM (vms.d); the agent is told so" "$E2E_ROOT/daemon.log"
	grep -q "VM g1: heartbeat turned off in the registry; the agent is told so" "$E2E_ROOT/daemon.log"
}

@test "QMP stop: Paused (never Lost Communication), connections kept; cont: the same connection beats again" {
	local beats t0
	peer_run p -s 700 -b 300
	run hb_wait ok 10
	[ "$status" = 0 ]
	run /usr/bin/python3 "$QMP" "$E2E_ROOT/qmp" stop
	[ "$status" = 0 ]
	run hb_wait paused 5
	[ "$status" = 0 ]
	beats=$(vm_status 'h["beats"]')
	# 4 intervals: a running VM would be Lost Communication by now
	t0=$(date +%s)
	while (($(date +%s) - t0 < 8)); do
		run vm_status '(h["status"], v["paused"], v["state"])'
		[ "$output" = "('paused', True, 'connected')" ]
		sleep 0.5
	done
	run /usr/bin/python3 "$QMP" "$E2E_ROOT/qmp" cont
	[ "$status" = 0 ]
	run hb_wait ok 10
	[ "$status" = 0 ]
	for _ in $(seq 100); do # the next beat on the same connection
		run vm_status '(v["paused"], h["beats"] > '"$beats"')'
		[ "$output" = "(False, True)" ] && break
		sleep 0.1
	done
	[ "$output" = "(False, True)" ]
	run peer_log p
	[[ "$output" != *EOF* ]]
	[ "$(peer_count p '^HELLO')" = 1 ]
	grep -q "VM g1: QEMU stopped the device (VM paused, or its driver stopping); connections kept" "$E2E_ROOT/daemon.log"
	grep -q "VM g1: QEMU restarted the device (resumed)" "$E2E_ROOT/daemon.log"
	run grep -c "lost communication" <(sed -n '/QEMU stopped the device/,$p' "$E2E_ROOT/daemon.log")
	[ "$output" = 0 ]
}

# ---- the "integration" and "shutdown" operations ----

@test "integration lists the in-box services with their state; root and the vmsvc group only" {
	integration_check 'j["vm"] == "g1" and [x["short"] for x in j["services"]] == ["heartbeat", "shutdown", "kvp", "session", "vss", "timesync"]'
	integration_check 's["shutdown"] == {"name": "Shutdown", "short": "shutdown", "guid": "0e0b6031-5213-4934-818b-38d90ced39db", "port": 702, "enabled": True, "enabled_global": True, "enabled_vm": True, "status": "no-contact"}'
	integration_check 's["session"]["status"] == "on-demand" and s["session"]["port"] == 640 and s["heartbeat"]["guid"] == "57164f39-9115-4e78-ab55-382f3bd5422d"'
	run ctl '{"op":"integration","vm":"nosuchvm"}'
	[ "$status" = 1 ]
	reply_check 'j["error"] == "ENOENT"'
	run as_nobody -- /usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" '{"op":"integration","vm":"g1"}'
	[ "$status" = 1 ]
	reply_check 'j["error"] == "EACCES"'
}

@test "shutdown: accepted by the agent (with the boot id), blocked by inhibitors (EBUSY with blockers), refused (EPERM), no answer (ETIMEDOUT)" {
	local boot
	boot=$(guest_exec g1 'cat /proc/sys/kernel/random/boot_id')
	peer_run hb -s 700 -b 300
	run hb_wait ok 10
	[ "$status" = 0 ]
	peer_run sd -p 702 -s 701 -r 0
	run peer_wait sd '^STATE'
	[ "$status" = 0 ]
	run shutdown_req ',"action":"reboot","message":"kernel update"'
	[ "$status" = 0 ]
	reply_check "j == {'ok': True, 'vm': 'g1', 'boot_id': '$boot'}"
	run peer_wait sd '^REQUEST'
	[ "$status" = 0 ]
	run peer_log sd
	[[ "$output" == *"REQUEST seq=1 action=2 flags=0 timeout_s=0 requester=uid 0 (root) on the host message=kernel update"* ]]
	peer_run sd -p 702 -s 702 -r "'16|sleep (uid 0, pid 42): testing|cron (uid 0, pid 7): backup'"
	run peer_wait sd '^STATE'
	run shutdown_req ',"timeout_s":60'
	[ "$status" = 1 ]
	reply_check 'j["error"] == "EBUSY" and j["blockers"] == ["sleep (uid 0, pid 42): testing", "cron (uid 0, pid 7): backup"] and "blocked by inhibitors" in j["message"]'
	run shutdown_req ',"force":true,"action":"halt"'
	run peer_log sd
	[[ "$output" == *"REQUEST seq=3 action=3 flags=1 timeout_s=0"* ]]
	peer_run sd -p 702 -s 703 -r 1
	run peer_wait sd '^STATE'
	run shutdown_req ''
	[ "$status" = 1 ]
	reply_check 'j["error"] == "EPERM" and "refuses" in j["message"]'
	peer_run sd -p 702 -s 704 -r none
	run peer_wait sd '^STATE'
	run shutdown_req ''
	[ "$status" = 1 ]
	reply_check 'j["error"] == "ETIMEDOUT" and j["message"] == "the agent in VM g1 did not answer within 2 s"'
}

@test "shutdown without an agent: ENOTCONN saying no fallback was tried; EACCES, EOPNOTSUPP, ENOENT, EINVAL" {
	run shutdown_req ''
	[ "$status" = 1 ]
	reply_check 'j["error"] == "ENOTCONN" and j["message"].startswith("no agent is connected in VM g1 (heartbeat: ") and "QMP system_powerdown" in j["message"] and "no fallback" in j["message"]'
	run as_nobody -- /usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" '{"op":"shutdown","vm":"g1"}'
	[ "$status" = 1 ]
	reply_check 'j["error"] == "EACCES" and "nobody (uid 65534) may not shut down VM g1" in j["message"]'
	# a user the VM allows (SessionUsers=) gets past the check: no agent
	vms_d_set SessionUsers=nobody
	for _ in $(seq 50); do
		run as_nobody -- /usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" '{"op":"shutdown","vm":"g1"}'
		[[ "${lines[0]}" == *ENOTCONN* ]] && break
		sleep 0.1
	done
	vms_d_set -SessionUsers
	reply_check 'j["error"] == "ENOTCONN"'
	run ctl '{"op":"shutdown","vm":"nosuchvm"}'
	reply_check 'j["error"] == "ENOENT"'
	run ctl '{"op":"shutdown","vm":"g1","action":"explode"}'
	reply_check 'j["error"] == "EINVAL"'
	vms_d_set DisabledServices=shutdown
	for _ in $(seq 50); do
		run shutdown_req ''
		[[ "${lines[0]}" == *EOPNOTSUPP* ]] && break
		sleep 0.1
	done
	reply_check 'j["error"] == "EOPNOTSUPP" and "vmsvc vm integration g1 enable shutdown" in j["message"]'
	vms_d_set -DisabledServices
}

@test "DisabledServices=session: the VM Session Service says it is off for this VM and how to turn it on" {
	vms_d_set DisabledServices=session
	for _ in $(seq 50); do
		run ctl '{"op":"session","vm":"g1"}'
		[[ "${lines[0]}" == *EOPNOTSUPP* ]] && break
		sleep 0.1
	done
	reply_check 'j["error"] == "EOPNOTSUPP" and "disabled for VM g1 (DisabledServices= in vms.d/g1.conf)" in j["message"] and "vmsvc vm integration g1 enable session" in j["message"]'
	integration_check 's["session"]["status"] == "disabled" and not s["session"]["enabled_vm"]'
	vms_d_set -DisabledServices
}

@test "the real vmsvc-agent in a second guest: heartbeat ok with its version, shutdown powers the guest off, then Off" {
	local boot i
	vmsvc vm add g2 --cid 6 >/dev/null
	for ((i = 0; i < 100; i++)); do
		[ -S "$(vm_vhost g2)" ] && break
		sleep 0.05
	done
	guest_start g2 --vhost "$(vm_vhost g2)" --add "$VMSVC_AGENT_STATIC:/usr/sbin/vmsvc-agent"
	boot=$(guest_exec g2 'cat /proc/sys/kernel/random/boot_id')
	VM=g2 run hb_wait ok 30
	[ "$status" = 0 ]
	VM=g2 run vm_status '(h["boot_id"], h["agent"] != "")'
	[ "$output" = "('$boot', True)" ]
	# the agent's four connections come up one after another
	for ((i = 0; i < 50; i++)); do
		run ctl '{"op":"integration","vm":"g2"}'
		reply_check '[x["status"] for x in j["services"]] == ["ok", "ok", "ok", "on-demand", "ok", "ok"]' 2>/dev/null && break
		sleep 0.1
	done
	reply_check '[x["status"] for x in j["services"]] == ["ok", "ok", "ok", "on-demand", "ok", "ok"]'
	run ctl '{"op":"shutdown","vm":"g2","action":"poweroff","message":"e2e-integration"}'
	[ "$status" = 0 ]
	reply_check "j == {'ok': True, 'vm': 'g2', 'boot_id': '$boot'}"
	# the agent powers the guest off: QEMU goes, the heartbeat is Off
	VM=g2 run hb_wait off 60
	[ "$status" = 0 ]
	VM=g2 run vm_status 'v["state"]'
	[ "$output" = stopped ]
	guest_log g2 | grep -q "asks this system to power off now: e2e-integration"
}
