#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2154 # guest commands single-quoted on purpose; bats run; stderr set by bats run
# vmsvc exec and vmsvc shell against the Debian 12 systemd guest, with vmsvc
# installed into its image the way a user would (tools/mkdebian --install:
# dpkg -i of the packages tools/mkdeb builds; tools/check does it once per run): udev
# starts vmsvc-agent.service for the virtio vsock device, the
# real vmsvcd and CLI talk to it. One boot (dbs, CID 8) for the whole file.
# Host programs use only the daemon's Unix sockets: never AF_VSOCK on the host.

bats_require_minimum_version 1.5.0

load lib/guest
load lib/daemon
load lib/session
load lib/debpkg

setup_file() {
	e2e_require
	debpkg_guest_start dbs 8
	# The readiness line comes once the boot has finished: the agent has
	# been started by then, and it is listening once it logged so.
	guest_exec -t 120 dbs 'for i in $(seq 40); do
		journalctl -b -u vmsvc-agent --no-pager -q -o cat | grep -q "^vmsvc-agent.*listening on vsock port 640" && exit 0
		sleep 0.5; done; systemctl status vmsvc-agent --no-pager; exit 1'
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
}

teardown() {
	tmux_t kill-server 2>/dev/null || true
	debpkg_journal dbs
	e2e_teardown_test
}

# agent_pid: the agent's main PID, as systemd knows it.
agent_pid() {
	guest_exec dbs 'systemctl show -P MainPID vmsvc-agent'
}

@test "udev started the installed agent (its unit is static, not enabled); it logs to the journal" {
	run guest_exec dbs 'systemctl is-enabled vmsvc-agent; systemctl is-active vmsvc-agent
		readlink /proc/$(systemctl show -P MainPID vmsvc-agent)/exe
		systemctl show -P KillMode vmsvc-agent
		command -v vmsvc; command -v vmsvcd; ldconfig -p | grep -c "libvmsvc.so.0 "'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = $'static\nactive\n/usr/sbin/vmsvc-agent\nprocess\n/usr/bin/vmsvc\n/usr/sbin/vmsvcd\n1' ]
	run guest_exec dbs 'journalctl -b -u vmsvc-agent --no-pager -q -o cat'
	[[ $output == *"listening on vsock port 640 (this guest is CID 8)"* ]]
	# The installed CLI runs in the guest too (libvmsvc found by the loader).
	run guest_exec dbs 'vmsvc guid from-port 640'
	[ "$output" = 00000280-facb-11e6-bd58-64006a7986d3 ]
}

@test "exec streams output as it comes; stdout and stderr stay apart" {
	local t0 ta tb
	t0=$(date +%s%N)
	while IFS= read -r line; do
		case $line in
		a) ta=$(date +%s%N) ;;
		b) tb=$(date +%s%N) ;;
		esac
	done < <(vmsvc exec dbs -n -- bash -c 'echo a; sleep 2; echo b')
	[ -n "$ta" ] && [ -n "$tb" ]
	echo "# a after $(((ta - t0) / 1000000)) ms, b after $(((tb - t0) / 1000000)) ms" >&3
	[ $(((tb - ta) / 1000000)) -ge 1500 ]
	run --separate-stderr vmsvc exec dbs -n -- bash -c 'echo out; echo err >&2'
	[ "$status" -eq 0 ]
	[ "$output" = out ]
	[ "$stderr" = err ]
}

@test "exit status: 0, 3, 137 for kill -9, 127 with a message for a command not found" {
	run vmsvc exec dbs -n -- true
	[ "$status" -eq 0 ]
	run vmsvc exec dbs -n -- bash -c 'exit 3'
	[ "$status" -eq 3 ]
	run vmsvc exec dbs -n -- bash -c 'kill -9 $$'
	[ "$status" -eq 137 ]
	run -127 --separate-stderr vmsvc exec dbs -n -- no-such-command
	[[ $stderr == *"in VM 'dbs': 'no-such-command': command not found"* ]]
}

