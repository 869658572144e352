/* SPDX-License-Identifier: MIT */
/*
 * test-agent-session.c - one session served by asess_serve() in a child
 * process over a socket pair (never vsock), the test playing vmsvcd and the
 * CLI: handshake errors, exec with separate output and exit status, stdin
 * and its end, not found, policy, credit (the command blocks, nothing is
 * lost), SIGNAL, the linger for a background process, and the hang-up when
 * the host goes away.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent-session.h"
#include "session.h"
#include "util.h"

static char dir[] = "/tmp/test-agent-session.XXXXXX";
static char conf_path[128], passwd_path[128], group_path[128];

struct host {
	int fd;
	pid_t agent;
	uint8_t buf[SESS_HDR_SIZE + SESS_MAX_FRAME];
	size_t len;
	uint8_t frame[SESS_HDR_SIZE + SESS_MAX_FRAME]; /* the last frame, kept */
	char out[2][65536];			       /* stdout, stderr so far */
	size_t outlen[2];
};

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int setup(void **state)
{
	char pw[256];

	assert_non_null(mkdtemp(dir));
	snprintf(conf_path, sizeof(conf_path), "%s/agent.conf", dir);
	snprintf(passwd_path, sizeof(passwd_path), "%s/passwd", dir);
	snprintf(group_path, sizeof(group_path), "%s/group", dir);
	/* The commands run as whoever runs the test: host root maps to it. */
	snprintf(pw, sizeof(pw), "tester:x:%u:%u::%s:/bin/sh\n", getuid(), getgid(), dir);
	write_file(passwd_path, pw);
	write_file(group_path, "");
	write_file(conf_path, "[Users]\nroot = tester\n");
	return 0;
}

static int teardown(void **state)
{
	unlink(conf_path);
	unlink(passwd_path);
	unlink(group_path);
	rmdir(dir);
	return 0;
}

static struct host *host_start(void)
{
	static const struct asess_ctx ctx = { conf_path, passwd_path, group_path };
	struct host *h = calloc(1, sizeof(*h));
	int sv[2];

	assert_non_null(h);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	h->agent = fork();
	assert_true(h->agent >= 0);
	if (h->agent == 0) {
		close(sv[0]);
		_exit(asess_serve(sv[1], &ctx) < 0 ? 1 : 0);
	}
	close(sv[1]);
	h->fd = sv[0];
	return h;
}

static void host_send(struct host *h, struct sess_buf *b)
{
	assert_int_equal(b->err, 0);
	assert_int_equal(write(h->fd, b->data, b->len), (ssize_t)b->len);
	sess_buf_free(b);
}

/* PEER (as vmsvcd), HELLO with window, EXEC of argv (NULL-terminated). */
static void host_exec(struct host *h, uint32_t uid, const char *user, uint32_t window,
		      uint32_t flags, const char **argv)
{
	struct sess_buf b = { 0 };
	struct sess_exec e = { .flags = flags, .argv = argv };

	while (argv[e.argc])
		e.argc++;
	sess_enc_peer(&b, &(struct sess_peer){ .uid = uid, .user = user, .vm = "t" });
	sess_enc_hello(&b, &(struct sess_hello){ .major = 1, .window = window });
	sess_enc_exec(&b, &e);
	host_send(h, &b);
}

/* The next frame within ms: 1 and *f (valid until the next call), 0 at the
 * end of the stream, -ETIMEDOUT. Output is collected as it passes. */
static int host_next(struct host *h, struct sess_frame *f, int ms)
{
	for (;;) {
		long n = sess_frame_parse(h->buf, h->len, f);
		struct pollfd p = { .fd = h->fd, .events = POLLIN };
		ssize_t r;

		assert_true(n >= 0);
		if (n > 0) {
			memcpy(h->frame, h->buf, (size_t)n);
			memmove(h->buf, h->buf + n, h->len - (size_t)n);
			h->len -= (size_t)n;
			f->payload = h->frame + SESS_HDR_SIZE;
			if (f->type == SESS_DATA && (f->chan == 2 || f->chan == 3)) {
				size_t *l = &h->outlen[f->chan - 2];
				size_t k = f->len < sizeof(h->out[0]) - *l ? f->len
									   : sizeof(h->out[0]) - *l;
				memcpy(h->out[f->chan - 2] + *l, f->payload, k);
				*l += k;
			}
			return 1;
		}
		if (poll(&p, 1, ms) <= 0)
			return -ETIMEDOUT;
		r = read(h->fd, h->buf + h->len, sizeof(h->buf) - h->len);
		if (r <= 0)
			return 0;
		h->len += (size_t)r;
	}
}

