// SPDX-License-Identifier: GPL-2.0
/*
 * egpud's side of fleet health: the snapshot of what egpud knows
 * (common/metrics.h), the node_exporter textfile kept up to date with it,
 * and the "metrics" and "health" verbs.
 *
 * Anything that changes the snapshot marks it (egpud_metrics_changed());
 * the loop writes the file once per wake-up (egpud_metrics_flush()), so a
 * burst of events costs one write.  AER counters change without an event:
 * while functions are tracked, the file is also rewritten every
 * metrics-refresh seconds; with none tracked, egpud stays asleep.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/store.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"

void egpud_metrics_count(struct egpud *d, const struct egpuhp_nl_event *ev)
{
	egpu_metrics_count_event(&d->counters, ev);
	egpud_metrics_changed(d);
}

static unsigned int watchers(const struct egpud *d)
{
	unsigned int n = 0;
	size_t i;

	for (i = 0; i < EGPUD_MAX_CLIENTS; i++)
		if (d->clients[i] && d->clients[i]->watching)
			n++;
	return n;
}

/* The snapshot; free *fns and *routers after use. */
static void snapshot(struct egpud *d, struct egpu_metrics *m, struct egpu_metrics_fn **fns,
		     struct egpu_metrics_router **routers)
{
	const struct egpu_tracker *t = &d->tracker;
	struct egpu_metrics_router *rs = NULL;
	struct egpu_metrics_fn *fs = NULL;
	struct egpu_store_dev *enrolled = NULL;
	struct egpuhp_dev *devs = NULL;
	size_t n_enrolled = 0, n_rs = 0, n_devs = 0, i, k;
	struct egpuhp_info info;
	struct egpuhp_nl_err err;

	memset(m, 0, sizeof(*m));
	m->egpud_up = true;
	m->module_connected = d->nl_ev != NULL;
	if (d->nl_req && egpuhp_nl_get_info(d->nl_req, &info, &err) == 0) {
		m->watchdog_known = true;
		m->watchdog_ms = info.watchdog_ms;
	}
	m->counters = d->counters;
	m->counters.events = t->handled;
	m->counters.resyncs = t->resyncs;
	m->counters.gaps = t->gaps;
	m->counters.overruns = t->overruns;
	m->checkpointed = (unsigned int)egpud_checkpoint_records_live(NULL);
	m->protected_programs = watchers(d);

	/*
	 * A fresh dump, not the tracker's table: a lost GPU that answers
	 * again, and the link, change without an event (the module reads
	 * both when asked).  The table if the dump fails.
	 */
	if (m->module_connected &&
	    egpuhp_nl_dump_devs(d->nl_req, &devs, &n_devs, &err) < 0) {
		devs = NULL;
		n_devs = 0;
	}
	if (m->module_connected && !devs && t->n_devs) {
		devs = malloc(t->n_devs * sizeof(*devs));
		if (devs) {
			memcpy(devs, t->devs, t->n_devs * sizeof(*devs));
			n_devs = t->n_devs;
		}
	}
	if (n_devs)
		fs = calloc(n_devs, sizeof(*fs));
	for (i = 0; fs && i < n_devs; i++) {
		fs[i].dev = devs[i];
		fs[i].has_aer = egpu_aer_read_correctable(devs[i].name,
							  &fs[i].aer_correctable) == 0;
	}
	free(devs);
	m->fns = fs;
	m->n_fns = fs ? n_devs : 0;

