# shellcheck shell=bash
# Helpers for bats tests that boot the vmsvc test guest (tools/run-guest) and
# drive it through its control channel (serial ttyS1, see tests/guest/init).
#
#   guest_start NAME [--debian] [--vhost PATH] [--net] [run-guest options...]
#       boot a guest in the background; waits (GUEST_BOOT_TIMEOUT, 60 s; 300 s
#       with --debian) for VMSVC-GUEST-READY on its console, fails with the
#       serial log otherwise. --debian: the Debian 12 systemd guest
#       (tools/mkdebian, run first: a no-op when up to date), whose
#       vmsvc-test-control.service speaks the same control protocol
#   guest_exec [-t SECONDS] NAME CMD...
#       run CMD (joined with spaces; may span lines) with sh -c in the guest; prints
#       its stdout+stderr, returns its exit status (124: no reply in time,
#       default GUEST_EXEC_TIMEOUT 60 s; 125: channel error). Background jobs
#       must redirect their output: `guest_exec vm 'srv >/tmp/srv.log 2>&1 &'`
#   guest_wait_file NAME FILE PATTERN SECONDS
#                         poll (every 0.2 s) until the guest's FILE has a line
#                         matching the grep -E PATTERN; print it (else fail,
#                         showing FILE)
#   guest_stop NAME       poweroff -f, then kill by PID if needed; always ends QEMU
#   guest_poweroff NAME [SECONDS]
#                         poweroff -f and wait (10 s) for QEMU to end by itself;
#                         1 if it did not (guest_stop then ends it)
#   guest_stop_all        stop every guest this file started (for teardown_file)
#   guest_cid NAME        the guest's CID, or "none" without a vsock device
#   guest_boot_ms NAME    milliseconds from start to readiness
#   guest_log NAME        the serial console log so far
#   guest_state_dir NAME  folder with pid, qemu.pid, ctl, serial.log, run.log
#
#   guest_debian_dir      the Debian guest's folder (rootfs.ext4, ssh/id_ed25519...)
#
# Environment: VMSVC_SOURCE_DIR (else found from this file), VMSVC_GUEST_DIR
# (else $VMSVC_BUILD_DIR/guest, else SOURCE/build/guest), VMSVC_DEBIAN_DIR
# (else SOURCE/build/debian: one for every build folder), GUEST_TIMEOUT (hard
# limit of each QEMU, default 600 s). Never uses AF_VSOCK on the host.

_guest_src() {
	if [ -n "${VMSVC_SOURCE_DIR:-}" ]; then
		echo "$VMSVC_SOURCE_DIR"
	else
		(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	fi
}

_guest_images() {
	if [ -n "${VMSVC_GUEST_DIR:-}" ]; then
		echo "$VMSVC_GUEST_DIR"
	elif [ -n "${VMSVC_BUILD_DIR:-}" ]; then
		echo "$VMSVC_BUILD_DIR/guest"
	else
		echo "$(_guest_src)/build/guest"
	fi
}

guest_debian_dir() {
	if [ -n "${VMSVC_DEBIAN_DIR:-}" ]; then
		echo "$VMSVC_DEBIAN_DIR"
	else
		echo "$(_guest_src)/build/debian"
	fi
}

# Short per-file state folder (unix socket paths must stay < 108 bytes),
# remembered in BATS_FILE_TMPDIR so setup_file, tests and teardown_file agree.
# Outside bats, the exported VMSVC_GUEST_STATE alone carries it.
_guest_root() {
	local note=
	[ -z "${BATS_FILE_TMPDIR:-}" ] || note=$BATS_FILE_TMPDIR/vmsvc-guest-root
	if [ -z "${VMSVC_GUEST_STATE:-}" ]; then
		if [ -n "$note" ] && [ -s "$note" ]; then
			VMSVC_GUEST_STATE=$(cat "$note")
		else
			VMSVC_GUEST_STATE=$(mktemp -d /tmp/vmsvc-g.XXXXXX) || return 1
			[ -z "$note" ] || echo "$VMSVC_GUEST_STATE" >"$note"
		fi
		export VMSVC_GUEST_STATE
	fi
	echo "$VMSVC_GUEST_STATE"
}

# _guest_d NAME: set _GUEST_D to NAME's state folder, in the current shell
# (so that a new VMSVC_GUEST_STATE is exported to later calls).
_guest_d() {
	[[ ${1:-} =~ ^[A-Za-z0-9_.-]+$ ]] || {
		echo "guest: bad guest name '${1:-}'" >&2
		return 2
	}
	[ -n "${VMSVC_GUEST_STATE:-}" ] || _guest_root >/dev/null || return 1
	_GUEST_D=$VMSVC_GUEST_STATE/$1
}

guest_state_dir() {
	_guest_d "${1:-}" || return 2
	echo "$_GUEST_D"
}

# _guest_alive PID: running and not a zombie.
_guest_alive() {
	local st
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ]
}

