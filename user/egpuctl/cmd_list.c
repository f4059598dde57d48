// SPDX-License-Identifier: GPL-2.0
/*
 * list / status: routers with their PCI functions (driver, link speed and
 * width against what the device can do, quirks), authorization and
 * egpud's policy decision for each, and the enrolled devices that are not
 * connected now.
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
	struct egpu_jval *status_doc;		/* egpud's status reply */
	const struct egpu_jval *enrolled;	/* its data.enrolled[] */
	bool module;
	bool daemon;
	struct egpuhp_stats stats;
	char module_err[256];
};

/*
 * egpud's decisions: its "status" reply as JSON (docs/egpuctl-json.md: the
 * envelope's data, or the bare object of an egpud from before the
 * envelope), routers[] with name, decision and reason, and enrolled[]
 * (kept in v->status_doc).
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
	v->status_doc = doc;
	v->enrolled = egpu_json_get(data, "enrolled");
	if (v->enrolled && v->enrolled->type != EGPU_J_ARR)
		v->enrolled = NULL;
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
	egpu_json_free(v->status_doc);
}

static bool jbool(const struct egpu_jval *obj, const char *key)
{
	const struct egpu_jval *b = egpu_json_get(obj, key);

	return b && b->type == EGPU_J_BOOL && b->b;
}

static const char *jstr(const struct egpu_jval *obj, const char *key)
{
	const char *s = egpu_json_get_str(obj, key);

	return s && s[0] ? s : "-";
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
	for (i = 0; v->enrolled && i < v->enrolled->n; i++) {
		const struct egpu_jval *e = &v->enrolled->kids[i];

		if (jbool(e, "connected"))
			continue;	/* shown as its router above */
		printf("enrolled %s %s %s: not connected\n", jstr(e, "unique_id"),
		       jstr(e, "vendor_name"), jstr(e, "device_name"));
		printf("  policy %s%s\n", jstr(e, "policy"), jbool(e, "key") ? "  key stored" : "");
	}
	if (!v->n_routers && !v->n_devs && !(v->enrolled && v->enrolled->n))
		printf("no eGPU routers or functions\n");
	free(shown);
}

/* One function: a flat object (docs/egpuctl-json.md conventions). */
static void dev_json(FILE *out, const struct egpuhp_dev *d)
{
	int f = 1;

	fputc('{', out);
	egpu_json_kv_str(out, &f, "name", d->name);
	egpu_json_kv_hex(out, &f, "vendor", 4, d->vendor);
	egpu_json_kv_hex(out, &f, "device", 4, d->device);
	egpu_json_kv_hex(out, &f, "class", 6, d->class_code);
	egpu_json_kv_bool(out, &f, "is_gpu", d->is_gpu);
	egpu_json_kv_str(out, &f, "driver", d->driver);
	egpu_json_kv_str(out, &f, "group", d->group);
	egpu_json_kv_str(out, &f, "parent", d->parent);
	egpu_json_kv_str(out, &f, "port", d->port);
	egpu_json_kv_str(out, &f, "router_uid", d->router_uid);
	egpu_json_kv_str(out, &f, "track", egpuhp_track_name(d->track));
	if (d->has_present)
		egpu_json_kv_bool(out, &f, "present", d->present);
	if (d->link.valid) {
		egpu_json_kv_uint(out, &f, "cur_speed_mbps", d->link.cur_speed);
		egpu_json_kv_uint(out, &f, "cur_width", d->link.cur_width);
		egpu_json_kv_uint(out, &f, "max_speed_mbps", d->link.max_speed);
		egpu_json_kv_uint(out, &f, "max_width", d->link.max_width);
	}
	egpu_json_kv_mask(out, &f, "quirks", d->quirks);
	fputc('}', out);
}

/* A flat object of egpud's reply written again as it is. */
static void flat_json(FILE *out, const struct egpu_jval *obj)
{
	size_t i;
	int f = 1;

	fputc('{', out);
	for (i = 0; obj->type == EGPU_J_OBJ && i < obj->n; i++) {
		const struct egpu_jval *m = &obj->kids[i];

		if (m->type == EGPU_J_STR)
			egpu_json_kv_str(out, &f, m->key, m->str);
		else if (m->type == EGPU_J_BOOL)
			egpu_json_kv_bool(out, &f, m->key, m->b);
		else if (m->type == EGPU_J_NUM)
			egpu_json_kv_int(out, &f, m->key, (long long)m->num);
	}
	fputc('}', out);
}

