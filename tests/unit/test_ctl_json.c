// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl --json (docs/egpuctl-json.md): every command prints exactly one
 * envelope on stdout, its exit status is the envelope's status, and a
 * failure carries error and a stable code; this also holds for egpuctl's
 * own listings (list, status, quirks, reset), its usage errors, the
 * deauthorize --all sysfs fallback, --direct gpuwork verbs and egpud
 * replies that are no envelope.  list shows enrolled devices that are not
 * connected, in text and JSON.  Runs the real dispatcher (egpuctl_main())
 * without the egpuhp module, against a missing or a stand-in egpud.
 */
// unit-test-links: egpuctl/main.c egpuctl/reply.c egpuctl/cmd_*.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "common/json.h"
#include "common/sysfs.h"
#include "egpuctl/commands.h"
#include "helpers/gw_fake.h"
#include "helpers/unix_listener.h"

#define NO_EGPUD	"/nonexistent/egpud.sock"

static char *root;	/* a fake sysfs with no Thunderbolt router */

static int setup(void **state)
{
	root = gwt_tmpdir();
	gwt_mkdir(root, "bus/thunderbolt/devices");
	gwt_mkdir(root, "bus/pci/devices");
	egpu_sysfs_set_root(root);
	return 0;
}

static int teardown(void **state)
{
	gwt_rmtree(root);
	return 0;
}

/* egpuctl ARGS... (NULL-terminated); its stdout in *out, its exit status returned */
static int ctl(char **out, ...)
{
	char *argv[32], buf[65536];
	int argc = 0, rc, saved, fd;
	ssize_t n;
	va_list ap;

	argv[argc++] = (char *)"egpuctl";
	va_start(ap, out);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	fd = memfd_create("stdout", 0);
	assert_true(fd >= 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(dup2(fd, STDOUT_FILENO) >= 0);
	optind = 0;	/* getopt starts afresh, as in a new process */
	rc = egpuctl_main(argc, argv);
	fflush(stdout);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	*out = strdup(buf);
	return rc;
}

/*
 * text is one envelope of verb on one line with status rc: the keys every
 * envelope has, error and code when it failed.  Returns the parsed tree.
 */
static struct egpu_jval *envelope(const char *text, const char *verb, int rc)
{
	const struct egpu_jval *v, *ok, *msgs;
	struct egpu_jval *doc;
	size_t len = strlen(text);

	if (!len || text[len - 1] != '\n' || strchr(text, '\n') != text + len - 1)
		fail_msg("not one line: [%s]", text);
	doc = egpu_json_parse(text, len);
	if (!doc)
		fail_msg("not JSON: [%s]", text);
	v = egpu_json_get(doc, "version");
	assert_non_null(v);
	assert_int_equal((int)v->num, 1);
	assert_string_equal(egpu_json_get_str(doc, "verb"), verb);
	v = egpu_json_get(doc, "status");
	assert_non_null(v);
	assert_int_equal((int)v->num, rc);
	ok = egpu_json_get(doc, "ok");
	assert_non_null(ok);
	assert_int_equal(ok->type, EGPU_J_BOOL);
	assert_int_equal(ok->b, rc == 0);
	msgs = egpu_json_get(doc, "messages");
	assert_non_null(msgs);
	assert_int_equal(msgs->type, EGPU_J_ARR);
	if (rc) {
		assert_non_null(egpu_json_get_str(doc, "error"));
		assert_true(egpu_json_get_str(doc, "error")[0] != '\0');
		assert_non_null(egpu_json_get_str(doc, "code"));
	} else {
		assert_null(egpu_json_get(doc, "error"));
	}
	return doc;
}

/* egpuctl --json ARGS: one envelope of verb, status want, code want_code */
#define EXPECT(verb, want, want_code, ...) do {					\
	char *_o;								\
	int _rc = ctl(&_o, "--json", "--socket", NO_EGPUD, __VA_ARGS__, NULL);	\
	struct egpu_jval *_d;							\
										\
	assert_int_equal(_rc, (want));						\
	_d = envelope(_o, (verb), _rc);						\
	if (want_code)								\
		assert_string_equal(egpu_json_get_str(_d, "code"), want_code);	\
	egpu_json_free(_d);							\
	free(_o);								\
} while (0)

static void usage_errors_are_envelopes(void **state)
{
	EXPECT("reset", 2, "usage", "reset");
	EXPECT("reset", 2, "usage", "reset", "0000:01:00.0", "--method", "bogus");
	EXPECT("quirks", 2, "usage", "quirks", "add", "not-an-entry");
	EXPECT("quirks", 2, "usage", "quirks", "del", "x");
	EXPECT("eject", 2, "usage", "eject", "--timeout", "-1", "0-1");
	EXPECT("import-bolt", 2, "usage", "import-bolt", "relative/dir");
	EXPECT("list", 2, "usage", "list", "extra");
	EXPECT("bogus", 2, "usage", "bogus");
	EXPECT("", 2, "usage", "--bogus-option", "list");
	/* --direct: gpuwork's own usage text becomes the messages */
	EXPECT("workloads", 2, "usage", "workloads", "--direct", "a", "b");
	EXPECT("checkpoint", 2, "usage", "checkpoint", "--direct");
	EXPECT("help", 0, NULL, "help");
}

