// SPDX-License-Identifier: GPL-2.0
/*
 * The engine's helper process.
 *
 * Loading the CUDA driver (cuInit) and NVML opens /dev/nvidia*; a daemon
 * holding those would itself keep a GPU from leaving.  So egpud (and the
 * worker children it forks per request) never load them: the verbs run in
 * one helper process that serves a UNIX socket ($EGPUHP_RUN_DIR/
 * gpuwork.sock, 0600), is started on first use, serves one request at a
 * time (requests to the driver are serialised anyway), stays for
 * GW_HELPER_IDLE_MS without work (so a series of requests pays cuInit
 * once, as the "through egpud within 5% of direct" target needs) and then
 * exits; gw_shutdown() ends it at once, before a GPU is removed.
 *
 * The helper greets each connection with one byte before reading the
 * request: a client that gets no greeting knows nothing ran and may start
 * a fresh helper and try again; after the greeting it never retries.
 *
 * Frames: request = u32 json, u32 caller uid, u32 argc, argc x (u32 len,
 * bytes) with the verb first; reply = u32 status, u32 len, len bytes of
 * text.  The socket is root's (0600), so the caller uid is the word of a
 * process that already acts as root (egpud's worker, from SO_PEERCRED).
 *
 * Every wait of a caller has a deadline (GW_CALL_TIMEOUT_MS, or
 * $EGPUHP_GW_CALL_TIMEOUT_MS): a helper stuck in the driver makes the
 * call fail with a reply that says so, never hang its caller.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fd_io.h"
#include "gpuwork/gw_internal.h"

#define GW_MAX_FRAME	(16u << 20)
#define GW_MAX_ARGS	64
/* 'H': frames with the caller uid ('G' helpers of an older egpud are not used) */
#define GW_GREETING	'H'
#define GW_QUIT_VERB	"__quit"
#define GW_HELPER_REQUEST_MS	10000	/* for a caller to send its whole request */

static unsigned int idle_ms(void)
{
	const char *env = getenv("EGPUHP_GW_IDLE_MS");
	long v = env ? strtol(env, NULL, 10) : 0;

	return v > 0 ? (unsigned int)v : GW_HELPER_IDLE_MS;
}

static unsigned int call_timeout_ms(void)
{
	const char *env = getenv("EGPUHP_GW_CALL_TIMEOUT_MS");
	long v = env ? strtol(env, NULL, 10) : 0;

	return v > 0 && v <= INT_MAX ? (unsigned int)v : GW_CALL_TIMEOUT_MS;
}

static int write_u32(int fd, uint32_t v)
{
	return egpu_write_all(fd, &v, sizeof(v));
}

static int read_u32(int fd, uint32_t *v)
{
	return egpu_read_all(fd, v, sizeof(*v));
}

static int sock_path(struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	return gw_path(sa->sun_path, sizeof(sa->sun_path), GW_ROOT_RUN, "gpuwork.sock");
}

/* Reads on fd fail with EAGAIN (-ETIMEDOUT in egpu_read_all()) after ms. */
static void set_deadline(int fd, unsigned int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* --- helper side ---------------------------------------------------------- */

/* Serve one connection; returns 1 when asked to quit. */
static int serve_one(int fd)
{
	char *argv[GW_MAX_ARGS + 1] = { NULL };
	uint32_t json, caller, argc, len, i;
	char *text = NULL;
	size_t text_len = 0;
	char greet = GW_GREETING;
	FILE *out;
	int rc = 0;

	if (egpu_write_all(fd, &greet, 1) || read_u32(fd, &json) || read_u32(fd, &caller) ||
	    read_u32(fd, &argc) ||
	    argc < 1 || argc > GW_MAX_ARGS)
		return 0;
	for (i = 0; i < argc; i++) {
		if (read_u32(fd, &len) || len > 65536)
			goto out;
		argv[i] = calloc(1, len + 1);
		if (!argv[i] || egpu_read_all(fd, argv[i], len))
			goto out;
	}
	if (!strcmp(argv[0], GW_QUIT_VERB)) {
		rc = 1;
		goto out;
	}
	out = open_memstream(&text, &text_len);
	if (!out)
		goto out;
	rc = gw_dispatch_local((uid_t)caller, argv[0], (int)argc - 1, argv + 1, out, json != 0);
	fclose(out);
	if (!write_u32(fd, (uint32_t)rc) && !write_u32(fd, (uint32_t)text_len))
		egpu_write_all(fd, text, text_len);
	rc = 0;
out:
	free(text);
	for (i = 0; i <= GW_MAX_ARGS; i++)
		free(argv[i]);
	return rc;
}

static void serve_fd(int lfd, bool *quit)
{
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return;
	/* a caller that stops halfway through its request must not stall the helper */
	set_deadline(c, GW_HELPER_REQUEST_MS);
	if (serve_one(c))
		*quit = true;
	close(c);
}

static void __attribute__((noreturn)) helper_main(int lfd, const char *path)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	bool quit = false;

	while (!quit) {
		int n = poll(&p, 1, (int)idle_ms());

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		serve_fd(lfd, &quit);
	}
	/* New clients start a new helper from now on; serve who is queued. */
	unlink(path);
	fcntl(lfd, F_SETFL, O_NONBLOCK);
	if (!quit)
		while (poll(&p, 1, 0) > 0 && (p.revents & POLLIN) && !quit)
			serve_fd(lfd, &quit);
	_exit(0);
}

