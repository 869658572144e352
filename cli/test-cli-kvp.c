/* SPDX-License-Identifier: MIT */
/*
 * test-cli-kvp.c - vmsvc kvp: the command line (host and guest mode, each
 * action's options and operands, usage errors), escaping for text output,
 * UTF-8 and base64 in JSON, the list and watch formats, and the guest side
 * against a fake vmsvc-agent on a socket pair (requests, replies by seq,
 * the agent's errors, watch events, a broken frame).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cli-kvp.h"
#include "cli.h"
#include "ic.h"

/* ---- the CLI's message functions (vmsvc.c), captured ---- */

static char messages[4096];

void cli_error(const char *fmt, ...)
{
	size_t len = strlen(messages);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(messages + len, sizeof(messages) - len, fmt, ap);
	va_end(ap);
	len = strlen(messages);
	snprintf(messages + len, sizeof(messages) - len, "\n");
}

/* ---- the command line ---- */

static int parse(struct cli_kvp_args *a, char *err, size_t size, ...)
{
	char *argv[16] = { "kvp" };
	int argc = 1;
	va_list ap;

	va_start(ap, size);
	for (char *s; argc < 15 && (s = va_arg(ap, char *));)
		argv[argc++] = s;
	va_end(ap);
	return cli_kvp_parse_args(argc, argv, a, err, size);
}

#define PARSE(...) parse(&a, err, sizeof(err), __VA_ARGS__, (char *)NULL)

static void test_args_host_and_guest_mode(void **state)
{
	struct cli_kvp_args a;
	char err[256];

	(void)state;
	assert_int_equal(PARSE("g1", "list"), 0);
	assert_false(a.guest);
	assert_string_equal(a.vm, "g1");
	assert_int_equal(a.action, CLI_KVP_LIST);
	assert_int_equal(a.pool, IC_POOL_ALL);
	assert_string_equal(a.prefix, "");
	assert_false(a.json);

	assert_int_equal(PARSE("list", "--pool", "guest", "--prefix", "Net", "--json"), 0);
	assert_true(a.guest);
	assert_null(a.vm);
	assert_int_equal(a.pool, IC_POOL_GUEST);
	assert_string_equal(a.prefix, "Net");
	assert_true(a.json);

	/* A VM named like a subcommand is taken as guest mode: its VmId works. */
	assert_int_equal(PARSE("watch", "list"), 0);
	assert_true(a.guest);
	assert_int_equal(a.action, CLI_KVP_WATCH);
	assert_string_equal(a.prefix, "list");
	assert_int_equal(PARSE("2bd4c5a8-3f4e-4b7a-9c1d-0e6f7a8b9c0d", "get", "k"), 0);
	assert_false(a.guest);
	assert_string_equal(a.key, "k");
}

static void test_args_operands(void **state)
{
	struct cli_kvp_args a;
	char err[256];

	(void)state;
	assert_int_equal(PARSE("g1", "get", "--pool", "intrinsic", "HostName"), 0);
	assert_int_equal(a.pool, IC_POOL_INTRINSIC);
	assert_string_equal(a.key, "HostName");
	/* Options after operands, and -- before a key that starts with '-'. */
	assert_int_equal(PARSE("g1", "get", "HostName", "--pool", "host"), 0);
	assert_int_equal(a.pool, IC_POOL_HOST);
	assert_int_equal(PARSE("get", "--", "-k"), 0);
	assert_string_equal(a.key, "-k");

	assert_int_equal(PARSE("g1", "set", "k", "v w"), 0);
	assert_string_equal(a.key, "k");
	assert_string_equal(a.value, "v w");
	assert_null(a.file);
	assert_int_equal(PARSE("set", "k", "--", "-5"), 0);
	assert_string_equal(a.value, "-5");
	assert_int_equal(PARSE("set", "k", "--file", "-"), 0);
	assert_null(a.value);
	assert_string_equal(a.file, "-");
	assert_int_equal(PARSE("set", "k", ""), 0);
	assert_string_equal(a.value, "");

	assert_int_equal(PARSE("g1", "delete", "k"), 0);
	assert_int_equal(a.action, CLI_KVP_DELETE);
	assert_int_equal(PARSE("g1", "watch", "--prefix", "a", "--pool", "all"), 0);
	assert_string_equal(a.prefix, "a");
	assert_int_equal(a.pool, IC_POOL_ALL);
}

