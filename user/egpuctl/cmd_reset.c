// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl reset DEV [--method M]
 *   Reset a PCI function through egpuhp (EGPUHP_CMD_RESET).  M is auto (the
 *   kernel's reset_method order, default), bus, link-retrain, pm,
 *   slot-power, or egpuhp (the method the device's quirks give it).
 *
 * egpuctl reset DEV --tunnel [--router NAME] [--store DIR] [--timeout MS]
 *   Tunnel cycle: de-authorize and re-authorize the Thunderbolt router
 *   carrying DEV, wait for its functions to come back, restore their
 *   driver binding (user/common/reset_tunnel.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <linux/egpuhp.h>

#include "common/egpuhp_nl.h"
#include "common/json.h"
#include "common/quirk_text.h"
#include "common/reset_tunnel.h"
#include "egpuctl/commands.h"

struct reset_req {
	const char *dev;
	uint32_t method;
};

struct reset_res {
	bool valid;
	uint32_t method;
	uint64_t duration_ns;
	int32_t result;
	char kernel_methods[64];
};

static int build_reset(struct nl_msg *msg, void *arg)
{
	const struct reset_req *r = arg;
	struct nlattr *nest;

	if (egpuhp_nl_put_dev_name(msg, (void *)r->dev))
		return -EMSGSIZE;
	nest = nla_nest_start(msg, EGPUHP_A_RESET);
	if (!nest || nla_put_u32(msg, EGPUHP_RESET_A_METHOD, r->method) < 0)
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

static int reset_reply(struct nlattr **tb, void *arg)
{
	struct nlattr *t[EGPUHP_RESET_A_MAX + 1];
	struct reset_res *r = arg;

	if (!tb[EGPUHP_A_RESET] ||
	    nla_parse_nested(t, EGPUHP_RESET_A_MAX, tb[EGPUHP_A_RESET], NULL) < 0)
		return 0;
	r->valid = true;
	if (t[EGPUHP_RESET_A_METHOD])
		r->method = nla_get_u32(t[EGPUHP_RESET_A_METHOD]);
	if (t[EGPUHP_RESET_A_DURATION_NS])
		r->duration_ns = nla_get_u64(t[EGPUHP_RESET_A_DURATION_NS]);
	if (t[EGPUHP_RESET_A_RESULT])
		r->result = (int32_t)nla_get_u32(t[EGPUHP_RESET_A_RESULT]);
	if (t[EGPUHP_RESET_A_KERNEL_METHODS])
		snprintf(r->kernel_methods, sizeof(r->kernel_methods), "%s",
			 (const char *)nla_data(t[EGPUHP_RESET_A_KERNEL_METHODS]));
	return 0;
}

/* data's first keys: what ran */
static FILE *reset_data_open(struct egpuctl_data *dd, const char *dev, const char *method,
			     int *first)
{
	FILE *out = egpuctl_data_open(dd, "reset");

	if (out) {
		fputc('{', out);
		egpu_json_kv_str(out, first, "device", dev);
		egpu_json_kv_str(out, first, "method", method);
	}
	return out;
}

/*
 * The one envelope of a reset under --json: data (the result's object,
 * also when it failed: what ran and how it ended), and the error.
 */
static int reset_data_close(struct egpuctl_data *dd, int ret, const char *err)
{
	fputc('}', dd->f);
	return egpuctl_data_close(dd, ret < 0 ? EGPUCTL_FAIL : EGPUCTL_OK,
				  ret == -EPERM ? "refused" :
				  ret == -ENODEV || ret == -ENOENT ? "not-found" : "failed",
				  err, NULL);
}

static int parse_method(const char *s, uint32_t *m)
{
	if (!strcmp(s, "auto")) {
		*m = EGPUHP_RESET_AUTO;
		return 0;
	}
	if (!strcmp(s, "egpuhp")) {
		*m = EGPUHP_RESET_EGPUHP;
		return 0;
	}
	return egpu_reset_method_parse(s, m);
}

static int do_netlink_reset(const struct egpuctl_opts *o, const char *dev, uint32_t method)
{
	struct reset_req req = { .dev = dev, .method = method };
	struct egpuhp_nl_err err = { 0 };
	struct reset_res res = { 0 };
	struct egpuhp_nl *nl;
	char msg[512] = "";
	int ret;

	nl = egpuhp_nl_open(&err);
	if (!nl) {
		return egpuctl_error("reset", EGPUCTL_FAIL, "failed", "egpuctl: %s",
				     err.msg[0] ? err.msg : "egpuhp module not loaded");
	}
	ret = egpuhp_nl_request(nl, EGPUHP_CMD_RESET, false, build_reset, &req,
				reset_reply, &res, &err);
	egpuhp_nl_close(nl);
	if (ret < 0)
		snprintf(msg, sizeof(msg), "egpuctl: reset %s (%s): %s%s%s", dev,
			 egpuhp_reset_method_name(method), strerror(-ret),
			 err.msg[0] ? ": " : "", err.msg);
	if (o->json) {
		struct egpuctl_data dd;
		int first = 1;
		FILE *out = reset_data_open(&dd, dev, egpuhp_reset_method_name(method), &first);

		if (!out)
			return EGPUCTL_FAIL;
		egpu_json_kv_int(out, &first, "result", ret < 0 ? ret : res.result);
		if (ret >= 0)
			egpu_json_kv_uint(out, &first, "duration_ns", res.duration_ns);
		if (res.kernel_methods[0])
			egpu_json_kv_str(out, &first, "kernel_methods", res.kernel_methods);
		if (ret < 0)
			fprintf(stderr, "%s\n", msg);
		return reset_data_close(&dd, ret, msg);
	}
	if (ret < 0) {
		fprintf(stderr, "%s\n", msg);
		return EGPUCTL_FAIL;
	}
	printf("%s: %s reset done in %.1f ms", dev, egpuhp_reset_method_name(method),
	       res.duration_ns / 1e6);
	if (res.kernel_methods[0])
		printf(" (kernel reset_method order: %s)", res.kernel_methods);
	printf("\n");
	return EGPUCTL_OK;
}

static int dev_reply(struct nlattr **tb, void *arg)
{
	if (tb[EGPUHP_A_DEV])
		egpuhp_parse_dev(tb[EGPUHP_A_DEV], arg);
	return 0;
}

/* The carrying router's unique_id as egpuhp.ko knows it ("" if not). */
static void kernel_router_uid(const char *dev, char *uid, size_t len)
{
	struct egpuhp_nl_err err = { 0 };
	struct egpuhp_dev d;
	struct egpuhp_nl *nl;

	uid[0] = '\0';
	memset(&d, 0, sizeof(d));
	nl = egpuhp_nl_open(&err);
	if (!nl)
		return;
	if (egpuhp_nl_request(nl, EGPUHP_CMD_GET_DEV, false, egpuhp_nl_put_dev_name, (void *)dev,
			      dev_reply, &d, &err) >= 0)
		snprintf(uid, len, "%s", d.router_uid);
	egpuhp_nl_close(nl);
}

static int do_tunnel(const struct egpuctl_opts *o, const char *dev, const char *router,
		     const char *store, unsigned int timeout_ms)
{
	char uid[EGPUHP_UNIQUE_ID_LEN];
	struct egpu_tunnel_cycle tc;
	size_t i;
	int ret;

	memset(&tc, 0, sizeof(tc));
	if (!router)
		kernel_router_uid(dev, uid, sizeof(uid));
	else
		uid[0] = '\0';
	tc.dev = dev;
	tc.router = router;
	tc.router_uid = uid;
	tc.store_root = store;
	tc.timeout_ms = timeout_ms;
	ret = egpu_tunnel_cycle(&tc);
	if (ret < 0)
		fprintf(stderr, "egpuctl: reset %s --tunnel: %s\n", dev, tc.err);
	if (o->json) {
		struct egpuctl_data dd;
		int first = 1;
		FILE *out = reset_data_open(&dd, dev, "tunnel", &first);

		if (!out)
			return EGPUCTL_FAIL;
		egpu_json_kv_str(out, &first, "router", tc.router_name);
		egpu_json_kv_str(out, &first, "security", tc.security);
		egpu_json_kv_int(out, &first, "result", ret);
		egpu_json_kv_uint(out, &first, "gone_ns", tc.gone_ns);
		egpu_json_kv_uint(out, &first, "back_ns", tc.back_ns);
		egpu_json_kv_uint(out, &first, "rebind_ns", tc.rebind_ns);
		egpu_json_kv_uint(out, &first, "duration_ns", tc.total_ns);
		egpu_json_key(out, &first, "functions");
		fputc('[', out);
		for (i = 0; i < tc.nfn; i++) {
			int f = 1;

			fputs(i ? ",{" : "{", out);
			egpu_json_kv_str(out, &f, "name", tc.fn[i].name);
			egpu_json_kv_bool(out, &f, "back", tc.fn[i].back);
			egpu_json_kv_str(out, &f, "driver_before", tc.fn[i].driver);
			egpu_json_kv_str(out, &f, "driver_after", tc.fn[i].driver_after);
			egpu_json_kv_str(out, &f, "driver_override", tc.fn[i].override);
			fputc('}', out);
		}
		fputc(']', out);
		return reset_data_close(&dd, ret, tc.err);
	}
	if (ret < 0)
		return EGPUCTL_FAIL;
	printf("%s: tunnel cycle of router %s done in %.1f ms (gone %.1f, back %.1f, rebind %.1f)\n",
	       dev, tc.router_name, tc.total_ns / 1e6, tc.gone_ns / 1e6,
	       tc.back_ns / 1e6, tc.rebind_ns / 1e6);
	for (i = 0; i < tc.nfn; i++)
		printf("  %s  driver %s\n", tc.fn[i].name,
		       tc.fn[i].driver_after[0] ? tc.fn[i].driver_after : "(none)");
	return EGPUCTL_OK;
}

static int run_reset(int argc, char **argv, const struct egpuctl_opts *o)
{
	const char *dev = NULL, *router = NULL, *store = NULL;
	uint32_t method = EGPUHP_RESET_AUTO;
	unsigned int timeout_ms = 0;
	bool tunnel = false, have_method = false;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--tunnel")) {
			tunnel = true;
		} else if (!strcmp(a, "--method") && i + 1 < argc &&
			   !strcmp(argv[i + 1], "tunnel")) {
			tunnel = true;	/* same as --tunnel */
			i++;
		} else if (!strcmp(a, "--method") && i + 1 < argc) {
			if (parse_method(argv[++i], &method)) {
				return egpuctl_error("reset", EGPUCTL_USAGE, "usage",
						     "egpuctl: reset: unknown method \"%s\" (auto, bus, "
						     "link-retrain, pm, slot-power, egpuhp, tunnel)",
						     argv[i]);
			}
			have_method = true;
		} else if (!strcmp(a, "--router") && i + 1 < argc) {
			router = argv[++i];
		} else if (!strcmp(a, "--store") && i + 1 < argc) {
			store = argv[++i];
		} else if (!strcmp(a, "--timeout") && i + 1 < argc) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);

			if (*end || !v || v > 600000) {
				return egpuctl_error("reset", EGPUCTL_USAGE, "usage",
						     "egpuctl: reset: bad --timeout \"%s\" (ms)",
						     argv[i]);
			}
			timeout_ms = (unsigned int)v;
		} else if (a[0] != '-' && !dev) {
			dev = a;
		} else {
			return egpuctl_usage(&egpuctl_cmd_reset);
		}
	}
	if (!dev || (tunnel && have_method) || (!tunnel && (router || store || timeout_ms)))
		return egpuctl_usage(&egpuctl_cmd_reset);
	if (strlen(dev) >= EGPUHP_PCI_NAME_LEN) {
		return egpuctl_error("reset", EGPUCTL_USAGE, "usage",
				     "egpuctl: reset: bad PCI function name \"%s\"", dev);
	}
	if (tunnel)
		return do_tunnel(o, dev, router, store, timeout_ms);
	return do_netlink_reset(o, dev, method);
}

const struct egpuctl_cmd egpuctl_cmd_reset = {
	.name = "reset",
	.args = "DEV [--method M | --tunnel [--router R] [--store DIR] [--timeout MS]]",
	.help = "reset a function (M: auto bus link-retrain pm slot-power egpuhp) or cycle its tunnel",
	.run = run_reset,
};
