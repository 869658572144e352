/* SPDX-License-Identifier: MIT */
/*
 * test-ic.c - unit tests of the integration services' wire format: every
 * message round-trips, frames are found whole and within IC_MAX_FRAME,
 * the tail carries KVP values, and every malformed or out-of-limit input
 * the decoders must refuse is refused (and refused by the encoders too).
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

#include "ic.h"

/* The only frame in b; asserts ic_frame_parse finds it spanning all of b. */
static struct sess_frame only_frame(const struct sess_buf *b)
{
	struct sess_frame f;

	assert_int_equal(b->err, 0);
	assert_int_equal(ic_frame_parse(b->data, b->len, &f), (long)b->len);
	return f;
}

/* The frame just built in b, whatever its size (no IC_MAX_FRAME check). */
static struct sess_frame built_frame(const struct sess_buf *b)
{
	struct sess_frame f;

	assert_int_equal(b->err, 0);
	assert_int_equal(sess_frame_parse(b->data, b->len, &f), (long)b->len);
	return f;
}

/* A frame of type with the raw payload p[0..n). */
static struct sess_buf raw_frame(uint16_t type, const void *p, size_t n)
{
	struct sess_buf b = { 0 };

	sess_begin(&b, type, 0);
	sess_put_raw(&b, p, n);
	sess_end(&b);
	return b;
}

/* A string of n 'x' (heap). */
static char *xs(size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, 'x', n);
	s[n] = '\0';
	return s;
}

static void put_tail(struct sess_buf *b, const void *p, size_t n)
{
	sess_put_bytes(b, IC_TAG_TAIL, NULL, 0);
	sess_put_raw(b, p, n);
}

/* ---- frames ---- */

static void frames_are_found_whole_only(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	long n;

	ic_enc_state(&b, &(struct ic_state){ .enabled = true, .interval_ms = 2000 });
	ic_enc_hb_ack(&b, &(struct ic_hb_ack){ .n = 1, .interval_ms = 2000 });
	n = ic_frame_parse(b.data, b.len, &f);
	assert_true(n > SESS_HDR_SIZE);
	for (long i = 0; i < n; i++)
		assert_int_equal(ic_frame_parse(b.data, (size_t)i, &f), 0);
	assert_int_equal(ic_frame_parse(b.data, (size_t)n, &f), n);
	assert_int_equal(f.type, IC_STATE);
	assert_int_equal(ic_frame_parse(b.data + n, b.len - (size_t)n, &f), (long)b.len - n);
	assert_int_equal(f.type, IC_HB_ACK);
	sess_buf_free(&b);
}

static void frames_over_the_limit_or_off_channel_0_are_refused(void **state)
{
	uint8_t *buf = calloc(1, SESS_HDR_SIZE + IC_MAX_FRAME + 1);
	uint8_t h[SESS_HDR_SIZE] = { IC_KVP_SET, 0, 0, 0 };
	struct sess_frame f;
	uint32_t len = IC_MAX_FRAME + 1;

	assert_non_null(buf);
	/* the header alone is enough to refuse a length */
	memcpy(h + 4, &(uint32_t){ htole32(len) }, 4);
	assert_int_equal(ic_frame_parse(h, sizeof(h), &f), -EPROTO);
	/* exactly IC_MAX_FRAME is fine */
	len = htole32(IC_MAX_FRAME);
	memcpy(buf, h, 4);
	memcpy(buf + 4, &len, 4);
	assert_int_equal(ic_frame_parse(buf, SESS_HDR_SIZE + IC_MAX_FRAME, &f),
			 SESS_HDR_SIZE + IC_MAX_FRAME);
	assert_int_equal(ic_frame_parse(buf, SESS_HDR_SIZE + IC_MAX_FRAME - 1, &f), 0);
	/* a channel other than 0, even a session data channel */
	h[2] = 1;
	memset(h + 4, 0, 4);
	assert_int_equal(ic_frame_parse(h, sizeof(h), &f), -EPROTO);
	free(buf);
}

static void encoders_refuse_frames_over_the_limit(void **state)
{
	struct ic_sd_reply r = { .seq = 1, .err = EBUSY, .nblockers = 2 };
	struct sess_buf b = { 0 };
	char *big = xs(IC_MAX_FRAME / 2);

	r.blockers[0] = r.blockers[1] = big;
	ic_enc_sd_reply(&b, &r);
	assert_int_equal(b.err, -EMSGSIZE);
	sess_buf_free(&b);
	free(big);
}

static void type_names_are_known_or_unknown(void **state)
{
	assert_string_equal(ic_type_name(IC_HELLO), "HELLO");
	assert_string_equal(ic_type_name(IC_HB_BEAT), "BEAT");
	assert_string_equal(ic_type_name(IC_SD_REPLY), "REPLY");
	assert_string_equal(ic_type_name(IC_KVP_DEL_REQ), "DEL_REQ");
	assert_string_equal(ic_type_name(IC_TS_REPLY), "TS_REPLY");
	assert_string_equal(ic_type_name(IC_TS_REPORT), "REPORT");
	assert_string_equal(ic_type_name(0), "unknown");
	assert_string_equal(ic_type_name(4), "unknown");
	assert_string_equal(ic_type_name(59), "unknown");
	assert_string_equal(ic_type_name(0xffff), "unknown");
}

/* ---- common ---- */

static void hello_round_trips_and_needs_a_range(void **state)
{
	struct ic_hello h = {
		.min = 1, .max = 3, .features = 1ull << 40, .software = "vmsvcd 0.3"
	};
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_hello g;

	ic_enc_hello(&b, &h);
	f = only_frame(&b);
	assert_int_equal(ic_dec_hello(&f, &g), 0);
	assert_int_equal(g.min, 1);
	assert_int_equal(g.max, 3);
	assert_true(g.features == 1ull << 40);
	assert_string_equal(g.software, "vmsvcd 0.3");
	sess_buf_free(&b);

	h = (struct ic_hello){ .min = 2, .max = 2 };
	ic_enc_hello(&b, &h);
	f = only_frame(&b);
	assert_int_equal(ic_dec_hello(&f, &g), 0);
	assert_null(g.software);
	sess_buf_free(&b);

	/* max missing; min over max; version 0 */
	sess_begin(&b, IC_HELLO, 0);
	sess_put_u32(&b, 1, 1);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_hello(&f, &g), -EPROTO);
	sess_buf_free(&b);
	sess_begin(&b, IC_HELLO, 0);
	sess_put_u32(&b, 1, 2);
	sess_put_u32(&b, 2, 1);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_hello(&f, &g), -EPROTO);
	sess_buf_free(&b);
	ic_enc_hello(&b, &(struct ic_hello){ .min = 0, .max = 1 });
	assert_int_equal(b.err, -EINVAL);
	assert_int_equal(b.len, 0);
	sess_buf_free(&b);
}

