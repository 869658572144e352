#!/usr/bin/env bats
# shellcheck disable=SC2154 # args set by the eval of vmsvc vm qemu-args
# vmsvc vm: every subcommand, its errors and exit codes (0 success, 1 failure,
# 2 wrong usage), --json output field by field, broken definitions, and the
# exact QEMU options of qemu-args. Runs the real binary on a private folder.

load lib/common

ID1=5b0d3f2e-8f4c-4c1e-9a51-0e6f2b7c9d11
PARENT=a42e7cda-d03f-480c-9cc2-a4de20abb878

setup() {
	common_setup
}

teardown() {
	common_teardown
}

@test "vm --help and every subcommand's --help print usage and exit 0" {
	for sub in "" add list show remove qemu-args; do
		run_vmsvc vm $sub --help
		expect 0
		stdout_has "Usage: vmsvc vm add NAME"
		stdout_has "SIZE must equal"
	done
}

@test "vm usage errors exit 2: no or unknown subcommand, unknown option, missing NAME" {
	run_vmsvc vm
	expect 2
	stderr_has "missing subcommand"
	run_vmsvc vm start web
	expect 2
	stderr_has "unknown subcommand 'start'"
	run_vmsvc vm list --all
	expect 2
	stderr_has "unknown option '--all'"
	run_vmsvc vm add
	expect 2
	stderr_has "add needs a NAME"
	run_vmsvc vm add a b
	expect 2
	run_vmsvc vm show
	expect 2
	run_vmsvc vm remove --json web
	expect 2
	run_vmsvc vm qemu-args
	expect 2
	run_vmsvc vm add web --cid
	expect 2
	stderr_has "option '--cid' needs a value"
	[ ! -e "$CFG" ]
}

