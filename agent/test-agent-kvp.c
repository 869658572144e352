/* SPDX-License-Identifier: MIT */
/*
 * test-agent-kvp.c - the key-value exchange's guest side without its
 * socket (test-agent-kvp-sock.c has that), never over vsock: the link to
 * the host over a socket pair, the test playing vmsvcd (the agent's pools
 * whole after HELLO and STATE, then each change; STATE off; BEGIN..COMMIT
 * replacing the host pool at COMMIT; EPERM for the agent's pools; the
 * limits again), the guest pool's file (round trip, a corrupt file moved
 * aside, a failed save changing nothing), the mirror's file names and
 * files, and the intrinsic facts.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmocka.h>
#include <nettle/sha2.h>

#include "agent-kvp-files.h"
#include "agent-kvp-intr.h"
#include "agent-kvp.h"
#include "ic.h"
#include "util.h"

static char dir[] = "/tmp/test-agent-kvp.XXXXXX";

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* ---- a listener that records ---- */

struct change {
	uint32_t pool;
	char key[600];
	char value[128];
	bool deleted;
	uint64_t gen;
};

struct record {
	struct change c[64];
	size_t n;
};

static void record_change(void *ctx, uint32_t pool, const struct kvp_entry *e, bool deleted,
			  uint64_t gen)
{
	struct record *r = ctx;
	struct change *c = &r->c[r->n < 64 ? r->n++ : 63];

	*c = (struct change){ .pool = pool, .deleted = deleted, .gen = gen };
	snprintf(c->key, sizeof(c->key), "%.*s", (int)e->key_len, (const char *)e->key);
	if (!deleted)
		snprintf(c->value, sizeof(c->value), "%.*s", (int)e->value_len,
			 (const char *)e->value);
}

static int gset(struct akvp *k, const char *key, const char *value)
{
	char why[256];

	return akvp_guest_set(k, key, strlen(key), value, strlen(value), why, sizeof(why));
}

static void assert_value(const struct kvpool *p, const char *k, const char *v)
{
	const struct kvp_entry *e = kvpool_get(p, k, strlen(k));

	if (!e)
		fail_msg("no key %s", k);
	assert_int_equal(e->value_len, strlen(v));
	assert_memory_equal(e->value, v, strlen(v));
}

/* ---- file names ---- */

static void name_of(const char *key, size_t len, const char *want)
{
	char buf[AKVF_NAME_MAX + 1];

	assert_int_equal(akvf_name(key, len, buf), strlen(want));
	assert_string_equal(buf, want);
}

static void file_names_escape_bytes_and_a_leading_dot(void **state)
{
	name_of("config/role", 11, "config%2Frole");
	name_of("Net.A-b_9", 9, "Net.A-b_9");
	name_of(".hidden", 7, "%2Ehidden");
	name_of("a.", 2, "a.");
	name_of("x y~%", 5, "x%20y%7E%25");
	name_of("\xff\x01\n", 3, "%FF%01%0A");
	name_of("..", 2, "%2E.");
}

static void long_names_are_cut_with_a_hash(void **state)
{
	char key[IC_KVP_MAX_KEY], buf[AKVF_NAME_MAX + 1], want[AKVF_NAME_MAX + 1];
	uint8_t d[SHA256_DIGEST_SIZE];
	struct sha256_ctx h;

	/* 85 slashes escape to exactly 255 bytes: kept */
	memset(key, '/', 85);
	assert_int_equal(akvf_name(key, 85, buf), 255);
	assert_null(strchr(buf, '~'));
	/* 86: 258 bytes, cut to 200, '~', 16 hex digits of the key's SHA-256 */
	memset(key, '/', 86);
	sha256_init(&h);
	sha256_update(&h, 86, (const uint8_t *)key);
	sha256_digest(&h, sizeof(d), d);
	assert_int_equal(akvf_name(key, 86, buf), 217);
	for (int i = 0; i < 66; i++)
		memcpy(want + 3 * i, "%2F", 3);
	memcpy(want + 198, "%2~", 3);
	for (int i = 0; i < 8; i++)
		sprintf(want + 201 + 2 * i, "%02x", d[i]);
	assert_string_equal(buf, want);
	/* the longest key: plain bytes, 512 of them */
	memset(key, 'k', IC_KVP_MAX_KEY);
	assert_int_equal(akvf_name(key, IC_KVP_MAX_KEY, buf), 217);
	assert_int_equal(buf[200], '~');
	assert_int_equal(strspn(buf, "k"), 200);
	/* two keys that share their first 200 bytes differ by the hash */
	key[300] = 'x';
	assert_int_equal(akvf_name(key, IC_KVP_MAX_KEY, want), 217);
	assert_string_not_equal(buf, want);
}

/* ---- the guest pool's file ---- */

