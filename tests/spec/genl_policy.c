// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp-genl-policy: print what the kernel says about a generic netlink
 * family (CTRL_CMD_GETFAMILY) and the policies of its operations
 * (CTRL_CMD_GETPOLICY), one fact per line, for tests/spec/test_spec.py:
 *
 *   family NAME version V
 *   mcgrp NAME
 *   op CMD flags 0xF              (GENL_ADMIN_PERM, GENL_CMD_CAP_DO, ...)
 *   oppolicy CMD do IDX dump IDX  (-1: none)
 *   attr IDX ATTR type TYPE [min N] [max N] [mask 0xM] [min-len N]
 *        [max-len N] [policy IDX maxtype N] [bitfield32-mask 0xM]
 *
 * Usage: egpuhp-genl-policy [FAMILY]   (default "egpuhp")
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* enum netlink_attribute_type, by value */
static const char *const type_names[] = {
	"invalid", "flag", "u8", "u16", "u32", "u64", "s8", "s16", "s32",
	"s64", "binary", "string", "nul-string", "nested", "nested-array",
	"bitfield32", "sint", "uint",
};

static void print_policy_attr(unsigned int idx, const struct nlattr *a)
{
	struct nlattr *tb[NL_POLICY_TYPE_ATTR_MAX + 1];
	uint32_t type;

	if (nla_parse_nested(tb, NL_POLICY_TYPE_ATTR_MAX, (struct nlattr *)a, NULL) ||
	    !tb[NL_POLICY_TYPE_ATTR_TYPE]) {
		printf("attr %u %d type unparsable\n", idx, nla_type(a));
		return;
	}
	type = nla_get_u32(tb[NL_POLICY_TYPE_ATTR_TYPE]);
	printf("attr %u %d type ", idx, nla_type(a));
	if (type < ARRAY_SIZE(type_names))
		printf("%s", type_names[type]);
	else
		printf("%" PRIu32, type);
	if (tb[NL_POLICY_TYPE_ATTR_MIN_VALUE_S])
		printf(" min %" PRId64, (int64_t)nla_get_u64(tb[NL_POLICY_TYPE_ATTR_MIN_VALUE_S]));
	if (tb[NL_POLICY_TYPE_ATTR_MAX_VALUE_S])
		printf(" max %" PRId64, (int64_t)nla_get_u64(tb[NL_POLICY_TYPE_ATTR_MAX_VALUE_S]));
	if (tb[NL_POLICY_TYPE_ATTR_MIN_VALUE_U])
		printf(" min %" PRIu64, nla_get_u64(tb[NL_POLICY_TYPE_ATTR_MIN_VALUE_U]));
	if (tb[NL_POLICY_TYPE_ATTR_MAX_VALUE_U])
		printf(" max %" PRIu64, nla_get_u64(tb[NL_POLICY_TYPE_ATTR_MAX_VALUE_U]));
	if (tb[NL_POLICY_TYPE_ATTR_MASK])
		printf(" mask 0x%" PRIx64, nla_get_u64(tb[NL_POLICY_TYPE_ATTR_MASK]));
	if (tb[NL_POLICY_TYPE_ATTR_MIN_LENGTH])
		printf(" min-len %u", nla_get_u32(tb[NL_POLICY_TYPE_ATTR_MIN_LENGTH]));
	if (tb[NL_POLICY_TYPE_ATTR_MAX_LENGTH])
		printf(" max-len %u", nla_get_u32(tb[NL_POLICY_TYPE_ATTR_MAX_LENGTH]));
	if (tb[NL_POLICY_TYPE_ATTR_POLICY_IDX])
		printf(" policy %u maxtype %u", nla_get_u32(tb[NL_POLICY_TYPE_ATTR_POLICY_IDX]),
		       tb[NL_POLICY_TYPE_ATTR_POLICY_MAXTYPE] ?
		       nla_get_u32(tb[NL_POLICY_TYPE_ATTR_POLICY_MAXTYPE]) : 0);
	if (tb[NL_POLICY_TYPE_ATTR_BITFIELD32_MASK])
		printf(" bitfield32-mask 0x%x", nla_get_u32(tb[NL_POLICY_TYPE_ATTR_BITFIELD32_MASK]));
	printf("\n");
}

/* CTRL_ATTR_POLICY: { policy index: { attribute: { NL_POLICY_TYPE_ATTR_* } } } */
static void print_policies(struct nlattr *pols)
{
	struct nlattr *pol, *a;
	int rem, rem2;

	nla_for_each_nested(pol, pols, rem)
		nla_for_each_nested(a, pol, rem2)
			print_policy_attr(nla_type(pol), a);
}

