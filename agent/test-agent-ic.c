/* SPDX-License-Identifier: MIT */
/*
 * test-agent-ic.c - the integration services' guest side, never over
 * vsock: the connection engine (agent-ic.c) with the heartbeat and
 * shutdown services driven through a socket pair, the test playing
 * vmsvcd (HELLO exchange, STATE off and on, unknown frame types, protocol
 * mismatch, beat contents, shutdown refused, blocked, accepted), the
 * health verdict, the backoff, and the reconnecting loop (agent-icw.c)
 * dialing Unix sockets in a child process.
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
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent-facts.h"
#include "agent-hb.h"
#include "agent-ic.h"
#include "agent-icw.h"
#include "agent-sd.h"
#include "ic.h"
#include "util.h"

static char dir[] = "/tmp/test-agent-ic.XXXXXX";
static char conf_path[128], osr_path[128];

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	snprintf(conf_path, sizeof(conf_path), "%s/agent.conf", dir);
	snprintf(osr_path, sizeof(osr_path), "%s/os-release", dir);
	write_file(osr_path, "NAME=\"Testix\"\nPRETTY_NAME=\"Testix 7 (\\\"quoted\\\")\"\n"
			     "ID=testix\nVERSION_ID='7.1'\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the engine over a socket pair: the test is vmsvcd ---- */

struct rig {
	int host;
	struct aic *c;
	int end; /* what aic_io returned last */
	uint8_t buf[SESS_HDR_SIZE + IC_MAX_FRAME];
	size_t len;
	uint8_t frame[SESS_HDR_SIZE + IC_MAX_FRAME];
};

static const struct aic_hello hello = { .min = 1, .max = 2, .software = "vmsvc-agent test" };

static struct rig *rig_new(const struct aic_ops *ops, void *svc)
{
	struct rig *r = calloc(1, sizeof(*r));
	int sv[2];

