/* SPDX-License-Identifier: MIT */
/*
 * fuzz-kvpstate.c - libFuzzer harness for vmsvcd's side of the key-value
 * exchange (daemon/kvpstate.c): arbitrary bytes are split into frames by
 * ic_frame_parse and given to kvs_agent_frame as a hostile agent's would
 * be; a frame of type 0xffff stands for the connection ending. After each
 * frame every pool, the copies being received included, must be within the
 * protocol's limits, the host pool untouched, every change reported a
 * valid key, and an ERROR carry a real errno.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvpstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_change(void *opaque, uint32_t pool, const struct kvp_entry *e, bool deleted,
		      uint64_t gen)
{
	(void)opaque;
	(void)deleted;
	(void)gen;
	if (pool == IC_POOL_HOST || pool >= IC_NPOOLS || !ic_kvp_key_ok(e->key, e->key_len) ||
	    e->value_len > IC_KVP_MAX_VALUE)
		abort();
}

static void check_pool(const struct kvpool *p)
{
	size_t bytes = 0;

	if (p->n > IC_KVP_MAX_KEYS || p->bytes > IC_KVP_MAX_POOL)
		abort();
	for (size_t i = 0; i < p->n; i++)
		bytes += p->e[i].key_len + p->e[i].value_len;
	if (bytes != p->bytes)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvs s;
	struct kvs_error e;
	struct sess_frame f;
	long n;

	kvs_init(&s, &(struct kvs_hooks){ 0 });
	kvs_host_set(&s, "k", 1, "v", 1);
	s.hooks.change = on_change; /* from here on, only the agent's pools change */
	while (size > 0 && (n = ic_frame_parse(data, size, &f)) > 0) {
		data += n;
		size -= (size_t)n;
		if (f.type == 0xffff) {
			kvs_agent_gone(&s);
			continue;
		}
		if (kvs_agent_frame(&s, &f, &e) == 0 && e.err && (e.err > 4095 || e.err == 0))
			abort();
		for (int p = 0; p < IC_NPOOLS; p++) {
			check_pool(&s.pool[p]);
			check_pool(&s.in[p].pool);
		}
		if (s.pool[IC_POOL_HOST].n != 1 || s.in[IC_POOL_HOST].active)
			abort();
	}
	kvs_clear(&s);
	return 0;
}
