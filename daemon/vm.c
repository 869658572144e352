/* SPDX-License-Identifier: MIT */
/*
 * vm.c - the VM table and the QEMU side of each VM: the vhost-user socket,
 * the virtqueues and the glue that moves packets between them and the
 * vsock engine. The VM's host streams are hstream.c.
 *
 * Queue work is bounded per wake-up (QUEUE_BUDGET chains, and on the tx
 * queue QUEUE_BYTE_BUDGET bytes of packets) so that one busy guest cannot
 * starve the others nor hold up their round trips; leftover work continues
 * from an idle handle on the next loop iteration. A guest that breaks the
 * virtqueue protocol marks only its own device broken: its connections are
 * reset and its queues are ignored until the driver resets them.
 *
 * Nor does one QEMU hold the loop: its vhost-user socket is never waited
 * for. A partial message stays in the VM's vu_io until the socket is
 * readable again; a reply QEMU does not read is queued while the watch
 * turns to writability (no request is read meanwhile, so at most one reply
 * is queued). A QEMU that leaves either outstanding for VM_QEMU_STALL_MS
 * is disconnected from the tick.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"
#include "vm-int.h"
#include "vmtable.h"

#define QUEUE_BUDGET 256
/* A guest sending 64 KiB packets is served 8 of them per turn: another VM's
 * kick then waits for at most that much copying (bench/fairness). */
#define QUEUE_BYTE_BUDGET (512u << 10)
#define QEMU_BATCH	  64 /* vhost-user requests handled per wake-up */
/* How long QEMU may leave a message incomplete or a reply unread before it
 * is disconnected. QEMU writes every message in one go and blocks until it
 * has read each reply, so a QEMU that takes this long is broken or hostile;
 * meanwhile it holds only its own VM, one partial message and one reply. */
#define VM_QEMU_STALL_MS 5000
#define RXQ		 0
#define TXQ		 1
/* Guest data waiting for host streams plus host->guest staging, all VMs
 * together (each VM has its own caps as well: docs/limits.md). */
#define VM_DAEMON_BUFFER_CAP (256ull << 20)

static struct vsk_budget vm_buffers = { .cap = VM_DAEMON_BUFFER_CAP };

static void vm_maybe_free(struct vm *vm);

/* ---- fd watches ---- */

static void vm_handle_closed(void *owner)
{
	struct vm *vm = owner;

	vm->handles--;
	vm_maybe_free(vm);
}

struct watch *vm_watch_new(struct vm *vm, int fd, size_t size, uv_poll_cb cb)
{
	struct watch *w = watch_new(vm->d->loop, fd, size, cb, vm, vm_handle_closed);

	if (w)
		vm->handles++;
	return w;
}

/* ---- accessors ---- */

struct vm *vm_first(struct daemon *d)
{
	return list_empty(&d->vms) ? NULL : list_entry(d->vms.next, struct vm, link);
}

struct vm *vm_next(struct daemon *d, struct vm *vm)
{
	return vm->link.next == &d->vms ? NULL : list_entry(vm->link.next, struct vm, link);
}

struct vm *vm_find(struct daemon *d, const char *name, const hv_guid_t *id)
{
	for (struct vm *vm = vm_first(d); vm; vm = vm_next(d, vm))
		if ((name && strcmp(vm->name, name) == 0) || (id && hv_guid_equal(&vm->id, id)))
			return vm;
	return NULL;
}

struct daemon *vm_daemon(const struct vm *vm)
{
	return vm->d;
}

const char *vm_name(const struct vm *vm)
{
	return vm->name;
}

uint32_t vm_cid(const struct vm *vm)
{
	return vm->cid;
}

const hv_guid_t *vm_id(const struct vm *vm)
{
	return &vm->id;
}

bool vm_running(const struct vm *vm)
{
	return vm->vu && vu_dev_queue(vm->vu, RXQ) && vu_dev_queue(vm->vu, TXQ);
}

