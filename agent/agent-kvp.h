/* SPDX-License-Identifier: MIT */
/*
 * agent-kvp.h - the key-value exchange's guest side
 * (docs/integration-services.md, "Key-value exchange"): the three pools
 * the agent keeps, and the service on the host link (port 704).
 *
 *  - guest: owned; written by the guest's `vmsvc kvp` (agent-kvp-sock.h)
 *    and persisted in a file (agent-kvp-files.h) before a change counts;
 *  - intrinsic: owned; computed by the agent (agent-kvp-intr.h), replaced
 *    whole at every recomputation (only the differences count);
 *  - host: a copy of vmsvcd's pool, received on the link (BEGIN ... COMMIT
 *    replaces it at COMMIT, SET and DELETE apply one key), with the
 *    limits checked again. It outlives the link: the guest keeps reading
 *    the last copy while the host is away.
 *
 * Every change is told to the listeners (the mirror, the socket's
 * watchers, the link) once it is made, with the pool's generation after
 * it. On the link, after the host's HELLO and a STATE that turns the
 * service on, the agent sends its two pools whole (BEGIN, SETs, COMMIT),
 * then each change as SET or DELETE; a STATE off sends nothing more and
 * ignores what the host sends, keeping the connection. What the host
 * sends for the guest or intrinsic pool is refused (ERROR EPERM).
 *
 * No I/O but the guest pool's file: the link is an aic engine
 * (agent-ic.h) the caller runs.
 */
#ifndef VMSVC_AGENT_KVP_H
#define VMSVC_AGENT_KVP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent-ic.h"
#include "kvpool.h"

/* Queued to the host beyond this, the link stops sending changes one by
 * one and sends its pools whole once the queue has drained. */
#define AKVP_LINK_BACKLOG  (4 * 1024 * 1024)
#define AKVP_LINK_DRAIN_MS 100 /* how often a stalled link is looked at */

struct akvp;

/* A change: pool, the entry set (its new value) or deleted (its last
 * value), the pool's generation after the change. e is valid during the
 * call only; a listener must not change the pools. */
typedef void (*akvp_change_fn)(void *ctx, uint32_t pool, const struct kvp_entry *e, bool deleted,
			       uint64_t gen);

/*
 * The pools, the guest pool read from guest_file (NULL: not persisted,
 * for tests). A corrupt or unreadable file is logged and the pool starts
 * empty. NULL when out of memory.
 */
struct akvp *akvp_new(const char *guest_file);
/* Returns NULL; takes NULL. The link's engine must be freed first. */
struct akvp *akvp_free(struct akvp *k);

/* Adds a listener (at most 8): 0 or -ENOSPC. */
int akvp_listen(struct akvp *k, akvp_change_fn fn, void *ctx);
/* Removes it again. */
void akvp_unlisten(struct akvp *k, akvp_change_fn fn, void *ctx);

/* A pool (IC_POOL_*), to read. */
const struct kvpool *akvp_pool(const struct akvp *k, uint32_t pool);
/* All IC_NPOOLS pools (for akvf_sync). */
const struct kvpool *akvp_pools(const struct akvp *k);

/*
 * Sets or deletes a key of the guest pool: saved to the guest file first
 * (nothing changes when that fails), then told. Returns 1 (changed), 0
 * (set to the value it had), or -errno with why: -EINVAL a bad key,
 * -E2BIG, -ENOSPC over a limit, -ENOENT no such key (delete), or the
 * file's error.
 */
int akvp_guest_set(struct akvp *k, const void *key, size_t klen, const void *value, size_t vlen,
		   char *why, size_t size);
int akvp_guest_delete(struct akvp *k, const void *key, size_t klen, char *why, size_t size);

/* Replaces the intrinsic pool by fresh (emptied): the differences are
 * told, the generation counts one up per difference. */
void akvp_intrinsic_replace(struct akvp *k, struct kvpool *fresh);

/* The link's service (svc: the struct akvp). One connection at a time. */
extern const struct aic_ops akvp_ops;

/* True while a link is up, on, and has had our pools whole. */
bool akvp_link_synced(const struct akvp *k);

#endif /* VMSVC_AGENT_KVP_H */
