// SPDX-License-Identifier: GPL-2.0
/*
 * link: each eGPU function's PCIe link against what it and the port above
 * it can do (current_link_speed "8.0 GT/s PCIe", current_link_width "4",
 * max_link_*).  The link inside the enclosure is a real one; a slower or
 * narrower one than both ends can do is a card not seated, a riser, or a
 * link that trained down after errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor/doctor.h"

struct link {
	double speed;		/* GT/s; 0 unknown */
	unsigned int width;
};

static void read_link(const struct doctor *d, const char *fn, const char *which,
		      struct link *l)
{
	char attr[32], buf[64];

	memset(l, 0, sizeof(*l));
	snprintf(attr, sizeof(attr), "%s_link_speed", which);
	if (doctor_pci_attr(d, fn, attr, buf, sizeof(buf)) == 0)
		l->speed = strtod(buf, NULL);	/* "Unknown" reads as 0 */
	snprintf(attr, sizeof(attr), "%s_link_width", which);
	if (doctor_pci_attr(d, fn, attr, buf, sizeof(buf)) == 0)
		l->width = (unsigned int)strtoul(buf, NULL, 0);
}

static void run(struct doctor *d)
{
	struct doctor_finding *f;
	size_t i;

	if (doctor_no_functions(d, "link"))
		return;
	for (i = 0; i < d->n_fns; i++) {
		const struct doctor_fn *fn = &d->fns[i];
		struct link cur, max, up = { 0 };

		if (fn->name[strlen(fn->name) - 1] != '0')
			continue;	/* one link per device: function 0 reports it */
		read_link(d, fn->name, "current", &cur);
		read_link(d, fn->name, "max", &max);
		if (fn->parent[0])
			read_link(d, fn->parent, "max", &up);
		if (up.speed > 0 && up.speed < max.speed)
			max.speed = up.speed;
		if (up.width && up.width < max.width)
			max.width = up.width;
		if (!cur.speed || !cur.width || !max.speed || !max.width) {
			f = doctor_add(d, "link", DOCTOR_NA, fn->name);
			doctor_seen(f, "%s reports no PCIe link state", fn->name);
			continue;
		}
		if (cur.speed < max.speed || cur.width < max.width) {
			f = doctor_add(d, "link", DOCTOR_WARN, fn->name);
			doctor_seen(f, "%s runs at %.1f GT/s x%u; it and the port above (%s) can "
				    "do %.1f GT/s x%u", fn->name, cur.speed, cur.width,
				    fn->parent[0] ? fn->parent : "-", max.speed, max.width);
			doctor_fix(f, "reseat the card in the enclosure (no riser or extension); "
				   "egpuctl reset %s --method link-retrain trains the link again "
				   "without unplugging", fn->name);
			continue;
		}
		f = doctor_add(d, "link", DOCTOR_OK, fn->name);
		doctor_seen(f, "%s at %.1f GT/s x%u, all it can do", fn->name, cur.speed, cur.width);
	}
}

const struct doctor_check doctor_check_link = {
	.name = "link",
	.about = "PCIe link speed and width against capability",
	.run = run,
};
