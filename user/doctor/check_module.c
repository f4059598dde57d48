// SPDX-License-Identifier: GPL-2.0
/*
 * module: is egpuhp.ko loaded (sys/module/egpuhp), and if not, is it
 * installed for the running kernel at all (DKMS builds it per kernel, and
 * only for kernels whose headers are installed).
 */
#include <stdio.h>

#include "doctor/doctor.h"

static void run(struct doctor *d)
{
	char version[64] = "", file[512], release[128] = "";
	struct doctor_finding *f;

	if (doctor_module_loaded(d, "egpuhp")) {
		doctor_read(d, "sys/module/egpuhp/version", version, sizeof(version));
		f = doctor_add(d, "module", DOCTOR_OK, NULL);
		doctor_seen(f, "egpuhp is loaded%s%s", version[0] ? ", version " : "", version);
		return;
	}
	doctor_read(d, "proc/sys/kernel/osrelease", release, sizeof(release));
	if (doctor_module_file(d, "egpuhp", file, sizeof(file)) == 0) {
		f = doctor_add(d, "module", DOCTOR_WARN, NULL);
		doctor_seen(f, "egpuhp is installed (/%s) but not loaded: no surprise-removal "
			    "detection, quirks or resets; the checks below read sysfs only "
			    "(see secure-boot if loading it fails)", file);
		doctor_fix(f, "modprobe egpuhp (at boot: echo egpuhp > /etc/modules-load.d/egpuhp.conf)");
		return;
	}
	f = doctor_add(d, "module", DOCTOR_WARN, NULL);
	doctor_seen(f, "egpuhp is not loaded and not installed for kernel %s: the checks "
		    "below read sysfs only", release[0] ? release : "?");
	doctor_fix(f, "apt install linux-headers-%s egpuhp-dkms (or dkms autoinstall), then "
		   "modprobe egpuhp", release[0] ? release : "$(uname -r)");
}

const struct doctor_check doctor_check_module = {
	.name = "module",
	.about = "egpuhp.ko loaded, or installed for the running kernel",
	.run = run,
};
