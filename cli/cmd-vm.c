/* SPDX-License-Identifier: MIT */
/*
 * cmd-vm.c - vmsvc vm: the VMs vmsvcd serves (CONFIG/vms.d/NAME.conf, see
 * conf/vmtable.h), their state and heartbeat as vmsvcd reports them, and
 * the QEMU options that attach one to it. 'vm integration', 'vm
 * shutdown' and 'vm libvirt-xml' have files of their own
 * (cmd-vm-integration.c, cmd-vm-shutdown.c, cmd-vm-libvirt.c).
 *
 * Exit codes as for 'vmsvc service': 2 for a malformed command line or
 * argument, 1 when the operation fails ('vm shutdown' has its own).
 */
#include <getopt.h>
#include <json-c/json.h>
#include <string.h>

#include <vmsvc/vmsvc.h>

#include "cli.h"
#include "util.h"
#include "vmtable.h"

#define CMD "vm"

static void vm_usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvc vm add NAME [--cid N] [--id GUID] [--description TEXT] [--json]\n"
		"       vmsvc vm list [--json]\n"
		"       vmsvc vm show VM [--json]\n"
		"       vmsvc vm remove NAME\n"
		"       vmsvc vm qemu-args NAME [--mem SIZE]\n"
		"       vmsvc vm libvirt-xml NAME [--domain FILE]\n"
		"       vmsvc vm integration VM [--json]\n"
		"       vmsvc vm integration VM enable|disable SERVICE\n"
		"       vmsvc vm shutdown VM [--reboot | --halt] [--force] [--timeout S]\n"
		"                            [--message TEXT] [--no-wait]\n"
		"       vmsvc vm freeze VM [--timeout S] [--mount PATH]...\n"
		"       vmsvc vm thaw VM\n\n"
		"Defines the VMs vmsvcd serves (CONFIG/vms.d/NAME.conf, CONFIG =\n"
		"$VMSVC_CONFIG_DIR, --config-dir or /etc/vmsvc), shows how they are and\n"
		"shuts them down through their guest agent. VM: a VM's name or VmId.\n\n"
		"  add        define NAME and print its name, id and CID. The id (VmId) is\n"
		"             a random GUID unless --id is given, and is kept for good;\n"
		"             the CID is the lowest free one from 3 unless --cid is given\n"
		"             (3..4294967294).\n"
		"  list       NAME ID CID STATE CONNECTIONS HEARTBEAT of every valid\n"
		"             definition. HEARTBEAT: OK, OK (critical) (the guest's\n"
		"             systemd is degraded or a critical unit failed), No Contact,\n"
		"             Lost Communication, Error, Paused, Disabled, Protocol\n"
		"             Mismatch or Off (no QEMU attached, or the guest's driver is\n"
		"             down; also whenever vmsvcd is not running)\n"
		"  show       one VM: its state, its heartbeat (last beat, uptime, boot id,\n"
		"             the guest's hostname, OS, kernel, agent and systemd state), its\n"
		"             time sync (the agent's mode, last offset and delay) and its\n"
		"             integration services\n"
		"  remove     delete a definition (not while the VM runs)\n"
		"  qemu-args  print the QEMU options that give the VM its vsock device:\n"
		"             a shared memory backend of SIZE (default 256M; SIZE must equal\n"
		"             QEMU's -m) and a vhost-user-vsock-pci device on\n"
		"             RUNDIR/vms/NAME.vhost (RUNDIR = $VMSVC_RUNTIME_DIR,\n"
		"             --runtime-dir or /run/vmsvc)\n"
		"  libvirt-xml  the same for a libvirt domain: the XML to add to it, or\n"
		"             with --domain FILE (- for stdin, e.g. 'virsh dumpxml'), that\n"
		"             domain with it added. See 'vmsvc vm libvirt-xml --help'.\n"
		"  integration  the VM's integration services (the VM Session Service,\n"
		"             Heartbeat, Shutdown): enabled or not, and their status;\n"
		"             enable or disable one for this VM only (DisabledServices= in\n"
		"             vms.d/NAME.conf; 'vmsvc service disable' turns one off for\n"
		"             every VM, and wins). See 'vmsvc vm integration --help'.\n"
		"  shutdown   ask the guest's agent to power off (or --reboot, --halt) and\n"
		"             wait until it is off (or back up); exit status 0 done, 1\n"
		"             refused by the guest, 124 timed out, 125 vmsvc failed. See\n"
		"             'vmsvc vm shutdown --help'.\n"
		"  freeze     freeze the guest's filesystems for a backup (its agent's\n"
		"             hooks, sync, FIFREEZE; it thaws by itself after --timeout)\n"
		"  thaw       thaw them; see 'vmsvc vm freeze --help'.\n\n"
		"NAME: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 64 characters (it names the\n"
		"VM's socket files). Definitions with mistakes are reported as\n"
		"'FILE:LINE: problem' warnings and skipped; of two with the same id or CID,\n"
		"the one whose file name sorts first is used.\n\n"
		"Exit status: 0 success, 1 failure, 2 wrong usage (vm shutdown, freeze and\n"
		"thaw: see their --help).\n");
}

