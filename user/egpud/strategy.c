// SPDX-License-Identifier: GPL-2.0
/*
 * Warnings -> strategies.  Enclosures that fall off the bus often warn
 * first: a link that trained below what both ends can do, correctable AER
 * errors piling up, the module's watchdog losing a function or finding it
 * slow to answer (watchdog_slow_us), the carrying router's link slowing
 * down, the router de-authorized by someone else.
 * Per GPU the workload policy (egpud.conf(5): [workloads], [workload-rule])
 * says what to do:
 *
 *   lazy        nothing until the eGPU is lost;
 *   eager       evacuate on the first warning;
 *   preemptive  evacuate when "warnings" warnings came within "within-s".
 *
 * Evacuating is the eject's evacuate step without the removal: libegpu
 * watchers hear LEAVING with the reason first, then gpuwork checkpoints
 * (evacuate-to = host) or migrates (a GPU, or same-chip: the other GPU of
 * the chip with the most free memory; none: host, and watchers hear "no
 * GPU target: fall back to CPU") every workload on the GPU, in a job;
 * then MIGRATED or CHECKPOINTED with the target.  Every decision is one
 * log line.  Processes that protect themselves by libegpu snapshots are
 * waited for (their final snapshot, at most eject-grace-ms) and left out
 * of the driver checkpoint or migration, like an eject does (eject.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/rules.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"
#include "gpuwork/gw_internal.h"

/* How often AER counters are read while a non-lazy policy guards a GPU. */
#define EGPUD_AER_POLL_MS	10000

const char *egpud_warning_name(enum egpud_warning w)
{
	switch (w) {
	case EGPUD_WARN_LINK: return "link";
	case EGPUD_WARN_AER: return "aer";
	case EGPUD_WARN_WATCHDOG: return "watchdog";
	case EGPUD_WARN_ROUTER_LINK: return "router-link";
	case EGPUD_WARN_ROUTER_DEAUTH: return "router-deauthorized";
	}
	return "?";
}

int egpud_warning_from_name(const char *name)
{
	int w;

	for (w = EGPUD_WARN_LINK; w <= EGPUD_WARN_ROUTER_DEAUTH; w++)
		if (!strcmp(name, egpud_warning_name(w)))
			return w;
	return -1;
}

enum egpud_decision egpud_strategy_decide(const struct egpu_workload_policy *p,
					  struct egpud_health *h, uint64_t now_ms,
					  char *why, size_t len)
{
	uint64_t window = (uint64_t)p->within_s * 1000;
	size_t i, recent = 0;

	/* the warning is remembered whatever the strategy: N within T counts it */
	if (h->n == EGPUD_WARN_HISTORY) {
		memmove(h->at, h->at + 1, sizeof(h->at[0]) * (EGPUD_WARN_HISTORY - 1));
		h->n--;
	}
	h->at[h->n++] = now_ms;
	if (h->evacuated) {
		snprintf(why, len, "evacuated already");
		return EGPUD_DECIDE_NOTHING;
	}
	switch (p->strategy) {
	case EGPU_STRATEGY_EAGER:
		snprintf(why, len, "strategy eager: first warning");
		return EGPUD_DECIDE_EVACUATE;
	case EGPU_STRATEGY_PREEMPTIVE:
		for (i = 0; i < h->n; i++)
			if (now_ms - h->at[i] <= window)
				recent++;
		if (recent >= p->warnings) {
			snprintf(why, len, "strategy preemptive: %zu warnings within %u s "
				 "(limit %u)", recent, p->within_s, p->warnings);
			return EGPUD_DECIDE_EVACUATE;
		}
		snprintf(why, len, "strategy preemptive: %zu of %u warnings within %u s",
			 recent, p->warnings, p->within_s);
		return EGPUD_DECIDE_NOTHING;
	default:
		snprintf(why, len, "strategy lazy: nothing until it is lost");
		return EGPUD_DECIDE_NOTHING;
	}
}

static struct egpud_health *health_for(struct egpud *d, const char *pci, bool create)
{
	size_t i;

