/* SPDX-License-Identifier: MIT */
/*
 * cli-parse.c - what the command line names, shared by the subcommands:
 * numbers, GUIDs, services (a registered name, a GUID or a vsock port) and
 * VMs (a name, a VmId, 'loopback' or 'parent'), with labels for messages.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vmsvc/vmsvc.h>

#include "cli.h"
#include "registry.h"
#include "vmtable.h"

int cli_parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	bool hex = s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');

	/* Decimal, or 0x hex; no sign, no blanks, no octal surprise for "010". */
	if (!s || !(hex ? isxdigit((unsigned char)s[2]) : isdigit((unsigned char)s[0])))
		return -EINVAL;
	errno = 0;
	v = strtoull(hex ? s + 2 : s, &end, hex ? 16 : 10);
	if (*end)
		return -EINVAL;
	if (errno || v > UINT32_MAX)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int cli_parse_guid(const char *s, hv_guid_t *out)
{
	if (hv_guid_parse(s, out) == 0)
		return 0;
	cli_error("'%s' is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, "
		  "optionally in braces)",
		  s);
	return -EINVAL;
}

int cli_resolve_service(const char *arg, hv_guid_t *id, char *label, size_t size)
{
	struct reg_table *t = NULL;
	const struct reg_service *s = NULL;
	uint32_t port;

	if (reg_load(cli_config_dir(), &t) == 0)
		s = reg_lookup(t, arg);
	if (s) {
		*id = s->id;
		snprintf(label, size, "'%s'", s->name);
	} else if (hv_guid_parse(arg, id) == 0) {
		hv_guid_format(id, label, size);
	} else if (cli_parse_u32(arg, &port) == 0) {
		hv_guid_from_port(port, id);
		snprintf(label, size, "port %u", port);
	} else {
		reg_table_free(t);
		cli_error("unknown service '%s': not a registered name (see 'vmsvc service list'), "
			  "a GUID or a vsock port",
			  arg);
		return -ENOENT;
	}
	reg_table_free(t);
	return 0;
}

void cli_vm_label(const hv_guid_t *vm, char *label, size_t size)
{
	struct vmt_table *t = NULL;
	const struct vmt_vm *v = NULL;
	char s[HV_GUID_STRSIZE];

	if (hv_guid_equal(vm, &HV_GUID_LOOPBACK)) {
		snprintf(label, size, "the host (loopback)");
		return;
	}
	if (hv_guid_equal(vm, &HV_GUID_PARENT)) {
		snprintf(label, size, "the host");
		return;
	}
	hv_guid_format(vm, s, sizeof(s));
	if (vmt_load(cli_config_dir(), &t) == 0)
		v = vmt_find_id(t, vm);
	if (v)
		snprintf(label, size, "VM '%s'", v->name);
	else
		snprintf(label, size, "VM %s", s);
	vmt_table_free(t);
}

int cli_resolve_vm(const char *arg, hv_guid_t *id, char *label, size_t size)
{
	struct vmt_table *t = NULL;
	const struct vmt_vm *v = NULL;

	if (strcmp(arg, "loopback") == 0) {
		*id = HV_GUID_LOOPBACK;
	} else if (strcmp(arg, "parent") == 0) {
		*id = HV_GUID_PARENT;
	} else if (hv_guid_parse(arg, id) != 0) {
		if (vmt_load(cli_config_dir(), &t) == 0)
			v = vmt_find_name(t, arg);
		if (!v) {
			vmt_table_free(t);
			cli_error("no VM named '%s' (see 'vmsvc vm list'; 'loopback' is this host, "
				  "'parent' the host of a guest)",
				  arg);
			return -ENOENT;
		}
		*id = v->id;
		vmt_table_free(t);
	}
	cli_vm_label(id, label, size);
	return 0;
}

/* Says that there is no VM key, and which VMs there are. */
static void no_such_vm(const struct vmt_table *t, const char *key)
{
	char names[8 * (VMT_NAME_MAX + 2) + 64] = "";
	size_t n = vmt_count(t), len = 0;

	if (n == 0) {
		cli_error("no VM '%s': none is defined ('vmsvc vm add NAME' defines one)", key);
		return;
	}
	for (size_t i = 0; i < n && len < sizeof(names); i++) {
		const char *name = vmt_at(t, i)->name;
		if (i == 8 && n > 9) {
			snprintf(names + len, sizeof(names) - len, ", ... (%zu more)", n - i);
			break;
		}
		int w = snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "", name);
		len += w > 0 ? (size_t)w : 0;
	}
	cli_error("no VM '%s'; the VMs are: %s (see 'vmsvc vm list')", key, names);
}

const struct vmt_vm *cli_find_vm(const struct vmt_table *t, const char *key)
{
	const struct vmt_vm *vm = vmt_find_name(t, key);
	hv_guid_t id;

	if (!vm && hv_guid_parse(key, &id) == 0)
		vm = vmt_find_id(t, &id);
	if (vm)
		return vm;
	if (vmt_is_broken(t, key))
		cli_error("%s/" VMT_DIR "/%s.conf is broken (see the warnings above); fix it or "
			  "remove it with 'vmsvc vm remove %s'",
			  cli_config_dir(), key, key);
	else
		no_such_vm(t, key);
	return NULL;
}
