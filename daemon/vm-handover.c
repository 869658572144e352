/* SPDX-License-Identifier: MIT */
/*
 * vm-handover.c - each VM's vhost-user connection kept in the service
 * manager's fd store (fdstore.h), and taken over by a vmsvcd started in
 * place of a killed one. QEMU 7.2 never reconnects a vhost-user-vsock
 * device (docs/restart.md), so the connection itself must outlive us.
 *
 * Stored for a VM while a QEMU is attached, as "vmsvc.NAME.WHAT":
 *   qemu     the vhost-user socket;
 *   state    a memfd holding struct vu_state (vhost-user-state.h),
 *            rewritten after each batch of vhost-user requests;
 *   journal  a memfd holding the vsock connections (vsock-journal.h),
 *            updated by the engine as they come and go;
 *   0, 1...  the fds the state lists (memory regions, ring eventfds),
 *            stored again whenever one of them changed.
 * QEMU gone or the VM stopped: all removed. A successor takes them at its
 * start (vm_ho_take, vm_ho_import), rebuilds the device from the state (each ring
 * resuming at the guest's used index), and resets every connection of the
 * old journal with an RST: the guest's open sockets fail at once, idle
 * ones included, and new connections work.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdstore.h"
#include "log.h"
#include "util.h"
#include "vhost-user-state.h"
#include "vm-int.h"
#include "vsock-journal.h"

#define HO_JOURNAL_MAX (1u << 20) /* larger old journals are not read */

struct vm_handover {
	int state_fd, journal_fd;
	void *jmem;
	size_t jsize;
	struct vsk_journal journal;
	unsigned nstored; /* "0".."nstored-1" in the store */
	bool fds_stored;  /* they are the device's fds of fd_gen */
	unsigned fd_gen;  /* vu_dev_fd_gen() when they were stored */
	/* a copy of the predecessor's journal, until every RST is out */
	void *old_mem;
	struct vsk_journal old;
};

static void ho_name(const struct vm *vm, const char *what, char *buf, size_t size)
{
	snprintf(buf, size, "vmsvc.%s.%s", vm->name, what);
}

static void ho_put(const struct vm *vm, const char *what, int fd)
{
	char name[300];
	int r;

	ho_name(vm, what, name, sizeof(name));
	r = fdstore_put(name, fd);
	if (r < 0)
		log_warn("VM %s: cannot store %s with the service manager: %s", vm->name, name,
			 strerror(-r));
}

static void ho_remove(const struct vm *vm, const char *what)
{
	char name[300];

	ho_name(vm, what, name, sizeof(name));
	(void)fdstore_remove(name);
}

static void ho_remove_numbered(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ho->nstored; i++) {
		char what[16];

		snprintf(what, sizeof(what), "%u", i);
		ho_remove(vm, what);
	}
	vm->ho->nstored = 0;
}

static void ho_old_free(struct vm_handover *ho)
{
	free(ho->old_mem);
	ho->old_mem = NULL;
}

static void ho_free(struct vm *vm)
{
	struct vm_handover *ho = vm->ho;

	if (!ho)
		return;
	vsk_dev_set_journal(vm->vsk, NULL);
	if (ho->jmem)
		munmap(ho->jmem, ho->jsize);
	ho_old_free(ho);
	safe_close(ho->state_fd);
	safe_close(ho->journal_fd);
	free(ho);
	vm->ho = NULL;
}

/* A new handover record with a fresh journal that the engine fills. */
static int ho_new(struct vm *vm)
{
	struct vm_handover *ho = calloc(1, sizeof(*ho));

	if (!ho)
		return -ENOMEM;
	vm->ho = ho;
	ho->jsize = vjr_size(vsk_dev_max_conns(vm->vsk));
	ho->state_fd = memfd_create("vmsvc-vu-state", MFD_CLOEXEC);
	ho->journal_fd = memfd_create("vmsvc-vsock-journal", MFD_CLOEXEC);
	if (ho->state_fd < 0 || ho->journal_fd < 0 ||
	    ftruncate(ho->journal_fd, (off_t)ho->jsize) < 0) {
		int r = -errno;

		ho_free(vm);
		return r;
	}
	ho->jmem = mmap(NULL, ho->jsize, PROT_READ | PROT_WRITE, MAP_SHARED, ho->journal_fd, 0);
	if (ho->jmem == MAP_FAILED) {
		int r = -errno;

		ho->jmem = NULL;
		ho_free(vm);
		return r;
	}
	vjr_init(&ho->journal, ho->jmem, ho->jsize, true);
	vsk_dev_set_journal(vm->vsk, &ho->journal);
	return 0;
}

void vm_ho_connected(struct vm *vm)
{
	int r;

	if (!fdstore_enabled() || !vm->qemu)
		return;
	r = ho_new(vm);
	if (r < 0) {
		log_warn("VM %s: no handover to a successor: %s", vm->name, strerror(-r));
		return;
	}
	ho_put(vm, "qemu", vm->qemu->fd);
	ho_put(vm, "state", vm->ho->state_fd);
	ho_put(vm, "journal", vm->ho->journal_fd);
	vm_ho_save(vm);
}

