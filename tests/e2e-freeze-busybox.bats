#!/usr/bin/env bats
# shellcheck disable=SC2016,SC2030,SC2031 # guest commands single-quoted on purpose; bats run
# Filesystem freeze with the static vmsvc-agent in the busybox test guest
# (no systemd): an ext4 disk image made here with mkfs.ext4, attached with
# run-guest --disk, its modules (ext4 and what it needs, virtio_blk) taken
# from the host's /lib/modules for the guest's kernel and loaded by an rc.d
# script that mounts it at /mnt/data. The initramfs root is no block
# filesystem, so /mnt/data is all there is to freeze. FIFREEZE runs only in
# the guest; host programs use only vmsvcd's Unix sockets, never AF_VSOCK.

load lib/guest
load lib/daemon
load lib/ic

setup_file() {
	local kver mods m add=() rc
	e2e_require
	if [ ! -x "${VMSVC_AGENT_STATIC:-}" ] || [ ! -x "${VMSVC_CLI_STATIC:-}" ]; then
		echo "e2e: missing VMSVC_AGENT_STATIC or VMSVC_CLI_STATIC (build first)" >&2
		return 1
	fi
	daemon_init
	kver=$(cat "$(_guest_images)/kernel-version" 2>/dev/null || true)
	mods=/lib/modules/$kver/kernel
	for m in lib/crc16 fs/mbcache fs/jbd2/jbd2 crypto/crc32c_generic fs/ext4/ext4 drivers/block/virtio_blk; do
		if [ ! -e "$mods/$m.ko" ]; then
			echo "e2e: no $mods/$m.ko for the guest's kernel ($kver); the busybox freeze needs it" >&2
			return 1
		fi
		add+=(--add "$mods/$m.ko:/lib/modules/$kver/extra/${m##*/}.ko")
	done
	rc=$E2E_ROOT/50-disk
	printf '#!/bin/sh\nfor m in crc16 mbcache jbd2 crc32c_generic ext4 virtio_blk; do\n\tinsmod /lib/modules/%s/extra/$m.ko 2>/dev/null\ndone\nfor i in $(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done\nmkdir -p /mnt/data && mount -t ext4 /dev/vda /mnt/data\n' "$kver" >"$rc"
	chmod 755 "$rc"
	truncate -s 32M "$E2E_ROOT/bb.img"
	mkfs.ext4 -q -F "$E2E_ROOT/bb.img"
	vmsvc vm add bfz --cid 12 >/dev/null
	daemon_start
	guest_start bfz --vhost "$(vm_vhost bfz)" --disk "$E2E_ROOT/bb.img" "${add[@]}" \
		--add "$rc:/etc/vmsvc-guest/rc.d/50-disk" \
		--add "$VMSVC_AGENT_STATIC:/usr/sbin/vmsvc-agent" \
		--add "$VMSVC_CLI_STATIC:/usr/bin/vmsvc"
	echo "# busybox guest ready after $(guest_boot_ms bfz) ms" >&3
}

teardown_file() {
	e2e_teardown
}

setup() {
	e2e_require
	daemon_init
	export VM=bfz
}

teardown() {
	vmsvc vm thaw bfz >/dev/null 2>&1 || true
	e2e_teardown_test
}

@test "busybox guest: an ext4 disk is frozen and thawed; a write waits for the thaw" {
	local i
	guest_exec bfz 'grep " /mnt/data " /proc/mounts'
	hb_wait ok 60 >/dev/null
	for ((i = 0; i < 100; i++)); do
		[ "$(vm_status 'v.get("freeze", {}).get("state")')" = thawed ] && break
		sleep 0.1
	done
	run vmsvc vm freeze bfz --timeout 60
	printf '# %s\n' "${lines[@]}" >&3
	[ "$status" = 0 ]
	[ "${lines[1]}" = "  /mnt/data" ]
	[ "${#lines[@]}" = 2 ]
	guest_exec bfz 'rm -f /tmp/done; (echo x >/mnt/data/during; touch /tmp/done) >/dev/null 2>&1 &'
	sleep 1
	[ "$(guest_exec bfz 'test -e /tmp/done && echo done || echo waiting')" = waiting ]
	run vmsvc vm thaw bfz
	[ "$status" = 0 ]
	run guest_exec bfz 'for i in $(seq 50); do test -e /tmp/done && exit 0; sleep 0.1; done; exit 1'
	[ "$status" = 0 ]
	guest_exec bfz 'test "$(cat /mnt/data/during)" = x'
}

@test "busybox guest: the timeout thaws" {
	run vmsvc vm freeze bfz --timeout 1
	[ "$status" = 0 ]
	run guest_exec -t 30 bfz 'timeout 20 sh -c "echo y >/mnt/data/after" && echo written'
	[ "$output" = written ]
}

# The hooks run in a child of the agent's integration worker, so a slow one
# (a database flushing) holds no other service: the heartbeat, lost after
# 3 missed beats of 2 s, stays OK through an 8 s hook.
@test "busybox guest: an 8 s freeze hook does not stop the heartbeat; the freeze follows it" {
	local pid t0 seen=""
	guest_exec bfz 'mkdir -p /etc/vmsvc/freeze-hook.d && printf "#!/bin/sh\nsleep 8\necho \"slow \$1\" >>/tmp/hooks.log\n" >/etc/vmsvc/freeze-hook.d/10-slow && chmod 755 /etc/vmsvc/freeze-hook.d/10-slow && rm -f /tmp/hooks.log'
	hb_wait ok 30 >/dev/null
	t0=$(date +%s%3N)
	vmsvc vm freeze bfz --timeout 60 >"$E2E_ROOT/slow.out" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		seen+=" $(vm_status 'h.get("status")')"
		sleep 0.5
	done
	wait "$pid"
	echo "# the freeze answered after $(($(date +%s%3N) - t0)) ms; the heartbeat meanwhile:$seen" >&3
	[ "$(($(date +%s%3N) - t0))" -ge 8000 ]
	[[ "$seen" != *lost* ]]
	[[ "$seen" == *ok* ]]
	[ "$(vm_status 'v["freeze"]["state"]')" = frozen ]
	run guest_exec bfz 'cat /tmp/hooks.log'
	[ "$output" = "slow freeze" ]
	vmsvc vm thaw bfz
	run guest_exec -t 30 bfz 'cat /tmp/hooks.log; rm -f /etc/vmsvc/freeze-hook.d/10-slow'
	[ "$output" = "slow freeze
slow thaw" ]
}

# Last: it stops vmsvcd. Its exit resets the VM's connections, the freeze
# connection among them, and the agent thaws on the connection's end.
@test "busybox guest: vmsvcd stopped while frozen: the guest thaws at once, not at the timeout" {
	run vmsvc vm freeze bfz --timeout 120
	[ "$status" = 0 ]
	run guest_exec -t 10 bfz 'timeout 1 sh -c "echo x >/mnt/data/during" && echo written'
	[ "$output" != written ]
	daemon_stop
	run guest_exec -t 30 bfz 'timeout 10 sh -c "echo y >/mnt/data/after-stop" && echo written'
	[ "$output" = written ]
	guest_exec bfz 'grep -q "thawed 1 filesystem (the host.s freeze connection ended)" /tmp/vmsvc-agent.log'
}
