// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: reset methods, and EGPUHP_CMD_RESET.
 *
 * A method is one entry of reset_methods[] below: a probe (can it reset
 * this device now?) and the reset itself, which runs with the device
 * locked and its config space saved.  A vendor sequence (e.g. AMD BACO)
 * plugs in later as one more entry and one more enum egpuhp_reset_method
 * value; nothing else changes.
 *
 * EGPUHP_RESET_EGPUHP runs the sequence of methods ("steps") a device's
 * quirks give it, e.g. pm then bus.  Every step is probed before the first
 * one runs, so a sequence that cannot finish does not start.  The frame
 * around the methods (sibling locks, config space save/restore) is set up
 * once around the whole sequence, and the sequence stops at the first
 * step that fails.  A method asked for by itself is a sequence of one.
 *
 * Methods that act on the upstream link (bus reset, link retrain, slot
 * power) reset every function on that bus.  The other functions (an eGPU's
 * audio function next to its GPU) are locked with trylock, their drivers
 * get reset_prepare()/reset_done() and their config space is saved and
 * restored around the reset, as pci_dev_save_and_disable() and
 * pci_dev_restore() do for the kernel's own resets (D0 first; nothing is
 * saved from a function whose config space does not answer).  When one is
 * busy the reset is refused (-EAGAIN) rather than waiting: the kernel's
 * reset path holds the device lock of the function it resets, and waiting
 * on a sibling could deadlock against a reset of that sibling.  Siblings
 * are only collected and trylocked inside pci_walk_bus(); their drivers'
 * reset_prepare() runs after the walk, not under pci_bus_sem.  A function
 * that is itself a bridge (has devices below it) is refused: resetting
 * its bus would reset a whole hierarchy.
 *
 * Through the kernel's reset path (the reset hook: sysfs "reset",
 * VFIO_DEVICE_RESET) a reset is a request for one function, and the
 * kernel refuses a bus reset there when other functions share the bus
 * (pci_parent_bus_reset(), pci_dev_reset_slot_function()).  egpuhp
 * refuses whole-bus steps there unless every other function on the bus
 * has no driver: a per-function reset must not reset a function a driver
 * (vfio-pci included, which has no reset_prepare()) is using.
 * EGPUHP_CMD_RESET is a request for the device as a whole and prepares
 * the siblings' drivers.
 *
 * Hotplug ports: Slot Control belongs to the hotplug driver.  The bus step
 * goes through the slot's own reset (pciehp_reset_slot(), the way
 * pci_reset_bus() goes: under pciehp's reset_lock and ctrl_lock, with its
 * command-completion waits), with the upstream bridge locked as
 * pci_reset_function() locks it, so that the secondary bus reset runs
 * under the bridge's config-access lock.  A slot power cycle cannot be
 * done through pciehp without removing the devices, so slot_power is
 * refused on a slot a hotplug driver owns.  Link retraining keeps the
 * data link up (Recovery, not Detect), which is why the kernel's own
 * pcie_retrain_link() masks nothing; neither does egpuhp.
 *
 * pciehp_reset_slot() clears the presence and link events that arrive
 * during the reset, so a cable pulled then raises nothing.  After every
 * step egpuhp checks the device again; when it does not answer and the
 * port says the slot is empty (or its link down), egpuhp removes the
 * functions below the port itself, marked disconnected as pciehp's
 * surprise removal marks them (reset_gone_work()).
 *
 * Every run emits EGPUHP_EV_RESET_BEGIN and EGPUHP_EV_RESET_END (method,
 * duration, result); every step of an EGPUHP_RESET_EGPUHP sequence also
 * EGPUHP_EV_RESET_STEP_BEGIN and _END in between (its method, its number,
 * duration, result).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt
#define dev_fmt pr_fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/pm_runtime.h>
#include <linux/pci.h>
#include <linux/pci_hotplug.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include "egpuhp.h"
#include "quirks.h"
#include "compat.h"

