/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel uevents (NETLINK_KOBJECT_UEVENT) for the thunderbolt subsystem:
 * authorization changes reach userspace only this way (KOBJ_CHANGE).
 */
#ifndef EGPU_UEVENT_H
#define EGPU_UEVENT_H

#include <stddef.h>
#include <sys/types.h>

struct egpu_uevent {
	char action[16];	/* add, change, remove, ... */
	char subsystem[32];
	char devtype[48];
	char name[64];		/* last component of DEVPATH ("0-1") */
	int authorized;		/* AUTHORIZED=, -1 if absent */
};

/* Socket bound to the kernel's uevent group, non-blocking; fd or -errno. */
int egpu_uevent_open(int rcvbuf);

/*
 * Next datagram that the kernel sent (see egpu_nl_recv_kernel: forged
 * unicasts from local processes are dropped); length or -errno (-EAGAIN).
 */
ssize_t egpu_uevent_recv(int fd, char *buf, size_t len);

/* Parse one datagram; 0, or -EINVAL if it is not a kernel uevent. */
int egpu_uevent_parse(const char *buf, size_t len, struct egpu_uevent *ev);

#endif /* EGPU_UEVENT_H */
