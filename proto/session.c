/* SPDX-License-Identifier: MIT */
/*
 * session.c - encoder and decoder of the VM Session frames (session.h,
 * docs/session-protocol.md). Builders append to a growing buffer whose
 * first error sticks; decoders walk a frame's TLV fields with exact bounds.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "tlv.h"

/* Field tags, per message (the document lists them). */
enum {
	T_PEER_UID = 1,
	T_PEER_GID = 2,
	T_PEER_GROUP = 3, /* repeated */
	T_PEER_USER = 4,
	T_PEER_PID = 5,
	T_PEER_VM = 6,
};
enum { T_HELLO_MAJOR = 1, T_HELLO_MINOR = 2, T_HELLO_FEATURES = 3, T_HELLO_WINDOW = 4 };
enum {
	T_EXEC_FLAGS = 1,
	T_EXEC_ARG = 2, /* repeated, in order */
	T_EXEC_ENV = 3, /* repeated */
	T_EXEC_USER = 4,
	T_EXEC_CWD = 5,
	T_EXEC_TERM = 6,
	T_EXEC_ROWS = 7,
	T_EXEC_COLS = 8,
	T_EXEC_XPIX = 9,
	T_EXEC_YPIX = 10,
	T_EXEC_TIMEOUT = 11,
	T_EXEC_LINGER = 12,
};
enum { T_STARTED_PID = 1, T_STARTED_UID = 2, T_STARTED_GID = 3, T_STARTED_USER = 4 };
enum { T_ERROR_STAGE = 1, T_ERROR_ERRNO = 2, T_ERROR_MESSAGE = 3 };
enum {
	T_EXIT_STATUS = 1, /* exited: the code */
	T_EXIT_SIGNAL = 2, /* killed: the signal */
	T_EXIT_CORE = 3,
	T_EXIT_OUTPUT_OPEN = 4,
	T_EXIT_UTIME = 5,
	T_EXIT_STIME = 6,
	T_EXIT_MAXRSS = 7,
};
enum { T_CREDIT_BYTES = 1 };
enum { T_SIGNAL_SIGNO = 1 };
enum { T_RESIZE_ROWS = 1, T_RESIZE_COLS = 2, T_RESIZE_XPIX = 3, T_RESIZE_YPIX = 4 };
enum { T_XFER_PATH = 1, T_XFER_FLAGS = 2 };
enum {
	T_META_TYPE = 1,
	T_META_NAME = 2,
	T_META_SIZE = 3,
	T_META_MODE = 4,
	T_META_UID = 5,
	T_META_GID = 6,
	T_META_MTIME = 7,
	T_META_LINK = 8,
};
enum { T_END_SHA256 = 1, T_END_COUNT = 2 };
enum { T_RESULT_ERRNO = 1, T_RESULT_MESSAGE = 2, T_RESULT_BYTES = 3 };

/* ---- frames ---- */

static bool is_data_type(uint16_t type)
{
	return type == SESS_DATA || type == SESS_EOF || type == SESS_CREDIT;
}

long sess_frame_parse(const uint8_t *buf, size_t size, struct sess_frame *f)
{
	long n = tlv_frame_read(buf, size, SESS_MAX_FRAME, f);

	if (n <= 0)
		return n;
	if (f->chan >= SESS_NCHANS)
		return -EPROTO;
	if (is_data_type(f->type) ? f->chan == SESS_CH_CONTROL : f->chan != SESS_CH_CONTROL)
		return -EPROTO;
	return f->payload ? n : 0;
}

/* ---- output buffer ---- */

void sess_buf_free(struct sess_buf *b)
{
	free(b->data);
	*b = (struct sess_buf){ 0 };
}

