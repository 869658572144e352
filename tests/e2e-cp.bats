#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2034,SC2154 # guest commands single-quoted on purpose; bats run; stderr set by bats run
# vmsvc cp end to end: the real vmsvcd, CLI and vmsvc-agent (static) in one
# booted busybox test guest g1 (CID 5, 1 GiB for the 256 MiB files): both
# directions, verification and atomic commit, -p, -r with links, errors and
# every kind of interruption (QEMU killed last: it ends the guest). Host
# programs use only the daemon's Unix sockets: never AF_VSOCK on the host.

bats_require_minimum_version 1.5.0

load lib/guest
load lib/daemon
load lib/hv

setup_file() {
	e2e_require
	[ -x "${VMSVC_AGENT_STATIC:-}" ] || {
		echo "e2e: VMSVC_AGENT_STATIC (vmsvc-agent-static) is missing" >&2
		return 1
	}
	daemon_init
	chmod 755 "$E2E_ROOT"
	vmsvc vm add g1 --cid 5 >/dev/null
	daemon_start
	guest_start g1 --vhost "$(vm_vhost g1)" --mem 1G \
		--add "$VMSVC_AGENT_STATIC:/usr/sbin/vmsvc-agent"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
	guest_exec g1 'wait-for /tmp/vmsvc-agent.log "listening on vsock port 640"
		echo "alice:x:1000:1000:Alice:/home/alice:/bin/sh" >>/etc/passwd
		echo "alice:x:1000:" >>/etc/group
		mkdir -p /home/alice && chown 1000:1000 /home/alice'
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	H=$BATS_TEST_TMPDIR
}

teardown() {
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "$BATS_TEST_NAME" ]; then
		echo "# --- agent log (last 30 lines):" >&2
		guest_exec -t 5 g1 'tail -n 30 /tmp/vmsvc-agent.log' >&2 || true
	fi
	guest_exec -t 5 g1 'rm -f /etc/vmsvc/agent.conf' >/dev/null 2>&1 || true
	e2e_teardown_test
}

gsha() { # the SHA-256 of a guest file
	guest_exec g1 "sha256sum '$1'" | cut -d' ' -f1
}

# Names that look like our temporary files in host folder $1 and guest folder $2.
no_leftovers() {
	[ -z "$(find "$1" -name '.vmsvc-cp.*' 2>/dev/null)" ]
	[ -z "$(guest_exec g1 "find '$2' -name '.vmsvc-cp.*'")" ]
}

@test "a file both ways, its mode kept; an empty file; SHA-256 equal" {
	printf 'hello\n' >"$H/a"
	chmod 751 "$H/a"
	: >"$H/empty"
	run vmsvc cp "$H/a" g1:/tmp/a
	[ "$status" -eq 0 ]
	[ "$(guest_exec g1 'cat /tmp/a; stat -c %a /tmp/a')" = $'hello\n751' ]
	run vmsvc cp "$H/empty" g1:/tmp/empty
	[ "$status" -eq 0 ]
	[ "$(guest_exec g1 'stat -c %s /tmp/empty')" = 0 ]
	guest_exec g1 'printf "from guest" >/tmp/b; chmod 640 /tmp/b'
	run vmsvc cp g1:/tmp/b "$H/b"
	[ "$status" -eq 0 ]
	[ "$(cat "$H/b")" = "from guest" ]
	[ "$(stat -c %a "$H/b")" = 640 ]
	run vmsvc cp g1:/tmp/empty "$H/e2"
	[ "$status" -eq 0 ]
	[ -f "$H/e2" ] && [ ! -s "$H/e2" ]
	no_leftovers "$H" /tmp
}

@test "256 MiB host -> guest -> host: the same SHA-256 everywhere" {
	local want t0 ms
	"$VMSVC_STREAMGEN" gen 268435456 7 >"$H/big"
	want=$(sha256sum "$H/big" | cut -d' ' -f1)
	t0=$(date +%s%N)
	run vmsvc cp "$H/big" g1:/tmp/big
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "# 256 MiB into the guest in $ms ms ($((256 * 1000 / (ms + 1))) MiB/s)" >&3
	[ "$status" -eq 0 ]
	[ "$(gsha /tmp/big)" = "$want" ]
	t0=$(date +%s%N)
	run vmsvc cp g1:/tmp/big "$H/back"
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "# 256 MiB out of the guest in $ms ms ($((256 * 1000 / (ms + 1))) MiB/s)" >&3
	[ "$status" -eq 0 ]
	[ "$(sha256sum "$H/back" | cut -d' ' -f1)" = "$want" ]
	rm -f "$H/big" "$H/back"
	guest_exec g1 'rm -f /tmp/big'
}

