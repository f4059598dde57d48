/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Client for the egpuhp generic netlink family (libnl-3 genl underneath).
 *
 * Messages are turned into the plain structs below so that callers never
 * touch libnl.  One struct egpuhp_nl is one netlink socket: use one for
 * requests/dumps and another one for the "events" multicast group, so that a
 * dump never interleaves with notifications.
 *
 * Errors: functions return 0 or a negative errno.  Request functions fill
 * err->msg with the kernel's extack message (or a description) when given.
 */
#ifndef EGPUHP_NL_H
#define EGPUHP_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/egpuhp.h>

struct nlattr;
struct nl_msg;

struct egpuhp_nl;

struct egpuhp_nl_err {
	int code;		/* negative errno, 0 if none */
	char msg[256];		/* extack or description, "" if none */
};

struct egpuhp_link {
	bool valid;
	uint32_t cur_speed, cur_width;	/* Mb/s per lane, lanes */
	uint32_t max_speed, max_width;
};

/* A tracked PCI function (EGPUHP_A_DEV). Absent attributes read as 0/"". */
struct egpuhp_dev {
	char name[EGPUHP_PCI_NAME_LEN];
	uint16_t vendor, device, subsys_vendor, subsys_device;
	uint32_t class_code;
	uint8_t revision;
	char driver[EGPUHP_DRIVER_NAME_LEN];
	char parent[EGPUHP_PCI_NAME_LEN];
	char port[EGPUHP_PCI_NAME_LEN];
	char router_uid[EGPUHP_UNIQUE_ID_LEN];
	uint32_t track;
	bool is_gpu;
	char group[EGPUHP_PCI_NAME_LEN];
	bool has_present;
	uint8_t present;
	struct egpuhp_link link;
	uint32_t quirks;
};

/* A Thunderbolt/USB4 router (EGPUHP_A_ROUTER). */
struct egpuhp_router {
	char name[EGPUHP_ROUTER_NAME_LEN];
	char unique_id[EGPUHP_UNIQUE_ID_LEN];
	uint32_t vendor, device;
	char vendor_name[EGPUHP_TB_STRING_LEN];
	char device_name[EGPUHP_TB_STRING_LEN];
	uint32_t generation;
	uint32_t rx_speed, rx_lanes, tx_speed, tx_lanes;
	uint32_t authorized;
	uint8_t boot;
	char domain[EGPUHP_ROUTER_NAME_LEN];
	char security[EGPUHP_ROUTER_NAME_LEN];
	uint8_t iommu_prot;
	uint32_t depth;
};

struct egpuhp_quirk {
	uint32_t id;
	uint16_t vendor, device, subsys_vendor, subsys_device;
	uint32_t class_code, class_mask;
	uint32_t actions;
	uint32_t d3hot_delay_ms, d3cold_delay_ms;
	char reset_order[64];
	uint32_t source;
	char note[EGPUHP_QUIRK_NOTE_LEN];
};

struct egpuhp_reset {
	bool valid;
	uint32_t method;
	uint32_t step;		/* RESET_STEP_* events: 1 = first step; else 0 */
	uint64_t duration_ns;
	int32_t result;
};

struct egpuhp_stats {
	uint64_t events, mcast_fail, no_listener, alloc_fail;
	uint32_t devices, routers;
};

struct egpuhp_info {
	uint32_t version;
	char module_version[64];
	bool track_hotplug;
	uint32_t watchdog_ms;
};

/* One notification (EGPUHP_CMD_EVENT). */
struct egpuhp_nl_event {
	uint64_t seq;
	uint64_t timestamp_ns;
	uint32_t event;		/* enum egpuhp_event */
	uint32_t flags;		/* EGPUHP_F_* */
	bool has_dev, has_router, has_quirk;
	struct egpuhp_dev dev;
	struct egpuhp_router router;
	struct egpuhp_quirk quirk;
	struct egpuhp_reset reset;
	uint32_t answer_us;	/* EGPUHP_EV_PCI_SLOW: the presence read's time */
};

/* Open a generic netlink socket and resolve the "egpuhp" family.
 * Returns NULL with err filled (e.g. module not loaded). */
struct egpuhp_nl *egpuhp_nl_open(struct egpuhp_nl_err *err);
void egpuhp_nl_close(struct egpuhp_nl *nl);

/* The socket's file descriptor, for poll(). */
int egpuhp_nl_fd(const struct egpuhp_nl *nl);

