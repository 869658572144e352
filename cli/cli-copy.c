/* SPDX-License-Identifier: MIT */
/*
 * cli-copy.c - the host side of one vmsvc cp request (cli.h) on a stream of
 * cli-conn.h: PUT (we send with copy/xfer.h's sender, the agent answers
 * RESULT) or GET (the agent sends, our receiver commits each file and we
 * answer RESULT).
 *
 * The engine is made before the session is opened, so a missing local file
 * or folder fails before any VM is asked. HELLO and the request go out in
 * one write; our data waits for the agent's HELLO (its window). SIGINT,
 * SIGTERM and SIGHUP end the copy through the connection's self-pipe: the
 * receiver drops its temporary file, the agent sees the stream end and
 * drops its own.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli-conn.h"
#include "cli.h"
#include "session.h"
#include "util.h"
#include "xfer.h"

struct copy {
	const struct cli_copy *q;
	struct cli_conn conn; /* PUT: sends on channel 4 */
	bool sent_all;
	struct xfer_send *s;
	struct xfer_recv *r;
	int code;
	struct cli_progress bar;
};

static const int stops[] = { SIGINT, SIGTERM, SIGHUP };

/* ---- frames from the agent ---- */

static int agent_error(struct copy *c, const struct sess_frame *f)
{
	struct sess_error e;

	if (sess_dec_error(f, &e) < 0)
		return -EPROTO;
	c->conn.done = true;
	cli_conn_print_error(&c->conn, &e);
	c->code = e.stage == SESS_STAGE_FILE ? EXIT_FAIL : EXIT_SESSION_FAIL;
	return 0;
}

/* PUT: the agent's verdict. */
static int agent_result(struct copy *c, const struct sess_frame *f)
{
	struct sess_result res;

	if (c->r || sess_dec_result(f, &res) < 0)
		return -EPROTO;
	c->conn.done = true;
	c->code = res.err ? EXIT_FAIL : EXIT_OK;
	if (res.err)
		cli_error("in %s: %s", c->conn.vm, res.message);
	return 0;
}

/* GET: a frame for our receiver; RESULT goes back when it is done. */
static int to_receiver(struct copy *c, const struct sess_frame *f)
{
	int r = xfer_recv_frame(c->r, f, &c->conn.out);

	if (r == 0)
		return 0;
	sess_enc_result(&c->conn.out, &(struct sess_result){
					      .err = (uint32_t)(r < 0 ? -r : 0),
					      .message = r < 0 ? xfer_recv_message(c->r) : "",
					      .bytes = xfer_recv_progress(c->r)->bytes,
				      });
	if (r < 0)
		cli_error("%s", xfer_recv_message(c->r));
	c->conn.done = true;
	c->code = r < 0 ? EXIT_FAIL : EXIT_OK;
	return 0;
}

/* The frames of a copy (cli_conn_frame_fn). */
static int on_frame(void *ctx, const struct sess_frame *f)
{
	struct copy *c = ctx;

	switch (f->type) {
	case SESS_ERROR:
		return agent_error(c, f);
	case SESS_RESULT:
		return agent_result(c, f);
	default:
		return c->r && c->conn.hello ? to_receiver(c, f) : -EPROTO;
	}
}

/* ---- our side ---- */

static int fill(struct copy *c)
{
	struct cli_conn *n = &c->conn;

	while (c->s && n->hello && !c->sent_all && !cli_conn_full(n)) {
		int r = xfer_send_step(c->s, &n->out, &n->credit.avail[SESS_CH_FILE]);

		if (r == 2)
			break;
		if (r < 0) {
			cli_error("%s", xfer_send_message(c->s));
			c->code = EXIT_FAIL;
			return r;
		}
		c->sent_all = r == 0;
	}
	return 0;
}

static const struct xfer_progress *progress(const struct copy *c)
{
	return c->s ? xfer_send_progress(c->s) : xfer_recv_progress(c->r);
}

/* 0 when the copy ended (c->code set), a signal number, or -errno. */
static int loop(struct copy *c)
{
	struct cli_conn *n = &c->conn;
	int r;

	while (!n->done) {
		struct pollfd p[2] = { { .fd = n->sock }, { .fd = n->sigfd, .events = POLLIN } };

		if (fill(c) < 0)
			return 0;
		p[0].events = cli_conn_events(n);
		if (poll(p, 2, c->q->progress ? 250 : -1) < 0 && errno != EINTR)
			return -errno;
		if (p[1].revents && (r = cli_conn_signal(n)) > 0)
			return r;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR) &&
		    (r = cli_conn_read(n, on_frame, c)) < 0)
			return r;
		if (n->out.len && (r = cli_conn_write(n)) < 0)
			return r;
		if (c->q->progress)
			cli_progress_draw(&c->bar, progress(c), false);
	}
	cli_conn_flush(n, 5000); /* the last frames (RESULT) */
	return 0;
}

static int run(struct copy *c)
{
	const struct cli_copy *q = c->q;
	int r;

	if (cli_conn_open(&c->conn, q->vm) < 0)
		return EXIT_SESSION_FAIL;
	sess_enc_xfer(&c->conn.out, q->put ? SESS_PUT : SESS_GET,
		      &(struct sess_xfer){ .path = q->remote, .flags = q->flags });
	cli_progress_start(&c->bar, q->put ? q->local : q->remote,
			   q->put ? xfer_total_size(q->local, q->flags) : 0);
	r = loop(c);
	if (q->progress)
		cli_progress_draw(&c->bar, progress(c), true);
	if (r > 0) {
		cli_error("interrupted: nothing uncommitted was kept");
		return 128 + r;
	}
	if (r < 0) {
		cli_conn_lost(&c->conn, r, "copy", ": nothing uncommitted was kept");
		c->code = EXIT_FAIL;
	}
	return c->code;
}

int cli_copy_run(const struct cli_copy *q)
{
	struct copy c = { .q = q, .code = EXIT_FAIL };
	char msg[XFER_MSG_SIZE];
	int r, code;

	if (cli_conn_init(&c.conn, q->put ? SESS_CH_FILE : 0, stops, ARRAY_SIZE(stops)) < 0) {
		cli_conn_free(&c.conn);
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	r = q->put ? xfer_send_new(q->local, q->flags, &c.s, msg)
		   : xfer_recv_new(q->local, q->flags, &c.r, msg);
	if (r < 0) {
		cli_error("%s", msg);
		code = EXIT_FAIL;
	} else {
		code = run(&c);
	}
	c.r = xfer_recv_free(c.r); /* an unfinished file's temporary file goes */
	c.s = xfer_send_free(c.s);
	cli_conn_free(&c.conn);
	return code;
}
