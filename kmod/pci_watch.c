// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: the PCI bus notifier, which functions are tracked, eGPU groups,
 * and the removal events.
 *
 * Removal ordering.  pciehp handles a surprise removal by marking every
 * device below the port disconnected, then stopping drivers deepest-first,
 * then deleting the devices.  BUS_NOTIFY_UNBIND_DRIVER reaches us before
 * the driver's remove() runs, with the device already marked: that is the
 * earliest portable hook, so a function that is unreachable there gets its
 * EGPUHP_EV_PCI_REMOVE (EGPUHP_F_SURPRISE) right then.  A function without
 * a driver gets its REMOVE at BUS_NOTIFY_DEL_DEVICE, which still precedes
 * the kernel's "remove" uevent.
 *
 * An orderly removal started by pciehp (attention button, slot power
 * file) looks, at UNBIND_DRIVER, exactly like a manual unbind: the device
 * answers and nothing public says a removal is in progress.  So it can
 * only be announced as EGPUHP_EV_PCI_UNBIND there, and as REMOVE
 * (EGPUHP_F_ORDERLY) at DEL_DEVICE.  Removals egpuhp starts itself
 * (EGPUHP_CMD_EJECT) know their intent and announce REMOVE first.
 *
 * The notifier runs in pciehp's IRQ thread with the rescan lock held: it
 * may sleep (GFP_KERNEL, mutexes) but never waits on userspace.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#define dev_fmt pr_fmt

#include <linux/pci.h>
#include <linux/pm_runtime.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "egpuhp.h"
#include "compat.h"
#include "quirks.h"

static bool is_gpu_class(u32 class)
{
	return (class >> 16) == PCI_BASE_CLASS_DISPLAY ||
	       (class >> 16) == 0x12;	/* processing accelerator */
}

/*
 * Why @pdev is tracked, and the port it hangs below: the outermost
 * external-facing port if there is one, else the outermost hotplug port
 * (for a dock that is the port the whole enclosure is plugged into, not a
 * port inside the enclosure).
 */
static u32 track_reason(struct pci_dev *pdev, struct pci_dev **port)
{
	struct pci_dev *br, *ext = NULL, *hp = NULL;

	for (br = pci_upstream_bridge(pdev); br; br = pci_upstream_bridge(br)) {
		if (br->external_facing)
			ext = br;
		if (br->is_hotplug_bridge)
			hp = br;
	}
	*port = ext ? ext : hp;
	if (pci_is_thunderbolt_attached(pdev))
		return EGPUHP_TRACK_THUNDERBOLT;
	if (pdev->untrusted || dev_is_removable(&pdev->dev))
		return EGPUHP_TRACK_REMOVABLE;
	if (READ_ONCE(egpuhp_track_hotplug) && hp) {
		*port = hp;
		return EGPUHP_TRACK_HOTPLUG;
	}
	*port = NULL;
	return EGPUHP_TRACK_NONE;
}

static unsigned int bus_depth(struct pci_dev *pdev)
{
	struct pci_bus *bus;
	unsigned int depth = 0;

	for (bus = pdev->bus; bus->parent; bus = bus->parent)
		depth++;
	return depth;
}

static bool same_slot(struct pci_dev *a, struct pci_dev *b)
{
	return a->bus == b->bus && PCI_SLOT(a->devfn) == PCI_SLOT(b->devfn);
}

/*
 * Caller holds the lock.  A GPU names its group; the other functions of
 * its slot (HDMI audio, USB, UCSI) join it, whichever appears first.
 */
static void assign_group(struct egpuhp_dev *d)
{
	struct egpuhp_dev *o;

	if (d->is_gpu)
		strscpy(d->group, d->name, sizeof(d->group));
	egpuhp_for_each_dev(o) {
		if (o == d || !same_slot(o->pdev, d->pdev))
			continue;
		if (d->is_gpu && !o->is_gpu && !o->group[0])
			strscpy(o->group, d->name, sizeof(o->group));
		else if (!d->is_gpu && o->is_gpu && !d->group[0])
			strscpy(d->group, o->name, sizeof(d->group));
	}
}