	assert_non_null(r);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	r->host = sv[0];
	r->c = aic_new(sv[1], ops, svc, &hello);
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

/* Runs the agent's side for one poll round of at most ms. */
static void agent_round(struct rig *r, int ms)
{
	struct pollfd p[2] = { { .fd = aic_fd(r->c), .events = aic_events(r->c) },
			       { .fd = r->host, .events = POLLIN } };
	int t = aic_timeout(r->c, now_ms());

	if (t >= 0 && t < ms)
		ms = t;
	if (r->end)
		p[0].fd = -1;
	poll(p, 2, ms);
	if (!r->end) {
		r->end = aic_io(r->c, p[0].revents, now_ms());
		if (!r->end)
			aic_tick(r->c, now_ms());
	}
}

/* The next frame from the agent within ms: 1 and *f (valid until the next
 * call), 0 when none came, -1 at the end of the stream. */
static int host_next(struct rig *r, struct sess_frame *f, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	for (;;) {
		long n = ic_frame_parse(r->buf, r->len, f);
		struct pollfd p = { .fd = r->host, .events = POLLIN };
		ssize_t k;

		assert_true(n >= 0);
		if (n > 0) {
			memcpy(r->frame, r->buf, (size_t)n);
			memmove(r->buf, r->buf + n, r->len - (size_t)n);
			r->len -= (size_t)n;
			f->payload = r->frame + SESS_HDR_SIZE;
			return 1;
		}
		if (now_ms() >= end)
			return 0;
		agent_round(r, (int)(end - now_ms()));
		if (poll(&p, 1, 0) <= 0)
			continue;
		k = read(r->host, r->buf + r->len, sizeof(r->buf) - r->len);
		if (k <= 0)
			return -1;
		r->len += (size_t)k;
	}
}

/* The next frame must be of type, within ms. */
static void host_expect(struct rig *r, uint16_t type, struct sess_frame *f, int ms)
{
	int k = host_next(r, f, ms);

	if (k != 1)
		fail_msg("no %s frame within %d ms (%d)", ic_type_name(type), ms, k);
	if (f->type != type)
		fail_msg("%s instead of %s", ic_type_name(f->type), ic_type_name(type));
}

/* Reads the agent's HELLO, answers HELLO 1 and STATE. */
static void host_handshake(struct rig *r, bool enabled, uint32_t interval_ms)
{
	struct sess_buf b = { 0 };
	struct sess_frame f;
	struct ic_hello h;

	host_expect(r, IC_HELLO, &f, 2000);
	assert_int_equal(ic_dec_hello(&f, &h), 0);
	assert_int_equal(h.min, 1);
	assert_int_equal(h.max, 2);
	assert_string_equal(h.software, "vmsvc-agent test");
	ic_enc_hello(&b, &(struct ic_hello){ .min = 1, .max = 1, .software = "vmsvcd test" });
	ic_enc_state(&b, &(struct ic_state){ .enabled = enabled, .interval_ms = interval_ms });
	host_send(r, &b);
}

/* A probe the test controls. */
static struct ahb_health probe_says = { .sys_state = "running", .app_state = IC_APP_HEALTHY };
static int probe_calls;

static void test_probe(void *ctx, struct ahb_health *h)
{
	probe_calls++;
	*h = probe_says;
}

static struct ahb *new_hb(void)
{
	struct ahb *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	ahb_init(h, test_probe, NULL, "9.9.9");
	h->os_release = osr_path;
	return h;
}

static uint64_t beat_n(const struct sess_frame *f)
{
	struct ic_beat x;

	assert_int_equal(ic_dec_beat(f, &x), 0);
	return x.n;
}

static void hello_exchange_then_beats_every_interval(void **state)
{
	struct ahb *hb = new_hb();
	struct rig *r = rig_new(&ahb_ops, hb);
	struct sess_frame f;
	uint64_t t0, t1;

	assert_int_equal(aic_phase(r->c), AIC_HELLO_SENT);
	/* nothing but HELLO before the host's HELLO */
	host_expect(r, IC_HELLO, &f, 2000);
	assert_int_equal(host_next(r, &f, 500), 0);
	{
		struct sess_buf b = { 0 };

		ic_enc_hello(&b, &(struct ic_hello){ .min = 1, .max = 1 });
		ic_enc_state(&b, &(struct ic_state){ .enabled = true, .interval_ms = 300 });
		host_send(r, &b);
	}
	t0 = now_ms();
	host_expect(r, IC_HB_BEAT, &f, 1000);
	assert_true(now_ms() - t0 < 150); /* the first BEAT at once */
	assert_int_equal(aic_phase(r->c), AIC_READY);
	assert_int_equal(aic_version(r->c), 1);
	assert_int_equal(beat_n(&f), 1);
	t1 = now_ms();
	host_expect(r, IC_HB_BEAT, &f, 1000);
	assert_int_equal(beat_n(&f), 2);
	assert_true(now_ms() - t1 >= 250 && now_ms() - t1 < 600);
	assert_int_equal(r->end, 0);
	rig_free(r);
	free(hb);
}

static void state_off_stops_beats_and_on_resumes_them(void **state)
{
	struct ahb *hb = new_hb();
	struct rig *r = rig_new(&ahb_ops, hb);
	struct sess_buf b = { 0 };
	struct sess_frame f;
	uint64_t t0;

	host_handshake(r, true, 200);
	host_expect(r, IC_HB_BEAT, &f, 1000);
	ic_enc_state(&b, &(struct ic_state){ .enabled = false, .interval_ms = 200 });
	host_send(r, &b);
	/* at most a BEAT already on its way, then silence, connection kept */
	if (host_next(r, &f, 150) == 1)
		assert_int_equal(f.type, IC_HB_BEAT);
	assert_int_equal(host_next(r, &f, 1000), 0);
	assert_int_equal(r->end, 0);
	assert_false(aic_enabled(r->c));
	ic_enc_state(&b, &(struct ic_state){ .enabled = true, .interval_ms = 200 });
	host_send(r, &b);
	t0 = now_ms();
	host_expect(r, IC_HB_BEAT, &f, 1000);
	assert_true(now_ms() - t0 < 150);
	assert_true(beat_n(&f) >= 2); /* n counts on per connection */
	host_expect(r, IC_HB_BEAT, &f, 1000);
	rig_free(r);
	free(hb);
}

static void ack_sets_the_interval(void **state)
{
	struct ahb *hb = new_hb();
	struct rig *r = rig_new(&ahb_ops, hb);
	struct sess_buf b = { 0 };
	struct sess_frame f;
	uint64_t t0;

	host_handshake(r, true, 5000);
	host_expect(r, IC_HB_BEAT, &f, 1000);
	t0 = now_ms();
	ic_enc_hb_ack(&b, &(struct ic_hb_ack){ .n = 1, .interval_ms = 250 });
	host_send(r, &b);
	host_expect(r, IC_HB_BEAT, &f, 1000);
	assert_true(now_ms() - t0 < 500);
	/* below the minimum: 200 ms */
	ic_enc_hb_ack(&b, &(struct ic_hb_ack){ .n = 2, .interval_ms = 1 });
	host_send(r, &b);
	host_expect(r, IC_HB_BEAT, &f, 1000);
	t0 = now_ms();
	host_expect(r, IC_HB_BEAT, &f, 1000);
	assert_true(now_ms() - t0 >= 150);
	rig_free(r);
	free(hb);
}

static void expect_error(struct rig *r, uint32_t type, uint32_t err)
{
	struct sess_frame f;
	struct ic_error e;

	host_expect(r, IC_ERROR, &f, 1000);
	assert_int_equal(ic_dec_error(&f, &e), 0);
	assert_int_equal(e.type, type);
	assert_int_equal(e.err, err);
}

static void send_raw(struct rig *r, uint16_t type, uint16_t chan)
{
	struct sess_buf b = { 0 };

	sess_begin(&b, type, chan);
	sess_put_u32(&b, 1, 42);
	sess_end(&b);
	host_send(r, &b);
}

static void unknown_types_get_eopnotsupp_and_the_connection_goes_on(void **state)
{
	struct ahb *hb = new_hb();
	struct rig *r = rig_new(&ahb_ops, hb);
	struct sess_frame f;
	uint64_t n;

	host_handshake(r, true, 300);
	host_expect(r, IC_HB_BEAT, &f, 1000);
	send_raw(r, 999, 0); /* nobody's */
	expect_error(r, 999, EOPNOTSUPP);
	send_raw(r, 9, 0); /* the common range, unassigned */
	expect_error(r, 9, EOPNOTSUPP);
	send_raw(r, IC_SD_REQUEST, 0); /* another service's */
	expect_error(r, IC_SD_REQUEST, EOPNOTSUPP);
	send_raw(r, IC_HB_BEAT, 0); /* the agent's own direction */
	expect_error(r, IC_HB_BEAT, EOPNOTSUPP);
	send_raw(r, IC_STATE, 0); /* malformed: no enabled field */
	expect_error(r, IC_STATE, EPROTO);
	/* beats go on */
	while (host_next(r, &f, 1000) == 1 && f.type != IC_HB_BEAT)
		;
	assert_int_equal(f.type, IC_HB_BEAT);
	n = beat_n(&f);
	host_expect(r, IC_HB_BEAT, &f, 1000);
	assert_int_equal(beat_n(&f), n + 1);
	assert_int_equal(r->end, 0);
	rig_free(r);
	free(hb);
}

static void frames_before_the_hosts_hello_are_errors(void **state)
{
	struct ahb *hb = new_hb();
	struct rig *r = rig_new(&ahb_ops, hb);
	struct sess_buf b = { 0 };
	struct sess_frame f;

	host_expect(r, IC_HELLO, &f, 1000);
	ic_enc_hb_ack(&b, &(struct ic_hb_ack){ .n = 1, .interval_ms = 1000 });
	ic_enc_state(&b, &(struct ic_state){ .enabled = true });
	host_send(r, &b);
	expect_error(r, IC_HB_ACK, EPROTO);
	expect_error(r, IC_STATE, EPROTO);
	assert_int_equal(aic_phase(r->c), AIC_HELLO_SENT);
	assert_int_equal(r->end, 0);
	rig_free(r);
	free(hb);
}

static void protocol_mismatch_goes_quiet_and_keeps_the_connection(void **state)
{
	struct ahb *hb = new_hb();
	struct rig *r = rig_new(&ahb_ops, hb);
	struct sess_buf b = { 0 };
	struct sess_frame f;

	host_expect(r, IC_HELLO, &f, 1000);
	ic_enc_error(&b, &(struct ic_error){ .type = IC_HELLO,
					     .err = EPROTONOSUPPORT,
					     .message = "vmsvcd speaks versions 3-4" });
	host_send(r, &b);
	assert_int_equal(host_next(r, &f, 300), 0);
	assert_int_equal(aic_phase(r->c), AIC_MISMATCH);
	assert_string_equal(aic_mismatch(r->c), "vmsvcd speaks versions 3-4");
	/* nothing answers anything now, no beat, no HELLO again */
	send_raw(r, 999, 0);
	ic_enc_state(&b, &(struct ic_state){ .enabled = true, .interval_ms = 200 });
	host_send(r, &b);
	assert_int_equal(host_next(r, &f, 600), 0);
	assert_int_equal(r->end, 0);
	rig_free(r);
	free(hb);
}

static void a_hello_outside_our_range_ends_the_connection(void **state)
{
	struct ahb *hb = new_hb();
	struct rig *r = rig_new(&ahb_ops, hb);
	struct sess_buf b = { 0 };
	struct sess_frame f;

	host_expect(r, IC_HELLO, &f, 1000);
	ic_enc_hello(&b, &(struct ic_hello){ .min = 7, .max = 7 });
	host_send(r, &b);
	host_next(r, &f, 300);
	assert_int_equal(r->end, -EPROTONOSUPPORT);
	rig_free(r);
	free(hb);
}

static void malformed_header_and_host_close_end_the_connection(void **state)
{
	struct ahb *hb = new_hb();
	struct rig *r = rig_new(&ahb_ops, hb);
	uint8_t hdr[8] = { 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f }; /* 2 GiB payload */
	struct sess_frame f;

	host_expect(r, IC_HELLO, &f, 1000);
	assert_int_equal(write(r->host, hdr, sizeof(hdr)), 8);
	host_next(r, &f, 300);
	assert_int_equal(r->end, -EPROTO);
	rig_free(r);

	r = rig_new(&ahb_ops, hb);
	host_handshake(r, true, 1000);
	host_expect(r, IC_HB_BEAT, &f, 1000);
	shutdown(r->host, SHUT_WR);
	host_next(r, &f, 300);
	assert_int_equal(r->end, -EPIPE);
	rig_free(r);
	free(hb);
}

static void beat_carries_the_guests_facts_and_health(void **state)
{
	struct ahb *hb = new_hb();
	struct rig *r = rig_new(&ahb_ops, hb);
	char boot_id[64] = "", host[256];
	struct sess_frame f;
	struct utsname u;
	struct ic_beat x;
	FILE *fp;
	int calls;

	probe_says = (struct ahb_health){ .sys_state = "degraded",
					  .app_state = IC_APP_CRITICAL,
					  .critical = "degraded: foo.service failed" };
	host_handshake(r, true, 1000);
	calls = probe_calls;
	host_expect(r, IC_HB_BEAT, &f, 1000);
	assert_int_equal(probe_calls, calls + 1); /* asked at every beat */
	assert_int_equal(ic_dec_beat(&f, &x), 0);
	assert_int_equal(x.n, 1);
	assert_true(x.uptime_ms <= afacts_uptime_ms() && x.uptime_ms + 2000 > afacts_uptime_ms());
	fp = fopen("/proc/sys/kernel/random/boot_id", "r");
	assert_non_null(fp);
	assert_non_null(fgets(boot_id, sizeof(boot_id), fp));
	fclose(fp);
	boot_id[strcspn(boot_id, "\n")] = '\0';
	assert_string_equal(x.boot_id, boot_id);
	assert_string_equal(x.sys_state, "degraded");
	assert_int_equal(x.app_state, IC_APP_CRITICAL);
	assert_string_equal(x.critical, "degraded: foo.service failed");
	gethostname(host, sizeof(host));
	assert_string_equal(x.hostname, host);
	assert_string_equal(x.os_name, "Testix 7 (\"quoted\")");
	assert_string_equal(x.os_id, "testix");
	assert_string_equal(x.os_version, "7.1");
	uname(&u);
	assert_string_equal(x.kernel, u.release);
	assert_string_equal(x.agent, "9.9.9");

	/* healthy: no critical field */
	probe_says = (struct ahb_health){ .sys_state = "running", .app_state = IC_APP_HEALTHY };
	host_expect(r, IC_HB_BEAT, &f, 2000);
	assert_int_equal(ic_dec_beat(&f, &x), 0);
	assert_int_equal(x.app_state, IC_APP_HEALTHY);
	assert_null(x.critical);
	rig_free(r);
	free(hb);
}

static void health_verdict_from_systemds_answers(void **state)
{
	struct ahb_health h;

	ahb_judge("running", "", "", &h);
	assert_string_equal(h.sys_state, "running");
	assert_int_equal(h.app_state, IC_APP_HEALTHY);
	assert_string_equal(h.critical, "");
	ahb_judge("degraded", "foo.service, bar.mount", "", &h);
	assert_int_equal(h.app_state, IC_APP_CRITICAL);
	assert_string_equal(h.critical, "degraded: foo.service, bar.mount failed");
	ahb_judge("starting", "", "app.service", &h);
	assert_int_equal(h.app_state, IC_APP_CRITICAL);
	assert_string_equal(h.critical, "app.service failed");
	ahb_judge(NULL, NULL, NULL, &h);
	assert_string_equal(h.sys_state, "unknown");
	assert_int_equal(h.app_state, IC_APP_UNKNOWN);
	/* without systemd: none, unknown */
	ahb_probe_systemd(NULL, &h);
	assert_string_equal(h.sys_state, "none");
	assert_int_equal(h.app_state, IC_APP_UNKNOWN);
}

/* ---- shutdown, with a backend that records ---- */

struct fake_be {
	int blockers; /* how many to report */
	int powered, announced;
	uint32_t action;
	bool force;
	char text[4096];
};

static int fake_blockers(void *ctx, char **out, size_t max)
{
	struct fake_be *fb = ctx;

	for (int i = 0; i < fb->blockers; i++)
		assert_true(asprintf(&out[i], "app%d (uid 1000, pid %d): saving work", i, 100 + i) >
			    0);
	return fb->blockers;
}

static void fake_announce(void *ctx, uint32_t action, const char *text)
{
	struct fake_be *fb = ctx;

	fb->announced++;
	snprintf(fb->text, sizeof(fb->text), "%s", text);
}

static int fake_power(void *ctx, uint32_t action, bool force, char *why, size_t size)
{
	struct fake_be *fb = ctx;

	fb->powered++;
	fb->action = action;
	fb->force = force;
	return 0;
}

static struct rig *sd_rig(struct asd *sd, struct fake_be *fb)
{
	struct rig *r;

