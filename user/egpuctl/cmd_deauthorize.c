// SPDX-License-Identifier: GPL-2.0
/*
 * deauthorize: through egpud; "--all" (the pre-shutdown command) falls back
 * to sysfs when egpud is not running, so shutdown never depends on it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/egpud_proto.h"
#include "common/sysfs.h"
#include "egpuctl/commands.h"

static int deauthorize_all_direct(void)
{
	struct egpuhp_router *v;
	size_t n, i;
	int ret, fails = 0, done = 0;

	ret = egpu_tb_list_routers(&v, &n);
	if (ret < 0) {
		fprintf(stderr, "egpuctl: thunderbolt sysfs: %s\n", strerror(-ret));
		return EGPUCTL_FAIL;
	}
	for (i = n; i-- > 0;) {	/* deepest first */
		if (v[i].depth == 0 || v[i].authorized == 0)
			continue;
		ret = egpu_tb_deauthorize(v[i].name);
		if (ret < 0) {
			fprintf(stderr, "deauthorize %s failed: %s\n", v[i].name, strerror(-ret));
			fails++;
		} else {
			printf("deauthorize %s (%s %s)\n", v[i].name, v[i].vendor_name,
			       v[i].device_name);
			done++;
		}
	}
	free(v);
	if (!done && !fails)
		printf("no authorized router\n");
	return fails ? EGPUCTL_FAIL : EGPUCTL_OK;
}

static int run(int argc, char **argv, const struct egpuctl_opts *o)
{
	int fd;

	if (argc != 2)
		return egpuctl_usage(&egpuctl_cmd_deauthorize);
	if (!strcmp(argv[1], "--all")) {
		fd = egpud_connect(egpud_socket_path(o->socket_path));
		if (fd < 0) {
			if (geteuid() != 0) {
				fprintf(stderr, "egpuctl: egpud is not running and only root can write sysfs\n");
				return EGPUCTL_FAIL;
			}
			fprintf(stderr, "egpuctl: egpud not running: de-authorizing every device router directly\n");
			return deauthorize_all_direct();
		}
		close(fd);
	}
	return egpuctl_daemon_call(o, argc, argv);
}

const struct egpuctl_cmd egpuctl_cmd_deauthorize = {
	.name = "deauthorize", .args = "ROUTER|UNIQUE_ID|--all",
	.help = "de-authorize a router, or every eGPU router (for shutdown)",
	.run = run,
};
