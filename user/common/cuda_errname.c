// SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later
/*
 * The name of a CUDA driver result (see cuda_errname.h).  Dual-licensed:
 * libegpu (LGPL-2.1-or-later) links it as well as egpud.
 */
#include <stdio.h>

#include "common/cuda_errname.h"

const char *egpu_cuda_errname(int err, int (*get_error_name)(int err, const char **name),
			      char *buf, size_t len)
{
	/*
	 * cuda.h's numbers: named even without a driver (a refusal names
	 * them before one is loaded, a driver's cuGetErrorName may be absent)
	 */
	static const struct { int v; const char *n; } known[] = {
		{ 0, "CUDA_SUCCESS" },
		{ 1, "CUDA_ERROR_INVALID_VALUE" },
		{ 2, "CUDA_ERROR_OUT_OF_MEMORY" },
		{ 3, "CUDA_ERROR_NOT_INITIALIZED" },
		{ 100, "CUDA_ERROR_NO_DEVICE" },
		{ 101, "CUDA_ERROR_INVALID_DEVICE" },
		{ 401, "CUDA_ERROR_ILLEGAL_STATE" },
		{ 500, "CUDA_ERROR_NOT_FOUND" },
		{ 600, "CUDA_ERROR_NOT_READY" },
		{ 800, "CUDA_ERROR_NOT_PERMITTED" },
		{ 801, "CUDA_ERROR_NOT_SUPPORTED" },
		{ 909, "CUDA_ERROR_TIMEOUT" },
		{ 999, "CUDA_ERROR_UNKNOWN" },
	};
	const char *name = NULL;
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]) && !name; i++)
		if (known[i].v == err)
			name = known[i].n;
	if (!name && get_error_name && get_error_name(err, &name) != 0)
		name = NULL;
	if (name)
		snprintf(buf, len, "%s (%d)", name, err);
	else
		snprintf(buf, len, "CUresult %d", err);
	return buf;
}
