/* SPDX-License-Identifier: MIT */
/*
 * test-agent-fz.c - the VSS service's guest side with a fake FIFREEZE:
 * never the real ioctl (this runs on the host). A mountinfo file of the
 * test's, hooks that append to a log, and a backend that records each
 * freeze and thaw (and can fail one) check which filesystems are taken
 * and in what order, that a failure thaws everything, that hooks run in
 * name order (reverse for thaw) and skip backups, that the state file
 * exists before the first FIFREEZE, and that the watchdog, the
 * connection's end and the next start thaw.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent-fz-mounts.h"
#include "agent-fz.h"
#include "agent-ic.h"
#include "util.h"

static char dir[] = "/tmp/test-agent-fz.XXXXXX";
static char mountinfo[64], hooks[64], hooklog[64], statefile[64];

/* / (ext4 on vda1), /mnt/data (ext4 on vdb), a bind mount of it, /boot/efi
 * (vfat), /ro (read-only), /proc, /run (tmpfs), /mnt/nfs, /mnt/loop, and
 * /mnt/my data (a blank in the path). */
static const char *const minfo =
	"22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
	"23 22 0:21 / /proc rw,nosuid - proc proc rw\n"
	"24 22 0:22 / /run rw,nosuid - tmpfs tmpfs rw,mode=755\n"
	"30 22 254:16 / /mnt/data rw,relatime shared:5 - ext4 /dev/vdb rw\n"
	"31 22 254:16 / /srv/bind rw,relatime shared:5 - ext4 /dev/vdb rw\n"
	"32 22 254:2 / /boot/efi rw - vfat /dev/vda2 rw\n"
	"33 22 254:3 / /ro ro,relatime - ext4 /dev/vda3 ro\n"
	"34 22 0:40 / /mnt/nfs rw - nfs4 host:/x rw\n"
	"35 22 7:0 / /mnt/loop rw - ext4 /dev/loop0 rw\n"
	"36 22 254:32 / /mnt/my\\040data rw master:2 - xfs /dev/vdc rw\n";

struct fake {
	char log[2048];
	const char *fail_path; /* FIFREEZE of this fails */
	int fail_err;
	bool state_seen; /* the state file existed at the first FIFREEZE */
};

static struct fake fk;

static void logf_(const char *fmt, ...)
{
	size_t n = strlen(fk.log);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fk.log + n, sizeof(fk.log) - n, fmt, ap);
	va_end(ap);
}

static int fake_freeze(void *ctx, const char *path)
{
	(void)ctx;
	if (!fk.log[0] || !strstr(fk.log, "F "))
		fk.state_seen = access(statefile, F_OK) == 0;
	if (fk.fail_path && strcmp(path, fk.fail_path) == 0)
		return -fk.fail_err;
	logf_("F %s;", path);
	return 0;
}

static int fake_thaw(void *ctx, const char *path)
{
	(void)ctx;
	logf_("T %s;", path);
	return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
}

static char *read_all(const char *path)
{
	static char buf[4096];
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	if (fp) {
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
	return buf;
}

/* A hook that runs the shell lines pre, logs "NAME ARG" and exits with
 * status. */
static void hook_sh(const char *name, const char *pre, int status)
{
	char path[512], text[1024];

	snprintf(path, sizeof(path), "%s/%s", hooks, name);
	snprintf(text, sizeof(text), "#!/bin/sh\n%secho \"%s $1\" >>'%s'\nexit %d\n", pre, name,
		 hooklog, status);
	write_file(path, text, 0755);
}

static void hook(const char *name, int status)
{
	hook_sh(name, "", status);
}

static void slow_hook(const char *name, const char *seconds)
{
	char pre[64];

	snprintf(pre, sizeof(pre), "sleep %s\n", seconds);
	hook_sh(name, pre, 0);
}

static void new_afz(struct afz *z)
{
	afz_init(z, (struct afz_backend){ .freeze = fake_freeze, .thaw = fake_thaw });
	snprintf(z->hook_dir, sizeof(z->hook_dir), "%s", hooks);
	z->state_file = statefile;
	z->mountinfo = mountinfo;
	z->lock_memory = false;
	z->hook_timeout_ms = 5000;
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(mountinfo, sizeof(mountinfo), "%s/mountinfo", dir);
	snprintf(hooks, sizeof(hooks), "%s/hooks", dir);
	snprintf(hooklog, sizeof(hooklog), "%s/hooks.log", dir);
	snprintf(statefile, sizeof(statefile), "%s/run/frozen", dir);
	write_file(mountinfo, minfo, 0644);
	return 0;
}

static int each(void **state)
{
	char cmd[300];

	(void)state;
	memset(&fk, 0, sizeof(fk));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' && mkdir '%s'", hooks, hooklog, hooks);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void all_writable_block_filesystems_are_frozen_root_last(void **state)
{
	struct afz z;
	struct afz_result r = { 0 };

	(void)state;
	new_afz(&z);
	assert_int_equal(afz_freeze(&z, &(struct ic_fz_freeze){ .timeout_ms = 5000 }, 1000, &r), 0);
	/* not the bind mount, vfat, ro, proc, tmpfs, nfs, loop */
	assert_string_equal(fk.log, "F /mnt/my data;F /mnt/data;F /;");
	assert_true(fk.state_seen);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nmounts, 3);
	assert_string_equal(r.mounts[2], "/");
	assert_int_equal(z.thaw_at, 6000);
	assert_int_equal(access(statefile, F_OK), 0);
	afz_result_clear(&r);

	fk.log[0] = '\0';
	afz_thaw(&z, "test", &r);
	assert_string_equal(fk.log, "T /;T /mnt/data;T /mnt/my data;");
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nmounts, 3);
	assert_int_equal(z.nfrozen, 0);
	assert_int_equal(access(statefile, F_OK), -1);
	afz_result_clear(&r);
}

