// SPDX-License-Identifier: GPL-2.0
/*
 * router-authorized: a device router that is not authorized has no PCIe
 * tunnel, so its GPU is not on the bus (authorized: 0 none, 1 tunnels,
 * 2 tunnels after the secure-level challenge).
 */
#include <stdio.h>

#include "doctor/doctor.h"

static void run(struct doctor *d)
{
	struct doctor_finding *f;
	size_t i, n = 0;

	for (i = 0; i < d->n_routers; i++) {
		const struct egpuhp_router *r = &d->routers[i];

		if (r->depth == 0)
			continue;	/* the host router is always authorized */
		n++;
		if (r->authorized) {
			f = doctor_add(d, "router-authorized", DOCTOR_OK, r->name);
			doctor_seen(f, "%s %s %s: authorized %u", r->name, r->vendor_name,
				    r->device_name, r->authorized);
			continue;
		}
		f = doctor_add(d, "router-authorized", DOCTOR_FAIL, r->name);
		doctor_seen(f, "%s %s %s is not authorized (domain security %s): no PCIe "
			    "tunnel, so its GPU is not on the bus", r->name, r->vendor_name,
			    r->device_name, r->security[0] ? r->security : "?");
		doctor_fix(f, "egpuctl authorize %s (for every plug-in from now on: "
			   "egpuctl enroll %s --policy auto)", r->name, r->name);
	}
	if (!n) {
		f = doctor_add(d, "router-authorized", DOCTOR_NA, d->target_router ? d->target : NULL);
		doctor_seen(f, "no Thunderbolt device router is connected");
	}
}

const struct doctor_check doctor_check_router_auth = {
	.name = "router-authorized",
	.about = "each connected Thunderbolt router is authorized",
	.run = run,
};
