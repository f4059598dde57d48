// SPDX-License-Identifier: GPL-2.0
/*
 * Records of checkpointed processes: which GPU (and chip) a process was
 * checkpointed from and how much device memory it had, so that a later
 * "restore --to" can build the UUID map and check the target, also after
 * the helper process or egpud restarted.  One file per pid under
 * $EGPUHP_RUN_DIR/gpuwork (default /run/egpuhp), written atomically, 0600;
 * the process start time guards against a reused pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits.h>

#include "common/dir_list.h"
#include "common/file_read.h"
#include "common/sysfs.h"
#include "common/store.h"
#include "gpuwork/gw_internal.h"

static int record_path(pid_t pid, char *buf, size_t len, const char *suffix)
{
	return gw_path(buf, len, GW_ROOT_RUN, "gpuwork/%d%s", (int)pid, suffix);
}

int gw_record_save(const struct gw_record *rec)
{
	char dir[256], name[16], text[4096];
	size_t off;
	int n, i;

	if (gw_path(dir, sizeof(dir), GW_ROOT_RUN, "gpuwork"))
		return -ENAMETOOLONG;
	mkdir(gw_root_dir(GW_ROOT_RUN), 0755);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	snprintf(name, sizeof(name), "%d", (int)rec->pid);
	n = snprintf(text, sizeof(text),
		     "starttime=%llu\npci=%s\nuuid=%s\nchip=%04x:%04x\ngpu_bytes=%" PRIu64 "\n"
		     "model=%s\nrouter=%s\nworkload=%s\nseen=",
		     rec->starttime, rec->pci, rec->uuid, rec->vendor, rec->device,
		     rec->gpu_bytes, rec->model, rec->router, rec->workload);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -ENOSPC;
	off = (size_t)n;
	for (i = 0; i < rec->nseen && i < GW_MAX_GPUS; i++) {
		char u[GW_UUID_LEN];

		gw_uuid_format(&rec->seen[i], u, sizeof(u));
		n = snprintf(text + off, sizeof(text) - off, "%s%s", i ? "," : "", u);
		if (n < 0 || (size_t)n >= sizeof(text) - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	if (off + 1 >= sizeof(text))
		return -ENOSPC;
	text[off++] = '\n';
	return egpu_atomic_write(dir, name, text, off, 0600);
}

/* "GPU-...,GPU-...": a malformed list is dropped whole (no map is built). */
static void parse_seen(char *list, struct gw_record *rec)
{
	char *u, *save = NULL;

	rec->nseen = 0;
	for (u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		if (rec->nseen == GW_MAX_GPUS || gw_uuid_parse(u, &rec->seen[rec->nseen])) {
			rec->nseen = 0;
			return;
		}
		rec->nseen++;
	}
}

int gw_record_load(pid_t pid, struct gw_record *rec)
{
	char path[300], text[8192], *line, *save = NULL;
	unsigned long long now_start;
	ssize_t n;

	memset(rec, 0, sizeof(*rec));
	if (record_path(pid, path, sizeof(path), ""))
		return -ENAMETOOLONG;
	n = egpu_read_small_file(path, text, sizeof(text));
	if (n < 0)
		return (int)n;
	rec->pid = pid;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "starttime=", 10))
			rec->starttime = strtoull(line + 10, NULL, 10);
		else if (!strncmp(line, "pci=", 4))
			gw_copy(rec->pci, sizeof(rec->pci), line + 4);
		else if (!strncmp(line, "uuid=", 5))
			gw_copy(rec->uuid, sizeof(rec->uuid), line + 5);
		else if (!strncmp(line, "chip=", 5) &&
			 sscanf(line + 5, "%x:%x", &rec->vendor, &rec->device) != 2)
			rec->vendor = rec->device = 0;	/* unknown chip: --to refused */
		else if (!strncmp(line, "gpu_bytes=", 10))
			rec->gpu_bytes = strtoull(line + 10, NULL, 10);
		else if (!strncmp(line, "model=", 6))
			gw_copy(rec->model, sizeof(rec->model), line + 6);
		else if (!strncmp(line, "router=", 7))
			gw_copy(rec->router, sizeof(rec->router), line + 7);
		else if (!strncmp(line, "workload=", 9))
			gw_copy(rec->workload, sizeof(rec->workload), line + 9);
		else if (!strncmp(line, "seen=", 5))
			parse_seen(line + 5, rec);
	}
	if (gw_proc_starttime(pid, &now_start) || now_start != rec->starttime) {
		/* Another process now has this pid: the record is stale. */
		unlink(path);
		memset(rec, 0, sizeof(*rec));
		return -ESRCH;
	}
	return 0;
}

void gw_record_drop(pid_t pid)
{
	char path[300];

	if (!record_path(pid, path, sizeof(path), ""))
		unlink(path);
}

/* egpu_dir_list()'s load: the record called name, a pid's, if it is one. */
static int load_record(const char *name, void *elem, void *ctx)
{
	unsigned long pid;

	if (!egpu_all_digits(name) || strlen(name) > 10)
		return -EINVAL;
	pid = strtoul(name, NULL, 10);
	if (!pid || pid > INT_MAX)
		return -EINVAL;
	return gw_record_load((pid_t)pid, elem);
}

int gw_records_list(struct gw_record **out)
{
	char dir[256];
	size_t n;
	void *v;
	int ret;

	*out = NULL;
	if (gw_path(dir, sizeof(dir), GW_ROOT_RUN, "gpuwork"))
		return -ENAMETOOLONG;
	ret = egpu_dir_list(dir, sizeof(**out), load_record, NULL, &v, &n);
	if (ret < 0)
		return ret;
	*out = v;
	return (int)n;
}
