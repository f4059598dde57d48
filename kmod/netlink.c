// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: the "egpuhp" generic netlink family: policies, commands, dumps.
 *
 * Every command has its own strict policy: an attribute a command does not
 * take is refused ("Unsupported attribute"), strings have maximum lengths,
 * nests are validated against their own policies.  Commands that change
 * anything or touch hardware need CAP_SYS_ADMIN, as the kernel's own
 * pci-sysfs reset and config writes do (pre_doit() checks it; CAP_NET_ADMIN
 * is not enough).  Reads have no side effects: no event, no change of the
 * tables, whoever asks.  Dumps set cb->seq to the device table's
 * generation, so a dump that raced with a change is flagged
 * NLM_F_DUMP_INTR, and every dump message carries the last event sequence
 * number so a listener can tell which events it must still apply.
 *
 * The family has parallel_ops: a reset or an eject may take seconds and
 * must not hold the global genl_mutex, which every other family without
 * parallel_ops waits on.  The device table, the quirk table, the rescan
 * lock and config_mutex below are egpuhp's own serialisation.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <net/genetlink.h>

#include "egpuhp.h"
#include "compat.h"
#include "quirks.h"

/* ---- policies ---- */

const struct nla_policy egpuhp_dev_nl_policy[EGPUHP_DEV_A_MAX + 1] = {
	[EGPUHP_DEV_A_NAME] = { .type = NLA_NUL_STRING,
				.len = EGPUHP_PCI_NAME_LEN - 1 },
};

static const struct nla_policy router_req_policy[EGPUHP_ROUTER_A_MAX + 1] = {
	[EGPUHP_ROUTER_A_NAME] = { .type = NLA_NUL_STRING,
				   .len = EGPUHP_ROUTER_NAME_LEN - 1 },
};

/* not const: 6.1's nla_policy.range is non-const; its NLA_POLICY_MAX() s16 */
static struct netlink_range_validation slow_us_range = {
	.max = EGPUHP_WATCHDOG_SLOW_US_MAX,
};

static const struct nla_policy config_policy[EGPUHP_CONFIG_A_MAX + 1] = {
	[EGPUHP_CONFIG_A_TRACK_HOTPLUG] = NLA_POLICY_MAX(NLA_U8, 1),
	[EGPUHP_CONFIG_A_WATCHDOG_MS] = { .type = NLA_U32 },
	[EGPUHP_CONFIG_A_WATCHDOG_SLOW_US] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &slow_us_range),
};

/* commands that take nothing but the optional version */
static const struct nla_policy plain_policy[EGPUHP_A_MAX + 1] = {
	[EGPUHP_A_VERSION] = { .type = NLA_U32 },
};

static const struct nla_policy dev_req_policy[EGPUHP_A_MAX + 1] = {
	[EGPUHP_A_VERSION] = { .type = NLA_U32 },
	[EGPUHP_A_DEV] = NLA_POLICY_NESTED(egpuhp_dev_nl_policy),
};

static const struct nla_policy router_policy[EGPUHP_A_MAX + 1] = {
	[EGPUHP_A_VERSION] = { .type = NLA_U32 },
	[EGPUHP_A_ROUTER] = NLA_POLICY_NESTED(router_req_policy),
};

static const struct nla_policy set_config_policy[EGPUHP_A_MAX + 1] = {
	[EGPUHP_A_VERSION] = { .type = NLA_U32 },
	[EGPUHP_A_CONFIG] = NLA_POLICY_NESTED(config_policy),
};

static const struct nla_policy quirk_policy[EGPUHP_A_MAX + 1] = {
	[EGPUHP_A_VERSION] = { .type = NLA_U32 },
	[EGPUHP_A_QUIRK] = NLA_POLICY_NESTED(egpuhp_quirk_nl_policy),
};

static const struct nla_policy reset_policy[EGPUHP_A_MAX + 1] = {
	[EGPUHP_A_VERSION] = { .type = NLA_U32 },
	[EGPUHP_A_DEV] = NLA_POLICY_NESTED(egpuhp_dev_nl_policy),
	[EGPUHP_A_RESET] = NLA_POLICY_NESTED(egpuhp_reset_nl_policy),
};

