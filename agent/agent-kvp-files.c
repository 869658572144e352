/* SPDX-License-Identifier: MIT */
/*
 * agent-kvp-files.c - the guest pool's file and the mirror for scripts
 * (agent-kvp-files.h).
 *
 * The mirror's folders belong to root and only root writes in them, so a
 * fixed temporary name (".new", opened with O_NOFOLLOW) is safe: the
 * worker is the only writer. Files are written under /run (tmpfs): no
 * fsync there; the guest pool's file is on disk and goes through
 * af_write (conf/atomicfile.h), which fsyncs the file and its folder.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "agent-kvp-files.h"
#include "agent-log.h"
#include "atomicfile.h"
#include "ic.h"
#include "util.h"

#define TEMP_NAME ".new"

/* ---- names ---- */

static bool plain(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

size_t akvf_name(const void *key, size_t len, char *buf)
{
	static const char hex[] = "0123456789ABCDEF", lhex[] = "0123456789abcdef";
	const uint8_t *k = key;
	uint8_t digest[SHA256_DIGEST_SIZE];
	struct sha256_ctx h;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (plain(k[i]) && !(i == 0 && k[i] == '.')) {
			if (n < AKVF_NAME_MAX + 1)
				buf[n] = (char)k[i];
			n++;
			continue;
		}
		for (int j = 0; j < 3; j++, n++)
			if (n < AKVF_NAME_MAX + 1)
				buf[n] = j == 0 ? '%' : hex[j == 1 ? k[i] >> 4 : k[i] & 15];
	}
	if (n <= AKVF_NAME_MAX) {
		buf[n] = '\0';
		return n;
	}
	sha256_init(&h);
	sha256_update(&h, len, k);
	sha256_digest(&h, sizeof(digest), digest);
	n = AKVF_NAME_CUT;
	buf[n++] = '~';
	for (int i = 0; i < 8; i++) {
		buf[n++] = lhex[digest[i] >> 4];
		buf[n++] = lhex[digest[i] & 15];
	}
	buf[n] = '\0';
	return n;
}

/* ---- the guest pool's file ---- */

/* Splits path into its folder (dir, PATH_MAX) and base name. */
static int split_path(const char *path, char *dir, const char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash || !slash[1] || (size_t)(slash - path) >= PATH_MAX)
		return -EINVAL;
	if (slash == path)
		snprintf(dir, PATH_MAX, "/");
	else
		snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path);
	*base = slash + 1;
	return 0;
}

