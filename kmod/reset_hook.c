// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: make egpuhp's reset the kernel's "device_specific" reset method
 * of the devices whose quirks ask for it, so that the standard ways to
 * reset a function (/sys/bus/pci/devices/X/reset, VFIO, QEMU) run it.
 *
 * How: the kernel calls pci_dev_specific_reset(dev, probe) for the
 * "device_specific" method (drivers/pci/quirks.c; a module cannot add to
 * its table).  egpuhp registers an ftrace_ops with IPMODIFY on that
 * function, found by name through ftrace_set_filter() - no
 * kallsyms_lookup_name() or kprobe address trick is needed.  For a device
 * egpuhp hooked, the callback points the instruction pointer at
 * hook_reset(), which has the same signature; every other device runs the
 * kernel's function untouched.  The quirk code puts "device_specific"
 * first in the device's reset_methods[] (pdev->reset_methods[], the order
 * the reset_method sysfs file shows), so users no longer have to write
 * it there (vendor-reset's silent no-op since 5.15).
 *
 * Where it cannot be installed (kernel without DYNAMIC_FTRACE_WITH_REGS,
 * another module already modifying that function, e.g. vendor-reset, or
 * reset_hook=0) the module logs it, GET_INFO reports it
 * (EGPUHP_A_RESET_HOOK, EGPUHP_A_RESET_HOOK_MSG, shown by egpuctl), and
 * EGPUHP_CMD_RESET remains the way to run egpuhp's reset.
 *
 * The IPMODIFY hook is exclusive (one per function): it is installed only
 * while some quirk entry has the egpuhp reset (egpuhp_reset_hook_want()),
 * so that by default vendor-reset or a livepatch of that function can
 * have it.  When egpuhp needs it and someone else holds it, GET_INFO says
 * so; ftrace keeps no owner that a module could name, the holder is the
 * line of pci_dev_specific_reset in /sys/kernel/tracing/enabled_functions.
 *
 * Unload: unregister_ftrace_function() guarantees no callback runs after
 * it returns.  A reset already redirected holds a module reference taken
 * in the callback, so unload cannot begin while it runs: delete_module()
 * fails with EWOULDBLOCK (try_stop_module(), kernel/module/main.c).  What
 * runs after its module_put() is the return from hook_reset().  While
 * the hook is registered, unload's unregister_ftrace_function() waits for
 * that too: hook_ops lives in module data, so ftrace treats it as dynamic
 * and waits in synchronize_rcu_tasks() until every task has scheduled
 * voluntarily or entered user space (ftrace_shutdown()).  If the hook was
 * removed while the reset ran (its last quirk entry deleted), nothing of
 * ftrace's waits at unload, and free_module()'s synchronize_rcu() covers
 * that return only on a kernel without full preemption: so once any reset
 * was redirected, egpuhp_reset_hook_exit() waits for a tasks-RCU grace
 * period itself.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/ftrace.h>
#include <linux/xarray.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include "egpuhp.h"
#include "quirks.h"

static bool reset_hook_param = true;
module_param_named(reset_hook, reset_hook_param, bool, 0444);
MODULE_PARM_DESC(reset_hook,
		 "Route the kernel's device_specific reset of quirked devices to egpuhp (default: on)");

static const char hook_symbol[] = "pci_dev_specific_reset";

/* hook_state, hook_msg and the installation */
static DEFINE_MUTEX(hook_mutex);
static u32 hook_state = EGPUHP_RESET_HOOK_UNAVAILABLE;
static char hook_msg[160] = "not initialised";
/* hooked devices: key = domain:bus:devfn, value = the struct pci_dev * */
static DEFINE_XARRAY(hook_devs);
/* set once a reset was redirected: unload must wait for its return */
static bool hook_redirected;

static unsigned long hook_key(struct pci_dev *pdev)
{
	return ((unsigned long)pci_domain_nr(pdev->bus) << 16) |
	       pci_dev_id(pdev);
}

/**
 * egpuhp_reset_hook_state() - the state of the reset hook, for logs
 * @msg: set to the reason, or NULL
 *
 * Return: enum egpuhp_reset_hook.
 */
u32 egpuhp_reset_hook_state(const char **msg)
{
	if (msg)
		*msg = hook_msg;
	return READ_ONCE(hook_state);
}

/**
 * egpuhp_quirks_put_info() - put the reset hook's state into a GET_INFO reply
 * @skb: the reply
 *
 * Puts EGPUHP_A_RESET_HOOK and EGPUHP_A_RESET_HOOK_MSG.
 *
 * Return: 0, or -EMSGSIZE.
 */
int egpuhp_quirks_put_info(struct sk_buff *skb)
{
	int ret = 0;

	mutex_lock(&hook_mutex);
	if (nla_put_u32(skb, EGPUHP_A_RESET_HOOK, hook_state) ||
	    nla_put_string(skb, EGPUHP_A_RESET_HOOK_MSG, hook_msg))
		ret = -EMSGSIZE;
	mutex_unlock(&hook_mutex);
	return ret;
}

/**
 * egpuhp_reset_hook_add() - route a function's device_specific reset to egpuhp
 * @pdev: the function whose quirks have the egpuhp reset
 *
 * Return: true if recorded; false if the hook is not installed or memory
 * ran out (nothing is recorded then).
 */
bool egpuhp_reset_hook_add(struct pci_dev *pdev)
{
	if (READ_ONCE(hook_state) != EGPUHP_RESET_HOOK_ACTIVE)
		return false;
	return !xa_err(xa_store(&hook_devs, hook_key(pdev), pdev, GFP_KERNEL));
}

/**
 * egpuhp_reset_hook_forget() - stop routing a function's device_specific reset
 * @pdev: the function; nothing happens if it is not recorded
 */
void egpuhp_reset_hook_forget(struct pci_dev *pdev)
{
	xa_cmpxchg(&hook_devs, hook_key(pdev), pdev, NULL, GFP_KERNEL);
}

#ifdef CONFIG_DYNAMIC_FTRACE_WITH_REGS

/*
 * Runs instead of pci_dev_specific_reset() for hooked devices: the reset
 * sequence of the device's quirks.
 */
static int hook_reset(struct pci_dev *pdev, bool probe)
{
	u64 ns;
	int ret;

	if (xa_load(&hook_devs, hook_key(pdev)) != pdev)
		ret = -ENOTTY;	/* unhooked meanwhile: method unavailable */
	else if (probe)
		ret = egpuhp_reset_probe(pdev, EGPUHP_RESET_EGPUHP);
	else
		ret = egpuhp_reset_run(pdev, EGPUHP_RESET_EGPUHP, true, true,
				       NULL, &ns);
	module_put(THIS_MODULE);
	return ret;
}

static void notrace hook_ftrace(unsigned long ip, unsigned long parent_ip,
				struct ftrace_ops *ops,
				struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct pci_dev *pdev;

	if (!regs)
		return;
	pdev = (struct pci_dev *)regs_get_kernel_argument(regs, 0);
	if (!pdev || xa_load(&hook_devs, hook_key(pdev)) != pdev)
		return;
	if (!try_module_get(THIS_MODULE))
		return;
	WRITE_ONCE(hook_redirected, true);
	instruction_pointer_set(regs, (unsigned long)hook_reset);
}

static struct ftrace_ops hook_ops = {
	.func = hook_ftrace,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY |
		 FTRACE_OPS_FL_RECURSION | FTRACE_OPS_FL_PERMANENT,
};

static bool hook_registered;

static int hook_install(void)
{
	int ret;

	ret = ftrace_set_filter(&hook_ops, (unsigned char *)hook_symbol,
				strlen(hook_symbol), 1);
	if (ret) {
		snprintf(hook_msg, sizeof(hook_msg),
			 "%s is not traceable (ftrace_set_filter: %d)",
			 hook_symbol, ret);
		return ret;
	}
	ret = register_ftrace_function(&hook_ops);
	if (ret) {
		/* the holder: its line in tracing/enabled_functions */
		snprintf(hook_msg, sizeof(hook_msg),
			 ret == -EBUSY ?
			 "%s held by another ftrace user, or ftrace off: %d" :
			 "registering the ftrace hook on %s failed: %d",
			 hook_symbol, ret);
		ftrace_set_filter(&hook_ops, NULL, 0, 1);
		return ret;
	}
	hook_registered = true;
	snprintf(hook_msg, sizeof(hook_msg),
		 "ftrace IPMODIFY on %s: device_specific reset of quirked devices runs egpuhp's reset",
		 hook_symbol);
	return 0;
}

static void hook_remove(void)
{
	if (!hook_registered)
		return;
	unregister_ftrace_function(&hook_ops);
	ftrace_set_filter(&hook_ops, NULL, 0, 1);
	hook_registered = false;
}

#else /* !CONFIG_DYNAMIC_FTRACE_WITH_REGS */

static int hook_install(void)
{
	snprintf(hook_msg, sizeof(hook_msg),
		 "kernel built without DYNAMIC_FTRACE_WITH_REGS");
	return -EOPNOTSUPP;
}

static void hook_remove(void)
{
}

#endif

/**
 * egpuhp_reset_hook_init() - set the hook's initial state
 *
 * The hook itself is installed only once an entry needs it
 * (egpuhp_reset_hook_want()), or never with reset_hook=0.
 *
 * Return: 0.
 */
int egpuhp_reset_hook_init(void)
{
	mutex_lock(&hook_mutex);
	if (!reset_hook_param) {
		hook_state = EGPUHP_RESET_HOOK_DISABLED;
		strscpy(hook_msg, "disabled by module parameter reset_hook=0",
			sizeof(hook_msg));
	} else {
		hook_state = EGPUHP_RESET_HOOK_IDLE;
		strscpy(hook_msg, "not installed: no quirk entry has the egpuhp reset",
			sizeof(hook_msg));
	}
	mutex_unlock(&hook_mutex);
	return 0;
}

/**
 * egpuhp_reset_hook_want() - install or remove the reset hook
 * @want: some quirk entry has the egpuhp reset
 *
 * The IPMODIFY ftrace hook is exclusive, so it is held only while it is
 * used, and vendor-reset or a livepatch of the function can have it
 * otherwise.  Where it cannot be installed the reason is logged and kept
 * for GET_INFO.
 */
void egpuhp_reset_hook_want(bool want)
{
	mutex_lock(&hook_mutex);
	if (hook_state == EGPUHP_RESET_HOOK_DISABLED) {
		if (want)
			pr_warn("reset hook unavailable: %s; egpuhp resets only via EGPUHP_CMD_RESET (egpuctl reset)\n",
				hook_msg);
	} else if (want && hook_state != EGPUHP_RESET_HOOK_ACTIVE) {
		if (hook_install()) {
			WRITE_ONCE(hook_state, EGPUHP_RESET_HOOK_UNAVAILABLE);
			pr_warn("reset hook unavailable: %s; egpuhp resets only via EGPUHP_CMD_RESET (egpuctl reset)\n",
				hook_msg);
		} else {
			WRITE_ONCE(hook_state, EGPUHP_RESET_HOOK_ACTIVE);
			pr_info("reset hook: %s\n", hook_msg);
		}
	} else if (!want && hook_state != EGPUHP_RESET_HOOK_IDLE) {
		hook_remove();
		WRITE_ONCE(hook_state, EGPUHP_RESET_HOOK_IDLE);
		strscpy(hook_msg, "not installed: no quirk entry has the egpuhp reset",
			sizeof(hook_msg));
		pr_info("reset hook removed: no quirk entry has the egpuhp reset\n");
	}
	mutex_unlock(&hook_mutex);
}

/**
 * egpuhp_reset_hook_exit() - remove the reset hook and forget every function
 *
 * No callback runs once it returns (see the top of the file for a reset
 * already redirected).
 */
void egpuhp_reset_hook_exit(void)
{
	mutex_lock(&hook_mutex);
	hook_remove();
	hook_state = EGPUHP_RESET_HOOK_UNAVAILABLE;
	strscpy(hook_msg, "module unloading", sizeof(hook_msg));
	mutex_unlock(&hook_mutex);
	/*
	 * A redirected reset may still be returning from hook_reset() after
	 * its module_put(), in our text: every task must have passed a
	 * voluntary schedule or user space before that text goes.
	 */
	if (READ_ONCE(hook_redirected))
		synchronize_rcu_tasks();
	xa_destroy(&hook_devs);
}