static unsigned int reset_settle_ms = 100;
module_param(reset_settle_ms, uint, 0644);
MODULE_PARM_DESC(reset_settle_ms,
		 "Extra settle time after an egpuhp bus reset or slot power-on, in ms (default 100)");

#define MAX_SIBLINGS	8
/* PCIE_LINK_RETRAIN_TIMEOUT_MS of drivers/pci/pci.h */
#define RETRAIN_TIMEOUT_MS	1000

/* removals of devices that went away during a reset (reset_gone_work()) */
static struct workqueue_struct *reset_wq;

struct reset_ctx {
	struct pci_dev *pdev;
	struct pci_dev *bridge;		/* upstream port, may be NULL */
	struct pci_dev *sib[MAX_SIBLINGS];
	unsigned int nsib;
	bool via_hook;			/* the kernel's reset path */
	bool bridge_locked;		/* by us (pci_dev_lock) */
	bool gone;			/* the slot emptied during a step */
	int err;
	const char *why;
};

struct egpuhp_reset_ops {
	u32 method;
	const char *name;
	bool whole_bus;			/* resets every function on the bus */
	int (*probe)(struct reset_ctx *c);
	int (*reset)(struct reset_ctx *c);
};

/* ---- helpers ---- */

static bool wait_present(struct pci_dev *pdev, unsigned int ms)
{
	unsigned int waited = 0;
	u32 id;

	for (;;) {
		if (!pci_read_config_dword(pdev, PCI_VENDOR_ID, &id) &&
		    id != 0xffffffff && id != 0xffff0001)
			return true;
		if (waited >= ms)
			return false;
		msleep(20);
		waited += 20;
	}
}

/*
 * Whether the port says nothing is behind it: Presence Detect State
 * clear on a port with a slot, or the link down on a port that reports
 * it.  A port that does not answer (all-ones) says nothing.
 */
static bool port_empty(struct pci_dev *br)
{
	u16 flags, v;

	if (!br || !pci_is_pcie(br) ||
	    pcie_capability_read_word(br, PCI_EXP_FLAGS, &flags) ||
	    flags == 0xffff)
		return false;
	if ((flags & PCI_EXP_FLAGS_SLOT) &&
	    !pcie_capability_read_word(br, PCI_EXP_SLTSTA, &v) &&
	    v != 0xffff && !(v & PCI_EXP_SLTSTA_PDS))
		return true;
	return br->link_active_reporting &&
	       !pcie_capability_read_word(br, PCI_EXP_LNKSTA, &v) &&
	       v != 0xffff && !(v & PCI_EXP_LNKSTA_DLLLA);
}

/* The hotplug driver's slot @pdev sits in (pciehp), or NULL. */
static struct hotplug_slot *slot_hotplug(struct pci_dev *pdev)
{
	return pdev->slot ? pdev->slot->hotplug : NULL;
}

static int need_bridge(struct reset_ctx *c)
{
	if (!c->bridge) {
		c->why = "device has no upstream bridge";
		return -ENOTTY;
	}
	if (c->pdev->subordinate) {
		c->why = "device is a bridge; egpuhp resets endpoints only";
		return -ENOTTY;
	}
	return 0;
}

/* ---- methods ---- */

static int bus_probe(struct reset_ctx *c)
{
	int ret = need_bridge(c);

	if (ret)
		return ret;
	if (c->pdev->dev_flags & PCI_DEV_FLAGS_NO_BUS_RESET ||
	    c->bridge->dev_flags & PCI_DEV_FLAGS_NO_BUS_RESET) {
		c->why = "bus reset disabled for this device (quirk)";
		return -ENOTTY;
	}
	return 0;
}

/*
 * The slot's reset where a hotplug driver owns the slot, as
 * pci_reset_hotplug_slot() calls it (pinning the driver's module);
 * a plain secondary bus reset of the bridge otherwise.
 */
static int bus_reset(struct reset_ctx *c)
{
	struct hotplug_slot *hp = slot_hotplug(c->pdev);
	int ret;

	if (hp && hp->ops->reset_slot && try_module_get(hp->owner)) {
		ret = hp->ops->reset_slot(hp, false);
		module_put(hp->owner);
	} else {
		ret = pci_bridge_secondary_bus_reset(c->bridge);
	}
	msleep(reset_settle_ms);
	return ret;
}

