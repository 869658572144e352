/* SPDX-License-Identifier: MIT */
/*
 * test-lstream.c - unit tests of the line streams to control clients
 * (lstream.c) on a real libuv loop, with the test as the client: lines
 * arrive whole and in order, a watch that overflows sends its overflow
 * line after the rest of a partly written line and ends, a list is made
 * as the client reads and ends after its last line, a client closing its
 * end is noticed, a released list finishes alone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lstream.h"

static const char overflow_line[] = "{\"op\":\"overflow\"}\n";

struct owner {
	int gone;
	int lines, made; /* a list: lines to make, made so far */
	size_t line_len;
};

static void on_gone(void *opaque, struct lstream *ls)
{
	(void)ls;
	((struct owner *)opaque)->gone++;
}

static bool fill(void *opaque, struct lstream *ls)
{
	struct owner *o = opaque;
	char line[64];
	size_t made = 0;

	while (o->made < o->lines && made < LST_CHUNK) {
		int n = snprintf(line, sizeof(line), "line %d\n", o->made++);
		assert_int_equal(lst_write(ls, line, (size_t)n), 0);
		made += (size_t)n;
	}
	return o->made == o->lines;
}

static uint64_t ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop and reads fd (non-blocking) until EOF; the bytes read,
 * malloc'd, NUL-terminated, their count in *n. Fails after 10 s. */
static char *read_all(uv_loop_t *loop, int fd, size_t *n)
{
	size_t cap = 1 << 16;
	char *buf = malloc(cap + 1);
	uint64_t end = ms() + 10000;

	*n = 0;
	for (;;) {
		ssize_t r;
		uv_run(loop, UV_RUN_NOWAIT);
		if (*n == cap)
			buf = realloc(buf, (cap *= 2) + 1);
		r = recv(fd, buf + *n, cap - *n, MSG_DONTWAIT);
		if (r == 0)
			break;
		if (r > 0)
			*n += (size_t)r;
		else if (errno != EAGAIN)
			fail_msg("recv: %s", strerror(errno));
		else if (ms() > end)
			fail_msg("no EOF within 10 s (%zu bytes read)", *n);
		else
			usleep(1000);
	}
	buf[*n] = '\0';
	return buf;
}

static void settle(uv_loop_t *loop)
{
	for (int i = 0; i < 20; i++)
		uv_run(loop, UV_RUN_NOWAIT);
}

static void test_watch_lines_arrive_in_order_and_end_on_overflow(void **state)
{
	uv_loop_t loop;
	struct owner o = { 0 };
	struct lstream *ls;
	size_t n;
	int fd;
	char *got;

	(void)state;
	uv_loop_init(&loop);
	ls = lst_new(&loop, 1000, 64, overflow_line,
		     &(struct lst_hooks){ .gone = on_gone, .opaque = &o }, &fd);
	assert_non_null(ls);
	assert_int_equal(lst_count(1000), 1);
	assert_int_equal(lst_write(ls, "a\n", 2), 0);
	assert_int_equal(lst_write(ls, "bb\n", 3), 0);
	settle(&loop); /* written: the queue is empty again */
	for (int i = 0; i < 8; i++)
		assert_int_equal(lst_write(ls, "0123456\n", 8), 0); /* 64 bytes queued */
	assert_int_equal(lst_write(ls, "0123456\n", 8), -ENOBUFS);
	assert_int_equal(o.gone, 0); /* hooks run from the loop only */
	/* what was queued is dropped: the watch fell behind anyway */
	got = read_all(&loop, fd, &n);
	assert_string_equal(got, "a\nbb\n{\"op\":\"overflow\"}\n");
	free(got);
	settle(&loop);
	assert_int_equal(o.gone, 1);
	assert_int_equal(lst_count(1000), 0);
	close(fd);
	uv_loop_close(&loop);
}

static void test_a_client_closing_its_end_is_noticed(void **state)
{
	uv_loop_t loop;
	struct owner o = { 0 };
	int fd;

	(void)state;
	uv_loop_init(&loop);
	assert_non_null(lst_new(&loop, 1000, 64, overflow_line,
				&(struct lst_hooks){ .gone = on_gone, .opaque = &o }, &fd));
	settle(&loop);
	assert_int_equal(o.gone, 0);
	close(fd);
	settle(&loop);
	assert_int_equal(o.gone, 1);
	assert_int_equal(lst_count(1000), 0);
	uv_loop_close(&loop);
}

