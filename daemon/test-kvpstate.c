/* SPDX-License-Identifier: MIT */
/*
 * test-kvpstate.c - unit tests of a VM's key-value exchange state as
 * vmsvcd holds it (kvpstate.c): whole copies from the agent replace the
 * old ones only at COMMIT and report their differences, a copy cut short
 * or over a limit leaves the old one, the host pool is the host's, copies
 * go stale, host changes are undone when they cannot be stored; and the
 * bytes in JSON (kvpjson.c): when a string, when base64, and how long.
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
#include "kvpjson.h"
#include "kvpstate.h"

/* What the hooks saw. */
struct seen {
	char log[4096]; /* "+pool:key=value@gen -pool:key@gen " */
	int saves;
	int save_result;
	size_t saved_keys;
};

static void on_change(void *opaque, uint32_t pool, const struct kvp_entry *e, bool deleted,
		      uint64_t gen)
{
	struct seen *s = opaque;
	size_t n = strlen(s->log);

	if (deleted)
		snprintf(s->log + n, sizeof(s->log) - n, "-%s:%.*s@%llu ", ic_pool_name(pool),
			 (int)e->key_len, (const char *)e->key, (unsigned long long)gen);
	else
		snprintf(s->log + n, sizeof(s->log) - n, "+%s:%.*s=%.*s@%llu ", ic_pool_name(pool),
			 (int)e->key_len, (const char *)e->key, (int)e->value_len,
			 (const char *)e->value, (unsigned long long)gen);
}

static int on_save(void *opaque, const struct kvpool *host)
{
	struct seen *s = opaque;

	s->saves++;
	if (s->save_result == 0)
		s->saved_keys = host->n;
	return s->save_result;
}

static void init(struct kvs *k, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	kvs_init(k, &(struct kvs_hooks){ .change = on_change, .save = on_save, .opaque = s });
}

/* Feeds one frame of type to k as the agent would send it. */
static int feed(struct kvs *k, uint16_t type, uint32_t pool, const char *key, const char *value,
		uint64_t gen, struct kvs_error *e)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	int r;

	ic_enc_kvp(&b, type,
		   &(struct ic_kvp){ .pool = pool,
				     .key = (const uint8_t *)key,
				     .key_len = key ? (uint32_t)strlen(key) : 0,
				     .value = (const uint8_t *)value,
				     .value_len = value ? (uint32_t)strlen(value) : 0,
				     .gen = gen });
	assert_int_equal(b.err, 0);
	assert_true(ic_frame_parse(b.data, b.len, &f) > 0);
	r = kvs_agent_frame(k, &f, e);
	sess_buf_free(&b);
	return r;
}

/* Feeds a frame and checks that nothing was refused. */
static void feed_ok(struct kvs *k, uint16_t type, uint32_t pool, const char *key, const char *value,
		    uint64_t gen)
{
	struct kvs_error e;

	assert_int_equal(feed(k, type, pool, key, value, gen, &e), 0);
	if (e.err)
		fail_msg("refused: %s", e.message);
}

static void assert_value(const struct kvpool *p, const char *k, const char *v)
{
	const struct kvp_entry *e = kvpool_get(p, k, strlen(k));

	assert_non_null(e);
	assert_int_equal(e->value_len, strlen(v));
	assert_memory_equal(e->value, v, strlen(v));
}

static void copy_of(struct kvs *k, uint32_t pool, const char *const *kv, uint64_t gen)
{
	feed_ok(k, IC_KVP_BEGIN, pool, NULL, NULL, 0);
	for (; *kv; kv += 2)
		feed_ok(k, IC_KVP_SET, pool, kv[0], kv[1], 0);
	feed_ok(k, IC_KVP_COMMIT, pool, NULL, NULL, gen);
}

