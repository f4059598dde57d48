// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp-listen: the guest-side test client of egpuhp.ko (libnl-3).
 *
 *   egpuhp-listen [--count N] [--timeout S] [--rcvbuf B] [--pause-ms M]
 *                 [--hold FILE] [--resync] [--uevent] [--rt PRIO]
 *       subscribe to "events" and print one JSON line per event, with our
 *       own CLOCK_BOOTTIME receipt time (recv_ns).  A first line
 *       {"type":"ready"} says the subscription is in place.  --rcvbuf and
 *       --pause-ms (or --hold: do not read until FILE exists) make a
 *       deliberate gap (socket overrun); --resync then dumps the state
 *       after an overrun.  --timeout counts from the first read.  --uevent also prints the
 *       kernel's PCI uevents (NETLINK_KOBJECT_UEVENT) from the same loop.
 *       --rt runs the listener SCHED_FIFO at PRIO with its memory locked
 *       (the benchmark).
 *   egpuhp-listen --dump | --info | --stats | --get BDF | --router NAME
 *   egpuhp-listen --eject BDF | --set track_hotplug=0|1 | --set watchdog_ms=N
 *                 | --set watchdog_slow_us=N
 *   egpuhp-listen --bad       malformed requests, one JSON result each
 *   egpuhp-listen --add-quirk VVVV:DDDD:ACTIONS:METHOD:STEP,STEP...
 *       ADD_QUIRK from raw values, so that requests egpuctl would refuse
 *       reach the module's checks: IDs and ACTIONS hexadecimal, METHOD
 *       (EGPUHP_QUIRK_A_RESET_METHOD) and the STEPs (EGPUHP_QUIRK_A_RESET_STEP,
 *       in order) numbers; "-" leaves METHOD out / sends no step
 *   egpuhp-listen --reset BDF  EGPUHP_CMD_RESET (EGPUHP_RESET_AUTO)
 *   egpuhp-listen --unpriv    drop to uid 65534, try every admin command
 *   egpuhp-listen --netadmin  stay uid 0 but give up CAP_SYS_ADMIN (bounding,
 *       permitted, effective, inheritable; CAP_NET_ADMIN kept), then try
 *       every admin command like --unpriv
 *
 * Request results are printed as {"type":"result","op":...,"error":E,
 * "extack":"..."} with E = 0 or -errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/capability.h>

#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#include <linux/egpuhp.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int family_id;
static int opt_resync;
static unsigned long long last_seq_seen;

static unsigned long long boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static const char *const event_names[] = {
	[EGPUHP_EV_UNSPEC] = "unspec",
	[EGPUHP_EV_PCI_ADD] = "pci_add",
	[EGPUHP_EV_PCI_BOUND] = "pci_bound",
	[EGPUHP_EV_PCI_UNBIND] = "pci_unbind",
	[EGPUHP_EV_PCI_REMOVE] = "pci_remove",
	[EGPUHP_EV_PCI_LOST] = "pci_lost",
	[EGPUHP_EV_LINK_CHANGE] = "link_change",
	[EGPUHP_EV_ROUTER_ADD] = "router_add",
	[EGPUHP_EV_ROUTER_REMOVE] = "router_remove",
	[EGPUHP_EV_ROUTER_CHANGE] = "router_change",
	[EGPUHP_EV_QUIRK_APPLIED] = "quirk_applied",
	[EGPUHP_EV_RESET_BEGIN] = "reset_begin",
	[EGPUHP_EV_RESET_END] = "reset_end",
	[EGPUHP_EV_RESET_STEP_BEGIN] = "reset_step_begin",
	[EGPUHP_EV_RESET_STEP_END] = "reset_step_end",
	[EGPUHP_EV_PCI_SLOW] = "pci_slow",
};

/* ---- JSON output ---- */

