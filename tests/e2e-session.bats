#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2034,SC2154 # guest commands single-quoted on purpose; bats run; stderr set by bats run
# vmsvc exec and vmsvc shell end to end: the real vmsvcd, the real CLI and
# the real vmsvc-agent (static) in one booted busybox test guest g1 (CID 5),
# started by the guest's /init. Host programs use only the daemon's Unix
# sockets: never AF_VSOCK on the host.

bats_require_minimum_version 1.5.0

load lib/guest
load lib/daemon
load lib/hv
load lib/session

setup_file() {
	e2e_require
	[ -x "${VMSVC_AGENT_STATIC:-}" ] || {
		echo "e2e: VMSVC_AGENT_STATIC (vmsvc-agent-static) is missing" >&2
		return 1
	}
	daemon_init
	chmod 755 "$E2E_ROOT" # nobody reaches control.sock
	vmsvc vm add g1 --cid 5 >/dev/null
	daemon_start
	g1_boot
}

# g1_boot: boot g1 with the agent; wait until the agent listens.
g1_boot() {
	guest_start g1 --vhost "$(vm_vhost g1)" --add "$VMSVC_AGENT_STATIC:/usr/sbin/vmsvc-agent"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
	guest_exec g1 'wait-for /tmp/vmsvc-agent.log "listening on vsock port 640"'
}

# agent_restart: start g1's agent again (as its /init does), with a new log.
agent_restart() {
	guest_exec g1 'vmsvc-agent --verbose </dev/null >/tmp/vmsvc-agent.log 2>&1 &'
	guest_exec g1 'wait-for /tmp/vmsvc-agent.log "listening on vsock port 640"'
}

# shell_in_tmux SLEEP [ARGS...]: vmsvc shell g1 ARGS (a background job, see
# shell_script) in a tmux window, running 'sleep SLEEP' in the guest.
shell_in_tmux() {
	local d=$BATS_TEST_TMPDIR s=$1
	shift
	shell_script "$d/run.sh" bg g1 "$@"
	tmux_t new-session -d -s t -x 100 -y 30 "bash $d/run.sh"
	pane_wait '~ #$'
	tmux_t send-keys -t t "sleep $s" Enter
	session_procs_wait g1 1 "^sleep $s \$"
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
	if [ -n "${BATS_TEST_COMPLETED:-}" ] || [ -z "$BATS_TEST_NAME" ]; then
		:
	else
		echo "# --- agent log (last 30 lines):" >&2
		guest_exec g1 'tail -n 30 /tmp/vmsvc-agent.log' >&2 || true
	fi
	e2e_teardown_test
}

@test "exec streams output as it comes: 'a' at least 1.5 s before 'b'" {
	local t0 ta tb
	t0=$(date +%s%N)
	while IFS= read -r line; do
		case $line in
		a) ta=$(date +%s%N) ;;
		b) tb=$(date +%s%N) ;;
		esac
	done < <(vmsvc exec g1 -n -- sh -c 'echo a; sleep 2; echo b')
	[ -n "$ta" ] && [ -n "$tb" ]
	echo "# a after $(((ta - t0) / 1000000)) ms, b after $(((tb - t0) / 1000000)) ms" >&3
	[ $(((tb - ta) / 1000000)) -ge 1500 ]
}

@test "stdout and stderr stay apart; the exit status is the command's" {
	run --separate-stderr vmsvc exec g1 -n -- sh -c 'echo out; echo err >&2; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" = out ]
	[ "$stderr" = err ]
}

@test "stdin is streamed and its end reaches the command; -n gives /dev/null" {
	run vmsvc exec g1 -- sh -c 'cat; echo " eof-seen"' < <(printf 'x\ny')
	[ "$status" -eq 0 ]
	[ "$output" = $'x\ny eof-seen' ]
	run vmsvc exec g1 -n -- sh -c 'cat; echo empty' < <(echo 'not read')
	[ "$status" -eq 0 ]
	[ "$output" = empty ]
}

