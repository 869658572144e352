# shellcheck shell=bash
# Helpers for bats tests that run real libvirt (Debian's libvirtd, session
# mode) with the busybox test guest. Nothing of the host's libvirt is used or
# touched: the test's own libvirtd runs unprivileged with every folder in a
# private root (XDG_CONFIG_HOME, XDG_RUNTIME_DIR, XDG_CACHE_HOME, HOME), is
# reached through its own socket (qemu+unix:///session?socket=..., so that no
# client ever starts a daemon of its own) and is killed by its PID.
#
# As root, libvirtd, its QEMU and virsh run as nobody:nogroup with the
# supplementary group vmsvc (tools/bootstrap makes it): the way an admin lets
# libvirt's QEMU open vmsvcd's sockets (root:vmsvc, mode 0660). As another
# user they run as that user, who owns the daemon's sockets.
#
#   libvirt_require       fail (never skip) unless libvirtd, virsh and setpriv exist
#   libvirt_start         make the root (mktemp -d, short path), start libvirtd;
#                         wait for its socket (10 s)
#   virsh ARGS...         virsh on that daemon, as its user
#   libvirt_chown PATH... give PATH to libvirt's user (folders QEMU writes to)
#   libvirt_root          the private root (boot files may go there)
#   libvirt_domstate DOM  virsh domstate DOM (one word: running, shut off, ...)
#   libvirt_wait_state DOM STATE [S]
#                         wait (default 30 s) until DOM is in STATE
#   libvirt_qemu_pid DOM  the PID of DOM's QEMU (libvirt's pid file), if it runs
#   libvirt_stop          destroy every running domain (their QEMU killed by
#                         PID if that fails), then SIGTERM libvirtd (SIGKILL
#                         after 10 s) and remove the root; for teardown_file
#   libvirt_log           libvirtd's log
#
# Load after lib/guest (_guest_alive) and lib/daemon (daemon_init makes
# E2E_ROOT; the root is noted there).

libvirt_require() {
	local f
	for f in libvirtd virsh setpriv virt-xml-validate; do
		command -v "$f" >/dev/null || {
			echo "libvirt: missing $f (tools/bootstrap installs libvirt-daemon," \
				"libvirt-daemon-driver-qemu, libvirt-clients, util-linux)" >&2
			return 1
		}
	done
	if [ "$(id -u)" = 0 ] && ! getent group vmsvc >/dev/null; then
		echo "libvirt: no group vmsvc (tools/bootstrap makes it)" >&2
		return 1
	fi
}

# The identity libvirt runs as: nobody with group vmsvc as root, else as is.
_libvirt_as() {
	if [ "$(id -u)" = 0 ]; then
		LIBVIRT_AS=(setpriv --reuid=nobody --regid=nogroup --groups=vmsvc --inh-caps=-all)
	else
		LIBVIRT_AS=()
	fi
}

libvirt_root() {
	cat "$E2E_ROOT/libvirt-root" 2>/dev/null
}

# _libvirt_env ROOT: the environment of libvirtd and virsh.
_libvirt_env() {
	echo "HOME=$1/home" "XDG_CONFIG_HOME=$1/config" "XDG_RUNTIME_DIR=$1/run" \
		"XDG_CACHE_HOME=$1/cache"
}

libvirt_chown() {
	[ "$(id -u)" = 0 ] || return 0
	chown nobody:nogroup "$@"
}

libvirt_start() {
	local root i
	_libvirt_as
	root=$(mktemp -d /tmp/vmsvc-lv.XXXXXX) || return 1
	echo "$root" >"$E2E_ROOT/libvirt-root"
	mkdir -p "$root"/{home,config/libvirt,run,cache}
	chmod 700 "$root/run"
	chmod 755 "$root"
	# QEMU's output and the serial files straight to files: no virtlogd,
	# which libvirtd would start as a daemon of its own.
	echo 'stdio_handler = "file"' >"$root/config/libvirt/qemu.conf"
	libvirt_chown -R "$root"
	# shellcheck disable=SC2046 # one word per variable
	env $(_libvirt_env "$root") "${LIBVIRT_AS[@]}" libvirtd \
		</dev/null >"$root/libvirtd.log" 2>&1 3>&- &
	echo $! >"$root/libvirtd.pid"
	for ((i = 0; i < 200; i++)); do
		[ -S "$root/run/libvirt/libvirt-sock" ] && return 0
		_guest_alive "$(cat "$root/libvirtd.pid")" || break
		sleep 0.05
	done
	echo "libvirt_start: libvirtd did not start:" >&2
	cat "$root/libvirtd.log" >&2
	return 1
}

virsh() {
	local root
	root=$(libvirt_root)
	_libvirt_as
	# shellcheck disable=SC2046 # one word per variable
	env $(_libvirt_env "$root") "${LIBVIRT_AS[@]}" \
		virsh -q -c "qemu+unix:///session?socket=$root/run/libvirt/libvirt-sock" "$@"
}

libvirt_domstate() {
	virsh domstate "$1" 2>/dev/null | head -n 1
}

libvirt_wait_state() {
	local dom=$1 want=$2 secs=${3:-30} i st=
	for ((i = 0; i < secs * 10; i++)); do
		st=$(libvirt_domstate "$dom")
		[ "$st" = "$want" ] && return 0
		sleep 0.1
	done
	echo "libvirt_wait_state: $dom is '$st', not '$want', after $secs s" >&2
	return 1
}

libvirt_qemu_pid() {
	local root f pid
	root=$(libvirt_root)
	for f in "$root"/run/libvirt/qemu/run/"$1".pid "$root"/config/libvirt/qemu/run/"$1".pid; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		grep -q '^qemu-system' "/proc/$pid/comm" 2>/dev/null && echo "$pid" && return 0
	done
	return 1
}

libvirt_log() {
	cat "$(libvirt_root)/libvirtd.log" 2>/dev/null
}

libvirt_stop() {
	local root pid dom f i rc=0
	root=$(libvirt_root)
	[ -n "$root" ] && [ -d "$root" ] || return 0
	pid=$(cat "$root/libvirtd.pid" 2>/dev/null)
	if _guest_alive "$pid"; then
		for dom in $(virsh list --name 2>/dev/null); do
			virsh destroy "$dom" >/dev/null 2>&1 || true
		done
	fi
	# A QEMU that libvirt could not end: by its PID from libvirt's pid file.
	for f in "$root"/run/libvirt/qemu/run/*.pid "$root"/config/libvirt/qemu/run/*.pid; do
		[ -s "$f" ] || continue
		dom=$(basename "$f" .pid)
		if i=$(libvirt_qemu_pid "$dom"); then
			echo "# libvirt_stop: killing QEMU of $dom (PID $i)" >&2
			kill -KILL "$i" 2>/dev/null || true
			rc=1
		fi
	done
	if _guest_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 200; i++)); do
			_guest_alive "$pid" || break
			sleep 0.05
		done
		if _guest_alive "$pid"; then
			echo "# libvirt_stop: libvirtd (PID $pid) still runs 10 s after SIGTERM" >&2
			kill -KILL "$pid" 2>/dev/null || true
			rc=1
		fi
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$root"
	rm -f "$E2E_ROOT/libvirt-root"
	return $rc
}
