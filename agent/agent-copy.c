/* SPDX-License-Identifier: MIT */
/*
 * agent-copy.c - PUT and GET on the session's stream (agent-copy.h), with
 * the engines of copy/xfer.h.
 *
 * One poll loop. The sender (GET) queues frames while the host's credit
 * for channel 4 lasts and the send queue is short; the receiver (PUT)
 * writes each DATA frame to the temporary file as it comes and credits it
 * back at once. The end of the stream at any point drops what was not
 * committed.
 *
 * Bounds: every frame the host sends may queue an answer (CREDIT for DATA,
 * PONG for PING), so while OUT_HIGH bytes wait to be sent no further frame
 * is handled and the stream is not read: a host that sends without reading
 * stalls its own copy instead of growing the agent's memory.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "agent-copy.h"
#include "agent-log.h"
#include "xfer.h"

/* The sender stops queueing, and the host's frames wait, while this much
 * waits to be sent. */
#define OUT_HIGH (512 * 1024)

struct acopy {
	struct aconn *c;
	const struct acopy_req *q;
	struct xfer_recv *r;
	struct xfer_send *s;
	struct sess_credit credit;
	bool sent_all;
};

static bool backed_up(const struct acopy *x)
{
	return x->c->out.len >= OUT_HIGH;
}

static void send_result(struct acopy *x, int err, const char *msg)
{
	const struct xfer_progress *p = xfer_recv_progress(x->r);

	sess_enc_result(&x->c->out, &(struct sess_result){
					    .err = (uint32_t)-err,
					    .message = msg,
					    .bytes = p->bytes,
				    });
	if (err)
		alog("%s: copy into '%s' failed: %s", x->q->who, x->q->path, msg);
	else
		alog_debug("%s: copied %llu bytes into '%s'", x->q->who,
			   (unsigned long long)p->bytes, x->q->path);
}

/* GET: the host's verdict. 1 (the end), or a negative errno. */
static int on_result(struct acopy *x, const struct sess_frame *f)
{
	struct sess_result res;

	if (sess_dec_result(f, &res) < 0)
		return -EPROTO;
	if (res.err) {
		alog("%s: the host could not store '%s': %s", x->q->who, x->q->path, res.message);
		return -(int)res.err;
	}
	alog_debug("%s: sent '%s' (%llu bytes)", x->q->who, x->q->path,
		   (unsigned long long)res.bytes);
	return 1;
}

/* A frame from the host: 0 go on, 1 done, or a negative errno. */
static int on_frame(struct acopy *x, const struct sess_frame *f)
{
	uint32_t n;
	int r;

	if (f->type == SESS_PING) {
		sess_begin(&x->c->out, SESS_PONG, SESS_CH_CONTROL);
		sess_end(&x->c->out);
		return 0;
	}
	if (x->r) {
		r = xfer_recv_frame(x->r, f, &x->c->out);
		if (r != 0)
			send_result(x, r < 0 ? r : 0, r < 0 ? xfer_recv_message(x->r) : "");
		return r;
	}
	if (f->type == SESS_CREDIT && f->chan == SESS_CH_FILE && sess_dec_credit(f, &n) == 0)
		return sess_credit_give(&x->credit, SESS_CH_FILE, n);
	if (f->type == SESS_RESULT)
		return on_result(x, f);
	aconn_error(x->c, SESS_STAGE_PROTOCOL, EPROTO, "unexpected frame type %u during a copy",
		    f->type);
	return -EPROTO;
}

/* GET: queues what the credit allows. 0, or a negative errno. */
static int fill(struct acopy *x)
{
	while (x->s && !x->sent_all && !backed_up(x)) {
		int r = xfer_send_step(x->s, &x->c->out, &x->credit.avail[SESS_CH_FILE]);

		if (r == 2)
			break;
		if (r < 0) {
			alog("%s: cannot send '%s': %s", x->q->who, x->q->path,
			     xfer_send_message(x->s));
			aconn_error(x->c, SESS_STAGE_FILE, -r, "%s", xfer_send_message(x->s));
			return r;
		}
		x->sent_all = r == 0;
	}
	return 0;
}

static int loop(struct acopy *x)
{
	struct sess_frame f;
	int r;

	for (;;) {
		struct pollfd p = { .fd = x->c->sock };

		r = 0;
		while (!backed_up(x) && (r = aconn_next(x->c, &f)) > 0)
			if ((r = on_frame(x, &f)) != 0)
				return r < 0 ? r : 0;
		if (r < 0) {
			aconn_error(x->c, SESS_STAGE_PROTOCOL, EPROTO, "malformed frame header");
			return -EPROTO;
		}
		if (x->c->eof)
			return x->c->err ? x->c->err : -ECONNRESET;
		if ((r = fill(x)) < 0)
			return r;
		p.events = aconn_events(x->c);
		if (backed_up(x))
			p.events &= (short)~POLLIN;
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return -errno;
		aconn_io(x->c, p.revents);
	}
}

static int start(struct acopy *x)
{
	char msg[XFER_MSG_SIZE];
	int r;

	if (x->q->type == SESS_PUT) {
		r = xfer_recv_new(x->q->path, x->q->flags, &x->r, msg);
		if (r < 0) {
			alog("%s: cannot copy into '%s': %s", x->q->who, x->q->path, msg);
			sess_enc_result(&x->c->out, &(struct sess_result){ .err = (uint32_t)-r,
									   .message = msg });
		}
		return r;
	}
	r = xfer_send_new(x->q->path, x->q->flags, &x->s, msg);
	if (r < 0) {
		alog("%s: cannot send '%s': %s", x->q->who, x->q->path, msg);
		aconn_error(x->c, SESS_STAGE_FILE, -r, "%s", msg);
	}
	return r;
}

int acopy_run(struct aconn *c, const struct acopy_req *q)
{
	struct acopy x = { .c = c, .q = q };
	int r;

	sess_credit_init(&x.credit, q->peer_window);
	alog_debug("%s: %s '%s'%s%s", q->who, q->type == SESS_PUT ? "copy into" : "copy out of",
		   q->path, q->flags & SESS_PUT_TREE ? " (tree)" : "",
		   q->flags & SESS_PUT_PRESERVE ? " (preserve)" : "");
	r = start(&x);
	if (r == 0)
		r = loop(&x);
	if (r == -ECONNRESET || (r < 0 && c->eof))
		alog("%s: the host closed the session during the copy of '%s': nothing "
		     "uncommitted left",
		     q->who, q->path);
	xfer_recv_free(x.r);
	xfer_send_free(x.s);
	return r;
}
