// SPDX-License-Identifier: GPL-2.0
/*
 * egpud's "eject" verb (see eject.h): resolves the group, tells libegpu
 * watchers LEAVING and waits for them without blocking the loop (the
 * grace period ends at its deadline or once every watcher told has acked
 * or closed), then runs steps 2-4 in a forked worker that answers the
 * requester.  One eject at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "common/egpud_proto.h"
#include "common/fd_io.h"
#include "common/log.h"
#include "egpud/egpud.h"
#include "egpud/eject.h"

struct egpud_eject {
	int fd;				/* the requester; -1 until begun */
	struct egpu_eject_opts opts;
	char to[64];
	unsigned int grace_ms;
	struct egpu_eject_plan plan;
	struct egpu_eject_result res;
	uint64_t waiting[EGPUD_MAX_CLIENTS];	/* serials of watchers told */
	size_t n_told, n_waiting, n_acked, n_closed;
	/* told watchers protecting their process by snapshots, res.snap[i]'s */
	uint64_t snap_serial[EGPU_EJECT_MAX_SNAP];
	bool snap_acked[EGPU_EJECT_MAX_SNAP], snap_closed[EGPU_EJECT_MAX_SNAP];
	uint64_t t0, deadline;
	bool in_grace;
	pid_t worker;
};

static int usage(FILE *out, const char *why)
{
	fprintf(out, "eject: %s\nusage: eject DEV|ROUTER [--to PCI|UUID] [--force] "
		"[--timeout MS] [--router ROUTER]\n", why);
	return 2;
}

int egpud_eject_prepare(struct egpud *d, int argc, char **argv, bool json, FILE *out)
{
	const char *target = NULL, *router = NULL;
	struct egpud_eject *e;
	char why[320];
	int i, ret;

	if (d->eject) {
		fprintf(out, "eject: another eject (%s) is still running\n", d->eject->plan.target);
		return 1;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		fprintf(out, "eject: out of memory\n");
		return 1;
	}
	e->fd = -1;
	e->grace_ms = d->cfg->eject_grace_ms;
	e->opts.json = json;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--force")) {
			e->opts.force = true;
		} else if (!strcmp(argv[i], "--to") && i + 1 < argc) {
			snprintf(e->to, sizeof(e->to), "%s", argv[++i]);
			e->opts.to = e->to;
		} else if (!strcmp(argv[i], "--router") && i + 1 < argc) {
			router = argv[++i];
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(argv[++i], &end, 10);
			if (errno || *end || !*argv[i] || argv[i][0] == '-' || v > 600000) {
				free(e);
				return usage(out, "--timeout needs milliseconds 0..600000");
			}
			e->grace_ms = (unsigned int)v;
		} else if (argv[i][0] == '-' || target) {
			snprintf(why, sizeof(why), "unexpected argument '%s'", argv[i]);
			free(e);
			return usage(out, why);
		} else {
			target = argv[i];
		}
	}
	if (!target) {
		free(e);
		return usage(out, "needs a PCI function or a Thunderbolt router");
	}
	ret = egpu_eject_plan(d->tracker.devs, d->tracker.n_devs, d->tracker.routers,
			      d->tracker.n_routers, target, router, &e->plan, why, sizeof(why));
	if (ret < 0) {
		egpu_log("eject %s refused: %s", target, why);
		fprintf(out, "eject: %s\n", why);
		free(e);
		return 1;
	}
	egpu_eject_result_init(&e->res);
	d->eject = e;
	return 0;
}

static const char *group_of(struct egpud *d, const char *pci)
{
	const struct egpuhp_dev *dev = egpu_tracker_dev(&d->tracker, pci);

	return dev && dev->group[0] ? dev->group : pci;
}

