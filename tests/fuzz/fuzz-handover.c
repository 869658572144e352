/* SPDX-License-Identifier: MIT */
/*
 * fuzz-handover.c - what a vmsvcd that replaces a killed one reads back
 * from memory another process wrote: a struct vu_state with its fds
 * (vu_dev_import(), vhost-user-state.h) and a connection journal
 * (vsock-journal.h). The input is the state (its magic and version forced
 * right when bit 0 of the first byte says so, to get past them), the kinds
 * of up to VU_STATE_MAX_FDS fds (memfd holding the input, or eventfd), and
 * the rest as journal memory. Every fd must be closed by the import or by
 * vu_dev_free() (else abort), and draining the journal must end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost-user-state.h"
#include "vsock-journal.h"

#define FUZZ_MEMFD_SIZE 0x10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fz_cid(void *opaque)
{
	return 3;
}

static void fz_log(void *opaque, enum log_level level, const char *fmt, va_list ap)
{
}

static const struct vu_ops fz_ops = { .get_cid = fz_cid, .log = fz_log };

static int fz_fd(bool memfd, const uint8_t *data, size_t size)
{
	int fd;

	if (!memfd)
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, FUZZ_MEMFD_SIZE) < 0 ||
	    pwrite(fd, data, size < FUZZ_MEMFD_SIZE ? size : FUZZ_MEMFD_SIZE, 0) < 0)
		abort();
	return fd;
}

static void fz_import(const uint8_t *data, size_t size)
{
	static struct vu_state st;
	int fds[VU_STATE_MAX_FDS], created[VU_STATE_MAX_FDS];
	unsigned n = size > sizeof(st) ? data[sizeof(st)] % (VU_STATE_MAX_FDS + 1) : 0;
	struct vu_dev *d = vu_dev_new(&fz_ops, NULL);

	if (!d)
		abort();
	memset(&st, 0, sizeof(st));
	memcpy(&st, data, size < sizeof(st) ? size : sizeof(st));
	if (size && (data[0] & 1)) {
		st.magic = VU_STATE_MAGIC;
		st.version = VU_STATE_VERSION;
	}
	for (unsigned i = 0; i < n; i++) {
		size_t at = sizeof(st) + 1 + i;
		bool memfd = at < size && (data[at] & 1);

		created[i] = fds[i] = fz_fd(memfd, data, size);
		if (fds[i] < 0)
			abort();
	}
	vu_dev_import(d, &st, fds, n);
	vu_dev_free(d);
	for (unsigned i = 0; i < n; i++)
		if (fcntl(created[i], F_GETFD) >= 0)
			abort(); /* leaked: nobody closed it */
}

static void fz_journal(const uint8_t *data, size_t size)
{
	static _Alignas(8) uint8_t mem[4096];
	struct vsk_journal j;
	uint32_t l, p;
	unsigned popped = 0;

	memcpy(mem, data, size < sizeof(mem) ? size : sizeof(mem));
	if (size < sizeof(mem))
		memset(mem + size, 0xff, sizeof(mem) - size);
	if (vjr_init(&j, mem, sizeof(mem), false) < 0)
		return;
	vjr_del(&j, 1, 2);
	(void)vjr_add(&j, 3, 4);
	while (vjr_pop(&j, &l, &p))
		if (++popped > sizeof(mem) / sizeof(struct vjr_slot))
			abort(); /* more pairs than slots: it never ends */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_import(data, size);
	fz_journal(data, size);
	return 0;
}
