/* SPDX-License-Identifier: MIT */
/*
 * ic.c - encoder and decoder of the integration services' frames (ic.h,
 * docs/integration-services.md).
 *
 * Every decoder walks the fields with tlv.h's walker in tail mode (a field
 * with tag IC_TAG_TAIL and len 0 ends the list), records which known tags
 * it saw, checks the required ones are there, and then runs the message's
 * check function. The encoders run the same check function before they
 * write anything, so what an encoder accepts, its decoder accepts too: a
 * refused message leaves -EINVAL (a bad value) or -E2BIG (over a limit of
 * the protocol) in the buffer's sticky error and no frame; -EMSGSIZE is a
 * frame over IC_MAX_FRAME.
 *
 * Only KVP frames that carry a value (SET, VALUE, SET_REQ) use the tail;
 * the others skip one like an unknown field. A KVP frame's fields that its
 * type does not carry are skipped too (the decoded record has them 0).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "ic.h"
#include "tlv.h"

_Static_assert(IC_TAG_TAIL == TLV_TAG_TAIL, "one tail tag");
_Static_assert(IC_MAX_FRAME <= SESS_MAX_FRAME, "an ic frame is a session frame");

/* Field tags, per message (the document lists them). */
enum { T_HELLO_MIN = 1, T_HELLO_MAX = 2, T_HELLO_FEATURES = 3, T_HELLO_SOFTWARE = 4 };
enum { T_ERROR_SEQ = 1, T_ERROR_TYPE = 2, T_ERROR_ERRNO = 3, T_ERROR_MESSAGE = 4 };
enum { T_STATE_ENABLED = 1, T_STATE_INTERVAL = 2 };
enum {
	T_BEAT_N = 1,
	T_BEAT_UPTIME = 2,
	T_BEAT_APP_STATE = 3,
	T_BEAT_BOOT_ID = 4, /* 4-12: the strings, beat_strs[] */
	T_BEAT_SYS_STATE = 5,
	T_BEAT_CRITICAL = 6,
	T_BEAT_HOSTNAME = 7,
	T_BEAT_OS_NAME = 8,
	T_BEAT_OS_ID = 9,
	T_BEAT_OS_VERSION = 10,
	T_BEAT_KERNEL = 11,
	T_BEAT_AGENT = 12,
};
enum { T_ACK_N = 1, T_ACK_INTERVAL = 2 };
enum {
	T_SDREQ_SEQ = 1,
	T_SDREQ_ACTION = 2,
	T_SDREQ_FLAGS = 3,
	T_SDREQ_TIMEOUT = 4,
	T_SDREQ_MESSAGE = 5,
	T_SDREQ_REQUESTER = 6,
};
enum { T_SDREP_SEQ = 1, T_SDREP_ERRNO = 2, T_SDREP_MESSAGE = 3, T_SDREP_BLOCKER = 4 };
enum { T_KVP_SEQ = 1, T_KVP_POOL = 2, T_KVP_KEY = 3, T_KVP_GEN = 5 }; /* 4: never used */

#define BIT(tag) (1u << (tag))

/* ---- frames ---- */

long ic_frame_parse(const uint8_t *buf, size_t size, struct sess_frame *f)
{
	long n = tlv_frame_read(buf, size, IC_MAX_FRAME, f);

	if (n <= 0)
		return n;
	if (f->chan != 0)
		return -EPROTO;
	return f->payload ? n : 0;
}

static const char *const type_names[] = {
	[IC_HELLO] = "HELLO",		[IC_ERROR] = "ERROR",	      [IC_STATE] = "STATE",
	[IC_HB_BEAT] = "BEAT",		[IC_HB_ACK] = "ACK",	      [IC_SD_REQUEST] = "REQUEST",
	[IC_SD_REPLY] = "REPLY",	[IC_KVP_SET] = "SET",	      [IC_KVP_DELETE] = "DELETE",
	[IC_KVP_BEGIN] = "BEGIN",	[IC_KVP_COMMIT] = "COMMIT",   [IC_KVP_GET] = "GET",
	[IC_KVP_VALUE] = "VALUE",	[IC_KVP_LIST] = "LIST",	      [IC_KVP_WATCH] = "WATCH",
	[IC_KVP_DONE] = "DONE",		[IC_KVP_SET_REQ] = "SET_REQ", [IC_KVP_DEL_REQ] = "DEL_REQ",
	[IC_TS_REQUEST] = "TS_REQUEST", [IC_TS_REPLY] = "TS_REPLY",   [IC_TS_SYNC] = "SYNC",
	[IC_TS_REPORT] = "REPORT",
};

static const char *fz_type_name(uint16_t type);

const char *ic_type_name(uint16_t type)
{
	if (fz_type_name(type))
		return fz_type_name(type);
	if (type < sizeof(type_names) / sizeof(type_names[0]) && type_names[type])
		return type_names[type];
	return "unknown";
}

/* ---- shared by the encoders and decoders ---- */

/* Whether err (an encoder's check) refuses the message: then it is b's
 * error, unless b has one already. */
static bool refused(struct sess_buf *b, int err)
{
	if (err < 0 && !b->err)
		b->err = err;
	return err < 0;
}

static void ic_begin(struct sess_buf *b, uint16_t type)
{
	sess_begin(b, type, 0);
}

