/* SPDX-License-Identifier: MIT */
/*
 * vsock-int.h - the engine's internal state, shared by vsock.c (device,
 * connection life, host-side events, timers), vsock-tx.c (packets from the
 * guest) and vsock-rx.c (packets to the guest). Not for the glue: use
 * vsock.h.
 *
 * Invariants:
 * - A connection is in the hash table (key: local port, peer port) from
 *   creation until freed; d->nconns counts them, zombies included.
 * - ZOMBIE: closed() has been called and data is NULL; the connection only
 *   waits to send its RST (ctl == CTL_RST) or, after vsk_conn_close(), for
 *   the guest's RST (closing). It never calls host_* again.
 * - c->txq.bytes == rx_cnt - fwd_cnt (guest bytes not yet written) and is
 *   <= lim.buf_alloc; a guest packet that would exceed it resets c.
 * - d->txq_mem is the sum of c->txq.mem (chunk capacity: the memory the
 *   guest's buffered data costs) over d's connections and stays <=
 *   lim.buffer_cap; staging and txq memory are charged to lim.shared too,
 *   which stays <= its cap. A packet that would break either resets c.
 * - c is on d->ctl_q iff c->ctl != 0, on d->data_q iff conn_data_ready(c);
 *   vsk_conn_sched() restores both after every change.
 * - stage_len > 0 implies host_eof == 0: EOF is only read with an empty
 *   stage, so SHUTDOWN(SEND) always follows the data.
 */
#ifndef VMSVCD_VSOCK_INT_H
#define VMSVCD_VSOCK_INT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "list.h"
#include "vsock-journal.h"
#include "vsock.h"

#define VSK_RST_RING 64 /* RSTs for packets without a connection */

enum vsk_state {
	VSK_CONNECTING,	 /* host-initiated, REQUEST sent, waiting for RESPONSE */
	VSK_ESTABLISHED, /* data may flow (also half-closed) */
	VSK_ZOMBIE,	 /* closed() called; waiting to send or get an RST */
};

/* Pending control packets of a connection, first sent first. */
enum {
	CTL_RST = 1u << 0,
	CTL_REQUEST = 1u << 1,
	CTL_RESPONSE = 1u << 2,
	CTL_SHUTDOWN = 1u << 3,
	CTL_CREDIT_UPDATE = 1u << 4,
	CTL_CREDIT_REQUEST = 1u << 5,
};

/* Timer of a connection (connect, linger or close timeout). */
enum { TIMER_OFF, TIMER_ARMED, TIMER_RUNNING };

struct vsk_conn {
	struct vsk_dev *dev;
	void *data;
	struct list_head all_link, ctl_link, data_link;
	uint32_t lport, pport;
	uint8_t state, ctl, shut_out, timer;
	bool guest_shut_send : 1; /* guest sent SHUTDOWN(SEND) */
	bool guest_shut_rcv : 1;  /* guest sent SHUTDOWN(RCV) */
	bool host_eof : 1;	  /* host_read returned 0 */
	bool host_shut : 1;	  /* host_shutdown_write called */
	bool readable : 1;	  /* host stream readable, no EAGAIN yet */
	bool want_r : 1, want_w : 1;
	bool credit_asked : 1; /* CREDIT_REQUEST sent, no new credit yet */
	bool closing : 1;      /* zombie of vsk_conn_close, waiting for RST */
	/* guest -> host */
	uint32_t rx_cnt, fwd_cnt, last_fwd_cnt;
	struct vsk_bufq txq;
	/* host -> guest */
	uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	uint32_t stage_off, stage_len, stage_cap;
	unsigned char *stage;
	uint64_t deadline;
	uint64_t to_host_bytes, to_guest_bytes;
};

struct vsk_rst {
	uint64_t cid; /* the RST's source: the host, or the CID the guest asked for */
	uint32_t lport, pport;
	uint16_t type;
};

struct vsk_dev {
	uint64_t cid;
	const struct vsk_ops *ops;
	void *opaque;
	struct vsk_limits lim;
	/* open addressing, linear probing, keyed by lport << 32 | pport */
	struct vsk_conn **slots;
	uint32_t mask;
	uint64_t seed;
	uint32_t nconns, next_port, next_priv;
	struct list_head conns, ctl_q, data_q;
	struct vsk_rst ring[VSK_RST_RING];
	unsigned ring_head, ring_len;
	uint64_t now;
	int depth;	  /* nesting of engine calls, for rx_ready */
	bool notify;	  /* packets were queued during this call */
	uint32_t txq_mem; /* sum of the connections' txq.mem */
	uint32_t warned;  /* VSK_WARN_* bits logged since the last reset */
	struct vsk_stats st;
	struct vsk_journal *journal; /* vsk_dev_set_journal(), or NULL */
};

