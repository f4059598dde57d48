// SPDX-License-Identifier: GPL-2.0
/*
 * A checkpointed process must stay restorable after egpud restarts, so its
 * record outlives egpud (the run directory is preserved); the record of a
 * process that has exited is of no use: it goes at start, and while egpud
 * runs the moment the process exits (a pidfd per record in the loop).  A pid reused
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
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common/log.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"
#include "gpuwork/gw_internal.h"

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

/* --- watching records until their process exits ----------------------------- */

static bool watched(const struct egpud *d, pid_t pid)
{
	size_t i;

	for (i = 0; i < d->n_record_watch; i++)
		if (d->record_watch[i].pid == pid)
			return true;
	return false;
}

void egpud_records_watch(struct egpud *d)
{
	struct gw_record *recs = NULL, again;
	int n, i;

	/* pidfds name processes of the real /proc (tests may fake the proc root) */
	if (strcmp(gw_root_dir(GW_ROOT_PROC), "/proc"))
		return;
	n = gw_records_list(&recs);	/* drops the records of reused pids */
	for (i = 0; i < n; i++) {
		pid_t pid = recs[i].pid;
		int fd;

		if (watched(d, pid) || d->n_record_watch == EGPUD_MAX_RECORD_WATCH)
			continue;
		fd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (fd < 0) {
			if (errno == ESRCH) {
				gw_record_drop(pid);
				egpu_log("checkpoint record of pid %d dropped: the process is gone",
					 (int)pid);
			}
			continue;
		}
		/* the pidfd names the process of the record, not a later one */
		if (gw_record_load(pid, &again)) {
			close(fd);
			continue;
		}
		if (egpud_epoll_add(d, fd, EPOLLIN) < 0) {
			close(fd);
			continue;
		}
		d->record_watch[d->n_record_watch].pid = pid;
		d->record_watch[d->n_record_watch].pidfd = fd;
		d->n_record_watch++;
	}
	free(recs);
}

bool egpud_records_readable(struct egpud *d, int fd)
{
	struct gw_record rec;
	size_t i;
	int err;

	for (i = 0; i < d->n_record_watch; i++) {
		struct egpud_record_watch *w = &d->record_watch[i];

		if (w->pidfd != fd)
			continue;
		egpud_epoll_del(d, fd);
		close(fd);
		/* exited (a zombie still reads as itself, or gone); restored: no record */
		err = gw_record_load(w->pid, &rec);
		if (!err || err == -ESRCH) {
			gw_record_drop(w->pid);
			egpu_log("checkpoint record of pid %d dropped: the process exited while "
				 "checkpointed", (int)w->pid);
		}
		*w = d->record_watch[--d->n_record_watch];
		return true;
	}
	return false;
}

void egpud_records_unwatch_all(struct egpud *d)
{
	size_t i;

	for (i = 0; i < d->n_record_watch; i++) {
		egpud_epoll_del(d, d->record_watch[i].pidfd);
		close(d->record_watch[i].pidfd);
	}
	d->n_record_watch = 0;
}

void egpud_records_annotate(struct egpud *d)
{
	struct gw_record *recs = NULL;
	int n, i;

	n = gw_records_list(&recs);
	for (i = 0; i < n; i++) {
		const struct egpuhp_dev *dev;

		if (recs[i].router[0] || !recs[i].pci[0])
			continue;
		dev = egpu_tracker_dev(&d->tracker, recs[i].pci);
		if (!dev || !dev->router_uid[0])
			continue;
		snprintf(recs[i].router, sizeof(recs[i].router), "%s", dev->router_uid);
		gw_record_save(&recs[i]);
	}
	free(recs);
}
