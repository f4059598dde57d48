// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/bolt_import.h"
#include "common/file_read.h"

static void field(char *dst, size_t len, const char *v, size_t vlen)
{
	if (vlen >= len)
		vlen = len - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
}

int egpu_bolt_parse_device(const char *uid, const char *text, struct egpu_store_dev *d)
{
	const char *s = text;

	memset(d, 0, sizeof(*d));
	if (!egpu_store_valid_uid(uid))
		return -EINVAL;
	snprintf(d->unique_id, sizeof(d->unique_id), "%s", uid);
	d->policy = EGPU_POLICY_AUTO;
	d->enrolled = (int64_t)time(NULL);
	/* A GLib key file; keys are unique enough that groups can be ignored. */
	while (*s) {
		size_t n = strcspn(s, "\n");
		const char *eq = memchr(s, '=', n);

		if (eq && s[0] != '#' && s[0] != '[') {
			size_t klen = (size_t)(eq - s);
			const char *v = eq + 1;
			size_t vlen = n - klen - 1;
			char tmp[64];

#define KEY(k) (klen == sizeof(k) - 1 && !memcmp(s, k, klen))
			if (KEY("name"))
				field(d->device_name, sizeof(d->device_name), v, vlen);
			else if (KEY("vendor"))
				field(d->vendor_name, sizeof(d->vendor_name), v, vlen);
			else if (KEY("generation")) {
				field(tmp, sizeof(tmp), v, vlen);
				d->generation = (unsigned int)strtoul(tmp, NULL, 10);
			} else if (KEY("storetime")) {
				field(tmp, sizeof(tmp), v, vlen);
				d->enrolled = strtoll(tmp, NULL, 10);
			} else if (KEY("policy")) {
				field(tmp, sizeof(tmp), v, vlen);
				/* bolt's "default" means its default, which is auto */
				d->policy = !strcmp(tmp, "default") ? EGPU_POLICY_AUTO :
					    egpu_policy_from_name(tmp);
				if (d->policy == EGPU_POLICY_UNSET)
					d->policy = EGPU_POLICY_MANUAL;
			}
#undef KEY
		}
		s += n;
		if (*s)
			s++;
	}
	return 0;
}

int egpu_bolt_import(const char *bolt_dir, const char *store_root, FILE *report)
{
	char path[4096], text[4096];
	struct dirent *e;
	int count = 0, ret;
	DIR *d;

	snprintf(path, sizeof(path), "%s/devices", bolt_dir);
	d = opendir(path);
	if (!d)
		return -errno;
	ret = egpu_store_init(store_root);
	if (ret < 0) {
		closedir(d);
		return ret;
	}
	while ((e = readdir(d))) {
		struct egpu_store_dev sd, old;
		char key[EGPU_KEY_HEX_LEN + 8];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/devices/%s", bolt_dir, e->d_name);
		if (egpu_read_small_file(path, text, sizeof(text)) < 0 ||
		    egpu_bolt_parse_device(e->d_name, text, &sd) < 0) {
			fprintf(report, "skipped %s: not a bolt device entry\n", e->d_name);
			continue;
		}
		if (egpu_store_get_dev(store_root, sd.unique_id, &old) == 0) {
			/*
			 * egpud's own enrollment (a deny above all) is the
			 * newer decision: bolt's must not replace it unseen.
			 */
			fprintf(report, "kept %s: already enrolled with policy %s (egpuctl forget %s, then import again, to take bolt's policy %s)\n",
				sd.unique_id, egpu_policy_name(old.policy), sd.unique_id,
				egpu_policy_name(sd.policy));
			continue;
		}
		ret = egpu_store_put_dev(store_root, &sd);
		if (ret < 0) {
			fprintf(report, "failed %s: %s\n", sd.unique_id, strerror(-ret));
			continue;
		}
		snprintf(path, sizeof(path), "%s/keys/%s", bolt_dir, e->d_name);
		if (!egpu_store_has_key(store_root, sd.unique_id) &&
		    egpu_read_small_file(path, key, sizeof(key)) >= 0 &&
		    egpu_key_valid(key)) {
			key[EGPU_KEY_HEX_LEN] = '\0';
			ret = egpu_store_put_key(store_root, sd.unique_id, key);
			if (ret < 0)
				fprintf(report, "failed key %s: %s\n", sd.unique_id,
					strerror(-ret));
		}
		fprintf(report, "imported %s (%s %s) policy %s\n", sd.unique_id,
			sd.vendor_name, sd.device_name, egpu_policy_name(sd.policy));
		count++;
	}
	closedir(d);
	return count;
}