static void json_str(const char *key, const char *s)
{
	printf(",\"%s\":\"", key);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void json_link(struct nlattr *nest)
{
	struct nlattr *tb[EGPUHP_LINK_A_MAX + 1];

	if (nla_parse_nested(tb, EGPUHP_LINK_A_MAX, nest, NULL) < 0)
		return;
	printf(",\"link\":{\"cur_speed\":%u,\"cur_width\":%u,\"max_speed\":%u,\"max_width\":%u}",
	       tb[EGPUHP_LINK_A_CUR_SPEED] ? nla_get_u32(tb[EGPUHP_LINK_A_CUR_SPEED]) : 0,
	       tb[EGPUHP_LINK_A_CUR_WIDTH] ? nla_get_u32(tb[EGPUHP_LINK_A_CUR_WIDTH]) : 0,
	       tb[EGPUHP_LINK_A_MAX_SPEED] ? nla_get_u32(tb[EGPUHP_LINK_A_MAX_SPEED]) : 0,
	       tb[EGPUHP_LINK_A_MAX_WIDTH] ? nla_get_u32(tb[EGPUHP_LINK_A_MAX_WIDTH]) : 0);
}

static void json_dev(struct nlattr *nest)
{
	struct nlattr *tb[EGPUHP_DEV_A_MAX + 1];
	static const struct { int a; const char *k; } strs[] = {
		{ EGPUHP_DEV_A_NAME, "name" }, { EGPUHP_DEV_A_DRIVER, "driver" },
		{ EGPUHP_DEV_A_PARENT, "parent" }, { EGPUHP_DEV_A_PORT, "port" },
		{ EGPUHP_DEV_A_ROUTER_UID, "router_uid" },
		{ EGPUHP_DEV_A_GROUP, "group" },
	};
	static const struct { int a; const char *k; } u16s[] = {
		{ EGPUHP_DEV_A_VENDOR, "vendor" }, { EGPUHP_DEV_A_DEVICE, "device" },
		{ EGPUHP_DEV_A_SUBSYS_VENDOR, "subsys_vendor" },
		{ EGPUHP_DEV_A_SUBSYS_DEVICE, "subsys_device" },
	};
	unsigned int i;

	if (nla_parse_nested(tb, EGPUHP_DEV_A_MAX, nest, NULL) < 0)
		return;
	printf(",\"dev\":{\"is_gpu\":%s", tb[EGPUHP_DEV_A_IS_GPU] ? "true" : "false");
	for (i = 0; i < ARRAY_SIZE(strs); i++)
		if (tb[strs[i].a])
			json_str(strs[i].k, nla_get_string(tb[strs[i].a]));
	for (i = 0; i < ARRAY_SIZE(u16s); i++)
		if (tb[u16s[i].a])
			printf(",\"%s\":%u", u16s[i].k, nla_get_u16(tb[u16s[i].a]));
	if (tb[EGPUHP_DEV_A_CLASS])
		printf(",\"class\":%u", nla_get_u32(tb[EGPUHP_DEV_A_CLASS]));
	if (tb[EGPUHP_DEV_A_REVISION])
		printf(",\"revision\":%u", nla_get_u8(tb[EGPUHP_DEV_A_REVISION]));
	if (tb[EGPUHP_DEV_A_TRACK])
		printf(",\"track\":%u", nla_get_u32(tb[EGPUHP_DEV_A_TRACK]));
	if (tb[EGPUHP_DEV_A_PRESENT])
		printf(",\"present\":%u", nla_get_u8(tb[EGPUHP_DEV_A_PRESENT]));
	if (tb[EGPUHP_DEV_A_QUIRKS])
		printf(",\"quirks\":%u", nla_get_u32(tb[EGPUHP_DEV_A_QUIRKS]));
	if (tb[EGPUHP_DEV_A_LINK])
		json_link(tb[EGPUHP_DEV_A_LINK]);
	putchar('}');
}

static void json_router(struct nlattr *nest)
{
	struct nlattr *tb[EGPUHP_ROUTER_A_MAX + 1];
	static const struct { int a; const char *k; } strs[] = {
		{ EGPUHP_ROUTER_A_NAME, "name" },
		{ EGPUHP_ROUTER_A_UNIQUE_ID, "unique_id" },
		{ EGPUHP_ROUTER_A_VENDOR_NAME, "vendor_name" },
		{ EGPUHP_ROUTER_A_DEVICE_NAME, "device_name" },
		{ EGPUHP_ROUTER_A_DOMAIN, "domain" },
		{ EGPUHP_ROUTER_A_SECURITY, "security" },
	};
	static const struct { int a; const char *k; } u32s[] = {
		{ EGPUHP_ROUTER_A_VENDOR, "vendor" },
		{ EGPUHP_ROUTER_A_DEVICE, "device" },
		{ EGPUHP_ROUTER_A_GENERATION, "generation" },
		{ EGPUHP_ROUTER_A_RX_SPEED, "rx_speed" },
		{ EGPUHP_ROUTER_A_RX_LANES, "rx_lanes" },
		{ EGPUHP_ROUTER_A_TX_SPEED, "tx_speed" },
		{ EGPUHP_ROUTER_A_TX_LANES, "tx_lanes" },
		{ EGPUHP_ROUTER_A_AUTHORIZED, "authorized" },
		{ EGPUHP_ROUTER_A_DEPTH, "depth" },
	};
	unsigned int i;

	if (nla_parse_nested(tb, EGPUHP_ROUTER_A_MAX, nest, NULL) < 0)
		return;
	printf(",\"router\":{\"boot\":%u",
	       tb[EGPUHP_ROUTER_A_BOOT] ? nla_get_u8(tb[EGPUHP_ROUTER_A_BOOT]) : 0);
	for (i = 0; i < ARRAY_SIZE(strs); i++)
		if (tb[strs[i].a])
			json_str(strs[i].k, nla_get_string(tb[strs[i].a]));
	for (i = 0; i < ARRAY_SIZE(u32s); i++)
		if (tb[u32s[i].a])
			printf(",\"%s\":%u", u32s[i].k, nla_get_u32(tb[u32s[i].a]));
	if (tb[EGPUHP_ROUTER_A_IOMMU_PROT])
		printf(",\"iommu_prot\":%u", nla_get_u8(tb[EGPUHP_ROUTER_A_IOMMU_PROT]));
	putchar('}');
}

static void json_nest_u(const char *key, struct nlattr *nest, int max)
{
	struct nlattr *a;
	int rem, first = 1;

	(void)max;
	printf(",\"%s\":{", key);
	nla_for_each_nested(a, nest, rem) {
		int t = nla_type(a);

		if (nla_len(a) == 8)
			printf("%s\"%d\":%llu", first ? "" : ",", t,
			       (unsigned long long)nla_get_u64(a));
		else if (nla_len(a) == 4)
			printf("%s\"%d\":%d", first ? "" : ",", t, (int)nla_get_u32(a));
		else if (nla_len(a) == 1)
			printf("%s\"%d\":%u", first ? "" : ",", t, nla_get_u8(a));
		else if (nla_len(a) == 2)
			printf("%s\"%d\":%u", first ? "" : ",", t, nla_get_u16(a));
		else
			continue;
		first = 0;
	}
	putchar('}');
}

static unsigned long long get_u64(struct nlattr *a)
{
	return a ? (unsigned long long)nla_get_u64(a) : 0ULL;
}

static void json_stats(struct nlattr *nest)
{
	struct nlattr *tb[EGPUHP_STATS_A_MAX + 1];

	if (nla_parse_nested(tb, EGPUHP_STATS_A_MAX, nest, NULL) < 0)
		return;
	printf(",\"stats\":{\"events\":%llu,\"mcast_fail\":%llu,\"no_listener\":%llu,\"alloc_fail\":%llu",
	       get_u64(tb[EGPUHP_STATS_A_EVENTS]), get_u64(tb[EGPUHP_STATS_A_MCAST_FAIL]),
	       get_u64(tb[EGPUHP_STATS_A_NO_LISTENER]), get_u64(tb[EGPUHP_STATS_A_ALLOC_FAIL]));
	printf(",\"devices\":%u,\"routers\":%u}",
	       tb[EGPUHP_STATS_A_DEVICES] ? nla_get_u32(tb[EGPUHP_STATS_A_DEVICES]) : 0,
	       tb[EGPUHP_STATS_A_ROUTERS] ? nla_get_u32(tb[EGPUHP_STATS_A_ROUTERS]) : 0);
}

/* One egpuhp message (event or reply) as a JSON line. */
static void print_msg(struct nlmsghdr *nlh, unsigned long long recv_ns)
{
	struct genlmsghdr *gh = nlmsg_data(nlh);
	struct nlattr *tb[EGPUHP_A_MAX + 1];
	const char *type;

	if (genlmsg_parse(nlh, 0, tb, EGPUHP_A_MAX, NULL) < 0) {
		printf("{\"type\":\"unparsable\"}\n");
		return;
	}
	switch (gh->cmd) {
	case EGPUHP_CMD_EVENT:
		type = "event";
		break;
	case EGPUHP_CMD_GET_INFO:
		type = "info";
		break;
	case EGPUHP_CMD_GET_DEV:
		type = "dev";
		break;
	case EGPUHP_CMD_GET_ROUTER:
		type = "router";
		break;
	case EGPUHP_CMD_GET_STATS:
		type = "stats";
		break;
	case EGPUHP_CMD_GET_QUIRK:
		type = "quirk";
		break;
	default:
		type = "other";
		break;
	}
	printf("{\"type\":\"%s\",\"cmd\":%u", type, gh->cmd);
	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		printf(",\"dump_intr\":true");
	if (tb[EGPUHP_A_VERSION])
		printf(",\"version\":%u", nla_get_u32(tb[EGPUHP_A_VERSION]));
	if (tb[EGPUHP_A_SEQ])
		printf(",\"seq\":%llu", (unsigned long long)nla_get_u64(tb[EGPUHP_A_SEQ]));
	if (tb[EGPUHP_A_TIMESTAMP_NS])
		printf(",\"ts\":%llu", (unsigned long long)nla_get_u64(tb[EGPUHP_A_TIMESTAMP_NS]));
	if (recv_ns)
		printf(",\"recv_ns\":%llu", recv_ns);
	if (tb[EGPUHP_A_EVENT]) {
		uint32_t ev = nla_get_u32(tb[EGPUHP_A_EVENT]);

		printf(",\"ev\":%u", ev);
		json_str("kind", ev < sizeof(event_names) / sizeof(event_names[0]) && event_names[ev] ? event_names[ev] : "unknown");
	}
	if (tb[EGPUHP_A_FLAGS]) {
		uint32_t f = nla_get_u32(tb[EGPUHP_A_FLAGS]);

		printf(",\"flags\":%u,\"surprise\":%s,\"orderly\":%s,\"preload\":%s", f,
		       f & EGPUHP_F_SURPRISE ? "true" : "false",
		       f & EGPUHP_F_ORDERLY ? "true" : "false",
		       f & EGPUHP_F_PRELOAD ? "true" : "false");
	}
	if (tb[EGPUHP_A_MODULE_VERSION])
		json_str("module_version", nla_get_string(tb[EGPUHP_A_MODULE_VERSION]));
	if (tb[EGPUHP_A_DEV])
		json_dev(tb[EGPUHP_A_DEV]);
	if (tb[EGPUHP_A_ROUTER])
		json_router(tb[EGPUHP_A_ROUTER]);
	if (tb[EGPUHP_A_STATS])
		json_stats(tb[EGPUHP_A_STATS]);
	if (tb[EGPUHP_A_CONFIG])
		json_nest_u("config", tb[EGPUHP_A_CONFIG], EGPUHP_CONFIG_A_MAX);
	if (tb[EGPUHP_A_QUIRK])
		json_nest_u("quirk", tb[EGPUHP_A_QUIRK], EGPUHP_QUIRK_A_MAX);
	if (tb[EGPUHP_A_RESET])
		json_nest_u("reset", tb[EGPUHP_A_RESET], EGPUHP_RESET_A_MAX);
	if (tb[EGPUHP_A_ANSWER_US])
		printf(",\"answer_us\":%u", nla_get_u32(tb[EGPUHP_A_ANSWER_US]));
	printf("}\n");
}

/* ---- requests ---- */

static struct nl_sock *open_sock(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	int one = 1;

	if (!sk || genl_connect(sk)) {
		fprintf(stderr, "egpuhp-listen: cannot open a netlink socket\n");
		exit(2);
	}
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (!family_id) {
		family_id = genl_ctrl_resolve(sk, EGPUHP_GENL_NAME);
		if (family_id < 0) {
			printf("{\"type\":\"error\",\"what\":\"family egpuhp not found\"}\n");
			exit(3);
		}
	}
	return sk;
}

static struct nl_msg *new_req(int cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family_id, 0,
				 flags, cmd, EGPUHP_GENL_VERSION))
		exit(2);
	return msg;
}

