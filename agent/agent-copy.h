/* SPDX-License-Identifier: MIT */
/*
 * agent-copy.h - a session's copy (PUT, GET: docs/session-protocol.md),
 * served by the session process after it became the guest user, so that the
 * kernel decides what may be read and written.
 */
#ifndef VMSVC_AGENT_COPY_H
#define VMSVC_AGENT_COPY_H

#include <stdint.h>

#include "agent-conn.h"

struct acopy_req {
	uint16_t type;	      /* SESS_PUT or SESS_GET */
	const char *path;     /* the guest path (relative: to the current folder) */
	uint32_t flags;	      /* SESS_PUT_* */
	uint32_t peer_window; /* the host's window for channel 4 (GET) */
	const char *who;      /* "host user 'root' (uid 0) as guest user 'alice'", for the log */
};

/*
 * Runs the copy on c, whose HELLO is queued or sent, to its end: for PUT,
 * receives and commits, then queues RESULT; for GET, sends (ERROR stage 6
 * when the source cannot be read) and waits for the host's RESULT. Returns
 * 0, or a negative errno (the copy failed or the host went away; nothing
 * uncommitted is left behind). The caller finishes the connection.
 */
int acopy_run(struct aconn *c, const struct acopy_req *q);

#endif /* VMSVC_AGENT_COPY_H */