/* Join the "events" multicast group; makes the socket non-blocking. */
int egpuhp_nl_subscribe(struct egpuhp_nl *nl, struct egpuhp_nl_err *err);

/* Set the receive buffer (bytes; 0 = leave the default).  Tests use a tiny one. */
int egpuhp_nl_set_rcvbuf(struct egpuhp_nl *nl, int bytes);

/*
 * Receive buffer of any netlink socket: SO_RCVBUFFORCE (root may exceed
 * net.core.rmem_max, which is what the setting is for), else SO_RCVBUF
 * (capped by rmem_max).  0 or -errno.
 */
int egpu_nl_sock_set_rcvbuf(int fd, int bytes);

/*
 * recvfrom() one datagram from a netlink socket, non-blocking, dropping
 * those whose sender is not the kernel (nl_pid 0): any local process may
 * unicast to our port id.  Returns the length, or -errno (-EAGAIN: nothing
 * more).  *dropped (if not NULL) counts what was dropped.
 */
ssize_t egpu_nl_recv_kernel(int fd, void *buf, size_t len, unsigned long *dropped);

/*
 * Read every pending notification and call cb for each event.  Returns
 * 0 when the socket is drained, -ENOBUFS when the kernel dropped messages
 * (the caller must resync by dump), or another negative errno.
 */
typedef void (*egpuhp_event_cb)(const struct egpuhp_nl_event *ev, void *arg);
int egpuhp_nl_read_events(struct egpuhp_nl *nl, egpuhp_event_cb cb, void *arg);
/* The same on any socket subscribed to the family (id family). */
int egpuhp_nl_read_events_fd(int fd, int family, egpuhp_event_cb cb, void *arg);

/* Dumps: *out is a malloc'ed array of *n entries (free() it). */
int egpuhp_nl_dump_devs(struct egpuhp_nl *nl, struct egpuhp_dev **out, size_t *n,
			struct egpuhp_nl_err *err);
int egpuhp_nl_dump_routers(struct egpuhp_nl *nl, struct egpuhp_router **out,
			   size_t *n, struct egpuhp_nl_err *err);
int egpuhp_nl_dump_quirks(struct egpuhp_nl *nl, struct egpuhp_quirk **out,
			  size_t *n, struct egpuhp_nl_err *err);
int egpuhp_nl_get_stats(struct egpuhp_nl *nl, struct egpuhp_stats *st,
			struct egpuhp_nl_err *err);
int egpuhp_nl_get_info(struct egpuhp_nl *nl, struct egpuhp_info *info,
		       struct egpuhp_nl_err *err);

/*
 * Generic request: send cmd (with NLM_F_DUMP if dump) after build() has
 * added attributes (EGPUHP_A_VERSION is added for you), call reply() for
 * every reply message with its parsed top-level attributes
 * (tb[0..EGPUHP_A_MAX]), and return the kernel's error with the extack
 * message in err.  build and reply may be NULL.
 */
typedef int (*egpuhp_nl_build_cb)(struct nl_msg *msg, void *arg);
typedef int (*egpuhp_nl_reply_cb)(struct nlattr **tb, void *arg);
int egpuhp_nl_request(struct egpuhp_nl *nl, uint8_t cmd, bool dump,
		      egpuhp_nl_build_cb build, void *build_arg,
		      egpuhp_nl_reply_cb reply, void *reply_arg,
		      struct egpuhp_nl_err *err);

/* egpuhp_nl_build_cb adding EGPUHP_A_DEV { EGPUHP_DEV_A_NAME = name }. */
int egpuhp_nl_put_dev_name(struct nl_msg *msg, void *name);

/* Parsers from attributes to structs (exposed for tests and callers of
 * egpuhp_nl_request).  Return 0 or -EINVAL. */
int egpuhp_parse_dev(struct nlattr *nest, struct egpuhp_dev *d);
int egpuhp_parse_router(struct nlattr *nest, struct egpuhp_router *r);
int egpuhp_parse_quirk(struct nlattr *nest, struct egpuhp_quirk *q);
int egpuhp_parse_event(struct nlattr **tb, struct egpuhp_nl_event *ev);

/* Names, for output and hooks. */
const char *egpuhp_event_name(uint32_t event);	/* "pci-add", ... */
const char *egpuhp_track_name(uint32_t track);	/* "thunderbolt", ... */
const char *egpuhp_reset_method_name(uint32_t method);
/* "surprise,preload" into buf; "" for none. */
const char *egpuhp_flags_str(uint32_t flags, char *buf, size_t len);

#endif /* EGPUHP_NL_H */
