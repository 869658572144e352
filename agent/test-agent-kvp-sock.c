/* SPDX-License-Identifier: MIT */
/*
 * test-agent-kvp-sock.c - the agent's socket for `vmsvc kvp` in the guest
 * (agent-kvp-sock.c): clients on socket pairs with the credentials the
 * test gives them (a hook instead of SO_PEERCRED), the host's side through
 * the link over another socket pair. GET, LIST (sorted, prefixes, larger
 * than a queue), WATCH (both sides, within 500 ms, a slow watcher
 * dropped), SET_REQ and DEL_REQ; who may read and write; the limits;
 * several requests on a connection and many connections; bad frames; the
 * socket file itself with the kernel's credentials; and the real `vmsvc
 * kvp` from the build against it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent-kvp-run.h"
#include "agent-kvp-sock.h"
#include "agent-kvp.h"
#include "ic.h"
#include "util.h"

static char dir[] = "/tmp/test-agent-kvp-sock.XXXXXX";
static char group_file[160];

static int setup(void **state)
{
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(group_file, sizeof(group_file), "%s/group", dir);
	fp = fopen(group_file, "w");
	assert_non_null(fp);
	fputs("root:x:0:\nkvp:x:1234:\nreaders:x:2345:alice\n", fp);
	fclose(fp);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the server, its clients, and the host ---- */

static struct akvs_cred creds[4096]; /* by the server's fd */

static int fake_cred(void *ctx, int fd, struct akvs_cred *c)
{
	if (fd < 0 || fd >= (int)ARRAY_SIZE(creds))
		return -EBADF;
	*c = creds[fd];
	return 0;
}

struct srv {
	struct akvp *k;
	struct akvs *s;
	int host;	  /* the test's end of the link */
	struct aic *link; /* the agent's end */
};

static struct akvs_policy policy(const char *rg, const char *wg)
{
	struct akvs_policy p = { .enabled = true,
				 .config = "agent.conf",
				 .group_file = group_file };

	snprintf(p.read_group, sizeof(p.read_group), "%s", rg);
	snprintf(p.write_group, sizeof(p.write_group), "%s", wg);
	return p;
}

static void srv_round(struct srv *v, int ms);

/* The link's agent side takes what the host wrote. */
static void link_round(struct srv *v)
{
	struct pollfd p = { .fd = aic_fd(v->link), .events = aic_events(v->link) };

	poll(&p, 1, 0);
	assert_int_equal(aic_io(v->link, p.revents, now_ms()), 0);
}

static void host_write(struct srv *v, struct sess_buf *b)
{
	assert_int_equal(b->err, 0);
	assert_int_equal(write(v->host, b->data, b->len), (ssize_t)b->len);
	sess_buf_free(b);
	for (int i = 0; i < 3; i++)
		link_round(v);
}

static struct srv *srv_new(void)
{
	struct srv *v = calloc(1, sizeof(*v));
	static const struct aic_hello hello = { .min = 1, .max = 1 };
	struct sess_buf b = { 0 };
	int sv[2];

	assert_non_null(v);
	v->k = akvp_new(NULL);
	v->s = akvs_new(v->k);
	assert_non_null(v->s);
	akvs_set_cred_fn(v->s, fake_cred, NULL);
	{
		struct akvs_policy p = policy("", "");

		akvs_set_policy(v->s, &p);
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	v->host = sv[0];
	fcntl(v->host, F_SETFL, O_NONBLOCK);
	v->link = aic_new(sv[1], &akvp_ops, v->k, &hello);
	ic_enc_hello(&b, &(struct ic_hello){ .min = 1, .max = 1 });
	ic_enc_state(&b, &(struct ic_state){ .enabled = true });
	host_write(v, &b);
	return v;
}

static void srv_free(struct srv *v)
{
	aic_free(v->link);
	close(v->host);
	akvs_free(v->s);
	akvp_free(v->k);
	free(v);
}

static void host_kvp(struct srv *v, uint16_t type, const char *key, const char *value)
{
	struct sess_buf b = { 0 };
	char drain[65536];

	ic_enc_kvp(&b, type,
		   &(struct ic_kvp){ .pool = IC_POOL_HOST,
				     .key = (const uint8_t *)key,
				     .key_len = (uint32_t)strlen(key),
				     .value = (const uint8_t *)value,
				     .value_len = value ? (uint32_t)strlen(value) : 0 });
	host_write(v, &b);
	while (read(v->host, drain, sizeof(drain)) > 0)
		; /* what the agent sends the host does not matter here */
}

static void srv_round(struct srv *v, int ms)
{
	struct pollfd p[AKVS_MAX_CLIENTS + 1];
	int t = ms;
	size_t n = akvs_fill(v->s, p, ARRAY_SIZE(p), &t, now_ms());

	if (t < 0 || t > ms)
		t = ms;
	if (poll(p, n, t) <= 0)
		for (size_t i = 0; i < n; i++)
			p[i].revents = 0;
	akvs_io(v->s, p, n, now_ms());
}

struct cl {
	int fd;
	uint8_t buf[2 * 1024 * 1024];
	size_t len;
	uint8_t frame[SESS_HDR_SIZE + IC_MAX_FRAME];
};

/* A client with uid, gid and supplementary groups. */
static struct cl *cl_new(struct srv *v, uid_t uid, gid_t gid, const gid_t *groups, size_t n)
{
	struct cl *c = calloc(1, sizeof(*c));
	int sv[2];

