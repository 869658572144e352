/* SPDX-License-Identifier: MIT */
/*
 * xfer-recv.c - the receiving end of a copy (xfer.h).
 *
 * Invariants:
 * - the root entry is created in basefd (the destination folder, or the
 *   destination's parent) under rootname; every other entry of a tree is
 *   resolved below treefd with xfer_open_beneath, never through a link;
 * - a file's data goes to a temporary file only; it is committed (fsync,
 *   rename, fsync of the folder) after its END, and only if the SHA-256 of
 *   what was written is the sender's;
 * - folders are made 0700 while they fill (a read-only folder can still be
 *   filled) and get their mode (and with -p their owner and times) once
 *   they are complete: the sender walks the tree depth first, so a folder
 *   is complete when an entry outside it comes (or the tree's END). Only
 *   the folders on the path to the current entry are remembered (a stack
 *   of prefixes of one path), so what the receiver holds is bounded by the
 *   longest name the protocol allows (64 KiB), however many folders a tree
 *   has. A sender that comes back into a folder it left gets no error
 *   from this: the folder already has its mode, and the kernel decides
 *   whether the guest user may still write into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "util.h"
#include "xfer.h"

/* A folder on the path to the current entry, waiting for its mode. */
struct level {
	size_t len; /* its path below treefd: the first len bytes of r->opened */
	bool created;
	uint32_t mode, uid, gid;
	int64_t mtime_ns;
};

struct xfer_recv {
	uint32_t flags;
	char *shown;	/* the destination's root as messages name it */
	int basefd;	/* the folder that receives the root entry */
	char *rootname; /* its name there (NULL: the sender's name) */
	int treefd;	/* the root folder of a tree */
	bool started, done;
	uint64_t count; /* entries received */
	/* the file being received */
	int fd, dirfd;
	char tmp[32];
	char *name, *path; /* in dirfd; for messages */
	struct sess_meta meta;
	struct sha256_ctx sha;
	char *opened;	       /* the path of the deepest open folder ("": the root) */
	struct level *levels;  /* the open folders, the root first: at most one per
				* component of a name (64 KiB), not one per folder */
	size_t depth, nlevels; /* in use, allocated */
	struct xfer_progress prog;
	char msg[XFER_MSG_SIZE];
};

static int fail(struct xfer_recv *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct xfer_recv *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return err;
}

static const char *why(int err)
{
	return err == -EACCES || err == -EPERM ? "permission denied" : strerror(-err);
}

/* dest: "into" (an existing folder) or "as" (a new name in its parent). */
static int resolve_dest(struct xfer_recv *r, const char *dest)
{
	size_t len = strlen(dest);
	bool slash = len > 1 && dest[len - 1] == '/';
	_cleanup_free_ char *copy = strdup(dest), *copy2 = strdup(dest);
	struct stat st;

	if (!copy || !copy2)
		return -ENOMEM;
	if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode)) {
		r->basefd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (r->basefd < 0)
			return fail(r, -errno, "cannot open folder '%s': %s", dest, why(-errno));
		return 0;
	}
	if (slash)
		return fail(r, errno == ENOENT || !errno ? -ENOTDIR : -errno,
			    "'%s' is not a folder", dest);
	r->rootname = strdup(basename(copy));
	r->shown = strdup(dest);
	if (!r->rootname || !r->shown)
		return -ENOMEM;
	r->basefd = open(dirname(copy2), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->basefd < 0)
		return fail(r, -errno, "cannot create '%s': %s", dest,
			    errno == ENOENT ? "no such folder" : why(-errno));
	return 0;
}

int xfer_recv_new(const char *dest, uint32_t flags, struct xfer_recv **out, char msg[XFER_MSG_SIZE])
{
	struct xfer_recv *r = calloc(1, sizeof(*r));
	int e;

	msg[0] = '\0';
	if (!r)
		return -ENOMEM;
	*r = (struct xfer_recv){
		.flags = flags, .basefd = -1, .treefd = -1, .fd = -1, .dirfd = -1
	};
	errno = 0;
	e = resolve_dest(r, dest);
	if (e < 0) {
		snprintf(msg, XFER_MSG_SIZE, "%s", r->msg[0] ? r->msg : strerror(-e));
		xfer_recv_free(r);
		return e;
	}
	if (!r->shown) {
		/* Into a folder: named once the first META gives the name. */
		r->shown = strdup(dest);
		if (!r->shown) {
			xfer_recv_free(r);
			return -ENOMEM;
		}
	}
	*out = r;
	return 0;
}

