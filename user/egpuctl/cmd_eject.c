// SPDX-License-Identifier: GPL-2.0
/*
 * eject: egpud takes an eGPU away in order (tell libegpu programs, move
 * CUDA work off, orderly removal, de-authorize the router; see
 * egpud/eject.h).  The arguments are checked here for quick usage errors;
 * egpud checks them again and does the work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egpuctl/commands.h"

static bool is_ms(const char *s)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return false;
	v = strtoul(s, &end, 10);
	return !*end && v <= 600000;
}

static int run(int argc, char **argv, const struct egpuctl_opts *o)
{
	int i, targets = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--force"))
			continue;
		if (!strcmp(argv[i], "--to") || !strcmp(argv[i], "--router")) {
			if (++i >= argc) {
				return egpuctl_error("eject", EGPUCTL_USAGE, "usage",
						     "egpuctl eject: %s needs a value", argv[i - 1]);
			}
			continue;
		}
		if (!strcmp(argv[i], "--timeout")) {
			if (++i >= argc || !is_ms(argv[i])) {
				return egpuctl_error("eject", EGPUCTL_USAGE, "usage",
						     "egpuctl eject: --timeout needs milliseconds "
						     "0..600000");
			}
			continue;
		}
		if (argv[i][0] == '-') {
			return egpuctl_error("eject", EGPUCTL_USAGE, "usage",
					     "egpuctl eject: unknown option %s", argv[i]);
		}
		targets++;
	}
	if (targets != 1)
		return egpuctl_usage(&egpuctl_cmd_eject);
	return egpuctl_daemon_call(o, argc, argv);
}

const struct egpuctl_cmd egpuctl_cmd_eject = {
	.name = "eject",
	.args = "DEV|ROUTER [--to PCI|UUID] [--force] [--timeout MS] [--router ROUTER]",
	.help = "take an eGPU away safely: notify, checkpoint CUDA work, remove, de-authorize",
	.run = run,
};