static void only_the_mounts_asked_for_and_each_bad_one_is_a_failure(void **state)
{
	struct afz z;
	struct afz_result r = { 0 };
	struct ic_fz_freeze q = { .nmounts = 1, .mounts = { "/mnt/data" } };

	(void)state;
	new_afz(&z);
	assert_int_equal(afz_freeze(&z, &q, 0, &r), 0);
	assert_string_equal(fk.log, "F /mnt/data;");
	afz_thaw(&z, "test", &r);
	afz_result_clear(&r);

	fk.log[0] = '\0';
	q = (struct ic_fz_freeze){ .nmounts = 4, .mounts = { "/", "/ro", "/mnt/nfs", "/nope" } };
	assert_int_equal(afz_freeze(&z, &q, 0, &r), -1);
	assert_string_equal(fk.log, ""); /* nothing frozen when a mount is bad */
	assert_int_equal(r.nfailures, 3);
	assert_string_equal(r.failures[0], "/ro: read-only");
	assert_true(strstr(r.failures[1], "/mnt/nfs: not a block device"));
	assert_string_equal(r.failures[2], "/nope: not a mount point");
	assert_int_equal(z.nfrozen, 0);
	afz_result_clear(&r);
}

static void a_failed_fifreeze_thaws_what_was_frozen(void **state)
{
	struct afz z;
	struct afz_result r = { 0 };

	(void)state;
	new_afz(&z);
	hook("10-a", 0);
	fk.fail_path = "/";
	fk.fail_err = EOPNOTSUPP;
	assert_int_equal(afz_freeze(&z, &(struct ic_fz_freeze){ 0 }, 0, &r), -1);
	assert_string_equal(fk.log, "F /mnt/my data;F /mnt/data;T /mnt/data;T /mnt/my data;");
	assert_int_equal(r.err, EOPNOTSUPP);
	assert_int_equal(r.nfailures, 1);
	assert_string_equal(r.failures[0], "/: the filesystem cannot be frozen");
	assert_int_equal(z.nfrozen, 0);
	assert_int_equal(access(statefile, F_OK), -1);
	assert_string_equal(read_all(hooklog), "10-a freeze\n10-a thaw\n");
	afz_result_clear(&r);
}

static void ebusy_is_frozen_already(void **state)
{
	struct afz z;
	struct afz_result r = { 0 };

	(void)state;
	new_afz(&z);
	fk.fail_path = "/mnt/data";
	fk.fail_err = EBUSY;
	assert_int_equal(afz_freeze(&z, &(struct ic_fz_freeze){ 0 }, 0, &r), 0);
	assert_int_equal(z.nfrozen, 3);
	afz_result_clear(&r);
	afz_thaw(&z, "test", &r);
	afz_result_clear(&r);
}

