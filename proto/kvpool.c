/* SPDX-License-Identifier: MIT */
/* kvpool.c - one key-value exchange pool (kvpool.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ic.h"
#include "kvpool.h"

void kvpool_clear(struct kvpool *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->e[i].key);
		free(p->e[i].value);
	}
	free(p->e);
	*p = (struct kvpool){ .gen = p->gen };
}

void kvpool_swap(struct kvpool *a, struct kvpool *b)
{
	struct kvpool t = *a;

	*a = *b;
	*b = t;
}

static int key_cmp(const struct kvp_entry *e, const void *key, size_t klen)
{
	size_t n = e->key_len < klen ? e->key_len : klen;
	int c = n ? memcmp(e->key, key, n) : 0;

	if (c)
		return c;
	return e->key_len < klen ? -1 : e->key_len > klen ? 1 : 0;
}

/* The index of key, or where it would go (*found false). */
static size_t search(const struct kvpool *p, const void *key, size_t klen, bool *found)
{
	size_t lo = 0, hi = p->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(&p->e[mid], key, klen);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

/* Room for one more entry. */
static int reserve(struct kvpool *p)
{
	struct kvp_entry *e;
	size_t cap;

	if (p->n < p->cap)
		return 0;
	cap = p->cap ? p->cap * 2 : 16;
	e = realloc(p->e, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	p->e = e;
	p->cap = cap;
	return 0;
}

int kvpool_set(struct kvpool *p, const void *key, size_t klen, const void *value, size_t vlen)
{
	struct kvp_entry *e;
	size_t i, bytes;
	uint8_t *v;
	bool found;

	if (!ic_kvp_key_ok(key, klen))
		return -EINVAL;
	if (vlen > IC_KVP_MAX_VALUE)
		return -E2BIG;
	i = search(p, key, klen, &found);
	if (found) {
		e = &p->e[i];
		if (e->value_len == vlen && (vlen == 0 || memcmp(e->value, value, vlen) == 0))
			return 0;
		bytes = p->bytes - e->value_len + vlen;
	} else {
		if (p->n >= IC_KVP_MAX_KEYS)
			return -ENOSPC;
		bytes = p->bytes + klen + vlen;
	}
	if (bytes > IC_KVP_MAX_POOL)
		return -ENOSPC;
	if (!(v = dup_bytes(value, vlen)))
		return -ENOMEM;
	if (found) {
		e = &p->e[i];
		free(e->value);
	} else {
		uint8_t *k = dup_bytes(key, klen);
		if (!k || reserve(p) < 0) {
			free(k);
			free(v);
			return -ENOMEM;
		}
		memmove(&p->e[i + 1], &p->e[i], (p->n - i) * sizeof(*p->e));
		p->n++;
		e = &p->e[i];
		e->key = k;
		e->key_len = (uint32_t)klen;
	}
	e->value = v;
	e->value_len = (uint32_t)vlen;
	p->bytes = bytes;
	p->gen++;
	return 1;
}

int kvpool_delete(struct kvpool *p, const void *key, size_t klen)
{
	bool found;
	size_t i = search(p, key, klen, &found);

	if (!found)
		return -ENOENT;
	p->bytes -= p->e[i].key_len + p->e[i].value_len;
	free(p->e[i].key);
	free(p->e[i].value);
	memmove(&p->e[i], &p->e[i + 1], (p->n - i - 1) * sizeof(*p->e));
	p->n--;
	p->gen++;
	return 1;
}

const struct kvp_entry *kvpool_get(const struct kvpool *p, const void *key, size_t klen)
{
	bool found;
	size_t i = search(p, key, klen, &found);

	return found ? &p->e[i] : NULL;
}

bool kvp_has_prefix(const struct kvp_entry *e, const void *prefix, size_t plen)
{
	return e->key_len >= plen && (plen == 0 || memcmp(e->key, prefix, plen) == 0);
}

size_t kvpool_find_prefix(const struct kvpool *p, const void *prefix, size_t plen)
{
	bool found;

	/* Keys starting with prefix sort at or after prefix itself. */
	return search(p, prefix, plen, &found);
}

void kvpool_diff(const struct kvpool *a, const struct kvpool *b, kvpool_diff_fn *fn, void *opaque)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		int c = i == a->n   ? 1
			: j == b->n ? -1
				    : key_cmp(&a->e[i], b->e[j].key, b->e[j].key_len);
		if (c < 0) {
			fn(opaque, &a->e[i++], true);
		} else if (c > 0) {
			fn(opaque, &b->e[j++], false);
		} else {
			const struct kvp_entry *x = &a->e[i++], *y = &b->e[j++];
			if (x->value_len != y->value_len ||
			    (y->value_len && memcmp(x->value, y->value, y->value_len) != 0))
				fn(opaque, y, false);
		}
	}
}

void kvpool_encode(const struct kvpool *p, uint32_t pool, struct sess_buf *b)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct kvp_entry *e = &p->e[i];
		ic_enc_kvp(b, IC_KVP_SET,
			   &(struct ic_kvp){ .pool = pool,
					     .key = e->key,
					     .key_len = e->key_len,
					     .value = e->value,
					     .value_len = e->value_len,
					     .gen = p->gen });
	}
}

int kvpool_decode(struct kvpool *p, uint32_t pool, const uint8_t *buf, size_t len)
{
	struct sess_frame f;
	struct ic_kvp k;
	uint64_t gen = 0;
	long n;
	int r = 0;

	while (len > 0) {
		n = ic_frame_parse(buf, len, &f);
		if (n <= 0) {
			r = -EPROTO; /* a truncated file ends in the middle of a frame */
			break;
		}
		buf += n;
		len -= (size_t)n;
		if (f.type != IC_KVP_SET || ic_dec_kvp(&f, &k) < 0 || k.pool != pool ||
		    kvpool_get(p, k.key, k.key_len)) {
			r = -EPROTO;
			break;
		}
		r = kvpool_set(p, k.key, k.key_len, k.value, k.value_len);
		if (r < 0)
			break;
		r = 0;
		if (k.gen > gen)
			gen = k.gen;
	}
	if (r < 0)
		kvpool_clear(p);
	else if (gen > p->gen)
		p->gen = gen; /* go on counting from where the writer was */
	return r;
}