static void put_dev_name(struct nl_msg *msg, const char *bdf)
{
	struct nlattr *nest = nla_nest_start(msg, EGPUHP_A_DEV);

	nla_put_string(msg, EGPUHP_DEV_A_NAME, bdf);
	nla_nest_end(msg, nest);
}

/* The error of an NLMSG_ERROR, with its extack message and missing type. */
static int parse_ack(struct nlmsghdr *nlh, char *extack, size_t len, int *miss_type)
{
	struct nlmsgerr *e = nlmsg_data(nlh);
	int off = sizeof(*e), rem;
	struct nlattr *a;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return e->error;
	/* with NETLINK_CAP_ACK the request is not echoed */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	rem = nlh->nlmsg_len - NLMSG_HDRLEN - off;
	for (a = (struct nlattr *)((char *)e + off); nla_ok(a, rem); a = nla_next(a, &rem)) {
		if (nla_type(a) == NLMSGERR_ATTR_MSG)
			snprintf(extack, len, "%s", (char *)nla_data(a));
		else if (nla_type(a) == NLMSGERR_ATTR_MISS_TYPE)
			*miss_type = nla_get_u32(a);
	}
	return e->error;
}

/*
 * Send @msg (a dump, or a doit with NLM_F_ACK), print every reply message
 * up to NLMSG_DONE or the ACK, then a result line.  Returns 0 or -errno.
 */
