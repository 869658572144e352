#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# End-to-end: the real vmsvcd and vmsvc CLI with one booted test
# guest (CID 5): guest to host through registered ports, host to guest through
# the Firecracker CONNECT protocol, admission (unregistered, disabled, nobody
# listening), half-close both ways, 64 concurrent connections, and a clean
# SIGTERM with a connection open. Host programs use only the daemon's Unix
# sockets: never AF_VSOCK on the host.

load lib/guest
load lib/daemon

setup_file() {
	e2e_require
	daemon_init
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc service add reply --port 5000 >/dev/null
	vmsvc service add gated --port 5002 >/dev/null
	vmsvc service add nolistener --port 5003 >/dev/null
	vmsvc service add many --port 5004 >/dev/null
	vmsvc service add echo --port 5006 >/dev/null
	daemon_start
	guest_start g1 --vhost "$(vm_vhost g1)"
	echo "# guest g1 ready after $(guest_boot_ms g1) ms" >&3
	daemon_fd_count >"$E2E_ROOT/fds0"
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
}

teardown() {
	e2e_teardown_test
}

# gen_to_guest BYTES SEED PORT: the streamgen stream into g1's guest PORT.
gen_to_guest() {
	"$VMSVC_STREAMGEN" gen "$1" "$2" | hybrid g1 --port "$3" --stdin --sha --timeout 60
}

# guest_reply_listener PORT: a one-shot guest listener that reads to EOF
# (into /tmp/h.got), then answers "after-eof got=BYTES\n".
guest_reply_listener() {
	guest_exec g1 "printf '#!/bin/sh\ncat >/tmp/h.got\necho after-eof got=\$(wc -c </tmp/h.got)\n' >/tmp/h.sh
		chmod +x /tmp/h.sh
		rm -f /tmp/h.log
		socat -d -d -t 20 VSOCK-LISTEN:$1 EXEC:/tmp/h.sh 2>/tmp/h.log &
		wait-for /tmp/h.log 'listening on'"
}

# ms_below MS LIMIT: fail with a message unless MS < LIMIT.
ms_below() {
	if ! [[ $1 =~ ^[0-9]+$ ]] || [ "$1" -ge "$2" ]; then
		echo "# took ${1} ms, limit $2 ms" >&2
		return 1
	fi
}

@test "the guest got CID 5 from vmsvcd and the daemon serves g1's sockets" {
	[ "$(guest_cid g1)" = 5 ]
	run guest_exec g1 'vsock-tool cid'
	[ "$status" -eq 0 ]
	[ "$output" = 5 ]
	[ -S "$(vm_vhost g1)" ]
	[ -S "$(vm_hybrid g1)" ]
	grep -q 'VM g1: QEMU connected' <(daemon_log)
	grep -q 'VM g1: queue 1 started' <(daemon_log)
}

@test "guest socat reaches a registered host port: exact bytes both ways" {
	peer_start p5000 "$(vm_port_path g1 5000)" reply 'host-reply got=%N\nsecond\tline\n'
	run guest_exec g1 "printf 'from the guest\nline 2 \\\\ end' | socat -t 10 - VSOCK-CONNECT:2:5000"
	[ "$status" -eq 0 ]
	[ "$output" = $'host-reply got=27\nsecond\tline' ]
	peer_wait p5000 '^replied 1$'
	[ "$(peer_count p5000 '^got 1 27 from the guest\\nline 2 \\\\ end$')" = 1 ]
	peer_stop p5000

	# 1 MB each way through a host echo: every byte checked by SHA-256.
	local sha
	sha=$("$VMSVC_STREAMGEN" sha 1000000 21)
	peer_start p5006 "$(vm_port_path g1 5006)" echo
	run guest_exec g1 'vsock-tool -t 60 send 2 5006 1000000 21'
	[ "$status" -eq 0 ]
	[ "$output" = "sent 1000000 sha256 $sha"$'\n'"recv 1000000 sha256 $sha" ]
	peer_wait p5006 '^echoed 1 1000000$'
	peer_stop p5006
}

@test "host CONNECT reaches a guest socat VSOCK-LISTEN: OK line, both ways, early bytes kept" {
	guest_exec g1 "socat -d -d VSOCK-LISTEN:6000 SYSTEM:'tee /tmp/s6000.got' 2>/tmp/s6000.log &
		wait-for /tmp/s6000.log 'listening on'"
	run hybrid g1 --port 6000 --early 'early|' --send 'after-ok|0123456789\n' --timeout 30
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} =~ ^line\ OK\ ([0-9]+)$ ]]
	local hp=${BASH_REMATCH[1]}
	[ "$hp" -ge 1073741824 ]
	[ "$hp" -lt 2147483648 ]
	[ "${lines[1]}" = "sent 20" ]
	[ "${lines[2]}" = 'data early|after-ok|0123456789\n' ]
	[[ ${lines[3]} =~ ^eof\ ms= ]]
	run guest_exec g1 'cat /tmp/s6000.got'
	[ "$output" = 'early|after-ok|0123456789' ]
	grep -q "accepting connection from AF=40 cid:2 port:$hp" <(guest_exec g1 'cat /tmp/s6000.log')
}

