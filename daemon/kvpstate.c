/* SPDX-License-Identifier: MIT */
/* kvpstate.c - one VM's key-value exchange pools (kvpstate.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvpstate.h"

void kvs_init(struct kvs *s, const struct kvs_hooks *hooks)
{
	*s = (struct kvs){ .hooks = *hooks };
}

void kvs_clear(struct kvs *s)
{
	for (int i = 0; i < IC_NPOOLS; i++) {
		kvpool_clear(&s->pool[i]);
		kvpool_clear(&s->in[i].pool);
	}
}

static void changed(struct kvs *s, uint32_t pool, const struct kvp_entry *e, bool deleted)
{
	if (s->hooks.change)
		s->hooks.change(s->hooks.opaque, pool, e, deleted, s->pool[pool].gen);
}

/* ---- the agent's frames ---- */

static void refuse(struct kvs_error *e, uint32_t seq, uint32_t err, const char *fmt,
		   const char *pool)
{
	e->err = err;
	e->seq = seq;
	snprintf(e->message, sizeof(e->message), fmt, pool);
}

/* Drops the copy being received into pool (if any). */
static void drop_incoming(struct kvs *s, uint32_t pool)
{
	struct kvs_incoming *in = &s->in[pool];

	kvpool_clear(&in->pool);
	in->pool.gen = 0;
	in->active = false;
	in->spoiled = 0;
}

/* Marks the copy being received spoiled by err: its rest is dropped. */
static void spoil(struct kvs *s, uint32_t pool, uint32_t err)
{
	struct kvs_incoming *in = &s->in[pool];

	kvpool_clear(&in->pool);
	if (!in->spoiled)
		in->spoiled = err;
}

static void diff_cb(void *opaque, const struct kvp_entry *entry, bool deleted)
{
	void **arg = opaque;
	struct kvs *s = arg[0];
	uint32_t pool = *(uint32_t *)arg[1];

	changed(s, pool, entry, deleted);
}

static void on_commit(struct kvs *s, const struct ic_kvp *k, struct kvs_error *e)
{
	struct kvs_incoming *in = &s->in[k->pool];
	struct kvpool *cur = &s->pool[k->pool];
	const char *name = ic_pool_name(k->pool);
	uint32_t pool = k->pool;
	void *arg[2] = { s, &pool };

	if (!in->active) {
		refuse(e, k->seq, EPROTO, "COMMIT of the %s pool without BEGIN", name);
		return;
	}
	if (in->spoiled) {
		uint32_t err = in->spoiled;
		drop_incoming(s, pool);
		refuse(e, k->seq, err,
		       "the copy of the %s pool went over the limits; vmsvcd keeps the previous "
		       "one",
		       name);
		return;
	}
	/* the owner's generation; else one more than ours */
	in->pool.gen = k->gen ? k->gen : cur->gen + 1;
	kvpool_swap(cur, &in->pool);
	s->stale[pool] = false;
	/* report against the old copy, now in in->pool, before it goes; the
	 * change hook sees the new generation (cur's) */
	kvpool_diff(&in->pool, cur, diff_cb, arg);
	drop_incoming(s, pool);
}

/* A copy of an entry (key and value), or an entry with NULL key. */
static struct kvp_entry entry_dup(const struct kvp_entry *e)
{
	struct kvp_entry c = { .key_len = e->key_len, .value_len = e->value_len };

	c.key = malloc(e->key_len);
	c.value = malloc(e->value_len ? e->value_len : 1);
	if (!c.key || !c.value) {
		free(c.key);
		free(c.value);
		return (struct kvp_entry){ 0 };
	}
	memcpy(c.key, e->key, e->key_len);
	memcpy(c.value, e->value, e->value_len);
	return c;
}

static void entry_free(struct kvp_entry *e)
{
	free(e->key);
	free(e->value);
	*e = (struct kvp_entry){ 0 };
}

/* kvpool_set's or kvpool_delete's error as an errno for ERROR. */
static uint32_t wire_err(int r)
{
	return r == -ENOSPC ? ENOSPC : r == -E2BIG ? E2BIG : r == -ENOMEM ? ENOMEM : EPROTO;
}

/* SET or DELETE, into the copy being received or the copy in use. */
static void on_change(struct kvs *s, uint16_t type, const struct ic_kvp *k, struct kvs_error *e)
{
	struct kvs_incoming *in = &s->in[k->pool];
	struct kvpool *p = in->active ? &in->pool : &s->pool[k->pool];
	struct kvp_entry old = { 0 };
	const struct kvp_entry *x;
	int r;

	if (in->active && in->spoiled)
		return; /* the rest of a spoiled copy */
	if (type == IC_KVP_DELETE) {
		if (!(x = kvpool_get(p, k->key, k->key_len)))
			return; /* already gone: nothing to tell */
		if (!in->active && !(old = entry_dup(x)).key)
			r = -ENOMEM;
		else
			r = kvpool_delete(p, k->key, k->key_len);
	} else {
		r = kvpool_set(p, k->key, k->key_len, k->value, k->value_len);
	}
	if (r < 0) {
		if (in->active)
			spoil(s, k->pool, wire_err(r));
		refuse(e, k->seq, wire_err(r),
		       r == -ENOSPC ? "the %s pool would go over 4096 keys or 1 MiB of keys and "
				      "values; the change is refused"
				    : "vmsvcd cannot take this change of the %s pool",
		       ic_pool_name(k->pool));
	} else if (!in->active && r == 1) {
		if (k->gen)
			p->gen = k->gen; /* the owner's count */
		if (type == IC_KVP_DELETE)
			changed(s, k->pool, &old, true);
		else
			changed(s, k->pool, kvpool_get(p, k->key, k->key_len), false);
	}
	entry_free(&old);
}