/* ---- message building ---- */

/**
 * egpuhp_nl_put_version() - put EGPUHP_A_VERSION, which starts every message
 * @skb: the message
 *
 * Return: 0, or -EMSGSIZE.
 */
int egpuhp_nl_put_version(struct sk_buff *skb)
{
	return nla_put_u32(skb, EGPUHP_A_VERSION, EGPUHP_GENL_VERSION);
}

static int put_str(struct sk_buff *skb, int type, const char *s)
{
	return s[0] ? nla_put_string(skb, type, s) : 0;
}

static int put_link(struct sk_buff *skb, const struct egpuhp_link *l)
{
	struct nlattr *nest;

	if (!l->cur_speed && !l->max_speed)
		return 0;	/* not PCIe, or nothing readable */
	nest = nla_nest_start(skb, EGPUHP_DEV_A_LINK);
	if (!nest ||
	    nla_put_u32(skb, EGPUHP_LINK_A_CUR_SPEED, l->cur_speed) ||
	    nla_put_u32(skb, EGPUHP_LINK_A_CUR_WIDTH, l->cur_width) ||
	    nla_put_u32(skb, EGPUHP_LINK_A_MAX_SPEED, l->max_speed) ||
	    nla_put_u32(skb, EGPUHP_LINK_A_MAX_WIDTH, l->max_width))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

static int put_dev_attrs(struct sk_buff *skb, struct pci_dev *pdev,
			 struct egpuhp_dev *d)
{
	struct pci_dev *up = pci_upstream_bridge(pdev);
	struct egpuhp_link link;

	if (nla_put_string(skb, EGPUHP_DEV_A_NAME, pci_name(pdev)) ||
	    nla_put_u16(skb, EGPUHP_DEV_A_VENDOR, pdev->vendor) ||
	    nla_put_u16(skb, EGPUHP_DEV_A_DEVICE, pdev->device) ||
	    nla_put_u16(skb, EGPUHP_DEV_A_SUBSYS_VENDOR,
			pdev->subsystem_vendor) ||
	    nla_put_u16(skb, EGPUHP_DEV_A_SUBSYS_DEVICE,
			pdev->subsystem_device) ||
	    nla_put_u32(skb, EGPUHP_DEV_A_CLASS, pdev->class) ||
	    nla_put_u8(skb, EGPUHP_DEV_A_REVISION, pdev->revision) ||
	    nla_put_u32(skb, EGPUHP_DEV_A_QUIRKS,
			egpuhp_quirks_applied(pdev)))
		return -EMSGSIZE;

	if (!d) {
		/* an untracked function, named in a request */
		if (up && nla_put_string(skb, EGPUHP_DEV_A_PARENT,
					 pci_name(up)))
			return -EMSGSIZE;
		if (pdev->dev.driver &&
		    nla_put_string(skb, EGPUHP_DEV_A_DRIVER,
				   dev_driver_string(&pdev->dev)))
			return -EMSGSIZE;
		egpuhp_link_read(pdev, &link);
		if (nla_put_u32(skb, EGPUHP_DEV_A_TRACK, EGPUHP_TRACK_NONE) ||
		    nla_put_u8(skb, EGPUHP_DEV_A_PRESENT,
			       pci_device_is_present(pdev)) ||
		    put_link(skb, &link))
			return -EMSGSIZE;
		return 0;
	}

	if (put_str(skb, EGPUHP_DEV_A_PARENT, d->parent) ||
	    put_str(skb, EGPUHP_DEV_A_DRIVER, d->driver) ||
	    put_str(skb, EGPUHP_DEV_A_PORT, d->port) ||
	    put_str(skb, EGPUHP_DEV_A_ROUTER_UID, d->router_uid) ||
	    put_str(skb, EGPUHP_DEV_A_GROUP, d->group) ||
	    nla_put_u32(skb, EGPUHP_DEV_A_TRACK, d->track) ||
	    (d->is_gpu && nla_put_flag(skb, EGPUHP_DEV_A_IS_GPU)) ||
	    nla_put_u8(skb, EGPUHP_DEV_A_PRESENT, d->present) ||
	    put_link(skb, &d->link))
		return -EMSGSIZE;
	return 0;
}

/**
 * egpuhp_nl_put_dev() - put an EGPUHP_A_DEV nest for a PCI function
 * @skb: the message
 * @pdev: the function, tracked or not
 * @d: its table entry, whose fields are used, or NULL for an untracked
 *     function (whose driver, presence and link are read now)
 *
 * The caller holds the table lock if @d is given.  On failure the nest is
 * taken out again.
 *
 * Return: 0, or -EMSGSIZE.
 */
int egpuhp_nl_put_dev(struct sk_buff *skb, struct pci_dev *pdev,
		      struct egpuhp_dev *d)
{
	struct nlattr *nest = nla_nest_start(skb, EGPUHP_A_DEV);

	if (!nest)
		return -EMSGSIZE;
	if (put_dev_attrs(skb, pdev, d)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int put_router_attrs(struct sk_buff *skb,
			    const struct egpuhp_router *r)
{
	if (nla_put_string(skb, EGPUHP_ROUTER_A_NAME, r->name) ||
	    put_str(skb, EGPUHP_ROUTER_A_UNIQUE_ID, r->unique_id) ||
	    nla_put_u32(skb, EGPUHP_ROUTER_A_VENDOR, r->vendor) ||
	    nla_put_u32(skb, EGPUHP_ROUTER_A_DEVICE, r->device) ||
	    put_str(skb, EGPUHP_ROUTER_A_VENDOR_NAME, r->vendor_name) ||
	    put_str(skb, EGPUHP_ROUTER_A_DEVICE_NAME, r->device_name) ||
	    nla_put_u32(skb, EGPUHP_ROUTER_A_GENERATION, r->generation) ||
	    nla_put_u32(skb, EGPUHP_ROUTER_A_RX_SPEED, r->rx_speed) ||
	    nla_put_u32(skb, EGPUHP_ROUTER_A_RX_LANES, r->rx_lanes) ||
	    nla_put_u32(skb, EGPUHP_ROUTER_A_TX_SPEED, r->tx_speed) ||
	    nla_put_u32(skb, EGPUHP_ROUTER_A_TX_LANES, r->tx_lanes) ||
	    nla_put_u32(skb, EGPUHP_ROUTER_A_AUTHORIZED, r->authorized) ||
	    nla_put_u8(skb, EGPUHP_ROUTER_A_BOOT, r->boot) ||
	    put_str(skb, EGPUHP_ROUTER_A_DOMAIN, r->domain) ||
	    put_str(skb, EGPUHP_ROUTER_A_SECURITY, r->security) ||
	    nla_put_u8(skb, EGPUHP_ROUTER_A_IOMMU_PROT, r->iommu_prot) ||
	    nla_put_u32(skb, EGPUHP_ROUTER_A_DEPTH, r->depth))
		return -EMSGSIZE;
	return 0;
}

/**
 * egpuhp_nl_put_router() - put an EGPUHP_A_ROUTER nest for a router
 * @skb: the message
 * @r: the router's attributes
 *
 * On failure the nest is taken out again.
 *
 * Return: 0, or -EMSGSIZE.
 */
int egpuhp_nl_put_router(struct sk_buff *skb, const struct egpuhp_router *r)
{
	struct nlattr *nest = nla_nest_start(skb, EGPUHP_A_ROUTER);

	if (!nest)
		return -EMSGSIZE;
	if (put_router_attrs(skb, r)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int put_seq(struct sk_buff *skb)
{
	return nla_put_u64_64bit(skb, EGPUHP_A_SEQ, egpuhp_event_last_seq(),
				 EGPUHP_A_PAD);
}

/* ---- request parsing ---- */

/**
 * egpuhp_nl_get_pdev() - the PCI function a request names
 * @info: the request; EGPUHP_A_DEV/EGPUHP_DEV_A_NAME ("DDDD:BB:DD.F")
 *
 * Return: the pci_dev with a reference (pci_dev_put() it), or an ERR_PTR
 * with an extack message set: -EINVAL for a missing or malformed name,
 * -ENODEV if no such function exists.
 */
struct pci_dev *egpuhp_nl_get_pdev(struct genl_info *info)
{
	struct nlattr *tb[EGPUHP_DEV_A_MAX + 1];
	unsigned int domain, bus, slot, fn;
	struct pci_dev *pdev;
	char extra;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, EGPUHP_A_DEV)) {
		NL_SET_ERR_MSG(info->extack, "PCI function (EGPUHP_A_DEV) missing");
		return ERR_PTR(-EINVAL);
	}
	ret = nla_parse_nested(tb, EGPUHP_DEV_A_MAX, info->attrs[EGPUHP_A_DEV],
			       egpuhp_dev_nl_policy, info->extack);
	if (ret)
		return ERR_PTR(ret);
	if (!tb[EGPUHP_DEV_A_NAME]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[EGPUHP_A_DEV],
				    "PCI function name (EGPUHP_DEV_A_NAME) missing");
		return ERR_PTR(-EINVAL);
	}
	if (sscanf(nla_data(tb[EGPUHP_DEV_A_NAME]), "%x:%x:%x.%x%c",
		   &domain, &bus, &slot, &fn, &extra) != 4 ||
	    domain > 0xffff || bus > 0xff || slot > 0x1f || fn > 7) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[EGPUHP_DEV_A_NAME],
				    "malformed PCI function name, want DDDD:BB:DD.F");
		return ERR_PTR(-EINVAL);
	}
	pdev = pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(slot, fn));
	if (!pdev) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[EGPUHP_DEV_A_NAME],
				    "no such PCI function");
		return ERR_PTR(-ENODEV);
	}
	return pdev;
}

