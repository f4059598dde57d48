// SPDX-License-Identifier: GPL-2.0
/*
 * Netlink input comes from the kernel only: a local process may unicast
 * anything to egpud's uevent or generic netlink port, and such a message
 * must be dropped, however well-formed it is.  A uevent that the kernel
 * itself sends (written to a device's "uevent" file, when we may) still
 * gets through.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <cmocka.h>

#include "common/egpuhp_nl.h"
#include "common/uevent.h"

static unsigned int port_of(int fd)
{
	struct sockaddr_nl sa;
	socklen_t len = sizeof(sa);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	return sa.nl_pid;
}

static void send_to_port(int proto, unsigned int port, const void *msg, size_t len)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_pid = port };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);

	assert_true(fd >= 0);
	assert_int_equal(sendto(fd, msg, len, 0, (struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)len);
	close(fd);
}

static const char forged_uevent[] =
	"add@/devices/pci0000:00/0000:00:07.0/domain0/0-0/0-1\0"
	"ACTION=add\0"
	"DEVPATH=/devices/pci0000:00/0000:00:07.0/domain0/0-0/0-1\0"
	"SUBSYSTEM=thunderbolt\0"
	"DEVTYPE=thunderbolt_device\0"
	"AUTHORIZED=0\0";

static void test_forged_uevent_dropped(void **state)
{
	struct egpu_uevent ue;
	unsigned long dropped = 0;
	char buf[8192];
	int fd = egpu_uevent_open(0);

	assert_true(fd >= 0);
	/* well-formed: the parser alone would take it */
	assert_int_equal(egpu_uevent_parse(forged_uevent, sizeof(forged_uevent), &ue), 0);
	assert_string_equal(ue.name, "0-1");
	send_to_port(NETLINK_KOBJECT_UEVENT, port_of(fd), forged_uevent,
		     sizeof(forged_uevent));
	assert_int_equal(egpu_nl_recv_kernel(fd, buf, sizeof(buf), &dropped), -EAGAIN);
	assert_int_equal(dropped, 1);
	send_to_port(NETLINK_KOBJECT_UEVENT, port_of(fd), forged_uevent,
		     sizeof(forged_uevent));
	assert_int_equal(egpu_uevent_recv(fd, buf, sizeof(buf)), -EAGAIN);
	close(fd);
}

/* The kernel's own uevent passes (needs root and a writable /sys). */
static void test_kernel_uevent_passes(void **state)
{
	const char *trigger = "/sys/devices/virtual/mem/null/uevent";
	struct pollfd pfd;
	char buf[8192];
	bool seen = false;
	int fd = egpu_uevent_open(0), tfd;

	assert_true(fd >= 0);
	tfd = open(trigger, O_WRONLY | O_CLOEXEC);
	if (tfd < 0 || write(tfd, "change", 6) != 6) {
		if (tfd >= 0)
			close(tfd);
		close(fd);
		skip();
	}
	close(tfd);
	pfd.fd = fd;
	pfd.events = POLLIN;
	/* a deadline for a hung kernel, not a time being measured */
	while (!seen && poll(&pfd, 1, 30000) == 1) {
		struct egpu_uevent ue;
		ssize_t n;

		while ((n = egpu_uevent_recv(fd, buf, sizeof(buf))) > 0)
			if (egpu_uevent_parse(buf, (size_t)n, &ue) == 0 &&
			    !strcmp(ue.name, "null") && !strcmp(ue.action, "change"))
				seen = true;
	}
	assert_true(seen);
	close(fd);
}

static int events_seen;

static void count_event(const struct egpuhp_nl_event *ev, void *arg)
{
	events_seen++;
}

/* A complete EGPUHP_CMD_EVENT message for family id fam. */
static size_t build_event(char *buf, size_t len, unsigned short fam)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct genlmsghdr *gh;
	struct nlattr *a;
	size_t total = NLMSG_LENGTH(GENL_HDRLEN) + NLA_HDRLEN + 4;

	assert_true(total <= len);
	memset(buf, 0, total);
	nlh->nlmsg_len = (unsigned int)total;
	nlh->nlmsg_type = fam;
	gh = NLMSG_DATA(nlh);
	gh->cmd = EGPUHP_CMD_EVENT;
	gh->version = 1;
	a = (struct nlattr *)((char *)gh + GENL_HDRLEN);
	a->nla_len = NLA_HDRLEN + 4;
	a->nla_type = EGPUHP_A_EVENT;
	*(unsigned int *)((char *)a + NLA_HDRLEN) = EGPUHP_EV_ROUTER_REMOVE;
	return total;
}

static void test_forged_genl_event_dropped(void **state)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char msg[256] __attribute__((aligned(8)));
	size_t len = build_event(msg, sizeof(msg), 0x7f00);
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_GENERIC);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	events_seen = 0;
	send_to_port(NETLINK_GENERIC, port_of(fd), msg, len);
	/* a header without its genl header, too */
	((struct nlmsghdr *)msg)->nlmsg_len = NLMSG_HDRLEN;
	send_to_port(NETLINK_GENERIC, port_of(fd), msg, NLMSG_HDRLEN);
	assert_int_equal(egpuhp_nl_read_events_fd(fd, 0x7f00, count_event, NULL), 0);
	assert_int_equal(events_seen, 0);
	close(fd);
}

static void test_rcvbuf_force(void **state)
{
	int fd = egpu_uevent_open(0), val = 0;
	socklen_t len = sizeof(val);

	assert_true(fd >= 0);
	/* far above net.core.rmem_max's default: only SO_RCVBUFFORCE gets it */
	assert_int_equal(egpu_nl_sock_set_rcvbuf(fd, 32 << 20), 0);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &val, &len), 0);
	if (geteuid() == 0)
		assert_true(val >= 32 << 20);	/* the kernel doubles it */
	else
		assert_true(val > 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forged_uevent_dropped),
		cmocka_unit_test(test_kernel_uevent_passes),
		cmocka_unit_test(test_forged_genl_event_dropped),
		cmocka_unit_test(test_rcvbuf_force),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
