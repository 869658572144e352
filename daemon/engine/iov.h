/* SPDX-License-Identifier: MIT */
/*
 * iov.h - the engines' one set of iovec helpers (virtqueue chains, vsock
 * packets). Counts are ints as for readv(2); a negative count is treated as
 * zero. Lengths come from guest descriptors, so sums are overflow-checked.
 */
#ifndef VMSVC_ENGINE_IOV_H
#define VMSVC_ENGINE_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/** Total bytes of iovcnt iovecs, or SIZE_MAX if the sum overflows. */
size_t iov_size(const struct iovec *iov, int iovcnt);

/**
 * Copies up to len bytes out of the iovecs, starting off bytes into them,
 * to dst. Returns the bytes copied (less than len if the iovecs end).
 */
size_t iov_to_buf(const struct iovec *iov, int iovcnt, size_t off, void *dst, size_t len);

/**
 * Copies up to len bytes from src into the iovecs, starting off bytes into
 * them. Returns the bytes copied (less than len if the iovecs end).
 */
size_t iov_from_buf(const struct iovec *iov, int iovcnt, size_t off, const void *src, size_t len);

/**
 * Points at the contiguous bytes that start off bytes into the iovecs:
 * returns the address and stores their length in *len (NULL and 0 past the
 * end).
 */
void *iov_at(const struct iovec *iov, int iovcnt, size_t off, size_t *len);

/**
 * Describes bytes [off, off + len) of the iovecs with at most max iovecs in
 * out (which must not alias iov). Returns the number of iovecs used, or -1
 * if the range does not fit in max iovecs or lies past the end.
 */
int iov_slice(const struct iovec *iov, int iovcnt, size_t off, size_t len, struct iovec *out,
	      int max);

#endif
