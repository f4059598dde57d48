// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp-fakecuda-proc: a FAKE CUDA process for the dock's workload tests
 * (tests/user/test_workloads_fakecuda.py), the counterpart of the fake
 * driver library's checkpoint calls (tests/fakecuda/checkpoint.c).
 *
 *   egpuhp-fakecuda-proc [--children N] GPU NODE
 *   egpuhp-fakecuda-proc --list
 *
 * --list prints the fake driver's GPUs, "ORDINAL PCI UUID" a line, from
 * the library $EGPUHP_LIBCUDA names (as nvidia-smi -L lists the real
 * driver's): what a test writes into the fake nvidia proc files.
 *
 * It forks N children first (a workload of N + 1 processes: a parent and
 * its children, as "ollama serve" and its runners), then each process
 * registers itself in $FAKECUDA_STATE_DIR (the file named by its pid:
 * "state=running gpu=GPU") and holds NODE open as a CUDA process holds its
 * GPU's device node (NODE's "%d" is the GPU ordinal it is on).  While the
 * fake driver has it checkpointed it closes the node (a checkpointed
 * process holds no GPU: the GPU may go); when restored it opens the node
 * of the GPU it was restored onto (and the node anew when it was made
 * anew, as after a re-plug).  Each change is one line on stdout:
 * "PID holding NODE", "PID released NODE".  SIGTERM ends it (children end
 * with their parent); its registration is removed as it exits, as a real
 * process' CUDA state goes with it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../fakecuda/state_file.h"

static volatile sig_atomic_t stop;

static void on_term(int sig __attribute__((unused)))
{
	stop = 1;
}

static const char *dir;

static int write_state(pid_t pid, int gpu)
{
	char path[4096], tmp[4096], line[64];
	int fd, n, ok;

	snprintf(path, sizeof(path), "%s/%d", dir, (int)pid);
	snprintf(tmp, sizeof(tmp), "%s/.%d.tmp", dir, (int)pid);
	n = snprintf(line, sizeof(line), "state=running gpu=%d\n", gpu);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ok = write(fd, line, (size_t)n) == n;
	ok &= !close(fd);
	return ok && !rename(tmp, path) ? 0 : -1;
}

/* state and gpu of pid's registration; -1 when unreadable. */
static int read_state(pid_t pid, char *state, size_t len, int *gpu)
{
	char text[2048];
	const char *s, *g;

	if (fc_state_file_read(dir, (int)pid, text, sizeof(text)))
		return -1;
	s = strstr(text, "state=");
	g = strstr(text, "gpu=");
	if (!s || !g)
		return -1;
	s += 6;
	snprintf(state, len, "%.*s", (int)strcspn(s, " \n"), s);
	*gpu = atoi(g + 4);
	return 0;
}

/* Is fd (still) the file at path? */
static bool same_file(int fd, const char *path)
{
	struct stat a, b;

	return !fstat(fd, &a) && !stat(path, &b) && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev && a.st_rdev == b.st_rdev;
}

static void run(const char *node_fmt, int gpu)
{
	pid_t me = getpid();
	char node[256], state[32];
	int fd = -1;
	struct timespec tick = { 0, 20 * 1000 * 1000 };

	if (write_state(me, gpu)) {
		fprintf(stderr, "%d: cannot register in %s: %s\n", (int)me, dir, strerror(errno));
		exit(1);
	}
	while (!stop) {
		if (read_state(me, state, sizeof(state), &gpu) == 0) {
			snprintf(node, sizeof(node), node_fmt, gpu);
			if (!strcmp(state, "checkpointed") && fd >= 0) {
				close(fd);
				fd = -1;
				printf("%d released %s\n", (int)me, node);
				fflush(stdout);
			} else if (fd >= 0 && !same_file(fd, node)) {
				/* the node was made anew (a re-plugged GPU): hold the new one */
				close(fd);
				fd = -1;
			}
			if (strcmp(state, "checkpointed") && fd < 0) {
				fd = open(node, O_RDWR | O_CLOEXEC);
				if (fd >= 0) {
					printf("%d holding %s\n", (int)me, node);
					fflush(stdout);
				}
			}
		}
		/* the fake's own pace of looking at its state, no test's sync */
		nanosleep(&tick, NULL);
	}
	snprintf(node, sizeof(node), "%s/%d", dir, (int)me);
	unlink(node);
}

typedef int (*cu_int_fn)(int *);
typedef int (*cu_get_fn)(int *, int);
typedef int (*cu_uuid_fn)(unsigned char *, int);
typedef int (*cu_bus_fn)(char *, int, int);
typedef int (*cu_init_fn)(unsigned int);

static int list_gpus(void)
{
	const char *lib = getenv("EGPUHP_LIBCUDA");
	void *h = lib && *lib ? dlopen(lib, RTLD_NOW) : NULL;
	cu_init_fn init;
	cu_int_fn count;
	cu_get_fn get;
	cu_uuid_fn uuid;
	cu_bus_fn bus;
	int n = 0, i, dev;

	if (!h) {
		fprintf(stderr, "dlopen $EGPUHP_LIBCUDA: %s\n", lib ? dlerror() : "unset");
		return 1;
	}
	*(void **)&init = dlsym(h, "cuInit");
	*(void **)&count = dlsym(h, "cuDeviceGetCount");
	*(void **)&get = dlsym(h, "cuDeviceGet");
	*(void **)&uuid = dlsym(h, "cuDeviceGetUuid_v2");
	*(void **)&bus = dlsym(h, "cuDeviceGetPCIBusId");
	if (!init || !count || !get || !uuid || !bus || init(0) || count(&n))
		return 1;
	for (i = 0; i < n; i++) {
		unsigned char u[16];
		char pci[32];

		if (get(&dev, i) || uuid(u, dev) || bus(pci, sizeof(pci), dev))
			return 1;
		printf("%d %s GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		       "%02x%02x%02x%02x%02x%02x\n", i, pci, u[0], u[1], u[2], u[3], u[4], u[5],
		       u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	int children = 0, i = 1, gpu, k, nkids = 0;
	pid_t parent = getpid(), kids[16];

	if (argc == 2 && !strcmp(argv[1], "--list"))
		return list_gpus();
	if (argc > 2 && !strcmp(argv[1], "--children")) {
		children = atoi(argv[2]);
		i = 3;
	}
	dir = getenv("FAKECUDA_STATE_DIR");
	if (argc - i != 2 || !dir || !*dir || children < 0 || children > 16) {
		fprintf(stderr, "usage: FAKECUDA_STATE_DIR=DIR egpuhp-fakecuda-proc "
			"[--children N] GPU NODE | --list\n");
		return 2;
	}
	gpu = atoi(argv[i]);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (; children > 0; children--) {
		pid_t c = fork();

		if (c < 0)
			return 1;
		if (c == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				return 0;
			run(argv[i + 1], gpu);
			return 0;
		}
		kids[nkids++] = c;
	}
	run(argv[i + 1], gpu);
	for (k = 0; k < nkids; k++)
		kill(kids[k], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