@test "-t: a terminal (TERM set, one output stream); the end of stdin is the terminal's EOF" {
	TERM=vt100 run --separate-stderr vmsvc exec g1 -t -- \
		sh -c 'test -t 0 && test -t 1 && echo tty $TERM; echo e >&2; cat' < <(printf 'abc\n')
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ $output == *"tty vt100"* ]]
	[[ $output == *"e"* ]]
	[ "$(echo "$output" | tr -d '\r' | grep -c '^abc$')" -ge 1 ]
	run vmsvc exec g1 -- sh -c 'test -t 0 || echo no-tty' </dev/null
	[ "$output" = no-tty ]
}

@test "exit status: the code, 128+N for signal N (kill -9 = 137, SIGSEGV = 139)" {
	local rc
	for rc in 0 1 42 255; do
		run vmsvc exec g1 -n -- sh -c "exit $rc"
		[ "$status" -eq "$rc" ]
	done
	run vmsvc exec g1 -n -- sh -c 'kill -9 $$'
	[ "$status" -eq 137 ]
	run vmsvc exec g1 -n -- sh -c 'kill -SEGV $$'
	[ "$status" -eq 139 ]
}

@test "127 for a command not found, 126 for one not executable, each with a message" {
	run -127 --separate-stderr vmsvc exec g1 -n -- no-such-command arg
	[ "$status" -eq 127 ]
	[[ $stderr == *"in VM 'g1': 'no-such-command': command not found"* ]]
	[[ $stderr == *"PATH"* ]]
	run --separate-stderr vmsvc exec g1 -n -- /etc/passwd
	[ "$status" -eq 126 ]
	[[ $stderr == *"'/etc/passwd': permission denied"* ]]
	run --separate-stderr vmsvc exec g1 -n -w /no/such/dir -- true
	[ "$status" -eq 125 ]
	[[ $stderr == *"cannot enter folder '/no/such/dir' as user 'root'"* ]]
}

@test "a background process holding stdout: 'done' and 0 within 2 s" {
	local t0 ms
	t0=$(date +%s%N)
	run vmsvc exec g1 -n -- sh -c 'sleep 100 & echo done'
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "# returned after $ms ms" >&3
	[ "$status" -eq 0 ]
	[ "$output" = 'done' ]
	[ "$ms" -lt 2000 ]
	guest_exec g1 'killall sleep 2>/dev/null; true'
}

@test "signals to vmsvc exec reach the remote process group (trap prints which)" {
	local out=$BATS_TEST_TMPDIR/sig.out pid i
	"$VMSVC" exec g1 -n -- sh -c 'trap "echo got-USR1" USR1; trap "echo got-HUP" HUP
		trap "echo got-TERM; exit 3" TERM; echo ready
		while :; do sleep 0.1; done' >"$out" 2>&1 3>&- &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q ready "$out" && break
		sleep 0.1
	done
	kill -USR1 "$pid"
	for ((i = 0; i < 100; i++)); do
		grep -q got-USR1 "$out" && break
		sleep 0.1
	done
	kill -HUP "$pid"
	for ((i = 0; i < 100; i++)); do
		grep -q got-HUP "$out" && break
		sleep 0.1
	done
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	cat "$out"
	[ "$rc" -eq 3 ]
	# (the shell also reports its sleep killed by each signal: a group signal)
	[ "$(grep -E '^(ready|got-)' "$out")" = $'ready\ngot-USR1\ngot-HUP\ngot-TERM' ]
}

@test "vmsvc exec killed with SIGKILL: the remote command is gone within a few seconds" {
	session_no_orphans g1
}

