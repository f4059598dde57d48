// SPDX-License-Identifier: GPL-2.0
/*
 * Commands that ask egpud to act: authorize, enroll, forget, import-bolt,
 * policy.  (deauthorize has its own file: it also works without egpud.)
 */
#include <string.h>

#include "egpuctl/commands.h"

static int run_authorize(int argc, char **argv, const struct egpuctl_opts *o)
{
	if (argc != 2)
		return egpuctl_usage(&egpuctl_cmd_authorize);
	return egpuctl_daemon_call(o, argc, argv);
}

static int run_enroll(int argc, char **argv, const struct egpuctl_opts *o)
{
	if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "--policy")))
		return egpuctl_usage(&egpuctl_cmd_enroll);
	return egpuctl_daemon_call(o, argc, argv);
}

static int run_forget(int argc, char **argv, const struct egpuctl_opts *o)
{
	if (argc != 2)
		return egpuctl_usage(&egpuctl_cmd_forget);
	return egpuctl_daemon_call(o, argc, argv);
}

static int run_import_bolt(int argc, char **argv, const struct egpuctl_opts *o)
{
	char *args[2] = { "import-bolt", argc > 1 ? argv[1] : NULL };

	if (argc > 2)
		return egpuctl_usage(&egpuctl_cmd_import_bolt);
	return egpuctl_daemon_call(o, argc > 1 ? 2 : 1, args);
}

static int run_policy(int argc, char **argv, const struct egpuctl_opts *o)
{
	char *args[1] = { "status" };

	if (argc != 1)
		return egpuctl_usage(&egpuctl_cmd_policy);
	return egpuctl_daemon_call(o, 1, args);
}

const struct egpuctl_cmd egpuctl_cmd_authorize = {
	.name = "authorize", .args = "ROUTER|UNIQUE_ID",
	.help = "authorize a Thunderbolt router now (policy permitting)",
	.run = run_authorize,
};

const struct egpuctl_cmd egpuctl_cmd_enroll = {
	.name = "enroll", .args = "ROUTER|UNIQUE_ID [--policy auto|iommu|manual|deny]",
	.help = "store a router (and its key) and authorize it",
	.run = run_enroll,
};

const struct egpuctl_cmd egpuctl_cmd_forget = {
	.name = "forget", .args = "UNIQUE_ID|ROUTER",
	.help = "remove an enrolled router and its key",
	.run = run_forget,
};

const struct egpuctl_cmd egpuctl_cmd_import_bolt = {
	.name = "import-bolt", .args = "[BOLT_DIR]",
	.help = "enroll the devices of bolt's store (/var/lib/boltd)",
	.run = run_import_bolt,
};

const struct egpuctl_cmd egpuctl_cmd_policy = {
	.name = "policy", .args = "",
	.help = "egpud's policy and its decision for each router",
	.run = run_policy,
};