static int retrain_probe(struct reset_ctx *c)
{
	int ret = need_bridge(c);

	if (ret)
		return ret;
	if (!pci_is_pcie(c->bridge)) {
		c->why = "upstream bridge is not PCIe";
		return -ENOTTY;
	}
	return 0;
}

/* Link Training clear within RETRAIN_TIMEOUT_MS (pcie_wait_for_link_status()). */
static int wait_training_done(struct pci_dev *br)
{
	unsigned long end = jiffies + msecs_to_jiffies(RETRAIN_TIMEOUT_MS);
	u16 sta;

	for (;;) {
		if (pcie_capability_read_word(br, PCI_EXP_LNKSTA, &sta) ||
		    sta == 0xffff)
			return -EIO;
		if (!(sta & PCI_EXP_LNKSTA_LT))
			return 0;
		if (time_after(jiffies, end))
			return -ETIMEDOUT;
		usleep_range(1000, 2000);
	}
}

/*
 * As pcie_retrain_link() (drivers/pci/pci.c, not exported): wait for a
 * training already under way to end first, so that the one requested runs
 * with the current Link Control (PCIe r6.1 sec 7.5.3.7, implementation
 * note); clear Retrain Link again on devices with that erratum
 * (clear_retrain_link, set by the kernel's quirks).
 */
static int retrain_reset(struct reset_ctx *c)
{
	int ret = wait_training_done(c->bridge);

	if (ret)
		return ret;
	pcie_capability_set_word(c->bridge, PCI_EXP_LNKCTL, PCI_EXP_LNKCTL_RL);
	if (c->bridge->clear_retrain_link)
		pcie_capability_clear_word(c->bridge, PCI_EXP_LNKCTL,
					   PCI_EXP_LNKCTL_RL);
	return wait_training_done(c->bridge);
}

static int pm_probe(struct reset_ctx *c)
{
	u16 csr;

	if (!c->pdev->pm_cap) {
		c->why = "device has no PM capability";
		return -ENOTTY;
	}
	if (c->pdev->dev_flags & PCI_DEV_FLAGS_NO_PM_RESET) {
		c->why = "PM reset disabled for this device (quirk)";
		return -ENOTTY;
	}
	/* as pci_pm_reset(): such a device keeps its state across D3hot */
	pci_read_config_word(c->pdev, c->pdev->pm_cap + PCI_PM_CTRL, &csr);
	if (csr & PCI_PM_CTRL_NO_SOFT_RESET) {
		c->why = "device has No_Soft_Reset set: a D3hot->D0 cycle does not reset it";
		return -ENOTTY;
	}
	return 0;
}

static int pm_reset(struct reset_ctx *c)
{
	struct pci_dev *pdev = c->pdev;
	unsigned int delay = max(pdev->d3hot_delay, 10U);
	u16 csr;

	/* as pci_pm_reset(): checked after prepare() put it in D0 */
	if (pdev->current_state != PCI_D0) {
		c->why = "device is not in D0";
		return -EINVAL;
	}
	pci_read_config_word(pdev, pdev->pm_cap + PCI_PM_CTRL, &csr);
	csr &= ~PCI_PM_CTRL_STATE_MASK;
	pci_write_config_word(pdev, pdev->pm_cap + PCI_PM_CTRL,
			      csr | (__force u16)PCI_D3hot);
	msleep(delay);
	pci_write_config_word(pdev, pdev->pm_cap + PCI_PM_CTRL,
			      csr | (__force u16)PCI_D0);
	msleep(delay);
	return 0;
}