	*sd = (struct asd){ .config = conf_path,
			    .be = { .blockers = fake_blockers,
				    .announce = fake_announce,
				    .power = fake_power,
				    .ctx = fb } };
	r = rig_new(&asd_ops, sd);
	host_handshake(r, true, 0);
	return r;
}

static void send_request(struct rig *r, uint32_t seq, uint32_t action, uint32_t flags)
{
	struct sess_buf b = { 0 };

	ic_enc_sd_request(&b, &(struct ic_sd_request){ .seq = seq,
						       .action = action,
						       .flags = flags,
						       .timeout_s = 60,
						       .message = "maintenance at noon",
						       .requester = "uid 0 (root) on the host" });
	host_send(r, &b);
}

static void shutdown_refused_by_the_configuration(void **state)
{
	struct fake_be fb = { 0 };
	struct sess_frame f;
	struct ic_sd_reply rep;
	struct asd sd;
	struct rig *r;
	uint64_t t0;

	write_file(conf_path, "[Shutdown]\nEnabled = no\n");
	r = sd_rig(&sd, &fb);
	t0 = now_ms();
	send_request(r, 7, IC_SD_POWEROFF, 0);
	host_expect(r, IC_SD_REPLY, &f, 1000);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(ic_dec_sd_reply(&f, &rep), 0);
	assert_int_equal(rep.seq, 7);
	assert_int_equal(rep.err, EPERM);
	assert_non_null(strstr(rep.message, "[Shutdown] Enabled = no"));
	assert_int_equal(fb.powered, 0);
	assert_int_equal(fb.announced, 0);
	/* a broken file refuses too, and says where */
	write_file(conf_path, "[Shutdown]\nEnabled = maybe\n");
	send_request(r, 8, IC_SD_REBOOT, IC_SD_FORCE);
	host_expect(r, IC_SD_REPLY, &f, 1000);
	assert_int_equal(ic_dec_sd_reply(&f, &rep), 0);
	assert_int_equal(rep.seq, 8);
	assert_int_equal(rep.err, EINVAL);
	assert_non_null(strstr(rep.message, "agent.conf:2"));
	assert_int_equal(fb.powered, 0);
	unlink(conf_path);
	rig_free(r);
}

static void shutdown_blocked_by_inhibitors_unless_forced(void **state)
{
	struct fake_be fb = { .blockers = 2 };
	struct sess_frame f;
	struct ic_sd_reply rep;
	struct asd sd;
	struct rig *r = sd_rig(&sd, &fb);

	send_request(r, 1, IC_SD_REBOOT, 0);
	host_expect(r, IC_SD_REPLY, &f, 1000);
	assert_int_equal(ic_dec_sd_reply(&f, &rep), 0);
	assert_int_equal(rep.err, EBUSY);
	assert_int_equal(rep.nblockers, 2);
	assert_string_equal(rep.blockers[0], "app0 (uid 1000, pid 100): saving work");
	assert_string_equal(rep.blockers[1], "app1 (uid 1000, pid 101): saving work");
	assert_int_equal(fb.powered, 0);

	send_request(r, 2, IC_SD_REBOOT, IC_SD_FORCE);
	host_expect(r, IC_SD_REPLY, &f, 1000);
	assert_int_equal(ic_dec_sd_reply(&f, &rep), 0);
	assert_int_equal(rep.seq, 2);
	assert_int_equal(rep.err, 0);
	assert_int_equal(fb.powered, 1);
	assert_int_equal(fb.action, IC_SD_REBOOT);
	assert_true(fb.force);
	rig_free(r);
}

static void shutdown_accepted_is_announced_and_started_once(void **state)
{
	struct fake_be fb = { 0 };
	struct sess_frame f;
	struct ic_sd_reply rep;
	struct asd sd;
	struct rig *r = sd_rig(&sd, &fb);

	send_request(r, 3, IC_SD_POWEROFF, 0);
	host_expect(r, IC_SD_REPLY, &f, 1000);
	assert_int_equal(ic_dec_sd_reply(&f, &rep), 0);
	assert_int_equal(rep.seq, 3);
	assert_int_equal(rep.err, 0);
	assert_int_equal(fb.announced, 1);
	assert_int_equal(fb.powered, 1);
	assert_int_equal(fb.action, IC_SD_POWEROFF);
	assert_false(fb.force);
	assert_non_null(strstr(fb.text, "uid 0 (root) on the host"));
	assert_non_null(strstr(fb.text, "asks this system to power off now"));
	assert_non_null(strstr(fb.text, "maintenance at noon"));
	/* again: answered, not done twice; another action: EALREADY */
	send_request(r, 4, IC_SD_POWEROFF, 0);
	host_expect(r, IC_SD_REPLY, &f, 1000);
	assert_int_equal(ic_dec_sd_reply(&f, &rep), 0);
	assert_int_equal(rep.seq, 4);
	assert_int_equal(rep.err, 0);
	send_request(r, 5, IC_SD_REBOOT, 0);
	host_expect(r, IC_SD_REPLY, &f, 1000);
	assert_int_equal(ic_dec_sd_reply(&f, &rep), 0);
	assert_int_equal(rep.err, EALREADY);
	assert_int_equal(fb.powered, 1);
	rig_free(r);
}

static void malformed_request_gets_an_error(void **state)
{
	struct fake_be fb = { 0 };
	struct asd sd;
	struct rig *r = sd_rig(&sd, &fb);

	send_raw(r, IC_SD_REQUEST, 0); /* no action */
	expect_error(r, IC_SD_REQUEST, EPROTO);
	send_raw(r, IC_HB_ACK, 0); /* not this service's */
	expect_error(r, IC_HB_ACK, EOPNOTSUPP);
	assert_int_equal(fb.powered, 0);
	assert_int_equal(r->end, 0);
	rig_free(r);
}

/* ---- the connection keeper ---- */

static void backoff_starts_fast_and_caps_at_5_s(void **state)
{
	unsigned d = 0, want[] = { 200, 400, 800, 1600, 3200, 5000, 5000 };

	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_int_equal(d = aicw_backoff(d, false), want[i]);
	assert_int_equal(aicw_backoff(d, true), 200);
}

/* The keeper in a child, dialing DIR/PORT (Unix sockets). */
static int unix_dial(void *ctx, uint16_t port, int *fd)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s/%u", dir, port);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		int e = errno;

