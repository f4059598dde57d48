// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl migrate PID --to PCI|UUID [--timeout MS] [--force] [--direct]
 *   Served by egpud (user/gpuwork); --direct runs it in egpuctl itself
 *   (root, no daemon needed).
 */
#include "egpuctl/commands.h"
#include "gpuwork/gpuwork.h"

static int via_egpud(void *ctx, int argc, char **argv)
{
	return egpuctl_daemon_call(ctx, argc, argv);
}

static int run_migrate(int argc, char **argv, const struct egpuctl_opts *o)
{
	int rc = gw_ctl(argc, argv, o->json, via_egpud, (void *)o);

	return rc == GW_USAGE ? egpuctl_usage(&egpuctl_cmd_migrate) : rc;
}

const struct egpuctl_cmd egpuctl_cmd_migrate = {
	.name = "migrate",
	.args = "PID --to PCI|UUID [--timeout MS] [--force] [--direct]",
	.help = "move a running CUDA process to another GPU of the same chip",
	.run = run_migrate,
};
