/* SPDX-License-Identifier: MIT */
/*
 * vsock.c - the virtio-vsock connection engine: device life, the connection
 * table, connection life (kill, close, half-close bookkeeping), host-side
 * events and timers. Packets from the guest: vsock-tx.c; packets to the
 * guest: vsock-rx.c. Invariants: vsock-int.h.
 *
 * - Connections are found by (local port, peer port) in an open-addressing
 *   table with linear probing, load <= 1/2, backward-shift deletion (no
 *   tombstones) and a per-device random seed, so a guest cannot aim for
 *   collisions. An idle connection costs one struct vsk_conn (< 256 bytes)
 *   and two table slots; buffers exist only while they hold bytes.
 * - CREDIT_UPDATE is queued when the guest asks, when half of buf_alloc has
 *   been consumed since the fwd_cnt last sent, or when txq drains with
 *   unadvertised consumption (the guest may be blocked). Every packet we
 *   send carries buf_alloc/fwd_cnt and so also counts as an update. Data
 *   written at once never drains txq, so it costs one update per
 *   buf_alloc/2, not one per packet.
 * - Half-close: guest SHUTDOWN(SEND) -> host_shutdown_write() once txq is
 *   empty; host EOF -> SHUTDOWN(SEND) after the data read before it. Both
 *   directions done (guest SHUTDOWN(SEND) with txq flushed, and host EOF or
 *   guest SHUTDOWN(RCV)) -> RST and closed(0): Linux waits up to 8 s for
 *   that RST after its close(), so it goes out at once. A guest close()
 *   with data still buffered for the host lingers up to close_timeout_ms.
 * - vsk_conn_close() is Linux's close(): SHUTDOWN(RCV|SEND), then wait up
 *   to close_timeout_ms for the guest's RST, as a zombie.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>

#include "vsock-int.h"

#define DEF_MAX_CONNS	       1024
#define DEF_BUF_ALLOC	       (256u * 1024)
#define DEF_CONNECT_TIMEOUT_MS 2000
#define DEF_CLOSE_TIMEOUT_MS   8000
#define DEF_STAGE_BUDGET       (4u << 20)
#define DEF_BUFFER_CAP	       (16u << 20)
#define PORT_LO		       (1u << 30) /* host-side ports of host connects: [2^30, 2^31) */
#define PORT_HI		       (1u << 31)
#define PRIV_PORT_LO	       512u /* VSK_PORT_PRIVILEGED: [512, 1024) */
#define PRIV_PORT_HI	       1024u
#define TABLE_MIN	       16

_Static_assert(sizeof(struct vsk_conn) <= 256, "idle connections must stay small");

void vsk_log(struct vsk_dev *d, enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!d->ops->log)
		return;
	va_start(ap, fmt);
	d->ops->log(d->opaque, level, fmt, ap);
	va_end(ap);
}

void vsk_warn_once(struct vsk_dev *d, uint32_t what, const char *fmt, ...)
{
	enum log_level level = (d->warned & what) ? LOG_LVL_DEBUG : LOG_LVL_WARN;
	va_list ap;

	d->warned |= what;
	if (!d->ops->log)
		return;
	va_start(ap, fmt);
	d->ops->log(d->opaque, level, fmt, ap);
	va_end(ap);
}

bool vsk_shared_room(const struct vsk_dev *d, uint64_t extra)
{
	const struct vsk_budget *b = d->lim.shared;

	return !b || (b->used <= b->cap && extra <= b->cap - b->used);
}

bool vsk_buffer_room(const struct vsk_dev *d, uint64_t extra)
{
	return (uint64_t)d->txq_mem + extra <= d->lim.buffer_cap && vsk_shared_room(d, extra);
}

void vsk_budget_add(struct vsk_dev *d, int64_t delta)
{
	if (d->lim.shared)
		d->lim.shared->used += (uint64_t)delta;
}

void vsk_conn_txq_account(struct vsk_conn *c, uint32_t old_mem)
{
	struct vsk_dev *d = c->dev;
	int64_t delta = (int64_t)c->txq.mem - old_mem;

	d->txq_mem += (uint32_t)delta;
	vsk_budget_add(d, delta);
}

void vsk_conn_txq_clear(struct vsk_conn *c)
{
	uint32_t old = c->txq.mem;

	vsk_bufq_clear(&c->txq);
	vsk_conn_txq_account(c, old);
}

/* Every public entry point brackets its work so that rx_ready fires once,
 * last, when the engine is consistent again. */
void vsk_enter(struct vsk_dev *d)
{
	d->depth++;
}