/*
 * The run-time state of a VM ("stopped", "connected", "running") and its
 * number of open connections, from vmsvcd's control socket; "stopped" with
 * no connections when vmsvcd is not running.
 */
static int vm_runtime_state(const char *name, const char **state, unsigned *connections)
{
	cli_vm_state(name, state, connections);
	return 0;
}

/* Whether vmsvcd says the VM is paused (QEMU stopped its device). */
static bool vm_paused(const char *name)
{
	json_object *st = cli_vm_status(name), *v;

	return st && json_object_object_get_ex(st, "paused", &v) && json_object_get_boolean(v);
}

/* vmsvcd's "timesync" of the VM (a new reference), or NULL. */
static json_object *vm_timesync(const char *name)
{
	json_object *st = cli_vm_status(name), *ts;

	if (st && json_object_object_get_ex(st, "timesync", &ts) &&
	    json_object_is_type(ts, json_type_object))
		return json_object_get(ts);
	return NULL;
}

/* "time sync:" of vm show: the agent's mode and last sample. */
static void print_timesync(const char *name)
{
	json_object *ts = vm_timesync(name), *v;
	const char *status = "unknown", *mode = NULL, *msg = NULL;

	if (!ts)
		return;
	if (json_object_object_get_ex(ts, "status", &v))
		status = json_object_get_string(v);
	if (json_object_object_get_ex(ts, "mode", &v))
		mode = json_object_get_string(v);
	if (json_object_object_get_ex(ts, "message", &v))
		msg = json_object_get_string(v);
	printf("time sync:    %s", cli_ic_word(status));
	if (mode) {
		json_object *off = NULL, *dl = NULL, *sy = NULL, *steps = NULL;

		json_object_object_get_ex(ts, "offset_ns", &off);
		json_object_object_get_ex(ts, "delay_ns", &dl);
		json_object_object_get_ex(ts, "synced", &sy);
		json_object_object_get_ex(ts, "steps", &steps);
		printf(", %s mode, %s, offset %+.3f ms (delay %.3f ms), %lld steps", mode,
		       json_object_get_boolean(sy) ? "synchronised" : "not synchronised",
		       (double)json_object_get_int64(off) / 1e6,
		       (double)json_object_get_int64(dl) / 1e6,
		       (long long)json_object_get_int64(steps));
		if (msg && *msg)
			printf("\n              %s", msg);
	}
	printf("\n");
	json_object_put(ts);
}

/* --- how list, show and add print a VM --- */

static json_object *vm_json(const void *entry)
{
	const struct vmt_vm *vm = entry;
	json_object *o = json_object_new_object(), *fz, *ts;
	char id[HV_GUID_STRSIZE];
	const char *state;
	unsigned conns;

	vm_runtime_state(vm->name, &state, &conns);
	hv_guid_format(&vm->id, id, sizeof(id));
	json_object_object_add(o, "name", json_object_new_string(vm->name));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "cid", json_object_new_int64(vm->cid));
	json_object_object_add(o, "state", json_object_new_string(state));
	json_object_object_add(o, "connections", json_object_new_int64(conns));
	json_object_object_add(o, "description",
			       vm->description ? json_object_new_string(vm->description) : NULL);
	json_object_object_add(o, "paused", json_object_new_boolean(vm_paused(vm->name)));
	json_object_object_add(o, "heartbeat", cli_hb_object(vm));
	/* only when vmsvcd tells (the agent's freeze state) */
	if ((fz = cli_fz_object(vm->name)))
		json_object_object_add(o, "freeze", fz);
	if ((ts = vm_timesync(vm->name))) /* when vmsvcd serves the VM */
		json_object_object_add(o, "timesync", ts);
	return o;
}

