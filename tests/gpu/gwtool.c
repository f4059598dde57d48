// SPDX-License-Identifier: GPL-2.0
/*
 * Test tool: run one gpuwork verb the way egpud does (through the engine's
 * helper process), or in-process with --inprocess.  Used by the GPU tests
 * and the benchmark to compare with the path through egpud.
 *
 *   gwtool [--json] [--inprocess] VERB [ARGS...]
 */
#include <stdio.h>
#include <string.h>

#include "gpuwork/gpuwork.h"

int main(int argc, char **argv)
{
	bool json = false;
	int i = 1;

	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--inprocess"))
			gw_set_inprocess(true);
		else if (!strcmp(argv[i], "--shutdown")) {
			gw_shutdown();
			return 0;
		} else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: gwtool [--json] [--inprocess] VERB [ARGS...]\n%s",
			gw_usage());
		return 2;
	}
	return gw_dispatch(argv[i], argc - i - 1, argv + i + 1, stdout, json);
}