static void test_a_copy_replaces_the_old_one_at_commit_and_reports_the_differences(void **st)
{
	struct kvs k;
	struct seen s;

	(void)st;
	init(&k, &s);
	copy_of(&k, IC_POOL_GUEST, (const char *[]){ "a", "1", "b", "2", "c", "3", NULL }, 7);
	assert_string_equal(s.log, "+guest:a=1@7 +guest:b=2@7 +guest:c=3@7 ");
	assert_int_equal(k.pool[IC_POOL_GUEST].gen, 7);
	s.log[0] = '\0';
	/* a new copy: nothing changes until its COMMIT */
	feed_ok(&k, IC_KVP_BEGIN, IC_POOL_GUEST, NULL, NULL, 0);
	feed_ok(&k, IC_KVP_SET, IC_POOL_GUEST, "b", "two", 0);
	feed_ok(&k, IC_KVP_SET, IC_POOL_GUEST, "c", "3", 0);
	feed_ok(&k, IC_KVP_SET, IC_POOL_GUEST, "d", "4", 0);
	assert_string_equal(s.log, "");
	assert_int_equal(k.pool[IC_POOL_GUEST].n, 3);
	assert_value(&k.pool[IC_POOL_GUEST], "b", "2");
	feed_ok(&k, IC_KVP_COMMIT, IC_POOL_GUEST, NULL, NULL, 9);
	assert_string_equal(s.log, "-guest:a@9 +guest:b=two@9 +guest:d=4@9 ");
	assert_int_equal(k.pool[IC_POOL_GUEST].n, 3);
	assert_null(kvpool_get(&k.pool[IC_POOL_GUEST], "a", 1));
	assert_value(&k.pool[IC_POOL_GUEST], "d", "4");
	assert_int_equal(k.in[IC_POOL_GUEST].pool.n, 0); /* nothing left buffered */
	/* the other pool is its own */
	assert_int_equal(k.pool[IC_POOL_INTRINSIC].n, 0);
	assert_int_equal(s.saves, 0); /* copies are never stored */
	kvs_clear(&k);
}

static void test_changes_outside_a_copy_apply_at_once_with_the_owners_generation(void **st)
{
	struct kvs k;
	struct seen s;
	struct kvs_error e;

	(void)st;
	init(&k, &s);
	feed_ok(&k, IC_KVP_SET, IC_POOL_INTRINSIC, "HostName", "g1", 4);
	feed_ok(&k, IC_KVP_SET, IC_POOL_INTRINSIC, "HostName", "g1", 5); /* same: silent */
	feed_ok(&k, IC_KVP_DELETE, IC_POOL_INTRINSIC, "HostName", NULL, 6);
	assert_int_equal(feed(&k, IC_KVP_DELETE, IC_POOL_INTRINSIC, "gone", NULL, 7, &e), 0);
	assert_int_equal(e.err, 0); /* deleting what is not there: nothing to say */
	assert_string_equal(s.log, "+intrinsic:HostName=g1@4 -intrinsic:HostName@6 ");
	kvs_clear(&k);
}

static void test_a_connection_ending_mid_copy_keeps_the_old_copy_marked_stale(void **st)
{
	struct kvs k;
	struct seen s;

	(void)st;
	init(&k, &s);
	copy_of(&k, IC_POOL_GUEST, (const char *[]){ "a", "1", NULL }, 1);
	assert_false(k.stale[IC_POOL_GUEST]);
	feed_ok(&k, IC_KVP_BEGIN, IC_POOL_GUEST, NULL, NULL, 0);
	feed_ok(&k, IC_KVP_SET, IC_POOL_GUEST, "z", "9", 0);
	s.log[0] = '\0';
	kvs_agent_gone(&k);
	assert_true(k.stale[IC_POOL_GUEST] && k.stale[IC_POOL_INTRINSIC]);
	assert_false(k.stale[IC_POOL_HOST]);
	assert_false(k.in[IC_POOL_GUEST].active);
	assert_int_equal(k.pool[IC_POOL_GUEST].n, 1);
	assert_value(&k.pool[IC_POOL_GUEST], "a", "1");
	assert_string_equal(s.log, "");
	/* the next connection's COMMIT makes that pool fresh again */
	copy_of(&k, IC_POOL_GUEST, (const char *[]){ "a", "1", NULL }, 2);
	assert_false(k.stale[IC_POOL_GUEST]);
	assert_true(k.stale[IC_POOL_INTRINSIC]);
	assert_string_equal(s.log, ""); /* the same data: no change */
	kvs_clear(&k);
}

