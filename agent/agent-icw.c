/* SPDX-License-Identifier: MIT */
/*
 * agent-icw.c - the integration services' connection keeper (agent-icw.h).
 *
 * Each service has a slot: OFF (agent.conf does not want it), WAIT (until
 * its next try), CONNECTING (a non-blocking connect under way) or UP (an
 * engine). A slot remembers what it last logged (the connect error, the
 * host's on/off, the mismatch), so a host that refuses us for an hour
 * gives one line, and each change gives one more.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent-icw.h"
#include "agent-log.h"
#include "util.h"

enum slot_state { S_OFF, S_WAIT, S_CONNECTING, S_UP };

struct slot {
	struct aicw_service *s;
	enum slot_state st;
	int fd;		  /* S_CONNECTING */
	struct aic *conn; /* S_UP */
	uint64_t at;	  /* S_WAIT: next try; S_CONNECTING: give up */
	uint64_t up_since;
	unsigned delay;
	bool mismatch;	    /* the last connection ended in a mismatch */
	int logged_err;	    /* the failure logged last, 0: none since up */
	bool logged_ready;  /* on this connection */
	int logged_enabled; /* -1: no STATE logged on this connection */
	bool logged_mismatch;
	int last_end;  /* why the last connection ended */
	bool flapping; /* connections keep ending early for the same reason */
};

struct loop {
	struct aicw *w;
	struct slot *slots;
	struct aconf conf;
	bool have_conf;
	struct stat conf_st; /* st_ino 0: missing */
	uint64_t conf_check;
};

unsigned aicw_backoff(unsigned prev_ms, bool reset)
{
	if (reset || prev_ms == 0)
		return AICW_RETRY_FIRST_MS;
	return prev_ms >= AICW_RETRY_MAX_MS / 2 ? AICW_RETRY_MAX_MS : prev_ms * 2;
}

static const char *name(const struct slot *sl)
{
	return sl->s->ops->name;
}

static void retry_later(struct slot *sl, uint64_t now, bool reset)
{
	sl->delay = sl->mismatch ? AICW_RETRY_MISMATCH_MS : aicw_backoff(sl->delay, reset);
	sl->at = now + sl->delay;
	sl->st = S_WAIT;
}

static const char *hint(int err)
{
	switch (err) {
	case -ECONNRESET:
	case -ECONNREFUSED:
		return " (vmsvcd does not serve it, or the service is off on the host)";
	case -EACCES:
	case -EPERM:
		return " (binding a vsock port below 1024 needs root or CAP_NET_BIND_SERVICE)";
	case -EAFNOSUPPORT:
	case -ENODEV:
		return " (no vsock in this guest)";
	}
	return "";
}

static void connect_failed(struct slot *sl, int err, uint64_t now)
{
	if (err != sl->logged_err)
		alog("%s: cannot connect to the host (vsock port %u): %s%s; retrying quietly",
		     name(sl), sl->s->ops->port, strerror(-err), hint(err));
	sl->logged_err = err;
	sl->fd = safe_close(sl->fd);
	retry_later(sl, now, false);
}

static void dial(struct loop *l, struct slot *sl, uint64_t now)
{
	int fd = -1, r = l->w->dial(l->w->dial_ctx, sl->s->ops->port, &fd);

	if (r < 0) {
		connect_failed(sl, r, now);
		return;
	}
	sl->fd = fd;
	sl->st = S_CONNECTING;
	sl->at = now + AICW_CONNECT_MS;
}

static void connected(struct loop *l, struct slot *sl, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		connect_failed(sl, -err, now);
		return;
	}
	sl->conn = aic_new(TAKE_FD(sl->fd), sl->s->ops, sl->s->svc, &l->w->hello);
	if (!sl->conn) {
		connect_failed(sl, -ENOMEM, now);
		return;
	}
	sl->st = S_UP;
	sl->up_since = now;
	sl->logged_ready = sl->logged_mismatch = false;
	sl->logged_enabled = -1;
}

