/* SPDX-License-Identifier: MIT */
/*
 * agent-users.h - guest users and groups read from the passwd and group
 * files themselves, with no NSS: the static agent runs in guests with no
 * libnss modules (the busybox test guest), and a session must switch to a
 * user by name all the same.
 *
 * Our own parser, not fgetpwent(3): fgetpwent_r needs a buffer size guess
 * per line (a group with many members is a long line), and we want to say
 * exactly which lines count: 7 (passwd) or 4 (group) colon-separated
 * fields, a decimal id; NIS lines (+/-) and malformed lines are skipped.
 */
#ifndef VMSVC_AGENT_USERS_H
#define VMSVC_AGENT_USERS_H

#include <stddef.h>
#include <sys/types.h>

#define AU_PASSWD_FILE "/etc/passwd"
#define AU_GROUP_FILE  "/etc/group"

/* Most supplementary groups a session gets (with the primary group). */
#define AU_MAX_GROUPS 256

struct au_user {
	char *name;
	uid_t uid;
	gid_t gid;
	char *home;
	char *shell; /* "/bin/sh" when the entry has none */
};

/*
 * Finds a user in the passwd file at path by name, or by uid when who is
 * all digits and no user has that name. Returns 0 and fills *u (release with
 * au_user_clear), -ENOENT (no such user), or -errno (the file cannot be
 * read, -ENOMEM).
 */
int au_user_find(const char *path, const char *who, struct au_user *u);

/* Finds the user with uid in path: 0, -ENOENT or -errno as above. */
int au_user_by_uid(const char *path, uid_t uid, struct au_user *u);

void au_user_clear(struct au_user *u);

/*
 * The groups of user name with primary group gid, from the group file at
 * path: gids[0] = gid, then each group that lists name as a member (once
 * each, at most max in all). Returns the count (>= 1), or -errno (-ENOENT:
 * no group file, which leaves only the primary group: callers may go on).
 */
int au_groups(const char *path, const char *name, gid_t gid, gid_t *gids, size_t max);

/*
 * The gid of group name (a name, or all digits: that gid, listed or not)
 * in the group file at path: 0 and *gid, -ENOENT, or -errno.
 */
int au_group_gid(const char *path, const char *name, gid_t *gid);

#endif /* VMSVC_AGENT_USERS_H */