	for (i = 0; i < d->n_health; i++)
		if (!strcmp(d->health[i].pci, pci))
			return &d->health[i];
	if (!create || d->n_health == EGPUD_MAX_HEALTH)
		return NULL;
	memset(&d->health[d->n_health], 0, sizeof(d->health[0]));
	snprintf(d->health[d->n_health].pci, sizeof(d->health[0].pci), "%s", pci);
	return &d->health[d->n_health++];
}

void egpud_strategy_forget(struct egpud *d, const char *pci)
{
	struct egpud_health *h = health_for(d, pci, false);

	if (h)
		*h = d->health[--d->n_health];
}

/* --- evacuation ----------------------------------------------------------------- */

struct evac_job {
	char pci[EGPUHP_PCI_NAME_LEN];
	char group[EGPUHP_PCI_NAME_LEN];
	enum egpu_evacuate_to to;
	char gpu[48];
	size_t n_skip;			/* final snapshots came: left alone */
	pid_t skip[EGPU_EJECT_MAX_SNAP];
};

/*
 * An evacuation waiting for the final snapshots of the processes that
 * protect themselves (snapshots.c): like an eject, it leaves those to
 * their snapshot instead of the driver checkpoint, waiting at most
 * eject-grace-ms; a process whose final snapshot did not come (or that
 * acked or closed first) is checkpointed with the rest.
 */
struct egpud_evac_wait {
	struct evac_job *ej;
	uint64_t deadline_ms;
	size_t n;
	uint64_t serial[EGPU_EJECT_MAX_SNAP];
	pid_t pid[EGPU_EJECT_MAX_SNAP];
	bool done[EGPU_EJECT_MAX_SNAP];
};

/* The child: pick the target, evacuate, say where things went ("target: X"). */
static int evac_work(void *arg, FILE *out)
{
	struct evac_job *ej = arg;
	char pick[GW_PCI_LEN];
	const char *to = NULL;

	if (ej->to == EGPU_EVAC_GPU)
		to = ej->gpu;
	else if (ej->to == EGPU_EVAC_SAME_CHIP && !gw_pick_same_chip(ej->pci, pick, sizeof(pick)))
		to = pick;
	fprintf(out, "target: %s%s\n", to ? to : "host",
		ej->to == EGPU_EVAC_SAME_CHIP && !to ? " (no GPU target)" : "");
	return gw_evacuate(ej->pci, to, ej->skip, ej->n_skip, out, false);
}

static void watchers_line(struct egpud *d, const struct evac_job *ej, const char *kind,
			  const char *detail)
{
	char line[512];
	int n;

	/* "event KIND PCI SEQ FLAGS GROUP DETAIL": libegpu's egpu_event_detail() */
	n = snprintf(line, sizeof(line), "event %s %s 0 warning %s %s\n", kind, ej->pci,
		     ej->group[0] ? ej->group : "-", detail);
	/* egpuctl monitor shows them too: they are egpud's own decisions */
	if (n > 0 && (size_t)n < sizeof(line))
		egpud_watchers_send(d, ej->pci, ej->group, line, true, NULL);
}

static void evac_done(struct egpud *d, struct egpud_job *j)
{
	struct evac_job *ej = j->ctx;
	char target[96] = "host", detail[160];
	const char *t = j->text ? strstr(j->text, "target: ") : NULL;
	bool no_gpu = t && strstr(t, "(no GPU target)") &&
		      strstr(t, "(no GPU target)") < strchr(t, '\n');

	if (t)
		snprintf(target, sizeof(target), "%.*s", (int)strcspn(t + 8, " \n"), t + 8);
	if (j->status) {
		egpu_log("strategy: %s: evacuation to %s failed (every workload left as it "
			 "was, all or nothing): %.200s", ej->pci, target,
			 j->text ? j->text : "");
		watchers_line(d, ej, "ready", "reason=evacuation failed: still on this GPU");
	} else if (!strcmp(target, "host")) {
		egpu_log("strategy: %s: evacuated: checkpointed to host memory%s", ej->pci,
			 no_gpu ? " (no GPU target: fall back to CPU)" : "");
		snprintf(detail, sizeof(detail), "to=host%s",
			 no_gpu ? " reason=no GPU target: fall back to CPU" : "");
		watchers_line(d, ej, "checkpointed", detail);
	} else {
		egpu_log("strategy: %s: evacuated: migrated to %s", ej->pci, target);
		snprintf(detail, sizeof(detail), "to=%s", target);
		watchers_line(d, ej, "migrated", detail);
	}
	if (ej->n_skip)
		egpu_log("strategy: %s: %zu process%s left to %s own snapshot%s (no driver "
			 "checkpoint)", ej->pci, ej->n_skip, ej->n_skip == 1 ? "" : "es",
			 ej->n_skip == 1 ? "its" : "their", ej->n_skip == 1 ? "" : "s");
	egpud_records_annotate(d);
	egpud_records_watch(d);
}

