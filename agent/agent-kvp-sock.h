/* SPDX-License-Identifier: MIT */
/*
 * agent-kvp-sock.h - the guest's `vmsvc kvp` to the agent: the Unix socket
 * /run/vmsvc/kvp.sock (mode 0666) and its requests
 * (docs/integration-services.md, "In the guest"): GET -> VALUE or ERROR
 * ENOENT; LIST -> VALUE..., DONE; WATCH -> DONE, then a SET or DELETE
 * (with the WATCH's seq) per change of either side; SET_REQ and DEL_REQ ->
 * DONE or ERROR. Each reply carries its request's seq; a connection may
 * send several requests, one after the other or all at once.
 *
 * Who asks comes from the kernel, per request (SO_PEERCRED and
 * SO_PEERGROUPS; a hook in tests): anyone may read unless [KVP]
 * ReadGroup= is set (then root and that group); only root and [KVP]
 * WriteGroup= may write, and only the guest pool. A refusal is ERROR EPERM
 * with a message that says who may.
 *
 * Bounded per connection: one frame of input (IC_MAX_FRAME), requests
 * read only while the replies queued are few (AKVS_OUT_PAUSE), a LIST
 * answered as the client reads it, AKVS_MAX_WATCHES watches; a watcher
 * whose events pile up past AKVS_MAX_BEHIND is sent ERROR ENOBUFS after
 * them and dropped. At most AKVS_MAX_CLIENTS connections.
 *
 * Runs in the caller's loop: akvs_fill before poll, akvs_io after.
 */
#ifndef VMSVC_AGENT_KVP_SOCK_H
#define VMSVC_AGENT_KVP_SOCK_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent-conf.h"
#include "agent-kvp.h"

#define AKVS_SOCKET	 "/run/vmsvc/kvp.sock"
#define AKVS_MAX_CLIENTS 128
#define AKVS_MAX_WATCHES 16 /* per connection */
/* A watcher this far behind (1 MiB of keys and values, and their frames)
 * is dropped. */
#define AKVS_MAX_BEHIND (IC_KVP_MAX_POOL + IC_KVP_MAX_KEYS * 64)
/* A connection's next request waits while this much is queued for it. */
#define AKVS_OUT_PAUSE (64 * 1024)
/* A dropped watcher's last bytes get this long to leave. */
#define AKVS_LINGER_MS	10000
#define AKVS_MAX_GROUPS 256

/* The asker, as the kernel tells. */
struct akvs_cred {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	size_t ngroups; /* supplementary groups (the first AKVS_MAX_GROUPS) */
	gid_t groups[AKVS_MAX_GROUPS];
};
/* Fills *c for the client on fd: 0 or -errno (the request is refused). */
typedef int (*akvs_cred_fn)(void *ctx, int fd, struct akvs_cred *c);
/* The kernel's answer: SO_PEERCRED, SO_PEERGROUPS. */
int akvs_peer_cred(void *ctx, int fd, struct akvs_cred *c);

/* What agent.conf says, and where to look up groups. */
struct akvs_policy {
	bool enabled;				    /* [KVP] Enabled */
	char read_group[AGENT_MAX_GROUP_NAME + 1];  /* "" none */
	char write_group[AGENT_MAX_GROUP_NAME + 1]; /* "" none */
	const char *config;			    /* agent.conf, for messages */
	const char *group_file;			    /* /etc/group */
};

struct akvs;

/* A server of store's pools (it listens to their changes). NULL when out
 * of memory. Policy: enabled, no groups, until akvs_set_policy. */
struct akvs *akvs_new(struct akvp *store);
/* Closes every connection and the socket (removing its file); NULL. */
struct akvs *akvs_free(struct akvs *s);

/* Listens on path (mode 0666; its folder made 0755; a socket left there
 * by an earlier run replaced): 0, or -errno with why. */
int akvs_listen(struct akvs *s, const char *path, char *why, size_t size);
/* Serves the connected stream fd (taken: closed on failure too): 0, or
 * -EMFILE when AKVS_MAX_CLIENTS are served, -ENOMEM. */
int akvs_add(struct akvs *s, int fd);

void akvs_set_policy(struct akvs *s, const struct akvs_policy *p);
/* Another credential source (tests): fn(ctx, fd, cred). */
void akvs_set_cred_fn(struct akvs *s, akvs_cred_fn fn, void *ctx);

/* The pollfds wanted (at most max, from p), and *timeout_ms shortened to
 * the next deadline. */
size_t akvs_fill(struct akvs *s, struct pollfd *p, size_t max, int *timeout_ms, uint64_t now);
/* Serves what poll found (p, n: as akvs_fill filled them). */
void akvs_io(struct akvs *s, const struct pollfd *p, size_t n, uint64_t now);
/* How many pollfds akvs_fill may want at most. */
size_t akvs_max_fds(void);

/* The connections served. */
size_t akvs_clients(const struct akvs *s);

#endif /* VMSVC_AGENT_KVP_SOCK_H */