static const char *end_reason(int r)
{
	switch (r) {
	case -EPIPE:
		return "closed by the host";
	case -EPROTO:
		return "a malformed frame from the host";
	case -EPROTONOSUPPORT:
		return "the host chose a version this agent does not speak";
	}
	return strerror(-r);
}

static void ended(struct slot *sl, int r, uint64_t now)
{
	bool stable = now - sl->up_since >= AICW_STABLE_MS;

	if (!stable && r == sl->last_end && (sl->logged_ready || sl->flapping)) {
		if (!sl->flapping)
			alog("%s: the connection keeps ending (%s) soon after it opens; retrying "
			     "quietly",
			     name(sl), end_reason(r));
		sl->flapping = true;
	} else if (sl->logged_ready || sl->logged_mismatch) {
		alog("%s: the connection to the host ended: %s; reconnecting", name(sl),
		     end_reason(r));
		sl->logged_err = 0;
		sl->flapping = false;
	} else if (r != sl->logged_err) {
		alog("%s: the host ended the connection before its HELLO: %s; retrying quietly",
		     name(sl), end_reason(r));
		sl->logged_err = r;
	}
	if (r == -EPROTONOSUPPORT)
		sl->mismatch = true;
	sl->last_end = r;
	sl->conn = aic_free(sl->conn);
	retry_later(sl, now, stable);
}

/* Logs what changed on a live connection (quiet while it flaps, until
 * one lasts). */
static void log_changes(struct aicw *w, struct slot *sl, uint64_t now)
{
	enum aic_phase ph = aic_phase(sl->conn);
	bool on = aic_enabled(sl->conn);

	if (ph == AIC_MISMATCH && !sl->logged_mismatch) {
		alog("%s: %s, this agent %u-%u: upgrade vmsvcd on the host or this agent "
		     "(the host shows Protocol Mismatch; no new HELLO before the next connection, "
		     "retried every %d s)",
		     name(sl), aic_mismatch(sl->conn), w->hello.min, w->hello.max,
		     AICW_RETRY_MISMATCH_MS / 1000);
		sl->logged_mismatch = sl->mismatch = true;
	}
	if (ph != AIC_READY)
		return;
	if (sl->flapping && now - sl->up_since >= AICW_STABLE_MS) {
		sl->flapping = false;
		sl->logged_ready = false;
	}
	if (!sl->logged_ready) {
		if (!sl->flapping)
			alog("%s: connected to the host (vsock port %u, protocol version %u)",
			     name(sl), sl->s->ops->port, aic_version(sl->conn));
		sl->logged_ready = true;
		sl->logged_err = 0;
		sl->mismatch = false;
	}
	if (sl->logged_enabled != (int)on && (sl->logged_enabled != -1 || !on) && !sl->flapping)
		alog("%s: turned %s for this VM on the host", name(sl), on ? "on" : "off");
	sl->logged_enabled = on;
}

static void slot_io(struct loop *l, struct slot *sl, short revents, uint64_t now)
{
	int r;

	switch (sl->st) {
	case S_WAIT:
		if (now >= sl->at)
			dial(l, sl, now);
		break;
	case S_CONNECTING:
		if (revents)
			connected(l, sl, now);
		else if (now >= sl->at)
			connect_failed(sl, -ETIMEDOUT, now);
		break;
	case S_UP:
		r = aic_io(sl->conn, revents, now);
		if (r == 0)
			aic_tick(sl->conn, now);
		log_changes(l->w, sl, now);
		if (r < 0)
			ended(sl, r, now);
		break;
	case S_OFF:
		break;
	}
}

