#!/usr/bin/env bats
# shellcheck disable=SC2030,SC2031,SC2154 # bats run; stderr set by bats run
# The key-value exchange's host side (daemon/icd-kvp.c, the kvp and
# kvp-watch operations of docs/control-protocol.md) with the real vmsvcd and
# vmsvc, and no guest: the host pool of a VM without QEMU works on its own.
# set, get, list and delete; the pool file in the state folder and a
# vmsvcd restart; the limits, with nothing changed after a refusal; who may
# read and write; watches (a change within 500 ms, overflow, a closed watch
# freed); a 64 KiB value of any bytes exactly; the service turned off.
# The guest side (the agent's pools, stale copies) needs vmsvc-agent and a
# booted guest: tests/e2e-kvp*.bats with a guest. Host programs use only the
# daemon's Unix sockets: never AF_VSOCK on the host.

load lib/common
load lib/guest
load lib/daemon
load lib/hv

G1=5b0d3f2e-8f4c-4c1e-9a51-0e6f2b7c9d11
CTLCALL=${VMSVC_SOURCE_DIR:-.}/tests/tools/ctlcall.py
KVPTOOL=${VMSVC_SOURCE_DIR:-.}/tests/tools/kvptool.py

setup_file() {
	e2e_require
	daemon_init
	chmod 755 "$E2E_ROOT" # nobody reaches control.sock
	local vm
	vmsvc vm add g1 --id $G1 >/dev/null
	for vm in keys bytes perm w off; do
		vmsvc vm add $vm >/dev/null
	done
	echo "DisabledServices=kvp" >>"$VMSVC_CONFIG_DIR/vms.d/off.conf"
	daemon_start # it makes the state folder
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
	bg_stop_all
	e2e_teardown_test
}

# ctl JSON [ctlcall options]: one control request as root.
ctl() {
	/usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" "$@"
}

# reply_check PYEXPR: PYEXPR over j, the reply line of the last run.
reply_check() {
	printf '%s' "${lines[0]}" | json_stdin "$1"
}

# json_stdin PYEXPR: PYEXPR over j, the JSON document on stdin (which may
# be larger than an argument can be).
json_stdin() {
	/usr/bin/python3 -c '
import json, sys
text = sys.stdin.read()
j = json.loads(text)
ok = eval(sys.argv[1])
if not ok:
    print("# check failed:", sys.argv[1], "\n# JSON:", text[:400])
sys.exit(0 if ok else 1)' "$1" >&2
}

# pool_state VM: a fingerprint of VM's host pool: its list and its file.
pool_state() {
	vmsvc kvp "$1" list --pool host --json | sha256sum
	sha256sum <"$VMSVC_STATE_DIR/kvp/$1.host"
}

