# shellcheck shell=bash
# shellcheck disable=SC2016 # guest commands single-quoted on purpose
# A synthetic VM inside a Debian test guest, attached to the guest's own
# vmsvcd.service (tests/tools/vuhandover.py: our vhost-user frontend and
# guest driver, which like QEMU 7.2 never reconnects), so that vmsvcd can be
# restarted by systemd itself with the VM's connection in its file
# descriptor store. Needs lib/guest and lib/daemon loaded.
#
#   handover_start GUEST  the VM "inner" (made if missing) attached to the
#                         guest's running vmsvcd, holding a connection to its
#                         service "handover" (port 5300); fails unless it
#                         printed "ready". Its log is /root/vh.log, its PID
#                         in /root/vh.pid
#   handover_wait GUEST N prints the VM's log once it printed its Nth "up"
#                         line (new connections both ways after a reset),
#                         or ended (10 s)
#   handover_end GUEST    stops the VM (SIGTERM), removes it and the service;
#                         prints the VM's last line: "stopped"
#   ms_between T0 T1      milliseconds from T0 to T1 (seconds, fractions)

handover_start() {
	local src out
	src=$(_e2e_src)
	vmsvc cp --no-progress "$src/tests/tools/vufront.py" "$src/tests/tools/vuhandover.py" \
		"$1:/root/" || return 1
	out=$(guest_exec "$1" 'vmsvc vm show inner >/dev/null 2>&1 || vmsvc vm add inner >/dev/null
		vmsvc service show handover >/dev/null 2>&1 || vmsvc service add handover --port 5300 >/dev/null
		for i in $(seq 50); do [ -S /run/vmsvc/vms/inner.vhost ] && break; sleep 0.1; done
		setsid python3 -u /root/vuhandover.py --vhost /run/vmsvc/vms/inner.vhost \
			--listen /run/vmsvc/vms/inner.vsock_5300 --port 5300 \
			--hybrid /run/vmsvc/vms/inner.vsock --guest-port 6300 >/root/vh.log 2>&1 </dev/null &
		echo $! >/root/vh.pid
		for i in $(seq 100); do grep -q -E "^(ready|FAIL)" /root/vh.log && break; sleep 0.1; done
		cat /root/vh.log')
	echo "$out"
	[[ "$out" =~ ^ready\ [0-9]+$ ]]
}

handover_wait() {
	guest_exec "$1" "for i in \$(seq 200); do [ \$(grep -c '^up ' /root/vh.log) -ge $2 ] && break
		grep -q -E '^(FAIL|dropped)' /root/vh.log && break; sleep 0.05; done; cat /root/vh.log"
}

handover_end() {
	guest_exec "$1" 'kill -TERM $(cat /root/vh.pid)
		for i in $(seq 200); do kill -0 $(cat /root/vh.pid) 2>/dev/null || break; sleep 0.05; done
		for i in $(seq 50); do vmsvc vm remove inner >/dev/null 2>&1 && break; sleep 0.1; done
		vmsvc service remove handover >/dev/null
		tail -n 1 /root/vh.log'
}

ms_between() {
	python3 -c 'import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' "$1" "$2"
}
