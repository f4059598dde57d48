// SPDX-License-Identifier: GPL-2.0
/*
 * The verbs egpud serves for egpuctl: workloads, gpus, checkpoint, restore,
 * migrate (and evacuate, used by egpud before an eject).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "gpuwork/gw_internal.h"

static const char usage_text[] =
	"workloads [PCI|UUID|all]                  processes using a GPU\n"
	"gpus                                      NVIDIA GPUs the driver reports\n"
	"checkpoint PID [--timeout MS] [--force] [--only]\n"
	"                                          move the GPU state of PID's workload to host memory\n"
	"restore PID [--to PCI|UUID [--replug]] [--only]\n"
	"                                          bring it back (same GPU or another of its chip;\n"
	"                                          --replug: only members whose GPU is gone move)\n"
	"migrate PID --to PCI|UUID [--timeout MS] [--force] [--only]\n"
	"                                          move it to another GPU of the same chip\n"
	"  (PID names its whole workload: its process tree or service; --only: PID alone)\n";

const char *gw_usage(void)
{
	return usage_text;
}

static const char *const verbs[] = {
	"workloads", "gpus", "checkpoint", "restore", "migrate", "evacuate",
};

bool gw_is_verb(const char *verb)
{
	size_t i;

	for (i = 0; i < GW_ARRAY_SIZE(verbs); i++)
		if (!strcmp(verb, verbs[i]))
			return true;
	return false;
}

bool gw_verb_is_mutating(const char *verb)
{
	return !strcmp(verb, "checkpoint") || !strcmp(verb, "restore") ||
	       !strcmp(verb, "migrate") || !strcmp(verb, "evacuate");
}

static int usage(FILE *out, const char *verb, const char *why)
{
	fprintf(out, "%s: %s\nusage:\n%s", verb, why, usage_text);
	return GW_USAGE;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return !errno && !*end && *v <= max;
}

/* PID [--to X] [--timeout MS] [--force] [--only] */
static int parse_proc_args(const char *verb, int argc, char **argv, pid_t *pid,
			   struct gw_opts *o, bool *only, FILE *out)
{
	unsigned long v;
	int i;

	memset(o, 0, sizeof(*o));
	*pid = 0;
	*only = false;
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--to")) {
			if (++i >= argc)
				return usage(out, verb, "--to needs a PCI address or GPU UUID");
			o->to = argv[i];
		} else if (!strcmp(argv[i], "--timeout")) {
			if (++i >= argc || !parse_uint(argv[i], UINT_MAX, &v) || !v)
				return usage(out, verb, "--timeout needs milliseconds > 0");
			o->timeout_ms = (unsigned int)v;
		} else if (!strcmp(argv[i], "--force")) {
			o->force = true;
		} else if (!strcmp(argv[i], "--only")) {
			*only = true;
		} else if (!strcmp(argv[i], "--replug")) {
			o->replug = true;
		} else if (!*pid && parse_uint(argv[i], INT_MAX, &v) && v > 0) {
			*pid = (pid_t)v;
		} else {
			char why[128];

			snprintf(why, sizeof(why), "unexpected argument '%s'", argv[i]);
			return usage(out, verb, why);
		}
	}
	if (!*pid)
		return usage(out, verb, "needs a PID");
	if (!strcmp(verb, "checkpoint") && o->to)
		return usage(out, verb, "checkpoint takes no --to (use migrate)");
	if (!strcmp(verb, "migrate") && !o->to)
		return usage(out, verb, "needs --to PCI|UUID");
	if (o->replug && (strcmp(verb, "restore") || !o->to))
		return usage(out, verb, "--replug goes with restore --to");
	return GW_OK;
}

/* A report refusing to act on a process the caller does not own. */
static bool refuse_foreign(uid_t caller, pid_t pid, const char *op, struct gw_report *r)
{
	char why[160];

	if (gw_caller_may_act(caller, pid, why, sizeof(why)))
		return false;
	gw_report_init(r, pid, op);
	snprintf(r->reason, sizeof(r->reason), "refused: %s", why);
	r->refused = true;
	return true;
}

