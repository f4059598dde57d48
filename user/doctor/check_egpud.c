// SPDX-License-Identifier: GPL-2.0
/*
 * egpud: is the daemon running, and does its configuration load (a file
 * egpud refuses is one it never starts with, or keeps the old one on
 * SIGHUP for).
 */
#include <stdio.h>

#include "doctor/doctor.h"

static void run(struct doctor *d)
{
	int pid = doctor_find_process(d, "egpud");
	struct doctor_finding *f;

	if (!d->config) {
		f = doctor_add(d, "egpud", DOCTOR_FAIL, NULL);
		doctor_seen(f, "egpud's configuration does not load: %s", d->config_err);
		doctor_fix(f, "correct that line of /etc/egpuhp/egpud.conf (egpud.conf(5)), "
			   "then systemctl restart egpud");
		return;
	}
	if (!pid) {
		f = doctor_add(d, "egpud", DOCTOR_WARN, NULL);
		doctor_seen(f, "egpud is not running: no authorization policy, driver binding, "
			    "hooks or workload protection");
		doctor_fix(f, "systemctl enable --now egpud");
		return;
	}
	f = doctor_add(d, "egpud", DOCTOR_OK, NULL);
	doctor_seen(f, "egpud is running (pid %d); its configuration loads", pid);
}

const struct doctor_check doctor_check_egpud = {
	.name = "egpud",
	.about = "egpud running, its configuration valid",
	.run = run,
};
