/* SPDX-License-Identifier: MIT */
/*
 * util.h - small helpers shared by libvmsvc, the CLI and the daemon:
 * symbol export, cleanup attributes, fd ownership.
 *
 * Internal error convention: 0 (or a documented non-negative value) is
 * success, a negative errno is failure and travels up unchanged. Only the
 * public functions of include/vmsvc/ translate that to -1 and errno.
 */
#ifndef VMSVC_UTIL_H
#define VMSVC_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Marks a function of the public API: the library is built with
 * -fvisibility=hidden and exports only these. */
#define VMSVC_EXPORT __attribute__((visibility("default")))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}

/* Closes *fd if it is open; the fd is owned by the variable. */
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
	*fd = -1;
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
	*f = NULL;
}

#define _cleanup_(f)	 __attribute__((cleanup(f)))
#define _cleanup_free_	 _cleanup_(freep)
#define _cleanup_close_	 _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Closes fd if open and returns -1, for "fd = safe_close(fd);". */
static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

/* Hands ownership over: returns *p and leaves NULL (or -1) behind. */
#define TAKE_PTR(p)                     \
	({                              \
		__typeof__(p) _t = (p); \
		(p) = NULL;             \
		_t;                     \
	})
#define TAKE_FD(fd)            \
	({                     \
		int _t = (fd); \
		(fd) = -1;     \
		_t;            \
	})

/* Public-API wrapper: converts an internal negative errno to -1/errno. */
static inline int posix_ret(int r)
{
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}

/* Milliseconds on the monotonic clock (from an arbitrary start). */
static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif /* VMSVC_UTIL_H */
