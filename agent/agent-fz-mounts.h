/* SPDX-License-Identifier: MIT */
/*
 * agent-fz-mounts.h - the filesystems a freeze takes, read from
 * /proc/self/mountinfo (agent-fz.h has the rules). Pure but for reading
 * the file: the unit tests give their own.
 */
#ifndef VMSVC_AGENT_FZ_MOUNTS_H
#define VMSVC_AGENT_FZ_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ic.h"

#define AFZ_FAIL_LEN (IC_FZ_MAX_PATH + 128)

struct afz_mount {
	const char *dev; /* "major:minor" */
	const char *path;
	const char *fstype;
	const char *source;
	bool readonly;
};

struct afz_mounts {
	char *text; /* the file, the strings point into it */
	struct afz_mount *v;
	size_t n;
};

/* Reads mountinfo: 0 or -errno. Free with afz_mounts_free. */
int afz_mounts_read(const char *mountinfo, struct afz_mounts *l);
void afz_mounts_free(struct afz_mounts *l);
/* Why m is never frozen ("read-only", ...), or NULL. */
const char *afz_mount_skip(const struct afz_mount *m);
/*
 * The mount points to freeze, in freeze order (deepest first, `/` last),
 * into out[max] (pointing into l): every eligible mount when nwant is 0,
 * else those of want[] (each an exact mount point); a wanted mount that
 * is not a mount point or cannot be frozen gets a line "PATH: why" in
 * fail[] (*nfail of them). The count, or -E2BIG over max.
 */
int afz_mounts_pick(const struct afz_mounts *l, const char *const *want, uint32_t nwant,
		    const char **out, uint32_t max, char fail[][AFZ_FAIL_LEN], uint32_t *nfail);

#endif /* VMSVC_AGENT_FZ_MOUNTS_H */
