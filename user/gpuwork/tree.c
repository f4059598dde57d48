// SPDX-License-Identifier: GPL-2.0
/*
 * Workloads: the processes that make up one job.  An LLM server
 * ("ollama serve" and the runner children that hold the GPU) or a training
 * script with data-loader children stops making sense when only some of
 * its processes are checkpointed, so checkpoint, restore and migrate act
 * on all of them:
 *
 *  - a process of a systemd service belongs to the service (its cgroup
 *    ends in ".service"): every process of it, parent-linked or not;
 *  - else to the tree under its topmost ancestor that is still in its
 *    cgroup and is neither pid 1 nor below a session leader (the shell
 *    that started the job is not part of it).
 *
 * The tree engine keeps the all-or-nothing rule: every member is locked
 * before any is checkpointed, and a failure anywhere puts every member
 * back where it was (running after a failed checkpoint, checkpointed after
 * a failed restore), so a tree is never half moved.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/file_read.h"
#include "common/json.h"
#include "gpuwork/gw_internal.h"

/* Deepest ancestor chain followed (a loop in a fake tree ends too). */
#define GW_TREE_MAX_DEPTH	64

int gw_proc_info(pid_t pid, struct gw_proc_info *pi)
{
	char path[256], buf[2048], *p;
	const char *f;
	int ppid, pgrp, sid;
	ssize_t n;

	memset(pi, 0, sizeof(*pi));
	pi->pid = pid;
	f = gw_proc_stat(pid, buf, sizeof(buf));
	if (!f)
		return -ENOENT;
	if (sscanf(f, " %*c %d %d %d", &ppid, &pgrp, &sid) != 3)
		return -ENODATA;
	pi->ppid = ppid;
	pi->pgrp = pgrp;
	pi->sid = sid;
	if (gw_path(path, sizeof(path), GW_ROOT_PROC, "%d/cgroup", (int)pid))
		return -ENAMETOOLONG;
	n = egpu_read_small_file(path, buf, sizeof(buf));
	if (n > 0) {
		/* the unified hierarchy's line: "0::/system.slice/x.service" */
		p = strstr(buf, "0::");
		if (p && (p == buf || p[-1] == '\n')) {
			p += 3;
			p[strcspn(p, "\n")] = '\0';
			gw_copy(pi->cgroup, sizeof(pi->cgroup), p);
		}
	}
	return 0;
}

static bool is_service(const char *cgroup)
{
	size_t l = strlen(cgroup);

	return l > 8 && !strcmp(cgroup + l - 8, ".service");
}

int gw_workload_key(pid_t pid, char *key, size_t len, pid_t *root)
{
	struct gw_proc_info me, cur, up;
	int depth, err;

	err = gw_proc_info(pid, &me);
	if (err)
		return err;
	cur = me;
	for (depth = 0; depth < GW_TREE_MAX_DEPTH && cur.ppid > 1; depth++) {
		if (gw_proc_info(cur.ppid, &up) || strcmp(up.cgroup, me.cgroup))
			break;
		/* A service's main process is a session leader too: it belongs. */
		if (!is_service(me.cgroup) && up.sid == up.pid)
			break;
		cur = up;
	}
	if (root)
		*root = cur.pid;
	if (is_service(me.cgroup))
		snprintf(key, len, "service:%s", me.cgroup);
	else
		snprintf(key, len, "tree:%d", (int)cur.pid);
	return 0;
}

static int wl_add(struct gw_workload *w, pid_t pid, bool checkpointed)
{
	size_t i, j;

	for (i = 0; i < w->n; i++) {
		if (w->pid[i] == pid) {
			w->checkpointed[i] |= checkpointed;
			return 0;
		}
	}
	if (w->n == GW_WL_MAX)
		return -E2BIG;
	for (i = 0; i < w->n && w->pid[i] < pid; i++)
		;
	for (j = w->n; j > i; j--) {
		w->pid[j] = w->pid[j - 1];
		w->checkpointed[j] = w->checkpointed[j - 1];
		memcpy(w->comm[j], w->comm[j - 1], GW_COMM_LEN);
	}
	w->pid[i] = pid;
	w->checkpointed[i] = checkpointed;
	if (gw_proc_comm(pid, w->comm[i], GW_COMM_LEN))
		gw_copy(w->comm[i], GW_COMM_LEN, "?");
	w->n++;
	return 0;
}

