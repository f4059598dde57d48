// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: the quirk table, matching devices against it, applying the
 * actions and undoing them.
 *
 * Every PCI function the core reports (hot-added ones at
 * BUS_NOTIFY_ADD_DEVICE, present ones at load) is matched against the
 * table.  What a device got is recomputed from scratch whenever the table
 * changes: first everything egpuhp changed on it is restored, then the
 * union of every matching entry is applied.  So deleting an entry at run
 * time takes its actions back, and unloading restores the device.
 *
 * Present devices at load: every action is applied under the device lock,
 * so no reset can be running on the device meanwhile.  The dev_flags,
 * reset_methods[] and delays are only read at reset or power-transition
 * time, so changing them under a bound driver is safe.  The exception is
 * a device already in D3 when NO_D3/NO_D3COLD arrive: the flag only takes
 * effect at its next transition (it is not woken up behind its driver's
 * back).
 *
 * Undoing puts back only what is still egpuhp's: a reset_method order or
 * a D3 delay that someone changed after egpuhp (an administrator writing
 * reset_method, a driver) is left as it is; pci_d3cold_enable() is called
 * only while no driver is bound, since a driver may have asked for
 * pci_d3cold_disable() itself (the kernel keeps no count).
 *
 * What cannot be undone: ASPM states disabled with pci_disable_link_state().
 * The kernel has no inverse (pci_enable_link_state() rewrites the link's
 * BIOS defaults and leaves the disable bits set); the states stay off
 * until the device is removed (its link state goes with it) or an
 * administrator turns them on in /sys/bus/pci/devices/X/link/ (the
 * *_aspm files, CONFIG_PCIEASPM).  ASPM is applied once the link state
 * exists: at BUS_NOTIFY_ADD_DEVICE of a hot-added device it does not yet
 * (pci_scan_slot() creates it after the slot's functions were added), so
 * the ASPM part is applied again from a work item once the scan that
 * added the device has released the rescan lock (aspm_work()).
 *
 * Locking: quirk_lock protects the table and the per-device records.  It
 * nests inside the device lock (the kernel's reset path holds the device
 * lock when it calls the reset hook, which looks records up).  Netlink
 * requests run in parallel (the family is parallel_ops): table changes
 * take quirk_lock, each device is recomputed under its own device lock,
 * the reset hook is installed and removed under its own mutex.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#define dev_fmt pr_fmt

#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/pm_runtime.h>
#include <linux/sysfs.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include "egpuhp.h"
#include "quirks.h"
#include "compat.h"

/* What egpuhp changed on one device, so that it can be put back. */
struct egpuhp_qdev {
	struct list_head node;
	struct pci_dev *pdev;			/* referenced */
	u32 applied;				/* EGPUHP_QUIRK_* in effect */
	struct egpuhp_reset_seq reset;		/* for EGPUHP_QUIRK_EGPUHP_RESET */
	u8 orig_reset_methods[PCI_NUM_RESET_METHODS];
	u8 set_reset_methods[PCI_NUM_RESET_METHODS];	/* what we left there */
	pci_dev_flags_t flags_set;		/* dev_flags bits we set */
	unsigned int orig_d3hot_delay, orig_d3cold_delay;
	unsigned int set_d3hot_delay, set_d3cold_delay;
	bool d3cold_disabled;			/* pci_d3cold_disable() by us */
	bool aspm_deferred;			/* aspm_work() queued */
	int aspm_disabled;			/* PCIE_LINK_STATE_* by us, for good */
};

struct aspm_retry {
	struct work_struct work;
	struct pci_dev *pdev;		/* referenced */
};

static void aspm_work(struct work_struct *work);

static DEFINE_MUTEX(quirk_lock);
static LIST_HEAD(quirk_table);
static LIST_HEAD(quirk_devs);
static u32 quirk_next_id = 1;
/* changes with every table or record change (dump consistency) */
static unsigned int quirk_gen = 1;
/*
 * quirks_update_all() passes running, and the devices removed while one
 * runs (referenced; key: the pci_dev pointer): a pass that still holds a
 * removed device must not give it a new record.  quirk_lock.
 */
static unsigned int quirk_walkers;
static DEFINE_XARRAY(quirk_removed);
/* aspm_work() items */
static struct workqueue_struct *quirk_wq;

/*
 * Names of the kernel's reset methods, by their index in reset_methods[]
 * (pci_reset_fn_methods[] in drivers/pci/pci.c; 6.1 has 7 slots, 6.12
 * adds "cxl_bus").  Index 0 ends the list.
 */
static const char * const kernel_reset_names[] = {
	"", "device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus",
};

static const char *kernel_reset_name(u8 m)
{
	if (m < ARRAY_SIZE(kernel_reset_names) && m < PCI_NUM_RESET_METHODS)
		return kernel_reset_names[m];
	return "?";
}

/**
 * egpuhp_reset_order_text() - a reset_methods[] order as text
 * @methods: the kernel's method indices, 0-ended (pdev->reset_methods)
 * @buf: where the text goes: the names joined by ' ' ("flr bus"), or ""
 * @len: size of @buf; a longer text is cut
 */
void egpuhp_reset_order_text(const u8 *methods, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < PCI_NUM_RESET_METHODS && methods[i]; i++)
		off += scnprintf(buf + off, len - off, "%s%s", off ? " " : "",
				 kernel_reset_name(methods[i]));
}

