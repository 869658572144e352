/* SPDX-License-Identifier: MIT */
/*
 * agent-kvp.c - the pools and the host link (agent-kvp.h).
 *
 * Invariants: a listener hears of a change only once it is made (and, for
 * the guest pool, saved); a failed change changes nothing, the generation
 * included. On the link nothing of ours goes out before the pools went
 * whole (synced), and after a STATE off nothing at all; a link whose
 * queue passed AKVP_LINK_BACKLOG stops sending single changes (stalled)
 * and sends its pools whole again once the host has read the queue: the
 * host ends up with the same pools, and the agent's memory stays bounded
 * whatever the host does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-kvp-files.h"
#include "agent-fz.h"
#include "agent-kvp.h"
#include "agent-log.h"
#include "util.h"

#define MAX_LISTENERS 8
/* A stalled link's queue must be this small before the pools go again. */
#define LINK_LOW_WATER (64 * 1024)

struct listener {
	akvp_change_fn fn;
	void *ctx;
};

struct akvp {
	struct kvpool pools[IC_NPOOLS];
	char *guest_file;
	struct listener ls[MAX_LISTENERS];
	size_t nls;
	/* the host link */
	struct aic *link; /* the connection after the host's HELLO, NULL */
	bool synced;	  /* our pools went whole since the service was on */
	bool stalled;	  /* over AKVP_LINK_BACKLOG: whole again once drained */
	bool copying;	  /* between the host's BEGIN and COMMIT */
	int copy_err;	  /* the first refusal in this copy */
	struct kvpool copy;
};

struct akvp *akvp_new(const char *guest_file)
{
	struct akvp *k = calloc(1, sizeof(*k));
	char why[512];
	int r;

	if (!k)
		return NULL;
	if (guest_file && !(k->guest_file = strdup(guest_file))) {
		free(k);
		return NULL;
	}
	if (!guest_file)
		return k;
	r = akvf_load_pool(guest_file, &k->pools[IC_POOL_GUEST], IC_POOL_GUEST, why, sizeof(why));
	if (r < 0)
		alog("kvp: %s", why);
	else
		alog_debug("kvp: the guest pool holds %zu keys (%s)", k->pools[IC_POOL_GUEST].n,
			   guest_file);
	return k;
}

struct akvp *akvp_free(struct akvp *k)
{
	if (!k)
		return NULL;
	for (int i = 0; i < IC_NPOOLS; i++)
		kvpool_clear(&k->pools[i]);
	kvpool_clear(&k->copy);
	free(k->guest_file);
	free(k);
	return NULL;
}

int akvp_listen(struct akvp *k, akvp_change_fn fn, void *ctx)
{
	if (k->nls == MAX_LISTENERS)
		return -ENOSPC;
	k->ls[k->nls++] = (struct listener){ fn, ctx };
	return 0;
}

void akvp_unlisten(struct akvp *k, akvp_change_fn fn, void *ctx)
{
	for (size_t i = 0; i < k->nls; i++)
		if (k->ls[i].fn == fn && k->ls[i].ctx == ctx) {
			memmove(&k->ls[i], &k->ls[i + 1], (k->nls - i - 1) * sizeof(k->ls[0]));
			k->nls--;
			return;
		}
}

const struct kvpool *akvp_pool(const struct akvp *k, uint32_t pool)
{
	return &k->pools[pool];
}

const struct kvpool *akvp_pools(const struct akvp *k)
{
	return k->pools;
}

bool akvp_link_synced(const struct akvp *k)
{
	return k->link && k->synced && !k->stalled && aic_enabled(k->link);
}

/* ---- the link: what goes to the host ---- */

/* Our two pools whole: BEGIN, a SET per key, COMMIT. */
static void send_whole(struct akvp *k)
{
	static const uint32_t ours[] = { IC_POOL_GUEST, IC_POOL_INTRINSIC };
	struct sess_buf *b = aic_out(k->link);

	for (size_t i = 0; i < ARRAY_SIZE(ours); i++) {
		const struct kvpool *p = &k->pools[ours[i]];

		ic_enc_kvp(b, IC_KVP_BEGIN, &(struct ic_kvp){ .pool = ours[i] });
		kvpool_encode(p, ours[i], b);
		ic_enc_kvp(b, IC_KVP_COMMIT, &(struct ic_kvp){ .pool = ours[i], .gen = p->gen });
	}
	k->synced = true;
	k->stalled = false;
	alog_debug("kvp: sent the guest pool (%zu keys) and the intrinsic pool (%zu keys) whole",
		   k->pools[IC_POOL_GUEST].n, k->pools[IC_POOL_INTRINSIC].n);
}

