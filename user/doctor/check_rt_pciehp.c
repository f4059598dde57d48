// SPDX-License-Identifier: GPL-2.0
/*
 * rt-pciehp: on PREEMPT_RT kernels pciehp's software-requested removal
 * (echo 0 > /sys/bus/pci/slots/N/power, the attention button) never runs:
 * pciehp_request() wakes the slot's IRQ thread with irq_wake_thread(),
 * which with forced IRQ threading wakes the primary handler's thread; it
 * finds no event and pciehp_ist() never sees the request (README, Known
 * limits).  With pciehp.pciehp_poll_mode=1 pciehp_request() only sets the
 * pending event, and the poll thread runs pciehp_ist() for it within
 * pciehp_poll_time (2 s by default): tests/doctor/test_doctor.py removes
 * a device that way on the -rt kernels.
 */
#include <stdio.h>
#include <string.h>

#include "doctor/doctor.h"

static void run(struct doctor *d)
{
	char rt[8] = "", release[128] = "", poll[8] = "";
	struct doctor_finding *f;
	bool preempt_rt;

	doctor_read(d, "sys/kernel/realtime", rt, sizeof(rt));
	doctor_read(d, "proc/sys/kernel/osrelease", release, sizeof(release));
	preempt_rt = !strcmp(rt, "1") || strstr(release, "-rt");
	if (!preempt_rt) {
		f = doctor_add(d, "rt-pciehp", DOCTOR_NA, NULL);
		doctor_seen(f, "kernel %s is not PREEMPT_RT", release[0] ? release : "?");
		return;
	}
	if (!doctor_module_loaded(d, "pciehp")) {
		f = doctor_add(d, "rt-pciehp", DOCTOR_NA, NULL);
		doctor_seen(f, "PREEMPT_RT kernel %s without pciehp", release);
		return;
	}
	doctor_read(d, "sys/module/pciehp/parameters/pciehp_poll_mode", poll, sizeof(poll));
	if (!strcmp(poll, "Y") || !strcmp(poll, "1")) {
		f = doctor_add(d, "rt-pciehp", DOCTOR_OK, NULL);
		doctor_seen(f, "PREEMPT_RT kernel %s with pciehp.pciehp_poll_mode=1: a requested "
			    "slot power-off is handled by the poll thread", release);
		return;
	}
	f = doctor_add(d, "rt-pciehp", DOCTOR_WARN, NULL);
	doctor_seen(f, "PREEMPT_RT kernel %s: pciehp's requested removal (echo 0 > "
		    "/sys/bus/pci/slots/N/power, the attention button) hangs", release);
	doctor_fix(f, "remove an eGPU with egpuctl eject ROUTER (egpuhp removes the functions "
		   "itself); or add pciehp.pciehp_poll_mode=1 to GRUB_CMDLINE_LINUX_DEFAULT in "
		   "/etc/default/grub, update-grub, reboot (pciehp then polls every 2 s: "
		   "plug events are seen up to 2 s later)");
}

const struct doctor_check doctor_check_rt_pciehp = {
	.name = "rt-pciehp",
	.about = "PREEMPT_RT: pciehp's requested removal hangs; the workaround",
	.run = run,
};
