#!/usr/bin/env bats
# The manual pages (man/, as meson builds them): vmsvc(1), vmsvcd(8),
# vmsvc-agent(8), vmsvc-services.d(5), vmsvc-vms.d(5), vmsvc-agent.conf(5).
# They lint clean under mandoc's strictest level and render without groff
# warnings; their options are those of the programs' --help, and the file
# formats' keys those of the parsers (tests/tools/mandrift.py), so that
# neither side drifts. install.bats checks where meson installs them.
#
# Why `mandoc -T lint -W style`: style is mandoc's lowest threshold, so
# every message it has counts (style, warning, error, unsupported), and
# mandoc exits non-zero on any of them. The pages are new and small, so
# nothing needs excusing; a lower bar (-W warning) would let through what
# man-db's groff renders badly or what a later mandoc turns into a
# warning. `man --warnings` adds groff's own view (macro, escape and
# line-breaking warnings) at the width people read (80 columns).

load lib/common

PAGES=(vmsvc.1 vmsvcd.8 vmsvc-agent.8 vmsvc-services.d.5 vmsvc-vms.d.5 vmsvc-agent.conf.5)

setup() {
	common_setup
	MAN_DIR=$VMSVC_BUILD_DIR/man
	for tool in mandoc man groff; do
		command -v "$tool" >/dev/null || {
			echo "$tool is missing: run tools/bootstrap (packages mandoc, man-db)" >&2
			return 1
		}
	done
	for p in "${PAGES[@]}"; do
		[ -f "$MAN_DIR/$p" ] || {
			echo "$MAN_DIR/$p is missing (build first)" >&2
			return 1
		}
	done
}

teardown() {
	common_teardown
}

drift() {
	run "$PYTHON" "$BATS_TEST_DIRNAME/tools/mandrift.py" "$@"
	printf "# %s\n" "${lines[@]}" >&3
}

@test "the build has exactly the six pages, each with the project's version" {
	local built=()
	for f in "$MAN_DIR"/*.[0-9]; do
		built+=("${f##*/}")
	done
	[ "$(printf '%s\n' "${PAGES[@]}" | sort)" = "$(printf '%s\n' "${built[@]}" | sort)" ]
	version=$("$VMSVC" --version)
	for p in "${PAGES[@]}"; do
		grep -q "^\.TH [A-Z.-]* [158] [0-9-]* \"${version}\"" "$MAN_DIR/$p"
	done
}

@test "mandoc -T lint -W style: no message at all for any page" {
	for p in "${PAGES[@]}"; do
		run mandoc -T lint -W style "$MAN_DIR/$p"
		if [ "$status" != 0 ] || [ -n "$output" ]; then
			echo "# $p: mandoc exit status $status:" >&2
			echo "$output" >&2
			return 1
		fi
	done
}

@test "mandoc's lint does report a broken page (the check above can fail)" {
	sed 's/^\.SH DESCRIPTION$/.SH DESCRIPTION \n.XX/' "$MAN_DIR/vmsvcd.8" >"$TEST_ROOT/bad.8"
	run mandoc -T lint -W style "$TEST_ROOT/bad.8"
	[ "$status" != 0 ]
	[[ $output == *"whitespace at end of input line"* ]]
	[[ $output == *"unknown macro"* ]]
}

@test "man --warnings -l renders every page at 80 columns without a warning" {
	for p in "${PAGES[@]}"; do
		run --separate-stderr env MANWIDTH=80 MAN_KEEP_FORMATTING= man --warnings -l "$MAN_DIR/$p"
		if [ "$status" != 0 ] || [ -n "$stderr" ]; then
			echo "# $p: man exit status $status:" >&2
			echo "$stderr" >&2
			return 1
		fi
		[[ ${lines[0]} == VMSVC* ]]
		[[ $output == *NAME* ]]
		[[ $output == *"SEE ALSO"* ]]
	done
	# groff's warnings do reach stderr: a line it cannot break
	printf '.TH X 1\n.SH NAME\nx \\- y\n.SH DESCRIPTION\n%s\n' "$(printf 'a%.0s' {1..120})" >"$TEST_ROOT/long.1"
	run --separate-stderr env MANWIDTH=80 man --warnings -l "$TEST_ROOT/long.1"
	[[ $stderr == *"can't break line"* ]]
}

@test "vmsvc(1): the global options and every command's options are those of vmsvc --help and vmsvc COMMAND --help" {
	drift cli "$MAN_DIR/vmsvc.1" "$VMSVC"
	[ "$status" = 0 ]
	# every command of the dispatcher, with its own subsection
	[[ $output =~ ^ok:\ ([0-9]+)\ option\ sets$ ]]
	n=$("$VMSVC" --help | sed -n '/^Commands:/,/^$/p' | grep -c '^  [a-z]')
	[ "$n" -ge 10 ]
	[ "${BASH_REMATCH[1]}" = $((n + 1)) ]
}

