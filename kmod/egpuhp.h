/* SPDX-License-Identifier: GPL-2.0 */
/*
 * egpuhp: internal interfaces between the files of egpuhp.ko.
 *
 * Each .c file has one job; this header says what each one offers.  The
 * netlink protocol itself lives in the uapi header.
 */
#ifndef _EGPUHP_H
#define _EGPUHP_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/kref.h>
#include <linux/pci.h>
#include <net/genetlink.h>
#include <linux/egpuhp.h>

#define EGPUHP_MODULE_VERSION	"0.1.0"

struct egpuhp_link {
	u32 cur_speed;		/* Mb/s per lane, 0 if unknown */
	u32 cur_width;
	u32 max_speed;
	u32 max_width;
};

/*
 * A tracked PCI function.  Entries live in the device table (devtab.c),
 * are reference counted and hold a reference to their pci_dev.  The
 * fields up to @depth are set once before the entry is inserted; the
 * others are protected by the table lock (egpuhp_devtab_lock()).
 */
struct egpuhp_dev {
	struct list_head node;
	struct kref ref;
	struct pci_dev *pdev;		/* referenced (pci_dev_get) */
	char name[EGPUHP_PCI_NAME_LEN];
	char parent[EGPUHP_PCI_NAME_LEN];	/* "" if none */
	char port[EGPUHP_PCI_NAME_LEN];		/* "" if none */
	u16 vendor, device, subsys_vendor, subsys_device;
	u32 class;
	u8 revision;
	u32 track;			/* enum egpuhp_track_reason */
	bool is_gpu;
	unsigned int depth;		/* bus depth: larger = deeper */

	/* protected by the devtab lock */
	char driver[EGPUHP_DRIVER_NAME_LEN];
	char group[EGPUHP_PCI_NAME_LEN];	/* "" if not in an eGPU group */
	char router_uid[EGPUHP_UNIQUE_ID_LEN];	/* "" if unknown */
	struct egpuhp_link link;
	bool removed_sent;		/* EGPUHP_EV_PCI_REMOVE already sent */
	bool lost_sent;			/* EGPUHP_EV_PCI_LOST already sent */
	bool slow_sent;			/* EGPUHP_EV_PCI_SLOW sent, still slow */
	bool present;			/* last presence check */
};

/*
 * A snapshot of a router's attributes, read through its sysfs show().
 * The domain's (@domain, @security, @iommu_prot) and @depth are read once,
 * when the router is added, while the device core still pins its parents.
 */
struct egpuhp_router {
	struct list_head node;
	struct device *dev;		/* referenced (get_device) */
	char name[EGPUHP_ROUTER_NAME_LEN];
	char unique_id[EGPUHP_UNIQUE_ID_LEN];
	char vendor_name[EGPUHP_TB_STRING_LEN];
	char device_name[EGPUHP_TB_STRING_LEN];
	char domain[EGPUHP_ROUTER_NAME_LEN];
	char security[EGPUHP_ROUTER_NAME_LEN];
	u32 vendor, device, generation;
	u32 rx_speed, rx_lanes, tx_speed, tx_lanes;
	u32 authorized;
	u32 depth;			/* routers above it in its domain */
	u8 boot;
	u8 iommu_prot;
};

/* main.c: run-time settings (module parameters, EGPUHP_CMD_SET_CONFIG) */
extern bool egpuhp_track_hotplug;
extern unsigned int egpuhp_watchdog_ms;
/* watchdog_ms: 0 (off) or a period in this range */
#define EGPUHP_WATCHDOG_MS_MIN	10
#define EGPUHP_WATCHDOG_MS_MAX	3600000
extern unsigned int egpuhp_watchdog_slow_us;
/* watchdog_slow_us: 0 (off) up to a second */
#define EGPUHP_WATCHDOG_SLOW_US_MAX	1000000

/* event.c: builds events, assigns sequence numbers, multicasts */
struct egpuhp_stats {
	u64 events;
	u64 mcast_fail;
	u64 no_listener;
	u64 alloc_fail;
};

u64 egpuhp_now_ns(void);
u64 egpuhp_event_last_seq(void);
void egpuhp_event_get_stats(struct egpuhp_stats *st);
/*
 * Send a PCI event for a tracked function.  @ts_ns was taken at the hook.
 * May sleep unless @atomic is set.
 */
void egpuhp_event_pci(enum egpuhp_event ev, struct egpuhp_dev *d, u32 flags,
		      u64 ts_ns, bool atomic);
void egpuhp_event_pci_slow(struct egpuhp_dev *d, u64 ts_ns, u32 answer_us);
void egpuhp_event_router(enum egpuhp_event ev, const struct egpuhp_router *r,
			 u32 flags, u64 ts_ns);
/*
 * Events are sent only between egpuhp_event_enable(true), once the family
 * is registered, and egpuhp_event_enable(false), before it is
 * unregistered; the switch is taken under the send lock, so no event is
 * in flight once it returns false.
 */
void egpuhp_event_enable(bool on);
/* Used by quirks/reset code (engineer "quirks"); may sleep. */
void egpuhp_event_quirk_applied(struct pci_dev *pdev, u32 actions);
/* @step: its number in a sequence (RESET_STEP_* events), else 0 */
void egpuhp_event_reset(struct pci_dev *pdev, enum egpuhp_event ev,
			u32 method, u32 step, u64 duration_ns, int result);

