/* SPDX-License-Identifier: MIT */
/*
 * agent-fz-mounts.c - which filesystems a freeze takes
 * (agent-fz-mounts.h), from /proc/self/mountinfo, with Hyper-V's Linux VSS
 * daemon's rules: block devices only (the source is a /dev node, not a
 * loop device), writable, no filesystem that cannot freeze (vfat and the
 * like), one mount per device (a bind mount shares its superblock), `/`
 * last.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-fz-mounts.h"

/* Block filesystems FIFREEZE does not support or that are never written. */
static const char *const no_freeze[] = { "vfat",     "msdos", "exfat", "iso9660",
					 "squashfs", "udf",   "erofs", NULL };

/* Undoes mountinfo's octal escapes (\040 for a blank) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static bool has_opt(const char *opts, const char *o)
{
	size_t n = strlen(o);

	for (const char *p = opts; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, o, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* Parses one mountinfo line into m (pointing into line): 0 or -EINVAL. */
static int parse_line(char *line, struct afz_mount *m)
{
	char *f[6], *save = NULL, *sep;
	char *fstype, *source;

	*m = (struct afz_mount){ 0 };
	for (int i = 0; i < 6; i++)
		if (!(f[i] = strtok_r(i ? NULL : line, " \n", &save)))
			return -EINVAL;
	while ((sep = strtok_r(NULL, " \n", &save)) && strcmp(sep, "-") != 0)
		; /* the optional fields */
	fstype = sep ? strtok_r(NULL, " \n", &save) : NULL;
	source = fstype ? strtok_r(NULL, " \n", &save) : NULL;
	if (!source)
		return -EINVAL;
	unescape(f[4]);
	unescape(source);
	m->dev = f[2];
	m->path = f[4];
	m->fstype = fstype;
	m->source = source;
	m->readonly = has_opt(f[5], "ro");
	return 0;
}

const char *afz_mount_skip(const struct afz_mount *m)
{
	if (m->readonly)
		return "read-only";
	if (strncmp(m->source, "/dev/", 5) != 0)
		return "not a block device filesystem (pseudo or network)";
	if (strncmp(m->source, "/dev/loop", 9) == 0)
		return "loop-backed";
	for (size_t i = 0; no_freeze[i]; i++)
		if (strcmp(m->fstype, no_freeze[i]) == 0)
			return "a filesystem type that cannot be frozen";
	return NULL;
}

void afz_mounts_free(struct afz_mounts *l)
{
	free(l->text);
	free(l->v);
	*l = (struct afz_mounts){ 0 };
}

int afz_mounts_read(const char *mountinfo, struct afz_mounts *l)
{
	FILE *fp = fopen(mountinfo, "re");
	size_t cap = 0, len = 0;
	char *line;
	int e;

	*l = (struct afz_mounts){ 0 };
	if (!fp)
		return -errno;
	e = getdelim(&l->text, &cap, '\0', fp) < 0 && ferror(fp) ? -EIO : 0;
	fclose(fp);
	if (e < 0 || !l->text)
		return e < 0 ? e : -ENOENT;
	for (line = l->text; *line; line += len + 1) {
		struct afz_mount m, *v;
		char *nl = strchr(line, '\n');

		len = nl ? (size_t)(nl - line) : strlen(line);
		if (nl)
			*nl = '\0';
		if (parse_line(line, &m) < 0)
			continue;
		v = realloc(l->v, (l->n + 1) * sizeof(*v));
		if (!v) {
			afz_mounts_free(l);
			return -ENOMEM;
		}
		l->v = v;
		l->v[l->n++] = m;
		if (!nl)
			break;
	}
	return 0;
}

/* The last mount at path (a later mount hides an earlier one), or NULL. */
static const struct afz_mount *at_path(const struct afz_mounts *l, const char *path)
{
	for (size_t i = l->n; i-- > 0;)
		if (strcmp(l->v[i].path, path) == 0)
			return &l->v[i];
	return NULL;
}

/* Whether the device of l->v[i] comes again later, or is `/`'s. */
static bool dev_taken(const struct afz_mounts *l, size_t i, const struct afz_mount *root)
{
	if (root && root != &l->v[i] && strcmp(root->dev, l->v[i].dev) == 0)
		return true;
	for (size_t j = 0; j < i; j++)
		if (strcmp(l->v[j].dev, l->v[i].dev) == 0 && !afz_mount_skip(&l->v[j]))
			return true;
	return false;
}

int afz_mounts_pick(const struct afz_mounts *l, const char *const *want, uint32_t nwant,
		    const char **out, uint32_t max, char fail[][AFZ_FAIL_LEN], uint32_t *nfail)
{
	const struct afz_mount *root = at_path(l, "/");
	uint32_t n = 0;
	bool root_in = false;

	*nfail = 0;
	for (size_t i = l->n; i-- > 0;) { /* the deepest (latest) first */
		const struct afz_mount *m = &l->v[i];
		bool wanted = nwant == 0;

		for (uint32_t k = 0; k < nwant; k++)
			wanted |= strcmp(want[k], m->path) == 0;
		if (!wanted || at_path(l, m->path) != m)
			continue;
		if (afz_mount_skip(m) || dev_taken(l, i, root))
			continue;
		if (m == root) {
			root_in = true;
			continue;
		}
		if (n + 1 >= max)
			return -E2BIG;
		out[n++] = m->path;
	}
	for (uint32_t k = 0; k < nwant && *nfail < IC_FZ_MAX_MOUNTS; k++) {
		const struct afz_mount *m = at_path(l, want[k]);
		const char *why = !m ? "not a mount point" : afz_mount_skip(m);

		if (why)
			snprintf(fail[(*nfail)++], AFZ_FAIL_LEN, "%s: %s", want[k], why);
	}
	if (root_in)
		out[n++] = root->path;
	return (int)n;
}