static void version_pick_takes_the_highest_common(void **state)
{
	assert_int_equal(ic_version_pick(1, 1, 1, 1), 1);
	assert_int_equal(ic_version_pick(1, 5, 2, 3), 3);
	assert_int_equal(ic_version_pick(2, 3, 1, 5), 3);
	assert_int_equal(ic_version_pick(1, 4, 3, 9), 4);
	assert_int_equal(ic_version_pick(1, 2, 3, 4), 0);
	assert_int_equal(ic_version_pick(3, 4, 1, 2), 0);
	assert_int_equal(ic_version_pick(3, 1, 1, 5), 0); /* an empty range */
	assert_int_equal(ic_version_pick(IC_VERSION_MIN, IC_VERSION_MAX, 1, UINT32_MAX),
			 IC_VERSION_MAX);
}

static void error_round_trips_and_needs_type_and_errno(void **state)
{
	struct ic_error e = { .seq = 9, .type = 77, .err = EOPNOTSUPP, .message = "unknown frame" };
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_error g;

	ic_enc_error(&b, &e);
	f = only_frame(&b);
	assert_int_equal(ic_dec_error(&f, &g), 0);
	assert_int_equal(g.seq, 9);
	assert_int_equal(g.type, 77);
	assert_int_equal(g.err, EOPNOTSUPP);
	assert_string_equal(g.message, "unknown frame");
	sess_buf_free(&b);

	sess_begin(&b, IC_ERROR, 0);
	sess_put_u32(&b, 2, IC_HELLO);
	sess_put_u32(&b, 3, EPROTONOSUPPORT);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_error(&f, &g), 0);
	assert_int_equal(g.seq, 0);
	assert_string_equal(g.message, "");
	sess_buf_free(&b);

	sess_begin(&b, IC_ERROR, 0); /* no errno */
	sess_put_u32(&b, 2, IC_HELLO);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_error(&f, &g), -EPROTO);
	sess_buf_free(&b);
	sess_begin(&b, IC_ERROR, 0); /* errno 0 */
	sess_put_u32(&b, 2, IC_HELLO);
	sess_put_u32(&b, 3, 0);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_error(&f, &g), -EPROTO);
	sess_buf_free(&b);
	ic_enc_error(&b, &(struct ic_error){ .type = 1 });
	assert_int_equal(b.err, -EINVAL);
	sess_buf_free(&b);
}

static void state_round_trips_and_enabled_is_a_bool(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_state s;

	ic_enc_state(&b, &(struct ic_state){ .enabled = true, .interval_ms = 500 });
	f = only_frame(&b);
	assert_int_equal(ic_dec_state(&f, &s), 0);
	assert_true(s.enabled);
	assert_int_equal(s.interval_ms, 500);
	sess_buf_free(&b);

	sess_begin(&b, IC_STATE, 0);
	sess_put_u32(&b, 1, 2);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_state(&f, &s), -EPROTO);
	sess_buf_free(&b);
	sess_begin(&b, IC_STATE, 0); /* enabled missing */
	sess_put_u32(&b, 2, 500);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_state(&f, &s), -EPROTO);
	sess_buf_free(&b);
}

/* ---- heartbeat ---- */

static const struct ic_beat full_beat = {
	.n = 42,
	.uptime_ms = 123456789012ull,
	.app_state = IC_APP_CRITICAL,
	.boot_id = "0f5a3e1c-3b8e-4a59-9d7e-2f1f1c0b9a11",
	.sys_state = "degraded",
	.critical = "nginx.service, db.service",
	.hostname = "web1",
	.os_name = "Debian GNU/Linux 12 (bookworm)",
	.os_id = "debian",
	.os_version = "12",
	.kernel = "6.1.0-18-amd64",
	.agent = "vmsvc-agent 0.3.0",
};

static void beat_round_trips_with_every_field(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_beat x;

	ic_enc_beat(&b, &full_beat);
	f = only_frame(&b);
	assert_int_equal(ic_dec_beat(&f, &x), 0);
	assert_true(x.n == 42);
	assert_true(x.uptime_ms == 123456789012ull);
	assert_int_equal(x.app_state, IC_APP_CRITICAL);
	assert_string_equal(x.boot_id, full_beat.boot_id);
	assert_string_equal(x.sys_state, "degraded");
	assert_string_equal(x.critical, "nginx.service, db.service");
	assert_string_equal(x.hostname, "web1");
	assert_string_equal(x.os_name, full_beat.os_name);
	assert_string_equal(x.os_id, "debian");
	assert_string_equal(x.os_version, "12");
	assert_string_equal(x.kernel, "6.1.0-18-amd64");
	assert_string_equal(x.agent, "vmsvc-agent 0.3.0");
	sess_buf_free(&b);

	ic_enc_beat(&b, &(struct ic_beat){ .n = 1, .boot_id = "b" });
	f = only_frame(&b);
	assert_int_equal(ic_dec_beat(&f, &x), 0);
	assert_string_equal(x.boot_id, "b");
	assert_null(x.sys_state);
	assert_null(x.critical);
	assert_null(x.agent);
	sess_buf_free(&b);
}

static void beat_needs_n_and_boot_id(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_beat x;

	sess_begin(&b, IC_HB_BEAT, 0);
	sess_put_u64(&b, 1, 1);
	sess_put_str(&b, 5, "running");
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_beat(&f, &x), -EPROTO);
	sess_buf_free(&b);
	sess_begin(&b, IC_HB_BEAT, 0);
	sess_put_str(&b, 4, "boot");
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_beat(&f, &x), -EPROTO);
	sess_buf_free(&b);
	sess_begin(&b, IC_HB_BEAT, 0); /* app_state out of range */
	sess_put_u64(&b, 1, 1);
	sess_put_u32(&b, 3, 3);
	sess_put_str(&b, 4, "boot");
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_beat(&f, &x), -EPROTO);
	sess_buf_free(&b);

	ic_enc_beat(&b, &(struct ic_beat){ .n = 1 });
	assert_int_equal(b.err, -EINVAL);
	assert_int_equal(b.len, 0);
	sess_buf_free(&b);
}

static void beat_strings_are_bounded(void **state)
{
	char *ok = xs(IC_HB_MAX_STR), *over = xs(IC_HB_MAX_STR + 1);
	struct ic_beat x = full_beat, y;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	x.critical = ok;
	ic_enc_beat(&b, &x);
	f = only_frame(&b);
	assert_int_equal(ic_dec_beat(&f, &y), 0);
	assert_int_equal(strlen(y.critical), IC_HB_MAX_STR);
	sess_buf_free(&b);

	x.critical = over;
	ic_enc_beat(&b, &x);
	assert_int_equal(b.err, -E2BIG);
	sess_buf_free(&b);

	for (uint16_t tag = 4; tag <= 12; tag++) {
		sess_begin(&b, IC_HB_BEAT, 0);
		sess_put_u64(&b, 1, 1);
		if (tag != 4)
			sess_put_str(&b, 4, "boot");
		sess_put_str(&b, tag, over);
		sess_end(&b);
		f = only_frame(&b);
		assert_int_equal(ic_dec_beat(&f, &y), -EPROTO);
		sess_buf_free(&b);
	}
	free(ok);
	free(over);
}

