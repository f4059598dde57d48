// SPDX-License-Identifier: GPL-2.0
/* egpuhp-eject-nobody CMD...: run CMD as uid/gid 65534, no groups. */
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2 || setgroups(0, NULL) || setgid(65534) || setuid(65534)) {
		perror("egpuhp-eject-nobody");
		return 126;
	}
	execvp(argv[1], argv + 1);
	perror("egpuhp-eject-nobody: exec");
	return 127;
}
