// SPDX-License-Identifier: GPL-2.0
/*
 * list / status: routers with their PCI functions (driver, link speed and
 * width against what the device can do, quirks), authorization and
 * egpud's policy decision for each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/egpud_proto.h"
#include "common/egpuhp_nl.h"
#include "common/json.h"
#include "common/sysfs.h"
#include "egpuctl/commands.h"

struct decision {
	char name[EGPUHP_ROUTER_NAME_LEN];
	char verdict[16];
	char reason[200];
};

struct view {
	struct egpuhp_router *routers;
	size_t n_routers;
	struct egpuhp_dev *devs;
	size_t n_devs;
	struct decision *dec;
	size_t n_dec;
	bool module;
	bool daemon;
	struct egpuhp_stats stats;
	char module_err[256];
};

/*
 * egpud's decisions: its "status" reply as JSON (docs/egpuctl-json.md: the
 * envelope's data, or the bare object of an egpud from before the
 * envelope), routers[] with name, decision and reason.
 */
static void load_decisions(const struct egpuctl_opts *o, struct view *v)
{
	char *argv[1] = { "status" };
	const struct egpu_jval *data, *routers;
	struct egpu_jval *doc = NULL;
	char *text = NULL;
	size_t len = 0, i;
	FILE *mem;
	int fd;

	fd = egpud_connect(egpud_socket_path(o->socket_path));
	if (fd < 0)
		return;
	mem = open_memstream(&text, &len);
	if (!mem) {
		close(fd);
		return;
	}
	if (egpud_send_request(fd, true, 1, argv) == 0 && egpud_read_reply(fd, mem) == 0)
		v->daemon = true;
	close(fd);
	fclose(mem);
	if (v->daemon)
		doc = egpu_json_parse(text, len);
	data = egpu_json_get(doc, "version") ? egpu_json_get(doc, "data") : doc;
	routers = egpu_json_get(data, "routers");
	for (i = 0; routers && routers->type == EGPU_J_ARR && i < routers->n; i++) {
		const struct egpu_jval *r = &routers->kids[i];
		const char *name = egpu_json_get_str(r, "name");
		const char *verdict = egpu_json_get_str(r, "decision");
		const char *reason = egpu_json_get_str(r, "reason");
		struct decision *t;

		if (!name)
			continue;
		t = realloc(v->dec, (v->n_dec + 1) * sizeof(*t));
		if (!t)
			break;
		v->dec = t;
		t = &v->dec[v->n_dec++];
		memset(t, 0, sizeof(*t));
		snprintf(t->name, sizeof(t->name), "%s", name);
		snprintf(t->verdict, sizeof(t->verdict), "%s", verdict ? verdict : "");
		snprintf(t->reason, sizeof(t->reason), "%s", reason ? reason : "");
	}
	egpu_json_free(doc);
	free(text);
}

static const struct decision *decision_for(const struct view *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->n_dec; i++)
		if (!strcmp(v->dec[i].name, name))
			return &v->dec[i];
	return NULL;
}

static void load(const struct egpuctl_opts *o, struct view *v)
{
	struct egpuhp_nl_err err;
	struct egpuhp_nl *nl;

	memset(v, 0, sizeof(*v));
	nl = egpuhp_nl_open(&err);
	if (nl) {
		v->module = egpuhp_nl_dump_routers(nl, &v->routers, &v->n_routers, &err) == 0 &&
			    egpuhp_nl_dump_devs(nl, &v->devs, &v->n_devs, &err) == 0;
		egpuhp_nl_get_stats(nl, &v->stats, &err);
		egpuhp_nl_close(nl);
	}
	if (!v->module) {
		snprintf(v->module_err, sizeof(v->module_err), "%s", err.msg);
		/* Routers are still visible in sysfs. */
		free(v->routers);
		egpu_tb_list_routers(&v->routers, &v->n_routers);
	}
	load_decisions(o, v);
}

static void unload(struct view *v)
{
	free(v->routers);
	free(v->devs);
	free(v->dec);
}

static double gts(uint32_t mbps)
{
	return mbps / 1000.0;
}

