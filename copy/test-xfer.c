/* SPDX-License-Identifier: MIT */
/*
 * test-xfer.c - the copy engines in a temporary folder, the sender's frames
 * fed straight to the receiver (no socket): safe names and paths, the
 * temporary file's commit and drop, a file and a tree end to end, a damaged
 * file never committed, links never followed (sent or already in the
 * destination), cp's folder semantics, an abandoned copy leaving nothing,
 * and a tree's folders getting their mode as soon as the sender leaves
 * them (the receiver keeps no list of folders, however many a tree has).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"
#include "xfer.h"

static char dir[] = "/tmp/test-xfer.XXXXXX";
static char path[512];

static const char *at(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *at(const char *fmt, ...)
{
	char rel[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return path;
}

static void write_file(const char *p, const char *text, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
}

static char *read_file(const char *p)
{
	static char buf[4096];
	int fd = open(p, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

/* Entries named like our temporary files below folder p. */
static int leftovers(const char *p)
{
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strncmp(de->d_name, ".vmsvc-cp.", 10) == 0;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* Runs src to dest; corrupt: flip a byte of the first DATA. Returns the
 * receiver's result (1 complete) or the first error. */
static int copy(const char *src, const char *dest, uint32_t flags, bool corrupt, char *msg)
{
	struct xfer_send *s = NULL;
	struct xfer_recv *r = NULL;
	struct sess_buf b = { 0 }, credit = { 0 };
	int e = xfer_send_new(src, flags, &s, msg), rr = 0;

	if (e < 0)
		return e;
	e = xfer_recv_new(dest, flags, &r, msg);
	while (e >= 0 && rr == 0) {
		uint64_t c = 1 << 20;
		struct sess_frame f;
		size_t off = 0;
		long n;

		e = xfer_send_step(s, &b, &c);
		while (e >= 0 && rr == 0 &&
		       (n = sess_frame_parse(b.data + off, b.len - off, &f)) > 0) {
			if (corrupt && f.type == SESS_DATA) {
				((uint8_t *)f.payload)[0] ^= 1;
				corrupt = false;
			}
			rr = xfer_recv_frame(r, &f, &credit);
			off += (size_t)n;
		}
		sess_buf_consume(&b, off);
		if (rr < 0)
			strcpy(msg, xfer_recv_message(r));
		if (e < 0)
			strcpy(msg, xfer_send_message(s));
	}
	xfer_send_free(s);
	xfer_recv_free(r);
	sess_buf_free(&b);
	sess_buf_free(&credit);
	return e < 0 ? e : rr;
}

static void test_names(void **state)
{
	(void)state;
	assert_true(xfer_name_ok("a", true));
	assert_true(xfer_name_ok("a/b/c", false));
	assert_false(xfer_name_ok("a/b", true));
	assert_false(xfer_name_ok("", false));
	assert_false(xfer_name_ok("/etc", false));
	assert_false(xfer_name_ok("a/../b", false));
	assert_false(xfer_name_ok("..", false));
	assert_false(xfer_name_ok("a//b", false));
	assert_false(xfer_name_ok("a/", false));
	assert_false(xfer_name_ok("./a", false));
}

static void test_open_beneath_refuses_links(void **state)
{
	int root, fd;

	(void)state;
	mkdir(at("b"), 0755);
	mkdir(at("b/real"), 0755);
	assert_int_equal(symlink("/etc", at("b/out")), 0);
	assert_int_equal(symlink("real", at("b/in")), 0);
	root = open(at("b"), O_RDONLY | O_DIRECTORY);
	fd = xfer_open_beneath(root, "real");
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(xfer_open_beneath(root, "out"), -ELOOP);
	assert_int_equal(xfer_open_beneath(root, "in"), -ELOOP);
	assert_int_equal(xfer_open_beneath(root, "../b"), -EINVAL);
	close(root);
}

static void test_tmp_commit_and_drop(void **state)
{
	char tmp[32];
	int d, fd;

	(void)state;
	mkdir(at("t"), 0755);
	write_file(at("t/f"), "old", 0644);
	d = open(at("t"), O_RDONLY | O_DIRECTORY);
	fd = xfer_tmp_open(d, tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "new", 3), 3);
	fd = xfer_tmp_drop(fd, d, tmp);
	assert_string_equal(read_file(at("t/f")), "old");
	assert_int_equal(leftovers(at("t")), 0);
	fd = xfer_tmp_open(d, tmp);
	assert_int_equal(write(fd, "new", 3), 3);
	assert_int_equal(xfer_tmp_commit(fd, d, tmp, "f"), 0);
	close(fd);
	close(d);
	assert_string_equal(read_file(at("t/f")), "new");
	assert_int_equal(leftovers(at("t")), 0);
}

