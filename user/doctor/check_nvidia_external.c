// SPDX-License-Identifier: GPL-2.0
/*
 * nvidia-external: the nvidia driver tells an eGPU from an internal GPU
 * with the kernel's pci_is_thunderbolt_attached(): some bridge above it
 * carries Intel's Thunderbolt vendor-specific capability (extended
 * capability 0x0b, VSEC ID 0x1234, vendor 8086; set_pcie_thunderbolt()
 * in drivers/pci/probe.c).  USB4 hosts and their native PCIe tunnels have
 * no such bridge, so the driver takes the eGPU for internal and does not
 * expect it to leave: an unplug hangs it.  The check reads the bridges'
 * config space (sysfs "config"; beyond 64 bytes only root may).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor/doctor.h"

#define PCI_EXT_CAP_ID_VNDR	0x0b
#define PCI_VSEC_ID_INTEL_TBT	0x1234

static uint32_t le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* 1 Thunderbolt VSEC, 0 none, -1 extended config space not readable */
static int has_tbt_vsec(const struct doctor *d, const char *bridge)
{
	char rel[256], path[PATH_MAX];
	unsigned char cfg[4096];
	unsigned int pos = 0x100, hops = 0;
	ssize_t n;
	int fd;

	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/config", bridge);
	if (doctor_path(d, path, sizeof(path), rel))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = pread(fd, cfg, sizeof(cfg), 0);
	close(fd);
	if (n < 0x104)
		return -1;
	if ((cfg[0] | cfg[1] << 8) != 0x8086)
		return 0;
	while (pos >= 0x100 && pos + 8 <= (size_t)n && hops++ < 64) {
		uint32_t h = le32(cfg + pos);

		if (h == 0 || h == 0xffffffff)
			break;
		if ((h & 0xffff) == PCI_EXT_CAP_ID_VNDR &&
		    (le32(cfg + pos + 4) & 0xffff) == PCI_VSEC_ID_INTEL_TBT)
			return 1;
		pos = h >> 20;
	}
	return 0;
}

/*
 * Walk the bridges above fn (its sysfs path: pci0000:00/0000:00:07.0/...):
 * 1 one is a Thunderbolt bridge, 0 none is, -1 some could not be read.
 */
static int thunderbolt_attached(const struct doctor *d, const char *fn)
{
	char rel[256], path[PATH_MAX], real[PATH_MAX], *comp, *save;
	int ret = 0;

	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s", fn);
	if (doctor_path(d, path, sizeof(path), rel) || !realpath(path, real))
		return -1;
	for (comp = strtok_r(real, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		int r;

		if (strlen(comp) != 12 || comp[4] != ':' || comp[7] != ':' || comp[10] != '.' ||
		    !strcmp(comp, fn))
			continue;	/* not a PCI function above fn */
		r = has_tbt_vsec(d, comp);
		if (r == 1)
			return 1;
		if (r < 0)
			ret = -1;
	}
	return ret;
}

static void run(struct doctor *d)
{
	struct doctor_finding *f;
	size_t i, n = 0;

	for (i = 0; i < d->n_fns; i++) {
		const struct doctor_fn *fn = &d->fns[i];
		int tb;

		if (fn->vendor != 0x10de || !doctor_fn_is_gpu(fn))
			continue;
		n++;
		tb = thunderbolt_attached(d, fn->name);
		if (tb == 1) {
			f = doctor_add(d, "nvidia-external", DOCTOR_OK, fn->name);
			doctor_seen(f, "a bridge above %s is an Intel Thunderbolt bridge: the "
				    "nvidia driver treats the GPU as external", fn->name);
		} else if (tb < 0) {
			f = doctor_add(d, "nvidia-external", DOCTOR_NA, fn->name);
			doctor_seen(f, "the bridges above %s cannot be read beyond 64 bytes of "
				    "config space (run egpuctl doctor as root)", fn->name);
		} else {
			f = doctor_add(d, "nvidia-external", DOCTOR_WARN, fn->name);
			doctor_seen(f, "no bridge above %s has Intel's Thunderbolt capability "
				    "(a USB4 host): the nvidia driver%s takes it for an internal GPU "
				    "and hangs when it is unplugged", fn->name,
				    strcmp(fn->driver, "nvidia") ? " (when bound)" : "");
			doctor_fix(f, "never pull the cable while nvidia drives it: egpuctl eject "
				   "ROUTER first (stops its users, removes the functions in order, "
				   "then de-authorizes)");
		}
	}
	if (!n) {
		f = doctor_add(d, "nvidia-external", DOCTOR_NA, d->target);
		doctor_seen(f, "no NVIDIA eGPU");
	}
}

const struct doctor_check doctor_check_nvidia_external = {
	.name = "nvidia-external",
	.about = "nvidia sees a Thunderbolt GPU as external (pci_is_thunderbolt_attached)",
	.run = run,
};
