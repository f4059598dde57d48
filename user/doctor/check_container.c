// SPDX-License-Identifier: GPL-2.0
/*
 * container-ready: a container (an inference server) started before the
 * eGPU appeared has no GPU: its runtime gave it the device nodes that
 * existed at its start, and CUDA/ROCm initialised without one.  Seen as a
 * container whose first process started (proc/PID/stat field 22, clock
 * ticks since boot) before the GPU's enumeration line in the kernel log
 * ("pci 0000:05:00.0: [10de:2684] type 00 class ..."), none of whose
 * processes holds the GPU (gpuwork's discovery of device-node users).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sysfs.h"
#include "doctor/doctor.h"
#include "gpuwork/gpuwork.h"

struct container {
	char engine[16];	/* docker, podman, containerd */
	char id[16];		/* the first 12 hex digits */
	char cgroup[256];
	unsigned long long start_usec;
	int pid;		/* the earliest started */
	bool holds_gpu;
};

/* The engine and id from a cgroup path, false if it is no container's. */
static bool container_of(const char *cg, struct container *c)
{
	static const struct { const char *mark, *engine; } marks[] = {
		{ "docker-", "docker" }, { "/docker/", "docker" },
		{ "libpod-", "podman" }, { "cri-containerd-", "containerd" },
	};
	size_t i;

	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		const char *p = strstr(cg, marks[i].mark);

		if (!p)
			continue;
		p += strlen(marks[i].mark);
		snprintf(c->engine, sizeof(c->engine), "%s", marks[i].engine);
		snprintf(c->id, sizeof(c->id), "%.12s", p);
		return strlen(c->id) == 12;
	}
	return false;
}

static bool proc_start(const struct doctor *d, const char *pid, unsigned long long *usec)
{
	char rel[64], stat[1024], *p;
	unsigned long long ticks;
	long hz = sysconf(_SC_CLK_TCK);
	int field;

	snprintf(rel, sizeof(rel), "proc/%.20s/stat", pid);
	if (doctor_read(d, rel, stat, sizeof(stat)) < 0)
		return false;
	p = strrchr(stat, ')');	/* comm may hold spaces and parentheses */
	if (!p)
		return false;
	/* field 3 (state) follows ") "; starttime is field 22 */
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1 || hz <= 0)
		return false;
	*usec = ticks * (1000000ULL / (unsigned long long)hz);
	return true;
}

/* Every container with a process now, its earliest start. */
static size_t list_containers(const struct doctor *d, struct container **out)
{
	char rel[64], cg[512];
	struct container *v = NULL, c, *t;
	size_t n = 0, i;
	struct dirent *e;
	DIR *dp;

	*out = NULL;
	dp = doctor_opendir(d, "proc");
	while (dp && (e = readdir(dp))) {
		unsigned long long start;

		if (!egpu_all_digits(e->d_name))
			continue;
		snprintf(rel, sizeof(rel), "proc/%.20s/cgroup", e->d_name);
		memset(&c, 0, sizeof(c));
		if (doctor_read(d, rel, cg, sizeof(cg)) < 0 || !container_of(cg, &c) ||
		    !proc_start(d, e->d_name, &start))
			continue;
		snprintf(c.cgroup, sizeof(c.cgroup), "%.*s", (int)strcspn(cg, "\n"), cg);
		for (i = 0; i < n && strcmp(v[i].id, c.id); i++)
			;
		if (i == n) {
			t = realloc(v, (n + 1) * sizeof(*v));
			if (!t)
				break;
			v = t;
			c.start_usec = start;
			c.pid = atoi(e->d_name);
			v[n++] = c;
		} else if (start < v[i].start_usec) {
			v[i].start_usec = start;
			v[i].pid = atoi(e->d_name);
		}
	}
	if (dp)
		closedir(dp);
	*out = v;
	return n;
}

/* When the GPU appeared: its last enumeration line's time; false if none. */
static bool appeared_at(const struct doctor *d, const char *fn, unsigned long long *usec)
{
	const struct doctor_log_line *l;
	char pref[32];
	size_t from = 0;
	bool found = false;

	snprintf(pref, sizeof(pref), "%s: [", fn);
	while ((l = doctor_log_find(d, &from, pref, " class "))) {
		*usec = l->usec;
		found = true;
	}
	return found;
}

static const char *restart_command(const struct container *c)
{
	if (!strcmp(c->engine, "podman"))
		return "podman restart";
	if (!strcmp(c->engine, "containerd"))
		return "crictl stop";	/* the kubelet starts it again */
	return "docker restart";
}

static void one_gpu(struct doctor *d, const struct doctor_fn *fn, struct container *v,
		    size_t n, size_t *late)
{
	unsigned long long at;
	struct gw_users users;
	struct doctor_finding *f;
	size_t i, j;

	if (!appeared_at(d, fn->name, &at))
		return;
	if (gw_find_users(fn->name, &users) < 0)
		memset(&users, 0, sizeof(users));
	for (i = 0; i < n; i++) {
		char rel[64], cg[512];
		struct container c;

		v[i].holds_gpu = false;
		for (j = 0; j < users.n; j++) {
			snprintf(rel, sizeof(rel), "proc/%d/cgroup", (int)users.v[j].pid);
			memset(&c, 0, sizeof(c));
			if (doctor_read(d, rel, cg, sizeof(cg)) >= 0 && container_of(cg, &c) &&
			    !strcmp(c.id, v[i].id))
				v[i].holds_gpu = true;
		}
		if (v[i].holds_gpu || v[i].start_usec >= at)
			continue;
		(*late)++;
		f = doctor_add(d, "container-ready", DOCTOR_WARN, fn->name);
		doctor_seen(f, "%s container %s (pid %d, started %llu s after boot) started "
			    "before %s appeared (%llu s) and does not use it", v[i].engine,
			    v[i].id, v[i].pid, v[i].start_usec / 1000000, fn->name, at / 1000000);
		doctor_fix(f, "%s %s now; from now on restart it from a gpu-ready hook: an "
			   "executable /etc/egpuhp/hooks.d/50-restart-%s running "
			   "'[ \"$EGPUHP_EVENT\" = gpu-ready ] && %s %s'", restart_command(&v[i]),
			   v[i].id, v[i].id, restart_command(&v[i]), v[i].id);
	}
	gw_users_free(&users);
}

static void run(struct doctor *d)
{
	struct container *v;
	struct doctor_finding *f;
	size_t n = list_containers(d, &v), i, late = 0, gpus = 0;

	for (i = 0; i < d->n_fns; i++) {
		if (!doctor_fn_is_gpu(&d->fns[i]))
			continue;
		gpus++;
		one_gpu(d, &d->fns[i], v, n, &late);
	}
	free(v);
	if (late)
		return;
	f = doctor_add(d, "container-ready", !gpus || !n ? DOCTOR_NA : DOCTOR_OK, d->target);
	if (!gpus)
		doctor_seen(f, "no eGPU GPU");
	else if (!n)
		doctor_seen(f, "no container is running");
	else
		doctor_seen(f, "%zu container(s); none started before the eGPU without using it", n);
}

const struct doctor_check doctor_check_container = {
	.name = "container-ready",
	.about = "containers started before the GPU was ready (and so without it)",
	.run = run,
};
