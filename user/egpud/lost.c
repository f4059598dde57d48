// SPDX-License-Identifier: GPL-2.0
/*
 * A cable pull never wedges the host.  A surprise REMOVE of a GPU function
 * tells libegpu watchers LOST at once (events.c); lost-grace-ms later the
 * processes that still hold the function's character devices get on-lost
 * (keep, term or kill), so that a driver whose remove() waits for its open
 * files (nvidia's, for a Thunderbolt GPU it takes for an internal one) can
 * finish and the next plug-in works.  Each holder is one log line, one
 * workload-lost hook run and one event line to watchers and to
 * `egpuctl monitor`.  When a GPU of the same identity is bound again,
 * what was lost with it is logged and given to its gpu-ready hooks.
 *
 * The wait is a deadline in the main loop (egpud_lost_timeout_ms()), never
 * a sleep: events, requests and hooks go on meanwhile.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "common/log.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"
#include "egpud/lost.h"

#define LOST_MAX_KNOWN		64	/* bound GPU functions whose nodes are cached */
#define LOST_MAX_PENDING	16	/* removals waiting out their grace period */
#define LOST_MAX_RECORDS	64	/* holders reported when their GPU returns */

struct lost_known {
	char pci[EGPUHP_PCI_NAME_LEN];
	struct egpud_lost_nodes nodes;
};

struct lost_pending {
	struct egpuhp_dev dev;
	uint64_t seq;
	uint32_t flags;
	uint64_t due_ms;	/* CLOCK_MONOTONIC */
	struct egpud_lost_nodes nodes;
};

struct lost_record {
	char pci[EGPUHP_PCI_NAME_LEN];
	char router_uid[EGPUHP_UNIQUE_ID_LEN];
	struct egpud_lost_holder h;
	enum egpud_lost_action action;
};

struct egpud_lost {
	struct lost_known known[LOST_MAX_KNOWN];
	size_t n_known;
	struct lost_pending pending[LOST_MAX_PENDING];
	size_t n_pending;
	struct lost_record records[LOST_MAX_RECORDS];
	size_t n_records;
};

static const char *proc_root(void)
{
	const char *p = getenv("EGPUHP_PROC_ROOT");

	return p && p[0] ? p : "/proc";
}

static struct egpud_lost *state(struct egpud *d)
{
	if (!d->lost)
		d->lost = calloc(1, sizeof(*d->lost));
	return d->lost;
}

void egpud_lost_free(struct egpud *d)
{
	free(d->lost);
	d->lost = NULL;
}

static struct lost_known *known_find(struct egpud_lost *l, const char *pci)
{
	size_t i;

	for (i = 0; i < l->n_known; i++)
		if (!strcmp(l->known[i].pci, pci))
			return &l->known[i];
	return NULL;
}

void egpud_lost_note_bound(struct egpud *d, const struct egpuhp_dev *dev)
{
	struct egpud_lost *l = state(d);
	struct lost_known *k;

	if (!l || !dev->is_gpu)
		return;
	k = known_find(l, dev->name);
	if (!k) {
		if (l->n_known == LOST_MAX_KNOWN)
			return;	/* read again from sysfs at removal */
		k = &l->known[l->n_known++];
		memset(k, 0, sizeof(*k));
		snprintf(k->pci, sizeof(k->pci), "%s", dev->name);
	}
	/*
	 * Afresh: the numbers of a driver bound before may be another
	 * device's by now.  Nodes a driver creates after binding are read at
	 * removal too.
	 */
	memset(&k->nodes, 0, sizeof(k->nodes));
	egpud_lost_find_nodes(egpu_sysfs_root(), proc_root(), dev->name, &k->nodes);
}

void egpud_lost_forget(struct egpud *d, const char *pci)
{
	struct lost_known *k = d->lost ? known_find(d->lost, pci) : NULL;

	if (k)
		*k = d->lost->known[--d->lost->n_known];
}