static void test_file_kept_mode_and_verified(void **state)
{
	char msg[XFER_MSG_SIZE], src[512];
	struct stat st;

	(void)state;
	mkdir(at("f"), 0755);
	write_file(at("f/src"), "hello", 0751);
	snprintf(src, sizeof(src), "%s", path);
	assert_int_equal(copy(src, at("f/dst"), 0, false, msg), 1);
	assert_string_equal(read_file(at("f/dst")), "hello");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0751);
	/* A damaged byte: the old file stays, no temporary file is left. */
	write_file(at("f/dst"), "old", 0644);
	assert_int_equal(copy(src, at("f/dst"), 0, true, msg), -EBADMSG);
	assert_non_null(strstr(msg, "SHA-256"));
	assert_non_null(strstr(msg, at("f/dst' arrived")));
	assert_string_equal(read_file(at("f/dst")), "old");
	assert_int_equal(leftovers(at("f")), 0);
}

static void test_folder_semantics(void **state)
{
	char msg[XFER_MSG_SIZE], src[512];

	(void)state;
	mkdir(at("s"), 0755);
	mkdir(at("s/into"), 0755);
	write_file(at("s/a"), "A", 0644);
	snprintf(src, sizeof(src), "%s", path);
	assert_int_equal(copy(src, at("s/into"), 0, false, msg), 1);
	assert_string_equal(read_file(at("s/into/a")), "A");
	assert_int_equal(copy(src, at("s/none/"), 0, false, msg), -ENOTDIR);
	assert_int_equal(copy(src, at("s/no/such/x"), 0, false, msg), -ENOENT);
	assert_non_null(strstr(msg, "no such folder"));
	snprintf(src, sizeof(src), "%s", at("s"));
	assert_int_equal(copy(src, at("s/x"), 0, false, msg), -EISDIR);
	assert_non_null(strstr(msg, "with -r"));
	snprintf(src, sizeof(src), "%s", at("s/missing"));
	assert_int_equal(copy(src, at("s/x"), 0, false, msg), -ENOENT);
	assert_non_null(strstr(msg, "no such file"));
}

