// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp generic netlink client.  Requests and dumps go through libnl's
 * receive machinery; notifications are read with plain recv() so that an
 * overrun (ENOBUFS) is seen as exactly that and not as a libnl error code.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#include "common/egpuhp_nl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct egpuhp_nl {
	struct nl_sock *sk;
	int family;
	int mcgrp;
};

static void set_err(struct egpuhp_nl_err *err, int code, const char *msg)
{
	if (!err)
		return;
	err->code = code;
	snprintf(err->msg, sizeof(err->msg), "%s", msg ? msg : strerror(-code));
}

struct egpuhp_nl *egpuhp_nl_open(struct egpuhp_nl_err *err)
{
	struct egpuhp_nl *nl;
	int one = 1;
	int ret;

	nl = calloc(1, sizeof(*nl));
	if (!nl) {
		set_err(err, -ENOMEM, NULL);
		return NULL;
	}
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		set_err(err, -ENOMEM, NULL);
		goto fail;
	}
	ret = genl_connect(nl->sk);
	if (ret < 0) {
		set_err(err, -EIO, nl_geterror(ret));
		goto fail;
	}
	/* Ask for extended ACKs: the module explains refusals in extack. */
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	nl->family = genl_ctrl_resolve(nl->sk, EGPUHP_GENL_NAME);
	if (nl->family < 0) {
		set_err(err, -ENOENT,
			"generic netlink family \"egpuhp\" not found (is the egpuhp module loaded?)");
		goto fail;
	}
	nl->mcgrp = genl_ctrl_resolve_grp(nl->sk, EGPUHP_GENL_NAME,
					  EGPUHP_MCGRP_EVENTS);
	if (err)
		err->code = 0;
	return nl;
fail:
	egpuhp_nl_close(nl);
	return NULL;
}

void egpuhp_nl_close(struct egpuhp_nl *nl)
{
	if (!nl)
		return;
	if (nl->sk)
		nl_socket_free(nl->sk);
	free(nl);
}

int egpuhp_nl_fd(const struct egpuhp_nl *nl)
{
	return nl_socket_get_fd(nl->sk);
}

int egpuhp_nl_subscribe(struct egpuhp_nl *nl, struct egpuhp_nl_err *err)
{
	int ret;

	if (nl->mcgrp < 0) {
		set_err(err, -ENOENT, "egpuhp has no \"events\" multicast group");
		return -ENOENT;
	}
	nl_socket_disable_seq_check(nl->sk);
	ret = nl_socket_add_membership(nl->sk, nl->mcgrp);
	if (ret < 0) {
		set_err(err, -EIO, nl_geterror(ret));
		return -EIO;
	}
	nl_socket_set_nonblocking(nl->sk);
	return 0;
}

int egpu_nl_sock_set_rcvbuf(int fd, int bytes)
{
	if (bytes <= 0)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) == 0)
		return 0;
	/* EPERM without CAP_NET_ADMIN: the capped one still helps */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) < 0)
		return -errno;
	return 0;
}

int egpuhp_nl_set_rcvbuf(struct egpuhp_nl *nl, int bytes)
{
	return egpu_nl_sock_set_rcvbuf(egpuhp_nl_fd(nl), bytes);
}