/* Ends the frame, refusing one over IC_MAX_FRAME. */
static void ic_end(struct sess_buf *b)
{
	if (!b->err && b->len - b->frame - SESS_HDR_SIZE > IC_MAX_FRAME)
		b->err = -EMSGSIZE;
	sess_end(b);
}

/* 0 when s is absent or at most max bytes (without its NUL). */
static int str_fits(const char *s, size_t max)
{
	return s && strnlen(s, max + 1) > max ? -E2BIG : 0;
}

/* A message's field reader: 1 taken, 0 an unknown tag (skipped), -EPROTO. */
typedef int field_fn(const struct tlv_it *it, void *msg);

/*
 * Walks the fields of f (which must be of type) into msg. *seen gets
 * BIT(tag) of every field taken; it->tail is the tail, if any. 0 or
 * -EPROTO.
 */
static int walk(const struct sess_frame *f, uint16_t type, field_fn *field, void *msg,
		struct tlv_it *it, uint32_t *seen)
{
	int r;

	*seen = 0;
	if (tlv_expect_type(f, type) < 0)
		return -EPROTO;
	tlv_init_tail(it, f);
	while ((r = tlv_next(it)) > 0) {
		int taken = field(it, msg);

		if (taken < 0)
			return -EPROTO;
		if (taken && it->tag < 32)
			*seen |= BIT(it->tag);
	}
	return r;
}

/* Runs walk and checks the fields in need are there. */
static int dec_fields(const struct sess_frame *f, uint16_t type, field_fn *field, void *msg,
		      uint32_t need)
{
	struct tlv_it it;
	uint32_t seen;

	if (walk(f, type, field, msg, &it, &seen) < 0 || (seen & need) != need)
		return -EPROTO;
	return 0;
}

/* Helpers for the field readers: the result of a get, as 1 or -EPROTO. */
static int take_u32(const struct tlv_it *it, uint32_t *v)
{
	return tlv_get_u32(it, v) < 0 ? -EPROTO : 1;
}

static int take_u64(const struct tlv_it *it, uint64_t *v)
{
	return tlv_get_u64(it, v) < 0 ? -EPROTO : 1;
}

static int take_str(const struct tlv_it *it, const char **s)
{
	return tlv_get_str(it, s) < 0 ? -EPROTO : 1;
}

/* ---- HELLO ---- */

static int hello_check(const struct ic_hello *h)
{
	return h->min >= 1 && h->min <= h->max ? 0 : -EINVAL;
}

void ic_enc_hello(struct sess_buf *b, const struct ic_hello *h)
{
	if (refused(b, hello_check(h)))
		return;
	ic_begin(b, IC_HELLO);
	sess_put_u32(b, T_HELLO_MIN, h->min);
	sess_put_u32(b, T_HELLO_MAX, h->max);
	sess_put_u64(b, T_HELLO_FEATURES, h->features);
	sess_put_str(b, T_HELLO_SOFTWARE, h->software);
	ic_end(b);
}

static int hello_field(const struct tlv_it *it, void *msg)
{
	struct ic_hello *h = msg;

	switch (it->tag) {
	case T_HELLO_MIN:
		return take_u32(it, &h->min);
	case T_HELLO_MAX:
		return take_u32(it, &h->max);
	case T_HELLO_FEATURES:
		return take_u64(it, &h->features);
	case T_HELLO_SOFTWARE:
		return take_str(it, &h->software);
	default:
		return 0;
	}
}

int ic_dec_hello(const struct sess_frame *f, struct ic_hello *h)
{
	*h = (struct ic_hello){ 0 };
	if (dec_fields(f, IC_HELLO, hello_field, h, BIT(T_HELLO_MIN) | BIT(T_HELLO_MAX)) < 0)
		return -EPROTO;
	return hello_check(h) < 0 ? -EPROTO : 0;
}

uint32_t ic_version_pick(uint32_t amin, uint32_t amax, uint32_t bmin, uint32_t bmax)
{
	uint32_t lo = amin > bmin ? amin : bmin;
	uint32_t hi = amax < bmax ? amax : bmax;

	return lo <= hi ? hi : 0;
}

/* ---- ERROR ---- */

void ic_enc_error(struct sess_buf *b, const struct ic_error *e)
{
	if (refused(b, e->err == 0 ? -EINVAL : 0))
		return;
	ic_begin(b, IC_ERROR);
	sess_put_u32(b, T_ERROR_SEQ, e->seq);
	sess_put_u32(b, T_ERROR_TYPE, e->type);
	sess_put_u32(b, T_ERROR_ERRNO, e->err);
	sess_put_str(b, T_ERROR_MESSAGE, e->message ? e->message : "");
	ic_end(b);
}

static int error_field(const struct tlv_it *it, void *msg)
{
	struct ic_error *e = msg;

	switch (it->tag) {
	case T_ERROR_SEQ:
		return take_u32(it, &e->seq);
	case T_ERROR_TYPE:
		return take_u32(it, &e->type);
	case T_ERROR_ERRNO:
		return take_u32(it, &e->err);
	case T_ERROR_MESSAGE:
		return take_str(it, &e->message);
	default:
		return 0;
	}
}

