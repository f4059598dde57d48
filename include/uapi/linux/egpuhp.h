/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * egpuhp: external GPU hot-plug events over generic netlink.
 *
 * This header is the single definition of the egpuhp netlink protocol.  The
 * kernel module (kmod/) and every userspace program (user/) include it; no
 * other file may define a command, attribute or value of the protocol.
 *
 * Family "egpuhp", multicast group "events".  Every message carries
 * EGPUHP_A_VERSION.  Notifications use EGPUHP_CMD_EVENT; replies to a GET
 * command reuse the command number of the request.
 *
 * Conventions:
 *  - 64-bit integers are NLA_U64 aligned with EGPUHP_A_PAD (or the nest's
 *    own *_PAD attribute).
 *  - A PCI function is named by its full address string "DDDD:BB:DD.F".
 *  - A Thunderbolt router is named by its device name ("0-1") and
 *    identified across plug cycles by its unique_id (a UUID string).
 *  - Strings are NUL terminated.
 */
#ifndef _UAPI_LINUX_EGPUHP_H
#define _UAPI_LINUX_EGPUHP_H

#define EGPUHP_GENL_NAME		"egpuhp"
#define EGPUHP_GENL_VERSION		1
#define EGPUHP_MCGRP_EVENTS		"events"

/* Sizes of string attributes, including the terminating NUL. */
#define EGPUHP_PCI_NAME_LEN		16	/* "0000:00:00.0" */
#define EGPUHP_DRIVER_NAME_LEN		32
#define EGPUHP_ROUTER_NAME_LEN		32
#define EGPUHP_UNIQUE_ID_LEN		48
#define EGPUHP_TB_STRING_LEN		64	/* vendor_name, device_name */
#define EGPUHP_QUIRK_NOTE_LEN		128

enum egpuhp_cmd {
	EGPUHP_CMD_UNSPEC,
	/* kernel -> user, multicast on "events": one hot-plug event */
	EGPUHP_CMD_EVENT,
	/* doit: module and protocol information, parameters */
	EGPUHP_CMD_GET_INFO,
	/* doit (EGPUHP_A_DEV/EGPUHP_DEV_A_NAME) or dump: tracked PCI functions */
	EGPUHP_CMD_GET_DEV,
	/* doit (EGPUHP_A_ROUTER/EGPUHP_ROUTER_A_NAME) or dump: routers */
	EGPUHP_CMD_GET_ROUTER,
	/* doit: counters (EGPUHP_A_STATS) */
	EGPUHP_CMD_GET_STATS,
	/* CAP_SYS_ADMIN: change run-time settings (EGPUHP_A_CONFIG) */
	EGPUHP_CMD_SET_CONFIG,
	/* dump: the quirk table */
	EGPUHP_CMD_GET_QUIRK,
	/* CAP_SYS_ADMIN: add a quirk entry (EGPUHP_A_QUIRK); reply carries its id */
	EGPUHP_CMD_ADD_QUIRK,
	/* CAP_SYS_ADMIN: delete a quirk entry (EGPUHP_QUIRK_A_ID) */
	EGPUHP_CMD_DEL_QUIRK,
	/* CAP_SYS_ADMIN: reset a device (EGPUHP_A_DEV name, EGPUHP_A_RESET method) */
	EGPUHP_CMD_RESET,
	/* CAP_SYS_ADMIN: orderly removal of an eGPU group (EGPUHP_A_DEV name) */
	EGPUHP_CMD_EJECT,

	__EGPUHP_CMD_MAX,
	EGPUHP_CMD_MAX = __EGPUHP_CMD_MAX - 1
};