/**
 * egpuhp_reset_order_parse() - parse a reset order into kernel method indices
 * @text: method names joined by ' ', '/' or ',' ("bus/flr")
 * @methods: PCI_NUM_RESET_METHODS bytes: the indices, 0-ended
 * @why: set to the reason where @text is refused
 *
 * Return: 0, or -EINVAL (an unknown or repeated name, too many, none).
 */
int egpuhp_reset_order_parse(const char *text, u8 *methods, const char **why)
{
	char word[20];
	int n = 0;

	BUILD_BUG_ON(ARRAY_SIZE(kernel_reset_names) < PCI_NUM_RESET_METHODS);
	memset(methods, 0, PCI_NUM_RESET_METHODS);
	while (*text) {
		size_t len = strcspn(text, " /,");
		u8 m, i;

		if (!len) {
			text++;
			continue;
		}
		if (len >= sizeof(word)) {
			*why = "unknown reset method in reset order";
			return -EINVAL;
		}
		memcpy(word, text, len);
		word[len] = '\0';
		text += len;
		for (m = 1; m < PCI_NUM_RESET_METHODS; m++)
			if (!strcmp(word, kernel_reset_names[m]))
				break;
		if (m == PCI_NUM_RESET_METHODS) {
			*why = "unknown reset method in reset order";
			return -EINVAL;
		}
		for (i = 0; i < n; i++)
			if (methods[i] == m) {
				*why = "reset method repeated in reset order";
				return -EINVAL;
			}
		if (n == PCI_NUM_RESET_METHODS - 1) {
			*why = "too many reset methods";
			return -EINVAL;
		}
		methods[n++] = m;
	}
	if (!n) {
		*why = "empty reset order";
		return -EINVAL;
	}
	return 0;
}

/* The reset sequence: all of it valid, and only with its action. */
static int reset_seq_check(const struct egpuhp_quirk *q, const char **why)
{
	unsigned int i;

	if (!(q->actions & EGPUHP_QUIRK_EGPUHP_RESET)) {
		if (q->reset.n) {
			*why = "reset steps given without the egpuhp_reset action";
			return -EINVAL;
		}
		return 0;
	}
	if (!q->reset.n) {
		*why = "egpuhp_reset needs at least one step";
		return -EINVAL;
	}
	if (q->reset.n > EGPUHP_RESET_MAX_STEPS) {
		*why = EGPUHP_WHY_STEPS_TOO_MANY;
		return -EINVAL;
	}
	for (i = 0; i < q->reset.n; i++)
		if (!egpuhp_quirk_is_step(q->reset.step[i])) {
			*why = EGPUHP_WHY_STEP_UNKNOWN;
			return -EINVAL;
		}
	return 0;
}

/**
 * egpuhp_quirk_check() - validate a quirk entry as a whole
 * @q: the entry
 * @why: set to the reason where the entry is refused
 *
 * Every source of entries (built-in, "quirks=", EGPUHP_CMD_ADD_QUIRK) is
 * checked here before it is added.
 *
 * Return: 0, or -EINVAL with *@why set.
 */
int egpuhp_quirk_check(const struct egpuhp_quirk *q, const char **why)
{
	u8 order[PCI_NUM_RESET_METHODS];

	if (q->vendor == EGPUHP_QUIRK_ANY_ID && q->class_mask == 0) {
		*why = "an entry must name a vendor or a class";
		return -EINVAL;
	}
	if (q->class & ~0xffffffU || q->class_mask & ~0xffffffU) {
		*why = "class and class mask are 24-bit values";
		return -EINVAL;
	}
	if (q->class & ~q->class_mask) {
		*why = "class has bits outside the class mask";
		return -EINVAL;
	}
	if (!q->actions) {
		*why = "an entry needs at least one action";
		return -EINVAL;
	}
	if (q->actions & ~EGPUHP_QUIRK_ALL) {
		*why = "unknown quirk action bit";
		return -EINVAL;
	}
	if (q->match_flags & ~EGPUHP_QUIRK_MATCH_ALL) {
		*why = "unknown quirk match flag";
		return -EINVAL;
	}
	if ((q->actions & EGPUHP_QUIRK_D3HOT_DELAY) &&
	    q->d3hot_delay_ms > 10000) {
		*why = "d3hot delay above 10000 ms";
		return -EINVAL;
	}
	if ((q->actions & EGPUHP_QUIRK_D3COLD_DELAY) &&
	    q->d3cold_delay_ms > 10000) {
		*why = "d3cold delay above 10000 ms";
		return -EINVAL;
	}
	if (!!(q->actions & EGPUHP_QUIRK_RESET_ORDER) != !!q->reset_order[0]) {
		*why = "reset_order action and reset order string go together";
		return -EINVAL;
	}
	if (q->reset_order[0] &&
	    egpuhp_reset_order_parse(q->reset_order, order, why))
		return -EINVAL;
	return reset_seq_check(q, why);
}

