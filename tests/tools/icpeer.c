/* SPDX-License-Identifier: MIT */
/*
 * icpeer - a stand-in for vmsvc-agent's integration services, for the
 * end-to-end tests (tests/e2e-integration.bats). Built statically from the
 * proto sources and run inside the test guest: it connects to the host
 * (CID 2) on an integration port from a chosen source port, says HELLO,
 * then beats, misbehaves or answers shutdown requests as told, and prints
 * one line per frame it receives:
 *
 *   connected local_port=P | connect ERRNAME
 *   HELLO min=A max=B software=S
 *   STATE enabled=0|1 interval_ms=N
 *   ACK n=N interval_ms=N
 *   ERROR seq=S type=T err=ERRNAME message=M
 *   REQUEST seq=S action=A flags=F timeout_s=T requester=R message=M
 *   FRAME type=T len=N          (anything else)
 *   EOF | read ERRNAME
 *
 *   -p PORT       host port (default 701, the Heartbeat)
 *   -s PORT       bind this source port first (below 1024 needs root);
 *                 0 (default): no bind, the kernel picks one >= 1024
 *   -v MIN-MAX    the version range in HELLO (default 1-1); -v none: no HELLO
 *   -b MS         beat every MS (after HELLO) while the host's STATE says on
 *   -n N          stop beating after N beats, connection kept (default: never)
 *   -a APP        app_state in BEAT: 0 unknown, 1 healthy (default), 2 critical
 *   -c WHY        the BEAT's critical field (with -a 2)
 *   -u TYPE       send an empty frame of TYPE after HELLO
 *   -m            send a malformed BEAT (no boot_id) after HELLO
 *   -g            send a frame with a malformed header after HELLO
 *   -f N          flood: send N empty frames of an unknown type after HELLO
 *                 without reading the answers ("flooded N" or "write ERRNAME")
 *   -r ERR[|B]... answer each shutdown REQUEST with REPLY errno ERR (0:
 *                 accepted) and blockers B; -r none: never answer
 *   -t SEC        exit after SEC seconds (default: run until EOF or killed)
 *
 * Refuses to run unless VMSVC_GUEST=1: never open AF_VSOCK on the host.
 * Exit status: 0 EOF or -t, 1 connect or I/O failure, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "ic.h"

struct opts {
	unsigned port, src_port;
	uint32_t vmin, vmax;
	int hello;
	int beat_ms;
	long beats_max;
	uint32_t app;
	const char *critical;
	int unknown_type;
	int bad_beat, garbage;
	long flood;
	int reply; /* 0: accept; -1: never; else the errno */
	const char *blockers[IC_SD_MAX_BLOCKERS];
	uint32_t nblockers;
	int seconds;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *ename(int e)
{
	return strerrorname_np(e) ?: "EUNKNOWN";
}

static int send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_buf(int fd, struct sess_buf *b)
{
	int r = b->err ? b->err : send_all(fd, b->data, b->len);

	sess_buf_free(b);
	*b = (struct sess_buf){ 0 };
	return r;
}

static void read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)size, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

static int send_beat(int fd, const struct opts *o, uint64_t n)
{
	static char boot_id[64];
	struct sess_buf b = { 0 };
	struct utsname u;
	struct timespec ts;

	if (!boot_id[0])
		read_line("/proc/sys/kernel/random/boot_id", boot_id, sizeof(boot_id));
	uname(&u);
	clock_gettime(CLOCK_BOOTTIME, &ts);
	ic_enc_beat(&b, &(struct ic_beat){ .n = n,
					   .uptime_ms = (uint64_t)ts.tv_sec * 1000 +
							(uint64_t)ts.tv_nsec / 1000000,
					   .app_state = o->app,
					   .boot_id = boot_id[0] ? boot_id : "unknown",
					   .sys_state = "none",
					   .critical = o->critical,
					   .hostname = u.nodename,
					   .os_name = "vmsvc test guest",
					   .os_id = "busybox",
					   .os_version = "1",
					   .kernel = u.release,
					   .agent = "icpeer" });
	return send_buf(fd, &b);
}

