// SPDX-License-Identifier: GPL-2.0
/*
 * The eject's config key: [daemon] eject-grace-ms (docs/egpud.conf.5).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/config.h"

static void grace_default_and_set(void **state)
{
	struct egpu_config *c;
	char err[256];

	c = egpu_config_parse("t.conf", "", err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->eject_grace_ms, 2000);
	egpu_config_free(c);
	c = egpu_config_parse("t.conf", "[daemon]\neject-grace-ms = 0\n", err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->eject_grace_ms, 0);
	egpu_config_free(c);
	c = egpu_config_parse("t.conf", "[daemon]\neject-grace-ms = 600000\n", err,
			      sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->eject_grace_ms, 600000);
	egpu_config_free(c);
}

static void grace_refusals(void **state)
{
	static const char *const bad[] = {
		"[daemon]\neject-grace-ms = 600001\n",
		"[daemon]\neject-grace-ms = -1\n",
		"[daemon]\neject-grace-ms = 2s\n",
		"[daemon]\neject-grace-ms =\n",
	};
	struct egpu_config *c;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		c = egpu_config_parse("t.conf", bad[i], err, sizeof(err));
		assert_null(c);
		assert_non_null(strstr(err, "t.conf:2:"));
	}
	c = egpu_config_parse("t.conf", "[daemon]\neject-grace-ms = 1\neject-grace-ms = 2\n",
			      err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, "t.conf:3:"));
	/* only in [daemon] */
	c = egpu_config_parse("t.conf", "[hooks]\neject-grace-ms = 1\n", err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, "unknown key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grace_default_and_set),
		cmocka_unit_test(grace_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
