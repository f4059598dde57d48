// SPDX-License-Identifier: GPL-2.0
/*
 * One verdict for a node's eGPUs, from egpud's snapshot (metrics.h), for
 * "egpuctl health" and node-problem-detector.
 *
 * Only what is connected now counts: a GPU that was unplugged, by surprise
 * or not, is absent and the node is healthy again (a device plugin that
 * keeps a removed GPU "unhealthy" until a restart is what fleets complain
 * about); a re-plugged one is judged afresh.  What is a problem: a GPU the
 * watchdog found not answering, one without a driver, one whose link runs
 * below what both ends can do, and egpud without the module (it can see
 * no eGPU at all then).
 */
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/metrics.h"

const char *egpu_gpu_state_name(enum egpu_gpu_state s)
{
	switch (s) {
	case EGPU_GPU_READY: return "ready";
	case EGPU_GPU_NO_DRIVER: return "no-driver";
	case EGPU_GPU_LOST: return "lost";
	default: return "degraded";
	}
}

bool egpu_link_below_capability(const struct egpuhp_link *l)
{
	return l->valid && (l->cur_speed < l->max_speed || l->cur_width < l->max_width);
}

enum egpu_gpu_state egpu_gpu_state_of(const struct egpuhp_dev *d)
{
	if (d->has_present && !d->present)
		return EGPU_GPU_LOST;
	if (!d->driver[0])
		return EGPU_GPU_NO_DRIVER;
	if (egpu_link_below_capability(&d->link))
		return EGPU_GPU_DEGRADED;
	return EGPU_GPU_READY;
}

/* "8 GT/s x4" (speeds are MT/s per lane) */
static void link_text(char *buf, size_t len, uint32_t speed, uint32_t width)
{
	if (speed % 1000)
		snprintf(buf, len, "%u.%u GT/s x%u", speed / 1000, speed % 1000 / 100, width);
	else
		snprintf(buf, len, "%u GT/s x%u", speed / 1000, width);
}

/* One GPU's verdict in words: "0000:05:00.0 lost (not answering)". */
static void gpu_text(char *buf, size_t len, const struct egpuhp_dev *d)
{
	enum egpu_gpu_state s = egpu_gpu_state_of(d);
	char cur[32], cap[32];

	switch (s) {
	case EGPU_GPU_LOST:
		snprintf(buf, len, "%s lost (not answering)", d->name);
		break;
	case EGPU_GPU_NO_DRIVER:
		snprintf(buf, len, "%s not ready (no driver bound)", d->name);
		break;
	case EGPU_GPU_DEGRADED:
		link_text(cur, sizeof(cur), d->link.cur_speed, d->link.cur_width);
		link_text(cap, sizeof(cap), d->link.max_speed, d->link.max_width);
		snprintf(buf, len, "%s degraded (link %s of %s)", d->name, cur, cap);
		break;
	default:
		snprintf(buf, len, "%s %s", d->name, d->driver);
		break;
	}
}

enum egpu_health_status egpu_health_eval(const struct egpu_metrics *m, char *msg,
					 size_t len)
{
	size_t i, n_gpus = 0, n_bad = 0, off;
	char one[128];

	if (!m->module_connected) {
		snprintf(msg, len, "problem: egpud is not connected to the egpuhp module, no eGPU can be seen (egpuctl doctor)");
		return EGPU_HEALTH_PROBLEM;
	}
	for (i = 0; i < m->n_fns; i++) {
		if (!m->fns[i].dev.is_gpu)
			continue;
		n_gpus++;
		if (egpu_gpu_state_of(&m->fns[i].dev) != EGPU_GPU_READY)
			n_bad++;
	}
	if (!n_gpus) {
		snprintf(msg, len, "ok: no eGPU connected");
		return EGPU_HEALTH_OK;
	}
	/* the problems first: node-problem-detector keeps only the start */
	off = (size_t)snprintf(msg, len, n_bad ? "problem:" : "ok: %zu eGPU%s ready:",
			       n_gpus, n_gpus == 1 ? "" : "s");
	for (i = 0; i < m->n_fns && off < len; i++) {
		const struct egpuhp_dev *d = &m->fns[i].dev;
		bool bad;

		if (!d->is_gpu)
			continue;
		bad = egpu_gpu_state_of(d) != EGPU_GPU_READY;
		if (n_bad && !bad)
			continue;
		gpu_text(one, sizeof(one), d);
		off += (size_t)snprintf(msg + off, len - off, " %s;", one);
	}
	if (off < len && off > 0 && msg[off - 1] == ';')
		msg[off - 1] = '\0';
	return n_bad ? EGPU_HEALTH_PROBLEM : EGPU_HEALTH_OK;
}

void egpu_health_json(FILE *out, const struct egpu_metrics *m,
		      enum egpu_health_status st, const char *msg)
{
	int first = 1, first_gpu = 1;
	size_t i;

	fputc('{', out);
	egpu_json_kv_bool(out, &first, "healthy", st == EGPU_HEALTH_OK);
	egpu_json_kv_str(out, &first, "message", msg);
	egpu_json_kv_bool(out, &first, "module_connected", m->module_connected);
	egpu_json_key(out, &first, "gpus");
	fputc('[', out);
	for (i = 0; i < m->n_fns; i++) {
		const struct egpuhp_dev *d = &m->fns[i].dev;
		int f = 1;

		if (!d->is_gpu)
			continue;
		fputs(first_gpu ? "{" : ",{", out);
		first_gpu = 0;
		egpu_json_kv_str(out, &f, "pci", d->name);
		egpu_json_kv_str(out, &f, "state", egpu_gpu_state_name(egpu_gpu_state_of(d)));
		if (d->driver[0])
			egpu_json_kv_str(out, &f, "driver", d->driver);
		if (d->router_uid[0])
			egpu_json_kv_str(out, &f, "router_unique_id", d->router_uid);
		if (d->link.valid) {
			egpu_json_kv_uint(out, &f, "cur_speed_mbps", d->link.cur_speed);
			egpu_json_kv_uint(out, &f, "cur_width", d->link.cur_width);
			egpu_json_kv_uint(out, &f, "max_speed_mbps", d->link.max_speed);
			egpu_json_kv_uint(out, &f, "max_width", d->link.max_width);
		}
		fputc('}', out);
	}
	fputs("]}", out);
}
