/* SPDX-License-Identifier: MIT */
/*
 * fuzz-session.c - libFuzzer harness for the VM Session decoder
 * (proto/session.c): arbitrary bytes are split into frames by
 * sess_frame_parse, and every frame is given to every sess_dec_*, whatever
 * its type, as an agent or a host would (a decoder must refuse a foreign
 * type, never read past the payload). What a decoder accepts must encode
 * again and decode to the same values; credit accounting must stay within
 * its bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_exec(const struct sess_frame *f)
{
	struct sess_exec e, back;
	struct sess_buf b = { 0 };
	struct sess_frame g;

	if (sess_dec_exec(f, &e) != 0)
		return;
	sess_enc_exec(&b, &e);
	if (!b.err) {
		if (sess_frame_parse(b.data, b.len, &g) != (long)b.len || sess_dec_exec(&g, &back))
			abort();
		if (back.argc != e.argc || back.envc != e.envc || back.flags != e.flags)
			abort();
		for (uint32_t i = 0; i < e.argc; i++)
			if (strcmp(back.argv[i], e.argv[i]) != 0)
				abort();
		sess_exec_clear(&back);
	}
	sess_buf_free(&b);
	sess_exec_clear(&e);
}

static void check_peer(const struct sess_frame *f)
{
	struct sess_peer p, back;
	struct sess_buf b = { 0 };
	struct sess_frame g;

	if (sess_dec_peer(f, &p) != 0)
		return;
	sess_enc_peer(&b, &p);
	if (!b.err) {
		if (sess_frame_parse(b.data, b.len, &g) != (long)b.len ||
		    sess_dec_peer(&g, &back) || back.uid != p.uid || back.ngroups != p.ngroups ||
		    strcmp(back.user, p.user))
			abort();
	}
	sess_buf_free(&b);
}

static void decode_all(const struct sess_frame *f, struct sess_credit *c)
{
	struct sess_hello h;
	struct sess_started st;
	struct sess_error er;
	struct sess_exit x;
	struct sess_xfer xf;
	struct sess_meta m;
	struct sess_end en;
	struct sess_result r;
	uint32_t a, b, cc, d;

	check_peer(f);
	check_exec(f);
	(void)sess_dec_hello(f, &h);
	(void)sess_dec_started(f, &st);
	(void)sess_dec_error(f, &er);
	(void)sess_dec_exit(f, &x);
	(void)sess_dec_xfer(f, &xf);
	(void)sess_dec_meta(f, &m);
	(void)sess_dec_end(f, &en);
	(void)sess_dec_result(f, &r);
	(void)sess_dec_signal(f, &a);
	(void)sess_dec_resize(f, &a, &b, &cc, &d);
	if (sess_dec_credit(f, &a) == 0)
		(void)sess_credit_give(c, f->chan, a);
	if (f->type == SESS_DATA && sess_credit_take(c, f->chan, f->len) == 0 &&
	    c->avail[f->chan] > UINT32_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sess_credit c;
	struct sess_frame f;
	long n;

	sess_credit_init(&c, SESS_DEFAULT_WINDOW);
	while ((n = sess_frame_parse(data, size, &f)) > 0) {
		if ((size_t)n > size || f.len != (size_t)n - SESS_HDR_SIZE)
			abort();
		decode_all(&f, &c);
		data += n;
		size -= (size_t)n;
	}
	return 0;
}