/* Step 1: "event leaving PCI 0 orderly,requested GROUP" to each watcher. */
static void notify_watchers(struct egpud *d, struct egpud_eject *e)
{
	size_t i, k;

	for (i = 0; i < EGPUD_MAX_CLIENTS; i++) {
		struct egpud_client *c = d->clients[i];
		bool told = false, dropped = false;

		if (!c || !c->watching || c->monitor_only)
			continue;
		/* a final snapshot counts from this LEAVING on */
		c->snap.final = false;
		for (k = 0; k < e->plan.n_fn && !dropped; k++) {
			const char *fn = e->plan.fn[k], *grp = group_of(d, fn);
			char line[160];
			int n;

			if (c->filter[0] && strcmp(c->filter, fn) && strcmp(c->filter, grp))
				continue;
			n = snprintf(line, sizeof(line),
				     "event leaving %s 0 orderly,requested %s\n", fn, grp);
			if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
				dropped = true;
			else
				told = true;
		}
		if (dropped) {
			/* not waited for; the next event line drops it */
			egpu_log("eject: watcher fd %d too slow or gone: not waited for", c->fd);
			continue;
		}
		if (told) {
			e->waiting[e->n_waiting++] = c->serial;
			e->n_told++;
		}
		if (told && egpud_snap_protects(c)) {
			struct egpu_eject_snap *sn = &e->res.snap[e->res.n_snap];

			if (e->res.n_snap == EGPU_EJECT_MAX_SNAP) {
				egpu_log("eject: pid %d protects itself by snapshots, but %d others "
					 "do already: it is checkpointed", (int)c->pid,
					 EGPU_EJECT_MAX_SNAP);
				continue;
			}
			memset(sn, 0, sizeof(*sn));
			sn->pid = c->pid;
			e->snap_serial[e->res.n_snap] = c->serial;
			e->snap_acked[e->res.n_snap] = e->snap_closed[e->res.n_snap] = false;
			e->res.n_snap++;
		}
	}
}

/* The protected process of watcher serial, if c is one. */
static struct egpu_eject_snap *snap_of(struct egpud_eject *e, uint64_t serial, size_t *idx)
{
	size_t i;

	for (i = 0; i < e->res.n_snap; i++) {
		if (e->snap_serial[i] == serial) {
			*idx = i;
			return &e->res.snap[i];
		}
	}
	return NULL;
}

static void start_worker(struct egpud *d, struct egpud_eject *e);

void egpud_eject_begin(struct egpud *d, int fd)
{
	struct egpud_eject *e = d->eject;
	size_t i;

	if (!e) {
		close(fd);
		return;
	}
	e->fd = fd;
	e->t0 = egpud_now_ms();
	notify_watchers(d, e);
	egpu_log("eject %s: %zu function%s%s%s, %zu watcher%s told LEAVING, grace %u ms%s",
		 e->plan.target, e->plan.n_fn, e->plan.n_fn == 1 ? "" : "s",
		 e->plan.router[0] ? ", router " : "", e->plan.router,
		 e->n_told, e->n_told == 1 ? "" : "s", e->grace_ms,
		 e->opts.force ? ", --force" : "");
	for (i = 0; i < e->plan.n_fn; i++)
		egpu_dbg("eject %s: takes %s", e->plan.target, e->plan.fn[i]);
	e->in_grace = true;
	e->deadline = e->t0 + e->grace_ms;
	egpud_eject_tick(d);
}

static bool forget_waiter(struct egpud_eject *e, uint64_t serial)
{
	size_t i;

	for (i = 0; i < e->n_waiting; i++) {
		if (e->waiting[i] == serial) {
			e->waiting[i] = e->waiting[--e->n_waiting];
			return true;
		}
	}
	return false;
}

void egpud_eject_client_gone(struct egpud *d, const struct egpud_client *c)
{
	struct egpu_eject_snap *sn;
	size_t i;

	if (!d->eject || !d->eject->in_grace)
		return;
	if (forget_waiter(d->eject, c->serial))
		d->eject->n_closed++;
	sn = snap_of(d->eject, c->serial, &i);
	if (sn)
		d->eject->snap_closed[i] = true;
}

void egpud_eject_client_ack(struct egpud *d, const struct egpud_client *c)
{
	struct egpu_eject_snap *sn;
	size_t i;

	if (d->eject && d->eject->in_grace && forget_waiter(d->eject, c->serial)) {
		d->eject->n_acked++;
		egpu_dbg("eject: watcher fd %d acked", c->fd);
		sn = snap_of(d->eject, c->serial, &i);
		if (sn)
			d->eject->snap_acked[i] = true;	/* a final after it is too late */
	}
}