@test "--timeout: SIGHUP, then the exit status 124 with a message" {
	local t0 ms
	t0=$(date +%s%N)
	run --separate-stderr vmsvc exec g1 -n --timeout 1 -- sleep 30
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$status" -eq 124 ]
	[[ $stderr == *"ran longer than --timeout (1 s)"* ]]
	[ "$ms" -lt 4000 ]
	# A command that ignores SIGHUP is killed 2 s later.
	run vmsvc exec g1 -n --timeout 0.5 -- sh -c 'trap "" HUP; sleep 30'
	[ "$status" -eq 124 ]
}

@test "-u by name: the user's ids, groups, HOME, USER, LOGNAME and home folder" {
	guest_exec g1 'grep -q ^alice: /etc/passwd || {
		echo "alice:x:1000:1000:Alice:/home/alice:/bin/sh" >>/etc/passwd
		echo "alice:x:1000:" >>/etc/group
		echo "staff:x:50:bob,alice" >>/etc/group
		mkdir -p /home/alice && chown 1000:1000 /home/alice; }'
	run vmsvc exec g1 -n -u alice -- sh -c 'echo $USER $LOGNAME $HOME $SHELL; id -u; id -G; pwd'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 'alice alice /home/alice /bin/sh' ]
	[ "${lines[1]}" = 1000 ]
	[ "${lines[2]}" = '1000 50' ]
	[ "${lines[3]}" = /home/alice ]
	run vmsvc exec g1 -n -u 1000 -- id -un
	[ "$output" = alice ]
	run --separate-stderr vmsvc exec g1 -n -u nosuchuser -- true
	[ "$status" -eq 125 ]
	[[ $stderr == *"no user 'nosuchuser' in this guest"* ]]
}

@test "-w, -e (as env does: added or replaced), -e NAME passes ours" {
	FROM_HOST=hello run vmsvc exec g1 -n -w /tmp -e FOO=bar -e HOME=/x -e FROM_HOST -- \
		sh -c 'pwd; echo $FOO $HOME $FROM_HOST'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = /tmp ]
	[ "${lines[1]}" = 'bar /x hello' ]
}

@test "usage errors exit 2" {
	run vmsvc exec
	[ "$status" -eq 2 ]
	run vmsvc exec g1
	[ "$status" -eq 2 ]
	run vmsvc exec g1 -t -T -- true
	[ "$status" -eq 2 ]
	run vmsvc exec g1 --timeout x -- true
	[ "$status" -eq 2 ]
	run vmsvc shell
	[ "$status" -eq 2 ]
	run vmsvc exec --help
	[ "$status" -eq 0 ]
	[[ $output == *"127 CMD not found"* ]]
	run vmsvc shell --help
	[ "$status" -eq 0 ]
}

@test "a host user vmsvcd does not permit (nobody): 125 with vmsvcd's reason" {
	run --separate-stderr as_nobody -- "$VMSVC" exec g1 -n -- true
	[ "$status" -eq 125 ]
	[[ $stderr == *"nobody (uid 65534) may not open sessions in VM g1"* ]]
	run --separate-stderr vmsvc exec nosuchvm -n -- true
	[ "$status" -eq 125 ]
	[[ $stderr == *"no VM 'nosuchvm'"* ]]
}

@test "the agent's policy: the user map and Exec=no refuse with the host user named" {
	guest_exec g1 'mkdir -p /etc/vmsvc; printf "[Users]\nroot = alice\n" >/etc/vmsvc/agent.conf'
	run --separate-stderr vmsvc exec g1 -n -u root -- true
	[ "$status" -eq 125 ]
	[[ $stderr == *"VM 'g1' refused: host user 'root' (uid 0) may not run as guest user 'root'"* ]]
	run vmsvc exec g1 -n -- id -un
	[ "$output" = alice ]
	guest_exec g1 'printf "[Session]\nExec = no\n" >/etc/vmsvc/agent.conf'
	run --separate-stderr vmsvc exec g1 -n -- true
	[ "$status" -eq 125 ]
	[[ $stderr == *"host user 'root' (uid 0) may not run commands in this guest: Exec=no"* ]]
	guest_exec g1 'printf "[Session]\nExec = maybe\n" >/etc/vmsvc/agent.conf'
	run --separate-stderr vmsvc exec g1 -n -- true
	[ "$status" -eq 125 ]
	[[ $stderr == *"/etc/vmsvc/agent.conf:2: Exec = 'maybe'"* ]]
	guest_exec g1 'rm /etc/vmsvc/agent.conf'
	run vmsvc exec g1 -n -- true
	[ "$status" -eq 0 ]
}