static void hooks_run_in_name_order_and_thaw_in_reverse_skipping_backups(void **state)
{
	struct afz z;
	struct afz_result r = { 0 };
	char path[256];

	(void)state;
	new_afz(&z);
	hook("20-b", 0);
	hook("10-a", 0);
	hook("10-a~", 0);
	hook("30-c.dpkg-old", 0);
	hook("30-c.rpmnew", 0);
	snprintf(path, sizeof(path), "%s/15-not-executable", hooks);
	write_file(path, "#!/bin/sh\nexit 1\n", 0644);
	assert_int_equal(afz_freeze(&z, &(struct ic_fz_freeze){ 0 }, 0, &r), 0);
	assert_string_equal(read_all(hooklog), "10-a freeze\n20-b freeze\n");
	afz_result_clear(&r);
	afz_thaw(&z, "test", &r);
	assert_string_equal(read_all(hooklog), "10-a freeze\n20-b freeze\n20-b thaw\n10-a thaw\n");
	afz_result_clear(&r);
}

static void a_failing_hook_fails_the_freeze_before_any_fifreeze(void **state)
{
	struct afz z;
	struct afz_result r = { 0 };

	(void)state;
	new_afz(&z);
	hook("10-a", 0);
	hook("20-db", 3);
	hook("30-c", 0);
	assert_int_equal(afz_freeze(&z, &(struct ic_fz_freeze){ 0 }, 0, &r), -1);
	assert_string_equal(fk.log, "");
	assert_int_equal(r.nfailures, 1);
	assert_string_equal(r.failures[0], "hook 20-db freeze: exit status 3");
	/* the hooks that ran are told to thaw */
	assert_string_equal(read_all(hooklog), "10-a freeze\n20-db freeze\n10-a thaw\n");
	afz_result_clear(&r);
}

static void next_start_thaws_what_the_state_file_lists(void **state)
{
	struct afz z;
	char run[160];
	FILE *fp;

	(void)state;
	new_afz(&z);

	snprintf(run, sizeof(run), "%s/run", dir);
	mkdir(run, 0755);
	fp = fopen(statefile, "w");
	assert_non_null(fp);
	fwrite("/mnt/data\0/\0", 1, 12, fp);
	fclose(fp);
	hook("10-a", 0);
	afz_recover(&z);
	assert_string_equal(fk.log, "T /;T /mnt/data;");
	assert_string_equal(read_all(hooklog), "10-a thaw\n");
	assert_int_equal(access(statefile, F_OK), -1);
	assert_int_equal(z.nfrozen, 0);

	fk.log[0] = '\0';
	afz_recover(&z); /* no file: nothing */
	assert_string_equal(fk.log, "");
}

/* The connection of a test that plays vmsvcd: c, its host end *host. */
static struct aic *connect_afz(struct afz *z, int *host)
{
	static const struct aic_hello h = { .min = 1, .max = 1, .software = "test" };
	struct sess_buf b = { 0 };
	struct aic *c;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c = aic_new(sv[0], &afz_ops, z, &h);
	assert_non_null(c);
	ic_enc_hello(&b, &(struct ic_hello){ .min = 1, .max = 1 });
	assert_int_equal(write(sv[1], b.data, b.len), (ssize_t)b.len);
	sess_buf_free(&b);
	assert_int_equal(aic_io(c, POLLIN, 1000), 0);
	*host = sv[1];
	return c;
}

static void watchdog_and_connection_end_thaw(void **state)
{
	struct afz z;
	struct afz_result r = { 0 };
	struct aic *c;
	int host;

	(void)state;
	new_afz(&z);
	c = connect_afz(&z, &host);
	assert_int_equal(aic_phase(c), AIC_READY);
	assert_int_equal(afz_freeze(&z, &(struct ic_fz_freeze){ .timeout_ms = 100 }, 1000, &r), 0);
	afz_result_clear(&r);
	aic_set_deadline(c, z.thaw_at);
	aic_tick(c, 1050);
	assert_int_equal(z.nfrozen, 3); /* not yet */
	aic_tick(c, 1100);
	assert_int_equal(z.nfrozen, 0);
	assert_true(strstr(fk.log, "T /;"));

	fk.log[0] = '\0';
	assert_int_equal(afz_freeze(&z, &(struct ic_fz_freeze){ 0 }, 0, &r), 0);
	afz_result_clear(&r);
	c = aic_free(c);
	assert_int_equal(z.nfrozen, 0);
	assert_string_equal(fk.log,
			    "F /mnt/my data;F /mnt/data;F /;T /;T /mnt/data;T /mnt/my data;");
	close(host);
}

/* Reads frames from the host end until one of type; its seq-carrying
 * result decoded into *x. */