static void start_job(struct egpud *d, struct evac_job *ej)
{
	struct egpud_job *j;
	char key[48];

	snprintf(key, sizeof(key), "evacuate %s", ej->pci);
	j = egpud_job_start(d, key, "evacuation", evac_work, ej, evac_done);
	if (!j) {
		egpu_log("strategy: %s: no job slot for the evacuation", ej->pci);
		free(ej);
		return;
	}
	j->ctx = ej;
}

/* Watchers of ej's GPU protecting their process: wait for their final snapshots. */
static struct egpud_evac_wait *snap_wait(struct egpud *d, struct evac_job *ej)
{
	struct egpud_evac_wait *w = NULL;
	size_t i, slot;

	for (slot = 0; slot < EGPUD_MAX_EVAC_WAIT && d->evac_wait[slot]; slot++)
		;
	for (i = 0; i < EGPUD_MAX_CLIENTS; i++) {
		struct egpud_client *c = d->clients[i];

		if (!c || c->monitor_only || !egpud_snap_protects(c) ||
		    (c->filter[0] && strcmp(c->filter, ej->pci) && strcmp(c->filter, ej->group)))
			continue;
		c->snap.final = false;	/* from the LEAVING that follows on */
		if (slot == EGPUD_MAX_EVAC_WAIT || (w && w->n == EGPU_EJECT_MAX_SNAP)) {
			egpu_log("strategy: %s: pid %d protects itself by snapshots, but too "
				 "many do: it is checkpointed", ej->pci, (int)c->pid);
			continue;
		}
		if (!w) {
			w = calloc(1, sizeof(*w));
			if (!w)
				return NULL;
		}
		w->serial[w->n] = c->serial;
		w->pid[w->n++] = c->pid;
	}
	if (w) {
		w->ej = ej;
		w->deadline_ms = egpud_now_ms() + d->cfg->eject_grace_ms;
		d->evac_wait[slot] = w;
	}
	return w;
}

/* Start w's evacuation if every protected process answered or time is up. */
static void wait_settle(struct egpud *d, size_t slot, bool expired)
{
	struct egpud_evac_wait *w = d->evac_wait[slot];
	size_t i, open = 0;

	for (i = 0; i < w->n; i++)
		open += !w->done[i];
	if (open && !expired)
		return;
	for (i = 0; i < w->n; i++)
		if (!w->done[i])
			egpu_log("strategy: %s: pid %d protects itself by snapshots but sent no "
				 "final snapshot within %u ms: driver checkpoint instead",
				 w->ej->pci, (int)w->pid[i], d->cfg->eject_grace_ms);
	d->evac_wait[slot] = NULL;
	start_job(d, w->ej);
	free(w);
}

/* Watcher c answered a LEAVING of an evacuation: final snapshot or not. */
static void wait_answer(struct egpud *d, const struct egpud_client *c, bool final)
{
	size_t slot, i;

	for (slot = 0; slot < EGPUD_MAX_EVAC_WAIT; slot++) {
		struct egpud_evac_wait *w = d->evac_wait[slot];

		for (i = 0; w && i < w->n; i++) {
			if (w->serial[i] != c->serial || w->done[i])
				continue;
			w->done[i] = true;
			if (final) {
				w->ej->skip[w->ej->n_skip++] = w->pid[i];
				egpu_log("strategy: %s: pid %d sent its final snapshot (%" PRIu64
					 " bytes): no driver checkpoint for it", w->ej->pci,
					 (int)w->pid[i], c->snap.bytes);
			} else {
				egpu_log("strategy: %s: pid %d protects itself by snapshots but "
					 "answered without a final snapshot: driver checkpoint "
					 "instead", w->ej->pci, (int)w->pid[i]);
			}
			wait_settle(d, slot, false);
			break;
		}
	}
}