static int slot_probe(struct reset_ctx *c)
{
	u32 cap;
	int ret = need_bridge(c);

	if (ret)
		return ret;
	if (!pci_is_pcie(c->bridge) ||
	    pcie_capability_read_dword(c->bridge, PCI_EXP_SLTCAP, &cap) ||
	    !(cap & PCI_EXP_SLTCAP_PCP)) {
		c->why = "upstream port has no slot power controller";
		return -ENOTTY;
	}
	if (slot_hotplug(c->pdev)) {
		/* pciehp cannot power-cycle without removing the devices */
		c->why = "slot power belongs to the hotplug driver; use the bus step";
		return -ENOTTY;
	}
	return 0;
}

/* Only where no hotplug driver owns Slot Control (slot_probe()). */
static int slot_reset(struct reset_ctx *c)
{
	unsigned long end;
	u16 sta;

	/* only the power controller: the power indicator is left alone */
	pcie_capability_clear_and_set_word(c->bridge, PCI_EXP_SLTCTL,
					   PCI_EXP_SLTCTL_PCC,
					   PCI_EXP_SLTCTL_PWR_OFF);
	msleep(1000);	/* PCIe: power stays off at least 1 s */
	pcie_capability_clear_and_set_word(c->bridge, PCI_EXP_SLTCTL,
					   PCI_EXP_SLTCTL_PCC,
					   PCI_EXP_SLTCTL_PWR_ON);
	if (c->bridge->link_active_reporting) {
		end = jiffies + msecs_to_jiffies(1000);
		for (;;) {
			if (pcie_capability_read_word(c->bridge, PCI_EXP_LNKSTA,
						      &sta) || sta == 0xffff)
				return -EIO;
			if (sta & PCI_EXP_LNKSTA_DLLLA)
				break;
			if (time_after(jiffies, end))
				return -ETIMEDOUT;
			msleep(20);
		}
	}
	msleep(100 + reset_settle_ms);	/* 100 ms after link up (PCIe r6 6.6.1) */
	return 0;
}

static const struct egpuhp_reset_ops reset_methods[] = {
	{ EGPUHP_RESET_BUS, "bus", true, bus_probe, bus_reset },
	{ EGPUHP_RESET_LINK_RETRAIN, "link_retrain", true, retrain_probe,
	  retrain_reset },
	{ EGPUHP_RESET_PM, "pm", false, pm_probe, pm_reset },
	{ EGPUHP_RESET_SLOT_POWER, "slot_power", true, slot_probe, slot_reset },
};

static const struct egpuhp_reset_ops *find_ops(u32 method)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(reset_methods); i++)
		if (reset_methods[i].method == method)
			return &reset_methods[i];
	return NULL;
}

/**
 * egpuhp_reset_method_name() - the name of a reset method, for logs
 * @method: enum egpuhp_reset_method
 *
 * Return: its name ("bus", "auto", ...), or "?" for an unknown one.
 */
const char *egpuhp_reset_method_name(u32 method)
{
	const struct egpuhp_reset_ops *ops = find_ops(method);

	if (ops)
		return ops->name;
	switch (method) {
	case EGPUHP_RESET_AUTO:
		return "auto";
	case EGPUHP_RESET_TUNNEL:
		return "tunnel";
	case EGPUHP_RESET_EGPUHP:
		return "egpuhp";
	}
	return "?";
}

/* ---- the frame around a method ---- */

/* pci_dev_save_and_disable(); the caller holds the device lock. */
static void prepare(struct pci_dev *pdev)
{
	const struct pci_error_handlers *eh = NULL;
	u32 cmd;

	if (pdev->dev.driver)
		eh = to_pci_driver(pdev->dev.driver)->err_handler;
	if (eh && eh->reset_prepare)
		eh->reset_prepare(pdev);
	/* a register restore does not bring back a non-D0 state */
	pci_set_power_state(pdev, PCI_D0);
	if (pci_read_config_dword(pdev, PCI_COMMAND, &cmd) ||
	    cmd == 0xffffffff) {
		pci_warn(pdev, "config space inaccessible; not saved for the reset\n");
		return;
	}
	pci_save_state(pdev);
	/* as the kernel does: no DMA, no interrupts during the reset */
	pci_write_config_word(pdev, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE);
}

