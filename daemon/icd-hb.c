/* SPDX-License-Identifier: MIT */
/*
 * icd-hb.c - the Heartbeat's host side (docs/integration-services.md): the
 * agent beats every interval, vmsvcd acknowledges each BEAT and keeps the
 * last one's fields for status.
 *
 * Status, per VM: the framework's link (Disabled, Off, Paused, Protocol
 * Mismatch, Error, No Contact) unless the connection is ready; then OK once
 * a beat came, Lost Communication when none came for 3 intervals. Those
 * intervals count from the last beat, from HELLO, or from the moment the
 * VM was resumed, whichever is latest: a pause never turns into Lost
 * Communication, and the agent has its full time after a cont.
 */
#include <stdlib.h>
#include <string.h>

#include "icd-int.h"
#include "icd.h"
#include "log.h"
#include "util.h"
#include "vm.h"

#define HB_STR		  (IC_HB_MAX_STR + 1)
#define HB_LOST_INTERVALS 3

enum hb_str {
	S_BOOT_ID,
	S_SYS_STATE,
	S_CRITICAL,
	S_HOSTNAME,
	S_OS_NAME,
	S_OS_ID,
	S_OS_VERSION,
	S_KERNEL,
	S_AGENT,
	S_COUNT
};

static const char *const str_keys[S_COUNT] = {
	[S_BOOT_ID] = "boot_id",       [S_SYS_STATE] = "sys_state", [S_CRITICAL] = "critical",
	[S_HOSTNAME] = "hostname",     [S_OS_NAME] = "os_name",	    [S_OS_ID] = "os_id",
	[S_OS_VERSION] = "os_version", [S_KERNEL] = "kernel",	    [S_AGENT] = "agent",
};

struct hb {
	struct icd_vm *iv;
	uint32_t interval_ms;
	uint64_t ref_ms;  /* Lost Communication counts from here */
	uint64_t beats;	  /* on the current connection */
	bool known;	  /* a beat was recorded: the fields below hold it */
	uint64_t last_ms; /* when it came */
	uint64_t n, uptime_ms;
	uint32_t app_state;
	char str[S_COUNT][HB_STR]; /* "" when absent */
	bool paused;		   /* as the last refresh saw it */
	bool lost_logged;
};

static const struct icd_service hb_service;

static void *hb_attach(struct icd_vm *iv)
{
	struct hb *h = calloc(1, sizeof(*h));

	if (!h) {
		log_err("VM %s: out of memory for its heartbeat", vm_name(icd_vm(iv)));
		return NULL;
	}
	h->iv = iv;
	h->interval_ms = IC_HB_DEFAULT_INTERVAL_MS;
	return h;
}

static void hb_detach(void *st)
{
	free(st);
}

static uint32_t hb_interval(void *st)
{
	return ((struct hb *)st)->interval_ms;
}

/* Restarts the count towards Lost Communication while paused and on
 * resume. */
static void hb_refresh(struct hb *h, uint64_t now)
{
	bool paused = vm_paused(icd_vm(h->iv));

	if (paused || h->paused)
		h->ref_ms = now;
	if (h->paused && !paused && vm_running(icd_vm(h->iv)))
		log_debug("VM %s: heartbeat: resumed, waiting for beats again",
			  vm_name(icd_vm(h->iv)));
	h->paused = paused;
}

static void hb_ready(void *st, uint64_t now)
{
	struct hb *h = st;

	h->ref_ms = now;
	h->beats = 0;
	h->lost_logged = false;
}

static void put_str(struct hb *h, enum hb_str i, const char *v)
{
	icd_clean(v ? v : "", h->str[i], sizeof(h->str[i]));
}

static void record(struct hb *h, const struct ic_beat *x, uint64_t now)
{
	h->known = true;
	h->last_ms = h->ref_ms = now;
	h->beats++;
	h->n = x->n;
	h->uptime_ms = x->uptime_ms;
	h->app_state = x->app_state;
	put_str(h, S_BOOT_ID, x->boot_id);
	put_str(h, S_SYS_STATE, x->sys_state);
	put_str(h, S_CRITICAL, x->critical);
	put_str(h, S_HOSTNAME, x->hostname);
	put_str(h, S_OS_NAME, x->os_name);
	put_str(h, S_OS_ID, x->os_id);
	put_str(h, S_OS_VERSION, x->os_version);
	put_str(h, S_KERNEL, x->kernel);
	put_str(h, S_AGENT, x->agent);
	if (h->lost_logged)
		log_info("VM %s: heartbeat: beats again", vm_name(icd_vm(h->iv)));
	h->lost_logged = false;
}