ssize_t egpu_nl_recv_kernel(int fd, void *buf, size_t len, unsigned long *dropped)
{
	for (;;) {
		struct sockaddr_nl sa;
		socklen_t salen = sizeof(sa);
		ssize_t n;

		memset(&sa, 0, sizeof(sa));
		n = recvfrom(fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&sa, &salen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		if (salen >= sizeof(sa) && sa.nl_family == AF_NETLINK && sa.nl_pid == 0)
			return n;
		if (dropped)
			(*dropped)++;
	}
}

/* --- parsing --- */

static void nla_str(struct nlattr *a, char *dst, size_t len)
{
	if (!a) {
		dst[0] = '\0';
		return;
	}
	nla_strlcpy(dst, a, len);
}

static uint32_t nla_u32_or0(struct nlattr *a)
{
	return a && nla_len(a) >= 4 ? nla_get_u32(a) : 0;
}

static uint16_t nla_u16_or0(struct nlattr *a)
{
	return a && nla_len(a) >= 2 ? nla_get_u16(a) : 0;
}

static uint8_t nla_u8_or0(struct nlattr *a)
{
	return a && nla_len(a) >= 1 ? nla_get_u8(a) : 0;
}

static uint64_t nla_u64_or0(struct nlattr *a)
{
	return a && nla_len(a) >= 8 ? nla_get_u64(a) : 0;
}

static int parse_link(struct nlattr *nest, struct egpuhp_link *l)
{
	struct nlattr *tb[EGPUHP_LINK_A_MAX + 1];

	memset(l, 0, sizeof(*l));
	if (nla_parse_nested(tb, EGPUHP_LINK_A_MAX, nest, NULL) < 0)
		return -EINVAL;
	l->valid = true;
	l->cur_speed = nla_u32_or0(tb[EGPUHP_LINK_A_CUR_SPEED]);
	l->cur_width = nla_u32_or0(tb[EGPUHP_LINK_A_CUR_WIDTH]);
	l->max_speed = nla_u32_or0(tb[EGPUHP_LINK_A_MAX_SPEED]);
	l->max_width = nla_u32_or0(tb[EGPUHP_LINK_A_MAX_WIDTH]);
	return 0;
}

int egpuhp_parse_dev(struct nlattr *nest, struct egpuhp_dev *d)
{
	struct nlattr *tb[EGPUHP_DEV_A_MAX + 1];

	memset(d, 0, sizeof(*d));
	if (!nest || nla_parse_nested(tb, EGPUHP_DEV_A_MAX, nest, NULL) < 0)
		return -EINVAL;
	nla_str(tb[EGPUHP_DEV_A_NAME], d->name, sizeof(d->name));
	d->vendor = nla_u16_or0(tb[EGPUHP_DEV_A_VENDOR]);
	d->device = nla_u16_or0(tb[EGPUHP_DEV_A_DEVICE]);
	d->subsys_vendor = nla_u16_or0(tb[EGPUHP_DEV_A_SUBSYS_VENDOR]);
	d->subsys_device = nla_u16_or0(tb[EGPUHP_DEV_A_SUBSYS_DEVICE]);
	d->class_code = nla_u32_or0(tb[EGPUHP_DEV_A_CLASS]);
	d->revision = nla_u8_or0(tb[EGPUHP_DEV_A_REVISION]);
	nla_str(tb[EGPUHP_DEV_A_DRIVER], d->driver, sizeof(d->driver));
	nla_str(tb[EGPUHP_DEV_A_PARENT], d->parent, sizeof(d->parent));
	nla_str(tb[EGPUHP_DEV_A_PORT], d->port, sizeof(d->port));
	nla_str(tb[EGPUHP_DEV_A_ROUTER_UID], d->router_uid, sizeof(d->router_uid));
	d->track = nla_u32_or0(tb[EGPUHP_DEV_A_TRACK]);
	d->is_gpu = tb[EGPUHP_DEV_A_IS_GPU] != NULL;
	nla_str(tb[EGPUHP_DEV_A_GROUP], d->group, sizeof(d->group));
	d->has_present = tb[EGPUHP_DEV_A_PRESENT] != NULL;
	d->present = nla_u8_or0(tb[EGPUHP_DEV_A_PRESENT]);
	if (tb[EGPUHP_DEV_A_LINK])
		parse_link(tb[EGPUHP_DEV_A_LINK], &d->link);
	d->quirks = nla_u32_or0(tb[EGPUHP_DEV_A_QUIRKS]);
	return d->name[0] ? 0 : -EINVAL;
}

int egpuhp_parse_router(struct nlattr *nest, struct egpuhp_router *r)
{
	struct nlattr *tb[EGPUHP_ROUTER_A_MAX + 1];

	memset(r, 0, sizeof(*r));
	if (!nest || nla_parse_nested(tb, EGPUHP_ROUTER_A_MAX, nest, NULL) < 0)
		return -EINVAL;
	nla_str(tb[EGPUHP_ROUTER_A_NAME], r->name, sizeof(r->name));
	nla_str(tb[EGPUHP_ROUTER_A_UNIQUE_ID], r->unique_id, sizeof(r->unique_id));
	r->vendor = nla_u32_or0(tb[EGPUHP_ROUTER_A_VENDOR]);
	r->device = nla_u32_or0(tb[EGPUHP_ROUTER_A_DEVICE]);
	nla_str(tb[EGPUHP_ROUTER_A_VENDOR_NAME], r->vendor_name, sizeof(r->vendor_name));
	nla_str(tb[EGPUHP_ROUTER_A_DEVICE_NAME], r->device_name, sizeof(r->device_name));
	r->generation = nla_u32_or0(tb[EGPUHP_ROUTER_A_GENERATION]);
	r->rx_speed = nla_u32_or0(tb[EGPUHP_ROUTER_A_RX_SPEED]);
	r->rx_lanes = nla_u32_or0(tb[EGPUHP_ROUTER_A_RX_LANES]);
	r->tx_speed = nla_u32_or0(tb[EGPUHP_ROUTER_A_TX_SPEED]);
	r->tx_lanes = nla_u32_or0(tb[EGPUHP_ROUTER_A_TX_LANES]);
	r->authorized = nla_u32_or0(tb[EGPUHP_ROUTER_A_AUTHORIZED]);
	r->boot = nla_u8_or0(tb[EGPUHP_ROUTER_A_BOOT]);
	nla_str(tb[EGPUHP_ROUTER_A_DOMAIN], r->domain, sizeof(r->domain));
	nla_str(tb[EGPUHP_ROUTER_A_SECURITY], r->security, sizeof(r->security));
	r->iommu_prot = nla_u8_or0(tb[EGPUHP_ROUTER_A_IOMMU_PROT]);
	r->depth = nla_u32_or0(tb[EGPUHP_ROUTER_A_DEPTH]);
	return r->name[0] ? 0 : -EINVAL;
}

int egpuhp_parse_quirk(struct nlattr *nest, struct egpuhp_quirk *q)
{
	struct nlattr *tb[EGPUHP_QUIRK_A_MAX + 1];

	memset(q, 0, sizeof(*q));
	if (!nest || nla_parse_nested(tb, EGPUHP_QUIRK_A_MAX, nest, NULL) < 0)
		return -EINVAL;
	q->id = nla_u32_or0(tb[EGPUHP_QUIRK_A_ID]);
	q->vendor = nla_u16_or0(tb[EGPUHP_QUIRK_A_VENDOR]);
	q->device = nla_u16_or0(tb[EGPUHP_QUIRK_A_DEVICE]);
	q->subsys_vendor = nla_u16_or0(tb[EGPUHP_QUIRK_A_SUBSYS_VENDOR]);
	q->subsys_device = nla_u16_or0(tb[EGPUHP_QUIRK_A_SUBSYS_DEVICE]);
	q->class_code = nla_u32_or0(tb[EGPUHP_QUIRK_A_CLASS]);
	q->class_mask = nla_u32_or0(tb[EGPUHP_QUIRK_A_CLASS_MASK]);
	q->actions = nla_u32_or0(tb[EGPUHP_QUIRK_A_ACTIONS]);
	q->d3hot_delay_ms = nla_u32_or0(tb[EGPUHP_QUIRK_A_D3HOT_DELAY_MS]);
	q->d3cold_delay_ms = nla_u32_or0(tb[EGPUHP_QUIRK_A_D3COLD_DELAY_MS]);
	nla_str(tb[EGPUHP_QUIRK_A_RESET_ORDER], q->reset_order, sizeof(q->reset_order));
	q->source = nla_u32_or0(tb[EGPUHP_QUIRK_A_SOURCE]);
	nla_str(tb[EGPUHP_QUIRK_A_NOTE], q->note, sizeof(q->note));
	return 0;
}

int egpuhp_parse_event(struct nlattr **tb, struct egpuhp_nl_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (!tb[EGPUHP_A_EVENT])
		return -EINVAL;
	ev->seq = nla_u64_or0(tb[EGPUHP_A_SEQ]);
	ev->timestamp_ns = nla_u64_or0(tb[EGPUHP_A_TIMESTAMP_NS]);
	ev->event = nla_u32_or0(tb[EGPUHP_A_EVENT]);
	ev->flags = nla_u32_or0(tb[EGPUHP_A_FLAGS]);
	ev->answer_us = nla_u32_or0(tb[EGPUHP_A_ANSWER_US]);
	if (tb[EGPUHP_A_DEV])
		ev->has_dev = egpuhp_parse_dev(tb[EGPUHP_A_DEV], &ev->dev) == 0;
	if (tb[EGPUHP_A_ROUTER])
		ev->has_router = egpuhp_parse_router(tb[EGPUHP_A_ROUTER], &ev->router) == 0;
	if (tb[EGPUHP_A_QUIRK])
		ev->has_quirk = egpuhp_parse_quirk(tb[EGPUHP_A_QUIRK], &ev->quirk) == 0;
	if (tb[EGPUHP_A_RESET]) {
		struct nlattr *rt[EGPUHP_RESET_A_MAX + 1];

		if (nla_parse_nested(rt, EGPUHP_RESET_A_MAX, tb[EGPUHP_A_RESET], NULL) == 0) {
			ev->reset.valid = true;
			ev->reset.method = nla_u32_or0(rt[EGPUHP_RESET_A_METHOD]);
			ev->reset.step = nla_u32_or0(rt[EGPUHP_RESET_A_STEP]);
			ev->reset.duration_ns = nla_u64_or0(rt[EGPUHP_RESET_A_DURATION_NS]);
			ev->reset.result = (int32_t)nla_u32_or0(rt[EGPUHP_RESET_A_RESULT]);
		}
	}
	return 0;
}

/* --- notifications --- */

int egpuhp_nl_read_events_fd(int fd, int family, egpuhp_event_cb cb, void *arg)
{
	static char buf[65536] __attribute__((aligned(8)));

	for (;;) {
		struct nlmsghdr *nlh;
		ssize_t len;
		unsigned int left;

		len = egpu_nl_recv_kernel(fd, buf, sizeof(buf), NULL);
		if (len == -EAGAIN)
			return 0;
		if (len < 0)
			return (int)len;	/* -ENOBUFS: the kernel dropped messages */
		if (len == 0)
			return 0;
		left = (unsigned int)len;
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, left);
		     nlh = NLMSG_NEXT(nlh, left)) {
			struct nlattr *tb[EGPUHP_A_MAX + 1];
			struct genlmsghdr *gh;
			struct egpuhp_nl_event ev;

			if (nlh->nlmsg_type != family)
				continue;
			/* the genl header must be there before it is read */
			if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
				continue;
			gh = nlmsg_data(nlh);
			if (gh->cmd != EGPUHP_CMD_EVENT)
				continue;
			if (genlmsg_parse(nlh, 0, tb, EGPUHP_A_MAX, NULL) < 0)
				continue;
			if (egpuhp_parse_event(tb, &ev) == 0)
				cb(&ev, arg);
		}
	}
}

