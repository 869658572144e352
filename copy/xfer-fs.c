/* SPDX-License-Identifier: MIT */
/*
 * xfer-fs.c - the file-system side of a copy (xfer.h): paths resolved
 * without following symbolic links, temporary files, the commit.
 *
 * A temporary file is O_TMPFILE where the file system has it: it has no
 * name until the commit, so a copy killed at any point leaves nothing. Else
 * it is ".vmsvc-cp.<16 random hex digits>", made with O_CREAT | O_EXCL (no
 * name an attacker could guess and plant a link at), removed on every
 * failure. The commit links the O_TMPFILE file under such a name and
 * renames it over the destination: the destination is either the old file
 * or the complete new one, never a part.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "session.h"
#include "util.h"
#include "xfer.h"

bool xfer_name_ok(const char *name, bool one)
{
	return *name && sess_name_ok(name) && !(one && strchr(name, '/'));
}

/* Component by component, each with O_NOFOLLOW (rel is xfer_name_ok). */
static int open_walk(int dirfd, const char *rel)
{
	char part[256];
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);

	while (fd >= 0 && *rel) {
		size_t n = strcspn(rel, "/");
		int next;

		if (n >= sizeof(part)) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(part, rel, n);
		part[n] = '\0';
		next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return errno == ENOTDIR ? -ELOOP : -errno;
		fd = next;
		rel += n + (rel[n] == '/');
	}
	return fd < 0 ? -errno : fd;
}

int xfer_open_beneath(int dirfd, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (!*rel)
		return open_walk(dirfd, rel);
	if (!xfer_name_ok(rel, false))
		return -EINVAL;
	fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	/* No openat2 (before Linux 5.6, or a seccomp filter): the walk. */
	if (errno == ENOSYS || errno == EPERM)
		return open_walk(dirfd, rel);
	return -errno;
}

void xfer_tmp_name(char name[32])
{
	uint8_t r[8] = { 0 };
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n <= 0 && errno != EINTR)
			break; /* unpredictable enough still: the time and pid below */
		got += n > 0 ? (size_t)n : 0;
	}
	if (got < sizeof(r)) {
		uint64_t t = now_ms() ^ ((uint64_t)getpid() << 32);

		memcpy(r, &t, sizeof(r));
	}
	snprintf(name, 32, ".vmsvc-cp.%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
		 r[4], r[5], r[6], r[7]);
}

int xfer_tmp_open(int dirfd, char name[32])
{
	int fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

	name[0] = '\0';
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	for (int i = 0; i < 16; i++) {
		xfer_tmp_name(name);
		fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		name[0] = '\0';
		return -errno;
	}
	return fd;
}

/* Gives the O_TMPFILE file fd the name tmpname in dirfd. */
static int link_tmpfile(int fd, int dirfd, char tmpname[32])
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (int i = 0; i < 16; i++) {
		xfer_tmp_name(tmpname);
		if (linkat(AT_FDCWD, proc, dirfd, tmpname, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		/* No /proc: AT_EMPTY_PATH (needs CAP_DAC_READ_SEARCH). */
		if (errno == ENOENT && linkat(fd, "", dirfd, tmpname, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	tmpname[0] = '\0';
	return -errno;
}

int xfer_tmp_commit(int fd, int dirfd, char tmpname[32], const char *name)
{
	int r;

	if (fsync(fd) < 0)
		return -errno;
	if (!tmpname[0] && (r = link_tmpfile(fd, dirfd, tmpname)) < 0)
		return r;
	if (renameat(dirfd, tmpname, dirfd, name) < 0) {
		r = -errno;
		unlinkat(dirfd, tmpname, 0);
		tmpname[0] = '\0';
		return r;
	}
	tmpname[0] = '\0';
	if (fsync(dirfd) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

int xfer_tmp_drop(int fd, int dirfd, char tmpname[32])
{
	if (fd >= 0)
		close(fd);
	if (tmpname[0])
		unlinkat(dirfd, tmpname, 0);
	tmpname[0] = '\0';
	return -1;
}
