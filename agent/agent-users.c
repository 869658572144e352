/* SPDX-License-Identifier: MIT */
/*
 * agent-users.c - passwd and group files read directly (agent-users.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-users.h"

/* Splits line (no newline) at ':' into exactly n fields; false otherwise. */
static bool split(char *line, char **f, int n)
{
	for (int i = 0; i < n; i++) {
		f[i] = line;
		line = strchr(line, ':');
		if (i < n - 1) {
			if (!line)
				return false;
			*line++ = '\0';
		} else if (line) {
			return false;
		}
	}
	return true;
}

/* A decimal id below 2^32 - 1 (which is (uid_t)-1, never a user's). */
static bool parse_id(const char *s, unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && *v < 0xffffffffUL;
}

static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

void au_user_clear(struct au_user *u)
{
	free(u->name);
	free(u->home);
	free(u->shell);
	*u = (struct au_user){ 0 };
}

static int fill(struct au_user *u, char **f)
{
	unsigned long uid, gid;

	if (!parse_id(f[2], &uid) || !parse_id(f[3], &gid))
		return -EINVAL;
	u->name = strdup(f[0]);
	u->home = strdup(*f[5] ? f[5] : "/");
	u->shell = strdup(*f[6] ? f[6] : "/bin/sh");
	u->uid = (uid_t)uid;
	u->gid = (gid_t)gid;
	if (!u->name || !u->home || !u->shell) {
		au_user_clear(u);
		return -ENOMEM;
	}
	return 0;
}

/* Scans path for the entry whose name is name (uid ignored) or, when name
 * is NULL, whose uid is uid. */
static int find(const char *path, const char *name, unsigned long uid, struct au_user *u)
{
	FILE *fp = fopen(path, "re");
	char *line = NULL, *f[7];
	size_t cap = 0;
	ssize_t n;
	int r = -ENOENT;

	*u = (struct au_user){ 0 };
	if (!fp)
		return -errno;
	while (r == -ENOENT && (n = getline(&line, &cap, fp)) >= 0) {
		unsigned long id;

		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (line[0] == '+' || line[0] == '-' || !split(line, f, 7) || !*f[0] ||
		    !parse_id(f[2], &id))
			continue;
		if (name ? strcmp(f[0], name) == 0 : id == uid)
			r = fill(u, f);
	}
	free(line);
	fclose(fp);
	return r;
}

int au_user_find(const char *path, const char *who, struct au_user *u)
{
	unsigned long uid;
	int r = find(path, who, 0, u);

	if (r == -ENOENT && all_digits(who) && parse_id(who, &uid))
		r = find(path, NULL, uid, u);
	return r;
}

int au_user_by_uid(const char *path, uid_t uid, struct au_user *u)
{
	return find(path, NULL, uid, u);
}

static bool is_member(char *members, const char *name)
{
	for (char *m = strtok(members, ","); m; m = strtok(NULL, ","))
		if (strcmp(m, name) == 0)
			return true;
	return false;
}

static void add_gid(gid_t *gids, size_t *n, size_t max, gid_t g)
{
	for (size_t i = 0; i < *n; i++)
		if (gids[i] == g)
			return;
	if (*n < max)
		gids[(*n)++] = g;
}

int au_groups(const char *path, const char *name, gid_t gid, gid_t *gids, size_t max)
{
	FILE *fp;
	char *line = NULL, *f[4];
	size_t cap = 0, n = 0;
	ssize_t len;

	if (max == 0)
		return -EINVAL;
	gids[n++] = gid;
	fp = fopen(path, "re");
	if (!fp)
		return -errno;
	while ((len = getline(&line, &cap, fp)) >= 0) {
		unsigned long id;

		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (line[0] == '+' || line[0] == '-' || !split(line, f, 4) || !parse_id(f[2], &id))
			continue;
		if (is_member(f[3], name))
			add_gid(gids, &n, max, (gid_t)id);
	}
	free(line);
	fclose(fp);
	return (int)n;
}

int au_group_gid(const char *path, const char *name, gid_t *gid)
{
	FILE *fp = fopen(path, "re");
	char *line = NULL, *f[4];
	size_t cap = 0;
	ssize_t len;
	unsigned long id;
	int r = -ENOENT;

	if (!fp && (errno != ENOENT || !all_digits(name)))
		return -errno;
	while (fp && r == -ENOENT && (len = getline(&line, &cap, fp)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (line[0] == '+' || line[0] == '-' || !split(line, f, 4) || !parse_id(f[2], &id))
			continue;
		if (strcmp(f[0], name) == 0) {
			*gid = (gid_t)id;
			r = 0;
		}
	}
	free(line);
	if (fp)
		fclose(fp);
	if (r == -ENOENT && all_digits(name) && parse_id(name, &id)) {
		*gid = (gid_t)id;
		r = 0;
	}
	return r;
}
