// SPDX-License-Identifier: GPL-2.0
/*
 * egpuctl's reader of egpud's JSON replies (common/json.c); every string it
 * returns is written back by the writer, which must produce valid UTF-8.
 */
#include <stdio.h>

#include "common/json.h"
#include "fuzz.h"

static void write_all_strings(FILE *f, const struct egpu_jval *v)
{
	size_t i;

	if (v->key)
		egpu_json_str(f, v->key);
	if (v->str)
		egpu_json_str(f, v->str);
	for (i = 0; i < v->n; i++)
		write_all_strings(f, &v->kids[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exactly size bytes, so a read past the document is seen */
	char *copy = malloc(size ? size : 1);
	struct egpu_jval *v;
	FILE *null;

	if (!copy)
		abort();
	memcpy(copy, data, size);
	v = egpu_json_parse(copy, size);
	null = fopen("/dev/null", "w");
	if (v && null)
		write_all_strings(null, v);
	if (null)
		fclose(null);
	egpu_json_free(v);
	free(copy);
	return 0;
}
