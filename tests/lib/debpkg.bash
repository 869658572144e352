# shellcheck shell=bash
# The Debian 12 test guest with vmsvc's packages installed into its image
# (tools/mkdeb build/deb && tools/mkdebian --install build/deb: dpkg -i,
# vmsvcd.service disabled again; tools/check does it once per run), booted
# on the host's vmsvcd. Needs lib/guest and lib/daemon loaded.
#
#   debpkg_guest_start NAME CID [OPTION...]
#                                setup_file's work: fails with the command
#                                to run when the packages are not in the
#                                image; else a host vmsvcd with VM NAME and
#                                the guest booted on it (guest_start with
#                                the OPTIONs too); a function
#                                debpkg_before_boot, if the test file has
#                                one, runs with NAME once vmsvcd is up
#   debpkg_journal NAME          in teardown: after a failed test, the
#                                guest's vmsvcd and vmsvc-agent journal

debpkg_guest_start() {
	local root name=$1 cid=$2
	shift 2
	root=$(guest_debian_dir)/rootfs
	if [ ! -f "$root/var/lib/dpkg/info/vmsvc-agent.list" ] ||
		[ ! -f "$root/var/lib/dpkg/info/vmsvc.list" ] ||
		! compgen -G "$root/var/lib/vmsvc-test/debs/vmsvc_*.deb" >/dev/null; then
		echo "e2e: the vmsvc packages are not installed in the Debian image; install them:" >&2
		echo "  tools/mkdeb build/deb && tools/mkdebian --install build/deb $(guest_debian_dir)   (tools/check does)" >&2
		return 1
	fi
	echo "# image: $(tail -n 1 "$(guest_debian_dir)/installed.log")" >&3
	daemon_init
	chmod 755 "$E2E_ROOT"
	vmsvc vm add "$name" --cid "$cid" >/dev/null
	daemon_start
	if declare -F debpkg_before_boot >/dev/null; then
		debpkg_before_boot "$name"
	fi
	guest_start "$name" --debian --vhost "$(vm_vhost "$name")" "$@"
	echo "# Debian guest ready after $(guest_boot_ms "$name") ms" >&3
}

debpkg_journal() {
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "$BATS_TEST_NAME" ]; then
		echo "# --- the guest's vmsvcd and vmsvc-agent journal (last 40 lines):" >&2
		guest_exec -t 10 "$1" 'journalctl -b -u vmsvcd -u vmsvc-agent --no-pager -q | tail -n 40' >&2 || true
	fi
}
