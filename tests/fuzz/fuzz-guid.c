/* SPDX-License-Identifier: MIT */
/* fuzz-guid.c - libFuzzer harness for hv_guid_parse: whatever it accepts must
 * format back to a string that parses to the same GUID. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vmsvc/vmsvc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char out[HV_GUID_STRSIZE];
	hv_guid_t g, back;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (hv_guid_parse(s, &g) == 0) {
		if (hv_guid_format(&g, out, sizeof(out)) != 0 || hv_guid_parse(out, &back) != 0 ||
		    !hv_guid_equal(&g, &back))
			abort();
	}
	free(s);
	return 0;
}
