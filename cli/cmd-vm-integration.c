/* SPDX-License-Identifier: MIT */
/*
 * cmd-vm-integration.c - vmsvc vm integration VM [enable|disable SERVICE]:
 * a VM's integration services as Get-VMIntegrationService lists them
 * (vmsvcd's "integration" operation, or the config when vmsvcd does not
 * answer), and the per-VM switch: DisabledServices= in vms.d/NAME.conf,
 * written through vmt_set_service, so it works without vmsvcd.
 *
 * Exit codes as for the other vm subcommands: 0 success, 1 failure (no
 * such VM or service, the file cannot be written), 2 wrong usage.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <string.h>

#include "cli.h"
#include "registry.h"
#include "util.h"
#include "vmtable.h"

#define CMD "vm integration"

static void integration_usage(FILE *out)
{
	fprintf(out, "Usage: vmsvc vm integration VM [--json]\n"
		     "       vmsvc vm integration VM enable|disable SERVICE\n\n"
		     "Lists the integration services of VM (the in-box services that vmsvcd and\n"
		     "the guest's vmsvc-agent provide), or turns one on or off for VM only.\n\n"
		     "  VM       a VM's name or VmId\n"
		     "  SERVICE  a short name (session, heartbeat, shutdown, kvp, vss), the name\n"
		     "           'vmsvc service list' shows (any case), or the service's GUID\n"
		     "  --json   the list as JSON (vmsvcd's)\n\n"
		     "Columns: NAME SHORT ENABLED STATUS GUID PORT.\n"
		     "ENABLED: yes, or no and who turned it off: (VM) this command, (global)\n"
		     "  'vmsvc service disable SERVICE', which applies to every VM and wins.\n"
		     "STATUS: OK (Heartbeat adds the guest's application state: healthy, or\n"
		     "  critical when its systemd is degraded or a critical unit failed),\n"
		     "  No Contact (the agent has not connected since the guest's driver\n"
		     "  started), Lost Communication (no beat for 3 intervals), Error (the\n"
		     "  agent's connection ended), Paused (the VM is paused), Protocol Mismatch\n"
		     "  (the agent speaks no version vmsvcd speaks), Disabled, Off (no QEMU\n"
		     "  attached, or the guest's driver is down; also while vmsvcd is not\n"
		     "  running), On Demand (the VM Session Service: vmsvcd connects to the\n"
		     "  agent when a session is asked for).\n\n"
		     "enable and disable write DisabledServices= in CONFIG/vms.d/NAME.conf (as\n"
		     "a rule root's to write; vmsvcd need not run, and picks up changes to\n"
		     "vms.d by itself). A service that is off in the guest's agent stays\n"
		     "connected and idle: no beats, no shutdown requests.\n\n"
		     "Exit status: 0 success, 1 failure, 2 wrong usage.\n");
}

/* Says that key names no integration service, and which there are. */
static void unknown_service(const char *key)
{
	struct reg_table *t = NULL;
	const struct reg_service *s = NULL;
	char names[512] = "";
	size_t len = 0;

	for (size_t i = 0; i < reg_inbox_count() && len < sizeof(names); i++) {
		const struct reg_inbox *b = reg_inbox_at(i);
		int w = snprintf(names + len, sizeof(names) - len, "%s%s (%s)", i ? ", " : "",
				 b->short_name, b->name);
		len += w > 0 ? (size_t)w : 0;
	}
	if (reg_load(cli_config_dir(), &t) == 0)
		s = reg_lookup(t, key);
	if (s)
		cli_error("'%s' is a registered service, not an integration service: per-VM "
			  "settings are for the in-box services, %s; 'vmsvc service disable %s' "
			  "turns it off for every VM",
			  key, names, key);
	else
		cli_error("no integration service '%s'; they are: %s", key, names);
	reg_table_free(t);
}

