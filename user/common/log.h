/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Logging: one line per message on stderr, "prog: text", which the journal
 * stores as-is.  Debug lines only when enabled.
 */
#ifndef EGPU_LOG_H
#define EGPU_LOG_H

#include <stdbool.h>

void egpu_log_init(const char *prog, bool debug);
const char *egpu_log_prog(void);

void egpu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void egpu_dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* EGPU_LOG_H */
