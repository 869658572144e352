/* SPDX-License-Identifier: MIT */
/*
 * streamgen: host side of the deterministic test streams that the guest tool
 * (tests/guest/vsock-tool.c) sends and checks. Same SEED, same bytes; the
 * definition lives in tests/guest/stream.h.
 *
 *   streamgen gen BYTES SEED     write the stream to stdout, random write sizes
 *   streamgen sha BYTES SEED     print the stream's SHA-256 (64 hex digits)
 *   streamgen verify BYTES SEED  read stdin to EOF, print "ok BYTES" or
 *                                "mismatch at OFFSET" / "short N" / "long N"
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream.h"

#define CHUNK_MAX 65536

static int parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int cmd_gen(uint64_t bytes, uint64_t seed)
{
	static uint8_t buf[CHUNK_MAX];
	struct stream s;

	stream_init(&s, seed);
	while (bytes > 0) {
		size_t n = stream_chunk(&s, CHUNK_MAX);
		int r;

		if (n > bytes)
			n = (size_t)bytes;
		stream_fill(&s, buf, n);
		r = write_all(STDOUT_FILENO, buf, n);
		if (r < 0) {
			fprintf(stderr, "streamgen: write: %s\n", strerror(-r));
			return 1;
		}
		bytes -= n;
	}
	return 0;
}

static int cmd_sha(uint64_t bytes, uint64_t seed)
{
	static uint8_t buf[CHUNK_MAX];
	struct stream s;
	struct sha256 h;
	char hex[65];

	stream_init(&s, seed);
	sha256_init(&h);
	while (bytes > 0) {
		size_t n = bytes < CHUNK_MAX ? (size_t)bytes : CHUNK_MAX;

		stream_fill(&s, buf, n);
		sha256_update(&h, buf, n);
		bytes -= n;
	}
	sha256_hex(&h, hex);
	printf("%s\n", hex);
	return 0;
}

static int cmd_verify(uint64_t bytes, uint64_t seed)
{
	static uint8_t in[CHUNK_MAX], want[CHUNK_MAX];
	struct stream s;
	uint64_t off = 0;

	stream_init(&s, seed);
	for (;;) {
		ssize_t n = read(STDIN_FILENO, in, sizeof(in));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "streamgen: read: %s\n", strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		if ((uint64_t)n > bytes - off) {
			printf("long %" PRIu64 "\n", off + (uint64_t)n);
			return 1;
		}
		stream_fill(&s, want, (size_t)n);
		for (ssize_t i = 0; i < n; i++) {
			if (in[i] != want[i]) {
				printf("mismatch at %" PRIu64 "\n", off + (uint64_t)i);
				return 1;
			}
		}
		off += (uint64_t)n;
	}
	if (off != bytes) {
		printf("short %" PRIu64 "\n", off);
		return 1;
	}
	printf("ok %" PRIu64 "\n", off);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t bytes, seed;

	if (argc != 4 || parse_u64(argv[2], &bytes) < 0 || parse_u64(argv[3], &seed) < 0) {
		fprintf(stderr, "usage: streamgen gen|sha|verify BYTES SEED\n");
		return 2;
	}
	if (strcmp(argv[1], "gen") == 0)
		return cmd_gen(bytes, seed);
	if (strcmp(argv[1], "sha") == 0)
		return cmd_sha(bytes, seed);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(bytes, seed);
	fprintf(stderr, "streamgen: unknown command '%s'\n", argv[1]);
	return 2;
}