static void host_wait(struct aic *c, int host, uint16_t type, struct ic_fz_result *x)
{
	static uint8_t buf[65536];
	static size_t len;
	uint64_t end = now_ms() + 5000;

	for (;;) {
		struct sess_frame f;
		long k = sess_frame_parse(buf, len, &f);
		ssize_t n;

		if (k > 0) {
			bool found = f.type == type;

			if (found) /* the numbers only: its strings go with the bytes */
				assert_int_equal(ic_dec_fz_result(&f, x), 0);
			memmove(buf, buf + k, len - (size_t)k);
			len -= (size_t)k;
			if (found)
				return;
			continue;
		}
		assert_true(now_ms() < end);
		aic_tick(c, now_ms());
		aic_io(c, POLLOUT, now_ms());
		n = recv(host, buf + len, sizeof(buf) - len, MSG_DONTWAIT);
		if (n > 0)
			len += (size_t)n;
		else
			usleep(5000);
	}
}

static void slow_hooks_run_beside_the_loop_and_the_answer_follows(void **state)
{
	struct afz z;
	struct aic *c;
	struct sess_buf b = { 0 };
	struct ic_fz_result x;
	uint64_t t0;
	int host;

	(void)state;
	new_afz(&z);
	slow_hook("10-slow", "0.5");
	c = connect_afz(&z, &host);
	ic_enc_fz_freeze(&b, &(struct ic_fz_freeze){ .seq = 7, .timeout_ms = 5000 });
	assert_int_equal(write(host, b.data, b.len), (ssize_t)b.len);
	sess_buf_free(&b);
	t0 = now_ms();
	assert_int_equal(aic_io(c, POLLIN, t0), 0);
	/* the frame was handled without waiting for the hook */
	assert_true(now_ms() - t0 < 300);
	assert_int_equal(z.phase, AFZ_FREEZING);
	assert_int_equal(z.nfrozen, 0);
	host_wait(c, host, IC_FZ_FROZEN, &x);
	assert_true(now_ms() - t0 >= 450);
	assert_int_equal(x.seq, 7);
	assert_int_equal(x.err, 0);
	assert_int_equal(z.nfrozen, 3);
	assert_string_equal(read_all(hooklog), "10-slow freeze\n");
	/* THAW: FITHAW at once, the answer after the thaw hook */
	ic_enc_fz_thaw(&b, 8);
	assert_int_equal(write(host, b.data, b.len), (ssize_t)b.len);
	sess_buf_free(&b);
	t0 = now_ms();
	assert_int_equal(aic_io(c, POLLIN, t0), 0);
	assert_true(now_ms() - t0 < 300);
	assert_int_equal(z.nfrozen, 0);
	host_wait(c, host, IC_FZ_THAWED, &x);
	assert_int_equal(x.seq, 8);
	assert_int_equal(x.err, 0);
	assert_string_equal(read_all(hooklog), "10-slow freeze\n10-slow thaw\n");
	c = aic_free(c);
	close(host);
}

static void a_thaw_during_the_freeze_hooks_cancels_the_freeze(void **state)
{
	struct afz z;
	struct aic *c;
	struct sess_buf b = { 0 };
	struct ic_fz_result x;
	int host;

	(void)state;
	new_afz(&z);
	hook("10-a", 0);
	slow_hook("20-slow", "0.3");
	c = connect_afz(&z, &host);
	ic_enc_fz_freeze(&b, &(struct ic_fz_freeze){ .seq = 1 });
	ic_enc_fz_thaw(&b, 2);
	assert_int_equal(write(host, b.data, b.len), (ssize_t)b.len);
	sess_buf_free(&b);
	assert_int_equal(aic_io(c, POLLIN, now_ms()), 0);
	host_wait(c, host, IC_FZ_FROZEN, &x);
	assert_int_equal(x.seq, 1);
	assert_int_equal(x.err, ECANCELED);
	assert_int_equal(z.nfrozen, 0);
	assert_string_equal(fk.log, ""); /* never frozen */
	host_wait(c, host, IC_FZ_THAWED, &x);
	assert_int_equal(x.seq, 2);
	/* both hooks ran and are told to thaw, in reverse */
	while (z.phase != AFZ_IDLE)
		afz_step(&z, now_ms(), true);
	assert_string_equal(read_all(hooklog),
			    "10-a freeze\n20-slow freeze\n20-slow thaw\n10-a thaw\n");
	c = aic_free(c);
	close(host);
}

