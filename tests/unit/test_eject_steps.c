// SPDX-License-Identifier: GPL-2.0
/*
 * Requested eject, steps 2-4 (egpud/eject_steps.c): the order of the
 * effects, what stops the flow, what state a stop leaves and how it is
 * reported.  Fake effects record every call; the last tests drive the real
 * gpuwork engine against its fake CUDA driver and fake /proc (helpers/).
 */
// unit-test-links: egpud/eject_steps.c egpud/eject_ops.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "egpud/eject.h"
#include "helpers/gw_fake.h"

struct fake {
	char log[1024];			/* "users:PCI evacuate:PCI shutdown ..." */
	struct gw_user users[4];	/* users of every GPU asked about */
	size_t n_users;
	int find_err, evacuate_rc, eject_err[4], deauth_allowed, deauth_err;
	int n_eject;
	uint64_t clock;
};

static struct fake fk;

static void logf_(const char *fmt, ...)
{
	size_t n = strlen(fk.log);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fk.log + n, sizeof(fk.log) - n, fmt, ap);
	va_end(ap);
}

static int f_find_users(void *ctx, const char *pci, struct gw_users *out)
{
	size_t i;

	logf_("users:%s ", pci);
	memset(out, 0, sizeof(*out));
	if (fk.find_err)
		return fk.find_err;
	out->v = calloc(fk.n_users ? fk.n_users : 1, sizeof(*out->v));
	for (i = 0; i < fk.n_users; i++) {
		out->v[i] = fk.users[i];
		snprintf(out->v[i].pci, sizeof(out->v[i].pci), "%s", pci);
	}
	out->n = out->cap = fk.n_users;
	return 0;
}

static int f_evacuate(void *ctx, const char *pci, const char *to, const pid_t *skip,
		      size_t n_skip, FILE *log)
{
	size_t i;

	logf_("evacuate:%s%s%s ", pci, to ? ">" : "", to ? to : "");
	for (i = 0; i < n_skip; i++)
		logf_("skip:%d ", (int)skip[i]);
	fprintf(log, "checkpoint pid 42: %s\n", fk.evacuate_rc ? "failed" : "ok");
	return fk.evacuate_rc;
}

static void f_shutdown(void *ctx)
{
	logf_("shutdown ");
}

static int f_module_eject(void *ctx, const char *pci, char *msg, size_t len)
{
	int err = fk.eject_err[fk.n_eject < 4 ? fk.n_eject : 3];

	fk.n_eject++;
	logf_("eject:%s ", pci);
	if (err)
		snprintf(msg, len, "PCI function is not tracked by egpuhp");
	return err;
}

static int f_deauth_allowed(void *ctx, const char *router)
{
	logf_("allowed?:%s ", router);
	return fk.deauth_allowed;
}

static int f_deauthorize(void *ctx, const char *router)
{
	logf_("deauth:%s ", router);
	return fk.deauth_err;
}

static uint64_t f_now(void *ctx)
{
	return fk.clock += 5;
}

static const struct egpu_eject_ops fake_ops = {
	.find_users = f_find_users, .evacuate = f_evacuate, .shutdown = f_shutdown,
	.module_eject = f_module_eject, .deauth_allowed = f_deauth_allowed,
	.deauthorize = f_deauthorize, .now_ms = f_now,
};

static struct egpu_eject_plan plan;

static int setup(void **state)
{
	memset(&fk, 0, sizeof(fk));
	fk.deauth_allowed = 1;
	memset(&plan, 0, sizeof(plan));
	snprintf(plan.target, sizeof(plan.target), "0000:05:00.0");
	plan.n_fn = 2;
	snprintf(plan.fn[0], sizeof(plan.fn[0]), "0000:05:00.0");
	snprintf(plan.fn[1], sizeof(plan.fn[1]), "0000:05:00.1");
	plan.n_gpu = 1;
	snprintf(plan.gpu[0], sizeof(plan.gpu[0]), "0000:05:00.0");
	plan.n_head = 1;
	snprintf(plan.head[0], sizeof(plan.head[0]), "0000:05:00.0");
	snprintf(plan.router, sizeof(plan.router), "0-1");
	return 0;
}

static void user(int pid, const char *comm, enum gw_node_kind kind, const char *node,
		 bool checkpointable)
{
	struct gw_user *u = &fk.users[fk.n_users++];

	memset(u, 0, sizeof(*u));
	u->pid = pid;
	snprintf(u->comm, sizeof(u->comm), "%s", comm);
	u->kind = kind;
	snprintf(u->node, sizeof(u->node), "%s", node);
	u->checkpointable = checkpointable;
}

