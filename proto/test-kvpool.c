/* SPDX-License-Identifier: MIT */
/*
 * test-kvpool.c - unit tests of the key-value pool: order, limits (nothing
 * changes when one is hit), generations, prefixes, diffs and the pool file
 * format.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ic.h"
#include "kvpool.h"

static int set_str(struct kvpool *p, const char *k, const char *v)
{
	return kvpool_set(p, k, strlen(k), v, strlen(v));
}

static void assert_value(const struct kvpool *p, const char *k, const char *v)
{
	const struct kvp_entry *e = kvpool_get(p, k, strlen(k));

	assert_non_null(e);
	assert_int_equal(e->value_len, strlen(v));
	assert_memory_equal(e->value, v, strlen(v));
}

static void test_set_get_delete(void **state)
{
	struct kvpool p = KVPOOL_INIT;

	(void)state;
	assert_int_equal(set_str(&p, "b", "2"), 1);
	assert_int_equal(set_str(&p, "a", "1"), 1);
	assert_int_equal(set_str(&p, "ab", ""), 1);
	assert_int_equal(p.gen, 3);
	assert_int_equal(set_str(&p, "a", "1"), 0); /* same value: no change */
	assert_int_equal(p.gen, 3);
	assert_int_equal(set_str(&p, "a", "one"), 1);
	assert_int_equal(p.n, 3);
	assert_memory_equal(p.e[0].key, "a", 1);
	assert_memory_equal(p.e[1].key, "ab", 2);
	assert_memory_equal(p.e[2].key, "b", 1);
	assert_value(&p, "a", "one");
	assert_value(&p, "ab", "");
	assert_int_equal(p.bytes, 1 + 3 + 2 + 0 + 1 + 1);
	assert_null(kvpool_get(&p, "c", 1));
	assert_int_equal(kvpool_delete(&p, "c", 1), -ENOENT);
	assert_int_equal(kvpool_delete(&p, "ab", 2), 1);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.bytes, 1 + 3 + 1 + 1);
	assert_int_equal(p.gen, 5);
	kvpool_clear(&p);
	assert_int_equal(p.n, 0);
}

static void test_binary(void **state)
{
	struct kvpool p = KVPOOL_INIT;
	const uint8_t key[] = { 0xff, 0x01, '\n' }, val[] = { 0, 0xfe, 0, '\n' };
	const struct kvp_entry *e;

	(void)state;
	assert_int_equal(kvpool_set(&p, key, sizeof(key), val, sizeof(val)), 1);
	e = kvpool_get(&p, key, sizeof(key));
	assert_non_null(e);
	assert_int_equal(e->value_len, sizeof(val));
	assert_memory_equal(e->value, val, sizeof(val));
	assert_int_equal(kvpool_set(&p, "a\0b", 3, "x", 1), -EINVAL); /* NUL in a key */
	assert_int_equal(kvpool_set(&p, "", 0, "x", 1), -EINVAL);
	kvpool_clear(&p);
}

static void test_limits(void **state)
{
	struct kvpool p = KVPOOL_INIT;
	char key[IC_KVP_MAX_KEY + 1], name[32];
	uint8_t *big = calloc(1, IC_KVP_MAX_VALUE + 1);
	uint64_t gen;
	size_t bytes;
	int r;

	(void)state;
	assert_non_null(big);
	memset(key, 'k', sizeof(key));
	assert_int_equal(kvpool_set(&p, key, IC_KVP_MAX_KEY + 1, "v", 1), -EINVAL);
	assert_int_equal(kvpool_set(&p, key, IC_KVP_MAX_KEY, "v", 1), 1);
	assert_int_equal(kvpool_set(&p, "v", 1, big, IC_KVP_MAX_VALUE + 1), -E2BIG);
	assert_int_equal(kvpool_set(&p, "v", 1, big, IC_KVP_MAX_VALUE), 1);
	kvpool_clear(&p);

	/* 1 MiB per pool: 15 values of 64 KiB fit with their keys, 16 not. */
	for (int i = 0; i < 15; i++) {
		snprintf(name, sizeof(name), "%02d", i);
		assert_int_equal(kvpool_set(&p, name, 2, big, IC_KVP_MAX_VALUE), 1);
	}
	gen = p.gen;
	bytes = p.bytes;
	assert_int_equal(kvpool_set(&p, "zz", 2, big, IC_KVP_MAX_VALUE), -ENOSPC);
	assert_int_equal(p.gen, gen);
	assert_int_equal(p.bytes, bytes);
	assert_int_equal(kvpool_set(&p, "zz", 2, big, IC_KVP_MAX_POOL - bytes - 2), 1);
	assert_int_equal(p.bytes, IC_KVP_MAX_POOL);
	/* Growing an existing value over the limit fails the same way. */
	r = kvpool_set(&p, "zz", 2, big, IC_KVP_MAX_POOL - bytes - 1);
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(p.gen, gen + 1);
	assert_int_equal(kvpool_get(&p, "zz", 2)->value_len, IC_KVP_MAX_POOL - bytes - 2);
	kvpool_clear(&p);

	/* 4096 keys. */
	for (int i = 0; i < IC_KVP_MAX_KEYS; i++) {
		snprintf(name, sizeof(name), "key%05d", i);
		assert_int_equal(kvpool_set(&p, name, strlen(name), "", 0), 1);
	}
	assert_int_equal(kvpool_set(&p, "one-more", 8, "", 0), -ENOSPC);
	assert_int_equal(p.n, IC_KVP_MAX_KEYS);
	assert_int_equal(kvpool_set(&p, "key00000", 8, "replaced", 8), 1);
	kvpool_clear(&p);
	free(big);
}

