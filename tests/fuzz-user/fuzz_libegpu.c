// SPDX-License-Identifier: GPL-2.0
/* libegpu's event line parser (libegpu/egpu.c, egpu_parse_line). */
#include "libegpu/egpu.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fuzz_cstr(data, size);
	struct egpu_event ev;

	if (egpu_parse_line(line, &ev) == 0 &&
	    (memchr(ev.pci, '\0', sizeof(ev.pci)) == NULL ||
	     memchr(ev.group, '\0', sizeof(ev.group)) == NULL))
		abort();	/* strings always terminated */
	free(line);
	return 0;
}