	assert_non_null(c);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_true(sv[1] < (int)ARRAY_SIZE(creds));
	creds[sv[1]] = (struct akvs_cred){ .uid = uid, .gid = gid, .pid = 1, .ngroups = n };
	if (n)
		memcpy(creds[sv[1]].groups, groups, n * sizeof(gid_t));
	assert_int_equal(akvs_add(v->s, sv[1]), 0);
	c->fd = sv[0];
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	return c;
}

static struct cl *root_cl(struct srv *v)
{
	return cl_new(v, 0, 0, NULL, 0);
}

static struct cl *user_cl(struct srv *v)
{
	return cl_new(v, 1000, 1000, NULL, 0);
}

static void cl_free(struct cl *c)
{
	close(c->fd);
	free(c);
}

static void cl_send(struct srv *v, struct cl *c, struct sess_buf *b)
{
	size_t off = 0;

	assert_int_equal(b->err, 0);
	while (off < b->len) {
		ssize_t n = write(c->fd, b->data + off, b->len - off);

		if (n < 0 && errno == EAGAIN) {
			srv_round(v, 10);
			continue;
		}
		assert_true(n > 0);
		off += (size_t)n;
	}
	sess_buf_free(b);
}

static void request(struct srv *v, struct cl *c, uint16_t type, uint32_t seq, uint32_t pool,
		    const char *key, const char *value)
{
	struct sess_buf b = { 0 };

	ic_enc_kvp(&b, type,
		   &(struct ic_kvp){ .seq = seq,
				     .pool = pool,
				     .key = (const uint8_t *)key,
				     .key_len = key ? (uint32_t)strlen(key) : 0,
				     .value = (const uint8_t *)value,
				     .value_len = value ? (uint32_t)strlen(value) : 0 });
	cl_send(v, c, &b);
}

/* The next frame for c within ms: 1 with *f, 0 none, -1 end of stream. */
static int cl_next(struct srv *v, struct cl *c, struct sess_frame *f, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	for (;;) {
		long n = ic_frame_parse(c->buf, c->len, f);
		ssize_t k;

		assert_true(n >= 0);
		if (n > 0) {
			memcpy(c->frame, c->buf, (size_t)n);
			memmove(c->buf, c->buf + n, c->len - (size_t)n);
			c->len -= (size_t)n;
			f->payload = c->frame + SESS_HDR_SIZE;
			return 1;
		}
		k = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (k == 0)
			return -1;
		if (k > 0) {
			c->len += (size_t)k;
			continue;
		}
		if (now_ms() >= end)
			return 0;
		srv_round(v, 5);
	}
}

static void expect_kvp(struct srv *v, struct cl *c, uint16_t type, uint32_t seq, uint32_t pool,
		       const char *key, const char *value)
{
	struct sess_frame f;
	struct ic_kvp k;

	if (cl_next(v, c, &f, 2000) != 1)
		fail_msg("no %s", ic_type_name(type));
	if (f.type != type) {
		struct ic_error e = { .message = "" };

		ic_dec_error(&f, &e);
		fail_msg("%s (%s) instead of %s", ic_type_name(f.type), e.message,
			 ic_type_name(type));
	}
	assert_int_equal(ic_dec_kvp(&f, &k), 0);
	assert_int_equal(k.seq, seq);
	if (type == IC_KVP_DONE)
		return;
	assert_int_equal(k.pool, pool);
	assert_int_equal(k.key_len, strlen(key));
	assert_memory_equal(k.key, key, k.key_len);
	if (value) {
		assert_int_equal(k.value_len, strlen(value));
		assert_memory_equal(k.value, value, k.value_len);
	}
}

static void expect_error(struct srv *v, struct cl *c, uint32_t seq, uint32_t type, uint32_t err,
			 const char *needle)
{
	struct sess_frame f;
	struct ic_error e;

	if (cl_next(v, c, &f, 2000) != 1 || f.type != IC_ERROR)
		fail_msg("no ERROR");
	assert_int_equal(ic_dec_error(&f, &e), 0);
	assert_int_equal(e.seq, seq);
	assert_int_equal(e.type, type);
	assert_int_equal(e.err, err);
	if (needle && !strstr(e.message, needle))
		fail_msg("'%s' lacks '%s'", e.message, needle);
}

static void expect_nothing(struct srv *v, struct cl *c, int ms)
{
	struct sess_frame f;

	assert_int_equal(cl_next(v, c, &f, ms), 0);
}

static void gset(struct srv *v, const char *key, const char *value)
{
	char why[256];

	assert_true(akvp_guest_set(v->k, key, strlen(key), value, strlen(value), why,
				   sizeof(why)) >= 0);
}

static void intrinsic(struct srv *v, const char *key, const char *value)
{
	struct kvpool p = KVPOOL_INIT;

	kvpool_set(&p, key, strlen(key), value, strlen(value));
	akvp_intrinsic_replace(v->k, &p);
}

/* ---- requests ---- */

static void get_answers_a_value_or_enoent(void **state)
{
	struct srv *v = srv_new();
	struct cl *c = user_cl(v);

	gset(v, "a", "1");
	host_kvp(v, IC_KVP_SET, "h", "host's");
	intrinsic(v, "HostName", "g1");
	request(v, c, IC_KVP_GET, 7, IC_POOL_GUEST, "a", NULL);
	expect_kvp(v, c, IC_KVP_VALUE, 7, IC_POOL_GUEST, "a", "1");
	request(v, c, IC_KVP_GET, 8, IC_POOL_HOST, "h", NULL);
	expect_kvp(v, c, IC_KVP_VALUE, 8, IC_POOL_HOST, "h", "host's");
	request(v, c, IC_KVP_GET, 9, IC_POOL_INTRINSIC, "HostName", NULL);
	expect_kvp(v, c, IC_KVP_VALUE, 9, IC_POOL_INTRINSIC, "HostName", "g1");
	request(v, c, IC_KVP_GET, 10, IC_POOL_HOST, "a", NULL);
	expect_error(v, c, 10, IC_KVP_GET, ENOENT, "host pool");
	cl_free(c);
	srv_free(v);
}

static void list_is_sorted_by_pool_then_key(void **state)
{
	struct srv *v = srv_new();
	struct cl *c = user_cl(v);

	gset(v, "b", "2");
	gset(v, "a", "1");
	gset(v, "cfg/x", "3");
	host_kvp(v, IC_KVP_SET, "h2", "y");
	host_kvp(v, IC_KVP_SET, "h1", "x");
	intrinsic(v, "OSId", "debian");
	request(v, c, IC_KVP_LIST, 1, IC_POOL_ALL, NULL, NULL);
	expect_kvp(v, c, IC_KVP_VALUE, 1, IC_POOL_HOST, "h1", "x");
	expect_kvp(v, c, IC_KVP_VALUE, 1, IC_POOL_HOST, "h2", "y");
	expect_kvp(v, c, IC_KVP_VALUE, 1, IC_POOL_GUEST, "a", "1");
	expect_kvp(v, c, IC_KVP_VALUE, 1, IC_POOL_GUEST, "b", "2");
	expect_kvp(v, c, IC_KVP_VALUE, 1, IC_POOL_GUEST, "cfg/x", "3");
	expect_kvp(v, c, IC_KVP_VALUE, 1, IC_POOL_INTRINSIC, "OSId", "debian");
	expect_kvp(v, c, IC_KVP_DONE, 1, 0, NULL, NULL);
	request(v, c, IC_KVP_LIST, 2, IC_POOL_GUEST, "cfg/", NULL);
	expect_kvp(v, c, IC_KVP_VALUE, 2, IC_POOL_GUEST, "cfg/x", "3");
	expect_kvp(v, c, IC_KVP_DONE, 2, 0, NULL, NULL);
	request(v, c, IC_KVP_LIST, 3, IC_POOL_HOST, "zzz", NULL);
	expect_kvp(v, c, IC_KVP_DONE, 3, 0, NULL, NULL);
	cl_free(c);
	srv_free(v);
}

static void a_list_larger_than_a_queue_comes_whole(void **state)
{
	struct srv *v = srv_new();
	struct cl *c = user_cl(v);
	static char value[60001];
	char key[16];

	memset(value, 'v', 60000);
	for (int i = 0; i < 16; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		value[0] = (char)('A' + i);
		gset(v, key, value);
	}
	request(v, c, IC_KVP_LIST, 5, IC_POOL_ALL, NULL, NULL);
	for (int i = 0; i < 15; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		value[0] = (char)('A' + i);
		usleep(5000); /* a slow reader */
		expect_kvp(v, c, IC_KVP_VALUE, 5, IC_POOL_GUEST, key, value);
		if (i == 2) /* a key not listed yet shows the change */
			gset(v, "k15", "changed meanwhile");
	}
	expect_kvp(v, c, IC_KVP_VALUE, 5, IC_POOL_GUEST, "k15", "changed meanwhile");
	expect_kvp(v, c, IC_KVP_DONE, 5, 0, NULL, NULL);
	cl_free(c);
	srv_free(v);
}

static void requests_on_one_connection_are_answered_in_order(void **state)
{
	struct srv *v = srv_new();
	struct cl *c = root_cl(v);
	struct sess_buf b = { 0 };

	gset(v, "a", "1");
	ic_enc_kvp(&b, IC_KVP_GET,
		   &(struct ic_kvp){ .seq = 1,
				     .pool = IC_POOL_GUEST,
				     .key = (const uint8_t *)"a",
				     .key_len = 1 });
	ic_enc_kvp(&b, IC_KVP_LIST, &(struct ic_kvp){ .seq = 2, .pool = IC_POOL_GUEST });
	ic_enc_kvp(&b, IC_KVP_SET_REQ,
		   &(struct ic_kvp){ .seq = 3,
				     .pool = IC_POOL_GUEST,
				     .key = (const uint8_t *)"a",
				     .key_len = 1,
				     .value = (const uint8_t *)"2",
				     .value_len = 1 });
	ic_enc_kvp(&b, IC_KVP_GET,
		   &(struct ic_kvp){ .seq = 4,
				     .pool = IC_POOL_GUEST,
				     .key = (const uint8_t *)"a",
				     .key_len = 1 });
	ic_enc_kvp(&b, IC_KVP_DEL_REQ,
		   &(struct ic_kvp){ .seq = 5,
				     .pool = IC_POOL_GUEST,
				     .key = (const uint8_t *)"a",
				     .key_len = 1 });
	ic_enc_kvp(&b, IC_KVP_DEL_REQ,
		   &(struct ic_kvp){ .seq = 6,
				     .pool = IC_POOL_GUEST,
				     .key = (const uint8_t *)"a",
				     .key_len = 1 });
	cl_send(v, c, &b);
	expect_kvp(v, c, IC_KVP_VALUE, 1, IC_POOL_GUEST, "a", "1");
	expect_kvp(v, c, IC_KVP_VALUE, 2, IC_POOL_GUEST, "a", "1");
	expect_kvp(v, c, IC_KVP_DONE, 2, 0, NULL, NULL);
	expect_kvp(v, c, IC_KVP_DONE, 3, 0, NULL, NULL);
	expect_kvp(v, c, IC_KVP_VALUE, 4, IC_POOL_GUEST, "a", "2");
	expect_kvp(v, c, IC_KVP_DONE, 5, 0, NULL, NULL);
	expect_error(v, c, 6, IC_KVP_DEL_REQ, ENOENT, NULL);
	cl_free(c);
	srv_free(v);
}

/* ---- who may ---- */

static void writing_takes_root_or_the_write_group(void **state)
{
	struct srv *v = srv_new();
	static const gid_t kvp[] = { 100, 1234 };
	struct cl *user = user_cl(v), *root = root_cl(v), *member = cl_new(v, 1001, 1001, kvp, 2),
		  *primary = cl_new(v, 1002, 1234, NULL, 0);
	struct akvs_policy p;

	request(v, user, IC_KVP_SET_REQ, 1, IC_POOL_GUEST, "k", "v");
	expect_error(v, user, 1, IC_KVP_SET_REQ, EPERM,
		     "only root may write the guest pool (you are uid 1000; [KVP] WriteGroup= in "
		     "agent.conf names a group that may too)");
	request(v, root, IC_KVP_SET_REQ, 2, IC_POOL_GUEST, "k", "v");
	expect_kvp(v, root, IC_KVP_DONE, 2, 0, NULL, NULL);
	request(v, member, IC_KVP_DEL_REQ, 3, IC_POOL_GUEST, "k", NULL);
	expect_error(v, member, 3, IC_KVP_DEL_REQ, EPERM, "only root may write");
	p = policy("", "kvp");
	akvs_set_policy(v->s, &p);
	request(v, member, IC_KVP_SET_REQ, 4, IC_POOL_GUEST, "k", "w");
	expect_kvp(v, member, IC_KVP_DONE, 4, 0, NULL, NULL);
	request(v, primary, IC_KVP_DEL_REQ, 5, IC_POOL_GUEST, "k", NULL);
	expect_kvp(v, primary, IC_KVP_DONE, 5, 0, NULL, NULL);
	request(v, user, IC_KVP_SET_REQ, 6, IC_POOL_GUEST, "k", "v");
	expect_error(v, user, 6, IC_KVP_SET_REQ, EPERM,
		     "only root or group kvp may write the guest pool (you are uid 1000)");
	p = policy("", "nosuchgroup");
	akvs_set_policy(v->s, &p);
	request(v, member, IC_KVP_SET_REQ, 7, IC_POOL_GUEST, "k", "v");
	expect_error(v, member, 7, IC_KVP_SET_REQ, EPERM, "names no group");
	/* anyone may read */
	request(v, user, IC_KVP_LIST, 8, IC_POOL_ALL, NULL, NULL);
	expect_kvp(v, user, IC_KVP_DONE, 8, 0, NULL, NULL);
	cl_free(user);
	cl_free(root);
	cl_free(member);
	cl_free(primary);
	srv_free(v);
}

static void only_the_guest_pool_may_be_written(void **state)
{
	struct srv *v = srv_new();
	struct cl *root = root_cl(v);

	host_kvp(v, IC_KVP_SET, "h", "1");
	request(v, root, IC_KVP_SET_REQ, 1, IC_POOL_HOST, "h", "2");
	expect_error(v, root, 1, IC_KVP_SET_REQ, EPERM, "the host pool is written on the host");
	request(v, root, IC_KVP_DEL_REQ, 2, IC_POOL_INTRINSIC, "HostName", NULL);
	expect_error(v, root, 2, IC_KVP_DEL_REQ, EPERM, "filled by the agent");
	request(v, root, IC_KVP_GET, 3, IC_POOL_HOST, "h", NULL);
	expect_kvp(v, root, IC_KVP_VALUE, 3, IC_POOL_HOST, "h", "1");
	cl_free(root);
	srv_free(v);
}

static void read_group_restricts_reading(void **state)
{
	struct srv *v = srv_new();
	static const gid_t readers[] = { 2345 };
	struct cl *user = user_cl(v), *root = root_cl(v),
		  *member = cl_new(v, 1003, 1003, readers, 1);
	struct akvs_policy p = policy("readers", "");

	gset(v, "a", "1");
	akvs_set_policy(v->s, &p);
	request(v, user, IC_KVP_GET, 1, IC_POOL_GUEST, "a", NULL);
	expect_error(v, user, 1, IC_KVP_GET, EPERM,
		     "only root or group readers may read the pools (you are uid 1000)");
	request(v, user, IC_KVP_LIST, 2, IC_POOL_ALL, NULL, NULL);
	expect_error(v, user, 2, IC_KVP_LIST, EPERM, NULL);
	request(v, user, IC_KVP_WATCH, 3, IC_POOL_ALL, NULL, NULL);
	expect_error(v, user, 3, IC_KVP_WATCH, EPERM, NULL);
	request(v, member, IC_KVP_GET, 4, IC_POOL_GUEST, "a", NULL);
	expect_kvp(v, member, IC_KVP_VALUE, 4, IC_POOL_GUEST, "a", "1");
	request(v, root, IC_KVP_GET, 5, IC_POOL_GUEST, "a", NULL);
	expect_kvp(v, root, IC_KVP_VALUE, 5, IC_POOL_GUEST, "a", "1");
	/* the rule is looked at per request: a change applies at once */
	p = policy("", "");
	akvs_set_policy(v->s, &p);
	request(v, user, IC_KVP_GET, 6, IC_POOL_GUEST, "a", NULL);
	expect_kvp(v, user, IC_KVP_VALUE, 6, IC_POOL_GUEST, "a", "1");
	cl_free(user);
	cl_free(root);
	cl_free(member);
	srv_free(v);
}

static void limits_are_e2big_and_enospc(void **state)
{
	struct srv *v = srv_new();
	struct cl *root = root_cl(v);
	static uint8_t big[IC_KVP_MAX_VALUE + 1];
	struct sess_buf b = { 0 };
	char key[16];

	sess_begin(&b, IC_KVP_SET_REQ, 0);
	sess_put_u32(&b, 1, 1);
	sess_put_u32(&b, 2, IC_POOL_GUEST);
	sess_put_bytes(&b, 3, "k", 1);
	sess_put_bytes(&b, IC_TAG_TAIL, NULL, 0);
	sess_put_raw(&b, big, sizeof(big));
	sess_end(&b);
	cl_send(v, root, &b);
	expect_error(v, root, 0, IC_KVP_SET_REQ, E2BIG, "a value at most 65536");
	for (int i = 0; i < IC_KVP_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "k%05d", i);
		gset(v, key, "");
	}
	request(v, root, IC_KVP_SET_REQ, 2, IC_POOL_GUEST, "one", "more");
	expect_error(v, root, 2, IC_KVP_SET_REQ, ENOSPC, "the guest pool holds 4096 keys");
	request(v, root, IC_KVP_SET_REQ, 3, IC_POOL_GUEST, "k00001", "replacing is fine");
	expect_kvp(v, root, IC_KVP_DONE, 3, 0, NULL, NULL);
	cl_free(root);
	srv_free(v);
}