/*
 * Below a Thunderbolt/USB4 tunnel or an external-facing port: what the
 * PCI core marks at enumeration (set_pcie_thunderbolt(),
 * pci_set_removable() and set_pcie_untrusted() in pci_setup_device(),
 * all before BUS_NOTIFY_ADD_DEVICE).
 */
static bool pci_external(struct pci_dev *pdev)
{
	return pci_is_thunderbolt_attached(pdev) || pdev->untrusted ||
	       dev_is_removable(&pdev->dev);
}

static bool quirk_match(const struct egpuhp_quirk *q, struct pci_dev *pdev)
{
	if ((q->match_flags & EGPUHP_QUIRK_MATCH_EXTERNAL) &&
	    !pci_external(pdev))
		return false;
	if (q->vendor != EGPUHP_QUIRK_ANY_ID && q->vendor != pdev->vendor)
		return false;
	if (q->device != EGPUHP_QUIRK_ANY_ID && q->device != pdev->device)
		return false;
	if (q->subsys_vendor != EGPUHP_QUIRK_ANY_ID &&
	    q->subsys_vendor != pdev->subsystem_vendor)
		return false;
	if (q->subsys_device != EGPUHP_QUIRK_ANY_ID &&
	    q->subsys_device != pdev->subsystem_device)
		return false;
	return (pdev->class & q->class_mask) == q->class;
}

static struct egpuhp_qdev *qdev_find(struct pci_dev *pdev)
{
	struct egpuhp_qdev *qd;

	list_for_each_entry(qd, &quirk_devs, node)
		if (qd->pdev == pdev)
			return qd;
	return NULL;
}

/* Put back everything egpuhp changed on the device.  quirk_lock held. */
static void qdev_undo(struct egpuhp_qdev *qd)
{
	struct pci_dev *pdev = qd->pdev;

	if (qd->reset.n)
		egpuhp_reset_hook_forget(pdev);
	pdev->dev_flags &= ~qd->flags_set;
	if (!memcmp(pdev->reset_methods, qd->set_reset_methods,
		    sizeof(pdev->reset_methods)))
		memcpy(pdev->reset_methods, qd->orig_reset_methods,
		       sizeof(pdev->reset_methods));
	else
		pci_info(pdev, "reset_method changed since egpuhp set it; left as it is\n");
	if ((qd->applied & EGPUHP_QUIRK_D3HOT_DELAY) &&
	    pdev->d3hot_delay == qd->set_d3hot_delay)
		pdev->d3hot_delay = qd->orig_d3hot_delay;
	if ((qd->applied & EGPUHP_QUIRK_D3COLD_DELAY) &&
	    pdev->d3cold_delay == qd->set_d3cold_delay)
		pdev->d3cold_delay = qd->orig_d3cold_delay;
	if (qd->d3cold_disabled) {
		if (!pdev->dev.driver) {
			pci_d3cold_enable(pdev);
			qd->d3cold_disabled = false;
		} else {
			pci_info(pdev, "D3cold stays disabled while a driver is bound (it may have disabled it too)\n");
		}
	}
	/* aspm_disabled stays: it cannot be undone (see the top) */
	qd->flags_set = 0;
	qd->applied = 0;
	qd->reset.n = 0;
}

/* Drop kernel methods @drop from the device's reset order. */
static void reset_order_drop(struct pci_dev *pdev, const u8 *drop, int ndrop)
{
	u8 keep[PCI_NUM_RESET_METHODS] = { 0 };
	int i, j, n = 0;

	for (i = 0; i < PCI_NUM_RESET_METHODS && pdev->reset_methods[i]; i++) {
		for (j = 0; j < ndrop; j++)
			if (pdev->reset_methods[i] == drop[j])
				break;
		if (j == ndrop)
			keep[n++] = pdev->reset_methods[i];
	}
	memcpy(pdev->reset_methods, keep, sizeof(keep));
}

static bool method_in(const u8 *methods, u8 m)
{
	int i;

	for (i = 0; i < PCI_NUM_RESET_METHODS && methods[i]; i++)
		if (methods[i] == m)
			return true;
	return false;
}

/*
 * The ASPM actions; once disabled, states stay disabled (see the top).
 * No link state yet (-EINVAL: a device being hot-added, see the top):
 * aspm_work() tries again after the scan.
 */
