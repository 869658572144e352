/* SPDX-License-Identifier: MIT */
/*
 * Deterministic test streams and SHA-256, shared by the guest tool
 * (tests/guest/vsock-tool.c, static, runs inside the test guest) and the host
 * tool (tests/tools/streamgen.c). Header-only so both build from one source.
 *
 * Stream definition (both sides must agree, so it is frozen):
 *   state = SEED ^ 0x9e3779b97f4a7c15 (1 if that is 0); for each 8 bytes:
 *   state ^= state << 13; state ^= state >> 7; state ^= state << 17;
 *   emit (state * 0x2545f4914f6cdd1d) as 8 little-endian bytes.
 * The content depends only on SEED and the offset, never on how it is chunked.
 * Write sizes (1..65536) come from a second generator seeded with
 * SEED ^ 0xc2b2ae3d27d4eb4f, so a run is reproducible but the sizes do not
 * matter for the content.
 */
#ifndef VMSVC_GUEST_STREAM_H
#define VMSVC_GUEST_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct xs_rng {
	uint64_t state;
};

static inline void xs_init(struct xs_rng *r, uint64_t seed)
{
	r->state = seed ^ 0x9e3779b97f4a7c15ULL;
	if (r->state == 0)
		r->state = 1;
}

static inline uint64_t xs_next(struct xs_rng *r)
{
	uint64_t x = r->state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Byte stream: 8 bytes per generator step; keeps the partial word. */
struct stream {
	struct xs_rng content;
	struct xs_rng sizes;
	uint8_t word[8];
	unsigned int used; /* bytes of word[] already handed out; 8 = empty */
};

static inline void stream_init(struct stream *s, uint64_t seed)
{
	xs_init(&s->content, seed);
	xs_init(&s->sizes, seed ^ 0xc2b2ae3d27d4eb4fULL);
	s->used = 8;
}

/* Fill buf with the next len bytes of the stream. */
static inline void stream_fill(struct stream *s, uint8_t *buf, size_t len)
{
	while (len > 0) {
		if (s->used == 8) {
			uint64_t v = xs_next(&s->content);

			for (unsigned int i = 0; i < 8; i++)
				s->word[i] = (uint8_t)(v >> (8 * i));
			s->used = 0;
		}
		*buf++ = s->word[s->used++];
		len--;
	}
}

/* Next write size, 1..max (max <= 65536 in practice). */
static inline size_t stream_chunk(struct stream *s, size_t max)
{
	return (size_t)(xs_next(&s->sizes) % max) + 1;
}

/* SHA-256 (FIPS 180-4), small and unoptimised: the test streams are short. */
struct sha256 {
	uint32_t h[8];
	uint64_t total;
	uint8_t buf[64];
	size_t fill;
};

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static inline uint32_t sha256_ror(uint32_t x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

static inline void sha256_init(struct sha256 *c)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

	memcpy(c->h, iv, sizeof(iv));
	c->total = 0;
	c->fill = 0;
}

static inline void sha256_block(struct sha256 *c, const uint8_t *p)
{
	uint32_t w[64], v[8];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 =
			sha256_ror(w[i - 15], 7) ^ sha256_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 =
			sha256_ror(w[i - 2], 17) ^ sha256_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, c->h, sizeof(v));
	for (int i = 0; i < 64; i++) {
		uint32_t e = v[4], a = v[0];
		uint32_t t1 = v[7] + (sha256_ror(e, 6) ^ sha256_ror(e, 11) ^ sha256_ror(e, 25)) +
			      ((e & v[5]) ^ (~e & v[6])) + sha256_k[i] + w[i];
		uint32_t t2 = (sha256_ror(a, 2) ^ sha256_ror(a, 13) ^ sha256_ror(a, 22)) +
			      ((a & v[1]) ^ (a & v[2]) ^ (v[1] & v[2]));

		memmove(&v[1], &v[0], 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + t2;
	}
	for (int i = 0; i < 8; i++)
		c->h[i] += v[i];
}

static inline void sha256_update(struct sha256 *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	c->total += len;
	while (len > 0) {
		size_t n = 64 - c->fill;

		if (n > len)
			n = len;
		memcpy(c->buf + c->fill, p, n);
		c->fill += n;
		p += n;
		len -= n;
		if (c->fill == 64) {
			sha256_block(c, c->buf);
			c->fill = 0;
		}
	}
}

/* Finish and write 64 lowercase hex digits plus NUL into hex[65]. */
static inline void sha256_hex(struct sha256 *c, char hex[65])
{
	uint64_t bits = c->total * 8;
	uint8_t pad[72] = { 0x80 };
	size_t padlen = (c->fill < 56 ? 56 : 120) - c->fill;

	for (int i = 0; i < 8; i++)
		pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(c, pad, padlen + 8);
	for (int i = 0; i < 32; i++) {
		static const char digits[] = "0123456789abcdef";
		uint8_t b = (uint8_t)(c->h[i / 4] >> (24 - 8 * (i % 4)));

		hex[2 * i] = digits[b >> 4];
		hex[2 * i + 1] = digits[b & 15];
	}
	hex[64] = '\0';
}

#endif