/* Run steps 2-4 through ops and the report on res as it is; the text, rc in *rc. */
static char *run_ops(const struct egpu_eject_ops *ops, const struct egpu_eject_opts *o,
		     struct egpu_eject_result *res, int *rc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	*rc = egpu_eject_run(&plan, o, ops, NULL, res, out);
	egpu_eject_report(&plan, o, res, out);
	fclose(out);
	return text;
}

/* The same with the fake effects, from a fresh result. */
static char *run(const struct egpu_eject_opts *o, struct egpu_eject_result *res, int *rc)
{
	egpu_eject_result_init(res);
	return run_ops(&fake_ops, o, res, rc);
}

/* The plan's group has a second head, 0000:06:00.0, removed after the first. */
static void second_head(void)
{
	plan.n_head = 2;
	snprintf(plan.head[1], sizeof(plan.head[1]), "0000:06:00.0");
}

static void no_workloads_full_flow(void **state)
{
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *t;
	int rc;

	t = run(&o, &res, &rc);
	assert_int_equal(rc, 0);
	/* the order is the point: users, our helper, the module, the router */
	assert_string_equal(fk.log, "users:0000:05:00.0 shutdown eject:0000:05:00.0 "
			    "allowed?:0-1 deauth:0-1 ");
	assert_true(res.safe_to_unplug);
	assert_true(res.removed);
	assert_int_equal(res.stopped_at, -1);
	assert_int_equal(res.step[EGPU_EJECT_EVACUATE].outcome, EGPU_STEP_SKIPPED);
	assert_non_null(strstr(t, "no GPU workloads on 0000:05:00.0"));
	assert_non_null(strstr(t, "router 0-1 de-authorized"));
	assert_non_null(strstr(t, "safe to unplug: 0000:05:00.0 0000:05:00.1 "
			       "(router 0-1 de-authorized)"));
	assert_null(strstr(t, "restore"));
	free(t);
}

static void cuda_users_checkpointed_first(void **state)
{
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *t;
	int rc;

	user(42, "trainer", GW_NODE_NVIDIA, "/dev/nvidia0", true);
	user(43, "infer", GW_NODE_NVIDIA, "/dev/nvidia0", true);
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(fk.log, "users:0000:05:00.0 evacuate:0000:05:00.0 shutdown "
			    "eject:0000:05:00.0 allowed?:0-1 deauth:0-1 ");
	assert_non_null(strstr(t, "2 CUDA processes checkpointed"));
	assert_int_equal(res.n_restore, 2);
	assert_int_equal(res.restore_pid[0], 42);
	assert_non_null(strstr(t, "egpuctl restore PID --to"));
	free(t);
}

static void migrate_with_to(void **state)
{
	struct egpu_eject_opts o = { .to = "0000:02:00.0" };
	struct egpu_eject_result res;
	char *t;
	int rc;

	user(42, "trainer", GW_NODE_NVIDIA, "/dev/nvidia0", true);
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(fk.log, "evacuate:0000:05:00.0>0000:02:00.0 "));
	assert_non_null(strstr(t, "1 CUDA process migrated to 0000:02:00.0"));
	assert_int_equal(res.n_restore, 0);	/* migrated ones run already */
	free(t);
}

static void vm_user_refuses_before_anything(void **state)
{
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *t;
	int rc;

	user(42, "trainer", GW_NODE_NVIDIA, "/dev/nvidia0", true);
	user(300, "qemu", GW_NODE_VFIO, "/dev/vfio/3", false);
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 1);
	/* nothing moved, nothing removed: not even the CUDA user was touched */
	assert_string_equal(fk.log, "users:0000:05:00.0 ");
	assert_false(res.safe_to_unplug);
	assert_false(res.removed);
	assert_int_equal(res.stopped_at, EGPU_EJECT_EVACUATE);
	assert_int_equal(res.n_restore, 0);
	assert_non_null(strstr(t, "eject refused: pid 300 (qemu) holds /dev/vfio/3 (vfio)"));
	assert_non_null(strstr(t, "--force"));
	assert_non_null(strstr(t, "stopped at evacuate: nothing was changed"));
	free(t);
}