	/* without the module egpud cannot tell which are connected: none shown */
	if (!m->module_connected || egpu_store_list(d->cfg->store_dir, &enrolled, &n_enrolled) < 0)
		n_enrolled = 0;
	rs = calloc(t->n_routers + n_enrolled + 1, sizeof(*rs));
	for (i = 0; rs && m->module_connected && i < t->n_routers; i++) {
		/* the host's own controller (depth 0) is no eGPU router */
		if (!t->routers[i].depth)
			continue;
		rs[n_rs].r = t->routers[i];
		rs[n_rs].connected = true;
		for (k = 0; k < n_enrolled; k++)
			if (!strcmp(enrolled[k].unique_id, t->routers[i].unique_id))
				rs[n_rs].enrolled = true;
		n_rs++;
	}
	for (k = 0; rs && k < n_enrolled; k++) {
		bool seen = false;

		for (i = 0; i < n_rs; i++)
			seen |= !strcmp(rs[i].r.unique_id, enrolled[k].unique_id);
		if (seen)
			continue;
		snprintf(rs[n_rs].r.unique_id, sizeof(rs[n_rs].r.unique_id), "%s",
			 enrolled[k].unique_id);
		rs[n_rs].enrolled = true;
		n_rs++;
	}
	free(enrolled);
	m->routers = rs;
	m->n_routers = rs ? n_rs : 0;
	*fns = fs;
	*routers = rs;
}

void egpud_metrics_render(struct egpud *d, FILE *out)
{
	struct egpu_metrics_router *routers;
	struct egpu_metrics_fn *fns;
	struct egpu_metrics m;

	snapshot(d, &m, &fns, &routers);
	egpu_metrics_write(out, &m);
	free(fns);
	free(routers);
}

/* Write the textfile from m (or "egpud is down" when m is NULL). */
static void write_textfile(struct egpud *d, const struct egpu_metrics *m)
{
	const char *path = d->cfg->metrics_textfile;
	struct egpu_metrics down = { .egpud_up = false };
	char *text = NULL, dir[4096], base[4096];
	size_t len = 0;
	FILE *out;
	int ret;

	if (!path)
		return;
	out = open_memstream(&text, &len);
	if (!out)
		return;
	egpu_metrics_write(out, m ? m : &down);
	fclose(out);
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	/* node_exporter reads *.prom only: the temporary file is not one */
	ret = egpu_atomic_write(dirname(dir), basename(base), text, len, 0644);
	free(text);
	if (ret < 0 && ret != d->metrics_error)
		egpu_log("metrics-textfile %s: %s", path, strerror(-ret));
	else if (ret == 0 && d->metrics_error)
		egpu_log("metrics-textfile %s: written again", path);
	d->metrics_error = ret;
}

void egpud_metrics_flush(struct egpud *d)
{
	struct egpu_metrics_router *routers;
	struct egpu_metrics_fn *fns;
	struct egpu_metrics m;
	uint64_t now = egpud_now_ms();

	if (!d->cfg->metrics_textfile)
		return;
	if (d->metrics_next_ms && now >= d->metrics_next_ms)
		d->metrics_dirty = true;
	if (!d->metrics_dirty)
		return;
	d->metrics_dirty = false;
	snapshot(d, &m, &fns, &routers);
	write_textfile(d, &m);
	d->metrics_next_ms = m.n_fns && d->cfg->metrics_refresh_s ?
			     now + (uint64_t)d->cfg->metrics_refresh_s * 1000 : 0;
	free(fns);
	free(routers);
}

int egpud_metrics_timeout_ms(struct egpud *d)
{
	uint64_t now;

	if (!d->cfg->metrics_textfile || !d->metrics_next_ms)
		return -1;
	now = egpud_now_ms();
	return d->metrics_next_ms <= now ? 0 : (int)(d->metrics_next_ms - now);
}

void egpud_metrics_stop(struct egpud *d)
{
	write_textfile(d, NULL);
}

enum egpud_result egpud_health(struct egpud *d, FILE *text, FILE *data)
{
	struct egpu_metrics_router *routers;
	struct egpu_metrics_fn *fns;
	struct egpu_metrics m;
	enum egpu_health_status st;
	char msg[512];

	snapshot(d, &m, &fns, &routers);
	st = egpu_health_eval(&m, msg, sizeof(msg));
	fprintf(text, "%s\n", msg);
	if (data)
		egpu_health_json(data, &m, st, msg);
	free(fns);
	free(routers);
	return st == EGPU_HEALTH_OK ? EGPUD_R_OK : EGPUD_R_FAILED;
}