static int transact(struct nl_sock *sk, struct nl_msg *msg, const char *op, bool quiet)
{
	unsigned char *buf = NULL;
	struct sockaddr_nl peer;
	int err = 0, done = 0, n, miss_type = -1;
	char extack[256] = "";

	if (nl_send_auto(sk, msg) < 0) {
		printf("{\"type\":\"result\",\"op\":\"%s\",\"error\":-5,\"extack\":\"send failed\"}\n", op);
		nlmsg_free(msg);
		return -EIO;
	}
	nlmsg_free(msg);
	while (!done) {
		struct nlmsghdr *nlh;

		n = nl_recv(sk, &peer, &buf, NULL);
		if (n <= 0) {
			err = -EIO;
			break;
		}
		for (nlh = (struct nlmsghdr *)buf; nlmsg_ok(nlh, n); nlh = nlmsg_next(nlh, &n)) {
			if (nlh->nlmsg_type == NLMSG_DONE) {
				if (nlmsg_datalen(nlh) >= (int)sizeof(int))
					err = *(int *)nlmsg_data(nlh);
				done = 1;
				break;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				err = parse_ack(nlh, extack, sizeof(extack), &miss_type);
				done = 1;
				break;
			}
			/* a doit reply is followed by its ACK: read on */
			if (!quiet)
				print_msg(nlh, 0);
		}
		free(buf);
		buf = NULL;
	}
	printf("{\"type\":\"result\",\"op\":\"%s\",\"error\":%d", op, err);
	if (miss_type >= 0)
		printf(",\"miss_type\":%d", miss_type);
	json_str("extack", extack);
	printf("}\n");
	fflush(stdout);
	return err;
}

static int do_simple(int cmd, const char *op, bool dump)
{
	struct nl_sock *sk = open_sock();
	int ret = transact(sk, new_req(cmd, dump ? NLM_F_DUMP : NLM_F_ACK), op, false);

	nl_socket_free(sk);
	return ret;
}

static int do_dump_all(void)
{
	int ret = 0;

	ret |= do_simple(EGPUHP_CMD_GET_INFO, "info", false);
	ret |= do_simple(EGPUHP_CMD_GET_STATS, "stats", false);
	ret |= do_simple(EGPUHP_CMD_GET_DEV, "dump_dev", true);
	ret |= do_simple(EGPUHP_CMD_GET_ROUTER, "dump_router", true);
	return ret ? 1 : 0;
}

static int do_dev_cmd(int cmd, const char *op, const char *bdf)
{
	struct nl_sock *sk = open_sock();
	struct nl_msg *msg = new_req(cmd, NLM_F_ACK);
	int ret;

	put_dev_name(msg, bdf);
	ret = transact(sk, msg, op, false);
	nl_socket_free(sk);
	return ret;
}

static int do_router(const char *name)
{
	struct nl_sock *sk = open_sock();
	struct nl_msg *msg = new_req(EGPUHP_CMD_GET_ROUTER, NLM_F_ACK);
	struct nlattr *nest = nla_nest_start(msg, EGPUHP_A_ROUTER);
	int ret;

	nla_put_string(msg, EGPUHP_ROUTER_A_NAME, name);
	nla_nest_end(msg, nest);
	ret = transact(sk, msg, "router", false);
	nl_socket_free(sk);
	return ret;
}