static void test_anything_for_the_host_pool_from_the_agent_is_eperm(void **st)
{
	static const uint16_t types[] = { IC_KVP_SET, IC_KVP_DELETE, IC_KVP_BEGIN, IC_KVP_COMMIT };
	struct kvs k;
	struct seen s;
	struct kvs_error e;

	(void)st;
	init(&k, &s);
	assert_int_equal(kvs_host_set(&k, "k", 1, "v", 1), 1);
	s.log[0] = '\0';
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		assert_int_equal(feed(&k, types[i], IC_POOL_HOST, "k", "x", 0, &e), 0);
		assert_int_equal(e.err, EPERM);
	}
	assert_value(&k.pool[IC_POOL_HOST], "k", "v");
	assert_string_equal(s.log, "");
	kvs_clear(&k);
}

static void test_a_copy_over_a_limit_is_refused_whole_and_buffers_no_more_than_a_pool(void **st)
{
	static char value[IC_KVP_MAX_VALUE + 1];
	struct kvs k;
	struct seen s;
	struct kvs_error e;
	char key[32];
	int refused = 0;

	(void)st;
	init(&k, &s);
	copy_of(&k, IC_POOL_GUEST, (const char *[]){ "old", "1", NULL }, 1);
	memset(value, 'v', IC_KVP_MAX_VALUE);
	feed_ok(&k, IC_KVP_BEGIN, IC_POOL_GUEST, NULL, NULL, 0);
	/* 17 values of 64 KiB: the 16th goes over 1 MiB */
	for (int i = 0; i < 17; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		assert_int_equal(feed(&k, IC_KVP_SET, IC_POOL_GUEST, key, value, 0, &e), 0);
		if (e.err) {
			assert_int_equal(e.err, ENOSPC);
			refused++;
		}
		assert_true(k.in[IC_POOL_GUEST].pool.bytes <= IC_KVP_MAX_POOL);
	}
	assert_int_equal(refused, 1); /* once: the rest of a spoiled copy is dropped */
	assert_int_equal(k.in[IC_POOL_GUEST].pool.n, 0);
	assert_int_equal(feed(&k, IC_KVP_COMMIT, IC_POOL_GUEST, NULL, NULL, 2, &e), 0);
	assert_int_equal(e.err, ENOSPC);
	assert_int_equal(k.pool[IC_POOL_GUEST].n, 1);
	assert_value(&k.pool[IC_POOL_GUEST], "old", "1");
	/* keys: the 4097th is one too many */
	feed_ok(&k, IC_KVP_BEGIN, IC_POOL_GUEST, NULL, NULL, 0);
	for (int i = 0; i < IC_KVP_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "key%05d", i);
		feed_ok(&k, IC_KVP_SET, IC_POOL_GUEST, key, "", 0);
	}
	assert_int_equal(feed(&k, IC_KVP_SET, IC_POOL_GUEST, "one-more", "", 0, &e), 0);
	assert_int_equal(e.err, ENOSPC);
	assert_int_equal(feed(&k, IC_KVP_COMMIT, IC_POOL_GUEST, NULL, NULL, 3, &e), 0);
	assert_int_equal(e.err, ENOSPC);
	assert_int_equal(k.pool[IC_POOL_GUEST].n, 1);
	/* outside a copy, over a limit: refused, the copy unchanged */
	for (int i = 0; i < IC_KVP_MAX_KEYS - 1; i++) {
		snprintf(key, sizeof(key), "key%05d", i);
		feed_ok(&k, IC_KVP_SET, IC_POOL_GUEST, key, "", 0);
	}
	assert_int_equal(feed(&k, IC_KVP_SET, IC_POOL_GUEST, "one-more", "", 0, &e), 0);
	assert_int_equal(e.err, ENOSPC);
	assert_int_equal(k.pool[IC_POOL_GUEST].n, IC_KVP_MAX_KEYS);
	assert_null(kvpool_get(&k.pool[IC_POOL_GUEST], "one-more", 8));
	kvs_clear(&k);
}