void sess_buf_consume(struct sess_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

static uint8_t *grow(struct sess_buf *b, size_t n)
{
	if (b->err)
		return NULL;
	if (n > SIZE_MAX / 2 - b->len) {
		b->err = -ENOMEM;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->data = p;
		b->cap = cap;
	}
	b->len += n;
	return b->data + b->len - n;
}

void sess_put_raw(struct sess_buf *b, const void *p, size_t n)
{
	uint8_t *d = grow(b, n);

	if (d && n)
		memcpy(d, p, n);
}

void sess_begin(struct sess_buf *b, uint16_t type, uint16_t chan)
{
	uint16_t w[2] = { htole16(type), htole16(chan) };
	uint32_t zero = 0;

	b->frame = b->len;
	sess_put_raw(b, w, sizeof(w));
	sess_put_raw(b, &zero, sizeof(zero));
}

void sess_end(struct sess_buf *b)
{
	size_t n;
	uint32_t len;

	if (b->err)
		return;
	n = b->len - b->frame - SESS_HDR_SIZE;
	if (n > SESS_MAX_FRAME) {
		b->err = -EMSGSIZE;
		return;
	}
	len = htole32((uint32_t)n);
	memcpy(b->data + b->frame + 4, &len, sizeof(len));
}

void sess_put_bytes(struct sess_buf *b, uint16_t tag, const void *p, size_t n)
{
	uint16_t h[2] = { htole16(tag), htole16((uint16_t)n) };

	if (n > TLV_MAX_LEN) {
		if (!b->err)
			b->err = -EMSGSIZE;
		return;
	}
	sess_put_raw(b, h, sizeof(h));
	sess_put_raw(b, p, n);
}

void sess_put_u32(struct sess_buf *b, uint16_t tag, uint32_t v)
{
	uint32_t le = htole32(v);

	sess_put_bytes(b, tag, &le, sizeof(le));
}

void sess_put_u64(struct sess_buf *b, uint16_t tag, uint64_t v)
{
	uint64_t le = htole64(v);

	sess_put_bytes(b, tag, &le, sizeof(le));
}

void sess_put_i64(struct sess_buf *b, uint16_t tag, int64_t v)
{
	sess_put_u64(b, tag, (uint64_t)v);
}

void sess_put_str(struct sess_buf *b, uint16_t tag, const char *s)
{
	if (s)
		sess_put_bytes(b, tag, s, strlen(s) + 1);
}

/* ---- simple frames ---- */

void sess_frame_data(struct sess_buf *b, uint16_t chan, const void *p, size_t n)
{
	sess_begin(b, SESS_DATA, chan);
	sess_put_raw(b, p, n);
	sess_end(b);
}

void sess_frame_eof(struct sess_buf *b, uint16_t chan)
{
	sess_begin(b, SESS_EOF, chan);
	sess_end(b);
}

void sess_frame_credit(struct sess_buf *b, uint16_t chan, uint32_t bytes)
{
	sess_begin(b, SESS_CREDIT, chan);
	sess_put_u32(b, T_CREDIT_BYTES, bytes);
	sess_end(b);
}

void sess_frame_signal(struct sess_buf *b, uint32_t signo)
{
	sess_begin(b, SESS_SIGNAL, SESS_CH_CONTROL);
	sess_put_u32(b, T_SIGNAL_SIGNO, signo);
	sess_end(b);
}

void sess_frame_resize(struct sess_buf *b, uint32_t rows, uint32_t cols, uint32_t xpix,
		       uint32_t ypix)
{
	sess_begin(b, SESS_RESIZE, SESS_CH_CONTROL);
	sess_put_u32(b, T_RESIZE_ROWS, rows);
	sess_put_u32(b, T_RESIZE_COLS, cols);
	sess_put_u32(b, T_RESIZE_XPIX, xpix);
	sess_put_u32(b, T_RESIZE_YPIX, ypix);
	sess_end(b);
}

void sess_frame_error(struct sess_buf *b, uint32_t stage, uint32_t err, const char *msg)
{
	sess_begin(b, SESS_ERROR, SESS_CH_CONTROL);
	sess_put_u32(b, T_ERROR_STAGE, stage);
	sess_put_u32(b, T_ERROR_ERRNO, err);
	sess_put_str(b, T_ERROR_MESSAGE, msg ? msg : "");
	sess_end(b);
}

/* ---- PEER ---- */

void sess_enc_peer(struct sess_buf *b, const struct sess_peer *p)
{
	sess_begin(b, SESS_PEER, SESS_CH_CONTROL);
	sess_put_u32(b, T_PEER_UID, p->uid);
	sess_put_u32(b, T_PEER_GID, p->gid);
	for (uint32_t i = 0; i < p->ngroups && i < SESS_MAX_GROUPS; i++)
		sess_put_u32(b, T_PEER_GROUP, p->groups[i]);
	sess_put_str(b, T_PEER_USER, p->user ? p->user : "");
	sess_put_u32(b, T_PEER_PID, p->pid);
	sess_put_str(b, T_PEER_VM, p->vm ? p->vm : "");
	sess_end(b);
}

static int peer_field(const struct tlv_it *it, struct sess_peer *p, unsigned *seen)
{
	switch (it->tag) {
	case T_PEER_UID:
		*seen |= 1;
		return tlv_get_u32(it, &p->uid);
	case T_PEER_GID:
		*seen |= 2;
		return tlv_get_u32(it, &p->gid);
	case T_PEER_GROUP:
		if (p->ngroups >= SESS_MAX_GROUPS)
			return -EPROTO;
		return tlv_get_u32(it, &p->groups[p->ngroups++]);
	case T_PEER_USER:
		return tlv_get_str(it, &p->user);
	case T_PEER_PID:
		return tlv_get_u32(it, &p->pid);
	case T_PEER_VM:
		return tlv_get_str(it, &p->vm);
	default:
		return 0;
	}
}

int sess_dec_peer(const struct sess_frame *f, struct sess_peer *p)
{
	struct tlv_it it;
	unsigned seen = 0;
	int r;

	*p = (struct sess_peer){ .user = "", .vm = "" };
	if (tlv_expect_type(f, SESS_PEER) < 0)
		return -EPROTO;
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0)
		if (peer_field(&it, p, &seen) < 0)
			return -EPROTO;
	return r < 0 || seen != 3 ? -EPROTO : 0;
}

