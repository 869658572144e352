/* SPDX-License-Identifier: MIT */
/*
 * agent-kvp-run.c - the key-value exchange in the worker (agent-kvp-run.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-kvp-files.h"
#include "agent-kvp-run.h"
#include "agent-kvp-sock.h"
#include "agent-log.h"
#include "agent-users.h"

struct akvr {
	struct akvr_paths paths;
	struct akvp *store;
	struct akvs *sock;
	struct akvf *mirror;
	struct akvi *intr;
	bool configured, enabled, listening;
	char read_group[AGENT_MAX_GROUP_NAME + 1];
	char listen_err[256]; /* logged last */
	bool group_err_logged;
	uint64_t rescan_at;
	size_t nsock, nintr; /* pollfds of the last fill */
};

static void mirror_change(void *ctx, uint32_t pool, const struct kvp_entry *e, bool deleted,
			  uint64_t gen)
{
	struct akvr *r = ctx;

	if (r->enabled)
		akvf_change(r->mirror, pool, e, deleted);
}

struct akvr *akvr_new(const struct akvr_paths *paths)
{
	struct akvr *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->paths = *paths;
	r->store = akvp_new(paths->guest_file);
	r->sock = r->store ? akvs_new(r->store) : NULL;
	r->mirror = akvf_new(paths->run_dir);
	r->intr = r->store ? akvi_new(r->store, &paths->src) : NULL;
	if (!r->sock || !r->mirror || !r->intr || akvp_listen(r->store, mirror_change, r) < 0)
		return akvr_free(r);
	return r;
}

struct akvr *akvr_free(struct akvr *r)
{
	if (!r)
		return NULL;
	akvi_free(r->intr);
	akvs_free(r->sock);
	akvf_free(r->mirror);
	akvp_free(r->store);
	free(r);
	return NULL;
}

struct akvp *akvr_store(struct akvr *r)
{
	return r->store;
}

static void try_listen(struct akvr *r)
{
	char why[256];

	if (akvs_listen(r->sock, r->paths.socket, why, sizeof(why)) == 0) {
		r->listening = true;
		r->listen_err[0] = '\0';
		alog_debug("kvp: listening on %s", r->paths.socket);
		return;
	}
	if (strcmp(why, r->listen_err) != 0)
		alog("kvp: %s; trying again every %d s", why, AKVR_RESCAN_MS / 1000);
	snprintf(r->listen_err, sizeof(r->listen_err), "%s", why);
}

/* Who may read the mirror: ReadGroup's gid, or root alone when it names
 * no group. */
static void read_group(struct akvr *r, bool *restricted, gid_t *gid)
{
	*restricted = r->read_group[0] != '\0';
	*gid = 0;
	if (!*restricted || au_group_gid(r->paths.group_file, r->read_group, gid) == 0) {
		r->group_err_logged = false;
		return;
	}
	if (!r->group_err_logged)
		alog("kvp: [KVP] ReadGroup = %s in %s names no group of this guest: only root may "
		     "read the pools",
		     r->read_group, r->paths.config);
	r->group_err_logged = true;
	*gid = 0;
}

/* Sets the mirror's modes and makes it whole when they changed (force:
 * anyway). */
static void mirror_update(struct akvr *r, bool force)
{
	bool restricted;
	gid_t gid;

	read_group(r, &restricted, &gid);
	if (!force && !akvf_group_differs(r->mirror, restricted, gid) && !akvf_broken(r->mirror))
		return;
	akvf_set_group(r->mirror, restricted, gid);
	akvf_sync(r->mirror, akvp_pools(r->store));
}

void akvr_configure(struct akvr *r, const struct aconf *c, uint64_t now)
{
	struct akvs_policy pol = { .enabled = c->kvp_enabled,
				   .config = r->paths.config,
				   .group_file = r->paths.group_file };
	bool was = r->configured && r->enabled;

	snprintf(pol.read_group, sizeof(pol.read_group), "%s", c->kvp_read_group);
	snprintf(pol.write_group, sizeof(pol.write_group), "%s", c->kvp_write_group);
	akvs_set_policy(r->sock, &pol);
	snprintf(r->read_group, sizeof(r->read_group), "%s", c->kvp_read_group);
	if (!r->listening)
		try_listen(r);
	r->enabled = c->kvp_enabled;
	if (r->enabled && !was) {
		akvi_start(r->intr, now);
		mirror_update(r, true);
		alog_debug("kvp: on (socket %s, files under %s)", r->paths.socket,
			   r->paths.run_dir);
	} else if (!r->enabled && (was || !r->configured)) {
		akvi_stop(r->intr);
		akvf_remove_all(r->mirror);
		alog("kvp: turned off in %s ([KVP] Enabled = no): not connecting, %s refuses "
		     "requests, no files under %s",
		     r->paths.config, r->paths.socket, r->paths.run_dir);
	} else if (r->enabled) {
		mirror_update(r, false);
	}
	r->configured = true;
	r->rescan_at = now + AKVR_RESCAN_MS;
}

static void rescan(struct akvr *r, uint64_t now)
{
	r->rescan_at = now + AKVR_RESCAN_MS;
	if (!r->listening)
		try_listen(r);
	if (!r->enabled)
		return;
	akvi_refresh(r->intr);
	mirror_update(r, false);
}

size_t akvr_max_fds(void)
{
	return akvs_max_fds() + AKVI_MAX_FDS;
}

size_t akvr_fill(void *ctx, struct pollfd *p, size_t max, int *timeout_ms, uint64_t now)
{
	struct akvr *r = ctx;
	int t;

	if (!r->configured)
		return r->nsock = r->nintr = 0;
	r->nintr = akvi_fill(r->intr, p, max, timeout_ms, now);
	r->nsock = akvs_fill(r->sock, p + r->nintr, max - r->nintr, timeout_ms, now);
	t = r->rescan_at > now ? (int)(r->rescan_at - now) : 0;
	if (*timeout_ms < 0 || t < *timeout_ms)
		*timeout_ms = t;
	return r->nintr + r->nsock;
}

void akvr_io(void *ctx, const struct pollfd *p, size_t n, uint64_t now)
{
	struct akvr *r = ctx;

	if (!r->configured)
		return;
	akvi_io(r->intr, p, r->nintr < n ? r->nintr : n, now);
	if (n > r->nintr)
		akvs_io(r->sock, p + r->nintr, n - r->nintr, now);
	if (now >= r->rescan_at)
		rescan(r, now);
}