/* pci_dev_restore() */
static void done(struct pci_dev *pdev)
{
	const struct pci_error_handlers *eh = NULL;

	pci_restore_state(pdev);
	if (pdev->dev.driver)
		eh = to_pci_driver(pdev->dev.driver)->err_handler;
	if (eh && eh->reset_done)
		eh->reset_done(pdev);
}

/*
 * pci_walk_bus() callback, under pci_bus_sem: check and trylock one other
 * function on the bus.  Nothing here calls into its driver.
 */
static int lock_sibling(struct pci_dev *dev, void *data)
{
	struct reset_ctx *c = data;

	if (dev == c->pdev)
		return 0;
	if (dev->bus != c->pdev->bus || dev->subordinate) {
		c->why = "another function on the bus is a bridge";
		c->err = -ENOTTY;
		return 1;
	}
	if (dev->dev_flags & PCI_DEV_FLAGS_NO_BUS_RESET) {
		c->why = "another function on the bus must not be bus reset (quirk)";
		c->err = -ENOTTY;
		return 1;
	}
	if (c->nsib == MAX_SIBLINGS) {
		c->why = "too many functions on the bus";
		c->err = -ENOTTY;
		return 1;
	}
	if (!pci_dev_trylock(dev)) {
		c->why = "another function on the bus is busy";
		c->err = -EAGAIN;
		return 1;
	}
	if (c->via_hook && dev->dev.driver) {
		pci_dev_unlock(dev);
		/* EGPUHP_CMD_RESET would prepare it: egpuctl reset */
		c->why = "another function on the bus has a driver; not in a per-function reset";
		c->err = -ENOTTY;
		return 1;
	}
	c->sib[c->nsib++] = pci_dev_get(dev);
	return 0;
}

/* Lock the other functions, then prepare them (outside pci_bus_sem). */
static int lock_siblings(struct reset_ctx *c)
{
	unsigned int i;

	pci_walk_bus(c->pdev->bus, lock_sibling, c);
	if (c->err)
		return c->err;
	for (i = 0; i < c->nsib; i++)
		prepare(c->sib[i]);
	return 0;
}

/* Undo lock_siblings(); @prepared: prepare() ran on them. */
static void unlock_siblings(struct reset_ctx *c, bool prepared)
{
	while (c->nsib) {
		struct pci_dev *dev = c->sib[--c->nsib];

		if (prepared)
			done(dev);
		pci_dev_unlock(dev);
		pci_dev_put(dev);
	}
}

/*
 * The upstream bridge locked as pci_reset_function() locks it (6.11+;
 * pci_bridge_secondary_bus_reset() warns otherwise).  The kernel's reset
 * path may hold it already (pci_reset_function() does; 6.1 and
 * pci_try_reset_function() do not): then its config access is blocked
 * and egpuhp leaves it; else egpuhp tries to take it, without waiting.
 */
static void lock_bridge(struct reset_ctx *c, bool locked)
{
	struct pci_dev *br = pci_upstream_bridge(c->pdev);

	if (!br)
		return;
	if (!locked) {
		pci_dev_lock(br);
		c->bridge_locked = true;
	} else if (!br->block_cfg_access && pci_dev_trylock(br)) {
		c->bridge_locked = true;
	}
}

static void unlock_bridge(struct reset_ctx *c)
{
	if (c->bridge_locked)
		pci_dev_unlock(pci_upstream_bridge(c->pdev));
	c->bridge_locked = false;
}

/* ---- a device that went away during a reset ---- */

struct reset_gone {
	struct work_struct work;
	struct pci_dev *port;		/* referenced */
};

static int mark_gone(struct pci_dev *dev, void *unused)
{
	egpuhp_pci_set_disconnected(dev);
	return 0;
}

/*
 * What pciehp's surprise removal does (pciehp_unconfigure_device()) for
 * a slot that emptied while its events were masked by a reset: every
 * function below the port marked disconnected, then removed deepest-first
 * under the rescan lock.  Only while the port still says the slot is
 * empty; whatever pciehp removed meanwhile is no longer on the bus list.
 */
