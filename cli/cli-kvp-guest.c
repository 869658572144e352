/* SPDX-License-Identifier: MIT */
/*
 * cli-kvp-guest.c - vmsvc kvp ... inside a guest: the pools through
 * vmsvc-agent's Unix socket (CLI_KVP_AGENT_SOCKET), with the frames of
 * proto/ic.h (docs/integration-services.md, "In the guest").
 *
 * One request per connection, no HELLO: GET -> VALUE or ERROR; LIST ->
 * VALUE..., DONE; WATCH -> DONE, then SET/DELETE per change; SET_REQ and
 * DEL_REQ -> DONE or ERROR. Replies carry the request's seq; frames with
 * another seq (and a HELLO, should an agent send one) are skipped. get
 * without a pool asks host, guest and intrinsic in turn. set and delete
 * write the guest pool, the only one a guest may write.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli-kvp.h"
#include "cli.h"
#include "ic.h"
#include "util.h"

#define REPLY_TIMEOUT_MS 10000
#define IN_CAP		 (SESS_HDR_SIZE + IC_MAX_FRAME)

/* A connection to the agent and its receive buffer. */
struct conn {
	int fd; /* the caller's */
	FILE *out;
	const struct cli_kvp_args *a;
	uint8_t *in;
	size_t len;  /* bytes in in[] */
	size_t used; /* bytes of in[] the last frame spans (dropped next) */
};

const char *cli_kvp_agent_socket(void)
{
	const char *env = getenv("VMSVC_KVP_SOCKET");

	return env && *env ? env : CLI_KVP_AGENT_SOCKET;
}

static int protocol_error(const char *why)
{
	cli_error("vmsvc-agent's answer does not decode (%s; a vmsvc-agent of another "
		  "version?)",
		  why);
	return CLI_KVP_EXIT_FAIL;
}

static int send_kvp(struct conn *c, uint16_t type, const struct ic_kvp *k)
{
	struct sess_buf b = { 0 };
	size_t off = 0;
	int r = 0;

	ic_enc_kvp(&b, type, k);
	if (b.err) {
		r = b.err;
		cli_error("cannot make the %s request: %s", ic_type_name(type), strerror(-r));
	}
	while (!r && off < b.len) {
		ssize_t n = send(c->fd, b.data + off, b.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			cli_error("cannot send to vmsvc-agent: %s", strerror(errno));
		}
		off += n > 0 ? (size_t)n : 0;
	}
	sess_buf_free(&b);
	return r ? CLI_KVP_EXIT_FAIL : 0;
}

/*
 * The next frame into *f (pointing into c->in, valid until the next call),
 * waiting up to timeout_ms (-1: forever). 0, or an exit code with the
 * reason printed.
 */
static int recv_frame(struct conn *c, struct sess_frame *f, int timeout_ms)
{
	c->len -= c->used;
	memmove(c->in, c->in + c->used, c->len);
	c->used = 0;
	for (;;) {
		long n = ic_frame_parse(c->in, c->len, f);
		if (n < 0)
			return protocol_error("a malformed or oversized frame");
		if (n > 0) {
			c->used = (size_t)n;
			return 0;
		}
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			cli_error("vmsvc-agent did not answer within %d s", timeout_ms / 1000);
			return CLI_KVP_EXIT_FAIL;
		}
		ssize_t got = r < 0 ? -1 : read(c->fd, c->in + c->len, IN_CAP - c->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			cli_error("vmsvc-agent closed the connection%s%s%s",
				  got < 0 ? " (" : " without an answer (it stopped or restarted)",
				  got < 0 ? strerror(errno) : "", got < 0 ? ")" : "");
			return CLI_KVP_EXIT_FAIL;
		}
		c->len += (size_t)got;
	}
}

/* What the agent's ERROR means for the user. */
static int agent_error(const struct conn *c, const struct ic_error *e)
{
	const char *act = cli_kvp_action_name(c->a->action);
	bool writing = c->a->action == CLI_KVP_SET || c->a->action == CLI_KVP_DELETE;
	const char *msg = e->message && *e->message ? e->message : NULL;

	if (msg)
		cli_error("vmsvc-agent refused %s: %s (%s)", act, msg, strerror((int)e->err));
	else
		cli_error("vmsvc-agent refused %s: %s", act, strerror((int)e->err));
	if ((e->err == EACCES || e->err == EPERM) && !msg)
		cli_error("%s", writing ? "only root and the agent's [KVP] WriteGroup= may write "
					  "the guest pool"
					: "the agent's [KVP] ReadGroup= restricts reading to root "
					  "and that group");
	else if (e->err == E2BIG || e->err == ENOSPC)
		cli_error("limits: keys 1-%d bytes, values up to %d bytes, %d keys and %d bytes "
			  "(keys and values) per pool",
			  IC_KVP_MAX_KEY, IC_KVP_MAX_VALUE, IC_KVP_MAX_KEYS, IC_KVP_MAX_POOL);
	return CLI_KVP_EXIT_FAIL;
}