bool vm_paused(const struct vm *vm)
{
	return vm->qemu && vm->vu && vu_dev_suspended(vm->vu);
}

uint64_t vm_generation(const struct vm *vm)
{
	return vm->generation;
}

/* Drops every connection of the VM's device (engine state only). */
static void vm_reset_conns(struct vm *vm)
{
	vm->generation++;
	vsk_dev_reset(vm->vsk);
}

/* Logs a pause or resume once QEMU's message has been handled. */
static void vm_note_pause(struct vm *vm)
{
	bool paused = vm_paused(vm);

	if (paused == vm->paused)
		return;
	vm->paused = paused;
	if (paused) {
		vm->pause_gen = vm->generation;
		log_info("VM %s: QEMU stopped the device (VM paused, or its driver stopping); "
			 "connections kept",
			 vm->name);
	} else if (vm->pause_gen == vm->generation && vm->qemu) {
		log_info("VM %s: QEMU restarted the device (resumed)", vm->name);
	} /* else: a new driver or QEMU gone, logged as such */
}

enum vm_state vm_state(const struct vm *vm)
{
	if (!vm->qemu)
		return VM_STOPPED;
	return vm_running(vm) ? VM_RUNNING : VM_CONNECTED;
}

const char *vm_state_name(enum vm_state s)
{
	static const char *const names[] = { "stopped", "connected", "running" };

	return names[s];
}

unsigned vm_connections(const struct vm *vm)
{
	struct vsk_stats st;

	vsk_dev_get_stats(vm->vsk, &st);
	return st.conns;
}

/* ---- queues ---- */

/* The guest broke the protocol: only this VM's device is affected. */
static void vm_broken(struct vm *vm, int qidx, int err)
{
	log_err("VM %s: guest broke the virtqueue protocol on queue %d (%s); device marked "
		"broken, connections reset",
		vm->name, qidx, strerror(-err));
	vu_dev_set_broken(vm->vu);
	vm_reset_conns(vm);
}

static void schedule_more(struct vm *vm);

void vm_process_rx(struct vm *vm)
{
	struct vq_elem e;
	struct vq *q;
	int n = 0, r;

	if (vm->in_rx || !vm->vu || !(q = vu_dev_queue(vm->vu, RXQ)))
		return;
	vm->in_rx = true;
	while (vsk_dev_rx_pending(vm->vsk)) {
		if (n++ == QUEUE_BUDGET) {
			schedule_more(vm);
			break;
		}
		r = vq_pop(q, &e);
		if (r <= 0) {
			if (r < 0)
				vm_broken(vm, RXQ, r);
			break;
		}
		size_t used = vsk_dev_fill_rx(vm->vsk, e.in, (int)e.in_num);
		if (used == 0) {
			vq_unpop(q);
			break;
		}
		vq_push(q, &e, (uint32_t)used);
	}
	vm->in_rx = false;
	if (vm->vu && vu_dev_queue(vm->vu, RXQ))
		vu_notify(vm->vu, RXQ);
}

static void process_tx(struct vm *vm)
{
	struct vq_elem e;
	struct vq *q;
	int r;

	if (!vm->vu || !(q = vu_dev_queue(vm->vu, TXQ)))
		return;
	for (size_t n = 0, bytes = 0;; n++) {
		if (n == QUEUE_BUDGET || bytes >= QUEUE_BYTE_BUDGET) {
			schedule_more(vm);
			break;
		}
		r = vq_pop(q, &e);
		if (r <= 0) {
			if (r < 0)
				vm_broken(vm, TXQ, r);
			break;
		}
		bytes += e.out_len;
		if (vsk_dev_guest_tx_iov(vm->vsk, e.out, (int)e.out_num) == -EPROTO)
			log_debug("VM %s: malformed tx packet dropped", vm->name);
		/* The engine may have freed the device state (reset) but the
		 * ring stays mapped until the next vhost-user message. */
		vq_push(q, &e, 0);
	}
	if (vm->vu && vu_dev_queue(vm->vu, TXQ))
		vu_notify(vm->vu, TXQ);
	vm_process_rx(vm);
}