/* CTRL_ATTR_OP_POLICY: { cmd: { CTRL_ATTR_POLICY_DO, CTRL_ATTR_POLICY_DUMP } } */
static void print_op_policies(struct nlattr *ops)
{
	struct nlattr *tb[CTRL_ATTR_POLICY_DUMP_MAX + 1];
	struct nlattr *op;
	int rem;

	nla_for_each_nested(op, ops, rem) {
		if (nla_parse_nested(tb, CTRL_ATTR_POLICY_DUMP_MAX, op, NULL))
			continue;
		printf("oppolicy %d do %ld dump %ld\n", nla_type(op),
		       tb[CTRL_ATTR_POLICY_DO] ? (long)nla_get_u32(tb[CTRL_ATTR_POLICY_DO]) : -1L,
		       tb[CTRL_ATTR_POLICY_DUMP] ? (long)nla_get_u32(tb[CTRL_ATTR_POLICY_DUMP]) : -1L);
	}
}

static int policy_cb(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[CTRL_ATTR_MAX + 1];

	(void)arg;
	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, CTRL_ATTR_MAX, NULL))
		return NL_SKIP;
	if (tb[CTRL_ATTR_OP_POLICY])
		print_op_policies(tb[CTRL_ATTR_OP_POLICY]);
	if (tb[CTRL_ATTR_POLICY])
		print_policies(tb[CTRL_ATTR_POLICY]);
	return NL_OK;
}

static int family_cb(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[CTRL_ATTR_MAX + 1], *one[CTRL_ATTR_MAX + 1];
	struct nlattr *a;
	int rem;

	(void)arg;
	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, CTRL_ATTR_MAX, NULL) ||
	    !tb[CTRL_ATTR_FAMILY_NAME])
		return NL_SKIP;
	printf("family %s version %u\n", nla_get_string(tb[CTRL_ATTR_FAMILY_NAME]),
	       tb[CTRL_ATTR_VERSION] ? nla_get_u32(tb[CTRL_ATTR_VERSION]) : 0);
	if (tb[CTRL_ATTR_MCAST_GROUPS])
		nla_for_each_nested(a, tb[CTRL_ATTR_MCAST_GROUPS], rem)
			if (!nla_parse_nested(one, CTRL_ATTR_MCAST_GRP_MAX, a, NULL) &&
			    one[CTRL_ATTR_MCAST_GRP_NAME])
				printf("mcgrp %s\n", nla_get_string(one[CTRL_ATTR_MCAST_GRP_NAME]));
	if (tb[CTRL_ATTR_OPS])
		nla_for_each_nested(a, tb[CTRL_ATTR_OPS], rem)
			if (!nla_parse_nested(one, CTRL_ATTR_OP_MAX, a, NULL) &&
			    one[CTRL_ATTR_OP_ID])
				printf("op %u flags 0x%x\n", nla_get_u32(one[CTRL_ATTR_OP_ID]),
				       one[CTRL_ATTR_OP_FLAGS] ?
				       nla_get_u32(one[CTRL_ATTR_OP_FLAGS]) : 0);
	return NL_OK;
}

static int ask(struct nl_sock *sk, int cmd, int flags, const char *family,
	       nl_recvmsg_msg_cb_t cb)
{
	struct nl_msg *msg = nlmsg_alloc();
	int ret;

	if (!msg)
		return -NLE_NOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, GENL_ID_CTRL, 0, flags,
			 cmd, 1) ||
	    nla_put_string(msg, CTRL_ATTR_FAMILY_NAME, family)) {
		nlmsg_free(msg);
		return -NLE_NOMEM;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, cb, NULL);
	ret = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (ret < 0)
		return ret;
	return nl_recvmsgs_default(sk);
}

int main(int argc, char **argv)
{
	const char *family = argc > 1 ? argv[1] : "egpuhp";
	struct nl_sock *sk = nl_socket_alloc();
	int ret;

	if (!sk || genl_connect(sk)) {
		fprintf(stderr, "egpuhp-genl-policy: cannot open a generic netlink socket\n");
		return 1;
	}
	/* one answer per request: the reply, or the dump up to NLMSG_DONE */
	nl_socket_disable_auto_ack(sk);
	ret = ask(sk, CTRL_CMD_GETFAMILY, 0, family, family_cb);
	if (ret >= 0)
		ret = ask(sk, CTRL_CMD_GETPOLICY, NLM_F_DUMP, family, policy_cb);
	nl_socket_free(sk);
	if (ret < 0) {
		fprintf(stderr, "egpuhp-genl-policy: %s: %s\n", family, nl_geterror(ret));
		return 1;
	}
	return 0;
}
