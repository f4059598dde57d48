// SPDX-License-Identifier: GPL-2.0
/*
 * health: one line and an exit status for the node's eGPUs, the protocol
 * of a node-problem-detector custom plugin (contrib/npd-egpuhp.json):
 * 0 healthy (or no eGPU connected), 1 a problem, 2 unknown (egpud not
 * reachable, or a usage error); the message on stdout.
 */
#include "egpuctl/commands.h"

/* node-problem-detector kills a plugin past its timeout: answer before */
#define HEALTH_TIMEOUT_MS	5000

static int run(int argc, char **argv, const struct egpuctl_opts *o)
{
	struct egpuctl_opts ho = *o;

	if (argc != 1)
		return egpuctl_usage(&egpuctl_cmd_health);
	ho.unreachable_status = EGPUCTL_UNKNOWN;
	return egpuctl_daemon_call_timeout(&ho, argc, argv, HEALTH_TIMEOUT_MS);
}

const struct egpuctl_cmd egpuctl_cmd_health = {
	.name = "health", .args = "",
	.help = "0 healthy, 1 problem, 2 unknown: a node-problem-detector plugin",
	.run = run,
};
