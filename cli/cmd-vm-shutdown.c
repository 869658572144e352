/* SPDX-License-Identifier: MIT */
/*
 * cmd-vm-shutdown.c - vmsvc vm shutdown VM: asks the guest's agent,
 * through vmsvcd's "shutdown" operation (the Shutdown integration
 * service), to power off, reboot or halt, then follows vmsvcd's status
 * every 200 ms until the guest is off or back up.
 *
 * Done means: poweroff, QEMU gone (state "stopped"); halt, the guest's
 * driver down (QEMU stays: a halted guest does not end it); reboot, the
 * heartbeat OK again with another boot id than before (or, when no boot id
 * is known, after it was not OK for a while).
 *
 * Exit codes (as exec's for vmsvc's own failures): 0 done (--no-wait:
 * accepted), 1 the guest refused, 124 not done in time, 125 vmsvc failed,
 * 2 wrong usage.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctlproto.h"
#include "ic.h"
#include "registry.h"
#include "util.h"
#include "vmtable.h"

#define CMD		   "vm shutdown"
#define POLL_MS		   200
#define DEFAULT_TIMEOUT_MS 120000u
#define MAX_TIMEOUT_S	   86400 /* what vmsvcd passes on to the guest */
enum { EXIT_REFUSED = 1 };

static void shutdown_usage(FILE *out)
{
	fprintf(out, "Usage: vmsvc vm shutdown VM [--reboot | --halt] [--force] [--timeout S]\n"
		     "                            [--message TEXT] [--no-wait]\n\n"
		     "Asks the guest's vmsvc-agent (the Shutdown integration service) to power\n"
		     "VM off, and waits until it is off: QEMU has exited.\n\n"
		     "  VM              a VM's name or VmId\n"
		     "  --reboot        reboot instead; wait until the guest's heartbeat is OK\n"
		     "                  again, with a new boot id\n"
		     "  --halt          halt instead (the CPUs stop, QEMU stays); wait until the\n"
		     "                  guest's driver is down\n"
		     "  --force         do not let the guest's inhibitors (logind's shutdown\n"
		     "                  locks: a running upgrade, an unsaved session) block it\n"
		     "  --timeout S     wait at most S seconds (default 120, at most 86400); the\n"
		     "                  guest is told too\n"
		     "  --message TEXT  shown to the guest's users (wall) and kept in its journal\n"
		     "                  (at most 2048 bytes)\n"
		     "  --no-wait       return once the guest has accepted\n\n"
		     "The guest answers at once: it accepts, or refuses because inhibitors block\n"
		     "the shutdown (they are listed; --force overrides them) or because its\n"
		     "agent's configuration does not allow it. Root, and the users and groups\n"
		     "in the VM's SessionUsers= and SessionGroups= (vms.d/NAME.conf), may shut\n"
		     "it down; following it needs root or the 'vmsvc' group (else --no-wait).\n\n"
		     "Exit status: 0 done (off, halted or back up; with --no-wait: accepted);\n"
		     "1 refused by the guest (inhibitors, or its configuration); 124 timed out\n"
		     "waiting (the message says how the VM is); 125 vmsvc failed (vmsvcd not\n"
		     "running, no such VM, VM not running, no agent, not permitted, the Shutdown\n"
		     "service disabled); 2 wrong usage.\n");
}

enum action { POWEROFF, REBOOT, HALT };
static const char *const action_wire[] = { "poweroff", "reboot", "halt" };
static const char *const action_noun[] = { "shutdown", "reboot", "halt" };

struct sd_opts {
	enum action action;
	bool force, wait, reboot, halt;
	uint32_t timeout_ms;
	const char *message;
};

static int parse_timeout(struct sd_opts *o, const char *arg)
{
	char *end;
	double s = strtod(arg, &end);

	if (*end || end == arg || !(s > 0) || s > MAX_TIMEOUT_S)
		return cli_usage_error(CMD,
				       "--timeout wants seconds (e.g. 60 or 0.5, at most %d), not "
				       "'%s'",
				       MAX_TIMEOUT_S, arg);
	o->timeout_ms = (uint32_t)(s * 1000 + 0.5);
	if (!o->timeout_ms)
		o->timeout_ms = 1;
	return -1;
}

