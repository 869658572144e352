/* SPDX-License-Identifier: MIT */
/*
 * cli-ic.c - the integration services (the VM Session Service, heartbeat,
 * shutdown; docs/integration-services.md) as the CLI shows them: vmsvcd's
 * status words as people read them, the heartbeat lines of 'vm show', and
 * a VM's services from vmsvcd's "integration" operation.
 *
 * When vmsvcd does not answer (not running, or not for this user), the
 * CLI falls back on the config, as 'vm list' shows such VMs "stopped": a
 * VM without QEMU has its services Off (the VM Session Service On Demand,
 * as vmsvcd has it), or Disabled where the registry (services.d) or the
 * VM's DisabledServices= (vms.d) turns them off.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctlproto.h"
#include "registry.h"
#include "util.h"
#include "vmtable.h"

static const struct {
	const char *wire, *word;
} words[] = {
	{ "ok", "OK" },
	{ "no-contact", "No Contact" },
	{ "lost-communication", "Lost Communication" },
	{ "error", "Error" },
	{ "paused", "Paused" },
	{ "disabled", "Disabled" },
	{ "protocol-mismatch", "Protocol Mismatch" },
	{ "off", "Off" },
	{ "on-demand", "On Demand" },
};

const char *cli_ic_word(const char *status)
{
	if (!status)
		return "-";
	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (strcmp(status, words[i].wire) == 0)
			return words[i].word;
	return status;
}

/* o's string member key, or NULL (absent, null or not a string). */
static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* o's integer member key: whether it is there. */
static bool jint(json_object *o, const char *key, int64_t *out)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return *out >= 0;
}

/* o's boolean member key, or def. */
static bool jbool(json_object *o, const char *key, bool def)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return def;
	return json_object_get_boolean(v);
}

void cli_ic_status_text(const char *status, const char *app, bool healthy_too, char *buf,
			size_t size)
{
	bool ok = status && strcmp(status, "ok") == 0;

	if (ok && app && strcmp(app, "critical") == 0)
		snprintf(buf, size, "OK (critical)");
	else if (ok && app && healthy_too && strcmp(app, "healthy") == 0)
		snprintf(buf, size, "OK (healthy)");
	else
		snprintf(buf, size, "%s", cli_ic_word(status));
}

void cli_format_ms(uint64_t ms, char *buf, size_t size)
{
	uint64_t s = ms / 1000;

	if (ms < 10000 && ms % 1000 == 0)
		snprintf(buf, size, "%" PRIu64 " s", s);
	else if (ms < 10000)
		snprintf(buf, size, "%.1f s", (double)ms / 1000);
	else if (s < 60)
		snprintf(buf, size, "%" PRIu64 " s", s);
	else if (s < 3600)
		snprintf(buf, size, "%" PRIu64 " min %" PRIu64 " s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%" PRIu64 " h %" PRIu64 " min", s / 3600, s / 60 % 60);
	else
		snprintf(buf, size, "%" PRIu64 " d %" PRIu64 " h", s / 86400, s / 3600 % 24);
}

/* ---- the config's view, for when vmsvcd does not tell ---- */

/* The registry, loaded once per process (NULL when it cannot be read:
 * then every in-box service counts as enabled, as without files). */
static struct reg_table *registry(void)
{
	static struct reg_table *t;
	static bool loaded;

	if (!loaded && reg_load(cli_config_dir(), &t) < 0)
		t = NULL;
	loaded = true;
	return t;
}

/* Whether the registry has in-box service b on (for every VM). */
static bool enabled_global(const struct reg_inbox *b)
{
	const struct reg_service *s;
	hv_guid_t id;

	if (!registry() || hv_guid_parse(b->guid, &id) < 0)
		return true;
	s = reg_find_guid(registry(), &id);
	return !s || s->enabled;
}

