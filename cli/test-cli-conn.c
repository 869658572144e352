/* SPDX-License-Identifier: MIT */
/*
 * test-cli-conn.c - the host end of a session stream over a socketpair (no
 * vmsvcd, no VM): the agent's HELLO becomes our credit once, CREDIT only
 * for the channel we send on, other frames reach the request's handler in
 * order and none after it ends, the stream is not read while our queue is
 * full, and a caught signal comes out of the self-pipe.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli-conn.h"
#include "cli.h"
#include "util.h"

/* What cli-conn.c needs of the rest of the CLI. */
static char last_error[512];

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

const char *cli_runtime_dir(void)
{
	return "/nonexistent";
}

void cli_daemon_error(int err)
{
	cli_error("daemon: %d", err);
}

struct pair {
	struct cli_conn c;
	int agent; /* the other end */
	uint16_t seen[8];
	int nseen;
	bool end_at_exit; /* the handler ends the request at EXIT */
};

static int handler(void *ctx, const struct sess_frame *f)
{
	struct pair *p = ctx;

	if (p->nseen < (int)ARRAY_SIZE(p->seen))
		p->seen[p->nseen++] = f->type;
	if (f->type == SESS_EXIT && p->end_at_exit)
		p->c.done = true;
	return f->type == SESS_PING ? -EPROTO : 0;
}

