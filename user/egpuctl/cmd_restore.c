// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl restore PID [--to PCI|UUID] [--direct]
 *   Served by egpud (user/gpuwork); --direct runs it in egpuctl itself
 *   (root, no daemon needed).
 */
#include "egpuctl/commands.h"
#include "gpuwork/gpuwork.h"

static int via_egpud(void *ctx, int argc, char **argv)
{
	return egpuctl_daemon_call(ctx, argc, argv);
}

static int run_restore(int argc, char **argv, const struct egpuctl_opts *o)
{
	int rc = gw_ctl(argc, argv, o->json, via_egpud, (void *)o);

	return rc == GW_USAGE ? egpuctl_usage(&egpuctl_cmd_restore) : rc;
}

const struct egpuctl_cmd egpuctl_cmd_restore = {
	.name = "restore",
	.args = "PID [--to PCI|UUID] [--direct]",
	.help = "restore a checkpointed CUDA process (same GPU, or another of its chip) and resume it",
	.run = run_restore,
};