static void print_dev_text(const struct egpuhp_dev *d, const char *indent)
{
	printf("%s%s %04x:%04x %s", indent, d->name, d->vendor, d->device,
	       d->is_gpu ? "gpu" : "function");
	if (d->group[0] && strcmp(d->group, d->name))
		printf(" of %s", d->group);
	printf(" driver %s", d->driver[0] ? d->driver : "-");
	if (d->link.valid)
		printf("  link %.1f GT/s x%u (capable %.1f GT/s x%u)%s",
		       gts(d->link.cur_speed), d->link.cur_width,
		       gts(d->link.max_speed), d->link.max_width,
		       d->link.cur_speed < d->link.max_speed ||
		       d->link.cur_width < d->link.max_width ? " degraded" : "");
	if (d->quirks)
		printf("  quirks 0x%x", d->quirks);
	if (d->has_present && !d->present)
		printf("  NOT RESPONDING");
	printf("\n");
}

static void print_text(const struct view *v, bool status)
{
	size_t i, k;
	bool *shown = calloc(v->n_devs ? v->n_devs : 1, sizeof(bool));

	if (!v->module)
		printf("module: not available (%s); routers from sysfs only\n", v->module_err);
	if (status) {
		if (v->module)
			printf("module: %u routers, %u functions, %llu events, %llu multicast failures\n",
			       v->stats.routers, v->stats.devices,
			       (unsigned long long)v->stats.events,
			       (unsigned long long)v->stats.mcast_fail);
		printf("egpud: %s\n", v->daemon ? "running" : "not reachable");
	}
	for (i = 0; i < v->n_routers; i++) {
		const struct egpuhp_router *r = &v->routers[i];
		const struct decision *dec = decision_for(v, r->name);

		printf("router %s %s %s%s\n", r->name, r->vendor_name, r->device_name,
		       r->depth == 0 ? " (host)" : "");
		printf("  unique_id %s  generation %u  authorized %u  security %s  iommu_dma_protection %u\n",
		       r->unique_id, r->generation, r->authorized,
		       r->security[0] ? r->security : "-", r->iommu_prot);
		if (r->rx_speed || r->tx_speed)
			printf("  rx %u Gb/s x%u  tx %u Gb/s x%u\n", r->rx_speed, r->rx_lanes,
			       r->tx_speed, r->tx_lanes);
		if (dec)
			printf("  policy: %s (%s)\n", dec->verdict, dec->reason);
		for (k = 0; k < v->n_devs; k++) {
			if (r->unique_id[0] && !strcasecmp(v->devs[k].router_uid, r->unique_id)) {
				print_dev_text(&v->devs[k], "  ");
				if (shown)
					shown[k] = true;
			}
		}
	}
	for (k = 0; k < v->n_devs; k++) {
		if (shown && shown[k])
			continue;
		printf("function (%s)\n", egpuhp_track_name(v->devs[k].track));
		print_dev_text(&v->devs[k], "  ");
	}
	if (!v->n_routers && !v->n_devs)
		printf("no eGPU routers or functions\n");
	free(shown);
}

static void dev_json(const struct egpuhp_dev *d)
{
	int f = 1;
	char buf[8];

	fputc('{', stdout);
	egpu_json_kv_str(stdout, &f, "name", d->name);
	snprintf(buf, sizeof(buf), "%04x", d->vendor);
	egpu_json_kv_str(stdout, &f, "vendor", buf);
	snprintf(buf, sizeof(buf), "%04x", d->device);
	egpu_json_kv_str(stdout, &f, "device", buf);
	egpu_json_kv_uint(stdout, &f, "class", d->class_code);
	egpu_json_kv_bool(stdout, &f, "is_gpu", d->is_gpu);
	egpu_json_kv_str(stdout, &f, "driver", d->driver);
	egpu_json_kv_str(stdout, &f, "group", d->group);
	egpu_json_kv_str(stdout, &f, "parent", d->parent);
	egpu_json_kv_str(stdout, &f, "port", d->port);
	egpu_json_kv_str(stdout, &f, "router_uid", d->router_uid);
	egpu_json_kv_str(stdout, &f, "track", egpuhp_track_name(d->track));
	if (d->has_present)
		egpu_json_kv_bool(stdout, &f, "present", d->present);
	if (d->link.valid) {
		int g = 1;

		egpu_json_key(stdout, &f, "link");
		fputc('{', stdout);
		egpu_json_kv_uint(stdout, &g, "cur_speed_mbps", d->link.cur_speed);
		egpu_json_kv_uint(stdout, &g, "cur_width", d->link.cur_width);
		egpu_json_kv_uint(stdout, &g, "max_speed_mbps", d->link.max_speed);
		egpu_json_kv_uint(stdout, &g, "max_width", d->link.max_width);
		fputc('}', stdout);
	}
	egpu_json_kv_uint(stdout, &f, "quirks", d->quirks);
	fputc('}', stdout);
}