static void ack_round_trips_and_needs_both_fields(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_hb_ack a;

	ic_enc_hb_ack(&b, &(struct ic_hb_ack){ .n = UINT64_MAX, .interval_ms = 60000 });
	f = only_frame(&b);
	assert_int_equal(ic_dec_hb_ack(&f, &a), 0);
	assert_true(a.n == UINT64_MAX);
	assert_int_equal(a.interval_ms, 60000);
	sess_buf_free(&b);

	sess_begin(&b, IC_HB_ACK, 0);
	sess_put_u64(&b, 1, 5);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_hb_ack(&f, &a), -EPROTO);
	sess_buf_free(&b);
}

/* ---- shutdown ---- */

static void sd_request_round_trips_and_checks_action(void **state)
{
	struct ic_sd_request r = { .seq = 3,
				   .action = IC_SD_REBOOT,
				   .flags = IC_SD_FORCE,
				   .timeout_s = 30,
				   .message = "maintenance",
				   .requester = "uid 0 (root) on the host" },
			     s;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	ic_enc_sd_request(&b, &r);
	f = only_frame(&b);
	assert_int_equal(ic_dec_sd_request(&f, &s), 0);
	assert_int_equal(s.seq, 3);
	assert_int_equal(s.action, IC_SD_REBOOT);
	assert_int_equal(s.flags, IC_SD_FORCE);
	assert_int_equal(s.timeout_s, 30);
	assert_string_equal(s.message, "maintenance");
	assert_string_equal(s.requester, r.requester);
	sess_buf_free(&b);

	for (uint32_t action = 0; action <= 4; action += 4) {
		sess_begin(&b, IC_SD_REQUEST, 0);
		sess_put_u32(&b, 1, 1);
		sess_put_u32(&b, 2, action);
		sess_end(&b);
		f = only_frame(&b);
		assert_int_equal(ic_dec_sd_request(&f, &s), -EPROTO);
		sess_buf_free(&b);
		r.action = action;
		ic_enc_sd_request(&b, &r);
		assert_int_equal(b.err, -EINVAL);
		sess_buf_free(&b);
	}

	sess_begin(&b, IC_SD_REQUEST, 0); /* seq missing */
	sess_put_u32(&b, 2, IC_SD_POWEROFF);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_sd_request(&f, &s), -EPROTO);
	sess_buf_free(&b);
}

static void sd_request_message_is_bounded(void **state)
{
	char *ok = xs(IC_SD_MAX_MESSAGE), *over = xs(IC_SD_MAX_MESSAGE + 1);
	struct ic_sd_request r = { .seq = 1, .action = IC_SD_POWEROFF, .message = ok }, s;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	ic_enc_sd_request(&b, &r);
	f = only_frame(&b);
	assert_int_equal(ic_dec_sd_request(&f, &s), 0);
	assert_int_equal(strlen(s.message), IC_SD_MAX_MESSAGE);
	assert_null(s.requester);
	sess_buf_free(&b);

	r.message = over;
	ic_enc_sd_request(&b, &r);
	assert_int_equal(b.err, -E2BIG);
	sess_buf_free(&b);
	sess_begin(&b, IC_SD_REQUEST, 0);
	sess_put_u32(&b, 1, 1);
	sess_put_u32(&b, 2, IC_SD_POWEROFF);
	sess_put_str(&b, 5, over);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_sd_request(&f, &s), -EPROTO);
	sess_buf_free(&b);
	free(ok);
	free(over);
}

static void sd_reply_round_trips_with_32_blockers_not_33(void **state)
{
	struct ic_sd_reply r = { .seq = 5, .err = EBUSY, .message = "blocked" }, s;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	for (uint32_t i = 0; i < IC_SD_MAX_BLOCKERS; i++)
		r.blockers[r.nblockers++] = i % 2 ? "sshd (uid 0, pid 1): login" : "x";
	ic_enc_sd_reply(&b, &r);
	f = only_frame(&b);
	assert_int_equal(ic_dec_sd_reply(&f, &s), 0);
	assert_int_equal(s.seq, 5);
	assert_int_equal(s.err, EBUSY);
	assert_string_equal(s.message, "blocked");
	assert_int_equal(s.nblockers, IC_SD_MAX_BLOCKERS);
	assert_string_equal(s.blockers[31], "sshd (uid 0, pid 1): login");
	sess_buf_free(&b);

	sess_begin(&b, IC_SD_REPLY, 0);
	sess_put_u32(&b, 1, 5);
	sess_put_u32(&b, 2, EBUSY);
	for (uint32_t i = 0; i <= IC_SD_MAX_BLOCKERS; i++)
		sess_put_str(&b, 4, "x");
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_sd_reply(&f, &s), -EPROTO);
	sess_buf_free(&b);

	r.nblockers = IC_SD_MAX_BLOCKERS + 1;
	ic_enc_sd_reply(&b, &r);
	assert_int_equal(b.err, -E2BIG);
	sess_buf_free(&b);

	ic_enc_sd_reply(&b, &(struct ic_sd_reply){ .seq = 6 });
	f = only_frame(&b);
	assert_int_equal(ic_dec_sd_reply(&f, &s), 0);
	assert_int_equal(s.err, 0);
	assert_null(s.message);
	assert_int_equal(s.nblockers, 0);
	sess_buf_free(&b);

	sess_begin(&b, IC_SD_REPLY, 0); /* errno missing */
	sess_put_u32(&b, 1, 5);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_sd_reply(&f, &s), -EPROTO);
	sess_buf_free(&b);
}

/* ---- malformed fields, any message ---- */

static void strings_need_exactly_one_trailing_nul(void **state)
{
	static const uint8_t no_nul[] = { 4, 0, 2, 0, 'a', 'b' };
	static const uint8_t inner_nul[] = { 4, 0, 3, 0, 'a', 0, 0 };
	static const uint8_t empty[] = { 4, 0, 0, 0 };
	const uint8_t *cases[] = { no_nul, inner_nul, empty };
	size_t sizes[] = { sizeof(no_nul), sizeof(inner_nul), sizeof(empty) };
	static const uint8_t range[] = { 1, 0, 4, 0, 1, 0, 0, 0, 2, 0, 4, 0, 1, 0, 0, 0 };

	for (size_t i = 0; i < 3; i++) {
		struct sess_buf b = { 0 };
		struct sess_frame f;
		struct ic_hello h;

		sess_begin(&b, IC_HELLO, 0);
		sess_put_raw(&b, range, sizeof(range));
		sess_put_raw(&b, cases[i], sizes[i]);
		sess_end(&b);
		f = only_frame(&b);
		assert_int_equal(ic_dec_hello(&f, &h), -EPROTO);
		sess_buf_free(&b);
	}
}