static void slot_off(struct slot *sl)
{
	sl->fd = safe_close(sl->fd);
	sl->conn = aic_free(sl->conn);
	sl->st = S_OFF;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Loads agent.conf when it changed (or first), and applies it. */
static void check_conf(struct loop *l, uint64_t now)
{
	struct aicw *w = l->w;
	struct stat st = { 0 };
	struct aconf c;
	char err[512];
	bool first = !l->have_conf;

	l->conf_check = now + AICW_CONF_CHECK_MS;
	if (stat(w->config, &st) < 0)
		memset(&st, 0, sizeof(st));
	if (l->have_conf && same_file(&st, &l->conf_st))
		return;
	l->conf_st = st;
	if (aconf_load(w->config, &c, err, sizeof(err)) < 0) {
		alog("%s%s", err,
		     l->have_conf ? ": keeping the previous settings" : ": using the defaults");
		if (l->have_conf)
			return;
		aconf_defaults(&c);
	}
	if (w->reconfigure)
		w->reconfigure(w->ctx, &c, w->svcs, w->nsvcs);
	if (l->have_conf)
		aconf_clear(&l->conf);
	l->conf = c;
	l->have_conf = true;
	for (size_t i = 0; i < w->nsvcs; i++) {
		struct slot *sl = &l->slots[i];

		if (!w->svcs[i].wanted && (sl->st != S_OFF || first)) {
			alog("%s: turned off in %s (Enabled = no): not connecting", name(sl),
			     w->config);
			slot_off(sl);
		} else if (w->svcs[i].wanted && sl->st == S_OFF) {
			sl->st = S_WAIT;
			sl->at = now;
			sl->delay = 0;
		}
	}
}

/* The poll timeout: the nearest deadline of a slot or the config check. */
static int next_timeout(const struct loop *l, uint64_t now)
{
	uint64_t at = l->conf_check;
	int t;

	for (size_t i = 0; i < l->w->nsvcs; i++) {
		const struct slot *sl = &l->slots[i];

		if (sl->st == S_WAIT || sl->st == S_CONNECTING)
			at = sl->at < at ? sl->at : at;
		if (sl->st == S_UP && (t = aic_timeout(sl->conn, now)) >= 0)
			at = now + (uint64_t)t < at ? now + (uint64_t)t : at;
	}
	return at <= now ? 0 : (int)(at - now);
}

static void stop_all(struct loop *l)
{
	for (size_t i = 0; i < l->w->nsvcs; i++) {
		if (l->slots[i].conn)
			aic_flush(l->slots[i].conn, 300);
		slot_off(&l->slots[i]);
	}
}

static int run(struct loop *l)
{
	struct aicw *w = l->w;
	struct pollfd p[w->nsvcs + 1];

	for (;;) {
		uint64_t now = now_ms();
		int n;

		if (now >= l->conf_check)
			check_conf(l, now);
		for (size_t i = 0; i < w->nsvcs; i++) {
			const struct slot *sl = &l->slots[i];

			p[i] = (struct pollfd){ .fd = -1 };
			if (sl->st == S_CONNECTING)
				p[i] = (struct pollfd){ .fd = sl->fd, .events = POLLOUT };
			else if (sl->st == S_UP)
				p[i] = (struct pollfd){ .fd = aic_fd(sl->conn),
							.events = aic_events(sl->conn) };
		}
		p[w->nsvcs] = (struct pollfd){ .fd = w->stop_fd, .events = POLLIN };
		n = poll(p, w->nsvcs + 1, next_timeout(l, now));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && p[w->nsvcs].revents && w->on_stop_fd && w->on_stop_fd(w->ctx))
			return 0;
		now = now_ms();
		for (size_t i = 0; i < w->nsvcs; i++)
			slot_io(l, &l->slots[i], n > 0 ? p[i].revents : 0, now);
	}
}

int aicw_run(struct aicw *w)
{
	struct loop l = { .w = w };
	int r;

	l.slots = calloc(w->nsvcs ? w->nsvcs : 1, sizeof(*l.slots));
	if (!l.slots)
		return -ENOMEM;
	for (size_t i = 0; i < w->nsvcs; i++)
		l.slots[i] = (struct slot){ .s = &w->svcs[i], .st = S_OFF, .fd = -1 };
	r = run(&l);
	stop_all(&l);
	if (l.have_conf)
		aconf_clear(&l.conf);
	free(l.slots);
	return r;
}
