# shellcheck shell=bash
# Helpers for the VM Session tests (tests/e2e-session*.bats): `vmsvc shell`
# on a real terminal, a tmux window on a private server. Load after lib/daemon
# (shell_script uses $VMSVC and the daemon's folders).
#
#   tmux_t ARGS...        tmux on this file's private server (-L vmsvc-e2e-PID)
#   pane_wait PATTERN     wait (10 s) until the pane of session "t" shows a line
#                         matching the grep -E PATTERN; print the pane otherwise
#   shell_script FILE fg|bg VM [ARGS...]
#                         a bash script for the tmux window: records the
#                         terminal settings before and after 'vmsvc shell VM
#                         ARGS' (TEST_TMPDIR/before, after), TERM (term) and
#                         the status (rc); bg: runs it as a background job and
#                         writes its PID (pid); then prints shell-ended
#   shell_ended STATUS    wait (30 s) for shell_script's end, save the pane
#                         (TEST_TMPDIR/pane) once it shows shell-ended, stop
#                         tmux, check the status and that the terminal
#                         settings are those from before
#   session_procs VM PATTERN
#                         how many processes in VM have a command line
#                         (arguments joined by spaces, a space after the
#                         last) matching the grep -E PATTERN (from /proc, so
#                         busybox and Debian count alike)
#   session_procs_wait VM N PATTERN
#                         wait (10 s) until session_procs VM PATTERN is N
#
# Tests shared by the busybox and the Debian guest (each takes the VM name):
#   session_concurrent_execs VM
#                         50 concurrent execs, each with its own output and status
#   session_no_orphans VM vmsvc exec killed with SIGKILL: the remote command and
#                         its background child are gone within 10 s, and the
#                         agent logged that the host closed the session

tmux_t() {
	tmux -L "vmsvc-e2e-$$" -f /dev/null "$@"
}

pane_wait() {
	local i
	for ((i = 0; i < 100; i++)); do
		tmux_t capture-pane -p -t t | grep -Eq "$1" && return 0
		sleep 0.1
	done
	echo "# pane without '$1':" >&2
	tmux_t capture-pane -p -t t >&2
	return 1
}

shell_script() {
	local d=$BATS_TEST_TMPDIR file=$1 mode=$2 args
	shift 2
	printf -v args ' %q' "$@"
	{
		echo "export VMSVC_RUNTIME_DIR=$VMSVC_RUNTIME_DIR VMSVC_CONFIG_DIR=$VMSVC_CONFIG_DIR"
		echo "stty -g >$d/before; echo \$TERM >$d/term"
		if [ "$mode" = bg ]; then
			echo "$VMSVC shell$args <&0 & echo \$! >$d/pid; wait \$!; echo \$? >$d/rc"
		else
			echo "$VMSVC shell$args; echo \$? >$d/rc"
		fi
		echo "echo shell-ended; stty -g >$d/after"
		echo "sleep 60"
	} >"$file"
}

shell_ended() {
	local d=$BATS_TEST_TMPDIR i
	for ((i = 0; i < 300; i++)); do
		[ -s "$d/after" ] && break
		sleep 0.1
	done
	pane_wait '^ *shell-ended$' || true
	tmux_t capture-pane -p -t t >"$d/pane"
	tmux_t kill-server
	[ "$(cat "$d/rc")" = "$1" ]
	[ "$(cat "$d/before")" = "$(cat "$d/after")" ]
}

session_procs() {
	guest_exec "$1" "for f in /proc/[0-9]*/cmdline; do
		tr '\\0' ' ' <\$f 2>/dev/null; echo; done | grep -Ec '$2' || true"
}

session_procs_wait() {
	local i n
	for ((i = 0; i < 50; i++)); do
		n=$(session_procs "$1" "$3")
		[ "$n" = "$2" ] && return 0
		sleep 0.2
	done
	echo "# $n processes in $1 match '$3', not $2" >&2
	return 1
}

session_concurrent_execs() {
	local vm=$1 i pids=() d=$BATS_TEST_TMPDIR
	for ((i = 0; i < 50; i++)); do
		"$VMSVC" exec "$vm" -n -- sh -c "echo out-$i; echo err-$i >&2; exit $i" \
			>"$d/o$i" 2>"$d/e$i" 3>&- &
		pids+=($!)
	done
	for ((i = 0; i < 50; i++)); do
		local rc=0
		wait "${pids[$i]}" || rc=$?
		[ "$rc" = "$i" ] || {
			echo "exec $i: status $rc"
			cat "$d/o$i" "$d/e$i"
			return 1
		}
		[ "$(cat "$d/o$i")" = "out-$i" ]
		[ "$(cat "$d/e$i")" = "err-$i" ]
	done
}

session_no_orphans() {
	local vm=$1 pid i left pat='^sleep 31[01] $'
	"$VMSVC" exec "$vm" -n -- sh -c 'sleep 310 & sleep 311' >/dev/null 2>&1 3>&- &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		[ "$(session_procs "$vm" "$pat")" = 2 ] && break
		sleep 0.1
	done
	[ "$i" -lt 100 ]
	kill -KILL "$pid"
	wait "$pid" || true
	for ((i = 0; i < 50; i++)); do
		left=$(session_procs "$vm" "$pat")
		[ "$left" = 0 ] && break
		sleep 0.2
	done
	echo "# remote sleeps gone after about $((i * 200)) ms" >&3
	[ "$left" = 0 ]
	# The busybox guest's agent logs to a file, the Debian guest's to the journal.
	guest_exec "$vm" 'if [ -e /tmp/vmsvc-agent.log ]; then cat /tmp/vmsvc-agent.log
		else journalctl -b -u vmsvc-agent --no-pager -q; fi' |
		grep -q 'the host closed the session'
}