static int one_process(uid_t caller, const char *verb, pid_t pid, const struct gw_opts *o,
		       FILE *out, bool json)
{
	struct gw_report r;
	int rc;

	if (refuse_foreign(caller, pid, verb, &r))
		rc = GW_FAIL;
	else if (!strcmp(verb, "checkpoint"))
		rc = gw_engine_checkpoint(pid, o, &r);
	else if (!strcmp(verb, "restore"))
		rc = gw_engine_restore(pid, o, &r);
	else
		rc = gw_engine_migrate(pid, o, &r);
	gw_report_print(&r, out, json);
	return rc;
}

/* verb on every member of w, all or nothing (tree.c). */
static int whole_workload(uid_t caller, const char *verb, const struct gw_workload *w,
			  const struct gw_opts *o, FILE *out, bool json)
{
	struct gw_tree_report *t;
	size_t i;
	int rc;

	t = calloc(1, sizeof(*t));
	if (!t)
		return GW_FAIL;
	for (i = 0; i < w->n; i++) {
		if (refuse_foreign(caller, w->pid[i], verb, &t->r[0])) {
			t->op = verb;
			t->refused = true;
			snprintf(t->reason, sizeof(t->reason), "member %d: %.180s; no member "
				 "was touched", (int)w->pid[i], t->r[0].reason);
			t->n = 0;
			gw_tree_report_print(t, w, out, json);
			free(t);
			return GW_FAIL;
		}
	}
	if (!strcmp(verb, "checkpoint"))
		rc = gw_tree_checkpoint(w, o, t);
	else if (!strcmp(verb, "restore"))
		rc = gw_tree_restore(w, o, t);
	else
		rc = gw_tree_migrate(w, o, t);
	gw_tree_report_print(t, w, out, json);
	free(t);
	return rc;
}

static int verb_process(uid_t caller, const char *verb, int argc, char **argv, FILE *out,
			bool json)
{
	struct gw_workload *w;
	struct gw_opts o;
	bool only;
	pid_t pid;
	int rc, err;

	rc = parse_proc_args(verb, argc, argv, &pid, &o, &only, out);
	if (rc != GW_OK)
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w)
		return GW_FAIL;
	err = only ? -ENOENT : gw_workload_of(pid, false, w);
	if (err == -E2BIG) {
		fprintf(out, "%s: the workload of %d has more than %d GPU processes; act on "
			"them one by one with --only\n", verb, (int)pid, GW_WL_MAX);
		rc = GW_FAIL;
	} else if (err || (w->n == 1 && w->pid[0] == pid)) {
		/* --only, or a workload of one: the process' own report */
		rc = one_process(caller, verb, pid, &o, out, json);
	} else {
		rc = whole_workload(caller, verb, w, &o, out, json);
	}
	free(w);
	return rc;
}

static int verb_gpus(int argc, FILE *out, bool json)
{
	struct gw_gpus *g;
	int i, err;

	if (argc)
		return usage(out, "gpus", "takes no arguments");
	g = calloc(1, sizeof(*g));
	if (!g)
		return GW_FAIL;
	err = gw_gpus_load(g);
	if (err) {
		fprintf(out, "gpus: cannot read the NVIDIA driver's GPU list: %s\n",
			strerror(-err));
		free(g);
		return GW_FAIL;
	}
	if (json)
		fputs("{\"gpus\":[", out);
	for (i = 0; i < g->n; i++) {
		const struct gw_gpu *x = &g->v[i];

		if (json) {
			fprintf(out, "%s{\"pci\":\"%s\",\"uuid\":", i ? "," : "", x->pci);
			egpu_json_str(out, x->uuid);
			fputs(",\"model\":", out);
			egpu_json_str(out, x->model);
			fprintf(out, ",\"minor\":%d,\"chip\":\"%04x:%04x\"}", x->minor, x->vendor,
				x->device);
		} else {
			fprintf(out, "%s  %s  nvidia%d  %04x:%04x  %s\n", x->pci, x->uuid,
				x->minor, x->vendor, x->device, x->model);
		}
	}
	if (json)
		fputs("]}\n", out);
	else if (!g->n)
		fputs("no NVIDIA GPUs\n", out);
	free(g);
	return GW_OK;
}

