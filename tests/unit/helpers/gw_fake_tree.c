// SPDX-License-Identifier: GPL-2.0
/*
 * Fake /proc and /sys trees for gpuwork's discovery and engine tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/gw_fake.h"

char *gwt_tmpdir(void)
{
	static char dir[8][64];
	static int next;
	char *d = dir[next++ % 8];

	snprintf(d, 64, "/tmp/gwtest.XXXXXX");
	if (!mkdtemp(d))
		abort();
	return d;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void gwt_rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void mkparents(char *path)
{
	char *p;

	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			abort();
		*p = '/';
	}
}

void gwt_mkdir(const char *root, const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s/", root, rel);
	mkparents(path);
}

void gwt_write(const char *root, const char *rel, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	mkparents(path);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

void gwt_symlink(const char *root, const char *rel, const char *target)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	mkparents(path);
	unlink(path);
	if (symlink(target, path))
		abort();
}

void gwt_fake_system(const char *root, int ngpus, const unsigned int *chip_of)
{
	char rel[256], text[512], proc[256], sys[256], run[256];
	int i;

	gwt_write(root, "proc/meminfo",
		  "MemTotal:       268435456 kB\nMemFree:        260000000 kB\n"
		  "MemAvailable:   268435456 kB\n");
	for (i = 0; i < ngpus; i++) {
		const char *pci = fake_cuda.pci[i];
		unsigned int chip = chip_of && chip_of[i] ? chip_of[i] : 0x2335;

		snprintf(rel, sizeof(rel), "proc/driver/nvidia/gpus/%s/information", pci);
		snprintf(text, sizeof(text),
			 "Model: \t\t NVIDIA H200\nIRQ:   \t\t 41\nGPU UUID: \t %s\n"
			 "Bus Type: \t PCIe\nBus Location: \t %s\nDevice Minor: \t %d\n"
			 "GPU Excluded:\t No\n", fake_cuda_uuid_str(i), pci, i);
		gwt_write(root, rel, text);
		snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/vendor", pci);
		gwt_write(root, rel, "0x10de\n");
		snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s/device", pci);
		snprintf(text, sizeof(text), "0x%04x\n", chip);
		gwt_write(root, rel, text);
	}
	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(sys, sizeof(sys), "%s/sys", root);
	snprintf(run, sizeof(run), "%s/run", root);
	gwt_mkdir(root, "sys/class");
	gwt_mkdir(root, "run");
	gw_set_roots(NULL, NULL, NULL);
	setenv("EGPUHP_PROC_ROOT", proc, 1);
	setenv("EGPUHP_SYS_ROOT", sys, 1);
	setenv("EGPUHP_RUN_DIR", run, 1);
}

void gwt_fake_proc(const char *root, int pid, const char *comm, const char *const *nodes)
{
	char rel[256], text[512];
	int i;

	snprintf(rel, sizeof(rel), "proc/%d/comm", pid);
	snprintf(text, sizeof(text), "%s\n", comm);
	gwt_write(root, rel, text);
	/* Field 22 (start time) is 4242; comm with a space and ')' on purpose. */
	snprintf(rel, sizeof(rel), "proc/%d/stat", pid);
	snprintf(text, sizeof(text),
		 "%d (%s x) S 1 %d %d 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 4242 1000 10\n",
		 pid, comm, pid, pid);
	gwt_write(root, rel, text);
	snprintf(rel, sizeof(rel), "proc/%d/maps", pid);
	gwt_write(root, rel,
		  "204a00000-204c00000 rw-s 204a00000 00:06 177    /dev/nvidia-uvm\n"
		  "7f4a877c8000-7f4a877d8000 -w-s 00000000 00:06 175  /dev/nvidia0\n");
	snprintf(rel, sizeof(rel), "proc/%d/fd", pid);
	gwt_mkdir(root, rel);
	for (i = 0; nodes && nodes[i]; i++) {
		snprintf(rel, sizeof(rel), "proc/%d/fd/%d", pid, i + 3);
		gwt_symlink(root, rel, nodes[i]);
	}
}

void gwt_fake_proc_family(const char *root, int pid, const char *comm, int ppid, int sid,
			  const char *cgroup)
{
	char rel[256], text[512];

	snprintf(rel, sizeof(rel), "proc/%d/stat", pid);
	snprintf(text, sizeof(text),
		 "%d (%s x) S %d %d %d 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 4242 1000 10\n",
		 pid, comm, ppid, sid, sid);
	gwt_write(root, rel, text);
	if (cgroup) {
		snprintf(rel, sizeof(rel), "proc/%d/cgroup", pid);
		snprintf(text, sizeof(text), "0::%s\n", cgroup);
		gwt_write(root, rel, text);
	}
}

char *gwt_run_verb(const char *verb, int argc, char **argv, bool json, int *rc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out)
		abort();
	*rc = gw_dispatch_local(0, verb, argc, argv, out, json);
	fclose(out);
	return text;
}
