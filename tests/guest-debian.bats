#!/usr/bin/env bats
# shellcheck disable=SC2016 # guest commands single-quoted on purpose
# End-to-end with the Debian 12 systemd test guest (tools/mkdebian, booted
# with tools/run-guest --debian; guest_start runs mkdebian first, a no-op when
# it is up to date): systemd is PID 1 and the boot reached "running", Debian's
# own kernel and userland, vsock both ways through the real vmsvcd with the
# guest's socat, and sshd through QEMU user networking on a loopback port.
# Host programs use only the daemon's Unix sockets and 127.0.0.1: never
# AF_VSOCK on the host.

load lib/guest
load lib/daemon

# free_port: a free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

setup_file() {
	e2e_require
	command -v ssh >/dev/null || {
		echo "missing ssh (tools/bootstrap)" >&2
		return 1
	}
	daemon_init
	vmsvc vm add dbn --cid 7 >/dev/null
	vmsvc service add deb-reply --port 5100 >/dev/null
	daemon_start
	free_port >"$E2E_ROOT/ssh_port"
	guest_start dbn --debian --vhost "$(vm_vhost dbn)" \
		--hostfwd "tcp:127.0.0.1:$(cat "$E2E_ROOT/ssh_port")-:22"
	echo "# booted in $(guest_boot_ms dbn) ms" >&3
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
}

teardown() {
	e2e_teardown_test
}

@test "systemd is PID 1 and the boot reached 'running'" {
	run guest_exec dbn 'cat /proc/1/comm; readlink /proc/1/exe'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = systemd ]
	[[ ${lines[1]} == */lib/systemd/systemd ]]
	run guest_exec dbn 'systemctl is-system-running'
	if [ "$output" != running ]; then
		echo "# system state: $output; failed units:" >&2
		guest_exec dbn 'systemctl --failed --no-legend --plain; journalctl -b -p warning --no-pager | tail -n 40' >&2
		return 1
	fi
	grep -q '^VMSVC-GUEST-READY cid=7 state=running' <(guest_log dbn)
}

@test "Debian 12 userland with Debian's own kernel" {
	run guest_exec dbn '. /etc/os-release; echo "$ID $VERSION_ID $VERSION_CODENAME"'
	[ "$status" -eq 0 ]
	[ "$output" = 'debian 12 bookworm' ]
	run guest_exec dbn 'uname -r; uname -v; test -e /boot/vmlinuz-$(uname -r) && echo has-boot'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(cat "$(guest_debian_dir)/kernel-version")" ]
	[[ ${lines[1]} == *Debian* ]]
	[ "${lines[2]}" = has-boot ]
	run guest_exec dbn 'hostname; findmnt -n -o SOURCE /'
	[ "${lines[0]}" = vmsvc-debian ]
	[ "${lines[1]}" = /dev/vda ]
}

@test "the guest got CID 7 from vmsvcd; udev loaded the vsock transport" {
	[ "$(guest_cid dbn)" = 7 ]
	run guest_exec dbn 'vmsvc-guest-cid; lsmod | grep -c "^vmw_vsock_virtio_transport "'
	[ "$status" -eq 0 ]
	[ "$output" = $'7\n1' ]
	grep -q 'VM dbn: QEMU connected' <(daemon_log)
}

@test "guest socat reaches a registered host port through vmsvcd" {
	peer_start p5100 "$(vm_port_path dbn 5100)" reply 'from-host got=%N\n'
	run guest_exec dbn "printf 'from debian' | socat -t 10 - VSOCK-CONNECT:2:5100"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = 'from-host got=11' ]
	peer_wait p5100 '^replied 1$'
	[ "$(peer_count p5100 '^got 1 11 from debian$')" = 1 ]
	peer_stop p5100
}

@test "host CONNECT reaches a guest socat VSOCK-LISTEN through the hybrid socket" {
	guest_exec dbn "socat -d -d VSOCK-LISTEN:6100 SYSTEM:'cat >/tmp/s6100.got; echo from-debian' 2>/tmp/s6100.log &
		for i in \$(seq 100); do grep -q 'listening on' /tmp/s6100.log && break; sleep 0.1; done"
	run hybrid dbn --port 6100 --send 'to-debian\n' --timeout 30
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} =~ ^line\ OK\ [0-9]+$ ]]
	[ "${lines[2]}" = 'data from-debian\n' ]
	run guest_exec dbn 'cat /tmp/s6100.got'
	[ "$output" = to-debian ]
}

@test "sshd answers on the forwarded loopback port with the test key" {
	local port key i
	port=$(cat "$E2E_ROOT/ssh_port")
	key=$(guest_debian_dir)/ssh/id_ed25519
	# networkd configures eth0 asynchronously: allow it a little time.
	for ((i = 0; i < 30; i++)); do
		run ssh -i "$key" -p "$port" -o BatchMode=yes -o IdentitiesOnly=yes \
			-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
			-o ConnectTimeout=20 -o LogLevel=ERROR root@127.0.0.1 \
			'echo "$(id -un)@$(hostname)"'
		[ "$status" -eq 0 ] && break
		sleep 1
	done
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = root@vmsvc-debian ]
}