static void track_add(struct pci_dev *pdev, u64 ts, u32 flags)
{
	struct pci_dev *port, *up;
	struct egpuhp_dev *d;
	u32 reason;

	reason = track_reason(pdev, &port);
	if (reason == EGPUHP_TRACK_NONE)
		return;
	d = egpuhp_dev_alloc(pdev);
	if (!d) {
		pci_warn(pdev, "out of memory, not tracked\n");
		return;
	}
	up = pci_upstream_bridge(pdev);
	if (up)
		strscpy(d->parent, pci_name(up), sizeof(d->parent));
	if (port)
		strscpy(d->port, pci_name(port), sizeof(d->port));
	d->vendor = pdev->vendor;
	d->device = pdev->device;
	d->subsys_vendor = pdev->subsystem_vendor;
	d->subsys_device = pdev->subsystem_device;
	d->class = pdev->class;
	d->revision = pdev->revision;
	d->track = reason;
	d->is_gpu = is_gpu_class(pdev->class);
	d->depth = bus_depth(pdev);
	d->present = true;
	egpuhp_link_read(pdev, &d->link);
	if (reason != EGPUHP_TRACK_HOTPLUG)
		egpuhp_tb_refresh();	/* authorization has no notifier */

	egpuhp_devtab_lock();
	/* at load a driver may already be bound */
	if (pdev->dev.driver)
		strscpy(d->driver, dev_driver_string(&pdev->dev),
			sizeof(d->driver));
	if (reason != EGPUHP_TRACK_HOTPLUG)
		egpuhp_router_sole_uid(d->router_uid, sizeof(d->router_uid));
	if (!egpuhp_dev_insert(d)) {
		egpuhp_devtab_unlock();
		egpuhp_dev_put(d);
		return;
	}
	assign_group(d);
	egpuhp_event_pci(EGPUHP_EV_PCI_ADD, d, flags, ts, false);
	egpuhp_devtab_unlock();
}

static bool dev_gone(struct pci_dev *pdev)
{
	return egpuhp_pci_disconnected(pdev) || !pci_device_is_present(pdev);
}

/**
 * egpuhp_pci_answers() - whether a function answers config reads now
 * @pdev: the function
 *
 * A function that is not runtime-active may rightly read all-ones (in
 * D3cold, or below a port in D3hot), and waking it up to ask would defeat
 * its driver's power management (nvidia and amdgpu suspend idle GPUs), so
 * such a function is not asked.  The usage reference taken meanwhile keeps
 * it from suspending during the read.
 *
 * Return: 1 if it answers, 0 if it is gone, -EAGAIN if it was not asked.
 */
int egpuhp_pci_answers(struct pci_dev *pdev)
{
	int active;
	bool gone;

	if (egpuhp_pci_disconnected(pdev))
		return 0;
	active = egpuhp_pm_runtime_get_if_active(&pdev->dev);
	if (!active)
		return -EAGAIN;
	/* < 0: runtime PM disabled, the device stays as it is: ask it */
	gone = !pci_device_is_present(pdev);
	if (active > 0)
		pm_runtime_put(&pdev->dev);
	return gone ? 0 : 1;
}

static void on_bound(struct pci_dev *pdev, u64 ts)
{
	struct egpuhp_dev *d;

	egpuhp_devtab_lock();
	d = egpuhp_dev_find(pdev);
	if (d) {
		strscpy(d->driver, dev_driver_string(&pdev->dev),
			sizeof(d->driver));
		egpuhp_event_pci(EGPUHP_EV_PCI_BOUND, d, 0, ts, false);
	}
	egpuhp_devtab_unlock();
	egpuhp_dev_put(d);
}

/* Before the driver's remove(): the earliest hook of a removal. */
static void on_unbind(struct pci_dev *pdev, u64 ts)
{
	struct egpuhp_dev *d;

	egpuhp_devtab_lock();
	d = egpuhp_dev_find(pdev);
	if (d && !d->removed_sent) {
		if (dev_gone(pdev)) {
			d->present = false;
			d->removed_sent = true;
			egpuhp_event_pci(EGPUHP_EV_PCI_REMOVE, d,
					 EGPUHP_F_SURPRISE, ts, false);
		} else {
			egpuhp_event_pci(EGPUHP_EV_PCI_UNBIND, d, 0, ts, false);
		}
	}
	egpuhp_devtab_unlock();
	egpuhp_dev_put(d);
}

static void on_unbound(struct pci_dev *pdev)
{
	struct egpuhp_dev *d;

	egpuhp_devtab_lock();
	d = egpuhp_dev_find(pdev);
	if (d)
		d->driver[0] = '\0';
	egpuhp_devtab_unlock();
	egpuhp_dev_put(d);
}

