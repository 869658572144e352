/* SPDX-License-Identifier: MIT */
/*
 * icd-ts.c - Time Synchronization's host side (docs/integration-services.md,
 * port 703): vmsvcd answers the agent's REQUEST with NTP's receive and
 * send timestamps and the host clock's own state, tells the agent to step
 * (SYNC) when the guest's clock is suspect, and keeps the agent's last
 * REPORT for status.
 *
 * Timestamps: t2 is read first thing when the request reaches this
 * service, t3 just before the reply is queued on the socket pair that
 * hstream.c relays to the guest's receive queue. What lies between the
 * virtqueue and these stamps (one loop turn each way through the socket
 * pair) is host delay the agent counts in δ; it is about symmetric, so it
 * widens δ without biasing θ (docs: "Measured").
 *
 * SYNC goes out when the agent connects (HELLO done), when the VM resumes
 * (vm_paused() turns false in the same vsock generation: QMP stop/cont),
 * and when the heartbeat comes back from Lost Communication (a QEMU that
 * was frozen: nothing on the vhost-user socket says so). The generation in
 * REPLY and SYNC counts the SYNCs sent to this VM, so an agent that missed
 * one sees its generation move.
 *
 * Status: the link's (Disabled, Off, Paused, ...) unless ready; then OK
 * while REPORTs arrive (one within TS_LOST_MS), Lost Communication when
 * they stop, No Contact before the first.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>

#include "icd-int.h"
#include "icd.h"
#include "log.h"
#include "util.h"
#include "vm.h"

/* The agent reports after each burst, every 2 s in steady state (at most
 * every 64 s, its slowest poll): no report for this long is lost. */
#define TS_LOST_MS 120000
/* After a SYNC, REPLYs carry IC_TS_SYNC_NOW this long (the agent's burst
 * that follows it steps even if it began before the SYNC arrived). */
#define TS_STEP_FLAG_MS 2000

struct ts {
	struct icd_vm *iv;
	uint64_t generation; /* SYNCs sent */
	bool paused;	     /* as the last tick saw it */
	uint64_t paused_ms;  /* when it was paused */
	uint64_t pause_gen;  /* vm_generation() when it was paused */
	bool hb_lost;	     /* the heartbeat was lost at the last tick */
	uint64_t ref_ms;     /* Lost Communication counts from here */
	uint64_t requests;   /* answered, on the current connection */
	uint64_t step_until; /* REPLYs say "step now" until then (after a SYNC) */
	/* the last REPORT */
	bool known;
	uint64_t last_ms;
	char mode[IC_TS_MAX_MODE + 1];
	char message[IC_TS_MAX_MESSAGE + 1];
	int64_t offset_ns;
	uint64_t delay_ns;
	bool synced;
	uint64_t steps;
	bool reports;	/* on the current connection */
	bool connected; /* ready() came, closed() not yet */
};

static const struct icd_service ts_service;

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *ts_attach(struct icd_vm *iv)
{
	struct ts *t = calloc(1, sizeof(*t));

	if (!t) {
		log_err("VM %s: out of memory for its time synchronization", vm_name(icd_vm(iv)));
		return NULL;
	}
	t->iv = iv;
	return t;
}

static void ts_detach(void *st)
{
	free(st);
}

/* Sends SYNC (paused_ns: how long the VM stood, 0 unknown) on the ready
 * connection, if any and if the service is on. */
static void send_sync(struct ts *t, uint64_t paused_ns, const char *why)
{
	struct icd_conn *c = icd_conn(t->iv, &ts_service);
	struct sess_buf b = { 0 };

	if (!c || !icd_enabled(t->iv, &ts_service, NULL, NULL))
		return;
	t->generation++;
	t->step_until = now_ms() + TS_STEP_FLAG_MS;
	ic_enc_ts_sync(&b,
		       &(struct ic_ts_sync){ .generation = t->generation, .paused_ns = paused_ns });
	icd_send(c, &b);
	sess_buf_free(&b);
	log_info("VM %s: timesync: SYNC sent (%s)", vm_name(icd_vm(t->iv)), why);
}

