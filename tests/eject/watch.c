// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp-eject-watch PCI ack|close|ignore: a cooperating program in the
 * guest.  Watches PCI through the installed libegpu (dlopen-ed from
 * /usr/lib/libegpu.so, as a program would load it) and prints one line per
 * event with the CLOCK_BOOTTIME time it arrived, to compare with
 * egpuhp_testdrv's remove() times:
 *
 *   t=NS KIND PCI SEQ orderly|surprise|-
 *
 * On LEAVING: "ack" acks and keeps watching (to see REMOVED), "close"
 * closes the connection and exits, "ignore" keeps watching silently.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "egpu.h"

static unsigned long long boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct egpu *(*op)(const char *, const char *);
	int (*next)(struct egpu *, struct egpu_event *, int);
	int (*ack)(struct egpu *);
	void (*cl)(struct egpu *);
	const char *(*name)(enum egpu_event_kind);
	struct egpu_event ev;
	struct egpu *e;
	void *h;

	if (argc != 3 || (strcmp(argv[2], "ack") && strcmp(argv[2], "close") &&
			  strcmp(argv[2], "ignore"))) {
		fprintf(stderr, "usage: egpuhp-eject-watch PCI ack|close|ignore\n");
		return 2;
	}
	h = dlopen("/usr/lib/libegpu.so", RTLD_NOW);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	op = (struct egpu *(*)(const char *, const char *))dlsym(h, "egpu_open");
	next = (int (*)(struct egpu *, struct egpu_event *, int))dlsym(h, "egpu_next");
	ack = (int (*)(struct egpu *))dlsym(h, "egpu_ack");
	cl = (void (*)(struct egpu *))dlsym(h, "egpu_close");
	name = (const char *(*)(enum egpu_event_kind))dlsym(h, "egpu_event_kind_name");
	if (!op || !next || !ack || !cl || !name) {
		fprintf(stderr, "libegpu lacks a symbol\n");
		return 1;
	}
	e = op(NULL, argv[1]);
	if (!e) {
		perror("egpu_open");
		return 1;
	}
	printf("watching\n");
	fflush(stdout);
	while (next(e, &ev, -1) > 0) {
		printf("t=%llu %s %s %llu %s\n", boottime_ns(), name(ev.kind), ev.pci, ev.seq,
		       ev.orderly ? "orderly" : ev.surprise ? "surprise" : "-");
		fflush(stdout);
		if (ev.kind != EGPU_EVENT_LEAVING)
			continue;
		if (!strcmp(argv[2], "close")) {
			cl(e);
			printf("closed\n");
			return 0;
		}
		if (!strcmp(argv[2], "ack")) {
			int r = ack(e);

			printf("ack %d\n", r);
			fflush(stdout);
		}
	}
	cl(e);
	return 0;
}