static void on_more(uv_idle_t *h)
{
	struct vm *vm = h->data;

	uv_idle_stop(h);
	process_tx(vm);
}

static void schedule_more(struct vm *vm)
{
	if (vm->more && !uv_is_active((uv_handle_t *)vm->more))
		uv_idle_start(vm->more, on_more);
}

static void on_kick(uv_poll_t *p, int status, int events)
{
	struct watch *w = p->data;
	struct vm *vm = w->owner;
	uint64_t v;

	(void)events;
	if (status < 0)
		return;
	/* One read takes the whole eventfd counter; the fd is non-blocking
	 * (set when we started watching it), so a spurious wake-up costs an
	 * EAGAIN, never a hang. */
	if (read(w->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("VM %s: kick read: %s", vm->name, strerror(errno));
	/* A VM whose last turn ran out of budget has its next turn scheduled
	 * (on_more, after this loop iteration's other ready VMs): a kick
	 * meanwhile must not give it a second turn before them. */
	if (vm->more && uv_is_active((uv_handle_t *)vm->more))
		return;
	process_tx(vm);
}

/* ---- vhost-user callbacks ---- */

static uint64_t vu_get_cid(void *opaque)
{
	return ((struct vm *)opaque)->cid;
}

static void vu_queue_state(void *opaque, int qidx, bool running)
{
	struct vm *vm = opaque;

	log_debug("VM %s: queue %d %s", vm->name, qidx, running ? "started" : "stopped");
	if (running)
		process_tx(vm);
}

static void vu_kick_fd(void *opaque, int qidx, int fd)
{
	struct vm *vm = opaque;
	int dup_fd;

	if (qidx < 0 || qidx >= VU_NUM_QUEUES)
		return;
	if (vm->kick[qidx]) {
		/* Stop polling now: the vu_dev closes its fd after we return. */
		uv_poll_stop(&vm->kick[qidx]->poll);
		watch_close(vm->kick[qidx]);
		vm->kick[qidx] = NULL;
	}
	if (fd < 0)
		return;
	/* The watch owns a duplicate so that its fd outlives nothing else. */
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup_fd < 0) {
		log_err("VM %s: cannot watch kick fd: %s", vm->name, strerror(errno));
		return;
	}
	fcntl(dup_fd, F_SETFL, fcntl(dup_fd, F_GETFL) | O_NONBLOCK);
	vm->kick[qidx] = vm_watch_new(vm, dup_fd, sizeof(struct watch), on_kick);
	if (vm->kick[qidx])
		watch_set(vm->kick[qidx], UV_READABLE);
}

static void vu_reset(void *opaque)
{
	struct vm *vm = opaque;

	log_info("VM %s: driver reset, connections dropped", vm->name);
	vm_reset_conns(vm);
}

/* Logs one engine line as "VM NAME: WHAT: message". */
static void vm_logv(const struct vm *vm, enum log_level l, const char *what, const char *fmt,
		    va_list ap)
{
	char buf[512];

	if (l > log_level_max())
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_msg(l, "VM %s: %s: %s", vm->name, what, buf);
}

static void vu_log(void *opaque, enum log_level level, const char *fmt, va_list ap)
{
	vm_logv(opaque, level, "vhost-user", fmt, ap);
}

static const struct vu_ops vm_vu_ops = {
	.get_cid = vu_get_cid,
	.queue_state = vu_queue_state,
	.kick_fd = vu_kick_fd,
	.reset = vu_reset,
	.log = vu_log,
};

/* ---- the QEMU connection ---- */

static void qemu_disconnect(struct vm *vm, const char *why)
{
	if (!vm->qemu)
		return;
	log_info("VM %s: QEMU disconnected (%s)", vm->name, why);
	vm_ho_disconnected(vm);
	vm_reset_conns(vm);
	vm->paused = false;
	vm->vu = vu_dev_free(vm->vu); /* calls vu_kick_fd(-1) for both queues */
	vm->io = vu_io_free(vm->io);  /* closes the fds of a partial message */
	vm->qemu_wait_ms = 0;
	watch_close(vm->qemu);
	vm->qemu = NULL;
}

/* Handles request m and sends its reply, if any. Returns 0, VU_IO_QUEUED
 * (QEMU has not taken all of the reply yet) or a negative errno. */
static int qemu_answer(struct vm *vm, struct vu_msg *m)
{
	memset(vm->reply, 0, offsetof(struct vu_msg, payload));
	vm->reply->nfds = 0;
	vu_handle(vm->vu, m, vm->reply);
	if (!vm->qemu || !vu_reply_pending(vm->reply))
		return 0;
	return vu_io_send(vm->io, vm->qemu->fd, vm->reply);
}

/* Handles up to QEMU_BATCH requests, as far as they have arrived. While a
 * reply waits for QEMU to read it, no further request is read: the watch
 * turns to writability until the reply is out. */
static void qemu_read(struct vm *vm, struct watch *w)
{
	int n;

	for (n = 0; n < QEMU_BATCH && vm->qemu == w; n++) {
		struct vu_msg *m;
		int r = vu_io_recv(vm->io, w->fd, &m);

		if (r == -EAGAIN)
			break;
		if (r <= 0) {
			qemu_disconnect(vm, r == 0 ? "end of stream" : strerror(-r));
			return;
		}
		vm->qemu_wait_ms = 0;
		r = qemu_answer(vm, m);
		vm_note_pause(vm);
		if (r < 0) {
			qemu_disconnect(vm, strerror(-r));
			return;
		}
		if (r == VU_IO_QUEUED && vm->qemu == w) {
			vm->qemu_wait_ms = now_ms();
			watch_set(w, UV_WRITABLE);
			vm_ho_save(vm);
			return;
		}
	}
	if (n > 0 && vm->qemu == w)
		vm_ho_save(vm);
	if (vm->qemu == w && vu_io_reading(vm->io) && vm->qemu_wait_ms == 0)
		vm->qemu_wait_ms = now_ms();
}

static void on_qemu(uv_poll_t *p, int status, int events)
{
	struct watch *w = p->data;
	struct vm *vm = w->owner;
	int r;

	(void)events;
	if (status < 0) {
		qemu_disconnect(vm, uv_strerror(status));
		return;
	}
	if (vu_io_queued(vm->io)) {
		r = vu_io_flush(vm->io, w->fd);
		if (r < 0) {
			qemu_disconnect(vm, strerror(-r));
			return;
		}
		if (r == VU_IO_QUEUED)
			return;
		vm->qemu_wait_ms = 0;
		watch_set(w, UV_READABLE);
	}
	qemu_read(vm, w);
}

/* Disconnects a QEMU that left a message incomplete, or a reply unread,
 * for VM_QEMU_STALL_MS. */
static void qemu_tick(struct vm *vm, uint64_t now)
{
	if (!vm->qemu || vm->qemu_wait_ms == 0 || now - vm->qemu_wait_ms < VM_QEMU_STALL_MS)
		return;
	if (vu_io_queued(vm->io))
		log_warn("VM %s: QEMU has not read a reply for %d s; disconnecting", vm->name,
			 VM_QEMU_STALL_MS / 1000);
	else
		log_warn("VM %s: QEMU left a message incomplete for %d s; disconnecting", vm->name,
			 VM_QEMU_STALL_MS / 1000);
	qemu_disconnect(vm, "stalled");
}

static int vm_qemu_attach(struct vm *vm, int fd);

static void on_vhost_listen(uv_poll_t *p, int status, int events)
{
	struct watch *w = p->data;
	struct vm *vm = w->owner;
	int fd;

	(void)events;
	if (status < 0)
		return;
	fd = watch_accept(w, vm->vhost_path);
	if (fd < 0)
		return;
	if (vm->qemu) {
		log_warn("VM %s: a second QEMU tried to attach to %s; refused", vm->name,
			 vm->vhost_path);
		safe_close(fd);
		return;
	}
	if (vm_qemu_attach(vm, fd) == 0)
		log_info("VM %s: QEMU connected", vm->name);
}

/* Serves QEMU on the connected vhost-user socket fd (taken), and stores it
 * for a successor. 0 or -ENOMEM. */
static int vm_qemu_attach(struct vm *vm, int fd)
{
	vm->vu = vu_dev_new(&vm_vu_ops, vm);
	vm->io = vu_io_new();
	if (vm->vu && vm->io)
		vm->qemu = vm_watch_new(vm, fd, sizeof(struct watch), on_qemu); /* owns fd */
	else
		safe_close(fd);
	if (!vm->qemu) {
		log_err("VM %s: out of memory for a QEMU connection", vm->name);
		vm->vu = vu_dev_free(vm->vu);
		vm->io = vu_io_free(vm->io);
		return -ENOMEM;
	}
	watch_set(vm->qemu, UV_READABLE);
	vm_ho_connected(vm);
	return 0;
}

/* Resets what is left of a predecessor's connections, as far as the
 * guest's rx buffers take the RSTs. */
static void vm_reset_old(struct vm *vm)
{
	for (int i = 0; i < 8 && vm_ho_reset_old(vm) > 0; i++)
		vm_process_rx(vm);
}

/* Takes over the QEMU connection a killed predecessor left in the service
 * manager's store (vm-handover.c), if any. */
static void vm_adopt(struct vm *vm)
{
	struct vm_takeover *t = calloc(1, sizeof(*t));
	int r;

	if (!t || !vm_ho_take(vm, t)) {
		free(t);
		return;
	}
	r = vm_qemu_attach(vm, TAKE_FD(t->qemu));
	if (r == 0)
		r = vm_ho_import(vm, t);
	vm_ho_takeover_drop(t);
	free(t);
	if (r < 0) {
		log_err("VM %s: cannot take over QEMU's connection from the previous vmsvcd: %s",
			vm->name, strerror(-r));
		qemu_disconnect(vm, "no usable state from the previous vmsvcd");
		return;
	}
	log_info("VM %s: took over QEMU's connection from the previous vmsvcd", vm->name);
	vm_reset_old(vm);
}

/* ---- lifecycle ---- */

static const struct vm_ext *exts[VM_MAX_EXTS];
static unsigned n_exts;

int vm_ext_register(const struct vm_ext *ext)
{
	if (n_exts == VM_MAX_EXTS)
		return -ENOSPC;
	exts[n_exts++] = ext;
	return 0;
}

void *vm_ext_state(const struct vm *vm, const struct vm_ext *ext)
{
	for (unsigned i = 0; i < n_exts; i++)
		if (exts[i] == ext)
			return vm->ext[i];
	return NULL;
}

/* What vms.d says besides the address: who may open sessions
 * (SessionUsers=, SessionGroups=) and the services turned off
 * (DisabledServices=). Changes in place. */
static void vm_set_access(struct vm *vm, const struct vmt_vm *def)
{
	char what[128], *disabled = NULL;

	snprintf(what, sizeof(what), "VM %s: SessionUsers/SessionGroups", def->name);
	access_set(&vm->session, what, def->session_users, def->session_groups);
	if (def->disabled_services && !(disabled = strdup(def->disabled_services)))
		log_err("VM %s: out of memory for DisabledServices=; kept as it was", def->name);
	else {
		free(vm->disabled_services);
		vm->disabled_services = disabled;
	}
}

bool vm_service_disabled(const struct vm *vm, const char *short_name)
{
	const struct vmt_vm def = { .disabled_services = vm->disabled_services };

	return vmt_service_disabled(&def, short_name);
}

const struct access *vm_session_access(const struct vm *vm)
{
	return &vm->session;
}

static void vm_free(struct vm *vm)
{
	vsk_dev_free(vm->vsk);
	access_clear(&vm->session);
	free(vm->disabled_services);
	free(vm->reply);
	free(vm->name);
	free(vm->vhost_path);
	free(vm);
}

static void vm_maybe_free(struct vm *vm)
{
	if (vm->stopping && vm->handles == 0)
		vm_free(vm);
}

static void more_closed(uv_handle_t *h)
{
	struct vm *vm = h->data;

	free(h);
	vm->handles--;
	vm_maybe_free(vm);
}

void vm_vsk_log(void *opaque, enum log_level level, const char *fmt, va_list ap)
{
	vm_logv(opaque, level, "vsock", fmt, ap);
}

static int vm_listen(struct vm *vm, const char *path, uv_poll_cb cb, struct watch **out)
{
	int fd = daemon_listen_unix(vm->d, path);

	if (fd < 0)
		return fd;
	*out = vm_watch_new(vm, fd, sizeof(struct watch), cb);
	if (!*out)
		return -ENOMEM;
	watch_set(*out, UV_READABLE);
	return 0;
}

static void vm_stop(struct vm *vm);

static int vm_alloc(struct daemon *d, const struct vmt_vm *def, struct vm **out)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return -ENOMEM;
	vm->d = d;
	vm->id = def->id;
	vm->cid = def->cid;
	list_init(&vm->link);
	list_init(&vm->streams);
	vm->name = strdup(def->name);
	vm->reply = malloc(sizeof(*vm->reply));
	vm->more = malloc(sizeof(*vm->more));
	if (!vm->name || !vm->reply || !vm->more ||
	    asprintf(&vm->vhost_path, "%s/%s.vhost", d->vms_dir, def->name) < 0) {
		free(vm->more);
		vm_free(vm);
		return -ENOMEM;
	}
	vm_set_access(vm, def);
	*out = vm;
	return 0;
}