@test "vmsvcd(8) and vmsvc-agent(8): the options are those of their --help" {
	drift program "$MAN_DIR/vmsvcd.8" "$VMSVC_VMSVCD"
	[ "$status" = 0 ]
	drift program "$MAN_DIR/vmsvc-agent.8" "$VMSVC_AGENT"
	[ "$status" = 0 ]
}

@test "the drift check fails when an option is in --help only or in the page only" {
	# --help with one more option: a vmsvc whose 'stats --help' adds --bogus
	cat >"$TEST_ROOT/vmsvc" <<EOF
#!/bin/sh
"$VMSVC" "\$@" || exit \$?
[ "\$*" != "stats --help" ] || echo "  --bogus  not an option"
EOF
	chmod +x "$TEST_ROOT/vmsvc"
	drift cli "$MAN_DIR/vmsvc.1" "$TEST_ROOT/vmsvc"
	[ "$status" = 1 ]
	[ "$output" = "vmsvc stats: --help has --bogus, the page has not" ]
	# the page with one more option, in vm shutdown's subsection
	sed 's/^\.B \\-\\-no\\-wait$/&\n.TP\n.B \\-\\-bogus\nnot an option/' "$MAN_DIR/vmsvc.1" >"$TEST_ROOT/vmsvc.1"
	drift cli "$TEST_ROOT/vmsvc.1" "$VMSVC"
	[ "$status" = 1 ]
	[ "$output" = "vmsvc vm: the page has --bogus, --help has not" ]
	# a program page without one of its options
	grep -v 'state\\-dir' "$MAN_DIR/vmsvcd.8" >"$TEST_ROOT/vmsvcd.8"
	drift program "$TEST_ROOT/vmsvcd.8" "$VMSVC_VMSVCD"
	[ "$status" = 1 ]
	[[ $output == *"vmsvcd: --help has --state-dir, the page has not"* ]]
	# a command without a subsection of its own
	sed 's/^\.SS vmsvc guid$/.SS guid/' "$MAN_DIR/vmsvc.1" >"$TEST_ROOT/vmsvc.1"
	drift cli "$TEST_ROOT/vmsvc.1" "$VMSVC"
	[ "$status" = 1 ]
	[[ $output == *"vmsvc guid: the page has no subsection 'vmsvc guid' in COMMANDS"* ]]
}

@test "section 5: the keys and sections each page documents are those its parser knows" {
	local src=$VMSVC_SOURCE_DIR
	drift keys "$MAN_DIR/vmsvc-services.d.5" "$src/conf/registry.c"
	[ "$output" = "ok: 6 keys" ]
	drift keys "$MAN_DIR/vmsvc-vms.d.5" "$src/conf/vmtable.c"
	[ "$output" = "ok: 6 keys" ]
	drift keys "$MAN_DIR/vmsvc-agent.conf.5" "$src/agent/agent-conf.c"
	[ "$status" = 0 ]
	[[ $output =~ ^ok:\ 1[0-9]\ keys$ ]]
	# and the check notices a key missing from a page
	grep -v '^\.BI TakeOver ' "$MAN_DIR/vmsvc-agent.conf.5" >"$TEST_ROOT/a.5"
	drift keys "$TEST_ROOT/a.5" "$src/agent/agent-conf.c"
	[ "$status" = 1 ]
	[ "$output" = "a.5: agent-conf.c knows TakeOver=, the page does not" ]
}

# example PAGE: the lines of PAGE's EXAMPLES block, roff escapes undone.
example() {
	sed -n '/^\.SH EXAMPLES/,/^\.EE/p' "$MAN_DIR/$1" | sed '1,2d;$d' | sed 's/\\-/-/g'
}

@test "section 5: the examples of services.d and vms.d load without a warning" {
	example vmsvc-services.d.5 >"$TEST_ROOT/svc"
	example vmsvc-vms.d.5 >"$TEST_ROOT/vm"
	svc_file=$(sed -n '1s|^# /etc/vmsvc/||p' "$TEST_ROOT/svc")
	vm_file=$(sed -n '1s|^# /etc/vmsvc/||p' "$TEST_ROOT/vm")
	[ "$svc_file" = services.d/00001388-facb-11e6-bd58-64006a7986d3.conf ]
	[ "$vm_file" = vms.d/web1.conf ]
	mkdir -p "$CFG/services.d" "$CFG/vms.d"
	cp "$TEST_ROOT/svc" "$CFG/$svc_file"
	cp "$TEST_ROOT/vm" "$CFG/$vm_file"
	run_vmsvc service show greeter --json
	expect 0
	stderr_empty
	json_check "j['port'] == 5000 and j['enabled'] and j['user'] == 'nobody' and j['description']"
	run_vmsvc vm show web1 --json
	expect 0
	stderr_empty
	json_check "j['cid'] == 3 and j['description'] == 'web front end' and [s['enabled'] for s in j['integration_services'] if s['short'] == 'shutdown'] == [False]"
}
