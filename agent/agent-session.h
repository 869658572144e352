/* SPDX-License-Identifier: MIT */
/*
 * agent-session.h - one VM Session (docs/session-protocol.md) on a stream
 * the listener accepted from the host: PEER (written by vmsvcd), HELLO both
 * ways, then one request, checked against agent.conf and served.
 */
#ifndef VMSVC_AGENT_SESSION_H
#define VMSVC_AGENT_SESSION_H

struct asess_ctx {
	const char *config; /* agent.conf (read afresh for every session) */
	const char *passwd; /* the user and group files */
	const char *group;
};

/*
 * Serves the session on sock (taken, closed on return) in the calling
 * process, which becomes the command's parent and a child subreaper.
 * Returns 0, or a negative errno when the session ended in an error (the
 * host was told with ERROR when it could be).
 */
int asess_serve(int sock, const struct asess_ctx *ctx);

#endif /* VMSVC_AGENT_SESSION_H */
