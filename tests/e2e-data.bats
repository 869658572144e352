#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# End-to-end: bulk data through the real vmsvcd with one booted
# guest (CID 5): 256 MiB each way with random write sizes, SHA-256 compared on
# both ends (streams from tests/guest/stream.h: vsock-tool in the guest,
# streamgen on the host), and both directions at once through a host echo.
# Rates are printed (TCG is slow: about 10 MB/s on the test machine).

load lib/guest
load lib/daemon

BIG=$((256 * 1024 * 1024))

setup_file() {
	e2e_require
	daemon_init
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc service add bulk --port 5000 >/dev/null
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
}

teardown() {
	e2e_teardown_test
}

# rate BYTES MS: "N MB/s" (10^6 bytes).
rate() {
	echo "$(($1 * 1000 / ($2 > 0 ? $2 : 1) / 1000000)) MB/s"
}

# gen_to_guest BYTES SEED PORT: the streamgen stream into g1's guest PORT.
gen_to_guest() {
	"$VMSVC_STREAMGEN" gen "$1" "$2" | hybrid g1 --port "$3" --stdin --sha --timeout 290
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

@test "guest to host: 256 MiB with random write sizes, SHA-256 equal on both ends" {
	local sha t0 ms
	sha=$("$VMSVC_STREAMGEN" sha "$BIG" 31)
	peer_start sink "$(vm_port_path g1 5000)" sink
	t0=$(now_ms)
	run guest_exec -t 300 g1 "vsock-tool -t 290 send 2 5000 $BIG 31"
	ms=$(($(now_ms) - t0))
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "sent $BIG sha256 $sha" ]
	[ "${lines[1]}" = "recv 0 sha256 $(sha256sum </dev/null | cut -d' ' -f1)" ]
	peer_wait sink "^recv 1 " 30
	[ "$(peer_count sink "^recv 1 $BIG sha256 $sha\$")" = 1 ]
	echo "# guest -> host 256 MiB: $ms ms, $(rate "$BIG" "$ms")" >&3
	peer_stop sink
}

@test "host to guest: 256 MiB through CONNECT with random write sizes, SHA-256 equal" {
	local sha t0 ms
	sha=$("$VMSVC_STREAMGEN" sha "$BIG" 32)
	guest_exec g1 'rm -f /tmp/l.log; vsock-tool listen 6000 sink >/tmp/l.log 2>&1 &
		wait-for /tmp/l.log listening'
	t0=$(now_ms)
	run gen_to_guest "$BIG" 32 6000
	ms=$(($(now_ms) - t0))
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} =~ ^line\ OK\ [0-9]+$ ]]
	[ "${lines[1]}" = "sent $BIG" ]
	[ "${lines[2]}" = "recv 0 sha256 $(sha256sum </dev/null | cut -d' ' -f1)" ]
	[[ ${lines[3]} =~ ^eof ]]
	run guest_exec g1 'wait-for /tmp/l.log "^recv" 60 && cat /tmp/l.log'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"accepted cid=2 port="* ]]
	[[ $output == *"recv $BIG sha256 $sha"* ]]
	echo "# host -> guest 256 MiB: $ms ms, $(rate "$BIG" "$ms")" >&3
}

@test "both directions at once: 32 MiB through a host echo, SHA-256 equal" {
	local n=$((32 * 1024 * 1024)) sha t0 ms
	sha=$("$VMSVC_STREAMGEN" sha "$n" 33)
	peer_start echo "$(vm_port_path g1 5000)" echo
	t0=$(now_ms)
	run guest_exec -t 300 g1 "vsock-tool -t 290 send 2 5000 $n 33"
	ms=$(($(now_ms) - t0))
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "sent $n sha256 $sha"$'\n'"recv $n sha256 $sha" ]
	peer_wait echo "^echoed 1 $n\$" 10
	echo "# echo 32 MiB each way at once: $ms ms" >&3
	peer_stop echo
}

@test "host to guest with a stalled guest reader: 16 MiB, credit respected, no byte lost" {
	local n=$((16 * 1024 * 1024)) sha
	sha=$("$VMSVC_STREAMGEN" sha "$n" 34)
	# ncat blocks on the pipe for 3 s: the guest's receive buffer fills
	# and the daemon must wait for credit (a Linux guest drops the excess).
	guest_exec g1 'rm -f /tmp/stall.sum
		(ncat -v -l --recv-only --vsock 6001 2>/tmp/stall.log |
			(sleep 3; sha256sum >/tmp/stall.tmp; mv /tmp/stall.tmp /tmp/stall.sum)) \
			>/dev/null 2>&1 &
		wait-for /tmp/stall.log Listening'
	run gen_to_guest "$n" 34 6001
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "sent $n" ]
	run guest_exec g1 'wait-for /tmp/stall.sum . 60 && cat /tmp/stall.sum'
	[ "${output%% *}" = "$sha" ]
}

@test "guest to host with a stalled host reader: 16 MiB, no byte lost" {
	local n=$((16 * 1024 * 1024)) sha
	sha=$("$VMSVC_STREAMGEN" sha "$n" 35)
	peer_start slow "$(vm_port_path g1 5000)" sink 3
	run guest_exec -t 200 g1 "vsock-tool -t 190 send 2 5000 $n 35"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "sent $n sha256 $sha" ]
	peer_wait slow "^recv 1 $n sha256 $sha\$" 30
	peer_stop slow
}

@test "the daemon's counters account for the bytes of both directions" {
	run vmsvc stats --json
	echo "$output"
	[ "$status" -eq 0 ]
	python3 -c '
import json, sys
j = json.loads(sys.argv[1])
big = int(sys.argv[2])
vms = j["vms"] if isinstance(j["vms"], list) else [dict(v, name=k) for k, v in j["vms"].items()]
g1 = [v for v in vms if v["name"] == "g1"][0]
assert g1["bytes_to_host"] >= big + 32 * 2**20, g1
assert g1["bytes_to_guest"] >= big + 32 * 2**20, g1
assert g1["active"] == 0, g1
' "$output" "$BIG"
}

@test "vmsvcd stops cleanly on SIGTERM (exit 0, sockets removed, no sanitizer report)" {
	daemon_stop
}