static int do_set(const char *kv)
{
	struct nl_sock *sk = open_sock();
	struct nl_msg *msg = new_req(EGPUHP_CMD_SET_CONFIG, NLM_F_ACK);
	struct nlattr *nest = nla_nest_start(msg, EGPUHP_A_CONFIG);
	unsigned long v;
	int ret;

	if (sscanf(kv, "track_hotplug=%lu", &v) == 1) {
		nla_put_u8(msg, EGPUHP_CONFIG_A_TRACK_HOTPLUG, v);
	} else if (sscanf(kv, "watchdog_ms=%lu", &v) == 1) {
		nla_put_u32(msg, EGPUHP_CONFIG_A_WATCHDOG_MS, v);
	} else if (sscanf(kv, "watchdog_slow_us=%lu", &v) == 1) {
		nla_put_u32(msg, EGPUHP_CONFIG_A_WATCHDOG_SLOW_US, v);
	} else {
		fprintf(stderr, "egpuhp-listen: --set track_hotplug=0|1, watchdog_ms=N or watchdog_slow_us=N\n");
		exit(2);
	}
	nla_nest_end(msg, nest);
	ret = transact(sk, msg, "set", false);
	nl_socket_free(sk);
	return ret;
}

/* "VVVV:DDDD:ACTIONS:METHOD:STEPS" (see the top of the file) */
static int do_add_quirk(const char *spec)
{
	unsigned int vendor, device, actions;
	char method[16], steps[256], *s, *save = NULL;
	struct nl_sock *sk;
	struct nl_msg *msg;
	struct nlattr *nest;
	int ret;

	if (sscanf(spec, "%x:%x:%x:%15[^:]:%255s", &vendor, &device, &actions,
		   method, steps) != 5) {
		fprintf(stderr, "egpuhp-listen: --add-quirk VVVV:DDDD:ACTIONS:METHOD|-:STEP,...|-\n");
		exit(2);
	}
	sk = open_sock();
	msg = new_req(EGPUHP_CMD_ADD_QUIRK, NLM_F_ACK);
	nest = nla_nest_start(msg, EGPUHP_A_QUIRK);
	nla_put_u16(msg, EGPUHP_QUIRK_A_VENDOR, vendor);
	nla_put_u16(msg, EGPUHP_QUIRK_A_DEVICE, device);
	nla_put_u32(msg, EGPUHP_QUIRK_A_ACTIONS, actions);
	if (strcmp(method, "-"))
		nla_put_u32(msg, EGPUHP_QUIRK_A_RESET_METHOD, strtoul(method, NULL, 0));
	for (s = strtok_r(steps, ",", &save); s; s = strtok_r(NULL, ",", &save))
		if (strcmp(s, "-"))
			nla_put_u32(msg, EGPUHP_QUIRK_A_RESET_STEP, strtoul(s, NULL, 0));
	nla_nest_end(msg, nest);
	ret = transact(sk, msg, "add_quirk", false);
	nl_socket_free(sk);
	return ret ? 1 : 0;
}

/* ---- malformed requests ---- */

static int bad_case(struct nl_sock *sk, const char *name, struct nl_msg *msg)
{
	return transact(sk, msg, name, true);
}