@test "the agent refuses connections from inside the guest (vsock loopback, its own CID)" {
	local before
	before=$(guest_exec g1 'grep -c "refused a connection from CID 1 port" /tmp/vmsvc-agent.log || true')
	# Both go through the loopback transport, which reports the peer as CID 1.
	run guest_exec g1 'echo hi | socat -t 2 - VSOCK-CONNECT:1:640; echo rc=$?
		echo hi | socat -t 2 - VSOCK-CONNECT:5:640; echo rc=$?'
	echo "$output"
	[ "$(echo "$output" | grep -c '^rc=')" = 2 ]
	run guest_exec g1 'grep "refused a connection from CID 1 port" /tmp/vmsvc-agent.log'
	echo "$output"
	[ "${#lines[@]}" -eq $((before + 2)) ]
	[[ ${lines[-1]} == *": vsock loopback (a process in this guest)" ]]
}

@test "1000 short commands, random output lengths and exit codes, all exact" {
	local i n rc out got t0 ms fails=0
	RANDOM=42
	t0=$(date +%s%N)
	for ((i = 0; i < 1000; i++)); do
		n=$((RANDOM % 3000))
		rc=$((RANDOM % 256))
		got=0
		out=$("$VMSVC" exec g1 -n -- sh -c "printf '%${n}s' ''; exit $rc") || got=$?
		if [ "$got" != "$rc" ] || [ "${#out}" != "$n" ]; then
			echo "command $i: status $got (want $rc), ${#out} bytes (want $n)"
			fails=$((fails + 1))
		fi
	done
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "# 1000 execs in $ms ms ($((ms / 1000)) ms each)" >&3
	[ "$fails" = 0 ]
}

# 256 MiB (not 64): about 10 s under TCG here (64 MiB took 2.5 s).
@test "256 MiB through stdin and back: the same SHA-256" {
	local t0 ms want got
	want=$("$VMSVC_STREAMGEN" sha 268435456 9)
	t0=$(date +%s%N)
	got=$("$VMSVC_STREAMGEN" gen 268435456 9 | "$VMSVC" exec g1 -- cat | sha256sum | cut -d' ' -f1)
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "# 256 MiB there and back in $ms ms ($((256 * 1000 / (ms + 1))) MiB/s)" >&3
	[ "$got" = "$want" ]
}

@test "50 concurrent execs, each with its own output and status" {
	session_concurrent_execs g1
}

@test "vmsvc shell on a terminal (tmux): TERM, size and resize, Ctrl-C, exit status, terminal restored" {
	local d=$BATS_TEST_TMPDIR size
	command -v tmux >/dev/null || {
		echo "tmux is missing (tools/bootstrap installs it)" >&2
		return 1
	}
	shell_script "$d/run.sh" fg g1
	tmux_t new-session -d -s t -x 100 -y 30 "bash $d/run.sh"
	pane_wait '~ #$'
	tmux_t send-keys -t t 'echo T=$TERM; stty size' Enter
	size=$(tmux_t display -p -t t '#{pane_height} #{pane_width}')
	pane_wait "^$size\$"
	tmux_t capture-pane -p -t t | grep -qx "T=$(cat "$d/term")"
	tmux_t resize-window -t t -x 120 -y 40
	size=$(tmux_t display -p -t t '#{pane_height} #{pane_width}')
	[[ $size == *" 120" ]]
	tmux_t send-keys -t t 'clear; stty size' Enter
	pane_wait "^$size\$"
	# Ctrl-C stops the guest's foreground job, not the session.
	tmux_t send-keys -t t 'sleep 100' Enter
	sleep 1
	tmux_t send-keys -t t C-c
	tmux_t send-keys -t t 'echo alive-$?' Enter
	pane_wait '^alive-130$'
	tmux_t send-keys -t t 'exit 3' Enter
	shell_ended 3
}

