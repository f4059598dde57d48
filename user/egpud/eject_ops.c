// SPDX-License-Identifier: GPL-2.0
/*
 * The real effects of an eject's steps 2-4: gpuwork, the module's
 * EGPUHP_CMD_EJECT on a netlink socket of its own, Thunderbolt sysfs.
 * They run in egpud's eject worker (a child), so they may block.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "common/sysfs.h"
#include "egpud/eject.h"

static int real_find_users(void *ctx, const char *pci, struct gw_users *out)
{
	return gw_find_users(pci, out);
}

static int real_evacuate(void *ctx, const char *pci, const char *to, const pid_t *skip,
			 size_t n_skip, FILE *log)
{
	return gw_evacuate(pci, to, skip, n_skip, log, false);
}

static void real_shutdown(void *ctx)
{
	gw_shutdown();
}

static int real_module_eject(void *ctx, const char *pci, char *msg, size_t len)
{
	struct egpuhp_nl_err err = { 0 };
	struct egpuhp_nl *nl = egpuhp_nl_open(&err);
	int ret;

	if (!nl) {
		snprintf(msg, len, "%s", err.msg);
		return err.code ? err.code : -ENOENT;
	}
	ret = egpuhp_nl_request(nl, EGPUHP_CMD_EJECT, false, egpuhp_nl_put_dev_name, (void *)pci,
				NULL, NULL, &err);
	if (ret < 0)
		snprintf(msg, len, "%s", err.msg);
	egpuhp_nl_close(nl);
	return ret;
}

static int real_deauth_allowed(void *ctx, const char *router)
{
	struct egpuhp_router r;
	char rel[256], val[16];
	int ret;

	ret = egpu_tb_read_router(router, &r);
	if (ret < 0)
		return ret;
	if (!r.authorized)
		return -EALREADY;
	snprintf(rel, sizeof(rel), "bus/thunderbolt/devices/%s/deauthorization", r.domain);
	if (egpu_sysfs_read(rel, val, sizeof(val)) < 0)
		return 0;	/* older kernels: no de-authorization at all */
	return !strcmp(val, "1");
}

static int real_deauthorize(void *ctx, const char *router)
{
	return egpu_tb_deauthorize(router);
}

static uint64_t real_now_ms(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const struct egpu_eject_ops egpu_eject_real_ops = {
	.find_users = real_find_users,
	.evacuate = real_evacuate,
	.shutdown = real_shutdown,
	.module_eject = real_module_eject,
	.deauth_allowed = real_deauth_allowed,
	.deauthorize = real_deauthorize,
	.now_ms = real_now_ms,
};