void egpud_eject_client_final(struct egpud *d, const struct egpud_client *c)
{
	struct egpud_eject *e = d->eject;
	struct egpu_eject_snap *sn;
	size_t i;

	if (!e || !e->in_grace)
		return;
	sn = snap_of(e, c->serial, &i);
	if (!sn || sn->final || e->snap_acked[i])
		return;
	sn->final = true;
	sn->bytes = c->snap.bytes;
	sn->ms = egpud_now_ms() - e->t0;
	egpu_dbg("eject: pid %d sent its final snapshot", sn->pid);
}

/* After the grace period: what each protected process' outcome is, logged. */
static void settle_snapshots(struct egpud_eject *e, size_t *n_final)
{
	size_t i;

	*n_final = 0;
	for (i = 0; i < e->res.n_snap; i++) {
		struct egpu_eject_snap *sn = &e->res.snap[i];

		if (sn->final) {
			(*n_final)++;
			egpu_log("eject %s: pid %d: snapshot: %" PRIu64 " bytes, final snapshot %"
				 PRIu64 " ms after LEAVING: no driver checkpoint", e->plan.target,
				 sn->pid, sn->bytes, sn->ms);
			continue;
		}
		if (e->snap_acked[i])
			snprintf(sn->why, sizeof(sn->why), "acked without a final snapshot");
		else if (e->snap_closed[i])
			snprintf(sn->why, sizeof(sn->why),
				 "closed its connection without a final snapshot");
		else
			snprintf(sn->why, sizeof(sn->why),
				 "no final snapshot within the grace period (%u ms)", e->grace_ms);
		egpu_log("eject %s: pid %d protects itself by snapshots but %s: driver "
			 "checkpoint instead", e->plan.target, sn->pid, sn->why);
	}
}

int egpud_eject_timeout_ms(struct egpud *d)
{
	uint64_t now;

	if (!d->eject || !d->eject->in_grace)
		return -1;
	now = egpud_now_ms();
	if (!d->eject->n_waiting || now >= d->eject->deadline)
		return 0;
	return d->eject->deadline - now > INT_MAX ? INT_MAX : (int)(d->eject->deadline - now);
}

void egpud_eject_tick(struct egpud *d)
{
	struct egpud_eject *e = d->eject;
	struct egpu_eject_step_result *r;
	uint64_t now = egpud_now_ms();
	size_t n_final, off;

	if (!e || !e->in_grace || (e->n_waiting && now < e->deadline))
		return;
	e->in_grace = false;
	settle_snapshots(e, &n_final);
	r = &e->res.step[EGPU_EJECT_NOTIFY];
	r->ms = now - e->t0;
	if (!e->n_told) {
		r->outcome = EGPU_STEP_SKIPPED;
		snprintf(r->detail, sizeof(r->detail), "no libegpu program watches it");
	} else if (!e->n_waiting) {
		r->outcome = EGPU_STEP_OK;
		snprintf(r->detail, sizeof(r->detail),
			 "%zu watcher%s told LEAVING: %zu acked, %zu closed",
			 e->n_told, e->n_told == 1 ? "" : "s", e->n_acked, e->n_closed);
	} else {
		/* a program that does not answer must not keep the eGPU */
		r->outcome = EGPU_STEP_OK;
		snprintf(r->detail, sizeof(r->detail),
			 "%zu watcher%s told LEAVING: %zu acked, %zu closed, %zu still "
			 "watching when the grace period (%u ms) ended",
			 e->n_told, e->n_told == 1 ? "" : "s", e->n_acked, e->n_closed,
			 e->n_waiting, e->grace_ms);
	}
	off = strlen(r->detail);
	if (e->res.n_snap)
		snprintf(r->detail + off, sizeof(r->detail) - off,
			 "; %zu protected by snapshots: %zu final snapshot%s", e->res.n_snap,
			 n_final, n_final == 1 ? "" : "s");
	egpu_log("eject %s: notify: %s (%llu ms)", e->plan.target, r->detail,
		 (unsigned long long)r->ms);
	start_worker(d, e);
}

