#!/usr/bin/env bats
# The Debian packages (debian/, tools/mkdeb, make deb): dpkg-buildpackage -b
# builds vmsvc, vmsvc-agent, libvmsvc0 and libvmsvc-dev outside the checkout,
# lintian reports no error, each package holds its files, libvmsvc0's symbols
# file is the library's exported API, the maintainer scripts make the vmsvc
# user and enable vmsvcd (not the agent), and a program builds against
# libvmsvc-dev. tools/mkdeb is a no-op when the packages are up to date
# (tools/check builds them once per run); VMSVC_DEB_DIR (else
# SOURCE/build/deb) is where they are. Installing them: e2e-deb-debian.bats.

setup_file() {
	export DEBS=${VMSVC_DEB_DIR:-$VMSVC_SOURCE_DIR/build/deb}
	"$VMSVC_SOURCE_DIR/tools/mkdeb" "$DEBS"
	VERSION=$(meson introspect --projectinfo "$VMSVC_BUILD_DIR" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
	export VERSION
	export X=$BATS_FILE_TMPDIR/x
	for p in vmsvc vmsvc-agent libvmsvc0 libvmsvc-dev; do
		mkdir -p "$X/$p"
		dpkg-deb -x "$DEBS/${p}_${VERSION}_amd64.deb" "$X/$p"
		dpkg-deb -e "$DEBS/${p}_${VERSION}_amd64.deb" "$X/$p/DEBIAN"
	done
}

# files PKG: the regular files and links of PKG, one path a line.
files() {
	dpkg-deb -c "$DEBS/${1}_${VERSION}_amd64.deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }'
}

@test "debian/changelog has meson.build's project version; every package is that version" {
	run dpkg-parsechangelog -l "$VMSVC_SOURCE_DIR/debian/changelog" -S Version
	[ "$output" = "$VERSION" ]
	for p in vmsvc vmsvc-agent libvmsvc0 libvmsvc-dev; do
		[ "$(dpkg-deb -f "$DEBS/${p}_${VERSION}_amd64.deb" Version)" = "$VERSION" ]
	done
}

@test "lintian reports no error on the packages; its warnings are listed" {
	[ -s "$DEBS/lintian.txt" ] || [ -f "$DEBS/lintian.txt" ]
	run lintian --fail-on error "$DEBS/vmsvc_${VERSION}_amd64.changes"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *$'\n'E:* && "$output" != E:* ]]
	grep '^W: ' <<<"$output" | sed 's/^/# lintian: /' >&3 || true
}

@test "vmsvc holds vmsvcd, the CLI, the unit, the sysusers file, the manual pages and the completion" {
	run files vmsvc
	for f in /usr/sbin/vmsvcd /usr/bin/vmsvc /lib/systemd/system/vmsvcd.service \
		/usr/lib/sysusers.d/vmsvc.conf /usr/share/bash-completion/completions/vmsvc \
		/usr/share/man/man1/vmsvc.1.gz /usr/share/man/man8/vmsvcd.8.gz \
		/usr/share/man/man5/vmsvc-services.d.5.gz /usr/share/man/man5/vmsvc-vms.d.5.gz \
		/usr/share/doc/vmsvc/guide.md; do
		grep -qx "$f" <<<"$output" || { echo "vmsvc lacks $f" >&2; return 1; }
	done
	[[ "$output" != *vmsvc-agent* ]]
	[ -d "$X/vmsvc/etc/vmsvc/services.d" ] && [ -d "$X/vmsvc/etc/vmsvc/vms.d" ]
	grep -qx 'ExecStart=/usr/sbin/vmsvcd' "$X/vmsvc/lib/systemd/system/vmsvcd.service"
	dpkg-deb -f "$DEBS/vmsvc_${VERSION}_amd64.deb" Depends | grep -q "libvmsvc0 (>= $VERSION)"
}

@test "vmsvc-agent holds the agent, its unit, the udev rule and the tmpfiles file; no libvmsvc0" {
	run files vmsvc-agent
	for f in /usr/sbin/vmsvc-agent /lib/systemd/system/vmsvc-agent.service \
		/lib/udev/rules.d/60-vmsvc-agent.rules /usr/lib/tmpfiles.d/vmsvc-agent.conf \
		/usr/share/man/man8/vmsvc-agent.8.gz /usr/share/man/man5/vmsvc-agent.conf.5.gz \
		/usr/share/doc/vmsvc/chrony-vmsvc.conf; do
		grep -qx "$f" <<<"$output" || { echo "vmsvc-agent lacks $f" >&2; return 1; }
	done
	file "$X/vmsvc-agent/usr/sbin/vmsvc-agent" | grep -q 'ELF 64-bit'
	deps=$(dpkg-deb -f "$DEBS/vmsvc-agent_${VERSION}_amd64.deb" Depends)
	[ -n "$deps" ] && [[ "$deps" != *libvmsvc* ]]
}