int egpuhp_nl_read_events(struct egpuhp_nl *nl, egpuhp_event_cb cb, void *arg)
{
	return egpuhp_nl_read_events_fd(egpuhp_nl_fd(nl), nl->family, cb, arg);
}

/* --- requests --- */

struct req_ctx {
	egpuhp_nl_reply_cb reply;
	void *reply_arg;
	int error;
	bool done;
	struct egpuhp_nl_err *err;
};

static int req_valid(struct nl_msg *msg, void *arg)
{
	struct req_ctx *ctx = arg;
	struct nlattr *tb[EGPUHP_A_MAX + 1];
	int ret;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, EGPUHP_A_MAX, NULL) < 0)
		return NL_SKIP;
	if (ctx->reply) {
		ret = ctx->reply(tb, ctx->reply_arg);
		if (ret < 0 && !ctx->error)
			ctx->error = ret;
	}
	return NL_OK;
}

static int req_finish(struct nl_msg *msg, void *arg)
{
	struct req_ctx *ctx = arg;

	ctx->done = true;
	return NL_STOP;
}

static int req_ack(struct nl_msg *msg, void *arg)
{
	struct req_ctx *ctx = arg;

	ctx->done = true;
	return NL_STOP;
}

/* Pull NLMSGERR_ATTR_MSG out of an error message with extended ACK. */
static void extack_msg(struct nlmsgerr *e, struct egpuhp_nl_err *err)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t off;
	int len;

	if (!err || !(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	len = (int)nlh->nlmsg_len - NLMSG_HDRLEN - (int)off;
	if (len <= 0)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off),
		      len, NULL) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		nla_strlcpy(err->msg, tb[NLMSGERR_ATTR_MSG], sizeof(err->msg));
}

