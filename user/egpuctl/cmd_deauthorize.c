// SPDX-License-Identifier: GPL-2.0
/*
 * deauthorize: through egpud.  "--all" is the shutdown command
 * (egpuhp-deauthorize.service): it de-authorizes only routers that carry an
 * eGPU (common/egpu_routers.h), never a dock or a Thunderbolt SSD, and when
 * egpud is not running, does not answer in time, refuses or fails, root
 * does it directly in sysfs, so shutdown never depends on egpud.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/egpu_routers.h"
#include "common/egpud_proto.h"
#include "common/egpuhp_nl.h"
#include "common/json.h"
#include "common/sysfs.h"
#include "egpuctl/commands.h"

/* How long the shutdown command waits for egpud before doing it itself. */
#define DEAUTHORIZE_ALL_TIMEOUT_MS	15000

/* What the sysfs fallback did: text lines, and under --json data's routers[]. */
struct direct_report {
	FILE *text;		/* the lines a text reply prints */
	FILE *routers;		/* JSON objects, comma separated */
	int n, fails;
};

static void deauthorized_one(const struct egpuhp_router *r, int err, void *arg)
{
	struct direct_report *rep = arg;
	int f = 1;

	if (err < 0) {
		fprintf(stderr, "deauthorize %s failed: %s\n", r->name, strerror(-err));
		fprintf(rep->text, "deauthorize %s failed: %s\n", r->name, strerror(-err));
		rep->fails++;
	} else {
		fprintf(rep->text, "deauthorize %s (%s %s) carrying an eGPU\n", r->name,
			r->vendor_name, r->device_name);
	}
	fputs(rep->n++ ? ",{" : "{", rep->routers);
	egpu_json_kv_str(rep->routers, &f, "name", r->name);
	egpu_json_kv_str(rep->routers, &f, "unique_id", r->unique_id);
	egpu_json_kv_str(rep->routers, &f, "vendor_name", r->vendor_name);
	egpu_json_kv_str(rep->routers, &f, "device_name", r->device_name);
	egpu_json_kv_bool(rep->routers, &f, "deauthorized", err >= 0);
	if (err < 0)
		egpu_json_kv_str(rep->routers, &f, "error", strerror(-err));
	fputc('}', rep->routers);
}

/*
 * Root, without egpud: de-authorize in sysfs.  why_direct says why egpud
 * did not do it; it is the first message.  Text goes to stdout as it
 * happens; under --json one envelope at the end, data
 * {"via":"sysfs","routers":[{"name","unique_id","vendor_name","device_name",
 * "deauthorized","error"}]}.
 */
static int deauthorize_all_direct(const struct egpuctl_opts *o, const char *why_direct)
{
	struct direct_report rep = { 0 };
	char *text = NULL, *routers = NULL;
	size_t tlen = 0, rlen = 0;
	struct egpuctl_data dd;
	struct egpuhp_dev *devs = NULL;
	struct egpuhp_nl_err err;
	struct egpuhp_nl *nl;
	size_t n_devs = 0;
	bool module = false;
	char why[256];
	int ret, status;

	rep.text = open_memstream(&text, &tlen);
	rep.routers = open_memstream(&routers, &rlen);
	if (!rep.text || !rep.routers) {
		if (rep.text)
			fclose(rep.text);
		free(text);
		/* shutdown: still do it, only the report is lost */
		rep.text = rep.routers = fopen("/dev/null", "w");
		if (!rep.text)
			return egpuctl_error("deauthorize", EGPUCTL_FAIL, "failed",
					     "egpuctl: out of memory");
	}
	fprintf(rep.text, "%s\n", why_direct);
	/* the module says which functions are GPUs and which router carries them */
	nl = egpuhp_nl_open(&err);
	if (nl) {
		module = egpuhp_nl_dump_devs(nl, &devs, &n_devs, &err) == 0;
		egpuhp_nl_close(nl);
	}
	ret = egpu_deauthorize_egpu_routers(module ? devs : NULL, n_devs, deauthorized_one,
					    &rep, why, sizeof(why));
	free(devs);
	if (ret >= 0 && why[0])
		fprintf(rep.text, "no eGPU router de-authorized: %s\n", why);
	fclose(rep.text);
	if (rep.routers != rep.text)
		fclose(rep.routers);
	if (ret < 0) {
		status = egpuctl_error("deauthorize", EGPUCTL_FAIL, "failed",
				       "egpuctl: thunderbolt sysfs: %s", strerror(-ret));
		goto out;
	}
	status = rep.fails ? EGPUCTL_FAIL : EGPUCTL_OK;
	if (!o->json) {
		/* the first line (why egpud did not) went to stderr already */
		fputs(text ? text + strcspn(text, "\n") + 1 : "", stdout);
		goto out;
	}
	if (egpuctl_data_open(&dd, "deauthorize")) {
		fprintf(dd.f, "{\"via\":\"sysfs\",\"routers\":[%s]}", routers ? routers : "");
		egpuctl_data_close(&dd, status, "failed", rep.fails ?
				   "egpuctl: not every eGPU router could be de-authorized" : NULL,
				   text);
	}
out:
	free(text);
	free(routers);
	return status;
}

static int run(int argc, char **argv, const struct egpuctl_opts *o)
{
	char err[512], why[600], *reply = NULL;
	const char *code = NULL;
	size_t len = 0;
	FILE *out;
	int ret;

	if (argc != 2)
		return egpuctl_usage(&egpuctl_cmd_deauthorize);
	if (strcmp(argv[1], "--all"))
		return egpuctl_daemon_call(o, argc, argv);
	/* egpud's reply is printed only if it did the work (or root cannot) */
	out = open_memstream(&reply, &len);
	if (!out)
		return egpuctl_daemon_call_timeout(o, argc, argv, DEAUTHORIZE_ALL_TIMEOUT_MS);
	ret = egpuctl_daemon_ask(o, argc, argv, DEAUTHORIZE_ALL_TIMEOUT_MS, out, err,
				 sizeof(err), &code);
	fclose(out);
	if (ret == EGPUCTL_OK || geteuid() != 0) {
		if (ret >= 0) {
			egpuctl_print_reply(o, "deauthorize", ret, reply, len);
			if (ret != EGPUCTL_OK)
				fprintf(stderr, "egpuctl: egpud did not de-authorize and only "
					"root can write sysfs\n");
		} else {
			egpuctl_error("deauthorize", -ret, code, "%s", err);
			ret = -ret;
		}
		free(reply);
		return ret;
	}
	if (ret >= 0)
		snprintf(why, sizeof(why), "egpuctl: egpud did not de-authorize (status %d): "
			 "de-authorizing eGPU routers directly", ret);
	else
		snprintf(why, sizeof(why), "%s: de-authorizing eGPU routers directly", err);
	free(reply);
	fprintf(stderr, "%s\n", why);
	return deauthorize_all_direct(o, why);
}
const struct egpuctl_cmd egpuctl_cmd_deauthorize = {
	.name = "deauthorize", .args = "ROUTER|UNIQUE_ID|--all",
	.help = "de-authorize a router, or every router carrying an eGPU (for shutdown)",
	.run = run,
};
