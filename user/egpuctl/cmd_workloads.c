// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl workloads [PCI|UUID|all] [--direct]
 *   Served by egpud (user/gpuwork); --direct runs it in egpuctl itself
 *   (root, no daemon needed).
 */
#include "egpuctl/commands.h"
#include "gpuwork/gpuwork.h"

static int via_egpud(void *ctx, int argc, char **argv)
{
	return egpuctl_daemon_call(ctx, argc, argv);
}

static int run_workloads(int argc, char **argv, const struct egpuctl_opts *o)
{
	int rc = gw_ctl(argc, argv, o->json, via_egpud, (void *)o);

	return rc == GW_USAGE ? egpuctl_usage(&egpuctl_cmd_workloads) : rc;
}

const struct egpuctl_cmd egpuctl_cmd_workloads = {
	.name = "workloads",
	.args = "[PCI|UUID|all] [--direct]",
	.help = "processes using a GPU (CUDA users are checkpointable; VFIO/DRM users are not)",
	.run = run_workloads,
};