@test "libvmsvc0 holds the library with SONAME libvmsvc.so.0, libvmsvc-dev the headers, the link and vmsvc.pc" {
	lib=$(find "$X/libvmsvc0" -name 'libvmsvc.so.0.*' -type f)
	[ -n "$lib" ]
	readelf -d "$lib" | grep -q 'SONAME.*\[libvmsvc.so.0\]'
	[ -L "$(dirname "$lib")/libvmsvc.so.0" ]
	run files libvmsvc-dev
	for f in /usr/include/vmsvc/vmsvc.h /usr/include/vmsvc/hvsocket.h \
		/usr/lib/x86_64-linux-gnu/libvmsvc.so /usr/lib/x86_64-linux-gnu/pkgconfig/vmsvc.pc; do
		grep -qx "$f" <<<"$output" || { echo "libvmsvc-dev lacks $f" >&2; return 1; }
	done
	[ -z "$(find "$X/libvmsvc-dev" -name 'libvmsvc.so.0*')" ]
	dpkg-deb -f "$DEBS/libvmsvc-dev_${VERSION}_amd64.deb" Depends | grep -q "libvmsvc0 (= $VERSION)"
}

@test "libvmsvc0's symbols file lists exactly the exported functions, each declared in include/vmsvc" {
	sym=$X/libvmsvc0/DEBIAN/symbols
	[ -s "$sym" ]
	head -n 1 "$sym" | grep -qx 'libvmsvc.so.0 libvmsvc0 #MINVER#'
	listed=$(awk '/@Base/ { sub(/@Base/, "", $1); print $1 }' "$sym" | sort)
	lib=$(find "$X/libvmsvc0" -name 'libvmsvc.so.0.*' -type f)
	exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ { print $3 }' | sort)
	[ -n "$exported" ]
	diff <(echo "$listed") <(echo "$exported")
	for s in $exported; do
		grep -qw "$s" "$VMSVC_SOURCE_DIR"/include/vmsvc/*.h ||
			{ echo "$s is exported but not in include/vmsvc" >&2; return 1; }
	done
}

@test "every file:// page the units' Documentation= names is in the vmsvc package, uncompressed" {
	for u in vmsvc/lib/systemd/system/vmsvcd.service vmsvc-agent/lib/systemd/system/vmsvc-agent.service; do
		docs=$(sed -n 's/^Documentation=//p' "$X/$u" | tr ' ' '\n' | sed -n 's|^file://||p')
		[ -n "$docs" ]
		for d in $docs; do
			[ -s "$X/vmsvc$d" ] || { echo "$u names $d, which vmsvc lacks" >&2; return 1; }
		done
	done
}

@test "the maintainer scripts: vmsvc makes the vmsvc user and enables and starts vmsvcd; the agent is not enabled" {
	grep -q 'systemd-sysusers .*vmsvc.conf' "$X/vmsvc/DEBIAN/postinst"
	grep -q "deb-systemd-helper enable 'vmsvcd.service'" "$X/vmsvc/DEBIAN/postinst"
	grep -q "deb-systemd-invoke \$_dh_action 'vmsvcd.service'" "$X/vmsvc/DEBIAN/postinst"
	grep -q "deb-systemd-invoke stop 'vmsvcd.service'" "$X/vmsvc/DEBIAN/prerm"
	grep -q "deb-systemd-helper purge 'vmsvcd.service'" "$X/vmsvc/DEBIAN/postrm"
	[ "$(grep -c 'deb-systemd-helper enable' "$X/vmsvc-agent/DEBIAN/postinst")" = 0 ]
	grep -q 'systemd-tmpfiles .*--create vmsvc-agent.conf' "$X/vmsvc-agent/DEBIAN/postinst"
	grep -q 'deb-systemd-invoke start vmsvc-agent.service' "$X/vmsvc-agent/DEBIAN/postinst"
	for s in "$X"/*/DEBIAN/postinst "$X"/*/DEBIAN/prerm "$X"/*/DEBIAN/postrm; do
		[ -e "$s" ] || continue
		sh -n "$s"
	done
}

@test "a program builds and links against libvmsvc-dev's vmsvc.pc and headers" {
	root=$BATS_TEST_TMPDIR/root
	mkdir -p "$root"
	cp -a "$X/libvmsvc0/usr" "$X/libvmsvc-dev/usr" "$root/"
	printf '#include <vmsvc/vmsvc.h>\nint main(void) { hv_guid_t g; return hv_guid_parse("999e53d4-3d5c-4c3e-8779-bed06ec056e1", &g) != 0; }\n' \
		>"$BATS_TEST_TMPDIR/p.c"
	flags=$(PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_LIBDIR=$root/usr/lib/x86_64-linux-gnu/pkgconfig:/usr/lib/x86_64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
		pkg-config --cflags --libs vmsvc)
	[[ "$flags" == *"-I$root/usr/include"* ]]
	# shellcheck disable=SC2086 # flags are words
	cc -o "$BATS_TEST_TMPDIR/p" "$BATS_TEST_TMPDIR/p.c" $flags
	LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu "$BATS_TEST_TMPDIR/p"
}

@test "the package build leaves the checkout as it was" {
	for f in debian/.debhelper debian/files debian/vmsvc debian/tmp obj-x86_64-linux-gnu; do
		[ ! -e "$VMSVC_SOURCE_DIR/$f" ] || { echo "$f in the checkout" >&2; return 1; }
	done
	[ -z "$(compgen -G "$(dirname "$VMSVC_SOURCE_DIR")/vmsvc_*")" ]
}