void egpud_lost_removed(struct egpud *d, const struct egpuhp_nl_event *ev)
{
	struct egpud_lost *l = state(d);
	struct lost_pending *p;
	struct lost_known *k;

	if (!l || !ev->has_dev)
		return;
	if (!ev->dev.is_gpu || !(ev->flags & EGPUHP_F_SURPRISE)) {
		egpud_lost_forget(d, ev->dev.name);	/* orderly: nothing is lost */
		return;
	}
	if (l->n_pending == LOST_MAX_PENDING) {
		egpu_log("lost %s: %d removals are already waiting: its holders are not checked",
			 ev->dev.name, LOST_MAX_PENDING);
		return;
	}
	p = &l->pending[l->n_pending];
	memset(p, 0, sizeof(*p));
	p->dev = ev->dev;
	p->seq = ev->seq;
	p->flags = ev->flags;
	k = known_find(l, ev->dev.name);
	if (k) {
		p->nodes = k->nodes;
		*k = l->known[--l->n_known];
	}
	/* still there: the driver's remove() has not finished */
	egpud_lost_find_nodes(egpu_sysfs_root(), proc_root(), ev->dev.name, &p->nodes);
	if (!p->nodes.n) {
		egpu_log("lost %s: it had no character device egpud knows of: no holders to check",
			 ev->dev.name);
		return;
	}
	p->due_ms = egpud_now_ms() + d->cfg->lost_grace_ms;
	l->n_pending++;
	egpu_dbg("lost %s: %zu device nodes; holders checked in %u ms", ev->dev.name,
		 p->nodes.n, d->cfg->lost_grace_ms);
}

int egpud_lost_timeout_ms(struct egpud *d)
{
	uint64_t now = egpud_now_ms(), first = UINT64_MAX;
	size_t i;

	if (!d->lost || !d->lost->n_pending)
		return -1;
	for (i = 0; i < d->lost->n_pending; i++)
		if (d->lost->pending[i].due_ms < first)
			first = d->lost->pending[i].due_ms;
	return first <= now ? 0 : (int)(first - now);
}

/* Signal pid through a pidfd, after checking that it still holds the node. */
static int signal_holder(const struct lost_pending *p, const struct egpud_lost_holder *h,
			 int sig)
{
	struct egpud_lost_holder again;
	long fd;
	int ret = 0;

	fd = syscall(SYS_pidfd_open, h->pid, 0);
	if (fd < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	/* the pid could have been reused since the scan: the pidfd pins it */
	if (!egpud_lost_pid_holds(proc_root(), h->pid, &p->nodes, &again))
		ret = -ESRCH;
	else if (syscall(SYS_pidfd_send_signal, (int)fd, sig, NULL, 0) < 0)
		ret = -errno;
	close((int)fd);
	return ret;
}

/* "key=value" text safe for one event line: no spaces, no control chars. */
static void line_safe(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < len; i++)
		dst[i] = (unsigned char)src[i] <= ' ' || src[i] == 0x7f ? '_' : src[i];
	dst[i] = '\0';
}

struct tick_ctx {
	struct egpud *d;
	struct lost_pending *p;
	int acted;
};

static void record(struct egpud_lost *l, const struct lost_pending *p,
		   const struct egpud_lost_holder *h, enum egpud_lost_action a)
{
	struct lost_record *r;

	if (l->n_records == LOST_MAX_RECORDS)
		memmove(&l->records[0], &l->records[1], --l->n_records * sizeof(l->records[0]));
	r = &l->records[l->n_records++];
	snprintf(r->pci, sizeof(r->pci), "%s", p->dev.name);
	snprintf(r->router_uid, sizeof(r->router_uid), "%s", p->dev.router_uid);
	r->h = *h;
	r->action = a;
}