int gw_workload_of(pid_t pid, bool only, struct gw_workload *w)
{
	struct gw_record *recs = NULL, own;
	struct gw_users u = { 0 };
	char key[GW_WL_KEY_LEN];
	bool is_user = false, has_rec;
	int nrec, err = 0;
	size_t i;

	memset(w, 0, sizeof(*w));
	has_rec = !gw_record_load(pid, &own);
	if (gw_workload_key(pid, w->key, sizeof(w->key), &w->root))
		return -ESRCH;
	if (only)
		return wl_add(w, pid, has_rec);
	err = gw_find_users(NULL, &u);
	if (err)
		return err;
	for (i = 0; i < u.n && !err; i++) {
		if (u.v[i].pid == pid)
			is_user = true;
		if (gw_workload_key(u.v[i].pid, key, sizeof(key), NULL) || strcmp(key, w->key))
			continue;
		err = wl_add(w, u.v[i].pid, false);
	}
	gw_users_free(&u);
	nrec = err ? 0 : gw_records_list(&recs);
	for (i = 0; nrec > 0 && i < (size_t)nrec && !err; i++) {
		if (recs[i].pid == pid || !strcmp(recs[i].workload, w->key))
			err = wl_add(w, recs[i].pid, true);
	}
	free(recs);
	if (err)
		return err;
	if (!is_user && !has_rec)
		return wl_add(w, pid, false);	/* the engine says what it is */
	return 0;
}

/* --- the tree engine ------------------------------------------------------ */

static void tree_init(struct gw_tree_report *t, const struct gw_workload *w, const char *op)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->op = op;
	t->n = w->n;
	for (i = 0; i < w->n; i++)
		gw_report_init(&t->r[i], w->pid[i], op);
}

static int tree_fail(struct gw_tree_report *t, bool refused, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int tree_fail(struct gw_tree_report *t, bool refused, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->reason, sizeof(t->reason), fmt, ap);
	va_end(ap);
	t->ok = false;
	t->refused = refused;
	return GW_FAIL;
}

/* After an undo: "every member running", or who is not. */
static void tree_states(const struct gw_cuda_api *api, struct gw_tree_report *t, int want,
			char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < t->n; i++) {
		t->r[i].state_after = gw_eng_state_of(api, t->r[i].pid);
		if (t->r[i].state_after != want && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%d is %s",
						off ? ", " : "", (int)t->r[i].pid,
						gw_state_name(t->r[i].state_after));
	}
	if (!buf[0])
		snprintf(buf, len, "every member %s", gw_state_name(want));
}

/* Bring members 0..n-1 back to RUNNING from LOCKED or CHECKPOINTED. */
static void undo_to_running(const struct gw_cuda_api *api, struct gw_tree_report *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		pid_t pid = t->r[i].pid;
		int st = gw_eng_state_of(api, pid);

		if (st == GW_CU_STATE_CHECKPOINTED &&
		    gw_eng_restore(api, pid, &t->r[i], NULL, 0, GW_STEP_RECOVER) == GW_CU_SUCCESS)
			st = GW_CU_STATE_LOCKED;
		if (st == GW_CU_STATE_LOCKED)
			gw_eng_unlock(api, pid, &t->r[i], GW_STEP_RECOVER);
	}
}

int gw_tree_checkpoint(const struct gw_workload *w, const struct gw_opts *o,
		       struct gw_tree_report *t)
{
	const struct gw_gpu *src[GW_WL_MAX] = { NULL };
	const struct gw_cuda_api *api = NULL;
	char e[48], states[160];
	struct gw_gpus *gpus;
	uint64_t bytes = 0, avail = 0;
	size_t i, k;
	int nsrc, rc = GW_OK;
	gw_cures err;