static void print_json(const struct view *v, bool status)
{
	size_t i, k;
	int f = 1;

	fputc('{', stdout);
	egpu_json_kv_bool(stdout, &f, "module", v->module);
	if (!v->module)
		egpu_json_kv_str(stdout, &f, "module_error", v->module_err);
	egpu_json_kv_bool(stdout, &f, "egpud", v->daemon);
	if (status && v->module) {
		int g = 1;

		egpu_json_key(stdout, &f, "stats");
		fputc('{', stdout);
		egpu_json_kv_uint(stdout, &g, "events", v->stats.events);
		egpu_json_kv_uint(stdout, &g, "mcast_fail", v->stats.mcast_fail);
		egpu_json_kv_uint(stdout, &g, "no_listener", v->stats.no_listener);
		egpu_json_kv_uint(stdout, &g, "alloc_fail", v->stats.alloc_fail);
		egpu_json_kv_uint(stdout, &g, "devices", v->stats.devices);
		egpu_json_kv_uint(stdout, &g, "routers", v->stats.routers);
		fputc('}', stdout);
	}
	egpu_json_key(stdout, &f, "routers");
	fputc('[', stdout);
	for (i = 0; i < v->n_routers; i++) {
		const struct egpuhp_router *r = &v->routers[i];
		const struct decision *dec = decision_for(v, r->name);
		int g = 1, first = 1;

		fputs(i ? ",{" : "{", stdout);
		egpu_json_kv_str(stdout, &g, "name", r->name);
		egpu_json_kv_str(stdout, &g, "unique_id", r->unique_id);
		egpu_json_kv_str(stdout, &g, "vendor_name", r->vendor_name);
		egpu_json_kv_str(stdout, &g, "device_name", r->device_name);
		egpu_json_kv_uint(stdout, &g, "vendor", r->vendor);
		egpu_json_kv_uint(stdout, &g, "device", r->device);
		egpu_json_kv_uint(stdout, &g, "generation", r->generation);
		egpu_json_kv_uint(stdout, &g, "authorized", r->authorized);
		egpu_json_kv_str(stdout, &g, "security", r->security);
		egpu_json_kv_uint(stdout, &g, "iommu_dma_protection", r->iommu_prot);
		egpu_json_kv_uint(stdout, &g, "depth", r->depth);
		egpu_json_kv_uint(stdout, &g, "rx_speed", r->rx_speed);
		egpu_json_kv_uint(stdout, &g, "rx_lanes", r->rx_lanes);
		egpu_json_kv_uint(stdout, &g, "tx_speed", r->tx_speed);
		egpu_json_kv_uint(stdout, &g, "tx_lanes", r->tx_lanes);
		if (dec) {
			egpu_json_kv_str(stdout, &g, "decision", dec->verdict);
			egpu_json_kv_str(stdout, &g, "reason", dec->reason);
		}
		egpu_json_key(stdout, &g, "functions");
		fputc('[', stdout);
		for (k = 0; k < v->n_devs; k++) {
			if (r->unique_id[0] && !strcasecmp(v->devs[k].router_uid, r->unique_id)) {
				if (!first)
					fputc(',', stdout);
				first = 0;
				dev_json(&v->devs[k]);
			}
		}
		fputs("]}", stdout);
	}
	fputc(']', stdout);
	egpu_json_key(stdout, &f, "functions");
	fputc('[', stdout);
	for (k = 0; k < v->n_devs; k++) {
		if (k)
			fputc(',', stdout);
		dev_json(&v->devs[k]);
	}
	fputs("]}\n", stdout);
}

static int run_common(int argc, const struct egpuctl_opts *o, bool status,
		      const struct egpuctl_cmd *cmd)
{
	struct view v;

	if (argc != 1)
		return egpuctl_usage(cmd);
	load(o, &v);
	if (o->json)
		print_json(&v, status);
	else
		print_text(&v, status);
	unload(&v);
	return EGPUCTL_OK;
}

static int run_list(int argc, char **argv, const struct egpuctl_opts *o)
{
	return run_common(argc, o, false, &egpuctl_cmd_list);
}

static int run_status(int argc, char **argv, const struct egpuctl_opts *o)
{
	return run_common(argc, o, true, &egpuctl_cmd_status);
}

const struct egpuctl_cmd egpuctl_cmd_list = {
	.name = "list", .args = "",
	.help = "routers, their PCI functions, drivers, links, authorization, policy",
	.run = run_list,
};

const struct egpuctl_cmd egpuctl_cmd_status = {
	.name = "status", .args = "",
	.help = "list, plus module counters and egpud's state",
	.run = run_status,
};