/* ---- HELLO ---- */

void sess_enc_hello(struct sess_buf *b, const struct sess_hello *h)
{
	sess_begin(b, SESS_HELLO, SESS_CH_CONTROL);
	sess_put_u32(b, T_HELLO_MAJOR, h->major);
	sess_put_u32(b, T_HELLO_MINOR, h->minor);
	sess_put_u32(b, T_HELLO_FEATURES, h->features);
	sess_put_u32(b, T_HELLO_WINDOW, h->window);
	sess_end(b);
}

int sess_dec_hello(const struct sess_frame *f, struct sess_hello *h)
{
	struct tlv_it it;
	unsigned seen = 0;
	int r;

	*h = (struct sess_hello){ 0 };
	if (tlv_expect_type(f, SESS_HELLO) < 0)
		return -EPROTO;
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0) {
		uint32_t *dst = it.tag == T_HELLO_MAJOR	     ? &h->major
				: it.tag == T_HELLO_MINOR    ? &h->minor
				: it.tag == T_HELLO_FEATURES ? &h->features
				: it.tag == T_HELLO_WINDOW   ? &h->window
							     : NULL;
		if (dst && tlv_get_u32(&it, dst) < 0)
			return -EPROTO;
		if (dst)
			seen |= 1u << it.tag;
	}
	if (r < 0 || !(seen & (1u << T_HELLO_MAJOR)) || !(seen & (1u << T_HELLO_WINDOW)))
		return -EPROTO;
	return h->window == 0 ? -EPROTO : 0;
}

/* ---- EXEC ---- */

void sess_enc_exec(struct sess_buf *b, const struct sess_exec *e)
{
	sess_begin(b, SESS_EXEC, SESS_CH_CONTROL);
	sess_put_u32(b, T_EXEC_FLAGS, e->flags);
	for (uint32_t i = 0; i < e->argc; i++)
		sess_put_str(b, T_EXEC_ARG, e->argv[i]);
	for (uint32_t i = 0; i < e->envc; i++)
		sess_put_str(b, T_EXEC_ENV, e->env[i]);
	sess_put_str(b, T_EXEC_USER, e->user);
	sess_put_str(b, T_EXEC_CWD, e->cwd);
	sess_put_str(b, T_EXEC_TERM, e->term);
	sess_put_u32(b, T_EXEC_ROWS, e->rows);
	sess_put_u32(b, T_EXEC_COLS, e->cols);
	sess_put_u32(b, T_EXEC_XPIX, e->xpix);
	sess_put_u32(b, T_EXEC_YPIX, e->ypix);
	sess_put_u32(b, T_EXEC_TIMEOUT, e->timeout_ms);
	sess_put_u32(b, T_EXEC_LINGER, e->linger_ms);
	sess_end(b);
}