/* What to send right after HELLO (-u, -m, -g). */
static int send_extras(int fd, const struct opts *o)
{
	struct sess_buf b = { 0 };
	int r = 0;

	if (o->unknown_type >= 0) {
		sess_begin(&b, (uint16_t)o->unknown_type, 0);
		sess_end(&b);
		r = send_buf(fd, &b);
	}
	if (r == 0 && o->bad_beat) {
		sess_begin(&b, IC_HB_BEAT, 0);
		sess_put_u64(&b, 1, 1); /* n, and no boot_id */
		sess_end(&b);
		r = send_buf(fd, &b);
	}
	for (long i = 0; r == 0 && i < o->flood; i++) {
		static const uint8_t unknown[8] = { 0xe7, 0x03 }; /* type 999, chan 0, len 0 */
		r = send_all(fd, unknown, sizeof(unknown));
		if (r < 0)
			printf("write %s\n", ename(-r));
		else if (i == o->flood - 1)
			printf("flooded %ld\n", o->flood);
		if (r < 0)
			return 0; /* read what is left: the end */
	}
	if (r == 0 && o->garbage) {
		static const uint8_t bad[8] = { 16, 0, 7, 0, 0, 0, 0, 0 }; /* chan 7 */
		r = send_all(fd, bad, sizeof(bad));
	}
	return r;
}

static int answer_request(int fd, const struct opts *o, const struct sess_frame *f)
{
	struct ic_sd_request q;
	struct ic_sd_reply a = { 0 };
	struct sess_buf b = { 0 };

	if (ic_dec_sd_request(f, &q) < 0) {
		printf("REQUEST malformed\n");
		return 0;
	}
	printf("REQUEST seq=%u action=%u flags=%u timeout_s=%u requester=%s message=%s\n", q.seq,
	       q.action, q.flags, q.timeout_s, q.requester ? q.requester : "-",
	       q.message ? q.message : "-");
	if (o->reply < 0)
		return 0;
	a.seq = q.seq;
	a.err = (uint32_t)o->reply;
	a.message = o->reply ? "icpeer says no" : "going down (not really)";
	a.nblockers = o->nblockers;
	memcpy(a.blockers, o->blockers, sizeof(a.blockers));
	ic_enc_sd_reply(&b, &a);
	return send_buf(fd, &b);
}

/* Prints frame f; returns 1 when it is STATE (*enabled set), else 0, or a
 * negative errno when an answer could not be sent. */
static int on_frame(int fd, const struct opts *o, const struct sess_frame *f, int *enabled)
{
	struct ic_hello h;
	struct ic_state s;
	struct ic_hb_ack a;
	struct ic_error e;

	if (f->type == IC_HELLO && ic_dec_hello(f, &h) == 0) {
		printf("HELLO min=%u max=%u software=%s\n", h.min, h.max,
		       h.software ? h.software : "-");
	} else if (f->type == IC_STATE && ic_dec_state(f, &s) == 0) {
		printf("STATE enabled=%d interval_ms=%u\n", s.enabled, s.interval_ms);
		*enabled = s.enabled;
		return 1;
	} else if (f->type == IC_HB_ACK && ic_dec_hb_ack(f, &a) == 0) {
		printf("ACK n=%" PRIu64 " interval_ms=%u\n", a.n, a.interval_ms);
	} else if (f->type == IC_ERROR && ic_dec_error(f, &e) == 0) {
		printf("ERROR seq=%u type=%u err=%s message=%s\n", e.seq, e.type, ename((int)e.err),
		       e.message);
	} else if (f->type == IC_SD_REQUEST) {
		return answer_request(fd, o, f);
	} else {
		printf("FRAME type=%u len=%u\n", f->type, f->len);
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: icpeer [-p PORT] [-s SRCPORT] [-v MIN-MAX|none] [-b MS] [-n N] "
			"[-a APP] [-c WHY] [-u TYPE] [-m] [-g] [-f N] [-r ERR[|BLOCKER]...|none] "
			"[-t SEC]\n");
	return 2;
}