/* ---- watches ---- */

static void watch_sees_both_sides_within_500_ms(void **state)
{
	struct srv *v = srv_new();
	struct cl *w = user_cl(v), *root = root_cl(v);
	uint64_t t0;

	request(v, w, IC_KVP_WATCH, 9, IC_POOL_ALL, "cfg/", NULL);
	expect_kvp(v, w, IC_KVP_DONE, 9, 0, NULL, NULL);
	t0 = now_ms();
	request(v, root, IC_KVP_SET_REQ, 1, IC_POOL_GUEST, "cfg/a", "1");
	expect_kvp(v, w, IC_KVP_SET, 9, IC_POOL_GUEST, "cfg/a", "1");
	assert_true(now_ms() - t0 < 500);
	expect_kvp(v, root, IC_KVP_DONE, 1, 0, NULL, NULL);
	t0 = now_ms();
	host_kvp(v, IC_KVP_SET, "cfg/h", "from the host");
	expect_kvp(v, w, IC_KVP_SET, 9, IC_POOL_HOST, "cfg/h", "from the host");
	assert_true(now_ms() - t0 < 500);
	host_kvp(v, IC_KVP_DELETE, "cfg/h", NULL);
	expect_kvp(v, w, IC_KVP_DELETE, 9, IC_POOL_HOST, "cfg/h", NULL);
	intrinsic(v, "cfg/i", "x");
	expect_kvp(v, w, IC_KVP_SET, 9, IC_POOL_INTRINSIC, "cfg/i", "x");
	gset(v, "other", "not watched");
	expect_nothing(v, w, 200);
	/* a second watch on the same connection: the host pool only */
	request(v, w, IC_KVP_WATCH, 10, IC_POOL_HOST, NULL, NULL);
	expect_kvp(v, w, IC_KVP_DONE, 10, 0, NULL, NULL);
	host_kvp(v, IC_KVP_SET, "cfg/z", "2");
	expect_kvp(v, w, IC_KVP_SET, 9, IC_POOL_HOST, "cfg/z", "2");
	expect_kvp(v, w, IC_KVP_SET, 10, IC_POOL_HOST, "cfg/z", "2");
	gset(v, "cfg/g", "3");
	expect_kvp(v, w, IC_KVP_SET, 9, IC_POOL_GUEST, "cfg/g", "3");
	expect_nothing(v, w, 100);
	/* and requests go on beside the watches */
	request(v, w, IC_KVP_GET, 11, IC_POOL_GUEST, "cfg/g", NULL);
	expect_kvp(v, w, IC_KVP_VALUE, 11, IC_POOL_GUEST, "cfg/g", "3");
	cl_free(w);
	srv_round(v, 10);
	assert_int_equal(akvs_clients(v->s), 1); /* the watcher that left is gone */
	cl_free(root);
	srv_free(v);
}