/* PCI address of a GPU named by PCI address or UUID; NULL means all. */
static int resolve_gpu(const char *arg, char *pci, size_t len)
{
	struct gw_gpus *g;
	const struct gw_gpu *x;
	int rc = -ENODEV;

	if (!gw_pci_normalise(arg, pci, len))
		return 0;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	if (!gw_gpus_load(g)) {
		x = gw_gpus_find(g, arg);
		if (x) {
			gw_copy(pci, len, x->pci);
			rc = 0;
		}
	}
	free(g);
	return rc;
}

/* "checkpointed, waiting for NVIDIA H200 GPU-... (0000:05:00.0, 10de:2335, router X)" */
static void print_waiting(const struct gw_record *rec, FILE *out, bool json)
{
	if (json) {
		fputs("\"state\":\"checkpointed\",\"waiting_for\":{\"pci\":", out);
		egpu_json_str(out, rec->pci);
		fputs(",\"uuid\":", out);
		egpu_json_str(out, rec->uuid);
		fputs(",\"model\":", out);
		egpu_json_str(out, rec->model);
		fprintf(out, ",\"chip\":\"%04x:%04x\",\"router\":", rec->vendor, rec->device);
		egpu_json_str(out, rec->router);
		fputc('}', out);
		return;
	}
	fprintf(out, "checkpointed, waiting for %s %s (%s, %04x:%04x%s%s)",
		rec->model[0] ? rec->model : "GPU", rec->uuid[0] ? rec->uuid : "?",
		rec->pci[0] ? rec->pci : "?", rec->vendor, rec->device,
		rec->router[0] ? ", router " : "", rec->router);
}

/*
 * The workloads: GPU users (u) grouped by gw_workload_key(), with the
 * checkpointed processes of each (records); filter (a PCI address or
 * NULL) keeps records of that GPU only.
 */
static bool is_user(const struct gw_users *u, pid_t pid)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		if (u->v[i].pid == pid)
			return true;
	return false;
}

/*
 * A process protecting itself by snapshots that discovery did not find
 * (no device node of a GPU open: a fake or not yet initialised CUDA, a
 * driver discovery does not know) is shown all the same, from what its
 * watcher said, when it watches the GPU asked about (or all GPUs).
 */
static bool snap_unseen(const struct gw_users *u, const struct gw_snap *s, const char *filter)
{
	return !is_user(u, s->pid) && (!filter || !s->gpu[0] || !strcmp(s->gpu, filter));
}

/* The comm of an unseen protected process; false if it is gone. */
static bool snap_comm(const struct gw_snap *s, char *comm, size_t len)
{
	return !gw_proc_comm(s->pid, comm, len);
}

