// SPDX-License-Identifier: GPL-2.0
/*
 * nic-names: systemd's predictable names for PCI NICs carry the bus
 * number ("enp4s0" = bus 4, slot 0).  An eGPU's bridges connected at boot
 * take bus numbers, the on-board NIC's bus moves, and it comes up as
 * "enp6s0": the network configuration naming "enp4s0" no longer applies.
 * Seen as an interface named in /etc/network/interfaces or a systemd
 * .network file's Name= that does not exist, while a PCI NIC with the
 * same slot and function exists under another bus number.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "doctor/doctor.h"

/* "enp4s0f1" -> "s0f1" (what stays when the bus moves), or NULL. */
static const char *path_name_tail(const char *name)
{
	const char *p = name + 3;

	if (strncmp(name, "enp", 3) || !isdigit((unsigned char)*p))
		return NULL;
	while (isdigit((unsigned char)*p))
		p++;
	return *p == 's' ? p : NULL;
}

static bool interface_exists(const struct doctor *d, const char *name)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "sys/class/net/%.32s", name);
	return doctor_exists(d, rel);
}

/* An existing interface with the same tail as missing: into buf. */
static bool moved_to(const struct doctor *d, const char *missing, char *buf, size_t len)
{
	const char *tail = path_name_tail(missing), *t;
	struct dirent *e;
	bool found = false;
	DIR *dp;

	if (!tail)
		return false;
	dp = doctor_opendir(d, "sys/class/net");
	while (dp && !found && (e = readdir(dp))) {
		t = path_name_tail(e->d_name);
		if (t && !strcmp(t, tail) && strcmp(e->d_name, missing)) {
			snprintf(buf, len, "%.32s", e->d_name);
			found = true;
		}
	}
	if (dp)
		closedir(dp);
	return found;
}

static void report(struct doctor *d, const char *where, const char *name, size_t *bad)
{
	char now[64], rel[128], mac[32] = "";
	struct doctor_finding *f;

	if (interface_exists(d, name) || !moved_to(d, name, now, sizeof(now)))
		return;
	(*bad)++;
	snprintf(rel, sizeof(rel), "sys/class/net/%.32s/address", now);
	doctor_read(d, rel, mac, sizeof(mac));
	f = doctor_add(d, "nic-names", DOCTOR_FAIL, now);
	doctor_seen(f, "%s configures %s, which does not exist; the NIC is now %s: its bus "
		    "number moved when the eGPU's bridges took bus numbers at boot",
		    where, name, now);
	doctor_fix(f, "name it by its MAC address, which does not move: "
		   "/etc/systemd/network/10-%s.link with \"[Match] MACAddress=%s\" and "
		   "\"[Link] Name=%s\", then update-initramfs -u and reboot", name,
		   mac[0] ? mac : "XX:XX:XX:XX:XX:XX", name);
}

/* /etc/network/interfaces: "auto", "allow-hotplug" and "iface" lines. */
static void scan_ifupdown(struct doctor *d, size_t *seen, size_t *bad)
{
	char text[16384], *line, *save;

	if (doctor_read(d, "etc/network/interfaces", text, sizeof(text)) < 0)
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char kw[32], name[64];

		if (sscanf(line, " %31s %63s", kw, name) != 2 ||
		    (strcmp(kw, "iface") && strcmp(kw, "auto") && strncmp(kw, "allow-", 6)) ||
		    !path_name_tail(name))
			continue;
		(*seen)++;
		if (strcmp(kw, "iface"))
			continue;	/* one report per interface: its iface line */
		report(d, "/etc/network/interfaces", name, bad);
	}
}

/* /etc/systemd/network/ *.network: "Name=enp4s0" in [Match]. */
static void scan_networkd(struct doctor *d, size_t *seen, size_t *bad)
{
	char rel[320], text[8192], where[330], *line, *save;
	struct dirent *e;
	DIR *dp;

	dp = doctor_opendir(d, "etc/systemd/network");
	while (dp && (e = readdir(dp))) {
		const char *dot = strrchr(e->d_name, '.');

		if (!dot || strcmp(dot, ".network"))
			continue;
		snprintf(rel, sizeof(rel), "etc/systemd/network/%.200s", e->d_name);
		if (doctor_read(d, rel, text, sizeof(text)) < 0)
			continue;
		snprintf(where, sizeof(where), "/%s", rel);
		for (line = strtok_r(text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char name[64];

			if (sscanf(line, " Name = %63s", name) != 1 || !path_name_tail(name))
				continue;
			(*seen)++;
			report(d, where, name, bad);
		}
	}
	if (dp)
		closedir(dp);
}

static void run(struct doctor *d)
{
	struct doctor_finding *f;
	size_t seen = 0, bad = 0;

	scan_ifupdown(d, &seen, &bad);
	scan_networkd(d, &seen, &bad);
	if (bad)
		return;
	f = doctor_add(d, "nic-names", seen ? DOCTOR_OK : DOCTOR_NA, NULL);
	if (seen)
		doctor_seen(f, "every PCI-path interface name in the network configuration exists");
	else
		doctor_seen(f, "the network configuration names no interface by PCI path (enpNsM)");
}

const struct doctor_check doctor_check_nic_names = {
	.name = "nic-names",
	.about = "NICs named by bus number, renamed when the eGPU shifted the buses",
	.run = run,
};
