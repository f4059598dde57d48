/* SPDX-License-Identifier: GPL-2.0 */
/*
 * egpuhp: per-device reset/power quirks and egpuhp's own resets.
 *
 * This is the interface between the module core (main.c, netlink.c,
 * pci_watch.c) and the quirk/reset files:
 *   quirks.c       the quirk table, matching, applying and undoing
 *   quirk_table.c  built-in entries (each with its public evidence)
 *   quirk_param.c  the "quirks=" module parameter parser
 *   quirk_netlink.c  EGPUHP_CMD_GET_QUIRK / ADD_QUIRK / DEL_QUIRK
 *   reset.c        reset methods and EGPUHP_CMD_RESET
 *   reset_hook.c   makes the egpuhp reset the kernel's "device_specific"
 *                  reset, so /sys/bus/pci/devices/X/reset and VFIO get it
 */
#ifndef _EGPUHP_QUIRKS_H
#define _EGPUHP_QUIRKS_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/pci.h>
#include <linux/stringify.h>
#include <net/genetlink.h>
#include <linux/egpuhp.h>

/* ---- called by the module core ---- */

/* Load: parse the parameter, build the table, install the reset hook. */
int egpuhp_quirks_init(void);
/* Unload: remove the hook, undo every change made to every device. */
void egpuhp_quirks_exit(void);
/*
 * BUS_NOTIFY_ADD_DEVICE (reset methods probed, no driver bound yet) and
 * for every present device at load.  May sleep.
 */
void egpuhp_quirks_device_added(struct pci_dev *pdev);
/* BUS_NOTIFY_DEL_DEVICE: forget the device (nothing to undo, it is gone). */
void egpuhp_quirks_device_removed(struct pci_dev *pdev);
/* EGPUHP_QUIRK_* in effect on @pdev (0 if none). */
u32 egpuhp_quirks_applied(struct pci_dev *pdev);
/* GET_INFO: add EGPUHP_A_RESET_HOOK and EGPUHP_A_RESET_HOOK_MSG. */
int egpuhp_quirks_put_info(struct sk_buff *skb);

/* netlink handlers (listed in the core's op table) */
int egpuhp_nl_get_quirk_dumpit(struct sk_buff *skb,
			       struct netlink_callback *cb);
int egpuhp_nl_add_quirk_doit(struct sk_buff *skb, struct genl_info *info);
int egpuhp_nl_del_quirk_doit(struct sk_buff *skb, struct genl_info *info);
int egpuhp_nl_reset_doit(struct sk_buff *skb, struct genl_info *info);
/* policies of the EGPUHP_A_QUIRK and EGPUHP_A_RESET nests */
extern const struct nla_policy egpuhp_quirk_nl_policy[EGPUHP_QUIRK_A_MAX + 1];
extern const struct nla_policy egpuhp_reset_nl_policy[EGPUHP_RESET_A_MAX + 1];

/* ---- internal to the quirk/reset files ---- */

/* NL_SET_ERR_MSG() for a message chosen at run time (a string literal). */
static inline void egpuhp_extack_msg(struct netlink_ext_ack *extack,
				     const char *msg)
{
	if (extack)
		extack->_msg = msg;
}

/* Longest reset order string ("device_specific acpi flr af_flr pm bus"). */
#define EGPUHP_RESET_ORDER_LEN	64
/* Longest "quirks=" module parameter value. */
#define EGPUHP_QUIRK_PARAM_LEN	1024

/* Why a reset sequence is refused (parameter parser and table check). */
#define EGPUHP_WHY_STEP_UNKNOWN \
	"egpuhp_reset step must be bus, link_retrain, pm or slot_power"
#define EGPUHP_WHY_STEPS_TOO_MANY \
	"more than " __stringify(EGPUHP_RESET_MAX_STEPS) " egpuhp_reset steps"

/* A PCI function's name, "0000:00:00.0". */
struct egpuhp_pci_name {
	char s[EGPUHP_PCI_NAME_LEN];
};

/*
 * An egpuhp reset sequence: @n steps (enum egpuhp_reset_method, each one
 * of EGPUHP_QUIRK_RESET_METHODS) run in order; @n == 0: none.
 */
struct egpuhp_reset_seq {
	u32 n;
	u32 step[EGPUHP_RESET_MAX_STEPS];
};