static void test_tree_links_never_followed(void **state)
{
	char msg[XFER_MSG_SIZE], src[512];
	struct stat st;
	char link[64] = { 0 };

	(void)state;
	mkdir(at("tree"), 0755);
	mkdir(at("tree/src"), 0750);
	mkdir(at("tree/src/empty"), 0700);
	mkdir(at("tree/src/sub"), 0755);
	write_file(at("tree/src/sub/n"), "nested", 0600);
	assert_int_equal(symlink("/etc/passwd", at("tree/src/out")), 0);
	mkdir(at("tree/outside"), 0755);
	write_file(at("tree/outside/n"), "victim", 0644);
	/* The destination has a link where the tree has a folder. */
	mkdir(at("tree/dst"), 0755);
	mkdir(at("tree/dst/src"), 0755);
	assert_int_equal(symlink("../outside", at("tree/dst/src/sub")), 0);
	snprintf(src, sizeof(src), "%s", at("tree/src"));
	assert_int_equal(copy(src, at("tree/dst"), SESS_PUT_TREE, false, msg), -ENOTDIR);
	assert_non_null(strstr(msg, "symbolic link"));
	assert_string_equal(read_file(at("tree/outside/n")), "victim");
	/* Into a new name: the whole tree, links as links. */
	assert_int_equal(copy(src, at("tree/new"), SESS_PUT_TREE, false, msg), 1);
	assert_string_equal(read_file(at("tree/new/sub/n")), "nested");
	assert_int_equal(lstat(at("tree/new/out"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_true(readlink(path, link, sizeof(link) - 1) > 0);
	assert_string_equal(link, "/etc/passwd");
	assert_int_equal(stat(at("tree/new/empty"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(at("tree/new"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
}

static void test_link_in_destination_replaced_not_written_through(void **state)
{
	char msg[XFER_MSG_SIZE], src[512];
	char link[64] = { 0 };
	struct stat st;

	(void)state;
	mkdir(at("l"), 0755);
	write_file(at("l/victim"), "victim", 0644);
	mkdir(at("l/src"), 0755);
	write_file(at("l/src/f"), "data", 0644);
	mkdir(at("l/dst"), 0755);
	mkdir(at("l/dst/src"), 0755);
	assert_int_equal(symlink("../../victim", at("l/dst/src/f")), 0);
	snprintf(src, sizeof(src), "%s", at("l/src"));
	assert_int_equal(copy(src, at("l/dst"), SESS_PUT_TREE, false, msg), 1);
	assert_string_equal(read_file(at("l/victim")), "victim");
	assert_int_equal(lstat(at("l/dst/src/f"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_string_equal(read_file(path), "data");
	(void)link;
}

static void test_abandoned_copy_leaves_nothing(void **state)
{
	char msg[XFER_MSG_SIZE];
	struct xfer_send *s;
	struct xfer_recv *r;
	struct sess_buf b = { 0 }, credit = { 0 };
	struct sess_frame f;
	uint64_t c = 1 << 20;
	size_t off = 0;
	long n;

	(void)state;
	mkdir(at("ab"), 0755);
	write_file(at("ab/src"), "0123456789", 0644);
	write_file(at("ab/dst"), "old", 0644);
	assert_int_equal(xfer_send_new(at("ab/src"), 0, &s, msg), 0);
	assert_int_equal(xfer_recv_new(at("ab/dst"), 0, &r, msg), 0);
	assert_int_equal(xfer_send_step(s, &b, &c), 1); /* META */
	assert_int_equal(xfer_send_step(s, &b, &c), 1); /* DATA */
	while ((n = sess_frame_parse(b.data + off, b.len - off, &f)) > 0) {
		assert_int_equal(xfer_recv_frame(r, &f, &credit), 0);
		off += (size_t)n;
	}
	assert_int_equal(credit.len > 0, 1);
	xfer_recv_free(r);
	xfer_send_free(s);
	sess_buf_free(&b);
	sess_buf_free(&credit);
	assert_string_equal(read_file(at("ab/dst")), "old");
	assert_int_equal(leftovers(at("ab")), 0);
}

/* One frame from a hand-made sender: what the receiver makes of it. */
static int feed(struct xfer_recv *r, struct sess_buf *b)
{
	struct sess_buf credit = { 0 };
	struct sess_frame f;
	int e;

	assert_int_equal(b->err, 0);
	assert_true(sess_frame_parse(b->data, b->len, &f) > 0);
	e = xfer_recv_frame(r, &f, &credit);
	sess_buf_free(b);
	sess_buf_free(&credit);
	*b = (struct sess_buf){ 0 };
	return e;
}

static int feed_dir(struct xfer_recv *r, const char *name, uint32_t mode)
{
	struct sess_buf b = { 0 };

	sess_enc_meta(&b, &(struct sess_meta){ .type = SESS_F_DIR, .name = name, .mode = mode });
	return feed(r, &b);
}

static int feed_end(struct xfer_recv *r, uint64_t count)
{
	struct sess_buf b = { 0 };

	sess_enc_end(&b, &(struct sess_end){ .count = count });
	return feed(r, &b);
}

static unsigned mode_of(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return st.st_mode & 07777;
}

/* A receiver of a tree "t" (root mode root_mode) into a new folder. */
static struct xfer_recv *tree_into(const char *folder, uint32_t root_mode)
{
	char msg[XFER_MSG_SIZE];
	struct xfer_recv *r;

	assert_int_equal(mkdir(at("%s", folder), 0755), 0);
	assert_int_equal(xfer_recv_new(path, SESS_PUT_TREE, &r, msg), 0);
	assert_int_equal(feed_dir(r, "t", root_mode), 0);
	return r;
}

static void test_folder_gets_its_mode_when_the_sender_leaves_it(void **state)
{
	struct xfer_recv *r = tree_into("m", 0751);

	(void)state;
	assert_int_equal(feed_dir(r, "a", 0555), 0);
	assert_int_equal(feed_dir(r, "a/x", 0500), 0);
	assert_int_equal(feed_dir(r, "a/x/y", 0510), 0);
	/* Filling: the folders are 0700 while entries may still come. */
	assert_int_equal(mode_of(at("m/t/a")), 0700);
	assert_int_equal(mode_of(at("m/t/a/x")), 0700);
	assert_int_equal(feed_dir(r, "a/z", 0750), 0);
	/* a/x and a/x/y are complete once an entry outside them comes. */
	assert_int_equal(mode_of(at("m/t/a/x/y")), 0510);
	assert_int_equal(mode_of(at("m/t/a/x")), 0500);
	assert_int_equal(mode_of(at("m/t/a")), 0700);
	assert_int_equal(feed_dir(r, "ab", 0705), 0); /* "ab" is not below "a" */
	assert_int_equal(mode_of(at("m/t/a/z")), 0750);
	assert_int_equal(mode_of(at("m/t/a")), 0555);
	assert_int_equal(mode_of(at("m/t/ab")), 0700);
	assert_int_equal(feed_end(r, 6), 1);
	assert_int_equal(mode_of(at("m/t/ab")), 0705);
	assert_int_equal(mode_of(at("m/t")), 0751);
	xfer_recv_free(r);
}

/* A hostile or huge tree: many folders side by side and one deep path.
 * Each folder is done with once the sender moves past it. */
static void test_many_folders_each_done_when_left(void **state)
{
	struct xfer_recv *r = tree_into("w", 0755);
	char name[1024] = "", full[1600];
	uint64_t n = 1;
	size_t len = 0;

	(void)state;
	for (int i = 0; i < 1000; i++, n++) {
		char sib[16];

		snprintf(sib, sizeof(sib), "d%d", i);
		assert_int_equal(feed_dir(r, sib, 0711), 0);
		if (i > 0) {
			snprintf(sib, sizeof(sib), "d%d", i - 1);
			assert_int_equal(mode_of(at("w/t/%s", sib)), 0711);
		}
	}
	for (int i = 0; i < 200; i++, n++) {
		len += (size_t)snprintf(name + len, sizeof(name) - len, "%se", i ? "/" : "");
		assert_int_equal(feed_dir(r, name, 0701), 0);
	}
	assert_int_equal(mode_of(at("w/t/d999")), 0711);
	assert_int_equal(mode_of(at("w/t/e/e")), 0700);
	assert_int_equal(feed_end(r, n), 1);
	assert_int_equal(mode_of(at("w/t/e/e")), 0701);
	snprintf(full, sizeof(full), "%s/w/t/%s", dir, name);
	assert_int_equal(mode_of(full), 0701);
	xfer_recv_free(r);
}

/* A sender that comes back into a folder it left: no crash, no list; the
 * entry is made if the folder still lets the user write (root here). */
static void test_sender_back_in_a_left_folder(void **state)
{
	struct xfer_recv *r = tree_into("back", 0755);

	(void)state;
	assert_int_equal(feed_dir(r, "a", 0755), 0);
	assert_int_equal(feed_dir(r, "b", 0750), 0);
	assert_int_equal(mode_of(at("back/t/a")), 0755);
	if (geteuid() == 0) {
		assert_int_equal(feed_dir(r, "a/late", 0705), 0);
		assert_int_equal(feed_end(r, 4), 1);
		assert_int_equal(mode_of(at("back/t/a/late")), 0705);
	} else {
		assert_int_equal(chmod(at("back/t/a"), 0555), 0);
		assert_int_equal(feed_dir(r, "a/late", 0705), -EACCES);
	}
	assert_int_equal(mode_of(at("back/t/b")), 0750);
	xfer_recv_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_open_beneath_refuses_links),
		cmocka_unit_test(test_tmp_commit_and_drop),
		cmocka_unit_test(test_file_kept_mode_and_verified),
		cmocka_unit_test(test_folder_semantics),
		cmocka_unit_test(test_tree_links_never_followed),
		cmocka_unit_test(test_link_in_destination_replaced_not_written_through),
		cmocka_unit_test(test_abandoned_copy_leaves_nothing),
		cmocka_unit_test(test_folder_gets_its_mode_when_the_sender_leaves_it),
		cmocka_unit_test(test_many_folders_each_done_when_left),
		cmocka_unit_test(test_sender_back_in_a_left_folder),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
