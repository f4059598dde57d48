/* SPDX-License-Identifier: GPL-2.0 */
/*
 * egpuhp: every difference between the kernel APIs egpuhp.ko builds
 * against (6.1 and 6.12) is absorbed here, nowhere else.
 */
#ifndef _EGPUHP_COMPAT_H
#define _EGPUHP_COMPAT_H

#include <linux/version.h>
#include <linux/device.h>
#include <linux/pci.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>

/*
 * pci_dev_is_disconnected() became a public inline only around 6.9 (and
 * was backported to some stable trees, Debian's 6.1 among them), so it
 * cannot be relied on by name.  It is, in every version, a read of
 * error_state; do the same under our own name.
 */
static inline bool egpuhp_pci_disconnected(const struct pci_dev *pdev)
{
	return READ_ONCE(pdev->error_state) == pci_channel_io_perm_failure;
}

/*
 * struct bus_type became const in the driver core API (6.3/6.4):
 * tb_watch.c keeps the Thunderbolt bus pointer in a variable declared
 * with the type of device_driver.bus itself, so it passes to
 * bus_register_notifier()/bus_for_each_dev() in both worlds.
 *
 * Generic netlink needs no shim: egpuhp uses struct genl_ops with
 * per-command policies (valid in 6.1 and 6.12; 6.2's genl_split_ops are
 * not needed), resv_start_op = 0 (strict checks for every command, 6.1+),
 * GENL_REQ_ATTR_CHECK() (include/net/genetlink.h of 6.1 already has
 * it), and parses no dump request attributes (whose location moved in
 * 6.2).
 */

/* ---- 7.2 (Debian sid, the "newest" test kernels) ---- */

/*
 * Differences that need no shim:
 * - system_wq is a deprecated alias of system_percpu_wq from 6.17 on, and
 *   7.2 logs work queued on it; 7.2 also warns about alloc_workqueue()
 *   without WQ_UNBOUND or WQ_PERCPU.  egpuhp queues only on workqueues of
 *   its own, all WQ_UNBOUND, which every kernel we build for has.
 * - bus_type.dev_groups is "const struct attribute_group *const *" on 7.2
 *   (plain "**" before): quirks.c walks it through a pointer of the 7.2
 *   type, to which the older type converts implicitly.
 * - hex2bin() is declared in <linux/hex.h> (6.2+, no longer pulled in by
 *   <linux/kernel.h> on 7.2); egpuhp.ko does not use it, the dock's tbsim.ko
 *   includes that header by version itself.
 */

/* ---- section of engineer "quirks" (quirks.c, reset*.c) ---- */

/*
 * ASPM: egpuhp never calls pci_enable_link_state() to undo a quirk.  It is
 * not the inverse of pci_disable_link_state() on any version: it
 * overwrites the link's aspm_default/clkpm_default (the BIOS defaults)
 * and leaves the aspm_disable bits pci_disable_link_state() set, which
 * no exported function clears (drivers/pci/pcie/aspm.c, 6.12).  quirks.c
 * documents what that leaves behind.
 */

/*
 * pci_dev_set_disconnected() (drivers/pci/pci.h) is private in 6.1 and
 * 6.12; what it does to the device is this write of error_state, which
 * pci_channel_offline() and pci_dev_is_disconnected() read.  Used where
 * egpuhp finishes a surprise removal pciehp could not see (reset.c).
 */
static inline void egpuhp_pci_set_disconnected(struct pci_dev *pdev)
{
	xchg(&pdev->error_state, pci_channel_io_perm_failure);
}

/*
 * ftrace IP redirection (reset_hook.c): 6.1 and 6.12 both have
 * ftrace_get_regs() with FTRACE_OPS_FL_SAVE_REGS, so no difference is
 * absorbed here; the hook needs CONFIG_DYNAMIC_FTRACE_WITH_REGS.
 */

/* ---- end of section "quirks" ---- */

/* ---- section of engineer "kmod-core" (netlink.c, watchdog.c) ---- */

#include <linux/pm_runtime.h>

/*
 * The operation a generic netlink family's pre_doit() is given: a
 * struct genl_ops up to 6.1, a struct genl_split_ops from 6.2 on.  Both
 * carry the op's internal_flags, which is all netlink.c reads.
 */
#if KERNEL_VERSION(6, 2, 0) <= LINUX_VERSION_CODE
#define egpuhp_genl_doit_ops genl_split_ops
#else
#define egpuhp_genl_doit_ops genl_ops
#endif

/*
 * Take a runtime PM usage reference only if @dev is runtime-active (1),
 * else 0; -EINVAL with runtime PM disabled.  6.9 dropped the
 * ign_usage_count argument, making "whatever the usage count" the only
 * behaviour.
 */
static inline int egpuhp_pm_runtime_get_if_active(struct device *dev)
{
#if KERNEL_VERSION(6, 9, 0) <= LINUX_VERSION_CODE
	return pm_runtime_get_if_active(dev);
#else
	return pm_runtime_get_if_active(dev, true);
#endif
}

/* ---- end of section "kmod-core" ---- */

#endif /* _EGPUHP_COMPAT_H */