static void end_file(struct xfer_recv *r)
{
	r->fd = xfer_tmp_drop(r->fd, r->dirfd, r->tmp);
	r->dirfd = safe_close(r->dirfd);
	free(r->name);
	free(r->path);
	r->name = r->path = NULL;
}

struct xfer_recv *xfer_recv_free(struct xfer_recv *r)
{
	if (!r)
		return NULL;
	end_file(r);
	safe_close(r->basefd);
	safe_close(r->treefd);
	free(r->opened);
	free(r->levels);
	free(r->rootname);
	free(r->shown);
	free(r);
	return NULL;
}

const char *xfer_recv_message(const struct xfer_recv *r)
{
	return r->msg;
}

const struct xfer_progress *xfer_recv_progress(const struct xfer_recv *r)
{
	return &r->prog;
}

/* ---- one entry ---- */

/* The folder (new fd) and the base name of entry name; *path for
 * messages. The root entry is rootname in basefd. */
static int locate(struct xfer_recv *r, const char *name, int *dirfd, char **base, char **path)
{
	const char *slash = strrchr(name, '/');
	_cleanup_free_ char *parent = NULL;

	if (!r->started) {
		if (!r->rootname && !xfer_name_ok(name, true))
			return fail(r, -EPROTO, "the sender named its file '%s'", name);
		*base = strdup(r->rootname ? r->rootname : name);
		if (!*base || (r->rootname ? (*path = strdup(r->shown)) == NULL
					   : asprintf(path, "%s/%s", r->shown, *base) < 0))
			return -ENOMEM;
		*dirfd = fcntl(r->basefd, F_DUPFD_CLOEXEC, 3);
		return *dirfd < 0 ? -errno : 0;
	}
	if (r->treefd < 0 || !xfer_name_ok(name, false))
		return fail(r, -EPROTO, "the sender named an entry '%s'", name);
	parent = strndup(name, slash ? (size_t)(slash - name) : 0);
	*base = strdup(slash ? slash + 1 : name);
	if (!parent || !*base || asprintf(path, "%s/%s", r->shown, name) < 0)
		return -ENOMEM;
	*dirfd = xfer_open_beneath(r->treefd, parent);
	if (*dirfd == -ELOOP)
		return fail(r, -ELOOP,
			    "'%s/%s' is a symbolic link in the destination: not followed", r->shown,
			    parent);
	if (*dirfd < 0)
		return fail(r, *dirfd, "cannot open folder '%s/%s': %s", r->shown, parent,
			    why(*dirfd));
	return 0;
}

