#!/usr/bin/env bats
# shellcheck disable=SC2016 # single quotes on purpose
# End-to-end, guest only: the test guest boots without a vsock device, its
# control channel works, and its tools speak AF_VSOCK over the guest-internal
# loopback (CID 1, vsock_loopback). Nothing here touches AF_VSOCK on the host.

load lib/guest

setup_file() {
	"$(_guest_src)/tools/mkguest" "$(_guest_images)"
	# the agent under another path than /init's, so that it runs only when asked
	guest_start boot --add "${VMSVC_AGENT_STATIC:?}:/usr/bin/vmsvc-agent"
	echo "# guest boot to readiness: $(guest_boot_ms boot) ms" >&3
}

teardown_file() {
	guest_stop_all
}

setup() {
	STREAMGEN=${VMSVC_STREAMGEN:-${VMSVC_BUILD_DIR:-$(_guest_src)/build}/tests/tools/streamgen}
}

@test "guest without a vsock device reports cid=none" {
	[ "$(guest_cid boot)" = none ]
	grep -q '^VMSVC-GUEST-READY cid=none' <(guest_log boot)
}

@test "vmsvc-agent in a guest without a vsock device: says so and exits 0" {
	run guest_exec boot 'vmsvc-agent; echo "rc=$?"'
	[ "$status" -eq 0 ]
	[[ $output == *"no vsock device reaches a host (only loopback, or none): no VM Session Service in this guest"* ]]
	[ "${lines[${#lines[@]} - 1]}" = rc=0 ]
}

@test "guest_exec returns the command's output and exit status" {
	run guest_exec boot 'echo hello; echo oops >&2; exit 3'
	[ "$status" -eq 3 ]
	[ "$output" = $'hello\noops' ]
	run guest_exec boot true
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run guest_exec boot 'printf "no newline"'
	[ "$status" -eq 0 ]
	[ "$output" = "no newline" ]
	run guest_exec boot 'kill -9 $$'
	[ "$status" -eq 137 ]
}

@test "guest_exec keeps quoting and special characters of the command line" {
	run guest_exec boot "printf '%s|' \"a b\" '\$HOME' '@@x@@'"
	[ "$status" -eq 0 ]
	[ "$output" = 'a b|$HOME|@@x@@|' ]
}

@test "a background job does not hold the control channel" {
	local t0 t1
	t0=$(date +%s)
	guest_exec boot 'sleep 30 >/dev/null 2>&1 &'
	run guest_exec boot 'echo next'
	t1=$(date +%s)
	[ "$output" = next ]
	[ $((t1 - t0)) -lt 10 ]
}

@test "guest_exec times out with 124 and the channel recovers afterwards" {
	run guest_exec -t 1 boot 'sleep 3; echo late'
	[ "$status" -eq 124 ]
	sleep 2.5
	run guest_exec boot 'echo fresh'
	[ "$status" -eq 0 ]
	[ "$output" = fresh ]
}

@test "vsock modules are loaded in the guest" {
	run guest_exec boot lsmod
	[ "$status" -eq 0 ]
	for m in virtio_pci vsock vmw_vsock_virtio_transport_common \
		vmw_vsock_virtio_transport vsock_loopback; do
		grep -q "^$m " <<<"$output" || {
			echo "missing module $m in: $output"
			return 1
		}
	done
	guest_exec boot 'modprobe vsock_loopback'
}

@test "socat and ncat run in the guest" {
	run guest_exec boot 'socat -V'
	[ "$status" -eq 0 ]
	[[ $output == *"socat version"* ]]
	[[ $output == *"define WITH_VSOCK 1"* ]]
	run guest_exec boot 'ncat --version'
	[ "$status" -eq 0 ]
	[[ $output == *"Ncat: Version"* ]]
	[[ $output != *"failed to load"* ]]
}

@test "vsock-tool cid reports the loopback CID when only vsock_loopback serves" {
	run guest_exec boot 'vsock-tool cid'
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
}

@test "vsock-tool send through an echo listener returns the same stream" {
	local sha
	sha=$("$STREAMGEN" sha 1000000 7)
	run guest_exec boot 'rm -f /tmp/l.log; vsock-tool listen 5000 echo >/tmp/l.log 2>&1 &
		wait-for /tmp/l.log listening && vsock-tool send 1 5000 1000000 7 &&
		wait-for /tmp/l.log echoed && cat /tmp/l.log'
	[ "$status" -eq 0 ]
	[[ $output == *"sent 1000000 sha256 $sha"* ]]
	[[ $output == *"recv 1000000 sha256 $sha"* ]]
	[[ $output == *"accepted cid=1 port="* ]]
	[[ $output == *"echoed 1000000"* ]]
}

