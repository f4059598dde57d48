// SPDX-License-Identifier: GPL-2.0
/*
 * egpu_cuda_errname(), the CUresult formatter of the checkpoint engine and
 * libegpu: cuda.h's name of a result egpuhp acts upon (driver or not), the
 * driver's name of any other, the number where neither names it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "common/cuda_errname.h"

static int driver_calls;

/* A driver that knows 700 only (and would misname 801, never asked). */
static int driver_names(int err, const char **name)
{
	driver_calls++;
	if (err == 700) {
		*name = "CUDA_ERROR_ILLEGAL_ADDRESS";
		return 0;
	}
	if (err == 801) {
		*name = "WRONG";
		return 0;
	}
	return 1;	/* CUDA_ERROR_INVALID_VALUE, as cuGetErrorName says */
}

static void test_known_without_driver(void **state)
{
	char buf[64];

	assert_string_equal(egpu_cuda_errname(801, NULL, buf, sizeof(buf)),
			    "CUDA_ERROR_NOT_SUPPORTED (801)");
	assert_string_equal(egpu_cuda_errname(0, NULL, buf, sizeof(buf)), "CUDA_SUCCESS (0)");
	assert_string_equal(egpu_cuda_errname(999, NULL, buf, sizeof(buf)),
			    "CUDA_ERROR_UNKNOWN (999)");
	/* unknown here and no driver: the number */
	assert_string_equal(egpu_cuda_errname(700, NULL, buf, sizeof(buf)), "CUresult 700");
	assert_string_equal(egpu_cuda_errname(-5, NULL, buf, sizeof(buf)), "CUresult -5");
}

static void test_driver_names(void **state)
{
	char buf[64];

	driver_calls = 0;
	/* a known result is cuda.h's name, the driver is not asked */
	assert_string_equal(egpu_cuda_errname(801, driver_names, buf, sizeof(buf)),
			    "CUDA_ERROR_NOT_SUPPORTED (801)");
	assert_int_equal(driver_calls, 0);
	assert_string_equal(egpu_cuda_errname(700, driver_names, buf, sizeof(buf)),
			    "CUDA_ERROR_ILLEGAL_ADDRESS (700)");
	assert_int_equal(driver_calls, 1);
	/* the driver refuses: the number */
	assert_string_equal(egpu_cuda_errname(719, driver_names, buf, sizeof(buf)),
			    "CUresult 719");
	assert_int_equal(driver_calls, 2);
}

static void test_short_buffer(void **state)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	assert_ptr_equal(egpu_cuda_errname(801, NULL, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "CUDA_ER");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_without_driver),
		cmocka_unit_test(test_driver_names),
		cmocka_unit_test(test_short_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
