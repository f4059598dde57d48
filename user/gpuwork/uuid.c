// SPDX-License-Identifier: GPL-2.0
/*
 * GPU UUIDs and the UUID remapping a cross-GPU restore needs.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "gpuwork/gw_internal.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int gw_uuid_parse(const char *s, struct gw_uuid *u)
{
	/* Dashes after 4, 6, 8 and 10 bytes, as the driver prints them. */
	static const int dash_after[] = { 4, 6, 8, 10 };
	int i, d = 0;

	if (!strncmp(s, "GPU-", 4))
		s += 4;
	for (i = 0; i < 16; i++) {
		int hi, lo;

		if (d < 4 && i == dash_after[d]) {
			if (*s != '-')
				return -EINVAL;
			s++;
			d++;
		}
		hi = hexval((unsigned char)s[0]);
		lo = hi < 0 ? -1 : hexval((unsigned char)s[1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		u->b[i] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	return *s ? -EINVAL : 0;
}

void gw_uuid_format(const struct gw_uuid *u, char *buf, size_t len)
{
	const unsigned char *b = u->b;

	snprintf(buf, len,
		 "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool gw_uuid_equal(const struct gw_uuid *a, const struct gw_uuid *b)
{
	return !memcmp(a->b, b->b, sizeof(a->b));
}

static int uuid_index(const struct gw_uuid *all, int n, const struct gw_uuid *u)
{
	int i;

	for (i = 0; i < n; i++)
		if (gw_uuid_equal(&all[i], u))
			return i;
	return -1;
}

int gw_build_pairs(const struct gw_uuid *all, int n, const struct gw_uuid *src,
		   const struct gw_uuid *dst, struct gw_gpu_pair *pairs)
{
	int i, j, s, d;

	if (n <= 0)
		return -EINVAL;
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (gw_uuid_equal(&all[i], &all[j]))
				return -EINVAL;
	s = uuid_index(all, n, src);
	d = uuid_index(all, n, dst);
	if (s < 0 || d < 0)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		pairs[i].old_uuid = all[i];
		if (i == s)
			pairs[i].new_uuid = all[d];
		else if (i == d)
			pairs[i].new_uuid = all[s];
		else
			pairs[i].new_uuid = all[i];
	}
	return n;
}

bool gw_uuid_in(const struct gw_uuid *all, int n, const struct gw_uuid *u)
{
	return uuid_index(all, n, u) >= 0;
}

int gw_build_replug_pairs(const struct gw_uuid *old, int nold, const struct gw_uuid *now,
			  int nnow, const struct gw_uuid *src, const struct gw_uuid *dst,
			  struct gw_gpu_pair *pairs)
{
	int i;

	if (nold <= 0 || nnow <= 0 || uuid_index(old, nold, src) < 0 ||
	    uuid_index(now, nnow, src) >= 0 || uuid_index(now, nnow, dst) < 0 ||
	    uuid_index(old, nold, dst) >= 0)
		return -EINVAL;
	for (i = 0; i < nold; i++) {
		pairs[i].old_uuid = old[i];
		if (gw_uuid_equal(&old[i], src))
			pairs[i].new_uuid = *dst;
		else if (uuid_index(now, nnow, &old[i]) >= 0)
			pairs[i].new_uuid = old[i];
		else
			return -EINVAL;	/* another GPU it used is gone as well */
	}
	return nold;
}

int gw_pci_normalise(const char *in, char *out, size_t len)
{
	unsigned int dom, bus, dev, fn;
	char tail;
	int n;

	/* Hex digits and separators only (sscanf's %x would take "0x"). */
	if (!*in || in[strspn(in, "0123456789abcdefABCDEF:.")])
		return -EINVAL;
	n = sscanf(in, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail);
	if (n != 4) {
		dom = 0;
		n = sscanf(in, "%x:%x.%x%c", &bus, &dev, &fn, &tail);
		if (n != 3)
			return -EINVAL;
	}
	if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
		return -EINVAL;
	n = snprintf(out, len, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}
