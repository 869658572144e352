/* SPDX-License-Identifier: MIT */
/*
 * agent-ic.c - one integration service's connection (agent-ic.h).
 *
 * Invariants: nothing but HELLO is sent before the host's HELLO; in the
 * mismatch phase nothing is sent at all (the host ignores everything but a
 * new HELLO, and we send a new HELLO only on a new connection); a frame
 * the engine or the service cannot use gets an ERROR and the connection
 * goes on: only a malformed header, an oversized frame or a HELLO that
 * picks no version of ours end it.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-conn.h"
#include "agent-ic.h"
#include "agent-log.h"

/* ERRORs from the host logged per connection (the rest only with
 * --verbose): a service that keeps sending what the host refuses must not
 * fill the journal. */
#define MAX_LOGGED_ERRORS 3

struct aic {
	struct aconn conn;
	const struct aic_ops *ops;
	void *svc;
	struct aic_hello hello;
	enum aic_phase phase;
	uint32_t version;
	bool enabled;
	uint32_t interval_ms;
	uint64_t deadline;
	unsigned logged_errors;
	int end; /* why the connection must end (negative errno), 0 */
	char why[256];
	char mismatch[256];
};

static long parse(const uint8_t *buf, size_t size, struct sess_frame *f)
{
	return ic_frame_parse(buf, size, f);
}

struct aic *aic_new(int fd, const struct aic_ops *ops, void *svc, const struct aic_hello *hello)
{
	struct aic *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return NULL;
	}
	if (aconn_init_framed(&c->conn, fd, IC_MAX_FRAME, parse) < 0) {
		aconn_free(&c->conn); /* closes fd */
		free(c);
		return NULL;
	}
	c->ops = ops;
	c->svc = svc;
	c->hello = *hello;
	c->phase = AIC_HELLO_SENT;
	c->enabled = true;
	ic_enc_hello(&c->conn.out, &(struct ic_hello){ .min = hello->min,
						       .max = hello->max,
						       .software = hello->software });
	return c;
}

struct aic *aic_free(struct aic *c)
{
	if (c) {
		if (c->ops->closed)
			c->ops->closed(c);
		aconn_free(&c->conn);
		free(c);
	}
	return NULL;
}

int aic_fd(const struct aic *c)
{
	return c->conn.sock;
}

short aic_events(const struct aic *c)
{
	return aconn_events(&c->conn);
}

void aic_error(struct aic *c, uint32_t seq, uint32_t type, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ic_enc_error(&c->conn.out,
		     &(struct ic_error){
			     .seq = seq, .type = type, .err = (uint32_t)err, .message = msg });
}

