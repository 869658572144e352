/* SPDX-License-Identifier: MIT */
/* kvpjson.c - key-value exchange bytes in JSON (kvpjson.h). */
#include <errno.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ic.h"
#include "kvpjson.h"

/* The length of the UTF-8 sequence at p (at most n bytes), or 0 when it
 * is malformed, overlong, a surrogate or above U+10FFFF. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint32_t c;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, c = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

bool kvj_text_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0, len; i < n; i += len) {
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return false;
		if (!(len = utf8_len(p + i, n - i)))
			return false;
	}
	return true;
}

void kvj_add_bytes(json_object *o, const char *name, const uint8_t *p, size_t n)
{
	char field[64];
	char *b64;

	if (kvj_text_ok(p, n)) {
		json_object_object_add(o, name,
				       json_object_new_string_len((const char *)p, (int)n));
		return;
	}
	snprintf(field, sizeof(field), "%s_b64", name);
	b64 = malloc(BASE64_ENCODE_RAW_LENGTH(n) + 1);
	if (b64) {
		base64_encode_raw(b64, n, p);
		b64[BASE64_ENCODE_RAW_LENGTH(n)] = '\0';
	}
	json_object_object_add(o, field, b64 ? json_object_new_string(b64) : NULL);
	free(b64);
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

static int b64_decode(const char *s, size_t len, size_t max, uint8_t **out, size_t *n)
{
	struct base64_decode_ctx ctx;
	size_t dlen = BASE64_DECODE_LENGTH(len);
	uint8_t *d;

	/* 4 characters per 3 bytes: refuse what cannot fit before decoding */
	if (len / 4 * 3 > max + 2)
		return -E2BIG;
	d = malloc(dlen + 1);
	if (!d)
		return -ENOMEM;
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &dlen, d, len, s) || !base64_decode_final(&ctx)) {
		free(d);
		return -EINVAL;
	}
	if (dlen > max) {
		free(d);
		return -E2BIG;
	}
	*out = d;
	*n = dlen;
	return 0;
}

int kvj_get_bytes(json_object *o, const char *name, size_t max, uint8_t **out, size_t *n)
{
	char field[64];
	json_object *v;
	size_t len;

	if (json_object_object_get_ex(o, name, &v)) {
		if (!json_object_is_type(v, json_type_string))
			return -EINVAL;
		len = (size_t)json_object_get_string_len(v);
		if (len > max)
			return -E2BIG;
		*out = dup_bytes(json_object_get_string(v), len);
		*n = len;
		return *out ? 0 : -ENOMEM;
	}
	snprintf(field, sizeof(field), "%s_b64", name);
	if (!json_object_object_get_ex(o, field, &v))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	return b64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), max,
			  out, n);
}

json_object *kvj_item(uint32_t pool, const struct kvp_entry *e, uint64_t gen, enum kvj_op op,
		      bool stale)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "pool", json_object_new_string(ic_pool_name(pool)));
	if (op != KVJ_ITEM)
		json_object_object_add(o, "op",
				       json_object_new_string(op == KVJ_SET ? "set" : "delete"));
	kvj_add_bytes(o, "key", e->key, e->key_len);
	if (op != KVJ_DELETE)
		kvj_add_bytes(o, "value", e->value, e->value_len);
	json_object_object_add(o, "gen", json_object_new_uint64(gen));
	if (stale)
		json_object_object_add(o, "stale", json_object_new_boolean(true));
	return o;
}

char *kvj_line(uint32_t pool, const struct kvp_entry *e, uint64_t gen, enum kvj_op op, bool stale,
	       size_t *len)
{
	json_object *o = kvj_item(pool, e, gen, op, stale);
	const char *s;
	char *line = NULL;
	size_t n;

	if (!o)
		return NULL;
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
	if (s && (line = malloc(n + 2))) {
		memcpy(line, s, n);
		line[n] = '\n';
		line[n + 1] = '\0';
		*len = n + 1;
	}
	json_object_put(o);
	return line;
}