static void print_trees(const struct gw_users *u, const char *filter,
			const struct gw_snaps *snaps, uint64_t now_ns, FILE *out, bool json)
{
	struct gw_record *recs = NULL;
	char (*keys)[GW_WL_KEY_LEN];
	size_t i, j, nk = 0, total, nsnap = snaps ? snaps->n : 0;
	int nrec = gw_records_list(&recs);

	if (nrec < 0)
		nrec = 0;
	total = u->n + (size_t)nrec + nsnap;
	keys = calloc(total ? total : 1, sizeof(*keys));
	if (!keys) {
		free(recs);
		return;
	}
	/* each distinct key once, in the order first seen */
	for (i = 0; i < total; i++) {
		char k[GW_WL_KEY_LEN];

		if (i < u->n) {
			if (gw_workload_key(u->v[i].pid, k, sizeof(k), NULL))
				continue;
		} else if (i >= u->n + (size_t)nrec) {
			const struct gw_snap *sn = &snaps->v[i - u->n - (size_t)nrec];

			if (!snap_unseen(u, sn, filter) ||
			    gw_workload_key(sn->pid, k, sizeof(k), NULL))
				continue;
		} else {
			const struct gw_record *rec = &recs[i - u->n];

			if (filter && strcmp(rec->pci, filter))
				continue;
			snprintf(k, sizeof(k), "%s", rec->workload[0] ? rec->workload : "?");
		}
		for (j = 0; j < nk && strcmp(keys[j], k); j++)
			;
		if (j == nk)
			memcpy(keys[nk++], k, sizeof(k));
	}
	if (json)
		fputs(",\"trees\":[", out);
	for (j = 0; j < nk; j++) {
		bool first = true;
		char desc[96];

		if (json) {
			fprintf(out, "%s{\"workload\":", j ? "," : "");
			egpu_json_str(out, keys[j]);
			fputs(",\"members\":[", out);
		} else {
			fprintf(out, "%sworkload %s:\n", j ? "" : "\n", keys[j]);
		}
		for (i = 0; i < u->n; i++) {
			const struct gw_snap *sn;
			char k[GW_WL_KEY_LEN];
			size_t d;

			if (gw_workload_key(u->v[i].pid, k, sizeof(k), NULL) || strcmp(k, keys[j]))
				continue;
			for (d = 0; d < i && u->v[d].pid != u->v[i].pid; d++)
				;
			if (d < i)
				continue;	/* a process on two GPUs: listed once */
			for (d = 0; d < (size_t)nrec && recs[d].pid != u->v[i].pid; d++)
				;
			if (d < (size_t)nrec)
				continue;	/* checkpointed: listed with its record */
			sn = gw_snaps_find(snaps, u->v[i].pid);
			if (json) {
				fprintf(out, "%s{\"pid\":%d,\"comm\":", first ? "" : ",",
					(int)u->v[i].pid);
				egpu_json_str(out, u->v[i].comm);
				fputs(",\"state\":\"running\"", out);
				if (sn)
					gw_snap_json(sn, now_ns, out);
				fputc('}', out);
			} else {
				if (sn)
					gw_snap_describe(sn, now_ns, desc, sizeof(desc));
				fprintf(out, "  %8d  %-16s running on %s%s%s\n", (int)u->v[i].pid,
					u->v[i].comm, u->v[i].pci, sn ? ", " : "", sn ? desc : "");
			}
			first = false;
		}
		for (i = 0; i < nsnap; i++) {
			const struct gw_snap *x = &snaps->v[i];
			char k[GW_WL_KEY_LEN], comm[GW_COMM_LEN];

			if (!snap_unseen(u, x, filter) || gw_workload_key(x->pid, k, sizeof(k), NULL) ||
			    strcmp(k, keys[j]) || !snap_comm(x, comm, sizeof(comm)))
				continue;
			if (json) {
				fprintf(out, "%s{\"pid\":%d,\"comm\":", first ? "" : ",",
					(int)x->pid);
				egpu_json_str(out, comm);
				fputs(",\"state\":\"running\",\"gpu_node_seen\":false", out);
				gw_snap_json(x, now_ns, out);
				fputc('}', out);
			} else {
				gw_snap_describe(x, now_ns, desc, sizeof(desc));
				fprintf(out, "  %8d  %-16s running, %s (no GPU device node seen)\n",
					(int)x->pid, comm, desc);
			}
			first = false;
		}
		for (i = 0; i < (size_t)nrec; i++) {
			const struct gw_record *rec = &recs[i];
			char comm[GW_COMM_LEN];

			if (strcmp(rec->workload[0] ? rec->workload : "?", keys[j]) ||
			    (filter && strcmp(rec->pci, filter)))
				continue;
			if (gw_proc_comm(rec->pid, comm, sizeof(comm)))
				snprintf(comm, sizeof(comm), "?");
			if (json) {
				fprintf(out, "%s{\"pid\":%d,\"comm\":", first ? "" : ",",
					(int)rec->pid);
				egpu_json_str(out, comm);
				fputc(',', out);
				print_waiting(rec, out, true);
				fputc('}', out);
			} else {
				fprintf(out, "  %8d  %-16s ", (int)rec->pid, comm);
				print_waiting(rec, out, false);
				fputc('\n', out);
			}
			first = false;
		}
		if (json)
			fputs("]}", out);
	}
	if (json)
		fputc(']', out);
	free(keys);
	free(recs);
}

