// SPDX-License-Identifier: GPL-2.0
/* A store device file (common/store.c): parse, and format what was parsed. */
#include "common/store.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size), out[4096];
	struct egpu_store_dev d;

	memset(&d, 0, sizeof(d));
	if (egpu_store_dev_parse(text, &d) == 0)
		egpu_store_dev_format(&d, out, sizeof(out));
	free(text);
	return 0;
}