@test "vsock-tool sink and source modes match streamgen" {
	run guest_exec boot 'rm -f /tmp/l.log; vsock-tool listen 5001 sink >/tmp/l.log 2>&1 &
		wait-for /tmp/l.log listening && vsock-tool send 1 5001 300000 9 &&
		wait-for /tmp/l.log "^recv" && cat /tmp/l.log'
	[ "$status" -eq 0 ]
	[[ $output == *"recv 300000 sha256 $("$STREAMGEN" sha 300000 9)"* ]]
	run guest_exec boot 'rm -f /tmp/l.log; vsock-tool listen 5002 source 123457 3 >/tmp/l.log 2>&1 &
		wait-for /tmp/l.log listening && vsock-tool send 1 5002 0 0'
	[ "$status" -eq 0 ]
	[[ $output == *"recv 123457 sha256 $("$STREAMGEN" sha 123457 3)"* ]]
}

@test "vsock-tool halfclose reads the echo after its SHUT_WR" {
	run guest_exec boot 'rm -f /tmp/l.log; vsock-tool listen 5003 echo >/tmp/l.log 2>&1 &
		wait-for /tmp/l.log listening && vsock-tool halfclose 1 5003'
	[ "$status" -eq 0 ]
	[ "$output" = 'recv 5 ping\n' ]
}

@test "vsock-tool connect to a closed port fails fast with ECONNRESET" {
	run guest_exec boot 'vsock-tool connect 1 5999'
	[ "$status" -eq 1 ]
	[[ $output =~ ^error\ ECONNRESET\ [0-9]+$ ]]
}

@test "vsock-tool many runs concurrent echo round trips against serve" {
	run guest_exec boot 'vsock-tool serve 5004 >/tmp/s.log 2>&1 &
		wait-for /tmp/s.log listening && vsock-tool -t 60 many 1 5004 32 65536'
	[ "$status" -eq 0 ]
	[ "$output" = "ok 32" ]
}

@test "socat VSOCK-LISTEN and VSOCK-CONNECT work inside the guest" {
	run guest_exec boot 'socat VSOCK-LISTEN:5005 SYSTEM:"echo hello-socat" >/dev/null 2>&1 &
		sleep 0.5; socat -T 10 - VSOCK-CONNECT:1:5005'
	[ "$status" -eq 0 ]
	[ "$output" = hello-socat ]
}

@test "ncat --vsock connects to a vsock-tool source inside the guest" {
	run guest_exec boot 'rm -f /tmp/l.log; vsock-tool listen 5006 source 4096 5 >/tmp/l.log 2>&1 &
		wait-for /tmp/l.log listening && ncat --vsock --recv-only 1 5006 | sha256sum'
	[ "$status" -eq 0 ]
	[[ $output == "$("$STREAMGEN" sha 4096 5)"* ]]
}

@test "run-guest --net --hostfwd --add --smp: eth0 is up, hostfwd reaches the guest, added files run" {
	local port hook=$BATS_FILE_TMPDIR/hook
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	printf '#!/bin/sh\necho hooked >/tmp/hooked\n' >"$hook"
	chmod +x "$hook"
	guest_start netg --net --hostfwd "tcp:127.0.0.1:$port-:7000" --smp 2 \
		--add "$STREAMGEN" --add "$hook:/etc/vmsvc-guest/rc.d/50-test"
	echo "# guest with --net ready after $(guest_boot_ms netg) ms" >&3
	run guest_exec netg 'ip -4 addr show eth0; ip route'
	[[ $output == *"inet 10.0.2.15/24"* ]]
	[[ $output == *"default via 10.0.2.2"* ]]
	run guest_exec netg 'streamgen sha 1000 1'
	[ "$output" = "$("$STREAMGEN" sha 1000 1)" ]
	run guest_exec netg 'cat /tmp/hooked; nproc'
	[ "$output" = $'hooked\n2' ]
	guest_exec netg 'nc -l -p 7000 -e echo via-hostfwd >/dev/null 2>&1 &
		sleep 0.5'
	run timeout 20 socat -T 10 - "TCP:127.0.0.1:$port"
	[ "$output" = via-hostfwd ]
	guest_stop netg
}

@test "guest_start fails with QEMU's message when the vhost-user backend is missing" {
	run guest_start novhost --vhost "$BATS_FILE_TMPDIR/missing.vhost"
	[ "$status" -ne 0 ]
	[[ $output == *"Failed to connect"*"missing.vhost"* ]]
}

@test "guest_stop powers the guest off and no QEMU is left" {
	local d pid qpid
	guest_start stopper
	d=$(guest_state_dir stopper)
	pid=$(cat "$d/pid")
	qpid=$(cat "$d/qemu.pid")
	_guest_alive "$qpid"
	guest_stop stopper
	run _guest_alive "$pid"
	[ "$status" -ne 0 ]
	run _guest_alive "$qpid"
	[ "$status" -ne 0 ]
	[ ! -e "$d/pid" ]
}