/* One quirk table entry. */
struct egpuhp_quirk {
	struct list_head node;
	u32 id;
	u16 vendor, device;		/* EGPUHP_QUIRK_ANY_ID = any */
	u16 subsys_vendor, subsys_device;
	u32 class, class_mask;		/* class_mask 0 = any class */
	u32 actions;			/* EGPUHP_QUIRK_* */
	u32 match_flags;		/* EGPUHP_QUIRK_MATCH_* */
	u32 d3hot_delay_ms, d3cold_delay_ms;
	struct egpuhp_reset_seq reset;	/* for EGPUHP_QUIRK_EGPUHP_RESET */
	u32 source;			/* enum egpuhp_quirk_source */
	char reset_order[EGPUHP_RESET_ORDER_LEN];	/* "" if none */
	char note[EGPUHP_QUIRK_NOTE_LEN];
};

/* quirk_table.c */
extern const struct egpuhp_quirk egpuhp_builtin_quirks[];
extern const unsigned int egpuhp_builtin_quirk_count;

/* quirk_param.c: parse "quirks=" (see there for the syntax) */
extern char egpuhp_quirks_param[EGPUHP_QUIRK_PARAM_LEN];
int egpuhp_quirk_parse_entry(const char *text, struct egpuhp_quirk *q,
			     const char **why);
/* Whether @method may be a step of a sequence (EGPUHP_QUIRK_RESET_METHODS). */
bool egpuhp_quirk_is_step(u32 method);

/* quirks.c */
/* Validate an entry's fields; returns -EINVAL with *why set. */
int egpuhp_quirk_check(const struct egpuhp_quirk *q, const char **why);
/* Add a copy of @q (id assigned, returned in *id) and apply it. */
int egpuhp_quirk_add(const struct egpuhp_quirk *q, u32 *id);
int egpuhp_quirk_del(u32 id);
/*
 * Copy the idx'th entry and the names of up to @max_devs devices it is
 * applied to, and the table's generation (changes with every change of
 * the table or of what a device got); returns false past the end.
 */
bool egpuhp_quirk_copy_nth(unsigned int idx, struct egpuhp_quirk *out,
			   struct egpuhp_pci_name *devs,
			   unsigned int max_devs, unsigned int *ndevs,
			   unsigned int *gen);
/*
 * Copy the egpuhp reset sequence @pdev's quirks give it into @seq; false
 * (and @seq->n == 0) if it has no EGPUHP_QUIRK_EGPUHP_RESET.
 */
bool egpuhp_quirk_reset_seq(struct pci_dev *pdev, struct egpuhp_reset_seq *seq);
/* Write @pdev's reset_methods[] order as text ("flr bus"). */
void egpuhp_reset_order_text(const u8 *methods, char *buf, size_t len);
/* Parse "bus flr" (or "bus/flr") into kernel method indices (0-ended). */
int egpuhp_reset_order_parse(const char *text, u8 *methods, const char **why);

/* reset.c */
/*
 * Run reset @method on @pdev; EGPUHP_RESET_EGPUHP runs the device's
 * sequence (egpuhp_quirk_reset_seq()).  @locked: the caller holds the
 * device lock and saved/restores the config space (the kernel's reset
 * path).  Emits the begin/end events (and the step events of a sequence).
 * Returns 0 or -errno.
 */
int egpuhp_reset_run(struct pci_dev *pdev, u32 method, bool locked,
		     bool via_hook, struct netlink_ext_ack *extack,
		     u64 *duration_ns);
const char *egpuhp_reset_method_name(u32 method);
/* Whether @method can reset @pdev now (for probing); -ENOTTY if not. */
int egpuhp_reset_probe(struct pci_dev *pdev, u32 method);
/* the workqueue of removals after a reset (quirks init/exit) */
int egpuhp_reset_init(void);
void egpuhp_reset_exit(void);

/* reset_hook.c */
int egpuhp_reset_hook_init(void);
void egpuhp_reset_hook_exit(void);
/*
 * Install the hook while some quirk entry has the egpuhp reset (@want),
 * remove it when none has: the IPMODIFY ftrace hook is exclusive, so it
 * is held only while it is used (vendor-reset, livepatch).
 */
void egpuhp_reset_hook_want(bool want);
/*
 * Route the kernel's "device_specific" reset of @pdev to egpuhp's reset
 * sequence.  Returns false when the hook is not installed (nothing
 * recorded).
 */
bool egpuhp_reset_hook_add(struct pci_dev *pdev);
void egpuhp_reset_hook_forget(struct pci_dev *pdev);
/* enum egpuhp_reset_hook and the reason, for GET_INFO and logs */
u32 egpuhp_reset_hook_state(const char **msg);
/* kernel reset_methods[] index of "device_specific" */
#define EGPUHP_KERNEL_RESET_DEVICE_SPECIFIC	1

#endif /* _EGPUHP_QUIRKS_H */