/* Says why vmt_set_service could not write vms.d/NAME.conf. */
static void write_error(const char *name, int err)
{
	const char *dir = cli_config_dir();

	if (err == -EACCES || err == -EPERM)
		cli_error("cannot write %s/" VMT_DIR "/%s.conf: permission denied (VM "
			  "definitions are root's: run it as root, e.g. with sudo)",
			  dir, name);
	else if (err == -ENOENT)
		cli_error("no VM '%s' any more (%s/" VMT_DIR "/%s.conf is gone)", name, dir, name);
	else if (err == -EINVAL)
		cli_error("cannot change %s/" VMT_DIR "/%s.conf: it does not load (see 'vmsvc vm "
			  "list' for what is wrong)",
			  dir, name);
	else
		cli_error("cannot write %s/" VMT_DIR "/%s.conf: %s", dir, name, strerror(-err));
}

/* Whether the registry has b on for every VM (true when it cannot tell). */
static bool registry_enabled(const struct reg_inbox *b)
{
	_cleanup_(reg_table_freep) struct reg_table *t = NULL;
	const struct reg_service *s = NULL;
	hv_guid_t id;

	if (reg_load(cli_config_dir(), &t) == 0 && hv_guid_parse(b->guid, &id) == 0)
		s = reg_find_guid(t, &id);
	return !s || s->enabled;
}

static int set_service(const struct vmt_vm *vm, const char *key, bool enable)
{
	const struct reg_inbox *b = reg_inbox_lookup(key);
	const char *word = enable ? "enabled" : "disabled";
	int r;

	if (!b) {
		unknown_service(key);
		return EXIT_FAIL;
	}
	if (vmt_service_disabled(vm, b->short_name) != enable) {
		printf("VM '%s': %s is already %s for this VM; nothing changed\n", vm->name,
		       b->name, word);
	} else if ((r = vmt_set_service(cli_config_dir(), vm->name, b->short_name, enable)) < 0) {
		write_error(vm->name, r);
		return EXIT_FAIL;
	} else {
		printf("VM '%s': %s %s for this VM (%s/" VMT_DIR "/%s.conf)\n", vm->name, b->name,
		       word, cli_config_dir(), vm->name);
	}
	if (!registry_enabled(b) && enable)
		printf("It stays off: the registry disables %s for every VM, and that wins; "
		       "'vmsvc service enable %s' turns it on.\n",
		       b->name, b->short_name);
	else if (!registry_enabled(b))
		printf("(The registry disables %s for every VM too.)\n", b->name);
	return EXIT_OK;
}

static int list_services(const struct vmt_vm *vm, bool json)
{
	json_object *services = cli_ic_services(vm);

	if (json)
		cli_print_json(services);
	else
		cli_ic_print_table(services, "", true);
	json_object_put(services);
	return EXIT_OK;
}

/* Checks the operands after the options: -1 to go on, or an exit code. */
static int check_operands(int n, char **args, bool json)
{
	if (n == 0)
		return cli_usage_error(CMD, "integration needs a VM (a name or VmId)");
	if (n >= 2 && strcmp(args[1], "enable") != 0 && strcmp(args[1], "disable") != 0)
		return cli_usage_error(CMD, "unknown action '%s' (enable or disable)", args[1]);
	if (n == 2)
		return cli_usage_error(CMD, "%s needs a SERVICE (%s)", args[1],
				       "session, heartbeat, shutdown, kvp, vss, a name or a GUID");
	if (n > 3)
		return cli_usage_error(CMD, "unexpected argument '%s'", args[3]);
	if (n == 3 && json)
		return cli_usage_error(CMD, "--json is for the list only");
	return -1;
}

int cmd_vm_integration(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	_cleanup_(vmt_table_freep) struct vmt_table *t = NULL;
	const struct vmt_vm *vm;
	bool json = false;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'h')
			return integration_usage(stdout), EXIT_OK;
		else
			return cli_option_error(CMD, c, argv);
	}
	r = check_operands(argc - optind, argv + optind, json);
	if (r >= 0)
		return r;
	if (cli_vm_load(argv[optind], &t, &vm))
		return EXIT_FAIL;
	if (argc - optind == 1)
		return list_services(vm, json);
	return set_service(vm, argv[optind + 2], strcmp(argv[optind + 1], "enable") == 0);
}