static void the_connection_ending_during_the_freeze_hooks_does_not_wait_for_them(void **state)
{
	struct afz z;
	struct aic *c;
	struct sess_buf b = { 0 };
	struct pollfd p[2];
	uint64_t t0;
	int host;

	(void)state;
	new_afz(&z);
	hook("10-a", 0);
	slow_hook("20-slow", "0.5");
	c = connect_afz(&z, &host);
	assert_int_equal(afz_fill(&z, p, 2), 0); /* the connection's tick looks */
	ic_enc_fz_freeze(&b, &(struct ic_fz_freeze){ .seq = 1 });
	assert_int_equal(write(host, b.data, b.len), (ssize_t)b.len);
	sess_buf_free(&b);
	assert_int_equal(aic_io(c, POLLIN, now_ms()), 0);
	assert_int_equal(z.phase, AFZ_FREEZING);
	t0 = now_ms();
	c = aic_free(c);
	assert_true(now_ms() - t0 < 300); /* not the hook's 0.5 s */
	/* the worker's loop watches the report now, and the freeze thaws */
	while (z.phase != AFZ_IDLE) {
		assert_int_equal(afz_fill(&z, p, 2), 1);
		assert_true(poll(p, 1, 5000) == 1);
		afz_io(&z, p[0].revents, now_ms());
	}
	assert_int_equal(z.nfrozen, 0);
	assert_string_equal(fk.log, ""); /* never frozen */
	assert_string_equal(read_all(hooklog),
			    "10-a freeze\n20-slow freeze\n20-slow thaw\n10-a thaw\n");
	assert_int_equal(afz_fill(&z, p, 2), 0);
	close(host);
}

static void a_hook_name_cannot_break_the_report_and_many_failures_fit(void **state)
{
	struct afz z;
	struct afz_result r = { 0 };
	char name[256];

	(void)state;
	new_afz(&z);
	/* a line break in a name stays in its failure line */
	hook("10-a", 0);
	hook("20-x\nran 5", 7);
	assert_int_equal(afz_freeze(&z, &(struct ic_fz_freeze){ 0 }, 0, &r), -1);
	assert_int_equal(r.nfailures, 1);
	assert_string_equal(r.failures[0], "hook 20-x ran 5 freeze: exit status 7");
	assert_string_equal(read_all(hooklog), "10-a freeze\n20-x\nran 5 freeze\n10-a thaw\n");
	afz_result_clear(&r);
	/* 16 thaw hooks with the longest names fail: each line cut, "ran" kept */
	each(NULL);
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "%02d-%0250d", i, 0);
		hook_sh(name, "[ \"$1\" = thaw ] && exit 1\n", 0);
	}
	assert_int_equal(afz_freeze(&z, &(struct ic_fz_freeze){ 0 }, 0, &r), 0);
	afz_result_clear(&r);
	afz_thaw(&z, "test", &r);
	assert_int_equal(r.nfailures, 16);
	for (uint32_t i = 0; i < r.nfailures; i++) {
		assert_true(strncmp(r.failures[i], "hook ", 5) == 0);
		assert_true(strlen(r.failures[i]) < 224);
	}
	assert_int_equal(z.nfrozen, 0);
	afz_result_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(all_writable_block_filesystems_are_frozen_root_last, each),
		cmocka_unit_test_setup(only_the_mounts_asked_for_and_each_bad_one_is_a_failure,
				       each),
		cmocka_unit_test_setup(a_failed_fifreeze_thaws_what_was_frozen, each),
		cmocka_unit_test_setup(ebusy_is_frozen_already, each),
		cmocka_unit_test_setup(hooks_run_in_name_order_and_thaw_in_reverse_skipping_backups,
				       each),
		cmocka_unit_test_setup(a_failing_hook_fails_the_freeze_before_any_fifreeze, each),
		cmocka_unit_test_setup(next_start_thaws_what_the_state_file_lists, each),
		cmocka_unit_test_setup(watchdog_and_connection_end_thaw, each),
		cmocka_unit_test_setup(slow_hooks_run_beside_the_loop_and_the_answer_follows, each),
		cmocka_unit_test_setup(a_thaw_during_the_freeze_hooks_cancels_the_freeze, each),
		cmocka_unit_test_setup(
			the_connection_ending_during_the_freeze_hooks_does_not_wait_for_them, each),
		cmocka_unit_test_setup(a_hook_name_cannot_break_the_report_and_many_failures_fit,
				       each),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