static void force_goes_past_unmovable(void **state)
{
	struct egpu_eject_opts o = { .force = true };
	struct egpu_eject_result res;
	char *t;
	int rc;

	user(42, "trainer", GW_NODE_NVIDIA, "/dev/nvidia0", true);
	user(77, "Xorg", GW_NODE_DRM_CARD, "/dev/dri/card1", false);
	fk.evacuate_rc = GW_FAIL;	/* gw_evacuate counts the DRM user as failed */
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(fk.log, "users:0000:05:00.0 evacuate:0000:05:00.0 shutdown "
			    "eject:0000:05:00.0 allowed?:0-1 deauth:0-1 ");
	assert_non_null(strstr(t, "--force: left in place: pid 77 (Xorg)"));
	free(t);
}

static void checkpoint_failure_stops_with_restore_hint(void **state)
{
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *t;
	int rc;

	user(42, "trainer", GW_NODE_NVIDIA, "/dev/nvidia0", true);
	fk.evacuate_rc = GW_FAIL;
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(fk.log, "users:0000:05:00.0 evacuate:0000:05:00.0 ");
	assert_int_equal(res.stopped_at, EGPU_EJECT_EVACUATE);
	assert_non_null(strstr(t, "checkpoint pid 42: failed"));	/* gpuwork's details */
	assert_non_null(strstr(t, "nothing was removed"));
	assert_non_null(strstr(t, "restore with: egpuctl restore 42"));
	free(t);
}

static void scan_failure_stops(void **state)
{
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *t;
	int rc;

	fk.find_err = -EACCES;
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(fk.log, "users:0000:05:00.0 ");
	assert_non_null(strstr(t, "cannot tell who uses 0000:05:00.0: Permission denied"));
	free(t);
}

static void module_refusal_stops_before_router(void **state)
{
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *t;
	int rc;

	fk.eject_err[0] = -EPERM;
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 1);
	assert_null(strstr(fk.log, "deauth"));
	assert_int_equal(res.stopped_at, EGPU_EJECT_REMOVE);
	assert_false(res.removed);
	assert_non_null(strstr(t, "module eject of 0000:05:00.0 failed: Operation not "
			       "permitted: PCI function is not tracked by egpuhp"));
	assert_non_null(strstr(t, "stopped at remove: the functions are still in place"));
	free(t);
}

/* Unplugged during the grace period: not removed by us, but gone; go on. */
static void already_gone_is_not_claimed(void **state)
{
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *t;
	int rc;

	fk.eject_err[0] = -ENODEV;
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res.step[EGPU_EJECT_REMOVE].outcome, EGPU_STEP_SKIPPED);
	assert_non_null(strstr(t, "already gone: removed while the eject was under way, "
			       "not by it"));
	assert_null(strstr(t, "removed in order"));
	assert_non_null(strstr(fk.log, "deauth:0-1"));
	free(t);
}

static void later_heads_already_gone_are_fine(void **state)
{
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *t;
	int rc;

	second_head();
	fk.eject_err[1] = -ENODEV;	/* went with the first one */
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(fk.log, "eject:0000:05:00.0 eject:0000:06:00.0 allowed?"));
	free(t);
	/* but a real failure of a later one is partial removal */
	setup(state);
	second_head();
	fk.eject_err[1] = -EBUSY;
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(t, "part of the group was removed"));
	free(t);
}

static void router_rules(void **state)
{
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *t;
	int rc;

	/* the domain does not allow de-authorization: removed, router stays */
	fk.deauth_allowed = 0;
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 0);
	assert_null(strstr(fk.log, "deauth:"));
	assert_int_equal(res.step[EGPU_EJECT_DEAUTHORIZE].outcome, EGPU_STEP_SKIPPED);
	assert_non_null(strstr(t, "does not allow de-authorization"));
	assert_non_null(strstr(t, "(router 0-1 still authorized)"));
	free(t);
	/* the write fails: stop there, say what state things are in */
	setup(state);
	fk.deauth_err = -EPERM;
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 1);
	assert_true(res.removed);
	assert_int_equal(res.stopped_at, EGPU_EJECT_DEAUTHORIZE);
	assert_non_null(strstr(t, "functions are removed but router 0-1 is still authorized"));
	free(t);
	/* no router */
	setup(state);
	plan.router[0] = '\0';
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 0);
	assert_null(strstr(fk.log, "allowed?"));
	assert_non_null(strstr(t, "no Thunderbolt router carries it"));
	assert_non_null(strstr(t, "safe to unplug: 0000:05:00.0 0000:05:00.1, "));
	free(t);
}

