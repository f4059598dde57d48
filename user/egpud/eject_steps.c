// SPDX-License-Identifier: GPL-2.0
/*
 * Steps 2-4 of a requested eject, in order, stopping at the first one that
 * fails (see eject.h).  Effects go through struct egpu_eject_ops.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "egpud/eject.h"

static const char *const step_names[EGPU_EJECT__STEPS] = {
	[EGPU_EJECT_NOTIFY] = "notify",
	[EGPU_EJECT_EVACUATE] = "evacuate",
	[EGPU_EJECT_SHUTDOWN] = "shutdown",
	[EGPU_EJECT_REMOVE] = "remove",
	[EGPU_EJECT_DEAUTHORIZE] = "deauthorize",
};

const char *egpu_eject_step_name(enum egpu_eject_step s)
{
	return (unsigned int)s < EGPU_EJECT__STEPS ? step_names[s] : "?";
}

void egpu_eject_result_init(struct egpu_eject_result *res)
{
	memset(res, 0, sizeof(*res));
	res->stopped_at = -1;
}

static const char *outcome_name(enum egpu_eject_outcome o)
{
	switch (o) {
	case EGPU_STEP_OK: return "ok";
	case EGPU_STEP_SKIPPED: return "skipped";
	case EGPU_STEP_FAILED: return "failed";
	default: return "not run";
	}
}

__attribute__((format(printf, 5, 6)))
static void step_done(struct egpu_eject_result *res, enum egpu_eject_step s,
		      enum egpu_eject_outcome o, uint64_t ms, const char *fmt, ...)
{
	struct egpu_eject_step_result *r = &res->step[s];
	va_list ap;

	r->outcome = o;
	r->ms = ms;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	if (o == EGPU_STEP_FAILED && res->stopped_at < 0)
		res->stopped_at = (int)s;
}

void egpu_eject_step_print(const struct egpu_eject_result *res, enum egpu_eject_step s,
			   const struct egpu_eject_opts *o, FILE *out)
{
	const struct egpu_eject_step_result *r = &res->step[s];

	if (o->json)
		return;
	fprintf(out, "%-11s %-7s %5llu ms  %s\n", egpu_eject_step_name(s),
		outcome_name(r->outcome), (unsigned long long)r->ms, r->detail);
	fflush(out);
}

static void add_restore(struct egpu_eject_result *res, int pid)
{
	size_t i;

	for (i = 0; i < res->n_restore; i++)
		if (res->restore_pid[i] == pid)
			return;
	if (res->n_restore < sizeof(res->restore_pid) / sizeof(res->restore_pid[0]))
		res->restore_pid[res->n_restore++] = pid;
}

/* The processes whose final snapshot came: left alone by the evacuation. */
static size_t snap_skips(const struct egpu_eject_result *res, pid_t *skip)
{
	size_t i, n = 0;

	for (i = 0; i < res->n_snap; i++)
		if (res->snap[i].final)
			skip[n++] = res->snap[i].pid;
	return n;
}

static bool in_skips(const pid_t *skip, size_t n, pid_t pid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (skip[i] == pid)
			return true;
	return false;
}

/* "; 1 left to its own snapshot (pid 1234)" */
static void snap_note(const pid_t *skip, size_t n, char *buf, size_t len)
{
	size_t i, off;

	buf[0] = '\0';
	if (!n)
		return;
	off = (size_t)snprintf(buf, len, "; %zu left to %s own snapshot (pid", n,
			       n == 1 ? "its" : "their");
	for (i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, " %d", (int)skip[i]);
	if (off < len)
		snprintf(buf + off, len - off, ")");
}

/* Step 2: refuse before touching anything if a user cannot be moved. */
static int evacuate(const struct egpu_eject_plan *plan, const struct egpu_eject_opts *o,
		    const struct egpu_eject_ops *ops, void *ctx,
		    struct egpu_eject_result *res, FILE *log)
{
	uint64_t t0 = ops->now_ms(ctx);
	char refuse[384] = "", moved[160] = "", snaps[160];
	size_t g, i, n_users = 0, n_movable = 0, n_stuck = 0, n_skip;
	struct gw_users users[EGPU_EJECT_MAX_FN];
	pid_t skip[EGPU_EJECT_MAX_SNAP];
	int ret = 0;

	n_skip = snap_skips(res, skip);
	snap_note(skip, n_skip, snaps, sizeof(snaps));