static int do_bad(void)
{
	struct nl_sock *sk = open_sock();
	struct nl_msg *msg;
	struct nlattr *nest;
	char longname[64];

	/* an attribute GET_INFO does not take */
	msg = new_req(EGPUHP_CMD_GET_INFO, NLM_F_ACK);
	nla_put_u32(msg, EGPUHP_A_FLAGS, 1);
	bad_case(sk, "info_unknown_attr", msg);

	/* an attribute number beyond the protocol */
	msg = new_req(EGPUHP_CMD_GET_INFO, NLM_F_ACK);
	nla_put_u32(msg, EGPUHP_A_MAX + 5, 1);
	bad_case(sk, "attr_beyond_max", msg);

	/* wrong size for a u32 */
	msg = new_req(EGPUHP_CMD_GET_INFO, NLM_F_ACK);
	nla_put_u8(msg, EGPUHP_A_VERSION, 1);
	bad_case(sk, "version_wrong_size", msg);

	/* GET_DEV doit without the device */
	msg = new_req(EGPUHP_CMD_GET_DEV, NLM_F_ACK);
	bad_case(sk, "get_dev_missing", msg);

	/* device nest without a name (libnl drops empty nests: put it raw) */
	msg = new_req(EGPUHP_CMD_GET_DEV, NLM_F_ACK);
	nla_put(msg, EGPUHP_A_DEV | NLA_F_NESTED, 0, NULL);
	bad_case(sk, "get_dev_no_name", msg);

	/* a name that is too long */
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	msg = new_req(EGPUHP_CMD_GET_DEV, NLM_F_ACK);
	put_dev_name(msg, longname);
	bad_case(sk, "get_dev_name_too_long", msg);

	/* a name without its NUL */
	msg = new_req(EGPUHP_CMD_GET_DEV, NLM_F_ACK);
	nest = nla_nest_start(msg, EGPUHP_A_DEV);
	nla_put(msg, EGPUHP_DEV_A_NAME, 12, "0000:00:00.0");
	nla_nest_end(msg, nest);
	bad_case(sk, "get_dev_name_no_nul", msg);

	/* a malformed name */
	msg = new_req(EGPUHP_CMD_GET_DEV, NLM_F_ACK);
	put_dev_name(msg, "zz:top");
	bad_case(sk, "get_dev_name_malformed", msg);

	/* a function that does not exist */
	msg = new_req(EGPUHP_CMD_GET_DEV, NLM_F_ACK);
	put_dev_name(msg, "0000:fe:1f.7");
	bad_case(sk, "get_dev_unknown", msg);

	/* an attribute the device nest does not take in requests */
	msg = new_req(EGPUHP_CMD_GET_DEV, NLM_F_ACK);
	nest = nla_nest_start(msg, EGPUHP_A_DEV);
	nla_put_string(msg, EGPUHP_DEV_A_NAME, "0000:00:00.0");
	nla_put_u16(msg, EGPUHP_DEV_A_VENDOR, 0x1234);
	nla_nest_end(msg, nest);
	bad_case(sk, "get_dev_nested_unknown", msg);

	/* a nest given as a plain u32 */
	msg = new_req(EGPUHP_CMD_GET_DEV, NLM_F_ACK);
	nla_put_u32(msg, EGPUHP_A_DEV, 7);
	bad_case(sk, "get_dev_not_nested", msg);

	/* config values out of range */
	msg = new_req(EGPUHP_CMD_SET_CONFIG, NLM_F_ACK);
	nest = nla_nest_start(msg, EGPUHP_A_CONFIG);
	nla_put_u8(msg, EGPUHP_CONFIG_A_TRACK_HOTPLUG, 2);
	nla_nest_end(msg, nest);
	bad_case(sk, "set_track_hotplug_range", msg);

	msg = new_req(EGPUHP_CMD_SET_CONFIG, NLM_F_ACK);
	nest = nla_nest_start(msg, EGPUHP_A_CONFIG);
	nla_put_u32(msg, EGPUHP_CONFIG_A_WATCHDOG_MS, 5);
	nla_nest_end(msg, nest);
	bad_case(sk, "set_watchdog_range", msg);

	msg = new_req(EGPUHP_CMD_SET_CONFIG, NLM_F_ACK);
	nest = nla_nest_start(msg, EGPUHP_A_CONFIG);
	nla_put_u32(msg, EGPUHP_CONFIG_A_WATCHDOG_SLOW_US, 1000001);
	nla_nest_end(msg, nest);
	bad_case(sk, "set_watchdog_slow_range", msg);

	msg = new_req(EGPUHP_CMD_SET_CONFIG, NLM_F_ACK);
	bad_case(sk, "set_config_missing", msg);

	/* router request without a name */
	msg = new_req(EGPUHP_CMD_GET_ROUTER, NLM_F_ACK);
	nla_put(msg, EGPUHP_A_ROUTER | NLA_F_NESTED, 0, NULL);
	bad_case(sk, "get_router_no_name", msg);

	msg = new_req(EGPUHP_CMD_GET_ROUTER, NLM_F_ACK);
	nest = nla_nest_start(msg, EGPUHP_A_ROUTER);
	nla_put_string(msg, EGPUHP_ROUTER_A_NAME, "9-9");
	nla_nest_end(msg, nest);
	bad_case(sk, "get_router_unknown", msg);

	/* EJECT of a function egpuhp does not track */
	msg = new_req(EGPUHP_CMD_EJECT, NLM_F_ACK);
	put_dev_name(msg, "0000:00:00.0");
	bad_case(sk, "eject_untracked", msg);

	/* commands that do not exist or are kernel -> user only */
	msg = new_req(EGPUHP_CMD_EVENT, NLM_F_ACK);
	bad_case(sk, "cmd_event", msg);
	msg = new_req(200, NLM_F_ACK);
	bad_case(sk, "cmd_unknown", msg);

	/* the reserved genl header field must be zero */
	msg = new_req(EGPUHP_CMD_GET_INFO, NLM_F_ACK);
	((struct genlmsghdr *)nlmsg_data(nlmsg_hdr(msg)))->reserved = 1;
	bad_case(sk, "genl_reserved", msg);

	/* and a good one, to show the socket still works */
	msg = new_req(EGPUHP_CMD_GET_INFO, NLM_F_ACK);
	bad_case(sk, "info_ok", msg);
	nl_socket_free(sk);
	return 0;
}

/* ---- unprivileged ---- */

/* Every command that needs CAP_SYS_ADMIN, one result line each. */
static int try_admin_commands(void)
{
	struct nl_sock *sk = open_sock();
	struct nl_msg *msg;
	struct nlattr *nest;

	msg = new_req(EGPUHP_CMD_GET_INFO, NLM_F_ACK);
	transact(sk, msg, "info", true);
	msg = new_req(EGPUHP_CMD_GET_DEV, NLM_F_DUMP);
	transact(sk, msg, "dump_dev", true);

	msg = new_req(EGPUHP_CMD_SET_CONFIG, NLM_F_ACK);
	nest = nla_nest_start(msg, EGPUHP_A_CONFIG);
	nla_put_u32(msg, EGPUHP_CONFIG_A_WATCHDOG_MS, 0);
	nla_nest_end(msg, nest);
	transact(sk, msg, "set_config", true);

	msg = new_req(EGPUHP_CMD_SET_CONFIG, NLM_F_ACK);
	nest = nla_nest_start(msg, EGPUHP_A_CONFIG);
	nla_put_u32(msg, EGPUHP_CONFIG_A_WATCHDOG_SLOW_US, 1000);
	nla_nest_end(msg, nest);
	transact(sk, msg, "set_watchdog_slow", true);

	msg = new_req(EGPUHP_CMD_EJECT, NLM_F_ACK);
	put_dev_name(msg, "0000:00:00.0");
	transact(sk, msg, "eject", true);

	msg = new_req(EGPUHP_CMD_ADD_QUIRK, NLM_F_ACK);
	nest = nla_nest_start(msg, EGPUHP_A_QUIRK);
	nla_put_u16(msg, EGPUHP_QUIRK_A_VENDOR, 0x1234);
	nla_put_u32(msg, EGPUHP_QUIRK_A_ACTIONS, EGPUHP_QUIRK_NO_D3);
	nla_nest_end(msg, nest);
	transact(sk, msg, "add_quirk", true);

	msg = new_req(EGPUHP_CMD_DEL_QUIRK, NLM_F_ACK);
	nest = nla_nest_start(msg, EGPUHP_A_QUIRK);
	nla_put_u32(msg, EGPUHP_QUIRK_A_ID, 1);
	nla_nest_end(msg, nest);
	transact(sk, msg, "del_quirk", true);

	msg = new_req(EGPUHP_CMD_RESET, NLM_F_ACK);
	put_dev_name(msg, "0000:00:00.0");
	transact(sk, msg, "reset", true);
	nl_socket_free(sk);
	return 0;
}