static json_object *local_service(const struct vmt_vm *vm, const struct reg_inbox *b)
{
	json_object *o = json_object_new_object();
	bool global = enabled_global(b), own = !vmt_service_disabled(vm, b->short_name);
	const char *status = "off";

	json_object_object_add(o, "name", json_object_new_string(b->name));
	json_object_object_add(o, "short", json_object_new_string(b->short_name));
	json_object_object_add(o, "guid", json_object_new_string(b->guid));
	json_object_object_add(o, "port", json_object_new_int64(b->port));
	json_object_object_add(o, "enabled", json_object_new_boolean(global && own));
	json_object_object_add(o, "enabled_global", json_object_new_boolean(global));
	json_object_object_add(o, "enabled_vm", json_object_new_boolean(own));
	/* As vmsvcd says: the VM Session Service is host-initiated, so it has no
	 * connection to lose and is On Demand whenever it is enabled. */
	if (!global || !own)
		status = "disabled";
	else if (strcmp(b->short_name, "session") == 0)
		status = "on-demand";
	json_object_object_add(o, "status", json_object_new_string(status));
	return o;
}

static json_object *local_services(const struct vmt_vm *vm)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < reg_inbox_count(); i++)
		json_object_array_add(a, local_service(vm, reg_inbox_at(i)));
	return a;
}

json_object *cli_hb_object(const struct vmt_vm *vm)
{
	json_object *st = cli_vm_status(vm->name), *hb, *o;
	const struct reg_inbox *b = reg_inbox_lookup("heartbeat");
	bool on;

	if (st && json_object_object_get_ex(st, "heartbeat", &hb) &&
	    json_object_is_type(hb, json_type_object))
		return json_object_get(hb);
	o = json_object_new_object();
	if (st && strcmp(jstr(st, "state") ? jstr(st, "state") : "stopped", "stopped") != 0) {
		/* A running VM and a vmsvcd that says nothing of heartbeats. */
		json_object_object_add(o, "status", json_object_new_string("unknown"));
		return o;
	}
	on = !b || (enabled_global(b) && !vmt_service_disabled(vm, b->short_name));
	json_object_object_add(o, "status", json_object_new_string(on ? "off" : "disabled"));
	return o;
}

/* ---- vmsvcd's view ---- */

json_object *cli_ic_services(const struct vmt_vm *vm)
{
	json_object *req = json_object_new_object(), *reply = NULL, *a;
	const char *err;
	int r;

	json_object_object_add(req, "op", json_object_new_string("integration"));
	json_object_object_add(req, "vm", json_object_new_string(vm->name));
	r = ctl_call(cli_runtime_dir(), req, 5000, &reply, NULL);
	json_object_put(req);
	if (r == 0 && jbool(reply, "ok", false) &&
	    json_object_object_get_ex(reply, "services", &a) &&
	    json_object_is_type(a, json_type_array)) {
		a = json_object_get(a);
		json_object_put(reply);
		return a;
	}
	err = r == 0 ? jstr(reply, "error") : NULL;
	if (err && strcmp(err, "EACCES") == 0)
		cli_error("integration service states are not shown: vmsvcd tells them only to "
			  "root and members of the 'vmsvc' group");
	else if (r == 0)
		cli_error("vmsvcd did not list the integration services of VM '%s' (%s); shown as "
			  "the config has them",
			  vm->name,
			  jstr(reply, "message") ? jstr(reply, "message") : "no reason given");
	json_object_put(reply);
	return local_services(vm);
}

/* "yes", or "no" and who turned it off: this VM, the registry, both. */
static const char *enabled_text(json_object *s)
{
	bool global = jbool(s, "enabled_global", true), own = jbool(s, "enabled_vm", true);

	if (jbool(s, "enabled", global && own))
		return "yes";
	if (!global && !own)
		return "no (VM, global)";
	if (!own)
		return "no (VM)";
	if (!global)
		return "no (global)";
	return "no";
}

enum { C_NAME, C_SHORT, C_ENABLED, C_STATUS, C_GUID, C_PORT, NCOLS };

