/* SPDX-License-Identifier: MIT */
/*
 * agent-facts.c - the guest's facts (agent-facts.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent-facts.h"

/* The first line of a small file, without its newline ("" on failure). */
static void read_line(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* One os-release value starting at v (up to the end of its line). */
static void unquote(const char *v, char *buf, size_t size)
{
	char q = (*v == '"' || *v == '\'') ? *v++ : 0;
	size_t n = 0;

	for (; *v && *v != '\n' && *v != q; v++) {
		if (q == '"' && *v == '\\' && v[1] && v[1] != '\n')
			v++;
		if (n + 1 < size)
			buf[n++] = *v;
	}
	buf[n] = '\0';
}

int afacts_os_release_value(const char *text, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);
	const char *l = text;

	while (l && *l) {
		const char *k = l + strspn(l, " \t");

		if (strncmp(k, key, klen) == 0 && k[klen] == '=') {
			unquote(k + klen + 1, buf, size);
			return 0;
		}
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	buf[0] = '\0';
	return -ENOENT;
}

static void read_os_release(struct afacts *f, const char *path)
{
	char text[8192];
	FILE *fp = path ? fopen(path, "re") : fopen(AFACTS_OS_RELEASE, "re");
	size_t n;

	if (!fp && !path)
		fp = fopen(AFACTS_OS_RELEASE_USR, "re");
	if (!fp)
		return;
	n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = '\0';
	if (afacts_os_release_value(text, "PRETTY_NAME", f->os_name, sizeof(f->os_name)) < 0)
		afacts_os_release_value(text, "NAME", f->os_name, sizeof(f->os_name));
	afacts_os_release_value(text, "ID", f->os_id, sizeof(f->os_id));
	afacts_os_release_value(text, "VERSION_ID", f->os_version, sizeof(f->os_version));
}

void afacts_read(struct afacts *f, const char *os_release)
{
	struct utsname u;

	memset(f, 0, sizeof(*f));
	read_line("/proc/sys/kernel/random/boot_id", f->boot_id, sizeof(f->boot_id));
	read_os_release(f, os_release);
	if (uname(&u) == 0)
		snprintf(f->kernel, sizeof(f->kernel), "%s", u.release);
}

void afacts_hostname(char *buf, size_t size)
{
	if (gethostname(buf, size) < 0)
		buf[0] = '\0';
	buf[size - 1] = '\0';
}

uint64_t afacts_uptime_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