static void a_watcher_that_falls_behind_is_dropped(void **state)
{
	struct srv *v = srv_new();
	struct cl *w = user_cl(v), *root = root_cl(v), *other = user_cl(v);
	static char value[60001];
	struct sess_frame f;
	struct ic_error e;
	int sets = 0, r;

	request(v, w, IC_KVP_WATCH, 9, IC_POOL_GUEST, NULL, NULL);
	expect_kvp(v, w, IC_KVP_DONE, 9, 0, NULL, NULL);
	/* the watcher reads nothing while 2.4 MiB of changes happen */
	memset(value, 'v', 60000);
	for (int i = 0; i < 40; i++) {
		value[0] = (char)('A' + i);
		request(v, root, IC_KVP_SET_REQ, (uint32_t)i, IC_POOL_GUEST, "k", value);
		expect_kvp(v, root, IC_KVP_DONE, (uint32_t)i, 0, NULL, NULL);
	}
	/* the others are served all along */
	request(v, other, IC_KVP_GET, 1, IC_POOL_GUEST, "k", NULL);
	expect_kvp(v, other, IC_KVP_VALUE, 1, IC_POOL_GUEST, "k", value);
	/* the watcher gets what was queued, then the ERROR, then the end */
	while ((r = cl_next(v, w, &f, 2000)) == 1 && f.type == IC_KVP_SET)
		sets++;
	assert_int_equal(r, 1);
	assert_int_equal(f.type, IC_ERROR);
	assert_int_equal(ic_dec_error(&f, &e), 0);
	assert_int_equal(e.seq, 9);
	assert_int_equal(e.err, ENOBUFS);
	assert_non_null(strstr(e.message, "fell more than 1 MiB of changes behind"));
	assert_true(sets >= 20 && sets < 40);
	assert_int_equal(cl_next(v, w, &f, 2000), -1);
	cl_free(w);
	cl_free(root);
	cl_free(other);
	srv_free(v);
}