static void reset_gone_work(struct work_struct *work)
{
	struct reset_gone *g = container_of(work, struct reset_gone, work);
	struct pci_dev *dev, *tmp;
	struct pci_bus *bus;

	pci_lock_rescan_remove();
	bus = g->port->subordinate;
	if (bus && !list_empty(&bus->devices) && port_empty(g->port)) {
		pci_info(g->port, "slot emptied during a reset: removing the functions below\n");
		pci_walk_bus(bus, mark_gone, NULL);
		list_for_each_entry_safe_reverse(dev, tmp, &bus->devices,
						 bus_list) {
			pci_dev_get(dev);
			pci_stop_and_remove_bus_device(dev);
			pci_dev_put(dev);
		}
	}
	pci_unlock_rescan_remove();
	pci_dev_put(g->port);
	kfree(g);
}

static void queue_gone(struct reset_ctx *c)
{
	struct reset_gone *g;

	if (!c->gone || !c->bridge)
		return;
	/* no workqueue: a request racing module load or unload */
	g = reset_wq ? kzalloc(sizeof(*g), GFP_KERNEL) : NULL;
	if (!g) {
		/* the functions stay enumerated: say so */
		pci_err(c->bridge, "slot emptied during a reset; removal not queued\n");
		return;
	}
	INIT_WORK(&g->work, reset_gone_work);
	g->port = pci_dev_get(c->bridge);
	queue_work(reset_wq, &g->work);
}

static int ctx_probe(struct reset_ctx *c, const struct egpuhp_reset_ops *ops)
{
	c->bridge = pci_upstream_bridge(c->pdev);
	c->why = NULL;
	return ops->probe(c);
}

/* The steps @method stands for and their ops (resolve()). */
struct reset_plan {
	struct egpuhp_reset_seq seq;
	const struct egpuhp_reset_ops *ops[EGPUHP_RESET_MAX_STEPS];
	bool whole_bus;			/* some step resets the whole bus */
};

/*
 * EGPUHP_RESET_EGPUHP: the device's quirk sequence; any other method is a
 * sequence of one step.
 */
static int resolve(struct pci_dev *pdev, u32 method, bool via_hook,
		   struct reset_plan *p, struct netlink_ext_ack *extack)
{
	unsigned int i;

	p->whole_bus = false;
	if (method == EGPUHP_RESET_TUNNEL) {
		NL_SET_ERR_MSG(extack, "tunnel cycles run in userspace: egpuctl reset --tunnel");
		return -EOPNOTSUPP;
	}
	if (method != EGPUHP_RESET_EGPUHP) {
		p->seq.n = 1;
		p->seq.step[0] = method;
	} else if (!egpuhp_quirk_reset_seq(pdev, &p->seq)) {
		NL_SET_ERR_MSG(extack, "no quirk gives this device an egpuhp reset method");
		/* the kernel's reset path then tries its next method */
		return via_hook ? -ENOTTY : -EOPNOTSUPP;
	}
	for (i = 0; i < p->seq.n; i++) {
		p->ops[i] = find_ops(p->seq.step[i]);
		if (!p->ops[i]) {
			NL_SET_ERR_MSG(extack, "unknown reset method");
			return -EINVAL;
		}
		p->whole_bus |= p->ops[i]->whole_bus;
	}
	return 0;
}

/* Every step can run now; else the first one's error, c->why set. */
static int plan_probe(struct reset_ctx *c, const struct reset_plan *p,
		      unsigned int *failed)
{
	unsigned int i;
	int ret;

	for (i = 0; i < p->seq.n; i++) {
		ret = ctx_probe(c, p->ops[i]);
		if (ret) {
			*failed = i;
			return ret;
		}
	}
	return 0;
}

/**
 * egpuhp_reset_probe() - whether a reset method can reset a function now
 * @pdev: the function
 * @method: enum egpuhp_reset_method; EGPUHP_RESET_EGPUHP probes every step
 *          of the function's sequence
 *
 * Used as the probe of the kernel's "device_specific" method (the reset
 * hook).
 *
 * Return: 0 if it can; -ENOTTY whatever the reason: the kernel's probe
 * loop (pci_init_reset_methods()) stops at any other error, and the device
 * would lose the methods after device_specific.
 */