/* A reply to request seq: 0 with *type and *k (or *e for ERROR), or an
 * exit code. Skips HELLO and frames of other requests. */
static int recv_reply(struct conn *c, uint32_t seq, int timeout_ms, uint16_t *type,
		      struct ic_kvp *k, struct ic_error *e)
{
	struct sess_frame f;

	for (;;) {
		int r = recv_frame(c, &f, timeout_ms);
		if (r)
			return r;
		*type = f.type;
		if (f.type == IC_HELLO)
			continue;
		if (f.type == IC_ERROR) {
			if (ic_dec_error(&f, e) < 0)
				return protocol_error("a malformed ERROR");
			if (e->seq == seq || e->seq == 0)
				return 0;
			continue;
		}
		if (f.type < IC_KVP_SET || f.type > IC_KVP_DEL_REQ)
			return protocol_error(ic_type_name(f.type));
		if (ic_dec_kvp(&f, k) < 0)
			return protocol_error(ic_type_name(f.type));
		if (k->seq == seq)
			return 0;
	}
}

static int not_found(const struct conn *c)
{
	const struct cli_kvp_args *a = c->a;
	_cleanup_free_ char *key =
		cli_kvp_escape_str((const uint8_t *)a->key, strlen(a->key), true);

	if (a->action == CLI_KVP_DELETE)
		cli_error("no key '%s' in the guest pool", key ? key : "?");
	else if (a->pool != IC_POOL_ALL)
		cli_error("no key '%s' in the %s pool", key ? key : "?", ic_pool_name(a->pool));
	else
		cli_error("no key '%s' in any pool (host, guest, intrinsic)", key ? key : "?");
	return CLI_KVP_EXIT_NOT_FOUND;
}

static int unexpected(uint16_t type)
{
	return protocol_error(ic_type_name(type));
}

static struct ic_kvp request(uint32_t seq, uint32_t pool, const char *key)
{
	return (struct ic_kvp){ .seq = seq,
				.pool = pool,
				.key = (const uint8_t *)key,
				.key_len = (uint32_t)strlen(key) };
}

static int guest_get(struct conn *c)
{
	static const uint32_t order[] = { IC_POOL_HOST, IC_POOL_GUEST, IC_POOL_INTRINSIC };
	const struct cli_kvp_args *a = c->a;
	size_t n = a->pool == IC_POOL_ALL ? ARRAY_SIZE(order) : 1;

	for (uint32_t i = 0; i < n; i++) {
		struct ic_kvp req = request(i + 1, n == 1 ? a->pool : order[i], a->key), k;
		struct ic_error e;
		uint16_t type;
		int r = send_kvp(c, IC_KVP_GET, &req);
		if (!r)
			r = recv_reply(c, i + 1, REPLY_TIMEOUT_MS, &type, &k, &e);
		if (r)
			return r;
		if (type == IC_ERROR && e.err == ENOENT)
			continue;
		if (type == IC_ERROR)
			return agent_error(c, &e);
		if (type != IC_KVP_VALUE)
			return unexpected(type);
		if (fwrite(k.value, 1, k.value_len, c->out) != k.value_len || fflush(c->out)) {
			cli_error("cannot write the value to stdout: %s", strerror(errno));
			return CLI_KVP_EXIT_FAIL;
		}
		return EXIT_OK;
	}
	return not_found(c);
}

static int guest_list(struct conn *c)
{
	struct ic_kvp req = request(1, c->a->pool, c->a->prefix), k;
	struct cli_kvp_list l = { 0 };
	struct cli_kvp_item it = { 0 };
	struct ic_error e;
	uint16_t type;
	int r = send_kvp(c, IC_KVP_LIST, &req);

	while (!r && !(r = recv_reply(c, 1, REPLY_TIMEOUT_MS, &type, &k, &e))) {
		if (type == IC_KVP_DONE)
			break;
		if (type == IC_ERROR)
			r = agent_error(c, &e);
		else if (type != IC_KVP_VALUE)
			r = unexpected(type);
		else if (!cli_kvp_has_prefix(k.key, k.key_len, c->a->prefix))
			continue;
		else if (cli_kvp_item_set(&it, k.pool, k.key, k.key_len, k.value, k.value_len,
					  k.gen) < 0 ||
			 cli_kvp_list_push(&l, &it) < 0)
			r = CLI_KVP_EXIT_FAIL, cli_error("out of memory");
	}
	if (!r)
		cli_kvp_print_list(c->out, &l, c->a->json);
	cli_kvp_list_clear(&l);
	return r;
}

