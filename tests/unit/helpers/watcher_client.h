/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A watcher connection as server.c accepts it, for unit tests that link
 * egpud's watcher code (eject.c, snapshots.c, strategy.c) without its
 * loop: the test holds the program's end of a socket pair.
 */
#ifndef EGPU_TEST_WATCHER_CLIENT_H
#define EGPU_TEST_WATCHER_CLIENT_H

#include <sys/types.h>

#include "egpud/egpud.h"

/*
 * A watching client of d (in its first free slot, the next serial) for
 * filter ("" all GPUs), of process pid (0: none named; else with
 * gwt_fake_proc()'s start time) and uid; the program's end in *peer.
 */
struct egpud_client *watcher_client(struct egpud *d, pid_t pid, uid_t uid, const char *filter,
				    int *peer);

#endif /* EGPU_TEST_WATCHER_CLIENT_H */