static void test_args_help(void **state)
{
	struct cli_kvp_args a;
	char err[256];

	(void)state;
	assert_int_equal(PARSE("--help"), 1);
	assert_int_equal(PARSE("g1", "-h"), 1);
	assert_int_equal(PARSE("g1", "get", "--bogus", "--help"), 1);
	/* After --, --help is a key. */
	assert_int_equal(PARSE("get", "--", "--help"), 0);
	assert_string_equal(a.key, "--help");
}

/* Each usage error and a word of its message. */
static void test_args_usage_errors(void **state)
{
	static const struct {
		const char *argv[8];
		const char *says;
	} cases[] = {
		{ { NULL }, "which VM" },
		{ { "g1" }, "what about VM 'g1'" },
		{ { "g1", "frob" }, "unknown subcommand 'frob'" },
		{ { "--pool", "host", "list" }, "options come after" },
		{ { "g1", "list", "--bogus" }, "unknown option '--bogus'" },
		{ { "g1", "list", "-x" }, "unknown option '-x'" },
		{ { "g1", "list", "--pool" }, "needs a value" },
		{ { "g1", "list", "--pool", "nope" }, "unknown pool 'nope'" },
		{ { "g1", "list", "extra" }, "unexpected argument 'extra'" },
		{ { "g1", "list", "--file", "f" }, "list does not take '--file'" },
		{ { "g1", "get" }, "get needs a KEY" },
		{ { "g1", "get", "a", "b" }, "unexpected argument 'b'" },
		{ { "g1", "get", "--json", "a" }, "does not take '--json'" },
		{ { "g1", "get", "" }, "not empty" },
		{ { "g1", "set", "k" }, "set needs a VALUE or --file" },
		{ { "g1", "set", "k", "v", "--file", "f" }, "the value comes from --file" },
		{ { "set", "--pool", "host", "k", "v" }, "set does not take '--pool'" },
		{ { "g1", "delete" }, "delete needs a KEY" },
		{ { "g1", "watch", "a", "b" }, "unexpected argument 'b'" },
		{ { "watch", "--prefix", "a", "b" }, "not both" },
	};
	struct cli_kvp_args a;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[8] = { "kvp" };
		int argc = 1;
		for (; cases[i].argv[argc - 1]; argc++)
			argv[argc] = (char *)cases[i].argv[argc - 1];
		assert_int_equal(cli_kvp_parse_args(argc, argv, &a, err, sizeof(err)), -1);
		if (!strstr(err, cases[i].says))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].says);
	}
}

/* ---- text and JSON ---- */

static char *escaped(const char *p, size_t n, bool field)
{
	static char buf[512];
	char *s = cli_kvp_escape_str((const uint8_t *)p, n, field);

	assert_non_null(s);
	snprintf(buf, sizeof(buf), "%s", s);
	free(s);
	return buf;
}

static void test_escape(void **state)
{
	(void)state;
	assert_string_equal(escaped("plain", 5, true), "plain");
	assert_string_equal(escaped("a b", 3, false), "a b");
	assert_string_equal(escaped("a b", 3, true), "a\\x20b");
	assert_string_equal(escaped("l1\nl2\r\t\\", 8, false), "l1\\nl2\\r\\t\\\\");
	assert_string_equal(escaped("\x00\x01\x1b[2J\x7f", 7, false), "\\x00\\x01\\x1b[2J\\x7f");
	/* UTF-8 stays; C1 controls, stray, truncated, overlong and surrogate
	 * sequences are escaped byte by byte. */
	assert_string_equal(escaped("gr\xc3\xbc\xc3\x9f \xe2\x82\xac", 10, false),
			    "gr\xc3\xbc\xc3\x9f \xe2\x82\xac");
	assert_string_equal(escaped("\xc2\x85", 2, false), "\\xc2\\x85");
	assert_string_equal(escaped("\xff\x80", 2, false), "\\xff\\x80");
	assert_string_equal(escaped("\xe2\x82", 2, false), "\\xe2\\x82");
	assert_string_equal(escaped("\xc0\xaf", 2, false), "\\xc0\\xaf");
	assert_string_equal(escaped("\xed\xa0\x80", 3, false), "\\xed\\xa0\\x80");
	assert_string_equal(escaped("\xf0\x9f\x98\x80", 4, true), "\xf0\x9f\x98\x80");
	assert_string_equal(escaped("", 0, true), "");
}