static void guest_pool_survives_a_restart(void **state)
{
	char path[160], why[256];
	struct record rec = { 0 };
	struct akvp *k;
	struct stat st;
	uint64_t gen;

	path_of(path, sizeof(path), "state/kvp/guest");
	k = akvp_new(path);
	assert_non_null(k);
	assert_int_equal(akvp_pool(k, IC_POOL_GUEST)->n, 0);
	assert_int_equal(akvp_listen(k, record_change, &rec), 0);
	assert_int_equal(gset(k, "setup/done", "yes"), 1);
	assert_int_equal(gset(k, "empty", ""), 1);
	assert_int_equal(akvp_guest_set(k, "bin", 3, "\0\xff\n", 3, why, sizeof(why)), 1);
	assert_int_equal(gset(k, "setup/done", "yes"), 0); /* the same value: no change */
	assert_int_equal(gset(k, "gone", "x"), 1);
	assert_int_equal(akvp_guest_delete(k, "gone", 4, why, sizeof(why)), 1);
	assert_int_equal(akvp_guest_delete(k, "gone", 4, why, sizeof(why)), -ENOENT);
	assert_int_equal(rec.n, 5);
	assert_true(rec.c[4].deleted);
	assert_string_equal(rec.c[4].key, "gone");
	assert_int_equal(rec.c[4].gen, akvp_pool(k, IC_POOL_GUEST)->gen);
	gen = akvp_pool(k, IC_POOL_GUEST)->gen;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	path_of(path, sizeof(path), "state/kvp");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	akvp_free(k);

	path_of(path, sizeof(path), "state/kvp/guest");
	k = akvp_new(path);
	assert_int_equal(akvp_pool(k, IC_POOL_GUEST)->n, 3);
	assert_value(akvp_pool(k, IC_POOL_GUEST), "setup/done", "yes");
	assert_value(akvp_pool(k, IC_POOL_GUEST), "empty", "");
	assert_memory_equal(kvpool_get(akvp_pool(k, IC_POOL_GUEST), "bin", 3)->value, "\0\xff\n",
			    3);
	assert_int_equal(akvp_pool(k, IC_POOL_GUEST)->gen, gen); /* counts on */
	akvp_free(k);
}

static void corrupt_pool_file_is_moved_aside(void **state)
{
	char path[160], pattern[200], why[256];
	struct akvp *k;
	glob_t g;

	path_of(path, sizeof(path), "corrupt/guest");
	path_of(pattern, sizeof(pattern), "corrupt");
	mkdir(pattern, 0700);
	write_file(path,
		   "\x30\x00\x00\x00\x05\x00\x00\x00"
		   "abc",
		   11); /* a cut frame */
	k = akvp_new(path);
	assert_non_null(k);
	assert_int_equal(akvp_pool(k, IC_POOL_GUEST)->n, 0);
	snprintf(pattern, sizeof(pattern), "%s.corrupt-*", path);
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	assert_int_equal(g.gl_pathc, 1);
	globfree(&g);
	assert_int_equal(access(path, F_OK), -1);
	/* the pool works, and writes a good file again */
	assert_int_equal(gset(k, "a", "1"), 1);
	akvp_free(k);
	k = akvp_new(path);
	assert_value(akvp_pool(k, IC_POOL_GUEST), "a", "1");
	akvp_free(k);
	/* a file of another pool's frames is corrupt too */
	{
		struct kvpool p = KVPOOL_INIT;
		struct sess_buf b = { 0 };

		kvpool_set(&p, "k", 1, "v", 1);
		kvpool_encode(&p, IC_POOL_HOST, &b);
		write_file(path, b.data, b.len);
		sess_buf_free(&b);
		kvpool_clear(&p);
	}
	assert_int_equal(
		akvf_load_pool(path, &(struct kvpool){ 0 }, IC_POOL_GUEST, why, sizeof(why)),
		-EPROTO);
	assert_non_null(strstr(why, "moved aside"));
}

static void failed_save_changes_nothing(void **state)
{
	char path[160], bad[200];
	struct record rec = { 0 };
	struct akvp *k;
	char why[256];
	uint64_t gen;

	path_of(path, sizeof(path), "plainfile");
	write_file(path, "x", 1);
	snprintf(bad, sizeof(bad), "%s/kvp/guest", path); /* under a file: cannot be made */
	k = akvp_new(bad);
	assert_int_equal(akvp_listen(k, record_change, &rec), 0);
	gen = akvp_pool(k, IC_POOL_GUEST)->gen;
	assert_int_equal(akvp_guest_set(k, "a", 1, "1", 1, why, sizeof(why)), -ENOTDIR);
	assert_non_null(strstr(why, "cannot save the guest pool to"));
	assert_int_equal(akvp_pool(k, IC_POOL_GUEST)->n, 0);
	assert_int_equal(akvp_pool(k, IC_POOL_GUEST)->gen, gen);
	assert_int_equal(rec.n, 0);
	akvp_free(k);
}