static u32 qdev_apply_aspm(struct egpuhp_qdev *qd, u32 actions, bool retry)
{
	const u32 aspm = EGPUHP_QUIRK_ASPM_L0S_OFF | EGPUHP_QUIRK_ASPM_L1_OFF;
	struct pci_dev *pdev = qd->pdev;
	int state = 0, ret;

	if (!(actions & aspm))
		return 0;
	if (actions & EGPUHP_QUIRK_ASPM_L0S_OFF)
		state |= PCIE_LINK_STATE_L0S;
	if (actions & EGPUHP_QUIRK_ASPM_L1_OFF)
		state |= PCIE_LINK_STATE_L1;
	if ((qd->aspm_disabled & state) == state)
		return actions & aspm;
	ret = pci_disable_link_state(pdev, state);
	if (!ret) {
		qd->aspm_disabled |= state;
		return actions & aspm;
	}
	if (ret == -EINVAL && !retry && !qd->aspm_deferred && quirk_wq) {
		struct aspm_retry *r = kzalloc(sizeof(*r), GFP_KERNEL);

		if (r) {
			INIT_WORK(&r->work, aspm_work);
			r->pdev = pci_dev_get(pdev);
			quirk_walkers++;	/* holds a device reference */
			qd->aspm_deferred = true;
			queue_work(quirk_wq, &r->work);
			return 0;
		}
	}
	pci_info(pdev, "quirk: ASPM cannot be changed on this link (%d)\n", ret);
	return 0;
}

/*
 * Apply the union of the matching entries.  quirk_lock held, device lock
 * held, nothing of ours applied yet.  Returns the actions applied.
 */
static u32 qdev_apply(struct egpuhp_qdev *qd, bool *changed_order, bool retry)
{
	struct pci_dev *pdev = qd->pdev;
	const struct egpuhp_quirk *order_q = NULL, *reset_q = NULL;
	const struct egpuhp_quirk *q;
	u32 actions = 0, d3hot = 0, d3cold = 0;
	u32 done = 0;
	pci_dev_flags_t set = 0;

	list_for_each_entry(q, &quirk_table, node) {
		if (!quirk_match(q, pdev))
			continue;
		actions |= q->actions;
		if (q->actions & EGPUHP_QUIRK_D3HOT_DELAY)
			d3hot = max(d3hot, q->d3hot_delay_ms);
		if (q->actions & EGPUHP_QUIRK_D3COLD_DELAY)
			d3cold = max(d3cold, q->d3cold_delay_ms);
		if ((q->actions & EGPUHP_QUIRK_RESET_ORDER) && !order_q)
			order_q = q;
		if ((q->actions & EGPUHP_QUIRK_EGPUHP_RESET) && !reset_q)
			reset_q = q;
	}
	memcpy(qd->orig_reset_methods, pdev->reset_methods,
	       sizeof(pdev->reset_methods));
	if (!actions)
		return 0;

	if (actions & EGPUHP_QUIRK_NO_FLR)
		set |= PCI_DEV_FLAGS_NO_FLR_RESET;
	if (actions & EGPUHP_QUIRK_NO_BUS_RESET)
		set |= PCI_DEV_FLAGS_NO_BUS_RESET;
	if (actions & EGPUHP_QUIRK_NO_PM_RESET)
		set |= PCI_DEV_FLAGS_NO_PM_RESET;
	if (actions & EGPUHP_QUIRK_NO_D3)
		set |= PCI_DEV_FLAGS_NO_D3;
	qd->flags_set = set & ~pdev->dev_flags;
	pdev->dev_flags |= set;
	done |= actions & (EGPUHP_QUIRK_NO_FLR | EGPUHP_QUIRK_NO_BUS_RESET |
			   EGPUHP_QUIRK_NO_PM_RESET | EGPUHP_QUIRK_NO_D3);

	/*
	 * The flags already make the kernel skip those methods at reset
	 * time; dropping them from reset_methods[] also makes the device's
	 * reset_method file tell the truth.
	 */
	if (actions & EGPUHP_QUIRK_NO_FLR) {
		static const u8 flr[] = { 3, 4 };	/* flr, af_flr */

		reset_order_drop(pdev, flr, ARRAY_SIZE(flr));
	}
	if (actions & EGPUHP_QUIRK_NO_PM_RESET) {
		static const u8 pm[] = { 5 };

		reset_order_drop(pdev, pm, ARRAY_SIZE(pm));
	}
	if (actions & EGPUHP_QUIRK_NO_BUS_RESET) {
		static const u8 bus[] = { 6, 7 };	/* bus, cxl_bus */

		reset_order_drop(pdev, bus, ARRAY_SIZE(bus));
	}

	if (actions & EGPUHP_QUIRK_D3HOT_DELAY) {
		qd->orig_d3hot_delay = pdev->d3hot_delay;
		pdev->d3hot_delay = d3hot;
		qd->set_d3hot_delay = d3hot;
		done |= EGPUHP_QUIRK_D3HOT_DELAY;
	}
	if (actions & EGPUHP_QUIRK_D3COLD_DELAY) {
		qd->orig_d3cold_delay = pdev->d3cold_delay;
		pdev->d3cold_delay = d3cold;
		qd->set_d3cold_delay = d3cold;
		done |= EGPUHP_QUIRK_D3COLD_DELAY;
	}
	if ((actions & EGPUHP_QUIRK_NO_D3COLD)) {
		if (!pdev->no_d3cold) {
			pci_d3cold_disable(pdev);
			qd->d3cold_disabled = true;
		}
		done |= EGPUHP_QUIRK_NO_D3COLD;
	}
	done |= qdev_apply_aspm(qd, actions, retry);

	if (reset_q) {
		if (egpuhp_reset_hook_add(pdev)) {
			qd->reset = reset_q->reset;
			if (!method_in(pdev->reset_methods,
				       EGPUHP_KERNEL_RESET_DEVICE_SPECIFIC)) {
				u8 m[PCI_NUM_RESET_METHODS] = {
					EGPUHP_KERNEL_RESET_DEVICE_SPECIFIC };

				memcpy(m + 1, pdev->reset_methods,
				       sizeof(m) - 1);
				memcpy(pdev->reset_methods, m, sizeof(m));
			}
			done |= EGPUHP_QUIRK_EGPUHP_RESET;
		} else {
			const char *msg;

			egpuhp_reset_hook_state(&msg);
			pci_warn(pdev, "quirk: egpuhp reset only via netlink (EGPUHP_CMD_RESET): reset hook unavailable: %s\n",
				 msg);
			/*
			 * Still applied: EGPUHP_CMD_RESET with method egpuhp
			 * runs it; only the kernel's reset path cannot.
			 */
			qd->reset = reset_q->reset;
			done |= EGPUHP_QUIRK_EGPUHP_RESET;
		}
	}

	if (order_q) {
		u8 want[PCI_NUM_RESET_METHODS], got[PCI_NUM_RESET_METHODS] = { 0 };
		const char *why;
		int i, n = 0;

		egpuhp_reset_order_parse(order_q->reset_order, want, &why);
		/* keep only the methods the device supports (probed) */
		for (i = 0; i < PCI_NUM_RESET_METHODS && want[i]; i++) {
			if (method_in(pdev->reset_methods, want[i]))
				got[n++] = want[i];
			else
				pci_info(pdev, "quirk: reset method %s not available, left out of the order\n",
					 kernel_reset_name(want[i]));
		}
		if (n) {
			memcpy(pdev->reset_methods, got, sizeof(got));
			done |= EGPUHP_QUIRK_RESET_ORDER;
		}
	}
	*changed_order = memcmp(pdev->reset_methods, qd->orig_reset_methods,
				sizeof(pdev->reset_methods));
	memcpy(qd->set_reset_methods, pdev->reset_methods,
	       sizeof(qd->set_reset_methods));
	return done;
}

