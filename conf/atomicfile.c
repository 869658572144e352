/* SPDX-License-Identifier: MIT */
/*
 * atomicfile.c - lock, atomic replace and remove in a config folder
 * (contract: atomicfile.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "atomicfile.h"
#include "util.h"

#define TEMP_TAG ".tmp-"

int af_is_temp_name(const char *name)
{
	return name[0] == '.' && strstr(name, TEMP_TAG) != NULL;
}

/* Removes the temporary files in dirfd; best effort (a failure here only
 * leaves a hidden file behind). */
static void remove_stale_temps(int dirfd)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3); /* handed to d */
	DIR *d;
	struct dirent *e;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		safe_close(fd);
		return;
	}
	rewinddir(d);
	while ((e = readdir(d)))
		if (af_is_temp_name(e->d_name))
			(void)unlinkat(dirfd, e->d_name, 0);
	closedir(d);
}

int af_lock(int dirfd)
{
	_cleanup_close_ int fd = -1;

	fd = openat(dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	remove_stale_temps(dirfd);
	return TAKE_FD(fd);
}

/* Creates a fresh temporary file for name; stores its name in tmp (size
 * bytes). Returns the fd (caller closes) or a negative errno. */
static int create_temp(int dirfd, const char *name, char *tmp, size_t size, mode_t mode)
{
	for (int tries = 0; tries < 16; tries++) {
		uint32_t rnd;
		int fd;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -errno;
		if ((size_t)snprintf(tmp, size, ".%s" TEMP_TAG "%08x", name, rnd) >= size)
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int af_write(int dirfd, const char *name, const void *data, size_t size, mode_t mode)
{
	_cleanup_close_ int fd = -1;
	char tmp[NAME_MAX + 1];
	int r;

	fd = create_temp(dirfd, name, tmp, sizeof(tmp), mode);
	if (fd < 0)
		return fd;
	r = write_all(fd, data, size);
	if (r == 0 && fchmod(fd, mode) < 0) /* the umask may have cut it */
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

int af_unlink(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) < 0)
		return -errno;
	return fsync(dirfd) < 0 ? -errno : 0;
}