int ic_dec_error(const struct sess_frame *f, struct ic_error *e)
{
	*e = (struct ic_error){ .message = "" };
	if (dec_fields(f, IC_ERROR, error_field, e, BIT(T_ERROR_TYPE) | BIT(T_ERROR_ERRNO)) < 0)
		return -EPROTO;
	return e->err == 0 ? -EPROTO : 0;
}

/* ---- STATE ---- */

void ic_enc_state(struct sess_buf *b, const struct ic_state *s)
{
	ic_begin(b, IC_STATE);
	sess_put_u32(b, T_STATE_ENABLED, s->enabled);
	sess_put_u32(b, T_STATE_INTERVAL, s->interval_ms);
	ic_end(b);
}

static int state_field(const struct tlv_it *it, void *msg)
{
	struct ic_state *s = msg;

	switch (it->tag) {
	case T_STATE_ENABLED:
		return tlv_get_bool(it, &s->enabled) < 0 ? -EPROTO : 1;
	case T_STATE_INTERVAL:
		return take_u32(it, &s->interval_ms);
	default:
		return 0;
	}
}

int ic_dec_state(const struct sess_frame *f, struct ic_state *s)
{
	*s = (struct ic_state){ 0 };
	return dec_fields(f, IC_STATE, state_field, s, BIT(T_STATE_ENABLED));
}

/* ---- heartbeat: BEAT, ACK ---- */

/* BEAT's string fields: tag and place in struct ic_beat. */
static const struct {
	uint16_t tag;
	size_t off;
} beat_strs[] = {
	{ T_BEAT_BOOT_ID, offsetof(struct ic_beat, boot_id) },
	{ T_BEAT_SYS_STATE, offsetof(struct ic_beat, sys_state) },
	{ T_BEAT_CRITICAL, offsetof(struct ic_beat, critical) },
	{ T_BEAT_HOSTNAME, offsetof(struct ic_beat, hostname) },
	{ T_BEAT_OS_NAME, offsetof(struct ic_beat, os_name) },
	{ T_BEAT_OS_ID, offsetof(struct ic_beat, os_id) },
	{ T_BEAT_OS_VERSION, offsetof(struct ic_beat, os_version) },
	{ T_BEAT_KERNEL, offsetof(struct ic_beat, kernel) },
	{ T_BEAT_AGENT, offsetof(struct ic_beat, agent) },
};
#define NBEAT_STRS (sizeof(beat_strs) / sizeof(beat_strs[0]))

static const char *beat_str(const struct ic_beat *x, size_t i)
{
	return *(const char *const *)((const char *)x + beat_strs[i].off);
}

static int beat_check(const struct ic_beat *x)
{
	if (!x->boot_id || x->app_state > IC_APP_CRITICAL)
		return -EINVAL;
	for (size_t i = 0; i < NBEAT_STRS; i++)
		if (str_fits(beat_str(x, i), IC_HB_MAX_STR) < 0)
			return -E2BIG;
	return 0;
}

void ic_enc_beat(struct sess_buf *b, const struct ic_beat *x)
{
	if (refused(b, beat_check(x)))
		return;
	ic_begin(b, IC_HB_BEAT);
	sess_put_u64(b, T_BEAT_N, x->n);
	sess_put_u64(b, T_BEAT_UPTIME, x->uptime_ms);
	sess_put_u32(b, T_BEAT_APP_STATE, x->app_state);
	for (size_t i = 0; i < NBEAT_STRS; i++)
		sess_put_str(b, beat_strs[i].tag, beat_str(x, i));
	ic_end(b);
}

static int beat_field(const struct tlv_it *it, void *msg)
{
	struct ic_beat *x = msg;

	switch (it->tag) {
	case T_BEAT_N:
		return take_u64(it, &x->n);
	case T_BEAT_UPTIME:
		return take_u64(it, &x->uptime_ms);
	case T_BEAT_APP_STATE:
		return take_u32(it, &x->app_state);
	}
	for (size_t i = 0; i < NBEAT_STRS; i++)
		if (it->tag == beat_strs[i].tag)
			return take_str(it, (const char **)((char *)x + beat_strs[i].off));
	return 0;
}

int ic_dec_beat(const struct sess_frame *f, struct ic_beat *x)
{
	*x = (struct ic_beat){ 0 };
	if (dec_fields(f, IC_HB_BEAT, beat_field, x, BIT(T_BEAT_N) | BIT(T_BEAT_BOOT_ID)) < 0)
		return -EPROTO;
	return beat_check(x) < 0 ? -EPROTO : 0;
}

void ic_enc_hb_ack(struct sess_buf *b, const struct ic_hb_ack *a)
{
	ic_begin(b, IC_HB_ACK);
	sess_put_u64(b, T_ACK_N, a->n);
	sess_put_u32(b, T_ACK_INTERVAL, a->interval_ms);
	ic_end(b);
}

static int ack_field(const struct tlv_it *it, void *msg)
{
	struct ic_hb_ack *a = msg;

	switch (it->tag) {
	case T_ACK_N:
		return take_u64(it, &a->n);
	case T_ACK_INTERVAL:
		return take_u32(it, &a->interval_ms);
	default:
		return 0;
	}
}

int ic_dec_hb_ack(const struct sess_frame *f, struct ic_hb_ack *a)
{
	*a = (struct ic_hb_ack){ 0 };
	return dec_fields(f, IC_HB_ACK, ack_field, a, BIT(T_ACK_N) | BIT(T_ACK_INTERVAL));
}

