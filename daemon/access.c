/* SPDX-License-Identifier: MIT */
/*
 * access.c - lists of allowed host users and groups (access.h).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "log.h"
#include "util.h"

/* Counts the blank-separated words of s (NULL: 0). */
static unsigned words(const char *s)
{
	unsigned n = 0;

	for (; s && *s; s++)
		n += *s != ' ' && (s[1] == ' ' || s[1] == '\0');
	return n;
}

static void resolve(struct access *a, const char *what)
{
	_cleanup_free_ char *u = a->users ? strdup(a->users) : NULL;
	_cleanup_free_ char *g = a->groups ? strdup(a->groups) : NULL;
	char *save = NULL;

	for (char *w = u ? strtok_r(u, " ", &save) : NULL; w; w = strtok_r(NULL, " ", &save)) {
		const struct passwd *pw = getpwnam(w);

		if (pw)
			a->uids[a->nuids++] = pw->pw_uid;
		else
			log_warn("%s: no user '%s' on this host (ignored)", what, w);
	}
	for (char *w = g ? strtok_r(g, " ", &save) : NULL; w; w = strtok_r(NULL, " ", &save)) {
		const struct group *gr = getgrnam(w);

		if (gr)
			a->gids[a->ngids++] = gr->gr_gid;
		else
			log_warn("%s: no group '%s' on this host (ignored)", what, w);
	}
}

void access_set(struct access *a, const char *what, const char *users, const char *groups)
{
	access_clear(a);
	a->users = users ? strdup(users) : NULL;
	a->groups = groups ? strdup(groups) : NULL;
	a->uids = calloc(words(users) + 1, sizeof(*a->uids));
	a->gids = calloc(words(groups) + 1, sizeof(*a->gids));
	if ((users && !a->users) || (groups && !a->groups) || !a->uids || !a->gids) {
		log_err("%s: out of memory: only root is allowed", what);
		access_clear(a);
		return;
	}
	resolve(a, what);
}

void access_clear(struct access *a)
{
	free(a->users);
	free(a->groups);
	free(a->uids);
	free(a->gids);
	*a = (struct access){ 0 };
}

bool access_allows(const struct access *a, uid_t uid, gid_t gid, const gid_t *groups,
		   unsigned ngroups)
{
	if (uid == 0)
		return true;
	for (unsigned i = 0; i < a->nuids; i++)
		if (a->uids[i] == uid)
			return true;
	for (unsigned i = 0; i < a->ngids; i++) {
		if (a->gids[i] == gid)
			return true;
		for (unsigned k = 0; k < ngroups; k++)
			if (a->gids[i] == groups[k])
				return true;
	}
	return false;
}

void access_user_name(uid_t uid, char *buf, size_t size)
{
	FILE *f = fopen("/etc/passwd", "re");
	struct passwd *pw;

	buf[0] = '\0';
	if (!f)
		return;
	while ((pw = fgetpwent(f)))
		if (pw->pw_uid == uid) {
			snprintf(buf, size, "%s", pw->pw_name);
			break;
		}
	fclose(f);
}
