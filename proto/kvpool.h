/* SPDX-License-Identifier: MIT */
/*
 * kvpool.h - one key-value exchange pool (docs/integration-services.md):
 * keys and values of bytes, sorted by key, with the protocol's limits
 * enforced on every change and a generation counted up by each. vmsvcd and
 * vmsvc-agent keep their pools (owned ones and copies) in these, and
 * store owned pools as files of KVP SET frames (kvpool_encode/decode).
 *
 * Pure: no fds, no I/O, libc only. Nothing changes when a call fails.
 */
#ifndef VMSVC_KVPOOL_H
#define VMSVC_KVPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

struct kvp_entry {
	uint8_t *key;
	uint32_t key_len;
	uint8_t *value; /* never NULL (an empty value is a 1-byte allocation) */
	uint32_t value_len;
};

struct kvpool {
	struct kvp_entry *e; /* sorted by key (bytes, then length) */
	size_t n, cap;
	size_t bytes; /* keys + values: at most IC_KVP_MAX_POOL */
	uint64_t gen; /* bumped by every change */
};

#define KVPOOL_INIT \
	{           \
	}

void kvpool_clear(struct kvpool *p);
/* Exchanges the contents of a and b. */
void kvpool_swap(struct kvpool *a, struct kvpool *b);

/*
 * Sets key to value. Returns 1 when the pool changed, 0 when the key
 * already held this value (the generation stays), or a negative errno:
 * -EINVAL a bad key (ic_kvp_key_ok), -E2BIG a value over IC_KVP_MAX_VALUE,
 * -ENOSPC over IC_KVP_MAX_KEYS keys or IC_KVP_MAX_POOL bytes, -ENOMEM.
 */
int kvpool_set(struct kvpool *p, const void *key, size_t klen, const void *value, size_t vlen);
/* Removes key: 1, or -ENOENT when it is not there. */
int kvpool_delete(struct kvpool *p, const void *key, size_t klen);
/* The entry of key, or NULL. */
const struct kvp_entry *kvpool_get(const struct kvpool *p, const void *key, size_t klen);

/* The index of the first entry whose key starts with prefix (plen 0: 0);
 * entries from there on match while kvp_has_prefix holds. */
size_t kvpool_find_prefix(const struct kvpool *p, const void *prefix, size_t plen);
bool kvp_has_prefix(const struct kvp_entry *e, const void *prefix, size_t plen);

/*
 * Calls fn once per difference that turns a into b, in key order: entry is
 * b's for a key set or changed, a's (with deleted true) for a key removed.
 */
typedef void kvpool_diff_fn(void *opaque, const struct kvp_entry *entry, bool deleted);
void kvpool_diff(const struct kvpool *a, const struct kvpool *b, kvpool_diff_fn *fn, void *opaque);

/* Appends one IC_KVP_SET frame per entry (seq 0, the pool's number, gen)
 * to b: a pool file's contents, or the body of a BEGIN ... COMMIT copy. */
void kvpool_encode(const struct kvpool *p, uint32_t pool, struct sess_buf *b);
/*
 * Fills the empty pool p from buf (SET frames of pool, as kvpool_encode
 * writes). Returns 0, -EPROTO when a frame is malformed, of another type
 * or pool, or repeats a key, a kvpool_set error when over a limit, or
 * -ENOMEM; p is empty again after an error.
 */
int kvpool_decode(struct kvpool *p, uint32_t pool, const uint8_t *buf, size_t len);

#endif /* VMSVC_KVPOOL_H */