int egpuhp_reset_probe(struct pci_dev *pdev, u32 method)
{
	struct reset_ctx c = { .pdev = pdev };
	unsigned int failed = 0;
	struct reset_plan p;

	/*
	 * -ENOTTY whatever the reason: the kernel's probe loop
	 * (pci_init_reset_methods()) stops at any other error, and the
	 * device would lose the methods after device_specific.
	 */
	if (resolve(pdev, method, true, &p, NULL) ||
	    plan_probe(&c, &p, &failed))
		return -ENOTTY;
	return 0;
}

static int run_auto(struct pci_dev *pdev, u64 *duration_ns,
		    struct netlink_ext_ack *extack)
{
	u64 t0;
	int ret;

	if (!pdev->reset_methods[0]) {
		NL_SET_ERR_MSG(extack, "the kernel has no reset method for this device");
		return -ENOTTY;
	}
	egpuhp_event_reset(pdev, EGPUHP_EV_RESET_BEGIN, EGPUHP_RESET_AUTO, 0,
			   0, 0);
	t0 = ktime_get_ns();
	pm_runtime_get_sync(&pdev->dev);
	ret = pci_reset_function(pdev);
	pm_runtime_put(&pdev->dev);
	*duration_ns = ktime_get_ns() - t0;
	egpuhp_event_reset(pdev, EGPUHP_EV_RESET_END, EGPUHP_RESET_AUTO, 0,
			   *duration_ns, ret);
	if (ret)
		NL_SET_ERR_MSG(extack, "the kernel's reset failed");
	return ret;
}

/*
 * After a step: the device answers again, or the step failed; when it
 * does not answer and the port says the slot is empty, it went away
 * during the reset (queue_gone() removes it afterwards).
 */
static int step_check(struct reset_ctx *c, int ret)
{
	if (wait_present(c->pdev, 1000))
		return ret;
	if (port_empty(c->bridge)) {
		c->gone = true;
		c->why = "the device went away during the reset";
	}
	return ret ? ret : -ETIMEDOUT;
}

/*
 * Step @i of the plan.  Its own events only for a sequence (@report): a
 * method run by itself is reported by the events of the whole run alone.
 */
static int run_step(struct reset_ctx *c, const struct reset_plan *p,
		    unsigned int i, bool report)
{
	const struct egpuhp_reset_ops *ops = p->ops[i];
	u64 t0, ns;
	int ret;

	if (report)
		egpuhp_event_reset(c->pdev, EGPUHP_EV_RESET_STEP_BEGIN,
				   ops->method, i + 1, 0, 0);
	t0 = ktime_get_ns();
	ret = step_check(c, ops->reset(c));
	ns = ktime_get_ns() - t0;
	if (report) {
		egpuhp_event_reset(c->pdev, EGPUHP_EV_RESET_STEP_END,
				   ops->method, i + 1, ns, ret);
		pci_info(c->pdev, "egpuhp reset step %u/%u (%s): %d in %llu us\n",
			 i + 1, p->seq.n, ops->name, ret, ns / 1000);
	}
	return ret;
}

/*
 * The steps inside the frame: other functions on the bus locked and
 * prepared when a step resets the whole bus, @pdev's config space saved
 * and restored unless the kernel's reset path (@locked) does that.  Once
 * for the whole sequence, not per step: no step needs the device's config
 * space back to run (they act on the upstream port, or on the PM
 * registers, which config cycles reach whatever a reset cleared), and the
 * drivers' reset_prepare()/reset_done() bracket the time the device is
 * unusable, which is the whole sequence.
 */
static int run_plan(struct reset_ctx *c, const struct reset_plan *p,
		    bool report, bool locked)
{
	unsigned int i;
	int ret = 0;

	if (p->whole_bus && lock_siblings(c)) {
		unlock_siblings(c, false);
		return c->err;
	}
	if (!locked)
		prepare(c->pdev);
	for (i = 0; i < p->seq.n && !ret; i++)
		ret = run_step(c, p, i, report);
	if (!locked)
		done(c->pdev);
	unlock_siblings(c, true);
	return ret;
}

