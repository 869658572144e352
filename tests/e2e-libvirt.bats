#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031,SC2154 # guest commands single-quoted on purpose; bats run
# vmsvc vm libvirt-xml with real libvirt (Debian 12's libvirtd, session mode,
# run by this file: tests/lib/libvirt.bash): a plain TCG libvirt domain of the
# busybox test guest (no network, no vsock) gets vmsvc's pieces with --domain,
# 'virsh define' + 'virsh start' boot it with vmsvcd as its vsock device, the
# guest reaches a registered host service, 'vmsvc exec' works, and 'virsh
# destroy' and 'virsh shutdown' (ACPI: the test adds busybox acpid to the
# guest) leave vmsvcd healthy and the VM able to start again. Two boots.
# As root, libvirt's QEMU runs as nobody with the group vmsvc, as the guide
# tells admins to set it up. Never AF_VSOCK on the host.

bats_require_minimum_version 1.5.0

load lib/guest
load lib/daemon
load lib/libvirt

DOM=g1

# The pieces (<memoryBacking>, <qemu:commandline>) of domain XML on stdin,
# normalised, one per line (comments dropped).
pieces_py='
import sys, xml.etree.ElementTree as ET
Q = "{http://libvirt.org/schemas/domain/qemu/1.0}"
root = ET.fromstring(sys.stdin.read())
def norm(e):
    return "<%s %s>%s</>" % (e.tag, sorted(e.attrib.items()), "".join(norm(c) for c in e))
for tag in ("memoryBacking", Q + "commandline"):
    e = root.find(tag)
    print(norm(e) if e is not None else "missing " + tag)
'

setup_file() {
	e2e_require
	libvirt_require
	[ -x "${VMSVC_AGENT_STATIC:-}" ] || {
		echo "e2e: VMSVC_AGENT_STATIC (vmsvc-agent-static) is missing" >&2
		return 1
	}
	daemon_init
	chmod 711 "$E2E_ROOT" # libvirt's QEMU reaches run/vms/g1.vhost
	vmsvc vm add g1 --cid 5 >/dev/null
	vmsvc service add echo --port 5000 >/dev/null
	daemon_start
	daemon_fd_count >"$E2E_ROOT/fds0"
	libvirt_start
	lv_boot_files "$(libvirt_root)/boot"
	lv_base_domain >"$(libvirt_root)/base.xml"
	vmsvc vm libvirt-xml g1 --domain "$(libvirt_root)/base.xml" >"$(libvirt_root)/g1.xml"
	vmsvc vm libvirt-xml g1 | python3 -c "$pieces_py" >"$(libvirt_root)/snippet.pieces"
}

teardown_file() {
	local rc=0
	libvirt_stop || rc=1
	e2e_teardown || rc=1
	return $rc
}

setup() {
	e2e_require
	daemon_init
}

teardown() {
	if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
		echo "# --- guest state: $(ls -la "$(guest_state_dir g1)")" >&2
		echo "# --- serial console (last 20 lines):" >&2
		tail -n 20 "$(guest_state_dir g1)/serial.log" >&2 2>/dev/null
		echo "# --- QEMU's log from libvirt (last 20 lines):" >&2
		tail -n 20 "$(libvirt_root)/cache/libvirt/qemu/log/$DOM.log" >&2 2>/dev/null
		echo "# --- libvirtd log (last 20 lines):" >&2
		libvirt_log | tail -n 20 >&2
	fi
	e2e_teardown_test
}

# lv_module KVER NAME: NAME's module file of kernel KVER, uncompressed, in
# BATS_FILE_TMPDIR; prints its path.
lv_module() {
	local f out=$BATS_FILE_TMPDIR/$2.ko
	f=$(modinfo -k "$1" -n "$2") || return 1
	case $f in
	*.ko) cp "$f" "$out" ;;
	*.ko.xz) xz -dc "$f" >"$out" ;;
	*.ko.zst) zstd -dcq "$f" >"$out" ;;
	*.ko.gz) gzip -dc "$f" >"$out" ;;
	*) echo "lv_module: $2 of $1 is $f" >&2 && return 1 ;;
	esac
	echo "$out"
}

