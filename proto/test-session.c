/* SPDX-License-Identifier: MIT */
/*
 * test-session.c - unit tests of the VM Session wire format: every message
 * round-trips, frames are found in split buffers, and every malformed input
 * the decoders must refuse is refused.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"

/* The only frame in b; asserts it spans all of b. */
static struct sess_frame only_frame(const struct sess_buf *b)
{
	struct sess_frame f;

	assert_int_equal(b->err, 0);
	assert_int_equal(sess_frame_parse(b->data, b->len, &f), (long)b->len);
	return f;
}

/* A control frame of type with the raw payload p[0..n). */
static struct sess_buf raw_frame(uint16_t type, uint16_t chan, const void *p, size_t n)
{
	struct sess_buf b = { 0 };

	sess_begin(&b, type, chan);
	sess_put_raw(&b, p, n);
	sess_end(&b);
	return b;
}

static void frames_are_found_whole_only(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;

	sess_frame_data(&b, SESS_CH_STDOUT, "hello", 5);
	sess_frame_eof(&b, SESS_CH_STDOUT);
	for (size_t i = 0; i < 13; i++)
		assert_int_equal(sess_frame_parse(b.data, i, &f), 0);
	assert_int_equal(sess_frame_parse(b.data, b.len, &f), 13);
	assert_int_equal(f.type, SESS_DATA);
	assert_int_equal(f.chan, SESS_CH_STDOUT);
	assert_memory_equal(f.payload, "hello", 5);
	assert_int_equal(sess_frame_parse(b.data + 13, b.len - 13, &f), 8);
	assert_int_equal(f.type, SESS_EOF);
	assert_int_equal(f.len, 0);
	sess_buf_consume(&b, 13);
	assert_int_equal(b.len, 8);
	sess_buf_free(&b);
}

static void frames_with_bad_headers_are_refused(void **state)
{
	uint8_t h[SESS_HDR_SIZE];
	struct sess_frame f;
	uint16_t w[2];
	uint32_t len;

	/* too long */
	w[0] = htole16(SESS_DATA), w[1] = htole16(1), len = htole32(SESS_MAX_FRAME + 1);
	memcpy(h, w, 4), memcpy(h + 4, &len, 4);
	assert_int_equal(sess_frame_parse(h, sizeof(h), &f), -EPROTO);
	/* channel out of range */
	w[1] = htole16(SESS_NCHANS), len = 0;
	memcpy(h, w, 4), memcpy(h + 4, &len, 4);
	assert_int_equal(sess_frame_parse(h, sizeof(h), &f), -EPROTO);
	/* DATA on the control channel, a control frame on a data channel */
	w[1] = 0;
	memcpy(h, w, 4);
	assert_int_equal(sess_frame_parse(h, sizeof(h), &f), -EPROTO);
	w[0] = htole16(SESS_EXEC), w[1] = htole16(2);
	memcpy(h, w, 4);
	assert_int_equal(sess_frame_parse(h, sizeof(h), &f), -EPROTO);
}

static void peer_round_trips_and_needs_uid_and_gid(void **state)
{
	struct sess_peer p = { .uid = 1000,
			       .gid = 100,
			       .ngroups = 2,
			       .groups = { 27, 44 },
			       .user = "alice",
			       .pid = 4242,
			       .vm = "web1" };
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct sess_peer q;
	uint32_t le = htole32(7);
	uint8_t only_uid[8] = { 1, 0, 4, 0 };

	sess_enc_peer(&b, &p);
	f = only_frame(&b);
	assert_int_equal(sess_dec_peer(&f, &q), 0);
	assert_int_equal(q.uid, 1000);
	assert_int_equal(q.gid, 100);
	assert_int_equal(q.ngroups, 2);
	assert_int_equal(q.groups[1], 44);
	assert_string_equal(q.user, "alice");
	assert_int_equal(q.pid, 4242);
	assert_string_equal(q.vm, "web1");
	sess_buf_free(&b);

	memcpy(only_uid + 4, &le, 4);
	b = raw_frame(SESS_PEER, 0, only_uid, sizeof(only_uid));
	f = only_frame(&b);
	assert_int_equal(sess_dec_peer(&f, &q), -EPROTO);
	sess_buf_free(&b);
}