void sess_exec_clear(struct sess_exec *e)
{
	free(e->argv);
	free(e->env);
	*e = (struct sess_exec){ 0 };
}

/* First pass: counts of the repeated fields, so the arrays fit exactly. */
static int exec_count(const struct sess_frame *f, uint32_t *argc, uint32_t *envc)
{
	struct tlv_it it;
	int r;

	*argc = *envc = 0;
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0) {
		if (it.tag == T_EXEC_ARG && ++*argc > SESS_MAX_ARGS)
			return -EPROTO;
		if (it.tag == T_EXEC_ENV && ++*envc > SESS_MAX_ENV)
			return -EPROTO;
	}
	return r;
}

static int exec_field(const struct tlv_it *it, struct sess_exec *e)
{
	switch (it->tag) {
	case T_EXEC_FLAGS:
		return tlv_get_u32(it, &e->flags);
	case T_EXEC_ARG:
		return tlv_get_str(it, &e->argv[e->argc++]);
	case T_EXEC_ENV:
		if (tlv_get_str(it, &e->env[e->envc]) < 0 || !strchr(e->env[e->envc], '=') ||
		    e->env[e->envc][0] == '=')
			return -EPROTO;
		e->envc++;
		return 0;
	case T_EXEC_USER:
		return tlv_get_str(it, &e->user);
	case T_EXEC_CWD:
		return tlv_get_str(it, &e->cwd);
	case T_EXEC_TERM:
		return tlv_get_str(it, &e->term);
	case T_EXEC_ROWS:
		return tlv_get_u32(it, &e->rows);
	case T_EXEC_COLS:
		return tlv_get_u32(it, &e->cols);
	case T_EXEC_XPIX:
		return tlv_get_u32(it, &e->xpix);
	case T_EXEC_YPIX:
		return tlv_get_u32(it, &e->ypix);
	case T_EXEC_TIMEOUT:
		return tlv_get_u32(it, &e->timeout_ms);
	case T_EXEC_LINGER:
		return tlv_get_u32(it, &e->linger_ms);
	default:
		return 0;
	}
}

int sess_dec_exec(const struct sess_frame *f, struct sess_exec *e)
{
	uint32_t argc, envc;
	struct tlv_it it;
	int r;

	*e = (struct sess_exec){ 0 };
	if (tlv_expect_type(f, SESS_EXEC) < 0 || exec_count(f, &argc, &envc) < 0)
		return -EPROTO;
	e->argv = calloc(argc + 1, sizeof(*e->argv));
	e->env = calloc(envc + 1, sizeof(*e->env));
	if (!e->argv || !e->env) {
		sess_exec_clear(e);
		return -ENOMEM;
	}
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0)
		if (exec_field(&it, e) < 0)
			break;
	if (r != 0 || (e->argc == 0 && !(e->flags & SESS_EXEC_LOGIN))) {
		sess_exec_clear(e);
		return -EPROTO;
	}
	return 0;
}

/* ---- STARTED, ERROR, EXIT ---- */

void sess_enc_started(struct sess_buf *b, const struct sess_started *s)
{
	sess_begin(b, SESS_STARTED, SESS_CH_CONTROL);
	sess_put_u32(b, T_STARTED_PID, s->pid);
	sess_put_u32(b, T_STARTED_UID, s->uid);
	sess_put_u32(b, T_STARTED_GID, s->gid);
	sess_put_str(b, T_STARTED_USER, s->user ? s->user : "");
	sess_end(b);
}