# lv_boot_files DIR: the busybox guest's kernel, initrd and command line in
# DIR (tools/run-guest --export), with the static agent and an ACPI power
# button handler: busybox acpid, which runs /etc/acpi/PWRF/00000080
# ('poweroff -f') when libvirt presses the button (virsh shutdown). The
# guest's /init has no handler of its own.
lv_boot_files() {
	local dir=$1 images kver t=$BATS_FILE_TMPDIR
	images=$(_guest_images)
	"$(_guest_src)/tools/mkguest" "$images"
	kver=$(cat "$images/kernel-version")
	printf '%s\n' '#!/bin/sh' \
		'for m in button evdev; do insmod /etc/vmsvc-guest/acpi/$m.ko; done' \
		'busybox acpid -c /etc/acpi -l /tmp/acpid.log </dev/null >/dev/null 2>&1' >"$t/50-acpi"
	printf '%s\n' '#!/bin/sh' 'echo "acpid: power button: poweroff" >/dev/console' \
		'sync' 'poweroff -f' >"$t/pwrf"
	chmod +x "$t/50-acpi" "$t/pwrf"
	"$(_guest_src)/tools/run-guest" --guest-dir "$images" --export "$dir" \
		--add "$VMSVC_AGENT_STATIC:/usr/sbin/vmsvc-agent" \
		--add "$t/50-acpi:/etc/vmsvc-guest/rc.d/50-acpi" \
		--add "$t/pwrf:/etc/acpi/PWRF/00000080" \
		--add "$(lv_module "$kver" button):/etc/vmsvc-guest/acpi/button.ko" \
		--add "$(lv_module "$kver" evdev):/etc/vmsvc-guest/acpi/evdev.ko"
	chmod 755 "$dir"
	chmod 644 "$dir/initrd"
}