static void json_report(void **state)
{
	struct egpu_eject_opts o = { .json = true };
	struct egpu_eject_result res;
	char *t;
	int rc;

	user(300, "qemu", GW_NODE_VFIO, "/dev/vfio/3", false);
	egpu_eject_result_init(&res);
	t = run(&o, &res, &rc);
	assert_int_equal(rc, 1);
	/* one object, nothing before it */
	assert_int_equal(t[0], '{');
	assert_int_equal(strchr(t, '\n') - t + 1, (long)strlen(t));
	/* the one envelope (docs/egpuctl-json.md), the report its data */
	assert_int_equal(strncmp(t, "{\"version\":1,\"verb\":\"eject\",\"ok\":false,\"status\":1,"
				 "\"data\":{\"target\":", 67), 0);
	assert_non_null(strstr(t, "\"error\":\"eject of "));
	assert_non_null(strstr(t, "\"code\":\"failed\",\"messages\":[]}\n"));
	assert_non_null(strstr(t, "\"functions\":[\"0000:05:00.0\",\"0000:05:00.1\"]"));
	assert_non_null(strstr(t, "\"router\":\"0-1\""));
	assert_non_null(strstr(t, "\"stopped_at\":\"evacuate\""));
	assert_non_null(strstr(t, "{\"step\":\"evacuate\",\"outcome\":\"failed\""));
	assert_non_null(strstr(t, "{\"step\":\"remove\",\"outcome\":\"not run\""));
	free(t);
}

/* --- the real gpuwork engine with the fake CUDA driver ------------------- */

static char *root;

static int setup_gw(void **state)
{
	static const char *const nodes[] = { "/dev/nvidiactl", "/dev/nvidia0",
					     "/dev/nvidia-uvm", NULL };

	setup(state);
	root = gwt_tmpdir();
	fake_cuda_reset(2);
	gwt_fake_system(root, 2, NULL);
	gwt_fake_proc(root, 100, "trainer", nodes);
	fake_cuda_add_proc(100, 0, 1ULL << 30);
	fake_cuda_install();
	gw_set_inprocess(true);
	snprintf(plan.gpu[0], sizeof(plan.gpu[0]), "0000:01:00.0");
	snprintf(plan.head[0], sizeof(plan.head[0]), "0000:01:00.0");
	return 0;
}

static int teardown_gw(void **state)
{
	fake_cuda_uninstall();
	gwt_rmtree(root);
	return 0;
}

static struct egpu_eject_ops gw_ops(void)
{
	struct egpu_eject_ops ops = fake_ops;

	ops.find_users = egpu_eject_real_ops.find_users;
	ops.evacuate = egpu_eject_real_ops.evacuate;
	ops.shutdown = egpu_eject_real_ops.shutdown;
	return ops;
}