static int do_unpriv(void)
{
	if (setgid(65534) || setuid(65534)) {
		printf("{\"type\":\"error\",\"what\":\"cannot drop privileges\"}\n");
		return 1;
	}
	printf("{\"type\":\"uid\",\"uid\":%u}\n", getuid());
	return try_admin_commands();
}

/* The capability sets of this process, as the capget/capset syscalls have them. */
static int caps_io(bool set, struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};

	return syscall(set ? SYS_capset : SYS_capget, &hdr, data);
}

static int do_netadmin(void)
{
	struct __user_cap_data_struct data[2];
	unsigned int w = CAP_SYS_ADMIN / 32, bit = 1U << (CAP_SYS_ADMIN % 32);

	if (prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) || caps_io(false, data)) {
		printf("{\"type\":\"error\",\"what\":\"cannot read or bound capabilities\"}\n");
		return 1;
	}
	data[w].effective &= ~bit;
	data[w].permitted &= ~bit;
	data[w].inheritable &= ~bit;
	if (caps_io(true, data) || caps_io(false, data)) {
		printf("{\"type\":\"error\",\"what\":\"cannot drop CAP_SYS_ADMIN\"}\n");
		return 1;
	}
	printf("{\"type\":\"caps\",\"uid\":%u,\"sys_admin\":%d,\"net_admin\":%d}\n",
	       getuid(), !!(data[w].effective & bit),
	       !!(data[CAP_NET_ADMIN / 32].effective & (1U << (CAP_NET_ADMIN % 32))));
	return try_admin_commands();
}

/* ---- listening ---- */

static int open_uevent(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	int sz = 4 << 20;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("uevent socket");
		exit(2);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	return fd;
}

/* "remove@/devices/...\0ACTION=remove\0SUBSYSTEM=pci\0PCI_SLOT_NAME=..." */
static void read_uevent(int fd)
{
	char buf[8192];
	const char *action = NULL, *subsys = NULL, *slot = NULL, *devpath = NULL;
	unsigned long long now;
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	ssize_t off;

	now = boottime_ns();
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (!strchr(buf, '@'))
		return;	/* udevd's own messages */
	for (off = strlen(buf) + 1; off < n; off += strlen(buf + off) + 1) {
		const char *kv = buf + off;

		if (!strncmp(kv, "ACTION=", 7))
			action = kv + 7;
		else if (!strncmp(kv, "SUBSYSTEM=", 10))
			subsys = kv + 10;
		else if (!strncmp(kv, "PCI_SLOT_NAME=", 14))
			slot = kv + 14;
		else if (!strncmp(kv, "DEVPATH=", 8))
			devpath = kv + 8;
	}
	if (!action || !subsys || strcmp(subsys, "pci"))
		return;
	printf("{\"type\":\"uevent\",\"recv_ns\":%llu", now);
	json_str("action", action);
	if (slot)
		json_str("name", slot);
	else if (devpath && strrchr(devpath, '/'))
		json_str("name", strrchr(devpath, '/') + 1);
	printf("}\n");
	fflush(stdout);
}

/* Returns the number of events printed. */
static int read_events(int fd)
{
	static unsigned char buf[65536];
	unsigned long long now;
	struct nlmsghdr *nlh;
	int n, count = 0;

	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	now = boottime_ns();
	if (n < 0) {
		if (errno == ENOBUFS) {
			printf("{\"type\":\"overrun\",\"recv_ns\":%llu,\"last_seq\":%llu}\n",
			       now, last_seq_seen);
			fflush(stdout);
			if (opt_resync)
				do_simple(EGPUHP_CMD_GET_DEV, "resync_dump", true);
		}
		return 0;
	}
	for (nlh = (struct nlmsghdr *)buf; nlmsg_ok(nlh, n); nlh = nlmsg_next(nlh, &n)) {
		struct nlattr *seq;

		if (nlh->nlmsg_type != family_id)
			continue;
		seq = nlmsg_find_attr(nlh, GENL_HDRLEN, EGPUHP_A_SEQ);
		if (seq) {
			unsigned long long s = nla_get_u64(seq);

			if (last_seq_seen && s != last_seq_seen + 1)
				printf("{\"type\":\"gap\",\"after\":%llu,\"next\":%llu}\n",
				       last_seq_seen, s);
			last_seq_seen = s;
		}
		print_msg(nlh, now);
		count++;
	}
	fflush(stdout);
	return count;
}