/**
 * egpuhp_nl_reply_new() - start the reply to a request
 * @info: the request
 * @hdr: set to the reply's generic netlink header
 *
 * The reply has the request's command and EGPUHP_A_VERSION; finish it with
 * egpuhp_nl_reply_send() or free it with nlmsg_free().
 *
 * Return: the message, or NULL without memory.
 */
struct sk_buff *egpuhp_nl_reply_new(struct genl_info *info, void **hdr)
{
	struct sk_buff *msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);

	if (!msg)
		return NULL;
	*hdr = genlmsg_put_reply(msg, info, &egpuhp_genl_family, 0,
				 info->genlhdr->cmd);
	if (!*hdr || egpuhp_nl_put_version(msg)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/**
 * egpuhp_nl_reply_send() - finish and send a reply
 * @msg: the reply from egpuhp_nl_reply_new(); consumed
 * @hdr: its header
 * @info: the request
 *
 * Return: 0, or a negative errno from genlmsg_reply().
 */
int egpuhp_nl_reply_send(struct sk_buff *msg, void *hdr,
			 struct genl_info *info)
{
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* The reply to a read also carries the last event's sequence number. */
static struct sk_buff *read_reply_new(struct genl_info *info, void **hdr)
{
	struct sk_buff *msg = egpuhp_nl_reply_new(info, hdr);

	if (msg && put_seq(msg)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/**
 * egpuhp_nl_dump_put() - start the next message of a dump
 * @skb: the dump's buffer
 * @cb: the dump; cb->seq holds the generation the message belongs to
 * @cmd: the dump's command
 *
 * The message is flagged NLM_F_DUMP_INTR where the generation changed
 * since the dump began (genl_dump_check_consistent()), and starts with
 * EGPUHP_A_VERSION.  Finish it with genlmsg_end() or take it out with
 * genlmsg_cancel().
 *
 * Return: the message's header, or NULL when @skb is full.
 */
void *egpuhp_nl_dump_put(struct sk_buff *skb, struct netlink_callback *cb,
			 u8 cmd)
{
	void *hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				cb->nlh->nlmsg_seq, &egpuhp_genl_family,
				NLM_F_MULTI, cmd);

	if (!hdr)
		return NULL;
	genl_dump_check_consistent(cb, hdr);
	if (egpuhp_nl_put_version(skb)) {
		genlmsg_cancel(skb, hdr);
		return NULL;
	}
	return hdr;
}

/* A dump message of a read also carries the last event's sequence number. */
static void *read_dump_put(struct sk_buff *skb, struct netlink_callback *cb,
			   u8 cmd)
{
	void *hdr = egpuhp_nl_dump_put(skb, cb, cmd);

	if (hdr && put_seq(skb)) {
		genlmsg_cancel(skb, hdr);
		return NULL;
	}
	return hdr;
}

/* ---- commands ---- */

static int get_info_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *nest;
	struct sk_buff *msg;
	void *hdr;

	msg = read_reply_new(info, &hdr);
	if (!msg)
		return -ENOMEM;
	if (nla_put_string(msg, EGPUHP_A_MODULE_VERSION, EGPUHP_MODULE_VERSION))
		goto nospace;
	nest = nla_nest_start(msg, EGPUHP_A_CONFIG);
	if (!nest ||
	    nla_put_u8(msg, EGPUHP_CONFIG_A_TRACK_HOTPLUG,
		       READ_ONCE(egpuhp_track_hotplug)) ||
	    nla_put_u32(msg, EGPUHP_CONFIG_A_WATCHDOG_MS,
			READ_ONCE(egpuhp_watchdog_ms)) ||
	    nla_put_u32(msg, EGPUHP_CONFIG_A_WATCHDOG_SLOW_US,
			READ_ONCE(egpuhp_watchdog_slow_us)))
		goto nospace;
	nla_nest_end(msg, nest);
	if (egpuhp_quirks_put_info(msg))
		goto nospace;
	return egpuhp_nl_reply_send(msg, hdr, info);

nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static int get_stats_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct egpuhp_stats st;
	struct nlattr *nest;
	struct sk_buff *msg;
	void *hdr;

	msg = read_reply_new(info, &hdr);
	if (!msg)
		return -ENOMEM;
	egpuhp_event_get_stats(&st);
	nest = nla_nest_start(msg, EGPUHP_A_STATS);
	if (!nest ||
	    nla_put_u64_64bit(msg, EGPUHP_STATS_A_EVENTS, st.events,
			      EGPUHP_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, EGPUHP_STATS_A_MCAST_FAIL, st.mcast_fail,
			      EGPUHP_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, EGPUHP_STATS_A_NO_LISTENER, st.no_listener,
			      EGPUHP_STATS_A_PAD) ||
	    nla_put_u64_64bit(msg, EGPUHP_STATS_A_ALLOC_FAIL, st.alloc_fail,
			      EGPUHP_STATS_A_PAD) ||
	    nla_put_u32(msg, EGPUHP_STATS_A_DEVICES, egpuhp_dev_count()) ||
	    nla_put_u32(msg, EGPUHP_STATS_A_ROUTERS, egpuhp_router_count())) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, nest);
	return egpuhp_nl_reply_send(msg, hdr, info);
}

/*
 * @d as a read shows it: the entry with presence and link read now, where
 * the device may be asked (egpuhp_pci_answers()).  A GPU the watchdog
 * found lost stays absent until the watchdog sees it answer again, so a
 * read never contradicts the events.  Nothing is stored and no event is
 * sent.  Caller holds the devtab lock.
 */
static void dev_now(const struct egpuhp_dev *d, struct egpuhp_dev *now)
{
	struct egpuhp_link link;
	int answers;

	*now = *d;
	if (d->removed_sent)
		return;
	answers = egpuhp_pci_answers(d->pdev);
	if (answers < 0)
		return;
	now->present = d->present && answers;
	if (!now->present)
		return;
	egpuhp_link_read(d->pdev, &link);
	if (link.cur_speed)
		now->link = link;
}

/* the nest of @pdev, tracked entry or not, as a read shows it now */
static int put_dev_now(struct sk_buff *skb, struct pci_dev *pdev,
		       const struct egpuhp_dev *d)
{
	struct egpuhp_dev now;

	if (!d)
		return egpuhp_nl_put_dev(skb, pdev, NULL);
	dev_now(d, &now);
	return egpuhp_nl_put_dev(skb, pdev, &now);
}

static int get_dev_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct egpuhp_dev *d;
	struct pci_dev *pdev;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	pdev = egpuhp_nl_get_pdev(info);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	msg = read_reply_new(info, &hdr);
	if (!msg) {
		ret = -ENOMEM;
		goto out;
	}
	egpuhp_devtab_lock();
	d = egpuhp_dev_find(pdev);
	ret = put_dev_now(msg, pdev, d);
	egpuhp_devtab_unlock();
	egpuhp_dev_put(d);
	if (ret)
		nlmsg_free(msg);
	else
		ret = egpuhp_nl_reply_send(msg, hdr, info);
out:
	pci_dev_put(pdev);
	return ret;
}

