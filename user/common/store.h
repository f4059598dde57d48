/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Enrollment store (default /var/lib/egpuhp):
 *   devices/<unique_id>   "key=value" lines: name, vendor-name, device-name,
 *                         generation, policy, enrolled (unix time)
 *   keys/<unique_id>      64 hex digits: the secure-level key (mode 0600)
 *   decisions/<unique_id> a de-authorization that outlives egpud (below)
 * Directories are 0700.  Every write is atomic (temp file, fsync, rename,
 * directory fsync): a reader sees the old or the new file, never a mix.
 */
#ifndef EGPU_STORE_H
#define EGPU_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"

#define EGPU_KEY_HEX_LEN	64	/* 32 bytes as hex */

struct egpu_store_dev {
	char unique_id[48];
	char name[32];			/* router name when enrolled ("0-1") */
	char vendor_name[64];
	char device_name[64];
	unsigned int generation;
	enum egpu_policy policy;
	int64_t enrolled;		/* unix time */
};

/* Atomically replace dir/name with data (mode for a new file). */
int egpu_atomic_write(const char *dir, const char *name, const void *data,
		      size_t len, mode_t mode);

/* Create the store's directories (0700) if needed; removes stale temp files. */
int egpu_store_init(const char *root);

/* A unique_id usable as a file name (hex digits and '-' only). */
bool egpu_store_valid_uid(const char *uid);

int egpu_store_put_dev(const char *root, const struct egpu_store_dev *d);
int egpu_store_get_dev(const char *root, const char *uid, struct egpu_store_dev *d);
/* Removes the device and its key; -ENOENT if it was not enrolled. */
int egpu_store_forget(const char *root, const char *uid);

int egpu_store_put_key(const char *root, const char *uid, const char *hexkey);
int egpu_store_get_key(const char *root, const char *uid,
		       char hexkey[EGPU_KEY_HEX_LEN + 1]);

/* Is a key file stored for uid (usable or not)? */
bool egpu_store_has_key(const char *root, const char *uid);

/*
 * A router de-authorized by a person or an eject stays so, across egpud
 * restarts, until it is unplugged: decisions/<unique_id> records which
 * plug-in (egpu_tb_plug_id()) it was made for.
 */
struct egpu_store_decision {
	char unique_id[48];
	char name[32];		/* router name at the time ("0-1") */
	char plug_id[96];
	char by[16];		/* "user", "eject", "shutdown" */
	int64_t time;		/* unix time */
};

int egpu_store_put_decision(const char *root, const struct egpu_store_decision *dec);
int egpu_store_get_decision(const char *root, const char *uid,
			    struct egpu_store_decision *dec);
/* 0, or -ENOENT if there was none. */
int egpu_store_drop_decision(const char *root, const char *uid);

/*
 * Record that router name (as it is in sysfs now) was de-authorized by by;
 * for the daemon and for an eject's worker alike.
 */
int egpu_store_note_deauthorized(const char *root, const char *name, const char *by);

/* Every enrolled device; *out malloc'ed. */
int egpu_store_list(const char *root, struct egpu_store_dev **out, size_t *n);

/* 32 random bytes as 64 lowercase hex digits (getrandom). */
int egpu_key_generate(char hexkey[EGPU_KEY_HEX_LEN + 1]);
bool egpu_key_valid(const char *hexkey);

/* Serialization, exposed for tests. */
int egpu_store_dev_format(const struct egpu_store_dev *d, char *buf, size_t len);
int egpu_store_dev_parse(const char *text, struct egpu_store_dev *d);

#endif /* EGPU_STORE_H */
