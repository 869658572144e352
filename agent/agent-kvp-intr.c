/* SPDX-License-Identifier: MIT */
/*
 * agent-kvp-intr.c - the intrinsic pool and its events (agent-kvp-intr.h).
 *
 * Netlink messages are not parsed: any message from the kernel (nl_pid 0)
 * means "look again", and an overrun (ENOBUFS) too. A message from
 * anyone else is dropped unread (CVE-2012-5532: hv_kvp_daemon trusted
 * netlink senders).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "agent-facts.h"
#include "agent-kvp-intr.h"
#include "agent-log.h"
#include "util.h"

#define HOSTS_FILE	"/etc/hosts"
#define MAX_HOSTS_TEXT	(64 * 1024)
#define NL_READS_PER_IO 64

/* ---- the facts ---- */

static void put(struct kvpool *p, const char *key, const char *value)
{
	if (value && *value)
		kvpool_set(p, key, strlen(key), value, strlen(value));
}

/* A word of a hosts line (blank-separated), into w (NUL-terminated). */
static const char *next_word(const char *s, char *w, size_t size)
{
	size_t n;

	s += strspn(s, " \t");
	n = strcspn(s, " \t\n#");
	if (n == 0)
		return NULL;
	snprintf(w, size, "%.*s", (int)(n < size ? n : size - 1), s);
	return s + n;
}

/* In a hosts line that names host: a dotted name, the one starting with
 * "host." first. */
static bool line_fqdn(const char *line, const char *host, char *buf, size_t size)
{
	char w[256], any[256] = "";
	const char *s = next_word(line, w, sizeof(w)); /* the address */
	size_t hl = strlen(host);
	bool names_host = false;

	while (s && (s = next_word(s, w, sizeof(w)))) {
		if (strcmp(w, host) == 0 || (strncmp(w, host, hl) == 0 && w[hl] == '.'))
			names_host = true;
		if (strncmp(w, host, hl) == 0 && w[hl] == '.') {
			snprintf(buf, size, "%s", w);
			return true;
		}
		if (!*any && strchr(w, '.'))
			snprintf(any, sizeof(any), "%s", w);
	}
	if (!names_host || !*any)
		return false;
	snprintf(buf, size, "%s", any);
	return true;
}

