#!/usr/bin/env bats
# meson install: headers, libvmsvc (shared, SONAME, only the public API
# exported), vmsvc.pc, the binaries; and the uninstalled vmsvc.pc of the build
# folder compiles and links a program against the build tree.

load lib/install

setup_file() {
	export DEST=$BATS_FILE_TMPDIR/dest
	install_dest "$DEST"
	PREFIX=$(build_option prefix)
	export ROOT=$DEST$PREFIX PREFIX
	# A sanitized build's library needs the sanitizer runtime: build the
	# test programs the same way.
	SAN=$(build_option b_sanitize)
	CCBIN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["command"].split()[0])' \
		"$VMSVC_BUILD_DIR/compile_commands.json")
	CFLAGS_SAN=
	[ "$SAN" = none ] || CFLAGS_SAN=-fsanitize=$SAN
	export SAN CCBIN CFLAGS_SAN
}

@test "headers, library, pkg-config file and binaries are installed" {
	[ -f "$ROOT/include/vmsvc/hvsocket.h" ]
	[ -f "$ROOT/include/vmsvc/vmsvc.h" ]
	lib=$(find "$ROOT" -name 'libvmsvc.so.0.*' -type f)
	[ -n "$lib" ]
	[ -L "$(dirname "$lib")/libvmsvc.so.0" ]
	[ -L "$(dirname "$lib")/libvmsvc.so" ]
	[ -n "$(find "$ROOT" -name vmsvc.pc)" ]
	[ -x "$ROOT/bin/vmsvc" ]
	[ -x "$ROOT/sbin/vmsvcd" ]
	[ -x "$ROOT/sbin/vmsvc-agent" ]
	grep -q "^ExecStart=/.*/sbin/vmsvc-agent$" "$ROOT/lib/systemd/system/vmsvc-agent.service"
	grep -qx 'ConditionVirtualization=vm' "$ROOT/lib/systemd/system/vmsvc-agent.service"
}

@test "the manual pages go to share/man/manN, the bash completion to bash-completion's folder" {
	for p in man1/vmsvc.1 man8/vmsvcd.8 man8/vmsvc-agent.8 man5/vmsvc-services.d.5 \
		man5/vmsvc-vms.d.5 man5/vmsvc-agent.conf.5; do
		[ -s "$ROOT/share/man/$p" ]
	done
	# completionsdir of bash-completion.pc, under this prefix; loaded by name
	dir=$(pkg-config --variable=completionsdir --define-variable=datadir="$PREFIX/share" bash-completion)
	[ -n "$dir" ]
	[ -s "$DEST$dir/vmsvc" ]
	grep -q '^complete -F _vmsvc vmsvc$' "$DEST$dir/vmsvc"
}

@test "libvmsvc has SONAME libvmsvc.so.0 and exports only hv_* functions" {
	lib=$(find "$ROOT" -name 'libvmsvc.so.0.*' -type f)
	readelf -d "$lib" | grep -q 'SONAME.*\[libvmsvc.so.0\]'
	exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}')
	[ -n "$exported" ]
	bad=$(echo "$exported" | grep -v '^hv_' || true)
	if [ -n "$bad" ]; then
		echo "exported beyond the public API: $bad" >&2
		return 1
	fi
	echo "$exported" | grep -qx hv_guid_parse
	echo "$exported" | grep -qx hv_connect
}

@test "a program builds against the uninstalled vmsvc.pc and runs" {
	export PKG_CONFIG_PATH=$VMSVC_BUILD_DIR/meson-uninstalled
	cat >"$BATS_TEST_TMPDIR/t.c" <<'C'
#include <stdio.h>
#include <vmsvc/vmsvc.h>
int main(void)
{
	hv_guid_t g;
	char s[HV_GUID_STRSIZE];
	uint32_t port;
	struct sockaddr_hv a = { .Family = AF_HYPERV, .VmId = HV_GUID_PARENT_INIT };
	if (hv_guid_parse("{00000AC9-FACB-11E6-BD58-64006A7986D3}", &g) || hv_guid_to_port(&g, &port))
		return 1;
	hv_guid_format(&g, s, sizeof(s));
	printf("%s %u %zu\n", s, port, sizeof(a));
	return 0;
}
C
	# shellcheck disable=SC2046
	# shellcheck disable=SC2086 # CFLAGS_SAN and pkg-config give lists of flags
	"$CCBIN" $CFLAGS_SAN -Wall -Werror -o "$BATS_TEST_TMPDIR/t" "$BATS_TEST_TMPDIR/t.c" $(pkg-config --cflags --libs vmsvc)
	run env LD_LIBRARY_PATH="$VMSVC_BUILD_DIR/lib" "$BATS_TEST_TMPDIR/t"
	[ "$status" -eq 0 ]
	[ "$output" = "00000ac9-facb-11e6-bd58-64006a7986d3 2761 36" ]
}

@test "a program builds against the installed vmsvc.pc" {
	pc=$(dirname "$(find "$ROOT" -name vmsvc.pc)")
	# shellcheck disable=SC2046
	# shellcheck disable=SC2086 # CFLAGS_SAN is a list of flags
	"$CCBIN" $CFLAGS_SAN -o "$BATS_TEST_TMPDIR/t2" -x c - \
		$(PKG_CONFIG_SYSROOT_DIR=$DEST PKG_CONFIG_PATH=$pc pkg-config --cflags --libs vmsvc) <<'C'
#include <vmsvc/vmsvc.h>
int main(void) { hv_guid_t g; return hv_guid_generate(&g); }
C
	LD_LIBRARY_PATH=$(dirname "$(find "$ROOT" -name 'libvmsvc.so.0' )") "$BATS_TEST_TMPDIR/t2"
}