@test "host CONNECT reaches a guest ncat --vsock listener: both ways, early bytes kept" {
	# ncat's stdin is sent to the host, what the host sends lands in n.got.
	guest_exec g1 "printf 'from-ncat\n' >/tmp/n.in
		rm -f /tmp/n.log
		ncat -v -l --vsock 6001 </tmp/n.in >/tmp/n.got 2>/tmp/n.log &
		wait-for /tmp/n.log Listening"
	run hybrid g1 --port 6001 --early 'early+' --send 'to-ncat\n' --timeout 30
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} =~ ^line\ OK\ [0-9]+$ ]]
	[ "${lines[1]}" = 'sent 8' ]
	[ "${lines[2]}" = 'data from-ncat\n' ]
	run guest_exec g1 'i=0; while pidof ncat >/dev/null && [ $i -lt 100 ]; do
			usleep 100000; i=$((i + 1)); done
		cat /tmp/n.got; grep -c "Connection from 2:" /tmp/n.log'
	[ "$output" = $'early+to-ncat\n1' ]
}

@test "a malformed request line closes the stream at once, without OK" {
	guest_exec g1 "socat VSOCK-LISTEN:6000,fork EXEC:cat >/dev/null 2>&1 &
		sleep 0.3"
	local l
	for l in 'CONNECT abc\n' 'HELLO\n' '\n' 'CONNECT \n' 'CONNECT 6000x\n' \
		'connect 6000\n' 'CONNECT  6000\n' 'CONNECT -1\n' 'CONNECT 06000\n' \
		'CONNECT 4294967295\n' 'CONNECT 99999999999\n' 'CONNECT 6\x00000\n' \
		'CONNECT 6000\r\r\n' 'CONNECT 0000000000000000000000000000000000000'; do
		run hybrid g1 --line "$l" --early 'payload' --timeout 5
		echo "line '$l': $output"
		[ "$status" -eq 1 ]
		# Closed with the early payload unread: EOF or ECONNRESET.
		[[ $output =~ ^noline\ ms=([0-9]+)\ *( ECONNRESET)?$ ]]
		ms_below "${BASH_REMATCH[1]}" 1000
	done
	# The same listener answers a well-formed line.
	run hybrid g1 --line 'CONNECT 6000\r\n' --send 'fine' --timeout 20
	[ "$status" -eq 0 ]
	[ "${lines[2]}" = 'data fine' ]
	guest_exec g1 'killall socat 2>/dev/null; true'
}

@test "host CONNECT to a guest port nobody listens on: no OK, closed within 1 s" {
	run hybrid g1 --port 6999 --send 'lost' --timeout 5
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output =~ ^noline\ ms=([0-9]+)\ *$ ]]
	ms_below "${BASH_REMATCH[1]}" 1000
	grep -q 'host connection to guest port 6999 failed: Connection refused' <(daemon_log)
}

@test "unregistered port: guest connect fails with ECONNRESET in < 100 ms" {
	local i
	for i in 1 2 3; do
		run guest_exec g1 'vsock-tool connect 2 5001'
		[ "$status" -eq 1 ]
		[[ $output =~ ^error\ ECONNRESET\ ([0-9]+)$ ]]
		ms_below "${BASH_REMATCH[1]}" 100
	done
	grep -q 'host port 5001 refused: no service registered for this port' <(daemon_log)
}

@test "disabled service: ECONNRESET in < 100 ms; enable works without a restart" {
	local pid
	pid=$(daemon_pid)
	peer_start p5002 "$(vm_port_path g1 5002)" echo
	run guest_exec g1 'vsock-tool connect 2 5002'
	[ "$status" -eq 0 ]
	[[ $output =~ ^ok\ [0-9]+$ ]]
	vmsvc service disable gated
	run guest_exec g1 'vsock-tool connect 2 5002'
	[ "$status" -eq 1 ]
	[[ $output =~ ^error\ ECONNRESET\ ([0-9]+)$ ]]
	ms_below "${BASH_REMATCH[1]}" 100
	grep -q 'host port 5002 refused: service disabled' <(daemon_log)
	[ "$(peer_count p5002 '^accepted')" = 1 ]
	vmsvc service enable gated
	run guest_exec g1 'vsock-tool connect 2 5002'
	[ "$status" -eq 0 ]
	[[ $output =~ ^ok\ [0-9]+$ ]]
	peer_wait p5002 '^accepted 2$'
	run guest_exec g1 'vsock-tool -t 30 send 2 5002 4096 3'
	[ "$status" -eq 0 ]
	[[ $output == *"recv 4096 sha256 $("$VMSVC_STREAMGEN" sha 4096 3)" ]]
	[ "$(daemon_pid)" = "$pid" ]
	daemon_alive
	peer_stop p5002
}