int sess_dec_started(const struct sess_frame *f, struct sess_started *s)
{
	struct tlv_it it;
	int r, bad = 0;

	*s = (struct sess_started){ .user = "" };
	if (tlv_expect_type(f, SESS_STARTED) < 0)
		return -EPROTO;
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0 && !bad) {
		if (it.tag == T_STARTED_PID)
			bad = tlv_get_u32(&it, &s->pid);
		else if (it.tag == T_STARTED_UID)
			bad = tlv_get_u32(&it, &s->uid);
		else if (it.tag == T_STARTED_GID)
			bad = tlv_get_u32(&it, &s->gid);
		else if (it.tag == T_STARTED_USER)
			bad = tlv_get_str(&it, &s->user);
	}
	return r < 0 || bad ? -EPROTO : 0;
}

int sess_dec_error(const struct sess_frame *f, struct sess_error *e)
{
	struct tlv_it it;
	int r, bad = 0;

	*e = (struct sess_error){ .message = "" };
	if (tlv_expect_type(f, SESS_ERROR) < 0)
		return -EPROTO;
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0 && !bad) {
		if (it.tag == T_ERROR_STAGE)
			bad = tlv_get_u32(&it, &e->stage);
		else if (it.tag == T_ERROR_ERRNO)
			bad = tlv_get_u32(&it, &e->err);
		else if (it.tag == T_ERROR_MESSAGE)
			bad = tlv_get_str(&it, &e->message);
	}
	return r < 0 || bad || e->stage == 0 ? -EPROTO : 0;
}

void sess_enc_exit(struct sess_buf *b, const struct sess_exit *x)
{
	sess_begin(b, SESS_EXIT, SESS_CH_CONTROL);
	sess_put_u32(b, x->signaled ? T_EXIT_SIGNAL : T_EXIT_STATUS, x->code);
	sess_put_u32(b, T_EXIT_CORE, x->core);
	sess_put_u32(b, T_EXIT_OUTPUT_OPEN, x->output_open);
	sess_put_u64(b, T_EXIT_UTIME, x->utime_us);
	sess_put_u64(b, T_EXIT_STIME, x->stime_us);
	sess_put_u64(b, T_EXIT_MAXRSS, x->maxrss_kb);
	sess_end(b);
}

static int exit_field(const struct tlv_it *it, struct sess_exit *x, unsigned *seen)
{
	switch (it->tag) {
	case T_EXIT_STATUS:
	case T_EXIT_SIGNAL:
		x->signaled = it->tag == T_EXIT_SIGNAL;
		*seen += 1;
		return tlv_get_u32(it, &x->code);
	case T_EXIT_CORE:
		return tlv_get_bool(it, &x->core);
	case T_EXIT_OUTPUT_OPEN:
		return tlv_get_bool(it, &x->output_open);
	case T_EXIT_UTIME:
		return tlv_get_u64(it, &x->utime_us);
	case T_EXIT_STIME:
		return tlv_get_u64(it, &x->stime_us);
	case T_EXIT_MAXRSS:
		return tlv_get_u64(it, &x->maxrss_kb);
	default:
		return 0;
	}
}

int sess_dec_exit(const struct sess_frame *f, struct sess_exit *x)
{
	struct tlv_it it;
	unsigned seen = 0;
	int r;

	*x = (struct sess_exit){ 0 };
	if (tlv_expect_type(f, SESS_EXIT) < 0)
		return -EPROTO;
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0)
		if (exit_field(&it, x, &seen) < 0)
			return -EPROTO;
	/* exactly one of status and signal; a status fits in 8 bits */
	if (r < 0 || seen != 1 || (!x->signaled && x->code > 255) ||
	    (x->signaled && (x->code == 0 || x->code > 127)))
		return -EPROTO;
	return 0;
}

/* ---- CREDIT, SIGNAL, RESIZE: u32 fields ---- */

