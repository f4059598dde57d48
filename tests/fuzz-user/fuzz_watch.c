// SPDX-License-Identifier: GPL-2.0
/*
 * What a libegpu watcher sends egpud (common/watch_line.c): any line is
 * parsed without a crash or a read past it; a snapshot line that parses
 * is written back in the canonical form and must parse to the same values;
 * a line with a control character is never accepted.
 */
#include <inttypes.h>
#include <stdio.h>

#include "common/egpud_proto.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct egpud_watch_line m, back;
	char *line, canon[160], why[96];
	enum egpud_watch_kind k;
	size_t i;

	if (size > EGPUD_WATCH_LINE_MAX)
		return 0;	/* egpud drops longer lines before parsing */
	line = fuzz_cstr(data, size);
	k = egpud_watch_parse(line, &m, why, sizeof(why));
	if (k > EGPUD_WATCH_MALFORMED)
		abort();
	for (i = 0; line[i] && k != EGPUD_WATCH_MALFORMED; i++)
		if ((unsigned char)line[i] < ' ' || line[i] == 0x7f)
			abort();
	if (k == EGPUD_WATCH_SNAPSHOT) {
		snprintf(canon, sizeof(canon), "snapshot bytes=%" PRIu64 " buffers=%" PRIu32
			 " taken-ns=%" PRIu64 " interval-ms=%" PRIu32 "%s", m.bytes, m.buffers,
			 m.taken_ns, m.interval_ms, m.final ? " final=1" : "");
		if (egpud_watch_parse(canon, &back, why, sizeof(why)) != EGPUD_WATCH_SNAPSHOT ||
		    back.bytes != m.bytes || back.buffers != m.buffers ||
		    back.taken_ns != m.taken_ns || back.interval_ms != m.interval_ms ||
		    back.final != m.final)
			abort();
	}
	free(line);
	return 0;
}