	memset(users, 0, sizeof(users));
	for (g = 0; g < plan->n_gpu; g++) {
		ret = ops->find_users(ctx, plan->gpu[g], &users[g]);
		if (ret < 0) {
			step_done(res, EGPU_EJECT_EVACUATE, EGPU_STEP_FAILED, ops->now_ms(ctx) - t0,
				  "cannot tell who uses %s: %s", plan->gpu[g], strerror(-ret));
			snprintf(res->state, sizeof(res->state),
				 "nothing was changed; the eGPU is still in place");
			goto out;
		}
		for (i = 0; i < users[g].n; i++) {
			const struct gw_user *u = &users[g].v[i];

			if (in_skips(skip, n_skip, u->pid))
				continue;	/* let go itself, after its final snapshot */
			n_users++;
			if (u->checkpointable) {
				n_movable++;
				continue;
			}
			if (!n_stuck++)
				snprintf(refuse, sizeof(refuse),
					 "pid %d (%s) holds %s (%s) of %s and cannot be %s",
					 (int)u->pid, u->comm, u->node, gw_node_kind_name(u->kind),
					 u->pci, u->kind == GW_NODE_VFIO ?
					 "moved: a VM or userspace driver owns the GPU" :
					 "checkpointed");
		}
	}
	if (!n_users) {
		step_done(res, EGPU_EJECT_EVACUATE, EGPU_STEP_SKIPPED, ops->now_ms(ctx) - t0,
			  "no GPU workloads %son %s%s%s", n_skip ? "to checkpoint " : "",
			  plan->gpu[0], plan->n_gpu > 1 ? " and the other GPU functions" : "",
			  snaps);
		goto out;
	}
	if (n_stuck && !o->force) {
		step_done(res, EGPU_EJECT_EVACUATE, EGPU_STEP_FAILED, ops->now_ms(ctx) - t0,
			  "eject refused: %s%s (stop it, or eject with --force)", refuse,
			  n_stuck > 1 ? ", and others" : "");
		snprintf(res->state, sizeof(res->state),
			 "nothing was changed; the eGPU is still in place");
		ret = -EBUSY;
		goto out;
	}
	for (g = 0; g < plan->n_gpu; g++) {
		bool has_movable = false;
		int rc;

		for (i = 0; i < users[g].n; i++)
			has_movable |= users[g].v[i].checkpointable &&
				       !in_skips(skip, n_skip, users[g].v[i].pid);
		if (!has_movable)
			continue;
		rc = ops->evacuate(ctx, plan->gpu[g], o->to, skip, n_skip, log);
		/* whatever was moved may need a restore, done or not */
		for (i = 0; i < users[g].n; i++)
			if (users[g].v[i].checkpointable && !o->to &&
			    !in_skips(skip, n_skip, users[g].v[i].pid))
				add_restore(res, (int)users[g].v[i].pid);
		if (rc != GW_OK && !(o->force && n_stuck)) {
			step_done(res, EGPU_EJECT_EVACUATE, EGPU_STEP_FAILED, ops->now_ms(ctx) - t0,
				  "%s of the CUDA users of %s failed (see above)",
				  o->to ? "migration" : "checkpoint", plan->gpu[g]);
			snprintf(res->state, sizeof(res->state),
				 "nothing was removed; CUDA processes already %s stay so",
				 o->to ? "migrated" : "checkpointed");
			ret = -EIO;
			goto out;
		}
	}
	snprintf(moved, sizeof(moved), "%zu CUDA process%s %s", n_movable,
		 n_movable == 1 ? "" : "es", o->to ? "migrated to " : "checkpointed");
	step_done(res, EGPU_EJECT_EVACUATE, EGPU_STEP_OK, ops->now_ms(ctx) - t0,
		  "%s%s%s%s%s", moved, o->to ? o->to : "", snaps,
		  n_stuck ? "; --force: left in place: " : "", n_stuck ? refuse : "");
out:
	for (g = 0; g < plan->n_gpu; g++)
		gw_users_free(&users[g]);
	return ret;
}

static int remove_functions(const struct egpu_eject_plan *plan,
			    const struct egpu_eject_ops *ops, void *ctx,
			    struct egpu_eject_result *res)
{
	uint64_t t0 = ops->now_ms(ctx);
	size_t i, done = 0, gone = 0;
	char msg[256];

	for (i = 0; i < plan->n_head; i++) {
		int ret;

		msg[0] = '\0';
		ret = ops->module_eject(ctx, plan->head[i], msg, sizeof(msg));
		/*
		 * Tracked when the eject was planned, untracked now: it went
		 * with an earlier head (below it), or away by itself (unplugged
		 * during the grace period).  Either way it is not there.
		 */
		if (ret == -ENODEV) {
			gone++;
			continue;
		}
		if (ret < 0) {
			step_done(res, EGPU_EJECT_REMOVE, EGPU_STEP_FAILED, ops->now_ms(ctx) - t0,
				  "module eject of %s failed: %s%s%s", plan->head[i],
				  strerror(-ret), msg[0] ? ": " : "", msg);
			snprintf(res->state, sizeof(res->state), "%s",
				 done ?
				 "part of the group was removed; the rest is still in place" :
				 "the functions are still in place");
			return ret;
		}
		done++;
	}
	res->removed = true;
	if (!done && gone)
		step_done(res, EGPU_EJECT_REMOVE, EGPU_STEP_SKIPPED, ops->now_ms(ctx) - t0,
			  "already gone: removed while the eject was under way, not by it");
	else
		step_done(res, EGPU_EJECT_REMOVE, EGPU_STEP_OK, ops->now_ms(ctx) - t0,
			  "%zu function%s removed in order (orderly REMOVE events first)",
			  plan->n_fn, plan->n_fn == 1 ? "" : "s");
	return 0;
}

