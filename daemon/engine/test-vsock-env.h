/* SPDX-License-Identifier: MIT */
/*
 * test-vsock-env.h - the harness of the vsock engine tests: an in-memory
 * guest (packets built with vsk_hdr_encode, rx buffers of several layouts,
 * every packet it receives recorded) and fake host streams (memory with
 * scripted room, EOF and errors, or a real socketpair end), polled
 * level-triggered by pump().
 */
#ifndef VMSVCD_TEST_VSOCK_ENV_H
#define VMSVCD_TEST_VSOCK_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsock.h"

#define GCID	 7
#define KB	 1024u
#define MAXHOSTS 16

enum layout { L_3776, L_SPLIT, L_64K, L_ODD, L_HDRONLY };

struct fhost {
	struct vsk_conn *c;
	int fd; /* socketpair end, or -1 for the memory stream */
	const unsigned char *in;
	size_t in_len, in_off;
	bool in_eof;
	int read_err, write_err;
	size_t write_room; /* SIZE_MAX: unlimited */
	unsigned char *out;
	size_t out_len, out_cap;
	bool shut_wr, want_r, want_w, closed, connected;
	bool close_on_connect; /* connected() calls vsk_conn_host_closed() */
	int closed_err;
	unsigned reads;
};

struct pkt {
	struct vsk_hdr h;
	unsigned char *data;
};

struct env {
	struct vsk_dev *d;
	struct fhost *hosts[MAXHOSTS];
	int nhosts;
	int accept_err;
	unsigned rx_ready, connects;
	uint32_t last_port, last_src_port;
	struct pkt *pk;
	size_t npk, cappk;
};

extern unsigned char pattern[600 * 1024]; /* test data, filled by env_init() */
extern unsigned warn_lines;		  /* engine log lines at warning level or worse */

/* Fills pattern; call once from main(). */
void env_init(void);

/* A fake host stream (unlimited write room), owned by e. */
struct fhost *fhost_new(struct env *e);
/* A device of guest CID GCID with the fake callbacks. */
struct env *env_new(const struct vsk_limits *lim);
/* Frees the device (asserting closed() for every stream) and e. */
int env_teardown(void **state);
/* One packet from the guest; returns vsk_dev_guest_tx()'s result. */
int gsend(struct env *e, uint16_t op, uint32_t gport, uint32_t hport, uint32_t flags,
	  uint32_t buf_alloc, uint32_t fwd_cnt, const void *data, size_t len);
int gsend_hdr(struct env *e, const struct vsk_hdr *h); /* header only, as given */
/* One rx buffer of layout l; checks and records the packet; used bytes. */
size_t fill(struct env *e, enum layout l);
/* fill() until nothing comes; the number of packets. */
size_t drain(struct env *e, enum layout l);
/* One level-triggered poll round over the streams; true if one fired. */
bool pump(struct env *e);
/* pump() and drain() until quiet. */
void run(struct env *e, enum layout l);
/* Recorded packets of op from index from on; the last one; RW payload
 * from host port hp to guest port gp, concatenated. */
size_t count_op(const struct env *e, size_t from, uint16_t op);
const struct pkt *last(const struct env *e);
size_t rw_data(const struct env *e, uint32_t hp, uint32_t gp, unsigned char *out, size_t max);
/* Guest port gp connects to host port hp (asserts the RESPONSE). */
struct fhost *open_conn(struct env *e, uint32_t gp, uint32_t hp, uint32_t buf_alloc);

/* setup in a test: struct env *e = ENV(state, lim) (the teardown frees it) */
#define ENV(state, lim) (*(state) = env_new(lim))
/* a header-only guest packet with default credit */
#define G(e, op, gp, hp) gsend(e, VSK_OP_##op, gp, hp, 0, 256 * KB, 0, NULL, 0)
#define T(fn)		 cmocka_unit_test_teardown(fn, env_teardown)

#endif