/* The unseen protected processes as rows of the users table. */
static size_t print_unseen_rows(const struct gw_users *u, const char *filter,
				const struct gw_snaps *snaps, uint64_t now_ns, FILE *out,
				bool json, size_t printed)
{
	size_t i;

	for (i = 0; snaps && i < snaps->n; i++) {
		const struct gw_snap *x = &snaps->v[i];
		char comm[GW_COMM_LEN], desc[96];

		if (!snap_unseen(u, x, filter) || !snap_comm(x, comm, sizeof(comm)))
			continue;
		if (json) {
			fprintf(out, "%s{\"pid\":%d,\"comm\":", printed++ ? "," : "", (int)x->pid);
			egpu_json_str(out, comm);
			fputs(",\"pci\":", out);
			if (x->gpu[0])
				egpu_json_str(out, x->gpu);
			else
				fputs("null", out);
			fputs(",\"kind\":null,\"node\":null,\"checkpointable\":false,"
			      "\"gpu_bytes\":null", out);
			gw_snap_json(x, now_ns, out);
			fputc('}', out);
			continue;
		}
		gw_snap_describe(x, now_ns, desc, sizeof(desc));
		fprintf(out, "%-12s %8d  %-16s %-10s %-20s %s  %s\n", x->gpu[0] ? x->gpu : "-",
			(int)x->pid, comm, "-", "(none seen)", "-", desc);
		printed++;
	}
	return printed;
}

