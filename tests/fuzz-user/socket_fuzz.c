// SPDX-License-Identifier: GPL-2.0
/*
 * A fuzzer for egpud's control socket: egpud itself (built with ASan +
 * UBSan, build/asan/egpud) runs against a fake sysfs tree with a fake
 * Thunderbolt router, and client processes -- half of them root, half
 * uid 65534 -- send it request lines: valid ones with random arguments,
 * mutations of them, random bytes, lines far longer than the limit,
 * requests written in pieces, connections closed in the middle of a
 * request or before the reply, watchers, and idle connections held open.
 * Watchers send what libegpu sends on a watch connection (acks, snapshot
 * and snapshot-off lines), valid, mutated, as random bytes and far too
 * long, in pieces, and disappear (egpud/snapshots.c must drop what is
 * malformed without blocking or ending anything).
 * The unprivileged clients are alternately members of egpud's socket-group
 * and not.  Every request must get a whole reply or a close (never a hang
 * past the client's deadline); afterwards egpud must still be alive and
 * serve root (ping, status), a socket-group member must be refused the
 * checkpoint of root's process (kill(2) ownership, enforced by the gpuwork
 * worker with the peer's uid), and egpud must exit cleanly on SIGTERM with
 * no leak report.
 *
 * Usage: socket_fuzz EGPUD [REQUESTS [CLIENTS [SEED]]]   (TAP on stdout)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <grp.h>

#define REPLY_DEADLINE_MS	20000	/* a hang, not a slow machine */
#define MAX_HELD		3	/* idle connections a client keeps open */
#define UNPRIVILEGED		65534
#define SOCKET_GROUP		65534	/* "nogroup": the configured socket-group */
#define OTHER_GROUP		65533	/* a group that is not */

static char root[64], sock_path[96];
static int tap_n, tap_failed;

static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		tap_failed++;
}

/* --- the fake system ---------------------------------------------------- */

static void put(const char *rel, const char *val)
{
	char path[512], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fprintf(f, "%s\n", val);
	fclose(f);
}

static void fake_system(void)
{
	static const char *const r[][2] = {
		{ "unique_id", "c6030000-0060-6c0e-0395-c2d1e1b8f8d1" },
		{ "vendor_name", "Razer" }, { "device_name", "Core X" },
		{ "authorized", "0" }, { "key", "" }, { "generation", "3" },
	};
	char rel[256], conf[1024];
	size_t i;

	put("sys/bus/thunderbolt/devices/domain0/security", "user");
	put("sys/bus/thunderbolt/devices/domain0/iommu_dma_protection", "1");
	put("sys/bus/thunderbolt/devices/0-0/unique_id", "host");
	put("sys/bus/thunderbolt/devices/0-0/authorized", "1");
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		snprintf(rel, sizeof(rel), "sys/bus/thunderbolt/devices/0-1/%s", r[i][0]);
		put(rel, r[i][1]);
	}
	put("sys/bus/pci/devices/0000:05:00.0/class", "0x030000");
	put("bolt/devices/884c6edd-7118-4b21-b186-b02d396ecca0",
	    "[device]\nname=Core X\nvendor=Razer\n[user]\npolicy=auto");
	snprintf(sock_path, sizeof(sock_path), "%s/run/egpud.sock", root);
	snprintf(conf, sizeof(conf),
		 "[daemon]\nsocket = %s\nstore = %s/store\nsysfs = %s/sys\nload-module = no\n"
		 "socket-group = nogroup\n"
		 "eject-grace-ms = 10\n[authorization]\npolicy = manual\nowner = egpud\n"
		 "[hooks]\ndir = %s/hooks.d\n", sock_path, root, root, root);
	put("egpud.conf", conf);
	put("run/.keep", "");
}

/* --- requests ------------------------------------------------------------- */

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}

static const char *const verbs[] = {
	"ping", "status", "policy", "authorize", "deauthorize", "enroll", "forget",
	"import-bolt", "watch", "eject", "reload", "resync", "workloads", "gpus",
	"checkpoint", "restore", "migrate", "evacuate", "info", "list", "bogus",
};