/*
 * cb->args[0]: next index.  Indices shift when
 * the table changes between two parts of a dump; the generation check
 * reports exactly that case to the reader.
 */
static int get_dev_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned int idx = cb->args[0];
	struct egpuhp_dev *d;
	void *hdr;
	int ret = 0;

	egpuhp_devtab_lock();
	cb->seq = egpuhp_devtab_generation();
	for (;; idx++) {
		d = egpuhp_dev_nth(idx);
		if (!d)
			break;
		hdr = read_dump_put(skb, cb, EGPUHP_CMD_GET_DEV);
		if (!hdr) {
			egpuhp_dev_put(d);
			ret = skb->len ? skb->len : -EMSGSIZE;
			break;
		}
		ret = put_dev_now(skb, d->pdev, d);
		egpuhp_dev_put(d);
		if (ret) {
			genlmsg_cancel(skb, hdr);
			ret = skb->len ? skb->len : -EMSGSIZE;
			break;
		}
		genlmsg_end(skb, hdr);
	}
	egpuhp_devtab_unlock();
	cb->args[0] = idx;
	return d ? ret : skb->len;
}

static int get_router_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[EGPUHP_ROUTER_A_MAX + 1];
	struct egpuhp_router *r;
	struct sk_buff *msg;
	bool found;
	void *hdr;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, EGPUHP_A_ROUTER)) {
		NL_SET_ERR_MSG(info->extack, "router (EGPUHP_A_ROUTER) missing");
		return -EINVAL;
	}
	ret = nla_parse_nested(tb, EGPUHP_ROUTER_A_MAX,
			       info->attrs[EGPUHP_A_ROUTER], router_req_policy,
			       info->extack);
	if (ret)
		return ret;
	if (!tb[EGPUHP_ROUTER_A_NAME]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[EGPUHP_A_ROUTER],
				    "router name (EGPUHP_ROUTER_A_NAME) missing");
		return -EINVAL;
	}
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	egpuhp_devtab_lock();
	found = egpuhp_router_copy_name(nla_data(tb[EGPUHP_ROUTER_A_NAME]), r);
	if (found)
		egpuhp_tb_read_now(r);	/* authorization has no notifier */
	egpuhp_devtab_unlock();
	if (!found) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[EGPUHP_ROUTER_A_NAME],
				    "no such Thunderbolt router");
		ret = -ENODEV;
		goto out;
	}
	ret = -ENOMEM;
	msg = read_reply_new(info, &hdr);
	if (!msg)
		goto out;
	ret = egpuhp_nl_put_router(msg, r);
	if (ret)
		nlmsg_free(msg);
	else
		ret = egpuhp_nl_reply_send(msg, hdr, info);
