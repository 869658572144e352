#!/usr/bin/env bats
# shellcheck disable=SC2016 # $MAINPID is systemd's, not ours
# The systemd units, the udev rule and sysusers.d on the host, without a
# guest: where meson install puts them (systemd.pc, udev.pc), what they say,
# systemd-analyze verify and security on copies in a temporary folder, and
# the vmsvc user and group systemd-sysusers makes in an empty root. Nothing
# is installed on the host or started: tests/e2e-units-debian.bats runs the
# units under systemd in the Debian guest.

load lib/install

setup_file() {
	local f
	for f in systemd-analyze systemd-sysusers pkg-config python3; do
		command -v "$f" >/dev/null || {
			echo "units: missing $f (run tools/bootstrap)" >&2
			return 1
		}
	done
	export DEST=$BATS_FILE_TMPDIR/dest
	install_dest "$DEST"
	PREFIX=$(build_option prefix)
	UNITS=$DEST$(pkg-config --define-variable=rootprefix="$PREFIX" --variable=systemdsystemunitdir systemd)
	RULES=$DEST$(pkg-config --variable=udevdir udev)/rules.d
	SYSUSERS=$DEST$(pkg-config --define-variable=prefix="$PREFIX" --variable=sysusersdir systemd)
	TMPFILES=$DEST$(pkg-config --define-variable=prefix="$PREFIX" --variable=tmpfilesdir systemd)
	export PREFIX UNITS RULES SYSUSERS TMPFILES
}

# copy_units DIR: the installed units in DIR, their ExecStart= pointing at the
# built programs (systemd-analyze verify checks that they are executable;
# nothing is installed on the host).
copy_units() {
	mkdir -p "$1"
	sed "s|^ExecStart=$PREFIX/sbin/vmsvcd$|ExecStart=$VMSVC_BUILD_DIR/daemon/vmsvcd|" \
		"$UNITS/vmsvcd.service" >"$1/vmsvcd.service"
	sed "s|^ExecStart=$PREFIX/sbin/vmsvc-agent$|ExecStart=$VMSVC_BUILD_DIR/agent/vmsvc-agent|" \
		"$UNITS/vmsvc-agent.service" >"$1/vmsvc-agent.service"
	! grep -q "^ExecStart=$PREFIX" "$1"/*.service
}

@test "meson install puts the units, the udev rule, sysusers.d and tmpfiles.d where systemd.pc and udev.pc say" {
	[ -f "$UNITS/vmsvcd.service" ]
	[ -f "$UNITS/vmsvc-agent.service" ]
	[ -f "$RULES/60-vmsvc-agent.rules" ]
	[ -f "$SYSUSERS/vmsvc.conf" ]
	[ -f "$TMPFILES/vmsvc-agent.conf" ]
	[ -f "$DEST$PREFIX/share/doc/vmsvc/guide.md" ]
	# The configuration folders ConfigurationDirectory= names, where vmsvcd
	# reads them whatever the prefix (made here so that they are root's,
	# not vmsvc's).
	[ -d "$DEST/etc/vmsvc/services.d" ]
	[ -d "$DEST/etc/vmsvc/vms.d" ]
	grep -qx "ExecStart=$PREFIX/sbin/vmsvcd" "$UNITS/vmsvcd.service"
	grep -qx "ExecStart=$PREFIX/sbin/vmsvc-agent" "$UNITS/vmsvc-agent.service"
	grep -qx "Documentation=man:vmsvcd(8) .* file://$PREFIX/share/doc/vmsvc/guide.md" "$UNITS/vmsvcd.service"
	grep -qx "Documentation=man:vmsvc-agent(8) .* file://$PREFIX/share/doc/vmsvc/guide.md" "$UNITS/vmsvc-agent.service"
	echo "# units in ${UNITS#"$DEST"}, udev rules in ${RULES#"$DEST"}" >&3
}

@test "vmsvcd.service: Type=notify, user vmsvc, its three folders, SIGHUP on reload, enabled by multi-user.target" {
	local u=$UNITS/vmsvcd.service k
	for k in Type=notify User=vmsvc Group=vmsvc RuntimeDirectory=vmsvc StateDirectory=vmsvc \
		'ConfigurationDirectory=vmsvc vmsvc/services.d vmsvc/vms.d' RuntimeDirectoryPreserve=yes \
		'ExecReload=/bin/kill -HUP $MAINPID' RestrictAddressFamilies=AF_UNIX \
		CapabilityBoundingSet= NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes \
		WantedBy=multi-user.target; do
		grep -qxF "$k" "$u" || {
			echo "vmsvcd.service lacks '$k'" >&2
			return 1
		}
	done
}

@test "vmsvc-agent.service has no [Install] section; the udev rule starts it for virtio vsock devices (id 19) only" {
	[ "$(grep -c '^\[Install\]' "$UNITS/vmsvc-agent.service")" = 0 ]
	grep -qx 'ConditionVirtualization=vm' "$UNITS/vmsvc-agent.service"
	run grep -v '^#' "$RULES/60-vmsvc-agent.rules"
	[ "$output" = 'SUBSYSTEM=="virtio", ENV{MODALIAS}=="virtio:d00000013v*", TAG+="systemd", ENV{SYSTEMD_WANTS}+="vmsvc-agent.service"' ]
}

@test "systemd-analyze verify: both units load without a warning" {
	copy_units "$BATS_TEST_TMPDIR/u"
	# Documentation= names man pages: verify runs man(1) for each, on the
	# pages this build installed.
	MANPATH=$DEST$PREFIX/share/man run systemd-analyze verify "$BATS_TEST_TMPDIR/u/vmsvcd.service" "$BATS_TEST_TMPDIR/u/vmsvc-agent.service"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# It does complain about a broken unit (the check can fail).
	sed 's/^ProtectHome=yes$/ProtectHome=maybe/' "$BATS_TEST_TMPDIR/u/vmsvcd.service" >"$BATS_TEST_TMPDIR/u/broken.service"
	run systemd-analyze verify "$BATS_TEST_TMPDIR/u/broken.service"
	[[ "$output" == *"broken.service:"*"maybe"* ]]
}

@test "systemd-analyze security --offline: vmsvcd.service's exposure is at most 2.0" {
	local figure
	copy_units "$BATS_TEST_TMPDIR/u"
	run systemd-analyze security --offline=true "$BATS_TEST_TMPDIR/u/vmsvcd.service"
	[ "$status" -eq 0 ]
	figure=$(echo "$output" | sed -n 's/^.*Overall exposure level for vmsvcd.service: \([0-9.]*\) .*$/\1/p')
	[ -n "$figure" ]
	echo "# vmsvcd.service exposure (offline, host's systemd $(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')): $figure" >&3
	python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 2.0 else 1)' "$figure"
}

@test "sysusers.d/vmsvc.conf makes the system user and group vmsvc, without a login shell" {
	local root=$BATS_TEST_TMPDIR/root
	mkdir -p "$root/etc" "$root/usr/lib/sysusers.d"
	cp "$SYSUSERS/vmsvc.conf" "$root/usr/lib/sysusers.d/"
	run systemd-sysusers --root="$root"
	echo "$output"
	[ "$status" -eq 0 ]
	run awk -F: '$1 == "vmsvc" { print ($3 < 1000), ($3 == $4), $6, $7 }' "$root/etc/passwd"
	[ "$output" = "1 1 /var/lib/vmsvc /usr/sbin/nologin" ]
	grep -q '^vmsvc:x:' "$root/etc/group"
}