/* Reads the u32 fields tags[0..n) into out[] (each required). */
static int dec_u32s(const struct sess_frame *f, uint16_t type, const uint16_t *tags, uint32_t **out,
		    unsigned n)
{
	struct tlv_it it;
	unsigned seen = 0;
	int r;

	if (tlv_expect_type(f, type) < 0)
		return -EPROTO;
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0)
		for (unsigned i = 0; i < n; i++)
			if (it.tag == tags[i]) {
				if (tlv_get_u32(&it, out[i]) < 0)
					return -EPROTO;
				seen |= 1u << i;
			}
	return r < 0 || seen != (1u << n) - 1 ? -EPROTO : 0;
}

int sess_dec_credit(const struct sess_frame *f, uint32_t *bytes)
{
	static const uint16_t tags[] = { T_CREDIT_BYTES };

	return dec_u32s(f, SESS_CREDIT, tags, (uint32_t *[]){ bytes }, 1);
}

int sess_dec_signal(const struct sess_frame *f, uint32_t *signo)
{
	static const uint16_t tags[] = { T_SIGNAL_SIGNO };
	int r = dec_u32s(f, SESS_SIGNAL, tags, (uint32_t *[]){ signo }, 1);

	return r < 0 || *signo == 0 || *signo > 64 ? -EPROTO : 0;
}

int sess_dec_resize(const struct sess_frame *f, uint32_t *rows, uint32_t *cols, uint32_t *xpix,
		    uint32_t *ypix)
{
	static const uint16_t tags[] = { T_RESIZE_ROWS, T_RESIZE_COLS, T_RESIZE_XPIX,
					 T_RESIZE_YPIX };
	int r = dec_u32s(f, SESS_RESIZE, tags, (uint32_t *[]){ rows, cols, xpix, ypix }, 4);

	return r < 0 || *rows > 0xffff || *cols > 0xffff || *xpix > 0xffff || *ypix > 0xffff
		       ? -EPROTO
		       : 0;
}

/* ---- files ---- */

void sess_enc_xfer(struct sess_buf *b, uint16_t type, const struct sess_xfer *x)
{
	sess_begin(b, type, SESS_CH_CONTROL);
	sess_put_str(b, T_XFER_PATH, x->path);
	sess_put_u32(b, T_XFER_FLAGS, x->flags);
	sess_end(b);
}

int sess_dec_xfer(const struct sess_frame *f, struct sess_xfer *x)
{
	struct tlv_it it;
	int r, bad = 0;

	*x = (struct sess_xfer){ 0 };
	if (f->type != SESS_PUT && f->type != SESS_GET)
		return -EPROTO;
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0 && !bad) {
		if (it.tag == T_XFER_PATH)
			bad = tlv_get_str(&it, &x->path);
		else if (it.tag == T_XFER_FLAGS)
			bad = tlv_get_u32(&it, &x->flags);
	}
	return r < 0 || bad || !x->path || !x->path[0] ? -EPROTO : 0;
}

void sess_enc_meta(struct sess_buf *b, const struct sess_meta *m)
{
	sess_begin(b, SESS_META, SESS_CH_CONTROL);
	sess_put_u32(b, T_META_TYPE, m->type);
	sess_put_str(b, T_META_NAME, m->name ? m->name : "");
	sess_put_u64(b, T_META_SIZE, m->size);
	sess_put_u32(b, T_META_MODE, m->mode);
	sess_put_u32(b, T_META_UID, m->uid);
	sess_put_u32(b, T_META_GID, m->gid);
	sess_put_i64(b, T_META_MTIME, m->mtime_ns);
	sess_put_str(b, T_META_LINK, m->link);
	sess_end(b);
}

static int meta_field(const struct tlv_it *it, struct sess_meta *m)
{
	switch (it->tag) {
	case T_META_TYPE:
		return tlv_get_u32(it, &m->type);
	case T_META_NAME:
		return tlv_get_str(it, &m->name);
	case T_META_SIZE:
		return tlv_get_u64(it, &m->size);
	case T_META_MODE:
		return tlv_get_u32(it, &m->mode);
	case T_META_UID:
		return tlv_get_u32(it, &m->uid);
	case T_META_GID:
		return tlv_get_u32(it, &m->gid);
	case T_META_MTIME:
		return tlv_get_u64(it, (uint64_t *)&m->mtime_ns);
	case T_META_LINK:
		return tlv_get_str(it, &m->link);
	default:
		return 0;
	}
}