static void on_del(struct pci_dev *pdev, u64 ts)
{
	struct egpuhp_dev *d;

	egpuhp_devtab_lock();
	d = egpuhp_dev_find(pdev);
	if (d) {
		if (!d->removed_sent) {
			d->present = !dev_gone(pdev);
			d->removed_sent = true;
			egpuhp_event_pci(EGPUHP_EV_PCI_REMOVE, d,
					 d->present ? EGPUHP_F_ORDERLY :
						      EGPUHP_F_SURPRISE,
					 ts, false);
		}
		egpuhp_dev_unlink(d);
	}
	egpuhp_devtab_unlock();
	egpuhp_dev_put(d);
}

static int pci_notify(struct notifier_block *nb, unsigned long action,
		      void *data)
{
	struct pci_dev *pdev = to_pci_dev(data);
	u64 ts = egpuhp_now_ns();	/* the hook's time, before any work */

	switch (action) {
	case BUS_NOTIFY_ADD_DEVICE:
		track_add(pdev, ts, 0);
		egpuhp_quirks_device_added(pdev);
		break;
	case BUS_NOTIFY_BOUND_DRIVER:
		on_bound(pdev, ts);
		break;
	case BUS_NOTIFY_UNBIND_DRIVER:
		on_unbind(pdev, ts);
		break;
	case BUS_NOTIFY_UNBOUND_DRIVER:
		on_unbound(pdev);
		break;
	case BUS_NOTIFY_DEL_DEVICE:
		on_del(pdev, ts);
		egpuhp_quirks_device_removed(pdev);
		break;
	}
	return NOTIFY_DONE;
}

/* Run first among the PCI bus notifiers: we announce, we never veto. */
static struct notifier_block pci_nb = {
	.notifier_call = pci_notify,
	.priority = INT_MAX,
};

/*
 * Devices present at load get EGPUHP_EV_PCI_ADD with EGPUHP_F_PRELOAD
 * (nobody may be listening yet; they are in every dump as well).  Caller
 * holds the rescan lock.
 */
static void scan_present(void)
{
	struct pci_dev *pdev = NULL;

	for_each_pci_dev(pdev)
		track_add(pdev, egpuhp_now_ns(), EGPUHP_F_PRELOAD);
}

/**
 * egpuhp_pci_watch_init() - track the PCI functions present and the ones to come
 *
 * Registers the PCI bus notifier and announces the tracked functions
 * already present (EGPUHP_EV_PCI_ADD with EGPUHP_F_PRELOAD) under the
 * rescan lock, so no hotplug runs in between; then applies the quirks to
 * every present function outside that lock: quirks take each function's
 * device lock, and sriov_numvfs_store() takes the rescan lock inside the
 * PF's device lock.  A function hot-added meanwhile has them from the
 * notifier already; applying them again changes nothing.
 *
 * Return: 0, or the error of bus_register_notifier().
 */
int egpuhp_pci_watch_init(void)
{
	struct pci_dev *pdev = NULL;
	int ret;

	/* no hotplug add/remove can run between registering and scanning */
	pci_lock_rescan_remove();
	ret = bus_register_notifier(&pci_bus_type, &pci_nb);
	if (!ret)
		scan_present();
	pci_unlock_rescan_remove();
	if (ret)
		return ret;
	/*
	 * Quirks take each function's device lock, and sriov_numvfs_store()
	 * takes the rescan lock inside the PF's device lock: applied outside
	 * the rescan lock.  A function hot-added meanwhile has them from the
	 * notifier already; applying them again changes nothing.
	 */
	for_each_pci_dev(pdev)
		egpuhp_quirks_device_added(pdev);
	return 0;
}

/**
 * egpuhp_pci_watch_exit() - unregister the PCI bus notifier
 */
void egpuhp_pci_watch_exit(void)
{
	bus_unregister_notifier(&pci_bus_type, &pci_nb);
}

/**
 * egpuhp_pci_rescan_tracking() - apply a change of egpuhp_track_hotplug
 *
 * Switched on, functions below hotplug ports that are now tracked are
 * announced like devices present at load; switched off, entries tracked
 * only for that reason are dropped silently (the device did not go
 * anywhere; a dump shows the new state).  Takes the rescan lock.
 */