/* Kinds of event (EGPUHP_A_EVENT). */
enum egpuhp_event {
	EGPUHP_EV_UNSPEC,
	/* a tracked PCI function was added (before any driver bound) */
	EGPUHP_EV_PCI_ADD,
	/* a driver bound to a tracked function (it is ready for use) */
	EGPUHP_EV_PCI_BOUND,
	/*
	 * A driver is about to be unbound from a function that is still
	 * present (a manual unbind, or the first step of an orderly removal).
	 */
	EGPUHP_EV_PCI_UNBIND,
	/*
	 * The function is leaving.  Sent once per function, at the earliest
	 * hook that knows: for a surprise removal before the driver's
	 * remove() runs, with EGPUHP_F_SURPRISE set.
	 */
	EGPUHP_EV_PCI_REMOVE,
	/* watchdog: a still enumerated function stopped answering */
	EGPUHP_EV_PCI_LOST,
	/* link speed or width changed (EGPUHP_A_DEV carries EGPUHP_DEV_A_LINK) */
	EGPUHP_EV_LINK_CHANGE,
	/* a Thunderbolt router appeared / disappeared / changed state */
	EGPUHP_EV_ROUTER_ADD,
	EGPUHP_EV_ROUTER_REMOVE,
	EGPUHP_EV_ROUTER_CHANGE,
	/* quirks were applied to a function (EGPUHP_A_QUIRK) */
	EGPUHP_EV_QUIRK_APPLIED,
	/*
	 * A reset began / ended (EGPUHP_A_RESET).  Its method is the one run:
	 * EGPUHP_RESET_EGPUHP for the sequence a device's quirks give it
	 * (the sysfs reset file of a hooked device, or EGPUHP_CMD_RESET).
	 */
	EGPUHP_EV_RESET_BEGIN,
	EGPUHP_EV_RESET_END,
	/*
	 * One step of an egpuhp reset sequence (EGPUHP_RESET_EGPUHP) began /
	 * ended (EGPUHP_A_RESET with EGPUHP_RESET_A_STEP), between that
	 * reset's EGPUHP_EV_RESET_BEGIN and EGPUHP_EV_RESET_END.  Kinds of
	 * their own, so that a listener of RESET_BEGIN/END still sees one pair
	 * per reset.
	 */
	EGPUHP_EV_RESET_STEP_BEGIN,
	EGPUHP_EV_RESET_STEP_END,
	/*
	 * watchdog: a function's presence read took longer than
	 * EGPUHP_CONFIG_A_WATCHDOG_SLOW_US (EGPUHP_A_ANSWER_US says how long).
	 * Sent once per slow episode: an answer in time ends it.
	 */
	EGPUHP_EV_PCI_SLOW,

	__EGPUHP_EV_MAX,
	EGPUHP_EV_MAX = __EGPUHP_EV_MAX - 1
};

/* Event flags (EGPUHP_A_FLAGS). */
#define EGPUHP_F_SURPRISE	(1U << 0)  /* device was already unreachable */
#define EGPUHP_F_ORDERLY	(1U << 1)  /* removal with the device present */
#define EGPUHP_F_PRELOAD	(1U << 2)  /* found at module load, not hot-added */

/* Why a PCI function is tracked (EGPUHP_DEV_A_TRACK). */
enum egpuhp_track_reason {
	EGPUHP_TRACK_NONE,
	EGPUHP_TRACK_THUNDERBOLT,	/* below a Thunderbolt/USB4 tunnel */
	EGPUHP_TRACK_REMOVABLE,		/* below an external-facing port */
	EGPUHP_TRACK_HOTPLUG,		/* below a hotplug port (track_hotplug=1) */
};

/* Top-level attributes. */
enum egpuhp_attr {
	EGPUHP_A_UNSPEC,
	EGPUHP_A_PAD,
	EGPUHP_A_VERSION,	/* u32: EGPUHP_GENL_VERSION */
	EGPUHP_A_SEQ,		/* u64: event sequence number (1, 2, ...) */
	EGPUHP_A_TIMESTAMP_NS,	/* u64: CLOCK_BOOTTIME at the hook */
	EGPUHP_A_EVENT,		/* u32: enum egpuhp_event */
	EGPUHP_A_FLAGS,		/* u32: EGPUHP_F_* */
	EGPUHP_A_DEV,		/* nest: enum egpuhp_dev_attr */
	EGPUHP_A_ROUTER,	/* nest: enum egpuhp_router_attr */
	EGPUHP_A_STATS,		/* nest: enum egpuhp_stats_attr */
	EGPUHP_A_CONFIG,	/* nest: enum egpuhp_config_attr */
	EGPUHP_A_QUIRK,		/* nest: enum egpuhp_quirk_attr */
	EGPUHP_A_RESET,		/* nest: enum egpuhp_reset_attr */
	EGPUHP_A_MODULE_VERSION, /* string: module version */
	EGPUHP_A_RESET_HOOK,	/* u32: enum egpuhp_reset_hook (GET_INFO) */
	EGPUHP_A_RESET_HOOK_MSG, /* string: why the hook is (not) installed */
	EGPUHP_A_ANSWER_US,	/* u32: EGPUHP_EV_PCI_SLOW's read time, us */

