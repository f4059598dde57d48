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
 * restored around the reset, as the kernel's own bus reset does.  When one
 * is busy the reset is refused (-EAGAIN) rather than waiting: the kernel's
 * reset path holds the device lock of the function it resets, and waiting
 * on a sibling could deadlock against a reset of that sibling.  A function that is
 * itself a bridge (has devices below it) is refused: resetting its bus
 * would reset a whole hierarchy.
 *
 * Hotplug ports: a bus reset, retrain or power cycle drops the link,
 * which pciehp would take for a removal.  Like pciehp's own reset_slot(),
 * egpuhp masks the presence-detect and link-state-changed events in Slot
 * Control for the duration, then clears the status bits and unmasks.
 *
 * Every run emits EGPUHP_EV_RESET_BEGIN and EGPUHP_EV_RESET_END (method,
 * duration, result); every step of an EGPUHP_RESET_EGPUHP sequence also
 * EGPUHP_EV_RESET_STEP_BEGIN and _END in between (its method, its number,
 * duration, result).
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/pm_runtime.h>
#include "egpuhp.h"
#include "quirks.h"

static unsigned int reset_settle_ms = 100;
module_param(reset_settle_ms, uint, 0644);
MODULE_PARM_DESC(reset_settle_ms,
		 "Extra settle time after an egpuhp bus reset or slot power-on, in ms (default 100)");

#define MAX_SIBLINGS	8