static void hello_round_trips_and_unknown_fields_are_skipped(void **state)
{
	struct sess_hello h = { .major = 1, .minor = 3, .window = 262144 }, g;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	sess_begin(&b, SESS_HELLO, 0);
	sess_put_str(&b, 999, "from a newer minor version");
	sess_put_u32(&b, 1, h.major);
	sess_put_u32(&b, 2, h.minor);
	sess_put_u32(&b, 4, h.window);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(sess_dec_hello(&f, &g), 0);
	assert_int_equal(g.major, 1);
	assert_int_equal(g.minor, 3);
	assert_int_equal(g.window, 262144);
	sess_buf_free(&b);

	h.window = 0;
	sess_enc_hello(&b, &h);
	f = only_frame(&b);
	assert_int_equal(sess_dec_hello(&f, &g), -EPROTO);
	sess_buf_free(&b);
}

static void exec_round_trips_with_every_field(void **state)
{
	const char *argv[] = { "sh", "-c", "echo a; echo b >&2", "" };
	const char *env[] = { "A=1", "EMPTY=" };
	struct sess_exec e = { .flags = SESS_EXEC_PTY,
			       .argc = 4,
			       .argv = argv,
			       .envc = 2,
			       .env = env,
			       .user = "alice",
			       .cwd = "/tmp",
			       .term = "xterm",
			       .rows = 24,
			       .cols = 80,
			       .xpix = 640,
			       .ypix = 480,
			       .timeout_ms = 5000,
			       .linger_ms = 100 };
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct sess_exec d;

	sess_enc_exec(&b, &e);
	f = only_frame(&b);
	assert_int_equal(sess_dec_exec(&f, &d), 0);
	assert_int_equal(d.argc, 4);
	assert_string_equal(d.argv[2], "echo a; echo b >&2");
	assert_string_equal(d.argv[3], "");
	assert_null(d.argv[4]);
	assert_int_equal(d.envc, 2);
	assert_string_equal(d.env[1], "EMPTY=");
	assert_null(d.env[2]);
	assert_string_equal(d.user, "alice");
	assert_string_equal(d.cwd, "/tmp");
	assert_string_equal(d.term, "xterm");
	assert_int_equal(d.flags, SESS_EXEC_PTY);
	assert_int_equal(d.rows, 24);
	assert_int_equal(d.cols, 80);
	assert_int_equal(d.xpix, 640);
	assert_int_equal(d.ypix, 480);
	assert_int_equal(d.timeout_ms, 5000);
	assert_int_equal(d.linger_ms, 100);
	sess_exec_clear(&d);
	sess_buf_free(&b);
}

static void exec_without_command_or_with_bad_env_is_refused(void **state)
{
	const char *bad_env[] = { "NOEQUALS" }, *argv[] = { "true" };
	struct sess_exec e = { .argc = 0 }, d;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	sess_enc_exec(&b, &e);
	f = only_frame(&b);
	assert_int_equal(sess_dec_exec(&f, &d), -EPROTO);
	assert_null(d.argv);
	sess_buf_free(&b);

	e.flags = SESS_EXEC_LOGIN; /* a login shell needs no argv */
	sess_enc_exec(&b, &e);
	f = only_frame(&b);
	assert_int_equal(sess_dec_exec(&f, &d), 0);
	sess_exec_clear(&d);
	sess_buf_free(&b);

	e = (struct sess_exec){ .argc = 1, .argv = argv, .envc = 1, .env = bad_env };
	sess_enc_exec(&b, &e);
	f = only_frame(&b);
	assert_int_equal(sess_dec_exec(&f, &d), -EPROTO);
	sess_buf_free(&b);
}

static void exec_with_too_many_arguments_is_refused(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct sess_exec d;

	sess_begin(&b, SESS_EXEC, 0);
	for (int i = 0; i <= SESS_MAX_ARGS; i++)
		sess_put_str(&b, 2, "x");
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(sess_dec_exec(&f, &d), -EPROTO);
	sess_buf_free(&b);
}

static void strings_need_exactly_one_trailing_nul(void **state)
{
	static const uint8_t no_nul[] = { 2, 0, 2, 0, 'a', 'b' };
	static const uint8_t inner_nul[] = { 2, 0, 3, 0, 'a', 0, 0 };
	static const uint8_t empty[] = { 2, 0, 0, 0 };
	static const uint8_t truncated[] = { 2, 0, 9, 0, 'a', 0 };
	const uint8_t *cases[] = { no_nul, inner_nul, empty, truncated };
	size_t sizes[] = { sizeof(no_nul), sizeof(inner_nul), sizeof(empty), sizeof(truncated) };

	for (size_t i = 0; i < 4; i++) {
		struct sess_buf b = raw_frame(SESS_EXEC, 0, cases[i], sizes[i]);
		struct sess_frame f = only_frame(&b);
		struct sess_exec d;

		assert_int_equal(sess_dec_exec(&f, &d), -EPROTO);
		sess_buf_free(&b);
	}
}