void vsk_leave(struct vsk_dev *d)
{
	if (--d->depth > 0 || !d->notify)
		return;
	d->notify = false;
	if (d->ops->rx_ready)
		d->ops->rx_ready(d->opaque);
}

/* --- connection table: open addressing, linear probing, load <= 1/2 --- */

uint64_t vsk_conn_key(uint32_t lport, uint32_t pport)
{
	return (uint64_t)lport << 32 | pport;
}

static uint32_t tbl_home(const struct vsk_dev *d, uint64_t key)
{
	uint64_t x = key ^ d->seed; /* seeded: a guest cannot aim for collisions */

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (uint32_t)x & d->mask;
}

struct vsk_conn *vsk_tbl_find(const struct vsk_dev *d, uint64_t key)
{
	for (uint32_t i = tbl_home(d, key);; i = (i + 1) & d->mask) {
		struct vsk_conn *c = d->slots[i];

		if (!c || vsk_conn_key(c->lport, c->pport) == key)
			return c;
	}
}

static void tbl_place(struct vsk_dev *d, struct vsk_conn *c)
{
	uint32_t i = tbl_home(d, vsk_conn_key(c->lport, c->pport));

	while (d->slots[i])
		i = (i + 1) & d->mask;
	d->slots[i] = c;
}