static void test_prefix(void **state)
{
	struct kvpool p = KVPOOL_INIT;
	const char *keys[] = { "net/eth0", "net/lo", "net", "ne", "os", "net/eth1" };
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < 6; i++)
		assert_int_equal(set_str(&p, keys[i], "x"), 1);
	for (i = kvpool_find_prefix(&p, "net/", 4); i < p.n && kvp_has_prefix(&p.e[i], "net/", 4);
	     i++)
		n++;
	assert_int_equal(n, 3);
	assert_int_equal(kvpool_find_prefix(&p, "", 0), 0);
	assert_int_equal(kvpool_find_prefix(&p, "zzz", 3), p.n);
	kvpool_clear(&p);
}

struct diff_log {
	char text[256];
};

static void log_diff(void *opaque, const struct kvp_entry *e, bool deleted)
{
	struct diff_log *l = opaque;
	size_t len = strlen(l->text);

	snprintf(l->text + len, sizeof(l->text) - len, "%c%.*s=%.*s ", deleted ? '-' : '+',
		 (int)e->key_len, (const char *)e->key, (int)e->value_len, (const char *)e->value);
}

static void test_diff(void **state)
{
	struct kvpool a = KVPOOL_INIT, b = KVPOOL_INIT;
	struct diff_log l = { "" };

	(void)state;
	set_str(&a, "gone", "1");
	set_str(&a, "same", "2");
	set_str(&a, "changed", "3");
	set_str(&b, "same", "2");
	set_str(&b, "changed", "4");
	set_str(&b, "new", "5");
	kvpool_diff(&a, &b, log_diff, &l);
	assert_string_equal(l.text, "+changed=4 -gone=1 +new=5 ");
	l.text[0] = '\0';
	kvpool_diff(&b, &b, log_diff, &l);
	assert_string_equal(l.text, "");
	kvpool_swap(&a, &b);
	assert_value(&a, "new", "5");
	assert_value(&b, "gone", "1");
	kvpool_clear(&a);
	kvpool_clear(&b);
}

static void test_file(void **state)
{
	struct kvpool p = KVPOOL_INIT, q = KVPOOL_INIT;
	struct sess_buf b = { 0 };
	uint8_t *big = malloc(IC_KVP_MAX_VALUE);
	int r;

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < IC_KVP_MAX_VALUE; i++)
		big[i] = (uint8_t)(i * 7);
	set_str(&p, "a", "1");
	kvpool_set(&p, "big", 3, big, IC_KVP_MAX_VALUE);
	kvpool_set(&p, "empty", 5, "", 0);
	kvpool_encode(&p, IC_POOL_HOST, &b);
	assert_int_equal(b.err, 0);

	assert_int_equal(kvpool_decode(&q, IC_POOL_HOST, b.data, b.len), 0);
	assert_int_equal(q.n, 3);
	assert_int_equal(q.bytes, p.bytes);
	assert_true(q.gen >= p.gen);
	assert_value(&q, "a", "1");
	assert_value(&q, "empty", "");
	assert_memory_equal(kvpool_get(&q, "big", 3)->value, big, IC_KVP_MAX_VALUE);
	kvpool_clear(&q);

	/* Another pool's file, a truncated file, an empty file. */
	assert_int_equal(kvpool_decode(&q, IC_POOL_GUEST, b.data, b.len), -EPROTO);
	assert_int_equal(q.n, 0);
	assert_int_equal(kvpool_decode(&q, IC_POOL_HOST, b.data, b.len - 1), -EPROTO);
	assert_int_equal(q.n, 0);
	assert_int_equal(kvpool_decode(&q, IC_POOL_HOST, b.data, 0), 0);

	/* A repeated key. */
	ic_enc_kvp(&b, IC_KVP_SET,
		   &(struct ic_kvp){
			   .pool = IC_POOL_HOST, .key = (const uint8_t *)"a", .key_len = 1 });
	r = kvpool_decode(&q, IC_POOL_HOST, b.data, b.len);
	assert_int_equal(r, -EPROTO);
	assert_int_equal(q.n, 0);
	sess_buf_free(&b);
	kvpool_clear(&p);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_get_delete), cmocka_unit_test(test_binary),
		cmocka_unit_test(test_limits),	       cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_diff),	       cmocka_unit_test(test_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