static void guest_limits_are_refused_with_reasons(void **state)
{
	struct akvp *k = akvp_new(NULL);
	static char big[IC_KVP_MAX_VALUE + 1];
	char why[256], key[16];

	assert_int_equal(akvp_guest_set(k, "k", 1, big, sizeof(big), why, sizeof(why)), -E2BIG);
	assert_non_null(strstr(why, "65537 bytes, over the limit of 65536"));
	assert_int_equal(akvp_guest_set(k, "a\0b", 3, "", 0, why, sizeof(why)), -EINVAL);
	for (int i = 0; i < IC_KVP_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "k%05d", i);
		assert_int_equal(akvp_guest_set(k, key, strlen(key), "", 0, why, sizeof(why)), 1);
	}
	assert_int_equal(akvp_guest_set(k, "one", 3, "more", 4, why, sizeof(why)), -ENOSPC);
	assert_non_null(strstr(why, "holds 4096 keys"));
	akvp_free(k);
	/* bytes */
	k = akvp_new(NULL);
	for (int i = 0; i < 15; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(akvp_guest_set(k, key, strlen(key), big, IC_KVP_MAX_VALUE, why,
						sizeof(why)),
				 1);
	}
	assert_int_equal(akvp_guest_set(k, "last", 4, big, IC_KVP_MAX_VALUE, why, sizeof(why)),
			 -ENOSPC);
	assert_non_null(strstr(why, "more than 1048576 bytes"));
	akvp_free(k);
}

/* ---- the link: the test is vmsvcd ---- */

struct rig {
	int host;
	struct aic *c;
	int end;
	uint8_t buf[4 * 1024 * 1024];
	size_t len;
	uint8_t frame[SESS_HDR_SIZE + IC_MAX_FRAME];
};

static const struct aic_hello hello = { .min = 1, .max = 1, .software = "vmsvc-agent test" };

static struct rig *rig_new(struct akvp *k)
{
	struct rig *r = calloc(1, sizeof(*r));
	int sv[2];

	assert_non_null(r);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	r->host = sv[0];
	r->c = aic_new(sv[1], &akvp_ops, k, &hello);
	assert_non_null(r->c);
	return r;
}

static void rig_free(struct rig *r)
{
	aic_free(r->c);
	close(r->host);
	free(r);
}

static void agent_round(struct rig *r, int ms)
{
	struct pollfd p = { .fd = aic_fd(r->c), .events = aic_events(r->c) };
	int t = aic_timeout(r->c, now_ms());

	if (t >= 0 && t < ms)
		ms = t;
	if (r->end)
		return;
	poll(&p, 1, ms);
	r->end = aic_io(r->c, p.revents, now_ms());
	if (!r->end)
		aic_tick(r->c, now_ms());
}

static void host_send(struct rig *r, struct sess_buf *b)
{
	size_t off = 0;

	assert_int_equal(b->err, 0);
	while (off < b->len) {
		ssize_t n = write(r->host, b->data + off, b->len - off);

		if (n < 0 && errno == EAGAIN) {
			agent_round(r, 10);
			continue;
		}
		assert_true(n > 0);
		off += (size_t)n;
		agent_round(r, 0);
	}
	sess_buf_free(b);
	for (int i = 0; i < 5; i++)
		agent_round(r, 5); /* let the agent take it all */
}

/* The next frame from the agent within ms: 1 with *f, 0 none, -1 EOF. */
static int host_next(struct rig *r, struct sess_frame *f, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	fcntl(r->host, F_SETFL, O_NONBLOCK);
	for (;;) {
		long n = ic_frame_parse(r->buf, r->len, f);
		ssize_t k;

		assert_true(n >= 0);
		if (n > 0) {
			memcpy(r->frame, r->buf, (size_t)n);
			memmove(r->buf, r->buf + n, r->len - (size_t)n);
			r->len -= (size_t)n;
			f->payload = r->frame + SESS_HDR_SIZE;
			return 1;
		}
		k = read(r->host, r->buf + r->len, sizeof(r->buf) - r->len);
		if (k == 0)
			return -1;
		if (k > 0) {
			r->len += (size_t)k;
			continue;
		}
		if (now_ms() >= end)
			return 0;
		agent_round(r, 5);
	}
}

static void host_expect(struct rig *r, uint16_t type, struct ic_kvp *k, int ms)
{
	struct sess_frame f;
	int n = host_next(r, &f, ms);

	if (n != 1)
		fail_msg("no %s within %d ms (%d)", ic_type_name(type), ms, n);
	if (f.type != type)
		fail_msg("%s instead of %s", ic_type_name(f.type), ic_type_name(type));
	if (k && type != IC_ERROR)
		assert_int_equal(ic_dec_kvp(&f, k), 0);
}

