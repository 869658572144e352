# shellcheck shell=bash
# Helpers for the end-to-end bats tests that run the real vmsvcd (and the real
# vmsvc CLI) in a private folder, with host-side peers written in python3.
# Never opens AF_VSOCK on the host: host programs use only the daemon's Unix
# sockets (RUNDIR/vms/NAME.vsock, RUNDIR/vms/NAME.vsock_PORT).
#
#   daemon_init           make the private folder (mktemp -d, short path) once per
#                         bats file; export VMSVC_CONFIG_DIR=ROOT/etc and
#                         VMSVC_RUNTIME_DIR=ROOT/run (so `vmsvc` uses them too),
#                         and VMSVC_STATE_DIR=ROOT/state (vmsvcd's state folder,
#                         never /var/lib/vmsvc, also for a vmsvcd started directly)
#   daemon_start [ARGS]   daemon_init, then start vmsvcd --verbose --state-dir
#                         ROOT/state ARGS in the background (log: ROOT/daemon.log;
#                         the state survives daemon_stop/daemon_start); wait until
#                         control.sock and every VM's NAME.vhost and NAME.vsock
#                         exist; records the PID
#   daemon_stop           SIGTERM, wait for the exit; fail unless it exited 0,
#                         every socket it made is gone and its log has no
#                         sanitizer report
#   daemon_kill           teardown: stop the daemon if it runs (SIGTERM, then
#                         SIGKILL); returns 1 and prints its log if it did not
#                         end with status 0 or its log has a sanitizer report
#   daemon_use_test_root  for CLI tests with a TEST_ROOT (lib/common): the
#                         config and runtime folders under it as daemon_init lays
#                         them out, so that daemon_start can run vmsvcd there
#                         (CFG follows)
#   daemon_test_done      for their teardown(): daemon_kill if one was set up
#   daemon_pid, daemon_fd_count, daemon_rss_kb (VmRSS), daemon_rss_anon_kb
#   (RssAnon: its private memory), daemon_cpu_ms (user + system), daemon_log,
#   daemon_alive
#   daemon_wait_fds N     wait (5 s) until vmsvcd has N open fds; else list them
#   daemon_check_log      fail if the log has an AddressSanitizer, LeakSanitizer
#                         or UBSan report
#   daemon_check_alive    for teardown(): fail if the daemon died (unless
#                         daemon_stop ended it) or its log has such a report
#   e2e_teardown_test     for teardown(): daemon_check_alive, and after a failed
#                         test print the daemon's and the peers' log tails
#   bg LOG CMD..., wait_line LOG PATTERN
#                         background command with ROOT/LOG.out and .log,
#                         tracked for bg_stop_all; wait for PATTERN in LOG.log
#   wait_out LOG PATTERN SECONDS
#                         wait for a line matching the grep -E PATTERN in
#                         LOG.out (the stdout of a bg command)
#   host_stream LOG VM PORT SEED
#                         bg LOG: a host application streaming endlessly (the
#                         streamgen stream SEED) into the guest's PORT through
#                         VM.vsock; returns once it has the OK line
#   guest_echo VM PORT BYTES SEED [SECONDS]
#                         VM sends the streamgen stream (BYTES, SEED) to the
#                         host echo peer of VM.vsock_PORT and reads it back
#                         (vsock-tool send -t SECONDS, default 60); fails
#                         unless both SHA-256 are the stream's
#   round_trips VM HOST_PORT GUEST_PORT [SECONDS]
#                         a guest to host round trip (guest_echo of 64 KiB
#                         through a host echo peer on HOST_PORT) and a host to
#                         guest one (CONNECT to a guest echo server started on
#                         GUEST_PORT); SECONDS (default 30) bounds each
#   ms_since T0           milliseconds since T0 (date +%s%N)
#   vmsvc ARGS...         the CLI under test ($VMSVC)
#   vm_vhost NAME, vm_hybrid NAME, vm_port_path NAME PORT
#                         RUNDIR/vms/NAME.vhost, NAME.vsock, NAME.vsock_PORT
#   peer_start ID PATH MODE [ARG]
#                         host listener at PATH (python3, background, one
#                         thread per connection, log: peer_log ID). MODE:
#                           echo        echo until EOF, then SHUT_WR: "echoed N BYTES"
#                           echosha     the same, hashing what it echoes:
#                                       "echoed N BYTES sha256 HEX"
#                           sink [S]    (after S seconds) read to EOF:
#                                       "recv N BYTES sha256 HEX"
#                           source 'BYTES SEED'  send the streamgen stream,
#                                       then close: "sent N BYTES"
#                           reply TEXT  read to EOF ("got N BYTES ESCAPED"), then
#                                       send TEXT (%N = bytes received): "replied N"
#                         N counts connections from 1; every connection is
#                         first logged as "accepted N"; a failure as
#                         "error N ERRNAME BYTES"
#   peer_stop ID, peer_log ID, peer_count ID PATTERN
#   peer_wait ID PATTERN [SECONDS]  wait (default 30 s) for a log line matching
#                         the grep -E PATTERN; fail with the log otherwise
#   hybrid VM [OPTIONS]   host-to-guest client of RUNDIR/vms/VM.vsock (python3):
#                           --line TEXT   request line (default 'CONNECT 0\n';
#                                         \n, \r, \xNN escapes)
#                           --port P      same as --line 'CONNECT P\n'
#                           --early TEXT  bytes sent in the same write as the line
#                           --shut-early  shutdown(SHUT_WR) right after that write,
#                                         before the OK line (sends nothing else)
#                           --send TEXT   send TEXT after the OK line
#                           --stdin       send stdin after the OK line
#                           --no-shut     do not shutdown(SHUT_WR) after sending
#                           --sha         print "recv N sha256 HEX", not the data
#                           --timeout S   give up after S seconds (default 60)
#                         prints "line ESCAPED" (the reply line) or "noline ms=MS
#                         ESCAPED" (stream closed before a full line, exit 1),
#                         then "sent N", "data ESCAPED" or "recv N sha256 HEX",
#                         "eof ms=MS" (ms since the start); on failure
#                         "error ERRNAME ..." (exit 1), "timeout" (exit 3)
#   bg_track PID          kill PID in bg_stop_all (teardown_file)
#   bg_stop_all           stop peers and tracked PIDs (by PID)
#   e2e_require           fail (never skip) unless the binaries and host tools exist
#   e2e_teardown          guest_stop_all, bg_stop_all, daemon_kill, remove ROOT
#                         (kept when the daemon ended badly and E2E_KEEP is set)
#
# Load after lib/guest (e2e_teardown stops the guests). Environment:
# VMSVC_VMSVCD (the built daemon), VMSVC (the CLI), VMSVC_STREAMGEN (default:
# under $VMSVC_BUILD_DIR). ASAN_OPTIONS defaults to
# detect_leaks=1:abort_on_error=1.

