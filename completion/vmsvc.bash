# shellcheck shell=bash
# Bash completion for vmsvc (installed as "vmsvc" in bash-completion's
# completionsdir, loaded on first use).
#
# Nothing here lists a command, subcommand or option by hand: they come
# from vmsvc's own help, so they cannot drift from it. `vmsvc --help` gives
# the commands and the global options; the "Usage:" lines of
# `vmsvc COMMAND --help` give each form of the command (its words, the
# placeholders in upper case, the options in brackets, with the argument
# each takes), and a form with [OPTIONS] takes every option its help
# lists. What a placeholder is completed with goes by its name: VM, TARGET,
# WHO: the VMs (vmsvc vm list --json, so also without vmsvcd); SERVICE: the
# registered services (vmsvc service list --json); a path, user or group:
# bash's own; CMD: a command. Live names are asked with the same --config-dir and
# --runtime-dir as the command line has, and nothing is offered when vmsvc
# fails (or takes more than 2 s).

# _vmsvc_forms HELP: one line per form in the Usage block of HELP:
# "WORD WORD ...#OPTION OPTION ...". A WORD is a literal (a|b for
# alternatives), a placeholder (upper case, NAME|GUID) or "..." for a
# repeated last one; an OPTION is --name, --name:ARG (it takes ARG:
# a placeholder or a|b values) or OPTIONS (every option of the help).
_vmsvc_forms() {
	awk -v cmd="$2" '
	function flush() { if (form != "") forms[n++] = form; form = "" }
	/^Usage: / { inusage = 1; sub(/^Usage: /, "       ") }
	inusage && /^$/ { inusage = 0 }
	!inusage { next }
	/^ *vmsvc / {
		flush()
		line = $0
		while ((p = index(line, "| vmsvc ")) > 0) {
			form = substr(line, 1, p - 1); flush(); line = substr(line, p + 2)
		}
		form = line; next
	}
	/^ +\[/ { form = form " " $0 }
	END {
		flush()
		for (i = 0; i < n; i++) {
			f = forms[i]; gsub(/^ +| +$/, "", f)
			if (index(f, "vmsvc " cmd " ") != 1 && f != "vmsvc " cmd) continue
			f = substr(f, length("vmsvc " cmd) + 2)
			words = ""; opts = ""; depth = 0; grp = ""
			m = split(f, t, / +/)
			for (j = 1; j <= m; j++) {
				w = t[j]
				if (depth == 0 && w ~ /^\[/) { depth = 1; grp = "" }
				if (depth) {
					grp = grp " " w
					if (w ~ /\](\.\.\.)?$/) { depth = 0; opts = opts group(grp) }
					continue
				}
				if (w ~ /^--?[A-Za-z]/) {	# an option outside brackets
					g = w
					if (j < m && t[j + 1] ~ /^[A-Z]/) { g = g " " t[j + 1]; j++ }
					opts = opts group(g)
					continue
				}
				words = words " " w
			}
			sub(/^ /, "", words); sub(/^ /, "", opts)
			print words "#" opts
		}
	}
	# [--a ARG] [--b | --c X] [--d=x|y] [--e|--f] [OPTIONS] [ARG...]
	function group(g,    k, c, u, out, nm, q) {
		gsub(/[][]/, " ", g); gsub(/\.\.\./, " ", g); gsub(/ \| /, " ", g)
		c = split(g, u, / +/); out = ""
		for (k = 1; k <= c; k++) {
			if (u[k] == "OPTIONS") { out = out " OPTIONS"; continue }
			if (u[k] !~ /^--?[A-Za-z]/) continue
			if (index(u[k], "=") > 0) {
				nm = substr(u[k], 1, index(u[k], "=") - 1)
				out = out " " nm ":" substr(u[k], index(u[k], "=") + 1); continue
			}
			if (u[k] ~ /\|/) { q = u[k]; gsub(/\|/, " ", q); out = out " " q; continue }
			# its argument: a placeholder or a|b values, not a word
			if (k < c && u[k + 1] ~ /^[A-Za-z]/ && u[k + 1] !~ /^[a-z]+$/) {
				out = out " " u[k] ":" u[k + 1]; k++
			} else {
				out = out " " u[k]
			}
		}
		return out
	}' <<<"$1"
}

# _vmsvc_help_options HELP: every option HELP describes in its option
# lines, as -x, --name or --name:ARG ("  -r, -R, --recursive  ...",
# "  -u, --user USER  ...", "      --timeout S  ...", "  --format=FORMAT").
_vmsvc_help_options() {
	awk '/^ +-/ && match($0, /^ +/) && RLENGTH <= 8 {
		spec = substr($0, RLENGTH + 1)
		if ((i = index(spec, "  ")) > 0) spec = substr(spec, 1, i - 1)
		n = split(spec, part, /, /)
		arg = ""
		if (match(part[n], /[ =]/)) {
			arg = substr(part[n], RSTART + 1); part[n] = substr(part[n], 1, RSTART - 1)
		}
		for (k = 1; k <= n; k++)
			if (part[k] ~ /^-/) print part[k] (arg != "" ? ":" arg : "")
	}' <<<"$1"
}

