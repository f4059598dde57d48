// SPDX-License-Identifier: GPL-2.0
/*
 * thunderbolt-security: each Thunderbolt/USB4 domain and its security
 * level (Documentation/admin-guide/thunderbolt.rst): "user" and "secure"
 * let egpud decide per device; "none" tunnels PCIe to anything plugged in;
 * "dponly", "usbonly" and "nopcie" never tunnel PCIe, so no GPU appears.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "doctor/doctor.h"

#define FIRMWARE_FIX "in the firmware setup (BIOS), set Thunderbolt security to " \
		     "\"User Authorization\" and enable PCIe tunneling"

static void one_domain(struct doctor *d, const char *dom)
{
	char rel[128], sec[32];
	struct doctor_finding *f;

	snprintf(rel, sizeof(rel), "sys/bus/thunderbolt/devices/%.32s/security", dom);
	if (doctor_read(d, rel, sec, sizeof(sec)) < 0) {
		f = doctor_add(d, "thunderbolt-security", DOCTOR_WARN, dom);
		doctor_seen(f, "%s has no readable security attribute", dom);
		return;
	}
	if (!strcmp(sec, "user") || !strcmp(sec, "secure")) {
		f = doctor_add(d, "thunderbolt-security", DOCTOR_OK, dom);
		doctor_seen(f, "%s security level %s: a router gets PCIe once authorized",
			    dom, sec);
	} else if (!strcmp(sec, "none")) {
		f = doctor_add(d, "thunderbolt-security", DOCTOR_WARN, dom);
		doctor_seen(f, "%s security level none: every device gets PCIe (and DMA) "
			    "when plugged in, before anyone decides", dom);
		doctor_fix(f, FIRMWARE_FIX);
	} else if (!strcmp(sec, "dponly") || !strcmp(sec, "usbonly") ||
		   !strcmp(sec, "nopcie")) {
		f = doctor_add(d, "thunderbolt-security", DOCTOR_FAIL, dom);
		doctor_seen(f, "%s security level %s: the controller never tunnels PCIe, "
			    "so an eGPU's GPU cannot appear", dom, sec);
		doctor_fix(f, FIRMWARE_FIX);
	} else {
		f = doctor_add(d, "thunderbolt-security", DOCTOR_WARN, dom);
		doctor_seen(f, "%s security level \"%s\" is not one this check knows", dom, sec);
	}
}

static void run(struct doctor *d)
{
	struct doctor_finding *f;
	struct dirent *e;
	size_t found = 0;
	DIR *dp;

	dp = doctor_opendir(d, "sys/bus/thunderbolt/devices");
	while (dp && (e = readdir(dp))) {
		if (strncmp(e->d_name, "domain", 6))
			continue;
		one_domain(d, e->d_name);
		found++;
	}
	if (dp)
		closedir(dp);
	if (found)
		return;
	f = doctor_add(d, "thunderbolt-security", DOCTOR_NA, NULL);
	doctor_seen(f, "no Thunderbolt/USB4 domain (%s)", dp ?
		    "no controller, or its firmware keeps it powered off" :
		    "the thunderbolt driver is not loaded");
	if (!dp)
		doctor_fix(f, "modprobe thunderbolt");
}

const struct doctor_check doctor_check_thunderbolt = {
	.name = "thunderbolt-security",
	.about = "Thunderbolt/USB4 domains and their security level",
	.run = run,
};
