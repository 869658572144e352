#!/usr/bin/env bats
# shellcheck disable=SC2154 # stderr: set by bats' run --separate-stderr
# The bash completion of vmsvc (completion/vmsvc.bash) through
# bash-completion's own machinery (tests/lib/completion.bash): commands,
# subcommands and options as the --help texts give them (a wrapper that adds
# an option to a help shows that nothing is listed by hand), option values,
# and live VM and service names from vmsvc's --json output, with and without
# a running vmsvcd, failing quietly.

load lib/common
load lib/daemon
load lib/completion

ID1=5b0d3f2e-8f4c-4c1e-9a51-0e6f2b7c9d11

setup() {
	common_setup
	mkdir -p "$CFG"
}

teardown() {
	local rc=0
	daemon_test_done || rc=1
	common_teardown
	return $rc
}

# is LINE...: $output (the candidates) is exactly these lines, sorted.
is() {
	local want
	want=$(printf '%s\n' "$@" | LC_ALL=C sort)
	if [ "$(LC_ALL=C sort <<<"$output")" != "$want" ]; then
		printf '# candidates:\n%s\n# expected:\n%s\n' "$output" "$want" >&2
		return 1
	fi
}

# help_options ARGS...: the options `vmsvc ARGS --help` names in its usage
# lines and in the first column of its option lines, one per line.
help_options() {
	"$VMSVC" "$@" --help | sed -n '1,/^$/p; s/^ \{1,8\}\(-.*\)/\1/p' | sed 's/  .*//' |
		grep -oE -- '(^|[^-[:alnum:]])(--[a-z][-a-z0-9]*[a-z0-9]|-[A-Za-z])' |
		sed 's/^[^-]*//' | sort -u
}

@test "commands and global options: those of vmsvc --help, filtered by the word so far" {
	comp ''
	mapfile -t want < <("$VMSVC" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][-a-z]*\) .*/\1/p')
	[ "${#want[@]}" -ge 10 ]
	is "${want[@]}"
	comp s
	is service shell stats
	comp --
	is --config-dir --runtime-dir --help --version
	comp --config-dir "$TEST_ROOT/co"
	is "$TEST_ROOT/config"
	[ -z "$stderr" ]
}

@test "subcommands of vm, service, guid and kvp come from their usage lines" {
	"$VMSVC" vm add web >/dev/null
	comp vm ''
	is add list show remove qemu-args libvirt-xml integration shutdown freeze thaw
	comp service ''
	is add list show enable disable remove
	comp guid ''
	is new from-port port show
	comp vm integration web ''
	is enable disable
	# kvp: a VM first (on the host), then what to do
	comp kvp web ''
	is list get set delete watch
}

@test "options per command and per form are those of the help" {
	"$VMSVC" vm add web >/dev/null
	for c in exec cp nc listen stats shell; do
		comp "$c" -
		mapfile -t want < <(help_options "$c")
		[ "${#want[@]}" -ge 1 ]
		is "${want[@]}" --help
	done
	comp vm shutdown web --
	is --reboot --halt --force --timeout --message --no-wait --help
	comp vm add web2 --
	is --cid --id --description --json --help
	comp kvp web set key --
	is --file --help
	comp service add x --d
	is --description --disabled
	# after --, exec completes the guest command, never an option
	comp exec web -- -
	is
}

@test "option values: formats, pools, host users, folders" {
	"$VMSVC" vm add web >/dev/null
	comp stats --format=''
	is table json openmetrics
	comp stats --format o
	is openmetrics
	comp kvp web list --pool ''
	is host guest intrinsic
	comp service add x --user roo
	is root
	mkdir -p "$TEST_ROOT/mnt/a" "$TEST_ROOT/mnt/b"
	comp vm freeze web --mount "$TEST_ROOT/mnt/"
	is "$TEST_ROOT/mnt/a" "$TEST_ROOT/mnt/b"
}

@test "live names without vmsvcd: the VMs of vms.d, the registry's services (quoted), and nothing (quietly) when vmsvc fails" {
	"$VMSVC" vm add web --id $ID1 >/dev/null
	"$VMSVC" vm add db >/dev/null
	"$VMSVC" service add 'my "odd" svc/1' --port 5000 >/dev/null
	comp vm show ''
	is db web
	comp exec w
	is web
	comp nc ''
	is db web loopback parent
	comp listen --vm d
	is db
	comp nc web my
	is 'my\ \"odd\"\ svc/1'
	comp service disable He
	is Heartbeat
	# the command line's --config-dir is the one asked
	mkdir -p "$TEST_ROOT/other"
	VMSVC_CONFIG_DIR=$TEST_ROOT/other "$VMSVC" vm add far >/dev/null
	comp --config-dir "$TEST_ROOT/other" vm show ''
	is far
	# a config folder that cannot be read: no names, no noise, status 0
	mkdir -p "$TEST_ROOT/locked/vms.d"
	printf '[VM]\nBogus=1\n' >"$TEST_ROOT/locked/vms.d/bad.conf"
	comp --config-dir "$TEST_ROOT/locked" vm show ''
	is
	[ -z "$stderr" ]
	comp --config-dir /nonexistent/folder vm integration web disable ''
	[ -z "$stderr" ]
}

@test "live names with vmsvcd: a VM added while it runs, the VM's integration services from vmsvcd; vmsvcd stopped: still the config's" {
	daemon_use_test_root
	"$VMSVC" vm add web >/dev/null
	daemon_start
	"$VMSVC" vm add late >/dev/null
	comp vm show ''
	is late web
	comp vm integration web disable ''
	mapfile -t want < <("$VMSVC" vm integration web --json | "$PYTHON" -c 'import json, sys; print("\n".join(s["short"] for s in json.load(sys.stdin)))')
	[ "${#want[@]}" -ge 6 ]
	is "${want[@]}"
	daemon_stop
	comp vm integration web enable ''
	is "${want[@]}"
	[ -z "$stderr" ]
	comp vm show l
	is late
}

@test "nothing is listed by hand: an option added to a help is offered at once" {
	cat >"$TEST_ROOT/vmsvc" <<WRAP
#!/bin/sh
if [ "\$*" = "stats --help" ]; then
	"$VMSVC" stats --help | sed 's/^Usage: vmsvc stats \[/Usage: vmsvc stats [--since T] [/'
	exit 0
fi
exec "$VMSVC" "\$@"
WRAP
	chmod +x "$TEST_ROOT/vmsvc"
	VMSVC=$TEST_ROOT/vmsvc comp stats --s
	is --since
	comp stats --s
	is
}