/* A SET of pool with a value of vlen bytes, which ic_enc_kvp would refuse
 * when too long: built field by field (tags of proto/ic.c). */
static void raw_set(struct sess_buf *b, uint32_t pool, const char *key, size_t vlen)
{
	uint8_t *v = calloc(1, vlen);

	sess_begin(b, IC_KVP_SET, 0);
	sess_put_u32(b, 2, pool);
	sess_put_bytes(b, 3, key, strlen(key));
	sess_put_bytes(b, IC_TAG_TAIL, NULL, 0);
	sess_put_raw(b, v, vlen);
	sess_end(b);
	free(v);
}

static void test_a_value_too_long_is_e2big_and_spoils_the_copy_under_way(void **st)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct kvs k;
	struct seen s;
	struct kvs_error e;

	(void)st;
	init(&k, &s);
	raw_set(&b, IC_POOL_GUEST, "big", IC_KVP_MAX_VALUE + 1);
	assert_true(ic_frame_parse(b.data, b.len, &f) > 0);
	assert_int_equal(kvs_agent_frame(&k, &f, &e), 0);
	assert_int_equal(e.err, E2BIG);
	assert_int_equal(k.pool[IC_POOL_GUEST].n, 0);
	feed_ok(&k, IC_KVP_BEGIN, IC_POOL_INTRINSIC, NULL, NULL, 0);
	feed_ok(&k, IC_KVP_SET, IC_POOL_INTRINSIC, "a", "1", 0);
	assert_int_equal(kvs_agent_frame(&k, &f, &e), 0);
	assert_int_equal(e.err, E2BIG);
	assert_int_equal(feed(&k, IC_KVP_COMMIT, IC_POOL_INTRINSIC, NULL, NULL, 1, &e), 0);
	assert_int_equal(e.err, E2BIG);
	assert_int_equal(k.pool[IC_POOL_INTRINSIC].n, 0);
	assert_string_equal(s.log, "");
	sess_buf_free(&b);
	kvs_clear(&k);
}

static void test_commit_without_begin_malformed_and_foreign_frames(void **st)
{
	uint8_t frame[SESS_HDR_SIZE] = { IC_KVP_SET, 0, 0, 0, 0, 0, 0, 0 };
	struct sess_frame f;
	struct kvs k;
	struct seen s;
	struct kvs_error e;

	(void)st;
	init(&k, &s);
	assert_int_equal(feed(&k, IC_KVP_COMMIT, IC_POOL_GUEST, NULL, NULL, 1, &e), 0);
	assert_int_equal(e.err, EPROTO);
	/* a SET without fields is malformed: the framework answers */
	assert_true(ic_frame_parse(frame, sizeof(frame), &f) > 0);
	assert_int_equal(kvs_agent_frame(&k, &f, &e), -EPROTO);
	/* the Unix socket's requests are not for the vsock stream */
	assert_int_equal(feed(&k, IC_KVP_DONE, 0, NULL, NULL, 0, &e), -EOPNOTSUPP);
	frame[0] = IC_HB_BEAT;
	assert_true(ic_frame_parse(frame, sizeof(frame), &f) > 0);
	assert_int_equal(kvs_agent_frame(&k, &f, &e), -EOPNOTSUPP);
	kvs_clear(&k);
}