static void expect_error(struct rig *r, uint32_t type, uint32_t err, const char *needle)
{
	struct sess_frame f;
	struct ic_error e;

	if (host_next(r, &f, 1000) != 1 || f.type != IC_ERROR)
		fail_msg("no ERROR");
	assert_int_equal(ic_dec_error(&f, &e), 0);
	assert_int_equal(e.type, type);
	assert_int_equal(e.err, err);
	if (needle && !strstr(e.message, needle))
		fail_msg("'%s' lacks '%s'", e.message, needle);
}

static void host_handshake(struct rig *r, bool enabled)
{
	struct sess_buf b = { 0 };

	host_expect(r, IC_HELLO, NULL, 1000);
	ic_enc_hello(&b, &(struct ic_hello){ .min = 1, .max = 1, .software = "vmsvcd test" });
	ic_enc_state(&b, &(struct ic_state){ .enabled = enabled });
	host_send(r, &b);
}

static void expect_kvp(struct rig *r, uint16_t type, uint32_t pool, const char *key,
		       const char *value)
{
	struct ic_kvp k;

	host_expect(r, type, &k, 1000);
	assert_int_equal(k.seq, 0);
	assert_int_equal(k.pool, pool);
	if (key) {
		assert_int_equal(k.key_len, strlen(key));
		assert_memory_equal(k.key, key, strlen(key));
	}
	if (value) {
		assert_int_equal(k.value_len, strlen(value));
		assert_memory_equal(k.value, value, strlen(value));
	}
}

static void set_intrinsic(struct akvp *k, const char *key, const char *value)
{
	struct kvpool p = KVPOOL_INIT;
	const struct kvpool *cur = akvp_pool(k, IC_POOL_INTRINSIC);

	for (size_t i = 0; i < cur->n; i++)
		kvpool_set(&p, cur->e[i].key, cur->e[i].key_len, cur->e[i].value,
			   cur->e[i].value_len);
	if (value)
		kvpool_set(&p, key, strlen(key), value, strlen(value));
	else
		kvpool_delete(&p, key, strlen(key));
	akvp_intrinsic_replace(k, &p);
}

static void pools_go_whole_after_state_then_each_change(void **state)
{
	struct akvp *k = akvp_new(NULL);
	struct rig *r;
	struct ic_kvp x;
	struct sess_frame f;
	char why[64];

	gset(k, "b", "2");
	gset(k, "a", "1");
	set_intrinsic(k, "HostName", "g1");
	r = rig_new(k);
	host_expect(r, IC_HELLO, NULL, 1000);
	/* nothing before the host's HELLO, whatever changes */
	gset(k, "c", "3");
	assert_int_equal(host_next(r, &f, 300), 0);
	{
		struct sess_buf b = { 0 };

		ic_enc_hello(&b, &(struct ic_hello){ .min = 1, .max = 1 });
		ic_enc_state(&b, &(struct ic_state){ .enabled = true });
		host_send(r, &b);
	}
	expect_kvp(r, IC_KVP_BEGIN, IC_POOL_GUEST, NULL, NULL);
	expect_kvp(r, IC_KVP_SET, IC_POOL_GUEST, "a", "1");
	expect_kvp(r, IC_KVP_SET, IC_POOL_GUEST, "b", "2");
	expect_kvp(r, IC_KVP_SET, IC_POOL_GUEST, "c", "3");
	host_expect(r, IC_KVP_COMMIT, &x, 1000);
	assert_int_equal(x.pool, IC_POOL_GUEST);
	assert_int_equal(x.gen, akvp_pool(k, IC_POOL_GUEST)->gen);
	expect_kvp(r, IC_KVP_BEGIN, IC_POOL_INTRINSIC, NULL, NULL);
	expect_kvp(r, IC_KVP_SET, IC_POOL_INTRINSIC, "HostName", "g1");
	expect_kvp(r, IC_KVP_COMMIT, IC_POOL_INTRINSIC, NULL, NULL);
	assert_true(akvp_link_synced(k));
	/* then each change, with the generation after it */
	gset(k, "a", "one");
	host_expect(r, IC_KVP_SET, &x, 1000);
	assert_int_equal(x.pool, IC_POOL_GUEST);
	assert_memory_equal(x.value, "one", 3);
	assert_int_equal(x.gen, akvp_pool(k, IC_POOL_GUEST)->gen);
	akvp_guest_delete(k, "b", 1, why, sizeof(why));
	expect_kvp(r, IC_KVP_DELETE, IC_POOL_GUEST, "b", NULL);
	set_intrinsic(k, "NetworkAddressIPv4/eth0", "10.0.0.2");
	expect_kvp(r, IC_KVP_SET, IC_POOL_INTRINSIC, "NetworkAddressIPv4/eth0", "10.0.0.2");
	set_intrinsic(k, "HostName", NULL);
	expect_kvp(r, IC_KVP_DELETE, IC_POOL_INTRINSIC, "HostName", NULL);
	assert_int_equal(host_next(r, &f, 200), 0);
	assert_int_equal(r->end, 0);
	rig_free(r);
	assert_false(akvp_link_synced(k));
	gset(k, "after", "the link"); /* no link: fine */
	akvp_free(k);
}