void egpuhp_pci_rescan_tracking(void)
{
	struct egpuhp_dev *d, *tmp;

	pci_lock_rescan_remove();
	if (READ_ONCE(egpuhp_track_hotplug)) {
		scan_present();
	} else {
		egpuhp_devtab_lock();
		list_for_each_entry_safe(d, tmp, egpuhp_devtab_list(), node)
			if (d->track == EGPUHP_TRACK_HOTPLUG)
				egpuhp_dev_unlink(d);
		egpuhp_devtab_unlock();
	}
	pci_unlock_rescan_remove();
}

/* deepest first; in one slot, higher functions (audio) before the GPU */
static int eject_cmp(const void *a, const void *b)
{
	const struct egpuhp_dev *x = *(const struct egpuhp_dev * const *)a;
	const struct egpuhp_dev *y = *(const struct egpuhp_dev * const *)b;

	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	if (x->pdev->devfn != y->pdev->devfn)
		return x->pdev->devfn > y->pdev->devfn ? -1 : 1;
	return 0;
}

static bool is_below(struct pci_dev *pdev, struct pci_dev *top)
{
	struct pci_dev *br;

	for (br = pci_upstream_bridge(pdev); br; br = pci_upstream_bridge(br))
		if (br == top)
			return true;
	return false;
}

/* Caller holds the lock: the functions an eject of @target removes. */
static bool eject_member(struct egpuhp_dev *d, struct egpuhp_dev *target)
{
	if (d->removed_sent)
		return false;
	return d == target || is_below(d->pdev, target->pdev) ||
	       (target->group[0] && !strcmp(d->group, target->group));
}

/**
 * egpuhp_pci_eject() - orderly removal of a tracked function's eGPU
 * @pdev: the function to eject
 * @extack: for the reason of a refusal
 *
 * Removes @pdev with its eGPU group (the GPU's sibling functions) and
 * everything below it (ejecting an enclosure's bridge takes the
 * enclosure).  Every member's REMOVE (EGPUHP_F_ORDERLY) is sent before the
 * first driver is asked to let go, then the functions are removed
 * deepest-first under the rescan lock, as pciehp would.  The slot stays
 * powered: the user unplugs the cable next.
 *
 * Context: process context; sleeps until every driver has let go.
 * Return: 0; -ENODEV if @pdev is not tracked (or already removed); -ENOMEM.
 */
int egpuhp_pci_eject(struct pci_dev *pdev, struct netlink_ext_ack *extack)
{
	struct egpuhp_dev **members, *d, *target;
	unsigned int n = 0, max, i;
	u64 ts;

	pci_lock_rescan_remove();
	egpuhp_devtab_lock();
	target = egpuhp_dev_find(pdev);
	if (!target || target->removed_sent) {
		egpuhp_devtab_unlock();
		pci_unlock_rescan_remove();
		egpuhp_dev_put(target);
		NL_SET_ERR_MSG(extack, "PCI function is not tracked by egpuhp");
		return -ENODEV;
	}
	max = egpuhp_dev_count();
	members = kcalloc(max, sizeof(*members), GFP_KERNEL);
	if (!members) {
		egpuhp_devtab_unlock();
		pci_unlock_rescan_remove();
		egpuhp_dev_put(target);
		return -ENOMEM;
	}
	egpuhp_for_each_dev(d) {
		if (n < max && eject_member(d, target)) {
			kref_get(&d->ref);
			members[n++] = d;
		}
	}
	egpuhp_dev_put(target);
	sort(members, n, sizeof(members[0]), eject_cmp, NULL);
	ts = egpuhp_now_ns();
	for (i = 0; i < n; i++) {
		members[i]->removed_sent = true;
		egpuhp_event_pci(EGPUHP_EV_PCI_REMOVE, members[i],
				 EGPUHP_F_ORDERLY, ts, false);
	}
	egpuhp_devtab_unlock();

	for (i = 0; i < n; i++) {
		bool listed;

		/* not deleted meanwhile (with a bridge above it, say) */
		egpuhp_devtab_lock();
		listed = !list_empty(&members[i]->node);
		egpuhp_devtab_unlock();
		if (listed)
			pci_stop_and_remove_bus_device(members[i]->pdev);
		egpuhp_dev_put(members[i]);
	}
	kfree(members);
	pci_unlock_rescan_remove();
	return 0;
}