static int do_listen(int count, int timeout_s, int rcvbuf, int pause_ms, bool uevent,
		     const char *hold)
{
	struct nl_sock *sk = open_sock();
	unsigned long long deadline = 0;
	struct pollfd pfd[2];
	int grp, got = 0, nfds = 1, one = 1;

	grp = genl_ctrl_resolve_grp(sk, EGPUHP_GENL_NAME, EGPUHP_MCGRP_EVENTS);
	if (grp < 0 || nl_socket_add_membership(sk, grp)) {
		printf("{\"type\":\"error\",\"what\":\"cannot join events\"}\n");
		return 3;
	}
	/* lets egpuhp count the multicasts we lose (stats mcast_fail) */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_BROADCAST_ERROR,
		   &one, sizeof(one));
	if (rcvbuf)
		setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVBUFFORCE,
			   &rcvbuf, sizeof(rcvbuf));
	pfd[0].fd = nl_socket_get_fd(sk);
	pfd[0].events = POLLIN;
	if (uevent) {
		pfd[1].fd = open_uevent();
		pfd[1].events = POLLIN;
		nfds = 2;
	}
	printf("{\"type\":\"ready\",\"recv_ns\":%llu,\"pid\":%d}\n", boottime_ns(), getpid());
	fflush(stdout);
	if (pause_ms)
		usleep(pause_ms * 1000);
	while (hold && access(hold, F_OK))
		usleep(50 * 1000);
	if (timeout_s)
		deadline = boottime_ns() + timeout_s * 1000000000ULL;
	while (!count || got < count) {
		int wait = -1;

		if (deadline) {
			unsigned long long now = boottime_ns();

			if (now >= deadline)
				break;
			wait = (deadline - now) / 1000000 + 1;
		}
		if (poll(pfd, nfds, wait) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & (POLLIN | POLLERR))
			got += read_events(pfd[0].fd);
		if (nfds == 2 && (pfd[1].revents & POLLIN))
			read_uevent(pfd[1].fd);
	}
	printf("{\"type\":\"end\",\"events\":%d,\"last_seq\":%llu}\n", got, last_seq_seen);
	fflush(stdout);
	nl_socket_free(sk);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "rcvbuf", required_argument, NULL, 'b' },
		{ "pause-ms", required_argument, NULL, 'p' },
		{ "resync", no_argument, NULL, 'r' },
		{ "uevent", no_argument, NULL, 'u' },
		{ "rt", required_argument, NULL, 'P' },
		{ "hold", required_argument, NULL, 'H' },
		{ "dump", no_argument, NULL, 'd' },
		{ "info", no_argument, NULL, 'i' },
		{ "stats", no_argument, NULL, 's' },
		{ "get", required_argument, NULL, 'g' },
		{ "router", required_argument, NULL, 'R' },
		{ "eject", required_argument, NULL, 'e' },
		{ "set", required_argument, NULL, 'S' },
		{ "bad", no_argument, NULL, 'B' },
		{ "add-quirk", required_argument, NULL, 'Q' },
		{ "unpriv", no_argument, NULL, 'U' },
		{ "netadmin", no_argument, NULL, 'N' },
		{ "reset", required_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 },
	};
	int count = 0, timeout_s = 0, rcvbuf = 0, pause_ms = 0, c;
	const char *hold = NULL;
	bool uevent = false;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': count = atoi(optarg); break;
		case 't': timeout_s = atoi(optarg); break;
		case 'b': rcvbuf = atoi(optarg); break;
		case 'p': pause_ms = atoi(optarg); break;
		case 'r': opt_resync = 1; break;
		case 'u': uevent = true; break;
		case 'H': hold = optarg; break;
		case 'P': {
			struct sched_param sp = { .sched_priority = atoi(optarg) };

			if (sched_setscheduler(0, SCHED_FIFO, &sp)) {
				perror("sched_setscheduler");
				return 2;
			}
			/* no page fault between a wakeup and its receipt time */
			if (mlockall(MCL_CURRENT | MCL_FUTURE)) {
				perror("mlockall");
				return 2;
			}
			break;
		}
		case 'd': return do_dump_all();
		case 'i': return do_simple(EGPUHP_CMD_GET_INFO, "info", false) ? 1 : 0;
		case 's': return do_simple(EGPUHP_CMD_GET_STATS, "stats", false) ? 1 : 0;
		case 'g': return do_dev_cmd(EGPUHP_CMD_GET_DEV, "get", optarg) ? 1 : 0;
		case 'R': return do_router(optarg) ? 1 : 0;
		case 'e': return do_dev_cmd(EGPUHP_CMD_EJECT, "eject", optarg) ? 1 : 0;
		case 'S': return do_set(optarg) ? 1 : 0;
		case 'B': return do_bad();
		case 'Q': return do_add_quirk(optarg);
		case 'U': return do_unpriv();
		case 'N': return do_netadmin();
		case 'X': return do_dev_cmd(EGPUHP_CMD_RESET, "reset", optarg) ? 1 : 0;
		default:
			fprintf(stderr, "usage: see the comment at the top of tests/kmod/listener.c\n");
			return 2;
		}
	}
	return do_listen(count, timeout_s, rcvbuf, pause_ms, uevent, hold);
}
