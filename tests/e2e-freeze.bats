#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# Filesystem freeze (the VSS service, port 705) against the Debian 12
# systemd guest with vmsvc installed into its image (tools/mkdebian
# --install): its ext4 root and a second ext4 disk (an image made here with
# mkfs.ext4, attached with run-guest --disk, mounted at /mnt/data). Freeze
# and thaw of both, hooks in order, a write started during a freeze ends
# only after the thaw, a copy of the disk image taken while frozen is a
# clean ext4 (e2fsck -n), the auto-thaws (timeout, the CLI killed before
# FROZEN, STATE off, an agent killed and started again), the failure paths,
# per-VM disable. One QEMU (dfz, CID 10). FIFREEZE runs only in the guest;
# host programs use only vmsvcd's Unix sockets, never AF_VSOCK.
#
# While the guest is frozen, guest commands here write only to /run (tmpfs).

load lib/guest
load lib/daemon
load lib/ic
load lib/hv
load lib/debpkg

HOOKS=/etc/vmsvc/freeze-hook.d

setup_file() {
	e2e_require
	if ! command -v mkfs.ext4 >/dev/null || ! command -v e2fsck >/dev/null; then
		echo "e2e: mkfs.ext4 and e2fsck are needed (e2fsprogs)" >&2
		return 1
	fi
	daemon_init
	truncate -s 64M "$E2E_ROOT/data.img"
	mkfs.ext4 -q -F -L e2edata "$E2E_ROOT/data.img"
	debpkg_guest_start dfz 10 --disk "$E2E_ROOT/data.img"
	guest_exec dfz 'mkdir -p /mnt/data && mount /dev/vdb /mnt/data && echo before >/mnt/data/seed && sync'
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	export VM=dfz
}

teardown() {
	debpkg_journal dfz
	# never leave the guest frozen for the next test
	vmsvc vm thaw dfz >/dev/null 2>&1 || true
	e2e_teardown_test
}

# fz PYEXPR: PYEXPR over f, the VM's "freeze" in vmsvcd's status.
fz() {
	vm_status "(lambda f: $1)(v.get('freeze', {}))"
}

# fz_wait STATE [SECONDS]: until the freeze state is STATE.
fz_wait() {
	local i s
	for ((i = 0; i < ${2:-10} * 10; i++)); do
		s=$(fz 'f.get("state")')
		[ "$s" = "$1" ] && return 0
		sleep 0.1
	done
	echo "# freeze state '$s', not '$1'" >&2
	return 1
}

# agent_ready: the heartbeat is OK and the VSS service is connected.
agent_ready() {
	hb_wait ok 120 >/dev/null
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(fz 'f.get("state")')" = thawed ] && return 0
		sleep 0.1
	done
	echo "# the agent's VSS service never said thawed" >&2
	return 1
}

# writable PATH [SECONDS]: a file written (and synced) under PATH in the guest
# within SECONDS (default 5): its filesystem is not frozen.
writable() {
	guest_exec -t 30 dfz "timeout -s KILL ${2:-5} sh -c 'echo ok >$1/.e2e-probe && sync -f $1/.e2e-probe' && echo writable"
}

hooks_install() { # NAME:STATUS...
	local h cmd="mkdir -p $HOOKS && rm -f $HOOKS/* /run/e2e-hooks.log"
	for h in "$@"; do
		cmd+="; printf '#!/bin/sh\necho \"${h%%:*} \$1\" >>/run/e2e-hooks.log\nexit ${h#*:}\n' >'$HOOKS/${h%%:*}' && chmod 755 '$HOOKS/${h%%:*}'"
	done
	guest_exec dfz "$cmd"
}