@test "vmsvc shell ended by SIGTERM: status 143, terminal restored, the guest's shell hung up" {
	shell_in_tmux 400
	kill -TERM "$(cat "$BATS_TEST_TMPDIR/pid")"
	shell_ended 143
	session_procs_wait g1 0 '^sleep 400 $'
}

@test "vmsvc shell ended by SIGHUP: status 129, terminal restored, the guest's shell hung up" {
	shell_in_tmux 401
	kill -HUP "$(cat "$BATS_TEST_TMPDIR/pid")"
	shell_ended 129
	session_procs_wait g1 0 '^sleep 401 $'
}

@test "vmsvc shell's terminal closed (tmux killed): vmsvc ends, the guest's shell hung up" {
	local pid i
	shell_in_tmux 402
	pid=$(cat "$BATS_TEST_TMPDIR/pid")
	tmux_t kill-server
	for ((i = 0; i < 100; i++)); do
		_guest_alive "$pid" || break
		sleep 0.1
	done
	[ "$i" -lt 100 ]
	session_procs_wait g1 0 '^sleep 402 $'
}

@test "vmsvc shell -u with an unknown user: refused in raw mode, 125, the agent's reason on a line of its own, terminal restored" {
	local d=$BATS_TEST_TMPDIR
	shell_script "$d/run.sh" fg g1 -u nosuchuser
	tmux_t new-session -d -s t -x 100 -y 30 "bash $d/run.sh"
	shell_ended 125
	cat "$d/pane"
	grep -q "^vmsvc: in VM 'g1': no user 'nosuchuser' in this guest" "$d/pane"
	grep -qx 'shell-ended' "$d/pane"
}

@test "vmsvc shell when the guest's agent is killed (kill -9) mid-session: 125 with a message, terminal restored" {
	local d=$BATS_TEST_TMPDIR
	shell_in_tmux 403
	guest_exec g1 'killall -9 vmsvc-agent'
	run shell_ended 125
	agent_restart
	cat "$d/pane"
	[ "$status" -eq 0 ]
	grep -q "^vmsvc: the connection to VM 'g1' ended before the command finished" "$d/pane"
	grep -qx 'shell-ended' "$d/pane"
	session_procs_wait g1 0 '^sleep 403 $'
	run vmsvc exec g1 -n -- echo back
	[ "$output" = back ]
}

@test "an allowed non-root host user (SessionUsers=nobody) runs only as the guest user the agent maps it to" {
	guest_exec g1 'grep -q ^alice: /etc/passwd || {
		echo "alice:x:1000:1000:Alice:/home/alice:/bin/sh" >>/etc/passwd
		echo "alice:x:1000:" >>/etc/group
		mkdir -p /home/alice && chown 1000:1000 /home/alice; }
		rm -f /etc/vmsvc/agent.conf'
	echo "SessionUsers=nobody" >>"$VMSVC_CONFIG_DIR/vms.d/g1.conf"
	local i
	# vmsvcd takes the change without a restart; until then: 125 from vmsvcd
	for ((i = 0; i < 50; i++)); do
		run --separate-stderr as_nobody -- "$VMSVC" exec g1 -n -- id -un
		[[ $stderr != *"may not open sessions"* ]] && break
		sleep 0.1
	done
	# vmsvcd lets nobody in; the agent's default maps no guest user to it
	[ "$status" -eq 125 ]
	[[ $stderr == *"host user 'nobody' (uid 65534) may run as no guest user: map it in [Users]"* ]]
	guest_exec g1 'mkdir -p /etc/vmsvc; printf "[Users]\nnobody = alice\n" >/etc/vmsvc/agent.conf'
	run --separate-stderr as_nobody -- "$VMSVC" exec g1 -n -- sh -c 'id -un; echo $HOME'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = alice ]
	[ "${lines[1]}" = /home/alice ]
	run --separate-stderr as_nobody -- "$VMSVC" exec g1 -n -u root -- true
	[ "$status" -eq 125 ]
	[[ $stderr == *"host user 'nobody' (uid 65534) may not run as guest user 'root'"* ]]
	guest_exec g1 'rm -f /etc/vmsvc/agent.conf'
	sed -i '/^SessionUsers=/d' "$VMSVC_CONFIG_DIR/vms.d/g1.conf"
}