static void state_off_sends_nothing_and_ignores_the_host(void **state)
{
	struct akvp *k = akvp_new(NULL);
	struct rig *r = rig_new(k);
	struct sess_buf b = { 0 };
	struct sess_frame f;

	gset(k, "a", "1");
	host_handshake(r, false);
	assert_int_equal(host_next(r, &f, 400), 0);
	gset(k, "b", "2");
	ic_enc_kvp(&b, IC_KVP_SET,
		   &(struct ic_kvp){ .pool = IC_POOL_HOST,
				     .key = (const uint8_t *)"h",
				     .key_len = 1,
				     .value = (const uint8_t *)"x",
				     .value_len = 1,
				     .gen = 5 });
	host_send(r, &b);
	assert_int_equal(host_next(r, &f, 300), 0);
	assert_int_equal(akvp_pool(k, IC_POOL_HOST)->n, 0);
	assert_int_equal(r->end, 0);
	/* on: everything whole, the change made while off included */
	ic_enc_state(&b, &(struct ic_state){ .enabled = true });
	host_send(r, &b);
	expect_kvp(r, IC_KVP_BEGIN, IC_POOL_GUEST, NULL, NULL);
	expect_kvp(r, IC_KVP_SET, IC_POOL_GUEST, "a", "1");
	expect_kvp(r, IC_KVP_SET, IC_POOL_GUEST, "b", "2");
	expect_kvp(r, IC_KVP_COMMIT, IC_POOL_GUEST, NULL, NULL);
	expect_kvp(r, IC_KVP_BEGIN, IC_POOL_INTRINSIC, NULL, NULL);
	expect_kvp(r, IC_KVP_COMMIT, IC_POOL_INTRINSIC, NULL, NULL);
	/* off again, on again: whole again */
	ic_enc_state(&b, &(struct ic_state){ .enabled = false });
	ic_enc_state(&b, &(struct ic_state){ .enabled = true });
	host_send(r, &b);
	expect_kvp(r, IC_KVP_BEGIN, IC_POOL_GUEST, NULL, NULL);
	rig_free(r);
	akvp_free(k);
}

static void send_host_kvp(struct rig *r, uint16_t type, uint32_t pool, const char *key,
			  const char *value, uint64_t gen)
{
	struct sess_buf b = { 0 };

	ic_enc_kvp(&b, type,
		   &(struct ic_kvp){ .pool = pool,
				     .key = (const uint8_t *)key,
				     .key_len = key ? (uint32_t)strlen(key) : 0,
				     .value = (const uint8_t *)value,
				     .value_len = value ? (uint32_t)strlen(value) : 0,
				     .gen = gen });
	host_send(r, &b);
}

static void host_copy_replaces_at_commit(void **state)
{
	struct akvp *k = akvp_new(NULL);
	struct record rec = { 0 };
	struct rig *r = rig_new(k);
	const struct kvpool *host = akvp_pool(k, IC_POOL_HOST);

	akvp_listen(k, record_change, &rec);
	host_handshake(r, true);
	for (struct sess_frame f; host_next(r, &f, 200) == 1;)
		; /* the pools whole */
	send_host_kvp(r, IC_KVP_SET, IC_POOL_HOST, "old", "o", 3);
	assert_value(host, "old", "o");
	assert_int_equal(host->gen, 3);
	assert_int_equal(rec.n, 1);
	send_host_kvp(r, IC_KVP_BEGIN, IC_POOL_HOST, NULL, NULL, 0);
	send_host_kvp(r, IC_KVP_SET, IC_POOL_HOST, "a", "1", 0);
	send_host_kvp(r, IC_KVP_SET, IC_POOL_HOST, "b", "2", 0);
	/* not before COMMIT */
	assert_int_equal(host->n, 1);
	assert_int_equal(rec.n, 1);
	send_host_kvp(r, IC_KVP_COMMIT, IC_POOL_HOST, NULL, NULL, 7);
	assert_int_equal(host->n, 2);
	assert_value(host, "a", "1");
	assert_value(host, "b", "2");
	assert_int_equal(host->gen, 7);
	assert_int_equal(rec.n, 4); /* a, b set; old deleted (in key order) */
	assert_string_equal(rec.c[1].key, "a");
	assert_string_equal(rec.c[2].key, "b");
	assert_true(rec.c[3].deleted);
	assert_string_equal(rec.c[3].key, "old");
	assert_int_equal(rec.c[3].gen, 7);
	/* then single changes */
	send_host_kvp(r, IC_KVP_SET, IC_POOL_HOST, "c", "3", 8);
	send_host_kvp(r, IC_KVP_DELETE, IC_POOL_HOST, "a", NULL, 9);
	send_host_kvp(r, IC_KVP_DELETE, IC_POOL_HOST, "nope", NULL, 10); /* quietly nothing */
	assert_int_equal(host->n, 2);
	assert_value(host, "c", "3");
	assert_int_equal(host->gen, 9);
	/* the same copy again changes nothing and tells nothing */
	rec.n = 0;
	send_host_kvp(r, IC_KVP_BEGIN, IC_POOL_HOST, NULL, NULL, 0);
	send_host_kvp(r, IC_KVP_SET, IC_POOL_HOST, "b", "2", 0);
	send_host_kvp(r, IC_KVP_SET, IC_POOL_HOST, "c", "3", 0);
	send_host_kvp(r, IC_KVP_COMMIT, IC_POOL_HOST, NULL, NULL, 9);
	assert_int_equal(rec.n, 0);
	/* COMMIT without BEGIN */
	send_host_kvp(r, IC_KVP_COMMIT, IC_POOL_HOST, NULL, NULL, 9);
	expect_error(r, IC_KVP_COMMIT, EPROTO, "COMMIT without BEGIN");
	/* the copy outlives the link */
	rig_free(r);
	assert_int_equal(host->n, 2);
	akvp_free(k);
}