static int verb_workloads(int argc, char **argv, FILE *out, bool json)
{
	char pci[GW_PCI_LEN], desc[96];
	struct gw_snaps *snaps = NULL;
	struct gw_users u;
	const char *filter = NULL, *gpu = NULL;
	uint64_t now_ns = gw_now_ns();
	size_t i, unseen = 0;
	int err;

	for (i = 0; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], GW_SNAPSHOTS_ARG) && i + 1 < (size_t)argc && !snaps) {
			snaps = calloc(1, sizeof(*snaps));
			if (!snaps || gw_snaps_parse(argv[++i], snaps)) {
				free(snaps);
				return usage(out, "workloads", "bad " GW_SNAPSHOTS_ARG " table");
			}
		} else if (gpu) {
			free(snaps);
			return usage(out, "workloads", "takes at most one GPU");
		} else {
			gpu = argv[i];
		}
	}
	if (gpu && strcmp(gpu, "all")) {
		if (resolve_gpu(gpu, pci, sizeof(pci))) {
			fprintf(out, "workloads: '%s' is neither a PCI address nor a known GPU "
				"UUID\n", gpu);
			free(snaps);
			return GW_USAGE;
		}
		filter = pci;
	}
	err = gw_find_users(filter, &u);
	if (err) {
		fprintf(out, "workloads: scan failed: %s\n", strerror(-err));
		free(snaps);
		return GW_FAIL;
	}
	for (i = 0; snaps && i < snaps->n; i++)
		unseen += snap_unseen(&u, &snaps->v[i], filter);
	if (json) {
		fputs("{\"workloads\":[", out);
		for (i = 0; i < u.n; i++) {
			const struct gw_user *e = &u.v[i];

			fprintf(out, "%s{\"pid\":%d,\"comm\":", i ? "," : "", (int)e->pid);
			egpu_json_str(out, e->comm);
			fprintf(out, ",\"pci\":\"%s\",\"kind\":\"%s\",\"node\":", e->pci,
				gw_node_kind_name(e->kind));
			egpu_json_str(out, e->node);
			fprintf(out, ",\"checkpointable\":%s,\"gpu_bytes\":",
				e->checkpointable ? "true" : "false");
			if (e->gpu_bytes_known)
				fprintf(out, "%" PRIu64, e->gpu_bytes);
			else
				fputs("null", out);
			if (gw_snaps_find(snaps, e->pid))
				gw_snap_json(gw_snaps_find(snaps, e->pid), now_ns, out);
			fputc('}', out);
		}
		print_unseen_rows(&u, filter, snaps, now_ns, out, true, u.n);
		fputs("]", out);
		print_trees(&u, filter, snaps, now_ns, out, true);
		fputs("}\n", out);
	} else {
		if (!u.n && !unseen)
			fputs("no processes use a GPU\n", out);
		else
			fprintf(out, "%-12s %8s  %-16s %-10s %-20s %s\n", "GPU", "PID", "COMMAND",
				"KIND", "NODE", "GPU MEMORY");
		for (i = 0; i < u.n; i++) {
			const struct gw_user *e = &u.v[i];
			char mem[32];

			if (e->gpu_bytes_known)
				snprintf(mem, sizeof(mem), "%" PRIu64 " MiB", e->gpu_bytes >> 20);
			else
				snprintf(mem, sizeof(mem), "-");
			desc[0] = '\0';
			if (gw_snaps_find(snaps, e->pid))
				gw_snap_describe(gw_snaps_find(snaps, e->pid), now_ns, desc,
						 sizeof(desc));
			fprintf(out, "%-12s %8d  %-16s %-10s %-20s %s%s%s%s\n", e->pci, (int)e->pid,
				e->comm, gw_node_kind_name(e->kind), e->node, mem,
				e->kind == GW_NODE_VFIO ? "  (passed through: not checkpointable)" :
				"", desc[0] ? "  " : "", desc);
		}
		print_unseen_rows(&u, filter, snaps, now_ns, out, false, 0);
		print_trees(&u, filter, snaps, now_ns, out, false);
	}
	gw_users_free(&u);
	free(snaps);
	return GW_OK;
}

/*
 * evacuate PCI [--to X]: checkpoint or migrate every CUDA user of a GPU,
 * each with its whole workload (all or nothing per workload).
 */
static bool skipped(const pid_t *skip, int n, pid_t pid)
{
	int i;

	for (i = 0; i < n; i++)
		if (skip[i] == pid)
			return true;
	return false;
}

/*
 * w without the members in skip: they protect themselves and let go of
 * the GPU, so they are neither locked nor checkpointed; the rest of the
 * workload still goes as one.
 */
static void workload_drop(struct gw_workload *w, const pid_t *skip, int n)
{
	size_t i, k = 0;

	for (i = 0; i < w->n; i++) {
		if (skipped(skip, n, w->pid[i]))
			continue;
		w->pid[k] = w->pid[i];
		w->checkpointed[k] = w->checkpointed[i];
		memmove(w->comm[k], w->comm[i], GW_COMM_LEN);
		k++;
	}
	w->n = k;
}