static void ts_ready(void *st, uint64_t now)
{
	struct ts *t = st;

	t->ref_ms = now;
	t->requests = 0;
	t->reports = false;
	t->connected = true;
	send_sync(t, 0, "the agent connected");
}

static void ts_state_sent(void *st, bool enabled)
{
	struct ts *t = st;

	if (enabled && t->connected) /* else HELLO's STATE: ready() sends SYNC */
		send_sync(t, 0, "the service was turned on");
}

/* The host clock's state for REPLY: flags, leap and errors (adjtimex with
 * modes 0 reads them; esterror and maxerror are in µs). */
static void host_clock(struct ic_ts_reply *r)
{
	struct timex tx = { .modes = 0 };
	int state = adjtimex(&tx);

	if (state < 0) {
		r->maxerror_ns = 16000000000ULL; /* NTP's "unsynchronised" 16 s */
		r->esterror_ns = r->maxerror_ns;
		return;
	}
	if (!(tx.status & STA_UNSYNC) && state != TIME_ERROR)
		r->flags |= IC_TS_HOST_SYNCED;
	r->leap = state == TIME_INS ? 1 : state == TIME_DEL ? 2 : 0;
	r->esterror_ns = tx.esterror > 0 ? (uint64_t)tx.esterror * 1000 : 0;
	r->maxerror_ns = tx.maxerror > 0 ? (uint64_t)tx.maxerror * 1000 : 0;
}

static int on_request(struct ts *t, const struct sess_frame *f, int64_t t2)
{
	struct icd_conn *c = icd_conn(t->iv, &ts_service);
	struct ic_ts_request q;
	struct ic_ts_reply r = { 0 };
	struct sess_buf b = { 0 };

	if (ic_dec_ts_request(f, &q) < 0)
		return -EPROTO;
	if (!c || !icd_enabled(t->iv, &ts_service, NULL, NULL))
		return 0; /* sent before our STATE turned it off */
	r.seq = q.seq;
	r.t1 = q.t1;
	r.t2 = t2;
	r.generation = t->generation;
	if (now_ms() < t->step_until)
		r.flags |= IC_TS_SYNC_NOW;
	host_clock(&r);
	r.t3 = realtime_ns();
	ic_enc_ts_reply(&b, &r);
	icd_send(c, &b);
	sess_buf_free(&b);
	t->requests++;
	return 0;
}

static void on_report(struct ts *t, const struct ic_ts_report *r, uint64_t now)
{
	bool first = !t->known || strcmp(t->mode, r->mode) != 0;
	char mode[IC_TS_MAX_MODE + 1];

	icd_clean(r->mode, mode, sizeof(mode));
	if (first || (t->synced && !r->synced) || (!t->synced && r->synced))
		log_info("VM %s: timesync: the agent runs in %s mode, %s (offset %.3f ms)",
			 vm_name(icd_vm(t->iv)), mode,
			 r->synced ? "synchronised" : "not synchronised",
			 (double)r->offset_ns / 1e6);
	memcpy(t->mode, mode, sizeof(mode));
	icd_clean(r->message ? r->message : "", t->message, sizeof(t->message));
	t->known = t->reports = true;
	t->last_ms = t->ref_ms = now;
	t->offset_ns = r->offset_ns;
	t->delay_ns = r->delay_ns;
	t->synced = r->synced;
	t->steps = r->steps;
}

