// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp: netlink commands of the quirk table and resets:
 *   EGPUHP_CMD_GET_QUIRK   dump: every entry, with the functions it is
 *                          applied to (EGPUHP_QUIRK_A_APPLIED_DEV)
 *   EGPUHP_CMD_ADD_QUIRK   add an entry, reply with its id
 *   EGPUHP_CMD_DEL_QUIRK   delete an entry by id
 *   EGPUHP_CMD_RESET       reset a function egpuhp tracks
 * The privilege the mutating ones need is in the core's op table.  The
 * family is parallel_ops: nothing here relies on genl_mutex.  The table
 * has its own lock (quirks.c), a reset takes the device locks, a dump
 * copies one entry at a time and flags itself interrupted
 * (NLM_F_DUMP_INTR) when the table changed between two of its parts.
 */
#include <linux/module.h>
#include <net/genetlink.h>
#include "egpuhp.h"
#include "quirks.h"

/* not const: 6.1's nla_policy.range is a non-const pointer */
static struct netlink_range_validation class_range = {
	.min = 0, .max = 0xffffff,
};

const struct nla_policy egpuhp_quirk_nl_policy[EGPUHP_QUIRK_A_MAX + 1] = {
	[EGPUHP_QUIRK_A_ID]		= { .type = NLA_U32 },
	[EGPUHP_QUIRK_A_VENDOR]		= { .type = NLA_U16 },
	[EGPUHP_QUIRK_A_DEVICE]		= { .type = NLA_U16 },
	[EGPUHP_QUIRK_A_SUBSYS_VENDOR]	= { .type = NLA_U16 },
	[EGPUHP_QUIRK_A_SUBSYS_DEVICE]	= { .type = NLA_U16 },
	[EGPUHP_QUIRK_A_CLASS]		= NLA_POLICY_FULL_RANGE(NLA_U32, &class_range),
	[EGPUHP_QUIRK_A_CLASS_MASK]	= NLA_POLICY_FULL_RANGE(NLA_U32, &class_range),
	[EGPUHP_QUIRK_A_ACTIONS]	= NLA_POLICY_MASK(NLA_U32, EGPUHP_QUIRK_ALL),
	[EGPUHP_QUIRK_A_D3HOT_DELAY_MS]	= NLA_POLICY_MAX(NLA_U32, 10000),
	[EGPUHP_QUIRK_A_D3COLD_DELAY_MS] = NLA_POLICY_MAX(NLA_U32, 10000),
	[EGPUHP_QUIRK_A_RESET_ORDER]	= { .type = NLA_NUL_STRING,
					    .len = EGPUHP_RESET_ORDER_LEN - 1 },
	[EGPUHP_QUIRK_A_SOURCE]		= NLA_POLICY_MAX(NLA_U32, EGPUHP_QUIRK_SRC_NETLINK),
	[EGPUHP_QUIRK_A_NOTE]		= { .type = NLA_NUL_STRING,
					    .len = EGPUHP_QUIRK_NOTE_LEN - 1 },
	[EGPUHP_QUIRK_A_RESET_METHOD]	= NLA_POLICY_MAX(NLA_U32, EGPUHP_RESET_MAX),
	[EGPUHP_QUIRK_A_APPLIED_DEV]	= { .type = NLA_NUL_STRING,
					    .len = EGPUHP_PCI_NAME_LEN - 1 },
	/* repeated; which methods may be steps: egpuhp_quirk_check() */
	[EGPUHP_QUIRK_A_RESET_STEP]	= NLA_POLICY_MAX(NLA_U32, EGPUHP_RESET_MAX),
	[EGPUHP_QUIRK_A_MATCH_FLAGS]	= NLA_POLICY_MASK(NLA_U32, EGPUHP_QUIRK_MATCH_ALL),
};

const struct nla_policy egpuhp_reset_nl_policy[EGPUHP_RESET_A_MAX + 1] = {
	[EGPUHP_RESET_A_METHOD]		= NLA_POLICY_MAX(NLA_U32, EGPUHP_RESET_MAX),
};

#define MAX_APPLIED_DEVS	32

