/* SPDX-License-Identifier: MIT */
/*
 * fuzz-ic.c - libFuzzer harness for the integration services' decoder
 * (proto/ic.c): arbitrary bytes are split into frames by ic_frame_parse,
 * and every frame is given to every ic_dec_*, whatever its type, as vmsvcd,
 * the agent or the guest's `vmsvc kvp` would (a decoder must refuse a
 * foreign type, never read past the payload). What a decoder accepts, its
 * encoder must accept too (no sticky error), and the frame it writes must
 * decode to the same values.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_bytes(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* The one frame b holds, or abort: an encoder refused what was decoded. */
static struct sess_frame reencoded(const struct sess_buf *b)
{
	struct sess_frame g;

	if (b->err || ic_frame_parse(b->data, b->len, &g) != (long)b->len)
		abort();
	return g;
}

/* Decodes f as T; when that works, encodes it again and decodes that into
 * a second T, which must be the same (same(&x, &y)). */
#define ROUND_TRIP(f, T, dec, enc, same)                   \
	do {                                               \
		T x_, y_;                                  \
		struct sess_buf b_ = { 0 };                \
		struct sess_frame g_;                      \
                                                           \
		if (dec(f, &x_) != 0)                      \
			break;                             \
		enc(&b_, &x_);                             \
		g_ = reencoded(&b_);                       \
		if (dec(&g_, &y_) != 0 || !same(&x_, &y_)) \
			abort();                           \
		sess_buf_free(&b_);                        \
	} while (0)

static bool same_hello(const struct ic_hello *a, const struct ic_hello *b)
{
	uint32_t v = ic_version_pick(IC_VERSION_MIN, IC_VERSION_MAX, a->min, a->max);

	if (v != 0 && (v < a->min || v > a->max || v < IC_VERSION_MIN || v > IC_VERSION_MAX))
		abort();
	return a->min == b->min && a->max == b->max && a->features == b->features &&
	       same_str(a->software, b->software);
}

static bool same_error(const struct ic_error *a, const struct ic_error *b)
{
	return a->seq == b->seq && a->type == b->type && a->err == b->err &&
	       same_str(a->message, b->message);
}

static bool same_state(const struct ic_state *a, const struct ic_state *b)
{
	return a->enabled == b->enabled && a->interval_ms == b->interval_ms;
}

static bool same_beat(const struct ic_beat *a, const struct ic_beat *b)
{
	return a->n == b->n && a->uptime_ms == b->uptime_ms && a->app_state == b->app_state &&
	       same_str(a->boot_id, b->boot_id) && same_str(a->sys_state, b->sys_state) &&
	       same_str(a->critical, b->critical) && same_str(a->hostname, b->hostname) &&
	       same_str(a->os_name, b->os_name) && same_str(a->os_id, b->os_id) &&
	       same_str(a->os_version, b->os_version) && same_str(a->kernel, b->kernel) &&
	       same_str(a->agent, b->agent);
}

static bool same_ack(const struct ic_hb_ack *a, const struct ic_hb_ack *b)
{
	return a->n == b->n && a->interval_ms == b->interval_ms;
}

static bool same_sd_request(const struct ic_sd_request *a, const struct ic_sd_request *b)
{
	return a->seq == b->seq && a->action == b->action && a->flags == b->flags &&
	       a->timeout_s == b->timeout_s && same_str(a->message, b->message) &&
	       same_str(a->requester, b->requester);
}

static bool same_sd_reply(const struct ic_sd_reply *a, const struct ic_sd_reply *b)
{
	if (a->seq != b->seq || a->err != b->err || !same_str(a->message, b->message) ||
	    a->nblockers != b->nblockers || a->nblockers > IC_SD_MAX_BLOCKERS)
		return false;
	for (uint32_t i = 0; i < a->nblockers; i++)
		if (!same_str(a->blockers[i], b->blockers[i]))
			return false;
	return true;
}

static bool same_kvp(const struct ic_kvp *a, const struct ic_kvp *b)
{
	return a->seq == b->seq && a->pool == b->pool && a->gen == b->gen &&
	       same_bytes(a->key, a->key_len, b->key, b->key_len) &&
	       same_bytes(a->value, a->value_len, b->value, b->value_len);
}

/* KVP: the type travels beside the record. */
static void check_kvp(const struct sess_frame *f)
{
	struct ic_kvp k, back;
	struct sess_buf b = { 0 };
	struct sess_frame g;

	if (ic_dec_kvp(f, &k) != 0)
		return;
	if (k.key_len > IC_KVP_MAX_KEY || k.value_len > IC_KVP_MAX_VALUE ||
	    (k.pool >= IC_NPOOLS && k.pool != IC_POOL_ALL))
		abort();
	ic_enc_kvp(&b, f->type, &k);
	g = reencoded(&b);
	if (g.type != f->type || ic_dec_kvp(&g, &back) != 0 || !same_kvp(&k, &back))
		abort();
	sess_buf_free(&b);
}

/* ---- filesystem freeze ---- */

static bool same_strs(uint32_t n, const char *const *a, const char *const *b)
{
	if (n > IC_FZ_MAX_MOUNTS)
		abort();
	for (uint32_t i = 0; i < n; i++)
		if (!same_str(a[i], b[i]))
			return false;
	return true;
}

