/* SPDX-License-Identifier: MIT */
/*
 * counters.h - connection counters per service (kept by GUID, reported by
 * friendly name) and per VM.
 */
#ifndef VMSVCD_COUNTERS_H
#define VMSVCD_COUNTERS_H

#include <json-c/json.h>
#include <stdint.h>

#include <vmsvc/vmsvc.h>

/* Why a connection was refused. */
enum refusal {
	REFUSED_NOT_REGISTERED,
	REFUSED_DISABLED,
	REFUSED_NO_LISTENER,
	REFUSED_WRONG_VM,
	REFUSED_NOT_PERMITTED,
	REFUSED_MAX
};

struct counters {
	uint64_t accepted;
	uint64_t refused[REFUSED_MAX];
	uint64_t active;
	uint64_t bytes_to_host;
	uint64_t bytes_to_guest;
	/* route.c's log budget for refusals (a token bucket; not reported) */
	uint64_t log_ms;
	uint32_t log_tokens, log_quiet;
};

struct counter_table;

/* The counters of service id, created on first use; NULL on ENOMEM. */
struct counters *counters_service(struct counter_table **t, const hv_guid_t *id);
/* Frees the table; accepts NULL, returns NULL. */
struct counter_table *counter_table_free(struct counter_table *t);
/* Number of services in the table and the i-th one's id and counters. */
size_t counter_table_count(const struct counter_table *t);
struct counters *counter_table_at(struct counter_table *t, size_t i, hv_guid_t *id);

/* Adds c's fields to JSON object o ("accepted", "active", "bytes_to_host",
 * "bytes_to_guest", "refused":{...}). extra (may be NULL) is added on top
 * (live bytes of open connections). */
void counters_to_json(const struct counters *c, const struct counters *extra, json_object *o);

const char *refusal_name(enum refusal r);

#endif