_e2e_src() {
	if [ -n "${VMSVC_SOURCE_DIR:-}" ]; then
		echo "$VMSVC_SOURCE_DIR"
	else
		(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	fi
}

# Fails (never skips) when something the tests need is missing.
e2e_require() {
	local build
	build=${VMSVC_BUILD_DIR:-$(_e2e_src)/build}
	: "${VMSVC:=$build/cli/vmsvc}"
	: "${VMSVC_VMSVCD:=$build/daemon/vmsvcd}"
	: "${VMSVC_STREAMGEN:=$build/tests/tools/streamgen}"
	export VMSVC VMSVC_VMSVCD VMSVC_STREAMGEN
	local f
	for f in "$VMSVC" "$VMSVC_VMSVCD" "$VMSVC_STREAMGEN"; do
		[ -x "$f" ] || {
			echo "e2e: missing executable $f (build first)" >&2
			return 1
		}
	done
	for f in python3 qemu-system-x86_64 flock timeout sha256sum pgrep; do
		command -v "$f" >/dev/null || {
			echo "e2e: missing dependency: $f" >&2
			return 1
		}
	done
}

daemon_init() {
	local note=
	[ -z "${BATS_FILE_TMPDIR:-}" ] || note=$BATS_FILE_TMPDIR/vmsvc-e2e-root
	if [ -z "${E2E_ROOT:-}" ]; then
		if [ -n "$note" ] && [ -s "$note" ]; then
			E2E_ROOT=$(cat "$note")
		else
			E2E_ROOT=$(mktemp -d /tmp/vmsvc-e2e.XXXXXX) || return 1
			mkdir -p "$E2E_ROOT/peers"
			[ -z "$note" ] || echo "$E2E_ROOT" >"$note"
		fi
	fi
	export E2E_ROOT
	export VMSVC_CONFIG_DIR=$E2E_ROOT/etc VMSVC_RUNTIME_DIR=$E2E_ROOT/run
	export VMSVC_STATE_DIR=$E2E_ROOT/state
}

vmsvc() {
	"$VMSVC" "$@"
}

vm_vhost() { echo "$VMSVC_RUNTIME_DIR/vms/$1.vhost"; }
vm_hybrid() { echo "$VMSVC_RUNTIME_DIR/vms/$1.vsock"; }
vm_port_path() { echo "$VMSVC_RUNTIME_DIR/vms/$1.vsock_$2"; }

# Names of the VMs defined in vms.d.
_daemon_vms() {
	local f
	for f in "$VMSVC_CONFIG_DIR"/vms.d/*.conf; do
		[ -e "$f" ] || continue
		f=${f##*/}
		echo "${f%.conf}"
	done
}