static int begin_file(struct xfer_recv *r, const struct sess_meta *m)
{
	struct stat st;

	if (fstatat(r->dirfd, r->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		return fail(r, -EISDIR, "cannot overwrite folder '%s' with a file", r->path);
	r->fd = xfer_tmp_open(r->dirfd, r->tmp);
	if (r->fd < 0)
		return fail(r, r->fd, "cannot create '%s': %s", r->path, why(r->fd));
	r->meta = *m;
	r->meta.name = r->meta.link = NULL;
	sha256_init(&r->sha);
	r->prog.total += m->size;
	return 0;
}

/* Remembers folder rel (below treefd), which is below every open folder,
 * until it is complete. */
static int open_level(struct xfer_recv *r, const char *rel, bool created, const struct sess_meta *m)
{
	char *path = strdup(rel);

	if (!path)
		return -ENOMEM;
	if (r->depth == r->nlevels) {
		size_t n = r->nlevels ? 2 * r->nlevels : 16;
		struct level *l = reallocarray(r->levels, n, sizeof(*l));

		if (!l) {
			free(path);
			return -ENOMEM;
		}
		r->levels = l;
		r->nlevels = n;
	}
	free(r->opened);
	r->opened = path;
	r->levels[r->depth++] = (struct level){ .len = strlen(rel),
						.created = created,
						.mode = m->mode,
						.uid = m->uid,
						.gid = m->gid,
						.mtime_ns = m->mtime_ns };
	return 0;
}

static int make_dir(struct xfer_recv *r, const struct sess_meta *m)
{
	bool created = mkdirat(r->dirfd, r->name, 0700) == 0;
	struct stat st;
	int fd;

	if (!created && errno != EEXIST)
		return fail(r, -errno, "cannot create folder '%s': %s", r->path, why(-errno));
	if (!created &&
	    (fstatat(r->dirfd, r->name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)))
		return fail(r, -ENOTDIR, "cannot overwrite '%s' with a folder: %s", r->path,
			    S_ISLNK(st.st_mode) ? "it is a symbolic link (not followed)"
						: "it is not a folder");
	if (!r->started) {
		fd = openat(r->dirfd, r->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return fail(r, -errno, "cannot open folder '%s': %s", r->path, why(-errno));
		r->treefd = fd;
	}
	return open_level(r, r->started ? m->name : "", created, m);
}

/* The sender's mtime (ns since the epoch, maybe negative) as a timespec
 * whose tv_nsec is in [0, 1e9), as utimensat() requires. */
static struct timespec mtime_ts(int64_t ns)
{
	int64_t rem = ns % 1000000000;

	return (struct timespec){ .tv_sec = ns / 1000000000 - (rem < 0),
				  .tv_nsec = rem < 0 ? rem + 1000000000 : rem };
}

static void link_preserve(struct xfer_recv *r, const struct sess_meta *m)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, mtime_ts(m->mtime_ns) };

	if (!(r->flags & SESS_PUT_PRESERVE))
		return;
	if (geteuid() == 0)
		(void)!fchownat(r->dirfd, r->tmp, m->uid, m->gid, AT_SYMLINK_NOFOLLOW);
	utimensat(r->dirfd, r->tmp, ts, AT_SYMLINK_NOFOLLOW);
}

static int make_link(struct xfer_recv *r, const struct sess_meta *m)
{
	int e = 0;

	for (int i = 0; i < 16; i++) {
		xfer_tmp_name(r->tmp);
		e = symlinkat(m->link, r->dirfd, r->tmp) < 0 ? -errno : 0;
		if (e != -EEXIST)
			break;
	}
	if (e < 0) {
		r->tmp[0] = '\0';
		return fail(r, e, "cannot create link '%s': %s", r->path, why(e));
	}
	link_preserve(r, m);
	if (renameat(r->dirfd, r->tmp, r->dirfd, r->name) < 0) {
		e = -errno;
		unlinkat(r->dirfd, r->tmp, 0);
		r->tmp[0] = '\0';
		return fail(r, e, "cannot create link '%s': %s", r->path, why(e));
	}
	r->tmp[0] = '\0';
	return 0;
}

/* Folder rel gets its mode (with -p: owner and times): it is complete. */
static int fix_dir(struct xfer_recv *r, const char *rel, const struct level *d)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, mtime_ts(d->mtime_ns) };
	bool preserve = r->flags & SESS_PUT_PRESERVE;
	_cleanup_close_ int fd = xfer_open_beneath(r->treefd, rel);

	if (fd < 0)
		return d->created ? fail(r, fd, "cannot open folder '%s/%s': %s", r->shown, rel,
					 why(fd))
				  : 0;
	if (preserve && geteuid() == 0)
		(void)!fchown(fd, d->uid, d->gid);
	if ((d->created || preserve) && fchmod(fd, d->mode & 07777) < 0 && d->created)
		return fail(r, -errno, "cannot set the mode of '%s/%s': %s", r->shown, rel,
			    why(-errno));
	if (preserve)
		futimens(fd, ts);
	return 0;
}

/* Whether entry name is below the deepest open folder. */
static bool below_top(const struct xfer_recv *r, const char *name)
{
	size_t len = r->levels[r->depth - 1].len;

	return len == 0 || (strncmp(name, r->opened, len) == 0 && name[len] == '/');
}

/* Closes the open folders that entry name (NULL: none, the tree's END) is
 * not below, deepest first: they are complete. */
static int leave_dirs(struct xfer_recv *r, const char *name)
{
	while (r->depth > 0 && (!name || !below_top(r, name))) {
		struct level *d = &r->levels[r->depth - 1];
		char saved = r->opened[d->len];
		int err;

		r->opened[d->len] = '\0';
		err = fix_dir(r, r->opened, d);
		r->opened[d->len] = saved;
		if (err < 0)
			return err;
		r->depth--;
	}
	return 0;
}