/* ---- connections ---- */

static void bad_frames_get_errors(void **state)
{
	struct srv *v = srv_new();
	struct cl *c = user_cl(v);
	struct sess_buf b = { 0 };
	uint8_t hdr[8] = { 52, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f }; /* a 2 GiB GET */
	struct sess_frame f;

	sess_begin(&b, 99, 0);
	sess_end(&b);
	cl_send(v, c, &b);
	expect_error(v, c, 0, 99, EOPNOTSUPP, "not a request");
	request(v, c, IC_KVP_VALUE, 1, IC_POOL_GUEST, "k", "v"); /* the agent's own */
	expect_error(v, c, 0, IC_KVP_VALUE, EOPNOTSUPP, NULL);
	sess_begin(&b, IC_KVP_GET, 0); /* no key */
	sess_put_u32(&b, 1, 3);
	sess_put_u32(&b, 2, IC_POOL_GUEST);
	sess_end(&b);
	cl_send(v, c, &b);
	expect_error(v, c, 0, IC_KVP_GET, EPROTO, "malformed");
	/* the connection goes on */
	request(v, c, IC_KVP_LIST, 4, IC_POOL_HOST, NULL, NULL);
	expect_kvp(v, c, IC_KVP_DONE, 4, 0, NULL, NULL);
	/* a header no frame can have: an ERROR, then the end */
	assert_int_equal(write(c->fd, hdr, sizeof(hdr)), 8);
	expect_error(v, c, 0, 0, EPROTO, "closing");
	assert_int_equal(cl_next(v, c, &f, 2000), -1);
	cl_free(c);
	srv_free(v);
}