static int put_quirk(struct sk_buff *skb, const struct egpuhp_quirk *q,
		     struct egpuhp_pci_name *devs, unsigned int ndevs)
{
	struct nlattr *nest = nla_nest_start(skb, EGPUHP_A_QUIRK);
	unsigned int i;

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(skb, EGPUHP_QUIRK_A_ID, q->id) ||
	    nla_put_u16(skb, EGPUHP_QUIRK_A_VENDOR, q->vendor) ||
	    nla_put_u16(skb, EGPUHP_QUIRK_A_DEVICE, q->device) ||
	    nla_put_u16(skb, EGPUHP_QUIRK_A_SUBSYS_VENDOR, q->subsys_vendor) ||
	    nla_put_u16(skb, EGPUHP_QUIRK_A_SUBSYS_DEVICE, q->subsys_device) ||
	    nla_put_u32(skb, EGPUHP_QUIRK_A_CLASS, q->class) ||
	    nla_put_u32(skb, EGPUHP_QUIRK_A_CLASS_MASK, q->class_mask) ||
	    nla_put_u32(skb, EGPUHP_QUIRK_A_ACTIONS, q->actions) ||
	    nla_put_u32(skb, EGPUHP_QUIRK_A_MATCH_FLAGS, q->match_flags) ||
	    nla_put_u32(skb, EGPUHP_QUIRK_A_SOURCE, q->source) ||
	    nla_put_string(skb, EGPUHP_QUIRK_A_NOTE, q->note))
		goto cancel;
	if ((q->actions & EGPUHP_QUIRK_D3HOT_DELAY) &&
	    nla_put_u32(skb, EGPUHP_QUIRK_A_D3HOT_DELAY_MS, q->d3hot_delay_ms))
		goto cancel;
	if ((q->actions & EGPUHP_QUIRK_D3COLD_DELAY) &&
	    nla_put_u32(skb, EGPUHP_QUIRK_A_D3COLD_DELAY_MS, q->d3cold_delay_ms))
		goto cancel;
	if (q->reset_order[0] &&
	    nla_put_string(skb, EGPUHP_QUIRK_A_RESET_ORDER, q->reset_order))
		goto cancel;
	if (q->actions & EGPUHP_QUIRK_EGPUHP_RESET) {
		/* the first step as METHOD too, for userspace older than steps */
		if (nla_put_u32(skb, EGPUHP_QUIRK_A_RESET_METHOD, q->reset.step[0]))
			goto cancel;
		for (i = 0; i < q->reset.n; i++)
			if (nla_put_u32(skb, EGPUHP_QUIRK_A_RESET_STEP,
					q->reset.step[i]))
				goto cancel;
	}
	for (i = 0; i < ndevs; i++)
		if (nla_put_string(skb, EGPUHP_QUIRK_A_APPLIED_DEV, devs[i].s))
			goto cancel;
	nla_nest_end(skb, nest);
	return 0;
cancel:
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}

/**
 * egpuhp_nl_get_quirk_dumpit() - EGPUHP_CMD_GET_QUIRK: dump the quirk table
 * @skb: the dump's buffer
 * @cb: the dump; cb->args[0] is the next entry
 *
 * Every entry comes with the functions it is applied to
 * (EGPUHP_QUIRK_A_APPLIED_DEV, at most MAX_APPLIED_DEVS of them).  The
 * entries are copied one at a time; a dump that raced with a change of the
 * table is flagged NLM_F_DUMP_INTR.
 *
 * Return: the length of the dump's part, 0 at its end, or -ENOMEM.
 */
int egpuhp_nl_get_quirk_dumpit(struct sk_buff *skb,
			       struct netlink_callback *cb)
{
	struct egpuhp_pci_name *devs;
	struct egpuhp_quirk q;
	unsigned int ndevs, gen;
	int ret = 0;

	devs = kcalloc(MAX_APPLIED_DEVS, sizeof(*devs), GFP_KERNEL);
	if (!devs)
		return -ENOMEM;
	while (egpuhp_quirk_copy_nth(cb->args[0], &q, devs, MAX_APPLIED_DEVS,
				     &ndevs, &gen)) {
		void *hdr;

		/* prev_seq != seq: the table changed since the last part */
		cb->seq = gen;
		hdr = egpuhp_nl_dump_put(skb, cb, EGPUHP_CMD_GET_QUIRK);
		if (!hdr)
			break;
		if (put_quirk(skb, &q, devs, ndevs)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0]++;
	}
	kfree(devs);
	if (!ret)
		ret = skb->len;
	return ret;
}