/*
 * Recompute what @pdev gets.  Device lock held by the caller.
 * Returns the new applied actions; *report set when an event is due.
 */
static u32 qdev_reapply(struct pci_dev *pdev, bool *report, bool retry)
{
	struct egpuhp_qdev *qd;
	bool changed_order = false;
	u32 before = 0, now;

	*report = false;
	mutex_lock(&quirk_lock);
	qd = qdev_find(pdev);
	if (qd) {
		before = qd->applied;
		qdev_undo(qd);
	} else {
		/* removed while a pass held it: no new record */
		if (!xa_load(&quirk_removed, (unsigned long)pdev))
			qd = kzalloc(sizeof(*qd), GFP_KERNEL);
		if (!qd) {
			mutex_unlock(&quirk_lock);
			return 0;
		}
		qd->pdev = pci_dev_get(pdev);
		list_add_tail(&qd->node, &quirk_devs);
	}
	now = qdev_apply(qd, &changed_order, retry);
	qd->applied = now;
	if (now != before)
		quirk_gen++;
	if (!now && !qd->aspm_disabled && !qd->d3cold_disabled) {
		list_del(&qd->node);
		pci_dev_put(qd->pdev);
		kfree(qd);
	}
	mutex_unlock(&quirk_lock);

	if (now != before) {
		char order[EGPUHP_RESET_ORDER_LEN];

		egpuhp_reset_order_text(pdev->reset_methods, order,
					sizeof(order));
		pci_info(pdev, "quirks 0x%x applied (was 0x%x), reset_method order \"%s\"\n",
			 now, before, order);
		*report = true;
	}
	return now;
}