static int vm_start(struct daemon *d, const struct vmt_vm *def)
{
	struct vm *vm;
	int r = vm_alloc(d, def, &vm);

	if (r < 0)
		return r;
	/* Connect deadlines are ours (per request, up to
	 * HVSOCKET_CONNECT_TIMEOUT_MAX): the engine's is only a backstop. */
	const struct vsk_limits lim = { .connect_timeout_ms = HVSOCKET_CONNECT_TIMEOUT_MAX + 5000,
					.shared = &vm_buffers };
	r = vsk_dev_new(&vm->vsk, vm->cid, &hs_vsk_ops, vm, &lim);
	if (r < 0) {
		free(vm->more);
		vm_free(vm);
		return r;
	}
	uv_idle_init(d->loop, vm->more);
	vm->more->data = vm;
	vm->handles++;
	list_add_tail(&vm->link, &d->vms);
	r = vm_listen(vm, vm->vhost_path, on_vhost_listen, &vm->vhost_listen);
	if (r < 0) {
		log_err("VM %s: cannot listen on %s: %s", vm->name, vm->vhost_path, strerror(-r));
		vm_stop(vm);
		return r;
	}
	for (unsigned i = 0; i < n_exts; i++)
		vm->ext[i] = exts[i]->attach(vm);
	log_info("VM %s: serving CID %u at %s", vm->name, vm->cid, vm->vhost_path);
	vm_adopt(vm);
	return 0;
}