_guest_fail() { # DIR MESSAGE
	{
		echo "guest: $2"
		echo "--- run-guest output ($1/run.log):"
		cat "$1/run.log" 2>/dev/null
		echo "--- serial console ($1/serial.log, last 60 lines):"
		tail -n 60 "$1/serial.log" 2>/dev/null
		echo "---"
	} >&2
}

guest_start() {
	local name=${1:-} d src images start now pid i limit a debian=0 boot_s=60
	local where=()
	shift || true
	_guest_d "$name" || return 2
	d=$_GUEST_D
	if [ -e "$d/pid" ] && _guest_alive "$(cat "$d/pid")"; then
		echo "guest: $name is already running" >&2
		return 1
	fi
	for a in "$@"; do
		[ "$a" = --debian ] && debian=1
	done
	src=$(_guest_src)
	if [ "$debian" = 1 ]; then
		images=$(guest_debian_dir)
		"$src/tools/mkdebian" "$images" || return 1
		where=(--debian-dir "$images")
		boot_s=300
	else
		images=$(_guest_images)
		"$src/tools/mkguest" "$images" || return 1
		where=(--guest-dir "$images")
	fi
	boot_s=${GUEST_BOOT_TIMEOUT:-$boot_s}
	rm -rf "$d"
	mkdir -p "$d"
	start=$(date +%s%N)
	"$src/tools/run-guest" --name "$name" "${where[@]}" \
		--ctl "$d/ctl" --log "$d/serial.log" --pidfile "$d/qemu.pid" \
		--timeout "${GUEST_TIMEOUT:-600}" "$@" \
		</dev/null >"$d/run.log" 2>&1 3>&- &
	pid=$!
	echo "$pid" >"$d/pid"
	limit=$((boot_s * 20))
	for ((i = 0; i < limit; i++)); do
		if grep -q '^VMSVC-GUEST-READY' "$d/serial.log" 2>/dev/null; then
			now=$(date +%s%N)
			echo $(((now - start) / 1000000)) >"$d/boot_ms"
			sed -n 's/^VMSVC-GUEST-READY cid=\([0-9a-z]*\).*/\1/p' "$d/serial.log" |
				head -n 1 >"$d/cid"
			return 0
		fi
		if ! _guest_alive "$pid"; then
			_guest_fail "$d" "$name: QEMU exited before the guest was ready"
			return 1
		fi
		sleep 0.05
	done
	_guest_fail "$d" "$name: not ready within $boot_s s"
	guest_stop "$name"
	return 1
}

# Client of the control channel: sends one tagged command line, prints the
# output up to the matching end marker, exits with the command's status.
# argv: SOCKET TIMEOUT MODE(exec|send) COMMAND
_guest_ctl_py='
import os, re, secrets, socket, sys, time
path, tmo, mode, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
deadline = time.monotonic() + tmo
def left():
    return max(0.01, deadline - time.monotonic())
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
while True:
    try:
        s.settimeout(left())
        s.connect(path)
        break
    except OSError as e:
        if time.monotonic() >= deadline:
            sys.stderr.write("guest_exec: cannot connect to %s: %s\n" % (path, e))
            sys.exit(125)
        time.sleep(0.05)
tag = secrets.token_hex(6)
import base64
s.sendall(("@@B64 %s@@ %s\n" % (tag, base64.b64encode(cmd.encode()).decode())).encode())
end = re.compile(rb"@@VMSVC-END (\d+) " + tag.encode() + rb"@@\n")
buf = b""
m = None
while m is None:
    if time.monotonic() >= deadline:
        if mode == "send":
            sys.exit(0)
        sys.stdout.buffer.write(buf)
        sys.stderr.write("\nguest_exec: no reply within %gs to: %s\n" % (tmo, cmd))
        sys.exit(124)
    s.settimeout(left())
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    except OSError as e:
        d = b""
    if not d:
        if mode == "send":
            sys.exit(0)
        sys.stdout.buffer.write(buf)
        sys.stderr.write("\nguest_exec: channel closed (guest gone?) during: %s\n" % cmd)
        sys.exit(125)
    buf += d
    m = end.search(buf, max(0, len(buf) - len(d) - 64))
