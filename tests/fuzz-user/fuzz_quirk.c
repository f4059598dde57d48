// SPDX-License-Identifier: GPL-2.0
/* The quirk text syntax (common/quirk_text.c): "VVVV:DDDD:actions...". */
#include "common/quirk_text.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size), buf[512];
	struct egpu_quirk_entry q;
	const char *why = NULL;

	memset(&q, 0, sizeof(q));
	if (egpu_quirk_parse(text, &q, &why) == 0) {
		egpu_quirk_actions_str(&q, buf, sizeof(buf));
		egpu_quirk_match_str(&q, buf, sizeof(buf));
	} else if (!why) {
		abort();	/* a refusal always says why */
	}
	free(text);
	return 0;
}