void egpud_strategy_client_final(struct egpud *d, const struct egpud_client *c)
{
	wait_answer(d, c, true);
}

void egpud_strategy_client_ack(struct egpud *d, const struct egpud_client *c)
{
	wait_answer(d, c, false);
}

void egpud_strategy_free(struct egpud *d)
{
	size_t slot;

	for (slot = 0; slot < EGPUD_MAX_EVAC_WAIT; slot++) {
		if (d->evac_wait[slot]) {
			free(d->evac_wait[slot]->ej);
			free(d->evac_wait[slot]);
			d->evac_wait[slot] = NULL;
		}
	}
}

static bool evac_pending(struct egpud *d, const char *pci)
{
	char key[48];
	size_t slot;

	snprintf(key, sizeof(key), "evacuate %s", pci);
	for (slot = 0; slot < EGPUD_MAX_EVAC_WAIT; slot++)
		if (d->evac_wait[slot] && !strcmp(d->evac_wait[slot]->ej->pci, pci))
			return true;
	return egpud_job_for(d, key) != NULL;
}

static void evacuate(struct egpud *d, const struct egpuhp_dev *gpu,
		     const struct egpu_workload_policy *pol, const char *reason)
{
	struct egpud_evac_wait *w;
	struct evac_job *ej;
	char detail[320];

	if (evac_pending(d, gpu->name))
		return;
	ej = calloc(1, sizeof(*ej));
	if (!ej)
		return;
	snprintf(ej->pci, sizeof(ej->pci), "%s", gpu->name);
	snprintf(ej->group, sizeof(ej->group), "%s", gpu->group[0] ? gpu->group : gpu->name);
	ej->to = pol->evacuate;
	snprintf(ej->gpu, sizeof(ej->gpu), "%s", pol->evacuate_gpu);
	/* watchers first: a program that lets go itself needs no checkpoint */
	w = snap_wait(d, ej);
	snprintf(detail, sizeof(detail), "reason=%.300s", reason);
	watchers_line(d, ej, "leaving", detail);
	if (!w) {
		start_job(d, ej);
		return;
	}
	egpu_log("strategy: %s: waiting up to %u ms for the final snapshots of %zu "
		 "process%s protecting %s", ej->pci, d->cfg->eject_grace_ms, w->n,
		 w->n == 1 ? "" : "es", w->n == 1 ? "itself" : "themselves");
}

static const char *evac_target_name(const struct egpu_workload_policy *p)
{
	switch (p->evacuate) {
	case EGPU_EVAC_SAME_CHIP: return "same-chip";
	case EGPU_EVAC_GPU: return p->evacuate_gpu;
	default: return "host";
	}
}

void egpud_strategy_warn(struct egpud *d, const struct egpuhp_dev *gpu, enum egpud_warning w,
			 const char *what)
{
	struct egpu_workload_policy pol;
	struct egpud_health *h;
	char why[160];

	h = health_for(d, gpu->name, true);
	if (!h)
		return;
	egpu_workload_policy_for(d->cfg, gpu, &pol);
	if (egpud_strategy_decide(&pol, h, egpud_now_ms(), why, sizeof(why)) ==
	    EGPUD_DECIDE_NOTHING) {
		egpu_log("strategy: %s: warning %s (%s): %s: nothing done", gpu->name,
			 egpud_warning_name(w), what, why);
		return;
	}
	h->evacuated = true;
	egpu_log("strategy: %s: warning %s (%s): %s: evacuating to %s", gpu->name,
		 egpud_warning_name(w), what, why, evac_target_name(&pol));
	snprintf(why, sizeof(why), "%s: %s", egpud_warning_name(w), what);
	evacuate(d, gpu, &pol, why);
}

/* --- where warnings come from ----------------------------------------------------- */

/* The GPU function of dev's eGPU (itself, or its group's). */
static const struct egpuhp_dev *gpu_of(struct egpud *d, const struct egpuhp_dev *dev)
{
	if (dev->is_gpu)
		return dev;
	return dev->group[0] ? egpu_tracker_dev(&d->tracker, dev->group) : NULL;
}

