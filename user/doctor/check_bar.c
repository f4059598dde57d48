// SPDX-License-Identifier: GPL-2.0
/*
 * bar-space: BARs the kernel could not assign (Windows' "Error 12"): the
 * firmware reserved too little memory window behind the hotplug port for
 * the GPU's BARs.  Seen two ways: the kernel's log lines "BAR 0 ...: can't
 * assign; no space" / "failed to assign" (drivers/pci/setup-res.c), and a
 * BAR in the device's "resource" file ("START END FLAGS" per line,
 * Documentation/PCI/sysfs-pci.rst) still IORESOURCE_UNSET or at address 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor/doctor.h"

#define IORESOURCE_IO		0x00000100ULL
#define IORESOURCE_MEM		0x00000200ULL
#define IORESOURCE_UNSET	0x20000000ULL

#define BAR_FIX	"add pci=realloc,hpmmiosize=256M,hpmmioprefsize=32G to " \
		"GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run update-grub and reboot; " \
		"if it stays, enable \"Above 4G decoding\" in the firmware setup"

/* The first BAR (0..5) the resource file shows unassigned, or -1. */
static int unassigned_bar(const struct doctor *d, const char *fn)
{
	char buf[2048], *line, *save;
	int bar = 0;

	if (doctor_pci_attr(d, fn, "resource", buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line && bar < 6;
	     line = strtok_r(NULL, "\n", &save), bar++) {
		unsigned long long start, end, flags;

		if (sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3)
			continue;
		if (!(flags & (IORESOURCE_IO | IORESOURCE_MEM)))
			continue;
		if ((flags & IORESOURCE_UNSET) || (start == 0 && end != 0))
			return bar;
	}
	return -1;
}

static void run(struct doctor *d)
{
	const struct doctor_log_line *l;
	struct doctor_finding *f;
	char pref[48];
	size_t i, from;

	if (doctor_no_functions(d, "bar-space"))
		return;
	for (i = 0; i < d->n_fns; i++) {
		const struct doctor_fn *fn = &d->fns[i];
		int bar = unassigned_bar(d, fn->name);

		snprintf(pref, sizeof(pref), "%s: BAR", fn->name);
		from = 0;
		l = doctor_log_find(d, &from, pref, "no space");
		if (!l) {
			from = 0;
			l = doctor_log_find(d, &from, pref, "failed to assign");
		}
		if (!l && bar < 0) {
			f = doctor_add(d, "bar-space", DOCTOR_OK, fn->name);
			doctor_seen(f, "%s: every BAR has an address", fn->name);
			continue;
		}
		f = doctor_add(d, "bar-space", DOCTOR_FAIL, fn->name);
		if (l)
			doctor_seen(f, "the kernel could not assign %s's memory (\"Error 12\"): %s",
				    fn->name, l->text);
		else
			doctor_seen(f, "%s's BAR %d has no address (\"Error 12\"): the memory "
				    "window behind its hotplug port is too small", fn->name, bar);
		doctor_fix(f, BAR_FIX);
	}
}

const struct doctor_check doctor_check_bar = {
	.name = "bar-space",
	.about = "every BAR of the eGPU assigned (\"Error 12\")",
	.run = run,
};
