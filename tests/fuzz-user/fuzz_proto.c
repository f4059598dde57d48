// SPDX-License-Identifier: GPL-2.0
/*
 * egpud's request line (common/egpud_proto.c), as the server splits it;
 * and every word split out must quote and split back to itself.
 */
#include "common/egpud_proto.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line, *argv[EGPUD_PROTO_MAX_ARGS], q[EGPUD_PROTO_MAX_LINE], *back[2];
	int argc, i;

	if (size >= EGPUD_PROTO_MAX_LINE)
		return 0;	/* the server refuses longer lines before splitting */
	line = fuzz_cstr(data, size);
	argc = egpud_proto_split(line, argv, EGPUD_PROTO_MAX_ARGS);
	for (i = 0; i < argc; i++) {
		if (!argv[i][0])
			continue;	/* an empty word cannot be sent */
		if (egpud_proto_quote(argv[i], q, sizeof(q)) < 0)
			continue;
		if (egpud_proto_split(q, back, 2) != 1 || strcmp(back[0], argv[i]))
			abort();
	}
	free(line);
	return 0;
}