/* ---- shutdown: REQUEST, REPLY ---- */

static int sd_request_check(const struct ic_sd_request *r)
{
	if (r->action < IC_SD_POWEROFF || r->action > IC_SD_HALT)
		return -EINVAL;
	return str_fits(r->message, IC_SD_MAX_MESSAGE);
}

void ic_enc_sd_request(struct sess_buf *b, const struct ic_sd_request *r)
{
	if (refused(b, sd_request_check(r)))
		return;
	ic_begin(b, IC_SD_REQUEST);
	sess_put_u32(b, T_SDREQ_SEQ, r->seq);
	sess_put_u32(b, T_SDREQ_ACTION, r->action);
	sess_put_u32(b, T_SDREQ_FLAGS, r->flags);
	sess_put_u32(b, T_SDREQ_TIMEOUT, r->timeout_s);
	sess_put_str(b, T_SDREQ_MESSAGE, r->message);
	sess_put_str(b, T_SDREQ_REQUESTER, r->requester);
	ic_end(b);
}

static int sd_request_field(const struct tlv_it *it, void *msg)
{
	struct ic_sd_request *r = msg;

	switch (it->tag) {
	case T_SDREQ_SEQ:
		return take_u32(it, &r->seq);
	case T_SDREQ_ACTION:
		return take_u32(it, &r->action);
	case T_SDREQ_FLAGS:
		return take_u32(it, &r->flags);
	case T_SDREQ_TIMEOUT:
		return take_u32(it, &r->timeout_s);
	case T_SDREQ_MESSAGE:
		return take_str(it, &r->message);
	case T_SDREQ_REQUESTER:
		return take_str(it, &r->requester);
	default:
		return 0;
	}
}

int ic_dec_sd_request(const struct sess_frame *f, struct ic_sd_request *r)
{
	*r = (struct ic_sd_request){ 0 };
	if (dec_fields(f, IC_SD_REQUEST, sd_request_field, r,
		       BIT(T_SDREQ_SEQ) | BIT(T_SDREQ_ACTION)) < 0)
		return -EPROTO;
	return sd_request_check(r) < 0 ? -EPROTO : 0;
}

void ic_enc_sd_reply(struct sess_buf *b, const struct ic_sd_reply *r)
{
	if (refused(b, r->nblockers > IC_SD_MAX_BLOCKERS ? -E2BIG : 0))
		return;
	ic_begin(b, IC_SD_REPLY);
	sess_put_u32(b, T_SDREP_SEQ, r->seq);
	sess_put_u32(b, T_SDREP_ERRNO, r->err);
	sess_put_str(b, T_SDREP_MESSAGE, r->message);
	for (uint32_t i = 0; i < r->nblockers; i++)
		sess_put_str(b, T_SDREP_BLOCKER, r->blockers[i] ? r->blockers[i] : "");
	ic_end(b);
}

static int sd_reply_field(const struct tlv_it *it, void *msg)
{
	struct ic_sd_reply *r = msg;

	switch (it->tag) {
	case T_SDREP_SEQ:
		return take_u32(it, &r->seq);
	case T_SDREP_ERRNO:
		return take_u32(it, &r->err);
	case T_SDREP_MESSAGE:
		return take_str(it, &r->message);
	case T_SDREP_BLOCKER:
		if (r->nblockers >= IC_SD_MAX_BLOCKERS)
			return -EPROTO;
		return take_str(it, &r->blockers[r->nblockers++]);
	default:
		return 0;
	}
}

int ic_dec_sd_reply(const struct sess_frame *f, struct ic_sd_reply *r)
{
	*r = (struct ic_sd_reply){ 0 };
	return dec_fields(f, IC_SD_REPLY, sd_reply_field, r, BIT(T_SDREP_SEQ) | BIT(T_SDREP_ERRNO));
}

/* ---- key-value exchange ---- */

static const char *const pool_names[IC_NPOOLS] = {
	[IC_POOL_HOST] = "host",
	[IC_POOL_GUEST] = "guest",
	[IC_POOL_INTRINSIC] = "intrinsic",
};

const char *ic_pool_name(uint32_t pool)
{
	return pool < IC_NPOOLS ? pool_names[pool] : NULL;
}

int ic_pool_parse(const char *name)
{
	for (int i = 0; name && i < IC_NPOOLS; i++)
		if (strcmp(name, pool_names[i]) == 0)
			return i;
	return -1;
}

bool ic_kvp_key_ok(const void *key, size_t len)
{
	return len >= 1 && len <= IC_KVP_MAX_KEY && !memchr(key, '\0', len);
}

/* What each KVP type carries and needs: BIT(tag) of its fields, K_VALUE
 * for the tail, K_SEARCH for a key prefix and IC_POOL_ALL (LIST, WATCH). */
#define K_SEQ	 BIT(T_KVP_SEQ)
#define K_POOL	 BIT(T_KVP_POOL)
#define K_KEY	 BIT(T_KVP_KEY)
#define K_GEN	 BIT(T_KVP_GEN)
#define K_VALUE	 BIT(16) /* no field has this tag */
#define K_SEARCH BIT(17)

struct kvp_rule {
	uint32_t carries, needs;
};