static void truncated_and_overlong_fields_are_refused(void **state)
{
	static const uint8_t truncated[] = { 1, 0, 8, 0, 1, 0, 0, 0 };
	static const uint8_t half_header[] = { 1, 0, 4, 0, 1, 0, 0, 0, 2, 0 };
	static const uint8_t long_u32[] = { 1, 0, 5, 0, 1, 0, 0, 0, 0 };
	static const uint8_t short_u64[] = { 1, 0, 4, 0, 1, 0, 0, 0 };
	struct sess_buf b;
	struct sess_frame f;
	struct ic_hello h;
	struct ic_hb_ack a;

	b = raw_frame(IC_HELLO, truncated, sizeof(truncated));
	f = only_frame(&b);
	assert_int_equal(ic_dec_hello(&f, &h), -EPROTO);
	sess_buf_free(&b);
	b = raw_frame(IC_HELLO, half_header, sizeof(half_header));
	f = only_frame(&b);
	assert_int_equal(ic_dec_hello(&f, &h), -EPROTO);
	sess_buf_free(&b);
	b = raw_frame(IC_HELLO, long_u32, sizeof(long_u32));
	f = only_frame(&b);
	assert_int_equal(ic_dec_hello(&f, &h), -EPROTO);
	sess_buf_free(&b);
	b = raw_frame(IC_HB_ACK, short_u64, sizeof(short_u64));
	f = only_frame(&b);
	assert_int_equal(ic_dec_hb_ack(&f, &a), -EPROTO);
	sess_buf_free(&b);

	/* a whole frame cut short by one byte: its last field runs past */
	b = (struct sess_buf){ 0 };
	ic_enc_hb_ack(&b, &(struct ic_hb_ack){ .n = 1, .interval_ms = 2 });
	f = only_frame(&b);
	f.len--;
	assert_int_equal(ic_dec_hb_ack(&f, &a), -EPROTO);
	sess_buf_free(&b);
}

static void unknown_tags_are_skipped(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_hello h;
	struct ic_beat x;
	struct ic_kvp k;

	sess_begin(&b, IC_HELLO, 0);
	sess_put_str(&b, 999, "from a newer version");
	sess_put_u32(&b, 1, 1);
	sess_put_bytes(&b, 0, "??", 2);
	sess_put_u32(&b, 2, 1);
	sess_put_u64(&b, 0xfffe, 7);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_hello(&f, &h), 0);
	assert_int_equal(h.max, 1);
	sess_buf_free(&b);

	sess_begin(&b, IC_HB_BEAT, 0);
	sess_put_u64(&b, 1, 2);
	sess_put_u32(&b, 13, 1);
	sess_put_str(&b, 4, "boot");
	sess_put_bytes(&b, 200, NULL, 0);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_beat(&f, &x), 0);
	assert_string_equal(x.boot_id, "boot");
	sess_buf_free(&b);

	sess_begin(&b, IC_KVP_SET, 0);
	sess_put_u32(&b, 2, IC_POOL_GUEST);
	sess_put_u32(&b, 4, 1234); /* tag 4 is not used by KVP */
	sess_put_bytes(&b, 3, "k", 1);
	sess_put_str(&b, 77, "later");
	put_tail(&b, "v", 1);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_kvp(&f, &k), 0);
	assert_int_equal(k.value_len, 1);
	sess_buf_free(&b);
}

static void decoders_refuse_a_foreign_type(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_hello h;
	struct ic_state s;
	struct ic_kvp k;

	ic_enc_state(&b, &(struct ic_state){ .enabled = false });
	f = only_frame(&b);
	assert_int_equal(ic_dec_hello(&f, &h), -EPROTO);
	assert_int_equal(ic_dec_kvp(&f, &k), -EPROTO);
	assert_int_equal(ic_dec_state(&f, &s), 0);
	assert_false(s.enabled);
	f.type = IC_KVP_SET - 1;
	assert_int_equal(ic_dec_kvp(&f, &k), -EPROTO);
	f.type = IC_KVP_DEL_REQ + 1;
	assert_int_equal(ic_dec_kvp(&f, &k), -EPROTO);
	sess_buf_free(&b);
}

/* ---- key-value exchange ---- */

static void pools_have_names(void **state)
{
	assert_string_equal(ic_pool_name(IC_POOL_HOST), "host");
	assert_string_equal(ic_pool_name(IC_POOL_GUEST), "guest");
	assert_string_equal(ic_pool_name(IC_POOL_INTRINSIC), "intrinsic");
	assert_null(ic_pool_name(IC_NPOOLS));
	assert_null(ic_pool_name(IC_POOL_ALL));
	assert_int_equal(ic_pool_parse("host"), IC_POOL_HOST);
	assert_int_equal(ic_pool_parse("guest"), IC_POOL_GUEST);
	assert_int_equal(ic_pool_parse("intrinsic"), IC_POOL_INTRINSIC);
	assert_int_equal(ic_pool_parse("Host"), -1);
	assert_int_equal(ic_pool_parse(""), -1);
	assert_int_equal(ic_pool_parse("hostx"), -1);
	assert_int_equal(ic_pool_parse(NULL), -1);
}

static void keys_are_1_to_512_bytes_without_nul(void **state)
{
	uint8_t key[IC_KVP_MAX_KEY + 1];

	memset(key, 0xff, sizeof(key));
	assert_false(ic_kvp_key_ok(key, 0));
	assert_true(ic_kvp_key_ok(key, 1));
	assert_true(ic_kvp_key_ok(key, IC_KVP_MAX_KEY));
	assert_false(ic_kvp_key_ok(key, IC_KVP_MAX_KEY + 1));
	assert_false(ic_kvp_key_ok("a\0b", 3));
	assert_true(ic_kvp_key_ok("a b/c\n", 6));
}

/* Encodes k as type, decodes it, and checks it comes back the same. */
static void assert_kvp_round_trip(uint16_t type, const struct ic_kvp *k)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_kvp d;

	ic_enc_kvp(&b, type, k);
	f = only_frame(&b);
	assert_int_equal(f.type, type);
	assert_int_equal(ic_dec_kvp(&f, &d), 0);
	assert_int_equal(d.seq, k->seq);
	assert_int_equal(d.pool, k->pool);
	assert_int_equal(d.key_len, k->key_len);
	if (k->key_len)
		assert_memory_equal(d.key, k->key, k->key_len);
	assert_int_equal(d.value_len, k->value_len);
	if (k->value_len)
		assert_memory_equal(d.value, k->value, k->value_len);
	assert_true(d.gen == k->gen);
	sess_buf_free(&b);
}

