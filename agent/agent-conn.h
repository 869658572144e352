/* SPDX-License-Identifier: MIT */
/*
 * agent-conn.h - one stream to the host: a non-blocking socket, the frames
 * received (parsed in place) and the frames queued to send. Reading never
 * waits; the caller polls (aconn_events) and calls aconn_io when the
 * socket is ready. A session's stream (aconn_init) and an integration
 * service's (aconn_init_framed with ic_frame_parse) differ only in their
 * frame limit and parser.
 */
#ifndef VMSVC_AGENT_CONN_H
#define VMSVC_AGENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

/* Finds the first frame of buf: bytes spanned, 0 (need more), -EPROTO. */
typedef long (*aconn_parse_fn)(const uint8_t *buf, size_t size, struct sess_frame *f);

struct aconn {
	int sock;   /* owned; -1 when closed */
	size_t cap; /* header + the largest payload */
	aconn_parse_fn parse;
	struct sess_buf out; /* frames to send, in order */
	uint8_t *in;	     /* received bytes [start, end) */
	size_t start, end;
	bool eof;    /* the host closed its side, or the stream broke */
	int err;     /* why it broke (negative errno), 0 on a clean EOF */
	bool closed; /* we shut our side down */
};

/* Takes sock (made non-blocking; aconn_free closes it; on failure the
 * caller still owns it). A session's stream: SESS_MAX_FRAME, sess_frame_parse. 0 or
 * -ENOMEM. */
int aconn_init(struct aconn *c, int sock);
/* The same with another frame limit and parser. */
int aconn_init_framed(struct aconn *c, int sock, size_t max_payload, aconn_parse_fn parse);
void aconn_free(struct aconn *c);

/* The poll events the connection wants now (POLLIN while it has room,
 * POLLOUT while frames wait). */
short aconn_events(const struct aconn *c);

/* Reads what is there and writes what it can; sets eof on the end of the
 * stream or an error. */
void aconn_io(struct aconn *c, short revents);

/*
 * The next complete frame: 1 and *f (its payload valid until the next
 * aconn_io), 0 when none is complete, -EPROTO for a malformed header.
 */
int aconn_next(struct aconn *c, struct sess_frame *f);

/* Waits up to timeout_ms for the queued frames to leave: 0, -ETIMEDOUT or
 * the stream's error. */
int aconn_flush(struct aconn *c, int timeout_ms);

/*
 * The end of a session: sends what is queued, shuts our side down and
 * waits (at most timeout_ms in all) for the host to close, dropping what
 * it still sends, so that the last frames are not lost to a reset.
 */
void aconn_finish(struct aconn *c, int timeout_ms);

/* Queues ERROR{stage, err, message} (printf format). */
void aconn_error(struct aconn *c, int stage, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* VMSVC_AGENT_CONN_H */