/**
 * egpuhp_reset_run() - reset a PCI function with a method
 * @pdev: the function
 * @method: enum egpuhp_reset_method; EGPUHP_RESET_EGPUHP runs the
 *          function's sequence (egpuhp_quirk_reset_seq()), EGPUHP_RESET_AUTO
 *          the kernel's own reset
 * @locked: the caller holds the device lock and saves and restores the
 *          config space (the kernel's reset path)
 * @via_hook: the reset came through the kernel's reset path (the reset
 *            hook); whole-bus steps are refused there while another
 *            function on the bus has a driver
 * @extack: for the reason of a failure, or NULL
 * @duration_ns: set to how long the reset took, 0 if it did not run
 *
 * Sends the begin and end events, and the step events of a sequence.  A
 * slot found empty after the reset has its functions removed from a work
 * item, so that a cable pulled mid-reset still ends in a removal.
 *
 * Context: process context; sleeps for the reset.
 * Return: 0, or a negative errno (with an extack message where @extack is
 * given).
 */
int egpuhp_reset_run(struct pci_dev *pdev, u32 method, bool locked,
		     bool via_hook, struct netlink_ext_ack *extack,
		     u64 *duration_ns)
{
	struct reset_ctx c = { .pdev = pdev, .via_hook = via_hook };
	bool report_steps = method == EGPUHP_RESET_EGPUHP;
	unsigned int failed = 0;
	struct reset_plan p;
	u64 t0;
	int ret;

	*duration_ns = 0;
	if (method == EGPUHP_RESET_AUTO && !locked)
		return run_auto(pdev, duration_ns, extack);
	ret = resolve(pdev, method, via_hook, &p, extack);
	if (ret)
		return ret;

	if (!locked)
		pm_runtime_get_sync(&pdev->dev);
	lock_bridge(&c, locked);
	if (!locked)
		pci_dev_lock(pdev);
	ret = plan_probe(&c, &p, &failed);
	if (ret) {
		egpuhp_extack_msg(extack, c.why ? c.why : "method unavailable");
		if (via_hook)
			pci_info(pdev, "%s reset unavailable: %s\n",
				 p.ops[failed]->name, c.why ? c.why : "?");
		goto out_unlock;
	}

	egpuhp_event_reset(pdev, EGPUHP_EV_RESET_BEGIN, method, 0, 0, 0);
	t0 = ktime_get_ns();
	ret = run_plan(&c, &p, report_steps, locked);
	*duration_ns = ktime_get_ns() - t0;
	egpuhp_event_reset(pdev, EGPUHP_EV_RESET_END, method, 0, *duration_ns,
			   ret);
	pci_info(pdev, "%s reset%s: %d in %llu us%s%s\n",
		 egpuhp_reset_method_name(method),
		 via_hook ? " (kernel reset path)" : "", ret,
		 *duration_ns / 1000, c.why ? ": " : "", c.why ? c.why : "");
	if (ret)
		egpuhp_extack_msg(extack, c.why ? c.why : "reset failed");
	queue_gone(&c);
out_unlock:
	if (!locked)
		pci_dev_unlock(pdev);
	unlock_bridge(&c);
	if (!locked)
		pm_runtime_put(&pdev->dev);
	return ret;
}

/**
 * egpuhp_reset_init() - create the workqueue of removals after a reset
 *
 * Return: 0, or -ENOMEM.
 */
int egpuhp_reset_init(void)
{
	reset_wq = alloc_workqueue("egpuhp_reset", WQ_UNBOUND, 1);
	return reset_wq ? 0 : -ENOMEM;
}

/**
 * egpuhp_reset_exit() - run the removals still queued; free the workqueue
 */
void egpuhp_reset_exit(void)
{
	/* runs the removals still queued */
	if (reset_wq)
		destroy_workqueue(reset_wq);
	reset_wq = NULL;
}