	__EGPUHP_A_MAX,
	EGPUHP_A_MAX = __EGPUHP_A_MAX - 1
};

/* A PCI function (EGPUHP_A_DEV). */
enum egpuhp_dev_attr {
	EGPUHP_DEV_A_UNSPEC,
	EGPUHP_DEV_A_NAME,	/* string: "0000:03:00.0" */
	EGPUHP_DEV_A_VENDOR,	/* u16 */
	EGPUHP_DEV_A_DEVICE,	/* u16 */
	EGPUHP_DEV_A_SUBSYS_VENDOR, /* u16 */
	EGPUHP_DEV_A_SUBSYS_DEVICE, /* u16 */
	EGPUHP_DEV_A_CLASS,	/* u32: 24-bit class code */
	EGPUHP_DEV_A_REVISION,	/* u8 */
	EGPUHP_DEV_A_DRIVER,	/* string: bound driver, absent if none */
	EGPUHP_DEV_A_PARENT,	/* string: upstream bridge ("0000:00:1c.0") */
	EGPUHP_DEV_A_PORT,	/* string: the hotplug/external port it is below */
	EGPUHP_DEV_A_ROUTER_UID, /* string: unique_id of the carrying router */
	EGPUHP_DEV_A_TRACK,	/* u32: enum egpuhp_track_reason */
	EGPUHP_DEV_A_IS_GPU,	/* flag: display-class function */
	EGPUHP_DEV_A_GROUP,	/* string: name of the eGPU's GPU function */
	EGPUHP_DEV_A_PRESENT,	/* u8: 1 if config space answers */
	EGPUHP_DEV_A_LINK,	/* nest: enum egpuhp_link_attr */
	EGPUHP_DEV_A_QUIRKS,	/* u32: EGPUHP_QUIRK_* applied to it */

	__EGPUHP_DEV_A_MAX,
	EGPUHP_DEV_A_MAX = __EGPUHP_DEV_A_MAX - 1
};

/*
 * Link of a function's upstream port.  Speeds are in Mb/s per lane as the
 * PCIe generation defines them (2500, 5000, 8000, 16000, 32000, 64000).
 */
enum egpuhp_link_attr {
	EGPUHP_LINK_A_UNSPEC,
	EGPUHP_LINK_A_CUR_SPEED,	/* u32 */
	EGPUHP_LINK_A_CUR_WIDTH,	/* u32: lanes */
	EGPUHP_LINK_A_MAX_SPEED,	/* u32 */
	EGPUHP_LINK_A_MAX_WIDTH,	/* u32 */

	__EGPUHP_LINK_A_MAX,
	EGPUHP_LINK_A_MAX = __EGPUHP_LINK_A_MAX - 1
};

/* A Thunderbolt/USB4 router (EGPUHP_A_ROUTER). */
enum egpuhp_router_attr {
	EGPUHP_ROUTER_A_UNSPEC,
	EGPUHP_ROUTER_A_NAME,		/* string: "0-1" */
	EGPUHP_ROUTER_A_UNIQUE_ID,	/* string */
	EGPUHP_ROUTER_A_VENDOR,		/* u32 */
	EGPUHP_ROUTER_A_DEVICE,		/* u32 */
	EGPUHP_ROUTER_A_VENDOR_NAME,	/* string */
	EGPUHP_ROUTER_A_DEVICE_NAME,	/* string */
	EGPUHP_ROUTER_A_GENERATION,	/* u32 */
	EGPUHP_ROUTER_A_RX_SPEED,	/* u32: Gb/s per lane */
	EGPUHP_ROUTER_A_RX_LANES,	/* u32 */
	EGPUHP_ROUTER_A_TX_SPEED,	/* u32 */
	EGPUHP_ROUTER_A_TX_LANES,	/* u32 */
	EGPUHP_ROUTER_A_AUTHORIZED,	/* u32: 0, 1 or 2 as in sysfs */
	EGPUHP_ROUTER_A_BOOT,		/* u8 */
	EGPUHP_ROUTER_A_DOMAIN,		/* string: "domain0" */
	EGPUHP_ROUTER_A_SECURITY,	/* string: domain security level */
	EGPUHP_ROUTER_A_IOMMU_PROT,	/* u8: domain iommu_dma_protection */
	EGPUHP_ROUTER_A_DEPTH,		/* u32: 0 for the host router */