static void every_kvp_type_round_trips(void **state)
{
	const uint8_t val[] = { 0, 1, 0xff, 0, '\n' };
	struct ic_kvp k = { .pool = IC_POOL_GUEST, .key = (const uint8_t *)"a/b", .key_len = 3 };

	k.value = val, k.value_len = sizeof(val), k.gen = 17;
	assert_kvp_round_trip(IC_KVP_SET, &k);
	k.seq = 4;
	assert_kvp_round_trip(IC_KVP_SET, &k); /* a WATCH event */
	k.value_len = 0;
	assert_kvp_round_trip(IC_KVP_SET, &k); /* an empty value */
	k = (struct ic_kvp){ .pool = IC_POOL_HOST, .key = (const uint8_t *)"k", .key_len = 1 };
	k.gen = 18;
	assert_kvp_round_trip(IC_KVP_DELETE, &k);
	assert_kvp_round_trip(IC_KVP_BEGIN, &(struct ic_kvp){ .pool = IC_POOL_INTRINSIC });
	assert_kvp_round_trip(IC_KVP_COMMIT,
			      &(struct ic_kvp){ .pool = IC_POOL_INTRINSIC, .gen = UINT64_MAX });
	k = (struct ic_kvp){ .seq = 1, .pool = IC_POOL_GUEST, .key = (const uint8_t *)"k" };
	k.key_len = 1;
	assert_kvp_round_trip(IC_KVP_GET, &k);
	assert_kvp_round_trip(IC_KVP_DEL_REQ, &k);
	k.value = val, k.value_len = sizeof(val);
	assert_kvp_round_trip(IC_KVP_SET_REQ, &k);
	k.gen = 3;
	assert_kvp_round_trip(IC_KVP_VALUE, &k);
	assert_kvp_round_trip(IC_KVP_DONE, &(struct ic_kvp){ .seq = 2 });
	k = (struct ic_kvp){ .seq = 9, .pool = IC_POOL_ALL };
	assert_kvp_round_trip(IC_KVP_LIST, &k);
	assert_kvp_round_trip(IC_KVP_WATCH, &k);
	k.pool = IC_POOL_HOST, k.key = (const uint8_t *)"Net", k.key_len = 3;
	assert_kvp_round_trip(IC_KVP_LIST, &k);
	assert_kvp_round_trip(IC_KVP_WATCH, &k);
}

static void kvp_values_travel_in_the_tail_up_to_64k(void **state)
{
	uint8_t *val = malloc(IC_KVP_MAX_VALUE + 1);
	uint8_t key[IC_KVP_MAX_KEY];
	struct ic_kvp k = { .pool = IC_POOL_HOST, .key = key, .key_len = sizeof(key) }, d;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	assert_non_null(val);
	memset(key, 'k', sizeof(key));
	for (size_t i = 0; i <= IC_KVP_MAX_VALUE; i++)
		val[i] = (uint8_t)(i * 7);
	k.value = val, k.value_len = IC_KVP_MAX_VALUE;
	assert_kvp_round_trip(IC_KVP_SET, &k);
	assert_kvp_round_trip(IC_KVP_SET_REQ, &k);

	k.value_len = IC_KVP_MAX_VALUE + 1;
	ic_enc_kvp(&b, IC_KVP_SET, &k);
	assert_int_equal(b.err, -E2BIG);
	assert_int_equal(b.len, 0);
	sess_buf_free(&b);

	sess_begin(&b, IC_KVP_SET, 0);
	sess_put_u32(&b, 2, IC_POOL_HOST);
	sess_put_bytes(&b, 3, "k", 1);
	put_tail(&b, val, IC_KVP_MAX_VALUE + 1);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_kvp(&f, &d), -E2BIG);
	sess_buf_free(&b);
	free(val);
}

static void kvp_tail_is_raw_bytes_after_a_zero_length_marker(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_kvp d;

	/* what follows the marker is value, even if it looks like a field */
	sess_begin(&b, IC_KVP_SET, 0);
	sess_put_u32(&b, 2, IC_POOL_GUEST);
	sess_put_bytes(&b, 3, "k", 1);
	put_tail(&b, NULL, 0);
	sess_put_u64(&b, 5, 99);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_kvp(&f, &d), 0);
	assert_int_equal(d.value_len, 12);
	assert_true(d.gen == 0);
	sess_buf_free(&b);

	/* a marker with a length */
	sess_begin(&b, IC_KVP_SET, 0);
	sess_put_u32(&b, 2, IC_POOL_GUEST);
	sess_put_bytes(&b, 3, "k", 1);
	sess_put_bytes(&b, IC_TAG_TAIL, "v", 1);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_kvp(&f, &d), -EPROTO);
	sess_buf_free(&b);

	/* SET without the tail: the value is required */
	sess_begin(&b, IC_KVP_SET, 0);
	sess_put_u32(&b, 2, IC_POOL_GUEST);
	sess_put_bytes(&b, 3, "k", 1);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_kvp(&f, &d), -EPROTO);
	sess_buf_free(&b);

	/* DELETE carries no value: a tail is skipped */
	sess_begin(&b, IC_KVP_DELETE, 0);
	sess_put_u32(&b, 2, IC_POOL_GUEST);
	sess_put_bytes(&b, 3, "k", 1);
	put_tail(&b, "ignored", 7);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_kvp(&f, &d), 0);
	assert_null(d.value);
	assert_int_equal(d.value_len, 0);
	sess_buf_free(&b);

	/* a tail ends any frame's field list: HELLO's max is not read */
	sess_begin(&b, IC_HELLO, 0);
	sess_put_u32(&b, 1, 1);
	put_tail(&b, NULL, 0);
	sess_put_u32(&b, 2, 1);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_hello(&f, &(struct ic_hello){ 0 }), -EPROTO);
	sess_buf_free(&b);
}

/* A KVP frame of type with pool and key (key_len bytes of key). */
static int dec_kvp_with(uint16_t type, uint32_t pool, const void *key, size_t key_len)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_kvp d;
	int r;

	sess_begin(&b, type, 0);
	sess_put_u32(&b, 1, 1);
	sess_put_u32(&b, 2, pool);
	sess_put_bytes(&b, 3, key, key_len);
	put_tail(&b, "v", 1);
	sess_end(&b);
	f = built_frame(&b);
	r = ic_dec_kvp(&f, &d);
	sess_buf_free(&b);
	return r;
}

