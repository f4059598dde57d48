// SPDX-License-Identifier: GPL-2.0
/*
 * Enrollment store: atomic writes survive SIGKILL at any point (the file
 * is always the complete old or the complete new content), modes, keys,
 * device entries, forget, and bolt import.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "common/bolt_import.h"
#include "common/store.h"

#define BIG (256 * 1024)	/* large enough that a kill lands mid-write */

static char tmpdir[64];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/egpu-store-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *read_all(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	fstat(fd, &st);
	buf = malloc((size_t)st.st_size + 1);
	*len = (size_t)read(fd, buf, (size_t)st.st_size);
	close(fd);
	return buf;
}

static void fill(char *buf, char c)
{
	memset(buf, c, BIG);
	/* distinct head and tail, so a torn file shows */
	memcpy(buf, c == 'A' ? "HEAD-A" : "HEAD-B", 6);
	memcpy(buf + BIG - 6, c == 'A' ? "TAIL-A" : "TAIL-B", 6);
}

static void test_kill_during_writes(void **state)
{
	char *a = malloc(BIG), *b = malloc(BIG);
	char path[128], key_a[EGPU_KEY_HEX_LEN + 1], key_b[EGPU_KEY_HEX_LEN + 1];
	int i, kills_mid = 0;

	fill(a, 'A');
	fill(b, 'B');
	memset(key_a, 'a', EGPU_KEY_HEX_LEN);
	memset(key_b, 'b', EGPU_KEY_HEX_LEN);
	key_a[EGPU_KEY_HEX_LEN] = key_b[EGPU_KEY_HEX_LEN] = '\0';
	assert_int_equal(egpu_store_init(tmpdir), 0);
	assert_int_equal(egpu_atomic_write(tmpdir, "blob", a, BIG, 0600), 0);
	assert_int_equal(egpu_store_put_key(tmpdir, "1234-abcd", key_a), 0);
	snprintf(path, sizeof(path), "%s/blob", tmpdir);
	srand((unsigned int)time(NULL));

	for (i = 0; i < 150; i++) {
		char got_key[EGPU_KEY_HEX_LEN + 1];
		size_t len = 0;
		char *content;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			for (int n = 0;; n++) {
				egpu_atomic_write(tmpdir, "blob", n & 1 ? a : b, BIG, 0600);
				egpu_store_put_key(tmpdir, "1234-abcd", n & 1 ? key_a : key_b);
			}
		}
		usleep((useconds_t)(rand() % 4000));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);

		content = read_all(path, &len);
		assert_non_null(content);
		assert_int_equal(len, BIG);
		assert_true(!memcmp(content, a, BIG) || !memcmp(content, b, BIG));
		free(content);
		assert_int_equal(egpu_store_get_key(tmpdir, "1234-abcd", got_key), 0);
		assert_true(!strcmp(got_key, key_a) || !strcmp(got_key, key_b));

		/* a killed writer may leave its temp file; init clears it */
		{
			DIR *d = opendir(tmpdir);
			struct dirent *e;

			while ((e = readdir(d)))
				if (strstr(e->d_name, ".tmp."))
					kills_mid++;
			closedir(d);
		}
		{
			char tmp[128];

			snprintf(tmp, sizeof(tmp), "%s/.blob.tmp.%d", tmpdir, (int)pid);
			unlink(tmp);
		}
	}
	/* The point of the loop: some kills must have hit a write in flight. */
	print_message("# %d of 150 kills left a temp file behind (mid-write)\n", kills_mid);
	assert_true(kills_mid > 0);
	assert_int_equal(egpu_store_init(tmpdir), 0);
	{
		char keys[128];
		DIR *d;
		struct dirent *e;

		snprintf(keys, sizeof(keys), "%s/keys", tmpdir);
		d = opendir(keys);
		while ((e = readdir(d)))
			assert_null(strstr(e->d_name, ".tmp."));
		closedir(d);
	}
	free(a);
	free(b);
}