static int verb_evacuate(uid_t caller, int argc, char **argv, FILE *out, bool json)
{
	struct gw_opts o = { 0 };
	char pci[GW_PCI_LEN], (*done_keys)[GW_WL_KEY_LEN] = NULL;
	struct gw_workload *w = NULL;
	pid_t skip[GW_SNAP_MAX];
	struct gw_users u;
	size_t i, k, nkeys = 0;
	int rc = GW_OK, err, printed = 0, n_skip = 0, a;

	for (a = 1; a + 1 < argc; a += 2) {
		if (!strcmp(argv[a], "--to") && !o.to)
			o.to = argv[a + 1];
		else if (!strcmp(argv[a], GW_SKIP_ARG) && !n_skip &&
			 (n_skip = gw_pid_list_parse(argv[a + 1], skip, GW_SNAP_MAX)) > 0)
			continue;
		else
			break;
	}
	if (argc < 1 || a != argc || n_skip < 0)
		return usage(out, "evacuate", "evacuate PCI [--to PCI|UUID] [--skip PID,...]");
	if (resolve_gpu(argv[0], pci, sizeof(pci)))
		return usage(out, "evacuate", "unknown GPU");
	err = gw_find_users(pci, &u);
	if (err) {
		fprintf(out, "evacuate: scan failed: %s\n", strerror(-err));
		return GW_FAIL;
	}
	w = calloc(1, sizeof(*w));
	done_keys = calloc(u.n ? u.n : 1, sizeof(*done_keys));
	if (!w || !done_keys) {
		free(w);
		free(done_keys);
		gw_users_free(&u);
		return GW_FAIL;
	}
	if (json)
		fputs("{\"evacuate\":[", out);
	for (i = 0; i < u.n; i++) {
		struct gw_report r;
		bool tree = false;
		int one;

		if (skipped(skip, n_skip, u.v[i].pid)) {
			for (k = 0; k < i && u.v[k].pid != u.v[i].pid; k++)
				;
			if (k < i)
				continue;	/* said once for a process on two GPUs */
			if (json && printed++)
				fputc(',', out);
			if (json)
				fprintf(out, "{\"pid\":%d,\"op\":\"evacuate\",\"ok\":true,"
					"\"outcome\":\"snapshot\"}", (int)u.v[i].pid);
			else
				fprintf(out, "pid %d (%s): left alone: it protects itself by its own "
					"snapshot\n", (int)u.v[i].pid, u.v[i].comm);
			continue;
		}
		if (u.v[i].checkpointable && !gw_workload_of(u.v[i].pid, false, w)) {
			workload_drop(w, skip, n_skip);
			if (w->n > 1) {
				for (k = 0; k < nkeys && strcmp(done_keys[k], w->key); k++)
					;
				if (k < nkeys)
					continue;	/* its workload went already */
				memcpy(done_keys[nkeys++], w->key, GW_WL_KEY_LEN);
				tree = true;
			}
		}
		if (json && printed++)
			fputc(',', out);
		if (tree) {
			if (whole_workload(caller, o.to ? "migrate" : "checkpoint", w, &o, out,
					   json) != GW_OK)
				rc = GW_FAIL;
			continue;
		}
		if (refuse_foreign(caller, u.v[i].pid, "evacuate", &r)) {
			rc = GW_FAIL;
		} else if (!u.v[i].checkpointable) {
			gw_report_init(&r, u.v[i].pid, "evacuate");
			snprintf(r.reason, sizeof(r.reason), "%s user (%s) cannot be checkpointed",
				 gw_node_kind_name(u.v[i].kind), u.v[i].node);
			r.refused = true;
			rc = GW_FAIL;
		} else {
			one = o.to ? gw_engine_migrate(u.v[i].pid, &o, &r) :
				gw_engine_checkpoint(u.v[i].pid, &o, &r);
			if (one != GW_OK)
				rc = GW_FAIL;
		}
		gw_report_print(&r, out, json);
	}
	if (json)
		fputs("]}\n", out);
	else if (!u.n)
		fprintf(out, "evacuate: no process uses %s\n", pci);
	gw_users_free(&u);
	free(w);
	free(done_keys);
	return rc;
}

int gw_dispatch_local(uid_t caller, const char *verb, int argc, char **argv, FILE *out,
		      bool json)
{
	if (!strcmp(verb, "workloads"))
		return verb_workloads(argc, argv, out, json);
	if (!strcmp(verb, "gpus"))
		return verb_gpus(argc, out, json);
	if (!strcmp(verb, "evacuate"))
		return verb_evacuate(caller, argc, argv, out, json);
	if (!strcmp(verb, "checkpoint") || !strcmp(verb, "restore") ||
	    !strcmp(verb, "migrate"))
		return verb_process(caller, verb, argc, argv, out, json);
	fprintf(out, "unknown verb '%s'\nusage:\n%s", verb, usage_text);
	return GW_USAGE;
}