static int ts_frame(void *st, const struct sess_frame *f, uint64_t now)
{
	int64_t t2 = realtime_ns(); /* first: as close to the virtqueue as we get */
	struct ts *t = st;
	struct ic_ts_report r;

	switch (f->type) {
	case IC_TS_REQUEST:
		return on_request(t, f, t2);
	case IC_TS_REPORT:
		if (ic_dec_ts_report(f, &r) < 0)
			return -EPROTO;
		if (icd_enabled(t->iv, &ts_service, NULL, NULL))
			on_report(t, &r, now);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static void ts_closed(void *st)
{
	struct ts *t = st;

	t->reports = false;
	t->connected = false;
}

/* Whether the heartbeat says Lost Communication now. */
static bool hb_lost(struct ts *t, uint64_t now)
{
	const struct icd_service *hb = icd_service_find("heartbeat");
	enum icd_link link;

	return hb && strcmp(icd_status_name(t->iv, hb, &link, now), "lost-communication") == 0;
}

/* SYNC on resume and when the heartbeat returns; the count towards Lost
 * Communication restarts while paused. */
static void ts_tick(void *st, uint64_t now)
{
	struct ts *t = st;
	struct vm *vm = icd_vm(t->iv);
	bool paused = vm_paused(vm), lost = hb_lost(t, now);
	char why[64];

	if (paused && !t->paused) {
		t->paused_ms = now;
		t->pause_gen = vm_generation(vm);
	}
	if (paused || t->paused)
		t->ref_ms = now;
	if (t->paused && !paused && vm_running(vm) && t->pause_gen == vm_generation(vm)) {
		snprintf(why, sizeof(why), "the VM resumed after %.1f s",
			 (double)(now - t->paused_ms) / 1000);
		send_sync(t, (now - t->paused_ms) * 1000000, why);
	}
	if (t->hb_lost && !lost && !paused)
		send_sync(t, 0, "the heartbeat came back");
	t->paused = paused;
	t->hb_lost = lost;
}

static const char *ts_status(void *st, enum icd_link link, uint64_t now)
{
	struct ts *t = st;

	if (link != ICD_READY)
		return icd_link_name(link);
	if (vm_paused(icd_vm(t->iv)))
		return "paused";
	if (now - t->ref_ms > TS_LOST_MS)
		return "lost-communication";
	return t->reports ? "ok" : "no-contact";
}

/* The last REPORT's fields into o. */
static void report_json(const struct ts *t, json_object *o, uint64_t now)
{
#define ADD(k, v) json_object_object_add(o, k, v)
	ADD("mode", json_object_new_string(t->mode));
	ADD("offset_ns", json_object_new_int64(t->offset_ns));
	ADD("delay_ns", json_object_new_int64((int64_t)t->delay_ns));
	ADD("synced", json_object_new_boolean(t->synced));
	ADD("steps", json_object_new_int64((int64_t)t->steps));
	ADD("message", json_object_new_string(t->message));
	ADD("last_report_ms", json_object_new_int64((int64_t)(now - t->last_ms)));
#undef ADD
}

static void ts_status_json(void *st, enum icd_link link, json_object *o, uint64_t now)
{
	struct ts *t = st;

	(void)link;
	if (t->generation) /* an agent connected since vmsvcd started */
		json_object_object_add(o, "generation",
				       json_object_new_int64((int64_t)t->generation));
	if (t->known)
		report_json(t, o, now);
}

void icd_ts_status_json(struct vm *vm, json_object *v)
{
	struct icd_vm *iv = icd_of(vm);
	struct ts *t = iv ? icd_state(iv, &ts_service) : NULL;
	uint64_t now = now_ms();
	enum icd_link link;
	json_object *o;

	if (!t)
		return;
	o = json_object_new_object();
	json_object_object_add(
		o, "status", json_object_new_string(icd_status_name(iv, &ts_service, &link, now)));
	ts_status_json(t, link, o, now);
	json_object_object_add(v, "timesync", o);
}

static const struct icd_service ts_service = {
	.short_name = "timesync",
	.port = IC_TIMESYNC_PORT,
	.attach = ts_attach,
	.detach = ts_detach,
	.ready = ts_ready,
	.state_sent = ts_state_sent,
	.frame = ts_frame,
	.closed = ts_closed,
	.tick = ts_tick,
	.status = ts_status,
	.status_json = ts_status_json,
};

int icd_ts_start(struct daemon *d)
{
	(void)d;
	return icd_register(&ts_service);
}