void aic_set_why(struct aic *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

static void on_hello(struct aic *c, const struct sess_frame *f, uint64_t now)
{
	struct ic_hello h;

	if (c->phase == AIC_READY) {
		aic_error(c, 0, f->type, EPROTO, "HELLO again: the version is chosen already");
		return;
	}
	if (ic_dec_hello(f, &h) < 0) {
		aic_error(c, 0, f->type, EPROTO, "malformed HELLO");
		c->end = -EPROTO;
		return;
	}
	if (h.min != h.max || h.min < c->hello.min || h.min > c->hello.max) {
		alog("%s: the host chose versions %u-%u, this agent speaks %u-%u: closing",
		     c->ops->name, h.min, h.max, c->hello.min, c->hello.max);
		c->end = -EPROTONOSUPPORT;
		return;
	}
	c->version = h.min;
	c->phase = AIC_READY;
	if (c->ops->ready)
		c->ops->ready(c, now);
}

static void on_error(struct aic *c, const struct sess_frame *f)
{
	struct ic_error e;

	if (ic_dec_error(f, &e) < 0) {
		alog_debug("%s: a malformed ERROR from the host", c->ops->name);
		return; /* never answer an ERROR with an ERROR */
	}
	if (c->phase == AIC_HELLO_SENT && e.err == EPROTONOSUPPORT) {
		snprintf(c->mismatch, sizeof(c->mismatch), "%s",
			 e.message && *e.message ? e.message : "no common version");
		c->phase = AIC_MISMATCH;
		return;
	}
	if (c->logged_errors++ < MAX_LOGGED_ERRORS || agent_verbose)
		alog("%s: the host refused a %s frame: %s (%s)", c->ops->name,
		     ic_type_name((uint16_t)e.type), e.message ? e.message : "",
		     strerror((int)e.err));
}

static void on_state(struct aic *c, const struct sess_frame *f, uint64_t now)
{
	struct ic_state s;

	if (c->phase != AIC_READY) {
		aic_error(c, 0, f->type, EPROTO, "STATE before HELLO");
		return;
	}
	if (ic_dec_state(f, &s) < 0) {
		aic_error(c, 0, f->type, EPROTO, "malformed STATE");
		return;
	}
	c->enabled = s.enabled;
	c->interval_ms = s.interval_ms;
	if (c->ops->state)
		c->ops->state(c, &s, now);
}

static void on_service_frame(struct aic *c, const struct sess_frame *f, uint64_t now)
{
	int r;

	if (c->phase != AIC_READY) {
		aic_error(c, 0, f->type, EPROTO, "%s before HELLO", ic_type_name(f->type));
		return;
	}
	c->why[0] = '\0';
	r = c->ops->frame ? c->ops->frame(c, f, now) : -EOPNOTSUPP;
	if (r == -EOPNOTSUPP)
		aic_error(c, 0, f->type, EOPNOTSUPP,
			  "frame type %u is not one the %s service knows", f->type, c->ops->name);
	else if (r < 0)
		aic_error(c, 0, f->type, -r, "%s", c->why[0] ? c->why : strerror(-r));
}

static void dispatch(struct aic *c, const struct sess_frame *f, uint64_t now)
{
	if (c->phase == AIC_MISMATCH)
		return; /* quiet until the stream ends */
	if (f->chan != 0) {
		aic_error(c, 0, f->type, EPROTO, "channel %u: integration frames use channel 0",
			  f->chan);
		return;
	}
	switch (f->type) {
	case IC_HELLO:
		on_hello(c, f, now);
		break;
	case IC_ERROR:
		on_error(c, f);
		break;
	case IC_STATE:
		on_state(c, f, now);
		break;
	default:
		if (f->type < 16) {
			aic_error(c, 0, f->type, EOPNOTSUPP, "unknown frame type %u", f->type);
			break;
		}
		on_service_frame(c, f, now);
	}
}

int aic_io(struct aic *c, short revents, uint64_t now)
{
	struct sess_frame f;
	int r;

	aconn_io(&c->conn, revents);
	while (!c->end && (r = aconn_next(&c->conn, &f)) != 0) {
		if (r < 0) {
			c->end = -EPROTO;
			break;
		}
		dispatch(c, &f, now);
	}
	if (c->phase == AIC_MISMATCH)
		sess_buf_consume(&c->conn.out, c->conn.out.len); /* nothing after it */
	if (c->conn.out.err && !c->end)
		c->end = c->conn.out.err;
	if (!c->end)
		aconn_io(&c->conn, POLLOUT);
	if (c->end)
		return c->end;
	if (c->conn.eof)
		return c->conn.err ? c->conn.err : -EPIPE;
	return 0;
}

int aic_timeout(const struct aic *c, uint64_t now)
{
	if (!c->deadline || c->phase != AIC_READY)
		return -1;
	if (c->deadline <= now)
		return 0;
	return c->deadline - now > 3600000 ? 3600000 : (int)(c->deadline - now);
}

void aic_tick(struct aic *c, uint64_t now)
{
	if (c->phase != AIC_READY || !c->deadline || c->deadline > now)
		return;
	c->deadline = 0;
	if (c->ops->tick)
		c->ops->tick(c, now);
	aconn_io(&c->conn, POLLOUT);
}

int aic_flush(struct aic *c, int timeout_ms)
{
	return aconn_flush(&c->conn, timeout_ms);
}

void *aic_svc(const struct aic *c)
{
	return c->svc;
}

const struct aic_ops *aic_ops(const struct aic *c)
{
	return c->ops;
}

enum aic_phase aic_phase(const struct aic *c)
{
	return c->phase;
}

uint32_t aic_version(const struct aic *c)
{
	return c->version;
}

bool aic_enabled(const struct aic *c)
{
	return c->enabled;
}

uint32_t aic_interval_ms(const struct aic *c)
{
	return c->interval_ms;
}

void aic_set_deadline(struct aic *c, uint64_t at_ms)
{
	c->deadline = at_ms;
}

struct sess_buf *aic_out(struct aic *c)
{
	return &c->conn.out;
}

const char *aic_mismatch(const struct aic *c)
{
	return c->phase == AIC_MISMATCH ? c->mismatch : "";
}