static void test_modes(void **state)
{
	char path[128], key[EGPU_KEY_HEX_LEN + 1];
	struct stat st;
	mode_t old = umask(0);

	assert_int_equal(egpu_store_init(tmpdir), 0);
	assert_int_equal(egpu_key_generate(key), 0);
	assert_true(egpu_key_valid(key));
	assert_int_equal(strlen(key), EGPU_KEY_HEX_LEN);
	assert_int_equal(egpu_store_put_key(tmpdir, "0011-2233", key), 0);
	umask(old);

	snprintf(path, sizeof(path), "%s/keys/0011-2233", tmpdir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/keys", tmpdir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/devices", tmpdir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* a widened directory is narrowed again */
	chmod(path, 0755);
	assert_int_equal(egpu_store_init(tmpdir), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void test_devices(void **state)
{
	struct egpu_store_dev d = {
		.unique_id = "c6030000-0060-6c0e-8362-a46b4a7a2b05",
		.name = "0-1", .vendor_name = "Razer", .device_name = "Core X",
		.generation = 3, .policy = EGPU_POLICY_AUTO, .enrolled = 1700000000,
	}, got;
	struct egpu_store_dev *list;
	char key[EGPU_KEY_HEX_LEN + 1];
	size_t n;

	assert_int_equal(egpu_store_init(tmpdir), 0);
	assert_int_equal(egpu_store_get_dev(tmpdir, d.unique_id, &got), -ENOENT);
	assert_int_equal(egpu_store_put_dev(tmpdir, &d), 0);
	assert_int_equal(egpu_store_get_dev(tmpdir, d.unique_id, &got), 0);
	assert_string_equal(got.device_name, "Core X");
	assert_int_equal(got.policy, EGPU_POLICY_AUTO);
	assert_int_equal(got.generation, 3);
	assert_int_equal(got.enrolled, 1700000000);
	assert_int_equal(egpu_key_generate(key), 0);
	assert_int_equal(egpu_store_put_key(tmpdir, d.unique_id, key), 0);
	assert_int_equal(egpu_store_list(tmpdir, &list, &n), 0);
	assert_int_equal(n, 1);
	free(list);
	assert_int_equal(egpu_store_forget(tmpdir, d.unique_id), 0);
	assert_int_equal(egpu_store_get_key(tmpdir, d.unique_id, key), -ENOENT);
	assert_int_equal(egpu_store_forget(tmpdir, d.unique_id), -ENOENT);
	/* names that could escape the store are refused */
	assert_false(egpu_store_valid_uid("../../etc/passwd"));
	assert_false(egpu_store_valid_uid(""));
	strcpy(d.unique_id, "../x");
	assert_int_equal(egpu_store_put_dev(tmpdir, &d), -EINVAL);
	assert_int_equal(egpu_store_put_key(tmpdir, "abcd", "not-a-key"), -EINVAL);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_bolt_import(void **state)
{
	char bolt[128], path[256], store[128], key[EGPU_KEY_HEX_LEN + 1];
	struct egpu_store_dev d;
	char *report = NULL;
	size_t rlen = 0;
	FILE *out;

	snprintf(bolt, sizeof(bolt), "%s/boltd", tmpdir);
	snprintf(store, sizeof(store), "%s/egpuhp", tmpdir);
	mkdir(bolt, 0700);
	snprintf(path, sizeof(path), "%s/devices", bolt);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/keys", bolt);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/devices/d0a1b2c3-0000-0000-ffff-ffffffffffff", bolt);
	write_file(path, "[device]\nname=Core X\nvendor=Razer\ngeneration=3\ntype=peripheral\n"
			 "[user]\npolicy=iommu\nstoretime=1690000000\n");
	snprintf(path, sizeof(path), "%s/keys/d0a1b2c3-0000-0000-ffff-ffffffffffff", bolt);
	write_file(path, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
	snprintf(path, sizeof(path), "%s/devices/aaaa-bbbb", bolt);
	write_file(path, "[device]\nname=Dock\nvendor=Lenovo\n[user]\npolicy=default\n");
	snprintf(path, sizeof(path), "%s/devices/bad name", bolt);
	write_file(path, "[device]\n");

	out = open_memstream(&report, &rlen);
	assert_int_equal(egpu_bolt_import(bolt, store, out), 2);
	fclose(out);
	assert_non_null(strstr(report, "skipped bad name"));
	free(report);
	assert_int_equal(egpu_store_get_dev(store, "d0a1b2c3-0000-0000-ffff-ffffffffffff", &d), 0);
	assert_string_equal(d.vendor_name, "Razer");
	assert_string_equal(d.device_name, "Core X");
	assert_int_equal(d.policy, EGPU_POLICY_IOMMU);
	assert_int_equal(d.generation, 3);
	assert_int_equal(d.enrolled, 1690000000);
	assert_int_equal(egpu_store_get_key(store, "d0a1b2c3-0000-0000-ffff-ffffffffffff", key), 0);
	assert_string_equal(key, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_int_equal(egpu_store_get_dev(store, "aaaa-bbbb", &d), 0);
	assert_int_equal(d.policy, EGPU_POLICY_AUTO);
	assert_int_equal(egpu_store_get_key(store, "aaaa-bbbb", key), -ENOENT);
	assert_int_equal(egpu_bolt_import("/nonexistent", store, stdout), -ENOENT);

	/* an existing enrollment (here a deny) is kept, and said so */
	d.policy = EGPU_POLICY_DENY;
	assert_int_equal(egpu_store_put_dev(store, &d), 0);
	report = NULL;
	out = open_memstream(&report, &rlen);
	assert_int_equal(egpu_bolt_import(bolt, store, out), 0);
	fclose(out);
	assert_non_null(strstr(report, "kept aaaa-bbbb: already enrolled with policy deny"));
	free(report);
	assert_int_equal(egpu_store_get_dev(store, "aaaa-bbbb", &d), 0);
	assert_int_equal(d.policy, EGPU_POLICY_DENY);
	assert_int_equal(egpu_store_get_dev(store, "d0a1b2c3-0000-0000-ffff-ffffffffffff", &d), 0);
	assert_int_equal(d.policy, EGPU_POLICY_IOMMU);
}

/* A DROM name with a newline cannot add a line (a key) to the entry. */
static void test_store_values_cannot_inject(void **state)
{
	struct egpu_store_dev d = {
		.unique_id = "aaaa-0001", .name = "0-1",
		.vendor_name = "Evil\npolicy=auto\nx=\\x41",
		.device_name = "tab\there=1",
		.generation = 3, .policy = EGPU_POLICY_MANUAL, .enrolled = 5,
	}, got;
	char text[1024], path[256];
	size_t len;
	char *file;
	const char *line;
	int lines = 0;

	assert_int_equal(egpu_store_dev_format(&d, text, sizeof(text)) > 0, 1);
	for (line = text; (line = strchr(line, '\n')); line++)
		lines++;
	assert_int_equal(lines, 7);	/* one line per key, no more */
	assert_int_equal(egpu_store_init(tmpdir), 0);
	/* the policy line first: a parser that took the first one would be fooled too */
	d.policy = EGPU_POLICY_DENY;
	assert_int_equal(egpu_store_put_dev(tmpdir, &d), 0);
	snprintf(path, sizeof(path), "%s/devices/aaaa-0001", tmpdir);
	file = read_all(path, &len);
	assert_non_null(file);
	file[len] = '\0';
	assert_null(strstr(file, "\npolicy=auto"));
	free(file);
	assert_int_equal(egpu_store_get_dev(tmpdir, "aaaa-0001", &got), 0);
	assert_int_equal(got.policy, EGPU_POLICY_DENY);
	assert_string_equal(got.vendor_name, d.vendor_name);	/* round trip */
	assert_string_equal(got.device_name, d.device_name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill_during_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bolt_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_values_cannot_inject, setup, teardown),
	};

	return cmocka_run_group_tests_name("user_store", tests, NULL, NULL);
}