static void helper_child_setup(int keep)
{
	sigset_t none;
	int fd;

	/* egpud may block signals for a signalfd; the helper must die on TERM. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, GW_HELPER_COMM);
	/* Drop egpud's sockets (control, netlink) the helper must not hold. */
	for (fd = 3; fd < 1024; fd++)
		if (fd != keep)
			close(fd);
	/*
	 * Nor the caller's stdio: a client waiting for EOF on a pipe to
	 * egpuctl would otherwise wait for the helper's idle exit.
	 */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

/* Start a helper (detached from the caller), listening when this returns 0. */
static int helper_spawn(void)
{
	struct sockaddr_un sa;
	int pipefd[2], status;
	char ok = 0;
	pid_t pid;

	if (sock_path(&sa))
		return -ENAMETOOLONG;
	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -errno;
	}
	if (pid == 0) {
		int lfd;

		setsid();
		if (fork() != 0)
			_exit(0);
		lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		unlink(sa.sun_path);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    chmod(sa.sun_path, 0600) || listen(lfd, 16)) {
			(void)!write(pipefd[1], &ok, 1);
			_exit(1);
		}
		ok = 1;
		(void)!write(pipefd[1], &ok, 1);
		helper_child_setup(lfd);
		helper_main(lfd, sa.sun_path);
	}
	close(pipefd[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (read(pipefd[0], &ok, 1) != 1)
		ok = 0;
	close(pipefd[0]);
	return ok ? 0 : -EIO;
}

/* --- caller side (egpud, its workers, egpuctl) ------------------------------ */

/* Connect and wait for the greeting; -EAGAIN: no helper (or it was leaving). */
static int helper_connect(int timeout_ms)
{
	struct sockaddr_un sa;
	struct pollfd p;
	char greet = 0;
	int fd, n;

	if (sock_path(&sa))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -EAGAIN;
	}
	/*
	 * The helper greets at once unless it is busy with another request;
	 * one that is stuck for longer than a whole call may take is given up.
	 */
	p.fd = fd;
	p.events = POLLIN;
	do {
		n = poll(&p, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n == 0) {
		close(fd);
		return -ETIMEDOUT;
	}
	if (n != 1 || read(fd, &greet, 1) != 1 || greet != GW_GREETING) {
		close(fd);
		return -EAGAIN;
	}
	return fd;
}

/* Connected to a (possibly new) helper; serialises starting one with a lock. */
static int helper_get(int timeout_ms)
{
	char lock[256];
	int fd, lfd, tries, err;

	fd = helper_connect(timeout_ms);
	if (fd >= 0 || fd != -EAGAIN)
		return fd;
	mkdir(gw_root_dir(GW_ROOT_RUN), 0755);
	if (gw_path(lock, sizeof(lock), GW_ROOT_RUN, "gpuwork.lock"))
		return -ENAMETOOLONG;
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		return -errno;
	while (flock(lfd, LOCK_EX) && errno == EINTR)
		;
	for (tries = 0; tries < 3; tries++) {
		fd = helper_connect(timeout_ms);
		if (fd >= 0 || fd != -EAGAIN)
			break;
		err = helper_spawn();
		if (err) {
			fd = err;
			break;
		}
	}
	close(lfd);	/* drops the lock */
	return fd;
}

static int send_request(int fd, uid_t caller, const char *verb, int argc, char **argv,
			bool json)
{
	int i, err;

	err = write_u32(fd, json ? 1 : 0);
	if (!err)
		err = write_u32(fd, (uint32_t)caller);
	if (!err)
		err = write_u32(fd, (uint32_t)argc + 1);
	for (i = -1; !err && i < argc; i++) {
		const char *s = i < 0 ? verb : argv[i];
		size_t len = strlen(s);

		err = write_u32(fd, (uint32_t)len);
		if (!err)
			err = egpu_write_all(fd, s, len);
	}
	return err;
}

void gw_shutdown(void)
{
	int fd = helper_connect((int)call_timeout_ms());
	char c;

	if (fd < 0)
		return;
	set_deadline(fd, call_timeout_ms());
	if (!send_request(fd, 0, GW_QUIT_VERB, 0, NULL, false))
		while (read(fd, &c, 1) > 0)	/* EOF: the helper is gone */
			;
	close(fd);
}

int gw_helper_call(uid_t caller, const char *verb, int argc, char **argv, FILE *out,
		   bool json)
{
	unsigned int deadline_ms = call_timeout_ms();
	uint32_t status, len;
	char *text;
	int fd, err;

	if (argc + 1 > GW_MAX_ARGS) {
		fprintf(out, "%s: too many arguments\n", verb);
		return GW_USAGE;
	}
	fd = helper_get((int)deadline_ms);
	if (fd < 0) {
		fprintf(out, "%s: cannot start the GPU engine helper: %s\n", verb,
			strerror(-fd));
		return GW_FAIL;
	}
	/* the helper answers in one piece once the verb is done: one long wait */
	set_deadline(fd, deadline_ms);
	err = send_request(fd, caller, verb, argc, argv, json);
	if (!err)
		err = read_u32(fd, &status);
	if (!err)
		err = read_u32(fd, &len);
	if (!err && len > GW_MAX_FRAME)
		err = -EPROTO;
	if (err) {
		close(fd);
		if (err == -ETIMEDOUT)
			fprintf(out, "%s: the GPU engine helper did not answer within %u ms; the "
				"process' state is unknown, check it with 'egpuctl workloads'\n",
				verb, deadline_ms);
		else
			fprintf(out, "%s: the GPU engine helper failed (%s); the process' state "
				"is unknown, check it with 'egpuctl workloads'\n", verb,
				strerror(-err));
		return GW_FAIL;
	}
	text = malloc(len + 1);
	if (!text || egpu_read_all(fd, text, len)) {
		free(text);
		close(fd);
		fprintf(out, "%s: reply from the GPU engine helper broke off\n", verb);
		return GW_FAIL;
	}
	close(fd);
	fwrite(text, 1, len, out);
	free(text);
	return (int)status;
}
