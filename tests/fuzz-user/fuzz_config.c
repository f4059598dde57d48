// SPDX-License-Identifier: GPL-2.0
/* egpud.conf (common/config.c): any text gives a config or an error line. */
#include "common/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size), err[512];
	struct egpu_config *c = egpu_config_parse("fuzz.conf", text, err, sizeof(err));

	if (!c && !err[0])
		abort();	/* a refusal always says why */
	egpu_config_free(c);
	free(text);
	return 0;
}