static void own_listings_are_envelopes(void **state)
{
	char *o;
	struct egpu_jval *d;
	const struct egpu_jval *data;

	/* list and status: data from sysfs, the module is not loaded here */
	assert_int_equal(ctl(&o, "--json", "--socket", NO_EGPUD, "list", NULL), 0);
	d = envelope(o, "list", 0);
	data = egpu_json_get(d, "data");
	assert_non_null(data);
	assert_int_equal(egpu_json_get(data, "routers")->type, EGPU_J_ARR);
	assert_int_equal(egpu_json_get(data, "functions")->type, EGPU_J_ARR);
	assert_false(egpu_json_get(data, "egpud")->b);
	egpu_json_free(d);
	free(o);
	/* no command lists, --json after the command works too */
	assert_int_equal(ctl(&o, "--socket", NO_EGPUD, "--json", NULL), 0);
	egpu_json_free(envelope(o, "list", 0));
	free(o);
	assert_int_equal(ctl(&o, "--socket", NO_EGPUD, "status", "--json", NULL), 0);
	egpu_json_free(envelope(o, "status", 0));
	free(o);
	/* without the module: failures, one envelope each */
	EXPECT("quirks", 1, "failed", "quirks");
	EXPECT("reset", 1, "failed", "reset", "0000:01:00.0");
	EXPECT("monitor", 1, "failed", "monitor");
	/* the tunnel cycle's result is data even when it failed */
	assert_int_equal(ctl(&o, "--json", "reset", "0000:01:00.0", "--tunnel", NULL), 1);
	d = envelope(o, "reset", 1);
	assert_string_equal(egpu_json_get_str(egpu_json_get(d, "data"), "method"), "tunnel");
	egpu_json_free(d);
	free(o);
	/* gpuwork in this process: data is the verb's object */
	assert_int_equal(ctl(&o, "--json", "gpus", "--direct", NULL), 0);
	d = envelope(o, "gpus", 0);
	assert_non_null(egpu_json_get(egpu_json_get(d, "data"), "gpus"));
	egpu_json_free(d);
	free(o);
}

static void no_egpud_is_an_envelope(void **state)
{
	EXPECT("authorize", 1, "no-daemon", "authorize", "0-1");
	EXPECT("deauthorize", 1, "no-daemon", "deauthorize", "0-1");
	EXPECT("info", 1, "no-daemon", "info", "0-1");
	EXPECT("eject", 1, "no-daemon", "eject", "0000:01:00.0");
	EXPECT("policy", 1, "no-daemon", "policy");
}

/*
 * The shutdown command without egpud: root de-authorizes in sysfs and
 * prints one envelope (not egpuctl's error and then a text report).
 */
static void deauthorize_all_fallback_is_one_envelope(void **state)
{
	const struct egpu_jval *data;
	struct egpu_jval *d;
	char *o;
	int rc;

	rc = ctl(&o, "--json", "--socket", NO_EGPUD, "deauthorize", "--all", NULL);
	if (geteuid() != 0) {
		assert_int_equal(rc, 1);
		egpu_json_free(envelope(o, "deauthorize", 1));
		free(o);
		skip();
	}
	assert_int_equal(rc, 0);
	d = envelope(o, "deauthorize", 0);
	data = egpu_json_get(d, "data");
	assert_string_equal(egpu_json_get_str(data, "via"), "sysfs");
	assert_int_equal(egpu_json_get(data, "routers")->type, EGPU_J_ARR);
	/* why egpud did not do it comes first */
	assert_non_null(strstr(egpu_json_get(d, "messages")->kids[0].str,
			       "cannot reach egpud"));
	egpu_json_free(d);
	free(o);
}

/*
 * A stand-in egpud: answers each of n connections with reply, a NUL and
 * status.  Returns its pid; the socket's path is in path.
 */
static pid_t stand_in(char *dir, char *path, size_t len, int n, const char *reply, int status)
{
	int lfd = unix_listener(dir, path, len);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		while (n-- > 0) {
			char line[4096], tail[16];
			int c = accept(lfd, NULL, NULL), k;
			ssize_t r;

			if (c < 0)
				_exit(1);
			r = read(c, line, sizeof(line));	/* the request line */
			(void)r;
			k = snprintf(tail, sizeof(tail), "%c%d\n", '\0', status);
			if (write(c, reply, strlen(reply)) < 0 || write(c, tail, (size_t)k) < 0)
				_exit(1);
			close(c);
		}
		_exit(0);
	}
	close(lfd);
	return pid;
}