static void host_may_not_write_the_guests_pools(void **state)
{
	struct akvp *k = akvp_new(NULL);
	struct rig *r = rig_new(k);

	gset(k, "mine", "1");
	host_handshake(r, true);
	for (struct sess_frame f; host_next(r, &f, 200) == 1;)
		; /* the pools whole */
	send_host_kvp(r, IC_KVP_SET, IC_POOL_GUEST, "mine", "theirs", 0);
	expect_error(r, IC_KVP_SET, EPERM, "the host writes only the host pool");
	send_host_kvp(r, IC_KVP_DELETE, IC_POOL_GUEST, "mine", NULL, 0);
	expect_error(r, IC_KVP_DELETE, EPERM, "guest's");
	send_host_kvp(r, IC_KVP_BEGIN, IC_POOL_INTRINSIC, NULL, NULL, 0);
	expect_error(r, IC_KVP_BEGIN, EPERM, "filled by the guest agent");
	assert_value(akvp_pool(k, IC_POOL_GUEST), "mine", "1");
	/* not ours at all: the guest's requests are for the socket */
	send_host_kvp(r, IC_KVP_GET, IC_POOL_HOST, "k", NULL, 0);
	expect_error(r, IC_KVP_GET, EOPNOTSUPP, NULL);
	assert_int_equal(r->end, 0);
	rig_free(r);
	akvp_free(k);
}

/* A SET frame with a value of vlen bytes, whatever ic_enc_kvp allows. */
static void raw_set(struct sess_buf *b, uint32_t pool, const char *key, size_t vlen)
{
	static uint8_t v[IC_KVP_MAX_VALUE + 16];

	sess_begin(b, IC_KVP_SET, 0);
	sess_put_u32(b, 2, pool);
	sess_put_bytes(b, 3, key, strlen(key));
	sess_put_bytes(b, IC_TAG_TAIL, NULL, 0);
	sess_put_raw(b, v, vlen);
	sess_end(b);
}

static void host_limits_are_checked_again(void **state)
{
	struct akvp *k = akvp_new(NULL);
	struct rig *r = rig_new(k);
	const struct kvpool *host = akvp_pool(k, IC_POOL_HOST);
	struct sess_buf b = { 0 };
	char key[16];

	host_handshake(r, true);
	for (struct sess_frame f; host_next(r, &f, 200) == 1;)
		;
	raw_set(&b, IC_POOL_HOST, "big", IC_KVP_MAX_VALUE + 1);
	host_send(r, &b);
	expect_error(r, IC_KVP_SET, E2BIG, "nothing changed");
	assert_int_equal(host->n, 0);
	/* 4096 keys, then one more */
	for (int i = 0; i < IC_KVP_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "k%05d", i);
		ic_enc_kvp(&b, IC_KVP_SET,
			   &(struct ic_kvp){ .pool = IC_POOL_HOST,
					     .key = (const uint8_t *)key,
					     .key_len = (uint32_t)strlen(key) });
	}
	host_send(r, &b);
	for (int i = 0; i < 100 && host->n < IC_KVP_MAX_KEYS; i++)
		agent_round(r, 10);
	assert_int_equal(host->n, IC_KVP_MAX_KEYS);
	send_host_kvp(r, IC_KVP_SET, IC_POOL_HOST, "one", "more", 0);
	expect_error(r, IC_KVP_SET, ENOSPC, "holds 4096 keys");
	assert_null(kvpool_get(host, "one", 3));
	/* a copy that breaks a limit is dropped at COMMIT: the old copy stays */
	send_host_kvp(r, IC_KVP_BEGIN, IC_POOL_HOST, NULL, NULL, 0);
	for (int i = 0; i < 16; i++) {
		snprintf(key, sizeof(key), "big%d", i);
		raw_set(&b, IC_POOL_HOST, key, IC_KVP_MAX_VALUE);
	}
	host_send(r, &b);
	expect_error(r, IC_KVP_SET, ENOSPC, "previous copy");
	send_host_kvp(r, IC_KVP_COMMIT, IC_POOL_HOST, NULL, NULL, 99);
	expect_error(r, IC_KVP_COMMIT, ENOSPC, "keeps its previous copy");
	assert_int_equal(host->n, IC_KVP_MAX_KEYS);
	assert_int_not_equal(host->gen, 99);
	assert_int_equal(r->end, 0);
	rig_free(r);
	akvp_free(k);
}

