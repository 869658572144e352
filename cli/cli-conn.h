/* SPDX-License-Identifier: MIT */
/*
 * cli-conn.h - the host end of one VM Session stream, shared by exec and
 * shell (cli-session.c) and cp (cli-copy.c): opened through vmsvcd, frames
 * read and parsed in place, frames queued to send, the agent's HELLO and
 * CREDIT accounted, and the signals a request cares about delivered
 * through a self-pipe. The request polls, and handles the other frames in
 * a callback.
 *
 * Bounds on what the agent can make us hold: at most one frame is buffered
 * in (SESS_HDR_SIZE + SESS_MAX_FRAME), and the stream is not read while
 * CLI_CONN_OUT_HIGH bytes wait to be sent, so an agent that sends but never
 * reads cannot grow our queue of answers (CREDIT for its data) without end.
 */
#ifndef VMSVC_CLI_CONN_H
#define VMSVC_CLI_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

/* Our window for each data channel, announced in our HELLO. */
#define CLI_CONN_WINDOW SESS_DEFAULT_WINDOW
/* While this much waits to be sent, producers (stdin, the sender) stop
 * and the stream is not read. */
#define CLI_CONN_OUT_HIGH (512 * 1024)

struct cli_conn {
	int sock;	     /* owned; -1 when closed */
	int sigfd;	     /* the self-pipe's read end (process-wide, not owned) */
	char vm[160];	     /* "VM 'g1'", for messages */
	struct sess_buf out; /* frames to send, in order */
	uint8_t *in;	     /* received bytes [start, end) */
	size_t start, end;
	bool hello;		   /* the agent's HELLO came: credit holds its window */
	struct sess_credit credit; /* what we may still send */
	uint16_t send_chan;	   /* the data channel we send on (its CREDIT is ours); 0: none */
	bool done;		   /* the request ended: no further frame is handled */
};

/*
 * Handles a frame the connection does not handle itself (all but HELLO,
 * CREDIT and PONG). Returns 0 to go on (set c->done at the request's last
 * frame), or a negative errno that ends the session.
 */
typedef int cli_conn_frame_fn(void *ctx, const struct sess_frame *f);

/*
 * Prepares c (no stream yet) to send on data channel send_chan (0: none)
 * and routes the nsigs signals in sigs to the self-pipe (handlers without
 * SA_RESTART, so that a blocked write returns). 0, or -ENOMEM or the errno
 * of pipe2.
 */
int cli_conn_init(struct cli_conn *c, uint16_t send_chan, const int *sigs, size_t nsigs);

/*
 * Asks vmsvcd for a stream to VM vm's agent (PEER already in it), sets
 * c->vm to "VM 'NAME'" and queues our HELLO. 0, or -1 with the reason
 * printed (exec, shell and cp then exit EXIT_SESSION_FAIL).
 */
int cli_conn_open(struct cli_conn *c, const char *vm);

/* Closes the stream and frees the buffers; c can be freed twice. */
void cli_conn_free(struct cli_conn *c);

/* Whether producers should wait: CLI_CONN_OUT_HIGH bytes are queued. */
bool cli_conn_full(const struct cli_conn *c);

/* The poll events for c->sock now: POLLIN unless full, POLLOUT while
 * frames wait. */
short cli_conn_events(const struct cli_conn *c);

/*
 * Reads what the stream has and handles every complete frame until
 * c->done: HELLO (once; its window becomes our credit), CREDIT for
 * send_chan and PONG here, the others through fn. 0, -ECONNRESET at the
 * end of the stream, -EPROTO / -EPROTONOSUPPORT for a peer that broke the
 * protocol, fn's error, or the errno of read.
 */
int cli_conn_read(struct cli_conn *c, cli_conn_frame_fn *fn, void *ctx);

/* Writes what the stream takes now without waiting. 0, or -errno. */
int cli_conn_write(struct cli_conn *c);

/* Waits up to timeout_ms for the queued frames (a last RESULT) to leave. */
void cli_conn_flush(struct cli_conn *c, int timeout_ms);

/* The next signal caught (of those given to cli_conn_init), or 0. */
int cli_conn_signal(const struct cli_conn *c);

/* Prints the agent's ERROR e: a refusal by the guest's policy and where it
 * is decided, else "in VM 'g1': MESSAGE". */
void cli_conn_print_error(const struct cli_conn *c, const struct sess_error *e);

/*
 * Prints why the session ended early: err from cli_conn_read or
 * cli_conn_write; what ("command", "copy") had not finished, tail is
 * appended to the message of a broken stream ("": nothing).
 */
void cli_conn_lost(const struct cli_conn *c, int err, const char *what, const char *tail);

#endif /* VMSVC_CLI_CONN_H */
