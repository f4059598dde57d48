// SPDX-License-Identifier: GPL-2.0
/*
 * Module events and uevents in, decisions out.  Events go through the
 * tracker (sequence numbers, resync) which calls back here on state
 * transitions; that is where the policies run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/sysfs.h"
#include "common/uevent.h"
#include "egpud/egpud.h"

int egpud_nl_connect(struct egpud *d)
{
	struct egpuhp_nl_err err;
	int ret;

	if (d->nl_ev)
		return 0;
	d->nl_req = egpuhp_nl_open(&err);
	if (!d->nl_req) {
		egpu_log("egpuhp netlink: %s", err.msg);
		return err.code ? err.code : -ENOENT;
	}
	d->nl_ev = egpuhp_nl_open(&err);
	if (!d->nl_ev || egpuhp_nl_subscribe(d->nl_ev, &err) < 0) {
		egpu_log("egpuhp netlink events: %s", err.msg);
		egpud_nl_disconnect(d);
		return -EIO;
	}
	ret = egpuhp_nl_set_rcvbuf(d->nl_ev, d->cfg->netlink_rcvbuf);
	if (ret < 0)
		egpu_log("netlink-rcvbuf %d: %s", d->cfg->netlink_rcvbuf, strerror(-ret));
	egpud_epoll_add(d, egpuhp_nl_fd(d->nl_ev), EPOLLIN);
	/* Subscribed first, then dump: nothing can fall between the two. */
	d->tracker.need_resync = true;
	return egpud_resync(d);
}

void egpud_nl_disconnect(struct egpud *d)
{
	egpud_metrics_changed(d);
	if (d->nl_ev) {
		egpud_epoll_del(d, egpuhp_nl_fd(d->nl_ev));
		egpuhp_nl_close(d->nl_ev);
		d->nl_ev = NULL;
	}
	egpuhp_nl_close(d->nl_req);
	d->nl_req = NULL;
}

int egpud_resync(struct egpud *d)
{
	struct egpuhp_router *routers = NULL;
	struct egpuhp_dev *devs = NULL;
	size_t n_routers = 0, n_devs = 0;
	struct egpuhp_stats st;
	struct egpuhp_nl_err err;
	int ret;

	if (!d->nl_req)
		return -ENOTCONN;
	/* The counter first: events after it are still read from the socket. */
	ret = egpuhp_nl_get_stats(d->nl_req, &st, &err);
	if (ret == 0)
		ret = egpuhp_nl_dump_routers(d->nl_req, &routers, &n_routers, &err);
	if (ret == 0)
		ret = egpuhp_nl_dump_devs(d->nl_req, &devs, &n_devs, &err);
	if (ret < 0) {
		egpu_log("resync failed: %s", err.msg);
		free(routers);
		free(devs);
		if (ret == -ENOENT || ret == -EIO) {
			/* the module went away; wait for it to come back */
			egpud_nl_disconnect(d);
		}
		return ret;
	}
	egpu_log("resync: %zu routers, %zu functions, event seq %llu%s",
		 n_routers, n_devs, (unsigned long long)st.events,
		 d->tracker.synced ? " (after a gap or overrun)" : "");
	d->in_resync = true;
	egpu_tracker_resync(&d->tracker, st.events, devs, n_devs, routers, n_routers);
	d->in_resync = false;
	egpud_metrics_changed(d);
	free(routers);
	free(devs);
	return 0;
}

static void on_event(const struct egpuhp_nl_event *ev, void *arg)
{
	struct egpud *d = arg;

	egpu_tracker_event(&d->tracker, ev);
}

void egpud_nl_readable(struct egpud *d)
{
	int ret = egpuhp_nl_read_events(d->nl_ev, on_event, d);

	if (ret == -ENOBUFS) {
		egpu_log("event socket overrun (ENOBUFS): resync by dump");
		egpu_tracker_overrun(&d->tracker);
	} else if (ret < 0) {
		egpu_log("event socket: %s", strerror(-ret));
	}
	if (d->tracker.need_resync)
		egpud_resync(d);
}

/* --- tracker callbacks --- */

static void cb_dev_added(void *ctx, const struct egpuhp_dev *dev, bool resync)
{
	struct egpud *d = ctx;
	struct egpud_hook_env env = { .event = "pci-add", .dev = dev, .resync = resync };

	egpud_driver_consider(d, dev);
	if (resync) {
		/* Found by a dump: hooks still hear about it, marked as such. */
		egpud_hooks_run(d, EGPU_HOOK_PCI_ADD, &env);
		if (dev->is_gpu && dev->driver[0]) {
			egpud_lost_note_bound(d, dev);
			env.event = "gpu-ready";
			egpud_hooks_run(d, EGPU_HOOK_GPU_READY, &env);
			egpud_replug_gpu_bound(d, dev);
		}
	}
}