/* One change of ours to the host, when the link is ready for it. */
static void link_change(struct akvp *k, uint32_t pool, const struct kvp_entry *e, bool deleted,
			uint64_t gen)
{
	struct sess_buf *b;

	if (!k->link || !k->synced || k->stalled || !aic_enabled(k->link) || pool == IC_POOL_HOST)
		return;
	b = aic_out(k->link);
	if (b->len > AKVP_LINK_BACKLOG) {
		alog("kvp: the host reads too slowly (%zu bytes queued): the pools go whole again "
		     "once it has caught up",
		     b->len);
		k->stalled = true;
		aic_set_deadline(k->link, now_ms() + AKVP_LINK_DRAIN_MS);
		return;
	}
	ic_enc_kvp(b, deleted ? IC_KVP_DELETE : IC_KVP_SET,
		   &(struct ic_kvp){ .pool = pool,
				     .key = e->key,
				     .key_len = e->key_len,
				     .value = e->value,
				     .value_len = deleted ? 0 : e->value_len,
				     .gen = gen });
}

static void tell(struct akvp *k, uint32_t pool, const struct kvp_entry *e, bool deleted,
		 uint64_t gen)
{
	for (size_t i = 0; i < k->nls; i++)
		k->ls[i].fn(k->ls[i].ctx, pool, e, deleted, gen);
	link_change(k, pool, e, deleted, gen);
}

/* Tells the deletion of key (the entry is gone already). */
static void tell_deleted(struct akvp *k, uint32_t pool, const void *key, size_t klen)
{
	uint8_t copy[IC_KVP_MAX_KEY];
	struct kvp_entry e = { .key = copy, .key_len = (uint32_t)klen, .value = copy };

	memcpy(copy, key, klen);
	tell(k, pool, &e, true, k->pools[pool].gen);
}

struct diff_ctx {
	struct akvp *k;
	uint32_t pool;
	size_t n;
};

static void count_diff(void *opaque, const struct kvp_entry *e, bool deleted)
{
	((struct diff_ctx *)opaque)->n++;
}

static void tell_diff(void *opaque, const struct kvp_entry *e, bool deleted)
{
	struct diff_ctx *d = opaque;

	tell(d->k, d->pool, e, deleted, d->k->pools[d->pool].gen);
}

/* Replaces pool by fresh (left empty): the differences are told, with the
 * generation gen (0: the old one plus one per difference). */
static void replace(struct akvp *k, uint32_t pool, struct kvpool *fresh, uint64_t gen)
{
	struct diff_ctx d = { .k = k, .pool = pool };

	kvpool_diff(&k->pools[pool], fresh, count_diff, &d);
	if (d.n == 0) {
		if (gen)
			k->pools[pool].gen = gen;
		kvpool_clear(fresh);
		return;
	}
	fresh->gen = gen ? gen : k->pools[pool].gen + d.n;
	kvpool_swap(&k->pools[pool], fresh);
	/* fresh holds the old pool now: its entries stay valid while told */
	kvpool_diff(fresh, &k->pools[pool], tell_diff, &d);
	kvpool_clear(fresh);
}

void akvp_intrinsic_replace(struct akvp *k, struct kvpool *fresh)
{
	replace(k, IC_POOL_INTRINSIC, fresh, 0);
}

/* ---- changes and their limits ---- */

/* Why kvpool_set refused (r) a key of klen bytes and a value of vlen in p. */
static void limit_why(const struct kvpool *p, uint32_t pool, int r, size_t klen, size_t vlen,
		      char *why, size_t size)
{
	if (r == -EINVAL) {
		snprintf(why, size, "a key is 1-%d bytes without NUL (this one: %zu)",
			 IC_KVP_MAX_KEY, klen);
	} else if (r == -E2BIG) {
		snprintf(why, size, "the value is %zu bytes, over the limit of %d", vlen,
			 IC_KVP_MAX_VALUE);
	} else if (r == -ENOSPC && p->n >= IC_KVP_MAX_KEYS) {
		snprintf(why, size, "the %s pool holds %d keys, its limit", ic_pool_name(pool),
			 IC_KVP_MAX_KEYS);
	} else if (r == -ENOSPC) {
		snprintf(why, size,
			 "the %s pool would hold more than %d bytes of keys and values (it holds "
			 "%zu)",
			 ic_pool_name(pool), IC_KVP_MAX_POOL, p->bytes);
	} else {
		snprintf(why, size, "%s", strerror(-r));
	}
}