int akvf_make_dir(const char *dir, mode_t mode)
{
	char parent[PATH_MAX];
	const char *base;
	struct stat st;
	int r;

	/* Looked at first: a mkdir waits on a frozen filesystem even when the
	 * folder exists. */
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (mkdir(dir, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT || split_path(dir, parent, &base) < 0)
		return -errno;
	r = akvf_make_dir(parent, 0755);
	if (r < 0)
		return r;
	return mkdir(dir, mode) == 0 || errno == EEXIST ? 0 : -errno;
}

int akvf_save_pool(const char *path, const struct kvpool *p, uint32_t pool, char *why, size_t size)
{
	struct sess_buf b = { 0 };
	_cleanup_close_ int dirfd = -1, lock = -1;
	char dir[PATH_MAX];
	const char *base;
	int r = split_path(path, dir, &base);

	if (r == 0)
		r = akvf_make_dir(dir, 0700);
	if (r == 0 && (dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = -errno;
	if (r == 0)
		kvpool_encode(p, pool, &b);
	if (r == 0 && b.err)
		r = b.err;
	if (r == 0 && (lock = af_lock(dirfd)) < 0)
		r = lock;
	if (r == 0)
		r = af_write(dirfd, base, b.len ? (const void *)b.data : "", b.len, 0600);
	if (r < 0)
		snprintf(why, size, "cannot save the %s pool to %s: %s", ic_pool_name(pool), path,
			 strerror(-r));
	sess_buf_free(&b);
	return r;
}

/* Moves a corrupt file aside: PATH.corrupt-YYYYmmddTHHMMSSZ. */
static void move_aside(const char *path, const char *what, char *why, size_t size)
{
	char to[PATH_MAX + 32], stamp[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(to, sizeof(to), "%s.corrupt-%s", path, stamp);
	if (rename(path, to) == 0)
		snprintf(why, size, "%s is corrupt (%s): moved aside to %s; starting empty", path,
			 what, to);
	else
		snprintf(why, size,
			 "%s is corrupt (%s) and cannot be moved aside (%s); starting "
			 "empty",
			 path, what, strerror(errno));
}

/* Reads all of fd (a regular file of at most AKVF_MAX_POOL_FILE bytes)
 * into *buf: its length, -EFBIG, or -errno. */
static long read_all(int fd, uint8_t **buf)
{
	struct stat st;
	size_t len = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size > AKVF_MAX_POOL_FILE)
		return -EFBIG;
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, *buf + len, (size_t)st.st_size + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return (long)len;
		len += (size_t)n;
		if (len > (size_t)st.st_size)
			return -EFBIG; /* it grew: not ours */
	}
}

int akvf_load_pool(const char *path, struct kvpool *p, uint32_t pool, char *why, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ uint8_t *buf = NULL;
	long len;
	int r;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 && errno != ELOOP) {
		r = -errno;
		snprintf(why, size, "cannot read %s: %s; the %s pool starts empty", path,
			 strerror(errno), ic_pool_name(pool));
		return r;
	}
	len = fd < 0 ? -ELOOP : read_all(fd, &buf);
	if (len == -EFBIG || len == -ELOOP) {
		move_aside(path, len == -ELOOP ? "a symbolic link" : "not a file of a pool's size",
			   why, size);
		return -EPROTO;
	}
	if (len < 0) {
		snprintf(why, size, "cannot read %s: %s; the %s pool starts empty", path,
			 strerror((int)-len), ic_pool_name(pool));
		return (int)len;
	}
	r = kvpool_decode(p, pool, buf, (size_t)len);
	if (r == -ENOMEM) {
		snprintf(why, size, "cannot read %s: out of memory", path);
		return r;
	}
	if (r < 0) {
		move_aside(path, r == -EPROTO ? "not a pool's frames" : "over the pool's limits",
			   why, size);
		return -EPROTO;
	}
	return 0;
}

/* ---- the mirror ---- */

struct akvf {
	char *dir;
	int top;	      /* dir itself */
	int dirfd[IC_NPOOLS]; /* dir/POOL */
	bool restricted;
	gid_t gid;
	bool broken; /* a write failed since the last good sync */
	bool quiet;  /* a failure is logged: no more until a good sync */
};

struct akvf *akvf_new(const char *dir)
{
	struct akvf *m = calloc(1, sizeof(*m));

	if (!m || !(m->dir = strdup(dir))) {
		free(m);
		return NULL;
	}
	m->top = -1;
	for (int i = 0; i < IC_NPOOLS; i++)
		m->dirfd[i] = -1;
	return m;
}

static void close_dirs(struct akvf *m)
{
	m->top = safe_close(m->top);
	for (int i = 0; i < IC_NPOOLS; i++)
		m->dirfd[i] = safe_close(m->dirfd[i]);
}

struct akvf *akvf_free(struct akvf *m)
{
	if (m) {
		close_dirs(m);
		free(m->dir);
		free(m);
	}
	return NULL;
}

void akvf_set_group(struct akvf *m, bool restricted, gid_t gid)
{
	m->restricted = restricted;
	m->gid = restricted ? gid : 0;
}

bool akvf_group_differs(const struct akvf *m, bool restricted, gid_t gid)
{
	return m->restricted != restricted || (restricted && m->gid != gid);
}

bool akvf_broken(const struct akvf *m)
{
	return m->broken;
}

static mode_t dir_mode(const struct akvf *m)
{
	return m->restricted ? 0750 : 0755;
}

static mode_t file_mode(const struct akvf *m)
{
	return m->restricted ? 0640 : 0644;
}

/* The group files and folders get: ReadGroup's, or our own. */
static gid_t group(const struct akvf *m)
{
	return m->restricted ? m->gid : getegid();
}

/* Logs the first failure since the last good sync. */
static void failed(struct akvf *m, const char *what, uint32_t pool, const char *name, int err)
{
	if (!m->quiet)
		alog("kvp: cannot %s %s%s%s%s%s: %s; the files are made again within 30 s", what,
		     m->dir, pool < IC_NPOOLS ? "/" : "",
		     pool < IC_NPOOLS ? ic_pool_name(pool) : "", name ? "/" : "", name ? name : "",
		     strerror(-err));
	m->broken = m->quiet = true;
}

/* Opens (making it when missing) the folder name in at with our modes. */
static int open_dir(struct akvf *m, int at, const char *name)
{
	int fd;

	if (mkdirat(at, name, dir_mode(m)) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, dir_mode(m)) < 0 || fchown(fd, (uid_t)-1, group(m)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

static int open_dirs(struct akvf *m)
{
	char parent[PATH_MAX];
	const char *base;
	int r;

	close_dirs(m);
	if (split_path(m->dir, parent, &base) < 0)
		return -EINVAL;
	r = akvf_make_dir(parent, 0755);
	if (r < 0)
		return r;
	r = open_dir(m, AT_FDCWD, m->dir);
	if (r < 0)
		return r;
	m->top = r;
	for (uint32_t i = 0; i < IC_NPOOLS; i++) {
		r = open_dir(m, m->top, ic_pool_name(i));
		if (r < 0)
			return r;
		m->dirfd[i] = r;
	}
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* True when dirfd/name holds value already, with our mode and group. */
static bool same_file(const struct akvf *m, int dirfd, const char *name, const struct kvp_entry *e)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_free_ uint8_t *buf = NULL;
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size != e->value_len || (st.st_mode & 07777) != file_mode(m) ||
	    st.st_gid != group(m))
		return false;
	if (e->value_len == 0)
		return true;
	buf = malloc(e->value_len);
	n = buf ? read(fd, buf, e->value_len) : -1;
	return n == (ssize_t)e->value_len && memcmp(buf, e->value, e->value_len) == 0;
}

/* Replaces dirfd/name by the entry's value. */
static int write_file(const struct akvf *m, int dirfd, const char *name, const struct kvp_entry *e)
{
	_cleanup_close_ int fd = openat(
		dirfd, TEMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	int r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, e->value, e->value_len);
	if (r == 0 && (fchmod(fd, file_mode(m)) < 0 || fchown(fd, (uid_t)-1, group(m)) < 0))
		r = -errno;
	if (r == 0 && renameat(dirfd, TEMP_NAME, dirfd, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dirfd, TEMP_NAME, 0);
	return r;
}

void akvf_change(struct akvf *m, uint32_t pool, const struct kvp_entry *e, bool deleted)
{
	char name[AKVF_NAME_MAX + 1];
	int r;

	if (m->broken || pool >= IC_NPOOLS || m->dirfd[pool] < 0)
		return; /* the next sync makes it all */
	akvf_name(e->key, e->key_len, name);
	if (deleted)
		r = unlinkat(m->dirfd[pool], name, 0) == 0 || errno == ENOENT ? 0 : -errno;
	else
		r = write_file(m, m->dirfd[pool], name, e);
	if (r < 0)
		failed(m, deleted ? "remove" : "write", pool, name, r);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Removes the files dirfd holds besides the sorted names[n] (NULL: all). */
static int prune(int dirfd, const char (*names)[AKVF_NAME_MAX + 1], size_t n)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3); /* handed to d */
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (names && bsearch(de->d_name, names, n, sizeof(*names), cmp_name))
			continue;
		/* a folder is not ours: only root writes here, leave it */
		if (unlinkat(dirfd, de->d_name, 0) < 0 && errno != ENOENT && errno != EISDIR &&
		    r == 0)
			r = -errno;
	}
	closedir(d);
	return r;
}

/* Makes dirfd hold exactly pool p. */
static int sync_pool(struct akvf *m, uint32_t pool, const struct kvpool *p)
{
	char(*names)[AKVF_NAME_MAX + 1] = malloc((p->n ? p->n : 1) * sizeof(*names));
	int dirfd = m->dirfd[pool], r = 0;

	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < p->n && r == 0; i++) {
		akvf_name(p->e[i].key, p->e[i].key_len, names[i]);
		if (!same_file(m, dirfd, names[i], &p->e[i]))
			r = write_file(m, dirfd, names[i], &p->e[i]);
		if (r < 0)
			failed(m, "write", pool, names[i], r);
	}
	if (r == 0) {
		qsort(names, p->n, sizeof(*names), cmp_name);
		r = prune(dirfd, (const char(*)[AKVF_NAME_MAX + 1]) names, p->n);
		if (r < 0)
			failed(m, "clean up", pool, NULL, r);
	}
	free(names);
	return r;
}

int akvf_sync(struct akvf *m, const struct kvpool *pools)
{
	int r = open_dirs(m);

	m->broken = false;
	if (r < 0) {
		failed(m, "make the folders of", IC_NPOOLS, NULL, r);
		close_dirs(m);
		return r;
	}
	for (uint32_t i = 0; i < IC_NPOOLS && r == 0; i++)
		r = sync_pool(m, i, &pools[i]);
	if (r == 0 && m->quiet)
		alog("kvp: the files under %s are complete again", m->dir);
	if (r == 0)
		m->quiet = false;
	return r;
}

void akvf_remove_all(struct akvf *m)
{
	int top = open(m->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	close_dirs(m);
	if (top < 0)
		return;
	for (uint32_t i = 0; i < IC_NPOOLS; i++) {
		int fd = openat(top, ic_pool_name(i),
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd >= 0) {
			prune(fd, NULL, 0);
			close(fd);
			unlinkat(top, ic_pool_name(i), AT_REMOVEDIR);
		}
	}
	close(top);
	rmdir(m->dir);
	m->broken = false;
}
