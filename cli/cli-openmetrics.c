/* SPDX-License-Identifier: MIT */
/*
 * cli-openmetrics.c - vmsvc stats --format=openmetrics: vmsvcd's "stats"
 * and "status" replies (docs/control-protocol.md) in the OpenMetrics text
 * format (the Prometheus exposition format's successor), for
 * node_exporter's textfile collector or any scraper.
 *
 * Every metric family is a row of a table: where its value sits in a reply
 * entry (an object, a key) and how it becomes samples (a number, seconds
 * from ms or ns, a boolean, one sample per known value of a status word, one
 * sample per key of a group). The printer walks the families in order and,
 * in each, every entry of its list, so that a family's samples stay
 * together as the format requires; a family without samples prints
 * nothing (not even its metadata). Counters are named without "_total" in
 * # TYPE and with it on their samples; a family with a unit ends in it.
 * Values are exact decimals (ns as seconds with 9 digits), never printf's
 * floating point. Label values are escaped (\\, \", \n). A value that is
 * not a number or a boolean (null, a string) makes no sample.
 */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

enum om_kind {
	OM_INT,	   /* an integer as it is */
	OM_MS,	   /* milliseconds, printed as seconds */
	OM_NS,	   /* nanoseconds, printed as seconds */
	OM_BOOL,   /* 1 or 0 */
	OM_ONEHOT, /* a status word: a sample per known word (the one it is: 1), label `label` */
	OM_SPREAD, /* a sample per value v (label `label`="v"), from key prefix + v */
};

/* Where the families' entries come from: "services" or "vms" of the stats
 * reply, or "vms" of the status reply. */
enum om_list { OM_STATS_SERVICES, OM_STATS_VMS, OM_STATUS_VMS };

struct om_family {
	const char *name; /* without "_total" */
	const char *type; /* "counter" or "gauge" */
	const char *unit; /* NULL, or the unit the name ends with */
	const char *help;
	enum om_list list;
	const char *obj; /* NULL: the entry; else its member of that name */
	const char *key; /* the member of obj (OM_SPREAD: the prefix of its keys) */
	enum om_kind kind;
	const char *label;	   /* OM_ONEHOT, OM_SPREAD: the extra label's name */
	const char *const *values; /* OM_ONEHOT, OM_SPREAD: NULL-terminated */
};

static const char *const refused_reasons[] = { "not_registered", "disabled",	  "no_listener",
					       "wrong_vm",	 "not_permitted", NULL };
static const char *const directions[] = { "to_host", "to_guest", NULL };
static const char *const vm_states[] = { "stopped", "connected", "running", NULL };
static const char *const ic_statuses[] = { "ok",     "no-contact", "lost-communication", "error",
					   "paused", "disabled",   "protocol-mismatch",	 "off",
					   NULL };
static const char *const app_states[] = { "healthy", "critical", "unknown", NULL };
static const char *const ts_modes[] = { "chrony", "monitor", "discipline", NULL };

/* A row of the table; SCALAR: one without an extra label. */
#define FAMILY(name, type, unit, help, list, obj, key, kind, label, values) \
	{                                                                   \
		name, type, unit, help, list, obj, key, kind, label, values \
	}
#define SCALAR(name, type, unit, help, list, obj, key, kind) \
	FAMILY(name, type, unit, help, list, obj, key, kind, NULL, NULL)

/* The counters of one list (services or VMs). */
#define COUNTERS(prefix, what, list)                                                               \
	SCALAR(prefix "_connections_accepted", "counter", NULL,                                    \
	       "Connections to " what " that vmsvcd accepted.", list, NULL, "accepted", OM_INT),   \
		FAMILY(prefix "_connections_refused", "counter", NULL,                             \
		       "Connections to " what " that vmsvcd refused, by reason.", list, "refused", \
		       "", OM_SPREAD, "reason", refused_reasons),                                  \
		SCALAR(prefix "_connections_active", "gauge", NULL,                                \
		       "Connections to " what " open now.", list, NULL, "active", OM_INT),         \
		FAMILY(prefix "_bytes", "counter", "bytes",                                        \
		       "Bytes through vmsvcd on connections to " what ", by direction.", list,     \
		       NULL, "bytes_", OM_SPREAD, "direction", directions)