int kvs_agent_frame(struct kvs *s, const struct sess_frame *f, struct kvs_error *e)
{
	struct ic_kvp k;
	int r;

	*e = (struct kvs_error){ 0 };
	if (f->type < IC_KVP_SET || f->type > IC_KVP_COMMIT)
		return -EOPNOTSUPP;
	r = ic_dec_kvp(f, &k);
	if (r == -E2BIG) {
		/* which pool is not known for sure: every copy under way is
		 * spoiled (the agent sends one at a time) */
		for (uint32_t p = 0; p < IC_NPOOLS; p++)
			if (s->in[p].active)
				spoil(s, p, E2BIG);
		refuse(e, k.seq, E2BIG, "%s: keys are 1-512 bytes, values at most 64 KiB",
		       "a key or value is too long");
		return 0;
	}
	if (r < 0)
		return r;
	if (k.pool == IC_POOL_HOST) {
		refuse(e, k.seq, EPERM, "the %s pool is written on the host only", "host");
		return 0;
	}
	switch (f->type) {
	case IC_KVP_BEGIN:
		drop_incoming(s, k.pool);
		s->in[k.pool].active = true;
		break;
	case IC_KVP_COMMIT:
		on_commit(s, &k, e);
		break;
	default:
		on_change(s, f->type, &k, e);
		break;
	}
	return 0;
}

void kvs_agent_gone(struct kvs *s)
{
	for (uint32_t p = 0; p < IC_NPOOLS; p++) {
		drop_incoming(s, p);
		if (p != IC_POOL_HOST)
			s->stale[p] = true;
	}
}

/* ---- the host pool ---- */

static int save(struct kvs *s)
{
	return s->hooks.save ? s->hooks.save(s->hooks.opaque, &s->pool[IC_POOL_HOST]) : 0;
}

int kvs_host_set(struct kvs *s, const void *key, size_t klen, const void *value, size_t vlen)
{
	struct kvpool *p = &s->pool[IC_POOL_HOST];
	const struct kvp_entry *x = kvpool_get(p, key, klen);
	struct kvp_entry old = { 0 };
	int r, e;

	if (x && x->value_len == vlen && (vlen == 0 || memcmp(x->value, value, vlen) == 0))
		return 0;
	if (x && !(old = entry_dup(x)).key)
		return -ENOMEM;
	r = kvpool_set(p, key, klen, value, vlen);
	if (r == 1 && (e = save(s)) < 0) {
		/* back to what is stored (the old value fits: it was there) */
		if (old.key)
			kvpool_set(p, old.key, old.key_len, old.value, old.value_len);
		else
			kvpool_delete(p, key, klen);
		r = e;
	} else if (r == 1) {
		changed(s, IC_POOL_HOST, kvpool_get(p, key, klen), false);
	}
	entry_free(&old);
	return r;
}

int kvs_host_delete(struct kvs *s, const void *key, size_t klen)
{
	struct kvpool *p = &s->pool[IC_POOL_HOST];
	const struct kvp_entry *x = kvpool_get(p, key, klen);
	struct kvp_entry old;
	int r;

	if (!x)
		return -ENOENT;
	old = entry_dup(x);
	if (!old.key)
		return -ENOMEM;
	kvpool_delete(p, key, klen);
	r = save(s);
	if (r < 0)
		kvpool_set(p, old.key, old.key_len, old.value, old.value_len);
	else
		changed(s, IC_POOL_HOST, &old, true);
	entry_free(&old);
	return r < 0 ? r : 1;
}

int kvs_host_load(struct kvs *s, const uint8_t *buf, size_t len)
{
	return kvpool_decode(&s->pool[IC_POOL_HOST], IC_POOL_HOST, buf, len);
}

void kvs_host_copy(const struct kvs *s, struct sess_buf *b)
{
	const struct kvpool *p = &s->pool[IC_POOL_HOST];

	ic_enc_kvp(b, IC_KVP_BEGIN, &(struct ic_kvp){ .pool = IC_POOL_HOST });
	kvpool_encode(p, IC_POOL_HOST, b);
	ic_enc_kvp(b, IC_KVP_COMMIT, &(struct ic_kvp){ .pool = IC_POOL_HOST, .gen = p->gen });
}
