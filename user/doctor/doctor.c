// SPDX-License-Identifier: GPL-2.0
/* The doctor's context: what the checks read, and the findings they add. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/egpu_routers.h"
#include "common/file_read.h"
#include "common/sysfs.h"
#include "doctor/doctor.h"
#include "gpuwork/gpuwork.h"

#define DOCTOR_CHECK_PTR(x) &doctor_check_##x,
const struct doctor_check *const doctor_checks[] = {
	DOCTOR_CHECKS(DOCTOR_CHECK_PTR)
};
#undef DOCTOR_CHECK_PTR
const size_t doctor_n_checks = sizeof(doctor_checks) / sizeof(doctor_checks[0]);

/* The kernel log is read whole; more than this is not an eGPU's story. */
#define DOCTOR_LOG_MAX	(8u << 20)

const char *doctor_verdict_name(enum doctor_verdict v)
{
	switch (v) {
	case DOCTOR_OK: return "ok";
	case DOCTOR_NA: return "n/a";
	case DOCTOR_WARN: return "warn";
	case DOCTOR_FAIL: return "fail";
	}
	return "?";
}

int doctor_path(const struct doctor *d, char *buf, size_t len, const char *rel)
{
	if ((size_t)snprintf(buf, len, "%s/%s", d->root, rel) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int doctor_read(const struct doctor *d, const char *rel, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;

	if (doctor_path(d, path, sizeof(path), rel))
		return -ENAMETOOLONG;
	n = egpu_read_small_file(path, buf, len);
	if (n < 0)
		return (int)n;
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	return (int)n;
}

bool doctor_exists(const struct doctor *d, const char *rel)
{
	char path[PATH_MAX];

	return !doctor_path(d, path, sizeof(path), rel) && access(path, F_OK) == 0;
}

DIR *doctor_opendir(const struct doctor *d, const char *rel)
{
	char path[PATH_MAX];

	if (doctor_path(d, path, sizeof(path), rel)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return opendir(path);
}

int doctor_pci_attr(const struct doctor *d, const char *fn, const char *attr,
		    char *buf, size_t len)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/%s", fn, attr);
	return egpu_sysfs_read(rel, buf, len);
}

bool doctor_exists_pci_attr(const struct doctor *d, const char *fn, const char *attr)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%.32s/%.64s", fn, attr);
	return doctor_exists(d, rel);
}

bool doctor_module_loaded(const struct doctor *d, const char *name)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "sys/module/%s", name);
	return doctor_exists(d, rel);
}