static const char *const words[] = {
	"0-1", "0-0", "0-3", "--all", "c6030000-0060-6c0e-0395-c2d1e1b8f8d1", "--policy",
	"auto", "deny", "manual", "iommu", "--json", "0000:05:00.0", "0000:05:00.1",
	"--to", "GPU-00000001-0000-0000-0000-000000000000", "--timeout", "1", "0",
	"4294967296", "-1", "--force", "--router", "all", "/nonexistent", "%20", "%",
	"%zz", "%00", "\x7f", "\xff\xfe", "1", "99999999", "--direct",
};

/* A request line of kind k into buf (no newline); its length. */
static size_t make_line(char *buf, size_t cap, int k, bool root_client)
{
	size_t n = 0, i;
	int w;

	switch (k) {
	case 0:	/* valid-looking: a verb and a few words */
		if (rnd(4) == 0)
			n += (size_t)snprintf(buf + n, cap - n, "--json ");
		n += (size_t)snprintf(buf + n, cap - n, "%s", verbs[rnd(sizeof(verbs) /
								     sizeof(verbs[0]))]);
		for (w = (int)rnd(4); w > 0 && n < cap - 80; w--)
			n += (size_t)snprintf(buf + n, cap - n, " %s",
					      words[rnd(sizeof(words) / sizeof(words[0]))]);
		if (!strncmp(buf, "import-bolt", 11) || !strncmp(buf, "--json import-bolt", 18))
			n = (size_t)snprintf(buf, cap, "import-bolt %s/bolt", root);
		/* keep root's "reload" rare: each one re-reads the config */
		if (root_client && strstr(buf, "reload") && rnd(8))
			n = (size_t)snprintf(buf, cap, "ping");
		return n;
	case 1:	/* a valid one, mutated */
		n = make_line(buf, cap, 0, root_client);
		for (w = (int)rnd(4) + 1; w > 0; w--) {
			i = n ? rnd((uint32_t)n) : 0;
			switch (rnd(3)) {
			case 0: buf[i] = (char)rnd(256); break;
			case 1:
				if (n) {
					memmove(buf + i, buf + i + 1, n - i - 1);
					n--;
				}
				break;
			default:
				if (n + 1 < cap) {
					memmove(buf + i + 1, buf + i, n - i);
					buf[i] = (char)rnd(256);
					n++;
				}
			}
		}
		return n;
	case 2:	/* random bytes */
		n = rnd(200);
		for (i = 0; i < n; i++)
			buf[i] = (char)rnd(256);
		return n;
	default:	/* too long: past EGPUD_PROTO_MAX_LINE (4096) */
		n = 4000 + rnd((uint32_t)(cap - 4000));
		memset(buf, 'a' + (int)rnd(26), n);
		return n;
	}
}

static int connect_egpud(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);	/* sock_path[96] fits */
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Lines of a libegpu watcher (common/egpud_proto.h), some of them broken. */
static void watcher_talks(int fd)
{
	static char line[1200];
	int n, i, lines = (int)rnd(6);

	while (lines-- > 0) {
		switch (rnd(6)) {
		case 0:
			n = snprintf(line, sizeof(line), "ack\n");
			break;
		case 1:
			n = snprintf(line, sizeof(line), "snapshot-off\n");
			break;
		case 2:	/* random bytes, maybe with newlines */
			n = (int)rnd(300);
			for (i = 0; i < n; i++)
				line[i] = (char)rnd(256);
			break;
		case 3:	/* longer than EGPUD_WATCH_LINE_MAX */
			n = 257 + (int)rnd(900);
			memset(line, 'b', (size_t)n);
			line[n - 1] = rnd(2) ? '\n' : 'b';
			break;
		default:
			n = snprintf(line, sizeof(line), "snapshot bytes=%u%u buffers=%u "
				     "taken-ns=%u interval-ms=%u%s\n", rnd(100000), rnd(100000),
				     rnd(64), rnd(1u << 31), rnd(5000), rnd(3) ? "" : " final=1");
			if (rnd(4) == 0)	/* a byte changed */
				line[rnd((uint32_t)n)] = (char)rnd(256);
		}
		if (rnd(2)) {
			for (i = 0; i < n; i += 3)
				if (!send_all(fd, line + i, (size_t)(n - i < 3 ? n - i : 3)))
					return;
		} else if (!send_all(fd, line, (size_t)n)) {
			return;
		}
	}
}