static int hb_frame(void *st, const struct sess_frame *f, uint64_t now)
{
	struct hb *h = st;
	struct icd_conn *c = icd_conn(h->iv, &hb_service);
	struct sess_buf b = { 0 };
	struct ic_beat x;

	if (f->type != IC_HB_BEAT)
		return -EOPNOTSUPP;
	if (ic_dec_beat(f, &x) < 0)
		return -EPROTO;
	if (!c || !icd_enabled(h->iv, &hb_service, NULL, NULL))
		return 0; /* sent before our STATE turned it off */
	record(h, &x, now);
	ic_enc_hb_ack(&b, &(struct ic_hb_ack){ .n = x.n, .interval_ms = h->interval_ms });
	icd_send(c, &b);
	sess_buf_free(&b);
	return 0;
}

static bool lost(const struct hb *h, uint64_t now)
{
	return now - h->ref_ms > (uint64_t)HB_LOST_INTERVALS * h->interval_ms;
}

static const char *hb_status(void *st, enum icd_link link, uint64_t now)
{
	struct hb *h = st;

	hb_refresh(h, now);
	if (link != ICD_READY)
		return icd_link_name(link);
	if (lost(h, now))
		return "lost-communication";
	return h->beats ? "ok" : "no-contact";
}

static void hb_tick(void *st, uint64_t now)
{
	struct hb *h = st;

	if (strcmp(hb_status(h, icd_link(h->iv, &hb_service), now), "lost-communication") != 0 ||
	    h->lost_logged)
		return;
	h->lost_logged = true;
	log_warn("VM %s: heartbeat: lost communication (no beat for %u intervals of %u ms)",
		 vm_name(icd_vm(h->iv)), HB_LOST_INTERVALS, h->interval_ms);
}

static const char *app_name(uint32_t app)
{
	return app == IC_APP_HEALTHY ? "healthy" : app == IC_APP_CRITICAL ? "critical" : "unknown";
}

static void hb_status_json(void *st, enum icd_link link, json_object *o, uint64_t now)
{
	struct hb *h = st;
	const char *status = hb_status(h, link, now);
	struct icd_conn *c;

#define ADD(k, v) json_object_object_add(o, k, v)
	if (strcmp(status, "ok") == 0)
		ADD("app", json_object_new_string(app_name(h->app_state)));
	ADD("interval_ms", json_object_new_int64(h->interval_ms));
	if ((c = icd_conn(h->iv, &hb_service)))
		ADD("connected_ms", json_object_new_int64((int64_t)(now - icd_conn_since(c))));
	if (!h->known)
		return;
	ADD("last_beat_ms", json_object_new_int64((int64_t)(now - h->last_ms)));
	ADD("beats", json_object_new_int64((int64_t)h->beats));
	ADD("uptime_ms", json_object_new_int64((int64_t)h->uptime_ms));
	for (int i = 0; i < S_COUNT; i++)
		if (h->str[i][0] && (i != S_CRITICAL || h->app_state == IC_APP_CRITICAL))
			ADD(str_keys[i], json_object_new_string(h->str[i]));
#undef ADD
}

const char *icd_hb_boot_id(struct icd_vm *iv)
{
	struct hb *h = icd_state(iv, &hb_service);

	return h && h->known && h->str[S_BOOT_ID][0] ? h->str[S_BOOT_ID] : NULL;
}

static const struct icd_service hb_service = {
	.short_name = "heartbeat",
	.port = IC_HEARTBEAT_PORT,
	.attach = hb_attach,
	.detach = hb_detach,
	.ready = hb_ready,
	.frame = hb_frame,
	.tick = hb_tick,
	.interval_ms = hb_interval,
	.status = hb_status,
	.status_json = hb_status_json,
};

int icd_hb_start(struct daemon *d)
{
	(void)d;
	return icd_register(&hb_service);
}