	tree_init(t, w, "checkpoint");
	gpus = calloc(1, sizeof(*gpus));
	if (!gpus)
		return tree_fail(t, true, "out of memory");
	gw_gpus_load(gpus);
	/* 1. everything that can be checked, before any member is touched */
	for (i = 0; i < w->n && rc == GW_OK; i++) {
		struct gw_report *r = &t->r[i];
		double t0 = gw_eng_now_ms();

		rc = gw_eng_preflight_driver(&api, w->pid[i], GW_CUDA_MIN_CHECKPOINT, r);
		if (rc == GW_OK)
			rc = gw_eng_preflight_process(w->pid[i], o, gpus, &src[i], &nsrc, r);
		gw_eng_step_done(r, GW_STEP_PREFLIGHT, t0,
				 rc == GW_OK ? GW_CU_SUCCESS : GW_CU_UNKNOWN);
		bytes += r->gpu_bytes + GW_CHECKPOINT_OVERHEAD;
		if (rc != GW_OK)
			tree_fail(t, true, "member %d (%s): %.180s; no member was touched",
				  (int)w->pid[i], w->comm[i], r->reason);
	}
	if (rc == GW_OK && !o->force && !gw_host_mem_available(&avail) && bytes > avail)
		rc = tree_fail(t, true, "not enough host memory for the workload: %" PRIu64
			       " MiB needed, %" PRIu64 " MiB available (--force skips this "
			       "check)", bytes >> 20, avail >> 20);
	if (rc != GW_OK)
		goto out;
	/* 2. lock every member */
	for (i = 0; i < w->n; i++) {
		struct gw_cu_lock_args la = { 0 };
		double t0 = gw_eng_now_ms();

		la.timeout_ms = o->timeout_ms ? o->timeout_ms : GW_DEFAULT_LOCK_TIMEOUT_MS;
		err = api->lock(w->pid[i], &la);
		gw_eng_step_done(&t->r[i], GW_STEP_LOCK, t0, err);
		if (err == GW_CU_SUCCESS)
			continue;
		gw_cuda_errname(err, e, sizeof(e));
		snprintf(t->r[i].reason, sizeof(t->r[i].reason), "lock failed: %s", e);
		undo_to_running(api, t, i + 1);
		tree_states(api, t, GW_CU_STATE_RUNNING, states, sizeof(states));
		rc = tree_fail(t, false, "lock of member %d (%s) failed: %s%s; %s",
			       (int)w->pid[i], w->comm[i], e,
			       err == GW_CU_NOT_READY || err == GW_CU_TIMEOUT ?
			       " (busy past the timeout)" : "", states);
		goto out;
	}
	/* 3. checkpoint each */
	for (k = 0; k < w->n; k++) {
		struct gw_cu_plain_args ca = { 0 };
		double t0 = gw_eng_now_ms();

		err = api->checkpoint(w->pid[k], &ca);
		gw_eng_step_done(&t->r[k], GW_STEP_CHECKPOINT, t0, err);
		if (err == GW_CU_SUCCESS)
			continue;
		gw_cuda_errname(err, e, sizeof(e));
		snprintf(t->r[k].reason, sizeof(t->r[k].reason), "checkpoint failed: %s", e);
		undo_to_running(api, t, w->n);
		tree_states(api, t, GW_CU_STATE_RUNNING, states, sizeof(states));
		rc = tree_fail(t, false, "checkpoint of member %d (%s) failed: %s; %s",
			       (int)w->pid[k], w->comm[k], e, states);
		goto out;
	}
	for (i = 0; i < w->n; i++) {
		t->r[i].state_after = GW_CU_STATE_CHECKPOINTED;
		t->r[i].ok = true;
		if (src[i])
			gw_copy(t->r[i].from_pci, GW_PCI_LEN, src[i]->pci);
		gw_eng_save_record(api, w->pid[i], src[i], &t->r[i]);
	}
	t->ok = true;
out:
	free(gpus);
	return rc;
}

static void fill_to(struct gw_report *r, const struct gw_gpu *g)
{
	gw_copy(r->to_pci, sizeof(r->to_pci), g->pci);
	gw_copy(r->to_uuid, sizeof(r->to_uuid), g->uuid);
}

/* Per member of a restore: its record and map. */
struct restore_plan {
	bool running;			/* nothing to do: restored by hand (--only) */
	bool have_rec;
	struct gw_record rec;
	int n;				/* pairs; 0: restore in place */
	struct gw_gpu_pair pairs[GW_MAX_GPUS], one;
};

static int restore_preflight(const struct gw_cuda_api **apip, const struct gw_gpus *gpus,
			     const struct gw_opts *all, pid_t pid, struct restore_plan *p,
			     struct gw_report *r)
{
	const struct gw_gpu *dst = NULL, *src;
	struct gw_opts eff = *all;
	const struct gw_opts *o = &eff;
	int rc;