static void turned_off_refuses_with_the_reason(void **state)
{
	struct srv *v = srv_new();
	struct cl *root = root_cl(v);
	struct akvs_policy p = policy("", "");

	p.enabled = false;
	akvs_set_policy(v->s, &p);
	request(v, root, IC_KVP_GET, 1, IC_POOL_GUEST, "a", NULL);
	expect_error(v, root, 1, IC_KVP_GET, EPERM, "[KVP] Enabled = no in agent.conf");
	cl_free(root);
	srv_free(v);
}

static void many_connections_at_once(void **state)
{
	struct srv *v = srv_new();
	struct cl *c[AKVS_MAX_CLIENTS];
	int sv[2];

	gset(v, "a", "1");
	for (int i = 0; i < AKVS_MAX_CLIENTS; i++)
		c[i] = user_cl(v);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(akvs_add(v->s, sv[1]), -EMFILE); /* closed it */
	close(sv[0]);
	for (int i = 0; i < AKVS_MAX_CLIENTS; i++)
		request(v, c[i], IC_KVP_GET, (uint32_t)i + 1, IC_POOL_GUEST, "a", NULL);
	for (int i = 0; i < AKVS_MAX_CLIENTS; i++)
		expect_kvp(v, c[i], IC_KVP_VALUE, (uint32_t)i + 1, IC_POOL_GUEST, "a", "1");
	for (int i = 0; i < AKVS_MAX_CLIENTS; i++)
		cl_free(c[i]);
	for (int i = 0; i < 5 && akvs_clients(v->s); i++)
		srv_round(v, 10);
	assert_int_equal(akvs_clients(v->s), 0);
	srv_free(v);
}

