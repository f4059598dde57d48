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
	"checkpoint PID [--timeout MS] [--force]   move a CUDA process' GPU state to host memory\n"
	"restore PID [--to PCI|UUID]               bring it back (same GPU or another of its chip)\n"
	"migrate PID --to PCI|UUID [--timeout MS] [--force]\n"
	"                                          move it to another GPU of the same chip\n";

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

/* PID [--to X] [--timeout MS] [--force] */
static int parse_proc_args(const char *verb, int argc, char **argv, pid_t *pid,
			   struct gw_opts *o, FILE *out)
{
	unsigned long v;
	int i;

	memset(o, 0, sizeof(*o));
	*pid = 0;
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

static int verb_process(uid_t caller, const char *verb, int argc, char **argv, FILE *out,
			bool json)
{
	struct gw_report r;
	struct gw_opts o;
	pid_t pid;
	int rc;

	rc = parse_proc_args(verb, argc, argv, &pid, &o, out);
	if (rc != GW_OK)
		return rc;
	if (refuse_foreign(caller, pid, verb, &r))
		rc = GW_FAIL;
	else if (!strcmp(verb, "checkpoint"))
		rc = gw_engine_checkpoint(pid, &o, &r);
	else if (!strcmp(verb, "restore"))
		rc = gw_engine_restore(pid, &o, &r);
	else
		rc = gw_engine_migrate(pid, &o, &r);
	gw_report_print(&r, out, json);
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

static int verb_workloads(int argc, char **argv, FILE *out, bool json)
{
	char pci[GW_PCI_LEN];
	struct gw_users u;
	const char *filter = NULL;
	size_t i;
	int err;

	if (argc > 1)
		return usage(out, "workloads", "takes at most one GPU");
	if (argc == 1 && strcmp(argv[0], "all")) {
		if (resolve_gpu(argv[0], pci, sizeof(pci))) {
			fprintf(out, "workloads: '%s' is neither a PCI address nor a known GPU "
				"UUID\n", argv[0]);
			return GW_USAGE;
		}
		filter = pci;
	}
	err = gw_find_users(filter, &u);
	if (err) {
		fprintf(out, "workloads: scan failed: %s\n", strerror(-err));
		return GW_FAIL;
	}
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
				fprintf(out, "%" PRIu64 "}", e->gpu_bytes);
			else
				fputs("null}", out);
		}
		fputs("]}\n", out);
	} else {
		if (!u.n)
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
			fprintf(out, "%-12s %8d  %-16s %-10s %-20s %s%s\n", e->pci, (int)e->pid,
				e->comm, gw_node_kind_name(e->kind), e->node, mem,
				e->kind == GW_NODE_VFIO ? "  (passed through: not checkpointable)" :
				"");
		}
	}
	gw_users_free(&u);
	return GW_OK;
}

/* evacuate PCI [--to X]: checkpoint or migrate every CUDA user of a GPU. */
static int verb_evacuate(uid_t caller, int argc, char **argv, FILE *out, bool json)
{
	struct gw_opts o = { 0 };
	char pci[GW_PCI_LEN];
	struct gw_users u;
	size_t i;
	int rc = GW_OK, err, done = 0;

	if (argc == 3 && !strcmp(argv[1], "--to"))
		o.to = argv[2];
	else if (argc != 1)
		return usage(out, "evacuate", "evacuate PCI [--to PCI|UUID]");
	if (resolve_gpu(argv[0], pci, sizeof(pci)))
		return usage(out, "evacuate", "unknown GPU");
	err = gw_find_users(pci, &u);
	if (err) {
		fprintf(out, "evacuate: scan failed: %s\n", strerror(-err));
		return GW_FAIL;
	}
	if (json)
		fputs("{\"evacuate\":[", out);
	for (i = 0; i < u.n; i++) {
		struct gw_report r;

		if (refuse_foreign(caller, u.v[i].pid, "evacuate", &r)) {
			rc = GW_FAIL;
		} else if (!u.v[i].checkpointable) {
			gw_report_init(&r, u.v[i].pid, "evacuate");
			snprintf(r.reason, sizeof(r.reason), "%s user (%s) cannot be checkpointed",
				 gw_node_kind_name(u.v[i].kind), u.v[i].node);
			r.refused = true;
			rc = GW_FAIL;
		} else if (o.to) {
			if (gw_engine_migrate(u.v[i].pid, &o, &r) != GW_OK)
				rc = GW_FAIL;
		} else if (gw_engine_checkpoint(u.v[i].pid, &o, &r) != GW_OK) {
			rc = GW_FAIL;
		}
		if (json && done++)
			fputc(',', out);
		gw_report_print(&r, out, json);
	}
	if (json)
		fputs("]}\n", out);
	else if (!u.n)
		fprintf(out, "evacuate: no process uses %s\n", pci);
	gw_users_free(&u);
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

int gw_evacuate(const char *pci, const char *to, FILE *log, bool json)
{
	char *argv[3] = { (char *)pci, (char *)"--to", (char *)to };

	return gw_dispatch("evacuate", to ? 3 : 1, argv, log, json);
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