static bool same_fz_freeze(const struct ic_fz_freeze *a, const struct ic_fz_freeze *b)
{
	if (a->timeout_ms > IC_FZ_MAX_TIMEOUT_MS)
		abort();
	return a->seq == b->seq && a->timeout_ms == b->timeout_ms && a->nmounts == b->nmounts &&
	       same_strs(a->nmounts, a->mounts, b->mounts);
}

/* FROZEN, THAWED, STATUS: the type travels beside the result; THAW. */
static void check_fz(const struct sess_frame *f)
{
	struct ic_fz_result r, back;
	struct sess_buf b = { 0 };
	struct sess_frame g;
	uint32_t seq, seq2;

	ROUND_TRIP(f, struct ic_fz_freeze, ic_dec_fz_freeze, ic_enc_fz_freeze, same_fz_freeze);
	if (ic_dec_fz_thaw(f, &seq) == 0) {
		ic_enc_fz_thaw(&b, seq);
		g = reencoded(&b);
		if (ic_dec_fz_thaw(&g, &seq2) != 0 || seq != seq2)
			abort();
		sess_buf_free(&b);
	}
	if (ic_dec_fz_result(f, &r) != 0)
		return;
	if (r.state > IC_FZ_FROZEN_STATE)
		abort();
	ic_enc_fz_result(&b, f->type, &r);
	g = reencoded(&b);
	if (g.type != f->type || ic_dec_fz_result(&g, &back) != 0 || r.seq != back.seq ||
	    r.err != back.err || r.state != back.state || r.thaw_in_ms != back.thaw_in_ms ||
	    !same_str(r.message, back.message) || r.nmounts != back.nmounts ||
	    r.nfailures != back.nfailures || !same_strs(r.nmounts, r.mounts, back.mounts) ||
	    !same_strs(r.nfailures, r.failures, back.failures))
		abort();
	sess_buf_free(&b);
}

/* ---- time synchronization ---- */

static bool same_ts_request(const struct ic_ts_request *a, const struct ic_ts_request *b)
{
	return a->seq == b->seq && a->t1 == b->t1;
}

static bool same_ts_reply(const struct ic_ts_reply *a, const struct ic_ts_reply *b)
{
	if (a->leap > 2)
		abort();
	return a->seq == b->seq && a->t1 == b->t1 && a->t2 == b->t2 && a->t3 == b->t3 &&
	       a->flags == b->flags && a->leap == b->leap && a->esterror_ns == b->esterror_ns &&
	       a->maxerror_ns == b->maxerror_ns && a->generation == b->generation;
}

static bool same_ts_sync(const struct ic_ts_sync *a, const struct ic_ts_sync *b)
{
	return a->generation == b->generation && a->paused_ns == b->paused_ns;
}

static bool same_ts_report(const struct ic_ts_report *a, const struct ic_ts_report *b)
{
	if (!a->mode || strlen(a->mode) > IC_TS_MAX_MODE || a->synced > 1 ||
	    (a->message && strlen(a->message) > IC_TS_MAX_MESSAGE))
		abort();
	return same_str(a->mode, b->mode) && a->offset_ns == b->offset_ns &&
	       a->delay_ns == b->delay_ns && a->synced == b->synced && a->steps == b->steps &&
	       same_str(a->message, b->message);
}

static void decode_ts(const struct sess_frame *f)
{
	ROUND_TRIP(f, struct ic_ts_request, ic_dec_ts_request, ic_enc_ts_request, same_ts_request);
	ROUND_TRIP(f, struct ic_ts_reply, ic_dec_ts_reply, ic_enc_ts_reply, same_ts_reply);
	ROUND_TRIP(f, struct ic_ts_sync, ic_dec_ts_sync, ic_enc_ts_sync, same_ts_sync);
	ROUND_TRIP(f, struct ic_ts_report, ic_dec_ts_report, ic_enc_ts_report, same_ts_report);
}

static void decode_all(const struct sess_frame *f)
{
	if (!ic_type_name(f->type))
		abort();
	ROUND_TRIP(f, struct ic_hello, ic_dec_hello, ic_enc_hello, same_hello);
	ROUND_TRIP(f, struct ic_error, ic_dec_error, ic_enc_error, same_error);
	ROUND_TRIP(f, struct ic_state, ic_dec_state, ic_enc_state, same_state);
	ROUND_TRIP(f, struct ic_beat, ic_dec_beat, ic_enc_beat, same_beat);
	ROUND_TRIP(f, struct ic_hb_ack, ic_dec_hb_ack, ic_enc_hb_ack, same_ack);
	ROUND_TRIP(f, struct ic_sd_request, ic_dec_sd_request, ic_enc_sd_request, same_sd_request);
	ROUND_TRIP(f, struct ic_sd_reply, ic_dec_sd_reply, ic_enc_sd_reply, same_sd_reply);
	check_kvp(f);
	check_fz(f);
	decode_ts(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sess_frame f;
	long n;

	while ((n = ic_frame_parse(data, size, &f)) > 0) {
		if ((size_t)n > size || f.len != (size_t)n - SESS_HDR_SIZE ||
		    f.len > IC_MAX_FRAME || f.chan != 0)
			abort();
		decode_all(&f);
		data += n;
		size -= (size_t)n;
	}
	return 0;
}