@test "a folder destination receives the source's name; several sources need a folder" {
	echo one >"$H/one"
	echo two >"$H/two"
	guest_exec g1 'rm -rf /tmp/d; mkdir /tmp/d'
	run vmsvc cp "$H/one" g1:/tmp/d
	[ "$status" -eq 0 ]
	[ "$(guest_exec g1 'cat /tmp/d/one')" = one ]
	run vmsvc cp "$H/one" "$H/two" g1:/tmp/d/
	[ "$status" -eq 0 ]
	[ "$(guest_exec g1 'cat /tmp/d/two')" = two ]
	run --separate-stderr vmsvc cp "$H/one" "$H/two" g1:/tmp/nosuchdir
	[ "$status" -eq 1 ]
	[[ $stderr == *"'/tmp/nosuchdir/' is not a folder"* ]]
	mkdir "$H/into"
	run vmsvc cp g1:/tmp/d/one g1:/tmp/d/two "$H/into"
	[ "$status" -eq 0 ]
	[ "$(cat "$H/into/one" "$H/into/two")" = $'one\ntwo' ]
	run --separate-stderr vmsvc cp g1:/tmp/d/one g1:/tmp/d/two "$H/one"
	[ "$status" -eq 1 ]
	[[ $stderr == *"is not a folder"* ]]
	# A local name with ':' is written ./a:b.
	echo colon >"$H/a:b"
	run bash -c "cd '$H' && '$VMSVC' cp ./a:b g1:/tmp/d/"
	[ "$status" -eq 0 ]
	[ "$(guest_exec g1 'cat /tmp/d/a:b')" = colon ]
}

@test "-p keeps the modification time and (as root) the owner, both ways" {
	echo t >"$H/p"
	touch -d @1000000000 "$H/p"
	chown 1234:2345 "$H/p"
	run vmsvc cp "$H/p" g1:/tmp/nop
	[ "$status" -eq 0 ]
	[ "$(guest_exec g1 'stat -c "%Y %u" /tmp/nop')" != "1000000000 1234" ]
	run vmsvc cp -p "$H/p" g1:/tmp/p
	[ "$status" -eq 0 ]
	[ "$(guest_exec g1 'stat -c "%Y %u %g" /tmp/p')" = "1000000000 1234 2345" ]
	guest_exec g1 'echo g >/tmp/gp; touch -d "2001-02-03 04:05:06" /tmp/gp; chown 1000:1000 /tmp/gp'
	run vmsvc cp -p g1:/tmp/gp "$H/gp"
	[ "$status" -eq 0 ]
	[ "$(stat -c '%u %g' "$H/gp")" = "1000 1000" ]
	[ "$(stat -c %Y "$H/gp")" = "$(guest_exec g1 'stat -c %Y /tmp/gp')" ]
}

# A host tree: an empty folder, a nested file, a link inside and a link
# that points outside (copied as a link, never followed).
make_tree() {
	mkdir -p "$1/empty" "$1/sub/deeper"
	echo nested >"$1/sub/deeper/n"
	chmod 600 "$1/sub/deeper/n"
	echo top >"$1/top"
	ln -s sub/deeper/n "$1/in"
	ln -s /etc/shadow "$1/out"
}

@test "-r copies a tree both ways: empty folder, nested files, links as links" {
	make_tree "$H/tree"
	guest_exec g1 'rm -rf /tmp/t /tmp/t2; mkdir /tmp/t2'
	run vmsvc cp -r "$H/tree" g1:/tmp/t
	[ "$status" -eq 0 ]
	run guest_exec g1 'cd /tmp/t && find . | sort && cat sub/deeper/n &&
		readlink in && readlink out && stat -c %a sub/deeper/n'
	echo "$output"
	[ "$output" = $'.\n./empty\n./in\n./out\n./sub\n./sub/deeper\n./sub/deeper/n\n./top\nnested\nsub/deeper/n\n/etc/shadow\n600' ]
	run vmsvc cp -r "$H/tree" g1:/tmp/t2
	[ "$status" -eq 0 ]
	[ "$(guest_exec g1 'cat /tmp/t2/tree/top')" = top ]
	run vmsvc cp -r g1:/tmp/t "$H/back"
	[ "$status" -eq 0 ]
	[ "$(cd "$H/back" && find . | sort)" = "$(cd "$H/tree" && find . | sort)" ]
	[ "$(readlink "$H/back/out")" = /etc/shadow ]
	[ -L "$H/back/in" ]
	[ "$(cat "$H/back/sub/deeper/n")" = nested ]
	run --separate-stderr vmsvc cp "$H/tree" g1:/tmp/x
	[ "$status" -eq 1 ]
	[[ $stderr == *"is a folder (copy folders with -r)"* ]]
	run --separate-stderr vmsvc cp g1:/tmp/t "$H/x"
	[ "$status" -eq 1 ]
	[[ $stderr == *"is a folder (copy folders with -r)"* ]]
	no_leftovers "$H" /tmp
}

