// SPDX-License-Identifier: GPL-2.0
/*
 * Where gpuwork reads the system from.  Unit tests point these at fake
 * /proc, /sys and /dev trees; the run directory keeps checkpoint records.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpuwork/gw_internal.h"

static const char *root_set[4];

static const char *const root_env[4] = {
	[GW_ROOT_PROC] = "EGPUHP_PROC_ROOT",
	[GW_ROOT_SYS] = "EGPUHP_SYS_ROOT",
	[GW_ROOT_DEV] = "EGPUHP_DEV_ROOT",
	[GW_ROOT_RUN] = "EGPUHP_RUN_DIR",
};

static const char *const root_default[4] = {
	[GW_ROOT_PROC] = "/proc",
	[GW_ROOT_SYS] = "/sys",
	[GW_ROOT_DEV] = "/dev",
	[GW_ROOT_RUN] = "/run/egpuhp",
};

void gw_set_roots(const char *proc_root, const char *sys_root, const char *dev_root)
{
	root_set[GW_ROOT_PROC] = proc_root;
	root_set[GW_ROOT_SYS] = sys_root;
	root_set[GW_ROOT_DEV] = dev_root;
}

const char *gw_root_dir(enum gw_root root)
{
	const char *env;

	if (root_set[root])
		return root_set[root];
	env = getenv(root_env[root]);
	if (env && *env)
		return env;
	return root_default[root];
}

int gw_path(char *buf, size_t len, enum gw_root root, const char *fmt, ...)
{
	va_list ap;
	int n, m;

	n = snprintf(buf, len, "%s/", gw_root_dir(root));
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)m >= len - n)
		return -ENAMETOOLONG;
	return 0;
}

int gw_nvidia_path(char *buf, size_t len, const char *rel)
{
	const char *env = getenv("EGPUHP_NVIDIA_PROC_DIR");
	int n;

	if (env && *env && !root_set[GW_ROOT_PROC])
		n = snprintf(buf, len, "%s/%s", env, rel);
	else
		n = snprintf(buf, len, "%s/driver/nvidia/%s", gw_root_dir(GW_ROOT_PROC), rel);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