static uint8_t *dup_value(const struct kvp_entry *e)
{
	uint8_t *v = malloc(e->value_len ? e->value_len : 1);

	if (v && e->value_len)
		memcpy(v, e->value, e->value_len);
	return v;
}

/* Saves the guest pool, or undoes the change that was just made (the key
 * held old[0..olen) before, or nothing when old is NULL). */
static int save_or_undo(struct akvp *k, const void *key, size_t klen, const uint8_t *old,
			size_t olen, uint64_t gen, char *why, size_t size)
{
	struct kvpool *p = &k->pools[IC_POOL_GUEST];
	int r;

	if (!k->guest_file)
		return 0;
	if (afz_frozen()) { /* writing would wait for the thaw, and the worker with it */
		snprintf(why, size,
			 "the guest's filesystems are frozen for a backup; try again after the "
			 "thaw");
		r = -EBUSY;
	} else {
		r = akvf_save_pool(k->guest_file, p, IC_POOL_GUEST, why, size);
	}
	if (r == 0)
		return 0;
	if ((old ? kvpool_set(p, key, klen, old, olen) : kvpool_delete(p, key, klen)) < 0)
		alog("kvp: out of memory undoing a change of the guest pool: it differs from %s",
		     k->guest_file);
	p->gen = gen;
	alog("kvp: %s", why);
	return r;
}

int akvp_guest_set(struct akvp *k, const void *key, size_t klen, const void *value, size_t vlen,
		   char *why, size_t size)
{
	struct kvpool *p = &k->pools[IC_POOL_GUEST];
	const struct kvp_entry *e = ic_kvp_key_ok(key, klen) ? kvpool_get(p, key, klen) : NULL;
	_cleanup_free_ uint8_t *old = e ? dup_value(e) : NULL;
	size_t olen = e ? e->value_len : 0;
	uint64_t gen = p->gen;
	int r;

	if (e && !old)
		return snprintf(why, size, "out of memory"), -ENOMEM;
	r = kvpool_set(p, key, klen, value, vlen);
	if (r < 0) {
		limit_why(p, IC_POOL_GUEST, r, klen, vlen, why, size);
		return r;
	}
	if (r == 0)
		return 0;
	r = save_or_undo(k, key, klen, old, olen, gen, why, size);
	if (r < 0)
		return r;
	tell(k, IC_POOL_GUEST, kvpool_get(p, key, klen), false, p->gen);
	return 1;
}

int akvp_guest_delete(struct akvp *k, const void *key, size_t klen, char *why, size_t size)
{
	struct kvpool *p = &k->pools[IC_POOL_GUEST];
	const struct kvp_entry *e = ic_kvp_key_ok(key, klen) ? kvpool_get(p, key, klen) : NULL;
	_cleanup_free_ uint8_t *old = e ? dup_value(e) : NULL;
	size_t olen = e ? e->value_len : 0;
	uint64_t gen = p->gen;
	int r;

	if (!e)
		return snprintf(why, size, "no such key in the guest pool"), -ENOENT;
	if (!old)
		return snprintf(why, size, "out of memory"), -ENOMEM;
	kvpool_delete(p, key, klen);
	r = save_or_undo(k, key, klen, old, olen, gen, why, size);
	if (r < 0)
		return r;
	tell_deleted(k, IC_POOL_GUEST, key, klen);
	return 1;
}

/* ---- the link: what comes from the host ---- */

static void forget_copy(struct akvp *k)
{
	k->copying = false;
	k->copy_err = 0;
	kvpool_clear(&k->copy);
}

static int host_set(struct aic *c, struct akvp *k, const struct ic_kvp *x)
{
	struct kvpool *p = k->copying ? &k->copy : &k->pools[IC_POOL_HOST];
	char why[256];
	int r = kvpool_set(p, x->key, x->key_len, x->value, x->value_len);

	if (r < 0) {
		limit_why(p, IC_POOL_HOST, r, x->key_len, x->value_len, why, sizeof(why));
		aic_set_why(c, "%s%s", why,
			    k->copying ? "; the guest keeps its previous copy"
				       : "; nothing changed");
		if (k->copying && !k->copy_err)
			k->copy_err = r;
		return r == -EINVAL ? -EPROTO : r;
	}
	if (r == 0 || k->copying)
		return 0;
	if (x->gen)
		p->gen = x->gen;
	tell(k, IC_POOL_HOST, kvpool_get(p, x->key, x->key_len), false, p->gen);
	return 0;
}