static int deauthorize(const struct egpu_eject_plan *plan, const struct egpu_eject_ops *ops,
		       void *ctx, struct egpu_eject_result *res)
{
	uint64_t t0 = ops->now_ms(ctx);
	int ret;

	if (!plan->router[0]) {
		step_done(res, EGPU_EJECT_DEAUTHORIZE, EGPU_STEP_SKIPPED, 0,
			  "no Thunderbolt router carries it");
		return 0;
	}
	ret = ops->deauth_allowed(ctx, plan->router);
	if (ret <= 0) {
		if (ret == -EALREADY)
			step_done(res, EGPU_EJECT_DEAUTHORIZE, EGPU_STEP_SKIPPED,
				  ops->now_ms(ctx) - t0, "router %s is not authorized",
				  plan->router);
		else
			step_done(res, EGPU_EJECT_DEAUTHORIZE, EGPU_STEP_SKIPPED,
				  ops->now_ms(ctx) - t0, "router %s left authorized: %s",
				  plan->router, ret < 0 ? strerror(-ret) :
				  "its domain does not allow de-authorization");
		return 0;
	}
	ret = ops->deauthorize(ctx, plan->router);
	if (ret < 0) {
		step_done(res, EGPU_EJECT_DEAUTHORIZE, EGPU_STEP_FAILED, ops->now_ms(ctx) - t0,
			  "de-authorizing router %s failed: %s", plan->router, strerror(-ret));
		snprintf(res->state, sizeof(res->state),
			 "the functions are removed but router %s is still authorized",
			 plan->router);
		return ret;
	}
	step_done(res, EGPU_EJECT_DEAUTHORIZE, EGPU_STEP_OK, ops->now_ms(ctx) - t0,
		  "router %s de-authorized", plan->router);
	return 0;
}

int egpu_eject_run(const struct egpu_eject_plan *plan, const struct egpu_eject_opts *o,
		   const struct egpu_eject_ops *ops, void *ctx,
		   struct egpu_eject_result *res, FILE *out)
{
	uint64_t t0;

	if (evacuate(plan, o, ops, ctx, res, out) < 0) {
		egpu_eject_step_print(res, EGPU_EJECT_EVACUATE, o, out);
		return 1;
	}
	egpu_eject_step_print(res, EGPU_EJECT_EVACUATE, o, out);
	/* our own helper must not hold the GPU open while it goes */
	t0 = ops->now_ms(ctx);
	ops->shutdown(ctx);
	step_done(res, EGPU_EJECT_SHUTDOWN, EGPU_STEP_OK, ops->now_ms(ctx) - t0,
		  "gpuwork helper stopped: egpud holds no GPU handle");
	egpu_eject_step_print(res, EGPU_EJECT_SHUTDOWN, o, out);
	if (remove_functions(plan, ops, ctx, res) < 0) {
		egpu_eject_step_print(res, EGPU_EJECT_REMOVE, o, out);
		return 1;
	}
	egpu_eject_step_print(res, EGPU_EJECT_REMOVE, o, out);
	if (deauthorize(plan, ops, ctx, res) < 0) {
		egpu_eject_step_print(res, EGPU_EJECT_DEAUTHORIZE, o, out);
		return 1;
	}
	egpu_eject_step_print(res, EGPU_EJECT_DEAUTHORIZE, o, out);
	res->safe_to_unplug = true;
	return 0;
}