static u16 get_id(struct nlattr **tb, int attr)
{
	return tb[attr] ? nla_get_u16(tb[attr]) : EGPUHP_QUIRK_ANY_ID;
}

/*
 * The reset sequence of an ADD_QUIRK request: the EGPUHP_QUIRK_A_RESET_STEP
 * attributes in order, or EGPUHP_QUIRK_A_RESET_METHOD alone (userspace
 * older than sequences), or the default "bus".  Whether each step is a
 * method a sequence may have is egpuhp_quirk_check()'s job.
 */
static int get_reset_seq(const struct nlattr *nest, struct nlattr **tb,
			 struct egpuhp_quirk *q, struct netlink_ext_ack *extack)
{
	struct nlattr *method = tb[EGPUHP_QUIRK_A_RESET_METHOD];
	const struct nlattr *a;
	int rem;

	q->reset.n = 0;
	nla_for_each_nested(a, nest, rem) {
		if (nla_type(a) != EGPUHP_QUIRK_A_RESET_STEP)
			continue;
		if (q->reset.n == EGPUHP_RESET_MAX_STEPS) {
			NL_SET_ERR_MSG_ATTR(extack, a, EGPUHP_WHY_STEPS_TOO_MANY);
			return -EINVAL;
		}
		q->reset.step[q->reset.n++] = nla_get_u32(a);
	}
	/* without the action, METHOD was always ignored; steps are refused */
	if (!(q->actions & EGPUHP_QUIRK_EGPUHP_RESET))
		return 0;
	if (method && q->reset.n &&
	    nla_get_u32(method) != q->reset.step[0]) {
		NL_SET_ERR_MSG_ATTR(extack, method,
				    "reset method differs from the first reset step");
		return -EINVAL;
	}
	if (!q->reset.n)
		q->reset.step[q->reset.n++] = method ? nla_get_u32(method) :
						       EGPUHP_RESET_BUS;
	return 0;
}

/* The request's EGPUHP_A_QUIRK nest (required) into tb. */
static int parse_quirk_req(struct genl_info *info, struct nlattr **tb)
{
	if (GENL_REQ_ATTR_CHECK(info, EGPUHP_A_QUIRK))
		return -EINVAL;
	return nla_parse_nested(tb, EGPUHP_QUIRK_A_MAX,
				info->attrs[EGPUHP_A_QUIRK],
				egpuhp_quirk_nl_policy, info->extack);
}

/**
 * egpuhp_nl_add_quirk_doit() - EGPUHP_CMD_ADD_QUIRK: add a quirk entry and apply it
 * @skb: the request
 * @info: the request's attributes (an EGPUHP_A_QUIRK nest: actions
 *        required; id, source and applied devices refused)
 *
 * The reply's EGPUHP_A_QUIRK carries the new entry's id.
 *
 * Return: 0, or a negative errno with an extack message; on any error
 * no entry was added.
 */