static int inprocess = -1;

void gw_set_inprocess(bool on)
{
	inprocess = on;
}

static bool run_inprocess(void)
{
	const char *env;

	if (inprocess >= 0)
		return inprocess;
	env = getenv("EGPUHP_GW_INPROCESS");
	return env && !strcmp(env, "1");
}

int gw_dispatch_as(uid_t caller, const char *verb, int argc, char **argv, FILE *out,
		   bool json)
{
	if (!verb || !gw_is_verb(verb)) {
		fprintf(out, "unknown verb '%s'\nusage:\n%s", verb ? verb : "", usage_text);
		return GW_USAGE;
	}
	if (run_inprocess())
		return gw_dispatch_local(caller, verb, argc, argv, out, json);
	return gw_helper_call(caller, verb, argc, argv, out, json);
}

int gw_dispatch_envelope(uid_t caller, const char *verb, int argc, char **argv, FILE *out)
{
	const char *code = NULL, *error = NULL;
	struct egpu_jval *doc = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	int rc;

	if (!mem) {
		egpu_json_envelope(out, verb, GW_FAIL, "failed", "out of memory", NULL, NULL);
		return GW_FAIL;
	}
	rc = gw_dispatch_as(caller, verb, argc, argv, mem, true);
	fclose(mem);
	/* the verbs' JSON writers print one object; everything else is text */
	if (text && text[0] == '{')
		doc = egpu_json_parse(text, len);
	if (rc == GW_USAGE) {
		code = "usage";
	} else if (rc != GW_OK) {
		const struct egpu_jval *refused = egpu_json_get(doc, "refused");

		code = refused && refused->type == EGPU_J_BOOL && refused->b ? "refused" :
		       "failed";
		error = egpu_json_get_str(doc, "reason");
		if (error && !error[0])
			error = NULL;
	}
	egpu_json_envelope(out, verb, rc, code, error, doc ? text : NULL, doc ? NULL : text);
	egpu_json_free(doc);
	free(text);
	return rc;
}

int gw_dispatch(const char *verb, int argc, char **argv, FILE *out, bool json)
{
	return gw_dispatch_as(0, verb, argc, argv, out, json);
}

int gw_evacuate(const char *pci, const char *to, const pid_t *skip, size_t n_skip, FILE *log,
		bool json)
{
	char *argv[5] = { (char *)pci }, list[GW_SNAP_MAX * 12] = "";
	size_t i, off = 0;
	int argc = 1;

	if (to) {
		argv[argc++] = (char *)"--to";
		argv[argc++] = (char *)to;
	}
	for (i = 0; i < n_skip && i < GW_SNAP_MAX; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%d", i ? "," : "",
					(int)skip[i]);
	if (off) {
		argv[argc++] = (char *)GW_SKIP_ARG;
		argv[argc++] = list;
	}
	return gw_dispatch("evacuate", argc, argv, log, json);
}

int gw_ctl(int argc, char **argv, bool json,
	   int (*daemon)(void *ctx, int argc, char **argv), void *ctx)
{
	const char *env = getenv("EGPUHP_DIRECT");
	bool direct = env && !strcmp(env, "1");
	char *args[64];
	int i, n = 0;

	if (argc < 1 || argc > (int)(GW_ARRAY_SIZE(args)))
		return GW_USAGE;
	for (i = 0; i < argc; i++) {
		if (i > 0 && !strcmp(argv[i], "--direct"))
			direct = true;
		else
			args[n++] = argv[i];
	}
	if (!direct)
		return daemon(ctx, n, args);
	gw_set_inprocess(true);
	/* in this process: the driver checks our own rights; refuse early all the same */
	if (json)
		return gw_dispatch_envelope(geteuid(), args[0], n - 1, args + 1, stdout);
	return gw_dispatch_as(geteuid(), args[0], n - 1, args + 1, stdout, false);
}
