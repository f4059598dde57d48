// SPDX-License-Identifier: GPL-2.0
/* The routers that carry an eGPU (see egpu_routers.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/egpu_routers.h"
#include "common/sysfs.h"

bool egpu_tb_router_below(const struct egpuhp_router *top, const struct egpuhp_router *r)
{
	const char *dt = strchr(top->name, '-'), *dr = strchr(r->name, '-');
	unsigned long long rt, rr, mask;

	if (!dt || !dr || dt - top->name != dr - r->name ||
	    strncmp(top->name, r->name, (size_t)(dt - top->name)))
		return false;	/* another domain */
	rt = strtoull(dt + 1, NULL, 16);
	rr = strtoull(dr + 1, NULL, 16);
	mask = top->depth >= 8 ? ~0ULL : (1ULL << (8 * top->depth)) - 1;
	return (rr & mask) == rt;
}

/* Functions of display/3D class (base class 0x03) behind an external-facing port. */
static size_t external_display_functions(void)
{
	char path[4096], rel[512], val[32];
	struct dirent *e;
	size_t found = 0;
	DIR *dp;

	snprintf(path, sizeof(path), "%s/bus/pci/devices", egpu_sysfs_root());
	dp = opendir(path);
	if (!dp)
		return 0;
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "bus/pci/devices/%.64s/class", e->d_name);
		if (egpu_sysfs_read(rel, val, sizeof(val)) < 0 || strtoul(val, NULL, 16) >> 16 != 0x03)
			continue;
		snprintf(rel, sizeof(rel), "bus/pci/devices/%.64s/removable", e->d_name);
		if (egpu_sysfs_read(rel, val, sizeof(val)) == 0 && !strcmp(val, "removable"))
			found++;
	}
	closedir(dp);
	return found;
}

static bool device_router(const struct egpuhp_router *r)
{
	return r->depth > 0 && r->authorized != 0;
}

size_t egpu_pick_egpu_routers(const struct egpuhp_router *v, size_t n,
			      const struct egpuhp_dev *devs, size_t n_devs, bool *pick,
			      char *why, size_t len)
{
	size_t i, j, k, picked = 0, authorized = 0, sole = 0;
	bool linked = false;

	memset(pick, 0, n * sizeof(*pick));
	why[0] = '\0';
	for (k = 0; devs && k < n_devs; k++) {
		if (!devs[k].is_gpu || !devs[k].router_uid[0])
			continue;
		for (i = 0; i < n; i++) {
			if (strcasecmp(v[i].unique_id, devs[k].router_uid))
				continue;
			linked = true;
			for (j = 0; j < n; j++)
				if (egpu_tb_router_below(&v[i], &v[j]))
					pick[j] = true;
		}
	}
	if (!linked) {
		for (i = 0; i < n; i++) {
			if (device_router(&v[i])) {
				authorized++;
				sole = i;
			}
		}
		if (!authorized) {
			snprintf(why, len, "no authorized device router");
			return 0;
		}
		if (!external_display_functions()) {
			snprintf(why, len, "no eGPU: no display-class function behind a "
				 "Thunderbolt port");
			return 0;
		}
		if (authorized > 1) {
			snprintf(why, len, "%zu authorized device routers and %s: cannot tell "
				 "which carries the eGPU, leaving all (load egpuhp, or name "
				 "the router)", authorized,
				 devs ? "the egpuhp module did not link the GPU to one" :
				 "no egpuhp module");
			return 0;
		}
		pick[sole] = true;
	}
	for (i = 0; i < n; i++) {
		if (pick[i] && !device_router(&v[i]))
			pick[i] = false;
		if (pick[i])
			picked++;
	}
	if (!picked)
		snprintf(why, len, "the eGPU's router is not authorized");
	return picked;
}

int egpu_deauthorize_egpu_routers(const struct egpuhp_dev *devs, size_t n_devs,
				  void (*done)(const struct egpuhp_router *r, int err, void *ctx),
				  void *ctx, char *why, size_t len)
{
	struct egpuhp_router *v;
	size_t n, i;
	int count = 0, ret;
	bool *pick;

	why[0] = '\0';
	ret = egpu_tb_list_routers(&v, &n);
	if (ret < 0)
		return ret;
	pick = calloc(n ? n : 1, sizeof(*pick));
	if (!pick) {
		free(v);
		return -ENOMEM;
	}
	egpu_pick_egpu_routers(v, n, devs, n_devs, pick, why, len);
	for (i = n; i-- > 0;) {	/* deepest first: v is sorted by depth */
		if (!pick[i])
			continue;
		ret = egpu_tb_deauthorize(v[i].name);
		done(&v[i], ret < 0 ? ret : 0, ctx);
		if (ret >= 0)
			count++;
	}
	free(pick);
	free(v);
	return count;
}
