// SPDX-License-Identifier: GPL-2.0
/*
 * iommu-groups: vfio-pci passes an IOMMU group through whole, so a group
 * that holds the eGPU's functions and a host device (one not behind the
 * external-facing port) cannot be given to a VM while the host keeps
 * that device.  Bridges are left out: vfio accepts them bound to pcieport.
 * sys/bus/pci/devices/FN/iommu_group links to sys/kernel/iommu_groups/N,
 * whose devices/ lists the members.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sysfs.h"
#include "doctor/doctor.h"

/* The group number of fn, or -1. */
static int group_of(const struct doctor *d, const char *fn)
{
	char rel[256], path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/iommu_group", fn);
	if (doctor_path(d, path, sizeof(path), rel))
		return -1;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	return egpu_all_digits(base) ? atoi(base) : -1;
}

/* A host device: not a bridge, not removable (behind the eGPU's port). */
static bool host_device(const struct doctor *d, const char *name)
{
	char buf[32];

	if (doctor_pci_attr(d, name, "class", buf, sizeof(buf)) == 0 &&
	    strtoul(buf, NULL, 16) >> 8 == 0x0604)
		return false;
	return !(doctor_pci_attr(d, name, "removable", buf, sizeof(buf)) == 0 &&
		 !strcmp(buf, "removable"));
}

static void run(struct doctor *d)
{
	char rel[128], hosts[256];
	struct doctor_finding *f;
	size_t i, members;
	struct dirent *e;
	DIR *dp;

	if (doctor_no_functions(d, "iommu-groups"))
		return;
	for (i = 0; i < d->n_fns; i++) {
		const struct doctor_fn *fn = &d->fns[i];
		int g = group_of(d, fn->name);
		bool vfio = !strcmp(fn->driver, "vfio-pci");

		if (g < 0) {
			f = doctor_add(d, "iommu-groups", DOCTOR_NA, fn->name);
			doctor_seen(f, "%s is in no IOMMU group (the IOMMU is off; see iommu)",
				    fn->name);
			continue;
		}
		hosts[0] = '\0';
		members = 0;
		snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%d/devices", g);
		dp = doctor_opendir(d, rel);
		while (dp && (e = readdir(dp))) {
			if (e->d_name[0] == '.')
				continue;
			members++;
			if (!host_device(d, e->d_name) ||
			    strlen(hosts) + strlen(e->d_name) + 2 >= sizeof(hosts))
				continue;
			snprintf(hosts + strlen(hosts), sizeof(hosts) - strlen(hosts), "%s%s",
				 hosts[0] ? " " : "", e->d_name);
		}
		if (dp)
			closedir(dp);
		if (!hosts[0]) {
			f = doctor_add(d, "iommu-groups", DOCTOR_OK, fn->name);
			doctor_seen(f, "%s: IOMMU group %d (%zu devices) holds no host device",
				    fn->name, g, members);
			continue;
		}
		f = doctor_add(d, "iommu-groups", vfio ? DOCTOR_FAIL : DOCTOR_WARN, fn->name);
		doctor_seen(f, "%s shares IOMMU group %d with host devices %s%s", fn->name, g,
			    hosts, vfio ? ": vfio-pci cannot pass the group through" :
			    ": passing it through to a VM would take them along");
		doctor_fix(f, "connect the enclosure to another Thunderbolt/USB4 port (one whose "
			   "root port isolates it: own IOMMU group), or pass group %d's devices "
			   "through together (ls /sys/kernel/iommu_groups/%d/devices)", g, g);
	}
}

const struct doctor_check doctor_check_iommu_groups = {
	.name = "iommu-groups",
	.about = "the eGPU's IOMMU groups hold no host device",
	.run = run,
};