/* What add prints without --json: name, id and CID. */
static void print_vm(const struct vmt_vm *vm)
{
	char id[HV_GUID_STRSIZE];

	hv_guid_format(&vm->id, id, sizeof(id));
	printf("name:         %s\nid:           %s\ncid:          %u\n", vm->name, id, vm->cid);
}

static void vm_show_text(const void *entry)
{
	const struct vmt_vm *vm = entry;
	json_object *hb = cli_hb_object(vm), *services = cli_ic_services(vm);
	const char *state;
	unsigned conns;

	print_vm(vm);
	vm_runtime_state(vm->name, &state, &conns);
	printf("state:        %s%s\n"
	       "connections:  %u\n"
	       "description:  %s\n"
	       "file:         %s/" VMT_DIR "/%s.conf\n"
	       "vhost-user:   %s/vms/%s.vhost\n",
	       state, vm_paused(vm->name) ? ", paused" : "", conns,
	       vm->description ? vm->description : "-", cli_config_dir(), vm->name,
	       cli_runtime_dir(), vm->name);
	cli_hb_print(hb);
	cli_fz_print(vm->name);
	print_timesync(vm->name);
	printf("integration services:\n");
	cli_ic_print_table(services, "  ", false);
	json_object_put(hb);
	json_object_put(services);
}

static const char *vm_name(const void *entry)
{
	return ((const struct vmt_vm *)entry)->name;
}

static void vm_row(const void *entry, struct cli_row *row)
{
	const struct vmt_vm *vm = entry;
	unsigned conns;

	vm_runtime_state(vm->name, &row->state, &conns);
	row->name = vm->name;
	row->id = vm->id;
	row->number = vm->cid;
	snprintf(row->last, sizeof(row->last), "%u", conns);
	json_object *hb = cli_hb_object(vm), *app = NULL, *status = NULL;
	json_object_object_get_ex(hb, "status", &status);
	json_object_object_get_ex(hb, "app", &app);
	cli_ic_status_text(status ? json_object_get_string(status) : NULL,
			   app ? json_object_get_string(app) : NULL, false, row->extra,
			   sizeof(row->extra));
	json_object_put(hb);
}

static const struct cli_table table = {
	.cmd = CMD,
	.dir = VMT_DIR,
	.what = "VM",
	.needs = "a VM NAME",
	.usage = vm_usage,
	.columns = { "NAME", "ID", "CID", "STATE", "CONNECTIONS", "HEARTBEAT" },
	.name = vm_name,
	.row = vm_row,
	.json = vm_json,
	.show = vm_show_text,
};

static int load_table(struct vmt_table **t)
{
	int r = vmt_load(cli_config_dir(), t);

	return cli_table_loaded(&table, r, r < 0 ? NULL : vmt_problems(*t));
}

int cli_vm_load(const char *key, struct vmt_table **t, const struct vmt_vm **vm)
{
	if (load_table(t))
		return EXIT_FAIL;
	*vm = cli_find_vm(*t, key);
	return *vm ? 0 : EXIT_FAIL;
}

/* --- add --- */

static int parse_add_option(int c, const char *v, struct vmt_vm *vm, bool *json)
{
	char why[CONF_WHY_SIZE];
	int r;

	switch (c) {
	case 'c':
		r = conf_parse_u32(v, &vm->cid);
		if (r == -EINVAL)
			return cli_usage_error(CMD, "CID '%s' is not a decimal number", v);
		if (r < 0 || vmt_check_cid(vm->cid) < 0)
			return cli_usage_error(CMD,
					       "CID %s is out of range: use 3..4294967294 (0, "
					       "1, 2 and 4294967295 are reserved)",
					       v);
		return 0;
	case 'i':
		if (cli_parse_guid(v, &vm->id) < 0)
			return EXIT_USAGE;
		if (vmt_check_id(&vm->id, why) < 0)
			return cli_usage_error(CMD, "id %s %s", v, why);
		return 0;
	case 'd':
		if (conf_check_text(v, VMT_DESCRIPTION_MAX, why) < 0)
			return cli_usage_error(CMD, "invalid description '%s': %s", v, why);
		vm->description = (char *)v;
		return 0;
	case 'j':
		*json = true;
		return 0;
	}
	return -1;
}

