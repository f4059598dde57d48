// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: external GPU hot-plug tracking and events.
 *
 * Module entry points and parameters.  Start-up registers the netlink
 * family before any hook can fire (the events of functions present at load
 * get their numbers), but the family refuses commands until everything is
 * set up.  Tear-down unregisters the family first: that waits for every
 * running command (generic netlink pins the module only for dumps) and
 * stops events, so nothing a command uses is torn down under it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>

#include "egpuhp.h"
#include "quirks.h"

bool egpuhp_track_hotplug;
unsigned int egpuhp_watchdog_ms;
unsigned int egpuhp_watchdog_slow_us;

static int watchdog_ms_set(const char *val, const struct kernel_param *kp)
{
	unsigned int ms;
	int ret;

	ret = kstrtouint(val, 0, &ms);
	if (ret)
		return ret;
	/* a presence check more often is pointless, the range is SET_CONFIG's */
	if (ms && (ms < EGPUHP_WATCHDOG_MS_MIN || ms > EGPUHP_WATCHDOG_MS_MAX))
		return -EINVAL;
	WRITE_ONCE(egpuhp_watchdog_ms, ms);
	egpuhp_watchdog_reconfigure();
	return 0;
}

static const struct kernel_param_ops watchdog_ms_ops = {
	.set = watchdog_ms_set,
	.get = param_get_uint,
};

static int watchdog_slow_us_set(const char *val, const struct kernel_param *kp)
{
	unsigned int us;
	int ret;

	ret = kstrtouint(val, 0, &us);
	if (ret)
		return ret;
	/* the range of SET_CONFIG's policy */
	if (us > EGPUHP_WATCHDOG_SLOW_US_MAX)
		return -EINVAL;
	WRITE_ONCE(egpuhp_watchdog_slow_us, us);
	return 0;
}

static const struct kernel_param_ops watchdog_slow_us_ops = {
	.set = watchdog_slow_us_set,
	.get = param_get_uint,
};

module_param_named(track_hotplug, egpuhp_track_hotplug, bool, 0444);
MODULE_PARM_DESC(track_hotplug,
		 "Also track every function below a hotplug-capable PCIe port (default: off; change at run time with EGPUHP_CMD_SET_CONFIG)");
module_param_cb(watchdog_ms, &watchdog_ms_ops, &egpuhp_watchdog_ms, 0644);
MODULE_PARM_DESC(watchdog_ms,
		 "Presence check period of tracked GPUs in ms, 0 = off (default: 0, else 10..3600000)");
module_param_cb(watchdog_slow_us, &watchdog_slow_us_ops,
		&egpuhp_watchdog_slow_us, 0644);
MODULE_PARM_DESC(watchdog_slow_us,
		 "A presence check slower than this many us is reported (EGPUHP_EV_PCI_SLOW), 0 = off (default: 0, at most 1000000)");

static int __init egpuhp_init(void)
{
	int ret;

	ret = egpuhp_netlink_init();
	if (ret)
		return ret;
	ret = egpuhp_quirks_init();
	if (ret)
		goto err_netlink;
	/*
	 * Routers first: functions already present at load are linked to
	 * their router (EGPUHP_DEV_A_ROUTER_UID) only if it is known by then.
	 */
	ret = egpuhp_tb_watch_init();
	if (ret)
		goto err_quirks;
	ret = egpuhp_pci_watch_init();
	if (ret)
		goto err_tb;
	ret = egpuhp_watchdog_init();
	if (ret)
		goto err_pci;
	egpuhp_netlink_ready();
	pr_info("loaded, version %s, protocol %d\n",
		EGPUHP_MODULE_VERSION, EGPUHP_GENL_VERSION);
	return 0;

err_pci:
	egpuhp_pci_watch_exit();
err_tb:
	egpuhp_tb_watch_exit();
err_quirks:
	egpuhp_quirks_exit();
err_netlink:
	/* commands were refused so far: none uses what was torn down above */
	egpuhp_netlink_exit();
	egpuhp_router_clear();
	egpuhp_devtab_clear();
	return ret;
}

static void __exit egpuhp_exit(void)
{
	egpuhp_netlink_exit();
	egpuhp_watchdog_exit();
	egpuhp_pci_watch_exit();
	egpuhp_tb_watch_exit();
	egpuhp_quirks_exit();
	egpuhp_router_clear();
	egpuhp_devtab_clear();
}

module_init(egpuhp_init);
module_exit(egpuhp_exit);

MODULE_DESCRIPTION("External GPU hot-plug tracking and generic netlink events");
MODULE_LICENSE("GPL");
MODULE_VERSION(EGPUHP_MODULE_VERSION);
