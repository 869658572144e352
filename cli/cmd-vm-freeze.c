/* SPDX-License-Identifier: MIT */
/*
 * cmd-vm-freeze.c - vmsvc vm freeze VM and vmsvc vm thaw VM: ask the
 * guest's agent, through vmsvcd's "freeze" and "thaw" operations (the VSS
 * integration service), to freeze its filesystems for a backup and to
 * thaw them; and the freeze state for 'vm show'.
 *
 * Exit codes (as 'vm shutdown'): 0 done, 1 failed in the guest (a hook, a
 * filesystem: each failure is listed), 125 vmsvc failed (vmsvcd, the VM,
 * no agent, not permitted, the service disabled), 2 wrong usage.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctlproto.h"
#include "ic.h"
#include "util.h"
#include "vmtable.h"

enum { EXIT_GUEST_FAILED = 1 };

static void freeze_usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvc vm freeze VM [--timeout S] [--mount PATH]...\n"
		"       vmsvc vm thaw VM\n\n"
		"freeze asks the guest's vmsvc-agent (the VSS integration service) to freeze\n"
		"its filesystems for a backup: it runs the guest's freeze hooks\n"
		"(/etc/vmsvc/freeze-hook.d/*, with 'freeze', in name order), sync()s and\n"
		"freezes (FIFREEZE) every writable block filesystem, '/' last, and prints\n"
		"what is frozen. Writes in the guest wait until the thaw. thaw thaws them\n"
		"('/' first) and runs the hooks with 'thaw' in reverse order.\n\n"
		"  VM            a VM's name or VmId\n"
		"  --timeout S   the guest thaws by itself after S seconds (default 10, at\n"
		"                most 600), also when this command is killed before the\n"
		"                freeze is done, when vmsvcd goes, or when the agent restarts\n"
		"  --mount PATH  freeze only this mount point (repeatable, at most 64)\n\n"
		"If a hook or a filesystem fails, everything frozen is thawed again and\n"
		"each failure is printed. Root and the users and groups in the VM's\n"
		"SessionUsers= and SessionGroups= (vms.d/NAME.conf) may freeze and thaw.\n"
		"For a backup: vmsvc vm freeze VM && SNAPSHOT; vmsvc vm thaw VM\n"
		"(docs/guide.md, \"Backups: freeze and thaw\").\n\n"
		"Exit status: 0 done; 1 failed in the guest (a hook, a filesystem); 125\n"
		"vmsvc failed (vmsvcd not running, no such VM, VM not running, no agent,\n"
		"not permitted, the VSS service disabled); 2 wrong usage.\n");
}

struct fz_opts {
	uint32_t timeout_ms;
	unsigned nmounts;
	const char *mounts[IC_FZ_MAX_MOUNTS];
};

static int parse_timeout(const char *cmd, struct fz_opts *o, const char *arg)
{
	char *end;
	double s = strtod(arg, &end);

	if (*end || end == arg || !(s > 0) || s > IC_FZ_MAX_TIMEOUT_MS / 1000)
		return cli_usage_error(cmd,
				       "--timeout wants seconds (e.g. 30 or 0.5, at most 600), "
				       "not '%s'",
				       arg);
	o->timeout_ms = (uint32_t)(s * 1000 + 0.5) ?: 1;
	return -1;
}

static int add_mount(const char *cmd, struct fz_opts *o, const char *arg)
{
	if (arg[0] != '/' || strlen(arg) > IC_FZ_MAX_PATH)
		return cli_usage_error(cmd, "--mount wants an absolute path, not '%s'", arg);
	if (o->nmounts >= IC_FZ_MAX_MOUNTS)
		return cli_usage_error(cmd, "at most %d --mount", IC_FZ_MAX_MOUNTS);
	o->mounts[o->nmounts++] = arg;
	return -1;
}

/* Options and the VM: -1 to go on (*vm set), or an exit code. */
static int parse_args(const char *cmd, bool freeze, struct fz_opts *o, int argc, char **argv,
		      const char **vm)
{
	static const struct option opts[] = { { "timeout", required_argument, NULL, 't' },
					      { "mount", required_argument, NULL, 'm' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h')
			return freeze_usage(stdout), EXIT_OK;
		if ((c == 't' || c == 'm') && !freeze)
			return cli_usage_error(cmd, "thaw takes no options but --help");
		if (c == 't' && parse_timeout(cmd, o, optarg) >= 0)
			return EXIT_USAGE;
		if (c == 'm' && add_mount(cmd, o, optarg) >= 0)
			return EXIT_USAGE;
		if (c == '?' || c == ':')
			return cli_option_error(cmd, c, argv);
	}
	if (optind == argc)
		return cli_usage_error(cmd, "%s needs a VM (a name or VmId)",
				       freeze ? "freeze" : "thaw");
	if (optind + 1 < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	*vm = argv[optind];
	return -1;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static size_t jlen(json_object *o, const char *key, json_object **a)
{
	if (!o || !json_object_object_get_ex(o, key, a) ||
	    !json_object_is_type(*a, json_type_array))
		return 0;
	return json_object_array_length(*a);
}

/* Prints "  PREFIX item" per item of reply[key] to out. */
static void print_list(FILE *out, json_object *reply, const char *key, const char *prefix)
{
	json_object *a = NULL;
	size_t n = jlen(reply, key, &a);

	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %s%s\n", prefix,
			json_object_get_string(json_object_array_get_idx(a, i)));
}

static int call(const char *name, bool freeze, const struct fz_opts *o, json_object **reply)
{
	json_object *req = json_object_new_object(), *mounts = json_object_new_array();
	int r;

	json_object_object_add(req, "op", json_object_new_string(freeze ? "freeze" : "thaw"));
	json_object_object_add(req, "vm", json_object_new_string(name));
	if (freeze) {
		json_object_object_add(req, "timeout_ms", json_object_new_int64(o->timeout_ms));
		for (unsigned i = 0; i < o->nmounts; i++)
			json_object_array_add(mounts, json_object_new_string(o->mounts[i]));
		json_object_object_add(req, "mounts", mounts);
	} else {
		json_object_put(mounts);
	}
	/* vmsvcd waits at most 90 s for the guest's hooks, sync() and FIFREEZE */
	r = ctl_call(cli_runtime_dir(), req, 100000, reply, NULL);
	json_object_put(req);
	if (r < 0) {
		cli_daemon_error(r);
		return EXIT_SESSION_FAIL;
	}
	return 0;
}

static int failed(const char *name, bool freeze, json_object *reply)
{
	const char *err = jstr(reply, "error"), *msg = jstr(reply, "message");
	json_object *v;

	cli_error("%s", msg ? msg : err ? err : "vmsvcd gave no reason");
	if (json_object_object_get_ex(reply, "in_guest", &v) && json_object_get_boolean(v)) {
		print_list(stderr, reply, "failures", "failed: ");
		if (freeze)
			cli_error("nothing is frozen in VM '%s' (what was frozen is thawed again)",
				  name);
		return EXIT_GUEST_FAILED;
	}
	if (err && strcmp(err, "ENOTCONN") == 0)
		cli_error("is vmsvc-agent running in the guest, with [Freeze] Enabled = yes in "
			  "its /etc/vmsvc/agent.conf?");
	return EXIT_SESSION_FAIL;
}

static int run(int argc, char **argv, bool freeze)
{
	const char *cmd = freeze ? "vm freeze" : "vm thaw", *arg = NULL;
	_cleanup_(vmt_table_freep) struct vmt_table *t = NULL;
	struct fz_opts o = { .timeout_ms = IC_FZ_DEFAULT_TIMEOUT_MS };
	json_object *reply = NULL, *ok, *mounts = NULL;
	const struct vmt_vm *vm;
	int r = parse_args(cmd, freeze, &o, argc, argv, &arg);
	char in[32];

	if (r >= 0)
		return r;
	r = vmt_load(cli_config_dir(), &t);
	if (r < 0) {
		cli_error("cannot read %s/" VMT_DIR ": %s", cli_config_dir(), strerror(-r));
		return EXIT_SESSION_FAIL;
	}
	if (!(vm = cli_find_vm(t, arg)))
		return EXIT_SESSION_FAIL;
	if ((r = call(vm->name, freeze, &o, &reply)) != 0)
		return r;
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		r = failed(vm->name, freeze, reply);
		json_object_put(reply);
		return r;
	}
	if (freeze) {
		cli_format_ms(o.timeout_ms, in, sizeof(in));
		printf("VM '%s': frozen (the guest thaws by itself in %s unless thawed):\n",
		       vm->name, in);
	} else {
		printf("VM '%s': thawed%s\n", vm->name,
		       jlen(reply, "mounts", &mounts) ? ":" : " (nothing was frozen)");
	}
	print_list(stdout, reply, "mounts", "");
	print_list(stderr, reply, "failures", "failed: ");
	json_object_put(reply);
	return EXIT_OK;
}

int cmd_vm_freeze(int argc, char **argv)
{
	return run(argc, argv, true);
}

int cmd_vm_thaw(int argc, char **argv)
{
	return run(argc, argv, false);
}

json_object *cli_fz_object(const char *vm)
{
	json_object *st = cli_vm_status(vm), *fz;

	if (st && json_object_object_get_ex(st, "freeze", &fz))
		return json_object_get(fz);
	return NULL;
}

void cli_fz_print(const char *vm)
{
	json_object *fz = cli_fz_object(vm), *a = NULL, *v;
	const char *state = jstr(fz, "state");
	size_t n = jlen(fz, "mounts", &a);
	char in[32] = "";

	if (!state) {
		json_object_put(fz);
		return;
	}
	if (json_object_object_get_ex(fz, "thaw_in_ms", &v))
		cli_format_ms((uint64_t)json_object_get_int64(v), in, sizeof(in));
	printf("freeze:       %s", state);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : " (",
		       json_object_get_string(json_object_array_get_idx(a, i)));
	if (n)
		printf(")");
	if (in[0] && strcmp(state, "frozen") == 0)
		printf("; thaws by itself in %s", in);
	printf("\n");
	json_object_put(fz);
}