/* Link trained below what both ends can do? */
static bool link_degraded(const struct egpuhp_link *l, char *what, size_t len)
{
	if (!egpu_link_below_capability(l))
		return false;
	snprintf(what, len, "link at %u Mb/s x%u, capable of %u Mb/s x%u", l->cur_speed,
		 l->cur_width, l->max_speed, l->max_width);
	return true;
}

/*
 * The carrying router's link as it is when the GPU arrives: what a later
 * ROUTER_CHANGE is compared with.  The router's changes before the GPU
 * existed (its authorization opened the tunnel) are in the tracker only.
 */
static void router_base(struct egpud *d, const struct egpuhp_dev *gpu)
{
	struct egpud_health *h;
	size_t i;

	if (!gpu->is_gpu || !gpu->router_uid[0])
		return;
	for (i = 0; i < d->tracker.n_routers; i++) {
		const struct egpuhp_router *r = &d->tracker.routers[i];

		if (strcmp(r->unique_id, gpu->router_uid) || !r->rx_lanes)
			continue;
		h = health_for(d, gpu->name, true);
		if (h && !h->router_lanes) {
			h->router_speed = r->rx_speed;
			h->router_lanes = r->rx_lanes;
		}
		return;
	}
}

void egpud_strategy_event(struct egpud *d, const struct egpuhp_nl_event *ev)
{
	const struct egpuhp_dev *gpu;
	char what[160];
	size_t i;

	switch (ev->event) {
	case EGPUHP_EV_LINK_CHANGE:
		gpu = ev->has_dev ? gpu_of(d, &ev->dev) : NULL;
		if (gpu && link_degraded(&ev->dev.link, what, sizeof(what)))
			egpud_strategy_warn(d, gpu, EGPUD_WARN_LINK, what);
		break;
	case EGPUHP_EV_PCI_LOST:
		gpu = ev->has_dev ? gpu_of(d, &ev->dev) : NULL;
		if (gpu)
			egpud_strategy_warn(d, gpu, EGPUD_WARN_WATCHDOG,
					    "the watchdog found a function not answering");
		break;
	case EGPUHP_EV_PCI_SLOW:
		gpu = ev->has_dev ? gpu_of(d, &ev->dev) : NULL;
		if (gpu) {
			snprintf(what, sizeof(what), "slow answer: %u us", ev->answer_us);
			egpud_strategy_warn(d, gpu, EGPUD_WARN_WATCHDOG, what);
		}
		break;
	case EGPUHP_EV_PCI_ADD:
		if (ev->has_dev)
			router_base(d, &ev->dev);
		break;
	case EGPUHP_EV_PCI_REMOVE:
	case EGPUHP_EV_PCI_BOUND:
		/* a new life of the GPU: its warnings start over */
		if (!ev->has_dev)
			break;
		egpud_strategy_forget(d, ev->dev.name);
		if (ev->event != EGPUHP_EV_PCI_BOUND)
			break;
		router_base(d, &ev->dev);
		/*
		 * A link already below capability when the GPU arrives (a
		 * bad cable, a x1 slot) never changes, so no LINK_CHANGE
		 * will tell: it is this life's first warning.
		 */
		if (ev->dev.is_gpu && link_degraded(&ev->dev.link, what, sizeof(what)))
			egpud_strategy_warn(d, &ev->dev, EGPUD_WARN_LINK, what);
		break;
	case EGPUHP_EV_ROUTER_CHANGE:
		if (!ev->has_router)
			break;
		for (i = 0; i < d->tracker.n_devs; i++) {
			const struct egpuhp_dev *x = &d->tracker.devs[i];
			struct egpud_health *h;

			if (!x->is_gpu || strcmp(x->router_uid, ev->router.unique_id))
				continue;
			h = health_for(d, x->name, true);
			if (!h)
				continue;
			if (h->router_lanes && (ev->router.rx_speed < h->router_speed ||
						ev->router.rx_lanes < h->router_lanes)) {
				snprintf(what, sizeof(what), "router %s link %u Gb/s x%u, was %u "
					 "Gb/s x%u", ev->router.name, ev->router.rx_speed,
					 ev->router.rx_lanes, h->router_speed, h->router_lanes);
				egpud_strategy_warn(d, x, EGPUD_WARN_ROUTER_LINK, what);
			}
			h->router_speed = ev->router.rx_speed;
			h->router_lanes = ev->router.rx_lanes;
		}
		break;
	default:
		break;
	}
}

