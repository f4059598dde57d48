// SPDX-License-Identifier: GPL-2.0
/*
 * egpud's authorization engine on a fake sysfs tree (a directory of plain
 * files): what it writes to "key" and "authorized", what it stores, that a
 * plug-in is decided once, and which routers "deauthorize --all" picks.
 */
// unit-test-links: egpud/auth.c egpud/jobs.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "helpers/daemon_fixture.h"
#include "helpers/egpud_loop_stubs.h"
#include "helpers/file_tree.h"

#include "common/store.h"
#include "common/sysfs.h"
#include "egpud/egpud.h"

static char root[64], sys_root[96], store[96];
#define hooks_authorized stub_hooks_authorized
#define hooks_denied stub_hooks_denied

static void put(const char *rel, const char *val)
{
	file_tree_put(sys_root, rel, val);
}

static void get(const char *rel, char *buf, size_t len)
{
	assert_int_equal(egpu_sysfs_read(rel, buf, len), 0);
}

static void add_router(const char *name, const char *uid, const char *vendor)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "bus/thunderbolt/devices/%s/unique_id", name);
	put(rel, uid);
	snprintf(rel, sizeof(rel), "bus/thunderbolt/devices/%s/vendor_name", name);
	put(rel, vendor);
	snprintf(rel, sizeof(rel), "bus/thunderbolt/devices/%s/authorized", name);
	put(rel, "0");
	snprintf(rel, sizeof(rel), "bus/thunderbolt/devices/%s/key", name);
	put(rel, "");
}

/*
 * egpud_auth_router(), and the end of the job it started (the writes are
 * done by a child, jobs.c): the job's outcome then.
 */
static int auth(struct egpud *d, const char *name, bool requested, FILE *out)
{
	int ret = egpud_auth_router(d, name, requested, out);
	struct egpud_job *j;
	char key[64];

	if (ret != -EINPROGRESS)
		return ret;
	snprintf(key, sizeof(key), "router %s", name);
	j = egpud_job_for(d, key);
	assert_non_null(j);
	/* as server.c does for a requesting client: the job's lines reach it */
	j->client = (struct egpud_client *)d;
	stub_job_text[0] = '\0';
	egpud_job_wait(d, j);
	if (out)
		fputs(stub_job_text, out);
	return egpud_auth_state(d, name)->write_error;
}

static struct egpud *new_daemon(const char *conf)
{
	char text[1024];

	snprintf(text, sizeof(text), "[daemon]\nstore = %s\nsysfs = %s\n%s", store, sys_root,
		 conf);
	return daemon_fixture_new(text);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/egpu-auth-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(sys_root, sizeof(sys_root), "%s/sys", root);
	snprintf(store, sizeof(store), "%s/store", root);
	egpu_sysfs_set_root(sys_root);
	file_tree_tb_domain(sys_root);
	add_router("0-1", "aaaa-0001", "Razer");
	hooks_authorized = hooks_denied = 0;
	return egpu_store_init(store);
}