daemon_pid() {
	cat "$E2E_ROOT/daemon.pid" 2>/dev/null
}

daemon_alive() {
	local pid st
	pid=$(daemon_pid) || return 1
	[ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ] && [ ! -e "$E2E_ROOT/daemon.rc" ]
}

daemon_log() {
	cat "$E2E_ROOT/daemon.log" 2>/dev/null
}

# _daemon_sockets: wait (up to 10 s) until the control socket and every
# defined VM's sockets exist.
_daemon_sockets() {
	local i name ok
	for ((i = 0; i < 200; i++)); do
		ok=1
		[ -S "$VMSVC_RUNTIME_DIR/control.sock" ] || ok=0
		for name in $(_daemon_vms); do
			[ -S "$(vm_vhost "$name")" ] && [ -S "$(vm_hybrid "$name")" ] || ok=0
		done
		[ "$ok" = 1 ] && return 0
		daemon_alive || break
		sleep 0.05
	done
	return 1
}

daemon_start() {
	daemon_init || return 1
	if daemon_alive; then
		echo "daemon_start: vmsvcd already runs (PID $(daemon_pid))" >&2
		return 1
	fi
	rm -f "$E2E_ROOT/daemon.pid" "$E2E_ROOT/daemon.rc"
	# A subshell stays the daemon's parent, so its exit status is known
	# even to a later test (another process than this one).
	(
		ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
			"$VMSVC_VMSVCD" --verbose --state-dir "$VMSVC_STATE_DIR" "$@" \
			</dev/null >>"$E2E_ROOT/daemon.log" 2>&1 &
		echo $! >"$E2E_ROOT/daemon.pid.tmp"
		mv "$E2E_ROOT/daemon.pid.tmp" "$E2E_ROOT/daemon.pid"
		rc=0
		wait $! || rc=$?
		echo "$rc" >"$E2E_ROOT/daemon.rc"
	) </dev/null >/dev/null 2>&1 3>&- &
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$E2E_ROOT/daemon.pid" ] && break
		sleep 0.02
	done
	if ! _daemon_sockets; then
		echo "daemon_start: vmsvcd not ready (sockets missing or it exited)" >&2
		echo "--- vmsvcd log:" >&2
		daemon_log >&2
		ls -la "$VMSVC_RUNTIME_DIR" "$VMSVC_RUNTIME_DIR/vms" >&2 2>/dev/null
		daemon_kill
		return 1
	fi
}

daemon_check_log() {
	local pat='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: [A-Za-z]*Sanitizer'
	if grep -E -q "$pat" "$E2E_ROOT/daemon.log" 2>/dev/null; then
		echo "# vmsvcd sanitizer report in $E2E_ROOT/daemon.log:" >&2
		grep -E -A40 "$pat" "$E2E_ROOT/daemon.log" | head -n 120 >&2
		return 1
	fi
}

# _daemon_wait_rc TICKS: wait up to TICKS * 50 ms for the exit status file.
_daemon_wait_rc() {
	local i
	for ((i = 0; i < $1; i++)); do
		[ -s "$E2E_ROOT/daemon.rc" ] && return 0
		sleep 0.05
	done
	return 1
}