@test "32 MiB through stdin and back: the same SHA-256" {
	local t0 ms want got
	want=$("$VMSVC_STREAMGEN" sha 33554432 11)
	t0=$(date +%s%N)
	got=$("$VMSVC_STREAMGEN" gen 33554432 11 | "$VMSVC" exec dbs -- cat | sha256sum | cut -d' ' -f1)
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "# 32 MiB there and back in $ms ms" >&3
	[ "$got" = "$want" ]
	# and in the guest: what arrived is what was sent
	got=$("$VMSVC_STREAMGEN" gen 33554432 11 | "$VMSVC" exec dbs -- sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ]
}

@test "-u: a Debian user made with useradd: HOME, groups from /etc/group, id as the guest sees it" {
	guest_exec dbs 'id carol >/dev/null 2>&1 || {
		groupadd -g 2100 proj && useradd -m -u 2001 -s /bin/bash -G proj,users carol; }'
	run guest_exec dbs 'id carol; grep -c "^proj:x:2100:carol$" /etc/group'
	[ "$status" -eq 0 ]
	local want=${lines[0]}
	[ "${lines[1]}" = 1 ]
	run --separate-stderr vmsvc exec dbs -n -u carol -- bash -c 'id; echo $HOME $USER $SHELL; pwd; touch ~/mine && stat -c %U ~/mine'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$want" ]
	[[ ${lines[0]} == "uid=2001(carol) gid=2001(carol) groups=2001(carol),100(users),2100(proj)" ]]
	[ "${lines[1]}" = '/home/carol carol /bin/bash' ]
	[ "${lines[2]}" = /home/carol ]
	[ "${lines[3]}" = carol ]
}

@test "-w and -e" {
	FROM_HOST=hi run vmsvc exec dbs -n -w /var/log -e FOO=bar -e FROM_HOST -- \
		bash -c 'pwd; echo $FOO $FROM_HOST'
	[ "$status" -eq 0 ]
	[ "$output" = $'/var/log\nbar hi' ]
}

@test "50 concurrent execs, each with its own output and status" {
	session_concurrent_execs dbs
}

@test "vmsvc exec killed with SIGKILL: no orphan left in the guest" {
	session_no_orphans dbs
}

@test "vmsvc shell on a terminal (tmux): bash login prompt, stty size before and after a resize" {
	local d=$BATS_TEST_TMPDIR size
	command -v tmux >/dev/null || {
		echo "tmux is missing (tools/bootstrap installs it)" >&2
		return 1
	}
	shell_script "$d/run.sh" fg dbs
	tmux_t new-session -d -s t -x 100 -y 30 "bash $d/run.sh"
	pane_wait 'root@vmsvc-debian:~#$'
	tmux_t send-keys -t t 'echo T=$TERM; stty size' Enter
	size=$(tmux_t display -p -t t '#{pane_height} #{pane_width}')
	pane_wait "^$size\$"
	tmux_t capture-pane -p -t t | grep -qx "T=$(cat "$d/term")"
	tmux_t resize-window -t t -x 120 -y 40
	size=$(tmux_t display -p -t t '#{pane_height} #{pane_width}')
	[[ $size == *" 120" ]]
	tmux_t send-keys -t t 'clear; stty size' Enter
	pane_wait "^$size\$"
	tmux_t send-keys -t t 'exit 4' Enter
	shell_ended 4
}