@test "freeze and thaw the root and the second disk: the CLI, status and vm show tell" {
	agent_ready
	run vmsvc vm freeze dfz --timeout 60
	printf '# %s\n' "${lines[@]}" >&3
	[ "$status" = 0 ]
	[[ "$output" == *"VM 'dfz': frozen"* ]]
	[[ "$output" == *"  /mnt/data"* ]]
	[ "${lines[-1]}" = "  /" ] # / last
	[ "$(fz 'f["state"]')" = frozen ]
	[ "$(fz '"/" in f["mounts"] and "/mnt/data" in f["mounts"] and 0 < f["thaw_in_ms"] <= 60000')" = True ]
	run vmsvc vm show dfz
	[[ "$output" == *"freeze:       frozen ("* ]]
	run vmsvc vm show dfz --json
	[[ "$output" == *'"state": "frozen"'* ]] || [[ "$output" == *'"state":"frozen"'* ]]
	run vmsvc vm thaw dfz
	[ "$status" = 0 ]
	[[ "$output" == *"VM 'dfz': thawed:"* ]]
	[ "$(fz 'f["state"]')" = thawed ]
	[ "$(writable /mnt/data)" = writable ]
	[ "$(writable /root)" = writable ]
	run vmsvc vm thaw dfz
	[ "$status" = 0 ]
	[[ "$output" == *"nothing was frozen"* ]]
	# the control operations themselves
	run ctl '{"op":"freeze","vm":"dfz","timeout_ms":30000,"mounts":["/mnt/data"]}'
	reply_check 'j["ok"] and j["vm"] == "dfz" and j["mounts"] == ["/mnt/data"] and j["freeze"]["state"] == "frozen" and 0 < j["freeze"]["thaw_in_ms"] <= 30000'
	run ctl '{"op":"thaw","vm":"dfz"}'
	reply_check 'j["ok"] and j["mounts"] == ["/mnt/data"] and j["freeze"]["state"] == "thawed"'
	run ctl '{"op":"freeze","vm":"dfz","timeout_ms":600001}'
	reply_check 'j["error"] == "EINVAL"'
}

@test "a write started during a freeze completes only after the thaw; a copy of the disk taken while frozen is clean ext4" {
	agent_ready
	run vmsvc vm freeze dfz --timeout 120
	[ "$status" = 0 ]
	guest_exec dfz 'rm -f /run/e2e-write-done
		(sh -c "dd if=/dev/urandom of=/mnt/data/during bs=64k count=16 2>/dev/null && sync -f /mnt/data/during"; date +%s%3N >/run/e2e-write-done) >/dev/null 2>&1 &'
	sleep 2
	run guest_exec dfz 'test -e /run/e2e-write-done && echo done || echo waiting'
	[ "$output" = waiting ]
	cp --sparse=always "$E2E_ROOT/data.img" "$E2E_ROOT/snap.img"
	run e2fsck -fn "$E2E_ROOT/snap.img"
	echo "# e2fsck -fn of the copy: $status" >&3
	[ "$status" = 0 ]
	local t0
	t0=$(date +%s%3N)
	run vmsvc vm thaw dfz
	[ "$status" = 0 ]
	run guest_exec dfz 'for i in $(seq 100); do test -e /run/e2e-write-done && exit 0; sleep 0.1; done; exit 1'
	[ "$status" = 0 ]
	echo "# the write completed $(($(date +%s%3N) - t0)) ms after the thaw was asked" >&3
	[ "$(guest_exec dfz 'stat -c %s /mnt/data/during')" = 1048576 ]
	# the copy holds the file written before the freeze
	[ "$(debugfs -R 'cat /seed' "$E2E_ROOT/snap.img" 2>/dev/null)" = before ]
	rm -f "$E2E_ROOT/snap.img"
}