daemon_stop() {
	local pid rc left
	pid=$(daemon_pid)
	if [ -z "$pid" ] || ! daemon_alive; then
		echo "daemon_stop: vmsvcd is not running (exit status $(cat "$E2E_ROOT/daemon.rc" 2>/dev/null))" >&2
		daemon_log | tail -n 40 >&2
		return 1
	fi
	kill -TERM "$pid"
	if ! _daemon_wait_rc 200; then
		echo "daemon_stop: vmsvcd (PID $pid) still runs 10 s after SIGTERM; killed" >&2
		kill -KILL "$pid" 2>/dev/null
		_daemon_wait_rc 100
		daemon_log | tail -n 40 >&2
		return 1
	fi
	rc=$(cat "$E2E_ROOT/daemon.rc")
	rm -f "$E2E_ROOT/daemon.pid"
	if [ "$rc" != 0 ]; then
		echo "daemon_stop: vmsvcd exited with status $rc" >&2
		daemon_log | tail -n 60 >&2
		return 1
	fi
	# Its own sockets only: host peers' NAME.vsock_PORT are not the daemon's.
	left=$(find "$VMSVC_RUNTIME_DIR" \( -name control.sock -o -name '*.vhost' \
		-o -name '*.vsock' \) 2>/dev/null)
	if [ -n "$left" ]; then
		echo "daemon_stop: sockets left behind: $left" >&2
		return 1
	fi
	daemon_check_log || return 1
	grep -q 'info: stopped' "$E2E_ROOT/daemon.log" || {
		echo "daemon_stop: no 'stopped' line in the log" >&2
		return 1
	}
}

daemon_use_test_root() {
	[ -x "${VMSVC_VMSVCD:-}" ] || {
		echo "VMSVC_VMSVCD is not set to the built vmsvcd" >&2
		return 1
	}
	export E2E_ROOT=$TEST_ROOT
	daemon_init
	# shellcheck disable=SC2034 # CFG: the config folder of lib/common's tests
	CFG=$VMSVC_CONFIG_DIR
}

daemon_test_done() {
	local rc=0
	if [ -n "${E2E_ROOT:-}" ]; then
		daemon_kill || rc=1
		unset E2E_ROOT
	fi
	return $rc
}

daemon_kill() {
	local pid
	[ -n "${E2E_ROOT:-}" ] || return 0
	pid=$(daemon_pid)
	[ -n "$pid" ] || return 0
	if daemon_alive; then
		kill -TERM "$pid" 2>/dev/null
		_daemon_wait_rc 200 || {
			kill -KILL "$pid" 2>/dev/null
			_daemon_wait_rc 100
		}
	fi
	rm -f "$E2E_ROOT/daemon.pid"
	local rc
	rc=$(cat "$E2E_ROOT/daemon.rc" 2>/dev/null)
	if [ "$rc" != 0 ] || ! daemon_check_log 2>/dev/null; then
		echo "# vmsvcd ended with status ${rc:-?}; log tail:" >&2
		daemon_log | tail -n 60 >&2
		return 1
	fi
	return 0
}

# For teardown(): unless daemon_stop ended it, the daemon must still run
# and its log must be free of sanitizer reports.
daemon_check_alive() {
	[ -n "${E2E_ROOT:-}" ] && [ -e "$E2E_ROOT/daemon.pid" ] || return 0
	if ! daemon_alive; then
		echo "# vmsvcd died (exit status $(cat "$E2E_ROOT/daemon.rc" 2>/dev/null)); log tail:" >&2
		daemon_log | tail -n 60 >&2
		return 1
	fi
	daemon_check_log
}

# For teardown(): daemon_check_alive; after a failed test also print the
# tail of the daemon's log (without queue chatter) and the peers' logs.
e2e_teardown_test() {
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "${E2E_ROOT:-}" ]; then
		echo "# --- vmsvcd log (tail):" >&2
		grep -v 'queue [01] ' "$E2E_ROOT/daemon.log" 2>/dev/null | tail -n 40 >&2
		local f
		for f in "$E2E_ROOT"/peers/*.log; do
			[ -e "$f" ] || continue
			echo "# --- peer ${f##*/} (tail):" >&2
			tail -n 10 "$f" >&2
		done
	fi
	daemon_check_alive
}

