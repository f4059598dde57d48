// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

static const char *log_prog = "egpuhp";
static bool log_debug;

void egpu_log_init(const char *prog, bool debug)
{
	log_prog = prog;
	log_debug = debug;
}

const char *egpu_log_prog(void)
{
	return log_prog;
}

static void log_line(const char *fmt, va_list ap)
{
	char buf[1024];
	int n;

	/* Format first, then one write: lines from several processes never mix. */
	n = snprintf(buf, sizeof(buf), "%s: ", log_prog);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	fprintf(stderr, "%s\n", buf);
	fflush(stderr);
}

void egpu_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

void egpu_dbg(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug)
		return;
	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}
