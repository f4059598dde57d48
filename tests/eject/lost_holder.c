// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp-lost-holder PCI NODE close|keep: a GPU program in the guest.  It
 * opens NODE (the test driver's character device of PCI) and watches PCI
 * through the installed libegpu (dlopen-ed from /usr/lib/libegpu.so, as a
 * program would load it).  On LOST, "close" closes NODE (a program that
 * lets go of a lost GPU, as libegpu asks), "keep" holds on to it.  Either
 * way it keeps running and prints one line per event:
 *
 *   KIND PCI SEQ DETAIL       (DETAIL: egpu_event_detail(), or "-")
 *   closed NODE               (after closing it)
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "egpu.h"

struct libegpu {
	struct egpu *(*open)(const char *, const char *);
	int (*next)(struct egpu *, struct egpu_event *, int);
	const char *(*detail)(const struct egpu *);
	const char *(*name)(enum egpu_event_kind);
};

static int load(struct libegpu *l)
{
	void *h = dlopen("/usr/lib/libegpu.so", RTLD_NOW);

	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return -1;
	}
	*(void **)&l->open = dlsym(h, "egpu_open");
	*(void **)&l->next = dlsym(h, "egpu_next");
	*(void **)&l->detail = dlsym(h, "egpu_event_detail");
	*(void **)&l->name = dlsym(h, "egpu_event_kind_name");
	if (!l->open || !l->next || !l->detail || !l->name) {
		fprintf(stderr, "libegpu lacks a symbol\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct egpu_event ev;
	struct libegpu l;
	struct egpu *e;
	int fd;

	if (argc != 4 || (strcmp(argv[3], "close") && strcmp(argv[3], "keep"))) {
		fprintf(stderr, "usage: egpuhp-lost-holder PCI NODE close|keep\n");
		return 2;
	}
	if (load(&l) < 0)
		return 1;
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	e = l.open(NULL, argv[1]);
	if (!e) {
		perror("egpu_open");
		return 1;
	}
	printf("watching\n");
	fflush(stdout);
	while (l.next(e, &ev, -1) > 0) {
		const char *d = l.detail(e);

		printf("%s %s %llu %s\n", l.name(ev.kind), ev.pci, ev.seq, d[0] ? d : "-");
		if (ev.kind == EGPU_EVENT_LOST && fd >= 0 && !strcmp(argv[3], "close")) {
			close(fd);
			fd = -1;
			printf("closed %s\n", argv[2]);
		}
		fflush(stdout);
	}
	/* egpud went away: stay, as a program would, until killed */
	pause();
	return 0;
}