static int on_meta(struct xfer_recv *r, const struct sess_frame *f)
{
	struct sess_meta m;
	int e;

	if (r->fd >= 0 || sess_dec_meta(f, &m) < 0)
		return fail(r, -EPROTO, "a malformed or misplaced META");
	if (m.type != SESS_F_REG && !(r->flags & SESS_PUT_TREE))
		return fail(r, -EPROTO, "a folder or a link in a copy of one file");
	end_file(r);
	e = locate(r, m.name, &r->dirfd, &r->name, &r->path);
	if (e == 0 && r->started)
		e = leave_dirs(r, m.name);
	if (e < 0)
		return e;
	if (m.type == SESS_F_REG)
		e = begin_file(r, &m);
	else if (m.type == SESS_F_DIR)
		e = make_dir(r, &m);
	else
		e = make_link(r, &m);
	if (e < 0)
		return e;
	if (!r->started && !r->rootname) {
		free(r->shown);
		r->shown = strdup(r->path);
	}
	r->started = true;
	if (m.type != SESS_F_REG) {
		r->count++;
		r->prog.files++;
		end_file(r);
	}
	return r->shown ? 0 : -ENOMEM;
}

static int on_data(struct xfer_recv *r, const struct sess_frame *f, struct sess_buf *out)
{
	size_t done = 0;

	if (r->fd < 0 || f->chan != SESS_CH_FILE)
		return fail(r, -EPROTO, "file data with no file open");
	while (done < f->len) {
		ssize_t n = write(r->fd, f->payload + done, f->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(r, -errno, "cannot write '%s': %s", r->path, why(-errno));
		done += (size_t)n;
	}
	sha256_update(&r->sha, f->len, f->payload);
	r->prog.bytes += f->len;
	sess_frame_credit(out, SESS_CH_FILE, f->len);
	return 0;
}

/* The file is complete: its hash checked, attributes set, committed. */
static int commit_file(struct xfer_recv *r, const struct sess_end *e)
{
	uint8_t got[SHA256_DIGEST_SIZE];
	const struct sess_meta *m = &r->meta;
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, mtime_ts(m->mtime_ns) };
	int err;

	sha256_digest(&r->sha, sizeof(got), got);
	if (!e->has_sha || memcmp(got, e->sha256, sizeof(got)) != 0)
		return fail(r, -EBADMSG,
			    "'%s' arrived damaged (its SHA-256 differs from the sender's): not "
			    "written",
			    r->path);
	if ((r->flags & SESS_PUT_PRESERVE) && geteuid() == 0)
		(void)!fchown(r->fd, m->uid, m->gid);
	if (fchmod(r->fd, m->mode & 07777) < 0)
		return fail(r, -errno, "cannot set the mode of '%s': %s", r->path, why(-errno));
	if ((r->flags & SESS_PUT_PRESERVE) && futimens(r->fd, ts) < 0)
		return fail(r, -errno, "cannot set the time of '%s': %s", r->path, why(-errno));
	err = xfer_tmp_commit(r->fd, r->dirfd, r->tmp, r->name);
	if (err < 0)
		return fail(r, err, "cannot write '%s': %s", r->path, why(err));
	r->count++;
	r->prog.files++;
	end_file(r);
	return 0;
}

static int on_end(struct xfer_recv *r, const struct sess_frame *f)
{
	struct sess_end e;
	int err;

	if (sess_dec_end(f, &e) < 0)
		return fail(r, -EPROTO, "a malformed END");
	if (r->fd >= 0) {
		err = commit_file(r, &e);
		if (err < 0)
			return err;
		return r->flags & SESS_PUT_TREE ? 0 : 1;
	}
	if (!(r->flags & SESS_PUT_TREE) || e.has_sha || !r->started || e.count != r->count)
		return fail(r, -EPROTO, "the sender's END does not match what it sent");
	if ((err = leave_dirs(r, NULL)) < 0)
		return err;
	if (r->treefd >= 0 && fsync(r->treefd) < 0 && errno != EINVAL)
		return fail(r, -errno, "cannot sync '%s': %s", r->shown, strerror(errno));
	return 1;
}

int xfer_recv_frame(struct xfer_recv *r, const struct sess_frame *f, struct sess_buf *out)
{
	int e;

	if (r->done)
		return fail(r, -EPROTO, "frames after the end of the copy");
	switch (f->type) {
	case SESS_META:
		e = on_meta(r, f);
		break;
	case SESS_DATA:
		e = on_data(r, f, out);
		break;
	case SESS_END:
		e = on_end(r, f);
		break;
	default:
		e = fail(r, -EPROTO, "unexpected frame type %u during a copy", f->type);
	}
	if (e < 0)
		end_file(r);
	r->done = e != 0;
	return e;
}