static const struct kvp_rule kvp_rules[] = {
	[IC_KVP_SET - IC_KVP_SET] = { K_SEQ | K_POOL | K_KEY | K_GEN | K_VALUE,
				      K_POOL | K_KEY | K_VALUE },
	[IC_KVP_DELETE - IC_KVP_SET] = { K_SEQ | K_POOL | K_KEY | K_GEN, K_POOL | K_KEY },
	[IC_KVP_BEGIN - IC_KVP_SET] = { K_SEQ | K_POOL, K_POOL },
	[IC_KVP_COMMIT - IC_KVP_SET] = { K_SEQ | K_POOL | K_GEN, K_POOL },
	[IC_KVP_GET - IC_KVP_SET] = { K_SEQ | K_POOL | K_KEY, K_SEQ | K_POOL | K_KEY },
	[IC_KVP_VALUE - IC_KVP_SET] = { K_SEQ | K_POOL | K_KEY | K_GEN | K_VALUE,
					K_SEQ | K_POOL | K_KEY | K_VALUE },
	[IC_KVP_LIST - IC_KVP_SET] = { K_SEQ | K_POOL | K_KEY | K_SEARCH, K_SEQ | K_POOL },
	[IC_KVP_WATCH - IC_KVP_SET] = { K_SEQ | K_POOL | K_KEY | K_SEARCH, K_SEQ | K_POOL },
	[IC_KVP_DONE - IC_KVP_SET] = { K_SEQ, K_SEQ },
	[IC_KVP_SET_REQ - IC_KVP_SET] = { K_SEQ | K_POOL | K_KEY | K_VALUE,
					  K_SEQ | K_POOL | K_KEY | K_VALUE },
	[IC_KVP_DEL_REQ - IC_KVP_SET] = { K_SEQ | K_POOL | K_KEY, K_SEQ | K_POOL | K_KEY },
};

static const struct kvp_rule *kvp_rule(uint16_t type)
{
	if (type < IC_KVP_SET || type > IC_KVP_DEL_REQ)
		return NULL;
	return &kvp_rules[type - IC_KVP_SET];
}

/* The values of the fields rule carries (the others are ignored): 0,
 * -E2BIG a key or value too long, -EINVAL another bad value. */
static int kvp_check(const struct kvp_rule *rule, const struct ic_kvp *k)
{
	bool search = rule->carries & K_SEARCH;

	if ((rule->carries & K_POOL) && k->pool >= IC_NPOOLS && !(search && k->pool == IC_POOL_ALL))
		return -EINVAL;
	if ((rule->carries & K_KEY) && k->key_len > IC_KVP_MAX_KEY)
		return -E2BIG;
	if ((rule->carries & K_VALUE) && k->value_len > IC_KVP_MAX_VALUE)
		return -E2BIG;
	if ((rule->needs & K_KEY) || (search && k->key_len > 0))
		return ic_kvp_key_ok(k->key, k->key_len) ? 0 : -EINVAL;
	return 0;
}

void ic_enc_kvp(struct sess_buf *b, uint16_t type, const struct ic_kvp *k)
{
	const struct kvp_rule *rule = kvp_rule(type);

	if (refused(b, rule ? kvp_check(rule, k) : -EINVAL))
		return;
	ic_begin(b, type);
	sess_put_u32(b, T_KVP_SEQ, k->seq);
	if (rule->carries & K_POOL)
		sess_put_u32(b, T_KVP_POOL, k->pool);
	if ((rule->needs & K_KEY) || ((rule->carries & K_KEY) && k->key_len > 0))
		sess_put_bytes(b, T_KVP_KEY, k->key, k->key_len);
	if (rule->carries & K_GEN)
		sess_put_u64(b, T_KVP_GEN, k->gen);
	if (rule->carries & K_VALUE) {
		sess_put_bytes(b, IC_TAG_TAIL, NULL, 0);
		sess_put_raw(b, k->value, k->value_len);
	}
	ic_end(b);
}

static int kvp_field(const struct tlv_it *it, void *msg)
{
	struct ic_kvp *k = msg;

	switch (it->tag) {
	case T_KVP_SEQ:
		return take_u32(it, &k->seq);
	case T_KVP_POOL:
		return take_u32(it, &k->pool);
	case T_KVP_KEY:
		k->key = it->val;
		k->key_len = it->len;
		return 1;
	case T_KVP_GEN:
		return take_u64(it, &k->gen);
	default:
		return 0;
	}
}

/* Forgets the fields a type does not carry (skipped like unknown ones). */
static void kvp_keep(const struct kvp_rule *rule, struct ic_kvp *k)
{
	if (!(rule->carries & K_POOL))
		k->pool = 0;
	if (!(rule->carries & K_KEY)) {
		k->key = NULL;
		k->key_len = 0;
	}
	if (!(rule->carries & K_GEN))
		k->gen = 0;
}