static void reap(pid_t pid, const char *dir, const char *path)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	unlink(path);
	rmdir(dir);
}

/* egpud's status data: one enrolled device connected as 0-1, one absent */
static const char status_reply[] =
	"{\"version\":1,\"verb\":\"status\",\"ok\":true,\"status\":0,\"data\":{"
	"\"policy\":\"iommu\",\"routers\":[],\"enrolled\":["
	"{\"unique_id\":\"aaaa-1\",\"name\":\"x\",\"vendor_name\":\"Acme\","
	"\"device_name\":\"Dock\",\"policy\":\"auto\",\"enrolled_time\":5,\"key\":false,"
	"\"connected\":true,\"router\":\"0-1\"},"
	"{\"unique_id\":\"bbbb-2\",\"name\":\"y\",\"vendor_name\":\"Razer\","
	"\"device_name\":\"Core X\",\"policy\":\"iommu\",\"enrolled_time\":7,\"key\":true,"
	"\"connected\":false}]},\"messages\":[]}\n";

static void enrolled_absent_routers_listed(void **state)
{
	char dir[] = "/tmp/egpuctl-test-XXXXXX", path[128], *o;
	const struct egpu_jval *en;
	struct egpu_jval *d;
	pid_t pid = stand_in(dir, path, sizeof(path), 2, status_reply, 0);

	assert_int_equal(ctl(&o, "--socket", path, "list", NULL), 0);
	/* the absent one, with its policy; the connected one is not repeated */
	assert_non_null(strstr(o, "enrolled bbbb-2 Razer Core X: not connected\n"
			       "  policy iommu  key stored\n"));
	assert_null(strstr(o, "aaaa-1"));
	free(o);
	assert_int_equal(ctl(&o, "--json", "--socket", path, "list", NULL), 0);
	d = envelope(o, "list", 0);
	assert_true(egpu_json_get(egpu_json_get(d, "data"), "egpud")->b);
	en = egpu_json_get(egpu_json_get(d, "data"), "enrolled");
	assert_non_null(en);
	assert_int_equal(en->n, 2);
	assert_string_equal(egpu_json_get_str(&en->kids[1], "unique_id"), "bbbb-2");
	assert_false(egpu_json_get(&en->kids[1], "connected")->b);
	assert_int_equal((int)egpu_json_get(&en->kids[1], "enrolled_time")->num, 7);
	egpu_json_free(d);
	free(o);
	reap(pid, dir, path);
}

/* egpud's refusals before it reads a request are text: egpuctl wraps them */
static void egpud_text_reply_is_wrapped(void **state)
{
	char dir[] = "/tmp/egpuctl-test-XXXXXX", path[128], *o;
	struct egpu_jval *d;
	pid_t pid = stand_in(dir, path, sizeof(path), 1, "egpud: too many clients", 1);

	assert_int_equal(ctl(&o, "--json", "--socket", path, "authorize", "0-1", NULL), 1);
	d = envelope(o, "authorize", 1);
	assert_string_equal(egpu_json_get_str(d, "code"), "busy");
	assert_string_equal(egpu_json_get_str(d, "error"), "egpud: too many clients");
	egpu_json_free(d);
	free(o);
	reap(pid, dir, path);
	/* an envelope from egpud passes as it came */
	strcpy(dir, "/tmp/egpuctl-test-XXXXXX");
	pid = stand_in(dir, path, sizeof(path), 1,
		       "{\"version\":1,\"verb\":\"authorize\",\"ok\":false,\"status\":1,"
		       "\"error\":\"no Thunderbolt router 0-9\",\"code\":\"not-found\","
		       "\"messages\":[\"no Thunderbolt router 0-9\"]}\n", 1);
	assert_int_equal(ctl(&o, "--json", "--socket", path, "authorize", "0-9", NULL), 1);
	d = envelope(o, "authorize", 1);
	assert_string_equal(egpu_json_get_str(d, "code"), "not-found");
	egpu_json_free(d);
	free(o);
	reap(pid, dir, path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(usage_errors_are_envelopes, setup, teardown),
		cmocka_unit_test_setup_teardown(own_listings_are_envelopes, setup, teardown),
		cmocka_unit_test_setup_teardown(no_egpud_is_an_envelope, setup, teardown),
		cmocka_unit_test_setup_teardown(deauthorize_all_fallback_is_one_envelope, setup,
						teardown),
		cmocka_unit_test_setup_teardown(enrolled_absent_routers_listed, setup, teardown),
		cmocka_unit_test_setup_teardown(egpud_text_reply_is_wrapped, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
