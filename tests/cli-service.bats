#!/usr/bin/env bats
# vmsvc service: every subcommand, its errors and exit codes (0 success,
# 1 failure, 2 wrong usage), --json output field by field, and broken or
# hand-edited registry files. Runs the real binary on a private folder.

load lib/common

T2761=00000ac9-facb-11e6-bd58-64006a7986d3
T22=00000016-facb-11e6-bd58-64006a7986d3
SESSION=3b1c1cf9-7f45-4d2e-9b35-0f5c2e8a7d61
INBOX_SESSION=999e53d4-3d5c-4c3e-8779-bed06ec056e1
INBOX_HEARTBEAT=57164f39-9115-4e78-ab55-382f3bd5422d
INBOX_SHUTDOWN=0e0b6031-5213-4934-818b-38d90ced39db
INBOX_KVP=a9a0f4e7-5a45-4d96-b827-8a841e8c03e6
INBOX_VSS=35fa2e29-ea23-4236-96ae-3a6ebacba440
INBOX_TIMESYNC=9527e630-d0ae-497b-adce-e80ab0175caf

setup() {
	common_setup
}

teardown() {
	common_teardown
}

# --- help and usage ---

@test "service --help and every subcommand's --help print usage and exit 0" {
	for sub in "" add list show enable disable remove; do
		run_vmsvc service $sub --help
		expect 0
		stdout_has "Usage: vmsvc service add NAME"
	done
	run_vmsvc service -h
	expect 0
}

@test "service without or with an unknown subcommand is a usage error (2)" {
	run_vmsvc service
	expect 2
	stderr_has "missing subcommand"
	run_vmsvc service frobnicate
	expect 2
	stderr_has "unknown subcommand 'frobnicate'"
	stderr_has "Try 'vmsvc service --help'"
}

@test "unknown options, missing values and extra arguments are usage errors (2)" {
	run_vmsvc service list --bogus
	expect 2
	stderr_has "unknown option '--bogus'"
	run_vmsvc service add x --port
	expect 2
	stderr_has "option '--port' needs a value"
	run_vmsvc service add
	expect 2
	stderr_has "add needs a NAME"
	run_vmsvc service add a b
	expect 2
	stderr_has "unexpected argument 'b'"
	run_vmsvc service show
	expect 2
	run_vmsvc service list extra
	expect 2
	run_vmsvc service enable x --json
	expect 2
	[ ! -e "$CFG" ]
}

# --- add ---