int ic_dec_kvp(const struct sess_frame *f, struct ic_kvp *k)
{
	const struct kvp_rule *rule = kvp_rule(f->type);
	struct tlv_it it;
	uint32_t seen;
	int r;

	*k = (struct ic_kvp){ 0 };
	if (!rule || walk(f, f->type, kvp_field, k, &it, &seen) < 0)
		return -EPROTO;
	if ((rule->carries & K_VALUE) && it.tail) {
		if (it.tail_len > IC_KVP_MAX_VALUE)
			return -E2BIG;
		k->value = it.tail;
		k->value_len = (uint32_t)it.tail_len;
		seen |= K_VALUE;
	}
	kvp_keep(rule, k);
	if ((seen & rule->needs) != rule->needs)
		return -EPROTO;
	r = kvp_check(rule, k);
	return r == -E2BIG ? r : r < 0 ? -EPROTO : 0;
}

/* ---- filesystem freeze: FREEZE, FROZEN/THAWED/STATUS, THAW ---- */

enum { T_FZ_SEQ = 1, T_FZ_TIMEOUT = 2, T_FZ_MOUNT = 3 };
enum {
	T_FZR_SEQ = 1,
	T_FZR_ERRNO = 2,
	T_FZR_STATE = 3,
	T_FZR_MESSAGE = 4,
	T_FZR_THAW_IN = 5,
	T_FZR_MOUNT = 6,
	T_FZR_FAILURE = 7,
};

/* A result's message and each failure ("MOUNT: why"): a path and a reason. */
#define FZ_MAX_TEXT (IC_FZ_MAX_PATH + 512)

static const char *const fz_type_names[] = {
	[IC_FZ_FREEZE - IC_FZ_FREEZE] = "FREEZE", [IC_FZ_FROZEN - IC_FZ_FREEZE] = "FROZEN",
	[IC_FZ_THAW - IC_FZ_FREEZE] = "THAW",	  [IC_FZ_THAWED - IC_FZ_FREEZE] = "THAWED",
	[IC_FZ_STATUS - IC_FZ_FREEZE] = "STATUS",
};

/* The freeze frames' names (ic_type_name asks), NULL for other types. */
static const char *fz_type_name(uint16_t type)
{
	if (type < IC_FZ_FREEZE || type > IC_FZ_STATUS)
		return NULL;
	return fz_type_names[type - IC_FZ_FREEZE];
}

/* A mount named in FREEZE: an absolute path within IC_FZ_MAX_PATH. */
static int fz_mount_check(const char *m)
{
	if (!m || m[0] != '/')
		return -EINVAL;
	return str_fits(m, IC_FZ_MAX_PATH);
}