static void test_host_changes_are_saved_and_undone_when_saving_fails(void **st)
{
	struct kvs k;
	struct seen s;

	(void)st;
	init(&k, &s);
	assert_int_equal(kvs_host_set(&k, "a", 1, "1", 1), 1);
	assert_int_equal(s.saves, 1);
	assert_int_equal(kvs_host_set(&k, "a", 1, "1", 1), 0); /* no change, no save */
	assert_int_equal(s.saves, 1);
	s.save_result = -EIO;
	assert_int_equal(kvs_host_set(&k, "a", 1, "2", 1), -EIO);
	assert_value(&k.pool[IC_POOL_HOST], "a", "1");
	assert_int_equal(kvs_host_set(&k, "b", 1, "2", 1), -EIO);
	assert_null(kvpool_get(&k.pool[IC_POOL_HOST], "b", 1));
	assert_int_equal(kvs_host_delete(&k, "a", 1), -EIO);
	assert_value(&k.pool[IC_POOL_HOST], "a", "1");
	assert_string_equal(s.log, "+host:a=1@1 ");
	s.save_result = 0;
	assert_int_equal(kvs_host_delete(&k, "a", 1), 1);
	assert_int_equal(kvs_host_delete(&k, "a", 1), -ENOENT);
	assert_int_equal(s.saved_keys, 0);
	assert_true(strstr(s.log, "-host:a@") != NULL);
	/* limits: nothing changes, nothing is saved */
	s.saves = 0;
	assert_int_equal(kvs_host_set(&k, "", 0, "v", 1), -EINVAL);
	assert_int_equal(kvs_host_set(&k, "k", 1, "v", IC_KVP_MAX_VALUE + 1), -E2BIG);
	assert_int_equal(s.saves, 0);
	kvs_clear(&k);
}

static void test_host_copy_and_pool_file_round_trip(void **st)
{
	struct sess_buf b = { 0 }, file = { 0 };
	struct sess_frame f;
	struct kvs k, k2;
	struct seen s, s2;
	size_t off = 0;
	long n;
	int sets = 0;

	(void)st;
	init(&k, &s);
	assert_int_equal(kvs_host_set(&k, "x", 1, "\0\xff", 2), 1);
	assert_int_equal(kvs_host_set(&k, "y", 1, "", 0), 1);
	kvs_host_copy(&k, &b);
	assert_int_equal(b.err, 0);
	while ((n = ic_frame_parse(b.data + off, b.len - off, &f)) > 0) {
		struct ic_kvp x;
		assert_int_equal(ic_dec_kvp(&f, &x), 0);
		assert_int_equal(x.pool, IC_POOL_HOST);
		if (off == 0)
			assert_int_equal(f.type, IC_KVP_BEGIN);
		else if (off + (size_t)n == b.len)
			assert_true(f.type == IC_KVP_COMMIT && x.gen == 2);
		else
			sets += f.type == IC_KVP_SET;
		off += (size_t)n;
	}
	assert_int_equal(off, b.len);
	assert_int_equal(sets, 2);
	/* the pool file: kvpool_encode, loaded back with its generation */
	kvpool_encode(&k.pool[IC_POOL_HOST], IC_POOL_HOST, &file);
	init(&k2, &s2);
	assert_int_equal(kvs_host_load(&k2, file.data, file.len), 0);
	assert_int_equal(k2.pool[IC_POOL_HOST].n, 2);
	assert_int_equal(k2.pool[IC_POOL_HOST].gen, 2);
	kvs_clear(&k2);
	init(&k2, &s2);
	assert_int_equal(kvs_host_load(&k2, file.data, file.len - 1), -EPROTO); /* cut short */
	assert_int_equal(k2.pool[IC_POOL_HOST].n, 0);
	kvs_clear(&k2);
	sess_buf_free(&b);
	sess_buf_free(&file);
	kvs_clear(&k);
}

/* ---- kvpjson.c ---- */

