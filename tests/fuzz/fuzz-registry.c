/* SPDX-License-Identifier: MIT */
/*
 * fuzz-registry.c - libFuzzer harness for the entry parsers of the service
 * registry (reg_parse_entry) and the VM table (vmt_parse_entry), which read
 * hand-edited files. The first byte picks the parser and the service GUID;
 * the rest is the file. Checks, beyond memory safety: an entry is either
 * accepted without problems or rejected with at least one; every problem has
 * a line inside the file; an accepted entry formats to text that parses back
 * to the same entry.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "vmtable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned count_lines(const char *text, size_t size)
{
	unsigned n = 1;

	for (size_t i = 0; i < size; i++)
		n += text[i] == '\n';
	return n;
}

static void check_problems(const struct conf_problems *p, int r, unsigned lines)
{
	if ((r == 0) != (p->count == 0))
		abort();
	for (size_t i = 0; i < p->count; i++)
		if (p->items[i].line > lines || !p->items[i].message[0])
			abort();
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void fuzz_service(const char *text, size_t size, uint8_t pick)
{
	static const char *const ids[] = { "00000016-facb-11e6-bd58-64006a7986d3",
					   "3b1c1cf9-7f45-4d2e-9b35-0f5c2e8a7d61",
					   "00000000-facb-11e6-bd58-64006a7986d3",
					   "00000000-0000-0000-0000-000000000000" };
	struct conf_problems p = { 0 };
	struct reg_service s, back;
	hv_guid_t id;
	char *out;
	int r;

	hv_guid_parse(ids[pick % 4], &id);
	r = reg_parse_entry(text, size, &id, "f", &s, &p);
	check_problems(&p, r, count_lines(text, size));
	conf_problems_clear(&p);
	if (r < 0)
		return;
	out = reg_format_entry(&s);
	if (!out || reg_parse_entry(out, strlen(out), &id, "f", &back, &p) < 0 ||
	    strcmp(s.name, back.name) != 0 || s.port != back.port || s.enabled != back.enabled ||
	    !same_str(s.user, back.user) || !same_str(s.group, back.group) ||
	    !same_str(s.description, back.description))
		abort();
	free(out);
	reg_service_clear(&s);
	reg_service_clear(&back);
}

static void fuzz_vm(const char *text, size_t size)
{
	struct conf_problems p = { 0 };
	struct vmt_vm vm, back;
	char *out;
	int r;

	r = vmt_parse_entry(text, size, "web", "f", &vm, &p);
	check_problems(&p, r, count_lines(text, size));
	conf_problems_clear(&p);
	if (r < 0)
		return;
	out = vmt_format_entry(&vm);
	if (!out || vmt_parse_entry(out, strlen(out), "web", "f", &back, &p) < 0 ||
	    !hv_guid_equal(&vm.id, &back.id) || vm.cid != back.cid ||
	    !same_str(vm.description, back.description))
		abort();
	free(out);
	vmt_vm_clear(&vm);
	vmt_vm_clear(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1 || size > CONF_FILE_MAX)
		return 0;
	/* an exact-size copy, no NUL: the parsers must not read past size */
	text = malloc(size - 1 ? size - 1 : 1);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	if (data[0] & 1)
		fuzz_vm(text, size - 1);
	else
		fuzz_service(text, size - 1, data[0] >> 1);
	free(text);
	return 0;
}