/* Options and operands: -1 to go on (*vm set), or an exit code. */
static int parse_args(struct sd_opts *o, int argc, char **argv, const char **vm)
{
	static const struct option opts[] = { { "reboot", no_argument, NULL, 'r' },
					      { "halt", no_argument, NULL, 'H' },
					      { "force", no_argument, NULL, 'f' },
					      { "timeout", required_argument, NULL, 't' },
					      { "message", required_argument, NULL, 'm' },
					      { "no-wait", no_argument, NULL, 'n' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h')
			return shutdown_usage(stdout), EXIT_OK;
		else if (c == 'r')
			o->reboot = true;
		else if (c == 'H')
			o->halt = true;
		else if (c == 'f')
			o->force = true;
		else if (c == 't' && parse_timeout(o, optarg) >= 0)
			return EXIT_USAGE;
		else if (c == 'm')
			o->message = optarg;
		else if (c == 'n')
			o->wait = false;
		else if (c == '?' || c == ':')
			return cli_option_error(CMD, c, argv);
	}
	if (optind == argc)
		return cli_usage_error(CMD, "shutdown needs a VM (a name or VmId)");
	if (optind + 1 < argc)
		return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind + 1]);
	if (o->reboot && o->halt)
		return cli_usage_error(CMD, "--reboot and --halt exclude each other");
	if (o->message && strlen(o->message) > IC_SD_MAX_MESSAGE)
		return cli_usage_error(CMD, "--message is %zu bytes long; at most %d fit",
				       strlen(o->message), IC_SD_MAX_MESSAGE);
	o->action = o->reboot ? REBOOT : o->halt ? HALT : POWEROFF;
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

/* ---- the request and the guest's answer ---- */

/* Sends the request; 0 and *reply, or an exit code after saying why. */
static int send_request(const char *name, const struct sd_opts *o, json_object **reply)
{
	json_object *req = json_object_new_object();
	int r;

	json_object_object_add(req, "op", json_object_new_string("shutdown"));
	json_object_object_add(req, "vm", json_object_new_string(name));
	json_object_object_add(req, "action", json_object_new_string(action_wire[o->action]));
	json_object_object_add(req, "force", json_object_new_boolean(o->force));
	json_object_object_add(req, "timeout_s",
			       json_object_new_int64(((int64_t)o->timeout_ms + 999) / 1000));
	if (o->message)
		json_object_object_add(req, "message", json_object_new_string(o->message));
	r = ctl_call(cli_runtime_dir(), req, 15000, reply, NULL);
	json_object_put(req);
	if (r < 0) {
		cli_daemon_error(r);
		return EXIT_SESSION_FAIL;
	}
	return 0;
}

/* Inhibitors block it: the blockers, and what to do. */
static int refused_busy(const char *name, const char *noun, json_object *reply)
{
	json_object *blockers = NULL;
	const char *msg = jstr(reply, "message");
	size_t n = 0;

	if (json_object_object_get_ex(reply, "blockers", &blockers) &&
	    json_object_is_type(blockers, json_type_array))
		n = json_object_array_length(blockers);
	cli_error("VM '%s': the guest refused the %s: blocked by inhibitors", name, noun);
	if (n == 0 && msg) /* vmsvcd's message then has what the agent said */
		cli_error("%s", msg);
	for (size_t i = 0; i < n; i++) {
		const char *b = json_object_get_string(json_object_array_get_idx(blockers, i));
		fprintf(stderr, "  blocked by %s\n", b ? b : "?");
	}
	cli_error("end what blocks it, or add --force to go ahead anyway (unsaved work in the "
		  "guest may be lost)");
	return EXIT_REFUSED;
}

/* The Shutdown service is off: say where, and how to turn it on. */
static void explain_disabled(const struct vmt_vm *vm, const char *msg)
{
	_cleanup_(reg_table_freep) struct reg_table *t = NULL;
	const struct reg_inbox *b = reg_inbox_lookup("shutdown");
	const struct reg_service *s = NULL;
	hv_guid_t id;

	if (msg) { /* vmsvcd says where, and how to turn it on */
		cli_error("%s", msg);
		return;
	}
	cli_error("the Shutdown integration service is disabled");
	if (b && reg_load(cli_config_dir(), &t) == 0 && hv_guid_parse(b->guid, &id) == 0)
		s = reg_find_guid(t, &id);
	if (s && !s->enabled)
		cli_error("it is disabled for every VM; 'vmsvc service enable shutdown' turns it "
			  "on");
	if (vmt_service_disabled(vm, "shutdown"))
		cli_error("it is disabled for VM '%s'; 'vmsvc vm integration %s enable shutdown' "
			  "turns it on",
			  vm->name, vm->name);
}