/* Stops serving: every connection is reset, QEMU's socket closed, the
 * socket files removed, and the VM taken off the daemon's list. The memory
 * goes once libuv has closed every handle. */
static void vm_stop(struct vm *vm)
{
	if (vm->stopping)
		return;
	vm->stopping = true;
	list_del(&vm->link);
	for (unsigned i = 0; i < n_exts; i++) {
		if (vm->ext[i])
			exts[i]->detach(vm->ext[i]);
		vm->ext[i] = NULL;
	}
	hs_reset_all(vm);
	qemu_disconnect(vm, "VM stopped");
	vsk_dev_reset(vm->vsk);
	if (vm->vhost_listen) {
		unlink(vm->vhost_path);
		watch_close(vm->vhost_listen);
	}
	vm->vhost_listen = NULL;
	uv_close((uv_handle_t *)vm->more, more_closed);
	vm->more = NULL;
}

static void vm_tick(struct vm *vm, uint64_t now_ms)
{
	qemu_tick(vm, now_ms);
	vm_reset_old(vm);
	vsk_dev_tick(vm->vsk, now_ms);
	hs_tick(vm, now_ms);
	for (unsigned i = 0; i < n_exts; i++)
		if (vm->ext[i] && exts[i]->tick)
			exts[i]->tick(vm->ext[i], now_ms);
}

