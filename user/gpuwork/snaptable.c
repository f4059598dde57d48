// SPDX-License-Identifier: GPL-2.0
/*
 * What egpud's libegpu watchers reported about their snapshot sets, as
 * egpud hands it to the workloads verb (GW_SNAPSHOTS_ARG, gpuwork.h), and
 * how it is shown: "snapshot 3.2 s old, 9.5 GB" (decimal units, like the
 * sizes people compare with a GPU's memory), or its JSON fields.  Also
 * the PID list of evacuate's GW_SKIP_ARG.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpuwork/gw_internal.h"

uint64_t gw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Digits only, at most max; end set past them. */
static int read_num(const char *s, const char **end, uint64_t max, uint64_t *v)
{
	const char *p = s;
	uint64_t x = 0;

	while (*p >= '0' && *p <= '9') {
		unsigned int digit = (unsigned int)(*p - '0');

		if (x > (max - digit) / 10)
			return -EINVAL;
		x = x * 10 + digit;
		p++;
	}
	if (p == s)
		return -EINVAL;
	*end = p;
	*v = x;
	return 0;
}

int gw_snaps_parse(const char *table, struct gw_snaps *out)
{
	const char *p = table;

	memset(out, 0, sizeof(*out));
	while (*p) {
		struct gw_snap *s;
		uint64_t pid, buffers;
		size_t n;

		if (out->n == GW_SNAP_MAX)
			return -EINVAL;
		s = &out->v[out->n];
		if (read_num(p, &p, INT32_MAX, &pid) || !pid || *p++ != ':' ||
		    read_num(p, &p, UINT64_MAX, &s->bytes) || *p++ != ':' ||
		    read_num(p, &p, UINT32_MAX, &buffers) || *p++ != ':' ||
		    read_num(p, &p, UINT64_MAX, &s->taken_ns) || *p++ != ':')
			return -EINVAL;
		n = strcspn(p, ",");
		if (!n || n >= sizeof(s->gpu))
			return -EINVAL;
		if (!(n == 1 && *p == '-'))
			memcpy(s->gpu, p, n);
		s->pid = (pid_t)pid;
		s->buffers = (uint32_t)buffers;
		out->n++;
		p += n;
		if (*p == ',' && !*++p)
			return -EINVAL;
	}
	return 0;
}

const struct gw_snap *gw_snaps_find(const struct gw_snaps *s, pid_t pid)
{
	size_t i;

	for (i = 0; s && i < s->n; i++)
		if (s->v[i].pid == pid)
			return &s->v[i];
	return NULL;
}

int64_t gw_snap_age_ms(const struct gw_snap *s, uint64_t now_ns)
{
	if (!s->taken_ns)
		return -1;
	return now_ns > s->taken_ns ? (int64_t)((now_ns - s->taken_ns) / 1000000) : 0;
}

static void decimal_size(uint64_t b, char *buf, size_t len)
{
	if (b >= 1000000000u)
		snprintf(buf, len, "%.1f GB", (double)b / 1e9);
	else if (b >= 1000000u)
		snprintf(buf, len, "%.1f MB", (double)b / 1e6);
	else if (b >= 1000u)
		snprintf(buf, len, "%.1f kB", (double)b / 1e3);
	else
		snprintf(buf, len, "%" PRIu64 " B", b);
}

void gw_snap_describe(const struct gw_snap *s, uint64_t now_ns, char *buf, size_t len)
{
	int64_t age = gw_snap_age_ms(s, now_ns);
	char size[32];

	if (age < 0) {
		snprintf(buf, len, "no snapshot yet (%" PRIu32 " buffer%s)", s->buffers,
			 s->buffers == 1 ? "" : "s");
		return;
	}
	decimal_size(s->bytes, size, sizeof(size));
	snprintf(buf, len, "snapshot %" PRId64 ".%" PRId64 " s old, %s", age / 1000,
		 age % 1000 / 100, size);
}

void gw_snap_json(const struct gw_snap *s, uint64_t now_ns, FILE *out)
{
	int64_t age = gw_snap_age_ms(s, now_ns);

	fprintf(out, ",\"snapshot_bytes\":%" PRIu64 ",\"snapshot_buffers\":%" PRIu32
		",\"snapshot_age_ms\":", s->bytes, s->buffers);
	if (age < 0)
		fputs("null", out);
	else
		fprintf(out, "%" PRId64, age);
}

int gw_pid_list_parse(const char *list, pid_t *out, size_t max)
{
	const char *p = list;
	size_t n = 0;

	while (*p) {
		uint64_t v;

		if (n == max || read_num(p, &p, INT32_MAX, &v) || !v)
			return -EINVAL;
		out[n++] = (pid_t)v;
		if (*p == ',' && !*++p)
			return -EINVAL;	/* a trailing comma */
		if (*p && p[-1] != ',')
			return -EINVAL;
	}
	return (int)n;
}
