/* SPDX-License-Identifier: GPL-2.0 */
/* Minimal JSON writing helpers (strings are escaped, nothing is buffered). */
#ifndef EGPU_JSON_H
#define EGPU_JSON_H

#include <stdio.h>

/* Write s as a JSON string literal, quotes included. */
void egpu_json_str(FILE *f, const char *s);
/* "key": "value" with a leading comma unless first. */
void egpu_json_kv_str(FILE *f, int *first, const char *key, const char *val);
void egpu_json_kv_uint(FILE *f, int *first, const char *key, unsigned long long val);
void egpu_json_kv_int(FILE *f, int *first, const char *key, long long val);
void egpu_json_kv_bool(FILE *f, int *first, const char *key, int val);
/* "key": followed by whatever the caller writes next. */
void egpu_json_key(FILE *f, int *first, const char *key);

#endif /* EGPU_JSON_H */
