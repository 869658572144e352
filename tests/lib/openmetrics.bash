# shellcheck shell=bash
# vmsvc stats --format=openmetrics in the bats tests: the text is checked by
# a real OpenMetrics parser (tests/tools/openmetrics.py, Debian's
# python3-prometheus-client), then queried as JSON.
#
#   om_parse FILE     fail (printing the parser's complaint and FILE) unless
#                     FILE is valid OpenMetrics text that the classic
#                     Prometheus parser takes too; keep what it holds in OM
#   om_check EXPR     fail (printing EXPR and what OM holds) unless the Python
#                     expression EXPR is true, with s = {"NAME{LABEL=VALUE,...}":
#                     value} (labels sorted, id and guid left out),
#                     f = {FAMILY: [type, unit, help]} and ids = {"vm=NAME" or
#                     "service=NAME": its id or guid label}

_om_py() {
	if [ -x /usr/bin/python3 ]; then
		/usr/bin/python3 "$@"
	else
		python3 "$@"
	fi
}

om_parse() {
	if ! OM=$(_om_py "$BATS_TEST_DIRNAME/tools/openmetrics.py" "$1"); then
		echo "# $1:" >&2
		sed 's/^/#   /' "$1" >&2
		return 1
	fi
}

om_check() {
	if ! _om_py -c '
import json, sys
j = json.loads(sys.argv[1])
s, f, ids = j["samples"], j["families"], j["ids"]
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$OM" "$1"; then
		echo "# OpenMetrics check failed: $1" >&2
		printf '%s\n' "$OM" >&2
		return 1
	fi
}
