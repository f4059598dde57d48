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

#include "common/file_read.h"
#include "common/store.h"
#include "gpuwork/gw_internal.h"

static int record_path(pid_t pid, char *buf, size_t len, const char *suffix)
{
	return gw_path(buf, len, GW_ROOT_RUN, "gpuwork/%d%s", (int)pid, suffix);
}

int gw_record_save(const struct gw_record *rec)
{
	char dir[256], name[16], text[512];
	int n;

	if (gw_path(dir, sizeof(dir), GW_ROOT_RUN, "gpuwork"))
		return -ENAMETOOLONG;
	mkdir(gw_root_dir(GW_ROOT_RUN), 0755);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	snprintf(name, sizeof(name), "%d", (int)rec->pid);
	n = snprintf(text, sizeof(text),
		     "starttime=%llu\npci=%s\nuuid=%s\nchip=%04x:%04x\ngpu_bytes=%" PRIu64 "\n",
		     rec->starttime, rec->pci, rec->uuid, rec->vendor, rec->device,
		     rec->gpu_bytes);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -ENOSPC;
	return egpu_atomic_write(dir, name, text, (size_t)n, 0600);
}

int gw_record_load(pid_t pid, struct gw_record *rec)
{
	char path[300], text[1024], *line, *save = NULL;
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
