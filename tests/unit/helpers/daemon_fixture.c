// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include "common/config.h"
#include "helpers/daemon_fixture.h"

struct egpud *daemon_fixture_new(const char *conf_text)
{
	struct egpud *d = calloc(1, sizeof(*d));
	char err[256];

	assert_non_null(d);
	d->cfg = egpu_config_parse("t.conf", conf_text, err, sizeof(err));
	if (!d->cfg)
		fail_msg("%s", err);
	return d;
}

void daemon_fixture_free(struct egpud *d)
{
	egpu_config_free(d->cfg);
	free(d->tracker.devs);
	free(d);
}
