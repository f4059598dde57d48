// SPDX-License-Identifier: GPL-2.0
/*
 * authorization-owner: who writes the routers' "authorized" attribute.
 * boltd and egpud both can; egpud's [authorization] owner (egpud.conf(5))
 * says whether it steps aside for boltd.  Two writers race; none leaves
 * every router unauthorized.
 */
#include <stdio.h>

#include "common/config.h"
#include "doctor/doctor.h"

static void run(struct doctor *d)
{
	int boltd = doctor_find_process(d, "boltd"), egpud = doctor_find_process(d, "egpud");
	enum egpu_owner owner = d->config ? d->config->owner : EGPU_OWNER_AUTO;
	struct doctor_finding *f;

	if (boltd && egpud && owner == EGPU_OWNER_EGPUD) {
		f = doctor_add(d, "authorization-owner", DOCTOR_WARN, NULL);
		doctor_seen(f, "boltd (pid %d) and egpud (pid %d, owner = egpud) both "
			    "authorize routers", boltd, egpud);
		doctor_fix(f, "let one of them own it: systemctl mask --now bolt, or set "
			   "owner = auto in [authorization] of /etc/egpuhp/egpud.conf");
	} else if (boltd && egpud) {
		f = doctor_add(d, "authorization-owner", DOCTOR_OK, NULL);
		doctor_seen(f, "boltd (pid %d) authorizes; egpud (pid %d) %s", boltd, egpud,
			    owner == EGPU_OWNER_NONE ? "never does (owner = none)" :
			    "steps aside while boltd runs (owner = auto)");
	} else if (egpud) {
		f = doctor_add(d, "authorization-owner", owner == EGPU_OWNER_NONE ?
			       DOCTOR_WARN : DOCTOR_OK, NULL);
		doctor_seen(f, "egpud (pid %d) %s; boltd is not running", egpud,
			    owner == EGPU_OWNER_NONE ? "never authorizes (owner = none)" :
			    "authorizes routers");
		if (owner == EGPU_OWNER_NONE)
			doctor_fix(f, "set owner = auto in [authorization] of "
				   "/etc/egpuhp/egpud.conf, or authorize by hand: egpuctl authorize ROUTER");
	} else if (boltd) {
		f = doctor_add(d, "authorization-owner", DOCTOR_OK, NULL);
		doctor_seen(f, "boltd (pid %d) authorizes routers; egpud is not running", boltd);
	} else {
		f = doctor_add(d, "authorization-owner", DOCTOR_WARN, NULL);
		doctor_seen(f, "neither egpud nor boltd is running: nobody authorizes a router "
			    "that is plugged in");
		doctor_fix(f, "systemctl enable --now egpud");
	}
}

const struct doctor_check doctor_check_auth_owner = {
	.name = "authorization-owner",
	.about = "who authorizes routers: egpud, boltd, both or nobody",
	.run = run,
};