static void kvp_keys_and_pools_are_checked_per_type(void **state)
{
	static const uint16_t keyed[] = { IC_KVP_SET,	IC_KVP_DELETE,	IC_KVP_GET,
					  IC_KVP_VALUE, IC_KVP_SET_REQ, IC_KVP_DEL_REQ };
	uint8_t key[IC_KVP_MAX_KEY + 1];

	memset(key, 'k', sizeof(key));
	for (size_t i = 0; i < sizeof(keyed) / sizeof(keyed[0]); i++) {
		uint16_t t = keyed[i];

		assert_int_equal(dec_kvp_with(t, IC_POOL_HOST, key, 1), 0);
		assert_int_equal(dec_kvp_with(t, IC_POOL_HOST, key, IC_KVP_MAX_KEY), 0);
		assert_int_equal(dec_kvp_with(t, IC_POOL_HOST, key, 0), -EPROTO);
		assert_int_equal(dec_kvp_with(t, IC_POOL_HOST, key, IC_KVP_MAX_KEY + 1), -E2BIG);
		assert_int_equal(dec_kvp_with(t, IC_POOL_HOST, "a\0b", 3), -EPROTO);
		assert_int_equal(dec_kvp_with(t, IC_NPOOLS, key, 1), -EPROTO);
		assert_int_equal(dec_kvp_with(t, IC_POOL_ALL, key, 1), -EPROTO);
	}
	/* LIST and WATCH: every pool, an empty prefix */
	for (uint16_t t = IC_KVP_LIST; t <= IC_KVP_WATCH; t++) {
		assert_int_equal(dec_kvp_with(t, IC_POOL_ALL, key, 0), 0);
		assert_int_equal(dec_kvp_with(t, IC_POOL_INTRINSIC, key, 5), 0);
		assert_int_equal(dec_kvp_with(t, IC_NPOOLS, key, 0), -EPROTO);
		assert_int_equal(dec_kvp_with(t, IC_POOL_ALL, "a\0", 2), -EPROTO);
		assert_int_equal(dec_kvp_with(t, IC_POOL_ALL, key, IC_KVP_MAX_KEY + 1), -E2BIG);
	}
	/* BEGIN, COMMIT: a pool, no key; DONE: neither */
	assert_int_equal(dec_kvp_with(IC_KVP_BEGIN, IC_POOL_GUEST, "", 0), 0);
	assert_int_equal(dec_kvp_with(IC_KVP_COMMIT, IC_POOL_ALL, "", 0), -EPROTO);
	assert_int_equal(dec_kvp_with(IC_KVP_DONE, 12345, "a\0", 2), 0);
}

static void kvp_encoder_refuses_what_the_decoder_would(void **state)
{
	uint8_t key[IC_KVP_MAX_KEY + 1];
	struct ic_kvp k = { .pool = IC_POOL_HOST, .key = key, .key_len = 0 };
	struct sess_buf b = { 0 };

	memset(key, 'k', sizeof(key));
	ic_enc_kvp(&b, IC_KVP_SET, &k);
	assert_int_equal(b.err, -EINVAL);
	sess_buf_free(&b);
	k.key_len = IC_KVP_MAX_KEY + 1;
	ic_enc_kvp(&b, IC_KVP_DELETE, &k);
	assert_int_equal(b.err, -E2BIG);
	sess_buf_free(&b);
	k.key_len = 1, k.pool = IC_POOL_ALL;
	ic_enc_kvp(&b, IC_KVP_GET, &k);
	assert_int_equal(b.err, -EINVAL);
	sess_buf_free(&b);
	ic_enc_kvp(&b, IC_HELLO, &k);
	assert_int_equal(b.err, -EINVAL);
	assert_int_equal(b.len, 0);
	sess_buf_free(&b);
}

static void kvp_requests_need_a_seq(void **state)
{
	static const uint16_t types[] = { IC_KVP_GET,  IC_KVP_VALUE,   IC_KVP_LIST,   IC_KVP_WATCH,
					  IC_KVP_DONE, IC_KVP_SET_REQ, IC_KVP_DEL_REQ };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct sess_buf b = { 0 };
		struct sess_frame f;
		struct ic_kvp d;

		sess_begin(&b, types[i], 0);
		sess_put_u32(&b, 2, IC_POOL_GUEST);
		sess_put_bytes(&b, 3, "k", 1);
		put_tail(&b, "v", 1);
		sess_end(&b);
		f = only_frame(&b);
		assert_int_equal(ic_dec_kvp(&f, &d), -EPROTO);
		sess_buf_free(&b);
	}
}

/* ---- filesystem freeze ---- */

static void fz_freeze_round_trips_with_64_mounts_not_65(void **state)
{
	struct ic_fz_freeze z = { .seq = 9, .timeout_ms = IC_FZ_MAX_TIMEOUT_MS }, y;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	for (uint32_t i = 0; i < IC_FZ_MAX_MOUNTS; i++)
		z.mounts[z.nmounts++] = i % 2 ? "/" : "/srv/data dir";
	ic_enc_fz_freeze(&b, &z);
	f = only_frame(&b);
	assert_string_equal(ic_type_name(f.type), "FREEZE");
	assert_int_equal(ic_dec_fz_freeze(&f, &y), 0);
	assert_int_equal(y.seq, 9);
	assert_int_equal(y.timeout_ms, IC_FZ_MAX_TIMEOUT_MS);
	assert_int_equal(y.nmounts, IC_FZ_MAX_MOUNTS);
	assert_string_equal(y.mounts[0], "/srv/data dir");
	assert_string_equal(y.mounts[63], "/");
	sess_buf_free(&b);

	z.nmounts = IC_FZ_MAX_MOUNTS + 1;
	ic_enc_fz_freeze(&b, &z);
	assert_int_equal(b.err, -E2BIG);
	sess_buf_free(&b);
	sess_begin(&b, IC_FZ_FREEZE, 0);
	for (uint32_t i = 0; i <= IC_FZ_MAX_MOUNTS; i++)
		sess_put_str(&b, 3, "/");
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_fz_freeze(&f, &y), -EPROTO);
	sess_buf_free(&b);

	ic_enc_fz_freeze(&b, &(struct ic_fz_freeze){ 0 }); /* every field optional */
	f = only_frame(&b);
	assert_int_equal(ic_dec_fz_freeze(&f, &y), 0);
	assert_int_equal(y.timeout_ms, 0);
	assert_int_equal(y.nmounts, 0);
	sess_buf_free(&b);
}