static int parse_reply(struct opts *o, char *arg)
{
	char *save = NULL, *tok = strtok_r(arg, "|", &save);

	if (strcmp(arg, "none") == 0) {
		o->reply = -1;
		return 0;
	}
	o->reply = atoi(tok);
	while ((tok = strtok_r(NULL, "|", &save)) && o->nblockers < IC_SD_MAX_BLOCKERS)
		o->blockers[o->nblockers++] = tok;
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	int c;

	*o = (struct opts){ .port = IC_HEARTBEAT_PORT,
			    .vmin = 1,
			    .vmax = 1,
			    .hello = 1,
			    .beats_max = -1,
			    .app = IC_APP_HEALTHY,
			    .unknown_type = -1 };
	while ((c = getopt(argc, argv, "p:s:v:b:n:a:c:u:mgf:r:t:")) != -1) {
		switch (c) {
		case 'p':
			o->port = (unsigned)atoi(optarg);
			break;
		case 's':
			o->src_port = (unsigned)atoi(optarg);
			break;
		case 'v':
			if (strcmp(optarg, "none") == 0)
				o->hello = 0;
			else if (sscanf(optarg, "%u-%u", &o->vmin, &o->vmax) != 2)
				return -1;
			break;
		case 'b':
			o->beat_ms = atoi(optarg);
			break;
		case 'n':
			o->beats_max = atol(optarg);
			break;
		case 'a':
			o->app = (uint32_t)atoi(optarg);
			break;
		case 'c':
			o->critical = optarg;
			break;
		case 'u':
			o->unknown_type = atoi(optarg);
			break;
		case 'm':
			o->bad_beat = 1;
			break;
		case 'g':
			o->garbage = 1;
			break;
		case 'f':
			o->flood = atol(optarg);
			break;
		case 'r':
			parse_reply(o, optarg);
			break;
		case 't':
			o->seconds = atoi(optarg);
			break;
		default:
			return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

static int dial(const struct opts *o)
{
	struct sockaddr_vm me = { .svm_family = AF_VSOCK,
				  .svm_cid = VMADDR_CID_ANY,
				  .svm_port = o->src_port };
	struct sockaddr_vm host = { .svm_family = AF_VSOCK,
				    .svm_cid = VMADDR_CID_HOST,
				    .svm_port = o->port };
	socklen_t len = sizeof(me);
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || (o->src_port && bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) ||
	    connect(fd, (struct sockaddr *)&host, sizeof(host)) < 0) {
		printf("connect %s\n", ename(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&me, &len);
	printf("connected local_port=%u\n", me.svm_port);
	return fd;
}

/* Sends what is due: HELLO's extras once, beats on time. Returns the ms
 * until the next beat (-1: none due), or a negative errno - 1000. */
static int64_t due(int fd, const struct opts *o, int enabled, int64_t *next, uint64_t *n)
{
	int64_t now = mono_ms();

	if (!o->beat_ms || !enabled || (o->beats_max >= 0 && (long)*n >= o->beats_max))
		return -1;
	if (now >= *next) {
		int r = send_beat(fd, o, ++*n);
		if (r < 0)
			return r - 1000;
		*next = now + o->beat_ms;
	}
	return *next - now;
}

static int serve(int fd, const struct opts *o)
{
	static uint8_t in[SESS_HDR_SIZE + IC_MAX_FRAME];
	int64_t end = o->seconds ? mono_ms() + o->seconds * 1000 : -1, next = 0;
	int enabled = 0;
	uint64_t n = 0;
	size_t have = 0;

	for (;;) {
		int64_t wait = due(fd, o, enabled, &next, &n);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;
		long used;

		if (wait < -1)
			return 1;
		if (end >= 0 && (wait < 0 || mono_ms() + wait > end))
			wait = end - mono_ms() > 0 ? end - mono_ms() : 0;
		if (end >= 0 && mono_ms() >= end)
			return 0;
		if (poll(&p, 1, (int)wait) <= 0)
			continue;
		got = recv(fd, in + have, sizeof(in) - have, 0);
		if (got <= 0) {
			if (got < 0)
				printf("read %s\n", ename(errno));
			else
				printf("EOF\n");
			return got < 0;
		}
		have += (size_t)got;
		for (;;) {
			struct sess_frame f;
			used = ic_frame_parse(in, have, &f);
			if (used <= 0)
				break;
			if (on_frame(fd, o, &f, &enabled) < 0)
				return 1;
			memmove(in, in + used, have - (size_t)used);
			have -= (size_t)used;
		}
		if (used < 0) {
			printf("malformed frame from the host\n");
			return 1;
		}
	}
}

int main(int argc, char **argv)
{
	struct sess_buf b = { 0 };
	struct opts o;
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!getenv("VMSVC_GUEST") || strcmp(getenv("VMSVC_GUEST"), "1") != 0) {
		fprintf(stderr, "icpeer: runs in a test guest only (set VMSVC_GUEST=1 there)\n");
		return 2;
	}
	if (parse(argc, argv, &o) < 0)
		return usage();
	fd = dial(&o);
	if (fd < 0)
		return 1;
	if (o.hello) {
		ic_enc_hello(&b, &(struct ic_hello){
					 .min = o.vmin, .max = o.vmax, .software = "icpeer" });
		if (send_buf(fd, &b) < 0 || send_extras(fd, &o) < 0) {
			printf("write %s\n", ename(errno));
			return 1;
		}
	}
	return serve(fd, &o);
}
