# shellcheck shell=bash
# Helpers for the VM Session tests (tests/e2e-session*.bats): `vmsvc shell`
# on a real terminal, a tmux window on a private server. Load after lib/daemon
# (shell_script uses $VMSVC and the daemon's folders).
#
#   tmux_t ARGS...        tmux on this file's private server (-L vmsvc-e2e-PID)
#   pane_wait PATTERN     wait (10 s) until the pane of session "t" shows a line
#                         matching the grep -E PATTERN; print the pane otherwise
#   shell_script FILE fg|bg VM
#                         a bash script for the tmux window: records the
#                         terminal settings before and after 'vmsvc shell VM'
#                         (TEST_TMPDIR/before, after), TERM (term) and the
#                         status (rc); bg: runs it as a background job and
#                         writes its PID (pid)
#   shell_ended STATUS    wait (10 s) for shell_script's end, stop tmux, check
#                         the status and that the terminal settings are those
#                         from before

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
	local d=$BATS_TEST_TMPDIR vm=$3
	{
		echo "export VMSVC_RUNTIME_DIR=$VMSVC_RUNTIME_DIR VMSVC_CONFIG_DIR=$VMSVC_CONFIG_DIR"
		echo "stty -g >$d/before; echo \$TERM >$d/term"
		if [ "$2" = bg ]; then
			echo "$VMSVC shell $vm <&0 & echo \$! >$d/pid; wait \$!; echo \$? >$d/rc"
		else
			echo "$VMSVC shell $vm; echo \$? >$d/rc"
		fi
		echo "stty -g >$d/after"
		echo "sleep 60"
	} >"$1"
}

shell_ended() {
	local d=$BATS_TEST_TMPDIR i
	for ((i = 0; i < 100; i++)); do
		[ -s "$d/after" ] && break
		sleep 0.1
	done
	tmux_t kill-server
	[ "$(cat "$d/rc")" = "$1" ]
	[ "$(cat "$d/before")" = "$(cat "$d/after")" ]
}