static void write_status(int fd, int status)
{
	char tail[EGPUD_STATUS_TAIL_LEN];
	int n = egpud_status_tail(tail, status);

	if (egpu_write_all(fd, tail, (size_t)n) < 0)
		egpu_dbg("eject: requester went away");
}

static void worker_main(struct egpud *d, struct egpud_eject *e)
{
	FILE *out;
	size_t i;
	int rc;

	fcntl(e->fd, F_SETFL, fcntl(e->fd, F_GETFL) & ~O_NONBLOCK);
	out = fdopen(dup(e->fd), "w");
	if (!out)
		_exit(1);
	if (!e->opts.json) {
		fprintf(out, "eject %s:", e->plan.target);
		for (i = 0; i < e->plan.n_fn; i++)
			fprintf(out, " %s", e->plan.fn[i]);
		if (e->plan.router[0])
			fprintf(out, " (router %s)", e->plan.router);
		fputc('\n', out);
		egpu_eject_step_print(&e->res, EGPU_EJECT_NOTIFY, &e->opts, out);
	}
	rc = egpu_eject_run(&e->plan, &e->opts, &egpu_eject_real_ops, NULL, &e->res, out);
	/* this child's copy of the tracker still knows the routers of the GPUs */
	egpud_records_annotate(d);
	for (i = EGPU_EJECT_EVACUATE; i < EGPU_EJECT__STEPS; i++) {
		const struct egpu_eject_step_result *r = &e->res.step[i];

		if (r->outcome != EGPU_STEP_NOT_RUN)
			egpu_log("eject %s: %s: %s (%llu ms)", e->plan.target,
				 egpu_eject_step_name((enum egpu_eject_step)i), r->detail,
				 (unsigned long long)r->ms);
	}
	if (rc)
		egpu_log("eject %s stopped at %s: %s", e->plan.target,
			 egpu_eject_step_name((enum egpu_eject_step)e->res.stopped_at),
			 e->res.state);
	else
		egpu_log("eject %s: safe to unplug", e->plan.target);
	egpu_eject_report(&e->plan, &e->opts, &e->res, out);
	if (egpud_reply_end(out, rc ? 1 : 0) < 0)
		egpu_dbg("eject: requester went away");
	_exit(0);
}

static void start_worker(struct egpud *d, struct egpud_eject *e)
{
	pid_t pid = fork();

	if (pid < 0) {
		static const char msg[] = "egpud: cannot fork the eject worker\n";

		egpu_log("eject %s: fork: %s", e->plan.target, strerror(errno));
		if (write(e->fd, msg, sizeof(msg) - 1) < 0)
			egpu_dbg("eject: requester went away");
		write_status(e->fd, 1);
		close(e->fd);
		free(e);
		d->eject = NULL;
		return;
	}
	if (pid == 0) {
		egpud_child_setup_signals();
		worker_main(d, e);
	}
	e->worker = pid;
	/* past its deadline egpud kills it and answers the requester itself */
	if (egpud_child_add_worker(d, pid, EGPUD_CHILD_EJECT, "eject", EGPUD_EJECT_TIMEOUT_S,
				   e->fd) < 0)
		egpu_log("eject %s: worker %d not tracked (child table full)", e->plan.target,
			 (int)pid);
	else if (e->opts.json)
		egpud_child_reply_json(d, pid, "eject");
	close(e->fd);
	e->fd = -1;
	egpu_log("eject %s: steps 2-4 in worker %d", e->plan.target, (int)pid);
}

void egpud_eject_reaped(struct egpud *d, int pid, int status)
{
	struct egpud_eject *e = d->eject;

	if (!e || e->worker != pid)
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		egpu_log("eject %s: worker %d ended abnormally (status 0x%x)", e->plan.target,
			 pid, (unsigned int)status);
	free(e);
	d->eject = NULL;
}