static void exit_keeps_code_or_signal_and_checks_ranges(void **state)
{
	struct sess_exit x = { .code = 3, .utime_us = 10, .stime_us = 20, .maxrss_kb = 30 }, y;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	sess_enc_exit(&b, &x);
	f = only_frame(&b);
	assert_int_equal(sess_dec_exit(&f, &y), 0);
	assert_false(y.signaled);
	assert_int_equal(y.code, 3);
	assert_int_equal(y.maxrss_kb, 30);
	sess_buf_free(&b);

	x = (struct sess_exit){ .signaled = true, .code = 9, .core = true, .output_open = true };
	sess_enc_exit(&b, &x);
	f = only_frame(&b);
	assert_int_equal(sess_dec_exit(&f, &y), 0);
	assert_true(y.signaled);
	assert_int_equal(y.code, 9);
	assert_true(y.core);
	assert_true(y.output_open);
	sess_buf_free(&b);

	x = (struct sess_exit){ .code = 256 };
	sess_enc_exit(&b, &x);
	f = only_frame(&b);
	assert_int_equal(sess_dec_exit(&f, &y), -EPROTO);
	sess_buf_free(&b);

	x = (struct sess_exit){ .signaled = true, .code = 0 };
	sess_enc_exit(&b, &x);
	f = only_frame(&b);
	assert_int_equal(sess_dec_exit(&f, &y), -EPROTO);
	sess_buf_free(&b);
}

static void small_control_messages_round_trip(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	uint32_t v, rows, cols, xp, yp;
	long n;

	sess_frame_credit(&b, SESS_CH_STDERR, 65536);
	sess_frame_signal(&b, 15);
	sess_frame_resize(&b, 50, 132, 0, 0);
	n = sess_frame_parse(b.data, b.len, &f);
	assert_int_equal(f.chan, SESS_CH_STDERR);
	assert_int_equal(sess_dec_credit(&f, &v), 0);
	assert_int_equal(v, 65536);
	n += sess_frame_parse(b.data + n, b.len - (size_t)n, &f);
	assert_int_equal(sess_dec_signal(&f, &v), 0);
	assert_int_equal(v, 15);
	assert_int_equal(sess_dec_credit(&f, &v), -EPROTO); /* wrong type */
	sess_frame_parse(b.data + n, b.len - (size_t)n, &f);
	assert_int_equal(sess_dec_resize(&f, &rows, &cols, &xp, &yp), 0);
	assert_int_equal(rows, 50);
	assert_int_equal(cols, 132);
	sess_buf_free(&b);

	sess_frame_signal(&b, 0);
	f = only_frame(&b);
	assert_int_equal(sess_dec_signal(&f, &v), -EPROTO);
	sess_buf_free(&b);
}

static void error_and_started_round_trip(void **state)
{
	struct sess_started s = { .pid = 77, .uid = 1000, .gid = 1000, .user = "bob" }, t;
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct sess_error e;

	sess_frame_error(&b, SESS_STAGE_EXEC, ENOENT, "nosuchcmd: not found");
	f = only_frame(&b);
	assert_int_equal(sess_dec_error(&f, &e), 0);
	assert_int_equal(e.stage, SESS_STAGE_EXEC);
	assert_int_equal(e.err, ENOENT);
	assert_string_equal(e.message, "nosuchcmd: not found");
	sess_buf_free(&b);

	sess_enc_started(&b, &s);
	f = only_frame(&b);
	assert_int_equal(sess_dec_started(&f, &t), 0);
	assert_int_equal(t.pid, 77);
	assert_string_equal(t.user, "bob");
	sess_buf_free(&b);
}