static int host_delete(struct akvp *k, const struct ic_kvp *x)
{
	struct kvpool *p = k->copying ? &k->copy : &k->pools[IC_POOL_HOST];

	/* a key the copy lacks already: nothing to do, and nothing to say */
	if (kvpool_delete(p, x->key, x->key_len) < 0 || k->copying)
		return 0;
	if (x->gen)
		p->gen = x->gen;
	tell_deleted(k, IC_POOL_HOST, x->key, x->key_len);
	return 0;
}

static int host_commit(struct aic *c, struct akvp *k, const struct ic_kvp *x)
{
	int r = k->copy_err;

	if (!k->copying) {
		aic_set_why(c, "COMMIT without BEGIN");
		return -EPROTO;
	}
	if (r < 0) {
		forget_copy(k);
		aic_set_why(c,
			    "the copy of the host pool broke a limit (%s): the guest keeps its "
			    "previous copy",
			    strerror(-r));
		return r;
	}
	k->copying = false;
	replace(k, IC_POOL_HOST, &k->copy, x->gen);
	forget_copy(k);
	alog_debug("kvp: the host pool has %zu keys (generation %llu)", k->pools[IC_POOL_HOST].n,
		   (unsigned long long)k->pools[IC_POOL_HOST].gen);
	return 0;
}

static int kvp_frame(struct aic *c, const struct sess_frame *f, uint64_t now)
{
	struct akvp *k = aic_svc(c);
	struct ic_kvp x;
	int r;

	if (f->type < IC_KVP_SET || f->type > IC_KVP_COMMIT)
		return -EOPNOTSUPP;
	if (!aic_enabled(c))
		return 0; /* off: what the host sends is ignored */
	r = ic_dec_kvp(f, &x);
	if (r == -E2BIG) {
		aic_set_why(c, "a key is at most %d bytes and a value at most %d: nothing changed",
			    IC_KVP_MAX_KEY, IC_KVP_MAX_VALUE);
		return r;
	}
	if (r < 0) {
		aic_set_why(c, "malformed %s", ic_type_name(f->type));
		return -EPROTO;
	}
	if (x.pool != IC_POOL_HOST) {
		aic_set_why(c, "the %s pool is %s: the host writes only the host pool",
			    ic_pool_name(x.pool),
			    x.pool == IC_POOL_GUEST ? "the guest's" : "filled by the guest agent");
		return -EPERM;
	}
	switch (f->type) {
	case IC_KVP_SET:
		return host_set(c, k, &x);
	case IC_KVP_DELETE:
		return host_delete(k, &x);
	case IC_KVP_BEGIN:
		forget_copy(k);
		k->copying = true;
		return 0;
	default:
		return host_commit(c, k, &x);
	}
}

static void kvp_ready(struct aic *c, uint64_t now)
{
	struct akvp *k = aic_svc(c);

	k->link = c;
	k->synced = k->stalled = false;
	forget_copy(k);
	/* the STATE that follows the host's HELLO decides; a host that
	 * sends none gets the pools all the same, as the heartbeat does */
	aic_set_deadline(c, now + 200);
}

static void kvp_state(struct aic *c, const struct ic_state *s, uint64_t now)
{
	struct akvp *k = aic_svc(c);

	if (!s->enabled) {
		k->synced = k->stalled = false;
		forget_copy(k);
		aic_set_deadline(c, 0);
		return;
	}
	if (!k->synced)
		send_whole(k);
}

static void kvp_tick(struct aic *c, uint64_t now)
{
	struct akvp *k = aic_svc(c);

	if (!aic_enabled(c))
		return;
	if (k->stalled && aic_out(c)->len > LINK_LOW_WATER) {
		aic_set_deadline(c, now + AKVP_LINK_DRAIN_MS);
		return;
	}
	if (!k->synced || k->stalled)
		send_whole(k);
}

static void kvp_closed(struct aic *c)
{
	struct akvp *k = aic_svc(c);

	if (k->link != c)
		return;
	k->link = NULL;
	k->synced = k->stalled = false;
	forget_copy(k);
}

const struct aic_ops akvp_ops = {
	.name = "kvp",
	.port = IC_KVP_PORT,
	.ready = kvp_ready,
	.state = kvp_state,
	.frame = kvp_frame,
	.tick = kvp_tick,
	.closed = kvp_closed,
};
