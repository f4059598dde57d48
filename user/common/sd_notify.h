/* SPDX-License-Identifier: GPL-2.0 */
/*
 * systemd's readiness protocol without libsystemd: one datagram with
 * "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path,
 * or "@name" for an abstract socket).
 */
#ifndef EGPU_SD_NOTIFY_H
#define EGPU_SD_NOTIFY_H

/* Send state ("READY=1\nSTATUS=..."); 0 if sent or not under systemd, or -errno. */
int egpu_sd_notify(const char *state);

#endif /* EGPU_SD_NOTIFY_H */
