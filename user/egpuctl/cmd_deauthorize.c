// SPDX-License-Identifier: GPL-2.0
/*
 * deauthorize: through egpud.  "--all" is the shutdown command
 * (egpuhp-deauthorize.service): it de-authorizes only routers that carry an
 * eGPU (common/egpu_routers.h), never a dock or a Thunderbolt SSD, and when
 * egpud is not running, does not answer in time, refuses or fails, root
 * does it directly in sysfs, so shutdown never depends on egpud.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/egpu_routers.h"
#include "common/egpud_proto.h"
#include "common/egpuhp_nl.h"
#include "common/sysfs.h"
#include "egpuctl/commands.h"

/* How long the shutdown command waits for egpud before doing it itself. */
#define DEAUTHORIZE_ALL_TIMEOUT_MS	15000

static void deauthorized_one(const struct egpuhp_router *r, int err, void *arg)
{
	int *fails = arg;

	if (err < 0) {
		fprintf(stderr, "deauthorize %s failed: %s\n", r->name, strerror(-err));
		(*fails)++;
		return;
	}
	printf("deauthorize %s (%s %s) carrying an eGPU\n", r->name, r->vendor_name,
	       r->device_name);
}

static int deauthorize_all_direct(void)
{
	struct egpuhp_dev *devs = NULL;
	struct egpuhp_nl_err err;
	struct egpuhp_nl *nl;
	size_t n_devs = 0;
	bool module = false;
	char why[256];
	int ret, fails = 0;

	/* the module says which functions are GPUs and which router carries them */
	nl = egpuhp_nl_open(&err);
	if (nl) {
		module = egpuhp_nl_dump_devs(nl, &devs, &n_devs, &err) == 0;
		egpuhp_nl_close(nl);
	}
	ret = egpu_deauthorize_egpu_routers(module ? devs : NULL, n_devs, deauthorized_one,
					    &fails, why, sizeof(why));
	free(devs);
	if (ret < 0) {
		fprintf(stderr, "egpuctl: thunderbolt sysfs: %s\n", strerror(-ret));
		return EGPUCTL_FAIL;
	}
	if (why[0])
		printf("no eGPU router de-authorized: %s\n", why);
	return fails ? EGPUCTL_FAIL : EGPUCTL_OK;
}

static int run(int argc, char **argv, const struct egpuctl_opts *o)
{
	int ret;

	if (argc != 2)
		return egpuctl_usage(&egpuctl_cmd_deauthorize);
	if (strcmp(argv[1], "--all"))
		return egpuctl_daemon_call(o, argc, argv);
	ret = egpuctl_daemon_call_timeout(o, argc, argv, DEAUTHORIZE_ALL_TIMEOUT_MS);
	if (ret == EGPUCTL_OK)
		return ret;
	if (geteuid() != 0) {
		fprintf(stderr, "egpuctl: egpud did not de-authorize and only root can write "
			"sysfs\n");
		return ret;
	}
	fprintf(stderr, "egpuctl: egpud did not de-authorize (status %d): de-authorizing eGPU "
		"routers directly\n", ret);
	return deauthorize_all_direct();
}

const struct egpuctl_cmd egpuctl_cmd_deauthorize = {
	.name = "deauthorize", .args = "ROUTER|UNIQUE_ID|--all",
	.help = "de-authorize a router, or every router carrying an eGPU (for shutdown)",
	.run = run,
};