static void test_text_is_utf8_without_controls_but_tab_newline_return(void **st)
{
	(void)st;
	assert_true(kvj_text_ok((const uint8_t *)"", 0));
	assert_true(kvj_text_ok((const uint8_t *)"a b\t\r\n/\"\\\x7f", 10));
	assert_true(kvj_text_ok((const uint8_t *)"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
	assert_false(kvj_text_ok((const uint8_t *)"a\0b", 3));
	assert_false(kvj_text_ok((const uint8_t *)"\x01", 1));
	assert_false(kvj_text_ok((const uint8_t *)"\x1b[0m", 4));
	assert_false(kvj_text_ok((const uint8_t *)"\xff", 1));
	assert_false(kvj_text_ok((const uint8_t *)"\xc0\xaf", 2));	   /* overlong */
	assert_false(kvj_text_ok((const uint8_t *)"\xed\xa0\x80", 3));	   /* surrogate */
	assert_false(kvj_text_ok((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(kvj_text_ok((const uint8_t *)"\xe2\x82", 2));	   /* cut short */
}

static void test_bytes_round_trip_as_string_or_base64_with_limits(void **st)
{
	json_object *o = json_object_new_object();
	uint8_t *out = NULL;
	size_t n;

	(void)st;
	kvj_add_bytes(o, "key", (const uint8_t *)"a b", 3);
	kvj_add_bytes(o, "value", (const uint8_t *)"\0\xff\x01", 3);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			    "{\"key\":\"a b\",\"value_b64\":\"AP8B\"}");
	assert_int_equal(kvj_get_bytes(o, "value", 3, &out, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "\0\xff\x01", 3);
	free(out);
	assert_int_equal(kvj_get_bytes(o, "value", 2, &out, &n), -E2BIG);
	assert_int_equal(kvj_get_bytes(o, "key", 2, &out, &n), -E2BIG);
	assert_int_equal(kvj_get_bytes(o, "prefix", 9, &out, &n), -ENOENT);
	json_object_object_add(o, "bad_b64", json_object_new_string("!!!"));
	assert_int_equal(kvj_get_bytes(o, "bad", 9, &out, &n), -EINVAL);
	json_object_object_add(o, "num", json_object_new_int(1));
	assert_int_equal(kvj_get_bytes(o, "num", 9, &out, &n), -EINVAL);
	json_object_put(o);
}

static void test_a_largest_item_line_stays_within_twice_its_bytes(void **st)
{
	static uint8_t key[IC_KVP_MAX_KEY], value[IC_KVP_MAX_VALUE];
	struct kvp_entry e = { key, sizeof(key), value, sizeof(value) };
	size_t len;
	char *line;

	(void)st;
	memset(key, '"', sizeof(key));
	memset(value, '/', sizeof(value)); /* json-c writes both as two bytes */
	line = kvj_line(IC_POOL_GUEST, &e, 3, KVJ_ITEM, true, &len);
	assert_non_null(line);
	assert_true(len <= 2 * (sizeof(key) + sizeof(value)) + 100);
	assert_ptr_equal(memchr(line, '\n', len), line + len - 1);
	assert_non_null(strstr(line, "\"stale\":true"));
	free(line);
	memset(value, 0x01, sizeof(value)); /* control bytes: base64, 4/3 */
	line = kvj_line(IC_POOL_GUEST, &e, 3, KVJ_SET, false, &len);
	assert_true(len <= 2 * sizeof(key) + sizeof(value) * 4 / 3 + 100);
	assert_non_null(strstr(line, "\"value_b64\":\"AQEB"));
	assert_non_null(strstr(line, "\"op\":\"set\""));
	assert_null(strstr(line, "stale"));
	free(line);
	line = kvj_line(IC_POOL_HOST, &e, 4, KVJ_DELETE, false, &len);
	assert_null(strstr(line, "value"));
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_a_copy_replaces_the_old_one_at_commit_and_reports_the_differences),
		cmocka_unit_test(
			test_changes_outside_a_copy_apply_at_once_with_the_owners_generation),
		cmocka_unit_test(test_a_connection_ending_mid_copy_keeps_the_old_copy_marked_stale),
		cmocka_unit_test(test_anything_for_the_host_pool_from_the_agent_is_eperm),
		cmocka_unit_test(
			test_a_copy_over_a_limit_is_refused_whole_and_buffers_no_more_than_a_pool),
		cmocka_unit_test(test_a_value_too_long_is_e2big_and_spoils_the_copy_under_way),
		cmocka_unit_test(test_commit_without_begin_malformed_and_foreign_frames),
		cmocka_unit_test(test_host_changes_are_saved_and_undone_when_saving_fails),
		cmocka_unit_test(test_host_copy_and_pool_file_round_trip),
		cmocka_unit_test(test_text_is_utf8_without_controls_but_tab_newline_return),
		cmocka_unit_test(test_bytes_round_trip_as_string_or_base64_with_limits),
		cmocka_unit_test(test_a_largest_item_line_stays_within_twice_its_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
