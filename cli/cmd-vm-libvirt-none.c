/* SPDX-License-Identifier: MIT */
/*
 * cmd-vm-libvirt-none.c - vmsvc vm libvirt-xml in the static CLI
 * (vmsvc-static, for guests), which does not link libxml2: a host command.
 */
#include "cli.h"

int cmd_vm_libvirt_xml(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("'vm libvirt-xml' is not in this build of vmsvc (the static one, for "
		  "guests); run it on the host");
	return EXIT_FAIL;
}