/* ---- the socket file, the kernel's credentials ---- */

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(strlen(path) < sizeof(a.sun_path));
	memcpy(a.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void socket_file_replaces_a_stale_one(void **state)
{
	struct akvp *k = akvp_new(NULL);
	struct akvs *s = akvs_new(k);
	struct srv v = { .k = k, .s = s };
	struct akvs_policy p = policy("", "");
	char path[160], gid[16], why[256];
	struct cl *c = calloc(1, sizeof(*c));
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int stale;

	snprintf(path, sizeof(path), "%s/run/kvp.sock", dir);
	mkdir(strcat(strcpy(a.sun_path, dir), "/run"), 0755);
	strcpy(a.sun_path, path);
	stale = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(stale, (struct sockaddr *)&a, sizeof(a)), 0);
	close(stale); /* left behind, as by a killed agent */
	assert_int_equal(akvs_listen(s, path, why, sizeof(why)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0666);
	/* the kernel says who we are: not root, so WriteGroup = our gid */
	snprintf(gid, sizeof(gid), "%u", (unsigned)getegid());
	p = policy("", gid);
	akvs_set_policy(s, &p);
	c->fd = connect_to(path);
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	request(&v, c, IC_KVP_SET_REQ, 1, IC_POOL_GUEST, "k", "v");
	expect_kvp(&v, c, IC_KVP_DONE, 1, 0, NULL, NULL);
	p = policy(gid, "");
	akvs_set_policy(s, &p);
	request(&v, c, IC_KVP_SET_REQ, 2, IC_POOL_GUEST, "k", "w");
	if (getuid() != 0)
		expect_error(&v, c, 2, IC_KVP_SET_REQ, EPERM, "only root may write");
	else
		expect_kvp(&v, c, IC_KVP_DONE, 2, 0, NULL, NULL);
	request(&v, c, IC_KVP_GET, 3, IC_POOL_GUEST, "k", NULL);
	expect_kvp(&v, c, IC_KVP_VALUE, 3, IC_POOL_GUEST, "k", NULL);
	cl_free(c);
	akvs_free(s);
	assert_int_equal(access(path, F_OK), -1); /* removed with the server */
	/* something else than a socket is left alone */
	s = akvs_new(k);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(akvs_listen(s, path, why, sizeof(why)), -EEXIST);
	assert_non_null(strstr(why, "something else than a socket"));
	akvs_free(s);
	unlink(path);
	akvp_free(k);
}

/* ---- the worker's wiring (agent-kvp-run.c) ---- */

static void run_rounds(struct akvr *r, int n)
{
	struct pollfd p[AKVS_MAX_CLIENTS + 8];

	for (int i = 0; i < n; i++) {
		int t = 10;
		size_t k = akvr_fill(r, p, ARRAY_SIZE(p), &t, now_ms());

		if (t < 0 || t > 10)
			t = 10;
		if (poll(p, k, t) <= 0)
			for (size_t j = 0; j < k; j++)
				p[j].revents = 0;
		akvr_io(r, p, k, now_ms());
	}
}

/* One request and its first reply frame's type (and ERROR's errno). */
static uint16_t run_request(struct akvr *r, const char *sock, uint16_t type, const char *key,
			    const char *value, uint32_t *err)
{
	struct cl *c = calloc(1, sizeof(*c));
	struct sess_buf b = { 0 };
	uint16_t got = 0;

	c->fd = connect_to(sock);
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	ic_enc_kvp(&b, type,
		   &(struct ic_kvp){ .seq = 1,
				     .pool = IC_POOL_GUEST,
				     .key = (const uint8_t *)key,
				     .key_len = (uint32_t)strlen(key),
				     .value = (const uint8_t *)value,
				     .value_len = value ? (uint32_t)strlen(value) : 0 });
	assert_int_equal(write(c->fd, b.data, b.len), (ssize_t)b.len);
	sess_buf_free(&b);
	for (int i = 0; i < 200 && !got; i++) {
		struct sess_frame f;
		ssize_t n;

		run_rounds(r, 1);
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n > 0)
			c->len += (size_t)n;
		if (ic_frame_parse(c->buf, c->len, &f) > 0) {
			struct ic_error e = { 0 };

			got = f.type;
			if (got == IC_ERROR && ic_dec_error(&f, &e) == 0 && err)
				*err = e.err;
		}
	}
	cl_free(c);
	return got;
}