static void conflict_error(const struct vmt_conflict *c)
{
	char id[HV_GUID_STRSIZE];

	hv_guid_format(&c->id, id, sizeof(id));
	if (c->kind == VMT_CONFLICT_NAME && c->broken)
		cli_error(VMT_DIR "/%s.conf already exists but does not load (see 'vmsvc vm "
				  "list'); fix or remove it first",
			  c->name);
	else if (c->kind == VMT_CONFLICT_NAME)
		cli_error("VM '%s' already exists (" VMT_DIR "/%s.conf)", c->name, c->name);
	else if (c->kind == VMT_CONFLICT_ID)
		cli_error("id %s is already used by VM '%s' (" VMT_DIR "/%s.conf)", id, c->name,
			  c->name);
	else
		cli_error("CID %u is already used by VM '%s' (" VMT_DIR "/%s.conf)", c->cid,
			  c->name, c->name);
}

static int vm_add(int argc, char **argv)
{
	static const struct option opts[] = { { "cid", required_argument, NULL, 'c' },
					      { "id", required_argument, NULL, 'i' },
					      { "description", required_argument, NULL, 'd' },
					      { "json", no_argument, NULL, 'j' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	struct vmt_vm vm = { 0 };
	struct vmt_conflict conflict;
	char why[CONF_WHY_SIZE];
	bool json = false;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
		if ((r = parse_add_option(c, optarg, &vm, &json)) != 0)
			return r > 0 ? r : cli_table_getopt_done(&table, c, argv);
	if (optind == argc)
		return cli_usage_error(CMD, "add needs a NAME");
	if (optind + 1 < argc)
		return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind + 1]);
	vm.name = argv[optind];
	if (vmt_check_name(vm.name, why) < 0)
		return cli_usage_error(CMD, "invalid VM name '%s': %s", vm.name, why);
	r = vmt_add(cli_config_dir(), &vm, &conflict);
	if (r == -EEXIST) {
		conflict_error(&conflict);
		return EXIT_FAIL;
	}
	if (r < 0) {
		cli_table_write_error(&table, r);
		return EXIT_FAIL;
	}
	if (json)
		cli_table_show(&table, &vm, true);
	else
		print_vm(&vm);
	return EXIT_OK;
}

/* --- list, show, remove --- */

static const void *vm_at(const void *t, size_t i)
{
	return vmt_at(t, i);
}

static int vm_list(int argc, char **argv)
{
	_cleanup_(vmt_table_freep) struct vmt_table *t = NULL;
	bool json = false;
	int r = cli_table_parse_simple(&table, argc, argv, true, &json, 0);

	if (r >= 0)
		return r;
	if (load_table(&t))
		return EXIT_FAIL;
	cli_table_list(&table, t, vmt_count(t), vm_at, json);
	return EXIT_OK;
}

static int vm_show(int argc, char **argv)
{
	_cleanup_(vmt_table_freep) struct vmt_table *t = NULL;
	const struct vmt_vm *vm;
	bool json = false;
	int r = cli_table_parse_simple(&table, argc, argv, true, &json, 1);

	if (r >= 0)
		return r;
	if (cli_vm_load(argv[optind], &t, &vm))
		return EXIT_FAIL;
	if (!json) {
		vm_show_text(vm);
		return EXIT_OK;
	}
	json_object *o = vm_json(vm);
	json_object_object_add(o, "integration_services", cli_ic_services(vm));
	cli_print_json(o);
	json_object_put(o);
	return EXIT_OK;
}

static int vm_remove(int argc, char **argv)
{
	_cleanup_(vmt_table_freep) struct vmt_table *t = NULL;
	const struct vmt_vm *vm = NULL;
	const char *name, *state;
	unsigned conns;
	bool json = false;
	int r = cli_table_parse_simple(&table, argc, argv, false, &json, 1);

	if (r >= 0)
		return r;
	if (load_table(&t))
		return EXIT_FAIL;
	name = argv[optind];
	if (!vmt_is_broken(t, name) && !(vm = cli_find_vm(t, name)))
		return EXIT_FAIL;
	if (vm)
		name = vm->name; /* it may have been given by VmId */
	vm_runtime_state(name, &state, &conns);
	if (strcmp(state, "stopped") != 0) {
		cli_error("VM '%s' is %s; stop it first", name, state);
		return EXIT_FAIL;
	}
	r = vmt_remove(cli_config_dir(), name);
	if (r < 0 && r != -ENOENT) {
		cli_table_write_error(&table, r);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* --- qemu-args --- */

/* True for QEMU sizes: digits, no leading zero, then at most one of KMGT. */
static bool size_ok(const char *s)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || s[0] == '0' || n > 12)
		return false;
	return s[n] == '\0' || (strchr("KMGTkmgt", s[n]) && s[n + 1] == '\0');
}