/*
 * The PCI core decides once, at device_add(), whether a function gets a
 * "reset" sysfs file: only if it had a reset method then.  A GPU with
 * none (no FLR, PM reset quirked off, bus reset impossible next to its
 * audio function: the AMD case) gets one from egpuhp's device_specific
 * method, so re-evaluate the visibility of the PCI core's attribute
 * group holding "reset" (reached through the bus's dev_groups; the group
 * itself is not exported).  Called without the device lock: hiding the
 * file waits for its writers, which take the device lock.
 */
static void reset_attr_refresh(struct pci_dev *pdev)
{
	const struct attribute_group *const *groups = pdev->dev.bus->dev_groups;
	struct attribute **attr;

	for (; groups && *groups; groups++) {
		for (attr = (*groups)->attrs; attr && *attr; attr++) {
			if (strcmp((*attr)->name, "reset"))
				continue;
			if (sysfs_update_group(&pdev->dev.kobj, *groups))
				pci_warn(pdev, "cannot update the reset file\n");
			return;
		}
	}
}

static void quirks_update_device(struct pci_dev *pdev, bool retry)
{
	bool report, had, has;
	u32 now;

	device_lock(&pdev->dev);
	had = pdev->reset_methods[0];
	now = qdev_reapply(pdev, &report, retry);
	has = pdev->reset_methods[0];
	device_unlock(&pdev->dev);
	if (had != has && device_is_registered(&pdev->dev))
		reset_attr_refresh(pdev);
	if (report)
		egpuhp_event_quirk_applied(pdev, now);
}

/**
 * egpuhp_quirks_device_added() - apply the quirks that match a PCI function
 * @pdev: the function, just added or present at load
 *
 * Takes the function's device lock; sends EGPUHP_EV_QUIRK_APPLIED where
 * something was applied.  ASPM states the link does not have yet are
 * applied from a work item after the scan (see the top of the file).
 *
 * Context: process context: the PCI bus notifier (BUS_NOTIFY_ADD_DEVICE,
 * before a driver binds) and, for the functions present at load, outside
 * the rescan lock.
 */
void egpuhp_quirks_device_added(struct pci_dev *pdev)
{
	quirks_update_device(pdev, false);
}

/* Passes that hold device references: see quirk_removed. */
static void walk_begin(void)
{
	mutex_lock(&quirk_lock);
	quirk_walkers++;
	mutex_unlock(&quirk_lock);
}

/* quirk_lock held */
static void walk_end_locked(void)
{
	struct pci_dev *pdev;
	unsigned long idx;

	if (--quirk_walkers)
		return;
	xa_for_each(&quirk_removed, idx, pdev) {
		xa_erase(&quirk_removed, idx);
		pci_dev_put(pdev);
	}
}

static void walk_end(void)
{
	mutex_lock(&quirk_lock);
	walk_end_locked();
	mutex_unlock(&quirk_lock);
}

/*
 * After the scan that added the device (it holds the rescan lock while it
 * creates the link state): the ASPM part once more, without deferring.
 */
static void aspm_work(struct work_struct *work)
{
	struct aspm_retry *r = container_of(work, struct aspm_retry, work);

	pci_lock_rescan_remove();
	pci_unlock_rescan_remove();
	quirks_update_device(r->pdev, true);
	mutex_lock(&quirk_lock);
	walk_end_locked();
	mutex_unlock(&quirk_lock);
	pci_dev_put(r->pdev);
	kfree(r);
}

/**
 * egpuhp_quirks_device_removed() - forget a PCI function that is going away
 * @pdev: the function
 *
 * Drops its record and its reset hook entry; nothing is undone on a
 * device that is leaving.
 */
void egpuhp_quirks_device_removed(struct pci_dev *pdev)
{
	struct egpuhp_qdev *qd;

	egpuhp_reset_hook_forget(pdev);
	mutex_lock(&quirk_lock);
	qd = qdev_find(pdev);
	if (qd) {
		list_del(&qd->node);
		pci_dev_put(qd->pdev);
		kfree(qd);
		quirk_gen++;
	}
	if (quirk_walkers &&
	    xa_err(xa_store(&quirk_removed, (unsigned long)pdev,
			    pci_dev_get(pdev), GFP_KERNEL)))
		pci_dev_put(pdev);
	mutex_unlock(&quirk_lock);
}

/**
 * egpuhp_quirks_applied() - the quirk actions a PCI function has now
 * @pdev: the function
 *
 * Return: the EGPUHP_QUIRK_* actions applied, 0 if none.
 */
u32 egpuhp_quirks_applied(struct pci_dev *pdev)
{
	struct egpuhp_qdev *qd;
	u32 a = 0;

	mutex_lock(&quirk_lock);
	qd = qdev_find(pdev);
	if (qd)
		a = qd->applied;
	mutex_unlock(&quirk_lock);
	return a;
}