static void cb_dev_driver(void *ctx, const struct egpuhp_dev *dev, bool resync)
{
	struct egpud *d = ctx;

	/* A driver other than the rule's bound first: the rule wins once. */
	if (dev->driver[0])
		egpud_driver_consider(d, dev);
	if (resync && dev->is_gpu && dev->driver[0]) {
		struct egpud_hook_env env = { .event = "gpu-ready", .dev = dev,
					      .resync = true };

		egpud_lost_note_bound(d, dev);
		egpud_hooks_run(d, EGPU_HOOK_GPU_READY, &env);
		egpud_replug_gpu_bound(d, dev);
	}
}

static void cb_dev_removed(void *ctx, const struct egpuhp_dev *dev, uint32_t flags,
			   bool resync)
{
	struct egpud *d = ctx;

	egpud_driver_forget(d, dev->name);
	if (resync) {
		/* gone while no event told us how */
		d->counters.removals[EGPU_REMOVAL_UNKNOWN]++;
		egpud_metrics_changed(d);
	}
	if (resync) {
		struct egpuhp_nl_event ev = { .event = EGPUHP_EV_PCI_REMOVE,
					      .has_dev = true, .dev = *dev };
		struct egpud_hook_env env = { .event = "pci-remove", .dev = dev,
					      .resync = true };

		egpud_hooks_run(d, EGPU_HOOK_PCI_REMOVE, &env);
		egpud_watchers_notify(d, &ev);
		/* an event's removal is the event callback's (lost.c needs the nodes) */
		egpud_lost_forget(d, dev->name);
	}
}

static void cb_router_added(void *ctx, const struct egpuhp_router *r, bool resync)
{
	struct egpud *d = ctx;

	if (resync) {
		struct egpud_hook_env env = { .event = "router-add", .router = r,
					      .resync = true };

		egpud_hooks_run(d, EGPU_HOOK_ROUTER_ADD, &env);
	}
	egpud_boltd_refresh(d);		/* a change re-applies the policy */
	egpud_auth_router(d, r->name, false, NULL);
}

static void cb_router_changed(void *ctx, const struct egpuhp_router *r, bool resync)
{
	/*
	 * Nothing to decide: a router is decided once per plug-in, so one
	 * that a user (or the shutdown command) de-authorized stays so.
	 */
	egpu_dbg("router %s authorized=%u", r->name, r->authorized);
}

static void cb_router_removed(void *ctx, const struct egpuhp_router *r, bool resync)
{
	struct egpud *d = ctx;

	egpud_auth_forget_router(d, r->name);
	if (resync) {
		struct egpud_hook_env env = { .event = "router-remove", .router = r,
					      .resync = true };

		egpud_hooks_run(d, EGPU_HOOK_ROUTER_REMOVE, &env);
	}
}

static enum egpu_hook_event hook_for(const struct egpuhp_nl_event *ev, const char **name)
{
	switch (ev->event) {
	case EGPUHP_EV_PCI_ADD: *name = "pci-add"; return EGPU_HOOK_PCI_ADD;
	case EGPUHP_EV_PCI_BOUND: *name = "pci-bound"; return EGPU_HOOK_PCI_BOUND;
	case EGPUHP_EV_PCI_UNBIND: *name = "pci-unbind"; return EGPU_HOOK_PCI_UNBIND;
	case EGPUHP_EV_PCI_REMOVE: *name = "pci-remove"; return EGPU_HOOK_PCI_REMOVE;
	case EGPUHP_EV_PCI_LOST: *name = "pci-lost"; return EGPU_HOOK_PCI_LOST;
	case EGPUHP_EV_PCI_SLOW: *name = "pci-slow"; return EGPU_HOOK_PCI_SLOW;
	case EGPUHP_EV_LINK_CHANGE: *name = "link-change"; return EGPU_HOOK_LINK_CHANGE;
	case EGPUHP_EV_ROUTER_ADD: *name = "router-add"; return EGPU_HOOK_ROUTER_ADD;
	case EGPUHP_EV_ROUTER_REMOVE: *name = "router-remove"; return EGPU_HOOK_ROUTER_REMOVE;
	case EGPUHP_EV_ROUTER_CHANGE: *name = "router-change"; return EGPU_HOOK_ROUTER_CHANGE;
	case EGPUHP_EV_QUIRK_APPLIED: *name = "quirk"; return EGPU_HOOK_QUIRK;
	case EGPUHP_EV_RESET_END: *name = "reset"; return EGPU_HOOK_RESET;
	default: *name = NULL; return EGPU_HOOK__COUNT;
	}
}