/* Prints arg for a POSIX shell: as is if it is plain, else single-quoted. */
static void print_shell_word(const char *arg)
{
	if (arg[strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
			    "_./,=:+-@%")] == '\0') {
		fputs(arg, stdout);
		return;
	}
	putchar('\'');
	for (const char *p = arg; *p; p++)
		if (*p == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*p);
	putchar('\'');
}

/* Returns path with every ',' doubled, as QEMU option values need. */
static char *qemu_escape(const char *path)
{
	char *out = malloc(2 * strlen(path) + 1), *o = out;

	if (!out)
		return NULL;
	for (const char *p = path; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = '\0';
	return out;
}

int cli_vm_qemu_vsock(const char *name, char **chardev, char **device)
{
	_cleanup_free_ char *path = NULL, *esc = NULL, *chr = NULL, *dev = NULL;

	if (asprintf(&path, "%s/vms/%s.vhost", cli_runtime_dir(), name) < 0 ||
	    !(esc = qemu_escape(path)) ||
	    asprintf(&chr, "socket,id=vmsvc-%s,path=%s", name, esc) < 0 ||
	    asprintf(&dev, "vhost-user-vsock-pci,chardev=vmsvc-%s", name) < 0)
		return -ENOMEM;
	*chardev = TAKE_PTR(chr);
	*device = TAKE_PTR(dev);
	return 0;
}

static int print_qemu_args(const char *name, const char *size)
{
	_cleanup_free_ char *mem = NULL, *chr = NULL, *dev = NULL;
	const char *args[8];

	if (cli_vm_qemu_vsock(name, &chr, &dev) < 0 ||
	    asprintf(&mem, "memory-backend-memfd,id=vmsvc-mem,size=%s,share=on", size) < 0) {
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	args[0] = "-object", args[1] = mem;
	args[2] = "-machine", args[3] = "memory-backend=vmsvc-mem";
	args[4] = "-chardev", args[5] = chr;
	args[6] = "-device", args[7] = dev;
	for (size_t i = 0; i < ARRAY_SIZE(args); i++) {
		if (i)
			putchar(' ');
		print_shell_word(args[i]);
	}
	putchar('\n');
	return EXIT_OK;
}

static int vm_qemu_args(int argc, char **argv)
{
	static const struct option opts[] = { { "mem", required_argument, NULL, 'm' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	_cleanup_(vmt_table_freep) struct vmt_table *t = NULL;
	const struct vmt_vm *vm;
	const char *size = "256M";
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c != 'm')
			return cli_table_getopt_done(&table, c, argv);
		if (!size_ok(optarg))
			return cli_usage_error(CMD, "--mem '%s' is not a size (like 512M or 2G)",
					       optarg);
		size = optarg;
	}
	if (optind == argc)
		return cli_usage_error(CMD, "qemu-args needs a VM NAME");
	if (optind + 1 < argc)
		return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind + 1]);
	if (cli_vm_load(argv[optind], &t, &vm))
		return EXIT_FAIL;
	return print_qemu_args(vm->name, size);
}

int cmd_vm(int argc, char **argv)
{
	static const struct cli_subcommand sub[] = { { "add", vm_add },
						     { "list", vm_list },
						     { "show", vm_show },
						     { "remove", vm_remove },
						     { "qemu-args", vm_qemu_args },
						     { "libvirt-xml", cmd_vm_libvirt_xml },
						     { "integration", cmd_vm_integration },
						     { "shutdown", cmd_vm_shutdown },
						     { "freeze", cmd_vm_freeze },
						     { "thaw", cmd_vm_thaw } };

	return cli_table_dispatch(&table, sub, ARRAY_SIZE(sub), argc, argv);
}