/* ---- the mirror ---- */

static void assert_file(const char *path, const char *content, mode_t mode)
{
	char buf[256];
	struct stat st;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		fail_msg("no file %s", path);
	n = read(fd, buf, sizeof(buf));
	fstat(fd, &st);
	close(fd);
	assert_int_equal(n, strlen(content));
	assert_memory_equal(buf, content, (size_t)n);
	assert_int_equal(st.st_mode & 07777, mode);
}

static void mirror_holds_a_file_per_key(void **state)
{
	struct kvpool pools[IC_NPOOLS] = { KVPOOL_INIT, KVPOOL_INIT, KVPOOL_INIT };
	char top[160], path[400];
	struct akvf *m;
	struct stat st;

	path_of(top, sizeof(top), "run/kvp");
	m = akvf_new(top);
	kvpool_set(&pools[IC_POOL_HOST], "config/role", 11, "web", 3);
	kvpool_set(&pools[IC_POOL_GUEST], ".dot", 4, "", 0);
	kvpool_set(&pools[IC_POOL_INTRINSIC], "HostName", 8, "g1", 2);
	assert_int_equal(akvf_sync(m, pools), 0);
	snprintf(path, sizeof(path), "%s/host/config%%2Frole", top);
	assert_file(path, "web", 0644);
	snprintf(path, sizeof(path), "%s/guest/%%2Edot", top);
	assert_file(path, "", 0644);
	snprintf(path, sizeof(path), "%s/intrinsic/HostName", top);
	assert_file(path, "g1", 0644);
	assert_int_equal(stat(top, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	/* one key */
	kvpool_set(&pools[IC_POOL_HOST], "config/role", 11, "db", 2);
	akvf_change(m, IC_POOL_HOST, kvpool_get(&pools[IC_POOL_HOST], "config/role", 11), false);
	snprintf(path, sizeof(path), "%s/host/config%%2Frole", top);
	assert_file(path, "db", 0644);
	akvf_change(m, IC_POOL_HOST, kvpool_get(&pools[IC_POOL_HOST], "config/role", 11), true);
	assert_int_equal(access(path, F_OK), -1);
	/* a sync removes what is not a key, and the temporary file */
	snprintf(path, sizeof(path), "%s/guest/stale", top);
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/guest/.new", top);
	write_file(path, "x", 1);
	assert_int_equal(akvf_sync(m, pools), 0);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/guest/stale", top);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/host/config%%2Frole", top);
	assert_file(path, "db", 0644);
	/* ReadGroup: 0750 and 0640 with the group (ours, so the test may) */
	assert_true(akvf_group_differs(m, true, getegid()));
	akvf_set_group(m, true, getegid());
	assert_int_equal(akvf_sync(m, pools), 0);
	assert_file(path, "db", 0640);
	snprintf(path, sizeof(path), "%s/host", top);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_gid, getegid());
	assert_false(akvf_broken(m));
	akvf_remove_all(m);
	assert_int_equal(access(top, F_OK), -1);
	akvf_free(m);
	for (int i = 0; i < IC_NPOOLS; i++)
		kvpool_clear(&pools[i]);
}

/* ---- the intrinsic facts ---- */

static void fqdn_from_the_name_hosts_or_domain(void **state)
{
	static const char hosts[] = "# comment g1.example.com\n"
				    "127.0.0.1\tlocalhost\n"
				    "127.0.1.1 g1.lab.example g1 # the guest\n"
				    "10.0.0.9 other.example.org other\n"
				    "10.0.0.8 db db.corp.example\n";
	char buf[256];

	akvi_fqdn("g1", hosts, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "g1.lab.example");
	akvi_fqdn("db", hosts, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "db.corp.example");
	akvi_fqdn("web.x.y", hosts, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "web.x.y");
	akvi_fqdn("solo", hosts, "(none)", buf, sizeof(buf));
	assert_string_equal(buf, "solo");
	akvi_fqdn("solo", hosts, "nis.example", buf, sizeof(buf));
	assert_string_equal(buf, "solo.nis.example");
	akvi_fqdn("local", "127.0.0.1 localhost local\n", "", buf, sizeof(buf));
	assert_string_equal(buf, "local");
	akvi_rfc3339(1714552200, buf, sizeof(buf));
	assert_string_equal(buf, "2024-05-01T08:30:00Z");
}