/*
 * Read until the reply's status line or EOF.  1: a reply or a close,
 * 0: the deadline passed (egpud stuck).  *status gets the status or -1.
 */
static int read_reply(int fd, int *status, char *first, size_t flen)
{
	char buf[4096];
	bool nul = false;
	size_t got = 0;
	int st = -1;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r, i;

		if (poll(&p, 1, REPLY_DEADLINE_MS) == 0)
			return 0;
		r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		/* "watch" answers "ok" and then streams events: accepted */
		if (!nul && !got && r == 3 && !memcmp(buf, "ok\n", 3)) {
			st = 0;
			goto done;
		}
		for (i = 0; i < r; i++) {
			if (first && got + 1 < flen)
				first[got] = buf[i];
			got++;
			if (nul && buf[i] == '\n')
				goto done;
			if (nul && st < 0)
				st = 0;
			if (nul && buf[i] >= '0' && buf[i] <= '9')
				st = st * 10 + (buf[i] - '0');
			if (!buf[i])
				nul = true;
		}
	}
done:
	if (first)
		first[got + 1 < flen ? got : flen - 1] = '\0';
	*status = st;
	return 1;
}

/* One client: count requests, return 0 or the number of stuck replies. */
static int client(int id, long requests, uint64_t seed)
{
	static char line[12000];
	int held[MAX_HELD], nheld = 0, stuck = 0, refused = 0, i;
	bool is_root = id % 2 == 0;
	long r;

	if (!is_root && (setgroups(0, NULL) ||
			 setgid(id % 4 == 1 ? SOCKET_GROUP : OTHER_GROUP) || setuid(UNPRIVILEGED)))
		return 100;
	rng = seed * 2654435761u + (uint64_t)id + 1;
	for (r = 0; r < requests; r++) {
		int kind = (int)rnd(100), fd, st;
		size_t n;

		kind = kind < 55 ? 0 : kind < 80 ? 1 : kind < 95 ? 2 : 3;
		n = make_line(line, sizeof(line) - 1, kind, is_root);
		fd = connect_egpud();
		if (fd < 0) {
			/* the backlog is full: try again; egpud gone: stop */
			if (++refused == 5000)
				return 101;
			usleep(1000);
			r--;
			continue;
		}
		refused = 0;
		switch (rnd(20)) {
		case 0:	/* abrupt close in the middle of the request */
			send_all(fd, line, n / 2);
			close(fd);
			continue;
		case 1:	/* held open, idle, for later */
			if (nheld == MAX_HELD)
				close(held[--nheld]);
			held[nheld++] = fd;
			continue;
		case 2:	/* in pieces of 1..7 bytes */
			for (i = 0; (size_t)i < n;) {
				size_t k = 1 + rnd(7);

				if (k > n - (size_t)i)
					k = n - (size_t)i;
				if (!send_all(fd, line + i, k))
					break;
				i += (int)k;
			}
			send_all(fd, "\n", 1);
			break;
		default:
			line[n] = '\n';
			send_all(fd, line, n + 1);
		}
		if (rnd(25) == 0) {	/* gone before the reply */
			close(fd);
			continue;
		}
		if (!read_reply(fd, &st, NULL, 0)) {
			line[n < 120 ? n : 120] = '\0';
			fprintf(stderr, "# no reply from egpud within %d ms to: %s\n",
				REPLY_DEADLINE_MS, line);
			stuck++;
		} else if (st == 0 && (!strncmp(line, "watch", 5) ||
				       !strncmp(line, "--json watch", 12))) {
			watcher_talks(fd);
		}
		close(fd);
	}
	while (nheld)
		close(held[--nheld]);
	return stuck > 99 ? 99 : stuck;
}

/* Root asks verb; true if the reply starts with want and the status is 0. */
static bool root_asks(const char *req, const char *want)
{
	char first[256];
	int fd = connect_egpud(), st = -1;

	if (fd < 0)
		return false;
	if (!send_all(fd, req, strlen(req)) || !read_reply(fd, &st, first, sizeof(first))) {
		close(fd);
		return false;
	}
	close(fd);
	return st == 0 && !strncmp(first, want, strlen(want));
}