static void fz_freeze_timeout_is_at_most_600s_and_mounts_absolute(void **state)
{
	char *long_path = xs(IC_FZ_MAX_PATH + 1);
	const char *bad[] = { "relative", "", long_path };
	int errs[] = { -EINVAL, -EINVAL, -E2BIG };
	struct ic_fz_freeze z = { .seq = 1, .timeout_ms = IC_FZ_MAX_TIMEOUT_MS + 1 }, y;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	long_path[0] = '/';
	ic_enc_fz_freeze(&b, &z);
	assert_int_equal(b.err, -EINVAL);
	sess_buf_free(&b);
	sess_begin(&b, IC_FZ_FREEZE, 0);
	sess_put_u32(&b, 2, IC_FZ_MAX_TIMEOUT_MS + 1);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_fz_freeze(&f, &y), -EPROTO);
	sess_buf_free(&b);

	for (size_t i = 0; i < 3; i++) {
		z = (struct ic_fz_freeze){ .nmounts = 1, .mounts = { bad[i] } };
		ic_enc_fz_freeze(&b, &z);
		assert_int_equal(b.err, errs[i]);
		sess_buf_free(&b);
		if (!bad[i][0])
			continue; /* an empty string is no string on the wire */
		sess_begin(&b, IC_FZ_FREEZE, 0);
		sess_put_str(&b, 3, bad[i]);
		sess_end(&b);
		f = only_frame(&b);
		assert_int_equal(ic_dec_fz_freeze(&f, &y), -EPROTO);
		sess_buf_free(&b);
	}
	free(long_path);
}

static void fz_results_round_trip_as_frozen_thawed_and_status(void **state)
{
	const uint16_t types[] = { IC_FZ_FROZEN, IC_FZ_THAWED, IC_FZ_STATUS };
	const char *names[] = { "FROZEN", "THAWED", "STATUS" };
	struct ic_fz_result r = {
		.seq = 3, .err = EIO, .state = IC_FZ_FROZEN_STATE, .message = "partly",
		.thaw_in_ms = 1ull << 40, .nmounts = 2, .mounts = { "/", "/mnt/data" },
		.nfailures = 1, .failures = { "/mnt/nfs: Operation not supported" },
	}, s;

	for (size_t i = 0; i < 3; i++) {
		struct sess_buf b = { 0 };
		struct sess_frame f;

		ic_enc_fz_result(&b, types[i], &r);
		f = only_frame(&b);
		assert_int_equal(f.type, types[i]);
		assert_string_equal(ic_type_name(f.type), names[i]);
		assert_int_equal(ic_dec_fz_result(&f, &s), 0);
		assert_int_equal(s.seq, 3);
		assert_int_equal(s.err, EIO);
		assert_int_equal(s.state, IC_FZ_FROZEN_STATE);
		assert_string_equal(s.message, "partly");
		assert_true(s.thaw_in_ms == 1ull << 40);
		assert_int_equal(s.nmounts, 2);
		assert_string_equal(s.mounts[1], "/mnt/data");
		assert_int_equal(s.nfailures, 1);
		assert_string_equal(s.failures[0], "/mnt/nfs: Operation not supported");
		sess_buf_free(&b);
	}
}

static void fz_results_check_state_counts_and_type(void **state)
{
	struct ic_fz_result r = { .state = 2 }, s;
	struct sess_buf b = { 0 };
	struct sess_frame f;

	ic_enc_fz_result(&b, IC_FZ_STATUS, &r);
	assert_int_equal(b.err, -EINVAL);
	sess_buf_free(&b);
	r.state = 0;
	ic_enc_fz_result(&b, IC_FZ_FREEZE, &r);
	assert_int_equal(b.err, -EINVAL);
	sess_buf_free(&b);
	r.nfailures = IC_FZ_MAX_MOUNTS + 1;
	ic_enc_fz_result(&b, IC_FZ_STATUS, &r);
	assert_int_equal(b.err, -E2BIG);
	sess_buf_free(&b);

	sess_begin(&b, IC_FZ_STATUS, 0);
	sess_put_u32(&b, 3, 2);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_fz_result(&f, &s), -EPROTO);
	sess_buf_free(&b);
	sess_begin(&b, IC_FZ_THAWED, 0);
	for (uint32_t i = 0; i <= IC_FZ_MAX_MOUNTS; i++)
		sess_put_str(&b, 6, "/");
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_fz_result(&f, &s), -EPROTO);
	sess_buf_free(&b);
	ic_enc_fz_thaw(&b, 1);
	f = only_frame(&b);
	assert_int_equal(ic_dec_fz_result(&f, &s), -EPROTO);
	sess_buf_free(&b);
}

static void fz_thaw_carries_a_seq(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	uint32_t seq;

	ic_enc_fz_thaw(&b, 77);
	f = only_frame(&b);
	assert_string_equal(ic_type_name(f.type), "THAW");
	assert_int_equal(ic_dec_fz_thaw(&f, &seq), 0);
	assert_int_equal(seq, 77);
	assert_int_equal(ic_dec_fz_freeze(&f, &(struct ic_fz_freeze){ 0 }), -EPROTO);
	sess_buf_free(&b);
}

/* ---- time synchronization ---- */

static void ts_request_round_trips_and_needs_seq_and_t1(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_ts_request d;

	ic_enc_ts_request(&b, &(struct ic_ts_request){ .seq = 7, .t1 = -5 });
	f = only_frame(&b);
	assert_int_equal(f.type, IC_TS_REQUEST);
	assert_int_equal(ic_dec_ts_request(&f, &d), 0);
	assert_int_equal(d.seq, 7);
	assert_true(d.t1 == -5);
	sess_buf_free(&b);

	sess_begin(&b, IC_TS_REQUEST, 0);
	sess_put_u32(&b, 1, 7);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_ts_request(&f, &d), -EPROTO);
	sess_buf_free(&b);
}

static void ts_reply_round_trips_with_every_field(void **state)
{
	const struct ic_ts_reply r = {
		.seq = 3,
		.t1 = INT64_MIN,
		.t2 = 1765000000123456789LL,
		.t3 = INT64_MAX,
		.flags = IC_TS_HOST_SYNCED | IC_TS_SYNC_NOW | 0x80,
		.leap = 2,
		.esterror_ns = 1000,
		.maxerror_ns = UINT64_MAX,
		.generation = 9,
	};
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_ts_reply d;

	ic_enc_ts_reply(&b, &r);
	f = only_frame(&b);
	assert_int_equal(ic_dec_ts_reply(&f, &d), 0);
	assert_memory_equal(&d, &r, sizeof(r));
	sess_buf_free(&b);
}

static void ts_reply_needs_the_timestamps_and_a_known_leap(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_ts_reply d;

	ic_enc_ts_reply(&b, &(struct ic_ts_reply){ .leap = 3 });
	assert_int_equal(b.err, -EINVAL);
	assert_int_equal(b.len, 0);
	sess_buf_free(&b);

	for (uint16_t missing = 1; missing <= 4; missing++) {
		sess_begin(&b, IC_TS_REPLY, 0);
		for (uint16_t tag = 1; tag <= 4; tag++)
			if (tag != missing)
				sess_put_u64(&b, tag, 1); /* u64 is no u32: checks seq too */
		sess_end(&b);
		f = only_frame(&b);
		assert_int_equal(ic_dec_ts_reply(&f, &d), -EPROTO);
		sess_buf_free(&b);
	}
	sess_begin(&b, IC_TS_REPLY, 0);
	sess_put_u32(&b, 1, 1);
	for (uint16_t tag = 2; tag <= 4; tag++)
		sess_put_i64(&b, tag, 1);
	sess_put_u32(&b, 6, 3);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_ts_reply(&f, &d), -EPROTO);
	sess_buf_free(&b);
}

