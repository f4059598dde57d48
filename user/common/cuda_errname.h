/* SPDX-License-Identifier: GPL-2.0 OR LGPL-2.1-or-later */
/*
 * The name of a CUDA driver result (CUresult), for messages: one formatter
 * for the checkpoint engine (gpuwork) and libegpu's snapshots.  It needs no
 * CUDA headers and no driver: each caller passes its own loaded
 * cuGetErrorName, so libegpu pulls in nothing of gpuwork's.
 */
#ifndef EGPU_CUDA_ERRNAME_H
#define EGPU_CUDA_ERRNAME_H

#include <stddef.h>

/*
 * "CUDA_ERROR_NOT_SUPPORTED (801)" into buf: the cuda.h name of the results
 * egpuhp acts upon, else the driver's (get_error_name, cuGetErrorName;
 * NULL when there is no driver), else "CUresult 801".  Returns buf.
 */
const char *egpu_cuda_errname(int err, int (*get_error_name)(int err, const char **name),
			      char *buf, size_t len);

#endif /* EGPU_CUDA_ERRNAME_H */
