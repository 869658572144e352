/* SPDX-License-Identifier: MIT */
/*
 * test-agent-ts.c - unit tests of the time sync service's guest side
 * (agent-ts.c): θ and δ from the four stamps, the mode from the guest's
 * processes (a fake /proc), and the service over a socket pair with the
 * test as vmsvcd, the clock untouched (dry_run): a burst of 8 keeps the
 * lowest-δ sample, a REPORT follows, a SYNC starts a burst at once, and in
 * chrony mode the sample reaches chrony's socket as chrony reads it.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent-ic.h"
#include "agent-ts.h"
#include "ic.h"
#include "util.h"

static char dir[] = "/tmp/test-agent-ts.XXXXXX";
static char proc_none[160], proc_chrony[160], proc_timesyncd[160], sock_path[160];

static void fake_proc(char *out, const char *name, const char *comm)
{
	char path[256];
	FILE *f;

	snprintf(out, 160, "%s/%s", dir, name);
	assert_int_equal(mkdir(out, 0755), 0);
	snprintf(path, sizeof(path), "%s/1", out);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/1/comm", out);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "%s\n", comm);
	fclose(f);
	snprintf(path, sizeof(path), "%s/self", out); /* not a pid: skipped */
	assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	fake_proc(proc_none, "p-none", "init");
	fake_proc(proc_chrony, "p-chrony", "chronyd");
	fake_proc(proc_timesyncd, "p-timesyncd", "systemd-timesyn");
	snprintf(sock_path, sizeof(sock_path), "%s/chrony.sock", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void offset_and_delay_from_the_four_stamps(void **state)
{
	/* the host 5 ms ahead; 1 ms each way; 0.2 ms in the host */
	int64_t t1 = 1000000000000LL, t2 = t1 + 5000000 + 1000000, t3 = t2 + 200000;
	int64_t t4 = t3 - 5000000 + 1000000;
	struct ats_sample s = ats_compute(t1, t2, t3, t4);

	assert_true(s.offset_ns == -5000000);
	assert_true(s.delay_ns == 2000000);
	assert_true(s.t4 == t4);
	/* the same clocks, 3 ms out, 1 ms back: θ is off by half the
	 * difference, within δ/2 */
	s = ats_compute(t1, t1 + 3000000, t1 + 3000000, t1 + 4000000);
	assert_true(s.offset_ns == -1000000);
	assert_true(s.delay_ns == 4000000);
}

static void mode_follows_the_time_daemons(void **state)
{
	char why[160];

	assert_int_equal(ats_detect(proc_none, false, why, sizeof(why)), ATS_DISCIPLINE);
	assert_non_null(strstr(why, "no time daemon"));
	assert_int_equal(ats_detect(proc_timesyncd, false, why, sizeof(why)), ATS_MONITOR);
	assert_non_null(strstr(why, "systemd-timesyncd is active"));
	assert_int_equal(ats_detect(proc_timesyncd, true, why, sizeof(why)), ATS_DISCIPLINE);
	assert_non_null(strstr(why, "TakeOver"));
	assert_int_equal(ats_detect(proc_chrony, true, why, sizeof(why)), ATS_CHRONY);
	assert_int_equal(ats_detect("/nonexistent", false, why, sizeof(why)), ATS_DISCIPLINE);
	assert_string_equal(ats_mode_name(ATS_CHRONY), "chrony");
}

/* ---- the service over a socket pair: the test is vmsvcd ---- */

struct rig {
	int host;
	struct aic *c;
	uint8_t buf[SESS_HDR_SIZE + IC_MAX_FRAME];
	size_t len;
	uint8_t frame[SESS_HDR_SIZE + IC_MAX_FRAME];
};

static const struct aic_hello hello = { .min = 1, .max = 1, .software = "vmsvc-agent test" };

static struct rig *rig_new(struct ats *t)
{
	struct rig *r = calloc(1, sizeof(*r));
	int sv[2];

	assert_non_null(r);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	r->host = sv[0];
	r->c = aic_new(sv[1], &ats_ops, t, &hello);
	assert_non_null(r->c);
	return r;
}

static void rig_free(struct rig *r)
{
	aic_free(r->c);
	close(r->host);
	free(r);
}

static void host_send(struct rig *r, struct sess_buf *b)
{
	assert_int_equal(b->err, 0);
	assert_int_equal(write(r->host, b->data, b->len), (ssize_t)b->len);
	sess_buf_free(b);
}

/* The next frame from the agent within ms (running the agent meanwhile). */
static void host_expect(struct rig *r, uint16_t type, struct sess_frame *f, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	for (;;) {
		long n = ic_frame_parse(r->buf, r->len, f);
		struct pollfd p[2] = { { .fd = aic_fd(r->c), .events = aic_events(r->c) },
				       { .fd = r->host, .events = POLLIN } };
		int t = aic_timeout(r->c, now_ms()), wait;
		ssize_t k;

		assert_true(n >= 0);
		if (n > 0) {
			memcpy(r->frame, r->buf, (size_t)n);
			memmove(r->buf, r->buf + n, r->len - (size_t)n);
			r->len -= (size_t)n;
			f->payload = r->frame + SESS_HDR_SIZE;
			if (f->type != type)
				fail_msg("%s instead of %s", ic_type_name(f->type),
					 ic_type_name(type));
			return;
		}
		if (now_ms() >= end)
			fail_msg("no %s within %d ms", ic_type_name(type), ms);
		wait = (int)(end - now_ms());
		poll(p, 2, t >= 0 && t < wait ? t : wait);
		assert_int_equal(aic_io(r->c, p[0].revents, now_ms()), 0);
		aic_tick(r->c, now_ms());
		if (p[1].revents & POLLIN) {
			k = read(r->host, r->buf + r->len, sizeof(r->buf) - r->len);
			assert_true(k > 0);
			r->len += (size_t)k;
		}
	}
}

static void handshake(struct rig *r)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;

	host_expect(r, IC_HELLO, &f, 2000);
	ic_enc_hello(&b, &(struct ic_hello){ .min = 1, .max = 1 });
	ic_enc_state(&b, &(struct ic_state){ .enabled = true });
	host_send(r, &b);
}

