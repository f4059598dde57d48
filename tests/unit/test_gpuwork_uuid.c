// SPDX-License-Identifier: GPL-2.0
/*
 * gpuwork: GPU UUIDs, PCI addresses and the UUID map of a cross-GPU restore.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gpuwork/gw_internal.h"

static void uuid_roundtrip(void **state)
{
	const char *s = "GPU-bb82b075-3bed-8ee8-25d0-58b0e6a7ad79";
	struct gw_uuid u, v;
	char buf[GW_UUID_LEN];

	assert_int_equal(gw_uuid_parse(s, &u), 0);
	assert_int_equal(u.b[0], 0xbb);
	assert_int_equal(u.b[15], 0x79);
	gw_uuid_format(&u, buf, sizeof(buf));
	assert_string_equal(buf, s);
	/* without the prefix, upper case */
	assert_int_equal(gw_uuid_parse("BB82B075-3BED-8EE8-25D0-58B0E6A7AD79", &v), 0);
	assert_true(gw_uuid_equal(&u, &v));
}

static void uuid_rejects(void **state)
{
	static const char *const bad[] = {
		"", "GPU-", "GPU-bb82b075-3bed-8ee8-25d0-58b0e6a7ad7",	/* short */
		"GPU-bb82b075-3bed-8ee8-25d0-58b0e6a7ad790",		/* long */
		"GPU-bb82b0753bed-8ee8-25d0-58b0e6a7ad79",		/* dash missing */
		"GPU-bb82b075-3bed-8ee8-25d0-58b0e6a7adz9",		/* not hex */
		"0000:01:00.0",
	};
	struct gw_uuid u;
	size_t i;

	for (i = 0; i < GW_ARRAY_SIZE(bad); i++)
		assert_int_equal(gw_uuid_parse(bad[i], &u), -EINVAL);
}

static void mk(struct gw_uuid *u, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		memset(u[i].b, 0, sizeof(u[i].b));
		u[i].b[0] = (unsigned char)(0x10 + i);
	}
}

/* Every GPU appears exactly once as old and once as new. */
static void assert_permutation(const struct gw_uuid *all, int n, const struct gw_gpu_pair *p)
{
	int i, j, olds, news;

	for (i = 0; i < n; i++) {
		olds = news = 0;
		for (j = 0; j < n; j++) {
			olds += gw_uuid_equal(&p[j].old_uuid, &all[i]);
			news += gw_uuid_equal(&p[j].new_uuid, &all[i]);
		}
		assert_int_equal(olds, 1);
		assert_int_equal(news, 1);
	}
}

static void pairs_two_gpus_swap(void **state)
{
	struct gw_uuid all[2];
	struct gw_gpu_pair p[2];

	mk(all, 2);
	assert_int_equal(gw_build_pairs(all, 2, &all[0], &all[1], p), 2);
	assert_permutation(all, 2, p);
	assert_true(gw_uuid_equal(&p[0].old_uuid, &all[0]));
	assert_true(gw_uuid_equal(&p[0].new_uuid, &all[1]));
	assert_true(gw_uuid_equal(&p[1].old_uuid, &all[1]));
	assert_true(gw_uuid_equal(&p[1].new_uuid, &all[0]));
}

static void pairs_four_gpus_others_fixed(void **state)
{
	struct gw_uuid all[4];
	struct gw_gpu_pair p[4];
	int i;

	mk(all, 4);
	assert_int_equal(gw_build_pairs(all, 4, &all[3], &all[1], p), 4);
	assert_permutation(all, 4, p);
	for (i = 0; i < 4; i++) {
		const struct gw_uuid *want = i == 3 ? &all[1] : i == 1 ? &all[3] : &all[i];

		assert_true(gw_uuid_equal(&p[i].old_uuid, &all[i]));
		assert_true(gw_uuid_equal(&p[i].new_uuid, want));
	}
}

static void pairs_same_gpu_is_identity(void **state)
{
	struct gw_uuid all[3];
	struct gw_gpu_pair p[3];
	int i;

	mk(all, 3);
	assert_int_equal(gw_build_pairs(all, 3, &all[2], &all[2], p), 3);
	for (i = 0; i < 3; i++)
		assert_true(gw_uuid_equal(&p[i].old_uuid, &p[i].new_uuid));
}

static void pairs_rejects(void **state)
{
	struct gw_uuid all[3], other;
	struct gw_gpu_pair p[3];

	mk(all, 3);
	memset(&other, 0x77, sizeof(other));
	assert_int_equal(gw_build_pairs(all, 0, &all[0], &all[1], p), -EINVAL);
	assert_int_equal(gw_build_pairs(all, 3, &other, &all[1], p), -EINVAL);
	assert_int_equal(gw_build_pairs(all, 3, &all[0], &other, p), -EINVAL);
	all[2] = all[1];	/* a driver listing one GPU twice */
	assert_int_equal(gw_build_pairs(all, 3, &all[0], &all[1], p), -EINVAL);
}

static void abi_layouts(void **state)
{
	/* The driver ABI (cuda.h, CUDA 13): offsets the driver reads. */
	assert_int_equal(offsetof(struct gw_cu_restore_args, gpu_pairs_count), 8);
	assert_int_equal(offsetof(struct gw_cu_restore_args, reserved1), 56);
	assert_int_equal(offsetof(struct gw_gpu_pair, new_uuid), 16);
	assert_int_equal(offsetof(struct gw_cu_lock_args, reserved1), 8);
}

static void pci_normalise(void **state)
{
	char buf[GW_PCI_LEN];

	assert_int_equal(gw_pci_normalise("00000000:1A:00.0", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0000:1a:00.0");
	assert_int_equal(gw_pci_normalise("0000:00:06.0", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0000:00:06.0");
	assert_int_equal(gw_pci_normalise("3:00.1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0000:03:00.1");
	assert_int_equal(gw_pci_normalise("0000:00:20.0", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(gw_pci_normalise("0000:00:06.8", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(gw_pci_normalise("0000:100:06.0", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(gw_pci_normalise("0000:00:06.0x", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(gw_pci_normalise("GPU-1234", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(gw_pci_normalise("", buf, sizeof(buf)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uuid_roundtrip),
		cmocka_unit_test(uuid_rejects),
		cmocka_unit_test(pairs_two_gpus_swap),
		cmocka_unit_test(pairs_four_gpus_others_fixed),
		cmocka_unit_test(pairs_same_gpu_is_identity),
		cmocka_unit_test(pairs_rejects),
		cmocka_unit_test(abi_layouts),
		cmocka_unit_test(pci_normalise),
	};

	return cmocka_run_group_tests_name("gpuwork_uuid", tests, NULL, NULL);
}
