// SPDX-License-Identifier: GPL-2.0
/*
 * common/json.c, the one JSON writer and reader egpuctl, egpud and gpuwork
 * share: output is valid UTF-8 whatever the bytes (DROM names), control
 * characters escaped; the reader takes egpud's envelope apart and refuses
 * what is not JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/json.h"

static char *write_str(const char *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	egpu_json_str(f, s);
	fclose(f);
	return text;
}

static void writer_always_valid_utf8(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "Razer Core X", "\"Razer Core X\"" },
		{ "a\"b\\c\nd\te\x01\x7f", "\"a\\\"b\\\\c\\nd\\te\\u0001\\u007f\"" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
		/* a lone continuation byte, a truncated sequence, overlong, surrogate */
		{ "x\x80y", "\"x\xef\xbf\xbdy\"" },
		{ "\xe2\x82", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = write_str(cases[i].in);

		assert_string_equal(t, cases[i].out);
		free(t);
	}
}

static void reader_takes_the_envelope_apart(void **state)
{
	static const char doc[] =
		"{\"version\":1,\"verb\":\"status\",\"ok\":true,\"status\":0,"
		"\"data\":{\"routers\":[{\"name\":\"0-1\",\"decision\":\"authorize\","
		"\"reason\":\"policy \\\"iommu\\\"\\u00e9\\ud83d\\ude00\"},{\"name\":\"0-3\"}],"
		"\"last_seq\":18446744073709551615,\"module_connected\":false,\"x\":null},"
		"\"messages\":[]}\n";
	struct egpu_jval *v = egpu_json_parse(doc, sizeof(doc) - 1);
	const struct egpu_jval *data, *r;

	assert_non_null(v);
	assert_int_equal(egpu_json_get(v, "version")->num, 1);
	assert_true(egpu_json_get(v, "ok")->b);
	data = egpu_json_get(v, "data");
	r = egpu_json_get(data, "routers");
	assert_int_equal(r->type, EGPU_J_ARR);
	assert_int_equal(r->n, 2);
	assert_string_equal(egpu_json_get_str(&r->kids[0], "name"), "0-1");
	assert_string_equal(egpu_json_get_str(&r->kids[0], "reason"),
			    "policy \"iommu\"\xc3\xa9\xf0\x9f\x98\x80");
	assert_null(egpu_json_get_str(&r->kids[1], "decision"));
	assert_false(egpu_json_get(data, "module_connected")->b);
	assert_int_equal(egpu_json_get(data, "x")->type, EGPU_J_NULL);
	assert_null(egpu_json_get(data, "nothing"));
	egpu_json_free(v);
}

static void reader_refuses_what_is_not_json(void **state)
{
	static const char *const bad[] = {
		"", "{", "{\"a\":}", "{\"a\" 1}", "[1,]", "[1 2]", "\"unterminated",
		"\"bad \\x escape\"", "\"raw \x01 control\"", "\"bad utf8 \xff\"", "tru", "{} x",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		"{\"k\":\"\\u12\"}", "1e", "-",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct egpu_jval *v = egpu_json_parse(bad[i], strlen(bad[i]));

		if (v)
			fail_msg("accepted: %s", bad[i]);
	}
	/* \u0000 cannot be in a C string: it becomes U+FFFD */
	{
		struct egpu_jval *v = egpu_json_parse("\"a\\u0000b\"", 10);

		assert_non_null(v);
		assert_string_equal(v->str, "a\xef\xbf\xbd" "b");
		egpu_json_free(v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writer_always_valid_utf8),
		cmocka_unit_test(reader_takes_the_envelope_apart),
		cmocka_unit_test(reader_refuses_what_is_not_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
