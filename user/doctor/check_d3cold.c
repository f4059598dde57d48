// SPDX-License-Identifier: GPL-2.0
/*
 * d3cold: NVIDIA eGPUs that runtime PM puts into D3cold often do not come
 * back: the kernel logs "Unable to change power state from D3cold to D0,
 * device inaccessible" and the driver reports the GPU fallen off the bus.
 * Allowed when the function's d3cold_allowed is 1 and its power/control is
 * "auto" (Documentation/ABI/testing/sysfs-bus-pci, sysfs-devices-power).
 */
#include <stdio.h>
#include <string.h>

#include "doctor/doctor.h"

static void run(struct doctor *d)
{
	char allowed[8] = "", control[16] = "", pref[32];
	const struct doctor_log_line *l;
	struct doctor_finding *f;
	size_t i, n = 0, from;

	for (i = 0; i < d->n_fns; i++) {
		const struct doctor_fn *fn = &d->fns[i];

		if (fn->vendor != 0x10de || !doctor_fn_is_gpu(fn))
			continue;
		n++;
		doctor_pci_attr(d, fn->name, "d3cold_allowed", allowed, sizeof(allowed));
		doctor_pci_attr(d, fn->name, "power/control", control, sizeof(control));
		snprintf(pref, sizeof(pref), "%s:", fn->name);
		from = 0;
		l = doctor_log_find(d, &from, pref, "from D3cold to D0");
		if (!l && !(strcmp(allowed, "1") == 0 && strcmp(control, "auto") == 0)) {
			f = doctor_add(d, "d3cold", DOCTOR_OK, fn->name);
			doctor_seen(f, "%s: D3cold %s (d3cold_allowed %s, power/control %s)",
				    fn->name, "not used", allowed[0] ? allowed : "-",
				    control[0] ? control : "-");
			continue;
		}
		f = doctor_add(d, "d3cold", l ? DOCTOR_FAIL : DOCTOR_WARN, fn->name);
		if (l)
			doctor_seen(f, "%s fell off the bus coming out of D3cold: %s", fn->name,
				    l->text);
		else
			doctor_seen(f, "runtime PM may put %s into D3cold (d3cold_allowed 1, "
				    "power/control auto), from which NVIDIA eGPUs often do not return",
				    fn->name);
		doctor_fix(f, "egpuctl quirks add 10de:%04x:no_d3cold (persistent: options "
			   "egpuhp quirks=10de:%04x:*:*:no_d3cold in /etc/modprobe.d/egpuhp.conf); "
			   "without egpuhp: echo 0 > /sys/bus/pci/devices/%s/d3cold_allowed",
			   fn->device, fn->device, fn->name);
	}
	if (!n) {
		f = doctor_add(d, "d3cold", DOCTOR_NA, d->target);
		doctor_seen(f, "no NVIDIA eGPU");
	}
}

const struct doctor_check doctor_check_d3cold = {
	.name = "d3cold",
	.about = "NVIDIA eGPUs kept out of D3cold",
	.run = run,
};
