/* SPDX-License-Identifier: MIT */
/*
 * agent-sd.c - the shutdown service (agent-sd.h).
 *
 * The REPLY must reach the host within 1 s, before the guest goes down:
 * it is flushed right after the backend has started the shutdown (a
 * logind call or a process started, each bounded), and a second request
 * while one is under way is answered at once without doing it again.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-conf.h"
#include "agent-log.h"
#include "agent-sd.h"

#define REPLY_FLUSH_MS 500

const char *asd_action_name(uint32_t action)
{
	switch (action) {
	case IC_SD_POWEROFF:
		return "poweroff";
	case IC_SD_REBOOT:
		return "reboot";
	case IC_SD_HALT:
		return "halt";
	}
	return NULL;
}

static void reply(struct aic *c, struct ic_sd_reply *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reply(struct aic *c, struct ic_sd_reply *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->message = msg;
	ic_enc_sd_reply(aic_out(c), r);
	aic_flush(c, REPLY_FLUSH_MS);
}

/* The configuration's verdict: 0, or the REPLY's errno with why. */
static int policy(const struct asd *s, char *why, size_t size)
{
	struct aconf conf;
	char err[512];
	int r = aconf_load(s->config, &conf, err, sizeof(err));

	if (r < 0) {
		snprintf(why, size, "the guest agent's configuration is broken: %s", err);
		return EINVAL;
	}
	r = conf.shutdown_enabled ? 0 : EPERM;
	if (r)
		snprintf(why, size,
			 "refused by the guest's configuration ([Shutdown] Enabled = no in %s)",
			 s->config);
	aconf_clear(&conf);
	return r;
}

/* Refuses with EBUSY when inhibitors block: true when it did. */
static bool blocked(struct aic *c, struct asd *s, const struct ic_sd_request *q)
{
	struct ic_sd_reply r = { .seq = q->seq, .err = EBUSY };
	char *list[IC_SD_MAX_BLOCKERS];
	int n = s->be.blockers ? s->be.blockers(s->be.ctx, list, IC_SD_MAX_BLOCKERS) : 0;

	if (n <= 0)
		return false;
	r.nblockers = (uint32_t)n;
	for (int i = 0; i < n; i++)
		r.blockers[i] = list[i];
	alog("shutdown: %s requested by %s refused: blocked by %d inhibitor%s (first: %s)",
	     asd_action_name(q->action), q->requester ? q->requester : "the host", n,
	     n == 1 ? "" : "s", list[0]);
	reply(c, &r, "%s is blocked by %d inhibitor%s in the guest (force skips them)",
	      asd_action_name(q->action), n, n == 1 ? "" : "s");
	for (int i = 0; i < n; i++)
		free(list[i]);
	return true;
}

static void start(struct aic *c, struct asd *s, const struct ic_sd_request *q)
{
	struct ic_sd_reply r = { .seq = q->seq };
	const char *what = asd_action_name(q->action);
	bool force = q->flags & IC_SD_FORCE;
	char text[IC_SD_MAX_MESSAGE + 512], why[512] = "";
	int e;

	alog("shutdown: %s%s requested by %s: %s", what, force ? " (forced)" : "",
	     q->requester ? q->requester : "the host", q->message ? q->message : "(no message)");
	snprintf(text, sizeof(text), "The host%s%s%s asks this system to %s now%s%s",
		 q->requester ? " (" : "", q->requester ? q->requester : "",
		 q->requester ? ")" : "", q->action == IC_SD_POWEROFF ? "power off" : what,
		 q->message && *q->message ? ": " : ".", q->message ? q->message : "");
	if (s->be.announce)
		s->be.announce(s->be.ctx, q->action, text);
	e = s->be.power ? s->be.power(s->be.ctx, q->action, force, why, sizeof(why)) : -ENOSYS;
	if (e < 0) {
		alog("shutdown: %s failed: %s", what, why[0] ? why : strerror(-e));
		r.err = (uint32_t)-e;
		reply(c, &r, "%s failed: %s", what, why[0] ? why : strerror(-e));
		return;
	}
	s->under_way = q->action;
	reply(c, &r, "%s under way", what);
}

static int sd_frame(struct aic *c, const struct sess_frame *f, uint64_t now)
{
	struct asd *s = aic_svc(c);
	struct ic_sd_request q;
	struct ic_sd_reply r = { 0 };
	char why[768];

	if (f->type != IC_SD_REQUEST)
		return -EOPNOTSUPP;
	if (ic_dec_sd_request(f, &q) < 0) {
		aic_set_why(c, "malformed REQUEST");
		return -EPROTO;
	}
	r.seq = q.seq;
	if (!asd_action_name(q.action)) {
		r.err = EINVAL;
		reply(c, &r, "unknown action %u (1 poweroff, 2 reboot, 3 halt)", q.action);
		return 0;
	}
	if (!aic_enabled(c)) {
		r.err = EPERM;
		reply(c, &r, "the shutdown service is turned off for this VM");
		return 0;
	}
	if ((r.err = (uint32_t)policy(s, why, sizeof(why))) != 0) {
		alog("shutdown: %s requested by %s: %s", asd_action_name(q.action),
		     q.requester ? q.requester : "the host", why);
		reply(c, &r, "%s", why);
		return 0;
	}
	if (s->under_way) {
		r.err = s->under_way == q.action ? 0 : EALREADY;
		reply(c, &r, "%s is under way already", asd_action_name(s->under_way));
		return 0;
	}
	if (!(q.flags & IC_SD_FORCE) && blocked(c, s, &q))
		return 0;
	start(c, s, &q);
	return 0;
}

const struct aic_ops asd_ops = {
	.name = "shutdown",
	.port = IC_SHUTDOWN_PORT,
	.frame = sd_frame,
};
