// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: the optional presence watchdog (watchdog_ms, off by default).
 *
 * A GPU can stop answering while it is still enumerated ("fell off the
 * bus") without any hotplug interrupt.  Each tick reads the vendor ID of
 * every tracked GPU that is runtime-active (egpuhp_pci_answers(): a
 * runtime-suspended GPU, or one below a suspended port, reads all-ones
 * without being lost) and reports EGPUHP_EV_PCI_LOST once per loss: a GPU
 * that answers again is present again, and a later loss is reported anew.
 * With watchdog_slow_us set, a read that answers but takes longer than
 * that is EGPUHP_EV_PCI_SLOW, once per slow episode: the first answer in
 * time ends it.  A link that retrains, replays or is about to drop answers
 * late before it stops answering at all; 0 (the default) is off, as a
 * loaded or emulated host delays reads too.
 * A tick also polls link state and re-reads the Thunderbolt routers.
 *
 * The work runs in process context (events are built with GFP_KERNEL) on
 * a freezable workqueue of its own: during system suspend and resume
 * devices are in transition and must not be taken for lost.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/workqueue.h>

#include "egpuhp.h"
#include "compat.h"

static void watchdog_tick(struct work_struct *work);
static DECLARE_DELAYED_WORK(watchdog_work, watchdog_tick);
static DEFINE_MUTEX(watchdog_mutex);
/* protected by watchdog_mutex; the queue exists while running is set */
static bool watchdog_running;
static struct workqueue_struct *watchdog_wq;

/* A GPU that answered: end or report a slow episode. */
static void watchdog_answered(struct egpuhp_dev *d, u64 ts, s64 took_us)
{
	unsigned int slow_us = READ_ONCE(egpuhp_watchdog_slow_us);

	if (!slow_us || took_us <= slow_us) {
		if (d->slow_sent)
			pci_info(d->pdev, "presence check answered in time again (%lld us)\n",
				 took_us);
		d->slow_sent = false;
		return;
	}
	if (d->slow_sent)
		return;
	d->slow_sent = true;
	pci_warn(d->pdev, "presence check answered slowly: %lld us (watchdog_slow_us=%u)\n",
		 took_us, slow_us);
	egpuhp_event_pci_slow(d, ts, min_t(s64, took_us, U32_MAX));
}

static void watchdog_check(void)
{
	struct egpuhp_dev *d;
	ktime_t start;
	int answers;
	u64 ts;

	egpuhp_devtab_lock();
	egpuhp_for_each_dev(d) {
		if (!d->is_gpu || d->removed_sent)
			continue;
		ts = egpuhp_now_ns();
		start = ktime_get();
		answers = egpuhp_pci_answers(d->pdev);
		if (answers < 0)
			continue;	/* not runtime-active: not asked */
		if (answers) {
			d->lost_sent = false;
			d->present = true;
			watchdog_answered(d, ts, ktime_us_delta(ktime_get(), start));
			continue;
		}
		if (d->lost_sent)
			continue;
		d->lost_sent = true;
		d->slow_sent = false;	/* an answer after the loss starts anew */
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
	egpuhp_tb_refresh();
	mutex_lock(&watchdog_mutex);
	ms = READ_ONCE(egpuhp_watchdog_ms);
	if (watchdog_running && ms)
		queue_delayed_work(watchdog_wq, &watchdog_work,
				   msecs_to_jiffies(ms));
	mutex_unlock(&watchdog_mutex);
}

/**
 * egpuhp_watchdog_reconfigure() - apply a new egpuhp_watchdog_ms
 *
 * Called after the module parameter or EGPUHP_CMD_SET_CONFIG changed it: a
 * period restarts the tick with it, 0 stops the tick.
 */
void egpuhp_watchdog_reconfigure(void)
{
	unsigned int ms = READ_ONCE(egpuhp_watchdog_ms);

	mutex_lock(&watchdog_mutex);
	if (watchdog_running) {
		if (ms)
			mod_delayed_work(watchdog_wq, &watchdog_work,
					 msecs_to_jiffies(ms));
		else
			cancel_delayed_work(&watchdog_work);
	}
	mutex_unlock(&watchdog_mutex);
}

/**
 * egpuhp_watchdog_init() - create the watchdog's workqueue and start the tick
 *
 * The tick runs only while egpuhp_watchdog_ms is not 0.
 *
 * Return: 0, or -ENOMEM.
 */
int egpuhp_watchdog_init(void)
{
	struct workqueue_struct *wq;

	/*
	 * Freezable: no config reads of a GPU across suspend/resume.  Unbound:
	 * the tick has no CPU affinity, and 7.2 warns about a queue that says
	 * neither WQ_UNBOUND nor WQ_PERCPU.
	 */
	wq = alloc_workqueue("egpuhp_watchdog", WQ_FREEZABLE | WQ_UNBOUND, 1);
	if (!wq)
		return -ENOMEM;
	mutex_lock(&watchdog_mutex);
	watchdog_wq = wq;
	watchdog_running = true;
	mutex_unlock(&watchdog_mutex);
	egpuhp_watchdog_reconfigure();
	return 0;
}

/**
 * egpuhp_watchdog_exit() - stop the tick and wait for it; free the workqueue
 */
void egpuhp_watchdog_exit(void)
{
	mutex_lock(&watchdog_mutex);
	watchdog_running = false;
	mutex_unlock(&watchdog_mutex);
	cancel_delayed_work_sync(&watchdog_work);
	destroy_workqueue(watchdog_wq);
	watchdog_wq = NULL;
}
