/* SPDX-License-Identifier: MIT */
/*
 * kvpjson.h - key-value exchange keys and values in the control protocol's
 * JSON (docs/control-protocol.md, "kvp"): bytes travel as a string when
 * they are text (kvj_text_ok), else in base64 under NAME_b64.
 *
 * Text here is stricter than "UTF-8 without NUL": no control character but
 * tab, newline and carriage return. json-c then writes at most two bytes
 * per byte (\t, \", \/ ...; never a six-byte \u00XX), so a reply with a
 * 64 KiB value stays within CTL_MSG_MAX, and a watch or list line within
 * what vmsvc reads per line.
 *
 * Pure: json-c and nettle, no I/O.
 */
#ifndef VMSVCD_KVPJSON_H
#define VMSVCD_KVPJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "kvpool.h"

/* Whether p[0..n) is valid UTF-8 (no overlong forms, surrogates, or code
 * points above U+10FFFF) without control characters but \t \n \r. */
bool kvj_text_ok(const uint8_t *p, size_t n);

/* Adds name (a string) or name_b64 to o, as kvj_text_ok decides. */
void kvj_add_bytes(json_object *o, const char *name, const uint8_t *p, size_t n);

/*
 * Reads name (a string) or name_b64 (base64) of o into *out (malloc'd, at
 * least one byte allocated; caller frees) and *n. Returns 0, -ENOENT when
 * neither is there, -EINVAL when it is no string or no valid base64,
 * -E2BIG when it holds more than max bytes, -ENOMEM.
 */
int kvj_get_bytes(json_object *o, const char *name, size_t max, uint8_t **out, size_t *n);

enum kvj_op { KVJ_ITEM, KVJ_SET, KVJ_DELETE };

/*
 * One item: {"pool","key"|"key_b64","value"|"value_b64","gen"}, with
 * "op":"set"|"delete" for a watch event (no value for a delete), and
 * "stale":true when the copy is stale. NULL on ENOMEM.
 */
json_object *kvj_item(uint32_t pool, const struct kvp_entry *e, uint64_t gen, enum kvj_op op,
		      bool stale);

/* A line of a list or watch stream: kvj_item's JSON and '\n', malloc'd
 * (caller frees) and NUL-terminated, its length (without the NUL) in
 * *len. NULL on ENOMEM. */
char *kvj_line(uint32_t pool, const struct kvp_entry *e, uint64_t gen, enum kvj_op op, bool stale,
	       size_t *len);

#endif