/* What the guest did wrong, logged at warning level once per driver
 * (until vsk_dev_reset), then at debug level: never once per packet. */
enum {
	VSK_WARN_MALFORMED = 1u << 0,
	VSK_WARN_BAD_ADDR = 1u << 1,
	VSK_WARN_BAD_TYPE = 1u << 2,
	VSK_WARN_CREDIT = 1u << 3,
	VSK_WARN_BUFFER = 1u << 4,
	VSK_WARN_CONN_LIMIT = 1u << 5,
};

/* Credit the guest gives us now: peer_buf_alloc - (tx_cnt - peer_fwd_cnt). */
static inline uint32_t vsk_conn_credit(const struct vsk_conn *c)
{
	int64_t v = (int64_t)c->peer_buf_alloc - (uint32_t)(c->tx_cnt - c->peer_fwd_cnt);

	return v > 0 ? (uint32_t)v : 0;
}

/* Whether c has host data to send now (credit, rx side open, data known). */
static inline bool vsk_conn_data_ready(const struct vsk_conn *c)
{
	return c->state == VSK_ESTABLISHED && !c->guest_shut_rcv && vsk_conn_credit(c) > 0 &&
	       (c->stage_len > 0 || (c->readable && !c->host_eof));
}

static inline bool vsk_is_transient(ssize_t r)
{
	return r == -EAGAIN || r == -EINTR;
}

void vsk_log(struct vsk_dev *d, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Logs at warning level the first time `what` (a VSK_WARN_* bit) happens
 * since the last reset, at debug level afterwards. */
void vsk_warn_once(struct vsk_dev *d, uint32_t what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Whether extra more bytes of memory may be charged to d's guest data
 * buffers (lim.buffer_cap and the shared budget), or to the shared budget
 * alone (staging, which has its own per-device bound). */
bool vsk_buffer_room(const struct vsk_dev *d, uint64_t extra);
bool vsk_shared_room(const struct vsk_dev *d, uint64_t extra);

/* Charges delta bytes (or gives them back, if negative) to lim.shared. */
void vsk_budget_add(struct vsk_dev *d, int64_t delta);

/* c->txq.mem changed from old_mem: moves the difference to d->txq_mem and
 * the shared budget. */
void vsk_conn_txq_account(struct vsk_conn *c, uint32_t old_mem);

/* Empties c->txq and gives its memory back to the budgets. */
void vsk_conn_txq_clear(struct vsk_conn *c);

/* Every public entry point brackets its work with these so that rx_ready
 * fires once, last, when the engine is consistent again. */
void vsk_enter(struct vsk_dev *d);
void vsk_leave(struct vsk_dev *d);

/* The table key of a connection, and lookup by it (NULL if none). */
uint64_t vsk_conn_key(uint32_t lport, uint32_t pport);
struct vsk_conn *vsk_tbl_find(const struct vsk_dev *d, uint64_t key);

/* A new connection in the table (state CONNECTING, nothing queued). */
int vsk_conn_new(struct vsk_dev *d, uint32_t lport, uint32_t pport, struct vsk_conn **out);

/* n guest bytes reached the host stream. */
void vsk_conn_account_written(struct vsk_conn *c, size_t n);

/* Queues CREDIT_UPDATE if the guest may be short of credit; drained: txq
 * just became empty. */
void vsk_conn_credit_check(struct vsk_conn *c, bool drained);

/* Requeues c and updates host_want after any change of its state. */
void vsk_conn_sched(struct vsk_conn *c);

/* Ends c: closed(err) now; then RST to the guest (how == VSK_KILL_RST),
 * SHUTDOWN both and wait for the guest's RST (VSK_KILL_SHUTDOWN), or
 * freed at once (VSK_KILL_SILENT; c is invalid afterwards). */
enum vsk_kill { VSK_KILL_RST, VSK_KILL_SHUTDOWN, VSK_KILL_SILENT };
void vsk_conn_kill(struct vsk_conn *c, int err, enum vsk_kill how);

/* Removes c from everything and frees it (no callback). */
void vsk_conn_free(struct vsk_conn *c);

/* Both directions done? Then RST and closed(0); returns true if c died. */
bool vsk_conn_check_finished(struct vsk_conn *c);

/* Drops the host->guest staging buffer. */
void vsk_conn_stage_free(struct vsk_conn *c);

#endif /* VMSVCD_VSOCK_INT_H */