/* data of list and status (docs/egpuctl-json.md "egpuctl list") */
static void print_json(FILE *out, const struct view *v, bool status)
{
	size_t i, k;
	int f = 1;

	fputc('{', out);
	egpu_json_kv_bool(out, &f, "module", v->module);
	if (!v->module)
		egpu_json_kv_str(out, &f, "module_error", v->module_err);
	egpu_json_kv_bool(out, &f, "egpud", v->daemon);
	if (status && v->module) {
		egpu_json_kv_uint(out, &f, "events", v->stats.events);
		egpu_json_kv_uint(out, &f, "mcast_fail", v->stats.mcast_fail);
		egpu_json_kv_uint(out, &f, "no_listener", v->stats.no_listener);
		egpu_json_kv_uint(out, &f, "alloc_fail", v->stats.alloc_fail);
		egpu_json_kv_uint(out, &f, "module_devices", v->stats.devices);
		egpu_json_kv_uint(out, &f, "module_routers", v->stats.routers);
	}
	egpu_json_key(out, &f, "routers");
	fputc('[', out);
	for (i = 0; i < v->n_routers; i++) {
		const struct egpuhp_router *r = &v->routers[i];
		const struct decision *dec = decision_for(v, r->name);
		int g = 1, first = 1;

		fputs(i ? ",{" : "{", out);
		egpu_json_kv_str(out, &g, "name", r->name);
		egpu_json_kv_str(out, &g, "unique_id", r->unique_id);
		egpu_json_kv_str(out, &g, "vendor_name", r->vendor_name);
		egpu_json_kv_str(out, &g, "device_name", r->device_name);
		egpu_json_kv_hex(out, &g, "vendor", 4, r->vendor);
		egpu_json_kv_hex(out, &g, "device", 4, r->device);
		egpu_json_kv_uint(out, &g, "generation", r->generation);
		egpu_json_kv_uint(out, &g, "authorized", r->authorized);
		if (r->security[0])
			egpu_json_kv_str(out, &g, "security", r->security);
		egpu_json_kv_bool(out, &g, "iommu_dma_protection", r->iommu_prot);
		egpu_json_kv_uint(out, &g, "depth", r->depth);
		egpu_json_kv_uint(out, &g, "rx_speed", r->rx_speed);
		egpu_json_kv_uint(out, &g, "rx_lanes", r->rx_lanes);
		egpu_json_kv_uint(out, &g, "tx_speed", r->tx_speed);
		egpu_json_kv_uint(out, &g, "tx_lanes", r->tx_lanes);
		if (dec) {
			egpu_json_kv_str(out, &g, "decision", dec->verdict);
			egpu_json_kv_str(out, &g, "reason", dec->reason);
		}
		egpu_json_key(out, &g, "functions");
		fputc('[', out);
		for (k = 0; k < v->n_devs; k++) {
			if (r->unique_id[0] && !strcasecmp(v->devs[k].router_uid, r->unique_id)) {
				if (!first)
					fputc(',', out);
				first = 0;
				dev_json(out, &v->devs[k]);
			}
		}
		fputs("]}", out);
	}
	fputc(']', out);
	egpu_json_key(out, &f, "functions");
	fputc('[', out);
	for (k = 0; k < v->n_devs; k++) {
		if (k)
			fputc(',', out);
		dev_json(out, &v->devs[k]);
	}
	fputc(']', out);
	/* egpud's store, connected or not (absent: only from egpud) */
	if (v->enrolled) {
		egpu_json_key(out, &f, "enrolled");
		fputc('[', out);
		for (i = 0; i < v->enrolled->n; i++) {
			if (i)
				fputc(',', out);
			flat_json(out, &v->enrolled->kids[i]);
		}
		fputc(']', out);
	}
	fputs("}", out);
}

static int run_common(int argc, const struct egpuctl_opts *o, bool status,
		      const struct egpuctl_cmd *cmd)
{
	struct view v;

	if (argc != 1)
		return egpuctl_usage(cmd);
	load(o, &v);
	if (o->json) {
		struct egpuctl_data dd;

		if (!egpuctl_data_open(&dd, cmd->name)) {
			unload(&v);
			return EGPUCTL_FAIL;
		}
		print_json(dd.f, &v, status);
		egpuctl_data_close(&dd, EGPUCTL_OK, NULL, NULL, NULL);
	} else {
		print_text(&v, status);
	}
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