static int teardown(void **state)
{
	char cmd[128];

	egpu_sysfs_set_root(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_user_level_once(void **state)
{
	struct egpud *d = new_daemon("[authorization]\npolicy = auto\nowner = egpud\n");
	char buf[128];

	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	get("bus/thunderbolt/devices/0-1/key", buf, sizeof(buf));
	assert_string_equal(buf, "");		/* no key at level user */
	assert_int_equal(hooks_authorized, 1);
	/* the same plug-in again (uevent after the module event): nothing */
	put("bus/thunderbolt/devices/0-1/authorized", "0");
	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	assert_int_equal(hooks_authorized, 1);
	/* a new plug-in (forgotten on removal) is decided again */
	egpud_auth_forget_router(d, "0-1");
	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	/* the host router is never touched */
	assert_int_equal(auth(d, "0-0", false, NULL), 0);
	assert_int_equal(auth(d, "0-9", false, NULL), -ENOENT);
	daemon_fixture_free(d);
}

static void test_iommu_wait_then_request(void **state)
{
	struct egpud *d = new_daemon("[authorization]\nowner = egpud\n");
	char buf[128], *msg = NULL;
	size_t len = 0;
	FILE *out;

	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	assert_int_equal(hooks_denied, 1);
	assert_string_equal(egpud_auth_state(d, "0-1")->reason,
			    "policy iommu (default): domain iommu_dma_protection=0");
	out = open_memstream(&msg, &len);
	assert_int_equal(auth(d, "0-1", true, out), 0);
	fclose(out);
	assert_string_equal(msg, "authorize 0-1 (requested by user, policy iommu (default))\n");
	free(msg);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	daemon_fixture_free(d);
}

static void test_deny_refuses_requests(void **state)
{
	struct egpud *d = new_daemon("[authorize-rule]\nvendor-name = Raz*\npolicy = deny\n");
	char buf[16];

	assert_int_equal(auth(d, "0-1", true, NULL), -EPERM);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	daemon_fixture_free(d);
}

static void test_secure_key_then_challenge(void **state)
{
	struct egpud *d = new_daemon("[authorization]\npolicy = auto\nowner = egpud\n");
	char buf[128], key[EGPU_KEY_HEX_LEN + 1], path[256];
	struct stat st;

	put("bus/thunderbolt/devices/domain0/security", "secure");
	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	get("bus/thunderbolt/devices/0-1/key", buf, sizeof(buf));
	assert_int_equal(strlen(buf), 64);
	assert_int_equal(egpu_store_get_key(store, "aaaa-0001", key), 0);
	assert_string_equal(key, buf);		/* what was written is what is stored */
	snprintf(path, sizeof(path), "%s/keys/aaaa-0001", store);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* re-plug: the stored key, then 2 (challenge) */
	egpud_auth_forget_router(d, "0-1");
	put("bus/thunderbolt/devices/0-1/authorized", "0");
	put("bus/thunderbolt/devices/0-1/key", "");
	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "2");
	get("bus/thunderbolt/devices/0-1/key", buf, sizeof(buf));
	assert_string_equal(buf, key);
	daemon_fixture_free(d);
}

/*
 * Secure level: only a missing key is trust on first use.  A corrupt key
 * file or one that cannot be read refuses; neither is replaced by a new key.
 */
static void test_secure_bad_key_refuses(void **state)
{
	struct egpud *d = new_daemon("[authorization]\npolicy = auto\nowner = egpud\n");
	char buf[128], path[256], text[128];
	FILE *f;

	put("bus/thunderbolt/devices/domain0/security", "secure");
	snprintf(path, sizeof(path), "%s/keys/aaaa-0001", store);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not-a-key\n", f);
	fclose(f);
	assert_int_equal(auth(d, "0-1", false, NULL), -EBADMSG);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	get("bus/thunderbolt/devices/0-1/key", buf, sizeof(buf));
	assert_string_equal(buf, "");
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_string_equal(text, "not-a-key\n");	/* left for the admin */

	/* a key that cannot be read (here: EISDIR) refuses the same way */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	egpud_auth_forget_router(d, "0-1");
	assert_int_equal(auth(d, "0-1", true, NULL), -EISDIR);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	assert_int_equal(rmdir(path), 0);

	/* missing: trust on first use */
	egpud_auth_forget_router(d, "0-1");
	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	daemon_fixture_free(d);
}

/*
 * Secure level: a rule with policy auto names a unique_id, which the
 * device claims; only the stored key proves it.  No key: wait for a
 * person; the key stored by an authorize: challenged automatically.
 */
static void test_secure_rule_auto_needs_key(void **state)
{
	struct egpud *d = new_daemon("[authorization]\npolicy = manual\nowner = egpud\n"
				     "[authorize-rule]\nunique-id = aaaa-0001\npolicy = auto\n");
	const struct egpud_router_state *st;
	char buf[128];

	put("bus/thunderbolt/devices/domain0/security", "secure");
	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	st = egpud_auth_state(d, "0-1");
	assert_non_null(st);
	assert_int_equal(st->verdict, EGPU_AUTH_WAIT);
	assert_int_equal(hooks_denied, 1);
	/* a person authorizes: the key is stored */
	assert_int_equal(auth(d, "0-1", true, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	assert_true(egpu_store_has_key(store, "aaaa-0001"));
	/* re-plug: the rule now challenges with it */
	egpud_auth_forget_router(d, "0-1");
	put("bus/thunderbolt/devices/0-1/authorized", "0");
	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "2");
	daemon_fixture_free(d);
}

static bool decision_kept(const char *uid)
{
	struct egpu_store_decision dec;

	return egpu_store_get_decision(store, uid, &dec) == 0;
}

/* A new plug-in of 0-1 while egpud is not running: a new sysfs directory. */
static void replug_0_1(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "cd %s/bus/thunderbolt/devices && cp -a 0-1 0-1.new && rm -rf 0-1 && mv 0-1.new 0-1",
		 sys_root);
	assert_int_equal(system(cmd), 0);
}

/*
 * A de-authorization by a person outlives egpud: a restart (a new daemon on
 * the same store) and a reload leave the router alone; authorize undoes it;
 * an unplug ends it, seen live or after the restart.
 */
static void test_deauthorized_stays_across_restart(void **state)
{
	const char *conf = "[authorization]\npolicy = auto\nowner = egpud\n";
	struct egpud *d = new_daemon(conf);
	const struct egpud_router_state *st;
	char buf[128];

	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	/* egpuctl deauthorize 0-1 (server.c) */
	assert_int_equal(egpu_tb_deauthorize("0-1"), 0);
	egpud_auth_note_deauthorized(d, "0-1", "user");
	assert_true(decision_kept("aaaa-0001"));
	daemon_fixture_free(d);

	/* restarted: the start-up scan leaves it; so does a reload */
	d = new_daemon(conf);
	egpud_auth_prune_decisions(d);
	egpud_auth_scan(d);
	egpud_jobs_wait(d);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	st = egpud_auth_state(d, "0-1");
	assert_non_null(st);
	assert_string_equal(st->held_by, "user");
	egpud_auth_reapply(d);
	egpud_jobs_wait(d);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	assert_int_equal(hooks_authorized, 1);

	/* a person authorizes: the kept decision ends */
	assert_int_equal(auth(d, "0-1", true, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	assert_false(decision_kept("aaaa-0001"));

	/* unplugged while egpud runs: over */
	egpud_auth_note_deauthorized(d, "0-1", "eject");
	assert_true(decision_kept("aaaa-0001"));
	egpud_auth_forget_router(d, "0-1");
	assert_false(decision_kept("aaaa-0001"));

	/* unplugged and plugged in again while egpud was away: over */
	put("bus/thunderbolt/devices/0-1/authorized", "0");
	egpud_auth_note_deauthorized(d, "0-1", "user");
	daemon_fixture_free(d);
	replug_0_1();
	d = new_daemon(conf);
	egpud_auth_prune_decisions(d);
	assert_false(decision_kept("aaaa-0001"));
	egpud_auth_scan(d);
	egpud_jobs_wait(d);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	daemon_fixture_free(d);
}

/*
 * A de-authorization job (server.c) keeps its decision in the store from
 * its child; the loop takes it into memory when the job ends.
 */
static void test_decision_from_a_job_child(void **state)
{
	struct egpud *d = new_daemon("[authorization]\npolicy = auto\nowner = egpud\n");
	const struct egpud_router_state *st;
	char buf[128];

	assert_int_equal(egpu_store_note_deauthorized(store, "0-1", "user"), 0);
	egpud_auth_refresh_decisions(d);
	st = egpud_auth_state(d, "0-1");
	assert_non_null(st);
	assert_string_equal(st->held_by, "user");
	assert_int_equal(st->verdict, EGPU_AUTH_WAIT);
	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	daemon_fixture_free(d);
}

/*
 * The authorized uevent of a de-authorization egpud did not make (an
 * eject's worker, a person's sysfs write) keeps it like egpuctl
 * deauthorize; one that authorizes from outside ends it.
 */
static void test_outside_deauthorization_kept(void **state)
{
	struct egpud *d = new_daemon("[authorization]\npolicy = auto\nowner = egpud\n");
	char buf[128];

	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	put("bus/thunderbolt/devices/0-1/authorized", "0");	/* echo 0 > authorized */
	stub_router_deauthorized = 0;
	egpud_auth_saw_authorized(d, "0-1", 0);
	assert_true(decision_kept("aaaa-0001"));
	/* a warning for the strategies: someone else de-authorized it */
	assert_int_equal(stub_router_deauthorized, 1);
	assert_string_equal(egpud_auth_state(d, "0-1")->held_by, "sysfs");
	daemon_fixture_free(d);
	d = new_daemon("[authorization]\npolicy = auto\nowner = egpud\n");
	egpud_auth_scan(d);
	egpud_jobs_wait(d);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");		/* kept across the restart */
	/* a tunnel reset authorizes it again from outside: the decision ends */
	put("bus/thunderbolt/devices/0-1/authorized", "1");
	egpud_auth_saw_authorized(d, "0-1", 1);
	assert_false(decision_kept("aaaa-0001"));
	/* news that is no longer true is ignored */
	egpud_auth_saw_authorized(d, "0-1", 0);
	assert_false(decision_kept("aaaa-0001"));
	daemon_fixture_free(d);
}

static void reload_daemon(struct egpud *d, const char *conf)
{
	struct egpud *n = new_daemon(conf);

	egpu_config_free(d->cfg);
	d->cfg = n->cfg;
	free(n);
	egpud_auth_reapply(d);
	egpud_jobs_wait(d);
}

/* SIGHUP: waiting, deferred and refused routers are decided again. */
static void test_reload_reapplies_policy(void **state)
{
	struct egpud *d = new_daemon("[authorization]\npolicy = manual\nowner = egpud\n");
	char buf[128];

	add_router("0-3", "aaaa-0003", "Other");
	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	assert_int_equal(auth(d, "0-3", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	/* a person de-authorized 0-3 (it had been authorized by hand) */
	egpud_auth_note_deauthorized(d, "0-3", "user");
	/* owner none: deferred */
	reload_daemon(d, "[authorization]\npolicy = auto\nowner = none\n");
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	assert_int_equal(egpud_auth_state(d, "0-1")->verdict, EGPU_AUTH_DEFER);
	/* now egpud owns it, policy auto: authorized; 0-3 stays as the person left it */
	reload_daemon(d, "[authorization]\npolicy = auto\nowner = egpud\n");
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	get("bus/thunderbolt/devices/0-3/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	/* once authorized, a reload decides nothing again */
	put("bus/thunderbolt/devices/0-1/authorized", "0");
	reload_daemon(d, "[authorization]\npolicy = auto\nowner = egpud\n");
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	daemon_fixture_free(d);
}

/*
 * A device whose sysfs write hangs (here: its "key" is a FIFO nobody
 * reads, as a challenge that never ends) does not hold up another: the
 * second router is authorized, hooks told, while the first job still
 * waits; a request for the stuck one is told it is in progress; once the
 * write goes through, the first finishes too.
 */
static void test_slow_router_does_not_stall_others(void **state)
{
	struct egpud *d = new_daemon("[authorization]\npolicy = auto\nowner = egpud\n");
	char buf[128], fifo[256], key[EGPU_KEY_HEX_LEN + 1];
	struct egpud_job *slow, *fast;
	int rd;

	put("bus/thunderbolt/devices/domain0/security", "secure");
	add_router("0-3", "aaaa-0003", "Other");
	assert_int_equal(egpu_key_generate(key), 0);
	assert_int_equal(egpu_store_put_key(store, "aaaa-0001", key), 0);
	snprintf(fifo, sizeof(fifo), "%s/bus/thunderbolt/devices/0-1/key", sys_root);
	assert_int_equal(unlink(fifo), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);

	assert_int_equal(egpud_auth_router(d, "0-1", false, NULL), -EINPROGRESS);
	slow = egpud_job_for(d, "router 0-1");
	assert_non_null(slow);
	assert_int_equal(egpud_auth_router(d, "0-3", false, NULL), -EINPROGRESS);
	fast = egpud_job_for(d, "router 0-3");
	assert_non_null(fast);
	egpud_job_wait(d, fast);
	get("bus/thunderbolt/devices/0-3/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	assert_int_equal(hooks_authorized, 1);
	/* the first one is still being written */
	assert_ptr_equal(egpud_job_for(d, "router 0-1"), slow);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	assert_int_equal(egpud_auth_router(d, "0-1", true, NULL), -EBUSY);

	/* the device answers at last */
	rd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	egpud_job_wait(d, slow);
	close(rd);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "2");
	assert_int_equal(hooks_authorized, 2);
	daemon_fixture_free(d);
}

static void test_enrolled_policy(void **state)
{
	struct egpud *d = new_daemon("[authorization]\npolicy = manual\nowner = egpud\n");
	struct egpu_store_dev sd = { .unique_id = "aaaa-0001", .policy = EGPU_POLICY_AUTO };
	char buf[16];

	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	assert_int_equal(egpu_store_put_dev(store, &sd), 0);
	egpud_auth_forget_router(d, "0-1");
	assert_int_equal(auth(d, "0-1", false, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	assert_string_equal(egpud_auth_state(d, "0-1")->reason, "policy auto (enrolled)");
	daemon_fixture_free(d);
}

static void test_deauthorize_all(void **state)
{
	struct egpud *d = new_daemon("");
	struct egpuhp_dev gpu = { .name = "0000:05:00.0", .is_gpu = true,
				  .router_uid = "bbbb-0003" };
	char buf[16], *msg = NULL;
	size_t len = 0;
	FILE *out;

	/* 0-1 (a dock), 0-3 carrying the GPU, 0-303 behind 0-3 */
	add_router("0-3", "bbbb-0003", "Razer");
	add_router("0-303", "cccc-0303", "Razer");
	put("bus/thunderbolt/devices/0-1/authorized", "1");
	put("bus/thunderbolt/devices/0-3/authorized", "1");
	put("bus/thunderbolt/devices/0-303/authorized", "1");
	d->tracker.devs = malloc(sizeof(gpu));
	d->tracker.devs[0] = gpu;
	d->tracker.n_devs = 1;
	out = open_memstream(&msg, &len);
	assert_int_equal(egpud_deauthorize_all(d, out), 2);
	fclose(out);
	/* deepest first, only the eGPU's routers */
	assert_non_null(strstr(msg, "deauthorize 0-303"));
	assert_true(strstr(msg, "deauthorize 0-303") < strstr(msg, "deauthorize 0-3 "));
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	get("bus/thunderbolt/devices/0-3/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	get("bus/thunderbolt/devices/0-303/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	free(msg);
	/* and they are not authorized again behind the user's back */
	assert_int_equal(auth(d, "0-3", false, NULL), 0);
	get("bus/thunderbolt/devices/0-3/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");

	/*
	 * Without the module's view: two authorized device routers and no
	 * way to tell which carries the eGPU, so both stay (the dock may hold
	 * mounted storage) ...
	 */
	d->tracker.n_devs = 0;
	put("bus/thunderbolt/devices/0-3/authorized", "1");
	put("bus/pci/devices/0000:05:00.0/class", "0x030000");
	put("bus/pci/devices/0000:05:00.0/removable", "removable");
	assert_int_equal(egpud_deauthorize_all(d, NULL), 0);
	get("bus/thunderbolt/devices/0-1/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	get("bus/thunderbolt/devices/0-3/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	/* ... and with the dock gone, the sole router behind which sysfs
	 * shows an external display-class function goes. */
	put("bus/thunderbolt/devices/0-1/authorized", "0");
	assert_int_equal(egpud_deauthorize_all(d, NULL), 1);
	get("bus/thunderbolt/devices/0-3/authorized", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	daemon_fixture_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_user_level_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iommu_wait_then_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_refuses_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secure_key_then_challenge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secure_bad_key_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secure_rule_auto_needs_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deauthorized_stays_across_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_reapplies_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_router_does_not_stall_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decision_from_a_job_child, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outside_deauthorization_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enrolled_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deauthorize_all, setup, teardown),
	};

	return cmocka_run_group_tests_name("user_auth", tests, NULL, NULL);
}