/**
 * egpuhp_quirk_reset_seq() - the egpuhp reset sequence a function's quirks give it
 * @pdev: the function
 * @seq: where the sequence goes; @seq->n is 0 if there is none
 *
 * Return: true if @pdev has one (EGPUHP_QUIRK_EGPUHP_RESET).
 */
bool egpuhp_quirk_reset_seq(struct pci_dev *pdev, struct egpuhp_reset_seq *seq)
{
	struct egpuhp_qdev *qd;

	seq->n = 0;
	mutex_lock(&quirk_lock);
	qd = qdev_find(pdev);
	if (qd)
		*seq = qd->reset;
	mutex_unlock(&quirk_lock);
	return seq->n;
}

/* Re-evaluate every present PCI function (the table changed). */
static void quirks_update_all(void)
{
	struct pci_dev *pdev = NULL;

	walk_begin();
	for_each_pci_dev(pdev)
		quirks_update_device(pdev, false);
	walk_end();
}

static int quirk_insert(const struct egpuhp_quirk *src, u32 *id)
{
	struct egpuhp_quirk *q;

	q = kmemdup(src, sizeof(*q), GFP_KERNEL);
	if (!q)
		return -ENOMEM;
	mutex_lock(&quirk_lock);
	q->id = quirk_next_id++;
	list_add_tail(&q->node, &quirk_table);
	quirk_gen++;
	mutex_unlock(&quirk_lock);
	if (id)
		*id = q->id;
	return 0;
}

/* Whether some entry has the egpuhp reset (the reset hook is needed). */
static bool table_wants_hook(void)
{
	const struct egpuhp_quirk *q;
	bool want = false;

	mutex_lock(&quirk_lock);
	list_for_each_entry(q, &quirk_table, node)
		want |= !!(q->actions & EGPUHP_QUIRK_EGPUHP_RESET);
	mutex_unlock(&quirk_lock);
	return want;
}

/**
 * egpuhp_quirk_add() - add a quirk entry and apply it to every present function
 * @q: the entry, checked with egpuhp_quirk_check(); copied
 * @id: set to the new entry's id
 *
 * The reset hook is installed first where the entry needs it, so that the
 * functions it matches get it.
 *
 * Context: process context; takes device locks.
 * Return: 0, or -ENOMEM.
 */
int egpuhp_quirk_add(const struct egpuhp_quirk *q, u32 *id)
{
	int ret = quirk_insert(q, id);

	if (ret)
		return ret;
	/* the hook first, so that the devices the entry matches get it */
	egpuhp_reset_hook_want(table_wants_hook());
	quirks_update_all();
	return 0;
}

/**
 * egpuhp_quirk_del() - delete a quirk entry and re-apply the others
 * @id: the entry's id
 *
 * Every present function gets what the remaining entries give it; what
 * the deleted entry applied is undone where it can be (see the top of the
 * file for what cannot).
 * The reset hook is removed afterwards if no entry needs it any more.
 *
 * Context: process context; takes device locks.
 * Return: 0, or -ENOENT if no entry has @id.
 */
int egpuhp_quirk_del(u32 id)
{
	struct egpuhp_quirk *q, *found = NULL;

	mutex_lock(&quirk_lock);
	list_for_each_entry(q, &quirk_table, node)
		if (q->id == id) {
			found = q;
			list_del(&q->node);
			quirk_gen++;
			break;
		}
	mutex_unlock(&quirk_lock);
	if (!found)
		return -ENOENT;
	kfree(found);
	quirks_update_all();
	/* after the devices let go of it */
	egpuhp_reset_hook_want(table_wants_hook());
	return 0;
}

/**
 * egpuhp_quirk_copy_nth() - copy the entry at a position of the quirk table
 * @idx: the position, from 0
 * @out: where the entry goes
 * @devs: where the names of the functions it is applied to go
 * @max_devs: room in @devs
 * @ndevs: set to the number of names in @devs
 * @gen: set to the table's generation (it changes with every change of
 *       the table or of what a function got)
 *
 * Return: true if copied, false past the end.
 */
bool egpuhp_quirk_copy_nth(unsigned int idx, struct egpuhp_quirk *out,
			   struct egpuhp_pci_name *devs,
			   unsigned int max_devs, unsigned int *ndevs,
			   unsigned int *gen)
{
	struct egpuhp_quirk *q;
	struct egpuhp_qdev *qd;
	bool found = false;

	*ndevs = 0;
	mutex_lock(&quirk_lock);
	*gen = quirk_gen;
	list_for_each_entry(q, &quirk_table, node) {
		if (idx--)
			continue;
		*out = *q;
		INIT_LIST_HEAD(&out->node);
		found = true;
		list_for_each_entry(qd, &quirk_devs, node) {
			if (*ndevs >= max_devs)
				break;
			if (quirk_match(q, qd->pdev) && qd->applied)
				strscpy(devs[(*ndevs)++].s, pci_name(qd->pdev),
					EGPUHP_PCI_NAME_LEN);
		}
		break;
	}
	mutex_unlock(&quirk_lock);
	return found;
}