void egpud_strategy_router_deauthorized(struct egpud *d, const char *unique_id,
					const char *name)
{
	char what[160];
	size_t i;

	snprintf(what, sizeof(what), "router %s de-authorized by someone else", name);
	for (i = 0; i < d->tracker.n_devs; i++) {
		const struct egpuhp_dev *x = &d->tracker.devs[i];

		if (x->is_gpu && unique_id[0] && !strcmp(x->router_uid, unique_id))
			egpud_strategy_warn(d, x, EGPUD_WARN_ROUTER_DEAUTH, what);
	}
}

/* Does any GPU present have a policy that acts on warnings? */
static bool guarded(struct egpud *d)
{
	struct egpu_workload_policy pol;
	size_t i;

	for (i = 0; i < d->tracker.n_devs; i++) {
		if (!d->tracker.devs[i].is_gpu)
			continue;
		egpu_workload_policy_for(d->cfg, &d->tracker.devs[i], &pol);
		if (pol.strategy == EGPU_STRATEGY_EAGER || pol.strategy == EGPU_STRATEGY_PREEMPTIVE)
			return true;
	}
	return false;
}

int egpud_strategy_timeout_ms(struct egpud *d)
{
	uint64_t now = egpud_now_ms(), first = UINT64_MAX;
	size_t slot;

	for (slot = 0; slot < EGPUD_MAX_EVAC_WAIT; slot++)
		if (d->evac_wait[slot] && d->evac_wait[slot]->deadline_ms < first)
			first = d->evac_wait[slot]->deadline_ms;
	if (guarded(d)) {
		/*
		 * The first read, at once, is the base a rise is measured from:
		 * errors counted while egpud waited for its first poll would
		 * otherwise be taken for the base and never warn.
		 */
		if (!d->aer_next_ms)
			d->aer_next_ms = now;
		if (d->aer_next_ms < first)
			first = d->aer_next_ms;
	}
	if (first == UINT64_MAX)
		return -1;	/* idle: no timer */
	return first > now ? (first - now > INT_MAX ? INT_MAX : (int)(first - now)) : 0;
}

/* A rising correctable-error count on function or port name of gpu's eGPU. */
static void check_aer(struct egpud *d, const struct egpuhp_dev *gpu, const char *name)
{
	struct egpud_health *h;
	uint64_t n;
	char what[160];

	if (egpu_aer_read_correctable(name, &n))
		return;
	h = health_for(d, name, true);
	if (!h)
		return;
	if (h->aer_known && n > h->aer) {
		snprintf(what, sizeof(what), "%" PRIu64 " new correctable AER errors on %s (%" PRIu64
			 " in all)", n - h->aer, name, n);
		h->aer = n;
		egpud_strategy_warn(d, gpu, EGPUD_WARN_AER, what);
		return;
	}
	h->aer = n;
	h->aer_known = true;
}

void egpud_strategy_tick(struct egpud *d)
{
	uint64_t now = egpud_now_ms();
	size_t i;

	for (i = 0; i < EGPUD_MAX_EVAC_WAIT; i++)
		if (d->evac_wait[i] && now >= d->evac_wait[i]->deadline_ms)
			wait_settle(d, i, true);
	if (!d->aer_next_ms || now < d->aer_next_ms)
		return;
	d->aer_next_ms = guarded(d) ? now + EGPUD_AER_POLL_MS : 0;
	for (i = 0; i < d->tracker.n_devs; i++) {
		const struct egpuhp_dev *x = &d->tracker.devs[i];
		const struct egpuhp_dev *gpu = gpu_of(d, x);

		if (!gpu)
			continue;
		check_aer(d, gpu, x->name);
		if (x->port[0])
			check_aer(d, gpu, x->port);
	}
}
