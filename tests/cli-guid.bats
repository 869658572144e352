#!/usr/bin/env bats
# vmsvc guid (new, from-port, port, show) and the top-level --help, against
# ../shared/vectors/guids.tsv.

load lib/common

setup() {
	common_setup
	VECTORS=${VMSVC_VECTORS_DIR:?}/guids.tsv
	[ -f "$VECTORS" ]
}

teardown() {
	common_teardown
}

@test "guid from-port and guid port map every vector both ways" {
	local n=0
	while IFS=$'\t' read -r name guid win rfc port; do
		[[ $name == \#* ]] && continue
		if [ "$port" = - ]; then
			run_vmsvc guid port "$guid"
			expect 1
			stderr_has "is not a VSOCK-template GUID"
		else
			run_vmsvc guid from-port "$port"
			expect 0
			[ "$output" = "$guid" ]
			run_vmsvc guid port "$(echo "$guid" | tr a-f A-F)"
			expect 0
			[ "$output" = "$port" ]
		fi
		n=$((n + 1))
	done <"$VECTORS"
	[ "$n" -ge 10 ]
}

@test "guid show prints both byte orders, the port and the well-known name of every vector" {
	while IFS=$'\t' read -r name guid win rfc port; do
		[[ $name == \#* ]] && continue
		run_vmsvc guid show "{$guid}" --json
		expect 0
		json_check "j['guid'] == '$guid' and j['windows_bytes'] == '$win' and j['rfc4122_bytes'] == '$rfc'"
		if [ "$port" = - ]; then
			json_check "j['port'] is None"
		else
			json_check "j['port'] == $port"
		fi
		case $name in
		VSOCK_PORT_*) ;;
		*) json_check "j['name'] == '$name'" ;;
		esac
	done <"$VECTORS"
	run_vmsvc guid show parent
	expect 0
	stdout_has "a42e7cda-d03f-480c-9cc2-a4de20abb878"
	stdout_has "windows bytes:  da7c2ea43fd00c489cc2a4de20abb878"
	stdout_has "well-known:     HV_GUID_PARENT"
}

@test "guid new gives a template GUID: of the given port, or of a random port no service uses" {
	run_vmsvc guid new --port 2761
	expect 0
	[ "$output" = 00000ac9-facb-11e6-bd58-64006a7986d3 ]
	run_vmsvc service add one --port 1024
	expect 0
	local seen=
	for _ in 1 2 3 4 5; do
		run_vmsvc guid new
		expect 0
		[[ $output =~ ^[0-9a-f]{8}-facb-11e6-bd58-64006a7986d3$ ]]
		run_vmsvc guid port "$output"
		expect 0
		[ "$output" -ge 1024 ]
		[ "$output" -le 2147483647 ]
		[ "$output" != 1024 ]
		seen="$seen $output"
	done
	# five random ports are not all the same
	[ "$(echo "$seen" | tr ' ' '\n' | sort -u | grep -c .)" -gt 1 ]
}

@test "guid rejects malformed input with exit 2 and a precise message" {
	for bad in "" "xyz" "a42e7cda-d03f-480c-9cc2-a4de20abb87" "a42e7cdad03f480c9cc2a4de20abb878" \
		" a42e7cda-d03f-480c-9cc2-a4de20abb878" "{a42e7cda-d03f-480c-9cc2-a4de20abb878"; do
		run_vmsvc guid port "$bad"
		expect 2
		stderr_has "is not a GUID"
	done
	for bad in -1 4294967296 12ab 0x 1e3 " 5"; do
		run_vmsvc guid from-port "$bad"
		expect 2
		stderr_has "is not a number"
	done
	run_vmsvc guid from-port 0x0ac9
	expect 0
	[ "$output" = 00000ac9-facb-11e6-bd58-64006a7986d3 ]
	run_vmsvc guid from-port 010
	expect 0
	[ "$output" = 0000000a-facb-11e6-bd58-64006a7986d3 ]
	run_vmsvc guid show nosuchname
	expect 2
	stderr_has "neither a GUID"
	run_vmsvc guid frobnicate
	expect 2
	run_vmsvc guid
	expect 2
	run_vmsvc guid new extra
	expect 2
}

@test "vmsvc --help lists every command and the exit codes; each command has --help" {
	run_vmsvc --help
	expect 0
	for c in service vm guid nc listen stats; do
		stdout_has "  $c "
		run_vmsvc "$c" --help
		expect 0
		stdout_has "Usage: vmsvc $c"
		run_vmsvc --help
	done
	stdout_has "0 success, 1 failure, 2 wrong usage"
	run_vmsvc frobnicate
	expect 2
	run_vmsvc
	expect 2
	run_vmsvc --version
	expect 0
	stdout_has "vmsvc "
}
