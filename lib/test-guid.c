/* SPDX-License-Identifier: MIT */
/*
 * test-guid.c - GUID parsing, formatting, byte orders, the VSOCK template and
 * struct sockaddr_hv, checked against ../shared/vectors/guids.tsv (read at
 * test time from $VMSVC_VECTORS_DIR).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <vmsvc/vmsvc.h>

#include "util.h"

struct vector {
	char name[64];
	char guid[64];
	uint8_t win[16];
	uint8_t rfc[16];
	bool has_port;
	uint32_t port;
};

static struct vector vectors[64];
static size_t nvectors;
static uint8_t sample_addr[36];
static bool have_sample;

static int unhex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static void parse_sample(const char *line)
{
	const char *eq = strstr(line, "= ");
	char hex[80] = "";

	if (!strstr(line, "sockaddr_hv") || !eq)
		return;
	if (sscanf(eq + 2, "%79[0-9a-f]", hex) == 1 && unhex(hex, sample_addr, 36) == 0)
		have_sample = true;
}

static int load_vectors(void **state)
{
	const char *dir = getenv("VMSVC_VECTORS_DIR");
	char path[4096], line[512];
	FILE *f;

	(void)state;
	if (!dir) {
		fprintf(stderr, "VMSVC_VECTORS_DIR is not set\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/guids.tsv", dir);
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "cannot open %s: %m\n", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) && nvectors < ARRAY_SIZE(vectors)) {
		struct vector *v = &vectors[nvectors];
		char win[64], rfc[64], port[32];
		if (line[0] == '#') {
			parse_sample(line);
			continue;
		}
		if (sscanf(line, "%63s %63s %63s %63s %31s", v->name, v->guid, win, rfc, port) !=
			    5 ||
		    unhex(win, v->win, 16) < 0 || unhex(rfc, v->rfc, 16) < 0) {
			fprintf(stderr, "bad vector line: %s", line);
			fclose(f);
			return -1;
		}
		v->has_port = strcmp(port, "-") != 0;
		v->port = v->has_port ? (uint32_t)strtoul(port, NULL, 10) : 0;
		nvectors++;
	}
	fclose(f);
	if (nvectors < 10 || !have_sample) {
		fprintf(stderr, "%s: %zu vectors, sample %s\n", path, nvectors,
			have_sample ? "found" : "missing");
		return -1;
	}
	return 0;
}

static void test_vectors_parse_and_format_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < nvectors; i++) {
		hv_guid_t g;
		char s[HV_GUID_STRSIZE];
		assert_int_equal(hv_guid_parse(vectors[i].guid, &g), 0);
		assert_int_equal(hv_guid_format(&g, s, sizeof(s)), 0);
		assert_string_equal(s, vectors[i].guid);
	}
}

static void test_vectors_windows_byte_order_both_ways(void **state)
{
	(void)state;
	for (size_t i = 0; i < nvectors; i++) {
		hv_guid_t g, back;
		uint8_t b[16];
		assert_int_equal(hv_guid_parse(vectors[i].guid, &g), 0);
		hv_guid_to_windows_bytes(&g, b);
		assert_memory_equal(b, vectors[i].win, 16);
		/* On a little-endian host the struct itself is in Windows order. */
		assert_memory_equal(&g, vectors[i].win, 16);
		hv_guid_from_windows_bytes(vectors[i].win, &back);
		assert_true(hv_guid_equal(&g, &back));
	}
}

static void test_vectors_rfc4122_byte_order_both_ways(void **state)
{
	(void)state;
	for (size_t i = 0; i < nvectors; i++) {
		hv_guid_t g, back;
		uint8_t b[16];
		assert_int_equal(hv_guid_parse(vectors[i].guid, &g), 0);
		hv_guid_to_rfc4122_bytes(&g, b);
		assert_memory_equal(b, vectors[i].rfc, 16);
		hv_guid_from_rfc4122_bytes(vectors[i].rfc, &back);
		assert_true(hv_guid_equal(&g, &back));
	}
}

static void test_vectors_port_mapping_both_ways(void **state)
{
	(void)state;
	for (size_t i = 0; i < nvectors; i++) {
		hv_guid_t g, from;
		uint32_t port = 12345;
		char s[HV_GUID_STRSIZE];
		assert_int_equal(hv_guid_parse(vectors[i].guid, &g), 0);
		if (!vectors[i].has_port) {
			errno = 0;
			assert_int_equal(hv_guid_to_port(&g, &port), -1);
			assert_int_equal(errno, EINVAL);
			assert_false(hv_guid_is_vsock_template(&g));
			continue;
		}
		assert_int_equal(hv_guid_to_port(&g, &port), 0);
		assert_int_equal(port, vectors[i].port);
		hv_guid_from_port(vectors[i].port, &from);
		hv_guid_format(&from, s, sizeof(s));
		assert_string_equal(s, vectors[i].guid);
	}
}

static void test_vectors_well_known_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < nvectors; i++) {
		hv_guid_t g, byname;
		if (strncmp(vectors[i].name, "VSOCK_PORT_", 11) == 0)
			continue;
		assert_int_equal(hv_guid_parse(vectors[i].guid, &g), 0);
		assert_int_equal(hv_guid_lookup_name(vectors[i].name, &byname), 0);
		assert_true(hv_guid_equal(&g, &byname));
		assert_string_equal(hv_guid_well_known_name(&g), vectors[i].name);
	}
}