	p->have_rec = !gw_record_load(pid, &p->rec);
	eff.to = gw_eng_restore_target(gpus, all, p->have_rec ? &p->rec : NULL);
	if (p->have_rec) {
		gw_copy(r->from_pci, sizeof(r->from_pci), p->rec.pci);
		gw_copy(r->from_uuid, sizeof(r->from_uuid), p->rec.uuid);
		r->gpu_bytes = p->rec.gpu_bytes;
	}
	rc = gw_eng_preflight_driver(apip, pid, o->to ? GW_CUDA_MIN_MIGRATE :
				     GW_CUDA_MIN_CHECKPOINT, r);
	if (rc != GW_OK || r->state_before == GW_CU_STATE_LOCKED)
		return rc;	/* a lock left behind: the unlock is its restore */
	if (r->state_before == GW_CU_STATE_RUNNING && !p->have_rec) {
		p->running = true;
		return GW_OK;
	}
	if (r->state_before != GW_CU_STATE_CHECKPOINTED)
		return gw_eng_fail(r, true, "process %d is %s, not checkpointed", (int)pid,
				   gw_state_name(r->state_before));
	if (o->to) {
		if (!p->have_rec)
			return gw_eng_fail(r, true, "no record of where process %d was "
					   "checkpointed from; restore it without --to", (int)pid);
		rc = gw_eng_preflight_target(gpus, o->to, p->rec.uuid, p->rec.vendor,
					     p->rec.device, p->rec.gpu_bytes, &dst, r);
		if (rc == GW_OK) {
			p->n = gw_eng_make_pairs(*apip, p->rec.uuid, dst->pci, &p->rec, p->pairs,
						 &p->one, r);
			if (p->n < 0)
				rc = GW_FAIL;
		}
		return rc;
	}
	if (p->have_rec && p->rec.pci[0]) {
		src = gw_gpus_find(gpus, p->rec.uuid[0] ? p->rec.uuid : p->rec.pci);
		if (!src)
			return gw_eng_fail(r, true, "GPU %s the process ran on is gone; restore "
					   "it with --to a GPU of the same chip",
					   p->rec.uuid[0] ? p->rec.uuid : p->rec.pci);
		fill_to(r, src);
	}
	return GW_OK;
}

/* Put restored (LOCKED) members back to CHECKPOINTED after a failed restore. */
static void undo_to_checkpointed(const struct gw_cuda_api *api, struct gw_tree_report *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		struct gw_cu_plain_args ca = { 0 };
		pid_t pid = t->r[i].pid;
		double t0 = gw_eng_now_ms();

		if (gw_eng_state_of(api, pid) != GW_CU_STATE_LOCKED)
			continue;
		gw_eng_step_done(&t->r[i], GW_STEP_RECOVER, t0, api->checkpoint(pid, &ca));
	}
}

int gw_tree_restore(const struct gw_workload *w, const struct gw_opts *o,
		    struct gw_tree_report *t)
{
	const struct gw_cuda_api *api = NULL;
	struct restore_plan *plan;
	char e[48], states[160];
	struct gw_gpus *gpus;
	size_t i, todo;
	int rc = GW_OK;
	gw_cures err;