/* A socket-group member (uid 65534) asks req; true if the reply contains want. */
static bool member_asks(const char *req, const char *want, int want_status)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		char first[1024];
		int fd, st = -1;

		if (setgroups(0, NULL) || setgid(SOCKET_GROUP) || setuid(UNPRIVILEGED))
			_exit(3);
		fd = connect_egpud();
		if (fd < 0 || !send_all(fd, req, strlen(req)) ||
		    !read_reply(fd, &st, first, sizeof(first)))
			_exit(4);
		if (st != want_status || !strstr(first, want)) {
			printf("# %s -> status %d: %s\n", req, st, first);
			fflush(stdout);
			_exit(5);
		}
		_exit(0);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
	long requests = argc > 2 ? atol(argv[2]) : 100000;
	int clients = argc > 3 ? atoi(argv[3]) : 8, i, status, stuck = 0, bad = 0;
	uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 0) : 4242;
	char conf[128], log[128], cmd[256];
	pid_t egpud, pid;

	if (argc < 2) {
		fprintf(stderr, "usage: %s EGPUD [REQUESTS [CLIENTS [SEED]]]\n", argv[0]);
		return 2;
	}
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (clients as root and as uid %d)\n", UNPRIVILEGED);
		return 0;
	}
	snprintf(root, sizeof(root), "/tmp/egpud-fuzz-XXXXXX");
	if (!mkdtemp(root) || chmod(root, 0755))
		return 2;
	fake_system();
	snprintf(conf, sizeof(conf), "%s/egpud.conf", root);
	snprintf(log, sizeof(log), "%s/egpud.log", root);
	signal(SIGPIPE, SIG_IGN);
	egpud = fork();
	if (egpud == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 2);
		dup2(fd, 1);
		setenv("EGPUHP_RUN_DIR", root, 1);
		setenv("EGPUHP_GW_INPROCESS", "0", 1);
		setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23", 1);
		setenv("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1", 1);
		execl(argv[1], argv[1], "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200 && !root_asks("ping\n", "pong"); i++)
		usleep(50000);
	tap(i < 200, "egpud (ASan + UBSan) serves its socket on a fake sysfs tree");
	if (i == 200)
		goto out;

	for (i = 0; i < clients; i++) {
		pid = fork();
		if (pid == 0)
			_exit(client(i, requests / clients, seed));
	}
	for (i = 0; i < clients; i++) {
		if (wait(&status) == egpud) {
			i--;
			bad = 1;
			break;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) >= 100)
			bad = 1;
		else
			stuck += WEXITSTATUS(status);
	}
	tap(!bad && waitpid(egpud, &status, WNOHANG) == 0,
	    "%ld requests from %d clients (root and uid %d): egpud still running",
	    requests, clients, UNPRIVILEGED);
	tap(stuck == 0, "every request got a reply or a close before the deadline (%d did not)",
	    stuck);
	tap(root_asks("ping\n", "pong") && root_asks("--json status\n", "{"),
	    "root still served afterwards (ping, --json status)");
	tap(member_asks("checkpoint 1\n", "process 1 belongs to uid 0", 1),
	    "a socket-group member may not checkpoint root's process (pid 1)");
out:
	kill(egpud, SIGTERM);
	status = 0;
	for (i = 0; i < 300 && waitpid(egpud, &status, WNOHANG) == 0; i++)
		usleep(100000);
	if (i == 300) {
		kill(egpud, SIGKILL);
		waitpid(egpud, &status, 0);
	}
	tap(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "egpud exits cleanly on SIGTERM: no sanitizer or leak report (status 0x%x)", status);
	if (tap_failed) {
		snprintf(cmd, sizeof(cmd), "grep -B2 -A30 -m1 'ERROR\\|runtime error\\|LeakSanitizer' "
			 "%s | sed 's/^/# /'", log);
		if (system(cmd) != 0)
			printf("# (nothing from the sanitizers in %s)\n", log);
	}
	printf("1..%d\n", tap_n);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (!tap_failed && system(cmd) != 0)
		return 1;
	return tap_failed ? 1 : 0;
}