/* The report as the envelope's data (docs/egpuctl-json.md "eject"). */
static void report_data(const struct egpu_eject_plan *plan, const struct egpu_eject_result *res,
			FILE *out)
{
	int first = 1, f;
	size_t i;

	fputc('{', out);
	egpu_json_kv_str(out, &first, "target", plan->target);
	egpu_json_key(out, &first, "functions");
	fputc('[', out);
	for (i = 0; i < plan->n_fn; i++) {
		if (i)
			fputc(',', out);
		egpu_json_str(out, plan->fn[i]);
	}
	fputc(']', out);
	if (plan->router[0])	/* unknown: left out */
		egpu_json_kv_str(out, &first, "router", plan->router);
	egpu_json_kv_bool(out, &first, "safe_to_unplug", res->safe_to_unplug);
	egpu_json_kv_bool(out, &first, "removed", res->removed);
	if (res->stopped_at >= 0)
		egpu_json_kv_str(out, &first, "stopped_at",
				 egpu_eject_step_name((enum egpu_eject_step)res->stopped_at));
	egpu_json_kv_str(out, &first, "state", res->state);
	egpu_json_key(out, &first, "restore");
	fputc('[', out);
	for (i = 0; i < res->n_restore; i++)
		fprintf(out, "%s%d", i ? "," : "", res->restore_pid[i]);
	fputc(']', out);
	egpu_json_key(out, &first, "snapshots");
	fputc('[', out);
	for (i = 0; i < res->n_snap; i++) {
		const struct egpu_eject_snap *sn = &res->snap[i];

		f = 1;
		fputs(i ? ",{" : "{", out);
		egpu_json_kv_int(out, &f, "pid", sn->pid);
		egpu_json_kv_str(out, &f, "outcome", sn->final ? "snapshot" : "checkpoint");
		if (sn->final) {
			egpu_json_kv_uint(out, &f, "bytes", sn->bytes);
			egpu_json_kv_uint(out, &f, "ms", sn->ms);
		} else {
			egpu_json_kv_str(out, &f, "reason", sn->why);
		}
		fputc('}', out);
	}
	fputc(']', out);
	egpu_json_key(out, &first, "steps");
	fputc('[', out);
	for (i = 0; i < EGPU_EJECT__STEPS; i++) {
		const struct egpu_eject_step_result *r = &res->step[i];

		f = 1;
		fputs(i ? ",{" : "{", out);
		egpu_json_kv_str(out, &f, "step", egpu_eject_step_name((enum egpu_eject_step)i));
		egpu_json_kv_str(out, &f, "outcome", outcome_name(r->outcome));
		egpu_json_kv_uint(out, &f, "ms", r->ms);
		egpu_json_kv_str(out, &f, "detail", r->detail);
		fputc('}', out);
	}
	fputs("]}", out);
}

/* The one envelope: ok when safe to unplug, else the error says where it stopped. */
static void report_json(const struct egpu_eject_plan *plan, const struct egpu_eject_result *res,
			FILE *out)
{
	char *data = NULL, error[512];
	size_t len = 0;
	FILE *mem = open_memstream(&data, &len);

	if (mem) {
		report_data(plan, res, mem);
		fclose(mem);
	}
	snprintf(error, sizeof(error), "eject of %s stopped at %s: %s", plan->target,
		 res->stopped_at >= 0 ?
		 egpu_eject_step_name((enum egpu_eject_step)res->stopped_at) : "?", res->state);
	egpu_json_envelope(out, "eject", res->safe_to_unplug ? 0 : 1, "failed", error, data, NULL);
	free(data);
}

void egpu_eject_report(const struct egpu_eject_plan *plan, const struct egpu_eject_opts *o,
		       const struct egpu_eject_result *res, FILE *out)
{
	uint64_t total = 0;
	size_t i;

	if (o->json) {
		report_json(plan, res, out);
		return;
	}
	for (i = 0; i < EGPU_EJECT__STEPS; i++)
		total += res->step[i].ms;
	if (res->safe_to_unplug) {
		fprintf(out, "safe to unplug: %s", plan->n_fn ? "" : "(no PCI function)");
		for (i = 0; i < plan->n_fn; i++)
			fprintf(out, "%s%s", i ? " " : "", plan->fn[i]);
		if (plan->router[0])
			fprintf(out, " (router %s %s)", plan->router,
				res->step[EGPU_EJECT_DEAUTHORIZE].outcome == EGPU_STEP_OK ?
				"de-authorized" : "still authorized");
		fprintf(out, ", %llu ms\n", (unsigned long long)total);
	} else {
		fprintf(out, "eject of %s stopped at %s: %s\n", plan->target,
			res->stopped_at >= 0 ?
			egpu_eject_step_name((enum egpu_eject_step)res->stopped_at) : "?",
			res->state[0] ? res->state : "see above");
	}
	for (i = 0; i < res->n_snap; i++) {
		const struct egpu_eject_snap *sn = &res->snap[i];

		if (sn->final)
			fprintf(out, "pid %d: snapshot: %" PRIu64 " bytes, final snapshot %" PRIu64
				" ms after LEAVING (no driver checkpoint)\n", sn->pid, sn->bytes,
				sn->ms);
		else
			fprintf(out, "pid %d: protects itself by snapshots but %s: driver "
				"checkpoint instead\n", sn->pid, sn->why);
	}
	for (i = 0; i < res->n_restore && !res->safe_to_unplug; i++)
		fprintf(out, "restore with: egpuctl restore %d\n", res->restore_pid[i]);
	if (res->n_restore && res->safe_to_unplug)
		fprintf(out, "checkpointed processes can be restored on another GPU: "
			"egpuctl restore PID --to PCI|UUID\n");
}