out:
	kfree(r);
	return ret;
}

static int get_router_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned int idx = cb->args[0];
	struct egpuhp_router *r;
	bool more = false;
	void *hdr;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	egpuhp_devtab_lock();
	cb->seq = egpuhp_devtab_generation();
	for (;; idx++) {
		if (!egpuhp_router_copy_nth(idx, r))
			break;
		egpuhp_tb_read_now(r);
		hdr = read_dump_put(skb, cb, EGPUHP_CMD_GET_ROUTER);
		if (!hdr) {
			more = true;
			break;
		}
		if (egpuhp_nl_put_router(skb, r)) {
			genlmsg_cancel(skb, hdr);
			more = true;
			break;
		}
		genlmsg_end(skb, hdr);
	}
	egpuhp_devtab_unlock();
	kfree(r);
	cb->args[0] = idx;
	if (more && !skb->len)
		return -EMSGSIZE;
	return skb->len;
}

/* serialises SET_CONFIG requests: a setting and its rescan go together */
static DEFINE_MUTEX(config_mutex);

static int set_config_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[EGPUHP_CONFIG_A_MAX + 1];
	bool rescan = false;
	u32 ms;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, EGPUHP_A_CONFIG)) {
		NL_SET_ERR_MSG(info->extack, "settings (EGPUHP_A_CONFIG) missing");
		return -EINVAL;
	}
	ret = nla_parse_nested(tb, EGPUHP_CONFIG_A_MAX,
			       info->attrs[EGPUHP_A_CONFIG], config_policy,
			       info->extack);
	if (ret)
		return ret;
	if (tb[EGPUHP_CONFIG_A_WATCHDOG_MS]) {
		ms = nla_get_u32(tb[EGPUHP_CONFIG_A_WATCHDOG_MS]);
		if ((ms && ms < EGPUHP_WATCHDOG_MS_MIN) ||
		    ms > EGPUHP_WATCHDOG_MS_MAX) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    tb[EGPUHP_CONFIG_A_WATCHDOG_MS],
					    "watchdog period must be 0 (off) or 10..3600000 ms");
			return -EINVAL;
		}
	}
	mutex_lock(&config_mutex);
	if (tb[EGPUHP_CONFIG_A_TRACK_HOTPLUG]) {
		bool on = nla_get_u8(tb[EGPUHP_CONFIG_A_TRACK_HOTPLUG]);

		rescan = on != READ_ONCE(egpuhp_track_hotplug);
		WRITE_ONCE(egpuhp_track_hotplug, on);
	}
	if (tb[EGPUHP_CONFIG_A_WATCHDOG_MS]) {
		WRITE_ONCE(egpuhp_watchdog_ms,
			   nla_get_u32(tb[EGPUHP_CONFIG_A_WATCHDOG_MS]));
		egpuhp_watchdog_reconfigure();
	}
	/* read at each presence check: nothing to restart */
	if (tb[EGPUHP_CONFIG_A_WATCHDOG_SLOW_US])
		WRITE_ONCE(egpuhp_watchdog_slow_us,
			   nla_get_u32(tb[EGPUHP_CONFIG_A_WATCHDOG_SLOW_US]));
	if (rescan)
		egpuhp_pci_rescan_tracking();
	mutex_unlock(&config_mutex);
	return 0;
}