int doctor_module_file(const struct doctor *d, const char *name, char *buf, size_t len)
{
	char rel[256], path[PATH_MAX], release[128], line[1024];
	size_t nl = strlen(name);
	int ret = -ENOENT;
	FILE *f;

	if (doctor_read(d, "proc/sys/kernel/osrelease", release, sizeof(release)) <= 0)
		return -ENOENT;
	snprintf(rel, sizeof(rel), "lib/modules/%s/modules.dep", release);
	if (doctor_path(d, path, sizeof(path), rel))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	/* "updates/dkms/egpuhp.ko.xz: kernel/...": the file before the colon */
	while (ret && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *base;

		if (!colon)
			continue;
		*colon = '\0';
		base = strrchr(line, '/');
		base = base ? base + 1 : line;
		if (!strncmp(base, name, nl) && !strncmp(base + nl, ".ko", 3)) {
			snprintf(buf, len, "lib/modules/%s/%s", release, line);
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

int doctor_find_process(const struct doctor *d, const char *comm)
{
	char rel[64], buf[64];
	struct dirent *e;
	int pid = 0;
	DIR *dp;

	dp = doctor_opendir(d, "proc");
	if (!dp)
		return 0;
	while (!pid && (e = readdir(dp))) {
		if (!egpu_all_digits(e->d_name))
			continue;
		snprintf(rel, sizeof(rel), "proc/%.20s/comm", e->d_name);
		if (doctor_read(d, rel, buf, sizeof(buf)) >= 0 && !strcmp(buf, comm))
			pid = atoi(e->d_name);
	}
	closedir(dp);
	return pid;
}

bool doctor_cmdline(const struct doctor *d, const char *prefix, char *buf, size_t len)
{
	const char *p = d->cmdline;

	while ((p = strstr(p, prefix))) {
		if (p == d->cmdline || p[-1] == ' ') {
			snprintf(buf, len, "%.*s", (int)strcspn(p, " "), p);
			return true;
		}
		p += strlen(prefix);
	}
	return false;
}

bool doctor_no_functions(struct doctor *d, const char *check)
{
	struct doctor_finding *f;

	if (d->n_fns)
		return false;
	f = doctor_add(d, check, DOCTOR_NA, d->target);
	doctor_seen(f, "no eGPU PCI function (none behind an external-facing port%s)",
		    d->target ? " belongs to the one named" : "");
	return true;
}

bool doctor_fn_is_gpu(const struct doctor_fn *fn)
{
	return fn->class_code >> 16 == 0x03 || fn->class_code >> 16 == 0x12;
}

struct doctor_finding *doctor_add(struct doctor *d, const char *check,
				  enum doctor_verdict v, const char *subject)
{
	static struct doctor_finding oom;	/* written to when out of memory */
	struct doctor_finding *t, *f;

	t = realloc(d->findings, (d->n_findings + 1) * sizeof(*t));
	if (!t)
		return memset(&oom, 0, sizeof(oom));
	d->findings = t;
	f = &t[d->n_findings++];
	memset(f, 0, sizeof(*f));
	f->check = check;
	f->verdict = v;
	snprintf(f->subject, sizeof(f->subject), "%s", subject ? subject : "");
	return f;
}

void doctor_seen(struct doctor_finding *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->seen, sizeof(f->seen), fmt, ap);
	va_end(ap);
}

void doctor_fix(struct doctor_finding *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->fix, sizeof(f->fix), fmt, ap);
	va_end(ap);
}

enum doctor_verdict doctor_worst(const struct doctor *d)
{
	enum doctor_verdict w = DOCTOR_OK;
	size_t i;

	for (i = 0; i < d->n_findings; i++)
		if (d->findings[i].verdict > w)
			w = d->findings[i].verdict;
	return w == DOCTOR_NA ? DOCTOR_OK : w;
}

const struct doctor_log_line *doctor_log_find(const struct doctor *d, size_t *from,
					      const char *a, const char *b)
{
	size_t i;

	for (i = *from; i < d->n_log; i++) {
		if (strstr(d->log[i].text, a) && (!b || strstr(d->log[i].text, b))) {
			*from = i + 1;
			return &d->log[i];
		}
	}
	*from = d->n_log;
	return NULL;
}

/*
 * /dev/kmsg (Documentation/ABI/testing/dev-kmsg): one record per read(),
 * "PRIO,SEQ,USEC,FLAGS;TEXT\n", then " KEY=VALUE\n" lines of its own.
 * A fixture is a plain file of such records, read in larger pieces.
 */
static int read_kernel_log(struct doctor *d)
{
	char path[PATH_MAX], *text = NULL, *line, *save;
	size_t len = 0, cap = 0;
	int fd;

	if (doctor_path(d, path, sizeof(path), "dev/kmsg"))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		if (cap - len < 8193) {
			char *t = cap >= DOCTOR_LOG_MAX ? NULL : realloc(text, cap + 65536);

			if (!t)
				break;
			text = t;
			cap += 65536;
		}
		n = read(fd, text + len, 8192);
		if (n < 0 && (errno == EINTR || errno == EPIPE))
			continue;	/* EPIPE: records were overwritten meanwhile */
		if (n <= 0)
			break;		/* end of file, or EAGAIN: no more records */
		len += (size_t)n;
	}
	close(fd);
	if (!text)
		return 0;
	text[len] = '\0';
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct doctor_log_line *t;
		char *semi = strchr(line, ';');
		unsigned long long usec;

		if (line[0] == ' ' || !semi ||
		    sscanf(line, "%*u,%*u,%llu", &usec) != 1)
			continue;
		t = realloc(d->log, (d->n_log + 1) * sizeof(*t));
		if (!t)
			break;
		d->log = t;
		t[d->n_log].usec = usec;
		t[d->n_log].text = strdup(semi + 1);
		if (t[d->n_log].text)
			d->n_log++;
	}
	free(text);
	return 0;
}

static void read_fn(struct doctor *d, const char *name, struct doctor_fn *fn)
{
	char rel[256], path[PATH_MAX], real[PATH_MAX], buf[64];
	char *slash;

	memset(fn, 0, sizeof(*fn));
	snprintf(fn->name, sizeof(fn->name), "%s", name);
	if (doctor_pci_attr(d, name, "vendor", buf, sizeof(buf)) == 0)
		fn->vendor = (unsigned int)strtoul(buf, NULL, 16);
	if (doctor_pci_attr(d, name, "device", buf, sizeof(buf)) == 0)
		fn->device = (unsigned int)strtoul(buf, NULL, 16);
	if (doctor_pci_attr(d, name, "class", buf, sizeof(buf)) == 0)
		fn->class_code = (unsigned int)strtoul(buf, NULL, 16);
	fn->removable = doctor_pci_attr(d, name, "removable", buf, sizeof(buf)) == 0 &&
			!strcmp(buf, "removable");
	egpu_pci_driver(name, fn->driver, sizeof(fn->driver));
	/* the parent is the directory above in sysfs: .../0000:00:1c.0/0000:05:00.0 */
	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s", name);
	if (doctor_path(d, path, sizeof(path), rel) || !realpath(path, real))
		return;
	slash = strrchr(real, '/');
	if (!slash)
		return;
	*slash = '\0';
	slash = strrchr(real, '/');
	if (slash && strncmp(slash + 1, "pci", 3) && strlen(slash + 1) < sizeof(fn->parent))
		snprintf(fn->parent, sizeof(fn->parent), "%s", slash + 1);
}

