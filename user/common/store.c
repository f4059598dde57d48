// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "common/dir_list.h"
#include "common/file_read.h"
#include "common/fd_io.h"
#include "common/store.h"
#include "common/sysfs.h"

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int egpu_atomic_write(const char *dir, const char *name, const void *data,
		      size_t len, mode_t mode)
{
	char tmp[4096], dst[4096];
	int fd, ret = 0;

	if ((size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= sizeof(dst) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%ld", dir, name,
			     (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);	/* a leftover of a writer with our pid that was killed */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* The umask must not widen or narrow what we asked for (keys: 0600). */
	if (fchmod(fd, mode) < 0)
		ret = -errno;
	if (!ret)
		ret = egpu_write_all(fd, data, len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, dst) < 0)
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return ret;
	}
	return fsync_dir(dir);
}

static int mkdir_0700(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((st.st_mode & 0777) != 0700 && chmod(path, 0700) < 0)
		return -errno;
	return 0;
}

static void remove_stale_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[4096];

		if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp.") &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
			unlink(path);
	}
	closedir(d);
}

static int subdir(const char *root, const char *sub, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s", root, sub) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int egpu_store_init(const char *root)
{
	char path[4096];
	int ret;

	ret = mkdir_0700(root);
	if (ret)
		return ret;
	if (subdir(root, "devices", path, sizeof(path)) || (ret = mkdir_0700(path)))
		return ret ? ret : -ENAMETOOLONG;
	remove_stale_tmp(path);
	if (subdir(root, "keys", path, sizeof(path)) || (ret = mkdir_0700(path)))
		return ret ? ret : -ENAMETOOLONG;
	remove_stale_tmp(path);
	if (subdir(root, "decisions", path, sizeof(path)) || (ret = mkdir_0700(path)))
		return ret ? ret : -ENAMETOOLONG;
	remove_stale_tmp(path);
	return 0;
}

bool egpu_store_valid_uid(const char *uid)
{
	size_t n = 0;

	for (; uid[n]; n++)
		if (!isxdigit((unsigned char)uid[n]) && uid[n] != '-')
			return false;
	return n > 0 && n < 48;
}

/*
 * Values are one line each: DROM names are bytes a device chooses, and a
 * newline in one must not start a line of its own ("policy=auto").  Control
 * bytes and '\\' are written as \\xHH; '=' needs nothing (a line is split
 * at its first '=', which ends the key).
 */
static void escape_value(char *dst, size_t len, const char *v)
{
	size_t o = 0;

	for (; *v && o + 5 <= len; v++) {
		unsigned char ch = (unsigned char)*v;

		if (ch < 0x20 || ch == 0x7f || ch == '\\')
			o += (size_t)snprintf(dst + o, len - o, "\\x%02x", ch);
		else
			dst[o++] = (char)ch;
	}
	dst[o < len ? o : len - 1] = '\0';
}

int egpu_store_dev_format(const struct egpu_store_dev *d, char *buf, size_t len)
{
	char name[4 * sizeof(d->name)], vendor[4 * sizeof(d->vendor_name)],
	     device[4 * sizeof(d->device_name)];
	int n;

	escape_value(name, sizeof(name), d->name);
	escape_value(vendor, sizeof(vendor), d->vendor_name);
	escape_value(device, sizeof(device), d->device_name);
	n = snprintf(buf, len,
		     "unique-id=%s\nname=%s\nvendor-name=%s\ndevice-name=%s\n"
		     "generation=%u\npolicy=%s\nenrolled=%" PRId64 "\n",
		     d->unique_id, name, vendor, device,
		     d->generation, egpu_policy_name(d->policy), d->enrolled);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

static int hexval(char c)
{
	return isdigit((unsigned char)c) ? c - '0' :
	       isxdigit((unsigned char)c) ? (tolower((unsigned char)c) - 'a' + 10) : -1;
}

/* Copy a value, undoing escape_value(); a bad escape is kept as text. */
static void copy_field(char *dst, size_t len, const char *v, size_t vlen)
{
	size_t i = 0, o = 0;

	while (i < vlen && o + 1 < len) {
		if (v[i] == '\\' && i + 4 <= vlen && v[i + 1] == 'x' &&
		    hexval(v[i + 2]) >= 0 && hexval(v[i + 3]) >= 0) {
			dst[o++] = (char)(hexval(v[i + 2]) * 16 + hexval(v[i + 3]));
			i += 4;
		} else {
			dst[o++] = v[i++];
		}
	}
	dst[o] = '\0';
}

/* Call fn for each "key=value" line of text. */
static void each_kv(const char *text,
		    void (*fn)(const char *k, size_t klen, const char *v, size_t vlen, void *arg),
		    void *arg)
{
	const char *s = text;

	while (*s) {
		size_t n = strcspn(s, "\n");
		const char *eq = memchr(s, '=', n);

		if (eq)
			fn(s, (size_t)(eq - s), eq + 1, n - (size_t)(eq - s) - 1, arg);
		s += n;
		if (*s)
			s++;
	}
}

#define KEY(k) (klen == sizeof(k) - 1 && !memcmp(key, k, klen))

static void dev_kv(const char *key, size_t klen, const char *v, size_t vlen, void *arg)
{
	struct egpu_store_dev *d = arg;
	char tmp[64];

	if (KEY("unique-id"))
		copy_field(d->unique_id, sizeof(d->unique_id), v, vlen);
	else if (KEY("name"))
		copy_field(d->name, sizeof(d->name), v, vlen);
	else if (KEY("vendor-name"))
		copy_field(d->vendor_name, sizeof(d->vendor_name), v, vlen);
	else if (KEY("device-name"))
		copy_field(d->device_name, sizeof(d->device_name), v, vlen);
	else if (KEY("generation")) {
		copy_field(tmp, sizeof(tmp), v, vlen);
		d->generation = (unsigned int)strtoul(tmp, NULL, 10);
	} else if (KEY("policy")) {
		copy_field(tmp, sizeof(tmp), v, vlen);
		d->policy = egpu_policy_from_name(tmp);
	} else if (KEY("enrolled")) {
		copy_field(tmp, sizeof(tmp), v, vlen);
		d->enrolled = strtoll(tmp, NULL, 10);
	}
}

static void decision_kv(const char *key, size_t klen, const char *v, size_t vlen, void *arg)
{
	struct egpu_store_decision *dec = arg;
	char tmp[64];

	if (KEY("unique-id"))
		copy_field(dec->unique_id, sizeof(dec->unique_id), v, vlen);
	else if (KEY("name"))
		copy_field(dec->name, sizeof(dec->name), v, vlen);
	else if (KEY("plug"))
		copy_field(dec->plug_id, sizeof(dec->plug_id), v, vlen);
	else if (KEY("by"))
		copy_field(dec->by, sizeof(dec->by), v, vlen);
	else if (KEY("time")) {
		copy_field(tmp, sizeof(tmp), v, vlen);
		dec->time = strtoll(tmp, NULL, 10);
	}
}

#undef KEY

int egpu_store_dev_parse(const char *text, struct egpu_store_dev *d)
{
	memset(d, 0, sizeof(*d));
	each_kv(text, dev_kv, d);
	return d->unique_id[0] ? 0 : -EINVAL;
}

int egpu_store_put_dev(const char *root, const struct egpu_store_dev *d)
{
	char dir[4096], text[1024];
	int n;

	if (!egpu_store_valid_uid(d->unique_id))
		return -EINVAL;
	if (subdir(root, "devices", dir, sizeof(dir)))
		return -ENAMETOOLONG;
	n = egpu_store_dev_format(d, text, sizeof(text));
	if (n < 0)
		return n;
	return egpu_atomic_write(dir, d->unique_id, text, (size_t)n, 0600);
}

int egpu_store_get_dev(const char *root, const char *uid, struct egpu_store_dev *d)
{
	char path[4096], text[1024];
	int ret;

	if (!egpu_store_valid_uid(uid))
		return -EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "%s/devices/%s", root, uid) >= sizeof(path))
		return -ENAMETOOLONG;
	ret = (int)egpu_read_small_file(path, text, sizeof(text));
	if (ret < 0)
		return ret;
	return egpu_store_dev_parse(text, d);
}