static void on_holder(const struct egpud_lost_holder *h, void *arg)
{
	struct tick_ctx *t = arg;
	struct egpud *d = t->d;
	struct lost_pending *p = t->p;
	struct egpuhp_nl_event ev = { .event = EGPUHP_EV_PCI_REMOVE, .seq = p->seq,
				      .flags = p->flags, .has_dev = true, .dev = p->dev };
	char pid_var[32], comm_var[48], node_var[128], action_var[48], done[96];
	const char *vars[] = { pid_var, comm_var, node_var, action_var, NULL };
	struct egpud_hook_env env = { .event = "workload-lost", .ev = &ev, .dev = &p->dev,
				      .vars = vars };
	char node[sizeof(h->node)], line[384], snapped[96];
	const struct egpud_client *snap;
	enum egpud_lost_action a;
	const char *why;
	int ret = 0;

	a = egpud_lost_decide(d->cfg->on_lost, h->pid, getpid(), &why);
	if (a == EGPUD_LOST_TERM || a == EGPUD_LOST_KILL)
		ret = signal_holder(p, h, a == EGPUD_LOST_TERM ? SIGTERM : SIGKILL);
	if (ret == -ESRCH) {
		snprintf(done, sizeof(done), "gone before it was signalled");
	} else if (ret < 0) {
		snprintf(done, sizeof(done), "%s failed: %s",
			 a == EGPUD_LOST_TERM ? "SIGTERM" : "SIGKILL", strerror(-ret));
	} else if (a == EGPUD_LOST_TERM || a == EGPUD_LOST_KILL) {
		snprintf(done, sizeof(done), "sent %s (on-lost = %s)",
			 a == EGPUD_LOST_TERM ? "SIGTERM" : "SIGKILL",
			 egpu_on_lost_name(d->cfg->on_lost));
	} else {
		snprintf(done, sizeof(done), "left running (%s)", why);
	}
	snap = egpud_snap_client_of(d, h->pid);
	if (snap)
		egpud_snap_describe(snap, snapped, sizeof(snapped));
	/*
	 * A program protecting itself keeps its last snapshot in its own
	 * memory: on-lost still applies (the device node it holds keeps the
	 * driver's remove() waiting), so say what it had.
	 */
	egpu_log("workload-lost %s: pid %d (%s) still held %s %u ms after the removal: %s%s%s",
		 p->dev.name, (int)h->pid, h->comm, h->node, d->cfg->lost_grace_ms, done,
		 snap ? "; it protected itself by snapshots, last " : "", snap ? snapped : "");
	if (ret < 0)
		a = EGPUD_LOST_SPARE;
	t->acted++;
	record(d->lost, p, h, a);

	line_safe(node, sizeof(node), h->node);
	snprintf(line, sizeof(line), "event workload-lost %s %llu surprise %s pid=%d action=%s node=%s comm=%s\n",
		 p->dev.name, (unsigned long long)p->seq,
		 p->dev.group[0] ? p->dev.group : "-", (int)h->pid,
		 egpud_lost_action_name(a), node, h->comm);
	egpud_watchers_send(d, p->dev.name, p->dev.group, line, true, &h->uid);

	snprintf(pid_var, sizeof(pid_var), "EGPUHP_PID=%d", (int)h->pid);
	snprintf(comm_var, sizeof(comm_var), "EGPUHP_COMM=%s", h->comm);
	snprintf(node_var, sizeof(node_var), "EGPUHP_NODE=%s", h->node);
	snprintf(action_var, sizeof(action_var), "EGPUHP_ACTION=%s", egpud_lost_action_name(a));
	env.reason = done;
	egpud_hooks_run(d, EGPU_HOOK_WORKLOAD_LOST, &env);
}

void egpud_lost_tick(struct egpud *d)
{
	struct egpud_lost *l = d->lost;
	uint64_t now = egpud_now_ms();
	size_t i = 0;

	while (l && i < l->n_pending) {
		struct lost_pending p = l->pending[i];
		struct tick_ctx t = { .d = d, .p = &p };
		int n;

		if (p.due_ms > now) {
			i++;
			continue;
		}
		l->pending[i] = l->pending[--l->n_pending];
		n = egpud_lost_scan(proc_root(), &p.nodes, on_holder, &t);
		if (n < 0)
			egpu_log("lost %s: cannot read %s: %s", p.dev.name, proc_root(),
				 strerror(-n));
		else if (!n)
			egpu_log("lost %s: no process held its device nodes %u ms after the removal",
				 p.dev.name, d->cfg->lost_grace_ms);
	}
}

static bool same_gpu(const struct lost_record *r, const struct egpuhp_dev *dev)
{
	if (r->router_uid[0] && dev->router_uid[0])
		return !strcmp(r->router_uid, dev->router_uid);
	return !strcmp(r->pci, dev->name);
}

const char *egpud_lost_report(struct egpud *d, const struct egpuhp_dev *dev,
			      char *buf, size_t len)
{
	struct egpud_lost *l = d->lost;
	size_t i = 0, off = 0;

	if (!l || !dev->is_gpu || !len)
		return NULL;
	buf[0] = '\0';
	while (i < l->n_records) {
		const struct lost_record *r = &l->records[i];
		int n;

		if (!same_gpu(r, dev)) {
			i++;
			continue;
		}
		n = snprintf(buf + off, len - off, "%s%d:%s:%s", off ? " " : "", (int)r->h.pid,
			     r->h.comm, egpud_lost_action_name(r->action));
		if (n > 0 && off + (size_t)n < len)
			off += (size_t)n;
		memmove(&l->records[i], &l->records[i + 1],
			(l->n_records - i - 1) * sizeof(l->records[0]));
		l->n_records--;
	}
	if (!off)
		return NULL;
	egpu_log("%s is back (driver %s): lost with it before (pid:comm:action): %s",
		 dev->name, dev->driver[0] ? dev->driver : "none", buf);
	return buf;
}