static int add_fn(struct doctor *d, const char *name)
{
	struct doctor_fn *t;

	t = realloc(d->fns, (d->n_fns + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	d->fns = t;
	read_fn(d, name, &t[d->n_fns++]);
	return 0;
}

static int cmp_fn(const void *a, const void *b)
{
	return strcmp(((const struct doctor_fn *)a)->name, ((const struct doctor_fn *)b)->name);
}

/* The endpoints behind external-facing ports: what the eGPU brought. */
static void list_egpu_functions(struct doctor *d)
{
	struct doctor_fn fn;
	struct dirent *e;
	DIR *dp;

	dp = doctor_opendir(d, "sys/bus/pci/devices");
	if (!dp)
		return;
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= EGPUHP_PCI_NAME_LEN)
			continue;
		read_fn(d, e->d_name, &fn);
		if (fn.removable && fn.class_code >> 8 != 0x0604 && add_fn(d, e->d_name))
			break;
	}
	closedir(dp);
	if (d->n_fns)
		qsort(d->fns, d->n_fns, sizeof(*d->fns), cmp_fn);
}

/* "0000:05:00.0": domain:bus:device.function in hex, as sysfs names them */
static bool pci_name(const char *s)
{
	static const char shape[] = "xxxx:xx:xx.x";
	size_t i;

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (i = 0; shape[i]; i++)
		if (shape[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != shape[i])
			return false;
	return true;
}

static int pick_target(struct doctor *d, char *err, size_t len)
{
	char names[8][EGPUHP_PCI_NAME_LEN], rel[256];
	struct egpuhp_router top;
	size_t i, kept = 0;
	int n;

	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%.32s", d->target);
	if (pci_name(d->target) && doctor_exists(d, rel)) {
		/* a PCI function: it and the other functions of its slot */
		n = egpu_pci_slot_functions(d->target, names, 8);
		for (i = 0; n > 0 && i < (size_t)n; i++)
			add_fn(d, names[i]);
		if (d->n_fns)
			qsort(d->fns, d->n_fns, sizeof(*d->fns), cmp_fn);
		return 0;
	}
	if (egpu_tb_is_router_name(d->target) && egpu_tb_read_router(d->target, &top) == 0) {
		d->target_router = true;
		for (i = 0; i < d->n_routers; i++)
			if (egpu_tb_router_below(&top, &d->routers[i]))
				d->routers[kept++] = d->routers[i];
		d->n_routers = kept;
		list_egpu_functions(d);
		return 0;
	}
	snprintf(err, len, "no PCI function or Thunderbolt router %s", d->target);
	return -ENOENT;
}

int doctor_init(struct doctor *d, const char *root, const char *target, char *err, size_t len)
{
	char conf[PATH_MAX];

	memset(d, 0, sizeof(*d));
	snprintf(d->root, sizeof(d->root), "%s", root && strcmp(root, "/") ? root : "");
	while (d->root[0] && d->root[strlen(d->root) - 1] == '/')
		d->root[strlen(d->root) - 1] = '\0';
	doctor_path(d, d->sys_root, sizeof(d->sys_root), "sys");
	doctor_path(d, d->proc_root, sizeof(d->proc_root), "proc");
	doctor_path(d, d->dev_root, sizeof(d->dev_root), "dev");
	egpu_sysfs_set_root(d->sys_root);
	gw_set_roots(d->proc_root, d->sys_root, d->dev_root);
	d->target = target && target[0] ? target : NULL;
	egpu_tb_list_routers(&d->routers, &d->n_routers);
	if (d->target) {
		int ret = pick_target(d, err, len);

		if (ret < 0)
			return ret;
	} else {
		list_egpu_functions(d);
	}
	doctor_read(d, "proc/cmdline", d->cmdline, sizeof(d->cmdline));
	d->log_err = read_kernel_log(d);
	doctor_path(d, conf, sizeof(conf), &EGPU_DEFAULT_CONFIG[1]);	/* without its "/" */
	d->config = egpu_config_load(conf, true, d->config_err, sizeof(d->config_err));
	return 0;
}

void doctor_free(struct doctor *d)
{
	size_t i;

	for (i = 0; i < d->n_log; i++)
		free(d->log[i].text);
	free(d->log);
	free(d->routers);
	free(d->fns);
	free(d->findings);
	egpu_config_free(d->config);
	memset(d, 0, sizeof(*d));
}

void doctor_run(struct doctor *d)
{
	struct doctor_finding *f;
	size_t i;

	if (d->log_err) {
		/* not a check of its own: what the others had to do without */
		f = doctor_add(d, "kernel-log", DOCTOR_NA, NULL);
		doctor_seen(f, "the kernel log (/dev/kmsg) is not readable: %s; bar-space, "
			    "d3cold, container-ready and secure-boot looked at sysfs only",
			    strerror(-d->log_err));
		doctor_fix(f, "run egpuctl doctor as root");
	}
	for (i = 0; i < doctor_n_checks; i++)
		doctor_checks[i]->run(d);
}
