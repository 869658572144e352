/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "counters.h"

struct counter_entry {
	hv_guid_t id;
	struct counters c;
};

struct counter_table {
	size_t n, cap;
	struct counter_entry *v;
};

struct counters *counters_service(struct counter_table **tp, const hv_guid_t *id)
{
	struct counter_table *t = *tp;

	if (!t && !(t = *tp = calloc(1, sizeof(*t))))
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		if (hv_guid_equal(&t->v[i].id, id))
			return &t->v[i].c;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		struct counter_entry *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n] = (struct counter_entry){ .id = *id };
	return &t->v[t->n++].c;
}

struct counter_table *counter_table_free(struct counter_table *t)
{
	if (t)
		free(t->v);
	free(t);
	return NULL;
}

size_t counter_table_count(const struct counter_table *t)
{
	return t ? t->n : 0;
}

struct counters *counter_table_at(struct counter_table *t, size_t i, hv_guid_t *id)
{
	*id = t->v[i].id;
	return &t->v[i].c;
}

const char *refusal_name(enum refusal r)
{
	static const char *const names[] = { "not_registered", "disabled", "no_listener",
					     "wrong_vm", "not_permitted" };

	return names[r];
}

void counters_to_json(const struct counters *c, const struct counters *extra, json_object *o)
{
	static const struct counters zero;
	json_object *refused = json_object_new_object();

	if (!extra)
		extra = &zero;
	json_object_object_add(o, "accepted", json_object_new_int64((int64_t)c->accepted));
	json_object_object_add(o, "active", json_object_new_int64((int64_t)c->active));
	json_object_object_add(
		o, "bytes_to_host",
		json_object_new_int64((int64_t)(c->bytes_to_host + extra->bytes_to_host)));
	json_object_object_add(
		o, "bytes_to_guest",
		json_object_new_int64((int64_t)(c->bytes_to_guest + extra->bytes_to_guest)));
	for (int r = 0; r < REFUSED_MAX; r++)
		json_object_object_add(refused, refusal_name((enum refusal)r),
				       json_object_new_int64((int64_t)c->refused[r]));
	json_object_object_add(o, "refused", refused);
}
