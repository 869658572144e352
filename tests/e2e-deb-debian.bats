#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# The Debian packages installed on Debian 12 with systemd: the test guest's
# vmsvc-agent, libvmsvc0 and vmsvc come from tools/mkdeb's .deb files
# (tools/mkdebian --install: dpkg -i, not copied files), and udev started
# the agent; then, on that guest, vmsvc is purged and installed again from
# its .deb as on a system that never had it: vmsvcd is enabled and running,
# `vmsvc service list` talks to it, an upgrade to a newer version hands a
# running VM over to the new vmsvcd, and `dpkg --purge` removes it cleanly.
# One QEMU (dbk, CID 14); the image is opened with snapshot=on, so nothing
# done here stays. Host programs use only vmsvcd's Unix sockets: never
# AF_VSOCK on the host.

load lib/guest
load lib/daemon
load lib/debpkg
load lib/handover

setup_file() {
	e2e_require
	export DEBS=${VMSVC_DEB_DIR:-$VMSVC_SOURCE_DIR/build/deb}
	debpkg_guest_start dbk 14
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
}

teardown() {
	debpkg_journal dbk
	e2e_teardown_test
}

@test "the guest's vmsvc-agent, libvmsvc0 and vmsvc are dpkg's, unmodified, the .deb files tools/mkdeb made" {
	run guest_exec dbk 'dpkg-query -W -f "\${Package} \${Version} \${Status}\n" vmsvc-agent libvmsvc0 vmsvc
		dpkg -V vmsvc-agent libvmsvc0 vmsvc && echo verified
		dpkg -S /usr/sbin/vmsvc-agent /lib/systemd/system/vmsvc-agent.service
		cd /var/lib/vmsvc-test/debs && sha256sum vmsvc-agent_*.deb vmsvc_*.deb'
	echo "$output"
	[ "$status" -eq 0 ]
	v=$(dpkg-deb -f "$DEBS"/vmsvc-agent_*_amd64.deb Version)
	# dpkg-query lists them by name.
	[ "${lines[0]}" = "libvmsvc0 $v install ok installed" ]
	[ "${lines[1]}" = "vmsvc $v install ok installed" ]
	[ "${lines[2]}" = "vmsvc-agent $v install ok installed" ]
	[ "${lines[3]}" = verified ]
	[ "${lines[4]}" = "vmsvc-agent: /usr/sbin/vmsvc-agent" ]
	[ "${lines[5]}" = "vmsvc-agent: /lib/systemd/system/vmsvc-agent.service" ]
	# The very packages of build/deb (the host's copies).
	[ "$(cd "$DEBS" && sha256sum vmsvc-agent_*_amd64.deb vmsvc_*_amd64.deb | grep -v dbgsym)" = \
		"$(printf '%s\n' "${lines[6]}" "${lines[7]}")" ]
}

@test "udev started the packaged vmsvc-agent for the vsock device; the host reaches it" {
	run guest_exec dbk 'for i in $(seq 60); do systemctl -q is-active vmsvc-agent && break; sleep 0.5; done
		systemctl is-active vmsvc-agent; systemctl is-enabled vmsvc-agent
		readlink -f /proc/$(systemctl show -P MainPID vmsvc-agent)/exe'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = active ]
	[ "${lines[1]}" = static ]
	[ "${lines[2]}" = /usr/sbin/vmsvc-agent ]
	run vmsvc exec dbk -- dpkg-query -W -f '${Status}' vmsvc-agent
	[ "$status" -eq 0 ]
	[ "$output" = "install ok installed" ]
}

@test "purged, then installed from its .deb: vmsvcd is enabled and running, vmsvc service list works" {
	run guest_exec -t 120 dbk 'dpkg --purge vmsvc >/dev/null 2>&1 && echo purged
		dpkg-query -W -f "\${Status}\n" vmsvc 2>/dev/null || echo not-installed
		[ -e /usr/sbin/vmsvcd ] || [ -e /lib/systemd/system/vmsvcd.service ] || [ -e /etc/vmsvc/services.d ] || echo gone
		systemctl is-enabled vmsvcd 2>/dev/null || true'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = purged ]
	[[ "${lines[1]}" == not-installed || "${lines[1]}" == *"not-installed" ]]
	[ "${lines[2]}" = gone ]
	# The clean install, as a user would run it.
	run guest_exec -t 120 dbk 'dpkg -i /var/lib/vmsvc-test/debs/vmsvc_*.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; exit 1; }
		systemctl is-enabled vmsvcd; systemctl is-active vmsvcd
		ps -o user= -p $(systemctl show -P MainPID vmsvcd)
		stat -c "%n %U:%G" /run/vmsvc/control.sock /etc/vmsvc/services.d /etc/vmsvc/vms.d
		getent passwd vmsvc | cut -d: -f1,6,7'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = enabled ]
	[ "${lines[1]}" = active ]
	[ "$(echo "${lines[2]}" | tr -d ' ')" = vmsvc ]
	[ "${lines[3]}" = "/run/vmsvc/control.sock vmsvc:vmsvc" ]
	[ "${lines[4]}" = "/etc/vmsvc/services.d root:root" ]
	[ "${lines[5]}" = "/etc/vmsvc/vms.d root:root" ]
	[ "${lines[6]}" = "vmsvc:/var/lib/vmsvc:/usr/sbin/nologin" ]
	# The in-box services are registered out of the box; vmsvcd answers.
	run guest_exec dbk 'vmsvc service list && vmsvc stats --json >/dev/null && echo served'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = served ]
	[[ "$output" == *999e53d4-3d5c-4c3e-8779-bed06ec056e1* ]]
	[[ "$output" == *57164f39-9115-4e78-ab55-382f3bd5422d* ]]
}