static void test_sockaddr_hv_sample_matches_windows_layout(void **state)
{
	struct sockaddr_hv a = { .Family = AF_HYPERV, .Reserved = 0 };
	hv_guid_t parent;

	(void)state;
	assert_int_equal(sizeof(SOCKADDR_HV), 36);
	assert_int_equal(hv_guid_lookup_name("parent", &parent), 0);
	a.VmId = parent;
	hv_guid_from_port(2761, &a.ServiceId);
	assert_memory_equal(&a, sample_addr, 36);
	assert_true(hv_guid_equal(&a.VmId, &HV_GUID_PARENT));
}

static void test_parse_accepts_braces_and_any_case(void **state)
{
	hv_guid_t a, b, c;

	(void)state;
	assert_int_equal(hv_guid_parse("{A42E7CDA-D03F-480C-9CC2-A4DE20ABB878}", &a), 0);
	assert_int_equal(hv_guid_parse("a42e7cda-d03f-480c-9cc2-A4DE20abb878", &b), 0);
	assert_int_equal(hv_guid_parse("{a42e7cda-d03f-480c-9cc2-a4de20abb878}", &c), 0);
	assert_true(hv_guid_equal(&a, &HV_GUID_PARENT));
	assert_true(hv_guid_equal(&b, &HV_GUID_PARENT));
	assert_true(hv_guid_equal(&c, &HV_GUID_PARENT));
}

static void test_parse_rejects_everything_else(void **state)
{
	static const char *bad[] = {
		"",
		"a42e7cda-d03f-480c-9cc2-a4de20abb87",
		"a42e7cda-d03f-480c-9cc2-a4de20abb8788",
		"a42e7cdad03f480c9cc2a4de20abb878",
		"a42e7cda-d03f-480c-9cc2a4de20abb8788",
		" a42e7cda-d03f-480c-9cc2-a4de20abb878",
		"a42e7cda-d03f-480c-9cc2-a4de20abb878 ",
		"{a42e7cda-d03f-480c-9cc2-a4de20abb878",
		"a42e7cda-d03f-480c-9cc2-a4de20abb878}",
		"(a42e7cda-d03f-480c-9cc2-a4de20abb878)",
		"g42e7cda-d03f-480c-9cc2-a4de20abb878",
		"a42e7cda_d03f-480c-9cc2-a4de20abb878",
		"a42e7cda-d03f-480c-9cc2-a4de20abb87\n",
		"+42e7cda-d03f-480c-9cc2-a4de20abb878",
		"{{a42e7cda-d03f-480c-9cc2-a4de20abb878}}",
	};
	hv_guid_t g;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		errno = 0;
		assert_int_equal(hv_guid_parse(bad[i], &g), -1);
		assert_int_equal(errno, EINVAL);
	}
	errno = 0;
	assert_int_equal(hv_guid_parse(NULL, &g), -1);
	assert_int_equal(errno, EFAULT);
}

static void test_format_needs_37_bytes(void **state)
{
	char small[HV_GUID_STRLEN];

	(void)state;
	errno = 0;
	assert_int_equal(hv_guid_format(&HV_GUID_PARENT, small, sizeof(small)), -1);
	assert_int_equal(errno, ENOSPC);
}

static void test_generate_gives_distinct_version4_guids(void **state)
{
	hv_guid_t a, b;
	uint8_t r[16];

	(void)state;
	assert_int_equal(hv_guid_generate(&a), 0);
	assert_int_equal(hv_guid_generate(&b), 0);
	assert_false(hv_guid_equal(&a, &b));
	hv_guid_to_rfc4122_bytes(&a, r);
	assert_int_equal(r[6] >> 4, 4);
	assert_int_equal(r[8] >> 6, 2);
}

static void test_lookup_unknown_name_fails_with_enoent(void **state)
{
	hv_guid_t g;

	(void)state;
	errno = 0;
	assert_int_equal(hv_guid_lookup_name("nosuch", &g), -1);
	assert_int_equal(errno, ENOENT);
	assert_null(hv_guid_well_known_name(
		&(hv_guid_t)HV_GUID_INIT(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)));
	assert_int_equal(hv_guid_lookup_name("Loopback", &g), 0);
	assert_true(hv_guid_equal(&g, &HV_GUID_LOOPBACK));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_parse_and_format_round_trip),
		cmocka_unit_test(test_vectors_windows_byte_order_both_ways),
		cmocka_unit_test(test_vectors_rfc4122_byte_order_both_ways),
		cmocka_unit_test(test_vectors_port_mapping_both_ways),
		cmocka_unit_test(test_vectors_well_known_names),
		cmocka_unit_test(test_sockaddr_hv_sample_matches_windows_layout),
		cmocka_unit_test(test_parse_accepts_braces_and_any_case),
		cmocka_unit_test(test_parse_rejects_everything_else),
		cmocka_unit_test(test_format_needs_37_bytes),
		cmocka_unit_test(test_generate_gives_distinct_version4_guids),
		cmocka_unit_test(test_lookup_unknown_name_fails_with_enoent),
	};
	return cmocka_run_group_tests(tests, load_vectors, NULL);
}