/* Skips frames until one of type; fails at the end or after ms. */
static void host_expect(struct host *h, uint16_t type, struct sess_frame *f, int ms)
{
	int r;

	while ((r = host_next(h, f, ms)) > 0)
		if (f->type == type)
			return;
	fail_msg("no frame of type %u (%d)", type, r);
}

static int host_end(struct host *h)
{
	int st;

	close(h->fd);
	assert_int_equal(waitpid(h->agent, &st, 0), h->agent);
	free(h);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void exec_separates_output_and_reports_the_status(void **state)
{
	const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	struct host *h = host_start();
	struct sess_frame f;
	struct sess_started st;
	struct sess_exit x;

	host_exec(h, 0, "root", SESS_DEFAULT_WINDOW, 0, argv);
	host_expect(h, SESS_HELLO, &f, 5000);
	host_expect(h, SESS_STARTED, &f, 5000);
	assert_int_equal(sess_dec_started(&f, &st), 0);
	assert_string_equal(st.user, "tester");
	host_expect(h, SESS_EXIT, &f, 5000);
	assert_int_equal(sess_dec_exit(&f, &x), 0);
	assert_false(x.signaled);
	assert_int_equal(x.code, 3);
	assert_false(x.output_open);
	assert_int_equal(h->outlen[0], 4);
	assert_memory_equal(h->out[0], "out\n", 4);
	assert_int_equal(h->outlen[1], 4);
	assert_memory_equal(h->out[1], "err\n", 4);
	/* EXIT is the last frame */
	assert_int_equal(host_next(h, &f, 5000), 0);
	assert_int_equal(host_end(h), 0);
}

static void stdin_is_delivered_and_its_end_closes_the_pipe(void **state)
{
	const char *argv[] = { "sh", "-c", "cat; echo after-eof", NULL };
	struct host *h = host_start();
	struct sess_buf b = { 0 };
	struct sess_frame f;
	uint32_t credited = 0, n;

	host_exec(h, 0, "root", SESS_DEFAULT_WINDOW, 0, argv);
	sess_frame_data(&b, SESS_CH_STDIN, "hello ", 6);
	sess_frame_data(&b, SESS_CH_STDIN, "world\n", 6);
	sess_frame_eof(&b, SESS_CH_STDIN);
	host_send(h, &b);
	while (host_next(h, &f, 5000) > 0 && f.type != SESS_EXIT)
		if (f.type == SESS_CREDIT && f.chan == SESS_CH_STDIN &&
		    sess_dec_credit(&f, &n) == 0)
			credited += n;
	assert_int_equal(f.type, SESS_EXIT);
	assert_int_equal(credited, 12);
	assert_int_equal(h->outlen[0], 22);
	assert_memory_equal(h->out[0], "hello world\nafter-eof\n", 22);
	assert_int_equal(host_end(h), 0);
}

static void first_frame_must_be_peer_and_only_once(void **state)
{
	struct host *h = host_start();
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct sess_error e;

	sess_enc_hello(&b, &(struct sess_hello){ .major = 1, .window = 1024 });
	host_send(h, &b);
	host_expect(h, SESS_ERROR, &f, 5000);
	assert_int_equal(sess_dec_error(&f, &e), 0);
	assert_int_equal(e.stage, SESS_STAGE_PROTOCOL);
	assert_non_null(strstr(e.message, "PEER"));
	assert_int_equal(host_end(h), 1);

	h = host_start();
	sess_enc_peer(&b, &(struct sess_peer){ .uid = 0, .user = "root" });
	sess_enc_peer(&b, &(struct sess_peer){ .uid = 0, .user = "root" });
	host_send(h, &b);
	host_expect(h, SESS_ERROR, &f, 5000);
	assert_int_equal(sess_dec_error(&f, &e), 0);
	assert_string_equal(e.message, "a second PEER frame");
	assert_int_equal(host_end(h), 1);
}

static void not_found_and_policy_are_errors_with_a_stage(void **state)
{
	const char *nf[] = { "no-such-command-here", NULL };
	const char *ok[] = { "true", NULL };
	struct host *h = host_start();
	struct sess_frame f;
	struct sess_error e;

	host_exec(h, 0, "root", SESS_DEFAULT_WINDOW, 0, nf);
	host_expect(h, SESS_ERROR, &f, 5000);
	assert_int_equal(sess_dec_error(&f, &e), 0);
	assert_int_equal(e.stage, SESS_STAGE_EXEC);
	assert_int_equal(e.err, ENOENT);
	assert_string_equal(e.message, "'no-such-command-here': command not found");
	host_end(h);

	/* alice is not in [Users]: refused, and the message names her */
	h = host_start();
	host_exec(h, 1000, "alice", SESS_DEFAULT_WINDOW, 0, ok);
	host_expect(h, SESS_ERROR, &f, 5000);
	assert_int_equal(sess_dec_error(&f, &e), 0);
	assert_int_equal(e.stage, SESS_STAGE_POLICY);
	assert_non_null(strstr(e.message, "host user 'alice' (uid 1000)"));
	host_end(h);
}

static void output_waits_for_credit_and_nothing_is_lost(void **state)
{
	const char *argv[] = { "head", "-c", "100000", "/dev/zero", NULL };
	struct host *h = host_start();
	struct sess_buf b = { 0 };
	struct sess_frame f;
	size_t got = 0;

	host_exec(h, 0, "root", 1000, 0, argv);
	while (host_next(h, &f, 500) > 0)
		if (f.type == SESS_DATA)
			got += f.len;
	/* the window is 1000 bytes: nothing more comes without credit */
	assert_int_equal(got, 1000);
	sess_frame_credit(&b, SESS_CH_STDOUT, 99000);
	host_send(h, &b);
	while (host_next(h, &f, 5000) > 0 && f.type != SESS_EXIT)
		if (f.type == SESS_DATA)
			got += f.len;
	assert_int_equal(f.type, SESS_EXIT);
	assert_int_equal(got, 100000);
	host_end(h);
}

static void signal_reaches_the_process_group(void **state)
{
	const char *argv[] = { "sleep", "100", NULL };
	struct host *h = host_start();
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct sess_exit x;

	host_exec(h, 0, "root", SESS_DEFAULT_WINDOW, 0, argv);
	host_expect(h, SESS_STARTED, &f, 5000);
	sess_frame_signal(&b, SIGUSR1);
	host_send(h, &b);
	host_expect(h, SESS_EXIT, &f, 5000);
	assert_int_equal(sess_dec_exit(&f, &x), 0);
	assert_true(x.signaled);
	assert_int_equal(x.code, SIGUSR1);
	host_end(h);
}

static void background_output_holder_gets_the_linger_only(void **state)
{
	const char *argv[] = { "sh", "-c", "sleep 30 & echo done", NULL };
	struct host *h = host_start();
	struct sess_frame f;
	struct sess_exit x;
	uint64_t t0 = now_ms();

	host_exec(h, 0, "root", SESS_DEFAULT_WINDOW, 0, argv);
	host_expect(h, SESS_EXIT, &f, 5000);
	assert_int_equal(sess_dec_exit(&f, &x), 0);
	assert_int_equal(x.code, 0);
	assert_true(x.output_open);
	assert_true(now_ms() - t0 < 2500);
	assert_memory_equal(h->out[0], "done\n", 5);
	host_end(h);
}

static void host_gone_hangs_up_the_process_group(void **state)
{
	const char *argv[] = { "sh", "-c", "trap '' HUP; sleep 60 & echo $!; wait", NULL };
	struct host *h = host_start();
	struct sess_frame f;
	struct sess_started st;
	long bg;

	host_exec(h, 0, "root", SESS_DEFAULT_WINDOW, 0, argv);
	host_expect(h, SESS_STARTED, &f, 5000);
	assert_int_equal(sess_dec_started(&f, &st), 0);
	host_expect(h, SESS_DATA, &f, 5000);
	bg = strtol(h->out[0], NULL, 10);
	assert_true(bg > 0);
	/* the stream ends: SIGHUP (ignored by sh), SIGKILL 2 s later */
	assert_int_equal(host_end(h), 1);
	assert_int_equal(kill((pid_t)st.pid, 0), -1);
	assert_int_equal(kill((pid_t)bg, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exec_separates_output_and_reports_the_status),
		cmocka_unit_test(stdin_is_delivered_and_its_end_closes_the_pipe),
		cmocka_unit_test(first_frame_must_be_peer_and_only_once),
		cmocka_unit_test(not_found_and_policy_are_errors_with_a_stage),
		cmocka_unit_test(output_waits_for_credit_and_nothing_is_lost),
		cmocka_unit_test(signal_reaches_the_process_group),
		cmocka_unit_test(background_output_holder_gets_the_linger_only),
		cmocka_unit_test(host_gone_hangs_up_the_process_group),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
