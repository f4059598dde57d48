// SPDX-License-Identifier: GPL-2.0
/*
 * reset-method: how the kernel resets each eGPU GPU (its reset_method
 * attribute, in the order tried; the attribute is absent when the device
 * has none, drivers/pci/pci.c), and whether the device-specific reset that
 * vendor-reset or egpuhp's hook provides is the one used: since 5.15 it is
 * only when reset_method names device_specific (first).  An empty
 * attribute is a device whose methods were all disabled (writing "" to it,
 * or quirks that took away the last one).
 */
#include <stdio.h>
#include <string.h>

#include "doctor/doctor.h"

/*
 * egpuhp's hook (kmod/reset_hook.c), which makes its reset the kernel's
 * device_specific one for the devices whose quirks ask for it: the module
 * logs "reset hook unavailable: WHY" when it cannot have it.  The last
 * such line of the log is its state.
 */
static void hook_state(struct doctor *d)
{
	const struct doctor_log_line *l, *last = NULL;
	struct doctor_finding *f;
	size_t from = 0;

	if (!doctor_module_loaded(d, "egpuhp"))
		return;
	while ((l = doctor_log_find(d, &from, "egpuhp: reset hook", NULL)))
		last = l;
	if (!last || strstr(last->text, "hook removed"))
		return;		/* never wanted: no quirk entry asks for egpuhp's reset */
	if (!strstr(last->text, "unavailable")) {
		f = doctor_add(d, "reset-method", DOCTOR_OK, "egpuhp");
		doctor_seen(f, "egpuhp's reset hook is installed: %s", last->text);
		return;
	}
	f = doctor_add(d, "reset-method", DOCTOR_WARN, "egpuhp");
	doctor_seen(f, "egpuhp's reset hook is not installed, so the kernel's own resets "
		    "(sysfs reset, vfio-pci) do not run egpuhp's: %s", last->text);
	doctor_fix(f, "egpuctl reset DEV --method egpuhp runs it; for the kernel's resets "
		   "unload what holds pci_dev_specific_reset (modprobe -r vendor_reset) and "
		   "reload egpuhp with reset_hook=1");
}

static void run(struct doctor *d)
{
	bool vendor_reset = doctor_module_loaded(d, "vendor_reset");
	char methods[128], hook[8] = "";
	struct doctor_finding *f;
	size_t i, gpus = 0;

	doctor_read(d, "sys/module/egpuhp/parameters/reset_hook", hook, sizeof(hook));
	if (doctor_no_functions(d, "reset-method"))
		return;
	for (i = 0; i < d->n_fns; i++) {
		const struct doctor_fn *fn = &d->fns[i];
		bool specific;

		if (!doctor_fn_is_gpu(fn) && !(d->target && !strcmp(d->target, fn->name)))
			continue;	/* a GPU, or the function named */
		gpus++;
		/* empty: all disabled (echo > reset_method, or a no_* quirk took the last) */
		if (doctor_pci_attr(d, fn->name, "reset_method", methods, sizeof(methods)) < 0 ||
		    !methods[0]) {
			f = doctor_add(d, "reset-method", DOCTOR_FAIL, fn->name);
			doctor_seen(f, "%s [%04x:%04x] has no reset method (reset_method %s): "
				    "a hung GPU cannot be recovered, and vfio-pci cannot reset it "
				    "between VMs", fn->name, fn->vendor, fn->device,
				    doctor_exists_pci_attr(d, fn->name, "reset_method") ?
				    "empty" : "absent");
			doctor_fix(f, "egpuctl quirks add %04x:%04x:egpuhp_reset=pm/bus "
				   "(egpuhp's PM cycle, then a bus reset; persistent in "
				   "/etc/modprobe.d/egpuhp.conf: options egpuhp quirks=...)",
				   fn->vendor, fn->device);
			continue;
		}
		specific = !strncmp(methods, "device_specific", 15);
		if (vendor_reset && !specific) {
			f = doctor_add(d, "reset-method", DOCTOR_WARN, fn->name);
			doctor_seen(f, "vendor-reset is loaded but %s's reset_method is \"%s\": "
				    "the kernel never calls it", fn->name, methods);
			doctor_fix(f, "echo device_specific > /sys/bus/pci/devices/%s/reset_method "
				   "(at each plug-in: a udev rule ACTION==\"add\", SUBSYSTEM==\"pci\", "
				   "KERNEL==\"%s\", ATTR{reset_method}=\"device_specific\")",
				   fn->name, fn->name);
			continue;
		}
		if (fn->vendor == 0x1002 && !specific && !strstr(methods, "flr")) {
			f = doctor_add(d, "reset-method", DOCTOR_WARN, fn->name);
			doctor_seen(f, "AMD GPU %s [1002:%04x] has no FLR (reset_method \"%s\"): "
				    "many (Vega, Navi) stay hung after a bus reset alone",
				    fn->name, fn->device, methods);
			doctor_fix(f, "egpuctl quirks add 1002:%04x:egpuhp_reset=pm/bus, or "
				   "install vendor-reset (then echo device_specific > "
				   "/sys/bus/pci/devices/%s/reset_method)", fn->device, fn->name);
			continue;
		}
		f = doctor_add(d, "reset-method", DOCTOR_OK, fn->name);
		doctor_seen(f, "%s resets by \"%s\"%s", fn->name, methods,
			    !specific ? "" : vendor_reset ? " (device_specific: vendor-reset)" :
			    !strcmp(hook, "Y") ? " (device_specific: egpuhp's reset hook)" : "");
	}
	hook_state(d);
	if (!gpus) {
		f = doctor_add(d, "reset-method", DOCTOR_NA, d->target);
		doctor_seen(f, "no eGPU function of display or accelerator class");
	}
}

const struct doctor_check doctor_check_reset = {
	.name = "reset-method",
	.about = "each GPU has a reset method; vendor-reset/egpuhp's hook in use",
	.run = run,
};
