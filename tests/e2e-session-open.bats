#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# Opening a VM session (vmsvcd's "session" operation, docs/session-protocol.md)
# with one booted test guest and a stand-in agent (socat on vsock port 640):
# who may open one (root, SessionUsers=, nobody else; refusals say why), the
# in-box VM Session Service turned off, no agent listening, and the identity
# the guest receives: the PEER frame vmsvcd writes first, from a host port
# below 1024, which a host client cannot forge. Host programs use only the
# daemon's Unix sockets: never AF_VSOCK on the host.

load lib/guest
load lib/daemon
load lib/hv

CTLCALL=${VMSVC_SOURCE_DIR:-.}/tests/tools/ctlcall.py

setup_file() {
	e2e_require
	daemon_init
	chmod 755 "$E2E_ROOT" # nobody reaches control.sock
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc vm add g2 --cid 6 >/dev/null # never started
	daemon_start
	guest_start g1 --vhost "$(vm_vhost g1)"
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
	e2e_teardown_test
}

# session VM [ctlcall options]: one "session" request as the current user.
session() {
	local vm=$1
	shift
	/usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" \
		"{\"op\":\"session\",\"vm\":\"$vm\"}" "$@"
}

# reply_has TEXT: the reply line of the last run holds TEXT.
reply_has() {
	if [[ "${lines[0]}" != *"$1"* ]]; then
		echo "# expected '$1' in: ${lines[0]}" >&2
		return 1
	fi
}

# stand_in_agent: socat on guest port 640 appends what it gets to /tmp/got
# and logs each peer address to /tmp/agent.log.
stand_in_agent() {
	stop_agent
	guest_exec g1 'rm -f /tmp/got /tmp/agent.log
		socat -d -d VSOCK-LISTEN:640,fork OPEN:/tmp/got,creat,append 2>/tmp/agent.log &
		echo $! >/tmp/agent.pid
		wait-for /tmp/agent.log "listening on"'
}

stop_agent() {
	guest_exec g1 'if [ -s /tmp/agent.pid ]; then kill $(cat /tmp/agent.pid); rm /tmp/agent.pid; fi
		while netstat -l 2>/dev/null | grep -q ":640 "; do sleep 0.1; done; true'
}

# got_hex: what the stand-in agent received so far, as hex.
got_hex() {
	guest_exec g1 'od -An -v -tx1 /tmp/got' | tr -d ' \n'
}

# peer_of HEX: decodes the first frame of HEX, which must be PEER, and prints
# "uid GID vm NAME user USER rest HEX".
peer_of() {
	/usr/bin/python3 - "$1" <<'PY'
import struct, sys
b = bytes.fromhex(sys.argv[1])
t, ch, n = struct.unpack_from("<HHI", b)
assert t == 1 and ch == 0, (t, ch)
f, p = {}, 8
while p < 8 + n:
    tag, ln = struct.unpack_from("<HH", b, p)
    f.setdefault(tag, b[p + 4:p + 4 + ln])
    p += 4 + ln
u32 = lambda v: struct.unpack("<I", v)[0]
print("uid", u32(f[1]), "gid", u32(f[2]), "vm", f[6][:-1].decode(),
      "user", f[4][:-1].decode() or "-", "rest", b[8 + n:].hex() or "-")
PY
}

@test "who may open a session: root; others get EACCES saying who may, without learning which VMs exist" {
	run session nosuchvm
	[ "$status" = 1 ]
	reply_has '"error": "ENOENT"'
	reply_has "no VM 'nosuchvm'"
	run as_nobody -- /usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" \
		'{"op":"session","vm":"g1"}'
	[ "$status" = 1 ]
	reply_has '"error": "EACCES"'
	reply_has "nobody (uid 65534) may not open sessions in VM g1"
	reply_has "SessionUsers= and SessionGroups= of vms.d/g1.conf"
	run as_nobody -- /usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" \
		'{"op":"session","vm":"nosuchvm"}'
	[ "$status" = 1 ]
	reply_has '"error": "EACCES"' # not ENOENT: no probing
	run session g2
	[ "$status" = 1 ]
	reply_has '"error": "ENETUNREACH"'
	reply_has "VM g2 is not running"
}

@test "no agent listening: ECONNREFUSED at once, saying what to check" {
	stop_agent
	run session g1
	[ "$status" = 1 ]
	reply_has '"error": "ECONNREFUSED"'
	reply_has "no agent answers in VM g1: is vmsvc-agent running in the guest?"
}

@test "the in-box VM Session Service turned off: EOPNOTSUPP with how to turn it on; on again: it works" {
	stand_in_agent
	vmsvc service disable "VM Session Service"
	run session g1
	[ "$status" = 1 ]
	reply_has '"error": "EOPNOTSUPP"'
	reply_has "the VM Session Service is disabled in the registry"
	vmsvc service enable "VM Session Service"
	run session g1 --send 'x'
	[ "$status" = 0 ]
	[ "${lines[1]}" = "fd yes" ]
}

@test "the guest first gets PEER from vmsvcd (uid 0, VM g1) from a host port below 1024, then the client's bytes" {
	stand_in_agent
	run session g1 --send 'hello'
	[ "$status" = 0 ]
	reply_has '"ok": true'
	reply_has '"vm": "g1"'
	[ "${lines[1]}" = "fd yes" ]
	local hex
	for _ in $(seq 50); do
		hex=$(got_hex)
		[[ "$hex" == *68656c6c6f ]] && break
		sleep 0.1
	done
	run peer_of "$hex"
	[ "$status" = 0 ]
	[ "$output" = "uid 0 gid 0 vm g1 user root rest 68656c6c6f" ]
	# socat logs the peer: the host (CID 2) from a privileged port
	run guest_exec g1 'cat /tmp/agent.log'
	[[ "$output" =~ cid:2\ port:([0-9]+) ]]
	[ "${BASH_REMATCH[1]}" -lt 1024 ]
}

@test "an allowed non-root user (SessionUsers=nobody) gets in, and cannot forge another identity" {
	stand_in_agent
	echo "SessionUsers=nobody" >>"$VMSVC_CONFIG_DIR/vms.d/g1.conf"
	# vmsvcd picks the change up without a restart
	local i forged
	forged='\x01\x00\x00\x00\x10\x00\x00\x00\x01\x00\x04\x00\x00\x00\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00'
	for ((i = 0; i < 50; i++)); do
		run as_nobody -- /usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" \
			'{"op":"session","vm":"g1"}' --send "$forged"
		[ "$status" = 0 ] && break
		sleep 0.1
	done
	[ "$status" = 0 ]
	local hex
	for _ in $(seq 50); do
		hex=$(got_hex)
		[[ "$hex" == *010000001000000001000400000000000200040000000000 ]] && break
		sleep 0.1
	done
	run peer_of "$hex"
	[ "$status" = 0 ]
	# the real identity comes first; the forged PEER is only data after it
	[ "$output" = "uid 65534 gid 65534 vm g1 user nobody rest 010000001000000001000400000000000200040000000000" ]
	sed -i '/^SessionUsers=/d' "$VMSVC_CONFIG_DIR/vms.d/g1.conf"
}
