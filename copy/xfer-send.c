/* SPDX-License-Identifier: MIT */
/*
 * xfer-send.c - the sending end of a copy (xfer.h): META for each entry,
 * a regular file's bytes as DATA on channel 4 within the receiver's credit,
 * END with the SHA-256 of exactly the bytes sent; a tree ends with
 * END{count}.
 *
 * A tree is walked depth first with one open folder per level: every entry
 * is opened relative to its folder's fd with O_NOFOLLOW, so a link (or a
 * folder swapped for a link while we walk) is sent as a link and never
 * followed. Special files (devices, FIFOs, sockets) are skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "util.h"
#include "xfer.h"

enum { S_ROOT, S_DATA, S_WALK, S_FINAL, S_DONE };

struct level {
	DIR *d;
	char *rel; /* below the root; "" for the root */
};

struct xfer_send {
	uint32_t flags;
	int state;
	char *src;	/* as given, for messages */
	char *rootname; /* the root's name in the first META */
	int fd;		/* the root (before S_ROOT), then the file being sent */
	struct stat st; /* the root's */
	char *path;	/* the file being sent, for messages */
	struct sha256_ctx sha;
	struct level *stack;
	size_t depth;
	uint64_t count;
	struct xfer_progress prog;
	char msg[XFER_MSG_SIZE];
};

static int fail(struct xfer_send *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct xfer_send *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
	return err;
}

static int open_fail(struct xfer_send *s, const char *path, int err)
{
	if (err == -ENOENT)
		return fail(s, err, "'%s': no such file or folder", path);
	if (err == -EACCES || err == -EPERM)
		return fail(s, err, "cannot read '%s': permission denied", path);
	return fail(s, err, "cannot read '%s': %s", path, strerror(-err));
}

/* The name the root goes by: its base name ("." and the like resolved). */
static char *root_name(const char *src)
{
	_cleanup_free_ char *copy = strdup(src), *real = NULL;
	const char *b = copy ? basename(copy) : NULL;

	if (b && (!strcmp(b, ".") || !strcmp(b, "..") || !strcmp(b, "/"))) {
		real = realpath(src, NULL);
		b = real ? basename(real) : NULL;
	}
	return b && strcmp(b, "/") != 0 ? strdup(b) : NULL;
}

static int open_root(struct xfer_send *s)
{
	bool tree = s->flags & SESS_PUT_TREE;
	int fl = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

	if (tree && fstatat(AT_FDCWD, s->src, &s->st, AT_SYMLINK_NOFOLLOW) < 0)
		return open_fail(s, s->src, -errno);
	if (tree && S_ISLNK(s->st.st_mode))
		return 0;
	s->fd = open(s->src, fl | (tree ? O_NOFOLLOW : 0));
	if (s->fd < 0 || fstat(s->fd, &s->st) < 0)
		return open_fail(s, s->src, -errno);
	if (S_ISDIR(s->st.st_mode) && !tree)
		return fail(s, -EISDIR, "'%s' is a folder (copy folders with -r)", s->src);
	if (!S_ISDIR(s->st.st_mode) && !S_ISREG(s->st.st_mode))
		return fail(s, -EINVAL, "'%s' is not a regular file", s->src);
	return 0;
}

int xfer_send_new(const char *src, uint32_t flags, struct xfer_send **out, char msg[XFER_MSG_SIZE])
{
	struct xfer_send *s = calloc(1, sizeof(*s));
	int e;

	msg[0] = '\0';
	if (!s)
		return -ENOMEM;
	*s = (struct xfer_send){ .flags = flags, .fd = -1 };
	s->src = strdup(src);
	s->rootname = root_name(src);
	e = !s->src ? -ENOMEM : open_root(s);
	if (e == 0 && !s->rootname)
		e = fail(s, -EINVAL, "'%s' has no name to copy it under", src);
	if (e < 0) {
		snprintf(msg, XFER_MSG_SIZE, "%s", s->msg[0] ? s->msg : strerror(-e));
		xfer_send_free(s);
		return e;
	}
	*out = s;
	return 0;
}

struct xfer_send *xfer_send_free(struct xfer_send *s)
{
	if (!s)
		return NULL;
	safe_close(s->fd);
	while (s->depth > 0) {
		s->depth--;
		closedir(s->stack[s->depth].d);
		free(s->stack[s->depth].rel);
	}
	free(s->stack);
	free(s->path);
	free(s->rootname);
	free(s->src);
	free(s);
	return NULL;
}

const char *xfer_send_message(const struct xfer_send *s)
{
	return s->msg;
}

const struct xfer_progress *xfer_send_progress(const struct xfer_send *s)
{
	return &s->prog;
}

/* ---- frames ---- */

static void put_meta(struct sess_buf *out, uint32_t type, const char *name, const struct stat *st,
		     const char *link)
{
	sess_enc_meta(out, &(struct sess_meta){
				   .type = type,
				   .name = name,
				   .size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0,
				   .mode = st->st_mode & 07777,
				   .uid = st->st_uid,
				   .gid = st->st_gid,
				   .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 +
					       st->st_mtim.tv_nsec,
				   .link = link,
			   });
}

