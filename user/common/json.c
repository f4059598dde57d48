// SPDX-License-Identifier: GPL-2.0
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * The one JSON string writer: always valid UTF-8 (DROM names and process
 * names are arbitrary bytes: a byte that is not part of a valid sequence
 * becomes U+FFFD), control characters escaped.
 */
void egpu_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	fputc('"', f);
	while (*p) {
		size_t n = utf8_len(p);

		if (!n) {
			fputs("\xef\xbf\xbd", f);	/* U+FFFD */
			p++;
			continue;
		}
		if (n > 1) {
			fwrite(p, 1, n, f);
			p += n;
			continue;
		}
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
		p++;
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

void egpu_json_kv_hex(FILE *f, int *first, const char *key, int width, unsigned long long val)
{
	egpu_json_key(f, first, key);
	fprintf(f, "\"%0*llx\"", width, val);
}

void egpu_json_kv_mask(FILE *f, int *first, const char *key, unsigned long long val)
{
	egpu_json_key(f, first, key);
	fprintf(f, "\"0x%llx\"", val);
}

void egpu_json_kv_bool(FILE *f, int *first, const char *key, int val)
{
	egpu_json_key(f, first, key);
	fputs(val ? "true" : "false", f);
}

/* The first line of text (up to its "\n"), copied; NULL if out of memory. */
static char *first_line(const char *text)
{
	return strndup(text, strcspn(text, "\n"));
}

void egpu_json_envelope(FILE *f, const char *verb, int status, const char *code,
			const char *error, const char *data, const char *messages)
{
	const char *s = messages ? messages : "";
	int first = 1;

	fputc('{', f);
	egpu_json_kv_uint(f, &first, "version", 1);
	egpu_json_kv_str(f, &first, "verb", verb ? verb : "");
	egpu_json_kv_bool(f, &first, "ok", status == 0);
	egpu_json_kv_int(f, &first, "status", status);
	if (data && data[0]) {
		size_t n = strlen(data);

		/* writers end their object with "\n": the envelope is one line */
		while (n && (data[n - 1] == '\n' || data[n - 1] == ' '))
			n--;
		egpu_json_key(f, &first, "data");
		fwrite(data, 1, n, f);
	}
	if (status) {
		char *line = error ? NULL : first_line(s);
		const char *e = error ? error : line;

		egpu_json_kv_str(f, &first, "error", e && e[0] ? e : "failed");
		egpu_json_kv_str(f, &first, "code", code ? code : "failed");
		free(line);
	}
	egpu_json_key(f, &first, "messages");
	fputc('[', f);
	first = 1;
	while (*s) {
		size_t n = strcspn(s, "\n");
		char *line = strndup(s, n);

		if (!first)
			fputc(',', f);
		first = 0;
		egpu_json_str(f, line ? line : "");
		free(line);
		s += n;
		if (*s)
			s++;
	}
	fputs("]}\n", f);
}

/* --- reading ---------------------------------------------------------------- */

#define JSON_MAX_DEPTH	32

struct jparser {
	const char *p, *end;
	int depth;
};

static void skip_ws(struct jparser *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool put_bytes(char **buf, size_t *len, size_t *cap, const char *b, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = (*cap ? *cap * 2 : 32) + n;
		char *nb = realloc(*buf, c);

		if (!nb)
			return false;
		*buf = nb;
		*cap = c;
	}
	memcpy(*buf + *len, b, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

static bool put_utf8(char **buf, size_t *len, size_t *cap, unsigned int cp)
{
	char tmp[4];
	size_t n;

	if (cp < 0x80) {
		tmp[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		tmp[0] = (char)(0xc0 | cp >> 6);
		tmp[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		tmp[0] = (char)(0xe0 | cp >> 12);
		tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		tmp[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		tmp[0] = (char)(0xf0 | cp >> 18);
		tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		tmp[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return put_bytes(buf, len, cap, tmp, n);
}

static int hex4(const char *p, const char *end, unsigned int *v)
{
	int i;

	*v = 0;
	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		char c = p[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned int)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/* A string literal at j->p (the opening quote); malloc'ed UTF-8, or NULL. */
static char *parse_string(struct jparser *j)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	j->p++;
	if (!put_bytes(&buf, &len, &cap, "", 0))
		return NULL;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p;
		unsigned int cp, lo;
		size_t n;

		if (c < 0x20)
			goto bad;
		if (c != '\\') {
			/* raw bytes must be valid UTF-8 themselves */
			char seq[5] = "";

			n = (size_t)(j->end - j->p) < 4 ? (size_t)(j->end - j->p) : 4;
			memcpy(seq, j->p, n);
			n = utf8_len((const unsigned char *)seq);
			if (!n || !put_bytes(&buf, &len, &cap, j->p, n))
				goto bad;
			j->p += n;
			continue;
		}
		if (++j->p >= j->end)
			goto bad;
		switch (*j->p) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (hex4(j->p + 1, j->end, &cp))
				goto bad;
			j->p += 4;
			if (cp >= 0xd800 && cp <= 0xdbff && j->end - j->p >= 7 && j->p[1] == '\\' &&
			    j->p[2] == 'u' && !hex4(j->p + 3, j->end, &lo) && lo >= 0xdc00 &&
			    lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				j->p += 6;
			} else if (cp >= 0xd800 && cp <= 0xdfff) {
				cp = 0xfffd;	/* a lone surrogate */
			}
			if (cp == 0)
				cp = 0xfffd;	/* NUL cannot be in a C string */
			break;
		default:
			goto bad;
		}
		if (!put_utf8(&buf, &len, &cap, cp))
			goto bad;
		j->p++;
	}
	if (j->p >= j->end)
		goto bad;
	j->p++;
	return buf;
bad:
	free(buf);
	return NULL;
}

static int parse_value(struct jparser *j, struct egpu_jval *v);

static int add_kid(struct egpu_jval *v, struct egpu_jval **kid)
{
	struct egpu_jval *k = realloc(v->kids, (v->n + 1) * sizeof(*k));

	if (!k)
		return -1;
	v->kids = k;
	*kid = &k[v->n++];
	memset(*kid, 0, sizeof(**kid));
	return 0;
}

static int parse_container(struct jparser *j, struct egpu_jval *v, bool object)
{
	char close = object ? '}' : ']';

	v->type = object ? EGPU_J_OBJ : EGPU_J_ARR;
	if (++j->depth > JSON_MAX_DEPTH)
		return -1;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return 0;
	}
	for (;;) {
		struct egpu_jval *k;
		char *key = NULL;

		skip_ws(j);
		if (object) {
			if (j->p >= j->end || *j->p != '"' || !(key = parse_string(j)))
				return -1;
			skip_ws(j);
			if (j->p >= j->end || *j->p != ':') {
				free(key);
				return -1;
			}
			j->p++;
		}
		if (add_kid(v, &k)) {
			free(key);
			return -1;
		}
		k->key = key;
		if (parse_value(j, k))
			return -1;
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			j->depth--;
			return 0;
		}
		return -1;
	}
}

static int parse_value(struct jparser *j, struct egpu_jval *v)
{
	skip_ws(j);
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '{':
		return parse_container(j, v, true);
	case '[':
		return parse_container(j, v, false);
	case '"':
		v->type = EGPU_J_STR;
		v->str = parse_string(j);
		return v->str ? 0 : -1;
	case 't':
	case 'f':
	case 'n': {
		static const char *const words[] = { "true", "false", "null" };
		size_t i, l;

		for (i = 0; i < 3; i++) {
			l = strlen(words[i]);
			if ((size_t)(j->end - j->p) >= l && !memcmp(j->p, words[i], l)) {
				v->type = i == 2 ? EGPU_J_NULL : EGPU_J_BOOL;
				v->b = i == 0;
				j->p += l;
				return 0;
			}
		}
		return -1;
	}
	default: {
		char num[64], *e;
		size_t l = 0;

		while (j->p + l < j->end && l < sizeof(num) - 1 &&
		       strchr("+-0123456789.eE", j->p[l]) && j->p[l])
			l++;
		if (!l)
			return -1;
		memcpy(num, j->p, l);
		num[l] = '\0';
		v->type = EGPU_J_NUM;
		v->num = strtod(num, &e);
		if (*e)
			return -1;
		j->p += l;
		return 0;
	}
	}
}

struct egpu_jval *egpu_json_parse(const char *text, size_t len)
{
	struct jparser j = { .p = text, .end = text + len };
	struct egpu_jval *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	if (parse_value(&j, v) < 0) {
		egpu_json_free(v);
		return NULL;
	}
	skip_ws(&j);
	if (j.p != j.end) {
		egpu_json_free(v);
		return NULL;
	}
	return v;
}

static void free_inner(struct egpu_jval *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		free_inner(&v->kids[i]);
	free(v->kids);
	free(v->key);
	free(v->str);
}

void egpu_json_free(struct egpu_jval *v)
{
	if (!v)
		return;
	free_inner(v);
	free(v);
}

const struct egpu_jval *egpu_json_get(const struct egpu_jval *obj, const char *key)
{
	size_t i;

	if (!obj || obj->type != EGPU_J_OBJ)
		return NULL;
	for (i = 0; i < obj->n; i++)
		if (!strcmp(obj->kids[i].key, key))
			return &obj->kids[i];
	return NULL;
}

const char *egpu_json_get_str(const struct egpu_jval *obj, const char *key)
{
	const struct egpu_jval *v = egpu_json_get(obj, key);

	return v && v->type == EGPU_J_STR ? v->str : NULL;
}