static void gpuwork_checkpoints_before_removal(void **state)
{
	struct egpu_eject_ops ops = gw_ops();
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *text;
	int rc;

	egpu_eject_result_init(&res);
	text = run_ops(&ops, &o, &res, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(fake_cuda.proc[0].state, GW_CU_STATE_CHECKPOINTED);
	assert_non_null(strstr(fake_cuda.log, "ckpt"));
	assert_string_equal(fk.log, "eject:0000:01:00.0 allowed?:0-1 deauth:0-1 ");
	assert_non_null(strstr(text, "1 CUDA process checkpointed"));
	assert_int_equal(res.n_restore, 1);
	assert_int_equal(res.restore_pid[0], 100);
	free(text);
}

static void gpuwork_vm_refuses(void **state)
{
	static const char *const vm[] = { "/dev/vfio/3", NULL };
	struct egpu_eject_ops ops = gw_ops();
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *text;
	int rc;

	gwt_mkdir(root, "sys/kernel/iommu_groups/3/devices/0000:01:00.0");
	gwt_fake_proc(root, 300, "qemu", vm);
	egpu_eject_result_init(&res);
	text = run_ops(&ops, &o, &res, &rc);
	assert_int_equal(rc, 1);
	/* the CUDA process was not checkpointed for an eject that cannot happen */
	assert_int_equal(fake_cuda.proc[0].state, GW_CU_STATE_RUNNING);
	assert_string_equal(fk.log, "");
	assert_non_null(strstr(text, "pid 300 (qemu) holds /dev/vfio/3 (vfio)"));
	free(text);
}

static void gpuwork_checkpoint_error_keeps_gpu(void **state)
{
	struct egpu_eject_ops ops = gw_ops();
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	char *text;
	int rc;

	fake_cuda_inject(FAKE_CU_CHECKPOINT, GW_CU_OUT_OF_MEMORY);
	egpu_eject_result_init(&res);
	text = run_ops(&ops, &o, &res, &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(fk.log, "");	/* never asked the module */
	assert_int_equal(res.stopped_at, EGPU_EJECT_EVACUATE);
	assert_non_null(strstr(text, "restore with: egpuctl restore 100"));
	free(text);
}

/*
 * A process whose final snapshot came is neither locked nor checkpointed
 * by the fake libcuda; the rest of its workload (a tree: 100 started 101
 * and 102) still is, locked together before either is checkpointed.
 */
static void fake_libcuda_snapshot_member_left_out_of_tree_checkpoint(void **state)
{
	static const char *const nodes[] = { "/dev/nvidiactl", "/dev/nvidia0", NULL };
	struct egpu_eject_ops ops = gw_ops();
	struct egpu_eject_opts o = { 0 };
	struct egpu_eject_result res;
	const char *lock;
	char *text;
	int rc;

	gwt_fake_proc_family(root, 100, "trainer", 1, 99, "/user.slice/s.scope");
	gwt_fake_proc(root, 101, "loader", nodes);
	gwt_fake_proc_family(root, 101, "loader", 100, 99, "/user.slice/s.scope");
	gwt_fake_proc(root, 102, "loader", nodes);
	gwt_fake_proc_family(root, 102, "loader", 100, 99, "/user.slice/s.scope");
	fake_cuda_add_proc(101, 0, 1ULL << 30);
	fake_cuda_add_proc(102, 0, 1ULL << 30);
	egpu_eject_result_init(&res);
	res.n_snap = 1;
	res.snap[0].pid = 100;
	res.snap[0].final = true;
	text = run_ops(&ops, &o, &res, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(fake_cuda.proc[0].state, GW_CU_STATE_RUNNING);	/* 100 */
	assert_int_equal(fake_cuda.proc[1].state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(fake_cuda.proc[2].state, GW_CU_STATE_CHECKPOINTED);
	assert_int_equal(fake_cuda.calls[FAKE_CU_LOCK], 2);
	assert_int_equal(fake_cuda.calls[FAKE_CU_CHECKPOINT], 2);
	/* both locked before either is checkpointed: one workload */
	lock = strstr(fake_cuda.log, "lock");
	assert_non_null(lock);
	assert_non_null(strstr(lock + 1, "lock"));
	assert_true(strstr(lock + 1, "lock") < strstr(fake_cuda.log, "ckpt"));
	assert_non_null(strstr(text, "2 CUDA processes checkpointed; 1 left to its own snapshot "
			       "(pid 100)"));
	assert_non_null(strstr(text, "pid 100 (trainer): left alone"));
	assert_int_equal(res.n_restore, 2);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(no_workloads_full_flow, setup),
		cmocka_unit_test_setup(cuda_users_checkpointed_first, setup),
		cmocka_unit_test_setup(migrate_with_to, setup),
		cmocka_unit_test_setup(vm_user_refuses_before_anything, setup),
		cmocka_unit_test_setup(force_goes_past_unmovable, setup),
		cmocka_unit_test_setup(checkpoint_failure_stops_with_restore_hint, setup),
		cmocka_unit_test_setup(scan_failure_stops, setup),
		cmocka_unit_test_setup(module_refusal_stops_before_router, setup),
		cmocka_unit_test_setup(already_gone_is_not_claimed, setup),
		cmocka_unit_test_setup(later_heads_already_gone_are_fine, setup),
		cmocka_unit_test_setup(router_rules, setup),
		cmocka_unit_test_setup(json_report, setup),
		cmocka_unit_test_setup_teardown(gpuwork_checkpoints_before_removal, setup_gw,
						teardown_gw),
		cmocka_unit_test_setup_teardown(gpuwork_vm_refuses, setup_gw, teardown_gw),
		cmocka_unit_test_setup_teardown(fake_libcuda_snapshot_member_left_out_of_tree_checkpoint,
						setup_gw, teardown_gw),
		cmocka_unit_test_setup_teardown(gpuwork_checkpoint_error_keeps_gpu, setup_gw,
						teardown_gw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