static int eject_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct pci_dev *pdev;
	int ret;

	pdev = egpuhp_nl_get_pdev(info);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	ret = egpuhp_pci_eject(pdev, info->extack);
	pci_dev_put(pdev);
	return ret;
}

/* internal_flags of the commands that change state or touch hardware */
#define EGPUHP_OP_SYS_ADMIN	BIT(0)

static bool nl_ready;

static int egpuhp_pre_doit(const struct egpuhp_genl_doit_ops *ops,
			   struct sk_buff *skb, struct genl_info *info)
{
	if ((ops->internal_flags & EGPUHP_OP_SYS_ADMIN) &&
	    !netlink_capable(skb, CAP_SYS_ADMIN)) {
		NL_SET_ERR_MSG(info->extack, "needs CAP_SYS_ADMIN");
		return -EPERM;
	}
	if (!READ_ONCE(nl_ready)) {
		NL_SET_ERR_MSG(info->extack, "egpuhp is still loading");
		return -EAGAIN;
	}
	return 0;
}

static const struct genl_ops egpuhp_ops[] = {
	{
		.cmd = EGPUHP_CMD_GET_INFO,
		.doit = get_info_doit,
		.policy = plain_policy,
		.maxattr = EGPUHP_A_MAX,
	},
	{
		.cmd = EGPUHP_CMD_GET_DEV,
		.doit = get_dev_doit,
		.dumpit = get_dev_dumpit,
		.policy = dev_req_policy,
		.maxattr = EGPUHP_A_MAX,
	},
	{
		.cmd = EGPUHP_CMD_GET_ROUTER,
		.doit = get_router_doit,
		.dumpit = get_router_dumpit,
		.policy = router_policy,
		.maxattr = EGPUHP_A_MAX,
	},
	{
		.cmd = EGPUHP_CMD_GET_STATS,
		.doit = get_stats_doit,
		.policy = plain_policy,
		.maxattr = EGPUHP_A_MAX,
	},
	{
		.cmd = EGPUHP_CMD_SET_CONFIG,
		.doit = set_config_doit,
		.internal_flags = EGPUHP_OP_SYS_ADMIN,
		.policy = set_config_policy,
		.maxattr = EGPUHP_A_MAX,
	},
	{
		.cmd = EGPUHP_CMD_GET_QUIRK,
		.dumpit = egpuhp_nl_get_quirk_dumpit,
		.policy = quirk_policy,
		.maxattr = EGPUHP_A_MAX,
	},
	{
		.cmd = EGPUHP_CMD_ADD_QUIRK,
		.doit = egpuhp_nl_add_quirk_doit,
		.internal_flags = EGPUHP_OP_SYS_ADMIN,
		.policy = quirk_policy,
		.maxattr = EGPUHP_A_MAX,
	},
	{
		.cmd = EGPUHP_CMD_DEL_QUIRK,
		.doit = egpuhp_nl_del_quirk_doit,
		.internal_flags = EGPUHP_OP_SYS_ADMIN,
		.policy = quirk_policy,
		.maxattr = EGPUHP_A_MAX,
	},
	{
		.cmd = EGPUHP_CMD_RESET,
		.doit = egpuhp_nl_reset_doit,
		.internal_flags = EGPUHP_OP_SYS_ADMIN,
		.policy = reset_policy,
		.maxattr = EGPUHP_A_MAX,
	},
	{
		.cmd = EGPUHP_CMD_EJECT,
		.doit = eject_doit,
		.internal_flags = EGPUHP_OP_SYS_ADMIN,
		.policy = dev_req_policy,
		.maxattr = EGPUHP_A_MAX,
	},
};