static void test_utf8_ok(void **state)
{
	(void)state;
	assert_true(cli_kvp_utf8_ok((const uint8_t *)"", 0));
	assert_true(cli_kvp_utf8_ok((const uint8_t *)"a\n\xc3\xa4\xf4\x8f\xbf\xbf", 8));
	assert_false(cli_kvp_utf8_ok((const uint8_t *)"a\0b", 3));
	assert_false(cli_kvp_utf8_ok((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(cli_kvp_utf8_ok((const uint8_t *)"\xe0\x80\x80", 3));     /* overlong */
	assert_false(cli_kvp_utf8_ok((const uint8_t *)"\xc3", 1));
}

static void test_base64(void **state)
{
	const uint8_t bin[] = { 0, 0xff, 'a', '\n', 0x80 };
	uint8_t *out;
	size_t n;
	char *s;

	(void)state;
	s = cli_kvp_b64_encode(bin, sizeof(bin));
	assert_string_equal(s, "AP9hCoA=");
	assert_int_equal(cli_kvp_b64_decode(s, strlen(s), &out, &n), 0);
	assert_int_equal(n, sizeof(bin));
	assert_memory_equal(out, bin, n);
	free(out);
	free(s);
	s = cli_kvp_b64_encode(bin, 0);
	assert_string_equal(s, "");
	assert_int_equal(cli_kvp_b64_decode(s, 0, &out, &n), 0);
	assert_int_equal(n, 0);
	free(out);
	free(s);
	assert_int_equal(cli_kvp_b64_decode("AP9h!oA=", 8, &out, &n), -EINVAL);
	assert_int_equal(cli_kvp_b64_decode("AP9hCo", 6, &out, &n), -EINVAL);
}

static void test_json_bytes(void **state)
{
	json_object *o = json_object_new_object(), *v;
	uint8_t *out;
	size_t n;

	(void)state;
	cli_kvp_json_add_bytes(o, "key", (const uint8_t *)"k\xc3\xa4", 3);
	cli_kvp_json_add_bytes(o, "value", (const uint8_t *)"\x00\xff", 2);
	assert_true(json_object_object_get_ex(o, "key", &v));
	assert_string_equal(json_object_get_string(v), "k\xc3\xa4");
	assert_false(json_object_object_get_ex(o, "value", &v));
	assert_true(json_object_object_get_ex(o, "value_b64", &v));
	assert_string_equal(json_object_get_string(v), "AP8=");
	assert_int_equal(cli_kvp_json_get_bytes(o, "key", &out, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "k\xc3\xa4", 3);
	free(out);
	assert_int_equal(cli_kvp_json_get_bytes(o, "value", &out, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "\x00\xff", 2);
	free(out);
	assert_int_equal(cli_kvp_json_get_bytes(o, "gen", &out, &n), -ENOENT);
	json_object_object_add(o, "bad_b64", json_object_new_string("%%%"));
	assert_int_equal(cli_kvp_json_get_bytes(o, "bad", &out, &n), -EPROTO);
	json_object_object_add(o, "num", json_object_new_int(3));
	assert_int_equal(cli_kvp_json_get_bytes(o, "num", &out, &n), -EPROTO);
	json_object_put(o);
}

/* What f printed, as a string (the caller frees). */
static char *printed(void (*fn)(FILE *, const void *, bool), const void *arg, bool json)
{
	char *s = NULL;
	size_t len;
	FILE *f = open_memstream(&s, &len);

	assert_non_null(f);
	fn(f, arg, json);
	fclose(f);
	return s;
}

static void print_list(FILE *f, const void *l, bool json)
{
	cli_kvp_print_list(f, l, json);
}

static void print_event(FILE *f, const void *it, bool json)
{
	cli_kvp_print_event(f, it, json);
}

static void test_print_list_and_events(void **state)
{
	struct cli_kvp_list l = { 0 };
	struct cli_kvp_item it = { 0 };
	char *s;

	(void)state;
	assert_int_equal(cli_kvp_item_set(&it, IC_POOL_HOST, "a key", 5, "two\nlines", 9, 7), 0);
	assert_int_equal(cli_kvp_list_push(&l, &it), 0);
	assert_null(it.key);
	assert_int_equal(cli_kvp_item_set(&it, IC_POOL_INTRINSIC, "Empty", 5, "", 0, 1), 0);
	assert_int_equal(cli_kvp_list_push(&l, &it), 0);
	assert_int_equal(cli_kvp_item_set(&it, IC_POOL_GUEST, "bin", 3, "\x00\xff", 2, 2), 0);
	assert_int_equal(cli_kvp_list_push(&l, &it), 0);

	s = printed(print_list, &l, false);
	assert_string_equal(s, "host a\\x20key two\\nlines\n"
			       "intrinsic Empty\n"
			       "guest bin \\x00\\xff\n");
	free(s);
	s = printed(print_list, &l, true);
	json_object *j = json_tokener_parse(s), *v;
	assert_non_null(j);
	assert_int_equal(json_object_array_length(j), 3);
	v = json_object_array_get_idx(j, 2);
	assert_string_equal(
		json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
		"{\"pool\":\"guest\",\"key\":\"bin\",\"value_b64\":\"AP8=\",\"gen\":2}");
	json_object_put(j);
	free(s);
	/* vmsvcd's stale copy of a guest pool: said in JSON, not in text */
	l.v[2].stale = true;
	v = cli_kvp_item_json(&l.v[2], false);
	assert_string_equal(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
			    "{\"pool\":\"guest\",\"key\":\"bin\",\"value_b64\":\"AP8=\",\"gen\":2,"
			    "\"stale\":true}");
	json_object_put(v);
	l.v[2].stale = false;

	s = printed(print_event, &l.v[0], false);
	assert_string_equal(s, "set host a\\x20key two\\nlines\n");
	free(s);
	s = printed(print_event, &l.v[0], true);
	assert_string_equal(s, "{\"pool\":\"host\",\"op\":\"set\",\"key\":\"a key\","
			       "\"value\":\"two\\nlines\",\"gen\":7}\n");
	free(s);
	l.v[2].deleted = true;
	s = printed(print_event, &l.v[2], false);
	assert_string_equal(s, "delete guest bin\n");
	free(s);
	s = printed(print_event, &l.v[2], true);
	assert_string_equal(s,
			    "{\"pool\":\"guest\",\"op\":\"delete\",\"key\":\"bin\",\"gen\":2}\n");
	free(s);
	cli_kvp_list_clear(&l);
	assert_true(cli_kvp_has_prefix((const uint8_t *)"NetworkAddressIPv4/eth0", 23, "Network"));
	assert_true(cli_kvp_has_prefix((const uint8_t *)"x", 1, ""));
	assert_false(cli_kvp_has_prefix((const uint8_t *)"Net", 3, "Network"));
}

/* ---- the guest side against a fake agent ---- */

/* What the fake agent got (one record per request frame). */
struct req {
	uint16_t type;
	uint32_t seq, pool;
	char key[IC_KVP_MAX_KEY + 1];
	uint8_t value[64];
	size_t value_len;
};

struct fake;
/* Answers request r (the agent writes to f->fd). */
typedef void serve_fn(struct fake *f, const struct req *r);

struct fake {
	int fd;
	serve_fn *serve;
	struct req reqs[8];
	unsigned nreqs;
	bool broken; /* a frame that did not decode */
};

static void put(struct fake *f, struct sess_buf *b)
{
	size_t off = 0;

	while (b->err == 0 && off < b->len) {
		ssize_t n = send(f->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	sess_buf_free(b);
}

static void reply_kvp(struct fake *f, uint16_t type, uint32_t seq, uint32_t pool, const char *key,
		      const void *value, size_t value_len)
{
	struct sess_buf b = { 0 };
	struct ic_kvp k = { .seq = seq,
			    .pool = pool,
			    .key = (const uint8_t *)key,
			    .key_len = key ? (uint32_t)strlen(key) : 0,
			    .value = value,
			    .value_len = (uint32_t)value_len,
			    .gen = 1 };

	ic_enc_kvp(&b, type, &k);
	put(f, &b);
}

static void reply_done(struct fake *f, uint32_t seq)
{
	reply_kvp(f, IC_KVP_DONE, seq, 0, NULL, NULL, 0);
}

static void reply_error(struct fake *f, const struct req *r, uint32_t err, const char *msg)
{
	struct sess_buf b = { 0 };
	struct ic_error e = { .seq = r->seq, .type = r->type, .err = err, .message = msg };

	ic_enc_error(&b, &e);
	put(f, &b);
}

static void record(struct fake *f, const struct sess_frame *fr)
{
	struct req *r = &f->reqs[f->nreqs];
	struct ic_kvp k;

	if (f->nreqs == 8 || ic_dec_kvp(fr, &k) < 0) {
		f->broken = true;
		return;
	}
	f->nreqs++;
	*r = (struct req){ .type = fr->type, .seq = k.seq, .pool = k.pool };
	if (k.key_len)
		memcpy(r->key, k.key, k.key_len);
	r->value_len = k.value_len < sizeof(r->value) ? k.value_len : sizeof(r->value);
	if (r->value_len)
		memcpy(r->value, k.value, r->value_len);
	f->serve(f, r);
}

/* The agent's thread: records and answers requests until end of stream. */
static void *fake_agent(void *arg)
{
	struct fake *f = arg;
	static uint8_t buf[SESS_HDR_SIZE + IC_MAX_FRAME];
	size_t len = 0;
	ssize_t n;

	while ((n = read(f->fd, buf + len, sizeof(buf) - len)) > 0) {
		struct sess_frame fr;
		long used;
		len += (size_t)n;
		while ((used = ic_frame_parse(buf, len, &fr)) > 0) {
			record(f, &fr);
			memmove(buf, buf + used, len - (size_t)used);
			len -= (size_t)used;
		}
		if (used < 0)
			f->broken = true;
	}
	return NULL;
}

/*
 * Runs the command line kvp ARGS... (guest mode) against a fake agent
 * answering with serve. Returns the exit code; *out what it printed (the
 * caller frees), f the requests.
 */
static int run_guest(struct fake *f, serve_fn *serve, char **out, const struct cli_kvp_value *v,
		     ...)
{
	char *argv[16] = { "kvp" }, err[256];
	int argc = 1, sv[2], r;
	struct cli_kvp_args a;
	pthread_t t;
	size_t len;
	va_list ap;

	va_start(ap, v);
	for (char *s; argc < 15 && (s = va_arg(ap, char *));)
		argv[argc++] = s;
	va_end(ap);
	assert_int_equal(cli_kvp_parse_args(argc, argv, &a, err, sizeof(err)), 0);
	assert_true(a.guest);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	*f = (struct fake){ .fd = sv[1], .serve = serve };
	assert_int_equal(pthread_create(&t, NULL, fake_agent, f), 0);
	messages[0] = '\0';
	FILE *o = open_memstream(out, &len);
	r = cli_kvp_guest_run_fd(sv[0], &a, v, o);
	fclose(o);
	close(sv[0]);
	pthread_join(t, NULL);
	close(sv[1]);
	assert_false(f->broken);
	return r;
}

#define RUN(f, serve, out, ...) run_guest(f, serve, out, NULL, __VA_ARGS__, (char *)NULL)

/* The key is in the guest pool only. */
static void serve_get_guest(struct fake *f, const struct req *r)
{
	if (r->pool == IC_POOL_GUEST)
		reply_kvp(f, IC_KVP_VALUE, r->seq, r->pool, r->key, "v\0\n\xff", 4);
	else
		reply_error(f, r, ENOENT, "no such key");
}

static void test_guest_get_asks_host_guest_intrinsic_in_turn(void **state)
{
	struct fake f;
	char *out;

	(void)state;
	assert_int_equal(RUN(&f, serve_get_guest, &out, "get", "k"), 0);
	assert_int_equal(f.nreqs, 2);
	assert_int_equal(f.reqs[0].type, IC_KVP_GET);
	assert_int_equal(f.reqs[0].pool, IC_POOL_HOST);
	assert_int_equal(f.reqs[1].pool, IC_POOL_GUEST);
	assert_int_not_equal(f.reqs[0].seq, f.reqs[1].seq);
	assert_string_equal(f.reqs[1].key, "k");
	assert_memory_equal(out, "v\0\n\xff", 4); /* exactly the bytes, no newline */
	free(out);

	assert_int_equal(RUN(&f, serve_get_guest, &out, "get", "--pool", "intrinsic", "k"), 1);
	assert_int_equal(f.nreqs, 1);
	assert_int_equal(f.reqs[0].pool, IC_POOL_INTRINSIC);
	assert_non_null(strstr(messages, "no key 'k' in the intrinsic pool"));
	assert_string_equal(out, "");
	free(out);
}

static void serve_get_none(struct fake *f, const struct req *r)
{
	reply_error(f, r, ENOENT, NULL);
}

static void test_guest_get_missing_everywhere_is_exit_1(void **state)
{
	struct fake f;
	char *out;

	(void)state;
	assert_int_equal(RUN(&f, serve_get_none, &out, "get", "a b"), CLI_KVP_EXIT_NOT_FOUND);
	assert_int_equal(f.nreqs, 3);
	assert_int_equal(f.reqs[2].pool, IC_POOL_INTRINSIC);
	assert_non_null(strstr(messages, "no key 'a\\x20b' in any pool"));
	free(out);
}

/* A stray HELLO and a frame of another seq come first; the agent sends
 * one key the prefix does not match (filtered here too). */
static void serve_list(struct fake *f, const struct req *r)
{
	struct sess_buf b = { 0 };
	struct ic_hello h = { .min = 1, .max = 1 };

	ic_enc_hello(&b, &h);
	put(f, &b);
	reply_kvp(f, IC_KVP_VALUE, r->seq + 100, IC_POOL_HOST, "Netzzz", "x", 1);
	reply_kvp(f, IC_KVP_VALUE, r->seq, IC_POOL_HOST, "Net a", "1\t2", 3);
	reply_kvp(f, IC_KVP_VALUE, r->seq, IC_POOL_INTRINSIC, "NetworkAddressIPv4/eth0",
		  "10.0.2.15", 9);
	reply_kvp(f, IC_KVP_VALUE, r->seq, IC_POOL_INTRINSIC, "OSName", "x", 1);
	reply_done(f, r->seq);
}

static void test_guest_list_text_and_json(void **state)
{
	struct fake f;
	char *out;

	(void)state;
	assert_int_equal(RUN(&f, serve_list, &out, "list", "--prefix", "Net"), 0);
	assert_int_equal(f.nreqs, 1);
	assert_int_equal(f.reqs[0].type, IC_KVP_LIST);
	assert_int_equal(f.reqs[0].pool, IC_POOL_ALL);
	assert_string_equal(f.reqs[0].key, "Net");
	assert_string_equal(out, "host Net\\x20a 1\\t2\n"
				 "intrinsic NetworkAddressIPv4/eth0 10.0.2.15\n");
	free(out);

	assert_int_equal(RUN(&f, serve_list, &out, "list", "--json", "--pool", "intrinsic"), 0);
	assert_int_equal(f.reqs[0].pool, IC_POOL_INTRINSIC);
	json_object *j = json_tokener_parse(out);
	assert_non_null(j);
	assert_int_equal(json_object_array_length(j), 3);
	json_object_put(j);
	free(out);
}

static void serve_set(struct fake *f, const struct req *r)
{
	if (strcmp(r->key, "denied") == 0)
		reply_error(f, r, EPERM, "only root or group kvpw may write the guest pool");
	else if (strcmp(r->key, "full") == 0)
		reply_error(f, r, ENOSPC, "the guest pool holds 4096 keys already");
	else if (strcmp(r->key, "gone") == 0)
		reply_error(f, r, ENOENT, "no such key");
	else
		reply_done(f, r->seq);
}

static void test_guest_set_and_delete(void **state)
{
	struct cli_kvp_value v = { (const uint8_t *)"\x00\x01zz", 4 };
	struct fake f;
	char *out;

	(void)state;
	assert_int_equal(run_guest(&f, serve_set, &out, &v, "set", "k", "--file", "x", NULL), 0);
	assert_int_equal(f.nreqs, 1);
	assert_int_equal(f.reqs[0].type, IC_KVP_SET_REQ);
	assert_int_equal(f.reqs[0].pool, IC_POOL_GUEST);
	assert_string_equal(f.reqs[0].key, "k");
	assert_int_equal(f.reqs[0].value_len, 4);
	assert_memory_equal(f.reqs[0].value, "\x00\x01zz", 4);
	assert_string_equal(out, "");
	free(out);

	assert_int_equal(RUN(&f, serve_set, &out, "delete", "k"), 0);
	assert_int_equal(f.reqs[0].type, IC_KVP_DEL_REQ);
	assert_int_equal(f.reqs[0].pool, IC_POOL_GUEST);
	free(out);
	assert_int_equal(RUN(&f, serve_set, &out, "delete", "gone"), CLI_KVP_EXIT_NOT_FOUND);
	assert_non_null(strstr(messages, "no key 'gone' in the guest pool"));
	free(out);
}

static void test_guest_agent_errors_are_shown(void **state)
{
	struct cli_kvp_value v = { (const uint8_t *)"v", 1 };
	struct fake f;
	char *out;

	(void)state;
	assert_int_equal(run_guest(&f, serve_set, &out, &v, "set", "denied", "v", NULL),
			 CLI_KVP_EXIT_FAIL);
	assert_non_null(strstr(messages, "only root or group kvpw may write the guest pool"));
	assert_non_null(strstr(messages, strerror(EPERM)));
	free(out);
	assert_int_equal(run_guest(&f, serve_set, &out, &v, "set", "full", "v", NULL),
			 CLI_KVP_EXIT_FAIL);
	assert_non_null(strstr(messages, "4096 keys already"));
	assert_non_null(strstr(messages, "limits: keys 1-512 bytes"));
	free(out);
}

/* DONE, a SET, a DELETE, an event outside the prefix, then the agent goes. */
static void serve_watch(struct fake *f, const struct req *r)
{
	reply_done(f, r->seq);
	reply_kvp(f, IC_KVP_SET, r->seq, IC_POOL_HOST, "job/1", "started", 7);
	reply_kvp(f, IC_KVP_SET, r->seq, IC_POOL_HOST, "other", "x", 1);
	reply_kvp(f, IC_KVP_DELETE, r->seq, IC_POOL_HOST, "job/1", NULL, 0);
	shutdown(f->fd, SHUT_WR);
}

static void test_guest_watch_prints_events_until_the_stream_ends(void **state)
{
	struct fake f;
	char *out;

	(void)state;
	assert_int_equal(RUN(&f, serve_watch, &out, "watch", "--pool", "host", "job/"),
			 CLI_KVP_EXIT_FAIL);
	assert_int_equal(f.reqs[0].type, IC_KVP_WATCH);
	assert_int_equal(f.reqs[0].pool, IC_POOL_HOST);
	assert_string_equal(f.reqs[0].key, "job/");
	assert_string_equal(out, "set host job/1 started\ndelete host job/1\n");
	assert_non_null(strstr(messages, "vmsvc-agent closed the connection"));
	free(out);

	assert_int_equal(RUN(&f, serve_watch, &out, "watch", "--json"), CLI_KVP_EXIT_FAIL);
	assert_int_equal(f.reqs[0].pool, IC_POOL_ALL);
	assert_non_null(strstr(out, "{\"pool\":\"host\",\"op\":\"delete\",\"key\":\"job/1\""));
	free(out);
}

/* A header with a length over IC_MAX_FRAME. */
static void serve_garbage(struct fake *f, const struct req *r)
{
	const uint8_t bad[8] = { IC_KVP_VALUE, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f };

	(void)r;
	(void)!send(f->fd, bad, sizeof(bad), MSG_NOSIGNAL);
}

static void serve_wrong_type(struct fake *f, const struct req *r)
{
	reply_kvp(f, IC_KVP_SET, r->seq, IC_POOL_HOST, "k", "v", 1);
}

static void test_guest_broken_answers_are_exit_125(void **state)
{
	struct fake f;
	char *out;

	(void)state;
	assert_int_equal(RUN(&f, serve_garbage, &out, "get", "k"), CLI_KVP_EXIT_FAIL);
	assert_non_null(strstr(messages, "does not decode"));
	free(out);
	assert_int_equal(RUN(&f, serve_wrong_type, &out, "list"), CLI_KVP_EXIT_FAIL);
	assert_non_null(strstr(messages, "does not decode"));
	assert_string_equal(out, ""); /* nothing half-listed */
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_host_and_guest_mode),
		cmocka_unit_test(test_args_operands),
		cmocka_unit_test(test_args_help),
		cmocka_unit_test(test_args_usage_errors),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_utf8_ok),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_json_bytes),
		cmocka_unit_test(test_print_list_and_events),
		cmocka_unit_test(test_guest_get_asks_host_guest_intrinsic_in_turn),
		cmocka_unit_test(test_guest_get_missing_everywhere_is_exit_1),
		cmocka_unit_test(test_guest_list_text_and_json),
		cmocka_unit_test(test_guest_set_and_delete),
		cmocka_unit_test(test_guest_agent_errors_are_shown),
		cmocka_unit_test(test_guest_watch_prints_events_until_the_stream_ends),
		cmocka_unit_test(test_guest_broken_answers_are_exit_125),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