int egpuhp_nl_add_quirk_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[EGPUHP_QUIRK_A_MAX + 1];
	struct egpuhp_quirk q = { };
	struct nlattr *nest, *id_attr;
	struct sk_buff *msg;
	const char *why = NULL;
	void *hdr;
	u32 id;
	int ret;

	ret = parse_quirk_req(info, tb);
	if (ret)
		return ret;
	if (tb[EGPUHP_QUIRK_A_ID] || tb[EGPUHP_QUIRK_A_SOURCE] ||
	    tb[EGPUHP_QUIRK_A_APPLIED_DEV]) {
		NL_SET_ERR_MSG(info->extack, "id, source and applied devices are set by egpuhp");
		return -EINVAL;
	}
	if (!tb[EGPUHP_QUIRK_A_ACTIONS]) {
		NL_SET_ERR_MSG(info->extack, "EGPUHP_QUIRK_A_ACTIONS is required");
		return -EINVAL;
	}
	q.vendor = get_id(tb, EGPUHP_QUIRK_A_VENDOR);
	q.device = get_id(tb, EGPUHP_QUIRK_A_DEVICE);
	q.subsys_vendor = get_id(tb, EGPUHP_QUIRK_A_SUBSYS_VENDOR);
	q.subsys_device = get_id(tb, EGPUHP_QUIRK_A_SUBSYS_DEVICE);
	if (tb[EGPUHP_QUIRK_A_CLASS])
		q.class = nla_get_u32(tb[EGPUHP_QUIRK_A_CLASS]);
	if (tb[EGPUHP_QUIRK_A_CLASS_MASK])
		q.class_mask = nla_get_u32(tb[EGPUHP_QUIRK_A_CLASS_MASK]);
	q.actions = nla_get_u32(tb[EGPUHP_QUIRK_A_ACTIONS]);
	if (tb[EGPUHP_QUIRK_A_MATCH_FLAGS])
		q.match_flags = nla_get_u32(tb[EGPUHP_QUIRK_A_MATCH_FLAGS]);
	if (tb[EGPUHP_QUIRK_A_D3HOT_DELAY_MS])
		q.d3hot_delay_ms = nla_get_u32(tb[EGPUHP_QUIRK_A_D3HOT_DELAY_MS]);
	if (tb[EGPUHP_QUIRK_A_D3COLD_DELAY_MS])
		q.d3cold_delay_ms = nla_get_u32(tb[EGPUHP_QUIRK_A_D3COLD_DELAY_MS]);
	if ((q.actions & EGPUHP_QUIRK_D3HOT_DELAY) &&
	    !tb[EGPUHP_QUIRK_A_D3HOT_DELAY_MS]) {
		NL_SET_ERR_MSG(info->extack, "d3hot_delay needs EGPUHP_QUIRK_A_D3HOT_DELAY_MS");
		return -EINVAL;
	}
	if ((q.actions & EGPUHP_QUIRK_D3COLD_DELAY) &&
	    !tb[EGPUHP_QUIRK_A_D3COLD_DELAY_MS]) {
		NL_SET_ERR_MSG(info->extack, "d3cold_delay needs EGPUHP_QUIRK_A_D3COLD_DELAY_MS");
		return -EINVAL;
	}
	if (tb[EGPUHP_QUIRK_A_RESET_ORDER])
		nla_strscpy(q.reset_order, tb[EGPUHP_QUIRK_A_RESET_ORDER],
			    sizeof(q.reset_order));
	ret = get_reset_seq(info->attrs[EGPUHP_A_QUIRK], tb, &q, info->extack);
	if (ret)
		return ret;
	if (tb[EGPUHP_QUIRK_A_NOTE])
		nla_strscpy(q.note, tb[EGPUHP_QUIRK_A_NOTE], sizeof(q.note));
	else
		strscpy(q.note, "added at run time", sizeof(q.note));
	q.source = EGPUHP_QUIRK_SRC_NETLINK;

	ret = egpuhp_quirk_check(&q, &why);
	if (ret) {
		egpuhp_extack_msg(info->extack, why);
		return ret;
	}
	/*
	 * The reply, with room for the id, before the entry exists: once it
	 * is added nothing can fail but the send, so ENOMEM always means
	 * "not added" and a caller's retry never adds it twice.
	 */
	msg = egpuhp_nl_reply_new(info, &hdr);
	if (!msg)
		return -ENOMEM;
	nest = nla_nest_start(msg, EGPUHP_A_QUIRK);
	id_attr = nest ? nla_reserve(msg, EGPUHP_QUIRK_A_ID, sizeof(u32)) : NULL;
	if (!id_attr) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, nest);
	ret = egpuhp_quirk_add(&q, &id);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	*(u32 *)nla_data(id_attr) = id;
	return egpuhp_nl_reply_send(msg, hdr, info);
}

/**
 * egpuhp_nl_del_quirk_doit() - EGPUHP_CMD_DEL_QUIRK: delete a quirk entry by id
 * @skb: the request
 * @info: the request's attributes (EGPUHP_A_QUIRK/EGPUHP_QUIRK_A_ID)
 *
 * Return: 0; -EINVAL without an id; -ENOENT for an unknown one.
 */