static const struct genl_multicast_group egpuhp_mcgrps[] = {
	{ .name = EGPUHP_MCGRP_EVENTS, },
};

struct genl_family egpuhp_genl_family __ro_after_init = {
	.name = EGPUHP_GENL_NAME,
	.version = EGPUHP_GENL_VERSION,
	.module = THIS_MODULE,
	.ops = egpuhp_ops,
	.n_ops = ARRAY_SIZE(egpuhp_ops),
	.mcgrps = egpuhp_mcgrps,
	.n_mcgrps = ARRAY_SIZE(egpuhp_mcgrps),
	.pre_doit = egpuhp_pre_doit,
	.parallel_ops = true,
	/* strict header and attribute checks for every command */
	.resv_start_op = 0,
};

/**
 * egpuhp_netlink_init() - register the generic netlink family
 *
 * Events are switched on once it is registered; commands are refused with
 * -EAGAIN until egpuhp_netlink_ready().
 *
 * Return: 0, or the error of genl_register_family().
 */
int egpuhp_netlink_init(void)
{
	int ret = genl_register_family(&egpuhp_genl_family);

	if (ret)
		return ret;
	egpuhp_event_enable(true);
	return 0;
}

/**
 * egpuhp_netlink_ready() - accept commands from now on
 *
 * Called once every part of the module is initialised.
 */
void egpuhp_netlink_ready(void)
{
	WRITE_ONCE(nl_ready, true);
}

/**
 * egpuhp_netlink_exit() - stop events and unregister the family
 *
 * genl_unregister_family() takes cb_lock for writing, which every request
 * holds for reading while it runs: it returns once no doit is running.
 * Dumps in progress hold a module reference, so none runs at unload.
 */
void egpuhp_netlink_exit(void)
{
	egpuhp_event_enable(false);
	genl_unregister_family(&egpuhp_genl_family);
	WRITE_ONCE(nl_ready, false);
}
