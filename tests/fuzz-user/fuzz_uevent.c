// SPDX-License-Identifier: GPL-2.0
/* A uevent datagram (common/uevent.c): raw bytes, NULs included, as received. */
#include "common/uevent.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so ASan sees any read past the datagram */
	char *buf = malloc(size ? size : 1);
	struct egpu_uevent ev;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	egpu_uevent_parse(buf, size, &ev);
	free(buf);
	return 0;
}
