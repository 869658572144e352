# shellcheck shell=bash
# Helpers for the bats tests of what meson install installs (install.bats,
# units.bats). Environment: VMSVC_BUILD_DIR, the build folder.
#
#   install_dest DEST     meson install -C $VMSVC_BUILD_DIR --destdir DEST
#                         (no rebuild); prints the log and fails when it fails
#   build_option NAME     the build folder's value of meson option NAME

install_dest() {
	local log=${BATS_FILE_TMPDIR:-/tmp}/install.log
	meson install -C "$VMSVC_BUILD_DIR" --destdir "$1" --no-rebuild >"$log" 2>&1 || {
		cat "$log" >&2
		return 1
	}
}

build_option() {
	meson introspect --buildoptions "$VMSVC_BUILD_DIR" |
		python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]==sys.argv[1]))' "$1"
}
