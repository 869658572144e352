/* SPDX-License-Identifier: MIT */
/*
 * hybsock.c - the hybrid socket of each VM and the NAME.vsock_P route.
 *
 * A client of NAME.vsock has HYBRID_LINE_TIMEOUT_MS to send its CONNECT
 * line. The line is read without taking anything after its newline (peek,
 * then read exactly up to it), so data sent right behind it stays in the
 * socket for the guest. Then the stream goes to hs_connect(), and our
 * done() callback writes the OK line (or, on failure, the stream is
 * closed).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "daemon.h"
#include "fdwatch.h"
#include "hstream.h"
#include "hybrid.h"
#include "hybsock.h"
#include "log.h"
#include "route.h"
#include "util.h"
#include "vm.h"

/* How long a hybrid client may take to send its CONNECT line. */
#define HYBRID_LINE_TIMEOUT_MS 5000
/* How long a hybrid CONNECT waits for the guest (Firecracker's 2 s). */
#define HYBRID_CONNECT_TIMEOUT_MS 2000

struct hybsock {
	struct vm *vm;
	char *path; /* RUNDIR/vms/NAME.vsock */
	struct watch *listen;
	struct list_head clients; /* struct hyb_client still sending the line */
};

struct hyb_client {
	struct watch w;
	struct hybsock *hsk;
	struct list_head link;
	struct hyb_line line;
	uint64_t deadline_ms;
};

static void client_close(struct hyb_client *c)
{
	list_del(&c->link);
	watch_close(&c->w);
}

/* done() of hs_connect: the guest accepted (write OK) or not. */
static int on_connected(void *opaque, int err, int fd, uint32_t local_port)
{
	char ok[32];
	size_t len;

	(void)opaque;
	if (err)
		return 0; /* the stream is closed: what Firecracker clients expect */
	/* A fresh socket's buffer always has room for this. */
	len = hyb_format_ok(local_port, ok, sizeof(ok));
	if (send(fd, ok, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len)
		return -EPIPE;
	return 0;
}

/* Hands the client's stream to hs_connect. */
static void client_connect(struct hyb_client *c, uint32_t port)
{
	struct vm *vm = c->hsk->vm;
	int fd = fcntl(c->w.fd, F_DUPFD_CLOEXEC, 3), r;

	client_close(c);
	if (fd < 0) {
		log_warn("VM %s: CONNECT %u: %s", vm_name(vm), port, strerror(errno));
		return;
	}
	r = hs_connect(vm, port, VSK_PORT_ANY, fd, now_ms() + HYBRID_CONNECT_TIMEOUT_MS,
		       on_connected, NULL);
	if (r < 0)
		log_info("VM %s: CONNECT %u refused: %s", vm_name(vm), port,
			 r == -ENETUNREACH ? "the guest's vsock driver is not running"
					   : strerror(-r));
}

static void on_client(uv_poll_t *p, int status, int events)
{
	struct hyb_client *c = p->data;
	char buf[HYB_LINE_MAX + 1];
	uint32_t port;
	ssize_t n;
	char *nl;
	int r = 0;

	(void)events;
	if (status < 0) {
		client_close(c);
		return;
	}
	n = recv(c->w.fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	nl = memchr(buf, '\n', (size_t)n);
	/* Without a newline, take what is there (it is all line) and wait. */
	n = recv(c->w.fd, buf, nl ? (size_t)(nl - buf + 1) : (size_t)n, MSG_DONTWAIT);
	for (ssize_t i = 0; i < n && r == 0; i++)
		r = hyb_line_feed(&c->line, (uint8_t)buf[i], &port);
	if (n <= 0 || r < 0) {
		if (r < 0)
			log_info("VM %s: malformed hybrid request refused (expected "
				 "'CONNECT <port>\\n')",
				 vm_name(c->hsk->vm));
		client_close(c);
	} else if (r == 1) {
		client_connect(c, port);
	}
}

static void on_listen(uv_poll_t *p, int status, int events)
{
	struct watch *l = p->data;
	struct hybsock *hsk = l->owner;
	struct daemon *d = vm_daemon(hsk->vm);

	(void)events;
	if (status < 0)
		return;
	for (int n = 0; n < 64; n++) {
		int fd = watch_accept(l, hsk->path);
		if (fd < 0)
			return;
		struct hyb_client *c = (struct hyb_client *)watch_new(d->loop, fd, sizeof(*c),
								      on_client, NULL, NULL);
		if (!c)
			continue;
		c->hsk = hsk;
		c->deadline_ms = now_ms() + HYBRID_LINE_TIMEOUT_MS;
		list_add_tail(&c->link, &hsk->clients);
		watch_set(&c->w, UV_READABLE);
	}
}

static void *hybsock_attach(struct vm *vm)
{
	struct daemon *d = vm_daemon(vm);
	struct hybsock *hsk = calloc(1, sizeof(*hsk));
	int fd;

	if (!hsk || asprintf(&hsk->path, "%s/%s.vsock", d->vms_dir, vm_name(vm)) < 0) {
		free(hsk);
		log_err("VM %s: out of memory for its hybrid socket", vm_name(vm));
		return NULL;
	}
	hsk->vm = vm;
	list_init(&hsk->clients);
	fd = daemon_listen_unix(d, hsk->path);
	if (fd >= 0)
		hsk->listen = watch_new(d->loop, fd, sizeof(struct watch), on_listen, hsk, NULL);
	if (!hsk->listen) {
		log_err("VM %s: cannot listen on %s: %s", vm_name(vm), hsk->path,
			strerror(fd < 0 ? -fd : ENOMEM));
		free(hsk->path);
		free(hsk);
		return NULL;
	}
	watch_set(hsk->listen, UV_READABLE);
	return hsk;
}

static void hybsock_detach(void *state)
{
	struct hybsock *hsk = state;
	struct list_head *p, *t;

	list_for_each_safe (p, t, &hsk->clients)
		client_close(list_entry(p, struct hyb_client, link));
	unlink(hsk->path);
	watch_close(hsk->listen);
	free(hsk->path);
	free(hsk);
}

static void hybsock_tick(void *state, uint64_t now)
{
	struct hybsock *hsk = state;
	struct list_head *p, *t;

	list_for_each_safe (p, t, &hsk->clients) {
		struct hyb_client *c = list_entry(p, struct hyb_client, link);
		if (now < c->deadline_ms)
			continue;
		log_info("VM %s: hybrid client sent no CONNECT line within %d ms; closed",
			 vm_name(hsk->vm), HYBRID_LINE_TIMEOUT_MS);
		client_close(c);
	}
}

static const struct vm_ext hybsock_ext = {
	.name = "hybrid socket",
	.attach = hybsock_attach,
	.detach = hybsock_detach,
	.tick = hybsock_tick,
};

/* ---- guest to host: RUNDIR/vms/NAME.vsock_P ---- */

/* Connects to RUNDIR/vms/NAME.vsock_PORT without blocking. Returns the fd
 * (the caller owns it) or a negative errno. */
static int path_open(void *opaque, const struct route_req *req, enum refusal *hint)
{
	struct daemon *d = opaque;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.vsock_%u", d->vms_dir,
			 req->vm_name, req->port);

	(void)hint;
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A Unix connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return TAKE_FD(fd);
}

static struct route path_route = { .name = "NAME.vsock_PORT listener",
				   .cls = ROUTE_PATH,
				   .open = path_open };

int hybsock_init(struct daemon *d)
{
	path_route.opaque = d;
	route_add(d, &path_route);
	return vm_ext_register(&hybsock_ext);
}