@test "add without --guid or --port prints a template GUID of a free port >= 1024" {
	run_vmsvc service add backup
	expect 0
	stderr_empty
	[[ $output =~ ^[0-9a-f]{8}-facb-11e6-bd58-64006a7986d3$ ]]
	guid=$output
	port=$((16#${guid:0:8}))
	[ "$port" -ge 1024 ] && [ "$port" -le 2147483647 ]
	[ -f "$CFG/services.d/$guid.conf" ]
	run_vmsvc service show backup --json
	expect 0
	json_check "j['guid'] == '$guid' and j['port'] == $port and j['enabled'] is True"
}

@test "add --port N registers the VSOCK template GUID of N (ports below 1024 allowed)" {
	run_vmsvc service add ssh --port 22
	expect 0
	[ "$output" = "$T22" ]
	run_vmsvc service add big --port 4294967294
	expect 0
	[ "$output" = "fffffffe-facb-11e6-bd58-64006a7986d3" ]
}

@test "add --guid with a template GUID takes its port; a disagreeing --port is a usage error" {
	run_vmsvc service add web --guid "{00000AC9-FACB-11E6-BD58-64006A7986D3}"
	expect 0
	[ "$output" = "$T2761" ]
	run_vmsvc service show web --json
	json_check "j['port'] == 2761"
	run_vmsvc service add web2 --guid $T22 --port 23
	expect 2
	stderr_has "--port 23 disagrees with --guid $T22, the VSOCK template GUID of port 22"
	run_vmsvc service add web3 --guid $T22 --port 22
	expect 0
}

@test "add --guid with a non-template GUID needs --port" {
	run_vmsvc service add session --guid $SESSION
	expect 2
	stderr_has "is not a VSOCK-template GUID, so it needs --port N"
	[ ! -e "$CFG/services.d/$SESSION.conf" ]
	run_vmsvc service add session --guid $SESSION --port 5000
	expect 0
	[ "$output" = "$SESSION" ]
	run_vmsvc service show $SESSION --json
	json_check "j['port'] == 5000 and j['name'] == 'session'"
}

@test "add with a malformed GUID is a usage error naming the expected form" {
	run_vmsvc service add x --guid 12x
	expect 2
	stderr_has "vmsvc: '12x' is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
	run_vmsvc service add x --guid 00000ac9-facb-11e6-bd58-64006a7986d
	expect 2
	run_vmsvc service add x --guid 00000000-0000-0000-0000-000000000000 --port 5
	expect 2
	stderr_has "cannot be a service id"
	[ ! -e "$CFG" ]
}

@test "add rejects ports out of range: 0, 4294967295 (VMADDR_PORT_ANY), 2^32, text" {
	for p in 0 4294967295; do
		run_vmsvc service add x --port $p
		expect 2
		stderr_has "port $p is out of range: use 1..4294967294"
	done
	run_vmsvc service add x --port 4294967296
	expect 2
	stderr_has "out of range"
	run_vmsvc service add x --port 12ab
	expect 2
	stderr_has "port '12ab' is not a decimal number"
	run_vmsvc service add x --port -5
	expect 2
	run_vmsvc service add x --port 0x10
	expect 2
	stderr_has "port '0x10' is not a decimal number"
	run_vmsvc service add x --guid 00000000-facb-11e6-bd58-64006a7986d3
	expect 2
	stderr_has "template of port 0, which is not usable"
	[ ! -e "$CFG" ]
}

@test "add rejects invalid names (empty, blanks at the ends, leading '-', GUID, control chars, ' ;', > 160 bytes)" {
	for n in "" " lead" "trail " "$T22" $'a\tb' $'a\nb' $'a\x1bb' "a ; b"; do
		run_vmsvc service add -- "$n"
		expect 2
		stderr_has "invalid service name"
	done
	run_vmsvc service add -- -dash
	expect 2
	stderr_has "must not start with '-'"
	long=$(printf 'n%.0s' $(seq 161))
	run_vmsvc service add "$long"
	expect 2
	stderr_has "longer than 160 bytes"
	[ ! -e "$CFG" ]
	run_vmsvc service add "${long:1}"
	expect 0
	run_vmsvc service add "Caf"$'\xc3\xa9'" service; nightly = yes"
	expect 0
	run_vmsvc service list --json
	json_check "len(u) == 2 and u[0]['name'] == 'Café service; nightly = yes' and len(u[1]['name']) == 160"
}

@test "add of a duplicate name, GUID or port fails (1), names the entry and changes nothing" {
	run_vmsvc service add backup --port 2761
	expect 0
	before=$(snapshot)
	run_vmsvc service add backup --port 22
	expect 1
	stderr_has "vmsvc: service 'backup' already exists (services.d/$T2761.conf)"
	run_vmsvc service add other --guid $T2761
	expect 1
	stderr_has "GUID $T2761 is already registered as service 'backup' (services.d/$T2761.conf)"
	run_vmsvc service add other --port 2761
	expect 1
	stderr_has "port 2761 is already used by service 'backup' (services.d/$T2761.conf)"
	run_vmsvc service add other --guid $SESSION --port 2761
	expect 1
	stderr_has "port 2761 is already used by service 'backup'"
	[ "$(snapshot)" = "$before" ]
}

@test "add checks that --user and --group exist (1) and stores them" {
	run_vmsvc service add x --user no-such-user-vmsvc
	expect 1
	stderr_has "user 'no-such-user-vmsvc' does not exist"
	run_vmsvc service add x --group no-such-group-vmsvc
	expect 1
	stderr_has "group 'no-such-group-vmsvc' does not exist"
	run_vmsvc service add x --user "a:b"
	expect 2
	[ ! -e "$CFG/services.d" ] || [ -z "$(ls "$CFG/services.d")" ]
	run_vmsvc service add x --port 7 --user nobody --group nogroup --description "a ; b" --disabled
	expect 2
	stderr_has "must not have a blank before ';'"
	run_vmsvc service add x --port 7 --user nobody --group nogroup --description "a; b" --disabled
	expect 0
	run_vmsvc service show x --json
	json_check "j == {'name': 'x', 'guid': '00000007-facb-11e6-bd58-64006a7986d3', 'port': 7, 'enabled': False, 'user': 'nobody', 'group': 'nogroup', 'description': 'a; b', 'inbox': False}"
}

@test "add creates the config folder and writes a readable 0644 entry" {
	run_vmsvc service add ssh --port 22
	expect 0
	[ "$(stat -c %a "$CFG/services.d/$T22.conf")" = 644 ]
	grep -qx '\[Service\]' "$CFG/services.d/$T22.conf"
	grep -qx 'ElementName=ssh' "$CFG/services.d/$T22.conf"
	grep -qx 'Port=22' "$CFG/services.d/$T22.conf"
	grep -qx 'Enabled=true' "$CFG/services.d/$T22.conf"
}

# --- list and show ---

@test "list prints NAME GUID PORT STATE OWNER, sorted by name" {
	run_vmsvc service list
	expect 0
	# only the in-box services: Heartbeat, Key-Value Pair Exchange, Shutdown,
	# Time Synchronization, VM Session Service, VSS
	[ "${#lines[@]}" = 7 ]
	# the NAME column is as wide as the longest name, Key-Value Pair Exchange
	[ "${lines[0]}" = "$(printf '%-23s  %-36s  %-10s  %-8s  %s' NAME GUID PORT STATE OWNER)" ]
	read -r -a r <<<"${lines[1]}"
	[ "${r[*]}" = "Heartbeat $INBOX_HEARTBEAT 701 enabled in-box" ]
	read -r -a r <<<"${lines[2]}"
	[ "${r[*]}" = "Key-Value Pair Exchange $INBOX_KVP 704 enabled in-box" ]
	read -r -a r <<<"${lines[3]}"
	[ "${r[*]}" = "Shutdown $INBOX_SHUTDOWN 702 enabled in-box" ]
	read -r -a r <<<"${lines[4]}"
	[ "${r[*]}" = "Time Synchronization $INBOX_TIMESYNC 703 enabled in-box" ]
	read -r -a r <<<"${lines[5]}"
	[ "${r[*]}" = "VM Session Service $INBOX_SESSION 640 enabled in-box" ]
	read -r -a r <<<"${lines[6]}"
	[ "${r[*]}" = "VSS $INBOX_VSS 705 enabled in-box" ]
	"$VMSVC" service add zeta --port 22 >/dev/null
	"$VMSVC" service add alpha --port 2761 --user nobody --group nogroup --disabled >/dev/null
	"$VMSVC" service add mid --guid $SESSION --port 9 --group nogroup >/dev/null
	run_vmsvc service list
	expect 0
	stderr_empty
	[ "${#lines[@]}" = 10 ]
	read -r -a h <<<"${lines[0]}"
	[ "${h[*]}" = "NAME GUID PORT STATE OWNER" ]
	read -r -a r <<<"${lines[6]}"
	[ "${r[*]}" = "VSS $INBOX_VSS 705 enabled in-box" ]
	read -r -a r <<<"${lines[7]}"
	[ "${r[*]}" = "alpha $T2761 2761 disabled nobody:nogroup" ]
	read -r -a r <<<"${lines[8]}"
	[ "${r[*]}" = "mid $SESSION 9 enabled :nogroup" ]
	read -r -a r <<<"${lines[9]}"
	[ "${r[*]}" = "zeta $T22 22 enabled root" ]
}

@test "list --json gives every field of every entry, null when unset" {
	run_vmsvc service list --json
	expect 0
	json_check "u == []"
	"$VMSVC" service add ssh --port 22 --description "secure shell" >/dev/null
	"$VMSVC" service add backup --port 2761 --user nobody --disabled >/dev/null
	run_vmsvc service list --json
	expect 0
	json_check "isinstance(j, list) and len(u) == 2"
	json_check "u[0] == {'name': 'backup', 'guid': '$T2761', 'port': 2761, 'enabled': False, 'user': 'nobody', 'group': None, 'description': None, 'inbox': False}"
	json_check "u[1] == {'name': 'ssh', 'guid': '$T22', 'port': 22, 'enabled': True, 'user': None, 'group': None, 'description': 'secure shell', 'inbox': False}"
}

@test "show finds a service by name or by GUID in any case or braces" {
	"$VMSVC" service add ssh --port 22 >/dev/null
	for key in ssh $T22 "{00000016-FACB-11E6-BD58-64006A7986D3}"; do
		run_vmsvc service show "$key"
		expect 0
		stdout_has "name:         ssh"
		stdout_has "guid:         $T22"
		stdout_has "port:         22"
		stdout_has "state:        enabled"
		stdout_has "file:         $CFG/services.d/$T22.conf"
	done
	run_vmsvc service show $T22 --json
	expect 0
	json_check "j['name'] == 'ssh' and j['guid'] == '$T22' and j['port'] == 22 and j['enabled'] is True and j['user'] is None"
}

@test "show, enable, disable and remove of an unknown service fail (1)" {
	"$VMSVC" service add ssh --port 22 >/dev/null
	for sub in show enable disable remove; do
		run_vmsvc service $sub nosuch
		expect 1
		stderr_has "no service 'nosuch' in the registry"
		run_vmsvc service $sub $T2761
		expect 1
		stderr_has "no service '$T2761'"
		run_vmsvc service $sub SSH
		expect 1
	done
}

# --- enable, disable, remove ---

@test "disable and enable switch the state, are idempotent and keep hand-written comments" {
	"$VMSVC" service add ssh --port 22 >/dev/null
	sed -i 's/^Port=22$/# the guest sshd\nPort=22/' "$CFG/services.d/$T22.conf"
	run_vmsvc service disable ssh
	expect 0
	[ -z "$output" ]
	run_vmsvc service show ssh --json
	json_check "j['enabled'] is False"
	run_vmsvc service disable $T22
	expect 0
	run_vmsvc service enable $T22
	expect 0
	run_vmsvc service show ssh --json
	json_check "j['enabled'] is True"
	grep -qx '# the guest sshd' "$CFG/services.d/$T22.conf"
	[ "$(grep -c '^Enabled=' "$CFG/services.d/$T22.conf")" = 1 ]
}

@test "disable of a hand-written entry without Enabled= adds the key" {
	mkdir -p "$CFG/services.d"
	printf '[Service]\nElementName=hand\nPort=22\n' >"$CFG/services.d/$T22.conf"
	run_vmsvc service show hand --json
	json_check "j['enabled'] is True"
	run_vmsvc service disable hand
	expect 0
	run_vmsvc service show hand --json
	json_check "j['enabled'] is False"
}

@test "remove deletes by name or GUID; the name and port are free again" {
	"$VMSVC" service add ssh --port 22 >/dev/null
	"$VMSVC" service add web --port 2761 >/dev/null
	run_vmsvc service remove ssh
	expect 0
	[ ! -e "$CFG/services.d/$T22.conf" ]
	run_vmsvc service remove $T2761
	expect 0
	run_vmsvc service list --json
	json_check "u == []"
	run_vmsvc service add ssh --port 22
	expect 0
}

# --- broken and hand-edited files ---

write_entry() { # GUID TEXT
	mkdir -p "$CFG/services.d"
	printf '%b' "$2" >"$CFG/services.d/$1.conf"
}

@test "a broken entry is reported with file:line and skipped; the others keep working (exit 0)" {
	"$VMSVC" service add good --port 2761 >/dev/null
	write_entry $T22 '# typo below\n[Service]\nElementName=typo\nPrto=22\n'
	run_vmsvc service list --json
	expect 0
	stderr_has "vmsvc: warning: services.d/$T22.conf:4: unknown key 'Prto' (did you mean 'Port'?)"
	stderr_has "vmsvc: warning: services.d/$T22.conf: Port= is missing"
	stderr_has "1 service entry is skipped until fixed"
	json_check "[s['name'] for s in u] == ['good']"
	run_vmsvc service list
	expect 0
	stdout_has "good"
	[[ $output != *typo* ]]
	run_vmsvc service show good
	expect 0
	run_vmsvc service enable good
	expect 0
}

@test "every kind of mistake names its file and line" {
	write_entry $T22 '[Service]\nElementName=a\nPort=22x\n'
	write_entry $T2761 '[Service]\nElementName=b\nPort=2761\nEnabled=maybe\n'
	write_entry 00000003-facb-11e6-bd58-64006a7986d3 '[Service]\nElementName=c\nPort=4\n'
	write_entry 00000005-facb-11e6-bd58-64006a7986d3 'ElementName=d\n[Service]\nPort=5\n'
	write_entry 00000006-facb-11e6-bd58-64006a7986d3 '[Service]\nPort=6\nthis is junk\n'
	write_entry not-a-guid '[Service]\nElementName=e\nPort=8\n'
	write_entry 00000009-facb-11e6-bd58-64006a7986d3 '[Service]\nElementName=f\nPort=9\nPort=9\n'
	run_vmsvc service list
	expect 0
	stderr_has "services.d/$T22.conf:3: Port: '22x' is not a decimal number"
	stderr_has "services.d/$T2761.conf:4: Enabled: 'maybe' is not a boolean"
	stderr_has "services.d/00000003-facb-11e6-bd58-64006a7986d3.conf:3: Port=4 does not match the GUID, the VSOCK template GUID of port 3"
	stderr_has "services.d/00000005-facb-11e6-bd58-64006a7986d3.conf:1: 'ElementName=' comes before the [Service] line"
	stderr_has "services.d/00000006-facb-11e6-bd58-64006a7986d3.conf:3: expected 'Key=Value'"
	stderr_has "services.d/00000006-facb-11e6-bd58-64006a7986d3.conf: ElementName= is missing"
	stderr_has "services.d/not-a-guid.conf: file name is not a GUID"
	stderr_has "services.d/00000009-facb-11e6-bd58-64006a7986d3.conf:4: Port= is set twice (first on line 3)"
	stderr_has "7 service entries are skipped"
	[ "${#lines[@]}" = 7 ] # the header and the six in-box services
}

@test "hand-edited layout (CRLF, indentation, blanks, ';' in values) loads as meant" {
	write_entry $T22 '\xef\xbb\xbf; a comment\r\n[Service]\r\n   ElementName =  my ssh  \r\n\tPort = 22\r\nDescription = keys; passwords off\r\nEnabled = OFF'
	run_vmsvc service show $T22 --json
	expect 0
	stderr_empty
	json_check "j['name'] == 'my ssh' and j['port'] == 22 and j['enabled'] is False and j['description'] == 'keys; passwords off'"
}

@test "duplicate names or ports across files: the first file wins, the other is reported" {
	write_entry $T22 '[Service]\nElementName=dup\nPort=22\n'
	write_entry $T2761 '[Service]\nElementName=dup\nPort=2761\n'
	write_entry $SESSION '[Service]\nElementName=other\nPort=22\n'
	run_vmsvc service list --json
	expect 0
	stderr_has "services.d/$T2761.conf:2: ElementName 'dup' is already used by services.d/$T22.conf (service 'dup'); this entry is ignored"
	stderr_has "services.d/$SESSION.conf:3: Port 22 is already used by services.d/$T22.conf"
	json_check "[(s['name'], s['port']) for s in u] == [('dup', 22)]"
}

@test "a broken entry blocks its GUID for add, and remove GUID deletes it" {
	write_entry $T22 '[Service]\nElementName=x\nPrt=22\n'
	run_vmsvc service add new --port 22
	expect 1
	stderr_has "services.d/$T22.conf already exists but does not load"
	run_vmsvc service show $T22
	expect 1
	stderr_has "$CFG/services.d/$T22.conf is broken"
	run_vmsvc service remove $T22
	expect 0
	[ ! -e "$CFG/services.d/$T22.conf" ]
	run_vmsvc service add new --port 22
	expect 0
}

@test "stale temporary files and non-.conf files are never taken for entries" {
	write_entry $T22 '[Service]\nElementName=ssh\nPort=22\n'
	printf '[Service]\nElementName=torn' >"$CFG/services.d/.$T2761.conf.tmp-0badc0de"
	printf 'junk' >"$CFG/services.d/$T2761.conf~"
	printf 'junk' >"$CFG/services.d/README"
	run_vmsvc service list --json
	expect 0
	stderr_empty
	json_check "[s['name'] for s in u] == ['ssh']"
	run_vmsvc service disable ssh # a writer removes stale temporary files
	expect 0
	[ ! -e "$CFG/services.d/.$T2761.conf.tmp-0badc0de" ]
}

# --- folders that cannot be read or written ---

@test "a file where services.d should be: add fails (1) with the path, list fails (1)" {
	mkdir -p "$CFG"
	echo x >"$CFG/services.d"
	run_vmsvc service add x --port 5
	expect 1
	stderr_has "vmsvc: cannot write $CFG/services.d: Not a directory"
	run_vmsvc service list
	expect 1
	stderr_has "vmsvc: cannot read $CFG/services.d: Not a directory"
	[ "$(cat "$CFG/services.d")" = x ]
}

@test "a missing registry is an empty list, not an error" {
	run_vmsvc service list --json
	expect 0
	stderr_empty
	json_check "u == []"
	[ ! -e "$CFG" ]
}

@test "--config-dir overrides VMSVC_CONFIG_DIR" {
	run --separate-stderr "$VMSVC" --config-dir "$TEST_ROOT/other" service add ssh --port 22
	expect 0
	[ -f "$TEST_ROOT/other/services.d/$T22.conf" ]
	[ ! -e "$CFG" ]
}

@test "an unprivileged user can list but not change a root-owned registry" {
	command -v setpriv >/dev/null || skip "setpriv not installed"
	[ "$(id -u)" = 0 ] || skip "needs root to switch to nobody"
	"$VMSVC" service add ssh --port 22 >/dev/null
	chmod 755 "$TEST_ROOT"
	before=$(snapshot)
	nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	run --separate-stderr "${nobody[@]}" "$VMSVC" service list --json
	expect 0
	json_check "[s['name'] for s in u] == ['ssh']"
	run --separate-stderr "${nobody[@]}" "$VMSVC" service add web --port 2761
	expect 1
	stderr_has "vmsvc: cannot write $CFG/services.d: Permission denied"
	run --separate-stderr "${nobody[@]}" "$VMSVC" service disable ssh
	expect 1
	stderr_has "Permission denied"
	run --separate-stderr "${nobody[@]}" "$VMSVC" service remove ssh
	expect 1
	stderr_has "Permission denied"
	[ "$(snapshot)" = "$before" ]
}