	tree_init(t, w, "restore");
	gpus = calloc(1, sizeof(*gpus));
	plan = calloc(GW_WL_MAX, sizeof(*plan));
	if (!gpus || !plan) {
		free(gpus);
		free(plan);
		return tree_fail(t, true, "out of memory");
	}
	gw_gpus_load(gpus);
	for (i = 0; i < w->n && rc == GW_OK; i++) {
		double t0 = gw_eng_now_ms();

		rc = restore_preflight(&api, gpus, o, w->pid[i], &plan[i], &t->r[i]);
		gw_eng_step_done(&t->r[i], GW_STEP_PREFLIGHT, t0,
				 rc == GW_OK ? GW_CU_SUCCESS : GW_CU_UNKNOWN);
		if (rc != GW_OK)
			tree_fail(t, true, "member %d (%s): %.180s; no member was touched",
				  (int)w->pid[i], w->comm[i], t->r[i].reason);
	}
	for (i = 0, todo = 0; i < w->n; i++)
		todo += !plan[i].running;
	if (rc == GW_OK && !todo)
		rc = tree_fail(t, true, "no member of workload %s is checkpointed", w->key);
	if (rc != GW_OK)
		goto out;
	/* every member restored (locked) before any runs again */
	for (i = 0; i < w->n; i++) {
		struct restore_plan *p = &plan[i];
		struct gw_report *r = &t->r[i];

		if (p->running || r->state_before == GW_CU_STATE_LOCKED)
			continue;
		err = gw_eng_restore(api, w->pid[i], r, p->pairs, p->n, GW_STEP_RESTORE);
		if (err == GW_CU_INVALID_VALUE && p->n > 1) {
			/* a driver that wants only the process' own GPU */
			err = gw_eng_restore(api, w->pid[i], r, &p->one, 1, GW_STEP_RESTORE);
			if (err == GW_CU_SUCCESS)
				p->n = 1;
		}
		r->pairs = p->n;
		if (err == GW_CU_SUCCESS)
			continue;
		gw_cuda_errname(err, e, sizeof(e));
		snprintf(r->reason, sizeof(r->reason), "restore failed: %s", e);
		undo_to_checkpointed(api, t);
		tree_states(api, t, GW_CU_STATE_CHECKPOINTED, states, sizeof(states));
		rc = tree_fail(t, false, "restore of member %d (%s) failed: %s; %s (restorable: "
			       "egpuctl restore %d [--to GPU])", (int)w->pid[i], w->comm[i], e,
			       states, (int)w->pid[i]);
		goto out;
	}
	for (i = 0; i < w->n; i++) {
		struct gw_report *r = &t->r[i];

		if (plan[i].running) {
			r->ok = true;
			r->state_after = GW_CU_STATE_RUNNING;
			continue;
		}
		err = gw_eng_unlock(api, w->pid[i], r, GW_STEP_UNLOCK);
		if (err != GW_CU_SUCCESS)	/* racing the restore thread's start */
			err = gw_eng_unlock(api, w->pid[i], r, GW_STEP_UNLOCK);
		r->state_after = gw_eng_state_of(api, w->pid[i]);
		r->ok = err == GW_CU_SUCCESS;
		if (r->ok) {
			gw_record_drop(w->pid[i]);
		} else {
			snprintf(r->reason, sizeof(r->reason), "unlock failed: %s; egpuctl "
				 "restore %d unlocks it", gw_cuda_errname(err, e, sizeof(e)),
				 (int)w->pid[i]);
			rc = tree_fail(t, false, "unlock of member %d failed", (int)w->pid[i]);
		}
	}
	t->ok = rc == GW_OK;
out:
	free(plan);
	free(gpus);
	return rc;
}

int gw_tree_migrate(const struct gw_workload *w, const struct gw_opts *o,
		    struct gw_tree_report *t)
{
	struct gw_tree_report *back;
	struct gw_opts same = *o;
	char why[256];
	int rc;

	if (!o->to) {
		tree_init(t, w, "migrate");
		return tree_fail(t, true, "migrate needs --to PCI|UUID");
	}
	same.to = NULL;
	rc = gw_tree_checkpoint(w, &same, t);
	t->op = "migrate";
	if (rc != GW_OK)
		return rc;
	rc = gw_tree_restore(w, o, t);
	t->op = "migrate";
	if (rc == GW_OK)
		return rc;
	/* every member is checkpointed again: back onto their own GPUs */
	gw_copy(why, sizeof(why), t->reason);
	back = calloc(1, sizeof(*back));
	if (!back)
		return tree_fail(t, false, "%s; out of memory restoring in place", why);
	rc = gw_tree_restore(w, &same, back);
	tree_fail(t, false, "%s; %s", why, rc == GW_OK ?
		  "the workload was restored on its own GPUs and is running" :
		  back->reason);
	free(back);
	return GW_FAIL;
}

void gw_tree_report_print(const struct gw_tree_report *t, const struct gw_workload *w,
			  FILE *out, bool json)
{
	size_t i;

	if (json) {
		fprintf(out, "{\"op\":\"%s\",\"workload\":", t->op);
		egpu_json_str(out, w->key);
		fprintf(out, ",\"root\":%d,\"ok\":%s,\"refused\":%s,\"reason\":",
			(int)w->root, t->ok ? "true" : "false", t->refused ? "true" : "false");
		egpu_json_str(out, t->reason);
		fputs(",\"members\":[", out);
		for (i = 0; i < t->n; i++) {
			if (i)
				fputc(',', out);
			gw_report_print(&t->r[i], out, true);
		}
		fputs("]}\n", out);
		return;
	}
	fprintf(out, "%s workload %s (%zu process%s): %s\n", t->op, w->key, t->n,
		t->n == 1 ? "" : "es", t->ok ? "ok" : t->refused ? "refused" : "FAILED");
	if (t->reason[0])
		fprintf(out, "  reason: %s\n", t->reason);
	for (i = 0; i < t->n; i++)
		gw_report_print(&t->r[i], out, false);
}
