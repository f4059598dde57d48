// SPDX-License-Identifier: GPL-2.0
/*
 * egpuhp-bench-stamp FILE: write CLOCK_MONOTONIC in nanoseconds to FILE
 * (bench/plug_to_ready.py's t0 and t1, both taken in the guest).
 */
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv)
{
	struct timespec ts;
	FILE *f;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (argc != 2 || !(f = fopen(argv[1], "w")))
		return 2;
	fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return fclose(f) ? 1 : 0;
}
