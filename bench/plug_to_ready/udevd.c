// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp-bench-udevd PROGRAM: the part of systemd-udevd the legacy stack
 * uses (99-egpu.rules), for the dock's guest, which has no udevd.  Reads
 * the kernel's uevents from NETLINK_KOBJECT_UEVENT, as udevd does, and for
 * each one matching the rule (ACTION=add, SUBSYSTEM=thunderbolt,
 * DEVTYPE=thunderbolt_device) forks PROGRAM with the event's properties as
 * its environment, as udevd's RUN+= does.  One rule, no database: never
 * slower than udevd.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>

static const char *prop(const char *buf, size_t len, const char *key)
{
	size_t k = strlen(key), i = 0;

	while (i < len) {
		const char *s = buf + i;

		if (!strncmp(s, key, k) && s[k] == '=')
			return s + k + 1;
		i += strlen(s) + 1;
	}
	return "";
}

int main(int argc, char **argv)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	struct sigaction sc = { .sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT };
	int fd, size = 1 << 20;
	char buf[8192];

	if (argc != 2)
		return 2;
	sigaction(SIGCHLD, &sc, NULL);
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("uevent socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		size_t i;

		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strcmp(prop(buf, n, "ACTION"), "add") ||
		    strcmp(prop(buf, n, "SUBSYSTEM"), "thunderbolt") ||
		    strcmp(prop(buf, n, "DEVTYPE"), "thunderbolt_device"))
			continue;
		if (fork() == 0) {
			clearenv();
			setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
			for (i = strlen(buf) + 1; i < (size_t)n; i += strlen(buf + i) + 1)
				if (strchr(buf + i, '='))
					putenv(buf + i);
			execl(argv[1], argv[1], (char *)NULL);
			_exit(127);
		}
	}
}