@test "hooks run in name order with freeze and in reverse with thaw; backups are no hooks" {
	agent_ready
	hooks_install 10-a:0 20-b:0 '20-b~:0' 30-c.dpkg-old:0 40-d.rpmnew:0
	run vmsvc vm freeze dfz
	[ "$status" = 0 ]
	run vmsvc vm thaw dfz
	[ "$status" = 0 ]
	run guest_exec dfz 'cat /run/e2e-hooks.log'
	[ "$output" = "10-a freeze
20-b freeze
20-b thaw
10-a thaw" ]
	guest_exec dfz "rm -rf $HOOKS"
}

@test "a failing hook fails the freeze (1, the hook named) and nothing stays frozen" {
	agent_ready
	hooks_install 10-a:0 50-fail:3
	run vmsvc vm freeze dfz
	printf '# %s\n' "${lines[@]}" >&3
	[ "$status" = 1 ]
	[[ "$output" == *"hook 50-fail freeze: exit status 3"* ]]
	[[ "$output" == *"nothing is frozen"* ]]
	[ "$(fz 'f["state"]')" = thawed ]
	[ "$(writable /mnt/data)" = writable ]
	run guest_exec dfz 'cat /run/e2e-hooks.log'
	[ "$output" = "10-a freeze
50-fail freeze
10-a thaw" ]
	guest_exec dfz "rm -rf $HOOKS"
}

@test "--mount freezes only what it names; a mount that cannot be frozen fails the freeze with the reason" {
	agent_ready
	run vmsvc vm freeze dfz --mount /mnt/data --mount /proc --mount /nowhere
	printf '# %s\n' "${lines[@]}" >&3
	[ "$status" = 1 ]
	[[ "$output" == *"/proc: not a block device filesystem"* ]]
	[[ "$output" == *"/nowhere: not a mount point"* ]]
	[ "$(writable /mnt/data)" = writable ]
	run vmsvc vm freeze dfz --mount /mnt/data --timeout 60
	[ "$status" = 0 ]
	[ "$(fz 'f["mounts"]')" = "['/mnt/data']" ]
	[ "$(writable /root)" = writable ]
	run vmsvc vm thaw dfz
	[ "$status" = 0 ]
	run vmsvc vm freeze dfz --mount relative
	[ "$status" = 2 ]
}

@test "the guest thaws by itself when the timeout passes" {
	agent_ready
	run vmsvc vm freeze dfz --timeout 2
	[ "$status" = 0 ]
	[ "$(fz 'f["state"]')" = frozen ]
	fz_wait thawed 10
	[ "$(writable /mnt/data)" = writable ]
}

@test "the freeze CLI killed before FROZEN: vmsvcd sends THAW and nothing stays frozen" {
	agent_ready
	hooks_install 10-slow:0
	guest_exec dfz "sed -i 's/^exit 0/sleep 3; exit 0/' $HOOKS/10-slow"
	"$VMSVC" vm freeze dfz --timeout 300 >/dev/null 2>&1 & # not the function: $! is vmsvc
	local pid=$!
	sleep 1
	kill "$pid"
	wait "$pid" || true
	log_wait "the freeze's caller went away"
	sleep 4 # the hook ends, the agent freezes, then takes the THAW
	fz_wait thawed 10
	[ "$(writable /mnt/data)" = writable ]
	guest_exec dfz "rm -rf $HOOKS"
}

@test "turning VSS off for the VM thaws a frozen guest; a freeze then fails (125) saying how to turn it on" {
	agent_ready
	run vmsvc vm freeze dfz --timeout 300
	[ "$status" = 0 ]
	vmsvc vm integration dfz disable vss
	run guest_exec dfz 'for i in $(seq 100); do timeout -s KILL 1 touch /mnt/data/.p 2>/dev/null && exit 0; done; exit 1'
	[ "$status" = 0 ]
	run vmsvc vm freeze dfz
	[ "$status" = 125 ]
	[[ "$output" == *"vmsvc vm integration dfz enable vss"* ]]
	vmsvc vm integration dfz enable vss
	agent_ready
}

# thawed PATH: wait (50 s) until a write under PATH goes through; a write to a
# frozen filesystem waits for the thaw (uninterruptibly), so the loop
# cannot hurry it.
thawed() {
	guest_exec -t 60 dfz "timeout 50 sh -c 'until touch $1/.e2e-probe; do sleep 0.2; done' && echo thawed"
}

@test "systemctl restart vmsvc-agent while frozen: the stopping agent thaws" {
	agent_ready
	run vmsvc vm freeze dfz --timeout 600
	[ "$status" = 0 ]
	guest_exec dfz 'test -s /run/vmsvc/frozen'
	guest_exec -t 30 dfz 'systemctl restart --no-block vmsvc-agent'
	[ "$(thawed /mnt/data)" = thawed ]
	[ "$(writable /root)" = writable ]
	guest_exec dfz '! test -e /run/vmsvc/frozen'
	agent_ready
}

@test "systemctl stop vmsvc-agent during the freeze hooks: they end, the thaw hooks of those that ran run, nothing is frozen" {
	agent_ready
	hooks_install 10-a:0 20-slow:0
	guest_exec dfz "sed -i 's/^exit 0/sleep 2; exit 0/' $HOOKS/20-slow"
	"$VMSVC" vm freeze dfz --timeout 300 >/dev/null 2>&1 & # not the function: $! is vmsvc
	local pid=$!
	guest_exec dfz 'for i in $(seq 100); do grep -q "^20-slow freeze" /run/e2e-hooks.log 2>/dev/null && break; sleep 0.05; done
		systemctl stop vmsvc-agent'
	run wait "$pid"
	[ "$status" -ne 0 ] # the freeze did not happen
	run guest_exec -t 30 dfz 'for i in $(seq 200); do grep -q "^10-a thaw" /run/e2e-hooks.log && break; sleep 0.05; done
		cat /run/e2e-hooks.log; journalctl -b -u vmsvc-agent --no-pager -q -o cat | grep -c "stopping: waiting for the freeze hooks"'
	echo "$output"
	[ "${lines[0]}" = "10-a freeze" ]
	[ "${lines[1]}" = "20-slow freeze" ]
	[ "${lines[2]}" = "20-slow thaw" ]
	[ "${lines[3]}" = "10-a thaw" ]
	[ "${lines[4]}" = 1 ]
	[ "$(writable /mnt/data)" = writable ]
	guest_exec dfz "! test -e /run/vmsvc/frozen; rm -rf $HOOKS; systemctl start vmsvc-agent"
	agent_ready
}

@test "the agent's worker killed while frozen: the next worker thaws at its start (the state file in /run)" {
	agent_ready
	run vmsvc vm freeze dfz --timeout 600
	[ "$status" = 0 ]
	guest_exec dfz 'test -s /run/vmsvc/frozen && kill -KILL $(pgrep -x vmsvc-agent-ic)'
	[ "$(thawed /mnt/data)" = thawed ]
	[ "$(writable /root)" = writable ]
	guest_exec dfz '! test -e /run/vmsvc/frozen'
	run guest_exec dfz 'journalctl -b -u vmsvc-agent --no-pager -q | grep "previous agent left"'
	[ "$status" = 0 ]
	agent_ready
}

@test "one request at a time: a second freeze while one is under way is refused (125)" {
	agent_ready
	hooks_install 10-slow:0
	guest_exec dfz "sed -i 's/^exit 0/sleep 3; exit 0/' $HOOKS/10-slow"
	"$VMSVC" vm freeze dfz --timeout 60 >"$E2E_ROOT/first.out" 2>&1 &
	local pid=$!
	sleep 1
	run vmsvc vm freeze dfz
	[ "$status" = 125 ]
	[[ "$output" == *"a freeze of this VM is under way"* ]]
	wait "$pid"
	grep -q "frozen" "$E2E_ROOT/first.out"
	run vmsvc vm thaw dfz
	[ "$status" = 0 ]
	guest_exec dfz "rm -rf $HOOKS"
}

@test "no agent connected: freeze fails (125) and says what to check" {
	agent_ready
	guest_exec -t 30 dfz 'systemctl stop vmsvc-agent'
	fz_wait unknown 10
	run vmsvc vm freeze dfz
	[ "$status" = 125 ]
	[[ "$output" == *"no agent is connected to the VSS service in VM dfz"* ]]
	[[ "$output" == *"[Freeze] Enabled = yes"* ]]
	guest_exec -t 30 dfz 'systemctl start vmsvc-agent'
	agent_ready
}

@test "a user not in the VM's SessionUsers= may not freeze" {
	run as_nobody -- /usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" '{"op":"freeze","vm":"dfz"}'
	[ "$status" = 1 ]
	reply_check 'j["error"] == "EACCES" and "may not freeze VM dfz" in j["message"]'
}

@test "the whole agent killed (SIGKILL) while frozen: systemd starts it again and it thaws" {
	agent_ready
	run vmsvc vm freeze dfz --timeout 600
	[ "$status" = 0 ]
	guest_exec -t 30 dfz 'systemctl kill -s KILL vmsvc-agent'
	run thawed /mnt/data
	if [ "$output" != thawed ]; then
		guest_exec -t 20 dfz 'systemctl status vmsvc-agent --no-pager; ps -eo pid,stat,wchan:30,args | grep -v "\]$"
			for p in $(ps -eo pid=,stat= | awk "\$2 ~ /^D/ { print \$1 }"); do
				echo "--- $p $(cat /proc/$p/comm): $(tr "\0" " " </proc/$p/cmdline)"; cat /proc/$p/stack; done
			grep -E " (/|/mnt/data) " /proc/mounts' | sed 's/^/# /' >&3 || true
	fi
	[ "$output" = thawed ]
	agent_ready
}
