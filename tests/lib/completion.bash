# shellcheck shell=bash
# Bash completion in the bats tests: bash-completion's own machinery
# (/usr/share/bash-completion/bash_completion, Debian's bash-completion)
# with vmsvc's script (completion/vmsvc.bash) in a fresh non-interactive
# bash, the completion function called as readline would call it.
#
#   comp WORD... ''    the candidates for the last word of the command line
#                      "$VMSVC WORD..." (the cursor at its end; '' for a new
#                      word), one per line, sorted, in $output (bats run)
#
# The environment (VMSVC_CONFIG_DIR, VMSVC_RUNTIME_DIR) is the test's.

COMP_SCRIPT=${COMP_SCRIPT:-$BATS_TEST_DIRNAME/../completion/vmsvc.bash}

_comp_run() {
	local bc=/usr/share/bash-completion/bash_completion
	[ -r "$bc" ] || {
		echo "$bc is missing: run tools/bootstrap (package bash-completion)" >&2
		return 1
	}
	bash --norc --noprofile -c '
		set +o posix
		. "$1" || exit 3
		. "$2" || exit 3
		shift 2
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		COMP_TYPE=9
		COMP_KEY=9
		f=$(complete -p vmsvc | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
		[ -n "$f" ] || exit 4
		"$f" vmsvc "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort
	' comp "$bc" "$COMP_SCRIPT" "$VMSVC" "$@"
}

# shellcheck disable=SC2154 # status, stderr: set by bats' run
comp() {
	run --separate-stderr _comp_run "$@"
	if [ "$status" != 0 ]; then
		echo "# completion of '$*' failed: status $status, stderr: $stderr" >&2
		return 1
	fi
}
