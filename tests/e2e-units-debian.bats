#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# The systemd units under systemd, in the Debian 12 guest with vmsvc
# installed into its image as a package would install it (tools/mkdebian
# --install: dpkg -i of tools/mkdeb's packages, vmsvcd.service disabled again): udev started
# vmsvc-agent.service at boot because the guest has a virtio vsock device
# (vmsvcd on the host, as everywhere), and vmsvcd.service, installed but not
# enabled, is started, reloaded and stopped in the guest (it needs no VM of
# its own to run). systemd-analyze verify and security run there too. One
# QEMU (dbu, CID 12). Host programs use only vmsvcd's Unix sockets: never
# AF_VSOCK on the host.

load lib/guest
load lib/daemon
load lib/debpkg
load lib/handover

setup_file() {
	e2e_require
	debpkg_guest_start dbu 12
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
}

teardown() {
	debpkg_journal dbu
	e2e_teardown_test
}

# The guest's virtio vsock device in sysfs (device id 19).
vsock_dev='d=; for x in /sys/bus/virtio/devices/*; do [ "$(cat $x/device)" = 0x0013 ] && d=$x; done'

@test "udev started vmsvc-agent at boot for the virtio vsock device; no unit enables it; it serves the host" {
	run guest_exec dbu 'for i in $(seq 60); do systemctl -q is-active vmsvc-agent && break; sleep 0.5; done
		systemctl is-active vmsvc-agent; systemctl is-enabled vmsvc-agent
		systemctl show -P WantedBy vmsvc-agent'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = active ]
	[ "${lines[1]}" = static ]
	# Only the device wants it: no multi-user.target.
	[[ "${lines[2]}" =~ ^sys-devices-.*-virtio[0-9]+\.device$ ]]
	# That device is the vsock one, and udev's rule is what said so; the
	# other virtio devices (disk, network) want nothing of ours.
	run guest_exec dbu "$vsock_dev"'; systemctl show -P SysFSPath "$(systemctl show -P WantedBy vmsvc-agent)"; readlink -f $d
		udevadm info -q property $d | grep -E "^(SYSTEMD_WANTS|CURRENT_TAGS)="
		for x in /sys/bus/virtio/devices/*; do [ $x = $d ] || udevadm info -q property $x; done | grep -c vmsvc-agent'
	echo "$output"
	[ "${lines[0]}" = "${lines[1]}" ]
	[ "${lines[2]}" = SYSTEMD_WANTS=vmsvc-agent.service ]
	[[ "${lines[3]}" == CURRENT_TAGS=*:systemd:* ]]
	[ "${lines[4]}" = 0 ]
	run guest_exec dbu 'journalctl -b -u vmsvc-agent --no-pager -q -o cat'
	[[ "$output" == *"listening on vsock port 640 (this guest is CID 12)"* ]]
	# The host reaches it: a command through the VM Session Service.
	run vmsvc exec dbu -- systemctl show -P MainPID vmsvc-agent
	[ "$status" -eq 0 ]
	[ "$output" -gt 0 ]
	[ "$output" = "$(guest_exec dbu 'systemctl show -P MainPID vmsvc-agent')" ]
}

@test "systemd-analyze verify: vmsvcd.service and vmsvc-agent.service load without a warning" {
	# --man=no: the minimal image has no man(1); tests/units.bats checks
	# that Documentation='s pages resolve.
	run guest_exec dbu 'systemd-analyze verify --man=no /usr/lib/systemd/system/vmsvcd.service \
		/usr/lib/systemd/system/vmsvc-agent.service 2>&1'
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "systemctl start vmsvcd returns once it serves (Type=notify), as user vmsvc, in its own folders" {
	run guest_exec dbu 'systemctl is-enabled vmsvcd; systemctl is-active vmsvcd'
	[ "$output" = $'disabled\ninactive' ]
	# No waiting after the start: the control socket answers at once.
	run guest_exec dbu 'systemctl start vmsvcd && vmsvc stats --json >/dev/null && echo served
		for p in Type ActiveState SubState; do systemctl show -P $p vmsvcd; done | paste -sd " "
		ps -o user=,group= -p $(systemctl show -P MainPID vmsvcd)
		stat -c "%n %U:%G %a" /run/vmsvc /run/vmsvc/control.sock /run/vmsvc/vms /var/lib/vmsvc \
			/etc/vmsvc /etc/vmsvc/services.d /etc/vmsvc/vms.d'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = served ]
	[ "${lines[1]}" = "notify active running" ]
	[ "$(echo "${lines[2]}" | tr -s ' ')" = "vmsvc vmsvc" ]
	[ "${lines[3]}" = "/run/vmsvc vmsvc:vmsvc 755" ]
	[ "${lines[4]}" = "/run/vmsvc/control.sock vmsvc:vmsvc 666" ]
	[ "${lines[5]}" = "/run/vmsvc/vms vmsvc:vmsvc 750" ]
	[ "${lines[6]}" = "/var/lib/vmsvc vmsvc:vmsvc 700" ]
	# The configuration stays root's (the package made the folders).
	[ "${lines[7]}" = "/etc/vmsvc root:root 755" ]
	[ "${lines[8]}" = "/etc/vmsvc/services.d root:root 755" ]
	[ "${lines[9]}" = "/etc/vmsvc/vms.d root:root 755" ]
	# A VM defined in the guest gets its sockets at once (vms.d is
	# watched), for QEMU in the group vmsvc.
	run guest_exec dbu 'vmsvc vm add inner >/dev/null && for i in $(seq 50); do
			[ -S /run/vmsvc/vms/inner.vhost ] && break; sleep 0.1; done
		stat -c "%n %U:%G %a" /run/vmsvc/vms/inner.vhost /run/vmsvc/vms/inner.vsock
		vmsvc vm list | grep -c "^inner "
		journalctl -b -u vmsvcd --no-pager -q -o cat | grep -c "^vmsvcd: info: serving (config /etc/vmsvc, runtime /run/vmsvc, state /var/lib/vmsvc)$"'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "/run/vmsvc/vms/inner.vhost vmsvc:vmsvc 660" ]
	[ "${lines[1]}" = "/run/vmsvc/vms/inner.vsock vmsvc:vmsvc 660" ]
	[ "${lines[2]}" = 1 ]
	[ "${lines[3]}" = 1 ]
}

@test "systemctl reload vmsvcd reads the registry again: a new service is listed, a User= made after the load may listen" {
	local pid
	pid=$(guest_exec dbu 'systemctl show -P MainPID vmsvcd')
	[ "$pid" -gt 0 ]
	# A service file whose User= does not exist yet: vmsvcd loads it (it
	# watches services.d) and warns; the user is made afterwards.
	run guest_exec dbu 'printf "[Service]\nElementName=e2eunits\nEnabled=true\nPort=7001\nUser=e2eunit\n" >/etc/vmsvc/e2e.tmp
		mv /etc/vmsvc/e2e.tmp /etc/vmsvc/services.d/00001b59-facb-11e6-bd58-64006a7986d3.conf
		for i in $(seq 50); do journalctl -b -u vmsvcd -q -o cat | grep -q "User=e2eunit is not a known user" && break; sleep 0.1; done
		useradd --system --no-create-home e2eunit
		setpriv --reuid=e2eunit --regid=e2eunit --clear-groups timeout 3 vmsvc listen e2eunits </dev/null; echo "rc=$?"'
	echo "$output"
	[[ "$output" == *"not permitted to listen for service"* ]]
	[[ "$output" == *"rc=1"* ]]
	run guest_exec dbu 'systemctl reload vmsvcd; echo "reload=$?"
		for i in $(seq 50); do journalctl -b -u vmsvcd -q -o cat | grep -q "SIGHUP: reloading" && break; sleep 0.1; done
		journalctl -b -u vmsvcd -q -o cat | grep -c "SIGHUP: reloading configuration"
		setpriv --reuid=e2eunit --regid=e2eunit --clear-groups timeout 3 vmsvc listen e2eunits </dev/null; echo "rc=$?"
		vmsvc stats | grep -c "^e2eunits "
		for p in MainPID ActiveState; do systemctl show -P $p vmsvcd; done | paste -sd " "'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = reload=0 ]
	[ "${lines[1]}" = 1 ]
	[[ "${lines[2]}" == "vmsvc: listening for service 'e2eunits' from "* ]]
	[ "${lines[3]}" = rc=124 ]
	[ "${lines[4]}" = 1 ]
	# The same process, still running.
	[ "${lines[5]}" = "$pid active" ]
}

@test "systemd's fd store: vmsvcd SIGKILLed (Restart=always), then systemctl restart: a running VM's connection is handed over, new connections both ways within 5 s" {
	local t0 up ms pid
	# A synthetic VM "inner" in the guest (lib/handover) holds a connection
	# to a service of the guest's vmsvcd.
	run handover_start dbu
	echo "$output"
	[ "$status" -eq 0 ]
	pid=$(guest_exec dbu 'systemctl show -P MainPID vmsvcd')

	# SIGKILL: systemd restarts vmsvcd and gives it the stored fds.
	t0=$(guest_exec dbu 'date +%s.%N; systemctl kill -s SIGKILL vmsvcd')
	run handover_wait dbu 1
	echo "$output"
	[[ "${lines[1]}" =~ ^reset\ [0-9]+\ [0-9.]+$ ]]
	[[ "${lines[2]}" =~ ^up\ [0-9.]+$ ]]
	[[ "${lines[3]}" =~ ^ready\ [0-9]+$ ]]
	up=${lines[2]#up }
	ms=$(ms_between "$t0" "$up")
	echo "# SIGKILL under systemd: new connections both ways $ms ms after the kill (reset after $(ms_between "$t0" "${lines[1]##* }") ms)" >&3
	[ "$ms" -lt 5000 ]
	run guest_exec dbu 'for p in MainPID NRestarts ActiveState; do systemctl show -P $p vmsvcd; done | paste -sd " "
		journalctl -b -u vmsvcd -q -o cat | grep -c "VM inner: took over QEMU.s connection from the previous vmsvcd"'
	echo "$output"
	[[ "${lines[0]}" =~ ^([0-9]+)\ 1\ active$ ]]
	[ "${BASH_REMATCH[1]}" != "$pid" ]
	[ "${lines[1]}" = 1 ]
	pid=${BASH_REMATCH[1]}

	# systemctl restart: SIGUSR1 (KillSignal=, stop for a successor), and
	# the store is kept for the restart job.
	t0=$(guest_exec dbu 'date +%s.%N; systemctl restart vmsvcd')
	run handover_wait dbu 2
	echo "$output"
	[[ "${lines[4]}" =~ ^reset\ [0-9]+\ [0-9.]+$ ]]
	[[ "${lines[5]}" =~ ^up\ [0-9.]+$ ]]
	[[ "${lines[6]}" =~ ^ready\ [0-9]+$ ]]
	ms=$(ms_between "$t0" "${lines[5]#up }")
	echo "# systemctl restart: new connections both ways $ms ms after it began" >&3
	[ "$ms" -lt 5000 ]
	run guest_exec dbu 'for p in MainPID ActiveState; do systemctl show -P $p vmsvcd; done | paste -sd " "
		journalctl -b -u vmsvcd -q -o cat | grep -c "SIGUSR1: stopping for a successor"
		journalctl -b -u vmsvcd -q -o cat | grep -c "VM inner: took over QEMU.s connection from the previous vmsvcd"'
	echo "$output"
	[[ "${lines[0]}" =~ ^([0-9]+)\ active$ ]]
	[ "${BASH_REMATCH[1]}" != "$pid" ]
	[ "${lines[1]}" = 1 ]
	[ "${lines[2]}" = 2 ]
}

@test "systemctl stop vmsvcd ends it cleanly: exit 0, its sockets gone, /run/vmsvc kept for the agent" {
	# The synthetic VM of the fd-store test is still attached: once the
	# unit is inactive systemd closes the stored fds, and that frontend sees
	# its vhost-user connection end (it then removes its own listener).
	run guest_exec dbu 'systemctl stop vmsvcd; echo "stop=$?"
		for p in ActiveState Result ExecMainStatus; do systemctl show -P $p vmsvcd; done | paste -sd " "
		for i in $(seq 200); do kill -0 $(cat /root/vh.pid) 2>/dev/null || break; sleep 0.05; done
		tail -n 1 /root/vh.log | cut -d" " -f1
		echo "vms=$(ls -A /run/vmsvc/vms | wc -l) ctl=$(ls /run/vmsvc | grep -c control.sock) kvp=$(ls /run/vmsvc | grep -c kvp.sock)"
		journalctl -b -u vmsvcd --no-pager -q -o cat | grep "^vmsvcd: " | tail -n 1
		systemctl is-active vmsvc-agent'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = stop=0 ]
	[ "${lines[1]}" = "inactive success 0" ]
	[ "${lines[2]}" = dropped ]
	# Nothing in vms/, no control.sock; the agent's socket is still there.
	[ "${lines[3]}" = "vms=0 ctl=0 kvp=1" ]
	[[ "${lines[4]}" =~ ^vmsvcd.*\ stopped$ ]]
	[ "${lines[5]}" = active ]
	# The agent, whose kvp.sock is in /run/vmsvc too, still serves the host
	# and the guest's users.
	run vmsvc exec dbu -- sh -c 'vmsvc kvp set e2e.units kept && vmsvc kvp get --pool guest e2e.units'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = kept ]
}

@test "systemd-analyze security: vmsvcd.service's exposure is at most 2.0 (vmsvc-agent's is printed)" {
	local figure agent
	run guest_exec dbu 'systemd-analyze security --no-pager vmsvcd.service 2>&1 | tail -n 1'
	echo "$output"
	figure=$(echo "$output" | sed -n 's/^.*Overall exposure level for vmsvcd.service: \([0-9.]*\) .*$/\1/p')
	[ -n "$figure" ]
	agent=$(guest_exec dbu 'systemd-analyze security --no-pager vmsvc-agent.service 2>&1 | tail -n 1' |
		sed -n 's/^.*Overall exposure level for vmsvc-agent.service: \([0-9.]* [A-Z]*\).*$/\1/p')
	echo "# systemd-analyze security in the guest: vmsvcd.service $figure, vmsvc-agent.service ${agent:-?} (a root login's privileges, by design)" >&3
	python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 2.0 else 1)' "$figure"
}
