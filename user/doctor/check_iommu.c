// SPDX-License-Identifier: GPL-2.0
/*
 * iommu: is the IOMMU on (sys/kernel/iommu_groups has groups), does the
 * firmware declare DMA protection for Thunderbolt (the domains'
 * iommu_dma_protection, which egpud's "iommu" policy relies on), and what
 * the kernel command line says about it.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "doctor/doctor.h"

static size_t count_groups(const struct doctor *d)
{
	struct dirent *e;
	size_t n = 0;
	DIR *dp;

	dp = doctor_opendir(d, "sys/kernel/iommu_groups");
	if (!dp)
		return 0;
	while ((e = readdir(dp)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

static void run(struct doctor *d)
{
	char cpu[8192] = "", off[64] = "", word[64], rel[128], val[16];
	const char *on;
	struct egpuhp_router *r;
	struct doctor_finding *f;
	size_t groups = count_groups(d), i;
	int prot = -1;	/* -1: no domain says */

	doctor_read(d, "proc/cpuinfo", cpu, sizeof(cpu));
	on = strstr(cpu, "AuthenticAMD") ? "amd_iommu=on" : "intel_iommu=on";
	if (doctor_cmdline(d, "intel_iommu=off", word, sizeof(word)) ||
	    doctor_cmdline(d, "amd_iommu=off", word, sizeof(word)) ||
	    doctor_cmdline(d, "iommu=off", word, sizeof(word)))
		snprintf(off, sizeof(off), "%s", word);
	for (i = 0; i < d->n_routers; i++) {
		r = &d->routers[i];
		snprintf(rel, sizeof(rel), "sys/bus/thunderbolt/devices/%s/iommu_dma_protection",
			 r->domain);
		if (doctor_read(d, rel, val, sizeof(val)) >= 0 && prot != 1)
			prot = !strcmp(val, "1");
	}
	if (!groups) {
		f = doctor_add(d, "iommu", off[0] ? DOCTOR_FAIL : DOCTOR_WARN, NULL);
		doctor_seen(f, "the IOMMU is off (no IOMMU groups%s%s%s): a Thunderbolt device "
			    "can read and write all memory, and vfio-pci cannot pass a GPU through",
			    off[0] ? "; the kernel command line has " : "", off,
			    prot == 0 ? "; iommu_dma_protection 0" : "");
		if (off[0])
			doctor_fix(f, "in /etc/default/grub, take %s out of GRUB_CMDLINE_LINUX_DEFAULT "
				   "and add %s; run update-grub and reboot", off, on);
		else
			doctor_fix(f, "add %s to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run "
				   "update-grub and reboot (and enable VT-d / AMD-Vi in the firmware "
				   "setup)", on);
		return;
	}
	if (prot == 0) {
		f = doctor_add(d, "iommu", DOCTOR_WARN, NULL);
		doctor_seen(f, "the IOMMU is on (%zu groups) but iommu_dma_protection is 0: the "
			    "firmware does not declare Kernel DMA Protection, so egpud's iommu "
			    "policy authorizes nothing automatically", groups);
		doctor_fix(f, "enable \"Kernel DMA Protection\" (or \"Pre-boot DMA protection\") "
			   "in the firmware setup, or give the device an explicit policy: "
			   "egpuctl enroll ROUTER --policy auto");
		return;
	}
	f = doctor_add(d, "iommu", DOCTOR_OK, NULL);
	doctor_seen(f, "the IOMMU is on (%zu groups)%s", groups,
		    prot == 1 ? "; iommu_dma_protection 1" : "");
}

const struct doctor_check doctor_check_iommu = {
	.name = "iommu",
	.about = "IOMMU on, Thunderbolt DMA protection, the kernel command line",
	.run = run,
};