	__EGPUHP_ROUTER_A_MAX,
	EGPUHP_ROUTER_A_MAX = __EGPUHP_ROUTER_A_MAX - 1
};

/* Counters (EGPUHP_A_STATS). */
enum egpuhp_stats_attr {
	EGPUHP_STATS_A_UNSPEC,
	EGPUHP_STATS_A_PAD,
	EGPUHP_STATS_A_EVENTS,		/* u64: events generated (== last seq) */
	EGPUHP_STATS_A_MCAST_FAIL,	/* u64: multicasts that failed to deliver */
	EGPUHP_STATS_A_NO_LISTENER,	/* u64: events sent with no subscriber */
	EGPUHP_STATS_A_ALLOC_FAIL,	/* u64: events lost to allocation failure */
	EGPUHP_STATS_A_DEVICES,		/* u32: tracked PCI functions now */
	EGPUHP_STATS_A_ROUTERS,		/* u32: routers now */

	__EGPUHP_STATS_A_MAX,
	EGPUHP_STATS_A_MAX = __EGPUHP_STATS_A_MAX - 1
};

/* Run-time settings (EGPUHP_A_CONFIG), also module parameters. */
enum egpuhp_config_attr {
	EGPUHP_CONFIG_A_UNSPEC,
	EGPUHP_CONFIG_A_TRACK_HOTPLUG,	/* u8: track functions below hotplug ports */
	EGPUHP_CONFIG_A_WATCHDOG_MS,	/* u32: presence-check period, 0 = off */
	/* u32: a presence read slower than this is EGPUHP_EV_PCI_SLOW, 0 = off */
	EGPUHP_CONFIG_A_WATCHDOG_SLOW_US,

	__EGPUHP_CONFIG_A_MAX,
	EGPUHP_CONFIG_A_MAX = __EGPUHP_CONFIG_A_MAX - 1
};

/* Quirk actions (EGPUHP_QUIRK_A_ACTIONS, EGPUHP_DEV_A_QUIRKS). */
#define EGPUHP_QUIRK_NO_FLR		(1U << 0)
#define EGPUHP_QUIRK_NO_BUS_RESET	(1U << 1)
#define EGPUHP_QUIRK_NO_PM_RESET	(1U << 2)
#define EGPUHP_QUIRK_NO_D3		(1U << 3)
#define EGPUHP_QUIRK_NO_D3COLD		(1U << 4)
#define EGPUHP_QUIRK_ASPM_L0S_OFF	(1U << 5)
#define EGPUHP_QUIRK_ASPM_L1_OFF	(1U << 6)
#define EGPUHP_QUIRK_D3HOT_DELAY	(1U << 7)  /* uses EGPUHP_QUIRK_A_D3HOT_DELAY_MS */
#define EGPUHP_QUIRK_D3COLD_DELAY	(1U << 8)  /* uses EGPUHP_QUIRK_A_D3COLD_DELAY_MS */
#define EGPUHP_QUIRK_RESET_ORDER	(1U << 9)  /* uses EGPUHP_QUIRK_A_RESET_ORDER */
#define EGPUHP_QUIRK_EGPUHP_RESET	(1U << 10) /* egpuhp reset is the device reset */
#define EGPUHP_QUIRK_ALL		((1U << 11) - 1)

/*
 * Names of the quirk actions in the text syntax shared by the module's
 * "quirks=" parameter and egpuctl ("no_flr+d3hot_delay=100"):
 * X(EGPUHP_QUIRK_* bit, name), in bit order.  The delay, reset_order and
 * egpuhp_reset actions take a value after '='.
 */