		close(s);
		return -e;
	}
	*fd = s;
	return 0;
}

static void keep_hb(void *ctx, const struct aconf *c, struct aicw_service *svcs, size_t n)
{
	svcs[0].wanted = c->hb_enabled;
}

static bool stop_now(void *ctx)
{
	return true;
}

static pid_t keeper_start(int *stop_w, const char *log)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ahb *hb = new_hb();
		struct aicw_service svc = { .ops = &ahb_ops, .svc = hb };
		struct aicw w = { .config = conf_path,
				  .hello = hello,
				  .dial = unix_dial,
				  .svcs = &svc,
				  .nsvcs = 1,
				  .reconfigure = keep_hb,
				  .stop_fd = p[0],
				  .on_stop_fd = stop_now };
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 2);
		close(p[1]);
		_exit(aicw_run(&w) < 0 ? 1 : 0);
	}
	close(p[0]);
	*stop_w = p[1];
	return pid;
}

static int count_lines(const char *path, const char *needle)
{
	char line[2048];
	FILE *fp = fopen(path, "r");
	int n = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, needle) != NULL;
	fclose(fp);
	return n;
}

/* Accepts on l within ms: the fd, or -1. */
static int accept_within(int l, int ms)
{
	struct pollfd p = { .fd = l, .events = POLLIN };

	if (poll(&p, 1, ms) <= 0)
		return -1;
	return accept4(l, NULL, NULL, SOCK_CLOEXEC);
}