static int quirks_load_param(void)
{
	char *buf, *cur, *entry;
	int bad = 0, good = 0;

	if (!egpuhp_quirks_param[0])
		return 0;
	buf = kstrdup(egpuhp_quirks_param, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	cur = buf;
	while ((entry = strsep(&cur, ",")) != NULL) {
		struct egpuhp_quirk q;
		const char *why = NULL;

		entry = strim(entry);
		if (!*entry)
			continue;
		if (egpuhp_quirk_parse_entry(entry, &q, &why) ||
		    egpuhp_quirk_check(&q, &why)) {
			pr_err("quirks=: entry \"%s\" refused: %s\n",
			       entry, why ? why : "invalid");
			bad++;
			continue;
		}
		q.source = EGPUHP_QUIRK_SRC_PARAM;
		if (quirk_insert(&q, NULL)) {
			kfree(buf);
			return -ENOMEM;
		}
		good++;
	}
	kfree(buf);
	if (bad)
		pr_err("quirks=: %d entr%s refused, %d accepted (syntax: see modinfo egpuhp)\n",
		       bad, bad == 1 ? "y" : "ies", good);
	return 0;
}

/**
 * egpuhp_quirks_init() - set up the quirk table and the resets
 *
 * Creates the workqueues, adds the built-in entries and those of the
 * "quirks=" parameter (an entry that does not parse is refused with a log
 * line; the others still apply), and installs the reset hook if an entry
 * needs it.  Nothing is applied to devices yet: egpuhp_pci_watch_init()
 * does that.
 *
 * Return: 0, or -ENOMEM.
 */
int egpuhp_quirks_init(void)
{
	unsigned int i;
	int ret;

	quirk_wq = alloc_workqueue("egpuhp_quirks", WQ_UNBOUND, 1);
	if (!quirk_wq)
		return -ENOMEM;
	ret = egpuhp_reset_init();
	if (ret) {
		destroy_workqueue(quirk_wq);
		quirk_wq = NULL;
		return ret;
	}
	egpuhp_reset_hook_init();
	for (i = 0; i < egpuhp_builtin_quirk_count; i++) {
		const char *why;

		if (egpuhp_quirk_check(&egpuhp_builtin_quirks[i], &why)) {
			/* a bug in quirk_table.c; refuse the entry, not the module */
			pr_err("built-in quirk %u invalid: %s\n", i, why);
			continue;
		}
		ret = quirk_insert(&egpuhp_builtin_quirks[i], NULL);
		if (ret)
			goto fail;
	}
	ret = quirks_load_param();
	if (ret)
		goto fail;
	egpuhp_reset_hook_want(table_wants_hook());
	return 0;
fail:
	egpuhp_quirks_exit();
	return ret;
}

/**
 * egpuhp_quirks_exit() - undo the quirks of every function, free the table
 *
 * The reset hook goes first, so that no new reset is redirected; pending
 * ASPM retries and removals run before the records go.
 */
void egpuhp_quirks_exit(void)
{
	struct egpuhp_quirk *q, *qn;
	struct egpuhp_qdev *qd;

	/*
	 * No new redirected resets (a reset already redirected runs
	 * hook_reset(), module text, and holds a module reference taken in
	 * the ftrace callback); pending ASPM retries and removals run now.
	 */
	egpuhp_reset_hook_exit();
	if (quirk_wq)
		destroy_workqueue(quirk_wq);
	quirk_wq = NULL;
	egpuhp_reset_exit();

	for (;;) {
		struct pci_dev *pdev;
		bool had, has;

		mutex_lock(&quirk_lock);
		qd = list_first_entry_or_null(&quirk_devs, struct egpuhp_qdev,
					      node);
		if (!qd) {
			mutex_unlock(&quirk_lock);
			break;
		}
		pdev = pci_dev_get(qd->pdev);
		mutex_unlock(&quirk_lock);

		device_lock(&pdev->dev);
		had = pdev->reset_methods[0];
		mutex_lock(&quirk_lock);
		qd = qdev_find(pdev);
		if (qd) {
			qdev_undo(qd);
			list_del(&qd->node);
			pci_dev_put(qd->pdev);
			kfree(qd);
			pci_info(pdev, "quirks undone\n");
		}
		mutex_unlock(&quirk_lock);
		has = pdev->reset_methods[0];
		device_unlock(&pdev->dev);
		if (had != has && device_is_registered(&pdev->dev))
			reset_attr_refresh(pdev);
		pci_dev_put(pdev);
	}

	mutex_lock(&quirk_lock);
	list_for_each_entry_safe(q, qn, &quirk_table, node) {
		list_del(&q->node);
		kfree(q);
	}
	quirk_next_id = 1;
	mutex_unlock(&quirk_lock);
}