daemon_fd_count() {
	local pid
	pid=$(daemon_pid) || return 1
	find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l
}

daemon_wait_fds() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(daemon_fd_count)" = "$1" ] && return 0
		sleep 0.05
	done
	echo "# vmsvcd has $(daemon_fd_count) fds, expected $1" >&2
	ls -l "/proc/$(daemon_pid)/fd" >&2
	return 1
}

daemon_rss_kb() {
	local pid
	pid=$(daemon_pid) || return 1
	awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"
}

daemon_rss_anon_kb() {
	local pid
	pid=$(daemon_pid) || return 1
	awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status"
}

daemon_cpu_ms() {
	local pid
	pid=$(daemon_pid) || return 1
	awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$pid/stat"
}

# Whether the daemon binary is built with AddressSanitizer.
daemon_is_asan() {
	grep -q -a '__asan_init' "$VMSVC_VMSVCD" 2>/dev/null
}

bg_track() {
	echo "$1" >>"$E2E_ROOT/peers/bg.pids"
}

# bg LOG CMD...: run CMD in the background (stdout to ROOT/LOG.out, stderr to
# ROOT/LOG.log), tracked for bg_stop_all.
bg() {
	local log=$1
	shift
	"$@" </dev/null >"$E2E_ROOT/$log.out" 2>"$E2E_ROOT/$log.log" 3>&- &
	bg_track $!
}

# wait_line LOG PATTERN: wait up to 10 s for PATTERN in LOG's stderr.
wait_line() {
	local n
	for ((n = 0; n < 200; n++)); do
		grep -q -- "$2" "$E2E_ROOT/$1.log" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "# no '$2' in $1.log:" >&2
	cat "$E2E_ROOT/$1.log" >&2
	return 1
}

# wait_out LOG PATTERN SECONDS: wait for a line matching the grep -E
# PATTERN in ROOT/LOG.out (the stdout of a bg command).
wait_out() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -E -q -- "$2" "$E2E_ROOT/$1.out" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "# no /$2/ in $1.out after $3 s:" >&2
	cat "$E2E_ROOT/$1.out" "$E2E_ROOT/$1.log" >&2
	return 1
}

ms_since() {
	echo $((($(date +%s%N) - $1) / 1000000))
}

# ---- guest round trips (lib/guest's guest_exec) ----

# host_stream LOG VM PORT SEED: a host application streaming endlessly into
# the guest's PORT through VM.vsock, in the background (bg LOG; it is the
# last PID bg_track recorded); returns once it has the OK line.
host_stream() {
	# shellcheck disable=SC2016 # the positional parameters of bash -c
	bg "$1" bash -c '"$1" gen 100000000000 "$2" | python3 -u "$3" hybrid "$4" --port "$5" --stdin --timeout 120' \
		_ "$VMSVC_STREAMGEN" "$4" "$(_e2e_peer_script)" "$(vm_hybrid "$2")" "$3"
	wait_out "$1" '^line OK ' 20
}

guest_echo() {
	local vm=$1 port=$2 n=$3 seed=$4 tmo=${5:-60} sha out
	sha=$("$VMSVC_STREAMGEN" sha "$n" "$seed")
	if ! out=$(guest_exec -t $((tmo + 30)) "$vm" "vsock-tool -t $tmo send 2 $port $n $seed") ||
		[ "$out" != "sent $n sha256 $sha"$'\n'"recv $n sha256 $sha" ]; then
		echo "# $vm: the echo of $n bytes through host port $port failed: $out" >&2
		return 1
	fi
}

