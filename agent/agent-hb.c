/* SPDX-License-Identifier: MIT */
/*
 * agent-hb.c - the heartbeat service (agent-hb.h).
 *
 * Timing: the first BEAT goes out as soon as the host's STATE turns the
 * service on (and right after its HELLO, which the STATE follows, when no
 * STATE has said otherwise), then every interval after the last one. A
 * new interval (STATE or ACK) counts from the last BEAT. The probe is
 * asked at every BEAT, so a unit that fails shows on the host at the
 * next one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent-hb.h"
#include "agent-systemd.h"

static uint32_t clamp_interval(uint32_t ms, uint32_t current)
{
	if (!ms)
		return current ? current : IC_HB_DEFAULT_INTERVAL_MS;
	if (ms < IC_HB_MIN_INTERVAL_MS)
		return IC_HB_MIN_INTERVAL_MS;
	return ms > IC_HB_MAX_INTERVAL_MS ? IC_HB_MAX_INTERVAL_MS : ms;
}

static void hb_ready(struct aic *c, uint64_t now)
{
	struct ahb *h = aic_svc(c);

	afacts_read(&h->facts, h->os_release);
	h->n = 0;
	h->last_beat = 0;
	h->interval_ms = IC_HB_DEFAULT_INTERVAL_MS;
	/* The STATE that follows the host's HELLO decides; a host that sent
	 * none still gets beats. */
	aic_set_deadline(c, now + IC_HB_MIN_INTERVAL_MS);
}

/* The next BEAT: at once when none went out yet, else interval after the
 * last. */
static void reschedule(struct aic *c, struct ahb *h, uint64_t now)
{
	uint64_t at = h->last_beat ? h->last_beat + h->interval_ms : now;

	aic_set_deadline(c, at > now ? at : now);
}

static void hb_state(struct aic *c, const struct ic_state *s, uint64_t now)
{
	struct ahb *h = aic_svc(c);

	h->interval_ms = clamp_interval(s->interval_ms, h->interval_ms);
	if (!s->enabled) {
		aic_set_deadline(c, 0);
		h->last_beat = 0; /* turned on again: beat at once */
		return;
	}
	reschedule(c, h, now);
}

static int hb_frame(struct aic *c, const struct sess_frame *f, uint64_t now)
{
	struct ahb *h = aic_svc(c);
	struct ic_hb_ack a;

	if (f->type != IC_HB_ACK)
		return -EOPNOTSUPP;
	if (ic_dec_hb_ack(f, &a) < 0) {
		aic_set_why(c, "malformed ACK");
		return -EPROTO;
	}
	if (a.interval_ms && clamp_interval(a.interval_ms, 0) != h->interval_ms) {
		h->interval_ms = clamp_interval(a.interval_ms, 0);
		if (aic_enabled(c))
			reschedule(c, h, now);
	}
	return 0;
}

static const char *opt(const char *s)
{
	return s && *s ? s : NULL;
}

static void hb_tick(struct aic *c, uint64_t now)
{
	struct ahb *h = aic_svc(c);
	struct ahb_health health = { .sys_state = "none" };
	char hostname[256];

	if (!aic_enabled(c))
		return;
	if (h->probe)
		h->probe(h->probe_ctx, &health);
	afacts_hostname(hostname, sizeof(hostname));
	ic_enc_beat(aic_out(c), &(struct ic_beat){
					.n = ++h->n,
					.uptime_ms = afacts_uptime_ms(),
					.app_state = health.app_state,
					.boot_id = h->facts.boot_id,
					.sys_state = health.sys_state,
					.critical = opt(health.critical),
					.hostname = opt(hostname),
					.os_name = opt(h->facts.os_name),
					.os_id = opt(h->facts.os_id),
					.os_version = opt(h->facts.os_version),
					.kernel = opt(h->facts.kernel),
					.agent = opt(h->agent),
				});
	h->last_beat = now;
	aic_set_deadline(c, now + h->interval_ms);
}

const struct aic_ops ahb_ops = {
	.name = "heartbeat",
	.port = IC_HEARTBEAT_PORT,
	.ready = hb_ready,
	.state = hb_state,
	.frame = hb_frame,
	.tick = hb_tick,
};

void ahb_init(struct ahb *h, ahb_probe_fn probe, void *probe_ctx, const char *agent_version)
{
	*h = (struct ahb){ .probe = probe,
			   .probe_ctx = probe_ctx,
			   .agent = agent_version,
			   .interval_ms = IC_HB_DEFAULT_INTERVAL_MS };
}

void ahb_judge(const char *sys_state, const char *failed, const char *critical_failed,
	       struct ahb_health *h)
{
	h->critical[0] = '\0';
	if (!sys_state) {
		snprintf(h->sys_state, sizeof(h->sys_state), "unknown");
		h->app_state = IC_APP_UNKNOWN;
		return;
	}
	snprintf(h->sys_state, sizeof(h->sys_state), "%s", sys_state);
	if (strcmp(sys_state, "degraded") == 0) {
		h->app_state = IC_APP_CRITICAL;
		if (failed && *failed)
			snprintf(h->critical, sizeof(h->critical), "degraded: %s failed", failed);
		else
			snprintf(h->critical, sizeof(h->critical), "degraded");
	} else if (critical_failed && *critical_failed) {
		h->app_state = IC_APP_CRITICAL;
		snprintf(h->critical, sizeof(h->critical), "%s failed", critical_failed);
	} else {
		h->app_state = IC_APP_HEALTHY;
	}
}

struct list {
	char buf[IC_HB_MAX_STR - 32];
};

/* Appends ", name" (or "name"), "..." once full. */
static void append(void *ctx, const char *name)
{
	struct list *l = ctx;
	char *buf = l->buf;
	size_t size = sizeof(l->buf);
	size_t len = strlen(buf);

	if (len + strlen(name) + 6 < size)
		snprintf(buf + len, size - len, "%s%s", len ? ", " : "", name);
	else if (len + 4 < size && (len < 3 || strcmp(buf + len - 3, "...") != 0))
		strcat(buf, "...");
}

void ahb_probe_systemd(void *ctx, struct ahb_health *h)
{
	const struct ahb_systemd *p = ctx;
	struct list failed = { "" }, crit = { "" };
	char state[64], unit[32];

	if (!p || !p->sys) {
		snprintf(h->sys_state, sizeof(h->sys_state), "none");
		h->app_state = IC_APP_UNKNOWN;
		h->critical[0] = '\0';
		return;
	}
	if (asys_system_state(p->sys, state, sizeof(state)) < 0) {
		ahb_judge(NULL, NULL, NULL, h);
		return;
	}
	if (strcmp(state, "degraded") == 0)
		asys_failed_units(p->sys, append, &failed);
	for (size_t i = 0; i < p->nunits; i++)
		if (asys_unit_state(p->sys, p->units[i], unit, sizeof(unit)) == 0 &&
		    strcmp(unit, "failed") == 0)
			append(&crit, p->units[i]);
	ahb_judge(state, failed.buf, crit.buf, h);
}
