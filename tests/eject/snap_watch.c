// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp-snapw PCI: a program that protects itself by snapshots, as egpud
 * sees it on the wire (common/egpud_proto.h), without CUDA: it watches PCI
 * on egpud's socket and says it holds a 9.5 GB snapshot set of 3 buffers
 * whose last snapshot completed 3.2 s ago.  On LEAVING it sends its final
 * snapshot and then its ack, as libegpu's egpu_next() does.  Prints what
 * egpud sends, "watching" once it is set up and "final sent" after the ack.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#define SNAP_BYTES	9500000000ULL

static unsigned long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static int say(int fd, const char *line)
{
	size_t n = strlen(line);

	return send(fd, line, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static int say_snapshot(int fd, unsigned long long taken, int final)
{
	char line[160];

	snprintf(line, sizeof(line), "snapshot bytes=%llu buffers=3 taken-ns=%llu interval-ms=0%s\n",
		 SNAP_BYTES, taken, final ? " final=1" : "");
	return say(fd, line);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = getenv("EGPUD_SOCKET");
	char buf[4096], req[128];
	size_t len = 0;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: egpuhp-snapw PCI\n");
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path ? path : "/run/egpuhp/egpud.sock");
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		return 1;
	}
	snprintf(req, sizeof(req), "watch %s\n", argv[1]);
	if (say(fd, req) || say_snapshot(fd, mono_ns() - 3200000000ULL, 0)) {
		perror("send");
		return 1;
	}
	for (;;) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		char *nl;

		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = memchr(buf, '\n', len))) {
			*nl = '\0';
			printf("got: %s\n", buf);
			if (!strcmp(buf, "ok"))
				printf("watching\n");
			if (!strncmp(buf, "event leaving ", 14)) {
				if (say_snapshot(fd, mono_ns(), 1) || say(fd, "ack\n"))
					return 1;
				printf("final sent\n");
			}
			fflush(stdout);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof(buf) - 1)
			len = 0;	/* a line longer than ours: dropped */
	}
	printf("closed\n");
	return 0;
}