void vm_ho_save(struct vm *vm)
{
	struct vu_state st;
	int fds[VU_STATE_MAX_FDS];
	unsigned n = 0;

	if (!vm->ho || !vm->vu)
		return;
	if (vu_dev_export(vm->vu, &st, fds, VU_STATE_MAX_FDS, &n) < 0 ||
	    pwrite(vm->ho->state_fd, &st, sizeof(st), 0) != (ssize_t)sizeof(st)) {
		log_warn("VM %s: cannot save the device state for a successor", vm->name);
		return;
	}
	/* each fd is a datagram to the service manager: only when they changed */
	if (vm->ho->fds_stored && vm->ho->fd_gen == vu_dev_fd_gen(vm->vu))
		return;
	ho_remove_numbered(vm);
	for (unsigned i = 0; i < n; i++) {
		char what[16];

		snprintf(what, sizeof(what), "%u", i);
		ho_put(vm, what, fds[i]);
	}
	vm->ho->nstored = n;
	vm->ho->fds_stored = true;
	vm->ho->fd_gen = vu_dev_fd_gen(vm->vu);
}

void vm_ho_disconnected(struct vm *vm)
{
	if (!vm->ho)
		return;
	ho_remove_numbered(vm);
	ho_remove(vm, "qemu");
	ho_remove(vm, "state");
	ho_remove(vm, "journal");
	ho_free(vm);
}

/* The predecessor's journal in fd (taken), kept until its RSTs are out.
 * Read into our memory, never mapped: a file that shrank under a mapping
 * would raise SIGBUS, and what the read returns is the journal's size. */
static void ho_old_journal(struct vm *vm, int fd)
{
	struct vm_handover *ho = vm->ho;
	struct stat stb;
	void *p = NULL;
	ssize_t n = -1;

	if (fd >= 0 && fstat(fd, &stb) == 0 && stb.st_size > 0 && stb.st_size <= HO_JOURNAL_MAX &&
	    (p = malloc((size_t)stb.st_size)))
		n = pread(fd, p, (size_t)stb.st_size, 0);
	safe_close(fd);
	if (n <= 0 || vjr_init(&ho->old, p, (size_t)n, false) < 0 || ho->old.n == 0) {
		free(p);
		return;
	}
	ho->old_mem = p;
	log_info("VM %s: resetting the %u connection(s) of the previous vmsvcd", vm->name,
		 ho->old.n);
}

unsigned vm_ho_reset_old(struct vm *vm)
{
	struct vm_handover *ho = vm->ho;
	unsigned n;

	if (!ho || !ho->old_mem)
		return 0;
	n = vsk_dev_reset_journal(vm->vsk, &ho->old);
	if (ho->old.n == 0)
		ho_old_free(ho);
	return n;
}

/* Takes "vmsvc.NAME.0", "1"... as long as there are. */
static unsigned ho_take_numbered(struct vm *vm, int *fds, unsigned max)
{
	unsigned n = 0;

	while (n < max) {
		char what[16], name[300];

		snprintf(what, sizeof(what), "%u", n);
		ho_name(vm, what, name, sizeof(name));
		if ((fds[n] = fdstore_take(name)) < 0)
			break;
		n++;
	}
	return n;
}

/* Removes the predecessor's names (qemu, state, journal, 0..n-1) from the
 * store. */
static void ho_forget(const struct vm *vm, unsigned n)
{
	ho_remove(vm, "qemu");
	ho_remove(vm, "state");
	ho_remove(vm, "journal");
	for (unsigned i = 0; i < n; i++) {
		char what[16];

		snprintf(what, sizeof(what), "%u", i);
		ho_remove(vm, what);
	}
}

/* Reads the state from the memfd fd (taken). */
static int ho_read_state(int fd, struct vu_state *st)
{
	ssize_t r = fd >= 0 ? pread(fd, st, sizeof(*st), 0) : -1;

	safe_close(fd);
	return r == (ssize_t)sizeof(*st) ? 0 : -EINVAL;
}

bool vm_ho_take(struct vm *vm, struct vm_takeover *t)
{
	char name[300];

	ho_name(vm, "qemu", name, sizeof(name));
	t->qemu = fdstore_take(name);
	if (t->qemu < 0)
		return false;
	ho_name(vm, "state", name, sizeof(name));
	t->err = ho_read_state(fdstore_take(name), &t->st);
	t->n = ho_take_numbered(vm, t->fds, VU_STATE_MAX_FDS);
	ho_name(vm, "journal", name, sizeof(name));
	t->journal = fdstore_take(name);
	ho_forget(vm, t->n); /* we hold them now; stored anew once in use */
	return true;
}

void vm_ho_takeover_drop(struct vm_takeover *t)
{
	t->qemu = safe_close(t->qemu);
	t->journal = safe_close(t->journal);
	for (unsigned i = 0; i < t->n; i++)
		t->fds[i] = safe_close(t->fds[i]);
	t->n = 0;
}

int vm_ho_import(struct vm *vm, struct vm_takeover *t)
{
	int r = t->err;

	if (r == 0)
		r = vu_dev_import(vm->vu, &t->st, t->fds, t->n);
	for (unsigned i = 0; i < t->n; i++) /* vu_dev_import took them */
		t->fds[i] = r == 0 ? -1 : safe_close(t->fds[i]);
	t->n = 0;
	if (r == 0) {
		vm_ho_save(vm);
		if (vm->ho)
			ho_old_journal(vm, TAKE_FD(t->journal));
	}
	vm_ho_takeover_drop(t);
	return r;
}
