// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>

#include "common/egpuhp_nl.h"
#include "common/uevent.h"

int egpu_uevent_open(int rcvbuf)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = 1,	/* kernel uevents, not udev's re-broadcast */
	};
	int fd;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    NETLINK_KOBJECT_UEVENT);
	if (fd < 0)
		return -errno;
	egpu_nl_sock_set_rcvbuf(fd, rcvbuf);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

ssize_t egpu_uevent_recv(int fd, char *buf, size_t len)
{
	return egpu_nl_recv_kernel(fd, buf, len, NULL);
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

int egpu_uevent_parse(const char *buf, size_t len, struct egpu_uevent *ev)
{
	const char *p = buf, *end = buf + len;
	const char *at;

	memset(ev, 0, sizeof(*ev));
	ev->authorized = -1;
	/* Header "action@devpath"; udev's own messages start with "libudev". */
	at = memchr(buf, '@', strnlen(buf, len));
	if (!at || !memcmp(buf, "libudev", len < 7 ? len : 7))
		return -EINVAL;
	while (p < end) {
		size_t n = strnlen(p, (size_t)(end - p));

		if (n == (size_t)(end - p))
			break;	/* unterminated */
		if (!strncmp(p, "ACTION=", 7))
			copy(ev->action, sizeof(ev->action), p + 7);
		else if (!strncmp(p, "SUBSYSTEM=", 10))
			copy(ev->subsystem, sizeof(ev->subsystem), p + 10);
		else if (!strncmp(p, "DEVTYPE=", 8))
			copy(ev->devtype, sizeof(ev->devtype), p + 8);
		else if (!strncmp(p, "AUTHORIZED=", 11))
			ev->authorized = atoi(p + 11);
		else if (!strncmp(p, "DEVPATH=", 8)) {
			const char *slash = strrchr(p + 8, '/');

			copy(ev->name, sizeof(ev->name), slash ? slash + 1 : p + 8);
		}
		p += n + 1;
	}
	return ev->action[0] && ev->subsystem[0] ? 0 : -EINVAL;
}
