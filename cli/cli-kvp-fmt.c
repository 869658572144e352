/* SPDX-License-Identifier: MIT */
/*
 * cli-kvp-fmt.c - vmsvc kvp's items and how they are shown: as lines of
 * text with every byte a terminal could misread escaped, or as JSON that
 * keeps the exact bytes (a string when the bytes are UTF-8 without NUL,
 * else base64 in a *_b64 field, as vmsvcd's control protocol does).
 */
#include <errno.h>
#include <json-c/json.h>
#include <nettle/base64.h>
#include <stdlib.h>
#include <string.h>

#include "cli-kvp.h"
#include "ic.h"

/* ---- items ---- */

void cli_kvp_item_clear(struct cli_kvp_item *it)
{
	free(it->key);
	free(it->value);
	*it = (struct cli_kvp_item){ 0 };
}

/* A malloc'd copy of p[0..n), never NULL on success (n may be 0). */
static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

int cli_kvp_item_set(struct cli_kvp_item *it, uint32_t pool, const void *key, size_t key_len,
		     const void *value, size_t value_len, uint64_t gen)
{
	cli_kvp_item_clear(it);
	it->key = dup_bytes(key, key_len);
	it->value = dup_bytes(value, value_len);
	if (!it->key || !it->value) {
		cli_kvp_item_clear(it);
		return -ENOMEM;
	}
	it->pool = pool;
	it->key_len = key_len;
	it->value_len = value_len;
	it->gen = gen;
	return 0;
}

void cli_kvp_list_clear(struct cli_kvp_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		cli_kvp_item_clear(&l->v[i]);
	free(l->v);
	*l = (struct cli_kvp_list){ 0 };
}

int cli_kvp_list_push(struct cli_kvp_list *l, struct cli_kvp_item *it)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct cli_kvp_item *v = reallocarray(l->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *it;
	*it = (struct cli_kvp_item){ 0 };
	return 0;
}

bool cli_kvp_has_prefix(const uint8_t *key, size_t key_len, const char *prefix)
{
	size_t n = strlen(prefix);

	return n <= key_len && memcmp(key, prefix, n) == 0;
}

/* ---- UTF-8 ---- */

/* The length (1-4) of the valid UTF-8 sequence at p[0..n) and its code
 * point, or 0 when p does not start one (a stray continuation byte, a
 * truncated sequence, an overlong form, a surrogate, beyond U+10FFFF). */
static size_t utf8_seq(const uint8_t *p, size_t n, uint32_t *cp)
{
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len;
	uint32_t c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, c = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, c = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
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
	if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

bool cli_kvp_utf8_ok(const uint8_t *p, size_t n)
{
	uint32_t c;

	for (size_t i = 0, len; i < n; i += len) {
		len = utf8_seq(p + i, n - i, &c);
		if (!len || c == 0)
			return false;
	}
	return true;
}

/* ---- text ---- */

static void put_hex(FILE *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "\\x%02x", p[i]);
}

void cli_kvp_escape(FILE *out, const uint8_t *p, size_t n, bool field)
{
	uint32_t c;

	for (size_t i = 0, len; i < n; i += len) {
		len = utf8_seq(p + i, n - i, &c);
		if (!len) {
			put_hex(out, p + i, 1);
			len = 1;
		} else if (c == '\\') {
			fputs("\\\\", out);
		} else if (c == '\n') {
			fputs("\\n", out);
		} else if (c == '\r') {
			fputs("\\r", out);
		} else if (c == '\t') {
			fputs("\\t", out);
		} else if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || (field && c == ' ')) {
			put_hex(out, p + i, len);
		} else {
			fwrite(p + i, 1, len, out);
		}
	}
}