/* A failure reply: says what happened and what to do; the exit code. */
static int refused(const struct vmt_vm *vm, const struct sd_opts *o, json_object *reply)
{
	const char *err = jstr(reply, "error"), *msg = jstr(reply, "message");
	const char *noun = action_noun[o->action];

	if (!err)
		err = "EPROTO";
	if (strcmp(err, "EBUSY") == 0)
		return refused_busy(vm->name, noun, reply);
	if (strcmp(err, "EPERM") == 0) {
		cli_error("VM '%s': the guest refused the %s: its agent's configuration does not "
			  "allow it",
			  vm->name, noun);
		if (msg)
			cli_error("%s", msg);
		cli_error("to allow it, set '[Shutdown] Enabled = yes' in the guest's "
			  "/etc/vmsvc/agent.conf");
		return EXIT_REFUSED;
	}
	if (strcmp(err, "EOPNOTSUPP") == 0 || strcmp(err, "ENOTSUP") == 0) {
		explain_disabled(vm, msg);
		return EXIT_SESSION_FAIL;
	}
	cli_error("%s", msg ? msg : err);
	if (strcmp(err, "ENOTCONN") == 0)
		cli_error("is vmsvc-agent running in the guest? Start it there (systemctl start "
			  "vmsvc-agent), or shut the guest down from inside");
	else if (strcmp(err, "ETIMEDOUT") == 0)
		cli_error("the guest's agent did not answer; try again, or check it with "
			  "'vmsvc vm show %s'",
			  vm->name);
	else if (strcmp(err, "ENETUNREACH") == 0 && !msg)
		cli_error("VM '%s' is not running", vm->name);
	return EXIT_SESSION_FAIL;
}

/* ---- waiting ---- */

struct progress {
	char state[32];	  /* "running", ... as vmsvcd says */
	char hb[48];	  /* the heartbeat as 'vm list' shows it */
	char boot_id[64]; /* the current one ("" unknown) */
	bool hb_ok;
};

/* VM name's entry in a fresh status: 0 and *p, or an exit code. */
static int poll_status(const char *name, struct progress *p)
{
	json_object *st = NULL, *vm, *hb = NULL;
	int r = cli_daemon_status_now(&st);

	if (r < 0) {
		if (r == -EACCES)
			cli_error("cannot follow VM '%s': vmsvcd tells VM states only to root and "
				  "members of the 'vmsvc' group (--no-wait does not follow)",
				  name);
		else
			cli_daemon_error(r);
		json_object_put(st);
		return EXIT_SESSION_FAIL;
	}
	vm = cli_status_find(st, name);
	if (!vm) {
		cli_error("VM '%s' is no longer served by vmsvcd (was its definition removed?)",
			  name);
		json_object_put(st);
		return EXIT_SESSION_FAIL;
	}
	json_object_object_get_ex(vm, "heartbeat", &hb);
	snprintf(p->state, sizeof(p->state), "%s", jstr(vm, "state") ? jstr(vm, "state") : "?");
	cli_ic_status_text(jstr(hb, "status"), jstr(hb, "app"), false, p->hb, sizeof(p->hb));
	p->hb_ok = jstr(hb, "status") && strcmp(jstr(hb, "status"), "ok") == 0;
	snprintf(p->boot_id, sizeof(p->boot_id), "%s",
		 jstr(hb, "boot_id") ? jstr(hb, "boot_id") : "");
	json_object_put(st);
	return 0;
}

struct waiter {
	const char *name;
	enum action action;
	char old_boot[64]; /* reboot: the boot id before ("" unknown) */
	bool seen_down;	   /* reboot: the heartbeat was not OK once */
};

/* Whether the VM got where the action takes it. */
static bool arrived(struct waiter *w, const struct progress *p)
{
	if (w->action == POWEROFF)
		return strcmp(p->state, "stopped") == 0;
	if (w->action == HALT)
		return strcmp(p->state, "running") != 0;
	if (!p->hb_ok) {
		w->seen_down = true;
		return false;
	}
	if (!*w->old_boot && !w->seen_down) /* learn it while the old boot still beats */
		snprintf(w->old_boot, sizeof(w->old_boot), "%s", p->boot_id);
	if (*w->old_boot && *p->boot_id)
		return strcmp(p->boot_id, w->old_boot) != 0;
	return w->seen_down;
}

