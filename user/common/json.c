// SPDX-License-Identifier: GPL-2.0
#include "common/json.h"

void egpu_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		default:
			if (c < 0x20)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

void egpu_json_key(FILE *f, int *first, const char *key)
{
	if (!*first)
		fputc(',', f);
	*first = 0;
	egpu_json_str(f, key);
	fputc(':', f);
}

void egpu_json_kv_str(FILE *f, int *first, const char *key, const char *val)
{
	egpu_json_key(f, first, key);
	egpu_json_str(f, val);
}

void egpu_json_kv_uint(FILE *f, int *first, const char *key, unsigned long long val)
{
	egpu_json_key(f, first, key);
	fprintf(f, "%llu", val);
}

void egpu_json_kv_int(FILE *f, int *first, const char *key, long long val)
{
	egpu_json_key(f, first, key);
	fprintf(f, "%lld", val);
}

void egpu_json_kv_bool(FILE *f, int *first, const char *key, int val)
{
	egpu_json_key(f, first, key);
	fputs(val ? "true" : "false", f);
}