/* META for a regular file at fd (taken), then its data. */
static int start_file(struct xfer_send *s, int fd, const char *name, const struct stat *st)
{
	free(s->path);
	if (asprintf(&s->path, "%s%s%s", s->src, *name && s->depth ? "/" : "",
		     s->depth ? name : "") < 0) {
		s->path = NULL;
		close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	sha256_init(&s->sha);
	s->prog.total += (uint64_t)st->st_size;
	s->state = S_DATA;
	return 0;
}

static int send_link(struct xfer_send *s, struct sess_buf *out, int dirfd, const char *name,
		     const char *rel, const struct stat *st)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);

	if (n < 0)
		return open_fail(s, rel, -errno);
	target[n] = '\0';
	put_meta(out, SESS_F_LINK, rel, st, target);
	s->count++;
	s->prog.files++;
	return 0;
}

static int push_dir(struct xfer_send *s, int fd, const char *rel)
{
	struct level *l = realloc(s->stack, (s->depth + 1) * sizeof(*l));

	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	s->stack = l;
	l[s->depth].rel = strdup(rel);
	l[s->depth].d = fdopendir(fd);
	if (!l[s->depth].d || !l[s->depth].rel) {
		free(l[s->depth].rel);
		close(fd);
		return -ENOMEM;
	}
	s->depth++;
	s->count++;
	s->prog.files++;
	return 0;
}

static int step_root(struct xfer_send *s, struct sess_buf *out)
{
	const char *name = s->rootname;

	if (S_ISLNK(s->st.st_mode)) {
		int e = send_link(s, out, AT_FDCWD, s->src, name, &s->st);

		s->state = S_FINAL;
		return e;
	}
	if (S_ISDIR(s->st.st_mode)) {
		put_meta(out, SESS_F_DIR, name, &s->st, NULL);
		s->state = S_WALK;
		return push_dir(s, TAKE_FD(s->fd), "");
	}
	put_meta(out, SESS_F_REG, name, &s->st, NULL);
	return start_file(s, TAKE_FD(s->fd), "", &s->st);
}

static int step_data(struct xfer_send *s, struct sess_buf *out, uint64_t *credit)
{
	static uint8_t buf[SESS_DATA_CHUNK];
	struct sess_end e = { .has_sha = true };
	ssize_t n;

	if (*credit == 0)
		return 2;
	n = read(s->fd, buf, *credit < sizeof(buf) ? *credit : sizeof(buf));
	if (n < 0 && errno == EINTR)
		return 1;
	if (n < 0)
		return open_fail(s, s->path, -errno);
	if (n > 0) {
		sha256_update(&s->sha, (size_t)n, buf);
		sess_frame_data(out, SESS_CH_FILE, buf, (size_t)n);
		*credit -= (uint64_t)n;
		s->prog.bytes += (uint64_t)n;
		return 1;
	}
	sha256_digest(&s->sha, sizeof(e.sha256), e.sha256);
	sess_enc_end(out, &e);
	s->fd = safe_close(s->fd);
	s->count++;
	s->prog.files++;
	s->state = s->depth ? S_WALK : S_FINAL;
	if (!(s->flags & SESS_PUT_TREE))
		s->state = S_DONE;
	return s->state == S_DONE ? 0 : 1;
}

/* One entry of the walk, or the end of a folder. */
static int step_walk(struct xfer_send *s, struct sess_buf *out)
{
	struct level *top = &s->stack[s->depth - 1];
	struct dirent *de;
	_cleanup_free_ char *rel = NULL;
	struct stat st;
	int dfd = dirfd(top->d), fd;

	errno = 0;
	while ((de = readdir(top->d)) && (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")))
		;
	if (!de) {
		if (errno)
			return open_fail(s, s->src, -errno);
		closedir(top->d);
		free(top->rel);
		if (--s->depth == 0)
			s->state = S_FINAL;
		return 1;
	}
	if (asprintf(&rel, "%s%s%s", top->rel, *top->rel ? "/" : "", de->d_name) < 0)
		return -ENOMEM;
	if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return open_fail(s, rel, -errno);
	if (S_ISLNK(st.st_mode))
		return send_link(s, out, dfd, de->d_name, rel, &st);
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return 1; /* a device, FIFO or socket: skipped */
	fd = openat(dfd, de->d_name,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
			    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0 || fstat(fd, &st) < 0)
		return safe_close(fd), open_fail(s, rel, -errno);
	if (S_ISDIR(st.st_mode)) {
		put_meta(out, SESS_F_DIR, rel, &st, NULL);
		return push_dir(s, fd, rel);
	}
	put_meta(out, SESS_F_REG, rel, &st, NULL);
	return start_file(s, fd, rel, &st);
}

int xfer_send_step(struct xfer_send *s, struct sess_buf *out, uint64_t *credit)
{
	int e;

	switch (s->state) {
	case S_ROOT:
		e = step_root(s, out);
		break;
	case S_DATA:
		return step_data(s, out, credit);
	case S_WALK:
		e = step_walk(s, out);
		break;
	case S_FINAL:
		sess_enc_end(out, &(struct sess_end){ .count = s->count });
		s->state = S_DONE;
		return 0;
	default:
		return 0;
	}
	return e < 0 ? e : s->state == S_DONE ? 0 : 1;
}

static uint64_t total;
static int add_size(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path, (void)ftw;
	if (type == FTW_F && S_ISREG(st->st_mode))
		total += (uint64_t)st->st_size;
	return 0;
}

uint64_t xfer_total_size(const char *src, uint32_t flags)
{
	struct stat st;

	if (!(flags & SESS_PUT_TREE))
		return stat(src, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	total = 0;
	if (nftw(src, add_size, 16, FTW_PHYS) < 0)
		return 0;
	return total;
}