@test "-r never writes through a link already in the destination tree" {
	make_tree "$H/tree"
	guest_exec g1 'rm -rf /tmp/outside /tmp/dst; mkdir -p /tmp/outside /tmp/dst/tree
		echo victim >/tmp/outside/n; echo victim >/tmp/victim
		ln -s /tmp/outside /tmp/dst/tree/sub; ln -s /tmp/victim /tmp/dst/tree/top'
	run --separate-stderr vmsvc cp -r "$H/tree" g1:/tmp/dst
	echo "$stderr"
	[ "$status" -eq 1 ]
	[[ $stderr == *"symbolic link"* ]]
	[ "$(guest_exec g1 'cat /tmp/outside/n /tmp/victim; ls /tmp/outside')" = $'victim\nvictim\nn' ]
	# The link in place of a file is replaced by the file, its target untouched.
	guest_exec g1 'rm /tmp/dst/tree/sub'
	run vmsvc cp -r "$H/tree" g1:/tmp/dst
	[ "$status" -eq 0 ]
	[ "$(guest_exec g1 'cat /tmp/victim /tmp/dst/tree/top; test -L /tmp/dst/tree/top || echo file')" = $'victim\ntop\nfile' ]
}

@test "errors: no such file, permission denied as the mapped guest user, Copy=no, usage" {
	echo x >"$H/x"
	run --separate-stderr vmsvc cp "$H/nope" g1:/tmp/
	[ "$status" -eq 1 ]
	[[ $stderr == *"'$H/nope': no such file or folder"* ]]
	run --separate-stderr vmsvc cp g1:/nope "$H/y"
	[ "$status" -eq 1 ]
	[[ $stderr == *"in VM 'g1': '/nope': no such file or folder"* ]]
	[ ! -e "$H/y" ]
	guest_exec g1 'mkdir -p /etc/vmsvc; printf "[Users]\nroot = alice\n" >/etc/vmsvc/agent.conf
		echo secret >/root/secret; chmod 600 /root/secret'
	run --separate-stderr vmsvc cp "$H/x" g1:/root/x
	[ "$status" -eq 1 ]
	[[ $stderr == *"cannot create '/root/x': permission denied"* ]]
	run --separate-stderr vmsvc cp g1:/root/secret "$H/s"
	[ "$status" -eq 1 ]
	[[ $stderr == *"cannot read '/root/secret': permission denied"* ]]
	run vmsvc cp "$H/x" g1:x
	[ "$status" -eq 0 ]
	[ "$(guest_exec g1 'stat -c %U /home/alice/x')" = alice ]
	guest_exec g1 'printf "[Session]\nCopy = no\n" >/etc/vmsvc/agent.conf'
	run --separate-stderr vmsvc cp "$H/x" g1:/tmp/x
	[ "$status" -eq 125 ]
	[[ $stderr == *"host user 'root' (uid 0) may not copy files in this guest: Copy=no"* ]]
	run --separate-stderr vmsvc cp "$H/x" nosuchvm:/tmp/x
	[ "$status" -eq 125 ]
	[[ $stderr == *"no VM 'nosuchvm'"* ]]
	run vmsvc cp "$H/x" "$H/y"
	[ "$status" -eq 2 ]
	run vmsvc cp g1:/a g1:/b
	[ "$status" -eq 2 ]
	run vmsvc cp "$H/x"
	[ "$status" -eq 2 ]
	run vmsvc cp --bogus a g1:b
	[ "$status" -eq 2 ]
}