bool sess_name_ok(const char *name)
{
	const char *p = name;

	if (name[0] == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/' && *++p == '\0')
			return false;
	}
	return true;
}

int sess_dec_meta(const struct sess_frame *f, struct sess_meta *m)
{
	struct tlv_it it;
	int r;

	*m = (struct sess_meta){ .name = "" };
	if (tlv_expect_type(f, SESS_META) < 0)
		return -EPROTO;
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0)
		if (meta_field(&it, m) < 0)
			return -EPROTO;
	if (r < 0 || m->type < SESS_F_REG || m->type > SESS_F_LINK || m->mode > 07777 ||
	    !sess_name_ok(m->name) || (m->type == SESS_F_LINK) != (m->link != NULL))
		return -EPROTO;
	return 0;
}

void sess_enc_end(struct sess_buf *b, const struct sess_end *e)
{
	sess_begin(b, SESS_END, SESS_CH_CONTROL);
	if (e->has_sha)
		sess_put_bytes(b, T_END_SHA256, e->sha256, SESS_SHA256_SIZE);
	sess_put_u64(b, T_END_COUNT, e->count);
	sess_end(b);
}

int sess_dec_end(const struct sess_frame *f, struct sess_end *e)
{
	struct tlv_it it;
	int r, bad = 0;

	*e = (struct sess_end){ 0 };
	if (tlv_expect_type(f, SESS_END) < 0)
		return -EPROTO;
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0 && !bad) {
		if (it.tag == T_END_SHA256) {
			bad = it.len != SESS_SHA256_SIZE;
			if (!bad)
				memcpy(e->sha256, it.val, SESS_SHA256_SIZE);
			e->has_sha = true;
		} else if (it.tag == T_END_COUNT) {
			bad = tlv_get_u64(&it, &e->count);
		}
	}
	return r < 0 || bad ? -EPROTO : 0;
}

void sess_enc_result(struct sess_buf *b, const struct sess_result *res)
{
	sess_begin(b, SESS_RESULT, SESS_CH_CONTROL);
	sess_put_u32(b, T_RESULT_ERRNO, res->err);
	sess_put_str(b, T_RESULT_MESSAGE, res->message ? res->message : "");
	sess_put_u64(b, T_RESULT_BYTES, res->bytes);
	sess_end(b);
}

int sess_dec_result(const struct sess_frame *f, struct sess_result *res)
{
	struct tlv_it it;
	int r, bad = 0;

	*res = (struct sess_result){ .message = "" };
	if (tlv_expect_type(f, SESS_RESULT) < 0)
		return -EPROTO;
	tlv_init(&it, f);
	while ((r = tlv_next(&it)) > 0 && !bad) {
		if (it.tag == T_RESULT_ERRNO)
			bad = tlv_get_u32(&it, &res->err);
		else if (it.tag == T_RESULT_MESSAGE)
			bad = tlv_get_str(&it, &res->message);
		else if (it.tag == T_RESULT_BYTES)
			bad = tlv_get_u64(&it, &res->bytes);
	}
	return r < 0 || bad ? -EPROTO : 0;
}

/* ---- credit ---- */

void sess_credit_init(struct sess_credit *c, uint32_t window)
{
	for (int i = 0; i < SESS_NCHANS; i++)
		c->avail[i] = i == SESS_CH_CONTROL ? 0 : window;
}

int sess_credit_take(struct sess_credit *c, uint16_t chan, uint32_t n)
{
	if (chan == SESS_CH_CONTROL || chan >= SESS_NCHANS || c->avail[chan] < n)
		return -EPROTO;
	c->avail[chan] -= n;
	return 0;
}

int sess_credit_give(struct sess_credit *c, uint16_t chan, uint32_t n)
{
	if (chan == SESS_CH_CONTROL || chan >= SESS_NCHANS || c->avail[chan] + n > UINT32_MAX)
		return -EPROTO;
	c->avail[chan] += n;
	return 0;
}
