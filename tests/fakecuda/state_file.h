/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A FAKE CUDA process' registration file ($FAKECUDA_STATE_DIR/PID, words
 * such as "state=running gpu=0"), read by both of its sides: the fake
 * driver library (checkpoint.c) and the fake process the dock runs
 * (tests/eject/fakecuda_proc.c, built for the guest on its own, hence a
 * header of its own with nothing of the library's in it).
 */
#ifndef FAKECUDA_STATE_FILE_H
#define FAKECUDA_STATE_FILE_H

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* dir/pid's text into text (NUL-terminated); -1 when it has none or it is empty. */
static inline int fc_state_file_read(const char *dir, int pid, char *text, size_t size)
{
	char path[4096];
	ssize_t n;
	int fd;

	if (!dir || size < 2 ||
	    snprintf(path, sizeof(path), "%s/%d", dir, pid) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, text, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	return 0;
}

#endif /* FAKECUDA_STATE_FILE_H */