struct counters *vm_counters(struct vm *vm)
{
	return &vm->count;
}

/* ---- the VM table ---- */

static struct {
	uv_fs_event_t watch;
	bool watching;
	struct daemon_tick tick;
} table;

void vm_table_sync(struct daemon *d)
{
	struct vmt_table *t = NULL;
	struct list_head *p, *tmp;
	int r = vmt_load(d->config_dir, &t);

	if (r < 0) {
		log_err("cannot read VM definitions in %s/vms.d: %s", d->config_dir, strerror(-r));
		return;
	}
	const struct conf_problems *pr = vmt_problems(t);
	for (size_t i = 0; i < pr->count; i++)
		log_warn("%s:%u: %s (VM ignored)", pr->items[i].file, pr->items[i].line,
			 pr->items[i].message);
	/* Removed or changed (another CID or VmId): stop; new ones start. */
	list_for_each_safe (p, tmp, &d->vms) {
		struct vm *vm = list_entry(p, struct vm, link);
		const struct vmt_vm *def = vmt_find_name(t, vm->name);
		if (!def || def->cid != vm->cid || !hv_guid_equal(&def->id, &vm->id)) {
			log_info("VM %s: definition removed or changed, stopping", vm->name);
			vm_stop(vm);
		} else {
			vm_set_access(vm, def); /* SessionUsers= etc. change in place */
		}
	}
	for (size_t i = 0; i < vmt_count(t); i++) {
		const struct vmt_vm *def = vmt_at(t, i);
		if (!vm_find(d, def->name, NULL) && (r = vm_start(d, def)) < 0)
			log_err("VM %s: cannot start: %s", def->name, strerror(-r));
	}
	vmt_table_free(t);
}