static void pair_open(struct pair *p, uint16_t send_chan)
{
	int sv[2];

	*p = (struct pair){ .agent = -1 };
	assert_int_equal(cli_conn_init(&p->c, send_chan, NULL, 0), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->c.sock = sv[0];
	snprintf(p->c.vm, sizeof(p->c.vm), "VM 'test'");
	p->agent = sv[1];
}

static void pair_close(struct pair *p)
{
	cli_conn_free(&p->c);
	p->agent = safe_close(p->agent);
}

/* The agent sends what b holds. */
static void agent_send(struct pair *p, struct sess_buf *b)
{
	assert_int_equal(b->err, 0);
	assert_int_equal(write(p->agent, b->data, b->len), (ssize_t)b->len);
	sess_buf_free(b);
	*b = (struct sess_buf){ 0 };
}

static void hello(struct sess_buf *b, uint32_t window)
{
	sess_enc_hello(b, &(struct sess_hello){ .major = SESS_VERSION_MAJOR, .window = window });
}

static void test_hello_gives_credit_once(void **state)
{
	struct sess_buf b = { 0 };
	struct pair p;

	(void)state;
	pair_open(&p, SESS_CH_FILE);
	hello(&b, 1000);
	sess_frame_credit(&b, SESS_CH_FILE, 24);
	agent_send(&p, &b);
	assert_int_equal(cli_conn_read(&p.c, handler, &p), 0);
	assert_true(p.c.hello);
	assert_int_equal(p.c.credit.avail[SESS_CH_FILE], 1024);
	assert_int_equal(p.nseen, 0);
	/* A second HELLO would reset our credit: the agent broke the protocol. */
	hello(&b, 1 << 20);
	agent_send(&p, &b);
	assert_int_equal(cli_conn_read(&p.c, handler, &p), -EPROTO);
	assert_int_equal(p.c.credit.avail[SESS_CH_FILE], 1024);
	pair_close(&p);
}

static void test_hello_of_another_major_version_refused(void **state)
{
	struct sess_buf b = { 0 };
	struct pair p;

	(void)state;
	pair_open(&p, SESS_CH_STDIN);
	sess_enc_hello(&b, &(struct sess_hello){ .major = SESS_VERSION_MAJOR + 1 });
	agent_send(&p, &b);
	assert_int_equal(cli_conn_read(&p.c, handler, &p), -EPROTONOSUPPORT);
	cli_conn_lost(&p.c, -EPROTONOSUPPORT, "command", "");
	assert_non_null(strstr(last_error, "another major version"));
	pair_close(&p);
}

/* What reading HELLO and a CREDIT for credit_chan gives a connection that
 * sends on send_chan. */
static int credit_on(uint16_t send_chan, uint16_t credit_chan)
{
	struct sess_buf b = { 0 };
	struct pair p;
	int r;

	pair_open(&p, send_chan);
	hello(&b, 1000);
	sess_frame_credit(&b, credit_chan, 1);
	agent_send(&p, &b);
	r = cli_conn_read(&p.c, handler, &p);
	pair_close(&p);
	return r;
}

static void test_credit_only_for_the_channel_we_send_on(void **state)
{
	(void)state;
	assert_int_equal(credit_on(SESS_CH_FILE, SESS_CH_FILE), 0);
	assert_int_equal(credit_on(0, SESS_CH_FILE), -EPROTO); /* GET: we send no data */
	assert_int_equal(credit_on(SESS_CH_STDIN, SESS_CH_STDOUT), -EPROTO);
}

static void test_frames_reach_the_handler_until_the_end(void **state)
{
	struct sess_buf b = { 0 };
	struct pair p;

	(void)state;
	pair_open(&p, SESS_CH_STDIN);
	p.end_at_exit = true;
	hello(&b, 1000);
	sess_begin(&b, SESS_PONG, SESS_CH_CONTROL);
	sess_end(&b);
	sess_frame_eof(&b, SESS_CH_STDOUT);
	sess_enc_exit(&b, &(struct sess_exit){ .code = 3 });
	sess_frame_eof(&b, SESS_CH_STDERR); /* after the end: not handled */
	agent_send(&p, &b);
	assert_int_equal(cli_conn_read(&p.c, handler, &p), 0);
	assert_int_equal(p.nseen, 2);
	assert_int_equal(p.seen[0], SESS_EOF);
	assert_int_equal(p.seen[1], SESS_EXIT);
	assert_int_equal(cli_conn_read(&p.c, handler, &p), 0);
	assert_int_equal(p.nseen, 2);
	pair_close(&p);
}

static void test_handler_error_and_end_of_stream(void **state)
{
	struct sess_buf b = { 0 };
	struct pair p;

	(void)state;
	pair_open(&p, SESS_CH_STDIN);
	sess_begin(&b, SESS_PING, SESS_CH_CONTROL);
	sess_end(&b);
	agent_send(&p, &b);
	assert_int_equal(cli_conn_read(&p.c, handler, &p), -EPROTO);
	p.agent = safe_close(p.agent);
	assert_int_equal(cli_conn_read(&p.c, handler, &p), -ECONNRESET);
	cli_conn_lost(&p.c, -ECONNRESET, "copy", ": nothing uncommitted was kept");
	assert_string_equal(last_error,
			    "the connection to VM 'test' ended before the copy finished (the "
			    "agent or vmsvcd stopped, or the VM shut down): nothing uncommitted "
			    "was kept");
	pair_close(&p);
}

/* An agent that sends without reading cannot grow our queue without end:
 * once CLI_CONN_OUT_HIGH bytes wait, we stop reading the stream. */
static void test_not_read_while_the_queue_is_full(void **state)
{
	static uint8_t chunk[SESS_DATA_CHUNK];
	struct pair p;

	(void)state;
	pair_open(&p, SESS_CH_FILE);
	assert_true(cli_conn_events(&p.c) & POLLIN);
	assert_false(cli_conn_events(&p.c) & POLLOUT);
	while (!cli_conn_full(&p.c))
		sess_frame_data(&p.c.out, SESS_CH_FILE, chunk, sizeof(chunk));
	assert_false(cli_conn_events(&p.c) & POLLIN);
	assert_true(cli_conn_events(&p.c) & POLLOUT);
	/* The agent reads: the queue drains and reading resumes. */
	while (cli_conn_full(&p.c)) {
		static uint8_t sink[SESS_DATA_CHUNK];

		assert_int_equal(cli_conn_write(&p.c), 0);
		assert_true(read(p.agent, sink, sizeof(sink)) > 0);
	}
	assert_true(cli_conn_events(&p.c) & POLLIN);
	pair_close(&p);
}

static void test_signal_through_the_self_pipe(void **state)
{
	static const int sigs[] = { SIGUSR1 };
	struct cli_conn c;

	(void)state;
	assert_int_equal(cli_conn_init(&c, 0, sigs, ARRAY_SIZE(sigs)), 0);
	assert_true(c.sigfd >= 0);
	assert_int_equal(cli_conn_signal(&c), 0);
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(cli_conn_signal(&c), SIGUSR1);
	assert_int_equal(cli_conn_signal(&c), 0);
	cli_conn_free(&c);
	cli_conn_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_gives_credit_once),
		cmocka_unit_test(test_hello_of_another_major_version_refused),
		cmocka_unit_test(test_credit_only_for_the_channel_we_send_on),
		cmocka_unit_test(test_frames_reach_the_handler_until_the_end),
		cmocka_unit_test(test_handler_error_and_end_of_stream),
		cmocka_unit_test(test_not_read_while_the_queue_is_full),
		cmocka_unit_test(test_signal_through_the_self_pipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