char *cli_kvp_escape_str(const uint8_t *p, size_t n, bool field)
{
	char *s = NULL;
	size_t len;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	cli_kvp_escape(f, p, n, field);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static const char *pool_name(uint32_t pool)
{
	const char *s = ic_pool_name(pool);

	return s ? s : "?";
}

void cli_kvp_print_list(FILE *out, const struct cli_kvp_list *l, bool json)
{
	if (json) {
		json_object *a = json_object_new_array();
		for (size_t i = 0; i < l->n; i++)
			json_object_array_add(a, cli_kvp_item_json(&l->v[i], false));
		fprintf(out, "%s\n",
			json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_SPACED |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(a);
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct cli_kvp_item *it = &l->v[i];
		fprintf(out, "%s ", pool_name(it->pool));
		cli_kvp_escape(out, it->key, it->key_len, true);
		if (it->value_len) {
			fputc(' ', out);
			cli_kvp_escape(out, it->value, it->value_len, false);
		}
		fputc('\n', out);
	}
}

void cli_kvp_print_event(FILE *out, const struct cli_kvp_item *it, bool json)
{
	if (json) {
		json_object *o = cli_kvp_item_json(it, true);
		fprintf(out, "%s\n",
			json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		fprintf(out, "%s %s ", it->deleted ? "delete" : "set", pool_name(it->pool));
		cli_kvp_escape(out, it->key, it->key_len, true);
		if (!it->deleted && it->value_len) {
			fputc(' ', out);
			cli_kvp_escape(out, it->value, it->value_len, false);
		}
		fputc('\n', out);
	}
	fflush(out);
}

/* ---- base64 and JSON ---- */

char *cli_kvp_b64_encode(const uint8_t *p, size_t n)
{
	char *s = malloc(BASE64_ENCODE_RAW_LENGTH(n) + 1);

	if (!s)
		return NULL;
	base64_encode_raw(s, n, p);
	s[BASE64_ENCODE_RAW_LENGTH(n)] = '\0';
	return s;
}

int cli_kvp_b64_decode(const char *s, size_t len, uint8_t **out, size_t *n)
{
	struct base64_decode_ctx ctx;
	uint8_t *d = malloc(BASE64_DECODE_LENGTH(len) + 1);
	size_t dlen = BASE64_DECODE_LENGTH(len);

	if (!d)
		return -ENOMEM;
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &dlen, d, len, s) || !base64_decode_final(&ctx)) {
		free(d);
		return -EINVAL;
	}
	*out = d;
	*n = dlen;
	return 0;
}

void cli_kvp_json_add_bytes(json_object *o, const char *name, const uint8_t *p, size_t n)
{
	char field[64];
	char *b64;

	if (cli_kvp_utf8_ok(p, n)) {
		json_object_object_add(o, name,
				       json_object_new_string_len((const char *)p, (int)n));
		return;
	}
	snprintf(field, sizeof(field), "%s_b64", name);
	b64 = cli_kvp_b64_encode(p, n);
	json_object_object_add(o, field, b64 ? json_object_new_string(b64) : NULL);
	free(b64);
}

int cli_kvp_json_get_bytes(json_object *o, const char *name, uint8_t **out, size_t *n)
{
	char field[64];
	json_object *v;

	if (json_object_object_get_ex(o, name, &v)) {
		if (!json_object_is_type(v, json_type_string))
			return -EPROTO;
		*n = (size_t)json_object_get_string_len(v);
		*out = dup_bytes(json_object_get_string(v), *n);
		return *out ? 0 : -ENOMEM;
	}
	snprintf(field, sizeof(field), "%s_b64", name);
	if (!json_object_object_get_ex(o, field, &v))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_string))
		return -EPROTO;
	int r = cli_kvp_b64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v),
				   out, n);
	return r == -EINVAL ? -EPROTO : r;
}

json_object *cli_kvp_item_json(const struct cli_kvp_item *it, bool op)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "pool", json_object_new_string(pool_name(it->pool)));
	if (op)
		json_object_object_add(o, "op",
				       json_object_new_string(it->deleted ? "delete" : "set"));
	cli_kvp_json_add_bytes(o, "key", it->key, it->key_len);
	if (!it->deleted)
		cli_kvp_json_add_bytes(o, "value", it->value, it->value_len);
	json_object_object_add(o, "gen", json_object_new_uint64(it->gen));
	if (it->stale)
		json_object_object_add(o, "stale", json_object_new_boolean(true));
	return o;
}