int egpu_store_put_decision(const char *root, const struct egpu_store_decision *dec)
{
	char dir[4096], text[512], name[4 * sizeof(dec->name)], by[4 * sizeof(dec->by)];
	int n;

	if (!egpu_store_valid_uid(dec->unique_id) || subdir(root, "decisions", dir, sizeof(dir)))
		return -EINVAL;
	escape_value(name, sizeof(name), dec->name);
	escape_value(by, sizeof(by), dec->by);
	n = snprintf(text, sizeof(text),
		     "unique-id=%s\nname=%s\nplug=%s\nby=%s\ntime=%" PRId64 "\n",
		     dec->unique_id, name, dec->plug_id, by, dec->time);
	if (n < 0 || (size_t)n >= sizeof(text) || strpbrk(dec->plug_id, "\n\\"))
		return -EINVAL;
	return egpu_atomic_write(dir, dec->unique_id, text, (size_t)n, 0600);
}

int egpu_store_get_decision(const char *root, const char *uid,
			    struct egpu_store_decision *dec)
{
	char path[4096], text[512];
	int ret;

	memset(dec, 0, sizeof(*dec));
	if (!egpu_store_valid_uid(uid) ||
	    (size_t)snprintf(path, sizeof(path), "%s/decisions/%s", root, uid) >= sizeof(path))
		return -EINVAL;
	ret = (int)egpu_read_small_file(path, text, sizeof(text));
	if (ret < 0)
		return ret;
	each_kv(text, decision_kv, dec);
	return strcmp(dec->unique_id, uid) ? -EBADMSG : 0;
}