#define EGPUHP_QUIRK_ACTIONS(X)						\
	X(EGPUHP_QUIRK_NO_FLR, "no_flr")				\
	X(EGPUHP_QUIRK_NO_BUS_RESET, "no_bus_reset")			\
	X(EGPUHP_QUIRK_NO_PM_RESET, "no_pm_reset")			\
	X(EGPUHP_QUIRK_NO_D3, "no_d3")					\
	X(EGPUHP_QUIRK_NO_D3COLD, "no_d3cold")				\
	X(EGPUHP_QUIRK_ASPM_L0S_OFF, "aspm_l0s_off")			\
	X(EGPUHP_QUIRK_ASPM_L1_OFF, "aspm_l1_off")			\
	X(EGPUHP_QUIRK_D3HOT_DELAY, "d3hot_delay")			\
	X(EGPUHP_QUIRK_D3COLD_DELAY, "d3cold_delay")			\
	X(EGPUHP_QUIRK_RESET_ORDER, "reset_order")			\
	X(EGPUHP_QUIRK_EGPUHP_RESET, "egpuhp_reset")

/*
 * Match conditions of a quirk entry (EGPUHP_QUIRK_A_MATCH_FLAGS), besides
 * the IDs and the class.  EXTERNAL: only functions below a Thunderbolt/USB4
 * tunnel or an external-facing port (the kernel's thunderbolt, untrusted
 * or removable marks); text syntax: the word "external" among the actions.
 */
#define EGPUHP_QUIRK_MATCH_EXTERNAL	(1U << 0)
#define EGPUHP_QUIRK_MATCH_ALL		((1U << 1) - 1)

/* Where a quirk entry came from (EGPUHP_QUIRK_A_SOURCE). */
enum egpuhp_quirk_source {
	EGPUHP_QUIRK_SRC_BUILTIN,
	EGPUHP_QUIRK_SRC_PARAM,
	EGPUHP_QUIRK_SRC_NETLINK,
};

/* Match value meaning "any" for vendor/device/subsystem fields. */
#define EGPUHP_QUIRK_ANY_ID		0xffff

/* A quirk table entry (EGPUHP_A_QUIRK). */
enum egpuhp_quirk_attr {
	EGPUHP_QUIRK_A_UNSPEC,
	EGPUHP_QUIRK_A_ID,		/* u32: entry id (assigned by the module) */
	EGPUHP_QUIRK_A_VENDOR,		/* u16, EGPUHP_QUIRK_ANY_ID = any */
	EGPUHP_QUIRK_A_DEVICE,		/* u16 */
	EGPUHP_QUIRK_A_SUBSYS_VENDOR,	/* u16 */
	EGPUHP_QUIRK_A_SUBSYS_DEVICE,	/* u16 */
	EGPUHP_QUIRK_A_CLASS,		/* u32 */
	EGPUHP_QUIRK_A_CLASS_MASK,	/* u32: 0 = any class */
	EGPUHP_QUIRK_A_ACTIONS,		/* u32: EGPUHP_QUIRK_* */
	EGPUHP_QUIRK_A_D3HOT_DELAY_MS,	/* u32 */
	EGPUHP_QUIRK_A_D3COLD_DELAY_MS,	/* u32 */
	EGPUHP_QUIRK_A_RESET_ORDER,	/* string: reset_method syntax, "bus flr" */
	EGPUHP_QUIRK_A_SOURCE,		/* u32: enum egpuhp_quirk_source */
	EGPUHP_QUIRK_A_NOTE,		/* string: evidence / reason */
	/*
	 * u32: enum egpuhp_reset_method, the first step of the egpuhp reset
	 * sequence (EGPUHP_QUIRK_A_RESET_STEP).  Alone in a request, it is a
	 * one-step sequence; with steps, it must equal the first one.
	 */
	EGPUHP_QUIRK_A_RESET_METHOD,
	/* string, repeated, dump only: functions the entry is applied to */
	EGPUHP_QUIRK_A_APPLIED_DEV,
	/*
	 * u32, repeated (1 to EGPUHP_RESET_MAX_STEPS times): the steps of the
	 * sequence EGPUHP_QUIRK_EGPUHP_RESET runs, in the order they run; each
	 * one of the methods in EGPUHP_QUIRK_RESET_METHODS.  Only with that
	 * action.  A request with neither steps nor EGPUHP_QUIRK_A_RESET_METHOD
	 * gets the one-step sequence "bus".  Dumps carry both attributes.
	 */
	EGPUHP_QUIRK_A_RESET_STEP,
	/* u32: EGPUHP_QUIRK_MATCH_*, further conditions of the match (0: none) */
	EGPUHP_QUIRK_A_MATCH_FLAGS,

