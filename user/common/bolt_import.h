/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Import devices enrolled with bolt (its store: devices/<uid> key files
 * and keys/<uid> with the secure-level key) into egpuhp's store.
 */
#ifndef EGPU_BOLT_IMPORT_H
#define EGPU_BOLT_IMPORT_H

#include <stdio.h>

#include "common/store.h"

#define EGPU_BOLT_DEFAULT_DIR	"/var/lib/boltd"

/* Parse one bolt device file's text into d (uid given by the file name). */
int egpu_bolt_parse_device(const char *uid, const char *text, struct egpu_store_dev *d);

/*
 * Import every device of bolt_dir into store_root; one line per device to
 * report.  Returns the number imported, or -errno if bolt_dir is unreadable.
 */
int egpu_bolt_import(const char *bolt_dir, const char *store_root, FILE *report);

#endif /* EGPU_BOLT_IMPORT_H */
