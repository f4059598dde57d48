/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Just enough of the D-Bus wire protocol (no library) to ask the system
 * bus about a well-known name: is org.freedesktop.bolt owned, that is, is
 * boltd running?  A process name proves nothing (any user can call a
 * process "boltd"); owning the bus name needs the bus policy's permission.
 */
#ifndef EGPU_DBUS_NAME_H
#define EGPU_DBUS_NAME_H

#include <stdint.h>

#define EGPU_DBUS_SYSTEM_BUS	"/run/dbus/system_bus_socket"
#define EGPU_BOLT_BUS_NAME	"org.freedesktop.bolt"

/*
 * Connect to the bus at path (NULL: $DBUS_SYSTEM_BUS_ADDRESS if it is a
 * "unix:path=", else the system bus), authenticate (EXTERNAL) and say
 * Hello.  Each read waits at most timeout_ms.  fd or -errno.
 */
int egpu_dbus_open(const char *path, int timeout_ms);

/*
 * Call member of org.freedesktop.DBus with an optional string and an
 * optional uint32 argument (in that order), and read its uint32/boolean
 * reply into *reply.  0, -EREMOTEIO for a D-Bus error reply, or -errno.
 */
int egpu_dbus_call_bus(int fd, const char *member, const char *str_arg,
		       const uint32_t *u32_arg, uint32_t *reply);

/* Does name have an owner on that bus?  1, 0, or -errno (no bus). */
int egpu_dbus_name_has_owner(const char *path, const char *name, int timeout_ms);

#endif /* EGPU_DBUS_NAME_H */
