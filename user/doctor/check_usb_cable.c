// SPDX-License-Identifier: GPL-2.0
/*
 * usb-c-cable: an enclosure on a USB-C cable (or port) without
 * Thunderbolt.  Two traces in sysfs: a USB Billboard device (class 0x11,
 * what a USB-C device exposes when its alternate mode could not be
 * entered), and a Type-C partner whose alternate modes lack Thunderbolt's
 * (SVID 8087, Documentation/ABI/testing/sysfs-class-typec).  Either while
 * no Thunderbolt device router is connected is this failure.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "doctor/doctor.h"

#define CABLE_FIX "connect the enclosure with a Thunderbolt 3/4 or USB4 40 Gb/s cable " \
		  "(lightning-bolt or \"40\" mark) to a Thunderbolt/USB4 port; a USB-C " \
		  "charging or USB 3 cable carries no PCIe"

static bool device_router_connected(const struct doctor *d)
{
	size_t i;

	for (i = 0; i < d->n_routers; i++)
		if (d->routers[i].depth > 0)
			return true;
	return false;
}

/* A USB Billboard device: its "VID:PID product" into buf. */
static bool find_billboard(const struct doctor *d, char *buf, size_t len)
{
	char rel[256], cls[8], vid[8] = "", pid[8] = "", prod[64] = "";
	struct dirent *e;
	bool found = false;
	DIR *dp;

	dp = doctor_opendir(d, "sys/bus/usb/devices");
	while (dp && !found && (e = readdir(dp))) {
		if (e->d_name[0] == '.' || strchr(e->d_name, ':'))
			continue;	/* interfaces are "1-2:1.0" */
		snprintf(rel, sizeof(rel), "sys/bus/usb/devices/%.64s/bDeviceClass", e->d_name);
		if (doctor_read(d, rel, cls, sizeof(cls)) < 0 || strcmp(cls, "11"))
			continue;
		snprintf(rel, sizeof(rel), "sys/bus/usb/devices/%.64s/idVendor", e->d_name);
		doctor_read(d, rel, vid, sizeof(vid));
		snprintf(rel, sizeof(rel), "sys/bus/usb/devices/%.64s/idProduct", e->d_name);
		doctor_read(d, rel, pid, sizeof(pid));
		snprintf(rel, sizeof(rel), "sys/bus/usb/devices/%.64s/product", e->d_name);
		doctor_read(d, rel, prod, sizeof(prod));
		snprintf(buf, len, "%s:%s \"%s\" at USB %.32s", vid, pid, prod, e->d_name);
		found = true;
	}
	if (dp)
		closedir(dp);
	return found;
}

/*
 * A Type-C partner with alternate modes but none of them Thunderbolt's:
 * "port0-partner (SVIDs ff01)" into buf.
 */
static bool find_partner_without_tbt(const struct doctor *d, char *buf, size_t len)
{
	char rel[320], svid[16], svids[96];
	struct dirent *e, *m;
	bool found = false;
	DIR *dp, *mp;

	dp = doctor_opendir(d, "sys/class/typec");
	while (dp && !found && (e = readdir(dp))) {
		bool tbt = false;
		size_t modes = 0;

		if (!strstr(e->d_name, "-partner") || strchr(e->d_name, '.'))
			continue;
		svids[0] = '\0';
		snprintf(rel, sizeof(rel), "sys/class/typec/%.64s", e->d_name);
		mp = doctor_opendir(d, rel);
		while (mp && (m = readdir(mp))) {
			if (strncmp(m->d_name, e->d_name, strlen(e->d_name)) ||
			    m->d_name[strlen(e->d_name)] != '.')
				continue;
			snprintf(rel, sizeof(rel), "sys/class/typec/%.64s/%.64s/svid",
				 e->d_name, m->d_name);
			if (doctor_read(d, rel, svid, sizeof(svid)) < 0)
				continue;
			modes++;
			tbt |= !strcmp(svid, "8087");
			if (strlen(svids) + strlen(svid) + 2 < sizeof(svids))
				snprintf(svids + strlen(svids), sizeof(svids) - strlen(svids),
					 "%s%s", svids[0] ? " " : "", svid);
		}
		if (mp)
			closedir(mp);
		if (modes && !tbt) {
			snprintf(buf, len, "%.32s (alternate mode SVIDs %s)", e->d_name, svids);
			found = true;
		}
	}
	if (dp)
		closedir(dp);
	return found;
}

static void run(struct doctor *d)
{
	char what[200];
	struct doctor_finding *f;

	if (device_router_connected(d)) {
		f = doctor_add(d, "usb-c-cable", DOCTOR_OK, NULL);
		doctor_seen(f, "a Thunderbolt/USB4 device router is connected");
		return;
	}
	if (find_billboard(d, what, sizeof(what))) {
		f = doctor_add(d, "usb-c-cable", DOCTOR_FAIL, NULL);
		doctor_seen(f, "no Thunderbolt device router, but a USB Billboard device %s: "
			    "the enclosure could not enter Thunderbolt mode and shows up as "
			    "USB only", what);
		doctor_fix(f, CABLE_FIX);
		return;
	}
	if (find_partner_without_tbt(d, what, sizeof(what))) {
		f = doctor_add(d, "usb-c-cable", DOCTOR_WARN, NULL);
		doctor_seen(f, "no Thunderbolt device router; the USB-C partner %s offers no "
			    "Thunderbolt alternate mode (SVID 8087)", what);
		doctor_fix(f, CABLE_FIX);
		return;
	}
	f = doctor_add(d, "usb-c-cable", DOCTOR_NA, NULL);
	doctor_seen(f, "no Thunderbolt device router, and no USB-C device that failed to "
		    "enter Thunderbolt mode");
}

const struct doctor_check doctor_check_usb_cable = {
	.name = "usb-c-cable",
	.about = "an enclosure seen as a USB device only (cable without Thunderbolt)",
	.run = run,
};