struct reset_ctx {
	struct pci_dev *pdev;
	struct pci_dev *bridge;		/* upstream port, may be NULL */
	struct pci_dev *sib[MAX_SIBLINGS];
	unsigned int nsib;
	int err;
	const char *why;
	u16 sltctl;			/* saved Slot Control */
	bool masked;
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

static void hp_mask(struct reset_ctx *c)
{
	struct pci_dev *br = c->bridge;

	if (!br || !br->is_hotplug_bridge || !pci_is_pcie(br))
		return;
	if (pcie_capability_read_word(br, PCI_EXP_SLTCTL, &c->sltctl))
		return;
	pcie_capability_clear_word(br, PCI_EXP_SLTCTL,
				   PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_DLLSCE);
	c->masked = true;
}

static void hp_unmask(struct reset_ctx *c)
{
	struct pci_dev *br = c->bridge;

	if (!c->masked)
		return;
	pcie_capability_write_word(br, PCI_EXP_SLTSTA,
				   PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
	pcie_capability_write_word(br, PCI_EXP_SLTCTL, c->sltctl);
	c->masked = false;
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

static int bus_reset(struct reset_ctx *c)
{
	int ret;

	hp_mask(c);
	ret = pci_bridge_secondary_bus_reset(c->bridge);
	msleep(reset_settle_ms);
	if (!wait_present(c->pdev, 1000) && !ret)
		ret = -ETIMEDOUT;
	hp_unmask(c);
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

static int retrain_reset(struct reset_ctx *c)
{
	unsigned int waited = 0;
	u16 sta;
	int ret = 0;

	hp_mask(c);
	pcie_capability_set_word(c->bridge, PCI_EXP_LNKCTL, PCI_EXP_LNKCTL_RL);
	for (;;) {
		if (pcie_capability_read_word(c->bridge, PCI_EXP_LNKSTA, &sta)) {
			ret = -EIO;
			break;
		}
		if (!(sta & PCI_EXP_LNKSTA_LT))
			break;
		if (waited >= 1000) {
			ret = -ETIMEDOUT;
			break;
		}
		usleep_range(10000, 11000);
		waited += 10;
	}
	if (!wait_present(c->pdev, 1000) && !ret)
		ret = -ETIMEDOUT;
	hp_unmask(c);
	return ret;
}

static int pm_probe(struct reset_ctx *c)
{
	if (!c->pdev->pm_cap) {
		c->why = "device has no PM capability";
		return -ENOTTY;
	}
	if (c->pdev->dev_flags & PCI_DEV_FLAGS_NO_PM_RESET) {
		c->why = "PM reset disabled for this device (quirk)";
		return -ENOTTY;
	}
	if (c->pdev->current_state != PCI_D0) {
		c->why = "device is not in D0";
		return -EINVAL;
	}
	return 0;
}

static int pm_reset(struct reset_ctx *c)
{
	struct pci_dev *pdev = c->pdev;
	unsigned int delay = max(pdev->d3hot_delay, 10U);
	u16 csr;

	pci_read_config_word(pdev, pdev->pm_cap + PCI_PM_CTRL, &csr);
	csr &= ~PCI_PM_CTRL_STATE_MASK;
	pci_write_config_word(pdev, pdev->pm_cap + PCI_PM_CTRL,
			      csr | (__force u16)PCI_D3hot);
	msleep(delay);
	pci_write_config_word(pdev, pdev->pm_cap + PCI_PM_CTRL,
			      csr | (__force u16)PCI_D0);
	msleep(delay);
	return wait_present(pdev, 1000) ? 0 : -ETIMEDOUT;
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
	return 0;
}

static int slot_reset(struct reset_ctx *c)
{
	unsigned int waited = 0;
	int ret = 0;
	u16 sta;

	hp_mask(c);
	/* only the power controller: the power indicator is left alone */
	pcie_capability_clear_and_set_word(c->bridge, PCI_EXP_SLTCTL,
					   PCI_EXP_SLTCTL_PCC,
					   PCI_EXP_SLTCTL_PWR_OFF);
	msleep(1000);	/* PCIe: power stays off at least 1 s */
	pcie_capability_clear_and_set_word(c->bridge, PCI_EXP_SLTCTL,
					   PCI_EXP_SLTCTL_PCC,
					   PCI_EXP_SLTCTL_PWR_ON);
	if (c->bridge->link_active_reporting) {
		for (;;) {
			pcie_capability_read_word(c->bridge, PCI_EXP_LNKSTA,
						  &sta);
			if (sta & PCI_EXP_LNKSTA_DLLLA)
				break;
			if (waited >= 1000) {
				ret = -ETIMEDOUT;
				break;
			}
			msleep(20);
			waited += 20;
		}
	}
	msleep(100 + reset_settle_ms);	/* 100 ms after link up (PCIe r6 6.6.1) */
	if (!wait_present(c->pdev, 1000) && !ret)
		ret = -ETIMEDOUT;
	hp_unmask(c);
	return ret;
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

static void prepare(struct pci_dev *pdev)
{
	const struct pci_error_handlers *eh = NULL;

	if (pdev->dev.driver)
		eh = to_pci_driver(pdev->dev.driver)->err_handler;
	if (eh && eh->reset_prepare)
		eh->reset_prepare(pdev);
	pci_save_state(pdev);
	/* as the kernel does: no DMA, no interrupts during the reset */
	pci_write_config_word(pdev, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE);
}

static void done(struct pci_dev *pdev)
{
	const struct pci_error_handlers *eh = NULL;

	pci_restore_state(pdev);
	if (pdev->dev.driver)
		eh = to_pci_driver(pdev->dev.driver)->err_handler;
	if (eh && eh->reset_done)
		eh->reset_done(pdev);
}

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
	c->sib[c->nsib++] = pci_dev_get(dev);
	prepare(dev);
	return 0;
}

/* Also on the error path: prepare() disabled them, done() undoes it. */
static void unlock_siblings(struct reset_ctx *c)
{
	while (c->nsib) {
		struct pci_dev *dev = c->sib[--c->nsib];

		done(dev);
		pci_dev_unlock(dev);
		pci_dev_put(dev);
	}
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
	ret = ops->reset(c);
	ns = ktime_get_ns() - t0;
	if (report) {
		egpuhp_event_reset(c->pdev, EGPUHP_EV_RESET_STEP_END,
				   ops->method, i + 1, ns, ret);
		pci_info(c->pdev, "egpuhp: egpuhp reset step %u/%u (%s): %d in %llu us\n",
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

	if (p->whole_bus) {
		pci_walk_bus(c->pdev->bus, lock_sibling, c);
		if (c->err) {
			unlock_siblings(c);
			return c->err;
		}
	}
	if (!locked)
		prepare(c->pdev);
	for (i = 0; i < p->seq.n && !ret; i++)
		ret = run_step(c, p, i, report);
	if (!locked)
		done(c->pdev);
	unlock_siblings(c);
	return ret;
}

int egpuhp_reset_run(struct pci_dev *pdev, u32 method, bool locked,
		     bool via_hook, struct netlink_ext_ack *extack,
		     u64 *duration_ns)
{
	struct reset_ctx c = { .pdev = pdev };
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

	if (!locked) {
		pm_runtime_get_sync(&pdev->dev);
		pci_dev_lock(pdev);
	}
	ret = plan_probe(&c, &p, &failed);
	if (ret) {
		egpuhp_extack_msg(extack, c.why ? c.why : "method unavailable");
		if (via_hook)
			pci_info(pdev, "egpuhp: %s reset unavailable: %s\n",
				 p.ops[failed]->name, c.why ? c.why : "?");
		goto out_unlock;
	}

	egpuhp_event_reset(pdev, EGPUHP_EV_RESET_BEGIN, method, 0, 0, 0);
	t0 = ktime_get_ns();
	ret = run_plan(&c, &p, report_steps, locked);
	*duration_ns = ktime_get_ns() - t0;
	egpuhp_event_reset(pdev, EGPUHP_EV_RESET_END, method, 0, *duration_ns,
			   ret);
	pci_info(pdev, "egpuhp: %s reset%s: %d in %llu us%s%s\n",
		 egpuhp_reset_method_name(method),
		 via_hook ? " (kernel reset path)" : "", ret,
		 *duration_ns / 1000, c.why ? ": " : "", c.why ? c.why : "");
	if (ret)
		egpuhp_extack_msg(extack, c.why ? c.why : "reset failed");
out_unlock:
	if (!locked) {
		pci_dev_unlock(pdev);
		pm_runtime_put(&pdev->dev);
	}
	return ret;
}
