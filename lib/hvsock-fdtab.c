/* SPDX-License-Identifier: MIT */
/*
 * hvsock-fdtab.c - the per-fd table of the hv_* calls: what the kernel
 * cannot keep for a Hyper-V socket (its addresses, options, state and a
 * pending connect's control connection), indexed by fd number.
 *
 * - One mutex guards the table; it is never held across a blocking call.
 * - An entry owns its ctl fd; whoever takes it out of the entry closes it.
 * - Both transports (hvsock.c for vmsvcd's control socket, hvsock-vsock.c
 *   for AF_VSOCK) keep their sockets here; neither calls the other.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vmsvc/vmsvc.h>

#include "hvsock-int.h"
#include "util.h"

static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hvs_sock *tab;
static size_t tab_size;

const struct hvs_sock hvs_sock_init = {
	.used = true,
	.opt = { [HVS_OPT_TIMEOUT] = HVS_DEFAULT_CONNECT_TIMEOUT_MS },
	.local = { .Family = AF_HYPERV },
	.ctl = -1,
};

struct hvs_sock *hvs_sock_lock(int fd)
{
	pthread_mutex_lock(&tab_lock);
	if (fd < 0 || (size_t)fd >= tab_size || !tab[fd].used)
		return NULL;
	return &tab[fd];
}

void hvs_tab_unlock(void)
{
	pthread_mutex_unlock(&tab_lock);
}

int hvs_sock_get(int fd, struct hvs_sock *s)
{
	struct hvs_sock *p;

	if (fd < 0)
		return -EBADF;
	p = hvs_sock_lock(fd);
	if (p)
		*s = *p;
	hvs_tab_unlock();
	return p ? 0 : -ENOTSOCK;
}

int hvs_sock_new(int fd, const struct hvs_sock *s)
{
	int stale = -1, r = 0;

	pthread_mutex_lock(&tab_lock);
	if ((size_t)fd >= tab_size) {
		size_t n = tab_size ? tab_size : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct hvs_sock *t = realloc(tab, n * sizeof(*t));
		if (!t) {
			r = -ENOMEM;
			goto out;
		}
		memset(t + tab_size, 0, (n - tab_size) * sizeof(*t));
		tab = t;
		tab_size = n;
	}
	if (tab[fd].used)
		stale = tab[fd].ctl;
	tab[fd] = *s;
out:
	hvs_tab_unlock();
	safe_close(stale);
	return r;
}

int hvs_sock_take_ctl(int fd)
{
	struct hvs_sock *p = hvs_sock_lock(fd);
	int c = p ? TAKE_FD(p->ctl) : -1;

	hvs_tab_unlock();
	return c;
}

int hvs_fd_replace(int fd, int src)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD), nfl;

	if (fl < 0 || fdfl < 0)
		return -errno;
	if (dup3(src, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		return -errno;
	nfl = fcntl(fd, F_GETFL);
	if (nfl < 0 || fcntl(fd, F_SETFL, (nfl & ~O_NONBLOCK) | (fl & O_NONBLOCK)) < 0)
		return -errno;
	return 0;
}

int hvs_accepted(int nfd, enum hvs_transport t, const struct hvs_sock *ls, const hv_guid_t *vm,
		 struct sockaddr_hv *peer)
{
	struct hvs_sock s = hvs_sock_init;
	int fl = fcntl(nfd, F_GETFL), r;

	/* like accept(): a blocking fd, whatever the daemon's end had */
	if (fl < 0 || fcntl(nfd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		r = -errno;
		safe_close(nfd);
		return r;
	}
	s.state = HVS_ST_CONNECTED;
	s.transport = t;
	s.bound = true;
	s.local = ls->local;
	s.has_peer = true;
	s.peer = (struct sockaddr_hv){ .Family = AF_HYPERV,
				       .VmId = *vm,
				       .ServiceId = ls->local.ServiceId };
	s.opt[HVS_OPT_TIMEOUT] = ls->opt[HVS_OPT_TIMEOUT];
	r = hvs_sock_new(nfd, &s);
	if (r < 0) {
		safe_close(nfd);
		return r;
	}
	if (peer)
		*peer = s.peer;
	return nfd;
}