/* Answers n REQUESTs as a host whose clock is ahead_ns ahead; the i-th
 * reply's t2 is extra_ns[i] late, as if the request had been that much
 * longer on its way (δ that much longer, θ off by half of it). */
static void answer(struct rig *r, int n, int64_t ahead_ns, const int64_t *extra_ns)
{
	for (int i = 0; i < n; i++) {
		struct sess_buf b = { 0 };
		struct sess_frame f;
		struct ic_ts_request q;
		struct timespec now;
		int64_t t2;

		host_expect(r, IC_TS_REQUEST, &f, 2000);
		assert_int_equal(ic_dec_ts_request(&f, &q), 0);
		clock_gettime(CLOCK_REALTIME, &now);
		t2 = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + ahead_ns;
		ic_enc_ts_reply(&b, &(struct ic_ts_reply){ .seq = q.seq,
							   .t1 = q.t1,
							   .t2 = t2 + extra_ns[i],
							   .t3 = t2,
							   .flags = IC_TS_HOST_SYNCED,
							   .generation = 1 });
		host_send(r, &b);
	}
}

static void burst_keeps_the_lowest_delay_and_reports(void **state)
{
	static const int64_t extra[ATS_BURST] = { 40000000, 30000000, 0,	20000000,
						  10000000, 5000000,  50000000, 60000000 };
	struct ats t;
	struct rig *r;
	struct sess_frame f;
	struct ic_ts_report rep;

	ats_init(&t);
	t.dry_run = true;
	t.proc = proc_none;
	r = rig_new(&t);
	handshake(r);
	/* 30 s ahead; every sample but the third took 5-60 ms more one way */
	answer(r, ATS_BURST, 30000000000LL, extra);
	host_expect(r, IC_TS_REPORT, &f, 2000);
	assert_int_equal(ic_dec_ts_report(&f, &rep), 0);
	assert_string_equal(rep.mode, "discipline");
	/* the third: the guest is 30 s behind, to within its own δ */
	assert_true(rep.offset_ns < -30000000000LL + 5000000 &&
		    rep.offset_ns > -30000000000LL - 5000000);
	assert_true(rep.delay_ns < 5000000);
	assert_int_equal(rep.steps, 1);
	assert_non_null(strstr(rep.message, "stepped by +30.0"));
	/* a SYNC starts the next burst at once, not after the fast poll */
	{
		struct sess_buf b = { 0 };
		uint64_t t0 = now_ms();

		ic_enc_ts_sync(&b, &(struct ic_ts_sync){ .generation = 2 });
		host_send(r, &b);
		host_expect(r, IC_TS_REQUEST, &f, 2000);
		assert_true(now_ms() - t0 < ATS_FAST_POLL_MS);
	}
	rig_free(r);
	ats_fini(&t);
}