	__EGPUHP_QUIRK_A_MAX,
	EGPUHP_QUIRK_A_MAX = __EGPUHP_QUIRK_A_MAX - 1
};

/* Reset methods egpuhp can run (EGPUHP_RESET_A_METHOD). */
enum egpuhp_reset_method {
	EGPUHP_RESET_AUTO,		/* the kernel's own order (pci_reset_function) */
	EGPUHP_RESET_BUS,		/* secondary bus reset of the upstream port */
	EGPUHP_RESET_LINK_RETRAIN,	/* retrain the upstream link */
	EGPUHP_RESET_PM,		/* D3hot -> D0 cycle */
	EGPUHP_RESET_SLOT_POWER,	/* hotplug slot power cycle */
	EGPUHP_RESET_TUNNEL,		/* de-/re-authorize the Thunderbolt router */
	EGPUHP_RESET_EGPUHP,		/* the device's egpuhp sequence (quirk table) */

	__EGPUHP_RESET_MAX,
	EGPUHP_RESET_MAX = __EGPUHP_RESET_MAX - 1
};

/*
 * Names of the steps the quirk action "egpuhp_reset=STEP[/STEP...]" may
 * name, in the same text syntax: X(enum egpuhp_reset_method value, name).
 * "egpuhp_reset=pm/bus" runs a D3hot->D0 cycle, then a secondary bus
 * reset; a bare "egpuhp_reset" is "egpuhp_reset=bus".
 */
#define EGPUHP_QUIRK_RESET_METHODS(X)					\
	X(EGPUHP_RESET_BUS, "bus")					\
	X(EGPUHP_RESET_LINK_RETRAIN, "link_retrain")			\
	X(EGPUHP_RESET_PM, "pm")					\
	X(EGPUHP_RESET_SLOT_POWER, "slot_power")

/* Most steps in one egpuhp reset sequence. */
#define EGPUHP_RESET_MAX_STEPS		8

/* A reset (EGPUHP_A_RESET). */
enum egpuhp_reset_attr {
	EGPUHP_RESET_A_UNSPEC,
	EGPUHP_RESET_A_PAD,
	EGPUHP_RESET_A_METHOD,		/* u32: enum egpuhp_reset_method */
	EGPUHP_RESET_A_DURATION_NS,	/* u64: in EGPUHP_EV_RESET_[STEP_]END */
	EGPUHP_RESET_A_RESULT,		/* s32: 0 or -errno, in ..._[STEP_]END */
	/*
	 * string, EGPUHP_CMD_RESET reply with EGPUHP_RESET_AUTO: the kernel's
	 * reset_method order in effect when the reset ran ("bus pm"); the
	 * kernel uses the first method of it that works.
	 */
	EGPUHP_RESET_A_KERNEL_METHODS,
	/*
	 * u32, in EGPUHP_EV_RESET_STEP_BEGIN/END: the step's place in its
	 * sequence, 1 for the first (METHOD is the step's method).
	 */
	EGPUHP_RESET_A_STEP,

	__EGPUHP_RESET_A_MAX,
	EGPUHP_RESET_A_MAX = __EGPUHP_RESET_A_MAX - 1
};

/*
 * Whether egpuhp's reset is reachable through the kernel's own reset path
 * (/sys/bus/pci/devices/X/reset, VFIO) as the "device_specific" method
 * (EGPUHP_A_RESET_HOOK).  When it is not, EGPUHP_CMD_RESET still works.
 */
enum egpuhp_reset_hook {
	EGPUHP_RESET_HOOK_ACTIVE,	/* installed */
	EGPUHP_RESET_HOOK_UNAVAILABLE,	/* could not be installed (see MSG) */
	EGPUHP_RESET_HOOK_DISABLED,	/* turned off by module parameter */
	EGPUHP_RESET_HOOK_IDLE,		/* not installed: no quirk entry needs it */
};

#endif /* _UAPI_LINUX_EGPUHP_H */
