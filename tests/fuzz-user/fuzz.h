/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libFuzzer harnesses for egpuhp's parsers (one file per parser, built by
 * "make -C user fuzz-build", run by test_fuzz.sh and "make -C user fuzz").
 * Each gets arbitrary bytes; the parsers take C strings, so fuzz_cstr()
 * hands them a NUL-terminated copy (embedded NULs cut the text short,
 * as they would for text read from a file or a socket).
 */
#ifndef EGPUHP_FUZZ_H
#define EGPUHP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc'ed NUL-terminated copy of data (the caller frees it); abort on ENOMEM. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
