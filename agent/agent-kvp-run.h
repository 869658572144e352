/* SPDX-License-Identifier: MIT */
/*
 * agent-kvp-run.h - the key-value exchange inside the integration
 * services' worker: the pools (agent-kvp.h), the socket for `vmsvc kvp`
 * (agent-kvp-sock.h), the files (agent-kvp-files.h) and the intrinsic
 * facts (agent-kvp-intr.h) wired together, following agent.conf's [KVP],
 * and served by the worker's loop (struct aicw_extra). The local side
 * works whether the host is reachable or not.
 *
 * [KVP] Enabled = no: no link to the host (the caller does not dial), the
 * socket refuses every request with a message that says why, the mirror
 * is removed, the intrinsic facts are not watched; the guest pool's file
 * stays. ReadGroup= sets the mirror's modes (and the socket's reading
 * rule); WriteGroup= the socket's writing rule.
 *
 * Every AKVR_RESCAN_MS: the intrinsic facts are computed again, a broken
 * mirror is made again, a socket that could not be made is tried again,
 * and ReadGroup='s gid is looked up again.
 */
#ifndef VMSVC_AGENT_KVP_RUN_H
#define VMSVC_AGENT_KVP_RUN_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "agent-conf.h"
#include "agent-kvp-intr.h"
#include "agent-kvp.h"

#define AKVR_RESCAN_MS 30000

/* Where everything lives (the defaults: AKVF_GUEST_FILE, AKVS_SOCKET,
 * AKVF_RUN_DIR, AU_GROUP_FILE, AGENT_CONF_FILE). */
struct akvr_paths {
	const char *guest_file;
	const char *socket;
	const char *run_dir;
	const char *group_file;
	const char *config;
	struct akvi_src src;
};

struct akvr;

/* Loads the guest pool; nothing runs before akvr_configure. NULL when out
 * of memory. */
struct akvr *akvr_new(const struct akvr_paths *paths);
/* Closes the socket (removing it) and everything else; NULL. */
struct akvr *akvr_free(struct akvr *r);

/* Applies agent.conf (the first call starts the local side). */
void akvr_configure(struct akvr *r, const struct aconf *c, uint64_t now);

/* The pools: the link's service state (aicw_service.svc with akvp_ops). */
struct akvp *akvr_store(struct akvr *r);

/* The worker loop's hooks (struct aicw_extra; ctx: the struct akvr). */
size_t akvr_max_fds(void);
size_t akvr_fill(void *ctx, struct pollfd *p, size_t max, int *timeout_ms, uint64_t now);
void akvr_io(void *ctx, const struct pollfd *p, size_t n, uint64_t now);

#endif /* VMSVC_AGENT_KVP_RUN_H */