static int tbl_insert(struct vsk_dev *d, struct vsk_conn *c)
{
	if ((uint64_t)(d->nconns + 1) * 2 > (uint64_t)d->mask + 1) {
		uint32_t old_n = d->mask + 1;
		struct vsk_conn **old = d->slots;
		struct vsk_conn **slots = calloc((size_t)old_n * 2, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		d->slots = slots;
		d->mask = old_n * 2 - 1;
		for (uint32_t i = 0; i < old_n; i++)
			if (old[i])
				tbl_place(d, old[i]);
		free(old);
	}
	tbl_place(d, c);
	d->nconns++;
	return 0;
}

/* Backward-shift deletion: no tombstones, probe chains stay short. */
static void tbl_remove(struct vsk_dev *d, struct vsk_conn *c)
{
	uint32_t i = tbl_home(d, vsk_conn_key(c->lport, c->pport));

	while (d->slots[i] != c) {
		if (!d->slots[i])
			return;
		i = (i + 1) & d->mask;
	}
	d->slots[i] = NULL;
	for (uint32_t j = (i + 1) & d->mask; d->slots[j]; j = (j + 1) & d->mask) {
		struct vsk_conn *e = d->slots[j];
		uint32_t h = tbl_home(d, vsk_conn_key(e->lport, e->pport));

		if (((j - h) & d->mask) >= ((j - i) & d->mask)) {
			d->slots[i] = e;
			d->slots[j] = NULL;
			i = j;
		}
	}
	d->nconns--;
}

/* --- connection life --- */

int vsk_conn_new(struct vsk_dev *d, uint32_t lport, uint32_t pport, struct vsk_conn **out)
{
	struct vsk_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->dev = d;
	c->lport = lport;
	c->pport = pport;
	list_init(&c->ctl_link);
	list_init(&c->data_link);
	if (tbl_insert(d, c) < 0) {
		free(c);
		return -ENOMEM;
	}
	list_add_tail(&c->all_link, &d->conns);
	if (d->journal && vjr_add(d->journal, lport, pport) < 0)
		vsk_log(d, LOG_LVL_WARN, "vsock cid %llu: connection journal full",
			(unsigned long long)d->cid);
	*out = c;
	return 0;
}

void vsk_conn_stage_free(struct vsk_conn *c)
{
	c->dev->st.staged -= c->stage_cap;
	vsk_budget_add(c->dev, -(int64_t)c->stage_cap);
	free(c->stage);
	c->stage = NULL;
	c->stage_off = c->stage_len = c->stage_cap = 0;
}

void vsk_conn_free(struct vsk_conn *c)
{
	struct vsk_dev *d = c->dev;

	tbl_remove(d, c);
	if (d->journal)
		vjr_del(d->journal, c->lport, c->pport);
	list_del(&c->all_link);
	list_del(&c->ctl_link);
	list_del(&c->data_link);
	vsk_conn_txq_clear(c);
	vsk_conn_stage_free(c);
	free(c);
}

static void report_closed(struct vsk_conn *c, int err)
{
	struct vsk_dev *d = c->dev;

	if (err == 0)
		d->st.conns_closed++;
	else
		d->st.conns_failed++;
	vsk_log(d, LOG_LVL_DEBUG, "vsock cid %llu: connection %u <-> %u closed (%d)",
		(unsigned long long)d->cid, c->lport, c->pport, err);
	d->ops->closed(d->opaque, c, err);
	c->data = NULL;
}

void vsk_conn_kill(struct vsk_conn *c, int err, enum vsk_kill how)
{
	if (c->state == VSK_ZOMBIE) {
		if (how == VSK_KILL_SILENT)
			vsk_conn_free(c);
		return;
	}
	/* a REQUEST the guest never saw needs no RST */
	if (c->state == VSK_CONNECTING && (c->ctl & CTL_REQUEST))
		how = VSK_KILL_SILENT;
	vsk_conn_txq_clear(c);
	vsk_conn_stage_free(c);
	c->state = VSK_ZOMBIE;
	c->timer = TIMER_OFF;
	c->ctl = 0;
	report_closed(c, err);
	switch (how) {
	case VSK_KILL_SILENT:
		vsk_conn_free(c);
		return;
	case VSK_KILL_RST:
		c->ctl = CTL_RST;
		break;
	case VSK_KILL_SHUTDOWN:
		c->ctl = CTL_SHUTDOWN;
		c->shut_out = VSK_SHUTDOWN_RCV | VSK_SHUTDOWN_SEND;
		c->closing = true;
		c->timer = TIMER_ARMED;
		break;
	}
	vsk_conn_sched(c);
}

bool vsk_conn_check_finished(struct vsk_conn *c)
{
	struct vsk_dev *d = c->dev;

	if (c->state != VSK_ESTABLISHED || !c->guest_shut_send || c->txq.bytes > 0)
		return false;
	if (!c->host_shut) {
		c->host_shut = true;
		if (d->ops->host_shutdown_write)
			d->ops->host_shutdown_write(d->opaque, c);
	}
	if (!c->host_eof && !c->guest_shut_rcv)
		return false;
	vsk_conn_kill(c, 0, VSK_KILL_RST);
	return true;
}

static void maybe_ask_credit(struct vsk_conn *c)
{
	if (c->state != VSK_ESTABLISHED || c->guest_shut_rcv || c->credit_asked ||
	    vsk_conn_credit(c) > 0)
		return;
	if (c->stage_len == 0 && !(c->readable && !c->host_eof))
		return;
	c->ctl |= CTL_CREDIT_REQUEST;
	c->credit_asked = true;
}

static void update_want(struct vsk_conn *c)
{
	struct vsk_dev *d = c->dev;
	bool r, w;

	if (c->state != VSK_ESTABLISHED)
		return;
	w = c->txq.bytes > 0;
	r = !c->host_eof && !c->guest_shut_rcv && !c->readable && vsk_conn_credit(c) > 0;
	if (r == c->want_r && w == c->want_w)
		return;
	c->want_r = r;
	c->want_w = w;
	d->ops->host_want(d->opaque, c, r, w);
}

static bool linked(const struct list_head *n)
{
	return n->next != n;
}

void vsk_conn_sched(struct vsk_conn *c)
{
	struct vsk_dev *d = c->dev;
	bool ready;

	if (c->state != VSK_ZOMBIE) {
		maybe_ask_credit(c);
		update_want(c);
	}
	if (c->ctl && !linked(&c->ctl_link)) {
		list_add_tail(&c->ctl_link, &d->ctl_q);
		d->notify = true;
	} else if (!c->ctl) {
		list_del(&c->ctl_link);
	}
	ready = vsk_conn_data_ready(c);
	if (ready && !linked(&c->data_link)) {
		list_add_tail(&c->data_link, &d->data_q);
		d->notify = true;
	} else if (!ready) {
		list_del(&c->data_link);
	}
}

void vsk_conn_account_written(struct vsk_conn *c, size_t n)
{
	c->fwd_cnt += (uint32_t)n;
	c->to_host_bytes += n;
	c->dev->st.to_host_bytes += n;
}

void vsk_conn_credit_check(struct vsk_conn *c, bool drained)
{
	uint32_t unadvertised = c->fwd_cnt - c->last_fwd_cnt;

	if (unadvertised == 0 || c->guest_shut_send)
		return;
	if (drained || unadvertised >= c->dev->lim.buf_alloc / 2)
		c->ctl |= CTL_CREDIT_UPDATE;
}

/* --- device --- */

static void limits_init(struct vsk_limits *l, const struct vsk_limits *in)
{
	*l = in ? *in : (struct vsk_limits){ 0 };
	if (!l->max_conns)
		l->max_conns = DEF_MAX_CONNS;
	if (!l->buf_alloc)
		l->buf_alloc = DEF_BUF_ALLOC;
	if (!l->connect_timeout_ms)
		l->connect_timeout_ms = DEF_CONNECT_TIMEOUT_MS;
	if (!l->close_timeout_ms)
		l->close_timeout_ms = DEF_CLOSE_TIMEOUT_MS;
	if (!l->stage_budget)
		l->stage_budget = DEF_STAGE_BUDGET;
	if (!l->buffer_cap)
		l->buffer_cap = DEF_BUFFER_CAP;
}

int vsk_dev_new(struct vsk_dev **out, uint64_t guest_cid, const struct vsk_ops *ops, void *opaque,
		const struct vsk_limits *lim)
{
	struct vsk_dev *d;

	if (guest_cid < 3 || guest_cid >= UINT32_MAX || !ops || !ops->host_read ||
	    !ops->host_write || !ops->host_want || !ops->closed)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->slots = calloc(TABLE_MIN, sizeof(*d->slots));
	if (!d->slots) {
		free(d);
		return -ENOMEM;
	}
	d->mask = TABLE_MIN - 1;
	d->cid = guest_cid;
	d->ops = ops;
	d->opaque = opaque;
	limits_init(&d->lim, lim);
	d->next_port = PORT_LO;
	d->next_priv = PRIV_PORT_LO;
	list_init(&d->conns);
	list_init(&d->ctl_q);
	list_init(&d->data_q);
	if (getrandom(&d->seed, sizeof(d->seed), GRND_NONBLOCK) != sizeof(d->seed))
		d->seed = (uint64_t)(uintptr_t)d * 0x9e3779b97f4a7c15ULL ^ guest_cid;
	*out = d;
	return 0;
}

void vsk_dev_reset(struct vsk_dev *d)
{
	struct list_head *pos, *tmp;

	vsk_enter(d);
	list_for_each_safe (pos, tmp, &d->conns) {
		struct vsk_conn *c = list_entry(pos, struct vsk_conn, all_link);

		if (c->state != VSK_ZOMBIE) {
			c->state = VSK_ZOMBIE;
			report_closed(c, -ECONNRESET);
		}
		vsk_conn_free(c);
	}
	d->ring_head = d->ring_len = 0;
	d->notify = false;
	d->warned = 0;
	vsk_leave(d);
}

void vsk_dev_set_journal(struct vsk_dev *d, struct vsk_journal *j)
{
	struct list_head *pos, *tmp;

	d->journal = j;
	if (!j)
		return;
	list_for_each_safe (pos, tmp, &d->conns) {
		struct vsk_conn *c = list_entry(pos, struct vsk_conn, all_link);

		(void)vjr_add(j, c->lport, c->pport);
	}
}

struct vsk_dev *vsk_dev_free(struct vsk_dev *d)
{
	if (!d)
		return NULL;
	vsk_dev_reset(d);
	free(d->slots);
	free(d);
	return NULL;
}

void vsk_dev_get_stats(const struct vsk_dev *d, struct vsk_stats *st)
{
	*st = d->st;
	st->conns = d->nconns;
	st->buffered = d->txq_mem;
}

uint32_t vsk_dev_max_conns(const struct vsk_dev *d)
{
	return d->lim.max_conns;
}

/* --- host side --- */

/* A free port in [lo, hi) for a connection to guest_port, from *next on. */
static int pick_port(struct vsk_dev *d, uint32_t guest_port, uint32_t lo, uint32_t hi,
		     uint32_t *next, uint32_t *out)
{
	/* at most nconns ports can be taken: nconns + 1 tries find one */
	for (uint32_t i = 0; i <= d->nconns && i < hi - lo; i++) {
		uint32_t p = *next;

		*next = p + 1 >= hi ? lo : p + 1;
		if (!vsk_tbl_find(d, vsk_conn_key(p, guest_port))) {
			*out = p;
			return 0;
		}
	}
	return -EADDRINUSE;
}

int vsk_dev_host_connect(struct vsk_dev *d, uint32_t guest_port, uint32_t local_port, void *data,
			 struct vsk_conn **out)
{
	struct vsk_conn *c;
	int r;

	if (d->nconns >= d->lim.max_conns)
		return -EMFILE;
	if (local_port == VSK_PORT_ANY || local_port == VSK_PORT_PRIVILEGED) {
		bool priv = local_port == VSK_PORT_PRIVILEGED;

		r = priv ? pick_port(d, guest_port, PRIV_PORT_LO, PRIV_PORT_HI, &d->next_priv,
				     &local_port)
			 : pick_port(d, guest_port, PORT_LO, PORT_HI, &d->next_port, &local_port);
		if (r < 0)
			return r;
	} else if (vsk_tbl_find(d, vsk_conn_key(local_port, guest_port))) {
		return -EADDRINUSE;
	}
	r = vsk_conn_new(d, local_port, guest_port, &c);
	if (r < 0)
		return r;
	c->data = data;
	c->state = VSK_CONNECTING;
	c->ctl = CTL_REQUEST;
	c->timer = TIMER_ARMED;
	*out = c;
	vsk_enter(d);
	vsk_conn_sched(c);
	vsk_leave(d);
	return 0;
}

void vsk_conn_host_readable(struct vsk_conn *c)
{
	struct vsk_dev *d = c->dev;

	if (c->state != VSK_ESTABLISHED)
		return;
	vsk_enter(d);
	c->readable = true;
	vsk_conn_sched(c);
	vsk_leave(d);
}

static void flush_txq(struct vsk_conn *c)
{
	struct vsk_dev *d = c->dev;
	bool had = c->txq.bytes > 0;

	while (c->txq.bytes > 0) {
		struct iovec v[16];
		int n = vsk_bufq_peek(&c->txq, v, 16);
		size_t max = iov_size(v, n);
		ssize_t r = d->ops->host_write(d->opaque, c, v, n);

		if (r == 0 || vsk_is_transient(r))
			break;
		if (r < 0) {
			vsk_conn_kill(c, (int)r, VSK_KILL_RST);
			return;
		}
		if ((size_t)r > max)
			r = (ssize_t)max;
		uint32_t old = c->txq.mem;
		vsk_bufq_consume(&c->txq, (size_t)r);
		vsk_conn_txq_account(c, old);
		vsk_conn_account_written(c, (size_t)r);
	}
	vsk_conn_credit_check(c, had && c->txq.bytes == 0);
	if (vsk_conn_check_finished(c))
		return;
	vsk_conn_sched(c);
}

void vsk_conn_host_writable(struct vsk_conn *c)
{
	struct vsk_dev *d = c->dev;

	if (c->state != VSK_ESTABLISHED)
		return;
	vsk_enter(d);
	flush_txq(c);
	vsk_leave(d);
}

void vsk_conn_host_closed(struct vsk_conn *c)
{
	struct vsk_dev *d = c->dev;

	if (c->state == VSK_ZOMBIE)
		return;
	vsk_enter(d);
	vsk_conn_kill(c, -ECONNRESET, VSK_KILL_RST);
	vsk_leave(d);
}

void vsk_conn_close(struct vsk_conn *c)
{
	struct vsk_dev *d = c->dev;

	if (c->state == VSK_ZOMBIE)
		return;
	vsk_enter(d);
	/* Linux close(): if the peer already shut both ways, RST at once */
	if (c->state == VSK_CONNECTING || (c->guest_shut_send && c->guest_shut_rcv))
		vsk_conn_kill(c, 0, VSK_KILL_RST);
	else
		vsk_conn_kill(c, 0, VSK_KILL_SHUTDOWN);
	vsk_leave(d);
}

static void expire(struct vsk_conn *c)
{
	c->timer = TIMER_OFF;
	if (c->state == VSK_ZOMBIE) { /* the guest never sent its RST */
		c->closing = false;
		c->ctl = CTL_RST;
		vsk_conn_sched(c);
		return;
	}
	vsk_conn_kill(c, -ETIMEDOUT, VSK_KILL_RST);
}

void vsk_dev_tick(struct vsk_dev *d, uint64_t now_ms)
{
	struct list_head *pos, *tmp;

	vsk_enter(d);
	d->now = now_ms;
	list_for_each_safe (pos, tmp, &d->conns) {
		struct vsk_conn *c = list_entry(pos, struct vsk_conn, all_link);

		if (c->timer == TIMER_ARMED) {
			c->deadline =
				now_ms + (c->state == VSK_CONNECTING ? d->lim.connect_timeout_ms
								     : d->lim.close_timeout_ms);
			c->timer = TIMER_RUNNING;
		} else if (c->timer == TIMER_RUNNING && now_ms >= c->deadline) {
			expire(c);
		}
	}
	vsk_leave(d);
}

void *vsk_conn_get_data(const struct vsk_conn *c)
{
	return c->data;
}

void vsk_conn_set_data(struct vsk_conn *c, void *data)
{
	c->data = data;
}

uint32_t vsk_conn_local_port(const struct vsk_conn *c)
{
	return c->lport;
}

uint32_t vsk_conn_peer_port(const struct vsk_conn *c)
{
	return c->pport;
}

void vsk_conn_get_stats(const struct vsk_conn *c, struct vsk_conn_stats *st)
{
	st->to_host_bytes = c->to_host_bytes;
	st->to_guest_bytes = c->to_guest_bytes;
	st->buffered = c->txq.bytes;
	st->staged = c->stage_len;
}