void akvi_fqdn(const char *host, const char *hosts_text, const char *domain, char *buf, size_t size)
{
	const char *l = hosts_text;

	if (!*host || strchr(host, '.')) {
		snprintf(buf, size, "%s", host);
		return;
	}
	while (l && *l) {
		if (*l != '#' && line_fqdn(l, host, buf, size))
			return;
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	if (domain && *domain && strcmp(domain, "(none)") != 0)
		snprintf(buf, size, "%s.%s", host, domain);
	else
		snprintf(buf, size, "%s", host);
}

void akvi_rfc3339(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		buf[0] = '\0';
}

/* /proc/stat's btime: seconds since 1970, or -1. */
static int64_t boot_time(void)
{
	char line[256];
	long long t = -1;
	FILE *fp = fopen("/proc/stat", "re");

	while (fp && fgets(line, sizeof(line), fp))
		if (sscanf(line, "btime %lld", &t) == 1)
			break;
	if (fp)
		fclose(fp);
	return t;
}

static char *read_text(const char *path)
{
	FILE *fp = fopen(path, "re");
	char *buf = fp ? malloc(MAX_HOSTS_TEXT + 1) : NULL;
	size_t n = buf ? fread(buf, 1, MAX_HOSTS_TEXT, fp) : 0;

	if (fp)
		fclose(fp);
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* Appends addr to the value of key (blank-separated, once). */
static void add_address(struct kvpool *p, const char *key, const char *addr)
{
	const struct kvp_entry *e = kvpool_get(p, key, strlen(key));
	char v[4096];
	int n;

	if (!e) {
		put(p, key, addr);
		return;
	}
	n = snprintf(v, sizeof(v), "%.*s", (int)e->value_len, (const char *)e->value);
	for (char *w = v, *end; *w; w = end + (*end != '\0')) {
		end = w + strcspn(w, " ");
		if ((size_t)(end - w) == strlen(addr) && strncmp(w, addr, (size_t)(end - w)) == 0)
			return;
	}
	if (n + 1 + strlen(addr) < sizeof(v)) {
		snprintf(v + n, sizeof(v) - (size_t)n, " %s", addr);
		put(p, key, v);
	}
}

static void addresses(struct kvpool *p)
{
	struct ifaddrs *all, *a;

	if (getifaddrs(&all) < 0)
		return;
	for (a = all; a; a = a->ifa_next) {
		char addr[INET6_ADDRSTRLEN], key[64];
		int fam = a->ifa_addr ? a->ifa_addr->sa_family : AF_UNSPEC;
		const void *raw;

		if ((fam != AF_INET && fam != AF_INET6) || (a->ifa_flags & IFF_LOOPBACK))
			continue;
		if (fam == AF_INET)
			raw = &((const struct sockaddr_in *)a->ifa_addr)->sin_addr;
		else
			raw = &((const struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
		if (!inet_ntop(fam, raw, addr, sizeof(addr)))
			continue;
		snprintf(key, sizeof(key), "NetworkAddressIPv%c/%s", fam == AF_INET ? '4' : '6',
			 a->ifa_name);
		add_address(p, key, addr);
	}
	freeifaddrs(all);
}

void akvi_compute(struct kvpool *p, const struct akvi_src *src)
{
	_cleanup_free_ char *hosts = read_text(src->hosts ? src->hosts : HOSTS_FILE);
	char host[256], fqdn[512], boot[64];
	struct afacts f;
	struct utsname u;
	int64_t bt = boot_time();

	afacts_read(&f, src->os_release);
	afacts_hostname(host, sizeof(host));
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	akvi_fqdn(host, hosts ? hosts : "", u.domainname, fqdn, sizeof(fqdn));
	put(p, "HostName", host);
	put(p, "FullyQualifiedDomainName", fqdn);
	/* os-release(5)'s defaults for a system without the file */
	put(p, "OSName", f.os_name[0] ? f.os_name : "Linux");
	put(p, "OSId", f.os_id[0] ? f.os_id : "linux");
	put(p, "OSVersion", f.os_version);
	put(p, "KernelVersion", u.release);
	put(p, "Architecture", u.machine);
	put(p, "AgentVersion", src->agent_version);
	if (bt > 0) {
		akvi_rfc3339(bt, boot, sizeof(boot));
		put(p, "BootTime", boot);
	}
	addresses(p);
}

/* ---- the watcher ---- */

struct akvi {
	struct akvp *store;
	struct akvi_src src;
	int nl;	      /* rtnetlink, -1 */
	int host;     /* /proc/sys/kernel/hostname, -1 */
	uint64_t due; /* a recomputation, 0: none */
	int nl_idx, host_idx;
	bool logged;
};

struct akvi *akvi_new(struct akvp *store, const struct akvi_src *src)
{
	struct akvi *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->store = store;
	v->src = *src;
	v->nl = v->host = -1;
	return v;
}

struct akvi *akvi_free(struct akvi *v)
{
	if (v) {
		akvi_stop(v);
		free(v);
	}
	return NULL;
}

void akvi_refresh(struct akvi *v)
{
	struct kvpool fresh = KVPOOL_INIT;

	akvi_compute(&fresh, &v->src);
	akvp_intrinsic_replace(v->store, &fresh);
	v->due = 0;
}

static int open_netlink(void)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK,
				 .nl_groups =
					 RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

void akvi_start(struct akvi *v, uint64_t now)
{
	if (v->nl < 0 && (v->nl = open_netlink()) < 0 && !v->logged)
		alog("kvp: no rtnetlink (%s): network addresses are looked at every rescan only",
		     strerror(-v->nl));
	if (v->host < 0 && (v->host = open(AKVI_HOSTNAME_FILE, O_RDONLY | O_CLOEXEC)) < 0) {
		v->host = -1;
		if (!v->logged)
			alog("kvp: cannot watch %s (%s): the host name is looked at every rescan "
			     "only",
			     AKVI_HOSTNAME_FILE, strerror(errno));
	}
	if (v->nl < 0)
		v->nl = -1;
	v->logged = true;
	akvi_refresh(v);
}

void akvi_stop(struct akvi *v)
{
	v->nl = safe_close(v->nl);
	v->host = safe_close(v->host);
	v->due = 0;
}

size_t akvi_fill(struct akvi *v, struct pollfd *p, size_t max, int *timeout_ms, uint64_t now)
{
	size_t k = 0;

	v->nl_idx = v->host_idx = -1;
	if (v->nl >= 0 && k < max) {
		v->nl_idx = (int)k;
		p[k++] = (struct pollfd){ .fd = v->nl, .events = POLLIN };
	}
	if (v->host >= 0 && k < max) {
		v->host_idx = (int)k;
		p[k++] = (struct pollfd){ .fd = v->host, .events = POLLPRI };
	}
	if (v->due) {
		int t = v->due > now ? (int)(v->due - now) : 0;

		if (*timeout_ms < 0 || t < *timeout_ms)
			*timeout_ms = t;
	}
	return k;
}

/* Drains the netlink socket: true when the kernel said something. */
static bool netlink_news(struct akvi *v)
{
	bool news = false;

	for (int i = 0; i < NL_READS_PER_IO; i++) {
		char buf[8192];
		struct sockaddr_nl from = { 0 };
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(v->nl, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);

		if (n < 0 && errno == ENOBUFS) {
			news = true; /* overrun: events were lost */
			continue;
		}
		if (n < 0)
			break;
		if (len == sizeof(from) && from.nl_family == AF_NETLINK && from.nl_pid == 0)
			news = true;
	}
	return news;
}

void akvi_io(struct akvi *v, const struct pollfd *p, size_t n, uint64_t now)
{
	bool news = false;

	if (v->nl_idx >= 0 && (size_t)v->nl_idx < n && p[v->nl_idx].revents)
		news |= netlink_news(v);
	if (v->host_idx >= 0 && (size_t)v->host_idx < n &&
	    (p[v->host_idx].revents & (POLLPRI | POLLERR)))
		news = true;
	if (news && !v->due)
		v->due = now + AKVI_SETTLE_MS;
	if (v->due && now >= v->due)
		akvi_refresh(v);
}