static int req_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct req_ctx *ctx = arg;

	ctx->error = e->error;
	ctx->done = true;
	extack_msg(e, ctx->err);
	return NL_STOP;
}

int egpuhp_nl_put_dev_name(struct nl_msg *msg, void *name)
{
	struct nlattr *nest = nla_nest_start(msg, EGPUHP_A_DEV);

	if (!nest || nla_put_string(msg, EGPUHP_DEV_A_NAME, name) < 0)
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

int egpuhp_nl_request(struct egpuhp_nl *nl, uint8_t cmd, bool dump,
		      egpuhp_nl_build_cb build, void *build_arg,
		      egpuhp_nl_reply_cb reply, void *reply_arg,
		      struct egpuhp_nl_err *err)
{
	struct req_ctx ctx = { .reply = reply, .reply_arg = reply_arg, .err = err };
	struct nl_msg *msg;
	struct nl_cb *cb;
	int ret;

	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
	msg = nlmsg_alloc();
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!msg || !cb) {
		ret = -ENOMEM;
		goto out;
	}
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0,
			 NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0),
			 cmd, EGPUHP_GENL_VERSION) ||
	    nla_put_u32(msg, EGPUHP_A_VERSION, EGPUHP_GENL_VERSION) < 0) {
		ret = -EMSGSIZE;
		goto out;
	}
	if (build) {
		ret = build(msg, build_arg);
		if (ret < 0)
			goto out;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, req_valid, &ctx);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, req_finish, &ctx);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, req_ack, &ctx);
	nl_cb_err(cb, NL_CB_CUSTOM, req_error, &ctx);
	ret = nl_send_auto(nl->sk, msg);
	if (ret < 0) {
		ret = -EIO;
		goto out;
	}
	while (!ctx.done) {
		ret = nl_recvmsgs(nl->sk, cb);
		if (ret < 0 && !ctx.done) {
			if (!ctx.error)
				ctx.error = ret == -NLE_PERM ? -EPERM : -EIO;
			break;
		}
	}
	ret = ctx.error;