static const struct om_family families[] = {
	COUNTERS("vmsvc_service", "the service", OM_STATS_SERVICES),
	COUNTERS("vmsvc_vm", "and from the VM", OM_STATS_VMS),
	FAMILY("vmsvc_vm_state", "gauge", NULL,
	       "The VM as vmsvcd sees it: stopped (no QEMU), connected (no guest driver) or "
	       "running.",
	       OM_STATUS_VMS, NULL, "state", OM_ONEHOT, "state", vm_states),
	SCALAR("vmsvc_vm_paused", "gauge", NULL, "1 while QEMU has the VM's vsock device stopped.",
	       OM_STATUS_VMS, NULL, "paused", OM_BOOL),
	FAMILY("vmsvc_vm_heartbeat_status", "gauge", NULL,
	       "The Heartbeat service's status: 1 for the status the VM is in.", OM_STATUS_VMS,
	       "heartbeat", "status", OM_ONEHOT, "status", ic_statuses),
	FAMILY("vmsvc_vm_application_health", "gauge", NULL,
	       "The guest's application health in its heartbeat (while the heartbeat is ok).",
	       OM_STATUS_VMS, "heartbeat", "app", OM_ONEHOT, "health", app_states),
	SCALAR("vmsvc_vm_heartbeat_age_seconds", "gauge", "seconds",
	       "Time since the last heartbeat.", OM_STATUS_VMS, "heartbeat", "last_beat_ms", OM_MS),
	SCALAR("vmsvc_vm_heartbeat_interval_seconds", "gauge", "seconds",
	       "The interval the guest agent beats at.", OM_STATUS_VMS, "heartbeat", "interval_ms",
	       OM_MS),
	SCALAR("vmsvc_vm_heartbeats", "counter", NULL,
	       "Heartbeats on the agent's current connection.", OM_STATUS_VMS, "heartbeat", "beats",
	       OM_INT),
	SCALAR("vmsvc_vm_guest_uptime_seconds", "gauge", "seconds",
	       "The guest's uptime as of its last heartbeat.", OM_STATUS_VMS, "heartbeat",
	       "uptime_ms", OM_MS),
	FAMILY("vmsvc_vm_timesync_status", "gauge", NULL,
	       "The Time Synchronization service's status: 1 for the status the VM is in.",
	       OM_STATUS_VMS, "timesync", "status", OM_ONEHOT, "status", ic_statuses),
	FAMILY("vmsvc_vm_timesync_mode", "gauge", NULL,
	       "How the guest agent keeps the clock: 1 for its mode.", OM_STATUS_VMS, "timesync",
	       "mode", OM_ONEHOT, "mode", ts_modes),
	SCALAR("vmsvc_vm_timesync_offset_seconds", "gauge", "seconds",
	       "The guest's clock minus the host's, as the agent measured it last.", OM_STATUS_VMS,
	       "timesync", "offset_ns", OM_NS),
	SCALAR("vmsvc_vm_timesync_delay_seconds", "gauge", "seconds",
	       "Round trip of the agent's last best time sample.", OM_STATUS_VMS, "timesync",
	       "delay_ns", OM_NS),
	SCALAR("vmsvc_vm_timesync_synchronized", "gauge", NULL,
	       "1 when the guest agent says the clock is synchronised.", OM_STATUS_VMS, "timesync",
	       "synced", OM_BOOL),
	SCALAR("vmsvc_vm_timesync_steps", "counter", NULL, "Clock steps the guest agent made.",
	       OM_STATUS_VMS, "timesync", "steps", OM_INT),
	SCALAR("vmsvc_vm_timesync_report_age_seconds", "gauge", "seconds",
	       "Time since the agent's last time sync report.", OM_STATUS_VMS, "timesync",
	       "last_report_ms", OM_MS),
};