static void chrony_mode_sends_chronys_sample_and_never_steps(void **state)
{
	static const int64_t extra[ATS_BURST] = { 0 };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct {
		struct timeval tv;
		double offset;
		int pulse, leap, pad, magic;
	} x;
	struct ats t;
	struct rig *r;
	struct sess_frame f;
	struct ic_ts_report rep;
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	assert_true(strlen(sock_path) < sizeof(a.sun_path));
	memcpy(a.sun_path, sock_path, strlen(sock_path) + 1);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ats_init(&t);
	t.dry_run = true;
	t.proc = proc_chrony;
	t.chrony_sock = sock_path;
	r = rig_new(&t);
	handshake(r);
	answer(r, ATS_BURST, 2000000000LL, extra);
	host_expect(r, IC_TS_REPORT, &f, 2000);
	assert_int_equal(ic_dec_ts_report(&f, &rep), 0);
	assert_string_equal(rep.mode, "chrony");
	assert_int_equal(rep.steps, 0);
	assert_int_equal(recv(s, &x, sizeof(x), MSG_DONTWAIT), 40);
	assert_int_equal(x.magic, 0x534f434b);
	assert_int_equal(x.pulse, 0);
	assert_int_equal(x.leap, 0);
	/* the true time (the host's) minus the system time: +2 s */
	assert_true(x.offset > 1.99 && x.offset < 2.01);
	rig_free(r);
	ats_fini(&t);
	close(s);
}

static void monitor_mode_never_steps_even_at_start_and_after_sync(void **state)
{
	static const int64_t extra[ATS_BURST] = { 0 };
	struct ats t;
	struct rig *r;
	struct sess_frame f;
	struct ic_ts_report rep;
	struct sess_buf b = { 0 };

	ats_init(&t);
	t.dry_run = true;
	t.proc = proc_timesyncd;
	r = rig_new(&t);
	handshake(r);
	/* 30 s out on the first burst after start: discipline would step */
	answer(r, ATS_BURST, 30000000000LL, extra);
	host_expect(r, IC_TS_REPORT, &f, 2000);
	assert_int_equal(ic_dec_ts_report(&f, &rep), 0);
	assert_string_equal(rep.mode, "monitor");
	assert_true(rep.offset_ns < -29000000000LL);
	assert_int_equal(rep.steps, 0);
	assert_non_null(strstr(rep.message, "left to it"));
	/* and after a SYNC (a resume), still not */
	ic_enc_ts_sync(&b, &(struct ic_ts_sync){ .generation = 2 });
	host_send(r, &b);
	answer(r, ATS_BURST, 30000000000LL, extra);
	host_expect(r, IC_TS_REPORT, &f, 2000);
	assert_int_equal(ic_dec_ts_report(&f, &rep), 0);
	assert_int_equal(rep.steps, 0);
	assert_int_equal(t.steps, 0);
	rig_free(r);
	ats_fini(&t);
}

static void kernel_status_follows_the_hosts_clock(void **state)
{
	struct timex tx = { .status = STA_UNSYNC | STA_PLL | STA_INS };

	/* host synchronised: STA_UNSYNC cleared, errors = δ/2 + the host's */
	ats_kernel_status(&tx,
			  &(struct ic_ts_reply){ .flags = IC_TS_HOST_SYNCED,
						 .maxerror_ns = 3000000,
						 .esterror_ns = 1000000 },
			  400000);
	assert_int_equal(tx.modes, ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR);
	assert_false(tx.status & (STA_UNSYNC | STA_PLL | STA_INS | STA_DEL));
	assert_int_equal(tx.maxerror, 200 + 3000);
	assert_int_equal(tx.esterror, 200 + 1000);
	/* host unsynchronised: the guest says so too; a leap second passes on */
	ats_kernel_status(&tx, &(struct ic_ts_reply){ .leap = 2 }, -5);
	assert_true(tx.status & STA_UNSYNC);
	assert_true(tx.status & STA_DEL);
	assert_false(tx.status & STA_INS);
	assert_int_equal(tx.maxerror, 0);
	/* errors bounded by the kernel's limit */
	ats_kernel_status(&tx,
			  &(struct ic_ts_reply){ .flags = IC_TS_HOST_SYNCED,
						 .leap = 1,
						 .maxerror_ns = UINT64_MAX / 2,
						 .esterror_ns = 100000000000000ULL },
			  0);
	assert_true(tx.status & STA_INS);
	assert_false(tx.status & (STA_DEL | STA_UNSYNC));
	assert_int_equal(tx.maxerror, ATS_MAX_ERROR_US);
	assert_int_equal(tx.esterror, ATS_MAX_ERROR_US);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(offset_and_delay_from_the_four_stamps),
		cmocka_unit_test(mode_follows_the_time_daemons),
		cmocka_unit_test(burst_keeps_the_lowest_delay_and_reports),
		cmocka_unit_test(chrony_mode_sends_chronys_sample_and_never_steps),
		cmocka_unit_test(monitor_mode_never_steps_even_at_start_and_after_sync),
		cmocka_unit_test(kernel_status_follows_the_hosts_clock),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