# _vmsvc_live WHAT [ARG]: names from vmsvc, one per line ("" on failure):
# vms, services, shorts VM (the VM's integration services' short names).
_vmsvc_live() {
	local out
	case $1 in
	vms) out=$(_vmsvc_run vm list --json) ;;
	services) out=$(_vmsvc_run service list --json) ;;
	shorts) out=$(_vmsvc_run vm integration "$2" --json) ;;
	esac
	local key='"name"'
	[ "$1" = shorts ] && key='"short"'
	# pretty JSON from json-c: the top-level objects' members are indented
	# by 4; undo the escapes a name may have
	sed -n "s/^    $key: \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" <<<"$out" |
		sed 's/\\\//\//g; s/\\"/"/g; s/\\\\/\\/g'
}

# _vmsvc_run ARGS...: vmsvc with the command line's global options, quiet,
# at most 2 s.
_vmsvc_run() {
	local t=()
	command -v timeout >/dev/null && t=(timeout 2)
	"${t[@]}" "${_vmsvc_cmd[@]}" "$@" 2>/dev/null
}

# _vmsvc_add_words LIST: the words of LIST (one per line) that start with
# $cur, quoted for the command line, into COMPREPLY.
_vmsvc_add_words() {
	local w have
	while IFS= read -r w; do
		if [ -z "$w" ] || [[ $w != "$cur"* ]]; then
			continue
		fi
		if [[ $w == *[^-A-Za-z0-9_.:/@%+=,]* ]]; then
			printf -v w '%q' "$w"
		fi
		for have in "${COMPREPLY[@]}"; do
			[ "$have" = "$w" ] && continue 2
		done
		COMPREPLY+=("$w")
	done <<<"$1"
}

# _vmsvc_value SPEC: complete the value of a placeholder or a|b list.
_vmsvc_value() {
	local spec=$1 alt words=
	local IFS='|'
	for alt in $spec; do
		case $alt in
		VM | VMID | TARGET | WHO) words+=$(_vmsvc_live vms)$'\n' ;;
		NAME)
			case $_vmsvc_c in
			vm) [ "$_vmsvc_first" = add ] || words+=$(_vmsvc_live vms)$'\n' ;;
			service) [ "$_vmsvc_first" = add ] || words+=$(_vmsvc_live services)$'\n' ;;
			esac
			;;
		SERVICE)
			if [ "$_vmsvc_c" = vm ] && [ -n "$_vmsvc_vm" ]; then
				words+=$(_vmsvc_live shorts "$_vmsvc_vm")$'\n'
			else
				words+=$(_vmsvc_live services)$'\n'
			fi
			;;
		PATH | F | FILE | DIR | SRC | DST | ARG) _filedir ;;
		USER) words+=$(compgen -u)$'\n' ;;
		GROUP) words+=$(compgen -g)$'\n' ;;
		P) words+=$'host\nguest\nintrinsic\n' ;;
		CMD) words+=$(compgen -c -- "$cur")$'\n' ;;
		[a-z]*) words+=$alt$'\n' ;;
		esac
	done
	[ "$_vmsvc_c" = nc ] && [ "$spec" = TARGET ] && words+=$'loopback\nparent\n'
	unset IFS
	_vmsvc_add_words "$words"
}