static void on_vms_change(uv_fs_event_t *h, const char *file, int events, int status)
{
	(void)file, (void)events, (void)status;
	vm_table_sync(h->data);
}

static void on_table_tick(void *opaque, uint64_t now_ms)
{
	struct daemon *d = opaque;
	struct list_head *p, *tmp;

	list_for_each_safe (p, tmp, &d->vms)
		vm_tick(list_entry(p, struct vm, link), now_ms);
}

int vm_table_start(struct daemon *d)
{
	_cleanup_free_ char *dir = path_join(d->config_dir, "vms.d");
	int r;

	if (!dir)
		return -ENOMEM;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		log_warn("cannot create %s: %s", dir, strerror(errno));
	uv_fs_event_init(d->loop, &table.watch);
	table.watch.data = d;
	r = uv_fs_event_start(&table.watch, on_vms_change, dir, 0);
	if (r < 0) {
		log_warn("cannot watch %s (%s): changes need SIGHUP", dir, uv_strerror(r));
		uv_close((uv_handle_t *)&table.watch, NULL);
	} else {
		table.watching = true;
	}
	table.tick = (struct daemon_tick){ .fn = on_table_tick, .opaque = d };
	daemon_on_tick(d, &table.tick);
	vm_table_sync(d);
	return 0;
}

void vm_table_stop(struct daemon *d)
{
	struct list_head *p, *tmp;

	list_for_each_safe (p, tmp, &d->vms)
		vm_stop(list_entry(p, struct vm, link));
	daemon_untick(&table.tick);
	if (table.watching)
		uv_close((uv_handle_t *)&table.watch, NULL);
	table.watching = false;
}
