/* SPDX-License-Identifier: MIT */
/*
 * agent-icw.h - keeps one connection per wanted integration service open
 * (the worker's loop): dials (the hook: vsock in the agent, Unix sockets
 * in tests), runs each connection's engine (agent-ic.h), reconnects with
 * a backoff, follows agent.conf, and logs each change of a service's
 * state once, never once per retry.
 *
 * Backoff: the first retry after 200 ms (the host sees the agent promptly
 * after a boot or a vmsvcd restart), doubling up to 5 s; back to 200 ms
 * after a connection that lasted 5 s. After a protocol mismatch, 30 s: the
 * versions will not meet before one side is upgraded.
 */
#ifndef VMSVC_AGENT_ICW_H
#define VMSVC_AGENT_ICW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent-conf.h"
#include "agent-ic.h"

#define AICW_RETRY_FIRST_MS    200
#define AICW_RETRY_MAX_MS      5000
#define AICW_RETRY_MISMATCH_MS 30000
#define AICW_STABLE_MS	       5000  /* a connection this long resets the backoff */
#define AICW_CONNECT_MS	       10000 /* a connect that takes longer fails */
#define AICW_CONF_CHECK_MS     2000  /* agent.conf is looked at this often */

/* Starts a connect to the host's port: 0 with *fd (non-blocking,
 * connecting or connected; the caller owns it), or -errno. */
typedef int (*aicw_dial_fn)(void *ctx, uint16_t port, int *fd);

struct aicw_service {
	const struct aic_ops *ops;
	void *svc;   /* the service's state, handed to aic_new */
	bool wanted; /* set by reconfigure: connect at all */
};

struct aicw {
	const char *config; /* agent.conf */
	struct aic_hello hello;
	aicw_dial_fn dial;
	void *dial_ctx;
	struct aicw_service *svcs;
	size_t nsvcs;
	/* Called with every configuration loaded (the first at start): sets
	 * each service's wanted flag and settings. conf stays valid until
	 * the next call (the loop keeps it). */
	void (*reconfigure)(void *ctx, const struct aconf *conf, struct aicw_service *svcs,
			    size_t n);
	void *ctx;
	/* Readable: on_stop_fd(ctx) decides; true ends the loop. -1: none. */
	int stop_fd;
	bool (*on_stop_fd)(void *ctx);
};

/* Runs the services until on_stop_fd says so: 0, or -errno when the loop
 * cannot go on (no memory, poll failed). */
int aicw_run(struct aicw *w);

/* The delay before the next try after one of prev_ms (0: the first
 * failure); reset after a stable connection. */
unsigned aicw_backoff(unsigned prev_ms, bool reset);

#endif /* VMSVC_AGENT_ICW_H */
