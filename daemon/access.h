/* SPDX-License-Identifier: MIT */
/*
 * access.h - a list of host users and groups allowed to do something (a
 * VM's SessionUsers= and SessionGroups=), resolved to ids when the
 * definition is loaded so that checks never look up a user database on the
 * event loop. Root is always allowed.
 */
#ifndef VMSVCD_ACCESS_H
#define VMSVCD_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct access {
	char *users, *groups; /* as written: names separated by blanks, or NULL */
	uid_t *uids;
	gid_t *gids;
	unsigned nuids, ngids;
};

/* Makes a the lists users and groups (either may be NULL), looking each
 * name up (getpwnam, getgrnam); unknown names are logged and left out.
 * On ENOMEM a is left empty (root only). */
void access_set(struct access *a, const char *what, const char *users, const char *groups);
void access_clear(struct access *a);

/* Whether a caller with uid, primary gid and supplementary groups may. */
bool access_allows(const struct access *a, uid_t uid, gid_t gid, const gid_t *groups,
		   unsigned ngroups);

/* The host user name of uid from /etc/passwd (no NSS lookup: it could
 * block the event loop), or "" when it has none there. */
void access_user_name(uid_t uid, char *buf, size_t size);

#endif
