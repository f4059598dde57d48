// SPDX-License-Identifier: GPL-2.0
/*
 * metrics: egpud's state in the Prometheus text format, the same text
 * egpud keeps in its node_exporter textfile (metrics-textfile).
 */
#include "egpuctl/commands.h"

static int run(int argc, char **argv, const struct egpuctl_opts *o)
{
	if (argc != 1)
		return egpuctl_usage(&egpuctl_cmd_metrics);
	return egpuctl_daemon_call(o, argc, argv);
}

const struct egpuctl_cmd egpuctl_cmd_metrics = {
	.name = "metrics", .args = "",
	.help = "routers, functions, removals, resets, workloads in the Prometheus text format",
	.run = run,
};