@test "registered and enabled but nobody listens at NAME.vsock_P: ECONNRESET in < 100 ms" {
	[ ! -e "$(vm_port_path g1 5003)" ]
	run guest_exec g1 'vsock-tool connect 2 5003'
	[ "$status" -eq 1 ]
	[[ $output =~ ^error\ ECONNRESET\ ([0-9]+)$ ]]
	ms_below "${BASH_REMATCH[1]}" 100
	# A stale socket file with no listener behind it: the same.
	python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' \
		"$(vm_port_path g1 5003)"
	run guest_exec g1 'vsock-tool connect 2 5003'
	[ "$status" -eq 1 ]
	[[ $output =~ ^error\ ECONNRESET\ ([0-9]+)$ ]]
	ms_below "${BASH_REMATCH[1]}" 100
	rm -f "$(vm_port_path g1 5003)"
	grep -q "service 'nolistener' (port 5003) refused: nobody listens" <(daemon_log)
}

@test "half-close guest to host: the host reads EOF, then its reply still arrives" {
	peer_start p5000 "$(vm_port_path g1 5000)" reply 'after-eof got=%N\n'
	run guest_exec g1 'vsock-tool -t 30 halfclose 2 5000'
	[ "$status" -eq 0 ]
	[ "$output" = 'recv 16 after-eof got=5\n' ]
	peer_wait p5000 '^replied 1$'
	[ "$(peer_count p5000 '^got 1 5 ping\\n$')" = 1 ]
	# 1 MB in flight when the guest shuts its side: none of it is lost.
	local reply=$'after-eof got=1000000\n'
	run guest_exec g1 'vsock-tool -t 60 send 2 5000 1000000 4'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "sent 1000000 sha256 $("$VMSVC_STREAMGEN" sha 1000000 4)" ]
	[ "${lines[1]}" = "recv ${#reply} sha256 $(printf '%s' "$reply" | sha256sum | cut -d' ' -f1)" ]
	peer_wait p5000 '^replied 2$'
	[ "$(peer_count p5000 '^got 2 1000000 ')" = 1 ]
	peer_stop p5000
}

@test "half-close host to guest: the guest reads EOF, then its reply still arrives" {
	guest_reply_listener 6002
	run hybrid g1 --port 6002 --send 'ping\n' --timeout 30
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} =~ ^line\ OK\ [0-9]+$ ]]
	[ "${lines[1]}" = 'sent 5' ]
	[ "${lines[2]}" = 'data after-eof got=5\n' ]
	[[ ${lines[3]} =~ ^eof ]]
	run guest_exec g1 'cat /tmp/h.got'
	[ "$output" = ping ]
	# 1 MB in flight when the host shuts its side: none of it is lost.
	guest_reply_listener 6002
	run gen_to_guest 1000000 5 6002
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = 'sent 1000000' ]
	[ "${lines[2]}" = "recv 22 sha256 $(echo 'after-eof got=1000000' | sha256sum | cut -d' ' -f1)" ]
	run guest_exec g1 'sha256sum </tmp/h.got'
	[ "${output%% *}" = "$("$VMSVC_STREAMGEN" sha 1000000 5)" ]
}

@test "CONNECT line, payload and SHUT_WR in one go before OK: the guest gets it all and replies" {
	guest_reply_listener 6002
	run hybrid g1 --port 6002 --early 'early-and-shut' --shut-early --timeout 30
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} =~ ^line\ OK\ [0-9]+$ ]]
	[ "${lines[2]}" = 'data after-eof got=14\n' ]
	run guest_exec g1 'cat /tmp/h.got'
	[ "$output" = early-and-shut ]
}

@test "a writer that closes right after its last write loses no byte, either way" {
	# Host program: 2 MB, then close().
	peer_start src "$(vm_port_path g1 5000)" source '2000000 6'
	run guest_exec g1 'vsock-tool -t 60 send 2 5000 0 0'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "recv 2000000 sha256 $("$VMSVC_STREAMGEN" sha 2000000 6)" ]
	peer_wait src '^sent 1 2000000$'
	peer_stop src
	# Guest program: 2 MB, then shutdown and close.
	guest_exec g1 'vsock-tool listen 6004 source 2000000 7 >/tmp/src.log 2>&1 &
		wait-for /tmp/src.log listening'
	run hybrid g1 --port 6004 --sha --timeout 60
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[2]}" = "recv 2000000 sha256 $("$VMSVC_STREAMGEN" sha 2000000 7)" ]
}

