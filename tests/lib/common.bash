# shellcheck shell=bash
# Shared helpers for the bats tests that run the real vmsvc binary against a
# private config folder (never /etc/vmsvc or /run/vmsvc).
#
#   common_setup          make a private folder (mktemp -d) with config/ and
#                         run/ in it; export VMSVC_CONFIG_DIR, VMSVC_RUNTIME_DIR;
#                         find $VMSVC if the environment did not give it
#   common_teardown       remove that folder
#   run_vmsvc ARGS...     run "$VMSVC ARGS..." with bats' run: $status,
#                         $output (stdout only) and $stderr
#   expect STATUS         fail (printing stdout and stderr) unless $status is STATUS
#   stdout_has TEXT, stderr_has TEXT, stderr_empty
#                         fail unless stdout / stderr contain TEXT (fixed string)
#   json_check EXPR       evaluate the Python expression EXPR with j = the JSON
#                         document in $output; fail (printing both) unless true
#   snapshot              print a listing (name, size, checksum) of the config
#                         folder, to compare before and after a failing command
#
# Needs bats >= 1.5 (run --separate-stderr) and python3. Beware: bats' own
# functions assign a global i, so a loop around 'run' must not count with i.

bats_require_minimum_version 1.5.0

# Debian's python3 (tools/bootstrap) starts fastest; a shim such as pyenv's
# can cost a second per call.
if [ -x /usr/bin/python3 ]; then
	PYTHON=/usr/bin/python3
else
	PYTHON=python3
fi

common_setup() {
	if [ -z "${VMSVC:-}" ]; then
		local src
		src=${VMSVC_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
		VMSVC=${VMSVC_BUILD_DIR:-$src/build}/cli/vmsvc
	fi
	export VMSVC
	[ -x "$VMSVC" ] || {
		echo "vmsvc binary not found at $VMSVC (build first, or set VMSVC)" >&2
		return 1
	}
	TEST_ROOT=$(mktemp -d /tmp/vmsvc-cli.XXXXXX)
	export VMSVC_CONFIG_DIR=$TEST_ROOT/config
	export VMSVC_RUNTIME_DIR=$TEST_ROOT/run
	CFG=$VMSVC_CONFIG_DIR
}

common_teardown() {
	if [ -n "${TEST_ROOT:-}" ] && [ -d "$TEST_ROOT" ]; then
		chmod -R u+rwX "$TEST_ROOT" 2>/dev/null || true
		rm -rf "$TEST_ROOT"
	fi
}

run_vmsvc() {
	run --separate-stderr "$VMSVC" "$@"
}

# shellcheck disable=SC2154 # status and output: set by bats' run
_show_run() {
	printf '# status: %s\n# stdout:\n%s\n# stderr:\n%s\n' "$status" "$output" \
		"${stderr:-}" >&2
}

expect() {
	if [ "$status" != "$1" ]; then
		echo "# expected exit status $1" >&2
		_show_run
		return 1
	fi
}

stdout_has() {
	if [[ $output != *"$1"* ]]; then
		echo "# stdout lacks: $1" >&2
		_show_run
		return 1
	fi
}

stderr_has() {
	if [[ ${stderr:-} != *"$1"* ]]; then
		echo "# stderr lacks: $1" >&2
		_show_run
		return 1
	fi
}

stderr_empty() {
	if [ -n "${stderr:-}" ]; then
		echo "# stderr should be empty" >&2
		_show_run
		return 1
	fi
}

json_check() {
	if ! "$PYTHON" -c '
import json, sys
j = json.loads(sys.argv[1])
# u: a service list without the in-box services (registered out of the box)
u = [e for e in j if not (isinstance(e, dict) and e.get("inbox"))] if isinstance(j, list) else j
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$output" "$1"; then
		echo "# JSON check failed: $1" >&2
		_show_run
		return 1
	fi
}

snapshot() {
	(cd "$CFG" 2>/dev/null && find . -print0 | sort -z |
		xargs -0 -r stat -c '%n %F %s %a' &&
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum) || true
}
