/* SPDX-License-Identifier: MIT */
/*
 * agent-ic.h - one integration service's connection to the host
 * (docs/integration-services.md), as a protocol engine: it owns a
 * connected stream and speaks what every service shares (HELLO, ERROR,
 * STATE, an unknown frame type answered with ERROR EOPNOTSUPP), and hands
 * the service's own frames and timer to the service (struct aic_ops).
 * Heartbeat and shutdown are services now; key-value exchange, time sync
 * and freeze plug in the same way.
 *
 * It owns no event loop and dials nothing: the caller (agent-icw.c in the
 * agent, a socket pair in the tests) gives it a connected stream, polls
 * aic_events() and calls aic_io() and aic_tick().
 *
 * The next services fit the same mould (design, not code yet):
 *   - key-value exchange: its aic_ops sends the guest and intrinsic pools
 *     whole after ready() (BEGIN, SETs, COMMIT) and applies the host's at
 *     COMMIT; the guest's `vmsvc kvp` clients reach the same struct (the
 *     svc) through a Unix socket that the worker polls next to the slots
 *     (agent-icw.h grows a hook for extra fds: their poll entries, their
 *     io, their deadline), so a pool change goes to the host and to the
 *     WATCH clients from one place;
 *   - time sync: frame() stamps what it receives itself (CLOCK_REALTIME at
 *     the read), tick() runs the bursts, STATE/SYNC steps;
 *   - freeze: closed() (the connection ended: the host is gone) thaws, and
 *     its own deadline thaws on timeout; nothing of it may block the loop.
 *
 * Phases: HELLO sent at once; the host's HELLO (the version chosen) makes
 * the connection ready and the service's ready() runs; STATE switches the
 * service on and off (enabled = 0: no activity, the connection stays);
 * ERROR EPROTONOSUPPORT in answer to HELLO is a protocol mismatch: the
 * engine goes quiet (answers nothing, sends nothing) until the stream ends.
 */
#ifndef VMSVC_AGENT_IC_H
#define VMSVC_AGENT_IC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ic.h"
#include "session.h"

struct aic;

/* What a service adds to the common protocol. Every callback may be NULL. */
struct aic_ops {
	const char *name; /* "heartbeat": log lines and messages */
	uint16_t port;	  /* IC_*_PORT */
	/* The host answered HELLO: the service may start (when enabled). */
	void (*ready)(struct aic *c, uint64_t now);
	/* STATE arrived (also the first one after HELLO). */
	void (*state)(struct aic *c, const struct ic_state *s, uint64_t now);
	/*
	 * A frame of the service's own range, after the host's HELLO. 0:
	 * handled; -EOPNOTSUPP: not a type the service knows (the engine
	 * answers ERROR EOPNOTSUPP); another negative errno: the engine
	 * answers ERROR with it and the service's message (aic_set_why).
	 */
	int (*frame)(struct aic *c, const struct sess_frame *f, uint64_t now);
	/* The deadline set with aic_set_deadline has come. */
	void (*tick)(struct aic *c, uint64_t now);
	/* The connection is going away (aic_free): undo what must not
	 * outlive it (a freeze). */
	void (*closed)(struct aic *c);
};

/* How the agent presents itself in HELLO. */
struct aic_hello {
	uint32_t min, max; /* the versions claimed (IC_VERSION_MIN..MAX) */
	const char *software;
};

enum aic_phase {
	AIC_HELLO_SENT, /* waiting for the host's HELLO */
	AIC_READY,	/* the host answered: the service runs */
	AIC_MISMATCH,	/* the host speaks none of our versions */
};

/*
 * A connection over fd (a connected stream, made non-blocking; aic_free
 * closes it, also when this fails) for the service ops with its state svc.
 * Queues HELLO. NULL when out of memory.
 */
struct aic *aic_new(int fd, const struct aic_ops *ops, void *svc, const struct aic_hello *hello);
/* Closes the stream; returns NULL; takes NULL. */
struct aic *aic_free(struct aic *c);

/* The stream (owned by the connection), to poll. */
int aic_fd(const struct aic *c);
/* The poll events wanted now. */
short aic_events(const struct aic *c);
/*
 * Reads, handles every complete frame (calling the service) and writes.
 * Returns 0 while the connection lives, else the reason it ended: -EPIPE
 * for the host's clean end, -EPROTO for a malformed header or an
 * oversized frame, the stream's negative errno.
 */
int aic_io(struct aic *c, short revents, uint64_t now);
/* Milliseconds until the service's deadline (0: due), -1 without one. */
int aic_timeout(const struct aic *c, uint64_t now);
/* Calls the service's tick when its deadline has come. */
void aic_tick(struct aic *c, uint64_t now);
/* Sends what is queued, waiting at most timeout_ms (0, or negative errno). */
int aic_flush(struct aic *c, int timeout_ms);

/* ---- for the services ---- */

void *aic_svc(const struct aic *c);
const struct aic_ops *aic_ops(const struct aic *c);
enum aic_phase aic_phase(const struct aic *c);
/* The version chosen by the host (0 before its HELLO). */
uint32_t aic_version(const struct aic *c);
/* The last STATE: enabled (true until a STATE says otherwise) and its
 * interval (0 when the host gave none). */
bool aic_enabled(const struct aic *c);
uint32_t aic_interval_ms(const struct aic *c);
/* When tick should run next (0: never). */
void aic_set_deadline(struct aic *c, uint64_t at_ms);
/* The buffer to queue frames into (ic_enc_*; errors stick in it). */
struct sess_buf *aic_out(struct aic *c);
/* Queues ERROR{seq, type, err, message}. */
void aic_error(struct aic *c, uint32_t seq, uint32_t type, int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* The message of the ERROR for a failed frame() (printf format). */
void aic_set_why(struct aic *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What the host said in ERROR EPROTONOSUPPORT (its message), once
 * mismatched; "" otherwise. */
const char *aic_mismatch(const struct aic *c);

#endif /* VMSVC_AGENT_IC_H */