out:
	if (ret < 0 && err) {
		err->code = ret;
		if (!err->msg[0])
			snprintf(err->msg, sizeof(err->msg), "%s", strerror(-ret));
	}
	nl_cb_put(cb);
	nlmsg_free(msg);
	return ret;
}

/* --- typed dumps --- */

struct vec {
	void *items;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		void *p = realloc(v->items, cap * v->size);

		if (!p)
			return NULL;
		v->items = p;
		v->cap = cap;
	}
	return (char *)v->items + v->size * v->n++;
}

static int dev_reply(struct nlattr **tb, void *arg)
{
	struct egpuhp_dev *d;

	if (!tb[EGPUHP_A_DEV])
		return 0;
	d = vec_push(arg);
	if (!d)
		return -ENOMEM;
	if (egpuhp_parse_dev(tb[EGPUHP_A_DEV], d) < 0)
		((struct vec *)arg)->n--;
	return 0;
}

static int router_reply(struct nlattr **tb, void *arg)
{
	struct egpuhp_router *r;

	if (!tb[EGPUHP_A_ROUTER])
		return 0;
	r = vec_push(arg);
	if (!r)
		return -ENOMEM;
	if (egpuhp_parse_router(tb[EGPUHP_A_ROUTER], r) < 0)
		((struct vec *)arg)->n--;
	return 0;
}