void cli_ic_print_table(json_object *services, const char *indent, bool ids)
{
	static const char *head[NCOLS] = { "NAME", "SHORT", "ENABLED", "STATUS", "GUID", "PORT" };
	size_t n = json_object_array_length(services), ncols = ids ? NCOLS : C_GUID;
	char(*cell)[NCOLS][80] = calloc(n + 1, sizeof(*cell));
	int w[NCOLS] = { 0 };

	if (!cell)
		return;
	for (size_t c = 0; c < NCOLS; c++)
		snprintf(cell[0][c], sizeof(cell[0][c]), "%s", head[c]);
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(services, i);
		int64_t port = 0;
		const char *name = jstr(s, "name");
		snprintf(cell[i + 1][C_NAME], 80, "%s", name ? name : "-");
		snprintf(cell[i + 1][C_SHORT], 80, "%s", jstr(s, "short") ? jstr(s, "short") : "-");
		snprintf(cell[i + 1][C_ENABLED], 80, "%s", enabled_text(s));
		cli_ic_status_text(jstr(s, "status"), jstr(s, "app"), true, cell[i + 1][C_STATUS],
				   80);
		snprintf(cell[i + 1][C_GUID], 80, "%s", jstr(s, "guid") ? jstr(s, "guid") : "-");
		if (jint(s, "port", &port))
			snprintf(cell[i + 1][C_PORT], 80, "%" PRId64, port);
		else
			snprintf(cell[i + 1][C_PORT], 80, "-");
	}
	for (size_t i = 0; i <= n; i++)
		for (size_t c = 0; c < ncols; c++)
			if ((int)strlen(cell[i][c]) > w[c])
				w[c] = (int)strlen(cell[i][c]);
	for (size_t i = 0; i <= n; i++) {
		fputs(indent, stdout);
		for (size_t c = 0; c < ncols; c++)
			if (c + 1 < ncols)
				printf("%-*s  ", w[c], cell[i][c]);
			else
				printf("%s\n", cell[i][c]);
	}
	free(cell);
}

/* ---- the heartbeat lines of 'vm show' ---- */

static void print_app(json_object *hb)
{
	const char *status = jstr(hb, "status"), *app = jstr(hb, "app");

	if (!status || strcmp(status, "ok") != 0)
		printf("heartbeat:    %s\n", cli_ic_word(status));
	else if (app && (strcmp(app, "healthy") == 0 || strcmp(app, "critical") == 0))
		printf("heartbeat:    OK, application %s\n", app);
	else
		printf("heartbeat:    OK, application state unknown\n");
	if (jstr(hb, "critical"))
		printf("  critical:   %s\n", jstr(hb, "critical"));
}

static void print_times(json_object *hb)
{
	char ago[32], every[32] = "", up[32], extra[96] = "";
	int64_t last, interval, beats, uptime;

	if (jint(hb, "interval_ms", &interval))
		cli_format_ms((uint64_t)interval, every, sizeof(every));
	if (jint(hb, "beats", &beats) && *every)
		snprintf(extra, sizeof(extra), " (every %s, %" PRId64 " beat%s)", every, beats,
			 beats == 1 ? "" : "s");
	else if (jint(hb, "beats", &beats))
		snprintf(extra, sizeof(extra), " (%" PRId64 " beat%s)", beats,
			 beats == 1 ? "" : "s");
	else if (*every)
		snprintf(extra, sizeof(extra), " (every %s)", every);
	if (jint(hb, "last_beat_ms", &last)) {
		cli_format_ms((uint64_t)last, ago, sizeof(ago));
		printf("  last beat:  %s ago%s\n", ago, extra);
	} else if (*every) {
		printf("  interval:   %s\n", every);
	}
	if (jint(hb, "uptime_ms", &uptime)) {
		cli_format_ms((uint64_t)uptime, up, sizeof(up));
		printf("  uptime:     %s\n", up);
	}
}

static void print_guest(json_object *hb)
{
	const char *name = jstr(hb, "os_name"), *id = jstr(hb, "os_id"),
		   *version = jstr(hb, "os_version"), *sys = jstr(hb, "sys_state");

	if (jstr(hb, "boot_id"))
		printf("  boot id:    %s\n", jstr(hb, "boot_id"));
	if (jstr(hb, "hostname"))
		printf("  hostname:   %s\n", jstr(hb, "hostname"));
	if (name || id || version) {
		printf("  OS:         %s", name ? name : id ? id : version);
		if (name && (id || version))
			printf(" (%s%s%s)", id ? id : "", id && version ? " " : "",
			       version ? version : "");
		else if (!name && id && version)
			printf(" %s", version);
		putchar('\n');
	}
	if (jstr(hb, "kernel"))
		printf("  kernel:     %s\n", jstr(hb, "kernel"));
	if (jstr(hb, "agent"))
		printf("  agent:      %s\n", jstr(hb, "agent"));
	if (sys && strcmp(sys, "none") == 0)
		printf("  systemd:    none (the guest runs without systemd)\n");
	else if (sys)
		printf("  systemd:    %s\n", sys);
}

void cli_hb_print(json_object *hb)
{
	print_app(hb);
	print_times(hb);
	print_guest(hb);
}