@test "add picks the lowest free CID from 3 and a fresh id, and prints name, id, cid" {
	run_vmsvc vm add web
	expect 0
	stderr_empty
	[ "${lines[0]}" = "name:         web" ]
	[[ ${lines[1]} =~ ^id:\ +[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
	[ "${lines[2]}" = "cid:          3" ]
	run_vmsvc vm add db --json
	expect 0
	json_check "j['name'] == 'db' and j['cid'] == 4 and len(j['id']) == 36 and j['state'] == 'stopped' and j['connections'] == 0"
	run_vmsvc vm add fixed --cid 10 --id "{5B0D3F2E-8F4C-4C1E-9A51-0E6F2B7C9D11}" --description "CI runner"
	expect 0
	[ "${lines[1]}" = "id:           $ID1" ]
	[ "${lines[2]}" = "cid:          10" ]
	run_vmsvc vm remove web
	expect 0
	run_vmsvc vm add again --json
	json_check "j['cid'] == 3"
}

@test "the id is generated once and kept in vms.d/NAME.conf" {
	run_vmsvc vm add web --json
	id=$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$output")
	grep -qx "Id=$id" "$CFG/vms.d/web.conf"
	grep -qx "Cid=3" "$CFG/vms.d/web.conf"
	"$VMSVC" vm add other >/dev/null
	run_vmsvc vm show web --json
	json_check "j['id'] == '$id'"
	run_vmsvc vm add other2 --json
	json_check "j['id'] != '$id'"
}

@test "add rejects invalid names, CIDs and ids (2) and writes nothing" {
	long=$(printf 'a%.0s' $(seq 65))
	for n in -web .web a/b "a b" "$long" "caf"$'\xc3\xa9' ""; do
		run_vmsvc vm add -- "$n"
		expect 2
		stderr_has "invalid VM name"
	done
	for c in 0 1 2 4294967295 4294967296; do
		run_vmsvc vm add web --cid $c
		expect 2
		stderr_has "CID $c is out of range: use 3..4294967294"
	done
	run_vmsvc vm add web --cid 3x
	expect 2
	stderr_has "CID '3x' is not a decimal number"
	run_vmsvc vm add web --id 12x
	expect 2
	stderr_has "'12x' is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
	run_vmsvc vm add web --id $PARENT
	expect 2
	stderr_has "reserved GUID (HV_GUID_PARENT)"
	[ ! -e "$CFG" ]
	run_vmsvc vm add "${long:1}"
	expect 0
}

@test "add of a duplicate name, CID or id fails (1) and changes nothing" {
	"$VMSVC" vm add web --cid 5 --id $ID1 >/dev/null
	before=$(snapshot)
	run_vmsvc vm add web
	expect 1
	stderr_has "vmsvc: VM 'web' already exists (vms.d/web.conf)"
	run_vmsvc vm add db --cid 5
	expect 1
	stderr_has "CID 5 is already used by VM 'web' (vms.d/web.conf)"
	run_vmsvc vm add db --id $ID1
	expect 1
	stderr_has "id $ID1 is already used by VM 'web' (vms.d/web.conf)"
	[ "$(snapshot)" = "$before" ]
}

@test "list prints NAME ID CID STATE CONNECTIONS HEARTBEAT; --json gives every field" {
	run_vmsvc vm list
	expect 0
	read -r -a h <<<"${lines[0]}"
	[ "${h[*]}" = "NAME ID CID STATE CONNECTIONS HEARTBEAT" ]
	"$VMSVC" vm add web --id $ID1 --description "front end" >/dev/null
	"$VMSVC" vm add db --cid 7 >/dev/null
	run_vmsvc vm list
	expect 0
	[ "${#lines[@]}" = 3 ]
	read -r -a r <<<"${lines[2]}"
	[ "${r[*]}" = "web $ID1 3 stopped 0 Off" ]
	read -r -a r <<<"${lines[1]}"
	[ "${r[0]} ${r[2]} ${r[3]} ${r[4]} ${r[5]}" = "db 7 stopped 0 Off" ]
	run_vmsvc vm list --json
	expect 0
	json_check "[v['name'] for v in j] == ['db', 'web']"
	json_check "j[1] == {'name': 'web', 'id': '$ID1', 'cid': 3, 'state': 'stopped', 'connections': 0, 'description': 'front end', 'paused': False, 'heartbeat': {'status': 'off'}}"
	json_check "j[0]['cid'] == 7 and j[0]['description'] is None"
}

@test "show prints one VM, its files and sockets; unknown VMs fail (1)" {
	"$VMSVC" vm add web --id $ID1 >/dev/null
	run_vmsvc vm show web
	expect 0
	stdout_has "name:         web"
	stdout_has "id:           $ID1"
	stdout_has "cid:          3"
	stdout_has "state:        stopped"
	stdout_has "file:         $CFG/vms.d/web.conf"
	stdout_has "vhost-user:   $VMSVC_RUNTIME_DIR/vms/web.vhost"
	stdout_has "heartbeat:    Off"
	run_vmsvc vm show $ID1
	expect 0
	stdout_has "name:         web"
	run_vmsvc vm show web --json
	json_check "j['name'] == 'web' and j['id'] == '$ID1' and j['cid'] == 3 and j['state'] == 'stopped' and j['connections'] == 0"
	for sub in show remove qemu-args; do
		run_vmsvc vm $sub nosuch
		expect 1
		stderr_has "no VM 'nosuch'; the VMs are: web (see 'vmsvc vm list')"
	done
}

@test "remove deletes the definition" {
	"$VMSVC" vm add web >/dev/null
	run_vmsvc vm remove web
	expect 0
	[ ! -e "$CFG/vms.d/web.conf" ]
	run_vmsvc vm list --json
	json_check "j == []"
}

@test "remove and qemu-args also take the VmId, and act on the VM's name" {
	"$VMSVC" vm add web --id $ID1 >/dev/null
	run_vmsvc vm qemu-args $ID1
	expect 0
	stdout_has "path=$VMSVC_RUNTIME_DIR/vms/web.vhost"
	run_vmsvc vm remove $ID1
	expect 0
	[ ! -e "$CFG/vms.d/web.conf" ]
}

@test "qemu-args prints the memory backend and the vhost-user-vsock device" {
	"$VMSVC" vm add web >/dev/null
	run_vmsvc vm qemu-args web
	expect 0
	[ "$output" = "-object memory-backend-memfd,id=vmsvc-mem,size=256M,share=on -machine memory-backend=vmsvc-mem -chardev socket,id=vmsvc-web,path=$VMSVC_RUNTIME_DIR/vms/web.vhost -device vhost-user-vsock-pci,chardev=vmsvc-web" ]
	run_vmsvc vm qemu-args web --mem 2G
	expect 0
	stdout_has "memory-backend-memfd,id=vmsvc-mem,size=2G,share=on"
	for bad in 0 2X 1.5G "" -1 G 0256M; do
		run_vmsvc vm qemu-args web --mem "$bad"
		expect 2
		stderr_has "is not a size"
	done
}

@test "qemu-args doubles commas for QEMU and quotes for the shell" {
	"$VMSVC" vm add web >/dev/null
	run --separate-stderr "$VMSVC" --runtime-dir "/tmp/my run,dir" vm qemu-args web
	expect 0
	stdout_has "-chardev 'socket,id=vmsvc-web,path=/tmp/my run,,dir/vms/web.vhost' -device"
	eval "args=($output)"
	[ "${#args[@]}" = 8 ]
	[ "${args[5]}" = "socket,id=vmsvc-web,path=/tmp/my run,,dir/vms/web.vhost" ]
}

@test "a broken definition is reported with file:line and skipped; the others keep working" {
	"$VMSVC" vm add good >/dev/null
	mkdir -p "$CFG/vms.d"
	printf '[VM]\nId=%s\nCid=3\n' $ID1 >"$CFG/vms.d/zdup.conf"
	printf '[VM]\nId=%s\nCId=9\n' 6c1e4a3f-9a5d-4d2f-8b62-1f7a3c8dae22 >"$CFG/vms.d/typo.conf"
	printf '[VM]\nId=%s\nCid=11\n' 7d2f5b40-ab6e-4e30-9c73-208b4d9ebf33 >"$CFG/vms.d/bad name.conf"
	run_vmsvc vm list --json
	expect 0
	stderr_has "vmsvc: warning: vms.d/zdup.conf:3: Cid 3 is already used by vms.d/good.conf; this entry is ignored"
	stderr_has "vmsvc: warning: vms.d/typo.conf:3: unknown key 'CId' (did you mean 'Cid'?)"
	stderr_has "vmsvc: warning: vms.d/bad name.conf: file name: VM name 'bad name'"
	stderr_has "3 VM entries are skipped"
	json_check "[v['name'] for v in j] == ['good']"
	run_vmsvc vm show typo
	expect 1
	stderr_has "vms.d/typo.conf is broken"
	run_vmsvc vm remove typo
	expect 0
	[ ! -e "$CFG/vms.d/typo.conf" ]
	run_vmsvc vm add typo
	expect 0
}

@test "a file where vms.d should be: add and list fail (1) with the path" {
	mkdir -p "$CFG"
	: >"$CFG/vms.d"
	run_vmsvc vm add web
	expect 1
	stderr_has "vmsvc: cannot write $CFG/vms.d: Not a directory"
	run_vmsvc vm list
	expect 1
	stderr_has "vmsvc: cannot read $CFG/vms.d: Not a directory"
}

@test "an unprivileged user cannot define or remove VMs" {
	command -v setpriv >/dev/null || skip "setpriv not installed"
	[ "$(id -u)" = 0 ] || skip "needs root to switch to nobody"
	"$VMSVC" vm add web >/dev/null
	chmod 755 "$TEST_ROOT"
	before=$(snapshot)
	nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	run --separate-stderr "${nobody[@]}" "$VMSVC" vm list --json
	expect 0
	json_check "[v['name'] for v in j] == ['web']"
	run --separate-stderr "${nobody[@]}" "$VMSVC" vm add db
	expect 1
	stderr_has "vmsvc: cannot write $CFG/vms.d: Permission denied"
	run --separate-stderr "${nobody[@]}" "$VMSVC" vm remove web
	expect 1
	stderr_has "Permission denied"
	[ "$(snapshot)" = "$before" ]
}
