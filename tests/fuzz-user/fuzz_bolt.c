// SPDX-License-Identifier: GPL-2.0
/* A bolt device file for import-bolt (common/bolt_import.c). */
#include "common/bolt_import.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct egpu_store_dev d;

	memset(&d, 0, sizeof(d));
	egpu_bolt_parse_device("884c6edd-7118-4b21-b186-b02d396ecca0", text, &d);
	free(text);
	return 0;
}