int egpuhp_nl_del_quirk_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[EGPUHP_QUIRK_A_MAX + 1];
	int ret;

	ret = parse_quirk_req(info, tb);
	if (ret)
		return ret;
	if (!tb[EGPUHP_QUIRK_A_ID]) {
		NL_SET_ERR_MSG(info->extack, "EGPUHP_QUIRK_A_ID is required");
		return -EINVAL;
	}
	ret = egpuhp_quirk_del(nla_get_u32(tb[EGPUHP_QUIRK_A_ID]));
	if (ret == -ENOENT)
		NL_SET_ERR_MSG_ATTR(info->extack, tb[EGPUHP_QUIRK_A_ID],
				    "no quirk entry with this id");
	return ret;
}

/* RESET is for the functions egpuhp tracks (an eGPU's), not any device. */
static bool reset_allowed(struct pci_dev *pdev)
{
	struct egpuhp_dev *d;
	bool tracked;

	egpuhp_devtab_lock();
	d = egpuhp_dev_find(pdev);
	egpuhp_devtab_unlock();
	tracked = d;
	egpuhp_dev_put(d);
	return tracked;
}

/**
 * egpuhp_nl_reset_doit() - EGPUHP_CMD_RESET: reset a function egpuhp tracks
 * @skb: the request
 * @info: the request's attributes (EGPUHP_A_DEV, and an optional
 *        EGPUHP_A_RESET with the method, default auto)
 *
 * The reply's EGPUHP_A_RESET carries the method, the duration, the
 * result and, for auto, the kernel's reset_method order.
 *
 * Context: process context; a reset may take seconds.
 * Return: 0, or a negative errno with an extack message (-EPERM for a
 * function egpuhp does not track).
 */
int egpuhp_nl_reset_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[EGPUHP_RESET_A_MAX + 1] = { };
	u32 method = EGPUHP_RESET_AUTO;
	char order[EGPUHP_RESET_ORDER_LEN];
	struct pci_dev *pdev;
	struct sk_buff *msg;
	struct nlattr *nest;
	u64 ns = 0;
	void *hdr;
	int ret;

	if (info->attrs[EGPUHP_A_RESET]) {
		ret = nla_parse_nested(tb, EGPUHP_RESET_A_MAX,
				       info->attrs[EGPUHP_A_RESET],
				       egpuhp_reset_nl_policy, info->extack);
		if (ret)
			return ret;
		if (tb[EGPUHP_RESET_A_METHOD])
			method = nla_get_u32(tb[EGPUHP_RESET_A_METHOD]);
	}
	pdev = egpuhp_nl_get_pdev(info);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	if (!reset_allowed(pdev)) {
		NL_SET_ERR_MSG(info->extack,
			       "not a function egpuhp tracks (below a Thunderbolt tunnel, an external-facing port, or track_hotplug=1)");
		ret = -EPERM;
		goto out;
	}

	egpuhp_reset_order_text(pdev->reset_methods, order, sizeof(order));
	ret = egpuhp_reset_run(pdev, method, false, false, info->extack, &ns);
	if (ret)
		goto out;

	ret = -ENOMEM;
	msg = egpuhp_nl_reply_new(info, &hdr);
	if (!msg)
		goto out;
	nest = nla_nest_start(msg, EGPUHP_A_RESET);
	if (!nest || nla_put_u32(msg, EGPUHP_RESET_A_METHOD, method) ||
	    nla_put_u64_64bit(msg, EGPUHP_RESET_A_DURATION_NS, ns,
			      EGPUHP_RESET_A_PAD) ||
	    nla_put_s32(msg, EGPUHP_RESET_A_RESULT, 0) ||
	    (method == EGPUHP_RESET_AUTO &&
	     nla_put_string(msg, EGPUHP_RESET_A_KERNEL_METHODS, order))) {
		nlmsg_free(msg);
		ret = -EMSGSIZE;
		goto out;
	}
	nla_nest_end(msg, nest);
	ret = egpuhp_nl_reply_send(msg, hdr, info);
out:
	pci_dev_put(pdev);
	return ret;
}