static void worker_wiring_follows_agent_conf(void **state)
{
	char guest[160], sock[160], run[160], osr[160], hosts[160], path[256];
	struct akvr_paths paths = {
		.guest_file = guest,
		.socket = sock,
		.run_dir = run,
		.group_file = group_file,
		.config = "agent.conf",
		.src = { .os_release = osr, .hosts = hosts, .agent_version = "1.2.3" }
	};
	struct aconf conf;
	struct akvr *r;
	struct stat st;
	uint32_t err = 0;

	snprintf(guest, sizeof(guest), "%s/w/lib/kvp/guest", dir);
	snprintf(sock, sizeof(sock), "%s/w/run/kvp.sock", dir);
	snprintf(run, sizeof(run), "%s/w/run/kvp", dir);
	snprintf(osr, sizeof(osr), "%s/w-os-release", dir);
	snprintf(hosts, sizeof(hosts), "%s/w-hosts", dir);
	close(open(osr, O_WRONLY | O_CREAT, 0600));
	close(open(hosts, O_WRONLY | O_CREAT, 0600));
	r = akvr_new(&paths);
	assert_non_null(r);
	aconf_defaults(&conf);
	snprintf(conf.kvp_write_group, sizeof(conf.kvp_write_group), "%u", (unsigned)getegid());
	akvr_configure(r, &conf, now_ms());
	run_rounds(r, 2);
	/* the socket, and the mirror with the facts */
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0666);
	snprintf(path, sizeof(path), "%s/intrinsic/AgentVersion", run);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* a write through the socket: in the file and the mirror */
	assert_int_equal(run_request(r, sock, IC_KVP_SET_REQ, "setup/done", "yes", NULL),
			 IC_KVP_DONE);
	snprintf(path, sizeof(path), "%s/guest/setup%%2Fdone", run);
	assert_int_equal(access(path, R_OK), 0);
	assert_int_equal(access(guest, R_OK), 0);
	/* ReadGroup: the mirror's modes follow */
	snprintf(conf.kvp_read_group, sizeof(conf.kvp_read_group), "%u", (unsigned)getegid());
	akvr_configure(r, &conf, now_ms());
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(stat(run, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	/* off: no mirror, the socket says why */
	conf.kvp_enabled = false;
	akvr_configure(r, &conf, now_ms());
	assert_int_equal(access(run, F_OK), -1);
	assert_int_equal(run_request(r, sock, IC_KVP_GET, "setup/done", NULL, &err), IC_ERROR);
	assert_int_equal(err, EPERM);
	/* on again: everything back, the guest pool kept */
	conf.kvp_enabled = true;
	akvr_configure(r, &conf, now_ms());
	assert_int_equal(access(path, R_OK), 0);
	assert_int_equal(run_request(r, sock, IC_KVP_GET, "setup/done", NULL, NULL), IC_KVP_VALUE);
	akvr_free(r);
	assert_int_equal(access(sock, F_OK), -1);
	/* a restart reads the guest pool back */
	r = akvr_new(&paths);
	akvr_configure(r, &conf, now_ms());
	assert_int_equal(run_request(r, sock, IC_KVP_GET, "setup/done", NULL, NULL), IC_KVP_VALUE);
	akvr_free(r);
}

/* The real `vmsvc kvp` (built next to the agent) against a server in a
 * child process; skipped when the build has no vmsvc. */
static void the_cli_speaks_to_the_socket(void **state)
{
	const char *build = getenv("AGENT_TEST_DIR");
	char cli[512], path[160], gid[16], cmd[1024], out[256];
	pid_t pid;
	int st;
	FILE *fp;
	size_t n;

	snprintf(cli, sizeof(cli), "%s/../cli/vmsvc", build ? build : ".");
	if (!build || access(cli, X_OK) < 0)
		skip();
	snprintf(path, sizeof(path), "%s/cli.sock", dir);
	snprintf(gid, sizeof(gid), "%u", (unsigned)getegid());
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct akvp *k = akvp_new(NULL);
		struct akvs *s = akvs_new(k);
		struct srv v = { .k = k, .s = s };
		struct akvs_policy p = policy("", gid);
		char why[256];

		akvs_set_policy(s, &p);
		if (akvs_listen(s, path, why, sizeof(why)) < 0)
			_exit(1);
		gset(&v, "pre", "set");
		for (;;)
			srv_round(&v, 100);
	}
	for (int i = 0; i < 100 && access(path, F_OK) < 0; i++)
		usleep(10000);
	setenv("VMSVC_KVP_SOCKET", path, 1);
	snprintf(cmd, sizeof(cmd), "'%s' kvp set setup/done yes", cli);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "'%s' kvp get setup/done", cli);
	fp = popen(cmd, "r");
	n = fread(out, 1, sizeof(out) - 1, fp);
	out[n] = '\0';
	assert_int_equal(pclose(fp), 0);
	assert_string_equal(out, "yes");
	snprintf(cmd, sizeof(cmd), "'%s' kvp list --pool guest", cli);
	fp = popen(cmd, "r");
	n = fread(out, 1, sizeof(out) - 1, fp);
	out[n] = '\0';
	assert_int_equal(pclose(fp), 0);
	assert_string_equal(out, "guest pre set\nguest setup/done yes\n");
	snprintf(cmd, sizeof(cmd), "'%s' kvp get nope 2>/dev/null", cli);
	st = system(cmd);
	assert_int_equal(WEXITSTATUS(st), 1);
	snprintf(cmd, sizeof(cmd), "'%s' kvp delete setup/done", cli);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "'%s' kvp delete setup/done 2>/dev/null", cli);
	assert_int_equal(WEXITSTATUS(system(cmd)), 1);
	unsetenv("VMSVC_KVP_SOCKET");
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_answers_a_value_or_enoent),
		cmocka_unit_test(list_is_sorted_by_pool_then_key),
		cmocka_unit_test(a_list_larger_than_a_queue_comes_whole),
		cmocka_unit_test(requests_on_one_connection_are_answered_in_order),
		cmocka_unit_test(writing_takes_root_or_the_write_group),
		cmocka_unit_test(only_the_guest_pool_may_be_written),
		cmocka_unit_test(read_group_restricts_reading),
		cmocka_unit_test(limits_are_e2big_and_enospc),
		cmocka_unit_test(watch_sees_both_sides_within_500_ms),
		cmocka_unit_test(a_watcher_that_falls_behind_is_dropped),
		cmocka_unit_test(bad_frames_get_errors),
		cmocka_unit_test(turned_off_refuses_with_the_reason),
		cmocka_unit_test(many_connections_at_once),
		cmocka_unit_test(socket_file_replaces_a_stale_one),
		cmocka_unit_test(worker_wiring_follows_agent_conf),
		cmocka_unit_test(the_cli_speaks_to_the_socket),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