static void intrinsic_pool_holds_the_facts(void **state)
{
	struct kvpool p = KVPOOL_INIT;
	char osr[160], hosts[160], host[256];
	struct akvi_src src = { .os_release = osr, .hosts = hosts, .agent_version = "9.9.9" };
	const struct kvp_entry *e;
	struct utsname u;

	path_of(osr, sizeof(osr), "os-release");
	path_of(hosts, sizeof(hosts), "hosts");
	{
		static const char text[] = "PRETTY_NAME=\"Testix 7\"\nID=testix\nVERSION_ID=7.1\n";

		write_file(osr, text, strlen(text));
	}
	write_file(hosts, "", 0);
	akvi_compute(&p, &src);
	gethostname(host, sizeof(host));
	uname(&u);
	assert_value(&p, "HostName", host);
	assert_value(&p, "OSName", "Testix 7");
	assert_value(&p, "OSId", "testix");
	assert_value(&p, "OSVersion", "7.1");
	assert_value(&p, "KernelVersion", u.release);
	assert_value(&p, "Architecture", u.machine);
	assert_value(&p, "AgentVersion", "9.9.9");
	assert_non_null(kvpool_get(&p, "FullyQualifiedDomainName", 24));
	e = kvpool_get(&p, "BootTime", 8);
	assert_non_null(e);
	assert_int_equal(e->value_len, 20);
	assert_int_equal(e->value[10], 'T');
	assert_int_equal(e->value[19], 'Z');
	assert_null(kvpool_get(&p, "NetworkAddressIPv4/lo", 21));
	assert_null(kvpool_get(&p, "NetworkAddressIPv6/lo", 21));
	kvpool_clear(&p);
	/* without os-release: its defaults (os-release(5)), no version */
	src.os_release = "/nonexistent/os-release";
	akvi_compute(&p, &src);
	assert_value(&p, "OSName", "Linux");
	assert_value(&p, "OSId", "linux");
	assert_null(kvpool_get(&p, "OSVersion", 9));
	assert_non_null(kvpool_get(&p, "KernelVersion", 13));
	kvpool_clear(&p);
}

static void intrinsic_replace_tells_only_differences(void **state)
{
	struct akvp *k = akvp_new(NULL);
	struct record rec = { 0 };
	uint64_t gen;

	akvp_listen(k, record_change, &rec);
	set_intrinsic(k, "A", "1");
	set_intrinsic(k, "B", "2");
	gen = akvp_pool(k, IC_POOL_INTRINSIC)->gen;
	rec.n = 0;
	set_intrinsic(k, "A", "1"); /* the same: nothing */
	assert_int_equal(rec.n, 0);
	assert_int_equal(akvp_pool(k, IC_POOL_INTRINSIC)->gen, gen);
	set_intrinsic(k, "B", NULL);
	assert_int_equal(rec.n, 1);
	assert_true(rec.c[0].deleted);
	assert_int_equal(rec.c[0].pool, IC_POOL_INTRINSIC);
	assert_int_equal(akvp_pool(k, IC_POOL_INTRINSIC)->gen, gen + 1);
	akvp_unlisten(k, record_change, &rec);
	set_intrinsic(k, "C", "3");
	assert_int_equal(rec.n, 1);
	akvp_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(file_names_escape_bytes_and_a_leading_dot),
		cmocka_unit_test(long_names_are_cut_with_a_hash),
		cmocka_unit_test(guest_pool_survives_a_restart),
		cmocka_unit_test(corrupt_pool_file_is_moved_aside),
		cmocka_unit_test(failed_save_changes_nothing),
		cmocka_unit_test(guest_limits_are_refused_with_reasons),
		cmocka_unit_test(pools_go_whole_after_state_then_each_change),
		cmocka_unit_test(state_off_sends_nothing_and_ignores_the_host),
		cmocka_unit_test(host_copy_replaces_at_commit),
		cmocka_unit_test(host_may_not_write_the_guests_pools),
		cmocka_unit_test(host_limits_are_checked_again),
		cmocka_unit_test(mirror_holds_a_file_per_key),
		cmocka_unit_test(fqdn_from_the_name_hosts_or_domain),
		cmocka_unit_test(intrinsic_pool_holds_the_facts),
		cmocka_unit_test(intrinsic_replace_tells_only_differences),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