static int fz_freeze_check(const struct ic_fz_freeze *z)
{
	if (z->timeout_ms > IC_FZ_MAX_TIMEOUT_MS)
		return -EINVAL;
	if (z->nmounts > IC_FZ_MAX_MOUNTS)
		return -E2BIG;
	for (uint32_t i = 0; i < z->nmounts; i++) {
		int r = fz_mount_check(z->mounts[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

void ic_enc_fz_freeze(struct sess_buf *b, const struct ic_fz_freeze *z)
{
	if (refused(b, fz_freeze_check(z)))
		return;
	ic_begin(b, IC_FZ_FREEZE);
	sess_put_u32(b, T_FZ_SEQ, z->seq);
	sess_put_u32(b, T_FZ_TIMEOUT, z->timeout_ms);
	for (uint32_t i = 0; i < z->nmounts; i++)
		sess_put_str(b, T_FZ_MOUNT, z->mounts[i]);
	ic_end(b);
}

static int fz_freeze_field(const struct tlv_it *it, void *msg)
{
	struct ic_fz_freeze *z = msg;

	switch (it->tag) {
	case T_FZ_SEQ:
		return take_u32(it, &z->seq);
	case T_FZ_TIMEOUT:
		return take_u32(it, &z->timeout_ms);
	case T_FZ_MOUNT:
		if (z->nmounts >= IC_FZ_MAX_MOUNTS)
			return -EPROTO;
		return take_str(it, &z->mounts[z->nmounts++]);
	default:
		return 0;
	}
}

int ic_dec_fz_freeze(const struct sess_frame *f, struct ic_fz_freeze *z)
{
	*z = (struct ic_fz_freeze){ 0 };
	if (dec_fields(f, IC_FZ_FREEZE, fz_freeze_field, z, 0) < 0)
		return -EPROTO;
	return fz_freeze_check(z) < 0 ? -EPROTO : 0;
}

static bool fz_result_type(uint16_t type)
{
	return type == IC_FZ_FROZEN || type == IC_FZ_THAWED || type == IC_FZ_STATUS;
}

static int fz_strs_check(uint32_t n, const char *const *s, size_t max)
{
	if (n > IC_FZ_MAX_MOUNTS)
		return -E2BIG;
	for (uint32_t i = 0; i < n; i++) {
		if (!s[i])
			return -EINVAL;
		if (str_fits(s[i], max) < 0)
			return -E2BIG;
	}
	return 0;
}

static int fz_result_check(const struct ic_fz_result *r)
{
	int e;

	if (r->state > IC_FZ_FROZEN_STATE)
		return -EINVAL;
	if (str_fits(r->message, FZ_MAX_TEXT) < 0)
		return -E2BIG;
	e = fz_strs_check(r->nmounts, r->mounts, IC_FZ_MAX_PATH);
	return e < 0 ? e : fz_strs_check(r->nfailures, r->failures, FZ_MAX_TEXT);
}

void ic_enc_fz_result(struct sess_buf *b, uint16_t type, const struct ic_fz_result *r)
{
	if (refused(b, fz_result_type(type) ? fz_result_check(r) : -EINVAL))
		return;
	ic_begin(b, type);
	sess_put_u32(b, T_FZR_SEQ, r->seq);
	sess_put_u32(b, T_FZR_ERRNO, r->err);
	sess_put_u32(b, T_FZR_STATE, r->state);
	sess_put_str(b, T_FZR_MESSAGE, r->message);
	sess_put_u64(b, T_FZR_THAW_IN, r->thaw_in_ms);
	for (uint32_t i = 0; i < r->nmounts; i++)
		sess_put_str(b, T_FZR_MOUNT, r->mounts[i]);
	for (uint32_t i = 0; i < r->nfailures; i++)
		sess_put_str(b, T_FZR_FAILURE, r->failures[i]);
	ic_end(b);
}

/* Takes one more string of a repeated field into list[*n]. */
static int take_nth(const struct tlv_it *it, const char **list, uint32_t *n)
{
	if (*n >= IC_FZ_MAX_MOUNTS)
		return -EPROTO;
	return take_str(it, &list[(*n)++]);
}

static int fz_result_field(const struct tlv_it *it, void *msg)
{
	struct ic_fz_result *r = msg;

	switch (it->tag) {
	case T_FZR_SEQ:
		return take_u32(it, &r->seq);
	case T_FZR_ERRNO:
		return take_u32(it, &r->err);
	case T_FZR_STATE:
		return take_u32(it, &r->state);
	case T_FZR_MESSAGE:
		return take_str(it, &r->message);
	case T_FZR_THAW_IN:
		return take_u64(it, &r->thaw_in_ms);
	case T_FZR_MOUNT:
		return take_nth(it, r->mounts, &r->nmounts);
	case T_FZR_FAILURE:
		return take_nth(it, r->failures, &r->nfailures);
	default:
		return 0;
	}
}

int ic_dec_fz_result(const struct sess_frame *f, struct ic_fz_result *r)
{
	*r = (struct ic_fz_result){ 0 };
	if (!fz_result_type(f->type) || dec_fields(f, f->type, fz_result_field, r, 0) < 0)
		return -EPROTO;
	return fz_result_check(r) < 0 ? -EPROTO : 0;
}

void ic_enc_fz_thaw(struct sess_buf *b, uint32_t seq)
{
	ic_begin(b, IC_FZ_THAW);
	sess_put_u32(b, T_FZ_SEQ, seq);
	ic_end(b);
}

static int fz_thaw_field(const struct tlv_it *it, void *msg)
{
	return it->tag == T_FZ_SEQ ? take_u32(it, msg) : 0;
}

int ic_dec_fz_thaw(const struct sess_frame *f, uint32_t *seq)
{
	*seq = 0;
	return dec_fields(f, IC_FZ_THAW, fz_thaw_field, seq, 0);
}

/* ---- time synchronization: REQUEST, REPLY, SYNC, REPORT ---- */

enum { T_TSREQ_SEQ = 1, T_TSREQ_T1 = 2 };
enum {
	T_TSREP_SEQ = 1,
	T_TSREP_T1 = 2,
	T_TSREP_T2 = 3,
	T_TSREP_T3 = 4,
	T_TSREP_FLAGS = 5,
	T_TSREP_LEAP = 6,
	T_TSREP_ESTERROR = 7,
	T_TSREP_MAXERROR = 8,
	T_TSREP_GENERATION = 9,
};
enum { T_TSSYNC_GENERATION = 1, T_TSSYNC_PAUSED = 2 };
enum {
	T_TSRPT_MODE = 1,
	T_TSRPT_OFFSET = 2,
	T_TSRPT_DELAY = 3,
	T_TSRPT_SYNCED = 4,
	T_TSRPT_STEPS = 5,
	T_TSRPT_MESSAGE = 6,
};

static int take_i64(const struct tlv_it *it, int64_t *v)
{
	uint64_t u;

	if (tlv_get_u64(it, &u) < 0)
		return -EPROTO;
	*v = (int64_t)u;
	return 1;
}

void ic_enc_ts_request(struct sess_buf *b, const struct ic_ts_request *r)
{
	ic_begin(b, IC_TS_REQUEST);
	sess_put_u32(b, T_TSREQ_SEQ, r->seq);
	sess_put_i64(b, T_TSREQ_T1, r->t1);
	ic_end(b);
}

static int ts_request_field(const struct tlv_it *it, void *msg)
{
	struct ic_ts_request *r = msg;

	switch (it->tag) {
	case T_TSREQ_SEQ:
		return take_u32(it, &r->seq);
	case T_TSREQ_T1:
		return take_i64(it, &r->t1);
	default:
		return 0;
	}
}

int ic_dec_ts_request(const struct sess_frame *f, struct ic_ts_request *r)
{
	*r = (struct ic_ts_request){ 0 };
	return dec_fields(f, IC_TS_REQUEST, ts_request_field, r,
			  BIT(T_TSREQ_SEQ) | BIT(T_TSREQ_T1));
}

static int ts_reply_check(const struct ic_ts_reply *r)
{
	return r->leap <= 2 ? 0 : -EINVAL;
}

void ic_enc_ts_reply(struct sess_buf *b, const struct ic_ts_reply *r)
{
	if (refused(b, ts_reply_check(r)))
		return;
	ic_begin(b, IC_TS_REPLY);
	sess_put_u32(b, T_TSREP_SEQ, r->seq);
	sess_put_i64(b, T_TSREP_T1, r->t1);
	sess_put_i64(b, T_TSREP_T2, r->t2);
	sess_put_i64(b, T_TSREP_T3, r->t3);
	sess_put_u32(b, T_TSREP_FLAGS, r->flags);
	sess_put_u32(b, T_TSREP_LEAP, r->leap);
	sess_put_u64(b, T_TSREP_ESTERROR, r->esterror_ns);
	sess_put_u64(b, T_TSREP_MAXERROR, r->maxerror_ns);
	sess_put_u64(b, T_TSREP_GENERATION, r->generation);
	ic_end(b);
}

static int ts_reply_field(const struct tlv_it *it, void *msg)
{
	struct ic_ts_reply *r = msg;

	switch (it->tag) {
	case T_TSREP_SEQ:
		return take_u32(it, &r->seq);
	case T_TSREP_T1:
		return take_i64(it, &r->t1);
	case T_TSREP_T2:
		return take_i64(it, &r->t2);
	case T_TSREP_T3:
		return take_i64(it, &r->t3);
	case T_TSREP_FLAGS:
		return take_u32(it, &r->flags);
	case T_TSREP_LEAP:
		return take_u32(it, &r->leap);
	case T_TSREP_ESTERROR:
		return take_u64(it, &r->esterror_ns);
	case T_TSREP_MAXERROR:
		return take_u64(it, &r->maxerror_ns);
	case T_TSREP_GENERATION:
		return take_u64(it, &r->generation);
	default:
		return 0;
	}
}

int ic_dec_ts_reply(const struct sess_frame *f, struct ic_ts_reply *r)
{
	*r = (struct ic_ts_reply){ 0 };
	if (dec_fields(f, IC_TS_REPLY, ts_reply_field, r,
		       BIT(T_TSREP_SEQ) | BIT(T_TSREP_T1) | BIT(T_TSREP_T2) | BIT(T_TSREP_T3)) < 0)
		return -EPROTO;
	return ts_reply_check(r) < 0 ? -EPROTO : 0;
}

void ic_enc_ts_sync(struct sess_buf *b, const struct ic_ts_sync *s)
{
	ic_begin(b, IC_TS_SYNC);
	sess_put_u64(b, T_TSSYNC_GENERATION, s->generation);
	sess_put_u64(b, T_TSSYNC_PAUSED, s->paused_ns);
	ic_end(b);
}

static int ts_sync_field(const struct tlv_it *it, void *msg)
{
	struct ic_ts_sync *s = msg;

	switch (it->tag) {
	case T_TSSYNC_GENERATION:
		return take_u64(it, &s->generation);
	case T_TSSYNC_PAUSED:
		return take_u64(it, &s->paused_ns);
	default:
		return 0;
	}
}

int ic_dec_ts_sync(const struct sess_frame *f, struct ic_ts_sync *s)
{
	*s = (struct ic_ts_sync){ 0 };
	return dec_fields(f, IC_TS_SYNC, ts_sync_field, s, BIT(T_TSSYNC_GENERATION));
}

static int ts_report_check(const struct ic_ts_report *r)
{
	if (!r->mode || r->synced > 1)
		return -EINVAL;
	if (str_fits(r->mode, IC_TS_MAX_MODE) < 0)
		return -E2BIG;
	return str_fits(r->message, IC_TS_MAX_MESSAGE);
}

void ic_enc_ts_report(struct sess_buf *b, const struct ic_ts_report *r)
{
	if (refused(b, ts_report_check(r)))
		return;
	ic_begin(b, IC_TS_REPORT);
	sess_put_str(b, T_TSRPT_MODE, r->mode);
	sess_put_i64(b, T_TSRPT_OFFSET, r->offset_ns);
	sess_put_u64(b, T_TSRPT_DELAY, r->delay_ns);
	sess_put_u32(b, T_TSRPT_SYNCED, r->synced);
	sess_put_u64(b, T_TSRPT_STEPS, r->steps);
	sess_put_str(b, T_TSRPT_MESSAGE, r->message);
	ic_end(b);
}

static int ts_report_field(const struct tlv_it *it, void *msg)
{
	struct ic_ts_report *r = msg;

	switch (it->tag) {
	case T_TSRPT_MODE:
		return take_str(it, &r->mode);
	case T_TSRPT_OFFSET:
		return take_i64(it, &r->offset_ns);
	case T_TSRPT_DELAY:
		return take_u64(it, &r->delay_ns);
	case T_TSRPT_SYNCED:
		return take_u32(it, &r->synced);
	case T_TSRPT_STEPS:
		return take_u64(it, &r->steps);
	case T_TSRPT_MESSAGE:
		return take_str(it, &r->message);
	default:
		return 0;
	}
}

int ic_dec_ts_report(const struct sess_frame *f, struct ic_ts_report *r)
{
	*r = (struct ic_ts_report){ 0 };
	if (dec_fields(f, IC_TS_REPORT, ts_report_field, r, BIT(T_TSRPT_MODE)) < 0)
		return -EPROTO;
	return ts_report_check(r) < 0 ? -EPROTO : 0;
}