@test "set, get, list and delete on the host pool of a VM without QEMU" {
	run_vmsvc kvp g1 set color blue
	expect 0
	[ -z "$output" ]
	run_vmsvc kvp g1 set "a key" $'two\nlines'
	expect 0
	run_vmsvc kvp $G1 set empty ""
	expect 0
	run_vmsvc kvp g1 get color
	expect 0
	[ "$output" = blue ]
	run_vmsvc kvp g1 list
	expect 0
	[ "$output" = 'host a\x20key two\nlines
host color blue
host empty' ] || { _show_run; false; }
	run_vmsvc kvp g1 list --json --prefix co
	expect 0
	json_check "j == [{'pool': 'host', 'key': 'color', 'value': 'blue', 'gen': 3}]"
	run_vmsvc kvp g1 list --pool guest
	expect 0
	[ -z "$output" ]
	run ctl '{"op":"kvp","vm":"g1","action":"get","key":"a key"}'
	reply_check 'j == {"ok": True, "pool": "host", "key": "a key", "value": "two\nlines", "gen": 3}'
	run_vmsvc kvp g1 delete color
	expect 0
	run_vmsvc kvp g1 get color
	expect 1
	stderr_has "no key 'color' in VM 'g1'"
	run_vmsvc kvp g1 delete color
	expect 1
	stderr_has "no key 'color' in the host pool of VM 'g1'"
	run ctl '{"op":"kvp","vm":"g1","action":"set","pool":"guest","key":"k","value_b64":""}'
	reply_check 'j["error"] == "EPERM" and "written in the guest" in j["message"]'
	run_vmsvc kvp nosuch list
	expect 125
	stderr_has "no VM 'nosuch'"
}

@test "the host pool is stored in STATEDIR/kvp/NAME.host (0600, folders 0700) and survives a vmsvcd restart" {
	vmsvc kvp g1 set keep "this stays"
	printf '\000\001\377' | vmsvc kvp g1 set bin --file -
	[ "$(stat -c %a "$VMSVC_STATE_DIR")" = 700 ]
	[ "$(stat -c %a "$VMSVC_STATE_DIR/kvp")" = 700 ]
	[ "$(stat -c %a "$VMSVC_STATE_DIR/kvp/g1.host")" = 600 ]
	run vmsvc kvp g1 list --json --pool host
	local before=$output
	daemon_stop
	daemon_start
	grep -q "VM g1: kvp: host pool loaded" "$E2E_ROOT/daemon.log"
	run_vmsvc kvp g1 get keep
	expect 0
	[ "$output" = "this stays" ]
	vmsvc kvp g1 get bin | cmp - <(printf '\000\001\377')
	run vmsvc kvp g1 list --json --pool host
	[ "$output" = "$before" ]
	# the generation goes on from where it was
	run ctl '{"op":"kvp","vm":"g1","action":"set","key":"keep","value_b64":"eA=="}'
	reply_check "j['ok'] and j['gen'] > $(echo "$before" | /usr/bin/python3 -c 'import json,sys; print(max(i["gen"] for i in json.load(sys.stdin)))')"
}

@test "a damaged pool file is set aside and the pool starts empty" {
	daemon_stop
	printf 'not a pool file' >"$VMSVC_STATE_DIR/kvp/perm.host"
	daemon_start
	grep -q "perm.host is no pool file" "$E2E_ROOT/daemon.log"
	[ -e "$VMSVC_STATE_DIR/kvp/perm.host.damaged" ]
	run_vmsvc kvp perm list
	expect 0
	[ -z "$output" ]
}

@test "limits through vmsvc: a 513-byte key, a value of 64 KiB + 1 (125, nothing changed)" {
	vmsvc kvp g1 set base value
	local before
	before=$(pool_state g1)
	run_vmsvc kvp g1 set "$(printf 'k%.0s' {1..513})" v
	expect 125
	stderr_has "keys are 1 to 512 bytes"
	head -c 65537 /dev/zero >"$E2E_ROOT/big"
	run_vmsvc kvp g1 set k --file "$E2E_ROOT/big"
	expect 125
	stderr_has "longer than 65536 bytes"
	# vmsvcd refuses them too when asked directly
	run ctl "{\"op\":\"kvp\",\"vm\":\"g1\",\"action\":\"set\",\"key\":\"$(printf 'k%.0s' {1..513})\",\"value_b64\":\"\"}"
	reply_check 'j["error"] == "E2BIG"'
	run ctl "{\"op\":\"kvp\",\"vm\":\"g1\",\"action\":\"set\",\"key\":\"k\",\"value_b64\":\"$(base64 -w0 "$E2E_ROOT/big")\"}"
	reply_check 'j["error"] == "E2BIG"'
	run ctl '{"op":"kvp","vm":"g1","action":"set","key":"","value_b64":""}'
	reply_check 'j["error"] == "EINVAL"'
	run ctl '{"op":"kvp","vm":"g1","action":"set","key_b64":"YQBi","value_b64":""}'
	reply_check 'j["error"] == "EINVAL"' # a NUL in the key
	[ "$(pool_state g1)" = "$before" ]
}

@test "limits: the 4097th key and more than 1 MiB are ENOSPC (125), nothing changed" {
	# 4096 keys stored while vmsvcd is stopped: it loads them
	daemon_stop
	/usr/bin/python3 "$KVPTOOL" poolfile "$VMSVC_STATE_DIR/kvp/keys.host" 4096
	daemon_start
	grep -q "VM keys: kvp: host pool loaded (4096 keys)" "$E2E_ROOT/daemon.log"
	run_vmsvc kvp keys list --pool host
	[ "${#lines[@]}" = 4096 ]
	local before
	before=$(pool_state keys)
	run_vmsvc kvp keys set one-more x
	expect 125
	stderr_has "the host pool of VM keys is full"
	stderr_has "limits: keys 1-512 bytes"
	[ "$(pool_state keys)" = "$before" ]
	# a key already there may still change
	run_vmsvc kvp keys set key00007 changed
	expect 0
	# bytes: 15 values of 64 KiB fit, a 16th does not
	head -c 65536 /dev/zero | tr '\0' v >"$E2E_ROOT/64k"
	local n
	for n in $(seq 1 15); do
		vmsvc kvp bytes set "v$n" --file "$E2E_ROOT/64k"
	done
	before=$(pool_state bytes)
	run_vmsvc kvp bytes set v16 --file "$E2E_ROOT/64k"
	expect 125
	stderr_has "is full"
	[ "$(pool_state bytes)" = "$before" ]
	run_vmsvc kvp bytes set v1 small
	expect 0
	run_vmsvc kvp bytes set v16 --file "$E2E_ROOT/64k"
	expect 0
}

@test "a list is a stream: far more than a control message (nearly 1 MiB) comes whole, in order" {
	# bytes: 15 values of 64 KiB (and v16) from the test before
	vmsvc kvp bytes list --json --pool host |
		json_stdin "len(j) == 16 and [i['key'] for i in j] == sorted(i['key'] for i in j) and sum(len(i.get('value', '')) for i in j) > 15 * 65536 - 1"
	run ctl '{"op":"kvp","vm":"bytes","action":"list","pool":"host","prefix":"v1"}' --read 1000000
	reply_check 'j == {"ok": True, "vm": "bytes"}'
	[ "${lines[1]}" = "fd yes" ]
}

@test "a 64 KiB value of any bytes comes back exactly; so does one that doubles when escaped" {
	head -c 65536 /dev/urandom >"$E2E_ROOT/rand"
	vmsvc kvp g1 set random --file "$E2E_ROOT/rand"
	vmsvc kvp g1 get random | cmp - "$E2E_ROOT/rand"
	# text that json-c writes as two bytes per byte: a 128 KiB reply
	head -c 65536 /dev/zero | tr '\0' '"' >"$E2E_ROOT/quotes"
	vmsvc kvp g1 set quotes --file "$E2E_ROOT/quotes"
	vmsvc kvp g1 get quotes | cmp - "$E2E_ROOT/quotes"
	run ctl '{"op":"kvp","vm":"g1","action":"get","key":"quotes"}'
	reply_check 'len(j["value"]) == 65536'
	run ctl '{"op":"kvp","vm":"g1","action":"get","key":"random"}'
	reply_check 'len(j["value_b64"]) == 87384'
	# and through a watch line
	vmsvc kvp g1 list --json --prefix random | json_stdin "len(j) == 1 and j[0]['value_b64'] == '$(base64 -w0 "$E2E_ROOT/rand")'"
}

@test "who may: root and SessionUsers= read and write, the vmsvc group reads, nobody else" {
	vmsvc kvp perm set k v
	run as_nobody -- "$VMSVC" kvp perm get k
	[ "$status" = 125 ]
	[[ $output == *"not permitted: nobody (uid 65534) may not read the key-value pools of VM perm"* ]] || { echo "$output"; false; }
	run as_nobody -- "$VMSVC" kvp perm set k w
	[ "$status" = 125 ]
	[[ $output == *"may not write the host pool of VM perm"* ]]
	# an unknown VM: the same answer for nobody, ENOENT for root
	run as_nobody -- /usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" '{"op":"kvp","vm":"nosuch","action":"list"}'
	reply_check 'j["error"] == "EACCES"'
	run ctl '{"op":"kvp","vm":"nosuch","action":"list"}'
	reply_check 'j["error"] == "ENOENT"'
	# the vmsvc group reads, and may not write
	run as_nobody --regid=nogroup --groups=vmsvc -- "$VMSVC" kvp perm get k
	[ "$status" = 0 ] && [ "$output" = v ]
	run as_nobody --regid=nogroup --groups=vmsvc -- "$VMSVC" kvp perm delete k
	[ "$status" = 125 ]
	run as_nobody --regid=nogroup --groups=vmsvc -- /usr/bin/python3 "$CTLCALL" "$VMSVC_RUNTIME_DIR/control.sock" '{"op":"kvp-watch","vm":"perm"}'
	reply_check 'j == {"ok": True}'
	# SessionUsers=nobody: read and write (vmsvcd picks the change up)
	echo "SessionUsers=nobody" >>"$VMSVC_CONFIG_DIR/vms.d/perm.conf"
	local n
	for ((n = 0; n < 50; n++)); do
		as_nobody -- "$VMSVC" kvp perm set k from-nobody 2>/dev/null && break
		sleep 0.1
	done
	run_vmsvc kvp perm get k
	[ "$output" = from-nobody ]
	run as_nobody -- "$VMSVC" kvp perm list
	[ "$status" = 0 ] && [ "$output" = "host k from-nobody" ]
	sed -i '/^SessionUsers=/d' "$VMSVC_CONFIG_DIR/vms.d/perm.conf"
}

@test "a user but root holds at most 16 watches and lists" {
	echo "SessionUsers=nobody" >>"$VMSVC_CONFIG_DIR/vms.d/perm.conf"
	local n
	for ((n = 0; n < 50; n++)); do
		as_nobody -- "$VMSVC" kvp perm get k >/dev/null 2>&1 && break
		sleep 0.1
	done
	mkfifo "$E2E_ROOT/hold"
	as_nobody -- /usr/bin/python3 "$KVPTOOL" watches "$VMSVC_RUNTIME_DIR/control.sock" perm 17 \
		<"$E2E_ROOT/hold" >"$E2E_ROOT/watches.out" 2>&1 3>&- &
	bg_track $!
	exec 4>"$E2E_ROOT/hold"
	for ((n = 0; n < 100; n++)); do
		grep -q '^error' "$E2E_ROOT/watches.out" && break
		sleep 0.05
	done
	run cat "$E2E_ROOT/watches.out"
	[ "${lines[0]}" = "opened 16" ] && [ "${lines[1]}" = "error EAGAIN" ] || { echo "$output"; false; }
	# root is not counted
	run ctl '{"op":"kvp-watch","vm":"perm"}'
	reply_check 'j["ok"]'
	exec 4>&-
	sed -i '/^SessionUsers=/d' "$VMSVC_CONFIG_DIR/vms.d/perm.conf"
}

# watch_start ID VM ARGS...: vmsvc kvp VM watch ARGS in the background,
# output in ID.out; returns once it sees a change (a probe key set until
# the watch reports it; the probe is deleted again).
watch_start() {
	local id=$1 vm=$2 n
	shift 2
	bg "$id" "$VMSVC" kvp "$vm" watch "$@"
	for ((n = 0; n < 100; n++)); do
		"$VMSVC" kvp "$vm" set probe/$n x
		grep -q "probe/$n" "$E2E_ROOT/$id.out" 2>/dev/null && break
		sleep 0.05
	done
	for ((n = n; n >= 0; n--)); do
		"$VMSVC" kvp "$vm" delete probe/$n 2>/dev/null || true
	done
	grep -q probe/ "$E2E_ROOT/$id.out"
}

@test "a watch sees a set within 500 ms, and deletes; --pool and --prefix filter" {
	watch_start w1 w
	bg w2 "$VMSVC" kvp w watch --json --pool host job/
	bg w3 "$VMSVC" kvp w watch --pool guest
	sleep 0.3
	local t0 t1 n
	t0=$(date +%s%N)
	vmsvc kvp w set job/1 started
	for ((n = 0; n < 100; n++)); do
		grep -q "^set host job/1 started$" "$E2E_ROOT/w1.out" && break
		sleep 0.01
	done
	t1=$(date +%s%N)
	grep -q "^set host job/1 started$" "$E2E_ROOT/w1.out"
	echo "# seen after $(((t1 - t0) / 1000000)) ms" >&3
	[ $(((t1 - t0) / 1000000)) -lt 500 ]
	vmsvc kvp w set other x
	vmsvc kvp w delete job/1
	out_wait w1 "^delete host job/1$" 2
	out_wait w2 '"op":"delete"' 2
	run cat "$E2E_ROOT/w2.out"
	[ "${#lines[@]}" = 2 ] || { echo "$output"; false; }
	[[ ${lines[0]} =~ ^\{\"pool\":\"host\",\"op\":\"set\",\"key\":\"job/1\",\"value\":\"started\",\"gen\":[0-9]+\}$ ]]
	[ ! -s "$E2E_ROOT/w3.out" ]
}

@test "a watch that does not read gets {\"op\":\"overflow\"} and its end; vmsvcd frees closed watches" {
	local base n
	base=$(daemon_fd_count)
	run /usr/bin/python3 "$KVPTOOL" overflow "$VMSVC_RUNTIME_DIR/control.sock" w 40
	[ "$status" = 0 ]
	[[ $output =~ ^lines\ ([0-9]+)\ sets\ ([0-9]+)\ overflow\ yes\ eof$ ]] || { echo "$output"; false; }
	[ "${BASH_REMATCH[2]}" -lt 40 ]
	for n in 1 2 3 4 5; do
		bg "cw$n" "$VMSVC" kvp w watch
	done
	for ((n = 0; n < 100; n++)); do
		[ "$(daemon_fd_count)" -ge $((base + 5)) ] && break
		sleep 0.05
	done
	[ "$(daemon_fd_count)" -ge $((base + 5)) ]
	bg_stop_all
	for ((n = 0; n < 100; n++)); do
		[ "$(daemon_fd_count)" -le "$base" ] && break
		sleep 0.05
	done
	[ "$(daemon_fd_count)" -le "$base" ]
}

@test "the service turned off for the VM or in the registry: EOPNOTSUPP (125) with how to turn it on" {
	run_vmsvc kvp off list
	expect 125
	stderr_has "the Key-Value Pair Exchange is disabled for VM off (DisabledServices= in vms.d/off.conf)"
	run ctl '{"op":"kvp-watch","vm":"off"}'
	reply_check 'j["error"] == "EOPNOTSUPP"'
	vmsvc service disable "Key-Value Pair Exchange" >/dev/null
	run_vmsvc kvp g1 set k v
	expect 125
	stderr_has "disabled in the registry; turn it on with 'vmsvc service enable kvp'"
	vmsvc service enable "Key-Value Pair Exchange" >/dev/null
	run_vmsvc kvp g1 set k v
	expect 0
}

@test "integration lists the Key-Value Pair Exchange with its pools" {
	run ctl '{"op":"integration","vm":"g1"}'
	reply_check '[x for x in j["services"] if x["short"] == "kvp"][0]["pools"]["host"]["keys"] >= 1 and [x for x in j["services"] if x["short"] == "kvp"][0]["status"] == "off"'
}
