// SPDX-License-Identifier: GPL-2.0
/*
 * info: one router or enrolled device, connected or not (egpud's "info"
 * verb: its sysfs state, egpud's decision and what the store holds).
 */
#include "egpuctl/commands.h"

static int run(int argc, char **argv, const struct egpuctl_opts *o)
{
	if (argc != 2)
		return egpuctl_usage(&egpuctl_cmd_info);
	return egpuctl_daemon_call(o, argc, argv);
}

const struct egpuctl_cmd egpuctl_cmd_info = {
	.name = "info", .args = "ROUTER|UNIQUE_ID",
	.help = "one router or enrolled device (connected or not): state, decision, store",
	.run = run,
};