@test "an upgrade of vmsvc to a newer version restarts vmsvcd, which takes over a running VM's connection" {
	local pid t0 ms v
	v=$(dpkg-deb -f "$DEBS"/vmsvc_*_amd64.deb Version)
	# The newer version: the same package repacked as $v+e2e1 (dpkg-deb in
	# the guest), so that dpkg runs the maintainer scripts' upgrade path
	# (prerm upgrade NEW, preinst upgrade OLD, postinst configure OLD).
	run guest_exec -t 120 dbk "set -e; rm -rf /tmp/up; dpkg-deb -R /var/lib/vmsvc-test/debs/vmsvc_*.deb /tmp/up
		sed -i 's/^Version: .*/Version: $v+e2e1/' /tmp/up/DEBIAN/control
		dpkg-deb -Zgzip -b /tmp/up /tmp/vmsvc-up.deb >/dev/null; dpkg-deb -f /tmp/vmsvc-up.deb Version"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$v+e2e1" ]
	# A synthetic VM "inner" in the guest (lib/handover) holds a connection
	# to a service of the packaged vmsvcd.
	run handover_start dbk
	echo "$output"
	[ "$status" -eq 0 ]
	pid=$(guest_exec dbk 'systemctl show -P MainPID vmsvcd')
	# The package's postinst restarts the unit on an upgrade (debhelper's
	# restart-after-upgrade): SIGUSR1, the store kept for the new vmsvcd.
	t0=$(guest_exec -t 120 dbk 'date +%s.%N
		dpkg -i /tmp/vmsvc-up.deb >/tmp/dpkg.log 2>&1 || cat /tmp/dpkg.log')
	echo "$t0"
	[[ "$t0" =~ ^[0-9.]+$ ]]
	run guest_exec dbk "dpkg-query -W -f '\${Version} \${Status}\n' vmsvc
		grep -cF 'Unpacking vmsvc ($v+e2e1) over ($v)' /tmp/dpkg.log"
	echo "$output"
	[ "${lines[0]}" = "$v+e2e1 install ok installed" ]
	[ "${lines[1]}" = 1 ]
	run handover_wait dbk 1
	echo "$output"
	[[ "${lines[1]}" =~ ^reset\ [0-9]+\ [0-9.]+$ ]]
	[[ "${lines[2]}" =~ ^up\ [0-9.]+$ ]]
	ms=$(ms_between "$t0" "${lines[2]#up }")
	echo "# the upgrade: the VM's new connections both ways $ms ms after dpkg -i began" >&3
	run guest_exec dbk 'for p in MainPID ActiveState; do systemctl show -P $p vmsvcd; done | paste -sd " "
		journalctl -b -u vmsvcd -q -o cat | grep -c "VM inner: took over QEMU.s connection from the previous vmsvcd"'
	echo "$output"
	[[ "${lines[0]}" =~ ^([0-9]+)\ active$ ]]
	[ "${BASH_REMATCH[1]}" != "$pid" ]
	[ "${lines[1]}" = 1 ]
	# The VM stopped and removed: the purge below finds only the package's
	# own files.
	run handover_end dbk
	echo "$output"
	[ "$output" = stopped ]
	run guest_exec dbk 'ls -A /etc/vmsvc/vms.d /run/vmsvc/vms | grep -c inner'
	[ "$output" = 0 ]
}

@test "dpkg --purge vmsvc stops vmsvcd and removes its files, its unit's links and the registry folders" {
	run guest_exec -t 120 dbk 'systemctl is-active vmsvcd
		dpkg --purge vmsvc >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; exit 1; }
		echo purged; systemctl is-active vmsvcd || true
		pgrep -x vmsvcd || echo no-process
		ls /etc/systemd/system/multi-user.target.wants/ | grep -c vmsvcd || true
		for f in /usr/sbin/vmsvcd /usr/bin/vmsvc /lib/systemd/system/vmsvcd.service \
			/etc/vmsvc/services.d /etc/vmsvc/vms.d /usr/lib/sysusers.d/vmsvc.conf; do [ -e $f ] && echo "left: $f"; done; echo checked
		dpkg-query -W -f "\${Status}\n" vmsvc-agent'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = active ]
	[ "${lines[1]}" = purged ]
	[ "${lines[2]}" = inactive ]
	[ "${lines[3]}" = no-process ]
	[ "${lines[4]}" = 0 ]
	[ "${lines[5]}" = checked ]
	# The agent is another package: it stays, and still serves.
	[ "${lines[6]}" = "install ok installed" ]
	run vmsvc exec dbk -- true
	[ "$status" -eq 0 ]
}