static int quirk_reply(struct nlattr **tb, void *arg)
{
	struct egpuhp_quirk *q;

	if (!tb[EGPUHP_A_QUIRK])
		return 0;
	q = vec_push(arg);
	if (!q)
		return -ENOMEM;
	egpuhp_parse_quirk(tb[EGPUHP_A_QUIRK], q);
	return 0;
}

static int dump_vec(struct egpuhp_nl *nl, uint8_t cmd, egpuhp_nl_reply_cb cb,
		    size_t size, void **out, size_t *n, struct egpuhp_nl_err *err)
{
	struct vec v = { .size = size };
	int ret;

	ret = egpuhp_nl_request(nl, cmd, true, NULL, NULL, cb, &v, err);
	if (ret < 0) {
		free(v.items);
		*out = NULL;
		*n = 0;
		return ret;
	}
	*out = v.items;
	*n = v.n;
	return 0;
}

int egpuhp_nl_dump_devs(struct egpuhp_nl *nl, struct egpuhp_dev **out, size_t *n,
			struct egpuhp_nl_err *err)
{
	return dump_vec(nl, EGPUHP_CMD_GET_DEV, dev_reply, sizeof(**out),
			(void **)out, n, err);
}

int egpuhp_nl_dump_routers(struct egpuhp_nl *nl, struct egpuhp_router **out,
			   size_t *n, struct egpuhp_nl_err *err)
{
	return dump_vec(nl, EGPUHP_CMD_GET_ROUTER, router_reply, sizeof(**out),
			(void **)out, n, err);
}

int egpuhp_nl_dump_quirks(struct egpuhp_nl *nl, struct egpuhp_quirk **out,
			  size_t *n, struct egpuhp_nl_err *err)
{
	return dump_vec(nl, EGPUHP_CMD_GET_QUIRK, quirk_reply, sizeof(**out),
			(void **)out, n, err);
}

static int stats_reply(struct nlattr **tb, void *arg)
{
	struct egpuhp_stats *st = arg;
	struct nlattr *s[EGPUHP_STATS_A_MAX + 1];

	if (!tb[EGPUHP_A_STATS] ||
	    nla_parse_nested(s, EGPUHP_STATS_A_MAX, tb[EGPUHP_A_STATS], NULL) < 0)
		return 0;
	st->events = nla_u64_or0(s[EGPUHP_STATS_A_EVENTS]);
	st->mcast_fail = nla_u64_or0(s[EGPUHP_STATS_A_MCAST_FAIL]);
	st->no_listener = nla_u64_or0(s[EGPUHP_STATS_A_NO_LISTENER]);
	st->alloc_fail = nla_u64_or0(s[EGPUHP_STATS_A_ALLOC_FAIL]);
	st->devices = nla_u32_or0(s[EGPUHP_STATS_A_DEVICES]);
	st->routers = nla_u32_or0(s[EGPUHP_STATS_A_ROUTERS]);
	return 0;
}

int egpuhp_nl_get_stats(struct egpuhp_nl *nl, struct egpuhp_stats *st,
			struct egpuhp_nl_err *err)
{
	memset(st, 0, sizeof(*st));
	return egpuhp_nl_request(nl, EGPUHP_CMD_GET_STATS, false, NULL, NULL,
				 stats_reply, st, err);
}

