// SPDX-License-Identifier: GPL-2.0
/*
 * vfio-binding: a GPU given to vfio-pci goes to a VM with every function
 * of its slot (its HDMI audio above all); one of them left to a host
 * driver (snd_hda_intel) makes the group not viable.  Also: a driver rule
 * of egpud.conf that asks for vfio-pci where the GPU has another driver.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "doctor/doctor.h"

/* The driver a [driver-rule] of egpud.conf wants for fn, or NULL. */
static const char *rule_driver(const struct doctor *d, const struct doctor_fn *fn,
			       unsigned int *line)
{
	size_t i;

	for (i = 0; d->config && i < d->config->n_driver_rules; i++) {
		const struct egpu_driver_rule *r = &d->config->driver_rules[i];

		if ((r->vendor >= 0 && (unsigned int)r->vendor != fn->vendor) ||
		    (r->device >= 0 && (unsigned int)r->device != fn->device))
			continue;
		if (r->slot && fnmatch(r->slot, fn->name, 0) && fnmatch(r->slot, fn->parent, 0))
			continue;
		*line = r->line;
		return r->driver;	/* router globs are left out: first match wins */
	}
	return NULL;
}

static void run(struct doctor *d)
{
	struct doctor_finding *f;
	size_t i, j, checked = 0;

	if (doctor_no_functions(d, "vfio-binding"))
		return;
	for (i = 0; i < d->n_fns; i++) {
		const struct doctor_fn *gpu = &d->fns[i];
		size_t slot = strlen(gpu->name) - 1;	/* "0000:05:00." */
		char others[160] = "";
		unsigned int line = 0;
		const char *want;

		if (!doctor_fn_is_gpu(gpu))
			continue;
		want = rule_driver(d, gpu, &line);
		if (strcmp(gpu->driver, "vfio-pci") && !(want && !strcmp(want, "vfio-pci")))
			continue;	/* no passthrough meant */
		checked++;
		if (strcmp(gpu->driver, "vfio-pci")) {
			f = doctor_add(d, "vfio-binding", DOCTOR_FAIL, gpu->name);
			doctor_seen(f, "egpud.conf line %u binds vfio-pci to %s, but it has %s",
				    line, gpu->name, gpu->driver[0] ? gpu->driver : "no driver");
			doctor_fix(f, "modprobe vfio-pci, then egpuctl reset %s --tunnel (a new "
				   "plug-in: egpud binds by its rule); see journalctl -u egpud",
				   gpu->name);
			continue;
		}
		for (j = 0; j < d->n_fns; j++) {
			const struct doctor_fn *o = &d->fns[j];

			if (j == i || strncmp(o->name, gpu->name, slot) || !o->driver[0] ||
			    !strcmp(o->driver, "vfio-pci"))
				continue;
			snprintf(others + strlen(others), sizeof(others) - strlen(others),
				 "%s%s (%s)", others[0] ? ", " : "", o->name, o->driver);
		}
		if (!others[0]) {
			f = doctor_add(d, "vfio-binding", DOCTOR_OK, gpu->name);
			doctor_seen(f, "%s and every function of its slot are on vfio-pci", gpu->name);
			continue;
		}
		f = doctor_add(d, "vfio-binding", DOCTOR_FAIL, gpu->name);
		doctor_seen(f, "%s is on vfio-pci but %s of its slot is not: the VM cannot "
			    "take the group", gpu->name, others);
		doctor_fix(f, "a [driver-rule] with driver = vfio-pci binds the whole slot; by "
			   "hand, per function X: echo vfio-pci > /sys/bus/pci/devices/X/driver_override; "
			   "echo X > /sys/bus/pci/devices/X/driver/unbind; "
			   "echo X > /sys/bus/pci/drivers_probe");
	}
	if (!checked) {
		f = doctor_add(d, "vfio-binding", DOCTOR_NA, d->target);
		doctor_seen(f, "no eGPU GPU is meant for vfio-pci");
	}
}

const struct doctor_check doctor_check_vfio = {
	.name = "vfio-binding",
	.about = "a GPU on vfio-pci has all its slot's functions there (HDMI audio)",
	.run = run,
};