@test "32 concurrent host CONNECTs to a guest echo server, 64 KiB each, all intact" {
	guest_exec g1 'vsock-tool serve 6003 >/tmp/serve.log 2>&1 &
		wait-for /tmp/serve.log listening'
	local i pids=()
	for i in $(seq 1 32); do
		gen_to_guest 65536 "$((100 + i))" 6003 >"$BATS_TEST_TMPDIR/c$i.out" 2>&1 3>&- &
		pids+=($!)
	done
	for i in $(seq 1 32); do
		wait "${pids[$((i - 1))]}" || {
			cat "$BATS_TEST_TMPDIR/c$i.out"
			false
		}
		grep -q "^recv 65536 sha256 $("$VMSVC_STREAMGEN" sha 65536 $((100 + i)))\$" \
			"$BATS_TEST_TMPDIR/c$i.out" || {
			cat "$BATS_TEST_TMPDIR/c$i.out"
			false
		}
	done
	guest_exec g1 'killall vsock-tool 2>/dev/null; true'
}

@test "64 concurrent guest connections with data both ways through a host echo" {
	peer_start p5004 "$(vm_port_path g1 5004)" echo
	local t0=$SECONDS
	run guest_exec -t 180 g1 'vsock-tool -t 170 many 2 5004 64 262144'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "ok 64" ]
	echo "# 64 x 262144 bytes each way: $((SECONDS - t0)) s" >&3
	peer_wait p5004 '^echoed 64 ' 10
	for i in $(seq 1 64); do
		peer_wait p5004 "^echoed $i 262144$" 10
	done
	[ "$(peer_count p5004 '^error')" = 0 ]
	peer_stop p5004
}

@test "guest frozen (QEMU stopped): CONNECT gives up after the 2 s timeout without OK; the guest works after" {
	local qpid
	guest_exec g1 'vsock-tool listen 6005 echo >/tmp/l6005.log 2>&1 &
		wait-for /tmp/l6005.log listening'
	qpid=$(cat "$(guest_state_dir g1)/qemu.pid")
	grep -q '^qemu-system' "/proc/$qpid/comm"
	kill -STOP "$qpid"
	run hybrid g1 --port 6005 --timeout 10
	kill -CONT "$qpid"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output =~ ^noline\ ms=([0-9]+)\ *$ ]]
	echo "# CONNECT to a frozen guest closed after ${BASH_REMATCH[1]} ms" >&3
	[ "${BASH_REMATCH[1]}" -ge 1900 ]
	[ "${BASH_REMATCH[1]}" -lt 4000 ]
	grep -q 'connection to guest port 6005 timed out' <(daemon_log)
	# Thawed, the guest answers again (its listener may have taken the
	# stale request: start a fresh one).
	guest_exec g1 'killall vsock-tool 2>/dev/null; sleep 0.2
		vsock-tool listen 6005 echo >/tmp/l6005.log 2>&1 &
		wait-for /tmp/l6005.log listening'
	run hybrid g1 --port 6005 --send 'thawed' --timeout 20
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[2]}" = 'data thawed' ]
}

@test "no fd leak: after all the connections above the daemon has its first fd count" {
	local i fds0
	fds0=$(cat "$E2E_ROOT/fds0")
	for ((i = 0; i < 100; i++)); do
		[ "$(daemon_fd_count)" = "$fds0" ] && break
		sleep 0.05
	done
	echo "# vmsvcd fds: $fds0 after boot, $(daemon_fd_count) now" >&3
	[ "$(daemon_fd_count)" = "$fds0" ]
}

@test "SIGTERM with a guest connection open: exit 0, sockets removed, the guest's connection ends" {
	peer_start p5000 "$(vm_port_path g1 5000)" sink
	guest_exec g1 'vsock-tool -t 60 send 2 5000 100000000000 5 >/tmp/big.log 2>&1 &'
	peer_wait p5000 '^accepted 1$'
	sleep 1
	daemon_stop
	[ ! -e "$(vm_vhost g1)" ]
	[ ! -e "$(vm_hybrid g1)" ]
	[ ! -e "$VMSVC_RUNTIME_DIR/control.sock" ]
	# The host side saw the end of the stream, short of the full length.
	peer_wait p5000 '^(recv|error) 1 ' 5
	# The guest's sender stops with an error within a few seconds.
	local i out
	for i in $(seq 1 20); do
		out=$(guest_exec g1 'cat /tmp/big.log')
		[ -n "$out" ] && break
		sleep 0.5
	done
	echo "# guest sender after SIGTERM: $out" >&3
	[[ $out =~ ^error\ (ECONNRESET|EPIPE|ENOTCONN|ETIMEDOUT) ]]
}
