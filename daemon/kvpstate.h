/* SPDX-License-Identifier: MIT */
/*
 * kvpstate.h - one VM's key-value exchange pools as vmsvcd holds them
 * (docs/integration-services.md, "Key-value exchange"): the host pool it
 * owns, and its copies of the agent's guest and intrinsic pools, fed by the
 * agent's frames on the vsock stream.
 *
 * Pure: no fds, no I/O, no libuv (test-kvpstate.c drives it). The glue,
 * icd-kvp.c, stores the host pool (the save hook), sends frames, and tells
 * watchers what the change hook reports.
 *
 * Invariants:
 * - Every pool, copies included, is a kvpool: within the protocol's limits
 *   after every call, and unchanged by a call that fails.
 * - A copy is replaced only whole. BEGIN starts a new pool beside it; the
 *   SETs (and DELETEs) until COMMIT fill that one; COMMIT swaps them and
 *   reports the differences. What one BEGIN..COMMIT buffers is itself a
 *   kvpool, so bounded by the pool limits: at most two pools' worth per
 *   agent pool and VM while a copy is received.
 * - A frame refused inside a copy (over a limit) spoils it: the rest is
 *   dropped, the COMMIT refused and the old copy kept. A connection that
 *   ends, or a service turned off, mid-copy keeps the old copy too.
 * - The copies are stale from the moment the agent's connection ends (or
 *   the service is turned off) until its next COMMIT of that pool.
 * - Anything for the host pool from the agent is refused (EPERM).
 */
#ifndef VMSVCD_KVPSTATE_H
#define VMSVCD_KVPSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "ic.h"
#include "kvpool.h"

struct kvs_hooks {
	/* A key was set (e: the new entry) or deleted (e: the old one) in
	 * pool; gen is the pool's generation after the change. May be NULL. */
	void (*change)(void *opaque, uint32_t pool, const struct kvp_entry *e, bool deleted,
		       uint64_t gen);
	/* Stores the host pool after a change: 0, or a negative errno that
	 * undoes the change. NULL: nothing stored. */
	int (*save)(void *opaque, const struct kvpool *host);
	void *opaque;
};

/* A copy being received (BEGIN .. COMMIT). */
struct kvs_incoming {
	struct kvpool pool;
	bool active;
	uint32_t spoiled; /* 0, or the errno that refused part of it */
};

struct kvs {
	struct kvpool pool[IC_NPOOLS]; /* host: owned; guest, intrinsic: copies */
	struct kvs_incoming in[IC_NPOOLS];
	bool stale[IC_NPOOLS];
	struct kvs_hooks hooks;
};

/* An ERROR to send back (err 0: none). */
struct kvs_error {
	uint32_t err;
	uint32_t seq;
	char message[160];
};

void kvs_init(struct kvs *s, const struct kvs_hooks *hooks);
void kvs_clear(struct kvs *s);

/*
 * Takes one frame from the agent. Returns 0 (with e->err set when an
 * ERROR answers it), -EOPNOTSUPP for a type the vsock stream does not
 * carry, or -EPROTO for a malformed frame (the caller answers those).
 * Answers: EPERM anything for the host pool; E2BIG a key or value too
 * long; ENOSPC a pool over its keys or bytes; EPROTO a COMMIT without
 * BEGIN. Changes reach the change hook.
 */
int kvs_agent_frame(struct kvs *s, const struct sess_frame *f, struct kvs_error *e);
/* The agent's connection ended, or the service was turned off: copies
 * being received are dropped, the guest and intrinsic copies kept but
 * stale. */
void kvs_agent_gone(struct kvs *s);

/*
 * Sets key to value in the host pool, then saves it (undone when saving
 * fails). Returns 1 changed (change hook called), 0 the key already held
 * that value, or a negative errno: kvpool_set's (-EINVAL bad key, -E2BIG,
 * -ENOSPC, -ENOMEM) or the save hook's.
 */
int kvs_host_set(struct kvs *s, const void *key, size_t klen, const void *value, size_t vlen);
/* Deletes key from the host pool and saves it: 1, -ENOENT, or the save
 * hook's error (the key is back). */
int kvs_host_delete(struct kvs *s, const void *key, size_t klen);
/* Fills the empty host pool from a pool file's bytes (kvpool_decode):
 * 0, or -EPROTO/-ENOSPC/-E2BIG/-ENOMEM with the pool left empty. */
int kvs_host_load(struct kvs *s, const uint8_t *buf, size_t len);
/* Appends the host pool whole for the agent: BEGIN, one SET per key,
 * COMMIT with the pool's generation. */
void kvs_host_copy(const struct kvs *s, struct sess_buf *b);

#endif