out = buf[:m.start()]
stale = list(re.finditer(rb"@@VMSVC-END \d+( [0-9a-f]+)?@@\n", out))
if stale:
    out = out[stale[-1].end():]
out = re.sub(rb"\AVMSVC-GUEST-READY[^\n]*\n", b"", out)
sys.stdout.buffer.write(out)
sys.exit(int(m.group(1)))
'

guest_exec() {
	local tmo=${GUEST_EXEC_TIMEOUT:-60} name d cmd
	if [ "${1:-}" = -t ]; then
		tmo=$2
		shift 2
	fi
	name=${1:-}
	shift || true
	_guest_d "$name" || return 2
	d=$_GUEST_D
	cmd="$*"
	if [ ! -S "$d/ctl" ]; then
		echo "guest_exec: $name is not running (no $d/ctl)" >&2
		return 125
	fi
	# One client at a time: QEMU serves a single connection per chardev.
	flock -w "$tmo" "$d/ctl.lock" \
		python3 -c "$_guest_ctl_py" "$d/ctl" "$tmo" exec "$cmd"
}

# _guest_wait_gone PID TICKS: wait up to TICKS * 50 ms for PID to end.
_guest_wait_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		_guest_alive "$1" || return 0
		sleep 0.05
	done
	! _guest_alive "$1"
}

guest_wait_file() {
	local i out
	for ((i = 0; i < $4 * 5; i++)); do
		out=$(guest_exec "$1" "grep -E -m1 -- '$3' $2") && {
			echo "$out"
			return 0
		}
		sleep 0.2
	done
	echo "# no /$3/ in the guest's $2 after $4 s:" >&2
	guest_exec "$1" "cat $2" >&2
	return 1
}

# guest_poweroff NAME [SECONDS]: ask the guest to power off (poweroff -f) and
# wait (default 10 s) for its QEMU to end; 1 if it still runs (never kills:
# guest_stop does).
guest_poweroff() {
	local name=${1:-} d pid
	_guest_d "$name" || return 2
	d=$_GUEST_D
	pid=$(cat "$d/pid" 2>/dev/null) || return 1
	flock -w 5 "$d/ctl.lock" \
		python3 -c "$_guest_ctl_py" "$d/ctl" 5 send 'poweroff -f' || true
	_guest_wait_gone "$pid" $((${2:-10} * 20))
}

guest_stop() {
	local name=${1:-} d pid qpid
	_guest_d "$name" || return 2
	d=$_GUEST_D
	[ -e "$d/pid" ] || return 0
	pid=$(cat "$d/pid")
	qpid=$(cat "$d/qemu.pid" 2>/dev/null || true)
	if _guest_alive "$pid" && [ -S "$d/ctl" ]; then
		flock -w 5 "$d/ctl.lock" \
			python3 -c "$_guest_ctl_py" "$d/ctl" 5 send 'poweroff -f' || true
	fi
	if ! _guest_wait_gone "$pid" 100; then
		kill -TERM "$pid" 2>/dev/null || true
		_guest_wait_gone "$pid" 100
	fi
	_guest_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	# run-guest stops QEMU on TERM; if it was killed, QEMU may remain.
	if [ -n "$qpid" ] && _guest_alive "$qpid" &&
		grep -q '^qemu-system' "/proc/$qpid/comm" 2>/dev/null; then
		kill -KILL "$qpid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	rm -f "$d/pid"
	return 0
}

guest_stop_all() {
	local root d
	[ -n "${VMSVC_GUEST_STATE:-}" ] || _guest_root >/dev/null || return 0
	root=$VMSVC_GUEST_STATE
	for d in "$root"/*/; do
		[ -e "$d/pid" ] && guest_stop "$(basename "$d")"
	done
	rm -rf "$root"
	[ -z "${BATS_FILE_TMPDIR:-}" ] || rm -f "$BATS_FILE_TMPDIR/vmsvc-guest-root"
	unset VMSVC_GUEST_STATE
	return 0
}

guest_cid() {
	local d
	_guest_d "${1:-}" || return 2
	d=$_GUEST_D
	cat "$d/cid"
}

guest_boot_ms() {
	local d
	_guest_d "${1:-}" || return 2
	d=$_GUEST_D
	cat "$d/boot_ms"
}

guest_log() {
	local d
	_guest_d "${1:-}" || return 2
	d=$_GUEST_D
	cat "$d/serial.log" 2>/dev/null
}
