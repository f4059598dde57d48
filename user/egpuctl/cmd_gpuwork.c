// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl workloads | gpus | checkpoint | restore | migrate
 *   The GPU workload verbs of user/gpuwork.  Served by egpud; --direct
 *   runs them in egpuctl itself (root, no daemon needed).  gw_ctl() parses
 *   the arguments (argv[0] is the verb), so one run function serves all.
 */
#include <string.h>

#include "egpuctl/commands.h"
#include "gpuwork/gpuwork.h"

static int via_egpud(void *ctx, int argc, char **argv)
{
	return egpuctl_daemon_call(ctx, argc, argv);
}

static int run_gpuwork(int argc, char **argv, const struct egpuctl_opts *o);

const struct egpuctl_cmd egpuctl_cmd_workloads = {
	.name = "workloads",
	.args = "[PCI|UUID|all] [--direct]",
	.help = "processes using a GPU (CUDA users are checkpointable; VFIO/DRM users are not)",
	.run = run_gpuwork,
};

const struct egpuctl_cmd egpuctl_cmd_gpus = {
	.name = "gpus",
	.args = "[--direct]",
	.help = "the NVIDIA GPUs the driver reports (PCI address, UUID, model)",
	.run = run_gpuwork,
};

const struct egpuctl_cmd egpuctl_cmd_checkpoint = {
	.name = "checkpoint",
	.args = "PID [--timeout MS] [--force] [--only] [--direct]",
	.help = "move the GPU state of PID's workload (its process tree or service; --only: "
		"PID alone) into host memory (it pauses), all or nothing",
	.run = run_gpuwork,
};

const struct egpuctl_cmd egpuctl_cmd_restore = {
	.name = "restore",
	.args = "PID [--to PCI|UUID [--replug]] [--only] [--direct]",
	.help = "restore PID's checkpointed workload (same GPU, or another of its chip) and "
		"resume it",
	.run = run_gpuwork,
};

const struct egpuctl_cmd egpuctl_cmd_migrate = {
	.name = "migrate",
	.args = "PID --to PCI|UUID [--timeout MS] [--force] [--only] [--direct]",
	.help = "move PID's running workload to another GPU of the same chip",
	.run = run_gpuwork,
};

static const struct egpuctl_cmd *const gpuwork_cmds[] = {
	&egpuctl_cmd_workloads, &egpuctl_cmd_gpus, &egpuctl_cmd_checkpoint,
	&egpuctl_cmd_restore, &egpuctl_cmd_migrate,
};

/* gw_ctl() itself refuses only what it cannot hold; its verbs check the rest */
#define GPUWORK_MAX_ARGS	64

static int run_gpuwork(int argc, char **argv, const struct egpuctl_opts *o)
{
	size_t i, n = sizeof(gpuwork_cmds) / sizeof(gpuwork_cmds[0]);

	if (argc <= GPUWORK_MAX_ARGS)
		return gw_ctl(argc, argv, o->json, via_egpud, (void *)o);
	for (i = 0; i + 1 < n && strcmp(argv[0], gpuwork_cmds[i]->name); i++)
		;
	return egpuctl_usage(gpuwork_cmds[i]);
}