/* netlink.c: the generic netlink family */
extern struct genl_family egpuhp_genl_family;
int egpuhp_netlink_init(void);
/* commands are refused (-EAGAIN) from init until this is called */
void egpuhp_netlink_ready(void);
/* unregisters the family: waits for running commands, stops events */
void egpuhp_netlink_exit(void);
/* Every message starts with EGPUHP_A_VERSION. */
int egpuhp_nl_put_version(struct sk_buff *skb);
/* the reply to a request, and its sending (frees @msg) */
struct sk_buff *egpuhp_nl_reply_new(struct genl_info *info, void **hdr);
int egpuhp_nl_reply_send(struct sk_buff *msg, void *hdr,
			 struct genl_info *info);
/* the next message of a dump of @cmd */
void *egpuhp_nl_dump_put(struct sk_buff *skb, struct netlink_callback *cb,
			 u8 cmd);
/*
 * Fill an EGPUHP_A_DEV nest for any PCI function (tracked or not); the
 * tracked entry's fields are used when @d is given.
 */
int egpuhp_nl_put_dev(struct sk_buff *skb, struct pci_dev *pdev,
		      struct egpuhp_dev *d);
/* an EGPUHP_A_ROUTER nest with the attributes of a router */
int egpuhp_nl_put_router(struct sk_buff *skb, const struct egpuhp_router *r);
/*
 * Look up the PCI function named by EGPUHP_A_DEV/EGPUHP_DEV_A_NAME in a
 * request.  Returns a referenced pci_dev (pci_dev_put() it) or an ERR_PTR
 * with an extack message set.
 */
struct pci_dev *egpuhp_nl_get_pdev(struct genl_info *info);
extern const struct nla_policy egpuhp_dev_nl_policy[EGPUHP_DEV_A_MAX + 1];

/* devtab.c: the table of tracked functions and routers */
void egpuhp_devtab_lock(void);
void egpuhp_devtab_unlock(void);
/* generation: changes whenever the table changes (for dump consistency) */
unsigned int egpuhp_devtab_generation(void);
/* returns the new entry (referenced) or NULL; caller fills it first */
struct egpuhp_dev *egpuhp_dev_alloc(struct pci_dev *pdev);
/*
 * All of the table functions below expect the caller to hold the lock,
 * except egpuhp_dev_put(), egpuhp_dev_count(), egpuhp_router_count() and
 * the *_clear() functions (which take it).
 * insert: the table takes the caller's reference; false if already tracked
 */
bool egpuhp_dev_insert(struct egpuhp_dev *d);
struct list_head *egpuhp_devtab_list(void);
/* iterate tracked functions; caller holds the lock */
#define egpuhp_for_each_dev(d) \
	list_for_each_entry(d, egpuhp_devtab_list(), node)
struct egpuhp_dev *egpuhp_dev_find(struct pci_dev *pdev);	/* ref'd */
struct egpuhp_dev *egpuhp_dev_find_name(const char *name);	/* ref'd */
void egpuhp_dev_unlink(struct egpuhp_dev *d);
void egpuhp_dev_put(struct egpuhp_dev *d);
unsigned int egpuhp_dev_count(void);
/* the idx'th entry (for dumps; ref'd) or NULL */
struct egpuhp_dev *egpuhp_dev_nth(unsigned int idx);
void egpuhp_devtab_clear(void);
/* router table */
bool egpuhp_router_insert(struct egpuhp_router *r);
struct egpuhp_router *egpuhp_router_take(struct device *dev);
/* copies (no device reference); caller holds the lock for all of these */
bool egpuhp_router_copy_nth(unsigned int idx, struct egpuhp_router *out);
bool egpuhp_router_copy_name(const char *name, struct egpuhp_router *out);
bool egpuhp_router_update(struct egpuhp_router *r);
unsigned int egpuhp_router_count(void);
/* unique_id of the single authorized non-host router, "" if ambiguous */
void egpuhp_router_sole_uid(char *uid, size_t len);
void egpuhp_router_clear(void);

/* pci_watch.c: PCI bus notifier and tracking decisions */
int egpuhp_pci_watch_init(void);
void egpuhp_pci_watch_exit(void);
/* re-evaluate tracking of present devices (track_hotplug changed) */
void egpuhp_pci_rescan_tracking(void);
/* EGPUHP_CMD_EJECT: orderly removal of @pdev's eGPU group */
int egpuhp_pci_eject(struct pci_dev *pdev, struct netlink_ext_ack *extack);
/* 1: @pdev answers; 0: it is gone; -EAGAIN: not runtime-active, not asked */
int egpuhp_pci_answers(struct pci_dev *pdev);

/* link.c: PCIe link state of a function's upstream link */
void egpuhp_link_read(struct pci_dev *pdev, struct egpuhp_link *link);
/* re-read every tracked device's link, send EGPUHP_EV_LINK_CHANGE */
void egpuhp_link_poll_all(void);

/* tb_watch.c: Thunderbolt bus (thunderbolt.ko optional) */
int egpuhp_tb_watch_init(void);
void egpuhp_tb_watch_exit(void);
/*
 * re-read routers' attributes (authorization changes have no notifier);
 * sends EGPUHP_EV_ROUTER_CHANGE: only for the kernel's own hooks and the
 * watchdog, never for a request
 */
void egpuhp_tb_refresh(void);
/* re-read the attributes of @r, a copy of an entry; caller holds the lock */
void egpuhp_tb_read_now(struct egpuhp_router *r);

/* watchdog.c: presence check of tracked GPUs */
int egpuhp_watchdog_init(void);
void egpuhp_watchdog_exit(void);
void egpuhp_watchdog_reconfigure(void);

#endif /* _EGPUHP_H */