_vmsvc() {
	local cur prev words cword split
	_init_completion -s || return

	local i=1 c='' _vmsvc_cmd=("${words[0]}") top
	while ((i < cword)); do
		case ${words[i]} in
		--config-dir | --runtime-dir)
			_vmsvc_cmd+=("${words[i]}" "${words[i + 1]}")
			((i += 2))
			;;
		-*) ((i++)) ;;
		*)
			c=${words[i]}
			break
			;;
		esac
	done
	if [ -z "$c" ]; then
		case $prev in
		--config-dir | --runtime-dir)
			_filedir -d
			return
			;;
		esac
		top=$(_vmsvc_run --help) || return
		if [[ $cur == -* ]]; then
			_vmsvc_add_words "$(sed -n '/^Options:/,$p' <<<"$top" |
				grep -oE -- '(^|[ ,])--?[a-z][-a-z]*' | tr -d ' ,')"
		else
			_vmsvc_add_words "$(sed -n '/^Commands:/,/^$/s/^  \([a-z][-a-z]*\) .*/\1/p' <<<"$top")"
		fi
		return
	fi

	local help forms all_opts
	help=$(_vmsvc_run "$c" --help) || return
	forms=$(_vmsvc_forms "$help" "$c")
	all_opts=$(_vmsvc_help_options "$help")

	# the words after the command: positionals, and options with their values
	local pos=() opt spec j after_dd=
	local -A takes=()
	while IFS= read -r opt; do
		# the usage's values (--format=table|json) before the help's FORMAT
		[[ $opt == *:* ]] && [ -z "${takes[${opt%%:*}]:-}" ] && takes[${opt%%:*}]=${opt#*:}
	done <<<"$(grep -- '^-' <<<"${forms//[ #]/$'\n'}"; printf '%s\n' "$all_opts")"
	for ((j = i + 1; j < cword; j++)); do
		if [ -z "$after_dd" ] && [ "${words[j]}" = -- ]; then
			after_dd=1
		elif [ -z "$after_dd" ] && [[ ${words[j]} == -* ]]; then
			[[ ${words[j]} != *=* ]] && [ -n "${takes[${words[j]}]:-}" ] && ((j++))
		else
			pos+=("${words[j]}")
		fi
	done

	# an option's value
	if [ -z "$after_dd" ]; then
		if [ -n "$split" ] && [ -n "${takes[$prev]:-}" ]; then
			_vmsvc_value "${takes[$prev]}"
			return
		fi
		if [[ $prev == -* ]] && [ -n "${takes[$prev]:-}" ] && [[ ${words[cword - 1]} != *=* ]]; then
			_vmsvc_value "${takes[$prev]}"
			return
		fi
	fi

	# the forms that fit the positionals so far: the next word, the options
	local line fw fwa fo k n w want=() opts=() _vmsvc_c=$c _vmsvc_first=${pos[0]:-} _vmsvc_vm=
	local one_form=
	# a command of one form: its help describes the options of that form
	[ "$(grep -c . <<<"$forms")" = 1 ] && one_form=" OPTIONS"
	while IFS='#' read -r fw fo; do
		read -ra fwa <<<"$fw"
		n=${#pos[@]}
		local fits=1 last=
		for ((k = 0; k < n; k++)); do
			w=${fwa[k]:-$last}
			[ "$w" = "..." ] && w=$last
			[[ $w == *... ]] && w=${w%...} && last=$w
			[ -z "$w" ] && fits= && break
			if [[ $w == [a-z]* ]]; then
				[[ "|$w|" == *"|${pos[k]}|"* ]] || { fits= && break; }
			elif [[ $w == VM* ]] && [ -z "$_vmsvc_vm" ]; then
				_vmsvc_vm=${pos[k]}
			fi
		done
		[ -n "$fits" ] || continue
		w=${fwa[n]:-}
		((n > 0)) && [ -z "$w" ] && [[ ${fwa[n - 1]:-} == *... ]] && w=${fwa[n - 1]%...}
		[ -n "$w" ] && [ "$w" != "..." ] && want+=("${w%...}")
		fo+=$one_form
		for opt in $fo; do
			if [ "$opt" = OPTIONS ]; then
				while IFS= read -r line; do opts+=("${line%%:*}"); done <<<"$all_opts"
			else
				opts+=("${opt%%:*}")
			fi
		done
	done <<<"$forms"

	if [[ $cur == -* ]] && [ -z "$after_dd" ]; then
		_vmsvc_add_words "$(printf '%s\n' "${opts[@]}" --help | sort -u)"
		[ ${#COMPREPLY[@]} -eq 1 ] && [[ ${COMPREPLY[0]} == *= ]] && compopt -o nospace
		return
	fi
	# each placeholder once: forms that share one would ask vmsvc again
	local -A asked=()
	for w in "${want[@]}"; do
		[ -n "${asked[$w]:-}" ] && continue
		asked[$w]=1
		_vmsvc_value "$w"
	done
	return 0
}
complete -F _vmsvc vmsvc