@test "the VM Session Service disabled: exec fails at once (125) saying how to turn it on; enabled: it works" {
	vmsvc service disable "VM Session Service"
	run --separate-stderr vmsvc exec g1 -n -- true
	vmsvc service enable "VM Session Service"
	[ "$status" -eq 125 ]
	[[ $stderr == *"the VM Session Service is disabled in the registry; turn it on with 'vmsvc service enable \"VM Session Service\"'"* ]]
	run vmsvc exec g1 -n -- echo back
	[ "$status" -eq 0 ]
	[ "$output" = back ]
}

@test "SIGINT, SIGQUIT and SIGUSR2 reach the remote process group too" {
	local out=$BATS_TEST_TMPDIR/sig2.out pid i s
	"$VMSVC" exec g1 -n -- sh -c 'for s in INT QUIT USR2; do trap "echo got-$s" $s; done
		echo ready; while :; do sleep 0.1; done' >"$out" 2>&1 3>&- &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q ready "$out" && break
		sleep 0.1
	done
	for s in INT QUIT USR2; do
		kill -"$s" "$pid"
		for ((i = 0; i < 100; i++)); do
			grep -q "got-$s" "$out" && break
			sleep 0.1
		done
	done
	kill -TERM "$pid"
	wait "$pid" || true
	[ "$(grep -E '^(ready|got-)' "$out")" = $'ready\ngot-INT\ngot-QUIT\ngot-USR2' ]
}

@test "on a host terminal: a PTY by default, -T forbids one" {
	local cmd="sh -c '[ -t 1 ] && echo tty || echo notty'"
	run script -q -e -c "$VMSVC exec g1 -- $cmd" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *tty* && "$output" != *notty* ]]
	run script -q -e -c "$VMSVC exec g1 -T -- $cmd" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *notty* ]]
}

# Last: it restarts vmsvcd and reboots g1 (QEMU does not reconnect to a new
# vhost-user backend).
@test "vmsvc shell when vmsvcd is killed (SIGKILL) mid-session: 125 with a message, terminal restored" {
	local d=$BATS_TEST_TMPDIR i
	shell_in_tmux 404
	kill -KILL "$(daemon_pid)"
	run shell_ended 125
	# vmsvcd back (its sockets made anew), g1 rebooted for the next tests
	for ((i = 0; i < 100; i++)); do
		[ -s "$E2E_ROOT/daemon.rc" ] && break
		sleep 0.1
	done
	rm -f "$VMSVC_RUNTIME_DIR/control.sock" "$(vm_vhost g1)" "$(vm_hybrid g1)"
	daemon_start
	guest_stop g1
	g1_boot
	cat "$d/pane"
	[ "$status" -eq 0 ]
	grep -q "^vmsvc: the connection to VM 'g1' ended before the command finished" "$d/pane"
	grep -qx 'shell-ended' "$d/pane"
	run vmsvc exec g1 -n -- echo back
	[ "$output" = back ]
}