static void say_arrived(const struct waiter *w, const struct progress *p, uint64_t ms)
{
	char took[32];

	cli_format_ms(ms, took, sizeof(took));
	if (w->action == REBOOT)
		printf("VM '%s' is back up after %s (boot id %s)\n", w->name, took,
		       *p->boot_id ? p->boot_id : "unknown");
	else if (strcmp(p->state, "stopped") == 0)
		printf("VM '%s' is off after %s (QEMU has exited)\n", w->name, took);
	else
		printf("VM '%s' has halted after %s (its driver is down; QEMU still runs)\n",
		       w->name, took);
}

static int say_timed_out(const struct waiter *w, const struct progress *p, uint32_t limit)
{
	static const char *const goal[] = { "off", "back up", "halted" };
	char took[32];

	cli_format_ms(limit, took, sizeof(took));
	cli_error("VM '%s' is not %s after %s: it is %s, heartbeat %s", w->name, goal[w->action],
		  took, p->state, p->hb);
	if (w->action == POWEROFF && strcmp(p->state, "connected") == 0)
		cli_error("its guest's driver is down but QEMU still runs (started with "
			  "-no-shutdown?); stop QEMU");
	else if (w->action == REBOOT)
		cli_error("the guest may still be starting: 'vmsvc vm show %s' tells; a longer "
			  "--timeout waits more",
			  w->name);
	else
		cli_error("the guest may still be shutting down: 'vmsvc vm show %s' tells; stop "
			  "its QEMU if it hangs",
			  w->name);
	return EXIT_TIMED_OUT;
}

static int wait_done(struct waiter *w, uint32_t limit_ms)
{
	uint64_t t0 = now_ms();
	struct progress p;
	int r;

	if (isatty(STDERR_FILENO))
		fprintf(stderr, "vmsvc: waiting up to %u s for VM '%s' to be %s\n",
			(limit_ms + 999) / 1000, w->name,
			w->action == REBOOT ? "back up"
			: w->action == HALT ? "halted"
					    : "off");
	for (;;) {
		uint64_t spent;
		if ((r = poll_status(w->name, &p)) != 0)
			return r;
		spent = now_ms() - t0;
		if (arrived(w, &p)) {
			say_arrived(w, &p, spent);
			return EXIT_OK;
		}
		if (spent >= limit_ms)
			return say_timed_out(w, &p, limit_ms);
		struct timespec ts = { 0, POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/* Whether vmsvcd reports VM name's heartbeat as disabled: then a reboot
 * cannot be followed (nothing tells when the guest is back). */
static bool heartbeat_disabled(const char *name)
{
	json_object *hb = NULL;
	const char *status;

	json_object_object_get_ex(cli_vm_status(name), "heartbeat", &hb);
	status = jstr(hb, "status");
	return status && strcmp(status, "disabled") == 0;
}

int cmd_vm_shutdown(int argc, char **argv)
{
	_cleanup_(vmt_table_freep) struct vmt_table *t = NULL;
	struct sd_opts o = { .wait = true, .timeout_ms = DEFAULT_TIMEOUT_MS };
	json_object *reply = NULL, *ok;
	const struct vmt_vm *vm;
	const char *arg = NULL;
	int r = parse_args(&o, argc, argv, &arg);

	if (r >= 0)
		return r;
	r = vmt_load(cli_config_dir(), &t);
	if (r < 0) {
		cli_error("cannot read %s/" VMT_DIR ": %s", cli_config_dir(), strerror(-r));
		return EXIT_SESSION_FAIL;
	}
	if (!(vm = cli_find_vm(t, arg)))
		return EXIT_SESSION_FAIL;
	if (o.action == REBOOT && o.wait && heartbeat_disabled(vm->name)) {
		cli_error(
			"VM '%s': --reboot waits for the guest's heartbeat, which is disabled; "
			"turn it on (where it is off: 'vmsvc vm integration %s') or add --no-wait",
			vm->name, vm->name);
		return EXIT_SESSION_FAIL;
	}
	if ((r = send_request(vm->name, &o, &reply)) != 0)
		return r;
	if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
		r = refused(vm, &o, reply);
		json_object_put(reply);
		return r;
	}
	printf("VM '%s': the guest accepted the %s\n", vm->name, action_noun[o.action]);
	fflush(stdout);
	struct waiter w = { .name = vm->name, .action = o.action };
	snprintf(w.old_boot, sizeof(w.old_boot), "%s",
		 jstr(reply, "boot_id") ? jstr(reply, "boot_id") : "");
	json_object_put(reply);
	return o.wait ? wait_done(&w, o.timeout_ms) : EXIT_OK;
}