@test "systemctl restart vmsvc-agent: a running session lives on (KillMode=process), new ones work" {
	local d=$BATS_TEST_TMPDIR pid1 pid2 cli rc=0 i
	mkfifo "$d/in"
	"$VMSVC" exec dbs -- bash -c 'read a; echo got-$a; read b; echo got-$b; exit 5' \
		<"$d/in" >"$d/out" 2>&1 3>&- &
	cli=$!
	exec 4>"$d/in"
	echo one >&4
	for ((i = 0; i < 100; i++)); do
		grep -q got-one "$d/out" && break
		sleep 0.1
	done
	grep -q got-one "$d/out"
	pid1=$(agent_pid)
	guest_exec dbs 'systemctl restart vmsvc-agent'
	pid2=$(agent_pid)
	echo "# agent PID $pid1 -> $pid2" >&3
	[ "$pid1" != "$pid2" ] && [ "$pid2" != 0 ]
	run guest_exec dbs 'systemctl is-active vmsvc-agent'
	[ "$output" = active ]
	# The old session still carries data both ways, and ends with its status.
	echo two >&4
	exec 4>&-
	wait "$cli" || rc=$?
	cat "$d/out"
	[ "$rc" = 5 ]
	[ "$(cat "$d/out")" = $'got-one\ngot-two' ]
	run guest_exec dbs 'journalctl -b -u vmsvc-agent --no-pager -q -o cat'
	[[ $output =~ "stopping: "[1-9][0-9]*" sessions keep running" ]]
	# The new agent serves new sessions.
	run vmsvc exec dbs -n -- sh -c 'echo new-$((6 * 7))'
	[ "$status" -eq 0 ]
	[ "$output" = new-42 ]
}

@test "a guest user cannot take the agent's port: vsock port 640 is privileged" {
	run guest_exec dbs 'id carol >/dev/null 2>&1 || useradd -m carol
		runuser -u carol -- socat -T 1 VSOCK-LISTEN:640 STDOUT 2>&1; echo rc=$?'
	echo "$output"
	[[ $output == *"Permission denied"* ]]
	[[ ${lines[-1]} != rc=0 ]]
	# An unprivileged port is the user's to take (socat waits for a peer).
	run guest_exec dbs 'timeout 2 runuser -u carol -- socat VSOCK-LISTEN:40640 STDOUT; echo rc=$?'
	echo "$output"
	[ "${lines[-1]}" = rc=124 ]
	# The agent still holds its port and serves.
	run vmsvc exec dbs -n -- true
	[ "$status" -eq 0 ]
}

@test "cp both ways with the installed agent: 32 MiB with the same SHA-256, a tree with links, a guest user's permissions" {
	local t=$BATS_TEST_TMPDIR sha
	head -c 33554432 /dev/urandom >"$t/big"
	sha=$(sha256sum <"$t/big" | cut -d' ' -f1)
	run --separate-stderr vmsvc cp --no-progress "$t/big" dbs:/var/tmp/
	[ "$status" -eq 0 ]
	[ "$(guest_exec dbs 'sha256sum /var/tmp/big' | cut -d' ' -f1)" = "$sha" ]
	run --separate-stderr vmsvc cp --no-progress dbs:/var/tmp/big "$t/back"
	[ "$status" -eq 0 ]
	[ "$(sha256sum <"$t/back" | cut -d' ' -f1)" = "$sha" ]
	# a tree: nested file, empty folder, a link pointing out (copied as a link)
	mkdir -p "$t/tree/a/b" "$t/tree/empty"
	echo nested >"$t/tree/a/b/f"
	ln -s ../../outside "$t/tree/a/link"
	run --separate-stderr vmsvc cp -r --no-progress "$t/tree" dbs:/var/tmp/
	[ "$status" -eq 0 ]
	run guest_exec dbs 'cd /var/tmp/tree && find . | sort && readlink a/link && cat a/b/f'
	[ "$output" = $'.\n./a\n./a/b\n./a/b/f\n./a/link\n./empty\n../../outside\nnested' ]
	# the guest user's permissions: host root mapped to carol cannot write /root
	guest_exec dbs 'id carol >/dev/null 2>&1 || useradd -m -u 2001 -s /bin/bash carol
		mkdir -p /etc/vmsvc && printf "[Users]\nroot = carol\n" >/etc/vmsvc/agent.conf'
	run --separate-stderr vmsvc cp --no-progress "$t/tree/a/b/f" dbs:/root/
	guest_exec dbs 'rm -f /etc/vmsvc/agent.conf'
	[ "$status" -eq 1 ]
	[[ $stderr == *"ermission denied"* ]]
	run guest_exec dbs 'ls -A /root | grep -c vmsvc-cp || true'
	[ "$output" = 0 ]
}
