// SPDX-License-Identifier: GPL-2.0
/*
 * libegpu's parsers of egpud's watch lines (libegpu/egpu.c): events
 * (egpu_parse_line) and the snapshot interval.
 */
#include "libegpu/egpu.h"
#include "libegpu/egpu_internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fuzz_cstr(data, size);
	struct egpu_event ev;

	if (egpu_parse_line(line, &ev) == 0 &&
	    (memchr(ev.pci, '\0', sizeof(ev.pci)) == NULL ||
	     memchr(ev.group, '\0', sizeof(ev.group)) == NULL))
		abort();	/* strings always terminated */
	if (egpu_parse_snapshot_interval(line) < -1 ||
	    egpu_parse_snapshot_interval(line) > 24L * 3600 * 1000)
		abort();	/* -1 or an interval of at most a day */
	free(line);
	return 0;
}
