/* SPDX-License-Identifier: GPL-2.0 */
/* Minimal JSON writing helpers (strings are escaped, nothing is buffered). */
#ifndef EGPU_JSON_H
#define EGPU_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Write s as a JSON string literal, quotes included. */
void egpu_json_str(FILE *f, const char *s);
/* "key": "value" with a leading comma unless first. */
void egpu_json_kv_str(FILE *f, int *first, const char *key, const char *val);
void egpu_json_kv_uint(FILE *f, int *first, const char *key, unsigned long long val);
void egpu_json_kv_int(FILE *f, int *first, const char *key, long long val);
void egpu_json_kv_bool(FILE *f, int *first, const char *key, int val);
/*
 * "key": "10de": an identifier people read as hex, width lowercase digits
 * without a prefix (PCI/Thunderbolt IDs: 4; a PCI class: 6).
 */
void egpu_json_kv_hex(FILE *f, int *first, const char *key, int width, unsigned long long val);
/* "key": "0x1f": a bit mask in lowercase hex. */
void egpu_json_kv_mask(FILE *f, int *first, const char *key, unsigned long long val);
/* "key": followed by whatever the caller writes next. */
void egpu_json_key(FILE *f, int *first, const char *key);

/*
 * The one envelope of egpud's and egpuctl's JSON (docs/egpuctl-json.md),
 * on one line ended by "\n": version, verb, ok (status == 0), status,
 * data (the JSON object text data, left out when NULL or ""), and when
 * status != 0 error (error, else the first line of messages, else
 * "failed") and code (code, else "failed"); messages holds the lines of
 * messages (NULL: none).
 */
void egpu_json_envelope(FILE *f, const char *verb, int status, const char *code,
			const char *error, const char *data, const char *messages);

/*
 * Reading egpud's replies (docs/egpuctl-json.md): a whole document parsed
 * into a tree.  Strings come out as NUL-terminated UTF-8 (\u0000 and lone
 * surrogates become U+FFFD); nesting deeper than 32 is refused.
 */
enum egpu_jtype { EGPU_J_NULL, EGPU_J_BOOL, EGPU_J_NUM, EGPU_J_STR, EGPU_J_ARR, EGPU_J_OBJ };

struct egpu_jval {
	enum egpu_jtype type;
	char *key;		/* member name, in an object */
	char *str;		/* EGPU_J_STR */
	double num;		/* EGPU_J_NUM */
	bool b;			/* EGPU_J_BOOL */
	struct egpu_jval *kids;	/* EGPU_J_ARR, EGPU_J_OBJ */
	size_t n;
};

/* The document text[0..len-1], or NULL if it is not one JSON value. */
struct egpu_jval *egpu_json_parse(const char *text, size_t len);
void egpu_json_free(struct egpu_jval *v);
/* obj's member key (NULL if obj is no object or has none). */
const struct egpu_jval *egpu_json_get(const struct egpu_jval *obj, const char *key);
/* ... its string value, or NULL. */
const char *egpu_json_get_str(const struct egpu_jval *obj, const char *key);

#endif /* EGPU_JSON_H */