# lv_base_domain: a plain libvirt domain of the test guest, as a user would
# have it before vmsvc: TCG, 256 MiB, direct kernel boot, no network, the
# console (ttyS0) to serial.log and the guest's control channel (ttyS1, see
# tests/lib/guest.bash) on a unix socket, both in g1's guest_state_dir so
# that guest_exec works unchanged.
lv_base_domain() {
	local boot st
	boot=$(libvirt_root)/boot
	st=$(guest_state_dir g1)
	mkdir -p "$st"
	chmod 711 "$(dirname "$st")"
	libvirt_chown "$st"
	cat <<EOF
<domain type='qemu'>
  <name>$DOM</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$boot/vmlinux</kernel>
    <initrd>$boot/initrd</initrd>
    <cmdline>$(cat "$boot/cmdline")</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <serial type='file'><source path='$st/serial.log'/><target port='0'/></serial>
    <serial type='unix'><source mode='bind' path='$st/ctl'/><target port='1'/></serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# lv_start N: virsh start (the Nth boot of this file), wait (GUEST_BOOT_TIMEOUT,
# 60 s) for the readiness line on a console log emptied first, then for the
# agent.
lv_start() {
	local log t0 i limit
	log=$(guest_state_dir g1)/serial.log
	[ ! -e "$log" ] || : >"$log"
	limit=$((${GUEST_BOOT_TIMEOUT:-60} * 20))
	t0=$(date +%s%N)
	virsh start "$DOM"
	for ((i = 0; i < limit; i++)); do
		grep -q '^VMSVC-GUEST-READY' "$log" 2>/dev/null && break
		sleep 0.05
	done
	if [ "$i" -ge "$limit" ]; then
		echo "# boot $1 of $DOM: not ready within $((limit / 20)) s" >&2
		return 1
	fi
	echo "# boot $1: ready $((($(date +%s%N) - t0) / 1000000)) ms after virsh start" >&3
	guest_exec g1 'wait-for /tmp/vmsvc-agent.log "listening on vsock port 640"'
}

# vm_state_is STATE: wait (10 s) until vmsvc says g1 is STATE.
vm_state_is() {
	local i st=
	for ((i = 0; i < 100; i++)); do
		st=$(vmsvc vm list | awk '$1 == "g1" { print $4 }')
		[ "$st" = "$1" ] && return 0
		sleep 0.1
	done
	echo "# vmsvc vm list says g1 is '$st', not '$1'" >&2
	return 1
}

# daemon_healthy: vmsvcd runs, answers, and holds the fds it had before the
# first boot (nothing of the gone QEMU kept).
daemon_healthy() {
	local i want
	daemon_alive
	vmsvc stats >/dev/null
	want=$(cat "$E2E_ROOT/fds0")
	for ((i = 0; i < 100; i++)); do
		[ "$(daemon_fd_count)" = "$want" ] && return 0
		sleep 0.05
	done
	echo "# vmsvcd has $(daemon_fd_count) fds, $want before the first boot" >&2
	return 1
}

# guest_echo_ok: the guest's socat reaches the host echo of service 'echo'.
guest_echo_ok() {
	peer_start echo "$(vm_port_path g1 5000)" echo
	run guest_exec g1 "printf 'from the libvirt guest' | socat -t 10 - VSOCK-CONNECT:2:5000"
	[ "$status" -eq 0 ]
	[ "$output" = 'from the libvirt guest' ]
	peer_wait echo '^echoed [0-9]+ 22$'
	peer_stop echo
}

@test "libvirt-xml --domain gives a plain domain the snippet's pieces, and libvirt's schema accepts it" {
	local root
	root=$(libvirt_root)
	run --separate-stderr vmsvc vm libvirt-xml g1 --domain "$root/base.xml"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$output" = "$(cat "$root/g1.xml")" ] # what setup_file made
	virt-xml-validate "$root/g1.xml" domain
	python3 -c "$pieces_py" <"$root/g1.xml" >"$root/g1.pieces"
	diff -u "$root/snippet.pieces" "$root/g1.pieces"
	grep -q "socket,id=vmsvc-g1,path=$(vm_vhost g1)" "$root/g1.pieces"
}

@test "virsh define + start: the guest boots with vmsvcd as its vsock device (CID 5)" {
	local root qpid
	root=$(libvirt_root)
	virsh define "$root/g1.xml"
	# What libvirt keeps is what the snippet says.
	virsh dumpxml "$DOM" | python3 -c "$pieces_py" | diff -u "$root/snippet.pieces" -
	lv_start 1
	[ "$(libvirt_domstate "$DOM")" = running ]
	run guest_exec g1 'vsock-tool cid'
	[ "$output" = 5 ]
	grep -q 'VM g1: QEMU connected' <(daemon_log)
	vm_state_is running
	qpid=$(libvirt_qemu_pid "$DOM")
	# Its memory is the shared memfd, its vsock device vmsvcd's.
	tr '\0' ' ' <"/proc/$qpid/cmdline" | grep -q '"qom-type":"memory-backend-memfd".*"share":true'
	tr '\0' ' ' <"/proc/$qpid/cmdline" | grep -q -- "-device vhost-user-vsock-pci,chardev=vmsvc-g1"
	if [ "$(id -u)" = 0 ]; then # not root: it reached the socket as group vmsvc
		awk '/^Uid:/ { exit !($2 == 65534) }' "/proc/$qpid/status"
	fi
}

@test "the libvirt guest reaches a registered host service; an unregistered port is refused" {
	guest_echo_ok
	run guest_exec g1 'socat -t 5 - VSOCK-CONNECT:2:5999 </dev/null 2>&1'
	[ "$status" -ne 0 ]
	[[ $output == *"Connection reset by peer"* ]]
}

@test "vmsvc exec runs a command in the libvirt guest: output and exit status" {
	run --separate-stderr vmsvc exec g1 -n -- sh -c 'echo out; echo err >&2; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" = out ]
	[ "$stderr" = err ]
}

@test "virsh destroy: vmsvcd stays healthy, and the domain starts and works again" {
	virsh destroy "$DOM"
	libvirt_wait_state "$DOM" 'shut off' 10
	vm_state_is stopped
	daemon_healthy
	lv_start 2
	vm_state_is running
	run vmsvc exec g1 -n -- echo again
	[ "$status" -eq 0 ]
	[ "$output" = again ]
	guest_echo_ok
}

@test "virsh shutdown: the guest powers off (ACPI), libvirt sees it off, vmsvcd stays healthy" {
	virsh shutdown "$DOM"
	libvirt_wait_state "$DOM" 'shut off' 30
	grep -q 'acpid: power button: poweroff' "$(guest_state_dir g1)/serial.log"
	vm_state_is stopped
	daemon_healthy
	run vmsvc exec g1 -n -- true
	[ "$status" -ne 0 ]
}

@test "vmsvcd stops cleanly after the libvirt domain's two lives (status 0, sockets removed)" {
	daemon_stop
}