static void cb_event(void *ctx, const struct egpuhp_nl_event *ev)
{
	struct egpud *d = ctx;
	struct egpud_hook_env env = { .ev = ev };
	enum egpu_hook_event h;

	d->events_handled++;
	egpud_metrics_count(d, ev);
	egpu_dbg("event %llu %s %s%s", (unsigned long long)ev->seq,
		 egpuhp_event_name(ev->event), ev->has_dev ? ev->dev.name : "",
		 ev->has_router ? ev->router.name : "");
	egpud_watchers_notify(d, ev);
	egpud_strategy_event(d, ev);
	h = hook_for(ev, &env.event);
	if (h == EGPU_HOOK__COUNT)
		return;
	env.dev = ev->has_dev ? &ev->dev : NULL;
	env.router = ev->has_router ? &ev->router : NULL;
	egpud_hooks_run(d, h, &env);
	if (ev->event == EGPUHP_EV_PCI_REMOVE)
		egpud_lost_removed(d, ev);	/* surprise removals of GPUs only */
	else if (ev->event == EGPUHP_EV_PCI_UNBIND && ev->has_dev)
		egpud_lost_forget(d, ev->dev.name);
	if (ev->event == EGPUHP_EV_PCI_BOUND && ev->has_dev && ev->dev.is_gpu) {
		char report[1024], var[sizeof(report) + 32];
		const char *vars[] = { var, NULL };

		egpud_lost_note_bound(d, &ev->dev);
		if (egpud_lost_report(d, &ev->dev, report, sizeof(report))) {
			snprintf(var, sizeof(var), "EGPUHP_LOST_WORKLOADS=%s", report);
			env.vars = vars;
		}
		env.event = "gpu-ready";
		egpud_hooks_run(d, EGPU_HOOK_GPU_READY, &env);
		egpud_replug_gpu_bound(d, &ev->dev);
	}
}

const struct egpu_tracker_ops egpud_tracker_ops = {
	.dev_added = cb_dev_added,
	.dev_driver = cb_dev_driver,
	.dev_removed = cb_dev_removed,
	.router_added = cb_router_added,
	.router_changed = cb_router_changed,
	.router_removed = cb_router_removed,
	.event = cb_event,
};

/* --- uevents: authorization changes, and routers when the module is absent --- */

void egpud_uevent_readable(struct egpud *d)
{
	char buf[8192];

	for (;;) {
		struct egpu_uevent ue;
		ssize_t n = egpu_uevent_recv(d->uevfd, buf, sizeof(buf));

		if (n < 0) {
			if (n == -ENOBUFS) {
				egpu_log("uevent socket overrun: rescanning routers");
				egpud_auth_scan(d);
				continue;
			}
			return;
		}
		if (egpu_uevent_parse(buf, (size_t)n, &ue) < 0)
			continue;
		if (!strcmp(ue.subsystem, "module") && !strcmp(ue.name, "egpuhp")) {
			if (!strcmp(ue.action, "add") && !d->nl_ev) {
				egpu_log("egpuhp module appeared: connecting");
				egpud_nl_connect(d);
			} else if (!strcmp(ue.action, "remove") && d->nl_ev) {
				egpu_log("egpuhp module removed: running on uevents and sysfs");
				egpud_nl_disconnect(d);
			}
			continue;
		}
		if (strcmp(ue.subsystem, "thunderbolt") || !egpu_tb_is_router_name(ue.name))
			continue;
		egpu_dbg("uevent %s %s authorized=%d", ue.action, ue.name, ue.authorized);
		if (!strcmp(ue.action, "remove")) {
			egpud_auth_forget_router(d, ue.name);
		} else if (!strcmp(ue.action, "add")) {
			egpud_boltd_refresh(d);
			egpud_auth_router(d, ue.name, false, NULL);
		} else if (!strcmp(ue.action, "change") && ue.authorized >= 0) {
			egpud_auth_saw_authorized(d, ue.name, ue.authorized);
		}
		egpud_metrics_changed(d);
	}
}
