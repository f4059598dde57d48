// SPDX-License-Identifier: GPL-2.0
/*
 * Facts about the host and a process that the engine checks before it
 * touches anything: free host memory, managed memory, identity of a pid.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/file_read.h"
#include "gpuwork/gw_internal.h"

int gw_host_mem_available(uint64_t *bytes)
{
	char path[256], buf[8192];
	const char *p;
	unsigned long long kib;
	ssize_t n;

	if (gw_path(path, sizeof(path), GW_ROOT_PROC, "meminfo"))
		return -ENAMETOOLONG;
	n = egpu_read_small_file(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	p = strstr(buf, "MemAvailable:");
	if (!p || sscanf(p, "MemAvailable: %llu kB", &kib) != 1)
		return -ENODATA;
	*bytes = (uint64_t)kib << 10;
	return 0;
}

/*
 * Managed (cudaMallocManaged) allocations are mapped from /dev/nvidia-uvm
 * into the process at their full size.  Every CUDA process also maps small
 * (2 MiB) windows of nvidia-uvm for the driver's own use, so only larger
 * mappings count.  A managed allocation of 2 MiB or less slips through;
 * the driver then refuses the checkpoint itself (CUDA_ERROR_NOT_SUPPORTED)
 * and the engine unlocks the process again.
 * EGPUHP_GW_NO_MANAGED_CHECK=1 skips this check (tests of that path).
 */
#define GW_UVM_DRIVER_WINDOW	(2UL << 20)

int gw_proc_uses_managed(pid_t pid)
{
	char path[256], line[1024];
	const char *env = getenv("EGPUHP_GW_NO_MANAGED_CHECK");
	unsigned long lo, hi;
	FILE *f;
	int found = 0;

	if (env && !strcmp(env, "1"))
		return 0;
	if (gw_path(path, sizeof(path), GW_ROOT_PROC, "%d/maps", (int)pid))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);

		while (l && (line[l - 1] == '\n' || line[l - 1] == ' '))
			line[--l] = '\0';
		if (l < 15 || strcmp(line + l - 15, "/dev/nvidia-uvm"))
			continue;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi - lo > GW_UVM_DRIVER_WINDOW) {
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

const char *gw_proc_stat(pid_t pid, char *buf, size_t len)
{
	char path[256];
	const char *p;

	if (gw_path(path, sizeof(path), GW_ROOT_PROC, "%d/stat", (int)pid) ||
	    egpu_read_small_file(path, buf, len) < 0)
		return NULL;
	/* comm may contain spaces and ')': fields restart after the last ')'. */
	p = strrchr(buf, ')');
	return p ? p + 1 : NULL;
}

int gw_proc_starttime(pid_t pid, unsigned long long *start)
{
	char buf[2048];
	const char *p;
	int field;

	p = gw_proc_stat(pid, buf, sizeof(buf));
	if (!p)
		return -ENOENT;
	for (field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", start) != 1)
		return -ENODATA;
	return 0;
}

int gw_proc_comm(pid_t pid, char *buf, size_t len)
{
	char path[256];
	ssize_t n;

	if (gw_path(path, sizeof(path), GW_ROOT_PROC, "%d/comm", (int)pid))
		return -ENAMETOOLONG;
	n = egpu_read_small_file(path, buf, len);
	if (n < 0)
		return (int)n;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int gw_proc_uids(pid_t pid, uid_t *ruid, uid_t *suid)
{
	char path[256], buf[4096];
	unsigned long r, e, s;
	const char *p;
	ssize_t n;

	if (gw_path(path, sizeof(path), GW_ROOT_PROC, "%d/status", (int)pid))
		return -ENAMETOOLONG;
	n = egpu_read_small_file(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	/* "Uid:\treal\teffective\tsaved\tfs"; Name: (first line) cannot hold a newline */
	p = strstr(buf, "\nUid:");
	if (!p || sscanf(p, "\nUid: %lu %lu %lu", &r, &e, &s) != 3)
		return -ENODATA;
	*ruid = (uid_t)r;
	*suid = (uid_t)s;
	return 0;
}

bool gw_caller_may_act(uid_t caller, pid_t pid, char *why, size_t len)
{
	uid_t ruid, suid;
	int err;

	if (caller == 0)
		return true;
	err = gw_proc_uids(pid, &ruid, &suid);
	if (err) {
		snprintf(why, len, "cannot read the owner of process %d: %s", (int)pid,
			 strerror(-err));
		return false;
	}
	/* kill(2): the caller's uid is the target's real or saved set-user-ID */
	if (caller == ruid || caller == suid)
		return true;
	snprintf(why, len, "process %d belongs to uid %u; only root or its owner may act on it",
		 (int)pid, (unsigned int)ruid);
	return false;
}
