// SPDX-License-Identifier: GPL-2.0
/*
 * A checkpointed process must stay restorable after egpud restarts, so its
 * record outlives egpud (the run directory is preserved); the record of a
 * process that has exited is of no use and goes at start.  A pid reused
 * by another process is caught when the record is read (its start time,
 * gpuwork/state.c).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"

/*
 * Walk the records: those of processes that exist are counted into *live;
 * with prune, those of processes that are gone are dropped (counted in the
 * return value).
 */
static int records_walk(const char *run_dir, bool prune, int *live)
{
	const char *env = getenv("EGPUHP_RUN_DIR");
	char dir[4096];
	struct dirent *e;
	int dropped = 0;
	DIR *d;

	*live = 0;
	if (!run_dir)
		run_dir = env && *env ? env : "/run/egpuhp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/gpuwork", run_dir) >= sizeof(dir))
		return 0;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char proc[64], path[4400];
		struct stat st;

		if (!egpu_all_digits(e->d_name) || strlen(e->d_name) > 10)
			continue;
		snprintf(proc, sizeof(proc), "/proc/%s", e->d_name);
		if (stat(proc, &st) == 0 || errno != ENOENT) {
			(*live)++;
			continue;
		}
		if (!prune)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) == 0) {
			egpu_log("checkpoint record of pid %s dropped: the process is gone",
				 e->d_name);
			dropped++;
		}
	}
	closedir(d);
	return dropped;
}

int egpud_checkpoint_records_prune(const char *run_dir)
{
	int live;

	return records_walk(run_dir, true, &live);
}

int egpud_checkpoint_records_live(const char *run_dir)
{
	int live;

	records_walk(run_dir, false, &live);
	return live;
}