static void test_overflow_keeps_the_line_partly_written_then_sends_its_line_and_ends(void **st)
{
	size_t big = 2 << 20, more = 3 << 19; /* larger than any socket buffer */
	char *a = malloc(big), *b = malloc(more), *got;
	uv_loop_t loop;
	struct owner o = { 0 };
	struct lstream *ls;
	size_t n;
	int fd;

	(void)st;
	memset(a, 'a', big);
	a[big - 1] = '\n';
	memset(b, 'b', more);
	b[more - 1] = '\n';
	uv_loop_init(&loop);
	ls = lst_new(&loop, 1000, 3 << 20, overflow_line,
		     &(struct lst_hooks){ .gone = on_gone, .opaque = &o }, &fd);
	assert_int_equal(lst_write(ls, a, big), 0);
	settle(&loop); /* part of a is in the socket */
	assert_int_equal(lst_write(ls, b, more), -ENOBUFS);
	assert_int_equal(lst_write(ls, "c\n", 2), -ENOBUFS); /* it ends: nothing more */
	got = read_all(&loop, fd, &n);
	assert_int_equal(n, big + strlen(overflow_line));
	assert_memory_equal(got, a, big);
	assert_string_equal(got + big, overflow_line);
	settle(&loop);
	assert_int_equal(o.gone, 1);
	free(got);
	free(a);
	free(b);
	close(fd);
	uv_loop_close(&loop);
}

static void test_a_list_is_made_as_the_client_reads_and_ends_after_its_last_line(void **st)
{
	uv_loop_t loop;
	struct owner o = { .lines = 200000 };
	struct lstream *ls;
	size_t n, off = 0;
	int fd;
	char *got, want[64];

	(void)st;
	uv_loop_init(&loop);
	ls = lst_new(&loop, 0, 0, NULL,
		     &(struct lst_hooks){ .fill = fill, .gone = on_gone, .opaque = &o }, &fd);
	assert_non_null(ls);
	settle(&loop);
	assert_true(o.made < o.lines); /* not made before it is read */
	got = read_all(&loop, fd, &n);
	for (int i = 0; i < o.lines; i++) {
		int len = snprintf(want, sizeof(want), "line %d\n", i);
		assert_memory_equal(got + off, want, (size_t)len);
		off += (size_t)len;
	}
	assert_int_equal(off, n);
	settle(&loop);
	assert_int_equal(o.gone, 1);
	free(got);
	close(fd);
	uv_loop_close(&loop);
}

static void test_a_released_list_finishes_alone_and_close_all_ends_the_rest(void **st)
{
	uv_loop_t loop;
	struct owner o = { .lines = 5000 }, w = { 0 };
	struct lstream *ls, *watch;
	size_t n;
	int fd, wfd;
	char *got;

	(void)st;
	uv_loop_init(&loop);
	ls = lst_new(&loop, 7, 0, NULL,
		     &(struct lst_hooks){ .fill = fill, .gone = on_gone, .opaque = &o }, &fd);
	watch = lst_new(&loop, 7, 1024, overflow_line,
			&(struct lst_hooks){ .gone = on_gone, .opaque = &w }, &wfd);
	assert_int_equal(lst_count(7), 2);
	lst_release(ls);
	assert_int_equal(o.made, o.lines);
	got = read_all(&loop, fd, &n);
	assert_non_null(strstr(got, "line 4999\n"));
	free(got);
	assert_int_equal(o.gone, 0); /* released: no hook */
	assert_int_equal(lst_count(7), 1);
	lst_close_all();
	assert_int_equal(w.gone, 1);
	assert_int_equal(lst_count(7), 0);
	(void)watch;
	got = read_all(&loop, wfd, &n);
	assert_int_equal(n, 0);
	free(got);
	close(fd);
	close(wfd);
	settle(&loop);
	uv_loop_close(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watch_lines_arrive_in_order_and_end_on_overflow),
		cmocka_unit_test(test_a_client_closing_its_end_is_noticed),
		cmocka_unit_test(
			test_overflow_keeps_the_line_partly_written_then_sends_its_line_and_ends),
		cmocka_unit_test(
			test_a_list_is_made_as_the_client_reads_and_ends_after_its_last_line),
		cmocka_unit_test(test_a_released_list_finishes_alone_and_close_all_ends_the_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
