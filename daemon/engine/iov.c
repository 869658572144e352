/* SPDX-License-Identifier: MIT */
/* iov.c - iovec helpers shared by the virtqueue and vsock engines. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "iov.h"

size_t iov_size(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;

	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SIZE_MAX - total)
			return SIZE_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

/* Finds the iovec holding byte off; stores the offset inside it. */
static int iov_find(const struct iovec *iov, int iovcnt, size_t off, size_t *in)
{
	int i = 0;

	while (i < iovcnt && off >= iov[i].iov_len) {
		off -= iov[i].iov_len;
		i++;
	}
	*in = off;
	return i;
}

/* Copies between buf and the iovecs; to_iov chooses the direction. */
static size_t iov_copy(const struct iovec *iov, int iovcnt, size_t off, unsigned char *buf,
		       size_t len, bool to_iov)
{
	size_t in, done = 0;

	for (int i = iov_find(iov, iovcnt, off, &in); i < iovcnt && done < len; i++, in = 0) {
		unsigned char *p = (unsigned char *)iov[i].iov_base + in;
		size_t n = iov[i].iov_len - in;

		if (n > len - done)
			n = len - done;
		if (to_iov)
			memcpy(p, buf + done, n);
		else
			memcpy(buf + done, p, n);
		done += n;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, int iovcnt, size_t off, void *dst, size_t len)
{
	return iov_copy(iov, iovcnt, off, dst, len, false);
}

size_t iov_from_buf(const struct iovec *iov, int iovcnt, size_t off, const void *src, size_t len)
{
	return iov_copy(iov, iovcnt, off, (unsigned char *)src, len, true);
}

void *iov_at(const struct iovec *iov, int iovcnt, size_t off, size_t *len)
{
	size_t in;
	int i = iov_find(iov, iovcnt, off, &in);

	/* Skip empty iovecs so that a non-NULL answer has bytes. */
	while (i < iovcnt && iov[i].iov_len == in) {
		i++;
		in = 0;
	}
	if (i >= iovcnt) {
		*len = 0;
		return NULL;
	}
	*len = iov[i].iov_len - in;
	return (unsigned char *)iov[i].iov_base + in;
}

int iov_slice(const struct iovec *iov, int iovcnt, size_t off, size_t len, struct iovec *out,
	      int max)
{
	size_t in;
	int n = 0;

	for (int i = iov_find(iov, iovcnt, off, &in); i < iovcnt && len > 0; i++, in = 0) {
		size_t take = iov[i].iov_len - in;

		if (take == 0)
			continue;
		if (n >= max)
			return -1;
		if (take > len)
			take = len;
		out[n].iov_base = (unsigned char *)iov[i].iov_base + in;
		out[n].iov_len = take;
		n++;
		len -= take;
	}
	return len == 0 ? n : -1;
}