round_trips() {
	local vm=$1 tmo=${4:-30} out lines rc=0
	peer_start "echo-$vm" "$(vm_port_path "$vm" "$2")" echo || return 1
	guest_echo "$vm" "$2" 65536 9 "$tmo" || return 1
	guest_exec "$vm" "vsock-tool listen $3 echo >/tmp/l$3.log 2>&1 &
		wait-for /tmp/l$3.log listening" || return 1
	out=$(hybrid "$vm" --port "$3" --send 'round trip\n' --timeout "$tmo") || rc=$?
	mapfile -t lines <<<"$out"
	if [ "$rc" != 0 ] || ! [[ ${lines[0]} =~ ^line\ OK\ [0-9]+$ ]] ||
		[ "${lines[2]:-}" != 'data round trip\n' ]; then
		echo "# $vm: host->guest round trip on port $3 failed (status $rc): $out" >&2
		return 1
	fi
	peer_stop "echo-$vm"
}

# ---- host peers (python3) ----

# The peers are tests/tools/peer.py; python3 runs it directly, so that $! and
# the PID files name the peer itself.
_e2e_peer_script() { echo "$(_e2e_src)/tests/tools/peer.py"; }

peer_start() {
	local id=$1 path=$2 i
	shift 2
	[[ $id =~ ^[A-Za-z0-9_.-]+$ ]] || return 2
	peer_stop "$id"
	rm -f "$E2E_ROOT/peers/$id.log"
	echo "$path" >"$E2E_ROOT/peers/$id.path"
	python3 -u "$(_e2e_peer_script)" listen "$path" "$@" \
		</dev/null >"$E2E_ROOT/peers/$id.log" 2>&1 3>&- &
	echo $! >"$E2E_ROOT/peers/$id.pid"
	for ((i = 0; i < 200; i++)); do
		grep -q '^listening' "$E2E_ROOT/peers/$id.log" 2>/dev/null && return 0
		kill -0 "$(cat "$E2E_ROOT/peers/$id.pid")" 2>/dev/null || break
		sleep 0.05
	done
	echo "peer_start: $id did not start:" >&2
	cat "$E2E_ROOT/peers/$id.log" >&2
	return 1
}

peer_log() {
	cat "$E2E_ROOT/peers/$1.log" 2>/dev/null
}

# peer_count ID PATTERN: number of log lines matching the grep -E PATTERN.
peer_count() {
	grep -E -c -- "$2" "$E2E_ROOT/peers/$1.log" 2>/dev/null || true
}

peer_wait() {
	local id=$1 pattern=$2 secs=${3:-30} i
	for ((i = 0; i < secs * 20; i++)); do
		grep -E -q -- "$pattern" "$E2E_ROOT/peers/$id.log" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "peer_wait: no /$pattern/ in the log of $id after $secs s:" >&2
	peer_log "$id" >&2
	return 1
}

peer_stop() {
	local f=$E2E_ROOT/peers/$1.pid pid i
	[ -e "$f" ] || return 0
	pid=$(cat "$f")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$f"
	f=$E2E_ROOT/peers/$1.path
	if [ -e "$f" ]; then
		rm -f "$(cat "$f")" "$f"
	fi
}

hybrid() {
	local vm=$1
	shift
	python3 -u "$(_e2e_peer_script)" hybrid "$(vm_hybrid "$vm")" "$@"
}

bg_stop_all() {
	local f pid
	[ -n "${E2E_ROOT:-}" ] && [ -d "$E2E_ROOT/peers" ] || return 0
	for f in "$E2E_ROOT"/peers/*.pid; do
		[ -e "$f" ] || continue
		f=${f##*/}
		peer_stop "${f%.pid}"
	done
	if [ -e "$E2E_ROOT/peers/bg.pids" ]; then
		while read -r pid; do
			# Its children first (e.g. the parts of a pipeline), by PID.
			kill -KILL $(pgrep -P "$pid" 2>/dev/null) 2>/dev/null || true
			kill -KILL "$pid" 2>/dev/null || true
		done <"$E2E_ROOT/peers/bg.pids"
		rm -f "$E2E_ROOT/peers/bg.pids"
	fi
}

e2e_teardown() {
	local rc=0
	guest_stop_all
	bg_stop_all
	daemon_init
	daemon_kill || rc=1
	if [ "$rc" = 0 ] || [ -z "${E2E_KEEP:-}" ]; then
		rm -rf "$E2E_ROOT"
	fi
	[ -z "${BATS_FILE_TMPDIR:-}" ] || rm -f "$BATS_FILE_TMPDIR/vmsvc-e2e-root"
	unset E2E_ROOT
	return $rc
}