/* The printer: the family whose metadata is out already. */
struct om {
	FILE *out;
	const struct om_family *shown;
};

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* Prints `name="value"`, value escaped as the format asks (\\, \", \n),
 * after a comma unless first. */
static void put_label(FILE *out, bool first, const char *name, const char *value)
{
	fprintf(out, "%s%s=\"", first ? "" : ",", name);
	for (const char *p = value; *p; p++) {
		if (*p == '\\' || *p == '"' || *p == '\n')
			fputc('\\', out);
		fputc(*p == '\n' ? 'n' : *p, out);
	}
	fputc('"', out);
}

/* A sample's value: a number or a boolean (1 or 0); false for anything
 * else (a string, null, an object), which makes no sample. */
static bool number(json_object *v, int64_t *out)
{
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double) &&
	    !json_object_is_type(v, json_type_boolean))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

/* A number of `scale` units (1000: ms, 1e9: ns) as exact decimal seconds. */
static void print_scaled(FILE *out, int64_t v, uint64_t scale, int digits)
{
	uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	fprintf(out, "%s%" PRIu64 ".%0*" PRIu64, v < 0 ? "-" : "", a / scale, digits, a % scale);
}

/* A sample of f for entry e: its metadata first if f has no sample yet,
 * the entry's labels (service="NAME" (its GUID when it has no name) and
 * guid="GUID", or vm="NAME" and id="VMID"), the extra label if any, v. */
static void sample(struct om *m, const struct om_family *f, json_object *e, const char *extra,
		   int64_t v)
{
	bool svc = f->list == OM_STATS_SERVICES;
	json_object *name = member(e, "name"), *id = member(e, svc ? "guid" : "id");
	const char *ids = id ? json_object_get_string(id) : "";

	if (m->shown != f) {
		fprintf(m->out, "# TYPE %s %s\n", f->name, f->type);
		if (f->unit)
			fprintf(m->out, "# UNIT %s %s\n", f->name, f->unit);
		fprintf(m->out, "# HELP %s %s\n", f->name, f->help);
		m->shown = f;
	}
	fprintf(m->out, "%s%s{", f->name, strcmp(f->type, "counter") ? "" : "_total");
	put_label(m->out, true, svc ? "service" : "vm", name ? json_object_get_string(name) : ids);
	put_label(m->out, false, svc ? "guid" : "id", ids);
	if (extra)
		put_label(m->out, false, f->label, extra);
	fputs("} ", m->out);
	if (f->kind == OM_MS)
		print_scaled(m->out, v, 1000, 3);
	else if (f->kind == OM_NS)
		print_scaled(m->out, v, 1000000000, 9);
	else
		fprintf(m->out, "%" PRId64, v);
	fputc('\n', m->out);
}

/* A status word: 1 for the word, 0 for every other known one (and the
 * word itself when it is new to this CLI). */
static void onehot(struct om *m, const struct om_family *f, json_object *e, const char *word)
{
	bool known = false;

	for (const char *const *w = f->values; *w; w++) {
		known |= strcmp(*w, word) == 0;
		sample(m, f, e, *w, strcmp(*w, word) == 0);
	}
	if (!known)
		sample(m, f, e, word, 1);
}

static void entry_samples(struct om *m, const struct om_family *f, json_object *e)
{
	json_object *o = f->obj ? member(e, f->obj) : e, *v;
	char key[64];
	int64_t n;

	if (!json_object_is_type(o, json_type_object))
		return;
	if (f->kind == OM_SPREAD) {
		for (const char *const *w = f->values; *w; w++) {
			snprintf(key, sizeof(key), "%s%s", f->key, *w);
			if (number(member(o, key), &n))
				sample(m, f, e, *w, n);
		}
		return;
	}
	v = member(o, f->key);
	if (f->kind == OM_ONEHOT && json_object_is_type(v, json_type_string))
		onehot(m, f, e, json_object_get_string(v));
	else if (f->kind != OM_ONEHOT && number(v, &n))
		sample(m, f, e, NULL, n);
}

void cli_openmetrics_print(FILE *out, json_object *stats, json_object *status)
{
	struct om m = { .out = out };

	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		const struct om_family *f = &families[i];
		json_object *a = member(f->list == OM_STATUS_VMS ? status : stats,
					f->list == OM_STATS_SERVICES ? "services" : "vms");

		if (!json_object_is_type(a, json_type_array))
			continue;
		for (size_t j = 0; j < json_object_array_length(a); j++)
			entry_samples(&m, f, json_object_array_get_idx(a, j));
	}
	fprintf(out, "# EOF\n");
}