static int info_reply(struct nlattr **tb, void *arg)
{
	struct egpuhp_info *info = arg;

	info->version = nla_u32_or0(tb[EGPUHP_A_VERSION]);
	nla_str(tb[EGPUHP_A_MODULE_VERSION], info->module_version,
		sizeof(info->module_version));
	if (tb[EGPUHP_A_CONFIG]) {
		struct nlattr *c[EGPUHP_CONFIG_A_MAX + 1];

		if (nla_parse_nested(c, EGPUHP_CONFIG_A_MAX, tb[EGPUHP_A_CONFIG], NULL) == 0) {
			info->track_hotplug = nla_u8_or0(c[EGPUHP_CONFIG_A_TRACK_HOTPLUG]);
			info->watchdog_ms = nla_u32_or0(c[EGPUHP_CONFIG_A_WATCHDOG_MS]);
		}
	}
	return 0;
}

int egpuhp_nl_get_info(struct egpuhp_nl *nl, struct egpuhp_info *info,
		       struct egpuhp_nl_err *err)
{
	memset(info, 0, sizeof(*info));
	return egpuhp_nl_request(nl, EGPUHP_CMD_GET_INFO, false, NULL, NULL,
				 info_reply, info, err);
}

/* --- names --- */

const char *egpuhp_event_name(uint32_t event)
{
	static const char *const names[] = {
		[EGPUHP_EV_UNSPEC] = "unspec",
		[EGPUHP_EV_PCI_ADD] = "pci-add",
		[EGPUHP_EV_PCI_BOUND] = "pci-bound",
		[EGPUHP_EV_PCI_UNBIND] = "pci-unbind",
		[EGPUHP_EV_PCI_REMOVE] = "pci-remove",
		[EGPUHP_EV_PCI_LOST] = "pci-lost",
		[EGPUHP_EV_LINK_CHANGE] = "link-change",
		[EGPUHP_EV_ROUTER_ADD] = "router-add",
		[EGPUHP_EV_ROUTER_REMOVE] = "router-remove",
		[EGPUHP_EV_ROUTER_CHANGE] = "router-change",
		[EGPUHP_EV_QUIRK_APPLIED] = "quirk-applied",
		[EGPUHP_EV_RESET_BEGIN] = "reset-begin",
		[EGPUHP_EV_RESET_END] = "reset-end",
		[EGPUHP_EV_RESET_STEP_BEGIN] = "reset-step-begin",
		[EGPUHP_EV_RESET_STEP_END] = "reset-step-end",
		[EGPUHP_EV_PCI_SLOW] = "pci-slow",
	};

	if (event < sizeof(names) / sizeof(names[0]) && names[event])
		return names[event];
	return "unknown";
}

const char *egpuhp_track_name(uint32_t track)
{
	switch (track) {
	case EGPUHP_TRACK_THUNDERBOLT: return "thunderbolt";
	case EGPUHP_TRACK_REMOVABLE: return "removable";
	case EGPUHP_TRACK_HOTPLUG: return "hotplug";
	default: return "none";
	}
}

const char *egpuhp_reset_method_name(uint32_t method)
{
	static const char *const names[] = {
		[EGPUHP_RESET_AUTO] = "auto",
		[EGPUHP_RESET_BUS] = "bus",
		[EGPUHP_RESET_LINK_RETRAIN] = "link-retrain",
		[EGPUHP_RESET_PM] = "pm",
		[EGPUHP_RESET_SLOT_POWER] = "slot-power",
		[EGPUHP_RESET_TUNNEL] = "tunnel",
		[EGPUHP_RESET_EGPUHP] = "egpuhp",
	};

	if (method < sizeof(names) / sizeof(names[0]) && names[method])
		return names[method];
	return "unknown";
}

const char *egpuhp_flags_str(uint32_t flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s",
		 flags & EGPUHP_F_SURPRISE ? "surprise," : "",
		 flags & EGPUHP_F_ORDERLY ? "orderly," : "",
		 flags & EGPUHP_F_PRELOAD ? "preload," : "");
	if (buf[0])
		buf[strlen(buf) - 1] = '\0';
	return buf;
}
