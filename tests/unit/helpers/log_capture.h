/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What egpud logged (egpu_log() writes stderr) while a test acted: stderr
 * goes to a file in dir between the two calls.
 */
#ifndef EGPU_TEST_LOG_CAPTURE_H
#define EGPU_TEST_LOG_CAPTURE_H

void log_capture_start(const char *dir);
/* The lines logged since log_capture_start() (static storage). */
const char *log_capture_end(void);

#endif /* EGPU_TEST_LOG_CAPTURE_H */
