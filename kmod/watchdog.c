// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: the optional presence watchdog (watchdog_ms, off by default).
 *
 * A GPU can stop answering while it is still enumerated ("fell off the
 * bus") without any hotplug interrupt.  Each tick reads the vendor ID of
 * every tracked GPU (pci_device_is_present) and reports
 * EGPUHP_EV_PCI_LOST once per device; it also polls link state.  The
 * work runs in process context, so events are built with GFP_KERNEL.
 */
#include <linux/workqueue.h>
#include <linux/mutex.h>

#include "egpuhp.h"
#include "compat.h"

static void watchdog_tick(struct work_struct *work);
static DECLARE_DELAYED_WORK(watchdog_work, watchdog_tick);
static DEFINE_MUTEX(watchdog_mutex);
static bool watchdog_running;	/* protected by watchdog_mutex */

static void watchdog_check(void)
{
	struct egpuhp_dev *d;
	u64 ts;

	egpuhp_devtab_lock();
	egpuhp_for_each_dev(d) {
		if (!d->is_gpu || d->removed_sent || d->lost_sent)
			continue;
		ts = egpuhp_now_ns();
		if (!egpuhp_pci_disconnected(d->pdev) &&
		    pci_device_is_present(d->pdev))
			continue;
		d->lost_sent = true;
		d->present = false;
		egpuhp_event_pci(EGPUHP_EV_PCI_LOST, d, EGPUHP_F_SURPRISE, ts,
				 false);
	}
	egpuhp_devtab_unlock();
}

static void watchdog_tick(struct work_struct *work)
{
	unsigned int ms = READ_ONCE(egpuhp_watchdog_ms);

	if (!ms)
		return;
	watchdog_check();
	egpuhp_link_poll_all();
	mutex_lock(&watchdog_mutex);
	if (watchdog_running && READ_ONCE(egpuhp_watchdog_ms))
		schedule_delayed_work(&watchdog_work,
				      msecs_to_jiffies(egpuhp_watchdog_ms));
	mutex_unlock(&watchdog_mutex);
}

/* Apply a new egpuhp_watchdog_ms (module parameter or SET_CONFIG). */
void egpuhp_watchdog_reconfigure(void)
{
	unsigned int ms = READ_ONCE(egpuhp_watchdog_ms);

	mutex_lock(&watchdog_mutex);
	if (watchdog_running) {
		if (ms)
			mod_delayed_work(egpuhp_percpu_wq(), &watchdog_work,
					 msecs_to_jiffies(ms));
		else
			cancel_delayed_work(&watchdog_work);
	}
	mutex_unlock(&watchdog_mutex);
}

int egpuhp_watchdog_init(void)
{
	mutex_lock(&watchdog_mutex);
	watchdog_running = true;
	mutex_unlock(&watchdog_mutex);
	egpuhp_watchdog_reconfigure();
	return 0;
}

void egpuhp_watchdog_exit(void)
{
	mutex_lock(&watchdog_mutex);
	watchdog_running = false;
	mutex_unlock(&watchdog_mutex);
	cancel_delayed_work_sync(&watchdog_work);
}