static int guest_change(struct conn *c, const struct cli_kvp_value *v)
{
	bool set = c->a->action == CLI_KVP_SET;
	struct ic_kvp req = request(1, IC_POOL_GUEST, c->a->key), k;
	struct ic_error e;
	uint16_t type;
	int r;

	if (set) {
		req.value = v->p;
		req.value_len = (uint32_t)v->n;
	}
	r = send_kvp(c, set ? IC_KVP_SET_REQ : IC_KVP_DEL_REQ, &req);
	if (!r)
		r = recv_reply(c, 1, REPLY_TIMEOUT_MS, &type, &k, &e);
	if (r)
		return r;
	if (type == IC_ERROR && e.err == ENOENT && !set)
		return not_found(c);
	if (type == IC_ERROR)
		return agent_error(c, &e);
	return type == IC_KVP_DONE ? EXIT_OK : unexpected(type);
}

/* After DONE: an event per SET or DELETE until the stream ends. */
static int guest_watch(struct conn *c)
{
	struct ic_kvp req = request(1, c->a->pool, c->a->prefix), k;
	struct cli_kvp_item it = { 0 };
	struct ic_error e;
	uint16_t type;
	bool started = false;
	int r = send_kvp(c, IC_KVP_WATCH, &req);

	while (!r && !(r = recv_reply(c, 1, started ? -1 : REPLY_TIMEOUT_MS, &type, &k, &e))) {
		if (type == IC_ERROR)
			r = agent_error(c, &e);
		else if (!started && type == IC_KVP_DONE)
			started = true;
		else if (!started || (type != IC_KVP_SET && type != IC_KVP_DELETE))
			r = unexpected(type);
		else if (!cli_kvp_has_prefix(k.key, k.key_len, c->a->prefix))
			continue;
		else if (cli_kvp_item_set(&it, k.pool, k.key, k.key_len, k.value, k.value_len,
					  k.gen) < 0)
			r = CLI_KVP_EXIT_FAIL, cli_error("out of memory");
		else
			it.deleted = type == IC_KVP_DELETE,
			cli_kvp_print_event(c->out, &it, c->a->json);
	}
	cli_kvp_item_clear(&it);
	return r;
}

int cli_kvp_guest_run_fd(int fd, const struct cli_kvp_args *a, const struct cli_kvp_value *v,
			 FILE *out)
{
	struct conn c = { .fd = fd, .out = out, .a = a, .in = malloc(IN_CAP) };
	int r = CLI_KVP_EXIT_FAIL;

	if (!c.in)
		return cli_error("out of memory"), CLI_KVP_EXIT_FAIL;
	switch (a->action) {
	case CLI_KVP_GET:
		r = guest_get(&c);
		break;
	case CLI_KVP_LIST:
		r = guest_list(&c);
		break;
	case CLI_KVP_SET:
	case CLI_KVP_DELETE:
		r = guest_change(&c, v);
		break;
	case CLI_KVP_WATCH:
		r = guest_watch(&c);
		break;
	}
	free(c.in);
	return r;
}

/* Connects to the agent: the fd (the caller closes it), or -1 with why. */
static int agent_connect(const struct cli_kvp_args *a)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = cli_kvp_agent_socket();
	_cleanup_close_ int fd = -1;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) >= (int)sizeof(sa.sun_path)) {
		cli_error("the socket path %s is too long", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		if (err == ENOENT || err == ECONNREFUSED) {
			cli_error("cannot reach vmsvc-agent at %s (%s): is vmsvc-agent running?",
				  path, strerror(err));
			cli_error("without a VM, 'vmsvc kvp' talks to the agent of the guest it "
				  "runs in; on the host, name the VM: vmsvc kvp VM %s ...",
				  cli_kvp_action_name(a->action));
		} else
			cli_error("cannot reach vmsvc-agent at %s: %s", path, strerror(err));
		return -1;
	}
	return TAKE_FD(fd);
}

int cli_kvp_guest_run(const struct cli_kvp_args *a, const struct cli_kvp_value *v)
{
	_cleanup_close_ int fd = agent_connect(a);

	if (fd < 0)
		return CLI_KVP_EXIT_FAIL;
	return cli_kvp_guest_run_fd(fd, a, v, stdout);
}
