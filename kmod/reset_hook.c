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
 * Unload: unregister_ftrace_function() guarantees no callback runs after
 * it returns; a reset already redirected holds a module reference (taken
 * in the callback), so the module cannot go away under it.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/ftrace.h>
#include <linux/xarray.h>
#include <linux/ptrace.h>
#include "egpuhp.h"
#include "quirks.h"

static bool reset_hook_param = true;
module_param_named(reset_hook, reset_hook_param, bool, 0444);
MODULE_PARM_DESC(reset_hook,
		 "Route the kernel's device_specific reset of quirked devices to egpuhp (default: on)");

static const char hook_symbol[] = "pci_dev_specific_reset";

static u32 hook_state = EGPUHP_RESET_HOOK_UNAVAILABLE;
static char hook_msg[128] = "not initialised";
/* hooked devices: key = domain:bus:devfn, value = the struct pci_dev * */
static DEFINE_XARRAY(hook_devs);

static unsigned long hook_key(struct pci_dev *pdev)
{
	return ((unsigned long)pci_domain_nr(pdev->bus) << 16) |
	       pci_dev_id(pdev);
}

u32 egpuhp_reset_hook_state(const char **msg)
{
	if (msg)
		*msg = hook_msg;
	return hook_state;
}

int egpuhp_quirks_put_info(struct sk_buff *skb)
{
	if (nla_put_u32(skb, EGPUHP_A_RESET_HOOK, hook_state) ||
	    nla_put_string(skb, EGPUHP_A_RESET_HOOK_MSG, hook_msg))
		return -EMSGSIZE;
	return 0;
}

bool egpuhp_reset_hook_add(struct pci_dev *pdev)
{
	if (hook_state != EGPUHP_RESET_HOOK_ACTIVE)
		return false;
	return !xa_err(xa_store(&hook_devs, hook_key(pdev), pdev, GFP_KERNEL));
}

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
		snprintf(hook_msg, sizeof(hook_msg),
			 ret == -EBUSY ?
			 "%s in use (vendor-reset? livepatch?) or ftrace_enabled=0: %d" :
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

int egpuhp_reset_hook_init(void)
{
	if (!reset_hook_param) {
		hook_state = EGPUHP_RESET_HOOK_DISABLED;
		strscpy(hook_msg, "disabled by module parameter reset_hook=0",
			sizeof(hook_msg));
	} else if (hook_install()) {
		hook_state = EGPUHP_RESET_HOOK_UNAVAILABLE;
	} else {
		hook_state = EGPUHP_RESET_HOOK_ACTIVE;
		pr_info("egpuhp: reset hook: %s\n", hook_msg);
		return 0;
	}
	pr_warn("egpuhp: reset hook unavailable: %s; egpuhp resets only via EGPUHP_CMD_RESET (egpuctl reset)\n",
		hook_msg);
	return 0;
}

void egpuhp_reset_hook_exit(void)
{
	hook_remove();
	hook_state = EGPUHP_RESET_HOOK_UNAVAILABLE;
	strscpy(hook_msg, "module unloading", sizeof(hook_msg));
	xa_destroy(&hook_devs);
}