static void file_messages_round_trip(void **state)
{
	struct sess_meta m = { .type = SESS_F_LINK,
			       .name = "a/b",
			       .size = 0,
			       .mode = 0777,
			       .uid = 1,
			       .gid = 2,
			       .mtime_ns = -5,
			       .link = "../x" },
			 n;
	struct sess_xfer x = { .path = "/tmp/dst", .flags = SESS_PUT_TREE }, y;
	struct sess_end e = { .has_sha = true, .count = 3 }, g;
	struct sess_result r = { .err = ENOSPC, .message = "no space", .bytes = 9 }, s;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	memset(e.sha256, 0xab, sizeof(e.sha256));
	sess_enc_meta(&b, &m);
	f = only_frame(&b);
	assert_int_equal(sess_dec_meta(&f, &n), 0);
	assert_string_equal(n.name, "a/b");
	assert_string_equal(n.link, "../x");
	assert_int_equal(n.mtime_ns, -5);
	assert_int_equal(n.mode, 0777);
	sess_buf_free(&b);

	sess_enc_xfer(&b, SESS_PUT, &x);
	f = only_frame(&b);
	assert_int_equal(sess_dec_xfer(&f, &y), 0);
	assert_string_equal(y.path, "/tmp/dst");
	assert_int_equal(y.flags, SESS_PUT_TREE);
	sess_buf_free(&b);

	sess_enc_end(&b, &e);
	f = only_frame(&b);
	assert_int_equal(sess_dec_end(&f, &g), 0);
	assert_true(g.has_sha);
	assert_memory_equal(g.sha256, e.sha256, SESS_SHA256_SIZE);
	assert_int_equal(g.count, 3);
	sess_buf_free(&b);

	sess_enc_result(&b, &r);
	f = only_frame(&b);
	assert_int_equal(sess_dec_result(&f, &s), 0);
	assert_int_equal(s.err, ENOSPC);
	assert_string_equal(s.message, "no space");
	assert_int_equal(s.bytes, 9);
	sess_buf_free(&b);
}

static void tree_entry_names_cannot_escape(void **state)
{
	const char *bad[] = { "/etc/passwd", "..", "a/../../b", "a//b", "./a", "a/", "a/." };
	const char *good[] = { "", "a", "a/b/c", "..a", "a..", ".hidden" };
	struct sess_meta m = { .type = SESS_F_REG, .mode = 0644 }, n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sess_buf b = { 0 };
		struct sess_frame f;

		m.name = bad[i];
		sess_enc_meta(&b, &m);
		f = only_frame(&b);
		assert_int_equal(sess_dec_meta(&f, &n), -EPROTO);
		sess_buf_free(&b);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct sess_buf b = { 0 };
		struct sess_frame f;

		m.name = good[i];
		sess_enc_meta(&b, &m);
		f = only_frame(&b);
		assert_int_equal(sess_dec_meta(&f, &n), 0);
		sess_buf_free(&b);
	}
}

static void credit_is_per_channel_and_bounded(void **state)
{
	struct sess_credit c;

	sess_credit_init(&c, 100);
	assert_int_equal(sess_credit_take(&c, SESS_CH_STDOUT, 60), 0);
	assert_int_equal(sess_credit_take(&c, SESS_CH_STDOUT, 41), -EPROTO);
	assert_int_equal(sess_credit_take(&c, SESS_CH_STDERR, 100), 0);
	assert_int_equal(sess_credit_give(&c, SESS_CH_STDOUT, 60), 0);
	assert_int_equal(sess_credit_take(&c, SESS_CH_STDOUT, 100), 0);
	assert_int_equal(sess_credit_take(&c, SESS_CH_CONTROL, 1), -EPROTO);
	assert_int_equal(sess_credit_give(&c, SESS_CH_STDIN, UINT32_MAX), -EPROTO);
}

static void oversized_fields_are_a_sticky_error(void **state)
{
	struct sess_buf b = { 0 };
	char *big = malloc(70000);

	assert_non_null(big);
	memset(big, 'x', 69999);
	big[69999] = '\0';
	sess_begin(&b, SESS_EXEC, 0);
	sess_put_str(&b, 2, big);
	sess_put_u32(&b, 1, 0);
	sess_end(&b);
	assert_int_equal(b.err, -EMSGSIZE);
	sess_buf_free(&b);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames_are_found_whole_only),
		cmocka_unit_test(frames_with_bad_headers_are_refused),
		cmocka_unit_test(peer_round_trips_and_needs_uid_and_gid),
		cmocka_unit_test(hello_round_trips_and_unknown_fields_are_skipped),
		cmocka_unit_test(exec_round_trips_with_every_field),
		cmocka_unit_test(exec_without_command_or_with_bad_env_is_refused),
		cmocka_unit_test(exec_with_too_many_arguments_is_refused),
		cmocka_unit_test(strings_need_exactly_one_trailing_nul),
		cmocka_unit_test(exit_keeps_code_or_signal_and_checks_ranges),
		cmocka_unit_test(small_control_messages_round_trip),
		cmocka_unit_test(error_and_started_round_trip),
		cmocka_unit_test(file_messages_round_trip),
		cmocka_unit_test(tree_entry_names_cannot_escape),
		cmocka_unit_test(credit_is_per_channel_and_bounded),
		cmocka_unit_test(oversized_fields_are_a_sticky_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