@test "no space left: exit 1 with the reason, the old file intact, no temporary file" {
	head -c 4194304 /dev/zero >"$H/4m"
	guest_exec g1 'mkdir -p /mnt/small; mount -t tmpfs -o size=1m tmpfs /mnt/small
		echo old >/mnt/small/f'
	run --separate-stderr vmsvc cp "$H/4m" g1:/mnt/small/f
	[ "$status" -eq 1 ]
	[[ $stderr == *"/mnt/small/f"*"No space left on device"* ]]
	[ "$(guest_exec g1 'cat /mnt/small/f; ls -a /mnt/small | wc -l')" = $'old\n3' ]
	guest_exec g1 'umount /mnt/small'
}

@test "progress: a bar redrawn with \\r on a terminal, none when piped" {
	head -c 33554432 /dev/zero >"$H/32m"
	run script -q -e -c "'$VMSVC' cp '$H/32m' g1:/tmp/32m" /dev/null
	[ "$status" -eq 0 ]
	[[ $output == *$'\r'*"32m"*"MiB"*"/s"* ]]
	[[ $output == *"32.0 MiB / 32.0 MiB"* ]]
	run --separate-stderr vmsvc cp "$H/32m" g1:/tmp/32m
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	run --separate-stderr vmsvc cp --progress g1:/tmp/32m "$H/32b"
	[ "$status" -eq 0 ]
	[[ $stderr == *$'\r'* ]]
	run script -q -e -c "'$VMSVC' cp --no-progress '$H/32m' g1:/tmp/32m" /dev/null
	[ -z "$output" ]
}

# wait_guest_bytes FILE: wait until a copy into the guest is under way
# (the agent's session process holds a file open in FILE's folder).
copy_started() {
	local i
	for ((i = 0; i < 100; i++)); do
		guest_exec g1 "ls -l /proc/[0-9]*/fd 2>/dev/null | grep -q '$1'" && return 0
		sleep 0.1
	done
	return 1
}

@test "host CLI killed during host -> guest: the old file, no temporary file in the guest" {
	"$VMSVC_STREAMGEN" gen 268435456 3 >"$H/big"
	guest_exec g1 'mkdir -p /tmp/k; echo old >/tmp/k/f'
	"$VMSVC" cp "$H/big" g1:/tmp/k/f 2>"$H/err" 3>&- &
	local pid=$!
	copy_started '/tmp/k'
	sleep 0.5
	kill -KILL "$pid"
	wait "$pid" || true
	sleep 1
	[ "$(guest_exec g1 'cat /tmp/k/f; ls -a /tmp/k | wc -l')" = $'old\n3' ]
	guest_exec g1 'grep -q "the host closed the session during the copy" /tmp/vmsvc-agent.log'
	rm -f "$H/big"
}

@test "guest session process killed (kill -9) during guest -> host: the host keeps the old file" {
	guest_exec -t 180 g1 'head -c 268435456 /dev/zero >/tmp/src'
	echo old >"$H/f"
	"$VMSVC" cp g1:/tmp/src "$H/f" 2>"$H/err" 3>&- &
	local pid=$! i rc=0
	copy_started '/tmp/src'
	guest_exec g1 'l=$(pidof vmsvc-agent | tr " " "\n" | sort -n | head -n 1)
		for p in $(pidof vmsvc-agent); do
			[ "$(cut -d" " -f4 /proc/$p/stat)" = "$l" ] && kill -9 $p
		done; true'
	wait "$pid" || rc=$?
	cat "$H/err"
	[ "$rc" -eq 1 ]
	grep -q "ended before the copy finished" "$H/err"
	[ "$(cat "$H/f")" = old ]
	[ "$(find "$H" -name '.vmsvc-cp.*')" = "" ]
	guest_exec g1 'rm -f /tmp/src'
}

# Last: it ends the guest.
@test "QEMU killed during guest -> host: the host keeps the old file, no temporary file" {
	guest_exec -t 180 g1 'head -c 268435456 /dev/zero >/tmp/src'
	echo old >"$H/f"
	"$VMSVC" cp g1:/tmp/src "$H/f" 2>"$H/err" 3>&- &
	local pid=$! rc=0
	copy_started '/tmp/src'
	kill -KILL "$(cat "$(guest_state_dir g1)/qemu.pid")"
	wait "$pid" || rc=$?
	cat "$H/err"
	[ "$rc" -eq 1 ]
	[ "$(cat "$H/f")" = old ]
	[ "$(find "$H" -name '.vmsvc-cp.*')" = "" ]
}