static void ts_sync_round_trips_and_needs_a_generation(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_ts_sync d;

	ic_enc_ts_sync(&b, &(struct ic_ts_sync){ .generation = 4, .paused_ns = 20000000000ULL });
	f = only_frame(&b);
	assert_int_equal(ic_dec_ts_sync(&f, &d), 0);
	assert_true(d.generation == 4 && d.paused_ns == 20000000000ULL);
	sess_buf_free(&b);

	sess_begin(&b, IC_TS_SYNC, 0);
	sess_put_u64(&b, 2, 1);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_ts_sync(&f, &d), -EPROTO);
	sess_buf_free(&b);
}

static void ts_report_round_trips_and_bounds_its_strings(void **state)
{
	struct ic_ts_report r = { .mode = "discipline", .offset_ns = -1234, .delay_ns = 800000 };
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_ts_report d;
	char *big = xs(IC_TS_MAX_MESSAGE + 1);

	r.synced = 1, r.steps = 2, r.message = "stepped 30.0 s";
	ic_enc_ts_report(&b, &r);
	f = only_frame(&b);
	assert_int_equal(ic_dec_ts_report(&f, &d), 0);
	assert_string_equal(d.mode, "discipline");
	assert_string_equal(d.message, "stepped 30.0 s");
	assert_true(d.offset_ns == -1234 && d.delay_ns == 800000 && d.steps == 2);
	assert_int_equal(d.synced, 1);
	sess_buf_free(&b);

	r.message = big;
	ic_enc_ts_report(&b, &r);
	assert_int_equal(b.err, -E2BIG);
	sess_buf_free(&b);
	r.message = NULL, r.mode = big + 1 + IC_TS_MAX_MESSAGE - IC_TS_MAX_MODE - 1;
	ic_enc_ts_report(&b, &r);
	assert_int_equal(b.err, -E2BIG);
	sess_buf_free(&b);
	r.mode = NULL;
	ic_enc_ts_report(&b, &r);
	assert_int_equal(b.err, -EINVAL);
	sess_buf_free(&b);
	r.mode = "chrony", r.synced = 2;
	ic_enc_ts_report(&b, &r);
	assert_int_equal(b.err, -EINVAL);
	sess_buf_free(&b);

	sess_begin(&b, IC_TS_REPORT, 0);
	sess_put_str(&b, 1, "off");
	sess_put_u32(&b, 4, 2);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_ts_report(&f, &d), -EPROTO);
	sess_buf_free(&b);
	sess_begin(&b, IC_TS_REPORT, 0);
	sess_put_str(&b, 1, big);
	sess_end(&b);
	f = only_frame(&b);
	assert_int_equal(ic_dec_ts_report(&f, &d), -EPROTO);
	sess_buf_free(&b);
	free(big);
}

static void ts_decoders_refuse_each_others_frames(void **state)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_ts_request q;
	struct ic_ts_reply p;
	struct ic_ts_sync s;
	struct ic_ts_report r;

	ic_enc_ts_request(&b, &(struct ic_ts_request){ .seq = 1, .t1 = 1 });
	f = only_frame(&b);
	assert_int_equal(ic_dec_ts_reply(&f, &p), -EPROTO);
	assert_int_equal(ic_dec_ts_sync(&f, &s), -EPROTO);
	assert_int_equal(ic_dec_ts_report(&f, &r), -EPROTO);
	f.type = IC_SD_REQUEST;
	assert_int_equal(ic_dec_ts_request(&f, &q), -EPROTO);
	sess_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames_are_found_whole_only),
		cmocka_unit_test(frames_over_the_limit_or_off_channel_0_are_refused),
		cmocka_unit_test(encoders_refuse_frames_over_the_limit),
		cmocka_unit_test(type_names_are_known_or_unknown),
		cmocka_unit_test(hello_round_trips_and_needs_a_range),
		cmocka_unit_test(version_pick_takes_the_highest_common),
		cmocka_unit_test(error_round_trips_and_needs_type_and_errno),
		cmocka_unit_test(state_round_trips_and_enabled_is_a_bool),
		cmocka_unit_test(beat_round_trips_with_every_field),
		cmocka_unit_test(beat_needs_n_and_boot_id),
		cmocka_unit_test(beat_strings_are_bounded),
		cmocka_unit_test(ack_round_trips_and_needs_both_fields),
		cmocka_unit_test(sd_request_round_trips_and_checks_action),
		cmocka_unit_test(sd_request_message_is_bounded),
		cmocka_unit_test(sd_reply_round_trips_with_32_blockers_not_33),
		cmocka_unit_test(strings_need_exactly_one_trailing_nul),
		cmocka_unit_test(truncated_and_overlong_fields_are_refused),
		cmocka_unit_test(unknown_tags_are_skipped),
		cmocka_unit_test(decoders_refuse_a_foreign_type),
		cmocka_unit_test(pools_have_names),
		cmocka_unit_test(keys_are_1_to_512_bytes_without_nul),
		cmocka_unit_test(every_kvp_type_round_trips),
		cmocka_unit_test(kvp_values_travel_in_the_tail_up_to_64k),
		cmocka_unit_test(kvp_tail_is_raw_bytes_after_a_zero_length_marker),
		cmocka_unit_test(kvp_keys_and_pools_are_checked_per_type),
		cmocka_unit_test(kvp_encoder_refuses_what_the_decoder_would),
		cmocka_unit_test(kvp_requests_need_a_seq),
		cmocka_unit_test(fz_freeze_round_trips_with_64_mounts_not_65),
		cmocka_unit_test(fz_freeze_timeout_is_at_most_600s_and_mounts_absolute),
		cmocka_unit_test(fz_results_round_trip_as_frozen_thawed_and_status),
		cmocka_unit_test(fz_results_check_state_counts_and_type),
		cmocka_unit_test(fz_thaw_carries_a_seq),
		cmocka_unit_test(ts_request_round_trips_and_needs_seq_and_t1),
		cmocka_unit_test(ts_reply_round_trips_with_every_field),
		cmocka_unit_test(ts_reply_needs_the_timestamps_and_a_known_leap),
		cmocka_unit_test(ts_sync_round_trips_and_needs_a_generation),
		cmocka_unit_test(ts_report_round_trips_and_bounds_its_strings),
		cmocka_unit_test(ts_decoders_refuse_each_others_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