static void keeper_retries_quietly_and_reconnects(void **state)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char log[160];
	int stop, l, c, st;
	struct sess_frame f;
	pid_t pid;

	unlink(conf_path);
	snprintf(log, sizeof(log), "%s/keeper.log", dir);
	pid = keeper_start(&stop, log);
	/* nobody listens: several tries in 1.5 s, one line */
	usleep(1500 * 1000);
	assert_int_equal(count_lines(log, "heartbeat: cannot connect"), 1);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/%u", dir, IC_HEARTBEAT_PORT);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 4), 0);
	c = accept_within(l, 6000);
	assert_true(c >= 0);
	/* the HELLO, then the host hangs up: the keeper comes back */
	{
		uint8_t buf[256];
		ssize_t n = read(c, buf, sizeof(buf));

		assert_true(n >= SESS_HDR_SIZE);
		assert_int_equal(ic_frame_parse(buf, (size_t)n, &f), n);
		assert_int_equal(f.type, IC_HELLO);
	}
	close(c);
	c = accept_within(l, 6000);
	assert_true(c >= 0);
	close(c);
	/* stop: the child ends at once */
	assert_int_equal(write(stop, "x", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(count_lines(log, "heartbeat: cannot connect"), 1);
	close(stop);
	close(l);
	unlink(a.sun_path);
}

static void keeper_is_quiet_while_connections_flap(void **state)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct sess_buf b = { 0 };
	char log[160];
	int stop, l, st;
	pid_t pid;

	unlink(conf_path);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/%u", dir, IC_HEARTBEAT_PORT);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 4), 0);
	snprintf(log, sizeof(log), "%s/keeper-flap.log", dir);
	pid = keeper_start(&stop, log);
	/* four connections that each end right after the handshake */
	for (int i = 0; i < 4; i++) {
		int c = accept_within(l, 6000);
		uint8_t buf[512];

		assert_true(c >= 0);
		assert_true(read(c, buf, sizeof(buf)) > 0);
		ic_enc_hello(&b, &(struct ic_hello){ .min = 1, .max = 1 });
		ic_enc_state(&b, &(struct ic_state){ .enabled = true, .interval_ms = 1000 });
		assert_int_equal(write(c, b.data, b.len), (ssize_t)b.len);
		sess_buf_free(&b);
		usleep(100 * 1000);
		close(c);
	}
	st = accept_within(l, 6000);
	assert_true(st >= 0);
	close(st);
	assert_int_equal(write(stop, "x", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	/* the first two say what happened, then one line for the rest */
	assert_int_equal(count_lines(log, "heartbeat: connected"), 2);
	assert_int_equal(count_lines(log, "keeps ending"), 1);
	assert_true(count_lines(log, "heartbeat: the connection to the host ended") <= 1);
	close(stop);
	close(l);
	unlink(a.sun_path);
}

static void keeper_does_not_dial_a_service_off_in_agent_conf(void **state)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char log[160];
	int stop, l, st;
	pid_t pid;

	write_file(conf_path, "[Heartbeat]\nEnabled = no\n");
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/%u", dir, IC_HEARTBEAT_PORT);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 4), 0);
	snprintf(log, sizeof(log), "%s/keeper-off.log", dir);
	pid = keeper_start(&stop, log);
	assert_int_equal(accept_within(l, 800), -1);
	assert_int_equal(count_lines(log, "heartbeat: turned off in"), 1);
	/* turned on in the file: connects within the check period */
	write_file(conf_path, "[Heartbeat]\nEnabled = yes\nCriticalUnits = a\n");
	st = accept_within(l, AICW_CONF_CHECK_MS + 2000);
	assert_true(st >= 0);
	close(st);
	assert_int_equal(write(stop, "x", 1), 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(stop);
	close(l);
	unlink(a.sun_path);
	unlink(conf_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hello_exchange_then_beats_every_interval),
		cmocka_unit_test(state_off_stops_beats_and_on_resumes_them),
		cmocka_unit_test(ack_sets_the_interval),
		cmocka_unit_test(unknown_types_get_eopnotsupp_and_the_connection_goes_on),
		cmocka_unit_test(frames_before_the_hosts_hello_are_errors),
		cmocka_unit_test(protocol_mismatch_goes_quiet_and_keeps_the_connection),
		cmocka_unit_test(a_hello_outside_our_range_ends_the_connection),
		cmocka_unit_test(malformed_header_and_host_close_end_the_connection),
		cmocka_unit_test(beat_carries_the_guests_facts_and_health),
		cmocka_unit_test(health_verdict_from_systemds_answers),
		cmocka_unit_test(shutdown_refused_by_the_configuration),
		cmocka_unit_test(shutdown_blocked_by_inhibitors_unless_forced),
		cmocka_unit_test(shutdown_accepted_is_announced_and_started_once),
		cmocka_unit_test(malformed_request_gets_an_error),
		cmocka_unit_test(backoff_starts_fast_and_caps_at_5_s),
		cmocka_unit_test(keeper_retries_quietly_and_reconnects),
		cmocka_unit_test(keeper_is_quiet_while_connections_flap),
		cmocka_unit_test(keeper_does_not_dial_a_service_off_in_agent_conf),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