int egpu_store_drop_decision(const char *root, const char *uid)
{
	char path[4096], dir[4096];

	if (!egpu_store_valid_uid(uid) || subdir(root, "decisions", dir, sizeof(dir)) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, uid) >= sizeof(path))
		return -EINVAL;
	if (unlink(path) < 0)
		return -errno;
	fsync_dir(dir);
	return 0;
}

int egpu_store_note_deauthorized(const char *root, const char *name, const char *by)
{
	struct egpu_store_decision dec = { .time = (int64_t)time(NULL) };
	struct egpuhp_router r;
	int ret;

	ret = egpu_tb_read_router(name, &r);
	if (ret < 0)
		return ret;
	ret = egpu_tb_plug_id(name, dec.plug_id, sizeof(dec.plug_id));
	if (ret < 0)
		return ret;
	snprintf(dec.unique_id, sizeof(dec.unique_id), "%s", r.unique_id);
	snprintf(dec.name, sizeof(dec.name), "%s", name);
	snprintf(dec.by, sizeof(dec.by), "%s", by);
	ret = egpu_store_init(root);
	return ret < 0 ? ret : egpu_store_put_decision(root, &dec);
}

int egpu_store_forget(const char *root, const char *uid)
{
	char path[4096], dir[4096];
	int ret = 0;

	if (!egpu_store_valid_uid(uid))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/keys/%s", root, uid);
	if (unlink(path) == 0) {
		snprintf(dir, sizeof(dir), "%s/keys", root);
		fsync_dir(dir);
	}
	snprintf(path, sizeof(path), "%s/devices/%s", root, uid);
	if (unlink(path) < 0)
		ret = -errno;
	snprintf(dir, sizeof(dir), "%s/devices", root);
	fsync_dir(dir);
	return ret;
}

bool egpu_key_valid(const char *hexkey)
{
	size_t i;

	for (i = 0; i < EGPU_KEY_HEX_LEN; i++)
		if (!isxdigit((unsigned char)hexkey[i]))
			return false;
	return hexkey[i] == '\0' || hexkey[i] == '\n';
}

int egpu_store_put_key(const char *root, const char *uid, const char *hexkey)
{
	char dir[4096], text[EGPU_KEY_HEX_LEN + 2];

	if (!egpu_store_valid_uid(uid) || !egpu_key_valid(hexkey))
		return -EINVAL;
	if (subdir(root, "keys", dir, sizeof(dir)))
		return -ENAMETOOLONG;
	snprintf(text, sizeof(text), "%.*s\n", EGPU_KEY_HEX_LEN, hexkey);
	return egpu_atomic_write(dir, uid, text, EGPU_KEY_HEX_LEN + 1, 0600);
}

int egpu_store_get_key(const char *root, const char *uid,
		       char hexkey[EGPU_KEY_HEX_LEN + 1])
{
	char path[4096], text[EGPU_KEY_HEX_LEN + 8];
	int ret;

	if (!egpu_store_valid_uid(uid))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/keys/%s", root, uid);
	ret = (int)egpu_read_small_file(path, text, sizeof(text));
	if (ret < 0)
		return ret;
	if (!egpu_key_valid(text))
		return -EBADMSG;
	memcpy(hexkey, text, EGPU_KEY_HEX_LEN);
	hexkey[EGPU_KEY_HEX_LEN] = '\0';
	return 0;
}

bool egpu_store_has_key(const char *root, const char *uid)
{
	char path[4096];

	if (!egpu_store_valid_uid(uid) ||
	    (size_t)snprintf(path, sizeof(path), "%s/keys/%s", root, uid) >= sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

/* egpu_dir_list()'s load: the device entry called name, if it is one. */
static int load_dev(const char *name, void *elem, void *root)
{
	if (!egpu_store_valid_uid(name))
		return -EINVAL;
	return egpu_store_get_dev(root, name, elem);
}

int egpu_store_list(const char *root, struct egpu_store_dev **out, size_t *n)
{
	char dir[4096];
	void *v;
	int ret;

	*out = NULL;
	*n = 0;
	snprintf(dir, sizeof(dir), "%s/devices", root);
	ret = egpu_dir_list(dir, sizeof(**out), load_dev, (void *)root, &v, n);
	*out = v;
	return ret;
}

int egpu_key_generate(char hexkey[EGPU_KEY_HEX_LEN + 1])
{
	unsigned char raw[EGPU_KEY_HEX_LEN / 2];
	size_t got = 0;
	size_t i;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(raw); i++)
		snprintf(hexkey + 2 * i, 3, "%02x", raw[i]);
	return 0;
}
