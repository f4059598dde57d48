/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Thunderbolt and PCI sysfs access.  Every path is relative to a root
 * ("/sys" normally; a directory of plain files in unit tests).
 */
#ifndef EGPU_SYSFS_H
#define EGPU_SYSFS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/egpuhp_nl.h"

void egpu_sysfs_set_root(const char *root);
const char *egpu_sysfs_root(void);

/* Read a sysfs file (trailing newline stripped). 0 or -errno. */
int egpu_sysfs_read(const char *rel, char *buf, size_t len);
/* Write a value (one write() call, as sysfs wants). 0 or -errno. */
int egpu_sysfs_write(const char *rel, const char *val);

/* A non-empty string of decimal digits only (a pid, a device number). */
bool egpu_all_digits(const char *s);

/* Is this a Thunderbolt router's name ("0-1", "0-301"; not "domain0", "0-1.1")? */
bool egpu_tb_is_router_name(const char *name);

/* Fill r from /sys/bus/thunderbolt/devices/<name> and its domain. */
int egpu_tb_read_router(const char *name, struct egpuhp_router *r);

/* All routers on the bus (host routers included, depth 0); *out malloc'ed. */
int egpu_tb_list_routers(struct egpuhp_router **out, size_t *n);

/* The router whose unique_id is uid: its name into buf; -ENOENT if none. */
int egpu_tb_find_by_uid(const char *uid, char *buf, size_t len);

/*
 * What tells this plug-in of router name from any other: the boot id and
 * the inode of its sysfs directory (kernfs gives a new one to every new
 * device).  "BOOTID/INODE" into buf; 0 or -errno.
 */
int egpu_tb_plug_id(const char *name, char *buf, size_t len);

/* Write "key" (secure level) then "authorized" = value ("1" or "2"). */
int egpu_tb_authorize(const char *name, const char *hexkey, int value);
int egpu_tb_deauthorize(const char *name);

/* Is a PCI driver of this name registered (bus/pci/drivers/NAME)? */
bool egpu_pci_driver_registered(const char *driver);

/* PCI: the bound driver's name into buf ("" if none). */
int egpu_pci_driver(const char *pci, char *buf, size_t len);

/*
 * Make driver (e.g. "vfio-pci") drive pci: driver_override, unbind from the
 * current driver if it is another one, then drivers_probe.
 */
int egpu_pci_set_driver(const char *pci, const char *driver);

/* Names of functions of the same slot (bus:dev) as pci, pci included. */
int egpu_pci_slot_functions(const char *pci, char names[][EGPUHP_PCI_NAME_LEN],
			    size_t max);

#endif /* EGPU_SYSFS_H */
